// Bookkeeping of the learner's work: which prompt positions are waiting, in flight (with which actor, since
// when), completed and buffered for the next update, or must be re-issued (actor lost, deadline passed, stale,
// malformed). Pure logic, no sockets: the property that no prompt is skipped or trained on twice lives here.
// A work id names a schedule position ("p<position>"), so a re-issued item keeps its id and the first
// completion wins; later ones are duplicates. The staleness rule lives here too (StalenessRule), and only here.
import Foundation
import Run
import SoftTokens

/// When a group is too old to train on, and how much work may be outstanding so that none ever is.
public struct StalenessRule: Sendable, Equatable {
    /// Versions a group may lag the update that consumes it (0 = synchronous on-policy).
    public var maxStaleness: Int
    public var promptsPerStep: Int
    public init(maxStaleness: Int, promptsPerStep: Int) {
        self.maxStaleness = maxStaleness; self.promptsPerStep = promptsPerStep
    }

    /// Versions between the oldest rollout of `group` and the update at `version` that would consume it.
    public static func staleness(of group: [Rollout], at version: Int) -> Int {
        version - (group.map(\.policyVersion).min() ?? version)
    }
    public func isFresh(_ group: [Rollout], at version: Int) -> Bool {
        Self.staleness(of: group, at: version) <= maxStaleness
    }

    /// Issued-but-unconsumed groups allowed now, so that every one is still fresh when consumed. Work issued at
    /// version v is generated with v or newer; groups are consumed `promptsPerStep` at a time, so the j-th
    /// outstanding group is consumed at v + j / P (idle learner) or v + 1 + j / P (an update v -> v+1 running).
    /// Hence P * (S + 1) while idle and P * S while training: synchronous runs issue nothing during an update.
    public func window(updating: Bool) -> Int { promptsPerStep * (maxStaleness + (updating ? 0 : 1)) }
}

public struct WorkAssignment: Sendable, Equatable {
    public let workId: String
    public let position: Int
    public let promptIndex: Int
    public var actor: String
    public var issuedAt: Double
    public var attempts: Int
}

public enum CompletionOutcome: Equatable {
    case accepted(position: Int)
    /// The position was already completed by someone else, or consumed.
    case duplicate
    /// No such work was ever issued.
    case unknown
    /// Issued, but never to this actor.
    case notAssigned
}

public final class WorkLedger {
    public private(set) var schedule: PromptSchedule
    /// Positions to hand out again before new ones, lowest first.
    public private(set) var reissue: [Int] = []
    public private(set) var inFlight: [String: WorkAssignment] = [:]
    /// Completed groups waiting for an update, by position.
    public private(set) var buffered: [Int: [Rollout]] = [:]
    /// Actors that held a position before it went back in line: their late result still counts (first wins).
    private var formerHolders: [Int: Set<String>] = [:]
    public private(set) var reissuedCount = 0
    public private(set) var duplicateCount = 0
    /// Prompts no actor can do (quarantined): positions that draw them are skipped, neither trained nor outstanding.
    public private(set) var skippedPrompts: Set<Int> = []
    /// Positions skipped for that reason (audits: trained + outstanding + skipped = the schedule so far).
    public private(set) var skippedPositions: Set<Int> = []
    /// Times each position was dropped by an actor that could not do it.
    private var drops: [Int: Int] = [:]
    /// Issue-to-result times of recent accepted groups (seconds), newest last: what "late" means.
    public private(set) var recentDurations: [Double] = []
    static let durationWindow = 64

    public init(schedule: PromptSchedule, reissue: [Int] = []) {
        self.schedule = schedule
        self.reissue = reissue.sorted()
    }

    public static func workId(_ position: Int) -> String { "p\(position)" }
    public static func position(of workId: String) -> Int? {
        guard workId.hasPrefix("p") else { return nil }
        return Int(workId.dropFirst())
    }

    /// Positions issued but not consumed by an update: a checkpoint re-issues them on resume.
    public var outstandingPositions: [Int] {
        (reissue + inFlight.values.map(\.position) + buffered.keys).sorted()
    }
    public var outstandingCount: Int { reissue.count + inFlight.count + buffered.count }

    /// Hands up to `count` items to `actor`, keeping issued-but-unconsumed work (in flight + buffered) under `limit`.
    /// With `avoidFormerHolders`, re-issued positions go to actors that did not hold them before (the caller says
    /// so when another actor can take them); this actor then gets new positions instead.
    public func issue(to actor: String, count: Int, limit: Int, now: Double, avoidFormerHolders: Bool = false)
        -> [WorkAssignment]
    {
        var out: [WorkAssignment] = []
        while out.count < count && inFlight.count + buffered.count < limit && skippedPrompts.count < schedule.count {
            let position: Int
            var attempts = 1
            if let i = reissue.firstIndex(where: {
                !avoidFormerHolders || !(formerHolders[$0]?.contains(actor) ?? false)
            }) {
                position = reissue.remove(at: i); attempts = 2
            } else if !reissue.isEmpty {
                break // re-issued positions come first, and they are for other actors: leave the room to them
            } else {
                position = schedule.cursor
                _ = schedule.next()
            }
            if skippedPrompts.contains(schedule.index(at: position)) {
                skip(position)
                continue
            }
            let a = WorkAssignment(
                workId: Self.workId(position), position: position, promptIndex: schedule.index(at: position),
                actor: actor, issuedAt: now, attempts: attempts)
            inFlight[a.workId] = a
            out.append(a)
        }
        return out
    }

