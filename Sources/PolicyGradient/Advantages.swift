// Advantages for one group of G rollouts sampled from the same prompt, and DAPO's group-level filters.
// Pure arithmetic on rewards; it knows nothing about models, tokens or batches of groups.
//
// References:
//   RLOO    — Kool et al. 2019 "Buy 4 REINFORCE samples, get a baseline for free"; Ahmadian et al. arXiv 2402.14740;
//             default estimator of "Soft Tokens, Hard Truths" arXiv 2509.19170.
//   GRPO    — Shao et al. "DeepSeekMath" arXiv 2402.03300, §4.1.2 (outcome supervision).
//   Dr.GRPO — Liu et al. "Understanding R1-Zero-Like Training" arXiv 2503.20783, §3.
//   DAPO    — Yu et al. arXiv 2503.14476, §3.2 (dynamic sampling), §3.4 (overlong reward shaping).

import Foundation

public enum AdvantageEstimator: String, Codable, Sendable, CaseIterable {
    /// A_i = r_i − mean_{j≠i} r_j (leave-one-out baseline: unbiased, no scaling).
    case rloo
    /// A_i = (r_i − mean r) / (std r + ε), std the population standard deviation (divide by G).
    case grpo
    /// A_i = r_i − mean r (Dr.GRPO drops the std division, which over-weights too-easy/too-hard prompts).
    case drgrpo
}

/// Advantages for one group. A group of fewer than two rollouts carries no baseline information: all zeros.
///
/// GRPO's std: the paper writes std(r) without saying which; we use the population form (divide by G),
/// which is defined for every G ≥ 1 and gives the normalised advantages unit RMS when std ≫ ε.
public func computeAdvantages(rewards: [Double], estimator: AdvantageEstimator, stdEpsilon: Double = 1e-6) -> [Double] {
    let g = rewards.count
    guard g >= 2 else { return [Double](repeating: 0, count: g) }
    let n = Double(g)
    let sum = rewards.reduce(0, +)
    let mean = sum / n
    switch estimator {
    case .rloo:
        // r_i − (S − r_i)/(G−1): the sum form avoids an O(G²) loop.
        return rewards.map { r in r - (sum - r) / (n - 1) }
    case .drgrpo:
        return rewards.map { r in r - mean }
    case .grpo:
        let variance = rewards.reduce(0) { acc, r in acc + (r - mean) * (r - mean) } / n
        let denominator = variance.squareRoot() + stdEpsilon
        return rewards.map { r in (r - mean) / denominator }
    }
}

/// DAPO dynamic sampling: keep a group only if its rewards are not all equal (otherwise every
/// advantage is zero and the group only dilutes the batch). Empty and single-rollout groups are dropped.
public func dynamicSamplingKeep(groupRewards: [Double]) -> Bool {
    guard let lo = groupRewards.min(), let hi = groupRewards.max() else { return false }
    return hi > lo
}

/// DAPO soft overlong punishment (eq. 13), added to the task reward of a rollout of length L:
///   0                                  if L ≤ Lmax − Lcache
///   ((Lmax − Lcache) − L) / Lcache     if Lmax − Lcache < L ≤ Lmax
///   −1                                 if L > Lmax
public func softOverlongPenalty(length: Int, maxLength: Int, cacheLength: Int) -> Double {
    precondition(cacheLength > 0 && cacheLength <= maxLength, "need 0 < cacheLength <= maxLength")
    let threshold = maxLength - cacheLength
    if length <= threshold { return 0 }
    if length <= maxLength { return Double(threshold - length) / Double(cacheLength) }
    return -1
}
