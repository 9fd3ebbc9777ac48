// A run directory as the views read it: metrics.jsonl (one object per update), metadata.json, eval.json.
// Accepts the directory `softrl learner --run-dir` wrote or the one `softrl local --run-dir` wrote (its learner's
// files are in cluster/). Lines that do not parse are skipped (a run still being written may end mid-line).
import Foundation
import Run

public struct StepRecord: Sendable {
    public var step = 0, policyVersion = 0
    public var reward = 0.0, correctRate = 0.0, loss = 0.0, gradNorm = 0.0
    public var tokensPerSecond = 0.0, waitShare = 0.0, stepMs = 0.0, logProbGap = 0.0
    public var staleness: [Int: Int] = [:]
    public var actorTokensPerSecond: [String: Double] = [:]
    public var actorsConnected = 0
    public var time = ""

    init?(_ o: [String: Any]) {
        guard let s = o["step"] as? Int else { return nil }
        func d(_ k: String) -> Double { (o[k] as? Double) ?? (o[k] as? Int).map(Double.init) ?? .nan }
        step = s; policyVersion = (o["policyVersion"] as? Int) ?? s
        reward = d("rewardMean"); correctRate = d("correctRate"); loss = d("loss"); gradNorm = d("gradNorm")
        tokensPerSecond = d("clusterTokensPerSecond"); waitShare = d("learnerWaitShare"); stepMs = d("learnerStepMs");
        logProbGap = d("logProbGap")
        for (k, v) in (o["stalenessHistogram"] as? [String: Int]) ?? [:] { if let i = Int(k) { staleness[i] = v } }
        for (k, v) in (o["actorTokensPerSecond"] as? [String: Any]) ?? [:] {
            actorTokensPerSecond[k] = (v as? Double) ?? (v as? Int).map(Double.init) ?? 0
        }
        actorsConnected = (o["actorsConnected"] as? Int) ?? 0
        time = (o["time"] as? String) ?? ""
    }

    public var meanStaleness: Double {
        let n = staleness.values.reduce(0, +)
        return n == 0 ? 0 : Double(staleness.reduce(0) { $0 + $1.key * $1.value }) / Double(n)
    }
}

/// Base-vs-after evaluation of a `softrl local` run: RUN_DIR/cluster/eval.json, and TensorBoard `eval/*` scalars.
public struct EvalRecord: Codable {
    public var base: EvalReport
    public var after: EvalReport
    public init(base: EvalReport, after: EvalReport) { self.base = base; self.after = after }

    /// Writes eval.json and eval scalars into RUN_DIR/tb (base at step 0, after at the run's last step).
    public func write(to runDirectory: URL) throws {
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(self).write(to: runDirectory.appendingPathComponent("eval.json"), options: .atomic)
        let lastStep = RunData.load(runDirectory).steps.last?.step ?? 0
        let tb = try TensorBoardWriter(directory: runDirectory.appendingPathComponent("tb"))
        defer { tb.close() }
        for (report, step) in [(base, 0), (after, lastStep)] {
            var values: [(String, Double)] = [("eval/greedy_pass@1", report.greedyPass1)]
            for (k, v) in report.passAtK.sorted(by: { $0.key < $1.key }) { values.append(("eval/pass@\(k)", v)) }
            try tb.scalars(values, step: step)
        }
    }
}

public struct RunData {
    public var directory: URL
    public var name: String
    public var steps: [StepRecord] = []
    public var metadata: RunMetadata?
    public var eval: EvalRecord?
    /// The learner's metrics endpoint if it is serving (RUN_DIR/metrics.endpoint).
    public var endpoint: String?

    /// The learner's directory inside `path`: `path` itself if it holds metrics.jsonl, else `path/cluster`.
    public static func learnerDirectory(_ path: URL) -> URL {
        let fm = FileManager.default
        if fm.fileExists(atPath: path.appendingPathComponent("metrics.jsonl").path) { return path }
        let c = path.appendingPathComponent("cluster")
        return fm.fileExists(atPath: c.path) ? c : path
    }

    public static func load(_ path: URL) -> RunData {
        let dir = learnerDirectory(path)
        let base = path.standardizedFileURL.lastPathComponent
        var r = RunData(directory: dir, name: base)
        if let text = try? String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8) {
            r.steps = text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).flatMap(StepRecord.init)
            }
        }
        r.metadata = RunMetadata.read(dir)
        if let data = try? Data(contentsOf: dir.appendingPathComponent("eval.json")) {
            r.eval = try? JSONDecoder().decode(EvalRecord.self, from: data)
        }
        r.endpoint = (try? String(contentsOf: dir.appendingPathComponent("metrics.endpoint"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return r
    }
}
