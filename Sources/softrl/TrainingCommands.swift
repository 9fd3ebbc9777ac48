// Single-process training commands: supervised warm-start (sft), RL with actor and learner in one process
// (train), evaluation (eval) and rollout dumps (rollouts). Argument parsing and wiring only: the loops'
// work is in PolicyGradient / SoftTokens; these print one line per step.
import ArgumentParser
import Foundation
import PolicyGradient
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

/// Task selection shared by every command that needs one.
struct TaskOptionsGroup: ParsableArguments {
    @Option(help: "Task: mnns, reach, arith, words (text word problems), or jsonl:PATH.")
    var task: String = "mnns"
    @Option(help: "Seed of the task's train/test split.")
    var taskSeed: UInt64 = 0
    @Option(help: "mnns: number of digits (2-6).")
    var mnnsDigits: Int = 4
    @Option(help: "reach: nodes in the graph (5-26).")
    var reachNodes: Int = 8
    @Option(help: "arith: digits per operand (1-3).")
    var arithDigits: Int = 2
    @Option(help: "Text tasks (words, jsonl:PATH of {question, answer}): a model directory or tokenizer.json.")
    var tokenizer: String?
    @Option(help: "Text tasks: \"chat\" (the directory's ChatML template) or a template containing {question}.")
    var promptTemplate: String?
    @Option(help: "Text tasks: the end-of-thinking marker text.")
    var endOfThinking: String?
    @Option(help: "Text tasks: numeric, exact or auto.")
    var verifier: String?
    @Option(help: "words: difficulty 1-3.")
    var wordLevel: Int?
    @Option(help: "words: number of train problems.")
    var wordCount: Int?

    var options: TaskOptions {
        var o = TaskOptions()
        o.seed = taskSeed; o.mnnsDigits = mnnsDigits; o.reachNodes = reachNodes; o.arithDigits = arithDigits
        o.tokenizer = tokenizer
        if let v = promptTemplate { o.promptTemplate = v }
        if let v = endOfThinking { o.endOfThinking = v }
        if let v = verifier { o.verifier = v }
        if let v = wordLevel { o.wordLevel = v }
        if let v = wordCount { o.wordCount = v }
        return o
    }
    func make() throws -> any ReasoningTask { try TaskCatalog.make(name: task, options: options) }
}

/// Loads a checkpoint and checks that its vocabulary can hold the task's.
func loadModel(_ dir: String, for task: any ReasoningTask) throws -> LlamaModel {
    let model = try ModelCheckpoint.load(directory: URL(fileURLWithPath: dir))
    guard model.config.vocabSize >= task.vocabulary.count else {
        throw ValidationError("checkpoint \(dir) has vocab_size \(model.config.vocabSize) but task '\(task.name)' needs \(task.vocabulary.count) tokens: train a base for this task with `softrl sft --task \(task.name)`")
    }
    if let text = task as? TextTask, text.tokenizer.vocabSize > model.config.vocabSize {
        throw ValidationError("checkpoint \(dir) has vocab_size \(model.config.vocabSize) but the task's tokenizer (\(text.tokenizer.source)) uses ids up to \(text.tokenizer.vocabSize - 1): use the model the tokenizer belongs to")
    }
    return model
}

