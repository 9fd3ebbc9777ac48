// ZMQMonitor: handshake outcomes of one socket, read without blocking. libzmq publishes socket events
// on an inproc PAIR endpoint (zmq_socket_monitor); a CURVE client learns this way that the server refused its
// key (ZAP status 400 arrives as HANDSHAKE_FAILED_AUTH), which is otherwise silent: the connection just never works.
import CZeroMQ
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public final class ZMQMonitor {
    public enum Event: Equatable {
        /// The peer refused our credentials; `status` is the ZAP status code (e.g. 400).
        case authenticationFailed(status: Int, endpoint: String)
        /// Security handshake failed for another reason (mechanism mismatch, wrong server key, malformed).
        case handshakeFailed(endpoint: String)
        case handshakeSucceeded(endpoint: String)
        /// A peer's connection was accepted on file descriptor `fd` (with `watchConnections`).
        case accepted(fd: Int32)
        /// The connection on `fd` ended (with `watchConnections`); libzmq may reuse the number.
        case disconnected(fd: Int32)
    }

    private let pair: ZMQSocket
    private static let counter = Counter()

    /// Starts monitoring `socket`'s handshakes (and, with `watchConnections`, every accepted and ended connection
    /// with its file descriptor); create it before connect or bind so the first one is seen.
    public init(_ socket: ZMQSocket, watchConnections: Bool = false) throws {
        let address = "inproc://softrl-monitor-\(getpid())-\(Self.counter.next())"
        var events =
            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
        if watchConnections { events |= ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED }
        let h = try socket.liveHandle("zmq_socket_monitor")
        guard zmq_socket_monitor(h, address, Int32(events)) == 0 else {
            throw TransportError.last("zmq_socket_monitor")
        }
        pair = try ZMQSocket(socket.context, .pair)
        try pair.set(.linger(ms: 0))
        try pair.connect(address)
    }

    /// Events so far (never blocks).
    public func drain() -> [Event] {
        var out: [Event] = []
        while let frames = try? pair.receive(timeoutMs: 0), frames.count == 2, frames[0].count == 6 {
            let b = [UInt8](frames[0])
            let code = Int32(b[0]) | Int32(b[1]) << 8 // host byte order (little-endian on the platforms we build for)
            let value = Int(UInt32(b[2]) | UInt32(b[3]) << 8 | UInt32(b[4]) << 16 | UInt32(b[5]) << 24)
            let endpoint = String(decoding: frames[1], as: UTF8.self)
            switch code {
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: out.append(.authenticationFailed(status: value, endpoint: endpoint))
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: out.append(.handshakeSucceeded(endpoint: endpoint))
            case ZMQ_EVENT_ACCEPTED: out.append(.accepted(fd: Int32(truncatingIfNeeded: value)))
            case ZMQ_EVENT_DISCONNECTED, ZMQ_EVENT_CLOSED:
                out.append(.disconnected(fd: Int32(truncatingIfNeeded: value)))
            default: out.append(.handshakeFailed(endpoint: endpoint))
            }
        }
        return out
    }

    /// Closes the monitor's socket. The monitored socket stops publishing when it closes.
    public func close() { pair.close(lingerMs: 0) }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock(); private var n = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    }
}
