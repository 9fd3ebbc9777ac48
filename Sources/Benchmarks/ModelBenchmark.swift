// The measuring half of `softrl bench model`: sgemm roofline, training throughput and batched decode throughput.
// Returns numbers and prints nothing; the command formats them and compares with PyTorch. The optimiser lives in a
// module above this one, so training takes the optimiser step as a closure.
import Foundation
import TensorMath
import TransformerLM

public enum ModelBenchmark {
    public struct SgemmResult: Sendable, Codable {
        public let m: Int, n: Int, k: Int
        public let gflops: Double
    }

    public struct TrainingResult: Sendable, Codable {
        public let batch: Int, seq: Int, steps: Int
        public let tokensPerSecond: Double
        public let stepMilliseconds: Double
        /// Milliseconds per step in each phase.
        public let forwardMs: Double, lossMs: Double, backwardMs: Double, optimizerMs: Double
        public let flopsPerStep: Double
        public let gflops: Double
        public let finalLoss: Double
        /// Tokens per second of this thread's CPU time (the BLAS runs on this thread at 1 thread): what a quiet
        /// machine would give, less sensitive to a shared machine's load than tokensPerSecond.
        public let tokensPerCPUSecond: Double
    }

    public struct DecodeResult: Sendable, Codable {
        public let batch: Int, promptLength: Int, newTokens: Int
        public let seconds: Double
        public let tokensPerSecond: Double
        /// This thread's CPU seconds per run: on a shared machine, time spent descheduled is not in it.
        public let cpuSeconds: Double
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    @inline(__always) static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// C = A B with A (m,k), B (k,n): the best rate over at least `minSeconds` (`timeGFLOPS`).
    public static func sgemmGFLOPS(m: Int, n: Int, k: Int, minSeconds: Double = 0.5) -> SgemmResult {
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
        var rng = Xoshiro256(seed: 1)
        for i in 0..<a.count { a[i] = Float(rng.uniform()) - 0.5 }
        for i in 0..<b.count { b[i] = Float(rng.uniform()) - 0.5 }
        let gflops = timeGFLOPS(
            { sgemm(.none, .none, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n) },
            flops: 2 * Double(m) * Double(n) * Double(k), minSeconds: minSeconds)
        return SgemmResult(m: m, n: n, k: k, gflops: gflops)
    }

    /// FLOPs of one training step (forward + backward) as executed: every matrix product counted 2mnk, backward
    /// twice the forward (input and weight gradients). Linear layers: 2 * tokens * (all matrix weights except the
    /// embedding lookup, which is a copy; the LM head counts). Attention: QK^T and PV over full T x T per head and
    /// layer (the causal half is computed too, as in eager PyTorch). Elementwise work is not counted.
    public static func trainingFLOPs(config c: LlamaConfig, batch: Int, seq: Int) -> Double {
        let d = Double(c.hiddenSize), ff = Double(c.intermediateSize), q = Double(c.qDim), kv = Double(c.kvDim)
        let perLayer = d * q + 2 * d * kv + q * d + 3 * d * ff
        let linearParams = Double(c.numHiddenLayers) * perLayer + Double(c.vocabSize) * d
        let tokens = Double(batch * seq)
        let linear = 2 * tokens * linearParams
        let attention =
            Double(c.numHiddenLayers) * Double(batch) * 4 * Double(seq * seq) * Double(c.headDim)
            * Double(c.numAttentionHeads)
        return 3 * (linear + attention)
    }

    /// Next-token cross-entropy over `tokens` (mean over predicted positions): writes dLoss/dLogits and returns the loss.
    static func crossEntropy(pass: TrainingPass, tokens: [[Int32]], dLogits: UnsafeMutablePointer<Float>) -> Double {
        let V = pass.model.config.vocabSize
        let count = tokens.reduce(0) { $0 + max($1.count - 1, 0) }
        let invCount = Float(1) / Float(max(count, 1))
        var loss = 0.0
        for (s, seq) in tokens.enumerated() {
            for t in 0..<seq.count {
                let g = dLogits + (pass.rowOffsets[s] + t) * V
                if t + 1 == seq.count { g.update(repeating: 0, count: V); continue }
                let logZ = softmax(pass.logits(sequence: s, position: t), count: V, into: g)
                let target = Int(seq[t + 1])
                loss += logZ - Double(pass.logits(sequence: s, position: t)[target])
                g[target] -= 1
                for v in 0..<V { g[v] *= invCount }
            }
        }
        return loss / Double(max(count, 1))
    }

