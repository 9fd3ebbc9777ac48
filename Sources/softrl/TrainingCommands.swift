// Single-process training commands: supervised warm-start (sft) and RL with actor and learner in one process
// (train). Argument parsing and wiring only: the loops' work is in Run; these print one line per step.
import ArgumentParser
import Foundation
import Run
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft", abstract: "Supervised warm-start on the task's discrete chain-of-thought traces.")
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
        let settings = try taskOptions.overrides
        let task = try settings.makeTask()
        var cfg = SFTConfig()
        if let path = config { cfg = try ConfigFile.load(path, over: cfg) }
        (cfg.task, cfg.taskOptions) = settings.taskSelection()
        cfg.seed = seed; cfg.preset = preset
        if let s = steps { cfg.steps = s }
        if let b = batchSize { cfg.batchSize = b }
        if let l = lr { cfg.learningRate = l }
        let model: LlamaModel
        if base == nil && task is TextTask {
            throw CLIError(
                "task '\(task.name)' is a text task: give --base MODEL_DIR, the pretrained model its tokenizer belongs to"
            )
        }
        if let base {
            model = try loadModel(base, for: task)
        } else {
            model = try LlamaModel(
                config: try LlamaConfig.preset(preset, vocabSize: max(64, task.vocabulary.count)), seed: seed)
        }
        print(
            "sft | task \(task.name) | \(model.parameterCount) parameters | \(cfg.steps) steps x \(cfg.batchSize) problems"
        )
        try SupervisedTrainer(model: model, task: task, config: cfg).run { r in
            guard r.step % logEvery == 0 || r.step == cfg.steps || r.skipped else { return }
            print(
                String(
                    format: "step %d | loss %.4f | lr %.2e | grad %.3f | %d tok | %@%@", r.step, r.loss, r.learningRate,
                    r.gradNorm,
                    r.tokens, formatMs(r.milliseconds), r.skipped ? " | SKIPPED: non-finite loss or gradient" : ""))
        }
        try ModelCheckpoint.save(
            model, directory: URL(fileURLWithPath: out), metadata: ["softrl.stage": "sft", "softrl.task": task.name])
        copyTokenizerFiles(for: task, into: out)
        print("wrote \(out)")
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "RL with actor and learner in one process (soft-token chains of thought).")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "Base checkpoint (from `softrl sft`).") var base: String
    @Option(help: "Output checkpoint directory (with the run's config, rl_config.json, for `softrl eval`).") var out:
        String
    @Option(help: "Print a line every N steps.") var logEvery: Int = 1
    @Option(help: "OpenBLAS threads for generation, and the update's threads (one OpenBLAS thread each).") var threads:
        Int = 1

    func validate() throws {
        // One process generates then trains on the same weights: every rollout is on-policy, so a staleness bound
        // would do nothing. Refuse it rather than accept and ignore it.
        if rl.maxStaleness != nil {
            throw CLIError(
                "--max-staleness has no effect in `softrl train` (one process, always on-policy); it applies to `softrl learner` and `softrl local`"
            )
        }
    }

    func run() throws {
        BLASThreads.set(threads)
        let plan = try rl.overrides(task: taskOptions).newRun()
        let cfg = plan.config
        let task = try TaskCatalog.make(name: cfg.task, options: cfg.taskOptions)
        let model = try loadModel(base, for: task)
        _ = try cfg.frozenRanges(in: model)
        let trainer = SingleProcessRL(model: model, task: task, config: cfg, threads: threads)
        plan.messages.forEach { print($0) }
        print(
            "train | task \(task.name) | \(trainer.sampler.label) | \(cfg.advantage) | \(cfg.promptsPerStep) prompts x \(cfg.groupSize) samples | \(cfg.steps) steps"
        )
        for _ in 0..<cfg.steps {
            let (r, _) = try trainer.step()
            if r.step % logEvery == 0 || r.skipped {
                let g = trainer.lastGenerationStats
                print(
                    String(
                        format:
                            "step %d | reward %.3f | correct %.3f | loss %.4f | grad %.3f | cot %.1f | gap %.2g (max %.2g) | ratio %.3f | gen %.0f tok/s | %@%@",
                        r.step, r.rewardMean, r.correctRate, r.loss, r.gradNorm, r.thinkingLength, r.logProbGap,
                        r.logProbGapMax, r.meanRatio, Double(g.tokens) / max(g.milliseconds, 1e-9) * 1000,
                        formatMs(r.milliseconds),
                        r.skipped ? " | SKIPPED" : ""))
            }
        }
        let outURL = URL(fileURLWithPath: out)
        try ModelCheckpoint.save(
            model, directory: outURL,
            metadata: ["softrl.stage": "rl", "softrl.task": task.name, "softrl.mode": cfg.sampler.mode.rawValue])
        try RunConfigFile.write(cfg, into: outURL)
        copyTokenizerFiles(for: task, into: out)
        print("wrote \(out)")
    }
}
