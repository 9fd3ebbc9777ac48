// The metrics endpoint under clients that do not behave: one that trickles a header byte at a time, and dozens that
// connect and say nothing. Real sockets on loopback against MetricsHTTPServer, scraped by MetricsHTTPClient (the
// client `softrl top` uses); the trickler and the idle connections stay open while the scrapes run.
import Foundation
import XCTest
@testable import Monitoring
#if canImport(Glibc)
    import Glibc
#endif

final class MetricsEndpointTests: XCTestCase {
    /// A plain blocking TCP connection to 127.0.0.1:port.
    func connectLoopback(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard r == 0 else { close(fd); throw MonitoringError("connect: \(String(cString: strerror(errno)))") }
        return fd
    }

    func testScrapesAreServedWhileOneClientTricklesAndFortyIdle() throws {
        let server = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { Array("softrl_test_metric 42\n".utf8) }
        defer { server.stop() }
        // A client that sends one byte of a request line every 200 ms, for as long as the test runs.
        let trickler = try connectLoopback(server.port)
        defer { close(trickler) }
        let stop = NSLock(), done = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        done.pointee = false
        defer { done.deallocate() }
        let thread = Thread {
            for byte in Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8)
                + Array(repeating: UInt8(ascii: "a"), count: 10_000)
            {
                stop.lock(); let over = done.pointee; stop.unlock()
                if over { return }
                var b = byte
                if send(trickler, &b, 1, Int32(MSG_NOSIGNAL)) != 1 { return }
                usleep(200_000)
            }
        }
        thread.start()
        defer { stop.lock(); done.pointee = true; stop.unlock() }
        usleep(300_000) // the trickler is the first connection the server sees
        let idle = try (0..<40).map { _ in try connectLoopback(server.port) }
        defer { idle.forEach { close($0) } }
        for i in 0..<5 {
            // A scrape that waited behind the trickler (each byte restarted a 5 s read timeout) would time out here.
            let text = try MetricsHTTPClient.get(server.url, timeoutSeconds: 3)
            XCTAssertEqual(text, "softrl_test_metric 42\n", "scrape \(i)")
        }
        // The trickler is still connected (it keeps sending), and its deadline ends it: the server closes it.
        var tv = timeval(tv_sec: Int(MetricsHTTPServer.requestSeconds) + 5, tv_usec: 0)
        setsockopt(trickler, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var b: UInt8 = 0
        XCTAssertLessThanOrEqual(recv(trickler, &b, 1, 0), 0, "the server never closed the trickling connection")
    }

    func testMoreIdleConnectionsThanTheLimitStillLeaveRoomForAScrape() throws {
        let server = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { Array("m 1\n".utf8) }
        defer { server.stop() }
        let idle = try (0..<(MetricsHTTPServer.maxConnections + 20)).map { _ in try connectLoopback(server.port) }
        defer { idle.forEach { close($0) } }
        usleep(200_000)
        XCTAssertEqual(try MetricsHTTPClient.get(server.url, timeoutSeconds: 3), "m 1\n")
    }
}
