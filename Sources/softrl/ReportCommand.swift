// `softrl report RUN_DIR [RUN_DIR ...] [--out report.html]`: the run(s) as one self-contained HTML page plus PNG
// plots beside it. Layout is in Monitoring/Report.swift.
import ArgumentParser
import Foundation
import Monitoring

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "One self-contained HTML report (and PNG plots) of a run, or of several runs side by side.")
    @Argument(help: "Run directories (softrl local --run-dir or softrl learner --run-dir).") var runs: [String]
    @Option(
        help:
            "HTML file to write (PNGs go beside it). Default: RUN_DIR/report.html for one run, report.html for several."
    ) var out: String?

    func validate() throws { if runs.isEmpty { throw CLIError("give at least one run directory") } }

    func run() throws {
        let data = runs.map { RunData.load(URL(fileURLWithPath: $0)) }
        for d in data where d.steps.isEmpty {
            throw CLIError(
                "\(d.directory.path) has no metrics.jsonl with updates: is it a run directory (softrl local --run-dir / softrl learner --run-dir)?"
            )
        }
        let target = URL(
            fileURLWithPath: out
                ?? (runs.count == 1
                    ? URL(fileURLWithPath: runs[0]).appendingPathComponent("report.html").path : "report.html"))
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let pngs = try RunReport.write(data, out: target)
        print(
            "wrote \(target.path) and \(pngs.count) PNG plot(s): \(pngs.map(\.lastPathComponent).joined(separator: ", "))"
        )
    }
}