    /// Records a completed group from `actor`, which must hold the item or have held it before a re-issue.
    /// The caller validates its content and decides staleness afterwards.
    public func complete(workId: String, by actor: String, now: Double = 0) -> CompletionOutcome {
        guard let p = Self.position(of: workId), p >= 0, p < schedule.cursor else { return .unknown }
        let former = formerHolders[p]?.contains(actor) ?? false
        if let a = inFlight[workId] {
            guard a.actor == actor || former else { return .notAssigned }
            inFlight.removeValue(forKey: workId)
            formerHolders[p] = nil
            recentDurations.append(max(0, now - a.issuedAt))
            if recentDurations.count > Self.durationWindow { recentDurations.removeFirst() }
            return .accepted(position: p)
        }
        if former, let i = reissue.firstIndex(of: p) {
            // Its holder was presumed lost but was only late: take the result, skip the re-issue.
            reissue.remove(at: i)
            formerHolders[p] = nil
            return .accepted(position: p)
        }
        guard former || buffered[p] != nil || !outstandingPositions.contains(p) else { return .notAssigned }
        duplicateCount += 1
        return .duplicate
    }

    public func buffer(position: Int, group: [Rollout]) { buffered[position] = group }

    /// Sets these prompts aside: positions that draw them are skipped from now on.
    public func skipPrompts(_ promptIndices: [Int]) {
        skippedPrompts.formUnion(promptIndices)
        for p in reissue where skippedPrompts.contains(schedule.index(at: p)) { skip(p) }
    }

    private func skip(_ position: Int) {
        reissue.removeAll { $0 == position }
        formerHolders[position] = nil; drops[position] = nil
        skippedPositions.insert(position)
    }

    /// The actor holding `workId` cannot do it: it goes back in line at once (for another actor if there is one).
    /// When `counts`, the drop is counted, and at the `quarantineAfter`-th its prompt is quarantined (skipped from now
    /// on); returns that prompt index then.
    public func dropped(workId: String, counts: Bool, quarantineAfter: Int) -> Int? {
        guard let a = inFlight.removeValue(forKey: workId) else { return nil }
        formerHolders[a.position, default: []].insert(a.actor)
        if counts { drops[a.position, default: 0] += 1 }
        guard (drops[a.position] ?? 0) >= quarantineAfter else { requeue(a.position); return nil }
        skipPrompts([a.promptIndex])
        skip(a.position)
        return a.promptIndex
    }

    /// Puts a position back in line (stale, malformed, actor lost, deadline).
    public func requeue(_ position: Int) {
        if !reissue.contains(position) { reissue.append(position); reissue.sort(); reissuedCount += 1 }
    }

    /// Everything `actor` holds goes back in line. Returns how many items.
    @discardableResult
    public func actorLost(_ actor: String) -> Int {
        let mine = inFlight.values.filter { $0.actor == actor }
        for a in mine {
            inFlight.removeValue(forKey: a.workId); formerHolders[a.position, default: []].insert(a.actor);
            requeue(a.position)
        }
        return mine.count
    }

    /// Work older than `timeout` seconds goes back in line (its actor may be alive but stuck).
    @discardableResult
    public func expire(now: Double, timeout: Double) -> Int { expireAssignments(now: now, timeout: timeout).count }

    /// The same, returning what was taken back (so the caller can hold its holders to account).
    public func expireAssignments(now: Double, timeout: Double, heldBy holders: Set<String>? = nil) -> [WorkAssignment]
    {
        let late = inFlight.values.filter { now - $0.issuedAt > timeout && (holders?.contains($0.actor) ?? true) }
            .sorted { $0.position < $1.position }
        for a in late {
            inFlight.removeValue(forKey: a.workId); formerHolders[a.position, default: []].insert(a.actor);
            requeue(a.position)
        }
        return late
    }

    /// Items in flight per actor.
    public var heldCounts: [String: Int] {
        var held: [String: Int] = [:]
        for a in inFlight.values { held[a.actor, default: 0] += 1 }
        return held
    }

    /// Median issue-to-result time of recent groups, or nil before any.
    public var medianDuration: Double? {
        guard !recentDurations.isEmpty else { return nil }
        return recentDurations.sorted()[recentDurations.count / 2]
    }

    /// A group by position, if buffered (tests, audits).
    public func bufferedGroup(_ position: Int) -> [Rollout]? { buffered[position] }

    /// The `count` lowest buffered positions that are fresh at `version` under `rule`; stale ones are re-queued
    /// and counted.
    public func takeBatch(count: Int, at version: Int, rule: StalenessRule) -> (
        groups: [(position: Int, rollouts: [Rollout])], stale: Int
    ) {
        takeBatch(count: count) { rule.isFresh($0, at: version) }
    }

    /// The `count` lowest buffered positions whose groups pass `fresh`; stale ones are re-queued and reported.
    public func takeBatch(count: Int, fresh: ([Rollout]) -> Bool) -> (
        groups: [(position: Int, rollouts: [Rollout])], stale: Int
    ) {
        var stale = 0
        for p in buffered.keys.sorted() where !fresh(buffered[p]!) {
            buffered.removeValue(forKey: p); requeue(p); stale += 1
        }
        guard buffered.count >= count else { return ([], stale) }
        let chosen = buffered.keys.sorted().prefix(count)
        return (chosen.map { p in (p, buffered.removeValue(forKey: p)!) }, stale)
    }
}
