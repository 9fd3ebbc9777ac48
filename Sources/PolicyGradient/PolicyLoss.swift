// Policy-gradient losses on per-step log-probabilities, with their exact gradients dLoss/dlogp.
// It does not touch the model: the caller supplies per-step log-probs (or log-densities for continuous
// soft steps — ratios and gradients work the same) and back-propagates the returned dLogp itself.
//
// Loss, for rollouts i and steps t with mask m_it ∈ {0,1}:
//     L = Σ_i c_i Σ_t m_it w_it ( −s_it + β k_it )
// with the per-step objective s_it chosen by LossKind, the k3 KL term k_it, and the per-rollout
// normalisation c_i chosen by LossNormalization (R = number of rollouts passed in, n_i = unmasked steps of i,
// N = Σ_i n_i):
//     .sequence      c_i = 1/R              "Soft Tokens, Hard Truths" arXiv 2509.19170 (RLOO loss, 1/(B·G))
//     .sequenceMean  c_i = 1/(R·n_i)        GRPO, DeepSeekMath arXiv 2402.03300 eq. 3
//     .token         c_i = 1/N              DAPO arXiv 2503.14476 eq. 8 (token-level policy-gradient loss)
//     .constant      c_i = 1/(R·Lconst)     Dr.GRPO arXiv 2503.20783 (no 1/|o| length bias)
// R counts every rollout passed in, also fully masked ones, so filtering does not rescale the others.
// w_it is the step's weight (RolloutTerms.weight, 1 unless given; LossConfig.continuousStepWeight sets it on
// thinking steps fed as vectors): it scales the step's term and its gradient, not the normalisation.
//
// Per-step objective, x = logp − behaviourLogp, ρ = exp(x):
//   .reinforce, tisCap nil:  s = A·logp                                   ∂s/∂logp = A
//   .reinforce, tisCap C:    gradient w·A with w = min(ρ, C) held constant (truncated importance sampling,
//                            Ionides 2008; Espeholt et al. "IMPALA" arXiv 1802.01561 for stale actors).
//                            The reported value is the antiderivative s = A·F(x),
//                              F(x) = e^x                  for e^x ≤ C
//                              F(x) = C·(1 + x − log C)    for e^x > C,
//                            which is C¹ with F′ = min(e^x, C): the value is an importance-weighted surrogate
//                            and its derivative is exactly the stop-gradient TIS term, so finite differences
//                            of the loss check the gradient everywhere.
//   .clipped:                s = min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A)  (Schulman et al. "PPO" arXiv 1707.06347,
//                            clip-higher ε_low ≠ ε_high from DAPO §3.1); ∂s/∂logp = ρ·A unless the clip is
//                            active (A>0 ∧ ρ>1+ε_high, or A<0 ∧ ρ<1−ε_low), where it is 0. tisCap is ignored:
//                            ρ already corrects for the behaviour policy.
// KL (only when klBeta > 0), k3 estimator (Schulman 2020 "Approximating KL divergence"; GRPO eq. 4), d = logp_ref − logp:
//     k = e^d − d − 1 ≥ 0,  ∂k/∂logp = 1 − e^d.

import Foundation

public enum LossKind: String, Codable, Sendable {
    /// Plain REINFORCE on log-probs (paper default), optionally with truncated importance weights.
    case reinforce
    /// PPO/GRPO/DAPO clipped-ratio surrogate.
    case clipped
}

public enum LossNormalization: String, Codable, Sendable {
    /// Mean over rollouts of the per-rollout sum (paper).
    case sequence
    /// DAPO: sum over all unmasked steps in the batch / number of unmasked steps.
    case token
    /// GRPO: mean over rollouts of the per-rollout mean over its unmasked steps.
    case sequenceMean
    /// Dr.GRPO: sum / (rollouts · constantLength).
    case constant
}

public struct LossConfig: Codable, Sendable, Equatable {
    public var kind: LossKind = .reinforce
    /// Clip range [1 − clipLow, 1 + clipHigh] for `.clipped`. DAPO clip-higher: 0.2 / 0.28.
    public var clipLow: Double = 0.2
    public var clipHigh: Double = 0.2
    /// Truncated importance weight cap for `.reinforce`; nil = no importance weighting (pure on-policy REINFORCE).
    public var tisCap: Double? = 2.0
    /// Coefficient of the k3 KL to the frozen reference (0.04 in DeepSeekMath); 0 = off.
    public var klBeta: Double = 0
    public var normalization: LossNormalization = .sequence
    /// Divisor per rollout for `.constant` normalisation (e.g. the generation length limit).
    public var constantLength: Double = 128
    /// Weight on the terms of thinking steps fed as vectors (every mode but hard); hard steps and answer tokens
    /// keep 1. 1 is the paper's policy gradient. Below 1 damps those steps' score, which for soft and fuzzy steps on
    /// a pretrained model's embeddings is large ((x - mu) / sigma^2 in every dimension) and sets the update's
    /// direction (docs/RESULTS.md); the gradient is then no longer the policy gradient.
    public var continuousStepWeight: Double = 1