func formatMs(_ ms: Double) -> String { String(format: "%.0f ms", ms) }

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sft", abstract: "Supervised warm-start on the task's discrete chain-of-thought traces.")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @Option(help: "Output checkpoint directory.") var out: String
    @Option(help: "Start from this checkpoint instead of a fresh model.") var base: String?
    @Option(help: "Fresh model preset: tiny or small.") var preset: String = "tiny"
    @Option(help: "JSON file overriding SFT defaults (flags override the file).") var config: String?
    @Option(help: "Updates.") var steps: Int?
    @Option(help: "Problems per update.") var batchSize: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Seed for the model init and prompt order.") var seed: UInt64 = 0
    @Option(help: "Print a line every N steps.") var logEvery: Int = 20
    @Option(help: "OpenBLAS threads.") var threads: Int = 2

    func run() throws {
        BLASThreads.set(threads)
        let task = try taskOptions.make()
        var cfg = SFTConfig()
        if let path = config { cfg = try ConfigFile.load(path, over: cfg) }
        cfg.task = taskOptions.task; cfg.taskOptions = taskOptions.options; cfg.seed = seed; cfg.preset = preset
        if let s = steps { cfg.steps = s }
        if let b = batchSize { cfg.batchSize = b }
        if let l = lr { cfg.learningRate = l }
        let model: LlamaModel
        if base == nil && task is TextTask {
            throw ValidationError("task '\(task.name)' is a text task: give --base MODEL_DIR, the pretrained model its tokenizer belongs to")
        }
        if let base { model = try loadModel(base, for: task) } else {
            model = try LlamaModel(config: try LlamaConfig.preset(preset, vocabSize: max(64, task.vocabulary.count)), seed: seed)
        }
        print("sft | task \(task.name) | \(model.parameterCount) parameters | \(cfg.steps) steps x \(cfg.batchSize) problems")
        let trainer = SupervisedTrainer(model: model, task: task, config: cfg)
        for _ in 0..<cfg.steps {
            let r = trainer.step()
            if r.step % logEvery == 0 || r.step == cfg.steps || r.skipped {
                print(String(format: "step %d | loss %.4f | lr %.2e | grad %.3f | %d tok | %@%@", r.step, r.loss, r.learningRate, r.gradNorm,
                             r.tokens, formatMs(r.milliseconds), r.skipped ? " | SKIPPED: non-finite loss or gradient" : ""))
            }
        }
        try ModelCheckpoint.save(model, directory: URL(fileURLWithPath: out), metadata: ["softrl.stage": "sft", "softrl.task": task.name])
        copyTokenizerFiles(for: task, into: out)
        print("wrote \(out)")
    }
}

/// RL settings shared by `train`, `learner` and `local`: defaults, then the --config file, then these flags.
struct RLOptionsGroup: ParsableArguments {
    @Option(help: "Thinking mode: hard, soft, fuzzy, gumbel, dirichlet, multi.") var mode: ThinkingMode?
    @Option(help: "JSON file overriding RL defaults (flags override the file).") var config: String?
    @Option(help: "Updates.") var steps: Int?
    @Option(help: "Samples per prompt.") var groupSize: Int?
    @Option(help: "Prompts per update.") var prompts: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Advantage estimator: rloo, grpo, drgrpo.") var advantage: AdvantageEstimator?
    @Option(help: "Loss: reinforce or clipped.") var loss: LossKind?
    @Option(help: "KL coefficient to the frozen base (k3).") var klBeta: Double?
    @Flag(help: "Drop groups whose rewards are all equal (DAPO).") var dynamicSampling = false
    @Option(help: "Drop rollouts more than K policy versions old (0 = synchronous).") var maxStaleness: Int?
    @Option(help: "Gaussian noise scale gamma (sigma = gamma * RMS of the embedding matrix; paper 0.33).") var noiseScale: Double?
    @Option(help: "Run seed.") var seed: UInt64?
    @Option(help: "Learner micro-batch: rollouts (\"8\") or sequence positions (\"2048 tokens\") per pass; default from the model size and host memory.") var microBatch: String?

    func parsedMicroBatch() throws -> MicroBatchSize? {
        guard let microBatch else { return nil }
        guard let size = MicroBatchSize(parsing: microBatch) else {
            throw CLIError("--micro-batch \(microBatch): give a count of rollouts (--micro-batch 8) or of sequence positions (--micro-batch 2048tokens), at least 1")
        }
        return size
    }

