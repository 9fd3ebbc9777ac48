// Wiring of the operator's view onto the services: `LearnerMonitor.attach(to:)` / `ActorMonitor.attach(to:)` set
// the services' hook closures (see Cluster/MonitoringHooks.swift) to feed Prometheus metrics, TensorBoard
// scalars and the endpoint file `softrl top RUN_DIR` looks for. Everything here takes plain values.
import Foundation
import Cluster

public struct MetricsEndpointOptions: Sendable {
    /// nil: no endpoint (the default outside `softrl local`); 0: a free port.
    public var port: Int?
    /// Loopback by default; 0.0.0.0 to let a Prometheus server on another host scrape.
    public var host = "127.0.0.1"
    public init(port: Int? = nil, host: String = "127.0.0.1") { self.port = port; self.host = host }
}

/// TensorBoard tags for one update (the `softrl report` and the reader test use the same names).
public enum TensorBoardTags {
    public static func scalars(_ m: StepMetrics) -> [(String, Double)] {
        let u = m.update
        var staleSum = 0.0, groups = 0.0
        for (k, n) in m.stalenessHistogram { staleSum += (Double(k) ?? 0) * Double(n); groups += Double(n) }
        var out: [(String, Double)] = [
            ("train/reward", u.rewardMean), ("train/correct_rate", u.correctRate), ("train/loss", u.loss),
            ("train/grad_norm", u.gradNorm), ("train/learning_rate", u.learningRate),
            ("train/thinking_length", u.thinkingLength),
            ("train/log_prob_gap", u.logProbGap),
            ("cluster/tokens_per_second", m.clusterTokensPerSecond),
            ("cluster/rollouts_per_second", m.rolloutsPerSecond),
            ("cluster/staleness_mean", groups > 0 ? staleSum / groups : 0), ("cluster/wait_share", m.learnerWaitShare),
            ("cluster/actors", Double(m.actorsConnected)), ("learner/step_seconds", m.learnerStepMs / 1000)
        ]
        for (id, tps) in m.actorTokensPerSecond.sorted(by: { $0.key < $1.key }) {
            out.append(("actor/\(id)/tokens_per_second", tps))
        }
        return out
    }
}

public final class LearnerMonitor {
    public let metrics = LearnerMetrics()
    public private(set) var server: MetricsHTTPServer?
    public let tensorBoard: TensorBoardWriter?
    let runDirectory: URL

    /// Opens RUN_DIR/tb (always) and the metrics endpoint (when `endpoint.port` is set; its URL goes to
    /// RUN_DIR/metrics.endpoint for `softrl top RUN_DIR`).
    public init(runDirectory: URL, endpoint: MetricsEndpointOptions) throws {
        self.runDirectory = runDirectory
        tensorBoard = try TensorBoardWriter(directory: runDirectory.appendingPathComponent("tb"))
        let endpointFile = runDirectory.appendingPathComponent("metrics.endpoint")
        try? FileManager.default.removeItem(at: endpointFile)
        if let port = endpoint.port {
            let m = metrics
            let s = try MetricsHTTPServer(host: endpoint.host, port: port) { m.exposition() }
            server = s
            try s.url.write(to: endpointFile, atomically: true, encoding: .utf8)
            print("metrics: Prometheus endpoint at \(s.url)")
        }
    }

    public func attach(to service: LearnerService) {
        service.onStep = { [weak self] m in self?.record(step: m) }
        service.onActorStatus = { [weak self] a in self?.metrics.record(actors: a) }
    }

    public func record(step m: StepMetrics) {
        metrics.record(step: m)
        do { try tensorBoard?.scalars(TensorBoardTags.scalars(m), step: m.update.step) } catch {
            print("tensorboard: cannot write \(tensorBoard?.url.path ?? ""): \(error)")
        }
    }

    public func close() {
        server?.stop(); tensorBoard?.close()
        try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent("metrics.endpoint"))
    }
}

public final class ActorMonitor {
    public let metrics: ActorMetrics
    public let server: MetricsHTTPServer

    public init(actorId: String, endpoint: MetricsEndpointOptions) throws {
        metrics = ActorMetrics(actorId: actorId)
        let m = metrics
        server = try MetricsHTTPServer(host: endpoint.host, port: endpoint.port ?? 0) { m.exposition() }
        print("metrics: Prometheus endpoint at \(server.url)")
    }

    public func attach(to service: ActorService) {
        let m = metrics
        service.onBatchSent = { m.record(batch: $0) }
        service.onStatus = { m.record(status: $0) }
    }

    public func close() { server.stop() }
}
