// The learner's per-step record: one JSON object per line in RUN_DIR/metrics.jsonl (machine-readable; field
// names are stable) and one human line on stdout. Throughput, staleness and the behaviour-vs-learner
// log-prob gap sit beside the RL numbers, so a stale or stuck cluster shows in the same line as the loss.
import Foundation
import Run

public struct StepMetrics: Encodable, Sendable {
    /// The update's own numbers (step, policyVersion, loss, rewardMean, rewardStd, correctRate, gradNorm,
    /// learningRate, thinkingLength, logProbGap, meanRatio, clippedFraction, ...), written at the top level.
    public var update = UpdateReport()
    public var time = ""
    /// Generated positions per second across the cluster, since the previous step.
    public var clusterTokensPerSecond = 0.0
    public var rolloutsPerSecond = 0.0
    public var learnerStepMs = 0.0
    /// Share of wall time since the previous step that the learner spent waiting for rollouts.
    public var learnerWaitShare = 0.0
    /// Staleness (versions behind) of the groups in this step -> count.
    public var stalenessHistogram: [String: Int] = [:]
    public var droppedStale = 0
    public var reissued = 0
    public var duplicates = 0
    public var malformed = 0
    public var actorsConnected = 0
    public var actorTokensPerSecond: [String: Double] = [:]
    /// Share of the time since the previous step each actor spent generating (1 - its idle share).
    public var actorBusyShare: [String: Double] = [:]
    /// Items taken back from slow holders and given to idle actors while the learner waited (cumulative).
    public var speculated = 0
    /// Hello messages refused because a live actor held the id (cumulative).
    public var refusedDuplicateIds = 0
    /// Train problems quarantined so far: unfit for the model at start (skip mode) or dropped by actors repeatedly.
    public var quarantined = 0
    /// Relays demoted to leaves so far for failing their children.
    public var demotedRelays = 0
    /// Prompt-schedule positions trained on in this step (audits that no prompt is skipped or used twice).
    public var positions: [Int] = []
    /// Per actor that made groups of this step: mean |learner - behaviour| log-prob per action of those groups.
    public var actorLogProbGap: [String: Double] = [:]

    enum CodingKeys: String, CodingKey {
        case time, clusterTokensPerSecond, rolloutsPerSecond, learnerStepMs, learnerWaitShare, stalenessHistogram
        case droppedStale, reissued, duplicates, malformed, actorsConnected, actorTokensPerSecond, positions
        case actorBusyShare, speculated, refusedDuplicateIds, actorLogProbGap, quarantined, demotedRelays
    }

    /// One flat JSON object: the update's keys and the cluster's side by side.
    public func encode(to encoder: Encoder) throws {
        try update.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(time, forKey: .time)
        try c.encode(clusterTokensPerSecond, forKey: .clusterTokensPerSecond)
        try c.encode(rolloutsPerSecond, forKey: .rolloutsPerSecond)
        try c.encode(learnerStepMs, forKey: .learnerStepMs)
        try c.encode(learnerWaitShare, forKey: .learnerWaitShare)
        try c.encode(stalenessHistogram, forKey: .stalenessHistogram)
        try c.encode(droppedStale, forKey: .droppedStale)
        try c.encode(reissued, forKey: .reissued)
        try c.encode(duplicates, forKey: .duplicates)
        try c.encode(malformed, forKey: .malformed)
        try c.encode(actorsConnected, forKey: .actorsConnected)
        try c.encode(actorTokensPerSecond, forKey: .actorTokensPerSecond)
        try c.encode(positions, forKey: .positions)
        try c.encode(actorBusyShare, forKey: .actorBusyShare)
        try c.encode(speculated, forKey: .speculated)
        try c.encode(refusedDuplicateIds, forKey: .refusedDuplicateIds)
        try c.encode(actorLogProbGap, forKey: .actorLogProbGap)
        try c.encode(quarantined, forKey: .quarantined)
        try c.encode(demotedRelays, forKey: .demotedRelays)
    }

    public var humanLine: String {
        let u = update
        let gap =
            u.logProbGapActions > 0
            ? String(format: "%.1e", u.logProbGap) : String(format: "%.1e (stale)", u.logProbGapAll)
        return String(
            format:
                "step %d | loss %.4f | reward %.3f | correct %.3f | policy v%d | staleness %@ | %.0f tok/s | %d actors | wait %.0f%% | gap %@ | %.0f ms%@",
            u.step, u.loss, u.rewardMean, u.correctRate, u.policyVersion,
            stalenessHistogram.keys.sorted().map { "\($0):\(stalenessHistogram[$0]!)" }.joined(separator: ","),
            clusterTokensPerSecond, actorsConnected, learnerWaitShare * 100, gap, learnerStepMs,
            u.skipped ? " | SKIPPED (non-finite)" : "")
    }
}

public final class MetricsLog {
    let handle: FileHandle?
    public init(runDirectory: URL) {
        let url = runDirectory.appendingPathComponent("metrics.jsonl")
        if !FileManager.default.fileExists(atPath: url.path) {
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
    }
    public func append(_ m: StepMetrics) {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        // A skipped step has a NaN gradient norm; JSON has no NaN, so write it as a string rather than lose the line.
        enc.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? enc.encode(m) else { return }
        handle?.write(data + Data("\n".utf8))
    }
}
