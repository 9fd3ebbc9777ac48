// `softrl bench thinking`: the cost of one thinking step per sampler on a checkpoint (e.g. SmolLM2's 49k
// vocabulary): rows x steps forced-length rollouts per mode, ms per row-step, beside hard steps (whose cost is the
// model's decode step plus a full-vocabulary softmax). The difference is the sampler's own cost: the mixture p^T E
// over the vocabulary (or the truncated support), the noise and the exact log-density. Then the learner's cost of
// the same rollouts per rollout: recomputing their log-probabilities and back-propagating through them. Lines go
// to `output`.
import Foundation
import SoftTokens
import Tasks
import TensorMath
import TransformerLM

public struct ThinkingBenchmark {
    /// Rows (samples) generated together, and thinking steps per row.
    public var rows = 4, steps = 16
    /// The samplers to time (hard first: the others are shown beside it).
    public var modes: [ThinkingMode] = [.hard, .soft, .fuzzy, .gumbel, .dirichlet, .multi]
    /// Also run soft with this top-k (0 = skip).
    public var topK = 20
    public var threads = 1
    public var output: (String) -> Void = { print($0) }

    public init() {}

    /// Runs every mode on `model` (`name`: how the checkpoint is shown).
    public func run(model: LlamaModel, name: String) {
        BLASThreads.set(threads)
        let V = model.config.vocabSize
        // A marker no step can complete: every row thinks exactly `steps` steps, then the marker (eos) is inserted.
        let never = ThinkingMarker.text("\u{1}never\u{2}", tokens: [0], decode: { _ in "" })
        let prompt: [Int32] = (0..<8).map { Int32(($0 * 7919) % V) }
        var configs: [(String, SamplerConfig)] = []
        for mode in modes {
            var c = SamplerConfig(mode: mode)
            c.maxThinkingSteps = steps; c.maxAnswerTokens = 1; c.noiseScale = 1.0
            configs.append((mode.rawValue, c))
        }
        if topK > 0 {
            var c = SamplerConfig(mode: .soft)
            c.maxThinkingSteps = steps; c.maxAnswerTokens = 1; c.noiseScale = 1.0; c.topK = topK
            configs.append(("soft top-\(topK)", c))
        }
        output(
            "checkpoint \(name): vocab \(V), d \(model.config.hiddenSize), \(rows) rows x \(steps) steps, \(threads) BLAS thread(s)"
        )
        var hardMs: Double? = nil
        var hardLearner: (score: Double, backward: Double)? = nil
        for (label, c) in configs {
            let gen = RolloutGenerator(model: model, config: c, marker: never, endOfSequence: 0)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let out = gen.generate(
                [GenerationRequest(promptIndex: 0, prompt: prompt, groupSize: rows, seed: 1)], policyVersion: 0)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            let stepCount = out.groups[0].map(\.steps.count).reduce(0, +)
            let perStep = ms / Double(max(stepCount, 1))
            if label == "hard" { hardMs = perStep }
            let extra = hardMs.map { String(format: " (hard + %.1f ms)", perStep - $0) } ?? ""
            // The learner's side of the same rollouts: recompute every log-probability (score), then back-propagate
            // a unit gradient per action (backward: the step densities' gradients, then the model's backward pass).
            let rollouts = out.groups[0]
            let scorer = PolicyScorer(model: model, endOfThinking: never.tokens)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let (pass, logProbs) = scorer.score(rollouts)
            let t2 = DispatchTime.now().uptimeNanoseconds
            scorer.backward(pass, rollouts, dLogp: logProbs.map { $0.map { _ in 1 } }, gradients: model.makeGradients())
            let t3 = DispatchTime.now().uptimeNanoseconds
            let learner = (score: Double(t2 - t1) / 1e6 / Double(rows), backward: Double(t3 - t2) / 1e6 / Double(rows))
            if label == "hard" { hardLearner = learner }
            let learnerExtra =
                hardLearner.map {
                    String(format: " (hard + %.0f ms)", learner.score + learner.backward - $0.score - $0.backward)
                } ?? ""
            output(
                label.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(
                        format: "%7.1f ms per row-step%@  [%d steps, %.0f ms total incl. prompt]", perStep, extra,
                        stepCount, ms)
                    + String(
                        format: "; learner per rollout: score %.0f ms + backward %.0f ms%@", learner.score,
                        learner.backward, learnerExtra))
        }
    }
}
