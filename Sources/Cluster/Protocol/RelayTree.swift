// Who fetches a weights version from whom. The learner serves `fanout` first-level receivers; every actor that
// relays serves `fanout` more, so a version reaches N actors through about log_fanout(N) hops instead of N
// transfers over the learner's one link. The tree is a k-ary heap over the actors, relays first: node i's parent
// is node i/k - 1 (the learner for i < k). Relays are placed by delivery, not by joining order: those that have
// delivered a version to a child (the learner judges, LearnerCore) come first, in the order they proved it, then
// the untried ones in joining order; a relay that failed its children is demoted to a leaf for good (a peer that
// joins first and answers only with heartbeats no longer sits above every real actor). Joining appends, so the nodes already placed keep their
// parents and a late joiner's parent already holds (or is fetching) the current version. Leaving removes a node
// and shifts the later ones: the tree is repaired at the next version (its children meanwhile fail over to their
// grandparent, the next source in their list). Pure: the learner core owns one and asks it for each notice.
import Foundation

public struct RelayTree: Sendable {
    /// Children per node, the learner included; 0 turns relays off (everyone fetches from the learner).
    public let fanout: Int
    /// Sources listed per actor: its ancestors, nearest first, up to this many (the learner is always implicit last).
    public static let maxSources = 4
    /// Actors that relay, then actors that do not, each in joining order.
    private(set) var relays: [(id: String, endpoint: String, key: String)] = []
    private(set) var leaves: [String] = []
    /// Node index of each member (relays 0..<relays.count, then leaves); rebuilt lazily after a leave.
    private var index: [String: Int] = [:]
    private var indexStale = false
    /// Relays that delivered; they are the first `provenCount` entries of `relays`.
    private var proven: Set<String> = []
    /// Ids demoted for failing their children: they stay leaves, also when they join again.
    private(set) var demoted: Set<String> = []
    static let maxDemoted = 10_000

    public init(fanout: Int) { self.fanout = max(0, fanout) }

    public var count: Int { relays.count + leaves.count }

    /// Adds an actor at the end of the joining order. An actor already present keeps its place unless it changed
    /// between relaying and not (or its endpoint), which moves it to the end.
    /// `key`: the relay's CURVE public key ("" = plaintext).
    public mutating func join(_ id: String, endpoint: String?, key: String = "") {
        let endpoint = (endpoint ?? "").isEmpty || demoted.contains(id) ? nil : endpoint
        if indexStale { rebuildIndex() }
        if let i = index[id] {
            if (i < relays.count ? relays[i].endpoint : nil) == endpoint && (i >= relays.count || relays[i].key == key)
            {
                return
            }
            leave(id)
            rebuildIndex()
        }
        if let endpoint {
            relays.append((id, endpoint, key))
            if leaves.isEmpty { index[id] = relays.count - 1 } else { indexStale = true } // every leaf moves up one
        } else {
            leaves.append(id)
            index[id] = relays.count + leaves.count - 1
        }
    }

    public mutating func leave(_ id: String) {
        if indexStale { rebuildIndex() }
        guard let i = index.removeValue(forKey: id) else { return }
        if i < relays.count { relays.remove(at: i) } else { leaves.remove(at: i - relays.count) }
        proven.remove(id)
        indexStale = true
    }

    public func isProven(_ id: String) -> Bool { proven.contains(id) }
    public func isRelay(_ id: String) -> Bool { relays.contains { $0.id == id } }

    /// `id` delivered a version to a child: it moves ahead of the relays that have not (yet) done so.
    public mutating func delivered(_ id: String) {
        guard !proven.contains(id), let i = relays.firstIndex(where: { $0.id == id }) else { return }
        let r = relays.remove(at: i)
        relays.insert(r, at: proven.count)
        proven.insert(id)
        indexStale = true
    }

    /// `id` failed its children: it becomes a leaf (its own fetches go on), and stays one if it joins again.
    public mutating func demote(_ id: String) {
        guard let i = relays.firstIndex(where: { $0.id == id }) else { return }
        relays.remove(at: i)
        proven.remove(id)
        leaves.append(id)
        if demoted.count >= Self.maxDemoted { demoted.removeAll() }
        demoted.insert(id)
        indexStale = true
    }

    /// The relays `id` fetches from, nearest first, by id.
    public mutating func ancestorIds(of id: String) -> [String] { ancestors(of: id).map { relays[$0].id } }

    /// Relay endpoints `id` should fetch from, nearest ancestor first; empty = straight from the learner.
    public mutating func sources(of id: String) -> [String] { ancestors(of: id).map { relays[$0].endpoint } }

    /// The same with each relay's CURVE public key ("" = plaintext).
    public mutating func sourcesWithKeys(of id: String) -> (endpoints: [String], keys: [String]) {
        let a = ancestors(of: id)
        return (a.map { relays[$0].endpoint }, a.map { relays[$0].key })
    }

    private mutating func ancestors(of id: String) -> [Int] {
        guard fanout > 0 else { return [] }
        if indexStale { rebuildIndex() }
        guard var node = index[id] else { return [] }
        var out: [Int] = []
        while out.count < Self.maxSources, let p = parent(of: node) {
            out.append(p)
            node = p
        }
        return out
    }

    /// The parent node of `node`, nil for the learner. A leaf can never be a parent: if the heap position falls on
    /// one (more leaves than the relays can carry), the learner takes the node.
    func parent(of node: Int) -> Int? {
        guard node >= fanout else { return nil }
        let p = node / fanout - 1
        return p < relays.count ? p : nil
    }

    private mutating func rebuildIndex() {
        index.removeAll(keepingCapacity: true)
        for (i, r) in relays.enumerated() { index[r.id] = i }
        for (i, l) in leaves.enumerated() { index[l] = relays.count + i }
        indexStale = false
    }
}
