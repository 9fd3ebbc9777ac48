// The one-line summary `softrl local` prints after training: the training reward is noisy step to step (a few
// prompts per update), so means over the first and last tenth of the updates show the trend.
import Foundation

extension RunData {
    /// "training reward, mean of the first K vs last K updates: R0 -> R1 (correct C0 -> C1)"; nil under 10 updates.
    public var rewardTrend: String? {
        guard steps.count >= 10 else { return nil }
        let k = max(5, steps.count / 10)
        func mean(_ xs: ArraySlice<StepRecord>, _ value: (StepRecord) -> Double) -> Double {
            xs.map(value).reduce(0, +) / Double(xs.count)
        }
        let first = steps.prefix(k), last = steps.suffix(k)
        return String(
            format: "training reward, mean of the first %d vs last %d updates: %.3f -> %.3f (correct %.3f -> %.3f)", k,
            k,
            mean(first, \.reward), mean(last, \.reward), mean(first, \.correctRate), mean(last, \.correctRate))
    }
}
