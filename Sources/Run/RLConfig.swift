// Everything that defines an RL run, as one Codable value with a default and a one-line reason per field
// (nanoGPT's config style). A JSON file overrides defaults (ConfigFile), command-line flags override the file.
import Foundation
import PolicyGradient
import SoftTokens
import Tasks
import TransformerLM

public struct RLConfig: Codable, Sendable, Equatable {
    /// Built-in task name or "jsonl:PATH".
    public var task = "mnns"
    public var taskOptions = TaskOptions()
    /// How thinking steps are fed: soft, tau 0.5 (paper). Noise gamma by NoiseScale's rule for the default task; a
    /// run resolves it for its own task (RunOverrides.newRun).
    public var sampler: SamplerConfig = {
        var s = SamplerConfig()
        s.noiseScale = NoiseScale.rule(for: TaskOptions()).gamma
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
    /// Peak learning rate; a new run takes LearningRateRule's for its task unless a flag or the config file sets it.
    public var learningRate = LearningRateRule.fromScratch
    /// Linear warm-up steps (paper: 20), then cosine decay to minLRRatio * peak.
    public var warmupSteps = 5
    public var minLRRatio = 0.1
    public var weightDecay = 0.0
    /// Tensors the update leaves as they are: Hugging Face names or prefixes of them ("model.embed_tokens",
    /// "model.layers.0."). Empty: every weight learns (paper). With a tied LM head the embedding is the head too.
    public var frozenParameters: [String] = []
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
        // Far beyond useful values (paper: 32 samples x 2 prompts), low enough that a typo cannot size an update
        // without end; the message names the key, its value and the bound.
        func range<T: Comparable>(_ key: String, _ value: T, _ low: T, _ high: T, _ why: String = "") throws {
            try need(value >= low && value <= high, "\(key) is \(value): it must be between \(low) and \(high)\(why)")
        }
        try sampler.validate()
        try range("groupSize", groupSize, 2, 1024, " (RLOO's leave-one-out baseline needs another sample; paper: 32)")
        try range("promptsPerStep", promptsPerStep, 1, 1024)
        try range("steps", steps, 0, 1_000_000_000)
        try need(learningRate > 0 && learningRate < 1, "learningRate is \(learningRate): it must be in (0, 1)")
        try range("warmupSteps", warmupSteps, 0, 1_000_000_000)
        try range("minLRRatio", minLRRatio, 0, 1)
        try range("weightDecay", weightDecay, 0, 1)
        try need(maxGradNorm > 0 && maxGradNorm <= 1e6, "maxGradNorm is \(maxGradNorm): it must be in (0, 1e6]")
        try range("maxStaleness", maxStaleness, 0, 1000)
        // policyLoss checks these with preconditions; a file's value must be refused here, with its key.
        try need(loss.clipLow >= 0 && loss.clipLow < 1, "loss.clipLow is \(loss.clipLow): it must be in [0, 1)")
        try range("loss.clipHigh", loss.clipHigh, 0, 100)
        if let cap = loss.tisCap { try need(cap > 0 && cap <= 1e6, "loss.tisCap is \(cap): it must be in (0, 1e6]") }
        try range("loss.klBeta", loss.klBeta, 0, 100)
        try need(
            loss.constantLength > 0 && loss.constantLength <= 1e9,
            "loss.constantLength is \(loss.constantLength): it must be in (0, 1e9]")
        try range(
            "loss.continuousStepWeight", loss.continuousStepWeight, 0, 1,
            " (1: the policy gradient; below 1 damps the soft steps' score)")
        if let t = thinkingLimit { try range("thinkingLimit", t, 0, SamplerConfig.Limits.length) }
        if let a = answerLimit { try range("answerLimit", a, 1, SamplerConfig.Limits.length) }
        try need((microBatch?.count ?? 1) >= 1, "microBatch must hold at least 1 rollout or token")
        try need(!frozenParameters.contains(""), "frozenParameters has an empty name: it would freeze every weight")
    }

    /// The buffer ranges `frozenParameters` names in `model`; throws naming one that matches no tensor. Every command
    /// that builds a learner calls it before (the learner itself traps on a name it cannot find).
    public func frozenRanges(in model: LlamaModel) throws -> [Range<Int>] {
        do { return try model.layout.ranges(matching: frozenParameters) } catch let e as ConfigError {
            throw ConfigFileError(description: "frozenParameters: \(e.description)")
        }
    }

    /// The sampler with the task's length limits filled in.
    public func resolvedSampler(for task: any ReasoningTask) -> SamplerConfig {
        var s = sampler
        s.maxThinkingSteps = thinkingLimit ?? task.suggestedThinkingLimit
        s.maxAnswerTokens = answerLimit ?? task.maxAnswerTokens
        return s
    }
}
