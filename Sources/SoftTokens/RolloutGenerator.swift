// Batched rollout generation with the KV cache: every sample of every prompt is one cache row, a prompt is run
// once for its whole group, and all rows advance in lock step. Each row thinks (hard / soft / fuzzy / gumbel /
// dirichlet / multi steps), ends thinking (sampled, greedy shadow, or forced at the limit), then answers in hard
// tokens. Randomness is per (seed, sample): a rollout does not depend on how work was batched.
import Foundation
import Tasks
import TensorMath
import TransformerLM

public struct GenerationRequest: Sendable {
    public var promptIndex: Int
    public var prompt: [Int32]
    public var groupSize: Int
    /// Stream seed of this prompt's group; sample i uses stream i of it.
    public var seed: UInt64
    /// Index of the first sample (a group split across batches keeps its samples' streams and indices).
    public var firstSample = 0
    public init(promptIndex: Int, prompt: [Int32], groupSize: Int, seed: UInt64) {
        self.promptIndex = promptIndex; self.prompt = prompt; self.groupSize = groupSize; self.seed = seed
    }
}

public struct GenerationStats: Sendable {
    public init() {}
    public var rollouts = 0
    /// Positions run through the model (prompt positions count once per group).
    public var tokens = 0
    public var milliseconds = 0.0
}

public final class RolloutGenerator {
    public let model: LlamaModel
    public var config: SamplerConfig
    /// How thinking ends: a single token (built-in tasks) or a text marker spanning several tokens (text tasks).
    public let marker: ThinkingMarker
    public let endOfSequence: Int32

    public convenience init(model: LlamaModel, config: SamplerConfig, endOfThinking: Int32, endOfSequence: Int32) {
        self.init(model: model, config: config, marker: .token(endOfThinking), endOfSequence: endOfSequence)
    }

    public init(model: LlamaModel, config: SamplerConfig, marker: ThinkingMarker, endOfSequence: Int32) {
        self.model = model; self.config = config; self.marker = marker; self.endOfSequence = endOfSequence
    }

    /// The rollout generator a task needs (its marker and end-of-sequence token).
    public convenience init(model: LlamaModel, config: SamplerConfig, task: any ReasoningTask) {
        self.init(model: model, config: config, marker: task.thinkingMarker, endOfSequence: task.endOfSequence)
    }

    /// sigma = gamma * sqrt(mean_ij E_ij^2) (method notes sec. 1: the per-entry RMS reading).
    /// `seenAs`: how the actors' copy of each weight differs from this one (bf16 rounding on the wire: the
    /// learner states the sigma of the weights the actors actually hold).
    public static func noiseSigma(model: LlamaModel, gamma: Double, seenAs: (Float) -> Float = { $0 }) -> Double {
        let n = model.config.vocabSize * model.config.hiddenSize
        var ss = 0.0
        let E = model.embeddingMatrix
        for i in 0..<n { let e = Double(seenAs(E[i])); ss += e * e }
        return gamma * (ss / Double(n)).squareRoot()
    }

    private enum Phase { case thinking, inserting, answering, done }
    private struct Row {
        var request: Int
        var sample: Int
        var rng: Xoshiro256
        var phase = Phase.thinking
        var steps: [ThinkingStep] = []
        var end = ThinkingEnd.forced
        var answer: [Int32] = []
        var answerLogProbs: [Double] = []
        /// Hard tokens (hard mode) or greedy-shadow tokens (other modes) so far, for the marker test.
        var recent: [Int32] = []
        /// Marker tokens still to feed after thinking ended by the shadow or the limit.
        var pending: ArraySlice<Int32> = []
    }

    /// Rows (samples) run together at most: bigger requests are split into batches of this many, so any count
    /// of groups and any group size work (a batch of 513 rows used to trap in the model's input checks).
    public static let maxRowsPerBatch = 256

