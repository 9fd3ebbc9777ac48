// `softrl bench thinking`: milliseconds per thinking step for each sampler on a checkpoint, and the learner's
// recompute and backward per rollout (Benchmarks/ThinkingBenchmark.swift).
import ArgumentParser
import Benchmarks
import Foundation
import SoftTokens

struct ThinkingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thinking", abstract: "Milliseconds per thinking step for each sampler on a checkpoint.")
    @Argument(help: "Checkpoint directory.") var dir: String
    @Option(help: "Rows (samples) generated together.") var rows: Int = 4
    @Option(help: "Thinking steps per row.") var steps: Int = 16
    @Option(help: "Modes, comma-separated.") var modes: String = "hard,soft,fuzzy,gumbel,dirichlet,multi"
    @Option(help: "Also run soft with this top-k (0 = skip).") var topK: Int = 20
    @Option(help: "OpenBLAS threads.") var threads: Int = 1

    func run() throws {
        var bench = ThinkingBenchmark()
        bench.modes = try parseModes(modes)
        guard rows >= 1, steps >= 1, threads >= 1 else {
            throw CLIError("--rows, --steps and --threads must be at least 1")
        }
        bench.rows = rows; bench.steps = steps; bench.topK = topK; bench.threads = threads
        bench.run(model: try loadModel(dir), name: dir)
    }
}
