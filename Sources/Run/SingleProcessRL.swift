// Actor and learner in one process: each step draws prompts from the schedule, generates their groups with the
// current weights, scores rewards from the task, and applies one update. The distributed cluster does the same
// with the generation moved to actor processes.
import Foundation
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

public final class SingleProcessRL {
    public let learner: PolicyLearner
    public let task: any ReasoningTask
    public let sampler: SamplerConfig
    public let rewards: RewardScorer
    public var prompts: PromptSchedule
    public private(set) var lastGenerationStats = GenerationStats()

    /// `threads`: the update's threads (PolicyLearner.threads).
    public init(model: LlamaModel, task: any ReasoningTask, config: RLConfig, threads: Int = 1) {
        learner = PolicyLearner(
            model: model, config: config, endOfThinking: task.thinkingMarker.tokens, threads: threads,
            marker: task.thinkingMarker)
        self.task = task
        sampler = config.resolvedSampler(for: task)
        rewards = RewardScorer(task: task, shaping: config.rewards)
        prompts = PromptSchedule(count: task.count(.train), seed: config.seed)
    }

    public func step() throws -> (report: UpdateReport, groups: [[Rollout]]) {
        let config = learner.config
        let requests = Self.nextRequests(config.promptsPerStep, from: &prompts, task: task, config: config)
        let gen = RolloutGenerator(model: learner.model, config: sampler, task: task)
        let (rawGroups, stats) = gen.generate(requests, policyVersion: learner.version)
        lastGenerationStats = stats
        var groups = rawGroups
        for g in 0..<groups.count { for r in 0..<groups[g].count { rewards.score(&groups[g][r]) } }
        var report = try learner.update(groups: groups)
        report.milliseconds += stats.milliseconds
        return (report, groups)
    }

    /// The next `count` train prompts of `schedule` as generation requests: the run's group size, and each group's
    /// seed from the run seed and the prompt's position in the schedule (so a run's rollouts do not depend on how
    /// its prompts are batched).
    static func nextRequests(
        _ count: Int, from schedule: inout PromptSchedule, task: any ReasoningTask, config: RLConfig
    ) -> [GenerationRequest] {
        (0..<count).map { _ in
            let position = schedule.cursor, index = schedule.next()
            return GenerationRequest(
                promptIndex: index, prompt: task.problem(.train, index).prompt, groupSize: config.groupSize,
                seed: GroupSeed.of(runSeed: config.seed, position: position))
        }
    }
}
