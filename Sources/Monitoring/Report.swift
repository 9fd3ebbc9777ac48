// `softrl report RUN_DIR [RUN_DIR ...]`: one self-contained HTML page (inline SVG and CSS; no network, no files
// beside it) with reward and correct rate, eval pass@k before/after, tokens/s per actor, staleness, wait share
// and each run's metadata; with several runs the plots overlay them and the tables sit side by side. The same
// plots are written as PNGs. A short inline script counts each plot's drawn marks (`data-marks`) so a browser
// test can check that every plot shows data.
import Foundation

public enum RunReport {
    /// Smoothing of per-update curves, TensorBoard's slider value: an effective window of about 10 updates, which
    /// shows the trend of a 200-update run without hiding a change within 20 updates.
    public static let smoothingWeight = 0.9

    /// Plots for the given runs (one series per run, or per run and actor / base-after).
    public static func plots(_ runs: [RunData]) -> [Plot] {
        let multi = runs.count > 1
        func prefix(_ r: RunData) -> String { multi ? r.name + " " : "" }
        func named(_ r: RunData, _ what: String) -> String { multi ? r.name : what }
        let w = smoothingWeight
        var reward: [PlotSeries] = [], correct: [PlotSeries] = [], tokens: [PlotSeries] = [], stale: [PlotSeries] = [],
            wait: [PlotSeries] = [], pass: [PlotSeries] = [], staleHist: [PlotSeries] = []
        for (runIndex, r) in runs.enumerated() {
            let s = r.steps
            reward.append(
                PlotSeries(name: named(r, "reward"), points: s.map { (Double($0.step), $0.reward) }, smoothing: w))
            correct.append(
                PlotSeries(
                    name: named(r, "correct rate"), points: s.map { (Double($0.step), $0.correctRate) }, smoothing: w))
            let actorIds = Set(s.flatMap { $0.actorTokensPerSecond.keys }).sorted()
            for id in actorIds {
                tokens.append(
                    PlotSeries(
                        name: prefix(r) + id,
                        points: s.compactMap { st in st.actorTokensPerSecond[id].map { (Double(st.step), $0) } },
                        smoothing: w))
            }
            if actorIds.isEmpty {
                tokens.append(
                    PlotSeries(
                        name: prefix(r) + "cluster", points: s.map { (Double($0.step), $0.tokensPerSecond) },
                        smoothing: w))
            }
            stale.append(
                PlotSeries(name: named(r, "mean staleness"), points: s.map { (Double($0.step), $0.meanStaleness) }))
            var hist: [Int: Int] = [:]
            for st in s { for (k, n) in st.staleness { hist[k, default: 0] += n } }
            staleHist.append(
                PlotSeries(
                    name: named(r, "groups"), points: hist.keys.sorted().map { (Double($0), Double(hist[$0]!)) },
                    bars: true))
            wait.append(
                PlotSeries(
                    name: named(r, "wait share"), points: s.map { (Double($0.step), $0.waitShare) }, smoothing: w))
            if let e = r.eval {
                // The run's colour for both; the base dashed.
                for (label, report, dashed) in [("base", e.base, true), ("after RL", e.after, false)] {
                    let ks = report.passAtK.keys.sorted()
                    let errors = report.passAtKSE.map { se in ks.map { se[$0] ?? 0 } }
                    pass.append(
                        PlotSeries(
                            name: prefix(r) + label, points: ks.map { (Double($0), report.passAtK[$0]!) },
                            errors: errors,
                            colorIndex: runIndex, dashed: dashed))
                }
            }
        }
        return [
            Plot(
                id: "reward", title: "Training reward", xLabel: "update", yLabel: "mean reward per update",
                series: reward),
            Plot(
                id: "correct", title: "Training correct rate", xLabel: "update", yLabel: "share of rollouts correct",
                series: correct),
            Plot(
                id: "passk", title: "Evaluation pass@k: base vs after RL (± 1 SE over problems)",
                xLabel: "k (samples per problem, log scale)", yLabel: "pass@k", series: pass, yRange: 0...1, logX: true),
            Plot(
                id: "tokens", title: "Tokens per second per actor", xLabel: "update", yLabel: "tokens/s", series: tokens
            ),
            Plot(
                id: "staleness", title: "Staleness of trained groups", xLabel: "update",
                yLabel: "versions behind (mean)", series: stale),
            Plot(
                id: "staleness-hist", title: "Staleness histogram (whole run)", xLabel: "versions behind",
                yLabel: "groups", series: staleHist),
            Plot(
                id: "wait", title: "Learner wait share", xLabel: "update", yLabel: "share of wall time", series: wait,
                yRange: 0...1)
        ]
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    public static func html(_ runs: [RunData], pngStem: String = "report", generated: Date = Date()) -> String {
        let plots = plots(runs)
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>SoftRL report: \(esc(runs.map(\.name).joined(separator: " vs ")))</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
            .plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; }
            figure { margin: 0; border: 1px solid #ddd; min-width: 0; } figure svg { display: block; width: 100%; height: auto; }
            figcaption { font-size: 11px; color: #666; padding: 2px 6px; }
            table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
            pre { margin: 0; font-size: 11px; max-height: 260px; overflow: auto; }
            .empty { color: #a00; } .wide { overflow-x: auto; }
            </style></head><body>
            <h1>SoftRL report: \(esc(runs.map(\.name).joined(separator: " vs ")))</h1>
            <p>Generated \(ISO8601DateFormatter().string(from: generated)) from \(runs.map { "<code>\(esc($0.directory.path))</code> (\($0.steps.count) updates)" }.joined(separator: ", ")).</p>
            <h2>Plots</h2><div class="plots">
            """
        for p in plots {
            h += "<figure data-plot=\"\(p.id)\" data-has-data=\"\(p.hasData)\">\(p.svg())"
            h +=
                p.hasData
                ? "<figcaption>also \(esc(pngStem))-\(esc(p.id)).png beside this page</figcaption>"
                : "<figcaption class=\"empty\">no data for this plot in these runs</figcaption>"
            h += "</figure>\n"
        }
        h += "</div>\n"
        // Evaluation table.
        h += "<h2>Evaluation (hard inference on the test split)</h2>"
        let evals = runs.filter { $0.eval != nil }
        if evals.isEmpty {
            h += "<p class=\"empty\">no eval.json (the run did not finish its evaluation)</p>"
        } else {
            let ks = Set(evals.flatMap { $0.eval!.after.passAtK.keys }).sorted()
            h +=
                "<table><tr><th>run</th><th>model</th><th>greedy pass@1</th>"
                + ks.map { "<th>pass@\($0)</th>" }.joined() + "<th>thinking tokens</th><th>problems x samples</th></tr>"
            func cell(_ v: Double?, _ se: Double?, _ format: String = "%.3f") -> String {
                guard let v else { return "<td></td>" }
                return "<td>" + String(format: format, v) + (se.map { " ± " + String(format: format, $0) } ?? "")
                    + "</td>"
            }
            for r in evals {
                for (label, e) in [("base", r.eval!.base), ("after RL", r.eval!.after)] {
                    h +=
                        "<tr><td>\(esc(r.name))</td><td>\(label)</td>" + cell(e.greedyPass1, e.greedyPass1SE)
                        + ks.map { k in cell(e.passAtK[k], e.passAtKSE?[k]) }.joined()
                        + cell(e.meanThinkingLength, e.meanThinkingLengthSE, "%.2f")
                        + "<td>\(e.problems) x \(e.samples)</td></tr>"
                }
            }
            h +=
                "</table><p>± one standard error: binomial for greedy pass@1, over problems for pass@k and thinking length.</p>"
        }
        // Summary and metadata side by side.
        h +=
            "<h2>Runs</h2><div class=\"wide\"><table><tr><th></th>" + runs.map { "<th>\(esc($0.name))</th>" }.joined()
            + "</tr>"
        func row(_ name: String, _ f: (RunData) -> String) {
            h += "<tr><th>\(name)</th>" + runs.map { "<td>\(esc(f($0)))</td>" }.joined() + "</tr>"
        }
        func mean(_ xs: [Double]) -> String {
            xs.isEmpty ? "" : String(format: "%.3f", xs.reduce(0, +) / Double(xs.count))
        }
        row("updates") { "\($0.steps.count)" }
        row("reward, first 10% -> last 10%") { r in
            let k = max(1, r.steps.count / 10)
            return r.steps.isEmpty
                ? "" : "\(mean(r.steps.prefix(k).map(\.reward))) -> \(mean(r.steps.suffix(k).map(\.reward)))"
        }
        row("mean tokens/s") { mean($0.steps.map(\.tokensPerSecond)) }
        row("mean wait share") { mean($0.steps.map(\.waitShare)) }
        row("software") { $0.metadata?.software ?? "" }
        row("git commit") { $0.metadata?.gitCommit ?? "" }
        row("created") { $0.metadata?.createdAt ?? "" }
        row("resumed") { $0.metadata.map { $0.resumes.joined(separator: ", ") } ?? "" }
        row("task") { $0.metadata?.task ?? "" }
        row("host / cores") { $0.metadata.map { "\($0.host) / \($0.cores)" } ?? "" }
        row("OS") { $0.metadata?.os ?? "" }
        row("BLAS kernel") { $0.metadata?.blasKernel ?? "" }
        row("model parameters") { $0.metadata.map { "\($0.modelParameters)" } ?? "" }
        row("command line") { $0.metadata?.commandLine.joined(separator: " ") ?? "" }
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        h +=
            "<tr><th>config</th>"
            + runs.map { r in
                "<td><pre>\(esc(r.metadata?.config.flatMap { try? enc.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? "no metadata.json"))</pre></td>"
            }.joined() + "</tr>"
        h +=
            "<tr><th>model</th>"
            + runs.map { r in
                "<td><pre>\(esc(r.metadata?.model.flatMap { try? enc.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""))</pre></td>"
            }.joined() + "</tr>"
        h += "</table></div>\n"
        // Counts what the browser actually drew per plot (non-empty bounding boxes of data marks).
        h += """
            <script>
            for (const f of document.querySelectorAll('figure[data-plot]')) {
              let n = 0;
              for (const m of f.querySelectorAll('.mark')) { const b = m.getBBox(); if (b.width > 0 || b.height > 0) n++; }
              f.setAttribute('data-marks', String(n));
            }
            document.body.setAttribute('data-report-ready', '1');
            </script>
            </body></html>
            """
        return h
    }

    /// Writes the HTML to `out` and one PNG per plot beside it (`<stem>-<plot id>.png`). Returns the PNG paths.
    @discardableResult
    public static func write(_ runs: [RunData], out: URL) throws -> [URL] {
        let stem = out.deletingPathExtension().lastPathComponent
        try html(runs, pngStem: stem).write(to: out, atomically: true, encoding: .utf8)
        var written: [URL] = []
        for p in plots(runs) where p.hasData {
            let url = out.deletingLastPathComponent().appendingPathComponent("\(stem)-\(p.id).png")
            try p.png().write(to: url)
            written.append(url)
        }
        return written
    }
}
