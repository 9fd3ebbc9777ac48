// `softrl bench tokenizer`: encoding speed of a tokenizer.json beside the Python `tokenizers` package, same text,
// ids compared (Benchmarks/TokenizerBenchmark.swift).
import ArgumentParser
import Benchmarks
import Foundation

struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Encoding speed of a tokenizer.json beside the Python tokenizers package.")
    @Argument(help: "Model directory holding tokenizer.json, or the file.") var dir: String
    @Option(help: "UTF-8 text file to encode (default: the repository's README.md and Swift sources, concatenated).")
    var file: String?
    @Option(help: "Warm repeats (the best is reported).") var repeats: Int = 3
    @Flag(help: "Skip the Python comparison.") var noPython = false

    func run() throws {
        var bench = TokenizerBenchmark()
        bench.file = file; bench.repeats = repeats; bench.noPython = noPython
        let t0 = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try loadTokenizer(dir)
        try bench.run(tokenizer, dir: dir, load: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}