    public init() {}

    public init(
        kind: LossKind = .reinforce, clipLow: Double = 0.2, clipHigh: Double = 0.2, tisCap: Double? = 2.0,
        klBeta: Double = 0, normalization: LossNormalization = .sequence, constantLength: Double = 128
    ) {
        self.kind = kind
        self.clipLow = clipLow
        self.clipHigh = clipHigh
        self.tisCap = tisCap
        self.klBeta = klBeta
        self.normalization = normalization
        self.constantLength = constantLength
    }

    /// "Soft Tokens, Hard Truths": REINFORCE, sequence sums averaged over rollouts, no clip, no KL (+ TIS for stale actors).
    public static let paper = LossConfig()
    /// DeepSeekMath GRPO: clipped surrogate ε = 0.2, KL β = 0.04, per-rollout mean.
    public static let grpo = LossConfig(kind: .clipped, tisCap: nil, klBeta: 0.04, normalization: .sequenceMean)
    /// Dr.GRPO: clipped surrogate, no KL, constant normaliser.
    public static let drGRPO = LossConfig(kind: .clipped, tisCap: nil, normalization: .constant)
    /// DAPO: clip-higher 0.2 / 0.28, no KL, token-level normalisation.
    public static let dapo = LossConfig(
        kind: .clipped, clipLow: 0.2, clipHigh: 0.28, tisCap: nil, normalization: .token)

    // Missing keys fall back to the defaults, so config files only name what they change.
    private enum CodingKeys: String, CodingKey {
        case kind, clipLow, clipHigh, tisCap, klBeta, normalization, constantLength, continuousStepWeight
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LossConfig()
        kind = try c.decodeIfPresent(LossKind.self, forKey: .kind) ?? d.kind
        clipLow = try c.decodeIfPresent(Double.self, forKey: .clipLow) ?? d.clipLow
        clipHigh = try c.decodeIfPresent(Double.self, forKey: .clipHigh) ?? d.clipHigh
        tisCap = c.contains(.tisCap) ? try c.decodeIfPresent(Double.self, forKey: .tisCap) : d.tisCap // explicit null = off
        klBeta = try c.decodeIfPresent(Double.self, forKey: .klBeta) ?? d.klBeta
        normalization = try c.decodeIfPresent(LossNormalization.self, forKey: .normalization) ?? d.normalization
        constantLength = try c.decodeIfPresent(Double.self, forKey: .constantLength) ?? d.constantLength
        continuousStepWeight =
            try c.decodeIfPresent(Double.self, forKey: .continuousStepWeight) ?? d.continuousStepWeight
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(clipLow, forKey: .clipLow)
        try c.encode(clipHigh, forKey: .clipHigh)
        try c.encode(tisCap, forKey: .tisCap) // encodes null when off, so a round trip keeps it off
        try c.encode(klBeta, forKey: .klBeta)
        try c.encode(normalization, forKey: .normalization)
        try c.encode(constantLength, forKey: .constantLength)
        try c.encode(continuousStepWeight, forKey: .continuousStepWeight)
    }
}

/// One rollout's per-step numbers (all steps: soft thinking steps and hard answer tokens).
public struct RolloutTerms: Sendable {
    public var advantage: Double
    /// Current (learner) policy log-prob / log-density per step.
    public var logp: [Double]
    /// Log-prob recorded by the actor that generated the rollout.
    public var behaviourLogp: [Double]
    /// Frozen reference log-probs; needed only if klBeta > 0 (also used for the meanKL stat when present).
    public var referenceLogp: [Double]?
    /// false = step excluded from the loss (e.g. overlong filtering). nil = all steps count.
    public var mask: [Bool]?
    /// Weight of each step's term (w_it in the header). nil = all 1.
    public var weight: [Double]?

    public init(
        advantage: Double, logp: [Double], behaviourLogp: [Double], referenceLogp: [Double]? = nil, mask: [Bool]? = nil,
        weight: [Double]? = nil
    ) {
        self.advantage = advantage
        self.logp = logp
        self.behaviourLogp = behaviourLogp
        self.referenceLogp = referenceLogp
        self.mask = mask
        self.weight = weight
    }
}

public struct LossStats: Sendable, Codable, Equatable {
    /// `.clipped`: fraction of unmasked steps whose gradient the clip zeroes.
    public var clippedFraction: Double = 0
    /// exp(logp − behaviourLogp) over unmasked steps (staleness monitor, all kinds).
    public var meanRatio: Double = 0
    public var maxRatio: Double = 0
    /// Mean k3 estimate over unmasked steps (0 when no reference log-probs were given).
    public var meanKL: Double = 0
    /// `.reinforce` with tisCap: fraction of unmasked steps whose ratio exceeded the cap.
    public var tisTruncatedFraction: Double = 0
    /// Number of unmasked steps.
    public var steps: Int = 0
    public init() {}
}