    public func generate(_ requests: [GenerationRequest], policyVersion: Int) -> (
        groups: [[Rollout]], stats: GenerationStats
    ) {
        // Pieces of at most maxRowsPerBatch samples, each remembering its request; results are stitched back in order.
        var pieces: [(request: Int, part: GenerationRequest)] = []
        for (i, r) in requests.enumerated() {
            var first = 0
            repeat {
                var part = r
                part.firstSample = r.firstSample + first
                part.groupSize = min(Self.maxRowsPerBatch, r.groupSize - first)
                pieces.append((i, part))
                first += part.groupSize
            } while first < r.groupSize
        }
        if pieces.count == requests.count && requests.reduce(0, { $0 + $1.groupSize }) <= Self.maxRowsPerBatch {
            return generateBatch(requests, policyVersion: policyVersion)
        }
        var groups = requests.map { _ in [Rollout]() }
        var stats = GenerationStats()
        var batch: [(request: Int, part: GenerationRequest)] = []
        func flush() {
            guard !batch.isEmpty else { return }
            let (g, s) = generateBatch(batch.map(\.part), policyVersion: policyVersion)
            for (piece, rollouts) in zip(batch, g) { groups[piece.request] += rollouts }
            stats.rollouts += s.rollouts; stats.tokens += s.tokens; stats.milliseconds += s.milliseconds
            batch = []
        }
        for p in pieces {
            if batch.reduce(0, { $0 + $1.part.groupSize }) + p.part.groupSize > Self.maxRowsPerBatch { flush() }
            batch.append(p)
        }
        flush()
        return (groups, stats)
    }

    private func generateBatch(_ requests: [GenerationRequest], policyVersion: Int) -> (
        groups: [[Rollout]], stats: GenerationStats
    ) {
        let start = DispatchTime.now().uptimeNanoseconds
        let c = model.config, V = c.vocabSize, d = c.hiddenSize
        let sigma = config.addsGaussianNoise ? Self.noiseSigma(model: model, gamma: config.noiseScale) : 0
        var rows: [Row] = []
        var rowLists: [[Int]] = []
        for (ri, r) in requests.enumerated() {
            var list: [Int] = []
            for s in r.firstSample..<(r.firstSample + r.groupSize) {
                list.append(rows.count)
                rows.append(Row(request: ri, sample: s, rng: Xoshiro256(seed: r.seed, stream: UInt64(s))))
            }
            rowLists.append(list)
        }
        var stats = GenerationStats()
        guard !rows.isEmpty else { return (requests.map { _ in [] }, stats) }
        let longestPrompt = requests.map(\.prompt.count).max() ?? 0
        let capacity = longestPrompt + config.maxThinkingSteps + marker.tokens.count + config.maxAnswerTokens
        precondition(
            capacity <= c.maxPositionEmbeddings,
            "prompt (\(longestPrompt)) + thinking limit + answer limit exceeds max_position_embeddings \(c.maxPositionEmbeddings)"
        )
        let cache = KVCache(config: c, rows: rows.count, capacity: capacity)
        let logits = FloatBuffer(count: rows.count * V)
        let first = model.prefill(prompts: requests.map { ModelInput(tokens: $0.prompt) }, rows: rowLists, cache: cache)
        for (ri, list) in rowLists.enumerated() {
            stats.tokens += requests[ri].prompt.count
            for r in list {
                first[ri].withUnsafeBufferPointer { (logits.pointer + r * V).update(from: $0.baseAddress!, count: V) }
            }
        }
        let stepLogits = FloatBuffer(count: rows.count * V)
        while true {
            var fedRows: [Int] = []
            var input = ModelInput(tokens: [])
            let prepared = prepareContinuousSteps(rows, logits: logits.pointer)
            for r in 0..<rows.count where rows[r].phase != .done {
                let l = logits.pointer + r * V
                if let fed = advance(&rows[r], logits: l, sigma: sigma, prepared: prepared[r]) {
                    fedRows.append(r)
                    input.tokens.append(fed.token)
                    if fed.token == ModelInput.vectorSlot { input.vectors.append(contentsOf: fed.vector) }
                }
            }
            if fedRows.isEmpty { break }
            model.decodeStep(rows: fedRows, input: input, cache: cache, logits: stepLogits.pointer)
            stats.tokens += fedRows.count
            for (k, r) in fedRows.enumerated() {
                (logits.pointer + r * V).update(from: stepLogits.pointer + k * V, count: V)
            }
        }
        _ = d
        var groups: [[Rollout]] = requests.map { _ in [] }
        for row in rows {
            let req = requests[row.request]
            groups[row.request].append(
                Rollout(
                    promptIndex: req.promptIndex, sampleIndex: row.sample, prompt: req.prompt, steps: row.steps,
                    thinkingEnd: row.end, answer: row.answer, answerLogProbs: row.answerLogProbs, sampler: config,
                    noiseSigma: sigma, policyVersion: policyVersion))
        }
        stats.rollouts = rows.count
        stats.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return (groups, stats)
    }

