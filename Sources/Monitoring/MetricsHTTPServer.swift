// The smallest HTTP listener that serves a Prometheus scrape: one thread running a poll() loop over non-blocking
// POSIX sockets, HTTP/1.0-style one request per connection (`Connection: close`), GET /metrics only. Prometheus and
// curl both speak this. Connections are served concurrently, each with a deadline for its whole request and for its
// whole response, so a client that trickles header bytes or connects and says nothing delays nobody else (before:
// one blocking connection at a time; a trickling client blocked every scrape for as long as it trickled). When
// `maxConnections` are open, the oldest is closed to make room, so idle connections cannot fill the backlog.
// Why not SwiftNIO / Hummingbird: a scrape every few seconds needs no event loop library, and those packages would
// add minutes to every clean CI build for one endpoint. What it is not: a general web server. Requests larger than
// 8 KiB or not complete within `requestSeconds` are dropped; anything but GET /metrics (and GET /) gets 404/405.
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public final class MetricsHTTPServer: @unchecked Sendable {
    public let host: String
    /// The port actually bound (resolves port 0).
    public private(set) var port: Int = 0
    /// Whole-request deadline from accept, and whole-response deadline from the request's end.
    public static let requestSeconds = 5.0
    /// Open connections at most; a new one beyond it closes the oldest (a scrape takes milliseconds).
    public static let maxConnections = 64
    static let maxRequestBytes = 8192
    private let body: @Sendable () -> [UInt8]
    private var fd: Int32 = -1
    private var thread: Thread?
    private let stopLock = NSLock()
    private var stopped = false

    /// Binds host:port (IPv4 literal or "localhost"; port 0 picks a free one) and starts serving on its own thread.
    /// `body` produces the exposition text for each scrape.
    public init(host: String, port: Int, body: @escaping @Sendable () -> [UInt8]) throws {
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.body = body
        fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MonitoringError("metrics endpoint: socket() failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, self.host, &addr.sin_addr) == 1 else {
            close(fd);
            throw MonitoringError("metrics endpoint: '\(host)' is not an IPv4 address (use 127.0.0.1 or 0.0.0.0)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let e = errno; close(fd)
            throw MonitoringError(
                "metrics endpoint: cannot bind \(host):\(port) (\(String(cString: strerror(e)))); HINT: pick another --metrics-port or 0 for a free one"
            )
        }
        guard listen(fd, 128) == 0 else {
            close(fd); throw MonitoringError("metrics endpoint: listen() failed: errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread { [self] in serve() }
        t.name = "softrl.metrics-http"
        thread = t
        t.start()
    }

    public var url: String { "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)/metrics" }

    /// Stops accepting; the serving thread closes every connection and ends within one poll period.
    public func stop() {
        stopLock.lock(); defer { stopLock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(fd, Int32(SHUT_RDWR)); close(fd)
    }

    private var isStopped: Bool { stopLock.lock(); defer { stopLock.unlock() }; return stopped }

    /// One client connection: reading its request, then writing its response.
    private struct Connection {
        let fd: Int32
        let opened: Double
        var deadline: Double
        var request: [UInt8] = []
        var response: [UInt8]?
        var sent = 0
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private func serve() {
        var open: [Int32: Connection] = [:]
        defer { for c in open.keys { close(c) } }
        while !isStopped {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            for c in open.values {
                fds.append(pollfd(fd: c.fd, events: Int16(c.response == nil ? POLLIN : POLLOUT), revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            if ready < 0 && errno != EINTR { if isStopped { return }; usleep(10_000); continue }
            let now = Self.now()
            for p in fds.dropFirst() where p.revents != 0 {
                guard var c = open[p.fd] else { continue }
                if advance(&c, now: now) { open[p.fd] = c } else { close(p.fd); open[p.fd] = nil }
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let c = accept(fd, nil, nil)
                    if c < 0 { break }
                    _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                    if open.count >= Self.maxConnections, let oldest = open.values.min(by: { $0.opened < $1.opened }) {
                        close(oldest.fd); open[oldest.fd] = nil
                    }
                    open[c] = Connection(fd: c, opened: now, deadline: now + Self.requestSeconds)
                }
            }
            for c in open.values where now > c.deadline { close(c.fd); open[c.fd] = nil }
        }
    }

    /// Reads or writes what the socket allows; false when the connection is done (answered, failed or closed).
    private func advance(_ c: inout Connection, now: Double) -> Bool {
        if c.response == nil {
            var buf = [UInt8](repeating: 0, count: 2048)
            while c.request.count < Self.maxRequestBytes {
                let n = buf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
                if n <= 0 { return false }
                c.request += buf[0..<n]
                if Self.headerComplete(c.request) { break }
            }
            guard Self.headerComplete(c.request) else { return false } // over the size limit
            c.response = respond(to: c.request)
            c.deadline = now + Self.requestSeconds
        }
        guard let out = c.response else { return false }
        while c.sent < out.count {
            let n = out.withUnsafeBytes {
                send(c.fd, $0.baseAddress! + c.sent, out.count - c.sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
            if n <= 0 { return false }
            c.sent += n
        }
        return false
    }

    private static func headerComplete(_ request: [UInt8]) -> Bool {
        for i in request.indices.dropFirst() where request[i] == 10 {
            if request[i - 1] == 10 || (i >= 3 && request[i - 1] == 13 && request[i - 2] == 10 && request[i - 3] == 13)
            {
                return true
            }
        }
        return false
    }

    private func respond(to request: [UInt8]) -> [UInt8] {
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count >= 2 else { return Self.response(400, "Bad Request", Array("bad request\n".utf8)) }
        guard line[0] == "GET" || line[0] == "HEAD" else {
            return Self.response(405, "Method Not Allowed", Array("only GET\n".utf8))
        }
        let path = line[1].split(separator: "?").first.map(String.init) ?? "/"
        switch path {
        case "/metrics": return Self.response(200, "OK", body(), head: line[0] == "HEAD")
        case "/":
            return Self.response(
                200, "OK", Array("softrl metrics: GET /metrics\n".utf8), type: "text/plain; charset=utf-8")
        default: return Self.response(404, "Not Found", Array("not found; the metrics are at /metrics\n".utf8))
        }
    }

    private static func response(
        _ code: Int, _ reason: String, _ payload: [UInt8],
        type: String = "text/plain; version=0.0.4; charset=utf-8", head: Bool = false
    ) -> [UInt8] {
        let header =
            "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        return Array(header.utf8) + (head ? [] : payload)
    }
}

public struct MonitoringError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A blocking HTTP GET of a loopback/LAN metrics endpoint (for `softrl top`): the same minimal HTTP as above.
public enum MetricsHTTPClient {
    public static func get(_ urlString: String, timeoutSeconds: Int = 3) throws -> String {
        var s = urlString
        if s.hasPrefix("http://") { s.removeFirst(7) }
        let slash = s.firstIndex(of: "/")
        let hostPort = slash.map { String(s[..<$0]) } ?? s
        let path = slash.map { String(s[$0...]) } ?? "/metrics"
        let parts = hostPort.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw MonitoringError("'\(urlString)' is not HOST:PORT or http://HOST:PORT/metrics")
        }
        var hints = addrinfo(); hints.ai_family = AF_INET; hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(String(parts[0]), String(port), &hints, &res) == 0, let ai = res else {
            throw MonitoringError("cannot resolve \(parts[0])")
        }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, 0)
        guard fd >= 0 else { throw MonitoringError("socket() failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            throw MonitoringError("cannot connect to \(hostPort): \(String(cString: strerror(errno)))")
        }
        let req = Array("GET \(path) HTTP/1.0\r\nHost: \(hostPort)\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw MonitoringError("no HTTP response from \(hostPort)") }
        guard text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200") else {
            throw MonitoringError("\(hostPort): \(text.prefix { $0 != "\r" })")
        }
        return String(text[split.upperBound...])
    }
}