    func resolve(task: TaskOptionsGroup) throws -> RLConfig {
        var cfg = RLConfig()
        if let path = config { cfg = try ConfigFile.load(path, over: cfg) }
        cfg.task = task.task; cfg.taskOptions = task.options
        if let m = mode { cfg.sampler.mode = m }
        if let s = steps { cfg.steps = s }
        if let g = groupSize { cfg.groupSize = g }
        if let p = prompts { cfg.promptsPerStep = p }
        if let l = lr { cfg.learningRate = l }
        if let a = advantage { cfg.advantage = a }
        if let l = loss { cfg.loss.kind = l }
        if let k = klBeta { cfg.loss.klBeta = k }
        if dynamicSampling { cfg.dynamicSampling = true }
        if let k = maxStaleness { cfg.maxStaleness = k }
        if let g = noiseScale { cfg.sampler.noiseScale = g }
        if let s = seed { cfg.seed = s }
        if let m = try parsedMicroBatch() { cfg.microBatch = m }
        try cfg.validate()
        return cfg
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "RL with actor and learner in one process (soft-token chains of thought).")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "Base checkpoint (from `softrl sft`).") var base: String
    @Option(help: "Output checkpoint directory.") var out: String
    @Option(help: "Print a line every N steps.") var logEvery: Int = 1
    @Option(help: "OpenBLAS threads for generation, and the update's threads (one OpenBLAS thread each).") var threads: Int = 1

    func validate() throws {
        // One process generates then trains on the same weights: every rollout is on-policy, so a staleness bound
        // would do nothing. Refuse it rather than accept and ignore it.
        if rl.maxStaleness != nil {
            throw ValidationError("--max-staleness has no effect in `softrl train` (one process, always on-policy); it applies to `softrl learner` and `softrl local`")
        }
    }

    func run() throws {
        BLASThreads.set(threads)
        let task = try taskOptions.make()
        let cfg = try rl.resolve(task: taskOptions)
        let model = try loadModel(base, for: task)
        let trainer = SingleProcessRL(model: model, task: task, config: cfg, threads: threads)
        print("train | task \(task.name) | \(trainer.sampler.label) | \(cfg.advantage) | \(cfg.promptsPerStep) prompts x \(cfg.groupSize) samples | \(cfg.steps) steps")
        for _ in 0..<cfg.steps {
            let (r, _) = try trainer.step()
            if r.step % logEvery == 0 || r.skipped {
                let g = trainer.lastGenerationStats
                print(String(format: "step %d | reward %.3f | correct %.3f | loss %.4f | grad %.3f | cot %.1f | gen %.0f tok/s | %@%@",
                             r.step, r.rewardMean, r.correctRate, r.loss, r.gradNorm, r.thinkingLength,
                             Double(g.tokens) / max(g.milliseconds, 1e-9) * 1000, formatMs(r.milliseconds),
                             r.skipped ? " | SKIPPED" : ""))
            }
        }
        try ModelCheckpoint.save(model, directory: URL(fileURLWithPath: out), metadata: ["softrl.stage": "rl", "softrl.task": task.name, "softrl.mode": cfg.sampler.mode.rawValue])
        copyTokenizerFiles(for: task, into: out)
        print("wrote \(out)")
    }
}

extension ThinkingMode: ExpressibleByArgument {}
extension AdvantageEstimator: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Greedy pass@1, sampled pass@1 and pass@k on the test split.")
    @Argument(help: "Checkpoint directory.") var checkpoint: String
    @OptionGroup var taskOptions: TaskOptionsGroup
    @Option(help: "Thinking mode at inference: hard, soft, fuzzy (or gumbel, dirichlet, multi).") var inference: ThinkingMode = .hard
    @Option(help: "Samples per problem for sampled pass@1 and pass@k.") var samples: Int = 32
    @Option(help: "Evaluate only the first N test problems.") var problems: Int?
    @Option(help: "Seed.") var seed: UInt64 = 1234
    @Option(help: "Prompts generated together (rows = this x samples; lower it for large models).") var batchPrompts: Int = 8
    @Option(help: "Thinking-length limit (default: the task's suggestion).") var thinkingLimit: Int?
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "OpenBLAS threads.") var threads: Int = 2

    func run() throws {
        BLASThreads.set(threads)
        let task = try taskOptions.make()
        let model = try loadModel(checkpoint, for: task)
        var sampler = inferenceSampler(inference, for: task)
        if let t = thinkingLimit { sampler.maxThinkingSteps = t }
        var ev = Evaluator(model: model, task: task, sampler: sampler)
        ev.samples = samples; ev.problemLimit = problems; ev.seed = seed
        ev.promptsPerBatch = max(1, batchPrompts)
        let r = ev.run()
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print(EvalTable.render([r]))
        }
    }
}

