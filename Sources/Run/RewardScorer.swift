// Rewards recomputed from the answers by whoever holds the task (the learner): an actor's claimed reward is
// never trusted. Problems are addressed by (split, index), so a rollout names its problem by prompt index.
import Foundation
import SoftTokens
import Tasks

public struct RewardScorer: Sendable {
    public let task: any ReasoningTask
    public let shaping: RewardShaping
    public let split: Split

    public init(task: any ReasoningTask, shaping: RewardShaping, split: Split = .train) {
        self.task = task; self.shaping = shaping; self.split = split
    }

    /// Fills reward and verdict. Returns false when the rollout does not belong to the problem it names
    /// (unknown index or a different prompt): such a rollout must be dropped, not trained on.
    @discardableResult
    public func score(_ r: inout Rollout) -> Bool {
        guard r.promptIndex >= 0, r.promptIndex < task.count(split) else { return false }
        return score(&r, against: task.problem(split, r.promptIndex))
    }

    /// `score` with the problem already at hand (a group's rollouts share one; building it can cost more than
    /// judging the answer).
    @discardableResult
    public func score(_ r: inout Rollout, against problem: Problem) -> Bool {
        guard problem.prompt == r.prompt else { return false }
        let v = task.verdict(answerTokens: r.answer, for: problem)
        r.verdict = v.rawValue
        r.reward = shaping.reward(v)
        return true
    }
}