    /// The distributions and mixture means of this decode step's soft and fuzzy thinking steps, all rows' mixtures
    /// in one pass over the embedding table (per row, each step read all of it: over SmolLM2's 113 MB table that was
    /// more than the model's own decode step). Keyed by row; bit-identical to each row's own `mixture`.
    private func prepareContinuousSteps(_ rows: [Row], logits: UnsafePointer<Float>) -> [Int: (
        dist: StepDistribution, mixture: [Float]
    )] {
        guard config.mode == .soft || config.mode == .fuzzy else { return [:] }
        let V = model.config.vocabSize
        let thinking = rows.indices.filter {
            rows[$0].phase == .thinking && rows[$0].steps.count < config.maxThinkingSteps
        }
        guard !thinking.isEmpty else { return [:] }
        let dists = thinking.map { StepDistribution(logits: logits + $0 * V, vocab: V, config: config) }
        let mus = StepDistribution.mixtures(
            dists, embeddings: UnsafePointer(model.embeddingMatrix), dim: model.config.hiddenSize)
        var out: [Int: (dist: StepDistribution, mixture: [Float])] = [:]
        for (k, r) in thinking.enumerated() { out[r] = (dists[k], mus[k]) }
        return out
    }

    /// Decides this row's next action from its current logits; returns what to feed (nil when the row is done).
    /// `prepared`: this step's distribution and mixture mean, computed with the other rows' (soft / fuzzy).
    private func advance(
        _ row: inout Row, logits l: UnsafePointer<Float>, sigma: Double,
        prepared: (dist: StepDistribution, mixture: [Float])?
    ) -> (token: Int32, vector: [Float])? {
        let V = model.config.vocabSize
        switch row.phase {
        case .done:
            return nil
        case .answering:
            let tok: Int32
            if config.answerGreedy {
                tok = Int32(argmax(l, count: V))
            } else {
                let p = StepDistribution(logits: l, vocab: V, temperature: 1)
                tok = p.support[sample(p.probs, &row.rng)]
            }
            row.answer.append(tok)
            row.answerLogProbs.append(StepDensity.answerToken(tok, logits: l, vocab: V))
            if tok == endOfSequence || row.answer.count >= config.maxAnswerTokens {
                row.phase = .done
                return nil
            }
            return (tok, [])
        case .inserting:
            let tok = row.pending.removeFirst()
            if row.pending.isEmpty { row.phase = .answering }
            return (tok, [])
        case .thinking:
            if row.steps.count >= config.maxThinkingSteps {
                row.end = .forced
                return insertMarker(&row)
            }
            let dist = prepared?.dist ?? StepDistribution(logits: l, vocab: V, config: config)
            if config.mode == .hard {
                let k = config.greedy ? dist.index(of: dist.argmax) ?? 0 : sample(dist.probs, &row.rng)
                let tok = dist.support[k]
                row.steps.append(ThinkingStep(token: tok, logProb: log(dist.probs[k]), shadow: dist.argmax))
                row.recent.append(tok)
                if marker.isComplete(row.recent[...]) { row.end = .sampled; row.phase = .answering }
                return (tok, [])
            }
            // The shadow token that would complete the marker is not a step: the marker is inserted instead.
            row.recent.append(dist.argmax)
            if marker.isComplete(row.recent[...]) {
                row.end = .shadow
                return insertMarker(&row)
            }
            let mu = prepared?.mixture
            var step = makeContinuousStep(dist, mixture: mu, sigma: sigma, rng: &row.rng)
            step.shadow = dist.argmax
            step.logProb =
                config.greedy
                ? 0
                : StepDensity.evaluate(
                    step: step, dist: dist, mixture: mu, config: config, sigma: sigma,
                    embeddings: model.embeddingMatrix,
                    dim: model.config.hiddenSize)
            row.steps.append(step)
            return (ModelInput.vectorSlot, step.vector)
        }
    }

