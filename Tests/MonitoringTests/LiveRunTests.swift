// Against a running `softrl local` (1 learner + 2 actors, metrics endpoints on loopback):
//  - a real Prometheus server (Debian's `prometheus`, config written here, loopback only, file_sd pointed at the
//    run's prometheus-targets.json) scrapes every process; its HTTP API answers the policy version and the
//    rollout counters; `promtool check metrics` accepts the text each endpoint serves;
//  - `softrl top` runs in a real terminal (tmux) and the captured pane shows what a person would see.
// The run is started once for the class and stopped (SIGTERM: it checkpoints) at the end.
import XCTest
import Foundation
import Monitoring

final class LiveRunTests: XCTestCase {
    nonisolated(unsafe) static var harness: OpsHarness?
    nonisolated(unsafe) static var local: Child?
    nonisolated(unsafe) static var startError: Error?

    /// The live run: long enough (many cheap updates) to outlast the tests, which stop it.
    static func liveRun() throws -> OpsHarness {
        if let e = startError { throw e }
        if let h = harness { return h }
        do {
            let h = try OpsHarness(name: "live")
            harness = h
            local = try h.softrl(
                [
                    "local", "--actors", "2", "--steps", "100000", "--eval-problems", "0", "--run-dir",
                    h.dir.appendingPathComponent("run").path
                ] + OpsHarness.tinyRun, log: "local")
            let endpointFile = h.dir.appendingPathComponent("run/cluster/metrics.endpoint")
            guard
                h.waitUntil(
                    300, { FileManager.default.fileExists(atPath: endpointFile.path) && !(h.runMetrics().isEmpty) })
            else {
                throw XCTSkip("FAILED to start: softrl local never served metrics or trained; log:\n\(h.log("local"))")
            }
            return h
        } catch { startError = error; throw error }
    }

    override class func tearDown() {
        if let local, local.isRunning { local.terminate() }
        harness?.shutdown()
        super.tearDown()
    }

