// How a thinking step is fed back into the model, with the paper's defaults ("Soft Tokens, Hard Truths",
// Butt et al. 2025, arXiv 2509.19170) and the related samplers it is compared with. One Codable value:
// it travels to actors as JSON and is recorded in every rollout.
import Foundation
import TransformerLM

public enum ThinkingMode: String, Codable, Sendable, CaseIterable {
    /// Embedding of a token sampled from softmax(l / hardTemperature).
    case hard
    /// p^T E with p = softmax(l / 0.5), plus Gaussian noise sigma = gamma * RMS(E) on the input embedding.
    case soft
    /// As soft with tau = 1e-4: the argmax token's embedding plus the same noise.
    case fuzzy
    /// Gumbel-Softmax weights softmax((log p + g) / tau_g) (arXiv 2508.03440); density of the Concrete distribution.
    case gumbel
    /// Weights w ~ Dirichlet(gamma * p) (CoT2, arXiv 2505.23648).
    case dirichlet
    /// Mean of the embeddings of K tokens drawn i.i.d. from p (CoT2 multi-token sampling).
    case multi
}

public struct SamplerConfig: Codable, Sendable, Equatable {
    /// The JSON sent on the wire (Welcome, and every rollout): keys sorted, so equal settings give equal strings
    /// and the learner can recognise the run's own settings by comparing strings instead of decoding each rollout's.
    public var canonicalJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public var mode: ThinkingMode = .soft
    /// Feed noise-free / argmax inputs (evaluation). Hard: argmax token; the mixtures: p^T E without noise.
    public var greedy = false
    public var hardTemperature = 1.0
    /// tau of the soft mixture (paper: 0.5).
    public var softTemperature = 0.5
    /// tau of the fuzzy mixture (paper: 1e-4, near one-hot).
    public var fuzzyTemperature = 1e-4
    /// sigma = noiseScale * RMS(E), per-entry RMS of the embedding matrix; defaults and their reasons: NoiseScale.
    public var noiseScale = NoiseScale.pretrained
    /// Gumbel-Softmax temperature (best 0.5 in arXiv 2508.03440).
    public var gumbelTemperature = 0.5
    /// Dirichlet concentration multiplier gamma (alpha = gamma * p over the support).
    public var dirichletConcentration = 1.0
    /// Smallest alpha allowed, so a near-zero probability cannot make the density degenerate.
    public var dirichletMinAlpha = 1e-3
    /// Tokens averaged by `multi`.
    public var multiTokens = 4
    /// Optional truncation of the distribution before mixing or sampling (Soft Thinking, arXiv 2505.15778),
    /// renormalised over the kept set. nil = full vocabulary (the paper).
    public var topK: Int? = nil
    public var topP: Double? = nil
    public var minP: Double? = nil
    /// Thinking-length limit; end-of-thinking is forced there (paper: 128 on GSM8K).
    public var maxThinkingSteps = 32
    /// Answer tokens are hard: sampled at temperature 1 in training, greedy in evaluation.
    public var answerGreedy = false
    public var maxAnswerTokens = 8

    public init() {}
    public init(mode: ThinkingMode, greedy: Bool = false) { self.mode = mode; self.greedy = greedy }

    /// The temperature of the distribution p for this mode.
    public var mixtureTemperature: Double {
        switch mode {
        case .hard, .multi, .gumbel, .dirichlet: return hardTemperature
        case .soft: return softTemperature
        case .fuzzy: return fuzzyTemperature
        }
    }
    /// Whether the step is a continuous vector (and needs a Gaussian noise scale).
    public var addsGaussianNoise: Bool { (mode == .soft || mode == .fuzzy) && !greedy }

    /// Upper bounds on the settings: far beyond any useful value, low enough that a typo or a hostile file cannot
    /// make a run divide by nothing, overflow a softmax or size buffers without end.
    public enum Limits {
        public static let temperature = 1000.0
        public static let noiseScale = 10.0
        public static let dirichletConcentration = 1e6
        public static let multiTokens = 1024
        public static let topK = LlamaConfig.Limits.vocabSize
        /// A thinking or answer length can be no longer than a model's positions.
        public static let length = LlamaConfig.Limits.maxPositionEmbeddings
    }

    /// Each setting inside its bounds; the message names the JSON key, its value and the bound.
    public func validate() throws {
        func need(_ ok: Bool, _ key: String, _ value: Any, _ rule: String) throws {
            if !ok { throw SamplerError("sampler.\(key) is \(value): it must be \(rule)") }
        }
        for (key, t) in [
            ("hardTemperature", hardTemperature), ("softTemperature", softTemperature),
            ("fuzzyTemperature", fuzzyTemperature), ("gumbelTemperature", gumbelTemperature)
        ] {
            try need(t > 0 && t <= Limits.temperature, key, t, "in (0, \(Limits.temperature)]")
        }
        try need(
            noiseScale >= 0 && noiseScale <= Limits.noiseScale, "noiseScale", noiseScale,
            "in [0, \(Limits.noiseScale)] (paper: 0.33; gamma = 3 collapsed training)")
        try need(
            dirichletConcentration > 0 && dirichletConcentration <= Limits.dirichletConcentration,
            "dirichletConcentration",
            dirichletConcentration, "in (0, \(Limits.dirichletConcentration)]")
        try need(dirichletMinAlpha > 0 && dirichletMinAlpha <= 1, "dirichletMinAlpha", dirichletMinAlpha, "in (0, 1]")
        try need(
            multiTokens >= 1 && multiTokens <= Limits.multiTokens, "multiTokens", multiTokens,
            "between 1 and \(Limits.multiTokens)")
        if let k = topK {
            try need(
                k >= 1 && k <= Limits.topK, "topK", k, "between 1 and \(Limits.topK), or null for the whole vocabulary")
        }
        if let p = topP { try need(p > 0 && p <= 1, "topP", p, "in (0, 1], or null") }
        if let p = minP { try need(p >= 0 && p < 1, "minP", p, "in [0, 1), or null") }
        try need(
            maxThinkingSteps >= 0 && maxThinkingSteps <= Limits.length, "maxThinkingSteps", maxThinkingSteps,
            "between 0 and \(Limits.length)")
        try need(
            maxAnswerTokens >= 1 && maxAnswerTokens <= Limits.length, "maxAnswerTokens", maxAnswerTokens,
            "between 1 and \(Limits.length)")
    }

    /// A short label for logs, e.g. "soft(tau=0.5,gamma=0.33)".
    public var label: String {
        if greedy { return "\(mode.rawValue)-greedy" }
        switch mode {
        case .hard: return "hard(T=\(hardTemperature))"
        case .soft: return "soft(tau=\(softTemperature),gamma=\(noiseScale))"
        case .fuzzy: return "fuzzy(tau=\(fuzzyTemperature),gamma=\(noiseScale))"
        case .gumbel: return "gumbel(tau=\(gumbelTemperature))"
        case .dirichlet: return "dirichlet(gamma=\(dirichletConcentration))"
        case .multi: return "multi(K=\(multiTokens))"
        }
    }
}

public struct SamplerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