    /// Starts feeding the marker's tokens (thinking ended by the shadow or the limit) and returns the first.
    private func insertMarker(_ row: inout Row) -> (token: Int32, vector: [Float]) {
        row.pending = marker.tokens[...]
        row.phase = .inserting
        let tok = row.pending.removeFirst()
        if row.pending.isEmpty { row.phase = .answering }
        return (tok, [])
    }

    /// `mixture`: the soft / fuzzy mixture mean when already computed (nil: computed here).
    private func makeContinuousStep(_ dist: StepDistribution, mixture: [Float]?, sigma: Double, rng: inout Xoshiro256)
        -> ThinkingStep
    {
        let d = model.config.hiddenSize, E = UnsafePointer(model.embeddingMatrix)
        if config.greedy {
            return ThinkingStep(
                token: ModelInput.vectorSlot, vector: mixture ?? dist.mixture(embeddings: E, dim: d), logProb: 0,
                shadow: dist.argmax)
        }
        switch config.mode {
        case .soft, .fuzzy:
            var x = mixture ?? dist.mixture(embeddings: E, dim: d)
            for j in 0..<d { x[j] += Float(sigma * rng.normal()) }
            return ThinkingStep(token: ModelInput.vectorSlot, vector: x, logProb: 0, shadow: dist.argmax)
        case .gumbel:
            // y = softmax((log p + g) / tau), kept as log-weights so tiny weights keep their exact density.
            let tau = config.gumbelTemperature
            let a = dist.probs.map { (log($0) + rng.gumbel()) / tau }
            return mixtureStep(dist, logWeights: logSoftmax(a))
        case .dirichlet:
            // Gamma(alpha) in log space: log G = log Gamma(alpha + 1) + log(U) / alpha, stable for tiny alpha.
            let logG = dist.probs.map { p -> Double in
                let alpha = max(config.dirichletConcentration * p, config.dirichletMinAlpha)
                return log(rng.gamma(shape: alpha + 1)) + log(rng.uniformOpen()) / alpha
            }
            return mixtureStep(dist, logWeights: logSoftmax(logG))
        case .multi:
            var toks: [Int32] = []
            var x = [Float](repeating: 0, count: d)
            let inv = 1 / Float(config.multiTokens)
            for _ in 0..<config.multiTokens {
                let t = dist.support[sample(dist.probs, &rng)]
                toks.append(t)
                let row = E + Int(t) * d
                for j in 0..<d { x[j] += row[j] * inv }
            }
            return ThinkingStep(token: ModelInput.vectorSlot, vector: x, logProb: 0, shadow: dist.argmax, tokens: toks)
        case .hard:
            fatalError("hard steps are tokens")
        }
    }

    private func mixtureStep(_ dist: StepDistribution, logWeights: [Double]) -> ThinkingStep {
        let d = model.config.hiddenSize, E = model.embeddingMatrix
        var x = [Float](repeating: 0, count: d)
        let lw = logWeights.map { Float($0) }
        for (k, tok) in dist.support.enumerated() {
            let w = exp(lw[k]), row = E + Int(tok) * d
            for j in 0..<d { x[j] += w * row[j] }
        }
        return ThinkingStep(
            token: ModelInput.vectorSlot, vector: x, logProb: 0, shadow: dist.argmax,
            support: dist.support, logWeights: lw)
    }
}

func logSoftmax(_ a: [Double]) -> [Double] {
    let mx = a.max() ?? 0
    var s = 0.0
    for v in a { s += exp(v - mx) }
    let lse = mx + log(s)
    return a.map { $0 - lse }
}

/// Index drawn from probabilities that sum to 1.
func sample(_ probs: [Double], _ rng: inout Xoshiro256) -> Int {
    var r = rng.uniform()
    for (i, p) in probs.enumerated() {
        r -= p
        if r < 0 { return i }
    }
    return probs.lastIndex { $0 > 0 } ?? probs.count - 1
}
