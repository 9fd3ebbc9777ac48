// The evaluation table `softrl eval` and `softrl local` print: one row per report (greedy pass@1, sampled pass@1,
// pass@k, mean thinking length, each with its standard error), a footnote with what was measured.
import Foundation

public enum EvalTable {
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    public static func render(_ reports: [EvalReport], labels: [String]? = nil) -> String {
        guard let first = reports.first else { return "" }
        let ks = first.passAtK.keys.sorted().filter { $0 > 1 }
        let columns = ["greedy@1", "pass@1"] + ks.map { "pass@\($0)" } + ["cot"]
        let width = max(18, (labels ?? []).map(\.count).max() ?? 0) + 2
        let cellWidth = 15
        var lines = [pad("model / inference", width) + columns.map { pad($0, cellWidth) }.joined()]
        // Each value with its standard error when the report has one.
        func cell(_ v: Double, _ se: Double?, _ format: String = "%.3f") -> String {
            String(format: format, v) + (se.map { " ±" + String(format: format, $0) } ?? "")
        }
        for (i, r) in reports.enumerated() {
            let values =
                [cell(r.greedyPass1, r.greedyPass1SE), cell(r.sampledPass1, r.sampledPass1SE)]
                + ks.map { cell(r.passAtK[$0] ?? 0, r.passAtKSE?[$0]) }
            let cells = values.map { pad($0, cellWidth) } + [cell(r.meanThinkingLength, r.meanThinkingLengthSE, "%.2f")]
            lines.append(pad(labels?[i] ?? r.inference, width) + cells.joined())
        }
        lines.append(
            "(\(first.problems) test problems, \(first.samples) samples each, \(first.inference) inference; ± one standard error: binomial for greedy@1, over problems otherwise)"
        )
        return lines.joined(separator: "\n")
    }
}