    /// Training throughput: random B x T token batches, forward, cross-entropy, backward, `optimizerStep(weights,
    /// gradients)`. `warmup` untimed steps first, then at least `minSteps` steps and `minSeconds`.
    public static func measureTraining(
        model: LlamaModel, batch: Int, seq: Int, warmup: Int = 2, minSteps: Int = 5,
        minSeconds: Double = 2, seed: UInt64 = 0,
        optimizerStep: (FloatBuffer, FloatBuffer) -> Void
    ) -> TrainingResult {
        var rng = Xoshiro256(seed: seed)
        let V = model.config.vocabSize
        let tokens = (0..<batch).map { _ in (0..<seq).map { _ in Int32(rng.next() % UInt64(V)) } }
        let inputs = tokens.map { ModelInput(tokens: $0) }
        let grads = model.makeGradients()
        let dLogits = FloatBuffer(count: batch * seq * V)
        var tF = 0.0, tL = 0.0, tB = 0.0, tO = 0.0, loss = 0.0
        func step() {
            let t0 = now()
            grads.zero()
            let pass = model.forward(inputs)
            let t1 = now()
            loss = crossEntropy(pass: pass, tokens: tokens, dLogits: dLogits.pointer)
            let t2 = now()
            pass.backward(dLogits: dLogits.pointer, gradients: grads)
            let t3 = now()
            optimizerStep(model.weights, grads)
            let t4 = now()
            tF += t1 - t0; tL += t2 - t1; tB += t3 - t2; tO += t4 - t3
        }
        for _ in 0..<warmup { step() }
        tF = 0; tL = 0; tB = 0; tO = 0
        var steps = 0
        let start = now(), cpuStart = threadCPUSeconds()
        while steps < minSteps || now() - start < minSeconds { step(); steps += 1 }
        let total = now() - start, cpu = threadCPUSeconds() - cpuStart
        let flops = trainingFLOPs(config: model.config, batch: batch, seq: seq)
        let per = 1000 / Double(steps)
        return TrainingResult(
            batch: batch, seq: seq, steps: steps, tokensPerSecond: Double(batch * seq * steps) / total,
            stepMilliseconds: total * per, forwardMs: tF * per, lossMs: tL * per, backwardMs: tB * per,
            optimizerMs: tO * per, flopsPerStep: flops, gflops: flops * Double(steps) / total / 1e9,
            finalLoss: loss, tokensPerCPUSecond: Double(batch * seq * steps) / cpu)
    }

    /// Batched greedy decoding: `batch` random prompts of `promptLength` tokens, `newTokens` new tokens each, timed
    /// from prefill to the last token (as PyTorch's `generate` is). One untimed run of the same length first: a
    /// generation's KV cache and packed weights come from the scratch block cache, and the first run of a shape maps
    /// the blocks that every later run (an actor's steady state) reuses.
    public static func measureDecode(
        model: LlamaModel, batch: Int, promptLength: Int = 8, newTokens: Int = 64,
        seed: UInt64 = 0
    ) -> DecodeResult {
        var rng = Xoshiro256(seed: seed &+ UInt64(batch))
        let V = model.config.vocabSize
        let prompts = (0..<batch).map { _ in (0..<promptLength).map { _ in Int32(rng.next() % UInt64(V)) } }
        _ = model.generate(prompts: prompts, maxNewTokens: newTokens)
        // Short runs are noisy: repeat until at least half a second has been timed, keep the total.
        var reps = 0
        let t0 = now(), c0 = threadCPUSeconds()
        var t = t0
        repeat {
            _ = model.generate(prompts: prompts, maxNewTokens: newTokens); reps += 1; t = now()
        } while t - t0 < 0.5
        let seconds = (t - t0) / Double(reps), cpu = (threadCPUSeconds() - c0) / Double(reps)
        return DecodeResult(
            batch: batch, promptLength: promptLength, newTokens: newTokens, seconds: seconds,
            tokensPerSecond: Double(batch * newTokens) / seconds, cpuSeconds: cpu)
    }

    public struct PrefillResult: Sendable, Codable {
        public let batch: Int, promptLength: Int
        public let seconds: Double
        public let tokensPerSecond: Double
    }

    /// Prefill alone: `batch` random prompts of `promptLength` tokens through `prefill` (packing this generation's
    /// weights included, as every generation pays it), one untimed run first, then repeated for half a second.
    public static func measurePrefill(model: LlamaModel, batch: Int, promptLength: Int, seed: UInt64 = 0)
        -> PrefillResult
    {
        var rng = Xoshiro256(seed: seed &+ 7 &* UInt64(batch))
        let V = model.config.vocabSize
        let prompts = (0..<batch).map { _ in
            ModelInput(tokens: (0..<promptLength).map { _ in Int32(rng.next() % UInt64(V)) })
        }
        func run() {
            let cache = KVCache(config: model.config, rows: batch, capacity: promptLength)
            _ = model.prefill(prompts: prompts, rows: (0..<batch).map { [$0] }, cache: cache)
        }
        run()
        var reps = 0
        let t0 = now()
        var t = t0
        repeat { run(); reps += 1; t = now() } while t - t0 < 0.5
        let seconds = (t - t0) / Double(reps)
        return PrefillResult(
            batch: batch, promptLength: promptLength, seconds: seconds,
            tokensPerSecond: Double(batch * promptLength) / seconds)
    }

