// ZMQPoller: waits until any of a set of sockets has a whole message to read (zmq_poll, POLLIN only).
// Not an event loop and not for writability; the caller loops and decides what to do.
import CZeroMQ
#if canImport(Glibc)
    import Glibc
#endif

public final class ZMQPoller {
    public private(set) var sockets: [ZMQSocket]

    public init(_ sockets: [ZMQSocket] = []) {
        self.sockets = sockets
    }

    public func add(_ socket: ZMQSocket) {
        if !sockets.contains(socket) { sockets.append(socket) }
    }

    public func remove(_ socket: ZMQSocket) {
        sockets.removeAll { $0 === socket }
    }

    /// Waits up to `timeoutMs` (-1 = forever, 0 = just check) for readability.
    /// - Returns: the readable sockets, in the order they were added; empty on timeout.
    public func poll(timeoutMs: Int) throws -> [ZMQSocket] {
        guard !sockets.isEmpty else { return [] }
        var items = try sockets.map { s -> zmq_pollitem_t in
            // ZMQ_POLLIN: at least one whole message can be received without blocking.
            zmq_pollitem_t(socket: try s.liveHandle("poll"), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        let deadline = Deadline(ms: timeoutMs)
        while true {
            let rc = zmq_poll(&items, Int32(items.count), deadline.remainingMs())
            if rc >= 0 { break }
            if zmq_errno() == EINTR { continue } // a signal interrupted the wait: wait out the rest
            throw TransportError.last("poll \(sockets.count) socket(s)")
        }
        return zip(sockets, items).compactMap { s, item in (Int32(item.revents) & ZMQ_POLLIN) != 0 ? s : nil }
    }

    /// One-socket wait used by ZMQSocket.receive(timeoutMs:).
    static func waitReadable(_ socket: ZMQSocket, timeoutMs: Int) throws -> Bool {
        try !ZMQPoller([socket]).poll(timeoutMs: timeoutMs).isEmpty
    }
}
