// The time and the wires of the in-memory cluster: an event queue (discrete events in time order) and the link
// models a frame crosses between two nodes. InstantLink is a queue (tests: every frame arrives at once, in the
// order sent); SharedUplinks charges bandwidth and latency (the delivery simulation of `softrl bench cluster`).
// Any other model plugs in through LinkModel.
import DequeModule
import Foundation
import HeapModule

/// A node of the in-memory network: the learner, one member (by its index in InMemoryCluster.everyone), or a
/// hand-written peer known only by its address.
public enum Node: Hashable, Sendable {
    case learner
    case actor(Int)
    case peer(Data)
}

/// Discrete events in time order; events at the same time run in the order they were scheduled.
public final class EventQueue {
    struct Entry: Comparable {
        let time: Double
        let seq: Int
        let action: () -> Void
        static func < (a: Entry, b: Entry) -> Bool { (a.time, a.seq) < (b.time, b.seq) }
        static func == (a: Entry, b: Entry) -> Bool { a.seq == b.seq }
    }

    private var heap = Heap<Entry>()
    private var seq = 0
    public private(set) var now: Double
    /// Events run at one instant before the queue calls it a livelock (protocol cores that answer each other for ever).
    public static let maxEventsPerInstant = 10_000_000

    public init(start: Double = 0) { now = start }

    public var isEmpty: Bool { heap.isEmpty }

    /// Drops every pending event: their closures hold whatever scheduled them (a cluster holding this queue).
    public func removeAll() { heap = Heap<Entry>() }
    public var nextTime: Double? { heap.min?.time }

    /// Runs `action` at `time` (never before now).
    public func at(_ time: Double, _ action: @escaping () -> Void) {
        seq += 1
        heap.insert(Entry(time: max(time, now), seq: seq, action: action))
    }

    /// Runs every event due by `time`, including those they schedule up to it; then the clock reads `time`.
    /// Returns false if one instant did not settle within maxEventsPerInstant events.
    @discardableResult
    public func run(until time: Double) -> Bool {
        var atInstant = 0, instant = -Double.infinity
        while let next = heap.min, next.time <= time {
            _ = heap.popMin()
            if next.time == instant { atInstant += 1 } else { instant = next.time; atInstant = 0 }
            if atInstant > Self.maxEventsPerInstant { return false }
            now = next.time
            next.action()
        }
        now = max(now, time)
        return true
    }

    /// Runs the next event; false when there is none.
    public func runNext() -> Bool {
        guard let next = heap.popMin() else { return false }
        now = next.time
        next.action()
        return true
    }
}

/// How frames cross from one node to another.
public protocol LinkModel: AnyObject {
    /// A frame costing `bytes` leaves `from` for `to` at `queue.now`: schedule `arrive` for when it is there.
    func carry(_ bytes: Int, from: Node, to: Node, on queue: EventQueue, arrive: @escaping () -> Void)
    /// What one weights chunk costs on the wire (a small stand-in blob may model a big one).
    func chunkCost(actualBytes: Int) -> Int
    /// Seconds a receiver still spends on a version of `chunks` chunks after the last one arrived (its SHA-256).
    func checkSeconds(chunks: Int) -> Double
    /// Drops the frames still queued (their arrival closures hold the cluster that sent them).
    func dropPending()
}

extension LinkModel {
    public func dropPending() {}
}

/// Queues without delay: every frame arrives at the instant it was sent, in the order sent. What tests use.
public final class InstantLink: LinkModel {
    public init() {}
    public func carry(_ bytes: Int, from: Node, to: Node, on queue: EventQueue, arrive: @escaping () -> Void) {
        queue.at(queue.now, arrive)
    }
    public func chunkCost(actualBytes: Int) -> Int { actualBytes }
    public func checkSeconds(chunks: Int) -> Double { 0 }
}

/// Every node has one uplink at `bytesPerSecond`, shared round robin, message by message, among the peers it has
/// frames queued for (as ZeroMQ's per-peer pipes and TCP's flows share a link); a chunk is charged
/// `nominalChunkBytes`, so a small stand-in blob models a big one; each hop adds `latencySeconds`. Downlinks and
/// CPU are free except the receiver's final SHA-256, charged at `hashBytesPerSecond`.
public final class SharedUplinks: LinkModel {
    public struct Parameters: Sendable {
        public var bytesPerSecond: Double
        public var latencySeconds: Double
        public var hashBytesPerSecond: Double
        public init(bytesPerSecond: Double, latencySeconds: Double, hashBytesPerSecond: Double) {
            self.bytesPerSecond = bytesPerSecond; self.latencySeconds = latencySeconds;
            self.hashBytesPerSecond = hashBytesPerSecond
        }
    }

    public let parameters: Parameters
    public let nominalChunkBytes: Int
    /// Per node: frames queued per destination, destinations in round-robin order, whether a frame is on the wire.
    struct Uplink {
        var queues: [Node: Deque<(bytes: Int, arrive: () -> Void)>] = [:]
        var order = Deque<Node>()
        var busy = false
    }
    private var uplinks: [Node: Uplink] = [:]

    public init(_ parameters: Parameters, nominalChunkBytes: Int) {
        self.parameters = parameters; self.nominalChunkBytes = nominalChunkBytes
    }

    public func dropPending() { uplinks = [:] }

    public func carry(_ bytes: Int, from: Node, to: Node, on queue: EventQueue, arrive: @escaping () -> Void) {
        var u = uplinks[from] ?? Uplink()
        if u.queues[to, default: []].isEmpty { u.order.append(to) }
        u.queues[to, default: []].append((bytes, arrive))
        uplinks[from] = u
        if !u.busy { sendNext(from, queue) }
    }

    /// The next frame in round-robin order goes on `node`'s wire; it arrives one latency after its turn ends.
    private func sendNext(_ node: Node, _ queue: EventQueue) {
        guard let destination = uplinks[node]?.order.popFirst() else { uplinks[node]?.busy = false; return }
        let message = uplinks[node]!.queues[destination]!.removeFirst()
        if !uplinks[node]!.queues[destination]!.isEmpty { uplinks[node]!.order.append(destination) }
        uplinks[node]!.busy = true
        let done = queue.now + Double(message.bytes) / parameters.bytesPerSecond
        queue.at(done + parameters.latencySeconds, message.arrive)
        queue.at(done) { [weak self] in self?.sendNext(node, queue) }
    }

    public func chunkCost(actualBytes: Int) -> Int { nominalChunkBytes }

    /// Chunks are hashed as they arrive: what is left after the last one is its own hash, or, when hashing is
    /// slower than the link, the part of the whole hash the transfer did not hide.
    public func checkSeconds(chunks: Int) -> Double {
        let total = Double(chunks * nominalChunkBytes)
        return max(
            Double(nominalChunkBytes) / parameters.hashBytesPerSecond,
            total / parameters.hashBytesPerSecond - total / parameters.bytesPerSecond)
    }
}
