// The measuring half of `softrl bench allreduce` and `softrl bench ranks`, run under a launcher (mpirun, srun).
// Allreduce: the time of the learner's gradient sum over its ranks for one gradient of a model's size
// (MPIProcessGroup.allReduceSum: MPI_Reduce to rank 0 + MPI_Bcast) beside MPI_Allreduce itself, and a check of the
// sum against a plain loop over every rank's values in rank order, with the result's bits compared across ranks.
// Ranks: a learner update's rollouts/s with every rank vs rank 0 alone, alternated within one run.
import Foundation
import MPIReduction
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TensorMath
import TransformerLM

public struct AllreduceBenchmark {
    /// Floats in the summed buffer (a model's parameter count) and timed repetitions of each collective.
    public var count: Int, repeats = 5
    /// Also check every element against the rank-order sum and the result's bits across ranks.
    public var check = false
    /// One JSON object on rank 0 instead of lines.
    public var json = false
    public var output: (String) -> Void = { print($0) }

    public init(count: Int) { self.count = count }

    /// Runs on every rank of `group`; returns false when the check found a mismatch (on every rank).
    public func run(group: MPIProcessGroup) throws -> Bool {
        let buffer = FloatBuffer(count: count)
        func fill() { for i in 0..<count { buffer[i] = Self.value(rank: group.rank, index: i) } }

        func timed(_ sum: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> [Double] {
            var seconds: [Double] = []
            for _ in 0..<repeats {
                fill()
                try group.barrier()
                let t0 = group.now()
                try sum(buffer.buffer)
                try group.barrier() // the slowest rank's end
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
                for r in 0..<group.size { expected += Self.value(rank: r, index: i) } // rank order, as promised
                maxDiff = max(maxDiff, abs(buffer[i] - expected))
            }
            // Every rank's result bits, compared with rank 0's.
            let digest = Self.fnv1a(UnsafeBufferPointer(buffer.buffer))
            let mine = withUnsafeBytes(of: digest) { Data($0) }
            let rootDigest = try group.broadcast(group.rank == 0 ? mine : nil)
            var differs = [Double(rootDigest == mine ? 0 : 1)]
            try differs.withUnsafeMutableBufferPointer { try group.allReduceSum($0) }
            var worst = [Double(maxDiff)]
            try worst.withUnsafeMutableBufferPointer { try group.allReduceSum($0) } // 0 only if 0 everywhere
            // Two ranks have one possible sum; beyond, MPI's bracketing may differ from rank order by rounding.
            let tolerance: Double = group.size == 2 ? 0 : 1e-5
            failed = differs[0] != 0 || worst[0] > tolerance
            checkLine = String(
                format:
                    "max |sum - rank-order loop| summed over ranks %.3g (tolerance %.0g), result bits differ from rank 0's on %d rank(s)",
                worst[0], tolerance, Int(differs[0]))
        }
        guard group.rank == 0 else { return !failed }
        let mb = Double(count * 4) / 1e6
        func median(_ xs: [Double]) -> Double { xs[xs.count / 2] }
        if json {
            let o: [String: Any] = [
                "ranks": group.size, "floats": count, "reduce_bcast_seconds": ours, "allreduce_seconds": native,
                "check": check ? (failed ? "failed" : "passed") : "skipped", "cpu": CPUFeatures.modelName
            ]
            output(
                String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
        } else {
            output(
                "gradient sum of \(count) floats (\(String(format: "%.1f", mb)) MB) over \(group.size) ranks; CPU \(CPUFeatures.modelName)"
            )
            output(
                String(
                    format:
                        "  reduce to rank 0 + broadcast (the learner's sum): median %.1f ms, best %.1f ms, %.2f GB of gradient per second",
                    median(ours) * 1e3, ours[0] * 1e3, mb / 1e3 / median(ours)))
            output(
                String(
                    format:
                        "  MPI_Allreduce (for comparison):               median %.1f ms, best %.1f ms, %.2f GB of gradient per second",
                    median(native) * 1e3, native[0] * 1e3, mb / 1e3 / median(native)))
            output("  check: \(checkLine)")
        }
        return !failed
    }

    /// A deterministic value per rank and element with varied exponents, so the sum rounds and its order shows.
    static func value(rank: Int, index: Int) -> Float {
        var x = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(rank + 1) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31; x = x &* 0x94D0_49BB_1331_11EB; x ^= x >> 29
        let unit = Float(x >> 40) / Float(1 << 24) - 0.5 // [-0.5, 0.5)
        return unit * Float(1 << Int((x >> 8) & 7)) // scaled by 1..128
    }

    static func fnv1a(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        return h
    }
}

/// Rollouts per second of one learner update made by every rank together beside the same update made by rank 0
/// alone, alternated within one run (the other ranks wait at a barrier), on the same rollouts (generated by rank 0
/// and broadcast). Without a group it measures one process.
public struct RanksBenchmark {
    public var mode: ThinkingMode = .soft
    /// Prompts per update, samples per prompt, thinking steps per rollout (forced length).
    public var prompts = 4, groupSize = 8, steps = 16
    /// Rounds: each times one update with all ranks and one with rank 0 alone.
    public var rounds = 3
    /// OpenBLAS threads per rank.
    public var threads = 1
    /// nil: the learner's own choice. Ranks split an update by micro-batch.
    public var microBatch: MicroBatchSize? = nil
    public var output: (String) -> Void = { print($0) }

    public init() {}

    public func run(model net: LlamaModel, group: MPIProcessGroup?) throws {
        BLASThreads.set(threads)
        let rank = group?.rank ?? 0, size = group?.size ?? 1
        let V = net.config.vocabSize
        // A marker no step completes: every rollout thinks `steps` steps.
        let never = ThinkingMarker.text("\u{1}never\u{2}", tokens: [0], decode: { _ in "" })
        var sampler = SamplerConfig(mode: mode)
        sampler.maxThinkingSteps = steps; sampler.maxAnswerTokens = 2; sampler.noiseScale = 1.0
        // Rank 0's rollouts, with rewards that vary within each group (so advantages and gradients are not 0).
        var groups: [[Rollout]] = []
        if rank == 0 {
            let gen = RolloutGenerator(model: net, config: sampler, marker: never, endOfSequence: 0)
            let requests = (0..<prompts).map { p in
                GenerationRequest(
                    promptIndex: p, prompt: (0..<8).map { Int32(($0 * 7919 + p * 104_729) % V) }, groupSize: groupSize,
                    seed: UInt64(p + 1))
            }
            groups = gen.generate(requests, policyVersion: 0).groups.map { g in
                g.map { r in
                    var r = r
                    r.reward = Double((r.sampleIndex + r.promptIndex) % 2)
                    r.verdict = r.reward > 0 ? "correct" : "wrong"
                    return r
                }
            }
        }
        if let group {
            let bytes = try group.broadcast(rank == 0 ? JSONEncoder().encode(groups) : nil)
            groups = try JSONDecoder().decode([[Rollout]].self, from: bytes)
        }
        var config = RLConfig()
        config.groupSize = groupSize; config.promptsPerStep = prompts; config.steps = 1000; config.warmupSteps = 0
        config.microBatch = microBatch
        let together = PolicyLearner.forRun(
            model: net.copy(), config: config, endOfThinking: never.tokens, reducer: group ?? SingleWorkerReducer())
        let alone =
            rank == 0
            ? PolicyLearner.forRun(model: net.copy(), config: config, endOfThinking: never.tokens) : nil
        let rollouts = Double(groups.reduce(0) { $0 + $1.count })
        var all: [Double] = [], one: [Double] = []
        for _ in 0..<rounds {
            try group?.barrier()
            var t0 = DispatchTime.now().uptimeNanoseconds
            _ = try together.update(groups: groups)
            try group?.barrier()
            all.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            if size > 1 {
                t0 = DispatchTime.now().uptimeNanoseconds
                if let alone { _ = try alone.update(groups: groups) }
                try group?.barrier() // the others wait here
                one.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
        }
        guard rank == 0 else { return }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let batches = together.microBatches(groups.flatMap { $0 }).count
        output(
            "learner update of \(Int(rollouts)) \(mode.rawValue) rollouts (\(prompts) x \(groupSize), \(steps) thinking steps) in \(batches) micro-batch(es) of \(together.microBatch), \(net.parameterCount) parameters, "
                + "\(threads) BLAS thread(s) per rank; CPU \(CPUFeatures.modelName); \(BLASKernel.current.summary)")
        output(
            String(
                format: "  %d rank(s) together: median %.0f ms per update, %.2f rollouts/s", size, median(all) * 1e3,
                rollouts / median(all)))
        if !one.isEmpty {
            output(
                String(
                    format: "  rank 0 alone:        median %.0f ms per update, %.2f rollouts/s", median(one) * 1e3,
                    rollouts / median(one)))
            output(
                String(
                    format: "  speed-up of %d ranks over one: %.2fx (medians of %d alternated rounds)", size,
                    median(one) / median(all), rounds))
        }
    }
}
