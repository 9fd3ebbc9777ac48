// Command-line pieces of the operator's view shared by `learner`, `actor` and `local`: the metrics endpoint
// flags, the ports `local` hands its processes, and what a resume does with RL flags.
import ArgumentParser
import Foundation
import Cluster
import Monitoring
import PolicyGradient

struct MetricsOptionsGroup: ParsableArguments {
    @Option(help: "Serve Prometheus metrics on this port (0: a free one; default: off; `local` turns it on).") var metricsPort: Int?
    @Option(help: "Address the metrics endpoint binds (127.0.0.1: this host only; 0.0.0.0: any).") var metricsHost: String = "127.0.0.1"
    var endpoint: MetricsEndpointOptions { MetricsEndpointOptions(port: metricsPort, host: metricsHost) }
}

enum LocalMetricsPorts {
    /// `count` ports: base, base+1, ... when a base is given; otherwise free ports the kernel picks (bound and
    /// released here, so another program could take one in between: then that process reports the bind error).
    static func choose(count: Int, base: Int?) -> [Int] {
        if let base, base > 0 { return (0..<count).map { base + $0 } }
        var servers: [MetricsHTTPServer] = []
        for _ in 0..<count { if let s = try? MetricsHTTPServer(host: "127.0.0.1", port: 0, body: { [] }) { servers.append(s) } }
        let ports = servers.map(\.port)
        servers.forEach { $0.stop() }
        return ports.count == count ? ports : (0..<count).map { 19_400 + $0 }
    }

    /// A Prometheus file_sd target list: point `file_sd_configs` at it to scrape every process of the run.
    static func writeTargets(_ ports: [Int], to url: URL) throws {
        var groups: [[String: Any]] = [["targets": ["127.0.0.1:\(ports[0])"], "labels": ["role": "learner"]]]
        for (i, p) in ports.dropFirst().enumerated() { groups.append(["targets": ["127.0.0.1:\(p)"], "labels": ["role": "actor", "actor_id": "local-\(i)"]]) }
        try JSONSerialization.data(withJSONObject: groups, options: [.prettyPrinted, .sortedKeys]).write(to: url, options: .atomic)
    }
}

/// A resumed run keeps the configuration in its checkpoint. A few settings are safe to change between sessions
/// (how far to go, the learning rate, the staleness bound) and are applied with a note; every other RL flag is
/// named as ignored, never silently dropped.
enum ResumeFlags {
    static func apply(_ rl: RLOptionsGroup, to saved: RLConfig) throws -> RLConfig {
        var cfg = saved
        var notes: [String] = []
        if let s = rl.steps, s != cfg.steps { notes.append("steps \(cfg.steps) -> \(s)"); cfg.steps = s }
        if let l = rl.lr, l != cfg.learningRate { notes.append("lr \(cfg.learningRate) -> \(l)"); cfg.learningRate = l }
        if let k = rl.maxStaleness, k != cfg.maxStaleness { notes.append("max staleness \(cfg.maxStaleness) -> \(k)"); cfg.maxStaleness = k }
        if let m = try rl.parsedMicroBatch(), m != cfg.microBatch {   // memory per pass only; the update is the same
            notes.append("micro-batch \(cfg.microBatch?.description ?? "automatic") -> \(m)"); cfg.microBatch = m
        }
        try cfg.validate()
        var ignored: [String] = []
        if rl.mode != nil { ignored.append("--mode") }
        if rl.config != nil { ignored.append("--config") }
        if rl.groupSize != nil { ignored.append("--group-size") }
        if rl.prompts != nil { ignored.append("--prompts") }
        if rl.advantage != nil { ignored.append("--advantage") }
        if rl.loss != nil { ignored.append("--loss") }
        if rl.klBeta != nil { ignored.append("--kl-beta") }
        if rl.dynamicSampling { ignored.append("--dynamic-sampling") }
        if rl.noiseScale != nil { ignored.append("--noise-scale") }
        if rl.seed != nil { ignored.append("--seed") }
        let taskFlags = ["--task", "--task-seed", "--mnns-digits", "--reach-nodes", "--arith-digits"]
        ignored += taskFlags.filter { f in CommandLine.arguments.contains { $0 == f || $0.hasPrefix(f + "=") } }
        if !notes.isEmpty { print("resume: changed \(notes.joined(separator: ", ")) (safe to change between sessions)") }
        if !ignored.isEmpty {
            print("resume: IGNORED \(ignored.joined(separator: " ")): a resumed run keeps its checkpoint's settings; only --steps, --lr, --max-staleness and --micro-batch may change (start over with --fresh / a new run directory to change the others)")
        }
        return cfg
    }
}