public struct LossResult: Sendable {
    public var loss: Double
    /// dLoss/dlogp per rollout per step (0 on masked steps).
    public var dLogp: [[Double]]
    public var stats: LossStats
    public init(loss: Double, dLogp: [[Double]], stats: LossStats) {
        self.loss = loss
        self.dLogp = dLogp
        self.stats = stats
    }
}

/// Loss and dLoss/dlogp for a batch of rollouts (see the file header for the formulas).
/// No unmasked steps → loss 0 and zero gradients.
public func policyLoss(_ rollouts: [RolloutTerms], config: LossConfig) -> LossResult {
    let useKL = config.klBeta != 0
    if config.kind == .clipped {
        precondition(config.clipLow >= 0 && config.clipLow < 1 && config.clipHigh >= 0, "bad clip range")
    }
    if config.kind == .reinforce, let cap = config.tisCap { precondition(cap > 0, "tisCap must be positive") }
    if config.normalization == .constant { precondition(config.constantLength > 0, "constantLength must be positive") }

    // Unmasked step counts, needed before any term can be normalised.
    var active = [Int](repeating: 0, count: rollouts.count)
    for (i, r) in rollouts.enumerated() {
        precondition(r.behaviourLogp.count == r.logp.count, "rollout \(i): behaviourLogp length differs from logp")
        if let m = r.mask { precondition(m.count == r.logp.count, "rollout \(i): mask length differs from logp") }
        if let w = r.weight { precondition(w.count == r.logp.count, "rollout \(i): weight length differs from logp") }
        if let ref = r.referenceLogp {
            precondition(ref.count == r.logp.count, "rollout \(i): referenceLogp length differs from logp")
        }
        if useKL { precondition(r.referenceLogp != nil, "rollout \(i): klBeta > 0 needs referenceLogp") }
        active[i] = r.mask.map { $0.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? r.logp.count
    }
    let totalSteps = active.reduce(0, +)
    let rCount = Double(rollouts.count)

    var stats = LossStats()
    stats.steps = totalSteps
    var dLogp = rollouts.map { [Double](repeating: 0, count: $0.logp.count) }
    guard totalSteps > 0 else { return LossResult(loss: 0, dLogp: dLogp, stats: stats) }

    let lowerClip = 1 - config.clipLow, upperClip = 1 + config.clipHigh
    let logCap = config.tisCap.map { log($0) }
    var loss = 0.0
    var ratioSum = 0.0, maxRatio = -Double.infinity, klSum = 0.0
    var clippedCount = 0, truncatedCount = 0

    for (i, r) in rollouts.enumerated() where active[i] > 0 {
        let c: Double
        switch config.normalization {
        case .sequence: c = 1 / rCount
        case .sequenceMean: c = 1 / (rCount * Double(active[i]))
        case .token: c = 1 / Double(totalSteps)
        case .constant: c = 1 / (rCount * config.constantLength)
        }
        let a = r.advantage
        var rolloutSum = 0.0 // Σ_t (−s + βk) for this rollout, scaled by c once
        for t in 0..<r.logp.count {
            if let m = r.mask, !m[t] { continue }
            let x = r.logp[t] - r.behaviourLogp[t]
            let rho = exp(x)
            ratioSum += rho
            maxRatio = max(maxRatio, rho)

            var s: Double, ds: Double
            switch config.kind {
            case .reinforce:
                if let cap = config.tisCap, let logC = logCap {
                    if x <= logC {
                        s = a * rho; ds = a * rho
                    } else {
                        s = a * cap * (1 + x - logC); ds = a * cap
                        truncatedCount += 1
                    }
                } else {
                    s = a * r.logp[t]; ds = a
                }
            case .clipped:
                if a == 0 {
                    s = 0; ds = 0 // avoid 0·∞ when ρ overflows
                } else {
                    let clippedRho = min(max(rho, lowerClip), upperClip)
                    s = min(rho * a, clippedRho * a)
                    let clipActive = (a > 0 && rho > upperClip) || (a < 0 && rho < lowerClip)
                    ds = clipActive ? 0 : rho * a
                    if clipActive { clippedCount += 1 }
                }
            }
            var term = -s, dterm = -ds
            if let ref = r.referenceLogp {
                let d = ref[t] - r.logp[t]
                let ed = exp(d)
                let k = ed - d - 1
                klSum += k
                if useKL {
                    term += config.klBeta * k
                    dterm += config.klBeta * (1 - ed)
                }
            }
            let w = r.weight?[t] ?? 1
            rolloutSum += w * term
            dLogp[i][t] = c * w * dterm
        }
        loss += c * rolloutSum
    }

    let n = Double(totalSteps)
    stats.meanRatio = ratioSum / n
    stats.maxRatio = maxRatio
    stats.meanKL = klSum / n
    stats.clippedFraction = Double(clippedCount) / n
    stats.tisTruncatedFraction = Double(truncatedCount) / n
    return LossResult(loss: loss, dLogp: dLogp, stats: stats)
}
