// Learning-rate schedule: linear warm-up to the peak, then half-cosine decay to peak·minRatio
// (Loshchilov & Hutter "SGDR" arXiv 1608.03983 without restarts; warm-up as in Goyal et al. arXiv 1706.02677).
// Only the rate as a function of the step; it does not own an optimiser.

import Foundation

public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    /// Final rate as a fraction of the peak.
    public var minRatio: Double

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, minRatio: Double = 0.1) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps, "need 0 <= warmupSteps <= totalSteps")
        precondition(minRatio >= 0 && minRatio <= 1, "minRatio must be in [0, 1]")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// Rate for the update with 0-based index `step` (AdamW.step before the update).
    ///   step < W:        peak·(step+1)/W        (never 0, so the first update moves; reaches peak at step W−1)
    ///   W ≤ step < T:     min + (peak−min)·½(1 + cos(π·(step−W)/(T−W)))   (peak at W, min at T)
    ///   step ≥ T:        min   (also right after warm-up when T = W: there is no decay phase)
    public func rate(at step: Int) -> Double {
        let minRate = peak * minRatio
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        if step >= totalSteps { return minRate }
        let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
        return minRate + (peak - minRate) * 0.5 * (1 + cos(Double.pi * progress))
    }
}
