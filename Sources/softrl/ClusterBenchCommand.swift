// `softrl bench cluster`: learner ingest, weight delivery beside raw ZeroMQ, and learner memory per actor
// (Cluster/Benchmark/ClusterBenchmark.swift), printed with the CPU they ran on and what limits each figure.
import ArgumentParser
import Cluster
import TensorMath
import Foundation

struct ClusterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "How many actors one learner serves: ingest, weight delivery, memory per actor.")

    @Option(help: "Synthetic actors sending groups.") var actors: Int = 4
    @Option(help: "Groups each synthetic actor sends.") var groups: Int = 64
    @Option(help: "Weight sizes in MB, comma-separated.") var sizes: String = "4,40"
    @Option(help: "Receiver counts, comma-separated.") var receivers: String = "1,4,16,64"
    @Option(help: "Virtual actors for the memory figure.") var memoryActors: Int = 10_000

    func run() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
        print("softrl bench cluster | CPU \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores | \(BLASKernel.current.summary) | release build expected")

        let perActor = try ClusterBenchmark.memoryPerActor(actors: memoryActors)
        print(String(format: "\n0. learner memory per connected actor: %.0f bytes (%d virtual actors admitted by the core)", perActor, memoryActors))
        let ingest = try ClusterBenchmark.ingest(actors: actors, groupsPerActor: groups)
        print("\n1. learner ingest (tiny model, 32 rollouts per group, full validation and reward recomputation)")
        print(String(format: "   in process:                  %8.0f rollouts/s  (%d rollouts, %d rejected)", ingest.coreRolloutsPerSecond, ingest.rollouts, ingest.rejected))
        print(String(format: "   %2d DEALERs over tcp loopback: %8.0f rollouts/s  (loop CPU %.1f us per rollout; target >= 20000/s)",
                     actors, ingest.socketRolloutsPerSecond, ingest.loopCPUMicrosecondsPerRollout))

        print("\n2. weight delivery: N receivers fetch one version chunk by chunk (4 MiB) and check its SHA-256")
        print("   size     N   all hold it   per receiver   raw ZeroMQ (1 receiver)   N=1 vs raw")
        for mb in sizes.split(separator: ",").compactMap({ Int($0) }) {
            for n in receivers.split(separator: ",").compactMap({ Int($0) }) {
                let d = try ClusterBenchmark.delivery(bytes: mb << 20, receivers: n)
                print(String(format: "   %4d MB %4d   %9.3f s   %10.1f ms   %19.3f s   ", mb, n, d.seconds, d.seconds * 1000 / Double(n), d.rawSeconds)
                      + (n == 1 ? String(format: "%8.2fx", d.rawSeconds / d.seconds) : ""))
            }
        }
        print("   (one learner link serves every receiver: delivery time grows linearly with N; relays are not built yet)")

    }
}
