// ZAPAuthenticator: the ZeroMQ Authentication Protocol handler (ZMTP RFC 27) for CURVE servers in one
// context. libzmq asks it about every CURVE handshake on a socket with a ZAP domain; it answers 200 with the
// user id = the key's allowed name (the ROUTER then tags every message of that connection with it, "User-Id"),
// or 400 for keys not on the allow-list. Runs on its own thread with a REP socket bound to
// inproc://zeromq.zap.01; the REP socket is bound in init, so it is in place before the server socket binds.
//
// Allow-list file: one `Z85KEY name` per line (the key is the 40-character public key, e.g. the text of
// actor-3.key); blank lines and lines starting with '#' are comments. A bad line is an error naming the line.
import Foundation

public struct AllowList: Sendable, Equatable {
    /// Public key (Z85) -> allowed name.
    public private(set) var names: [String: String] = [:]

    public init(names: [String: String] = [:]) { self.names = names }

    public init(text: String, source: String) throws {
        for (i, raw) in CurveKeyPair.splitLines(text).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = fields.first else { continue }
            // '#' is also a Z85 digit: a line starting with a valid key is an entry, else '#' starts a comment.
            if !CurveKeyPair.isValidZ85Key(key) && line.hasPrefix("#") { continue }
            func bad(_ why: String) -> TransportError {
                TransportError(
                    operation: "read allow-list", errno: EINVAL,
                    message:
                        "\(source) line \(i + 1): \(why); expected `Z85KEY actor-name` (`softrl keys generate --allow FILE` writes such lines)"
                )
            }
            guard CurveKeyPair.isValidZ85Key(key) else {
                throw bad("'\(key.prefix(48))' is not a 40-character Z85 public key")
            }
            guard fields.count == 2 else {
                throw bad(fields.count == 1 ? "no actor name after the key" : "more than one name after the key")
            }
            let name = fields[1]
            guard name.utf8.count <= 128, name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw bad(
                    "actor name '\(name)' must be printable ASCII without spaces, at most 128 bytes (the longest actor id)"
                )
            }
            if let other = names[key], other != name { throw bad("this key is already allowed as '\(other)'") }
            names[key] = name
        }
    }

    public init(contentsOf file: URL) throws {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw TransportError(
                operation: "read allow-list", errno: ENOENT,
                message:
                    "\(file.path) not found: create it with one `PUBLICKEY actor-name` line per actor (`softrl keys generate --allow \(file.path)` appends one)"
            )
        }
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw TransportError(
                operation: "read allow-list", errno: EIO,
                message: "\(file.path): cannot read (\(error.localizedDescription))")
        }
        // Bytes that are not UTF-8 become U+FFFD, so the bad line is named instead of the whole file refused.
        try self.init(text: String(decoding: data, as: UTF8.self), source: file.path)
    }
}

public final class ZAPAuthenticator: @unchecked Sendable {
    public static let endpoint = "inproc://zeromq.zap.01"
    public let file: URL
    private let lock = NSLock()
    private var allow: AllowList
    private var refused = 0, accepted = 0
    private var stopping = false
    private let socket: ZMQSocket
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Called on the authenticator's thread: (public key Z85, peer address, refusals so far).
    private let onRefusal: @Sendable (String, String, Int) -> Void

    /// Reads the allow-list, binds the ZAP endpoint in `context` and starts answering.
    public init(
        context: ZMQContext, allowList file: URL,
        onRefusal: @escaping @Sendable (_ key: String, _ address: String, _ count: Int) -> Void = { _, _, _ in }
    ) throws {
        self.file = file
        allow = try AllowList(contentsOf: file)
        self.onRefusal = onRefusal
        socket = try ZMQSocket(context, .rep)
        try socket.set(.linger(ms: 0))
        do { try socket.bind(Self.endpoint) } catch {
            throw TransportError(
                operation: "bind \(Self.endpoint)", errno: EADDRINUSE,
                message: "another ZAP authenticator runs in this context (\(error))")
        }
        let t = Thread { [self] in serve() }
        t.name = "softrl.zap"
        thread = t
        t.start()
    }

    deinit { stop() }

    /// Re-reads the allow-list file. On error the old list stays in force (and the error says which line).
    /// Connections already admitted are not dropped: a removed key is refused at its next connection.
    @discardableResult
    public func reload() throws -> Int {
        let fresh = try AllowList(contentsOf: file)
        lock.lock(); allow = fresh; lock.unlock()
        return fresh.names.count
    }

    public var allowedCount: Int { lock.lock(); defer { lock.unlock() }; return allow.names.count }
    public var refusedCount: Int { lock.lock(); defer { lock.unlock() }; return refused }
    public var acceptedCount: Int { lock.lock(); defer { lock.unlock() }; return accepted }

    /// Ends the thread and closes the socket (waits at most one poll period).
    public func stop() {
        lock.lock(); let wasRunning = thread != nil && !stopping; stopping = true; lock.unlock()
        if wasRunning { done.wait() }
    }

    private func serve() {
        defer { socket.close(lingerMs: 0); done.signal() }
        while true {
            lock.lock(); let stop = stopping; lock.unlock()
            if stop { return }
            let request: [Data]
            do {
                guard let r = try socket.receive(timeoutMs: 100) else { continue }
                request = r
            } catch {
                return // context shut down
            }
            _ = try? socket.send(frames: answer(request))
        }
    }

    /// RFC 27: request [version, request id, domain, address, identity, mechanism, credentials...];
    /// reply [version, request id, status code, status text, user id, metadata].
    func answer(_ r: [Data]) -> [Data] {
        let requestId = r.count > 1 ? r[1] : Data()
        func reply(_ code: String, _ text: String, _ user: String = "") -> [Data] {
            [Data("1.0".utf8), requestId, Data(code.utf8), Data(text.utf8), Data(user.utf8), Data()]
        }
        guard r.count >= 6, String(decoding: r[0], as: UTF8.self) == "1.0" else {
            return reply("500", "malformed ZAP request")
        }
        let address = String(decoding: r[3], as: UTF8.self)
        let mechanism = String(decoding: r[5], as: UTF8.self)
        guard mechanism == "CURVE", r.count == 7, let key = CurveKeyPair.z85(r[6]) else {
            lock.lock(); refused += 1; let n = refused; lock.unlock()
            onRefusal("(\(mechanism) mechanism)", address, n)
            return reply("400", "CURVE required")
        }
        lock.lock()
        let name = allow.names[key]
        if name == nil { refused += 1 } else { accepted += 1 }
        let n = refused
        lock.unlock()
        guard let name else {
            onRefusal(key, address, n)
            return reply("400", "key not allowed")
        }
        return reply("200", "OK", name)
    }
}
