// `softrl bench`: the benchmark commands. Each parses its options and calls the Benchmarks target, which measures
// and formats; `bench model` here: the model presets' training and decode throughput beside the fp32 roofline of
// SoftRL's own packed kernel, OpenBLAS's sgemm and PyTorch (Benchmarks/ModelComparison.swift).
import ArgumentParser
import Benchmarks
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Performance benchmarks.",
        subcommands: [
            ModelBench.self, KernelBench.self, ClusterBench.self, TokenizerBench.self, ThinkingBench.self,
            CurveBench.self,
            LearnerBench.self, AllreduceBench.self, RanksBench.self
        ])
}

struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Training and decode throughput of the model presets, against the fp32 roofline and PyTorch.")

    @Option(help: "tiny, small, smollm2 (SmolLM2-135M's shape), both (tiny and small) or all.") var preset: String =
        "tiny"
    @Option(help: "BLAS (and PyTorch) threads.") var threads: Int = 1
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Option(help: "Training batch size (default 16; 4 for smollm2).") var batch: Int?
    @Option(help: "Training sequence length.") var seq: Int = 64
    @Option(help: "Decode batch sizes, comma-separated.") var decodeBatches: String = "1,8,32"
    @Option(help: "New tokens per decode run.") var decodeTokens: Int = 64
    @Option(help: "Prompt length for decode.") var prompt: Int = 8
    @Option(help: "Minimum timed seconds of training per preset.") var trainSeconds: Double = 3
    @Option(
        help:
            "Rounds per preset: SoftRL and PyTorch measured alternately this many times, the best figure of each kept (a shared machine's load comes and goes)."
    ) var rounds: Int = 1
    @Flag(help: "Measure only SoftRL's decode (no roofline, training or PyTorch), e.g. under perf.") var decodeOnly =
        false
    @OptionGroup var computeOptions: ComputeOptionsGroup
    @Flag(help: "Skip the bf16 rows (bf16-stored weights, bf16 products, PyTorch's bf16 autocast).") var noBF16 = false
    @Option(help: "Prompts per prefill measurement (bf16 rows).") var prefillBatch: Int = 8
    @Option(help: "Tokens per prompt in the prefill measurement (bf16 rows).") var prefillLength: Int = 64

    func run() throws {
        let presets: [String]
        switch preset {
        case "tiny", "small", "smollm2": presets = [preset]
        case "both": presets = ["tiny", "small"]
        case "all": presets = ["tiny", "small", "smollm2"]
        default: throw CLIError("--preset '\(preset)' is not known: use tiny, small, smollm2, both or all")
        }
        guard threads >= 1 else { throw CLIError("--threads must be at least 1 (got \(threads))") }
        guard rounds >= 1 else { throw CLIError("--rounds must be at least 1 (got \(rounds))") }
        let batches = try decodeBatches.split(separator: ",").map { s -> Int in
            guard let b = Int(s.trimmingCharacters(in: .whitespaces)), b > 0 else {
                throw CLIError(
                    "--decode-batches '\(decodeBatches)': '\(s)' is not a positive integer; e.g. --decode-batches 1,8,32"
                )
            }
            return b
        }
        var bench = ModelComparison()
        bench.threads = threads; bench.json = json; bench.noTorch = noTorch; bench.batch = batch; bench.seq = seq
        bench.decodeTokens = decodeTokens; bench.prompt = prompt; bench.trainSeconds = trainSeconds;
        bench.rounds = rounds
        bench.decodeOnly = decodeOnly; bench.noBF16 = noBF16; bench.prefillBatch = prefillBatch;
        bench.prefillLength = prefillLength
        if decodeOnly { bench.computeLine = try computeOptions.apply() }
        let report = try bench.run(presets: presets, batches: batches)
        if json { printJSON(report) }
    }
}

/// One JSON object on one line, keys sorted (what `--json` prints).
func printJSON(_ object: [String: Any]) {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    print(String(decoding: data, as: UTF8.self))
}

/// `softrl bench kernels`: the OpenBLAS kernel decision, sgemm at 1024^3, and every SIMD path of the non-BLAS
/// kernels timed side by side (the portable Swift path is the reference, measured in the same run).
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "OpenBLAS kernel choice, sgemm GFLOP/s and the SIMD kernels on each path.")

    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(help: "Square sgemm size (0 skips sgemm).") var sgemmSize: Int = 1024
    @Option(help: "Minimum seconds per measurement.") var seconds: Double = 0.3

    func run() throws {
        guard seconds > 0, sgemmSize >= 0 else {
            throw CLIError("--seconds must be positive and --sgemm-size at least 0")
        }
        let report = KernelMicrobench.report(
            sgemmSize: sgemmSize, seconds: seconds, output: json ? { _ in } : { print($0) })
        if json { printJSON(report) }
    }
}
