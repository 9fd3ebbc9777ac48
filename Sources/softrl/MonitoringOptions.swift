// Command-line pieces of the operator's view shared by `learner`, `actor` and `local`: the metrics endpoint
// flags and the ports `local` hands its processes.
import ArgumentParser
import Foundation
import Cluster
import Monitoring

struct MetricsOptionsGroup: ParsableArguments {
    @Option(help: "Serve Prometheus metrics on this port (0: a free one; default: off; `local` turns it on).")
    var metricsPort: Int?
    @Option(help: "Address the metrics endpoint binds (127.0.0.1: this host only; 0.0.0.0: any).") var metricsHost:
        String = "127.0.0.1"
    var endpoint: MetricsEndpointOptions { MetricsEndpointOptions(port: metricsPort, host: metricsHost) }
}

enum LocalMetricsPorts {
    /// `count` ports: base, base+1, ... when a base is given; otherwise free ports the kernel picks (bound and
    /// released here, so another program could take one in between: then that process reports the bind error).
    static func choose(count: Int, base: Int?) -> [Int] {
        if let base, base > 0 { return (0..<count).map { base + $0 } }
        var servers: [MetricsHTTPServer] = []
        for _ in 0..<count {
            if let s = try? MetricsHTTPServer(host: "127.0.0.1", port: 0, body: { [] }) { servers.append(s) }
        }
        let ports = servers.map(\.port)
        servers.forEach { $0.stop() }
        return ports.count == count ? ports : (0..<count).map { 19_400 + $0 }
    }

    /// A Prometheus file_sd target list: point `file_sd_configs` at it to scrape every process of the run.
    static func writeTargets(_ ports: [Int], to url: URL) throws {
        var groups: [[String: Any]] = [["targets": ["127.0.0.1:\(ports[0])"], "labels": ["role": "learner"]]]
        for (i, p) in ports.dropFirst().enumerated() {
            groups.append(["targets": ["127.0.0.1:\(p)"], "labels": ["role": "actor", "actor_id": "local-\(i)"]])
        }
        try JSONSerialization.data(withJSONObject: groups, options: [.prettyPrinted, .sortedKeys]).write(
            to: url, options: .atomic)
    }
}
