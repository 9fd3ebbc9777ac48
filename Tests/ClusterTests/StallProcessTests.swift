// Stalls whose cause lives in the socket shells, against real `softrl` processes on loopback: a relay flooded with
// FetchWeights by peers that never read (memory and generation), a learner whose open-file limit is nearly used up
// by silent connections (checkpoints), and a task with a problem the model cannot hold (refused at start, naming
// it). The protocol-core halves of these stalls are in InMemoryClusterTests and RelayTests.
import Foundation
import XCTest
@testable import Cluster
import Transport
#if canImport(Glibc)
    import Glibc
#endif

final class StallProcessTests: XCTestCase {
    static func residentMB(_ pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kb / 1024
    }

    /// Five peers send FetchWeights to an actor's relay as fast as they can and never read the replies. The relay
    /// shares one frame per chunk, bounds what each child is sent per version and how many requests it takes per
    /// loop, so the actor grows by at most 100 MB and keeps generating (before: ~200 MB/s, nothing generated).
    func testAFloodedRelayStaysWithin100MBAndKeepsGenerating() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "100000"])
        let ep = try h.endpoint()
        let actor = try h.startActor("relay", endpoint: ep, extra: ["--relay-bind", "tcp://127.0.0.1:*"])
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= 3 }, "no training; learner log:\n\(h.log("learner").suffix(2000))")
        let relayLine = try XCTUnwrap(
            h.log("relay").split(separator: "\n").first { $0.contains("serving weights to other actors at ") })
        let relayEndpoint = String(
            try XCTUnwrap(
                relayLine.components(separatedBy: "serving weights to other actors at ").last?.split(separator: " ")
                    .first))
        let before = Self.residentMB(actor.processIdentifier)
        let context = try ZMQContext()
        defer { context.shutdown() }
        let flooders = try (0..<5).map { _ -> ZMQSocket in
            let s = try ZMQSocket(context, .dealer)
            try s.set(.linger(ms: 0)); try s.set(.receiveHWM(1)) // read nothing: replies pile up on the relay's side
            try s.connect(relayEndpoint)
            return s
        }
        defer { flooders.forEach { $0.close(lingerMs: 0) } }
        var codec = WireCodec()
        let stepBefore = h.lastStep()
        var peak = before
        let end = Date().addingTimeInterval(10)
        while Date() < end && actor.isRunning {
            let v = UInt64(h.lastStep())
            for s in flooders {
                for version in [v, v + 1] { // the version the relay holds, and the next (parked until it arrives)
                    var f = Wire.FetchWeights(); f.version = version; f.chunkIndex = 0
                    _ = try? s.send(frames: [try codec.encode(.fetchWeights(f))], dontWait: true)
                }
            }
            peak = max(peak, Self.residentMB(actor.processIdentifier))
            if peak - before > 300 { break } // failing already: do not eat a shared machine's memory
        }
        XCTAssertTrue(actor.isRunning, "the actor died under the flood; log:\n\(h.log("relay").suffix(2000))")
        XCTAssertLessThanOrEqual(
            peak - before, 100, String(format: "actor RSS %.0f -> %.0f MB under five flooding peers", before, peak))
        XCTAssertGreaterThan(
            h.lastStep(), stepBefore + 2, "training (the flooded actor is the only one) stalled during the flood")
        learner.terminate(); actor.terminate()
    }

    /// A learner at an open-file limit of 256 and 300 silent connections (no Hello deadline to close them): it
    /// refuses connections past the limit minus its reserve, so checkpoints keep working (before: every checkpoint
    /// failed with "Too many open files" while training went on). The 300 arrive in a few milliseconds, faster than
    /// the loop can refuse them, so a checkpoint in that moment may still fail; the next update writes one again.
    func testSilentConnectionsCannotTakeTheDescriptorsCheckpointsNeed() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let limited = ["/bin/sh", "-c", "ulimit -n 256 && exec \"$0\" \"$@\""]
        let learner = try h.startLearner(
            ["--base", base, "--steps", "100000", "--checkpoint-every", "1", "--hello-deadline", "0"], wrapper: limited)
        let ep = try h.endpoint()
        let actor = try h.startActor("honest", endpoint: ep)
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= 2 }, "no training; learner log:\n\(h.log("learner").suffix(2000))")
        let port = try XCTUnwrap(ep.split(separator: ":").last.flatMap { UInt16($0) })
        var silent: [Int32] = []
        defer { silent.forEach { close($0) } }
        for _ in 0..<300 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_port = port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            silent.append(fd)
        }
        let step = h.lastStep()
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= step + 4 },
            "training stopped; learner log:\n\(h.log("learner").suffix(2000))")
        // Past the burst, every update is checkpointed again while the silent connections stay open.
        let settled = h.lastStep()
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= settled + 6 },
            "training stopped; learner log:\n\(h.log("learner").suffix(2000))")
        let log = h.log("learner")
        XCTAssertTrue(log.contains("refused") && log.contains("kept for checkpoints"), String(log.suffix(3000)))
        XCTAssertGreaterThanOrEqual(
            (try h.learnerState()["step"] as? Int) ?? 0, settled + 5,
            "checkpoints did not keep up; log:\n\(log.suffix(3000))")
        learner.terminate(); actor.terminate()
    }

    /// A jsonl problem longer than the model's positions: the learner refuses to start and names it; with
    /// `--unfit-problems skip` it trains on the others.
    func testAProblemTheModelCannotHoldIsRefusedAtStartOrSkipped() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        var lines = (0..<10).map { #"{"prompt": "\#($0)+2=", "answer": "\#($0 + 2)"}"# }
        lines.insert(#"{"prompt": "\#(String(repeating: "1+", count: 299))10=", "answer": "309"}"#, at: 3) // 602 tokens with BOS, at 512 positions
        let path = h.dir.appendingPathComponent("unfit.jsonl")
        try lines.joined(separator: "\n").write(to: path, atomically: true, encoding: .utf8)
        let refused = try h.startLearner(
            ["--base", base, "--task", "jsonl:" + path.path, "--steps", "2", "--mode", "hard"], log: "refuse")
        refused.waitUntilExit()
        let log = h.log("refuse")
        XCTAssertNotEqual(refused.terminationStatus, 0, log)
        XCTAssertTrue(
            log.contains("train problem 3 (answer \"309\"): 602 prompt tokens")
                && log.contains("--unfit-problems skip"), log)
        let learner = try h.startLearner([
            "--base", base, "--task", "jsonl:" + path.path, "--steps", "3", "--mode", "hard", "--unfit-problems", "skip"
        ])
        let actor = try h.startActor("a", endpoint: try h.endpoint())
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= 3 },
            "no training with the problem skipped; log:\n\(h.log("learner").suffix(2000))")
        XCTAssertEqual(h.metrics().last?["quarantined"] as? Int, 1)
        XCTAssertFalse(h.log("a").contains("dropped impossible work"), h.log("a"))
        learner.terminate(); actor.terminate()
    }
}
