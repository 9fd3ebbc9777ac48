// Regression tests for the remote crash: with ZMTP heartbeats on, libzmq 4.3.4 aborted the learner
// ("Assertion failed: !_io_error (src/stream_engine_base.cpp:331)") when a connection whose input was stopped
// (handed over to a twin routing id, or full at the receive high-water mark) was then closed by its peer. Both
// reproductions run for real against a learner process; it must stay up, stay small, and still serve an actor.
import XCTest
import Foundation
import Transport

final class RemoteCrashTests: XCTestCase {
    func startLearner(_ h: ClusterHarness) throws -> (Process, String) {
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "2"])
        return (learner, try h.endpoint())
    }

    /// Kilobytes of resident memory of a running process.
    func rssKB(_ p: Process) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// Proof of life: a fresh peer says Hello and gets a Welcome.
    func assertServes(
        _ ep: String, _ context: ZMQContext, _ h: ClusterHarness, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let peer = try RawPeer(context, id: "probe-\(UUID().uuidString.prefix(6))", endpoint: ep)
        var hello = Wire.Hello(); hello.actorID = "probe"; hello.host = "test"
        try peer.send(.hello(hello))
        let welcome = try peer.await_(20) {
            if case .welcome = $0.body { return true }; return false
        }
        XCTAssertNotNil(
            welcome, "the learner no longer answers Hello; log:\n\(h.log("learner"))", file: file, line: line)
        try peer.send(.goodbye(Wire.Goodbye()))
        peer.socket.close(lingerMs: 100)
    }

    func testTwinRoutingIdsThenCloseDoNotAbortTheLearner() throws {
        let h = try ClusterHarness(testCase: self)
        let (learner, ep) = try startLearner(h)
        let context = try ZMQContext()
        defer { context.shutdown() }
        for attempt in 0..<4 {
            let a = try RawPeer(context, id: "twin", endpoint: ep)
            try a.sendRaw([Data("x".utf8)])
            usleep(300_000)
            let b = try RawPeer(context, id: "twin", endpoint: ep)
            usleep(300_000)
            try a.sendRaw([Data("y".utf8)])
            usleep(100_000)
            a.socket.close(lingerMs: 0)
            usleep(1_500_000) // the abort came within about a second
            b.socket.close(lingerMs: 0)
            XCTAssertTrue(learner.isRunning, "attempt \(attempt): the learner died; log:\n\(h.log("learner"))")
        }
        try assertServes(ep, context, h)
    }

    func testAFloodOfUnreadFetchesThenCloseDoesNotAbortOrBloatTheLearner() throws {
        let h = try ClusterHarness(testCase: self)
        let (learner, ep) = try startLearner(h)
        let context = try ZMQContext()
        defer { context.shutdown() }
        XCTAssertTrue(h.waitUntil(10) { self.rssKB(learner) > 0 })
        usleep(500_000)
        let before = rssKB(learner)
        for round in 0..<2 {
            let greedy = try RawPeer(context, id: "greedy-\(round)", endpoint: ep)
            try greedy.socket.set(.receiveHWM(1)) // never read: let everything pile up on the learner's side
            var hello = Wire.Hello(); hello.actorID = "greedy-\(round)"; hello.host = "test"
            try greedy.send(.hello(hello))
            var f = Wire.FetchWeights(); f.version = 0; f.chunkIndex = 0
            for _ in 0..<11_000 {
                _ = try greedy.socket.send(frames: [try greedy.codec.encode(.fetchWeights(f))], dontWait: true)
            }
            usleep(1_000_000)
            greedy.socket.close(lingerMs: 0)
            usleep(1_500_000)
            XCTAssertTrue(learner.isRunning, "round \(round): the learner died; log:\n\(h.log("learner"))")
        }
        let after = rssKB(learner)
        // Chunks are shared zero-copy frames: 22,000 queued replies must not cost 22,000 copies of the model.
        print("learner RSS before the floods \(before) KB, after \(after) KB")
        XCTAssertLessThan(
            after - before, 200_000, "learner memory grew by \((after - before) / 1024) MB under unread fetches")
        try assertServes(ep, context, h)
    }
}
