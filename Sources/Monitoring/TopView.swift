// `softrl top`: what an operator watches while a run trains. A snapshot is read from the learner's Prometheus
// endpoint (live: actors with busy slots, versions, last seen) or from a run directory (metrics.jsonl, plus the
// endpoint named in RUN_DIR/metrics.endpoint while the learner serves one). `render` lays it out for a terminal;
// `plainLine` is the one-line form for logs and pipes. Both are pure functions of the snapshot.
import Foundation

public struct TopActor: Sendable, Equatable {
    public var id: String
    public var tokensPerSecond: Double
    public var busySlots: Int?
    public var slots: Int?
    public var version: Int?
    public var lastSeenSeconds: Double?
    public init(
        id: String, tokensPerSecond: Double, busySlots: Int? = nil, slots: Int? = nil, version: Int? = nil,
        lastSeenSeconds: Double? = nil
    ) {
        self.id = id; self.tokensPerSecond = tokensPerSecond; self.busySlots = busySlots; self.slots = slots;
        self.version = version; self.lastSeenSeconds = lastSeenSeconds
    }
}

public struct TopSnapshot: Sendable {
    public var source = ""
    public var live = false
    public var policyVersion = 0
    public var updates = 0
    public var stepSeconds = 0.0 // mean update time
    public var waitShare = 0.0
    public var tokensPerSecond = 0.0
    public var reward = 0.0
    public var correctRate = 0.0
    /// Staleness (versions) -> groups trained at that staleness, over the run so far.
    public var staleness: [Int: Int] = [:]
    public var actors: [TopActor] = []
    public var rewardHistory: [Double] = []
    public var tokensHistory: [Double] = []
    public var note = ""
    public init() {}
}

public enum TopSource {
    /// Reads a snapshot from `target`: a run directory, or an endpoint (HOST:PORT or http://HOST:PORT/metrics).
    /// `history` carries reward/tokens samples between refreshes of an endpoint (a run directory has its own).
    public static func read(_ target: String, history: inout (reward: [Double], tokens: [Double], lastUpdate: Int))
        throws -> TopSnapshot
    {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDir), isDir.boolValue {
            let run = RunData.load(URL(fileURLWithPath: target))
            var s = TopSnapshot()
            s.source = run.directory.path
            if let last = run.steps.last {
                s.policyVersion = last.policyVersion; s.updates = last.step; s.waitShare = last.waitShare
                s.tokensPerSecond = last.tokensPerSecond; s.reward = last.reward; s.correctRate = last.correctRate
                s.actors = last.actorTokensPerSecond.sorted { $0.key < $1.key }.map {
                    TopActor(id: $0.key, tokensPerSecond: $0.value)
                }
            }
            let recent = run.steps.suffix(20)
            s.stepSeconds = recent.isEmpty ? 0 : recent.map(\.stepMs).reduce(0, +) / Double(recent.count) / 1000
            for r in run.steps { for (k, n) in r.staleness { s.staleness[k, default: 0] += n } }
            s.rewardHistory = run.steps.map(\.reward); s.tokensHistory = run.steps.map(\.tokensPerSecond)
            if run.steps.isEmpty { s.note = "no updates yet in \(run.directory.path)/metrics.jsonl" }
            if let ep = run.endpoint, let live = try? fromEndpoint(ep) {
                s.live = true
                s.source += " + " + ep
                s.actors = live.actors
                s.policyVersion = max(s.policyVersion, live.policyVersion)
            }
            return s
        }
        var s = try fromEndpoint(target)
        if s.updates != history.lastUpdate {
            history.lastUpdate = s.updates
            history.reward.append(s.reward); history.tokens.append(s.tokensPerSecond)
            history.reward = Array(history.reward.suffix(200)); history.tokens = Array(history.tokens.suffix(200))
        }
        s.rewardHistory = history.reward; s.tokensHistory = history.tokens
        return s
    }

    public static func endpointURL(_ target: String) -> String {
        var t = target
        if !t.hasPrefix("http://") { t = "http://" + t }
        if !t.dropFirst(7).contains("/") { t += "/metrics" }
        return t
    }

    static func fromEndpoint(_ target: String) throws -> TopSnapshot {
        let url = endpointURL(target)
        let samples = Exposition.parse(try MetricsHTTPClient.get(url))
        var s = TopSnapshot()
        s.source = url; s.live = true
        guard samples.value("softrl_learner_policy_version") != nil else {
            if samples.value("softrl_actor_policy_version") != nil {
                s.note = "this is an actor's endpoint; point top at the learner's"
            } else {
                s.note = "no softrl learner metrics at \(url)"
            }
            return s
        }
        s.policyVersion = Int(samples.value("softrl_learner_policy_version") ?? 0)
        s.updates = Int(samples.value("softrl_learner_updates_total") ?? 0)
        let sum = samples.value("softrl_learner_update_duration_seconds_sum") ?? 0,
            count = samples.value("softrl_learner_update_duration_seconds_count") ?? 0
        s.stepSeconds = count > 0 ? sum / count : 0
        s.waitShare = samples.value("softrl_learner_wait_ratio") ?? 0
        s.tokensPerSecond = samples.value("softrl_learner_cluster_tokens_per_second") ?? 0
        s.reward = samples.value("softrl_learner_reward_mean") ?? 0
        s.correctRate = samples.value("softrl_learner_correct_ratio") ?? 0
        // Cumulative buckets -> groups per staleness value (buckets are the integers 0,1,2,3,4,8,16).
        let buckets = samples.filter { $0.name == "softrl_learner_group_staleness_versions_bucket" }
            .compactMap { b -> (Double, Double)? in
                b.labels["le"].flatMap { $0 == "+Inf" ? .infinity : Double($0) }.map { ($0, b.value) }
            }
            .sorted { $0.0 < $1.0 }
        var previous = 0.0
        for (le, c) in buckets where le.isFinite {
            if c - previous > 0 { s.staleness[Int(le)] = Int(c - previous) }; previous = c
        }
        var ids = Set<String>()
        for x in samples where x.name.hasPrefix("softrl_learner_actor") {
            if let id = x.labels["actor"] { ids.insert(id) }
        }
        s.actors = ids.sorted().map { id in
            let l = ["actor": id]
            return TopActor(
                id: id, tokensPerSecond: samples.value("softrl_learner_actor_tokens_per_second", l) ?? 0,
                busySlots: samples.value("softrl_learner_actor_busy_slots", l).map { Int($0) },
                slots: samples.value("softrl_learner_actor_slots", l).map { Int($0) },
                version: samples.value("softrl_learner_actor_policy_version", l).map { Int($0) },
                lastSeenSeconds: samples.value("softrl_learner_actor_last_seen_seconds", l))
        }
        return s
    }
}

