// The first line of the commands that do heavy math, when the environment's OPENBLAS_CORETYPE names a kernel older
// than this CPU supports: what that costs, measured. The rule (which names are older) is
// TensorMath's OpenBLASCores.newerKernel(than:features:); this file only runs the probe and prints the line.
// The probe times OpenBLAS sgemm against SoftRL's own packed fp32 kernel on one training-like product: a weight
// gradient dW (512, 256) = dy^T x summed over 1024 tokens, the product training leaves to OpenBLAS; ~80 ms of CPU.
// A child process inherits the figure (SOFTRL_CORETYPE_SHARE), so `local`'s learner and actors print the same
// figure without measuring again.
import Foundation
import TensorMath

enum CoreTypeNotice {
    static let heavyCommands: Set<String> = ["learner", "actor", "train", "sft", "eval", "local", "bench"]
    static let shareVar = "SOFTRL_CORETYPE_SHARE"

    /// Writes the notice to stderr (before any other output) when `arguments` start a heavy command and the user's
    /// OPENBLAS_CORETYPE is older than this CPU supports.
    static func printIfNeeded(arguments: [String]) {
        guard arguments.count > 1, heavyCommands.contains(arguments[1]),
            !arguments.contains(where: { $0 == "--help" || $0 == "-h" }),
            BLASKernel.current.source == .user,
            let coreType = getenv("OPENBLAS_CORETYPE").map({ String(cString: $0) }),
            let best = OpenBLASCores.newerKernel(than: coreType, features: CPUFeatures.host)
        else { return }
        let share = inheritedShare(coreType) ?? measureSgemmShare()
        if let share { setenv(shareVar, "\(coreType)|\(share)", 1) }
        var line = OpenBLASCores.olderCoreTypeNotice(coreType: coreType, best: best, sgemmShare: share)
        #if DEBUG
            line += " (debug build: the own kernel is compiled without optimisation, so the share means little)"
        #endif
        FileHandle.standardError.write(Data(("softrl: " + line + "\n").utf8))
    }

    /// The figure a parent process measured for the same OPENBLAS_CORETYPE.
    static func inheritedShare(_ coreType: String) -> Double? {
        guard let s = getenv(shareVar).map({ String(cString: $0) }) else { return nil }
        let parts = s.split(separator: "|")
        guard parts.count == 2, parts[0] == coreType, let v = Double(parts[1]), v > 0 else { return nil }
        return v
    }

    /// OpenBLAS sgemm's rate over the packed kernel's on C (512, 256) = A^T B with A (1024, 512), B (1024, 256)
    /// (dy and x of 1024 tokens), one thread each, best of 12 alternating calls (a shared core slows single calls,
    /// rarely the best). The own kernel computes the same sizes from panels packed once. nil without a packed kernel.
    static func measureSgemmShare() -> Double? {
        guard let kernel = PackedGEMM.active else { return nil }
        let m = 512, n = 256, k = 1024
        let savedThreads = BLASThreads.current
        BLASThreads.set(1) // the packed kernel runs on one thread; compare like with like
        defer { BLASThreads.set(savedThreads) }
        var rng = Xoshiro256(seed: 11)
        let a = FloatBuffer(count: k * m), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
        for i in 0..<a.count { a[i] = Float(rng.uniform()) - 0.5 }
        for i in 0..<b.count { b[i] = Float(rng.uniform()) - 0.5 }
        let packed = FloatBuffer(count: PackedGEMM.packedCount(n: n, k: k))
        PackedGEMM.packTransposed(b.pointer, ldw: n, n: n, k: k, into: packed.pointer)
        let x = FloatBuffer(count: m * k) // A^T as rows, for the own kernel
        for i in 0..<m { for p in 0..<k { x[i * k + p] = a[p * m + i] } }
        func blas() {
            sgemmOpenBLAS(.transposed, .none, m: m, n: n, k: k, a: a.pointer, lda: m, b: b.pointer, ldb: n,
                          c: c.pointer, ldc: n)
        }
        func own() {
            PackedGEMM.multiply(
                kernel, x: x.pointer, ldx: k, packed: packed.pointer, y: c.pointer, ldy: n, m: m, n: n, k: k,
                accumulate: false)
        }
        func seconds(_ f: () -> Void) -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            f()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }
        blas(); own() // warm: OpenBLAS's buffers, the caches
        var bestBLAS = Double.infinity, bestOwn = Double.infinity
        for _ in 0..<12 {
            bestBLAS = min(bestBLAS, seconds(blas))
            bestOwn = min(bestOwn, seconds(own))
        }
        return bestOwn / bestBLAS
    }
}
