// The learner's side of the policy: teacher-forces recorded rollouts through the model (the recorded inputs are
// constants), recomputes every action's log-probability under the current weights, and back-propagates a
// per-action loss gradient dL/dlog pi into the weights: through the logits, and for soft/fuzzy steps also into
// the embedding matrix via mu = p^T E (method notes sec. 2).
import Foundation
import TensorMath
import TransformerLM

public final class PolicyScorer {
    public let model: LlamaModel
    /// The tokens inserted when thinking ended by the shadow or the limit (one `<eot>` for built-in tasks).
    public let endOfThinking: [Int32]

    public convenience init(model: LlamaModel, endOfThinking: Int32) {
        self.init(model: model, endOfThinking: [endOfThinking])
    }

    public init(model: LlamaModel, endOfThinking: [Int32]) {
        precondition(!endOfThinking.isEmpty, "the end-of-thinking marker needs at least one token")
        self.model = model
        self.endOfThinking = endOfThinking
    }

    /// Runs the forward pass over `rollouts` and returns it with each rollout's log-probabilities
    /// (thinking steps, then answer tokens), aligned with `Rollout.behaviourLogProbs`.
    public func score(_ rollouts: [Rollout]) -> (pass: TrainingPass, logProbs: [[Double]]) {
        let pass = model.forward(rollouts.map { $0.modelInput(endOfThinking: endOfThinking) })
        let logProbs = rollouts.enumerated().map { (i, r) in visit(pass, i, r, dLogp: nil, dLogits: nil, dE: nil) }
        return (pass, logProbs)
    }

    /// Accumulates into `gradients` the gradient of a loss whose derivative w.r.t. each action's log-probability
    /// is `dLogp[i][k]` (same alignment as `score`).
    public func backward(_ pass: TrainingPass, _ rollouts: [Rollout], dLogp: [[Double]], gradients: FloatBuffer) {
        let V = model.config.vocabSize
        let dLogits = FloatBuffer(count: pass.totalRows * V)
        let dE = gradients.pointer + model.layout.embedding
        for (i, r) in rollouts.enumerated() {
            _ = visit(pass, i, r, dLogp: dLogp[i], dLogits: dLogits.pointer + pass.rowOffsets[i] * V, dE: dE)
        }
        pass.backward(dLogits: dLogits.pointer, gradients: gradients)
    }

    private func visit(_ pass: TrainingPass, _ i: Int, _ r: Rollout, dLogp: [Double]?,
                       dLogits: UnsafeMutablePointer<Float>?, dE: UnsafeMutablePointer<Float>?) -> [Double] {
        let V = model.config.vocabSize, d = model.config.hiddenSize
        var out: [Double] = []
        out.reserveCapacity(r.actionCount)
        for (t, step) in r.steps.enumerated() {
            let pos = r.stepLogitPosition(t)
            out.append(StepDensity.evaluate(
                step: step, logits: pass.logits(sequence: i, position: pos), config: r.sampler, sigma: r.noiseSigma,
                embeddings: model.embeddingMatrix, vocab: V, dim: d, coefficient: dLogp?[t],
                dLogits: dLogits.map { $0 + pos * V }, dEmbeddings: dE))
        }
        for (j, tok) in r.answer.enumerated() {
            let pos = r.answerLogitPosition(j, markerLength: endOfThinking.count)
            out.append(StepDensity.answerToken(tok, logits: pass.logits(sequence: i, position: pos), vocab: V,
                                               coefficient: dLogp?[r.steps.count + j], dLogits: dLogits.map { $0 + pos * V }))
        }
        return out
    }
}
