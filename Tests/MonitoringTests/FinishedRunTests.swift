// Against a finished `softrl local` run (2 actors, 6 updates, a small base-vs-after evaluation):
//  - metadata.json holds version, commit, resolved config, task, model, host, cores (and the BLAS field);
//  - TensorBoard's own Python event reader reads every per-update scalar back, equal to metrics.jsonl;
//  - `softrl report` renders in headless Chromium with data in every plot, its PNGs decode in Chromium, and
//    two runs compare side by side;
//  - a rerun with changed flags names the ones it applies and the ones it ignores (every one of them).
import XCTest
import Foundation
import Monitoring

final class FinishedRunTests: XCTestCase {
    nonisolated(unsafe) static var harness: OpsHarness?
    nonisolated(unsafe) static var startError: Error?
    static let steps = 6

    static func finishedRun() throws -> OpsHarness {
        if let e = startError { throw e }
        if let h = harness { return h }
        do {
            let h = try OpsHarness(name: "finished")
            harness = h
            let p = try h.softrl(
                [
                    "local", "--actors", "2", "--steps", "\(steps)", "--eval-problems", "16", "--eval-samples", "4",
                    "--run-dir", h.dir.appendingPathComponent("run").path
                ] + OpsHarness.tinyRun, log: "local")
            guard h.waitUntil(600, { !p.isRunning }) else {
                throw XCTSkip("FAILED: softrl local did not finish in 600 s; log:\n\(h.log("local"))")
            }
            guard p.terminationStatus == 0 else {
                throw XCTSkip("FAILED: softrl local exited \(p.terminationStatus); log:\n\(h.log("local"))")
            }
            return h
        } catch { startError = error; throw error }
    }

    func run() throws -> OpsHarness? {
        do { return try Self.finishedRun() } catch let s as XCTSkip where "\(s)".contains("FAILED") {
            XCTFail("\(s)"); return nil
        }
    }

    override class func tearDown() { harness?.shutdown(); super.tearDown() }

    var cluster: URL { Self.harness!.dir.appendingPathComponent("run/cluster") }