    /// The compute roofline of one panel format, from SoftRL's own packed kernels (not OpenBLAS): GFLOP/s of
    /// y (m, n) = x (m, k) W^T on panels that stay in cache (n 256, k 512: 512 KB in fp32), m 64 rows, so the
    /// kernel's arithmetic is the limit, not memory. nil when this CPU has no kernel for the format.
    public static func packedRooflineGFLOPS(
        _ format: PackedGEMM.PanelFormat, m: Int = 64, n: Int = 256, k: Int = 512,
        minSeconds: Double = 0.3
    ) -> Double? {
        var rng = Xoshiro256(seed: 3)
        let x = FloatBuffer(count: m * k), y = FloatBuffer(count: m * n), w = FloatBuffer(count: n * k)
        for i in 0..<x.count { x[i] = Float(rng.uniform()) - 0.5 }
        for i in 0..<w.count { w[i] = BFloat16.decode(BFloat16.encode(Float(rng.uniform()) - 0.5)) }
        switch format {
        case .f32:
            guard let kernel = PackedGEMM.active else { return nil }
            let p = FloatBuffer(count: PackedGEMM.packedCount(n: n, k: k))
            PackedGEMM.pack(w.pointer, ldw: k, n: n, k: k, into: p.pointer)
            return timeGFLOPS(
                {
                    PackedGEMM.multiply(
                        kernel, x: x.pointer, ldx: k, packed: p.pointer, y: y.pointer, ldy: n, m: m, n: n,
                        k: k, accumulate: false)
                }, flops: 2 * Double(m * n * k), minSeconds: minSeconds)
        case .bf16Weights, .bf16Products:
            guard let kernel = format == .bf16Weights ? PackedGEMM.bf16Weights : PackedGEMM.bf16Products else {
                return nil
            }
            let p = UnsafeMutablePointer<UInt16>.allocate(capacity: PackedGEMM.packedBF16Count(n: n, k: k))
            defer { p.deallocate() }
            PackedGEMM.packBF16(w.pointer, ldw: k, n: n, k: k, into: p, exactOnly: true)
            return timeGFLOPS(
                {
                    PackedGEMM.multiply(
                        kernel, x: x.pointer, ldx: k, packed: p, y: y.pointer, ldy: n, m: m, n: n, k: k,
                        accumulate: false)
                }, flops: 2 * Double(m * n * k), minSeconds: minSeconds)
        }
    }

    /// GFLOP/s of `run` (`flops` per call): the best block of ~2 ms of calls over at least `minSeconds`, after one
    /// warm-up call. The best, not the mean: on a shared core a block the scheduler interrupted is slow, and a peak
    /// is what the kernel reaches, not how busy the machine was.
    static func timeGFLOPS(_ run: () -> Void, flops: Double, minSeconds: Double) -> Double {
        run()
        var t = now()
        run()
        let one = max(now() - t, 1e-7)
        let block = max(1, Int(2e-3 / one))
        var best = 0.0
        let t0 = now()
        repeat {
            t = now()
            for _ in 0..<block { run() }
            let dt = now() - t
            best = max(best, flops * Double(block) / dt / 1e9)
        } while now() - t0 < minSeconds
        return best
    }

    /// The panel format the model's next generation gets under `compute` (its weights bf16 values or not).
    public static func generationFormat(model: LlamaModel, compute: GenerationCompute) -> PackedGEMM.PanelFormat {
        PackedGEMM.format(
            for: compute, weightsAreBF16: PackedGEMM.isBF16Valued(model.weights.pointer, count: model.weights.count))
    }

    /// Milliseconds to pack the model's weights for decode (what each generation pays once, in `prefill`): the best
    /// of 3. NaN when the active SIMD path has no packed kernel.
    public static func decodePackingMilliseconds(model: LlamaModel) -> Double {
        var best = Double.nan
        for _ in 0..<3 {
            let t0 = now()
            guard DecodeWeights(model: model) != nil else { return .nan }
            let dt = 1000 * (now() - t0)
            best = best.isNaN ? dt : min(best, dt)
        }
        return best
    }
}
