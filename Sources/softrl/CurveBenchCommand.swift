// `softrl bench curve`: throughput with and without CURVE over tcp loopback (Benchmarks/CurveBenchmark.swift).
import ArgumentParser
import Benchmarks
import Foundation

struct CurveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve", abstract: "Throughput with and without CURVE encryption over tcp loopback.")
    @Option(help: "Big message size in KiB (weight chunks are 4096).") var bigKiB: Int = 4096
    @Option(help: "Big messages per measurement.") var bigCount: Int = 100
    @Option(help: "Small (rollout-sized) message size in bytes.") var smallBytes: Int = 16_384
    @Option(help: "Small messages per measurement.") var smallCount: Int = 20_000
    @Option(help: "Repetitions (the best is reported).") var repeats: Int = 3

    func run() throws {
        guard bigKiB > 0, bigCount > 0, smallBytes > 0, smallCount > 0 else {
            throw ValidationError("--big-kib, --big-count, --small-bytes and --small-count must be positive")
        }
        var bench = CurveBenchmark()
        bench.bigBytes = bigKiB << 10; bench.bigCount = bigCount; bench.smallBytes = smallBytes;
        bench.smallCount = smallCount
        bench.repeats = repeats
        try bench.run()
    }
}