public enum TopView {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The last `width` values as a bar per value, scaled between their min and max.
    public static func sparkline(_ values: [Double], width: Int) -> String {
        let v = values.suffix(width).filter(\.isFinite)
        guard let lo = v.min(), let hi = v.max() else { return "" }
        return String(v.map { x in hi - lo < 1e-12 ? blocks[3] : blocks[min(7, Int((x - lo) / (hi - lo) * 7.999))] })
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? String(s.prefix(n)) : s + String(repeating: " ", count: n - s.count)
    }
    static func num(_ x: Double) -> String {
        x >= 1000 ? String(format: "%.0f", x) : x >= 10 ? String(format: "%.1f", x) : String(format: "%.3f", x)
    }

    /// Full-screen text (lines without the escape codes; the command adds cursor movement).
    public static func render(_ s: TopSnapshot, width: Int = 100, now: String = "") -> [String] {
        let w = max(60, width)
        var lines: [String] = []
        lines.append(pad("softrl top  \(s.live ? "LIVE" : "from files")  \(s.source)", w - now.count) + now)
        if !s.note.isEmpty { lines.append("  \(s.note)") }
        lines.append("")
        lines.append(
            "LEARNER  policy v\(s.policyVersion)  updates \(s.updates)  step \(String(format: "%.0f", s.stepSeconds * 1000)) ms  wait \(String(format: "%.0f", s.waitShare * 100))%  "
                + "\(String(format: "%.0f", s.tokensPerSecond)) tok/s  reward \(String(format: "%.3f", s.reward))  correct \(String(format: "%.3f", s.correctRate))"
        )
        let spark = max(10, w - 24)
        lines.append(
            "  reward    " + pad(sparkline(s.rewardHistory, width: spark), spark) + " "
                + num(s.rewardHistory.last ?? s.reward))
        lines.append(
            "  tokens/s  " + pad(sparkline(s.tokensHistory, width: spark), spark) + " "
                + num(s.tokensHistory.last ?? s.tokensPerSecond))
        lines.append("  staleness (versions behind -> groups trained)")
        let total = max(1, s.staleness.values.reduce(0, +))
        if s.staleness.isEmpty { lines.append("    (none yet)") }
        for k in s.staleness.keys.sorted() {
            let n = s.staleness[k]!
            let bar = String(repeating: "█", count: max(1, Int(Double(n) / Double(total) * Double(w - 30))))
            lines.append("    \(pad(String(k), 3)) \(bar) \(n)")
        }
        lines.append("")
        lines.append("ACTORS (\(s.actors.count))")
        lines.append("  " + pad("id", 20) + pad("tokens/s", 11) + pad("busy", 8) + pad("version", 9) + "last seen")
        for a in s.actors {
            let busy = a.busySlots.map { b in a.slots.map { "\(b)/\($0)" } ?? "\(b)" } ?? "-"
            let ver = a.version.map { $0 < 0 ? "none" : "v\($0)" } ?? "-"
            let seen = a.lastSeenSeconds.map { String(format: "%.1f s ago", $0) } ?? "-"
            lines.append(
                "  " + pad(a.id, 20) + pad(String(format: "%.0f", a.tokensPerSecond), 11) + pad(busy, 8) + pad(ver, 9)
                    + seen)
        }
        if s.actors.isEmpty { lines.append("  (no actors connected)") }
        return lines
    }

    /// One line per refresh when stdout is not a terminal.
    public static func plainLine(_ s: TopSnapshot, time: String) -> String {
        let actors = s.actors.map { a in
            "\(a.id) \(String(format: "%.0f", a.tokensPerSecond)) tok/s" + (a.busySlots.map { " busy \($0)" } ?? "")
                + (a.version.map { " v\($0)" } ?? "")
        }.joined(separator: ", ")
        return
            "\(time) | policy v\(s.policyVersion) | updates \(s.updates) | reward \(String(format: "%.3f", s.reward)) | correct \(String(format: "%.3f", s.correctRate)) | "
            + "\(String(format: "%.0f", s.tokensPerSecond)) tok/s | wait \(String(format: "%.0f", s.waitShare * 100))% | step \(String(format: "%.0f", s.stepSeconds * 1000)) ms | "
            + "actors \(s.actors.count)" + (actors.isEmpty ? "" : " (\(actors))")
            + (s.note.isEmpty ? "" : " | \(s.note)")
    }
}