    func testPrometheusScrapesEveryProcessAndPromtoolAcceptsTheText() throws {
        let prometheus = try OpsHarness.tool("prometheus", reason: "Debian package prometheus")
        let promtool = try OpsHarness.tool("promtool", reason: "Debian package prometheus")
        let h: OpsHarness
        do { h = try Self.liveRun() } catch let s as XCTSkip where "\(s)".contains("FAILED") { return XCTFail("\(s)") }
        let targets = h.dir.appendingPathComponent("run/cluster/prometheus-targets.json")
        let targetList = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: targets)) as? [[String: Any]])
        XCTAssertEqual(targetList.count, 3, "learner + 2 actors")

        // 1. promtool on the text each process serves.
        for group in targetList {
            let target = try XCTUnwrap((group["targets"] as? [String])?.first)
            let text = try MetricsHTTPClient.get("http://\(target)/metrics")
            let (status, out) = try OpsHarness.run(promtool, ["check", "metrics"], stdin: text)
            XCTAssertEqual(status, 0, "promtool check metrics on \(target):\n\(out)\n--- text:\n\(text)")
            XCTAssertTrue(
                out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "promtool lint output for \(target): \(out)")
        }

        // 2. A real Prometheus server scraping all three every second, on loopback only.
        let port = try OpsHarness.freePort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: softrl
                file_sd_configs:
                  - files: ['\(targets.path)']
                    refresh_interval: 5s
            """
        let configFile = h.dir.appendingPathComponent("prometheus.yml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        let server = try h.spawn(
            prometheus,
            [
                "--config.file=\(configFile.path)", "--storage.tsdb.path=\(h.dir.appendingPathComponent("tsdb").path)",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"
            ], log: "prometheus")
        func query(_ q: String) -> [[String: Any]]? {
            let enc = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            guard let body = try? MetricsHTTPClient.get("http://127.0.0.1:\(port)/api/v1/query?query=\(enc)"),
                let o = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                o["status"] as? String == "success", let data = o["data"] as? [String: Any]
            else { return nil }
            return data["result"] as? [[String: Any]]
        }
        func scalar(_ r: [String: Any]) -> Double { Double(((r["value"] as? [Any])?.last as? String) ?? "") ?? .nan }

        // Every target up, the learner's version past 2, and rollouts counted on both sides.
        let ok = h.waitUntil(180) {
            guard server.isRunning, let up = query("up"), up.count == 3, up.allSatisfy({ scalar($0) == 1 }),
                let v = query("softrl_learner_policy_version")?.first, scalar(v) >= 2,
                let a = query("sum(softrl_actor_rollouts_total)")?.first, scalar(a) > 0,
                let t = query("softrl_learner_rollouts_trained_total")?.first, scalar(t) > 0
            else { return false }
            return true
        }
        XCTAssertTrue(
            ok,
            "Prometheus never saw all targets up with progress; up=\(String(describing: query("up"))) version=\(String(describing: query("softrl_learner_policy_version")))\nprometheus log:\n\(h.log("prometheus"))\nlocal log:\n\(h.log("local").suffix(3000))"
        )
        // The per-actor series carry the actor label (bounded: one per actor) and agree with the actors' own.
        let perActor = query("softrl_learner_actor_busy_slots") ?? []
        XCTAssertEqual(
            Set(perActor.compactMap { ($0["metric"] as? [String: String])?["actor"] }), ["local-0", "local-1"])
        let actorVersions = query("softrl_actor_policy_version") ?? []
        XCTAssertEqual(actorVersions.count, 2)
        // Histograms answer quantile queries.
        let q = query("histogram_quantile(0.5, softrl_learner_update_duration_seconds_bucket)")?.first.map(scalar)
        XCTAssertNotNil(q); XCTAssertTrue(q.map { $0 > 0 } ?? false, "median update time \(String(describing: q))")
        server.terminate()
    }

    func testTopInATerminalShowsActorsLearnerAndSparklines() throws {
        let tmux = try OpsHarness.tool("tmux", reason: "Debian package tmux")
        let h: OpsHarness
        do { h = try Self.liveRun() } catch let s as XCTSkip where "\(s)".contains("FAILED") { return XCTFail("\(s)") }
        let session = "softrl-top-\(getpid())"
        let socket = h.dir.appendingPathComponent("tmux.sock").path
        let runDir = h.dir.appendingPathComponent("run").path
        defer { _ = try? OpsHarness.run(tmux, ["-S", socket, "kill-server"]) }
        let (st, out) = try OpsHarness.run(
            tmux,
            [
                "-S", socket, "new-session", "-d", "-s", session, "-x", "110", "-y", "32",
                "\(h.exe.path) top \(runDir) --interval 0.5"
            ])
        XCTAssertEqual(st, 0, "tmux new-session: \(out)")
        var pane = ""
        // Bounded wait until the view shows both actors with busy slots and versions (live data from the endpoint)
        // and a few updates of history in the sparklines.
        let shown = h.waitUntil(180) {
            pane = (try? OpsHarness.run(tmux, ["-S", socket, "capture-pane", "-p", "-t", session]))?.output ?? ""
            return pane.contains("local-0") && pane.contains("local-1") && pane.contains("LIVE")
                && pane.range(of: #"\d/\d"#, options: .regularExpression) != nil
                && pane.range(of: "reward +[▁▂▃▄▅▆▇█]{3,}", options: .regularExpression) != nil
        }
        XCTAssertTrue(shown, "top never showed both actors live; pane:\n\(pane)")
        XCTAssertTrue(pane.contains("softrl top"), pane)
        XCTAssertTrue(pane.contains("LEARNER  policy v"), pane)
        XCTAssertTrue(pane.contains("wait "), pane)
        XCTAssertTrue(pane.contains("staleness"), pane)
        XCTAssertNotNil(
            pane.range(of: "reward +[▁▂▃▄▅▆▇█]{3,}", options: .regularExpression), "no reward sparkline in:\n\(pane)")
        XCTAssertNotNil(
            pane.range(of: "tokens/s +[▁▂▃▄▅▆▇█]{3,}", options: .regularExpression),
            "no tokens/s sparkline in:\n\(pane)")
        // Refreshes in place: the header appears once on the screen, not scrolled copies.
        XCTAssertEqual(pane.components(separatedBy: "softrl top").count - 1, 1, pane)
        if let shot = ProcessInfo.processInfo.environment["SOFTRL_TOP_CAPTURE"] {
            try pane.write(toFile: shot, atomically: true, encoding: .utf8)
        }
        // Ctrl-C leaves the alternate screen and exits.
        _ = try OpsHarness.run(tmux, ["-S", socket, "send-keys", "-t", session, "C-c"])
        XCTAssertTrue(
            h.waitUntil(20) { (try? OpsHarness.run(tmux, ["-S", socket, "has-session", "-t", session]))?.status != 0 },
            "top did not exit on Ctrl-C")

        // Not a terminal: plain lines, one per refresh.
        let (status, plain) = try OpsHarness.run(h.exe.path, ["top", runDir, "--count", "2", "--interval", "0.2"])
        XCTAssertEqual(status, 0, plain)
        let lines = plain.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, plain)
        XCTAssertTrue(
            lines.allSatisfy { $0.contains("policy v") && $0.contains("actors 2") && !$0.contains("\u{1B}") }, plain)
    }
}

extension OpsHarness {
    /// Parsed lines of the run's metrics.jsonl (the `local` layout: run/cluster/metrics.jsonl).
    func runMetrics(_ run: String = "run") -> [[String: Any]] {
        guard
            let text = try? String(
                contentsOf: dir.appendingPathComponent("\(run)/cluster/metrics.jsonl"), encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