enum EvalTable {
    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

    static func render(_ reports: [EvalReport], labels: [String]? = nil) -> String {
        guard let first = reports.first else { return "" }
        let ks = first.passAtK.keys.sorted().filter { $0 > 1 }
        let columns = ["greedy@1", "pass@1"] + ks.map { "pass@\($0)" } + ["cot"]
        let width = max(18, (labels ?? []).map(\.count).max() ?? 0) + 2
        var lines = [pad("model / inference", width) + columns.map { pad($0, 9) }.joined()]
        for (i, r) in reports.enumerated() {
            let values = [r.greedyPass1, r.sampledPass1] + ks.map { r.passAtK[$0] ?? 0 }
            let cells = values.map { pad(String(format: "%.3f", $0), 9) } + [String(format: "%.1f", r.meanThinkingLength)]
            lines.append(pad(labels?[i] ?? r.inference, width) + cells.joined())
        }
        lines.append("(\(first.problems) test problems, \(first.samples) samples each, \(first.inference) inference)")
        return lines.joined(separator: "\n")
    }
}

/// The sampler for inference on `task`: its length limits, the given thinking mode.
func inferenceSampler(_ mode: ThinkingMode, for task: any ReasoningTask) -> SamplerConfig {
    var sampler = SamplerConfig(mode: mode)
    sampler.maxThinkingSteps = task.suggestedThinkingLimit
    sampler.maxAnswerTokens = task.maxAnswerTokens
    return sampler
}

struct RolloutsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollouts", abstract: "Write rollouts exactly as recorded, one JSON object per line.")
    @Argument(help: "Checkpoint directory.") var checkpoint: String
    @OptionGroup var taskOptions: TaskOptionsGroup
    @Option(help: "Thinking mode.") var mode: ThinkingMode = .soft
    @Option(help: "Number of rollouts.") var count: Int = 8
    @Option(help: "Gaussian noise scale gamma (default: the RL default).") var noiseScale: Double?
    @Option(help: "Samples per prompt.") var groupSize: Int = 4
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output JSONL file.") var out: String

    func run() throws {
        BLASThreads.set(1)
        let task = try taskOptions.make()
        let model = try loadModel(checkpoint, for: task)
        // The sampler a training run would use (RL defaults, the task's limits), in the requested mode.
        var config = RLConfig()
        config.sampler.mode = mode
        if let g = noiseScale { config.sampler.noiseScale = g }
        let gen = RolloutGenerator(model: model, config: config.resolvedSampler(for: task), task: task)
        let scorer = RewardScorer(task: task, shaping: RewardShaping())
        let prompts = (count + groupSize - 1) / groupSize
        var schedule = PromptSchedule(count: task.count(.train), seed: seed)
        var requests: [GenerationRequest] = []
        for p in 0..<prompts {
            let idx = schedule.next()
            requests.append(GenerationRequest(promptIndex: idx, prompt: task.problem(.train, idx).prompt,
                                              groupSize: min(groupSize, count - p * groupSize), seed: GroupSeed.of(runSeed: seed, position: p)))
        }
        var lines: [String] = []
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        for group in gen.generate(requests, policyVersion: 0).groups {
            for var r in group {
                scorer.score(&r)
                lines.append(String(decoding: try enc.encode(r), as: UTF8.self))
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
        print("wrote \(lines.count) rollouts to \(out)")
    }
}
