// The measuring half of `softrl bench learner`: on the same rollouts, the actor's rollouts/s per core (generation,
// one BLAS thread) beside the learner's rollouts/s per core (one whole update: scoring, loss, backward, AdamW) at
// each learner thread count, the update's share of the sgemm roofline (its matrix-product FLOPs over the time,
// against a 1024^3 sgemm on one core measured in the same run), the memory of its largest micro-batch and the
// process's peak RSS. The ratio of the two rates is how many actor cores one learner core keeps up with.
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TensorMath
import TransformerLM

public struct LearnerBenchmark {
    public var modes: [ThinkingMode] = [.hard, .soft]
    /// Prompts per update and samples per prompt.
    public var prompts = 2, groupSize = 16
    /// Prompt length in tokens (SmolLM2's chat template makes `words` prompts ~72), thinking steps per rollout (all
    /// forced to this length) and answer tokens at most.
    public var promptLength = 72, thinking = 48, answer = 7
    public var threadCounts = [1, 2]
    /// nil: the learner's own choice for the model and the host's memory.
    public var microBatch: MicroBatchSize? = nil
    /// Updates timed per thread count (the last is reported: the first pays first-touch costs).
    public var updates = 2
    /// Skip the actor's side (generate once, untimed).
    public var learnerOnly = false
    /// Also time each update with no pass memory kept (every micro-batch maps, faults in and zeroes fresh pages),
    /// alternated with the default, to show what keeping it saves.
    public var freshBuffers = false
    public var output: (String) -> Void = {
        print($0); fflush(stdout)
    }

    public init() {}

    public func run(model: LlamaModel, name: String) throws {
        BLASThreads.set(1)
        let c = model.config, V = c.vocabSize
        var rl = RLConfig()
        rl.microBatch = microBatch
        rl.learningRate = 1e-6; rl.warmupSteps = 0
        let peak = Self.sgemmPeakGFLOPs()
        output(
            "bench learner | \(name): \(model.parameterCount) parameters (d=\(c.hiddenSize) L=\(c.numHiddenLayers) V=\(V)) | \(prompts) prompts x \(groupSize) samples, prompt \(promptLength), thinking \(thinking), answer <= \(answer)"
        )
        output(
            String(
                format: "cpu %@ | BLAS %@ | sgemm 1024^3 on one core: %.1f GFLOP/s", CPUFeatures.modelName,
                BLASKernel.activeCoreName, peak))
        // A marker no step completes: every rollout thinks exactly `thinking` steps (ThinkingBenchmark does the same).
        let never = ThinkingMarker.text("\u{1}never\u{2}", tokens: [0], decode: { _ in "" })
        for mode in modes {
            var s = SamplerConfig(mode: mode)
            s.maxThinkingSteps = thinking; s.maxAnswerTokens = answer; s.noiseScale = 1.0
            let gen = RolloutGenerator(model: model, config: s, marker: never, endOfSequence: 0)
            let requests = (0..<prompts).map { p in
                GenerationRequest(
                    promptIndex: p, prompt: (0..<promptLength).map { Int32((($0 + 31 * p) * 7919 + 1) % V) },
                    groupSize: groupSize, seed: UInt64(p + 1))
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            var groups = gen.generate(requests, policyVersion: 0).groups
            let actorSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            for g in groups.indices { for r in groups[g].indices { groups[g][r].reward = Double((g + r) % 3) } }
            let rollouts = groups.flatMap { $0 }
            let actorRate = Double(rollouts.count) / actorSeconds
            if !learnerOnly {
                output(
                    String(
                        format: "%@ | actor: %d rollouts in %.2f s, %.2f rollouts/s per core", mode.rawValue,
                        rollouts.count, actorSeconds, actorRate))
            }
            var oneThread: Double? = nil
            for n in threadCounts {
                let learner = PolicyLearner(model: model, config: rl, endOfThinking: never.tokens, threads: n)
                let batches = learner.microBatches(rollouts)
                let lengths = learner.sequenceLengths(rollouts) // rows in the pass: a group's prompt once
                var seconds = 0.0, freshSeconds = 0.0
                let kept = ScratchBlockCache.shared.maxCachedBytes
                for _ in 0..<max(updates, 1) {
                    var t = DispatchTime.now().uptimeNanoseconds
                    _ = try learner.update(groups: groups)
                    seconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
                    guard freshBuffers else { continue }
                    learner.keepsPassMemory = false
                    ScratchBlockCache.shared.maxCachedBytes = 0
                    t = DispatchTime.now().uptimeNanoseconds
                    _ = try learner.update(groups: groups)
                    freshSeconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
                    learner.keepsPassMemory = true
                    ScratchBlockCache.shared.maxCachedBytes = kept
                }
                let rate = Double(rollouts.count) / seconds
                let flops = batches.reduce(0.0) { $0 + Self.updateFLOPs(c, rows: lengths[$1].reduce(0, +)) }
                let roofline = flops / seconds / 1e9 / (peak * Double(n))
                let passMB =
                    Double(batches.map { model.trainingPassBytes(lengths: Array(lengths[$0])) }.max() ?? 0) / 1048576
                var line = String(
                    format:
                        "%@ | learner %d thread(s): update %.2f s, %.3f rollouts/s per core, %d micro-batches of %@ (largest pass %.0f MiB), sgemm roofline share %.0f%%, peak RSS %.0f MiB",
                    mode.rawValue, n, seconds, rate / Double(n), batches.count, learner.microBatch.description, passMB,
                    100 * roofline, Self.peakRSSMegabytes())
                if !learnerOnly {
                    line += String(format: " | actor/learner per core %.2f", actorRate / (rate / Double(n)))
                }
                if freshBuffers {
                    line += String(format: " | fresh buffers: update %.2f s (%.2fx)", freshSeconds, freshSeconds / seconds)
                }
                if let one = oneThread {
                    line += String(format: " | %.2fx one thread", rate / one)
                } else {
                    oneThread = rate
                }
                output(line)
            }
        }
    }

    /// Matrix-product FLOPs of one update over `rows` positions: forward 2 * rows * (linear weights), backward twice
    /// that (input and weight gradients). Attention scores are left out (a few percent at these lengths).
    static func updateFLOPs(_ c: LlamaConfig, rows: Int) -> Double {
        let perLayer =
            c.hiddenSize * (c.qDim + 2 * c.kvDim) + c.qDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        let weights = Double(c.numHiddenLayers * perLayer + c.vocabSize * c.hiddenSize)
        return 6 * Double(rows) * weights
    }

    static func sgemmPeakGFLOPs() -> Double {
        let n = 1024
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), out = FloatBuffer(count: n * n)
        for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
        var best = Double.infinity
        for _ in 0..<4 {
            let t = DispatchTime.now().uptimeNanoseconds
            sgemm(.none, .none, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: out.pointer, ldc: n)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// The process's peak resident memory so far.
    public static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    }
}
