// Everything that defines an RL run, as one Codable value with a default and a one-line reason per field
// (nanoGPT's config style). A JSON file overrides defaults (ConfigFile), command-line flags override the file.
import Foundation
import SoftTokens
import Tasks

public struct RLConfig: Codable, Sendable, Equatable {
    /// Built-in task name or "jsonl:PATH".
    public var task = "mnns"
    public var taskOptions = TaskOptions()
    /// How thinking steps are fed: soft, tau 0.5 (paper). Noise gamma 1.0 rather than the paper's 0.33 (its best on
    /// 3-8B models; it reports every gamma <= 1 working): on the 1M-parameter `tiny` model the soft-step score
    /// (x - mu)/sigma^2 at 0.33 swamps the answer-token gradient and RL barely moves in 120 steps, while 1.0 lifts
    /// greedy pass@1 on mnns by ~7 points (README, "Results").
    public var sampler: SamplerConfig = {
        var s = SamplerConfig()
        s.noiseScale = 1.0
        return s
    }()
    /// Thinking / answer limits; nil takes the task's suggestion (paper: 128 on GSM8K).
    public var thinkingLimit: Int? = nil
    public var answerLimit: Int? = nil
    /// Samples per prompt (paper: 32).
    public var groupSize = 32
    /// Prompts per update (paper: 2).
    public var promptsPerStep = 4
    /// Updates to run.
    public var steps = 200
    /// RLOO is the paper's estimator; GRPO and Dr. GRPO are options.
    public var advantage = AdvantageEstimator.rloo
    /// REINFORCE with summed log-probs, truncated importance weights for stale rollouts (cap 2).
    public var loss = LossConfig()
    /// Peak learning rate: tiny models from SFT need more than the paper's 3e-6..8e-6 for 3-8B models; 3e-4
    /// collapsed pass@k on mnns, 1e-4 did not.
    public var learningRate = 1e-4
    /// Linear warm-up steps (paper: 20), then cosine decay to minLRRatio * peak.
    public var warmupSteps = 5
    public var minLRRatio = 0.1
    public var weightDecay = 0.0
    /// Global gradient-norm clip; stabilises the 1/sigma^2-scaled soft-step gradients.
    public var maxGradNorm = 1.0
    /// DAPO dynamic sampling: drop groups whose rewards are all equal (they carry no signal under RLOO/GRPO).
    public var dynamicSampling = false
    /// DAPO overlong filtering: exclude rollouts whose thinking was forced at the limit.
    public var overlongFilter = false
    /// Paper: 100 correct / 10 well-formed but wrong / 0; scaled by 1/100 (same under Adam).
    public var rewards = RewardShaping()
    /// Seeds prompt order and every sampler stream.
    public var seed: UInt64 = 0
    /// Rollouts generated more than this many policy versions ago are dropped (0 = synchronous on-policy).
    public var maxStaleness = 1
    /// Rollouts (or sequence positions) per micro-batch of the learner's pass; gradients accumulate over them, so
    /// memory does not grow with the update. nil: chosen from the model size and the host's memory.
    public var microBatch: MicroBatchSize? = nil

    public init() {}

    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ConfigFileError(description: msg) } }
        try sampler.validate()
        try need(groupSize >= 2, "groupSize must be >= 2: RLOO's leave-one-out baseline needs another sample")
        try need(promptsPerStep >= 1, "promptsPerStep must be >= 1")
        try need(steps >= 0, "steps must be >= 0")
        try need(learningRate > 0 && learningRate < 1, "learningRate must be in (0, 1)")
        try need(warmupSteps >= 0 && minLRRatio >= 0 && minLRRatio <= 1, "warmupSteps >= 0 and minLRRatio in [0, 1]")
        try need(maxGradNorm > 0, "maxGradNorm must be positive")
        try need(maxStaleness >= 0, "maxStaleness must be >= 0")
        try need((microBatch?.count ?? 1) >= 1, "microBatch must hold at least 1 rollout or token")
    }

    /// The sampler with the task's length limits filled in.
    public func resolvedSampler(for task: any ReasoningTask) -> SamplerConfig {
        var s = sampler
        s.maxThinkingSteps = thinkingLimit ?? task.suggestedThinkingLimit
        s.maxAnswerTokens = answerLimit ?? task.maxAnswerTokens
        return s
    }
}
