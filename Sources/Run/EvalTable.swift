// The evaluation table `softrl eval` and `softrl local` print: one row per report (greedy pass@1, sampled pass@1,
// pass@k, mean thinking length), a footnote with what was measured.
import Foundation

public enum EvalTable {
    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

    public static func render(_ reports: [EvalReport], labels: [String]? = nil) -> String {
        guard let first = reports.first else { return "" }
        let ks = first.passAtK.keys.sorted().filter { $0 > 1 }
        let columns = ["greedy@1", "pass@1"] + ks.map { "pass@\($0)" } + ["cot"]
        let width = max(18, (labels ?? []).map(\.count).max() ?? 0) + 2
        var lines = [pad("model / inference", width) + columns.map { pad($0, 9) }.joined()]
        for (i, r) in reports.enumerated() {
            let values = [r.greedyPass1, r.sampledPass1] + ks.map { r.passAtK[$0] ?? 0 }
            let cells = values.map { pad(String(format: "%.3f", $0), 9) } + [String(format: "%.1f", r.meanThinkingLength)]
            lines.append(pad(labels?[i] ?? r.inference, width) + cells.joined())
        }
        lines.append("(\(first.problems) test problems, \(first.samples) samples each, \(first.inference) inference)")
        return lines.joined(separator: "\n")
    }
}
