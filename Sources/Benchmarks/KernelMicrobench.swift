// Timing of each SIMD kernel on every path this CPU supports, at SmolLM2-135M-like sizes, for `softrl bench
// kernels`. The portable Swift path is timed in the same run as the reference. Lines go to the caller's `output`.
import Foundation
import TensorMath

public enum KernelMicrobench {
    public struct Measurement: Sendable {
        public let name: String
        public let path: SIMDPath
        public let nanosecondsPerCall: Double
        public let speedupVsPortable: Double
    }

    /// This thread's CPU time in nanoseconds: on a shared machine, time spent descheduled is not counted.
    static func cpuNanoseconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
    }

    /// CPU nanoseconds per call: the best of 5 rounds of at least seconds/5 each.
    static func time(_ seconds: Double, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<5 {
            var reps = 0
            let t0 = cpuNanoseconds()
            var t = t0
            repeat { body(); reps += 1; t = cpuNanoseconds() } while t - t0 < seconds * 1e9 / 5
            best = min(best, (t - t0) / Double(reps))
        }
        return best
    }

    /// Results that would otherwise be unused (so the optimiser cannot drop the inlined portable call).
    nonisolated(unsafe) public static var sink = 0

    public static func all(seconds: Double = 0.3) -> [Measurement] {
        var rng = Xoshiro256(seed: 3)
        func buf(_ n: Int, _ scale: Float = 1) -> FloatBuffer {
            let b = FloatBuffer(count: n)
            for i in 0..<n { b[i] = (Float(rng.uniform()) * 2 - 1) * scale }
            return b
        }
        let hd = 64, kvd = 192, len = 72, d = 576, ff = 1536, rows = 32, V = 49152, nAdam = 1 << 20
        let q = buf(hd), keys = buf(len * kvd), values = buf(len * kvd), scores = buf(len), out = buf(hd)
        let x = buf(rows * d), w = buf(d), y = buf(rows * d)
        let gate = buf(rows * ff, 4), up = buf(rows * ff), h = buf(rows * ff)
        let rope = buf(9 * hd), cs = buf(hd / 2), sn = buf(hd / 2)
        let p = buf(nAdam), g = buf(nAdam, 0.01), m = FloatBuffer(count: nAdam), v = FloatBuffer(count: nAdam)
        let logits = buf(V, 8), probs = FloatBuffer(count: V), row = buf(len, 4), rowScratch = FloatBuffer(count: len)

        // Decode's form: one row of SmolLM2's attention, 9 query heads over 3 key/value heads, keys in 16-position blocks.
        let keyStride = (len + Kernels.keyBlock - 1) / Kernels.keyBlock * Kernels.keyBlock * hd
        let qRow = buf(9 * hd), keysB = buf(3 * keyStride), valuesB = buf(3 * len * hd), outRow = buf(9 * hd)
        let scoresB = buf(Kernels.attendScoresCount(group: 3, length: len))
        let cases: [(String, (SIMDPath) -> Void)] = [
            (
                "attention head (hd 64, 72 positions)",
                { path in
                    Kernels.attendHead(
                        q: q.pointer, keys: keys.pointer, values: values.pointer, stride: kvd, length: len,
                        headDim: hd, scale: 0.125, scores: scores.pointer, out: out.pointer, path: path)
                }
            ),
            (
                "decode attention row (9/3 heads x 64, 72 pos.)",
                { path in
                    Kernels.attendCached(
                        q: qRow.pointer, heads: 9, kvHeads: 3, headDim: hd, keys: keysB.pointer, keyStride: keyStride,
                        values: valuesB.pointer, valueStride: len * hd, length: len, scale: 0.125,
                        scores: scoresB.pointer, out: outRow.pointer, path: path)
                }
            ),
            (
                "row softmax (72)",
                { path in
                    rowScratch.pointer.update(from: row.pointer, count: len)
                    Kernels.softmaxInPlace(rowScratch.pointer, length: len, path: path)
                }
            ),
            (
                "RMSNorm (32 x 576)",
                { path in
                    Kernels.rmsnorm(
                        x.pointer, w.pointer, y.pointer, invRms: nil, rows: rows, dim: d, eps: 1e-5, path: path)
                }
            ),
            (
                "SwiGLU (32 x 1536)",
                { path in Kernels.swiglu(gate.pointer, up.pointer, h.pointer, count: rows * ff, path: path) }
            ),
            (
                "RoPE (9 heads x 64)",
                { path in
                    Kernels.rope(
                        rope.pointer, heads: 9, headDim: hd, cos: cs.pointer, sin: sn.pointer, sign: 1, path: path)
                    Kernels.rope(
                        rope.pointer, heads: 9, headDim: hd, cos: cs.pointer, sin: sn.pointer, sign: -1, path: path)
                }
            ),
            (
                "AdamW (1M parameters)",
                { path in
                    Kernels.adamw(
                        p: p.pointer, g: g.pointer, m: m.pointer, v: v.pointer, count: nAdam, beta1: 0.9, beta2: 0.999,
                        invCorrection1: 10, invCorrection2: 1000, eps: 1e-8, lr: 1e-7, lrDecay: 0, path: path)
                }
            ),
            (
                "vocabulary softmax (49152)",
                { path in _ = softmax(logits.pointer, count: V, temperature: 0.5, into: probs.pointer, path: path) }
            ),
            ("argmax (49152)", { path in sink &+= argmax(logits.pointer, count: V, path: path) })
        ]
        // Linear layers at decode's row counts (SmolLM2's up projection, 576 -> 1536). "portable" here is OpenBLAS
        // (sgemv at one row, sgemm otherwise), the wide paths are CKernels' softrl_gemm_nt.
        let wUp = buf(ff * d), xs = buf(32 * d), ys = FloatBuffer(count: 32 * ff)
        var linear: [(String, (SIMDPath) -> Void)] = []
        for rowsM in [1, 4, 8, 16, 32] {
            linear.append(
                (
                    "x W^T \(rowsM) x 576 -> 1536 (portable = OpenBLAS)",
                    { path in
                        if let kern = SkinnyGEMM.kernel(for: path) {
                            kern(xs.pointer, d, wUp.pointer, d, ys.pointer, ff, rowsM, ff, d, 0)
                        } else {
                            sgemmOpenBLAS(
                                .none, .transposed, m: rowsM, n: ff, k: d, a: xs.pointer, lda: d, b: wUp.pointer,
                                ldb: d,
                                c: ys.pointer, ldc: ff)
                        }
                    }
                ))
        }
        // The same products on weights packed once (PackedGEMM, what decode uses), "portable" again OpenBLAS on the
        // unpacked weights; plus `tiny`'s up projection (128 -> 1024) at 32 rows.
        let packedUp = FloatBuffer(count: PackedGEMM.packedCount(n: ff, k: d))
        PackedGEMM.pack(wUp.pointer, ldw: d, n: ff, k: d, into: packedUp.pointer)
        for rowsM in [1, 4, 8, 16, 32] {
            linear.append(
                (
                    "packed x W^T \(rowsM) x 576 -> 1536",
                    { path in
                        if let kern = PackedGEMM.kernel(for: path) {
                            PackedGEMM.multiply(
                                kern, x: xs.pointer, ldx: d, packed: packedUp.pointer, y: ys.pointer, ldy: ff,
                                m: rowsM, n: ff, k: d, accumulate: false)
                        } else {
                            sgemmOpenBLAS(
                                .none, .transposed, m: rowsM, n: ff, k: d, a: xs.pointer, lda: d, b: wUp.pointer,
                                ldb: d,
                                c: ys.pointer, ldc: ff)
                        }
                    }
                ))
        }
        let packDst = FloatBuffer(count: PackedGEMM.packedCount(n: ff, k: d))
        linear.append(
            (
                "pack W 1536 x 576 for the packed product",
                { path in
                    PackedGEMM.pack(wUp.pointer, ldw: d, n: ff, k: d, into: packDst.pointer, path: path)
                }
            ))
        let dT = 128, nT = 1024
        let wT = buf(nT * dT), packedT = FloatBuffer(count: PackedGEMM.packedCount(n: nT, k: dT))
        PackedGEMM.pack(wT.pointer, ldw: dT, n: nT, k: dT, into: packedT.pointer)
        linear.append(
            (
                "packed x W^T 32 x 128 -> 1024",
                { path in
                    if let kern = PackedGEMM.kernel(for: path) {
                        PackedGEMM.multiply(
                            kern, x: xs.pointer, ldx: dT, packed: packedT.pointer, y: ys.pointer, ldy: nT,
                            m: 32, n: nT, k: dT, accumulate: false)
                    } else {
                        sgemmOpenBLAS(
                            .none, .transposed, m: 32, n: nT, k: dT, a: xs.pointer, lda: dT, b: wT.pointer, ldb: dT,
                            c: ys.pointer, ldc: nT)
                    }
                }
            ))
        var result: [Measurement] = []
        for (name, body) in cases + linear {
            var portable = Double.nan
            for path in SIMDPath.supported {
                let ns = time(seconds) { body(path) }
                if path == .portable { portable = ns }
                result.append(
                    Measurement(name: name, path: path, nanosecondsPerCall: ns, speedupVsPortable: portable / ns))
            }
        }
        return result
    }

    /// `softrl bench kernels`: the OpenBLAS kernel decision, sgemm at `sgemmSize`^3 (0: skipped) and every SIMD path
    /// of every kernel, on one thread; lines to `output`, the same figures returned as a JSON-ready report.
    public static func report(sgemmSize: Int, seconds: Double, output: (String) -> Void) -> [String: Any] {
        BLASThreads.set(1)
        let k = BLASKernel.current
        var out: [String: Any] = ["cpu": CPUFeatures.modelName, "blas_kernel": k.metadata, "summary": k.summary]
        output("CPU: \(CPUFeatures.modelName)\n\(k.summary)")
        if sgemmSize > 0 {
            let r = ModelBenchmark.sgemmGFLOPS(m: sgemmSize, n: sgemmSize, k: sgemmSize, minSeconds: seconds)
            out["sgemm_gflops"] = r.gflops
            output(String(format: "sgemm %d^3, 1 thread, kernel %@: %.1f GFLOP/s", sgemmSize, k.core, r.gflops))
        }
        var rows: [[String: Any]] = []
        for m in all(seconds: seconds) {
            rows.append([
                "kernel": m.name, "path": m.path.rawValue, "ns_per_call": m.nanosecondsPerCall,
                "speedup_vs_portable": m.speedupVsPortable
            ])
            output(
                String(
                    format: "%-38@ %-8@ %10.0f ns/call  %5.2fx portable", m.name, m.path.rawValue, m.nanosecondsPerCall,
                    m.speedupVsPortable))
        }
        out["simd"] = rows
        return out
    }
}
