// Reading a trained model: evaluation on the test split (eval) and rollout dumps (rollouts). Parsing and wiring
// only: the work is in Run (Evaluator, EvaluationSampler) and SoftTokens (RolloutGenerator).
import ArgumentParser
import Foundation
import Run
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Greedy pass@1, sampled pass@1 and pass@k on the test split.",
        discussion: """
            The sampler's settings (temperatures, noise gamma, thinking limit) are those of the run that made the \
            checkpoint when its rl_config.json is in the checkpoint's directory or the run directory above it; \
            otherwise a new run's for the task. Flags override them; the settings used are printed first.
            """)
    @Argument(help: "Checkpoint directory.") var checkpoint: String
    @OptionGroup var taskOptions: TaskOptionsGroup
    @Option(help: "Thinking mode at inference: hard, soft, fuzzy (or gumbel, dirichlet, multi).") var inference:
        ThinkingMode = .hard
    @Option(help: "Gaussian noise scale gamma of soft/fuzzy inference (default: the run's).") var noiseScale: Double?
    @Option(help: "Samples per problem for sampled pass@1 and pass@k.") var samples: Int = 32
    @Option(help: "Evaluate only the first N test problems.") var problems: Int?
    @Option(help: "Seed.") var seed: UInt64 = 1234
    @Option(help: "Prompts generated together (rows = this x samples; lower it for large models).") var batchPrompts:
        Int = 8
    @Option(help: "Thinking-length limit (default: the run's, else the task's suggestion).") var thinkingLimit: Int?
    @Flag(help: "Print the report as JSON (the settings line goes to stderr).") var json = false
    @Option(help: "OpenBLAS threads.") var threads: Int = 2
    @OptionGroup var computeOptions: ComputeOptionsGroup

    func run() throws {
        BLASThreads.set(threads)
        try computeOptions.applyQuietly()
        let settings = try taskOptions.overrides
        let task = try settings.makeTask()
        let model = try loadModel(checkpoint, for: task)
        let choice = try EvaluationSampler(
            checkpoint: URL(fileURLWithPath: checkpoint), task: task, taskSettings: settings,
            mode: inference, noiseScale: noiseScale, thinkingLimit: thinkingLimit)
        let s = choice.sampler
        let line =
            "eval sampler \(s.label), noise gamma \(s.noiseScale), thinking limit \(s.maxThinkingSteps), answer limit \(s.maxAnswerTokens): \(choice.source)"
        if json { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
        var ev = Evaluator(model: model, task: task, sampler: s)
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

struct RolloutsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollouts", abstract: "Write rollouts exactly as recorded, one JSON object per line.")
    @Argument(help: "Checkpoint directory.") var checkpoint: String
    @OptionGroup var taskOptions: TaskOptionsGroup
    @Option(help: "Thinking mode.") var mode: ThinkingMode = .soft
    @Option(help: "Number of rollouts.") var count: Int = 8
    @Option(help: "Gaussian noise scale gamma (default: a new run's for the task).") var noiseScale: Double?
    @Option(help: "Samples per prompt.") var groupSize: Int = 4
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output JSONL file.") var out: String

    func run() throws {
        BLASThreads.set(1)
        var settings = try taskOptions.overrides
        settings.mode = mode; settings.noiseScale = noiseScale
        // The sampler a training run would use (RL defaults, the task's limits), in the requested mode.
        let config = try settings.resolve()
        let task = try TaskCatalog.make(name: config.task, options: config.taskOptions)
        let model = try loadModel(checkpoint, for: task)
        let gen = RolloutGenerator(model: model, config: config.resolvedSampler(for: task), task: task)
        let scorer = RewardScorer(task: task, shaping: RewardShaping())
        let prompts = (count + groupSize - 1) / groupSize
        var schedule = PromptSchedule(count: task.count(.train), seed: seed)
        var requests: [GenerationRequest] = []
        for p in 0..<prompts {
            let idx = schedule.next()
            requests.append(
                GenerationRequest(
                    promptIndex: idx, prompt: task.problem(.train, idx).prompt,
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
