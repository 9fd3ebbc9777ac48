// `softrl noise-scale`: how much of an update is signal, for a checkpoint and a run's settings (Run/GradientNoiseProbe).
import ArgumentParser
import Foundation
import Run
import TensorMath
import Tasks

struct NoiseScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise-scale",
        abstract: "The policy gradient's noise scale: rollouts per update before an update is more signal than noise.",
        discussion: """
            Generates --groups groups with the checkpoint's weights and the run's settings (the same flags and \
            config file as `softrl train`), takes each group's gradient alone at those weights (no step), and prints \
            B_simple = tr(Sigma) / |G|^2 (McCandlish et al., arXiv 1812.06162) with jackknife standard errors, for \
            all weights, the embedding table and the rest. An update of B groups is signal in the share \
            1 / (1 + B_simple / B). Holds --blocks gradient sums in memory (4 bytes per parameter each).
            """)
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "Checkpoint to measure at.") var base: String
    @Option(help: "Groups (independent gradient samples), at least 3.") var groups: Int = 32
    @Option(help: "Jackknife blocks (gradient sums held in memory), 3 to --groups.") var blocks: Int = 8
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "OpenBLAS threads for generation, and the gradient's threads.") var threads: Int = 1

    func validate() throws {
        guard groups >= 3 else { throw CLIError("--groups \(groups): the noise scale needs at least 3 groups") }
        guard blocks >= 3 && blocks <= groups else {
            throw CLIError("--blocks \(blocks): the jackknife needs at least 3 blocks and at most --groups (\(groups))")
        }
        guard threads >= 1 else { throw CLIError("--threads must be at least 1") }
    }

    func run() throws {
        BLASThreads.set(threads)
        let plan = try rl.overrides(task: taskOptions).newRun()
        let task = try TaskCatalog.make(name: plan.config.task, options: plan.config.taskOptions)
        let model = try loadModel(base, for: task)
        let report = try GradientNoiseProbe.measure(
            model: model, task: task, config: plan.config, groups: groups, blocks: blocks, threads: threads)
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(GradientNoiseProbe.render(report))
        }
    }
}
