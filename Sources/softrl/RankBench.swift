// `softrl bench allreduce`, run under a launcher (`mpirun -np 2 softrl bench allreduce`): the time of the
// learner's gradient sum over its ranks for one gradient of a model's size (MPIProcessGroup.allReduceSum:
// MPI_Reduce to rank 0 + MPI_Bcast) beside MPI_Allreduce itself, and a check of the sum against a plain loop
// over every rank's values in rank order, with the result's bits compared across ranks.
import ArgumentParser
import Foundation
import MPIReduction
import TensorMath
import TransformerLM

struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Under mpirun/srun: time and check the learner ranks' gradient sum over one gradient-sized buffer.")
    @Option(help: "Model preset whose parameter count sets the buffer (tiny, small, smollm2).") var preset: String = "smollm2"
    @Option(help: "Buffer size in floats (overrides --preset).") var floats: Int?
    @Option(help: "Timed repetitions of each collective.") var repeats: Int = 5
    @Flag(help: "Also check every element against the rank-order sum and the result's bits across ranks; exit 1 on a mismatch.") var check = false
    @Flag(help: "Print one JSON object (rank 0).") var json = false

    func run() throws {
        guard MPILaunch.isMultiRank() else {
            throw CLIError("bench allreduce needs two or more ranks: mpirun -np 2 softrl bench allreduce (as root add --allow-run-as-root; more ranks than cores: --oversubscribe)")
        }
        guard repeats >= 1 else { throw CLIError("--repeats must be at least 1 (got \(repeats))") }
        let count = try floats ?? ParameterLayout(LlamaConfig.preset(preset)).totalCount
        guard count >= 1 else { throw CLIError("--floats must be at least 1 (got \(count))") }
        let group = try MPIProcessGroup()
        defer { group.finalize() }
        let buffer = FloatBuffer(count: count)
        func fill() { for i in 0..<count { buffer[i] = Self.value(rank: group.rank, index: i) } }

        func timed(_ sum: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> [Double] {
            var seconds: [Double] = []
            for _ in 0..<repeats {
                fill()
                try group.barrier()
                let t0 = group.now()
                try sum(buffer.buffer)
                try group.barrier()   // the slowest rank's end
                seconds.append(group.now() - t0)
            }
            return seconds.sorted()
        }
        let ours = try timed { try group.allReduceSum($0) }
        let native = try timed { try group.nativeAllReduceSum($0) }

        var checkLine = "not checked (--check)"
        var failed = false
        if check {
            fill()
            try group.allReduceSum(buffer.buffer)
            var maxDiff: Float = 0
            for i in 0..<count {
                var expected: Float = 0
                for r in 0..<group.size { expected += Self.value(rank: r, index: i) }   // rank order, as the reducer promises
                maxDiff = max(maxDiff, abs(buffer[i] - expected))
            }
            // Every rank's result bits, compared with rank 0's.
            let digest = Self.fnv1a(UnsafeBufferPointer(buffer.buffer))
            let mine = withUnsafeBytes(of: digest) { Data($0) }
            let rootDigest = try group.broadcast(group.rank == 0 ? mine : nil)
            var differs = [Double(rootDigest == mine ? 0 : 1)]
            try differs.withUnsafeMutableBufferPointer { try group.allReduceSum($0) }
            var worst = [Double(maxDiff)]
            try worst.withUnsafeMutableBufferPointer { try group.allReduceSum($0) }   // summed: 0 only if 0 everywhere
            // Two ranks have one possible sum; beyond, MPI's bracketing may differ from rank order by rounding.
            let tolerance: Double = group.size == 2 ? 0 : 1e-5
            failed = differs[0] != 0 || worst[0] > tolerance
            checkLine = String(format: "max |sum - rank-order loop| summed over ranks %.3g (tolerance %.0g), result bits differ from rank 0's on %d rank(s)",
                               worst[0], tolerance, Int(differs[0]))
        }
        if group.rank == 0 {
            let mb = Double(count * 4) / 1e6
            func median(_ xs: [Double]) -> Double { xs[xs.count / 2] }
            if json {
                let o: [String: Any] = ["ranks": group.size, "floats": count, "reduce_bcast_seconds": ours, "allreduce_seconds": native,
                                        "check": check ? (failed ? "failed" : "passed") : "skipped", "cpu": CPUFeatures.modelName]
                print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("gradient sum of \(count) floats (\(String(format: "%.1f", mb)) MB) over \(group.size) ranks; CPU \(CPUFeatures.modelName)")
                print(String(format: "  reduce to rank 0 + broadcast (the learner's sum): median %.1f ms, best %.1f ms, %.2f GB of gradient per second",
                             median(ours) * 1e3, ours[0] * 1e3, mb / 1e3 / median(ours)))
                print(String(format: "  MPI_Allreduce (for comparison):               median %.1f ms, best %.1f ms, %.2f GB of gradient per second",
                             median(native) * 1e3, native[0] * 1e3, mb / 1e3 / median(native)))
                print("  check: \(checkLine)")
            }
        }
        if failed { group.finalize(); throw ExitCode(1) }
    }

    /// A deterministic value per rank and element with varied exponents, so the sum rounds and its order shows.
    static func value(rank: Int, index: Int) -> Float {
        var x = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(rank + 1) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31; x = x &* 0x94D0_49BB_1331_11EB; x ^= x >> 29
        let unit = Float(x >> 40) / Float(1 << 24) - 0.5          // [-0.5, 0.5)
        return unit * Float(1 << Int((x >> 8) & 7))                // scaled by 1..128
    }

    static func fnv1a(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        return h
    }
}
