// `softrl bench learner`: on the same rollouts, the actor's rollouts/s per core (generation, one BLAS thread)
// beside the learner's rollouts/s per core (one whole update: scoring, loss, backward, AdamW) at 1 and 2 learner
// threads, the update's share of the sgemm roofline (its matrix-product FLOPs over the time, against a 1024^3 sgemm
// on one core measured in the same run), the memory of its largest micro-batch and the process's peak RSS.
// The ratio of the two rates is how many actor cores one learner core keeps up with.
import ArgumentParser
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TensorMath
import TransformerLM

struct LearnerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learner",
        abstract: "Learner vs actor rollouts/s per core, sgemm roofline share, memory per micro-batch.")
    @Option(help: "Model shape with random weights: tiny, small or smollm2 (SmolLM2-135M's shape).") var preset:
        String = "tiny"
    @Option(help: "A checkpoint directory instead of a preset.") var base: String?
    @Option(help: "Thinking modes, comma-separated.") var modes: String = "hard,soft"
    @Option(help: "Prompts per update.") var prompts: Int = 2
    @Option(help: "Samples per prompt.") var groupSize: Int = 16
    @Option(help: "Prompt length in tokens (SmolLM2's chat template makes `words` prompts ~72).") var promptLength:
        Int = 72
    @Option(help: "Thinking steps per rollout (all forced to this length).") var thinking: Int = 48
    @Option(help: "Answer tokens per rollout at most.") var answer: Int = 7
    @Option(help: "Learner thread counts to compare, comma-separated.") var threadCounts: String = "1,2"
    @Option(help: "Micro-batch (\"8\" rollouts or \"2048 tokens\"); default from the model and host memory.")
    var microBatch: String?
    @Option(help: "Updates timed per thread count (the last is reported: the first pays first-touch costs).")
    var updates: Int = 2
    @Flag(help: "Skip the actor's side (generate once, untimed).") var learnerOnly = false

    func run() throws {
        BLASThreads.set(1)
        let model: LlamaModel
        if let base {
            model = try loadModel(base)
        } else {
            model = try LlamaModel(config: try LlamaConfig.preset(preset, vocabSize: 64), seed: 1)
        }
        let c = model.config, V = c.vocabSize
        let threads = try threadCounts.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n >= 1 else { throw CLIError("--thread-counts: '\(s)' is not a thread count >= 1") }
            return n
        }
        var rl = RLConfig()
        if let m = microBatch {
            guard let size = MicroBatchSize(parsing: m) else {
                throw CLIError("--micro-batch \(m): give rollouts (\"8\") or tokens (\"2048 tokens\")")
            }
            rl.microBatch = size
        }
        rl.learningRate = 1e-6; rl.warmupSteps = 0
        let peak = sgemmPeakGFLOPs()
        print(
            "bench learner | \(base ?? preset): \(model.parameterCount) parameters (d=\(c.hiddenSize) L=\(c.numHiddenLayers) V=\(V)) | \(prompts) prompts x \(groupSize) samples, prompt \(promptLength), thinking \(thinking), answer <= \(answer)"
        )
        print(
            String(
                format: "cpu %@ | BLAS %@ | sgemm 1024^3 on one core: %.1f GFLOP/s", cpuName(),
                BLASKernel.activeCoreName, peak))
        // A marker no step completes: every rollout thinks exactly `thinking` steps (ThinkingBench does the same).
        let never = ThinkingMarker.text("\u{1}never\u{2}", tokens: [0], decode: { _ in "" })
        for m in modes.split(separator: ",") {
            guard let mode = ThinkingMode(rawValue: String(m)) else {
                throw CLIError("--modes: '\(m)' is not a thinking mode")
            }
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
                print(
                    String(
                        format: "%@ | actor: %d rollouts in %.2f s, %.2f rollouts/s per core", mode.rawValue,
                        rollouts.count, actorSeconds, actorRate))
            }
            var oneThread: Double? = nil
            for n in threads {
                let learner = PolicyLearner(model: model, config: rl, endOfThinking: never.tokens, threads: n)
                let batches = learner.microBatches(rollouts)
                let lengths = learner.sequenceLengths(rollouts) // rows in the pass: a group's prompt once
                var seconds = 0.0
                for _ in 0..<max(updates, 1) {
                    let t = DispatchTime.now().uptimeNanoseconds
                    _ = try learner.update(groups: groups)
                    seconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
                }
                let rate = Double(rollouts.count) / seconds
                let flops = batches.reduce(0.0) { $0 + updateFLOPs(c, rows: lengths[$1].reduce(0, +)) }
                let roofline = flops / seconds / 1e9 / (peak * Double(n))
                let passMB =
                    Double(batches.map { model.trainingPassBytes(lengths: Array(lengths[$0])) }.max() ?? 0) / 1048576
                var line = String(
                    format:
                        "%@ | learner %d thread(s): update %.2f s, %.3f rollouts/s per core, %d micro-batches of %@ (largest pass %.0f MiB), sgemm roofline share %.0f%%, peak RSS %.0f MiB",
                    mode.rawValue, n, seconds, rate / Double(n), batches.count, learner.microBatch.description, passMB,
                    100 * roofline, peakRSSMegabytes())
                if !learnerOnly {
                    line += String(format: " | actor/learner per core %.2f", actorRate / (rate / Double(n)))
                }
                if let one = oneThread {
                    line += String(format: " | %.2fx one thread", rate / one)
                } else {
                    oneThread = rate
                }
                print(line); fflush(stdout)
            }
        }
    }

    /// Matrix-product FLOPs of one update over `rows` positions: forward 2 * rows * (linear weights), backward twice
    /// that (input and weight gradients). Attention scores are left out (a few percent at these lengths).
    func updateFLOPs(_ c: LlamaConfig, rows: Int) -> Double {
        let perLayer =
            c.hiddenSize * (c.qDim + 2 * c.kvDim) + c.qDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        let weights = Double(c.numHiddenLayers * perLayer + c.vocabSize * c.hiddenSize)
        return 6 * Double(rows) * weights
    }

    func sgemmPeakGFLOPs() -> Double {
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

    func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    }

    func cpuName() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        let name =
            info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last ?? "unknown"
        let family = info.split(separator: "\n").first { $0.hasPrefix("cpu family") }?.split(separator: ":").last ?? "?"
        return "\(name.trimmingCharacters(in: .whitespaces)) (family \(family.trimmingCharacters(in: .whitespaces)))"
    }
}
