// The learner's side of the policy: teacher-forces recorded rollouts through the model (the recorded inputs are
// constants), recomputes every action's log-probability under the current weights, and back-propagates a
// per-action loss gradient dL/dlog pi into the weights: through the logits, and for soft/fuzzy steps also into
// the embedding matrix via mu = p^T E (method notes sec. 2).
import Foundation
import Tasks
import TensorMath
import TransformerLM

public final class PolicyScorer {
    public let model: LlamaModel
    /// The tokens inserted when thinking ended by the shadow or the limit (one `<eot>` for built-in tasks).
    public let endOfThinking: [Int32]
    /// Consecutive rollouts with the same prompt (a group) run it once in the training pass and share its keys and
    /// values (TrainingPass's shared prefixes); false runs every rollout whole.
    public var sharePrompts = true

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
        let pass = forward(rollouts)
        let batched = continuousSteps(pass, rollouts, dLogp: nil, dLogits: nil, dE: nil)
        let logProbs = rollouts.enumerated().map { (i, r) in
            visit(pass, i, r, dLogp: nil, dLogits: nil, dE: nil, done: batched.values[i], dists: batched.dists[i])
        }
        return (pass, logProbs)
    }

    /// The training pass over `rollouts`, each group's prompt once when `sharePrompts`.
    private func forward(_ rollouts: [Rollout]) -> TrainingPass {
        let inputs = rollouts.map { $0.modelInput(endOfThinking: endOfThinking) }
        guard sharePrompts else { return model.forward(inputs) }
        var prefixes: [ModelInput] = [], continuations: [(prefix: Int, input: ModelInput)] = []
        for (i, r) in rollouts.enumerated() {
            if i == 0 || r.prompt != rollouts[i - 1].prompt { prefixes.append(ModelInput(tokens: r.prompt)) }
            // The prompt holds no vector slots: every vector belongs to the thinking steps after it.
            continuations.append(
                (
                    prefixes.count - 1,
                    ModelInput(tokens: Array(inputs[i].tokens[r.prompt.count...]), vectors: inputs[i].vectors)
                ))
        }
        return model.forward(prefixes: prefixes, continuations: continuations)
    }

    /// Each rollout's breach of the end-of-thinking rule (nil: none), judged on the learner's own logits in `pass`:
    /// the argmax at every mixture step's position, and after the last step for a SHADOW end (EndOfThinkingRule).
    public func endRuleViolations(_ pass: TrainingPass, _ rollouts: [Rollout], marker: ThinkingMarker) -> [String?] {
        let V = model.config.vocabSize
        return rollouts.enumerated().map { (i, r) in
            let deciding: [EndOfThinkingRule.Position]
            var afterLast: EndOfThinkingRule.Position? = nil
            if r.sampler.mode == .hard {
                deciding = r.steps.map { EndOfThinkingRule.Position(token: $0.token) }
            } else {
                deciding = r.steps.indices.map {
                    EndOfThinkingRule.position(
                        logits: pass.logits(sequence: i, position: r.stepLogitPosition($0)), vocab: V)
                }
                if r.thinkingEnd == .shadow {
                    afterLast = EndOfThinkingRule.position(
                        logits: pass.logits(sequence: i, position: r.stepLogitPosition(r.steps.count)), vocab: V)
                }
            }
            return EndOfThinkingRule.violation(
                mode: r.sampler.mode, end: r.thinkingEnd, deciding: deciding, afterLast: afterLast, marker: marker)
        }
    }

    /// Accumulates into `gradients` the gradient of a loss whose derivative w.r.t. each action's log-probability
    /// is `dLogp[i][k]` (same alignment as `score`).
    public func backward(_ pass: TrainingPass, _ rollouts: [Rollout], dLogp: [[Double]], gradients: FloatBuffer) {
        let V = model.config.vocabSize
        // Recycled memory (ScratchArena), zeroed: the steps below accumulate into it.
        let dLogits = ScratchArena(floats: pass.totalRows * V).zeroedSlice(pass.totalRows * V)
        let dE = gradients.pointer + model.layout.embedding
        let batched = continuousSteps(pass, rollouts, dLogp: dLogp, dLogits: dLogits.pointer, dE: dE)
        for (i, r) in rollouts.enumerated() {
            _ = visit(
                pass, i, r, dLogp: dLogp[i], dLogits: dLogits.pointer, dE: dE,
                done: batched.values[i], dists: batched.dists[i])
        }
        pass.backward(dLogits: dLogits.pointer, gradients: gradients)
    }

    /// Steps of soft / fuzzy rollouts whose distribution is the whole vocabulary, `chunk` at a time: their mixtures in
    /// one pass over the embedding table, their gradients (with `dLogp`) as matrix products
    /// (StepDensity.continuousSteps), accumulated into `dLogits` (all sequences' rows) and `dE`. Returns each
    /// sequence's log-densities by step, and the truncated distributions it computed (a top-k sorts the whole
    /// vocabulary: not twice); `visit` takes both from there and does the other steps one at a time.
    /// Over SmolLM2's 49k x 576 table one step at a time cost ~40 ms per soft step, 2-3x the rest of the learner.
    private func continuousSteps(
        _ pass: TrainingPass, _ rollouts: [Rollout], dLogp: [[Double]]?,
        dLogits: UnsafeMutablePointer<Float>?, dE: UnsafeMutablePointer<Float>?,
        chunk: Int = 32
    ) -> (values: [[Int: Double]], dists: [[Int: StepDistribution]]) {
        let V = model.config.vocabSize, d = model.config.hiddenSize
        var done = [[Int: Double]](repeating: [:], count: rollouts.count)
        var truncated = [[Int: StepDistribution]](repeating: [:], count: rollouts.count)
        var pending: [(i: Int, t: Int, dist: StepDistribution)] = []
        func flush() {
            guard !pending.isEmpty else { return }
            let steps = pending.map { rollouts[$0.i].steps[$0.t] }, dists = pending.map(\.dist)
            let mixtures = StepDistribution.mixtures(dists, embeddings: UnsafePointer(model.embeddingMatrix), dim: d)
            let rows =
                dLogits.map { base in
                    pending.map {
                        base + pass.row(sequence: $0.i, position: rollouts[$0.i].stepLogitPosition($0.t)) * V
                    }
                } ?? []
            let values = StepDensity.continuousSteps(
                steps, dists: dists, mixtures: mixtures, sigmas: pending.map { rollouts[$0.i].noiseSigma },
                coefficients: dLogp.map { c in pending.map { c[$0.i][$0.t] } }, embeddings: model.embeddingMatrix,
                vocab: V, dim: d, dLogits: rows, dEmbeddings: dE)
            for (p, v) in zip(pending, values) { done[p.i][p.t] = v }
            pending = []
        }
        for (i, r) in rollouts.enumerated()
        where (r.sampler.mode == .soft || r.sampler.mode == .fuzzy) && r.noiseSigma > 0 {
            for (t, step) in r.steps.enumerated() where step.token == ModelInput.vectorSlot && step.vector.count == d {
                let dist = StepDistribution(
                    logits: pass.logits(sequence: i, position: r.stepLogitPosition(t)), vocab: V,
                    config: r.sampler)
                guard dist.support.count == V else { truncated[i][t] = dist; continue }
                pending.append((i, t, dist))
                if pending.count == chunk { flush() }
            }
        }
        flush()
        return (done, truncated)
    }

    /// `dLogits`: the whole pass's logits gradient (rows as `pass.row`).
    private func visit(
        _ pass: TrainingPass, _ i: Int, _ r: Rollout, dLogp: [Double]?,
        dLogits: UnsafeMutablePointer<Float>?, dE: UnsafeMutablePointer<Float>?, done: [Int: Double],
        dists: [Int: StepDistribution]
    ) -> [Double] {
        let V = model.config.vocabSize, d = model.config.hiddenSize
        func dRow(_ pos: Int) -> UnsafeMutablePointer<Float>? {
            dLogits.map { $0 + pass.row(sequence: i, position: pos) * V }
        }
        var out: [Double] = []
        out.reserveCapacity(r.actionCount)
        for (t, step) in r.steps.enumerated() {
            if let v = done[t] { out.append(v); continue }
            let pos = r.stepLogitPosition(t)
            if let dist = dists[t] {
                out.append(
                    StepDensity.evaluate(
                        step: step, dist: dist, mixture: nil, config: r.sampler, sigma: r.noiseSigma,
                        embeddings: model.embeddingMatrix,
                        dim: d, coefficient: dLogp?[t], dLogits: dRow(pos), dEmbeddings: dE))
                continue
            }
            out.append(
                StepDensity.evaluate(
                    step: step, logits: pass.logits(sequence: i, position: pos), config: r.sampler, sigma: r.noiseSigma,
                    embeddings: model.embeddingMatrix, vocab: V, dim: d, coefficient: dLogp?[t],
                    dLogits: dRow(pos), dEmbeddings: dE))
        }
        for (j, tok) in r.answer.enumerated() {
            let pos = r.answerLogitPosition(j, markerLength: endOfThinking.count)
            out.append(
                StepDensity.answerToken(
                    tok, logits: pass.logits(sequence: i, position: pos), vocab: V,
                    coefficient: dLogp?[r.steps.count + j], dLogits: dRow(pos)))
        }
        return out
    }
}
