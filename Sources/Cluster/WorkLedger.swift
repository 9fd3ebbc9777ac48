// Bookkeeping of the learner's work: which prompt positions are waiting, in flight (with which actor, since
// when), completed and buffered for the next update, or must be re-issued (actor lost, deadline passed, stale,
// malformed). Pure logic, no sockets: the property that no prompt is skipped or trained on twice lives here.
// A work id names a schedule position ("p<position>"), so a re-issued item keeps its id and the first
// completion wins; later ones are duplicates.
import Foundation
import PolicyGradient
import SoftTokens

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
    public func issue(to actor: String, count: Int, limit: Int, now: Double) -> [WorkAssignment] {
        var out: [WorkAssignment] = []
        while out.count < count && inFlight.count + buffered.count < limit {
            let position: Int
            var attempts = 1
            if !reissue.isEmpty {
                position = reissue.removeFirst(); attempts = 2
            } else {
                position = schedule.cursor
                _ = schedule.next()
            }
            let a = WorkAssignment(workId: Self.workId(position), position: position, promptIndex: schedule.index(at: position),
                                   actor: actor, issuedAt: now, attempts: attempts)
            inFlight[a.workId] = a
            out.append(a)
        }
        return out
    }

    /// Records a completed group from `actor`, which must hold the item or have held it before a re-issue.
    /// The caller validates its content and decides staleness afterwards.
    public func complete(workId: String, by actor: String) -> CompletionOutcome {
        guard let p = Self.position(of: workId), p >= 0, p < schedule.cursor else { return .unknown }
        let former = formerHolders[p]?.contains(actor) ?? false
        if let a = inFlight[workId] {
            guard a.actor == actor || former else { return .notAssigned }
            inFlight.removeValue(forKey: workId)
            formerHolders[p] = nil
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

    /// Puts a position back in line (stale, malformed, actor lost, deadline).
    public func requeue(_ position: Int) {
        if !reissue.contains(position) { reissue.append(position); reissue.sort(); reissuedCount += 1 }
    }

    /// Everything `actor` holds goes back in line. Returns how many items.
    @discardableResult
    public func actorLost(_ actor: String) -> Int {
        let mine = inFlight.values.filter { $0.actor == actor }
        for a in mine { inFlight.removeValue(forKey: a.workId); formerHolders[a.position, default: []].insert(a.actor); requeue(a.position) }
        return mine.count
    }

    /// Work older than `timeout` seconds goes back in line (its actor may be alive but stuck).
    @discardableResult
    public func expire(now: Double, timeout: Double) -> Int {
        let late = inFlight.values.filter { now - $0.issuedAt > timeout }
        for a in late { inFlight.removeValue(forKey: a.workId); formerHolders[a.position, default: []].insert(a.actor); requeue(a.position) }
        return late.count
    }

    /// The `count` lowest buffered positions whose groups pass `fresh`; stale ones are re-queued and reported.
    public func takeBatch(count: Int, fresh: ([Rollout]) -> Bool) -> (groups: [(position: Int, rollouts: [Rollout])], stale: Int) {
        var stale = 0
        for p in buffered.keys.sorted() where !fresh(buffered[p]!) {
            buffered.removeValue(forKey: p); requeue(p); stale += 1
        }
        guard buffered.count >= count else { return ([], stale) }
        let chosen = buffered.keys.sorted().prefix(count)
        return (chosen.map { p in (p, buffered.removeValue(forKey: p)!) }, stale)
    }
}
