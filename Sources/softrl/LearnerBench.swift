// `softrl bench learner`: learner vs actor rollouts/s per core on the same rollouts (Benchmarks/LearnerBenchmark).
import ArgumentParser
import Benchmarks
import Run
import SoftTokens
import TransformerLM

struct LearnerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learner",
        abstract: "Learner vs actor rollouts/s per core, sgemm roofline share, memory per micro-batch.")
    @Option(help: "Model shape with random weights: tiny, small or smollm2 (SmolLM2-135M's shape).") var preset:
        String = "tiny"
    @Option(help: "A checkpoint directory instead of a preset.") var base: String?
    @Option(help: "Thinking modes, comma-separated.") var modes: String = "hard,soft"
    @Option(help: "Prompts per update.") var prompts: Int = 2
    @Option(help: "Samples per prompt.") var groupSize: Int = 16
    @Option(help: "Prompt length in tokens (SmolLM2's chat template makes `words` prompts ~72).") var promptLength:
        Int = 72
    @Option(help: "Thinking steps per rollout (all forced to this length).") var thinking: Int = 48
    @Option(help: "Answer tokens per rollout at most.") var answer: Int = 7
    @Option(help: "Learner thread counts to compare, comma-separated.") var threadCounts: String = "1,2"
    @Option(help: "Micro-batch (\"8\" rollouts or \"2048 tokens\"); default from the model and host memory.")
    var microBatch: String?
    @Option(help: "Updates timed per thread count (the last is reported: the first pays first-touch costs).")
    var updates: Int = 2
    @Flag(help: "Skip the actor's side (generate once, untimed).") var learnerOnly = false
    @Flag(help: "Also time each update with no pass memory kept between micro-batches (what keeping it saves).")
    var freshBuffers = false

    func run() throws {
        var bench = LearnerBenchmark()
        bench.modes = try parseModes(modes)
        bench.threadCounts = try threadCounts.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n >= 1 else { throw CLIError("--thread-counts: '\(s)' is not a thread count >= 1") }
            return n
        }
        if let m = microBatch {
            guard let size = MicroBatchSize(parsing: m) else {
                throw CLIError("--micro-batch \(m): give rollouts (\"8\") or tokens (\"2048 tokens\")")
            }
            bench.microBatch = size
        }
        guard prompts >= 1, groupSize >= 2, promptLength >= 1, thinking >= 1, answer >= 1 else {
            throw CLIError("--prompts, --prompt-length, --thinking and --answer must be at least 1, --group-size 2")
        }
        bench.prompts = prompts; bench.groupSize = groupSize; bench.promptLength = promptLength
        bench.thinking = thinking; bench.answer = answer; bench.updates = updates; bench.learnerOnly = learnerOnly
        bench.freshBuffers = freshBuffers
        let model =
            try base.map { try loadModel($0) } ?? LlamaModel(config: LlamaConfig.preset(preset, vocabSize: 64), seed: 1)
        try bench.run(model: model, name: base ?? preset)
    }
}
