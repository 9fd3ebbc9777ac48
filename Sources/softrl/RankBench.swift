// `softrl bench allreduce` and `softrl bench ranks`, run under a launcher (`mpirun -np 2 softrl bench ...`):
// the learner ranks' gradient sum and a whole update over ranks (Benchmarks/RankBenchmarks).
import ArgumentParser
import Benchmarks
import MPIReduction
import Run
import TransformerLM

struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Under mpirun/srun: time and check the learner ranks' gradient sum over one gradient-sized buffer.")
    @Option(help: "Model preset whose parameter count sets the buffer (tiny, small, smollm2).") var preset: String =
        "smollm2"
    @Option(help: "Buffer size in floats (overrides --preset).") var floats: Int?
    @Option(help: "Timed repetitions of each collective.") var repeats: Int = 5
    @Flag(
        help:
            "Also check every element against the rank-order sum and the result's bits across ranks; exit 1 on a mismatch."
    ) var check = false
    @Flag(help: "Print one JSON object (rank 0).") var json = false

    func run() throws {
        guard MPILaunch.isMultiRank() else {
            throw CLIError(
                "bench allreduce needs two or more ranks: mpirun -np 2 softrl bench allreduce (as root add --allow-run-as-root; more ranks than cores: --oversubscribe)"
            )
        }
        guard repeats >= 1 else { throw CLIError("--repeats must be at least 1 (got \(repeats))") }
        let count = try floats ?? ParameterLayout(LlamaConfig.preset(preset)).totalCount
        guard count >= 1 else { throw CLIError("--floats must be at least 1 (got \(count))") }
        var bench = AllreduceBenchmark(count: count)
        bench.repeats = repeats; bench.check = check; bench.json = json
        let group = try MPIProcessGroup()
        defer { group.finalize() }
        if try !bench.run(group: group) { group.finalize(); throw ExitCode(1) }
    }
}

struct RanksBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ranks",
        abstract:
            "Learner rollouts/s with every MPI rank vs rank 0 alone, on the same rollouts (run under mpirun/srun).")
    @Option(help: "Model preset (tiny, small, smollm2; random weights) unless --model is given.") var preset: String =
        "tiny"
    @Option(help: "Checkpoint directory to use instead of a preset.") var model: String?
    @Option(help: "Prompts per update.") var prompts: Int = 4
    @Option(help: "Samples per prompt.") var groupSize: Int = 8
    @Option(help: "Thinking steps per rollout (forced length).") var steps: Int = 16
    @Option(help: "Thinking mode of the rollouts.") var mode: String = "soft"
    @Option(help: "Rounds: each times one update with all ranks and one with rank 0 alone.") var rounds: Int = 3
    @Option(help: "OpenBLAS threads per rank.") var threads: Int = 1
    @Option(
        help:
            "Micro-batch (\"2\" rollouts or \"512tokens\"); default: the learner's choice for the model and host. Ranks split an update by micro-batch, so an update of one micro-batch runs on one rank."
    )
    var microBatch: String?

    func run() throws {
        guard rounds >= 1, prompts >= 1, groupSize >= 2, steps >= 1, threads >= 1 else {
            throw CLIError("--rounds, --prompts, --steps, --threads must be at least 1 and --group-size at least 2")
        }
        var bench = RanksBenchmark()
        let modes = try parseModes(mode, flag: "--mode")
        guard modes.count == 1 else { throw CLIError("--mode takes one thinking mode (got '\(mode)')") }
        bench.mode = modes[0]
        if let microBatch {
            guard let m = MicroBatchSize(parsing: microBatch) else {
                throw CLIError("--micro-batch \(microBatch): give rollouts (2) or tokens (512tokens)")
            }
            bench.microBatch = m
        }
        bench.prompts = prompts; bench.groupSize = groupSize; bench.steps = steps; bench.rounds = rounds
        bench.threads = threads
        let group = MPILaunch.isMultiRank() ? try MPIProcessGroup() : nil
        defer { group?.finalize() }
        let net = try model.map { try loadModel($0) } ?? LlamaModel(config: LlamaConfig.preset(preset), seed: 1)
        try bench.run(model: net, group: group)
    }
}
