// ZMQSocket: one libzmq socket with typed options and multipart send/receive of whole messages.
// Not thread-safe (libzmq sockets aren't): use each socket from one thread at a time.
// Not a protocol layer: frames are opaque bytes here; WireCodec gives them meaning.
// Main pattern: the learner's ROUTER binds, actors' DEALERs connect with routingId = actor id;
// on the ROUTER a message is [peer routing id, payload].
import CZeroMQ
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public final class ZMQSocket: Hashable, CustomStringConvertible {
    public enum Kind: CustomStringConvertible {
        case router, dealer, pub, sub, req, rep, pair, push, pull

        var zmqType: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER // addressed fan-in/fan-out: learner side
            case .dealer: return ZMQ_DEALER // async request/reply without lockstep: actor side
            case .pub: return ZMQ_PUB // one-to-many notices (VersionNotice)
            case .sub: return ZMQ_SUB // receives notices; needs subscribe(...)
            case .req: return ZMQ_REQ // strict send/receive lockstep (tools, tests)
            case .rep: return ZMQ_REP // the other side of REQ
            case .pair: return ZMQ_PAIR // exclusive 1:1, e.g. inproc wake-up pipes
            case .push: return ZMQ_PUSH // pipeline, round-robin to PULLs
            case .pull: return ZMQ_PULL // pipeline, fair-queued from PUSHes
            }
        }

        public var description: String {
            switch self {
            case .router: return "ROUTER"
            case .dealer: return "DEALER"
            case .pub: return "PUB"
            case .sub: return "SUB"
            case .req: return "REQ"
            case .rep: return "REP"
            case .pair: return "PAIR"
            case .push: return "PUSH"
            case .pull: return "PULL"
            }
        }
    }

    /// Socket options we use. Times are milliseconds; -1 means "infinite" where libzmq allows it.
    public enum Option {
        /// How long close() may wait to flush unsent messages. Sockets start at `ZMQSocket.defaultLingerMs`.
        case linger(ms: Int)
        /// Identity this socket announces to a ROUTER peer (1...255 bytes, must not start with 0x00). Set before connect.
        case routingId(Data)
        /// ROUTER: fail with EHOSTUNREACH instead of silently dropping messages to unknown peers.
        case routerMandatory(Bool)
        /// ROUTER: a new connection with an existing routing id takes over (a restarted actor replaces its stale pipe).
        case routerHandover(Bool)
        /// Inbound messages larger than this drop the offending connection (-1 = no limit). Set before bind/connect.
        case maxMessageSize(Int64)
        /// Messages queued per peer for sending before send blocks / returns false (0 = unlimited).
        case sendHWM(Int)
        /// Messages queued per peer for receiving before libzmq stops reading that peer.
        case receiveHWM(Int)
        /// TCP keepalive probes on idle connections: the kernel closes a half-open link (peer host gone) after
        /// `idleSeconds + intervalSeconds * count`. Cheaper and safer than ZMTP heartbeats (see heartbeatInterval).
        case tcpKeepalive(idleSeconds: Int, intervalSeconds: Int, count: Int)
        /// ZMTP heartbeat: send a PING every `ms` on idle connections (0 = off). Keep it off on sockets that
        /// strangers reach: libzmq 4.3.4 aborts (stream_engine_base.cpp:331) when the timer fires on a
        /// connection whose input was stopped (handed over or at the receive HWM) and whose peer then closed.
        case heartbeatInterval(ms: Int)
        /// ZMTP heartbeat: drop the connection if nothing arrives this long after a PING.
        case heartbeatTimeout(ms: Int)
        /// ZMTP heartbeat: tell the peer to drop us after this much silence (rounded to 100 ms by libzmq).
        case heartbeatTTL(ms: Int)
        /// First delay before reconnecting a dropped outgoing connection.
        case reconnectInterval(ms: Int)
        /// Cap of the exponential reconnect back-off (0 = no back-off, always reconnectInterval).
        case reconnectIntervalMax(ms: Int)
        /// Queue messages only to completed connections, so sends to a down peer block / fail instead of piling up.
        case immediate(Bool)
        /// SUB: receive messages whose first frame starts with this prefix (empty = everything).
        case subscribe(Data)
        /// SUB: undo a subscribe with the same prefix.
        case unsubscribe(Data)
        /// Blocking receive gives up after this long (-1 = wait forever).
        case receiveTimeout(ms: Int)
        /// Blocking send gives up after this long (-1 = wait forever).
        case sendTimeout(ms: Int)
        /// CURVE: this socket is the CURVE server (the learner's ROUTER); needs curveSecretKey. Set before bind.
        case curveServer(Bool)
        /// CURVE: this socket's long-term public key, Z85 text (40 characters). Set before bind/connect.
        case curvePublicKey(String)
        /// CURVE: this socket's long-term secret key, Z85 text (40 characters). Set before bind/connect.
        case curveSecretKey(String)
        /// CURVE client: the server's public key, Z85 text; makes this socket a CURVE client. Set before connect.
        case curveServerKey(String)
        /// ZAP domain sent to the authenticator with every handshake on this socket. Set before bind.
        case zapDomain(String)
        /// Fail closed: refuse every handshake when no ZAP handler is bound (libzmq otherwise admits everyone).
        /// A draft option in 4.3.4 (value 93): libraries built without draft APIs reject it with EINVAL.
        case zapEnforceDomain(Bool)
    }

    /// ZMQ_ZAP_ENFORCE_DOMAIN is under ZMQ_BUILD_DRAFT_API in zmq.h, so its number is spelled here.
    public static let zapEnforceDomainOption: Int32 = 93

    /// Linger applied at creation: long enough to flush a Goodbye, short enough never to hang process exit
    /// (libzmq's own default, -1, can block context termination forever).
    public static let defaultLingerMs = 1000

    public let kind: Kind
    public let context: ZMQContext // retained: the context must outlive every socket
    private var handle: UnsafeMutableRawPointer?

    public init(_ context: ZMQContext, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.zmqType) else {
            throw TransportError.last("zmq_socket \(kind)")
        }
        self.context = context
        self.kind = kind
        self.handle = h
        try set(.linger(ms: Self.defaultLingerMs))
    }

    deinit { close() }

    /// Closes the socket. Pending outgoing messages get `lingerMs` (default: the socket's current linger).
    /// Safe to call twice; any later use throws ENOTSOCK.
    public func close(lingerMs: Int? = nil) {
        guard let h = handle else { return }
        if let ms = lingerMs { try? set(.linger(ms: ms)) }
        zmq_close(h) // never fails on a valid socket; it only hands the socket to the I/O thread
        handle = nil
    }

    public var isClosed: Bool { handle == nil }

    // MARK: endpoints

    /// e.g. "tcp://127.0.0.1:*" (any free port; read it back with `lastEndpoint`), "inproc://name", "ipc:///path".
    public func bind(_ endpoint: String) throws {
        try check("bind \(endpoint)") { zmq_bind($0, endpoint) }
    }

    public func connect(_ endpoint: String) throws {
        try check("connect \(endpoint)") { zmq_connect($0, endpoint) }
    }

    public func disconnect(_ endpoint: String) throws {
        try check("disconnect \(endpoint)") { zmq_disconnect($0, endpoint) }
    }

    /// For a wildcard bind, pass the resolved endpoint (`lastEndpoint`), not the wildcard.
    public func unbind(_ endpoint: String) throws {
        try check("unbind \(endpoint)") { zmq_unbind($0, endpoint) }
    }

    /// The endpoint of the last bind/connect, with wildcards resolved ("tcp://127.0.0.1:41234"); "" if none.
    public var lastEndpoint: String {
        get throws {
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            // ZMQ_LAST_ENDPOINT: the only way to learn the port a "tcp://…:*" bind picked.
            try check("getsockopt LAST_ENDPOINT") { zmq_getsockopt($0, ZMQ_LAST_ENDPOINT, &buffer, &size) }
            return String(cString: buffer)
        }
    }

    /// The routing id this socket announces (empty if none was set).
    public var routingId: Data {
        get throws {
            var buffer = [UInt8](repeating: 0, count: 256) // routing ids are at most 255 bytes
            var size = buffer.count
            // ZMQ_ROUTING_ID read back: to log which identity a DEALER presents.
            try check("getsockopt ROUTING_ID") { zmq_getsockopt($0, ZMQ_ROUTING_ID, &buffer, &size) }
            return Data(buffer[0..<size])
        }
    }

    // MARK: options

    /// Sets one option; see each Option case for when to use it. Most take effect for later bind/connect only.
    public func set(_ option: Option) throws {
        switch option {
        case let .linger(ms): try setInt(ZMQ_LINGER, ms, "LINGER") // bound close()/exit waits
        case let .routingId(id): try setBytes(ZMQ_ROUTING_ID, id, "ROUTING_ID") // ROUTER addresses actors by id
        case let .routerMandatory(on): try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "ROUTER_MANDATORY") // no silent drops
        case let .routerHandover(on): try setInt(ZMQ_ROUTER_HANDOVER, on ? 1 : 0, "ROUTER_HANDOVER") // restarted actor wins
        case let .maxMessageSize(n):
            var v = n // ZMQ_MAXMSGSIZE (int64, the only one): hostile/oversized frames drop the connection
            try check("setsockopt MAXMSGSIZE=\(n)") { zmq_setsockopt($0, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) }
        case let .sendHWM(n): try setInt(ZMQ_SNDHWM, n, "SNDHWM") // bound outgoing memory per peer
        case let .receiveHWM(n): try setInt(ZMQ_RCVHWM, n, "RCVHWM") // bound incoming memory per peer
        case let .tcpKeepalive(idle, interval, count):
            try setInt(ZMQ_TCP_KEEPALIVE, 1, "TCP_KEEPALIVE") // the kernel probes idle links
            try setInt(ZMQ_TCP_KEEPALIVE_IDLE, idle, "TCP_KEEPALIVE_IDLE") // first probe after this much silence
            try setInt(ZMQ_TCP_KEEPALIVE_INTVL, interval, "TCP_KEEPALIVE_INTVL") // then one per interval
            try setInt(ZMQ_TCP_KEEPALIVE_CNT, count, "TCP_KEEPALIVE_CNT") // unanswered probes before the close
        case let .heartbeatInterval(ms): try setInt(ZMQ_HEARTBEAT_IVL, ms, "HEARTBEAT_IVL") // find dead TCP peers
        case let .heartbeatTimeout(ms): try setInt(ZMQ_HEARTBEAT_TIMEOUT, ms, "HEARTBEAT_TIMEOUT") // when to give up
        case let .heartbeatTTL(ms): try setInt(ZMQ_HEARTBEAT_TTL, ms, "HEARTBEAT_TTL") // peer drops us too
        case let .reconnectInterval(ms): try setInt(ZMQ_RECONNECT_IVL, ms, "RECONNECT_IVL") // actor rejoins fast
        case let .reconnectIntervalMax(ms): try setInt(ZMQ_RECONNECT_IVL_MAX, ms, "RECONNECT_IVL_MAX") // but backs off
        case let .immediate(on): try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, "IMMEDIATE") // no queueing to absent peers
        case let .subscribe(prefix): try setBytes(ZMQ_SUBSCRIBE, prefix, "SUBSCRIBE") // SUB gets nothing without one
        case let .unsubscribe(prefix): try setBytes(ZMQ_UNSUBSCRIBE, prefix, "UNSUBSCRIBE") // stop a topic
        case let .receiveTimeout(ms): try setInt(ZMQ_RCVTIMEO, ms, "RCVTIMEO") // blocking receive never hangs
        case let .sendTimeout(ms): try setInt(ZMQ_SNDTIMEO, ms, "SNDTIMEO") // blocking send never hangs
        case let .curveServer(on): try setInt(ZMQ_CURVE_SERVER, on ? 1 : 0, "CURVE_SERVER") // encrypt + authenticate clients
        case let .curvePublicKey(k): try setKey(ZMQ_CURVE_PUBLICKEY, k, "CURVE_PUBLICKEY") // our long-term public key
        case let .curveSecretKey(k): try setKey(ZMQ_CURVE_SECRETKEY, k, "CURVE_SECRETKEY") // our long-term secret key
        case let .curveServerKey(k): try setKey(ZMQ_CURVE_SERVERKEY, k, "CURVE_SERVERKEY") // whom a client trusts
        case let .zapDomain(d): try setBytes(ZMQ_ZAP_DOMAIN, Data(d.utf8), "ZAP_DOMAIN") // routes handshakes to ZAP
        case let .zapEnforceDomain(on): try setInt(Self.zapEnforceDomainOption, on ? 1 : 0, "ZAP_ENFORCE_DOMAIN") // no handler = no entry
        }
    }

    /// Reads an int-valued option by its raw ZMQ_* name (for diagnostics and tests).
    public func intOption(_ name: Int32) throws -> Int {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try check("getsockopt \(name)") { zmq_getsockopt($0, name, &v, &size) }
        return Int(v)
    }

    private func setInt(_ name: Int32, _ value: Int, _ label: String) throws {
        guard let v32 = Int32(exactly: value) else {
            throw TransportError(
                operation: "setsockopt \(label)=\(value)", errno: EINVAL, message: "value does not fit in a C int")
        }
        var v = v32
        try check("setsockopt \(label)=\(value)") { zmq_setsockopt($0, name, &v, MemoryLayout<Int32>.size) }
    }

    /// Z85 keys are exactly 40 characters; anything else is refused here with a message, not by libzmq's bare EINVAL.
    private func setKey(_ name: Int32, _ z85: String, _ label: String) throws {
        guard CurveKeyPair.isValidZ85Key(z85) else {
            throw TransportError(
                operation: "setsockopt \(label)", errno: EINVAL,
                message:
                    "a CURVE key is 40 characters of Z85 text (got \(z85.utf8.count)); make keys with `softrl keys generate`"
            )
        }
        try setBytes(name, Data(z85.utf8), label)
    }

    private func setBytes(_ name: Int32, _ value: Data, _ label: String) throws {
        try check("setsockopt \(label) (\(value.count) bytes)") { h in
            value.withUnsafeBytes { zmq_setsockopt(h, name, $0.baseAddress, $0.count) }
        }
    }

    // MARK: send / receive

    /// Sends one multipart message atomically: the peer gets all frames or none.
    /// - Returns: false if the message could not be queued now (dontWait, or sendTimeout elapsed,
    ///   or high-water mark reached); nothing was sent then.
    /// - Throws: TransportError on real failures, e.g. EHOSTUNREACH from a ROUTER with routerMandatory.
    @discardableResult
    public func send(frames: [Data], dontWait: Bool = false) throws -> Bool {
        try sendFrames(count: frames.count, dontWait: dontWait) { i, body in
            try frames[i].withUnsafeBytes { try body($0) }
        }
    }

    @discardableResult
    public func send(frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        try sendFrames(count: frames.count, dontWait: dontWait) { i, body in
            try frames[i].withUnsafeBytes { try body($0) }
        }
    }

    /// Single-frame convenience.
    @discardableResult
    public func send(_ frame: Data, dontWait: Bool = false) throws -> Bool {
        try send(frames: [frame], dontWait: dontWait)
    }

    private func sendFrames(
        count: Int, dontWait: Bool,
        _ withFrame: (Int, (UnsafeRawBufferPointer) throws -> Bool) throws -> Bool
    ) throws -> Bool {
        guard count > 0 else {
            throw TransportError(operation: "send", errno: EINVAL, message: "a message needs at least one frame")
        }
        let h = try liveHandle("send")
        for i in 0..<count {
            var flags: Int32 = 0
            // ZMQ_SNDMORE: more frames of this message follow; libzmq delivers the message only when complete.
            if i < count - 1 { flags |= ZMQ_SNDMORE }
            // ZMQ_DONTWAIT only on the first frame: once it is queued the rest cannot hit the high-water
            // mark (HWM counts whole messages), and returning false mid-message would leave half a message queued.
            if dontWait && i == 0 { flags |= ZMQ_DONTWAIT }
            let sent = try withFrame(i) { buf -> Bool in
                while true {
                    // zmq_send copies the bytes (and explicitly accepts NULL for an empty frame).
                    let rc = zmq_send(h, buf.baseAddress, buf.count, flags)
                    if rc >= 0 { return true }
                    let e = zmq_errno()
                    if e == EINTR { continue } // a signal interrupted the wait: try again
                    if e == EAGAIN && i == 0 { return false } // nothing queued yet: report "not now"
                    throw TransportError.last("send frame \(i + 1)/\(count) on \(kind)")
                }
            }
            if !sent { return false }
        }
        return true
    }

    /// Receives one whole multipart message.
    /// - Parameter timeoutMs: nil = obey the socket's receiveTimeout (default: wait forever);
    ///   0 = return at once; n > 0 = wait at most n ms.
    /// - Returns: the frames, or nil if nothing arrived in time.
    public func receive(timeoutMs: Int? = nil) throws -> [Data]? {
        let h = try liveHandle("receive")
        if let t = timeoutMs {
            // Wait for readability first, then take the message without blocking.
            let deadline = Deadline(ms: t)
            while true {
                if try !ZMQPoller.waitReadable(self, timeoutMs: deadline.remainingMs()) { return nil }
                if let frames = try receiveFrames(h, firstFlags: ZMQ_DONTWAIT) { return frames }
                if deadline.expired { return nil } // readable but raced away (should not happen on one thread)
            }
        }
        return try receiveFrames(h, firstFlags: 0)
    }

    /// Like receive(timeoutMs:), and also returns the ZAP user id libzmq attached to the message (the allow-listed
    /// name of the peer's CURVE key; nil on sockets without ZAP authentication) and the file descriptor of the
    /// connection it came on (ZMQ_SRCFD; -1 if libzmq does not say).
    public func receiveAuthenticated(timeoutMs: Int) throws -> (frames: [Data], userId: String?, sourceFd: Int32)? {
        let h = try liveHandle("receive")
        var peer = PeerFacts()
        let deadline = Deadline(ms: timeoutMs)
        while true {
            if try !ZMQPoller.waitReadable(self, timeoutMs: deadline.remainingMs()) { return nil }
            if let frames = try withUnsafeMutablePointer(
                to: &peer, { try receiveFrames(h, firstFlags: ZMQ_DONTWAIT, peer: $0) })
            {
                return (frames, peer.userId, peer.sourceFd)
            }
            if deadline.expired { return nil }
        }
    }

    struct PeerFacts { var userId: String?; var sourceFd: Int32 = -1 }

    /// `peer`, when given, receives the first frame's "User-Id" property and source file descriptor.
    private func receiveFrames(
        _ h: UnsafeMutableRawPointer, firstFlags: Int32, peer: UnsafeMutablePointer<PeerFacts>? = nil
    ) throws -> [Data]? {
        var frames: [Data] = []
        var msg = zmq_msg_t()
        guard zmq_msg_init(&msg) == 0 else { throw TransportError.last("zmq_msg_init") }
        defer { zmq_msg_close(&msg) }
        while true {
            // Later frames are already here (messages arrive whole), so they are read blocking.
            let flags = frames.isEmpty ? firstFlags : 0
            let rc = zmq_msg_recv(&msg, h, flags)
            if rc < 0 {
                let e = zmq_errno()
                if e == EINTR { continue } // a signal interrupted the wait: try again
                if e == EAGAIN && frames.isEmpty { return nil } // nothing there / receiveTimeout elapsed
                throw TransportError.last("receive frame \(frames.count + 1) on \(kind)")
            }
            // "User-Id": the user id the ZAP handler returned for this connection. Taken from the first frame that
            // carries metadata (a ROUTER's routing-id frame may not, the payload frames do).
            if let peer, peer.pointee.userId == nil, let p = zmq_msg_gets(&msg, "User-Id") {
                peer.pointee.userId = String(cString: p)
            }
            // The payload frames carry it (a ROUTER's routing-id frame may not).
            if let peer, peer.pointee.sourceFd < 0 { peer.pointee.sourceFd = max(-1, zmq_msg_get(&msg, ZMQ_SRCFD)) }
            let size = zmq_msg_size(&msg)
            if size == 0 {
                frames.append(Data())
            } else if size >= Self.zeroCopyReceiveBytes {
                frames.append(Self.adopt(&msg, size: size))
            } else {
                frames.append(Data(bytes: zmq_msg_data(&msg), count: size))
            }
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Frames from this size up are handed out without copying (weight chunks: 4 MiB each); smaller ones are
    /// copied, so a small frame never pins libzmq's shared receive buffer.
    static let zeroCopyReceiveBytes = 64 << 10

    /// A Data over the message's own buffer: the message moves to the heap and is closed when the Data is freed.
    private static func adopt(_ msg: inout zmq_msg_t, size: Int) -> Data {
        let owned = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        zmq_msg_init(owned)
        zmq_msg_move(owned, &msg) // leaves `msg` empty, ready for the next frame
        return Data(
            bytesNoCopy: zmq_msg_data(owned), count: size,
            deallocator: .custom { _, _ in
                zmq_msg_close(owned)
                owned.deallocate()
            })
    }

    // MARK: helpers

    var rawHandle: UnsafeMutableRawPointer? { handle }

    func liveHandle(_ operation: String) throws -> UnsafeMutableRawPointer {
        guard let h = handle else {
            throw TransportError(operation: operation, errno: ENOTSOCK, message: "socket is closed")
        }
        return h
    }

    private func check(_ operation: String, _ call: (UnsafeMutableRawPointer) -> Int32) throws {
        let h = try liveHandle(operation)
        while call(h) != 0 {
            if zmq_errno() == EINTR { continue } // interrupted by a signal: the call is safe to repeat
            throw TransportError.last("\(operation) on \(kind)")
        }
    }

    public static func == (a: ZMQSocket, b: ZMQSocket) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    public var description: String { "ZMQSocket(\(kind))" }
}

/// Monotonic deadline for timeouts that survive EINTR retries. Negative ms = never expires.
struct Deadline {
    private let end: UInt64?

    init(ms: Int) {
        end = ms < 0 ? nil : DispatchTime.now().uptimeNanoseconds + UInt64(ms) * 1_000_000
    }

    var expired: Bool { remainingMs() == 0 }

    /// Milliseconds left (rounded up, so we never spin with 0 before the end); -1 = infinite.
    func remainingMs() -> Int {
        guard let end = end else { return -1 }
        let now = DispatchTime.now().uptimeNanoseconds
        return now >= end ? 0 : Int((end - now + 999_999) / 1_000_000)
    }
}
