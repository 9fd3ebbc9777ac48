// HelloDeadline: which accepted connections have not said Hello in time. A connection that completes the ZeroMQ
// handshake and then stays silent costs the learner a file descriptor for ever (200 of them once made every
// checkpoint fail with "too many open files"); ZeroMQ gives a ROUTER no per-connection view, so the shell feeds
// this record from the socket monitor (accepted / ended, by descriptor) and from each message's source descriptor,
// and closes what it names. Pure: driven by descriptors and times, tested in memory.
public struct HelloDeadline {
    public let seconds: Double
    /// Accepted and not yet introduced: descriptor -> when it was accepted.
    private(set) var waiting: [Int32: Double] = [:]

    public init(seconds: Double) { self.seconds = seconds }

    /// libzmq accepted a connection on `fd` (a number it may have used before for another one).
    public mutating func accepted(_ fd: Int32, now: Double) { waiting[fd] = now }

    /// The connection on `fd` ended.
    public mutating func ended(_ fd: Int32) { waiting[fd] = nil }

    /// A message from `fd` made its sender a known actor: it said Hello (or already had, on this connection).
    public mutating func introduced(_ fd: Int32) { waiting[fd] = nil }

    /// Connections accepted more than `seconds` ago that never introduced themselves; forgotten once named.
    public mutating func overdue(now: Double) -> [Int32] {
        let late = waiting.filter { now - $0.value > seconds }.keys.sorted()
        for fd in late { waiting[fd] = nil }
        return late
    }

    public var pending: Int { waiting.count }
}
