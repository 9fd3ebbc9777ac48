// `softrl bench cluster`: learner ingest, weight delivery beside raw ZeroMQ, learner memory per actor and simulated
// delivery to thousands of actors (Benchmarks/ClusterBenchPlan.swift measures and prints).
import ArgumentParser
import Benchmarks
import Cluster
import Foundation

struct ClusterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "How many actors one learner serves: ingest, weight delivery, memory per actor.")

    @Option(help: "Synthetic actors sending groups.") var actors: Int = 4
    @Option(help: "Groups each synthetic actor sends.") var groups: Int = 64
    @Option(help: "Weight sizes in MB, comma-separated (540 MB: SmolLM2-135M in fp32).") var sizes: String = "4,40,540"
    @Option(help: "Receiver counts, comma-separated.") var receivers: String = "1,4,16,64"
    @Option(help: "Virtual actors for the memory figure.") var memoryActors: Int = 10_000
    @Option(
        help:
            "Sections to run, comma-separated: memory, ingest, delivery, simulate (simulate uses delivery's raw link figure unless --link-gbit)."
    )
    var only: String = "memory,ingest,delivery,simulate"
    @Option(help: "Relay fan-out for the relays-on figures.") var fanout: Int = ClusterRules().relayFanout
    @Option(help: "Simulated actor counts, comma-separated (relays off only up to 1,024).") var simulate: String =
        "8,64,1024,10000"
    @Option(help: "Simulated version size in MB.") var simulatedMB: Int = 40
    @Option(help: "Simulated per-hop latency in ms.") var latencyMs: Double = 0.1
    @Option(help: "Simulated link speed in Gbit/s (default: the raw ZeroMQ rate measured above).") var linkGbit: Double?

    func run() throws {
        var plan = ClusterBenchPlan()
        plan.sections = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        if let unknown = plan.sections.subtracting(ClusterBenchPlan.allSections).first {
            throw ValidationError(
                "--only: unknown section '\(unknown)'; use \(ClusterBenchPlan.allSections.joined(separator: ", "))")
        }
        plan.actors = actors; plan.groups = groups; plan.memoryActors = memoryActors; plan.fanout = fanout
        plan.sizes = try Self.counts(sizes, "--sizes"); plan.receivers = try Self.counts(receivers, "--receivers")
        plan.simulate = try Self.counts(simulate, "--simulate")
        plan.simulatedMB = simulatedMB; plan.latencyMs = latencyMs; plan.linkGbit = linkGbit
        try plan.run()
    }

    /// A comma-separated list of positive integers.
    static func counts(_ list: String, _ flag: String) throws -> [Int] {
        try list.split(separator: ",").map { s in
            guard let n = Int(s.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw ValidationError(
                    "\(flag) '\(list)': '\(s)' is not a positive integer; give a comma-separated list such as 1,4,16")
            }
            return n
        }
    }
}
