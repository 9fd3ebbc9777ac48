// How a thinking step is fed back into the model, with the paper's defaults ("Soft Tokens, Hard Truths",
// Butt et al. 2025, arXiv 2509.19170) and the related samplers it is compared with. One Codable value:
// it travels to actors as JSON and is recorded in every rollout.
import Foundation

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

    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw SamplerError(msg) } }
        try need(hardTemperature > 0 && softTemperature > 0 && fuzzyTemperature > 0 && gumbelTemperature > 0,
                 "temperatures must be positive")
        try need(noiseScale >= 0, "noise scale gamma must be >= 0 (paper: 0.33; gamma = 3 collapsed training)")
        try need(dirichletConcentration > 0, "dirichlet concentration must be positive")
        try need(multiTokens >= 1, "multi-token sampling needs K >= 1")
        try need(topK.map { $0 >= 1 } ?? true, "top-k must be >= 1")
        try need(topP.map { $0 > 0 && $0 <= 1 } ?? true, "top-p must be in (0, 1]")
        try need(minP.map { $0 >= 0 && $0 < 1 } ?? true, "min-p must be in [0, 1)")
        try need(maxThinkingSteps >= 0 && maxAnswerTokens >= 1, "length limits must be positive")
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