    func testMetadataRecordsTheRunOnce() throws {
        guard let h = try run() else { return }
        let url = cluster.appendingPathComponent("metadata.json")
        let m = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], h.log("local"))
        XCTAssertEqual(m["software"] as? String, "softrl \(RunMetadata.softwareVersion)")
        XCTAssertFalse((m["gitCommit"] as? String ?? "").isEmpty)
        XCTAssertEqual(m["task"] as? String, "mnns")
        let config = try XCTUnwrap(m["config"] as? [String: Any])
        XCTAssertEqual(config["groupSize"] as? Int, 2); XCTAssertEqual(config["promptsPerStep"] as? Int, 2)
        XCTAssertEqual(config["steps"] as? Int, Self.steps); XCTAssertEqual(config["maxStaleness"] as? Int, 0)
        XCTAssertNotNil((m["model"] as? [String: Any])?["hidden_size"])
        XCTAssertEqual(m["cores"] as? Int, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertFalse((m["host"] as? String ?? "").isEmpty)
        XCTAssertTrue(
            (m["blasKernel"] as? String ?? "").hasPrefix("OpenBLAS kernel "),
            "metadata names the BLAS kernel: \(String(describing: m["blasKernel"]))")
        XCTAssertEqual((m["resumes"] as? [Any])?.count, 0)
    }

    func testTensorBoardEventReaderReadsEveryScalar() throws {
        guard let h = try run() else { return }
        let python = try OpsHarness.python(with: "tensorboard")
        let script = """
            import json, sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
            acc.Reload()
            out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}
            print(json.dumps(out))
            """
        let (status, output) = try OpsHarness.run(python, ["-c", script, cluster.appendingPathComponent("tb").path])
        XCTAssertEqual(status, 0, output)
        let json = try XCTUnwrap(output.split(separator: "\n").last.map(String.init))
        let scalars = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [[Double]]], output)
        let metrics = h.runMetrics()
        XCTAssertEqual(metrics.count, Self.steps)
        for tag in [
            "train/reward", "train/correct_rate", "train/loss", "train/grad_norm", "cluster/tokens_per_second",
            "cluster/staleness_mean", "cluster/wait_share", "learner/step_seconds"
        ] {
            let points = try XCTUnwrap(scalars[tag], "missing \(tag); have \(scalars.keys.sorted())")
            XCTAssertEqual(points.map { Int($0[0]) }, Array(1...Self.steps), tag)
        }
        // Per-actor series from the update an actor was first connected at (a slow starter may miss step 1).
        for id in ["local-0", "local-1"] {
            let points = try XCTUnwrap(
                scalars["actor/\(id)/tokens_per_second"], "missing actor/\(id); have \(scalars.keys.sorted())")
            XCTAssertEqual(points.last.map { Int($0[0]) }, Self.steps)
        }
        for (key, tag) in [
            ("rewardMean", "train/reward"), ("correctRate", "train/correct_rate"), ("loss", "train/loss"),
            ("learnerWaitShare", "cluster/wait_share")
        ] {
            for (m, p) in zip(metrics, scalars[tag]!) {
                let expected = (m[key] as? Double) ?? Double(m[key] as? Int ?? 0)
                XCTAssertEqual(p[1], expected, accuracy: 1e-6 + abs(expected) * 1e-6, "\(tag) at step \(Int(p[0]))") // float32 in the file
            }
        }
        // pass@k from the evaluation: base at step 0, after RL at the last step.
        for k in [1, 2, 4] {
            let points = try XCTUnwrap(scalars["eval/pass@\(k)"], "missing eval/pass@\(k)")
            XCTAssertEqual(points.map { Int($0[0]) }, [0, Self.steps])
        }
    }

    func testReportRendersInChromiumWithDataInEveryPlot() throws {
        guard let h = try run() else { return }
        let chromium = try OpsHarness.tool("chromium", reason: "Debian package chromium")
        let out = h.dir.appendingPathComponent("report/report.html")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        let (status, said) = try OpsHarness.run(
            h.exe.path, ["report", h.dir.appendingPathComponent("run").path, "--out", out.path])
        XCTAssertEqual(status, 0, said)
        let html = try String(contentsOf: out, encoding: .utf8)
        // Self-contained: nothing to fetch (the only URL is the SVG namespace name, never fetched).
        XCTAssertNil(
            html.range(of: #"(src|href)\s*="#, options: .regularExpression),
            "the report references an external resource")
        XCTAssertEqual(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"), false)
        let browserArgs = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--user-data-dir=\(h.dir.appendingPathComponent("chromium-profile").path)", "--virtual-time-budget=5000"
        ]
        let (dstatus, dom) = try OpsHarness.run(
            chromium, browserArgs + ["--dump-dom", out.absoluteString], timeout: 120)
        XCTAssertEqual(dstatus, 0, dom)
        XCTAssertTrue(dom.contains("data-report-ready=\"1\""), "the page's script did not run:\n\(dom.prefix(2000))")
        let figures = dom.components(separatedBy: "<figure").dropFirst()
        XCTAssertEqual(
            figures.count, 7, "plots: reward, correct rate, pass@k, tokens, staleness, staleness histogram, wait")
        for f in figures {
            let id = f.range(of: #"data-plot="[^"]+""#, options: .regularExpression).map { String(f[$0]) } ?? "?"
            let marks =
                f.range(of: #"data-marks="\d+""#, options: .regularExpression).map {
                    Int(f[$0].dropFirst(12).dropLast()) ?? 0
                } ?? 0
            XCTAssertGreaterThan(marks ?? 0, 0, "plot \(id) drew nothing in Chromium")
        }
        // A screenshot renders (used for docs/report.png when SOFTRL_REPORT_SHOT is set).
        let shot = h.dir.appendingPathComponent("report/shot.png")
        let (sstatus, sout) = try OpsHarness.run(
            chromium, browserArgs + ["--window-size=1400,1500", "--screenshot=\(shot.path)", out.absoluteString],
            timeout: 120)
        XCTAssertEqual(sstatus, 0, sout)
        XCTAssertGreaterThan((try? Data(contentsOf: shot))?.count ?? 0, 10_000, "screenshot missing or blank")
        if let keep = ProcessInfo.processInfo.environment["SOFTRL_REPORT_SHOT"] {
            try? FileManager.default.copyItem(at: shot, to: URL(fileURLWithPath: keep))
        }
        // The PNG plots decode in Chromium at their full size.
        let pngs = try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path).filter {
            $0.hasPrefix("report-") && $0.hasSuffix(".png")
        }.sorted()
        XCTAssertEqual(pngs.count, 7, "\(pngs)")
        let page = out.deletingLastPathComponent().appendingPathComponent("pngs.html")
        try
            ("<html><body>" + pngs.map { "<img src=\"\($0)\">" }.joined()
            + "<script>window.onload=()=>{for(const i of document.images){i.setAttribute('data-size',i.naturalWidth+'x'+i.naturalHeight)}}</script></body></html>")
            .write(to: page, atomically: true, encoding: .utf8)
        let (_, imgDom) = try OpsHarness.run(chromium, browserArgs + ["--dump-dom", page.absoluteString], timeout: 120)
        XCTAssertEqual(imgDom.components(separatedBy: "data-size=\"640x300\"").count - 1, pngs.count, imgDom)
    }

    func testReportComparesTwoRunsSideBySide() throws {
        guard let h = try run() else { return }
        let a = h.dir.appendingPathComponent("run"), b = h.dir.appendingPathComponent("run-copy")
        try? FileManager.default.removeItem(at: b)
        try FileManager.default.copyItem(at: a, to: b)
        let out = h.dir.appendingPathComponent("compare.html")
        let (status, said) = try OpsHarness.run(h.exe.path, ["report", a.path, b.path, "--out", out.path])
        XCTAssertEqual(status, 0, said)
        let html = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(html.contains("run vs run-copy"))
        XCTAssertTrue(html.contains("<th>run</th><th>run-copy</th>"), "metadata side by side")
        // Each run has its own series in the reward plot.
        let reward = try XCTUnwrap(
            html.components(separatedBy: "id=\"plot-reward\"").dropFirst().first?.components(separatedBy: "</svg>")
                .first)
        XCTAssertEqual(
            reward.components(separatedBy: "<polyline").count - 1, 4, "raw and smoothed reward for each of two runs")
    }

    func testRerunNamesAppliedAndIgnoredFlags() throws {
        guard let h = try run() else { return }
        let a = h.dir.appendingPathComponent("run"), b = h.dir.appendingPathComponent("run-resumed")
        try? FileManager.default.removeItem(at: b)
        try FileManager.default.copyItem(at: a, to: b)
        let (status, out) = try OpsHarness.run(
            h.exe.path,
            [
                "local", "--run-dir", b.path, "--actors", "1", "--steps", "\(Self.steps + 2)", "--lr", "5e-5",
                "--group-size", "4", "--eval-problems", "0", "--sft-steps", "5"
            ], timeout: 300)
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("resume: changed steps \(Self.steps) -> \(Self.steps + 2), lr 0.0001 -> 5e-05"), out)
        XCTAssertTrue(out.contains("resume: IGNORED --group-size"), out)
        XCTAssertEqual(h.runMetrics("run-resumed").last?["step"] as? Int, Self.steps + 2)
        let m = try XCTUnwrap(RunMetadata.read(b.appendingPathComponent("cluster")))
        XCTAssertEqual(m.resumes.count, 1, "metadata written once, the resume appended")
        XCTAssertEqual(m.config?.groupSize, 2, "the first session's config stays")
    }

    /// Every flag a rerun cannot apply is named, the task's text flags included (a resume once dropped them silently).
    func testRerunNamesEveryIgnoredTaskFlag() throws {
        guard let h = try run() else { return }
        let a = h.dir.appendingPathComponent("run"), b = h.dir.appendingPathComponent("run-ignored")
        try? FileManager.default.removeItem(at: b)
        try FileManager.default.copyItem(at: a, to: b)
        let ignored = [
            "--tokenizer", "tok", "--prompt-template", "Q: {question}", "--end-of-thinking", "Answer:", "--verifier",
            "exact",
            "--word-level", "2", "--word-count", "100", "--mnns-digits", "5", "--seed", "9"
        ]
        let (status, out) = try OpsHarness.run(
            h.exe.path, ["local", "--run-dir", b.path, "--actors", "1", "--eval-problems", "0"] + ignored, timeout: 300)
        XCTAssertEqual(status, 0, out)
        let line = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("resume: IGNORED") }, out)
        for flag in ignored where flag.hasPrefix("--") {
            XCTAssertTrue(line.contains(flag + " ") || line.contains(flag + ":"), "\(flag) not named: \(line)")
        }
        XCTAssertEqual(
            h.runMetrics("run-ignored").last?["step"] as? Int, Self.steps, "nothing to train: the run was finished")
    }

    /// The learner's checkpoint carries its run's settings: `softrl eval` on it (here, a copy elsewhere) samples with them.
    func testEvalOfACopiedCheckpointUsesTheRunsSampler() throws {
        guard let h = try run() else { return }
        let copy = h.dir.appendingPathComponent("copied-checkpoint")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: cluster.appendingPathComponent("checkpoint"), to: copy)
        let (status, out) = try OpsHarness.run(
            h.exe.path,
            ["eval", copy.path, "--inference", "fuzzy", "--samples", "2", "--problems", "2", "--threads", "1"])
        XCTAssertEqual(status, 0, out)
        let line = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("eval sampler") }, out)
        XCTAssertTrue(
            line.contains("fuzzy(") && line.contains("noise gamma 1.0")
                && line.contains("the run's settings (\(copy.path)/rl_config.json)"), String(line))
    }

    /// `softrl eval --json` on the run's checkpoint: pass@k and its standard error recomputed here from the
    /// per-problem correct counts with exact binomial coefficients, greedy pass@1's SE from the binomial formula.
    func testEvalReportsStandardErrorsThatFollowFromItsCounts() throws {
        guard let h = try run() else { return }
        let samples = 8, problems = 24
        let (status, out) = try OpsHarness.run(
            h.exe.path,
            [
                "eval", cluster.appendingPathComponent("checkpoint").path, "--task", "mnns",
                "--samples", "\(samples)", "--problems", "\(problems)", "--threads", "1", "--json"
            ], timeout: 300)
        XCTAssertEqual(status, 0, out)
        let line = try XCTUnwrap(out.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init), out)
        let r = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], out)
        let counts = try XCTUnwrap(r["correctPerProblem"] as? [Int], "per-problem counts recorded")
        XCTAssertEqual(counts.count, problems)
        func choose(_ n: Int, _ k: Int) -> Double {
            k < 0 || k > n ? 0 : (0..<k).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) }
        }
        let passAtK = try XCTUnwrap(r["passAtK"] as? [String: Double]),
            passSE = try XCTUnwrap(r["passAtKSE"] as? [String: Double])
        for k in [1, 2, 4, 8] {
            let perProblem = counts.map { 1 - choose(samples - $0, k) / choose(samples, k) }
            let mean = perProblem.reduce(0, +) / Double(problems)
            let sd = (perProblem.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(problems - 1)).squareRoot()
            XCTAssertEqual(try XCTUnwrap(passAtK["\(k)"]), mean, accuracy: 1e-9, "pass@\(k)")
            XCTAssertEqual(
                try XCTUnwrap(passSE["\(k)"]), sd / Double(problems).squareRoot(), accuracy: 1e-9, "SE of pass@\(k)")
        }
        let g = try XCTUnwrap(r["greedyPass1"] as? Double)
        XCTAssertEqual(
            try XCTUnwrap(r["greedyPass1SE"] as? Double), (g * (1 - g) / Double(problems)).squareRoot(), accuracy: 1e-12
        )
        XCTAssertNotNil(r["meanThinkingLengthSE"] as? Double)
        // The text table shows each value with its SE.
        let (_, text) = try OpsHarness.run(
            h.exe.path,
            [
                "eval", cluster.appendingPathComponent("checkpoint").path, "--task", "mnns",
                "--samples", "2", "--problems", "4", "--threads", "1"
            ], timeout: 300)
        XCTAssertTrue(text.contains(" ±"), text)
    }

    func testTrainRefusesMaxStaleness() throws {
        let h = try OpsHarness(name: "train")
        defer { h.shutdown() }
        let (status, out) = try OpsHarness.run(
            h.exe.path, ["train", "--base", "/nonexistent", "--out", h.dir.path + "/x", "--max-staleness", "2"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(out.contains("--max-staleness has no effect in `softrl train`"), out)
    }
}
