// Interop: an actor written in Python from proto/softrl.proto alone (scripts/interop/python_actor.py, pyzmq +
// protoc-generated softrl_pb2) joins a Swift learner as its only actor. It must get through Welcome, fetch and
// SHA-256-verify the weights, take work and return groups the learner accepts and trains on: the wire
// contract, not shared Swift code, is what the two sides agree on.
import XCTest
import Foundation

final class PythonPeerTests: XCTestCase {
    static let python = "/usr/bin/python3"
    static let peerScript = ClusterHarness.repoRoot.appendingPathComponent("scripts/interop/python_actor.py").path

    /// Skips (with the reason) unless Debian's python3 can import pyzmq and protobuf and protoc exists.
    static func requirePythonPeer() throws {
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) not found (apt-get install python3)") }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import zmq, google.protobuf"]
        check.standardOutput = FileHandle.nullDevice; check.standardError = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            throw XCTSkip("\(python) cannot import zmq and google.protobuf (apt-get install python3-zmq python3-protobuf)")
        }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard paths.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/protoc") }) else {
            throw XCTSkip("protoc not on PATH (apt-get install protobuf-compiler): the Python peer's softrl_pb2 cannot be generated")
        }
    }

    func testPythonActorAloneDrivesTraining() throws {
        try Self.requirePythonPeer()
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let task = try h.writeJSONLTask()
        let learner = try h.startLearner(["--base", base, "--task", task, "--mode", "hard", "--group-size", "3", "--steps", "3"])
        let ep = try h.endpoint()
        let peer = try h.spawnProgram(Self.python, [Self.peerScript, "--connect", ep, "--id", "py-peer", "--timeout", "200"], log: "py-peer")
        XCTAssertTrue(h.waitForExit(learner, timeout: 240), "learner did not finish with only the Python actor; learner log:\n\(h.log("learner"))\npeer log:\n\(h.log("py-peer"))")
        XCTAssertEqual(h.status(learner), 0)
        XCTAssertTrue(h.waitForExit(peer, timeout: 30), "the Python actor did not leave after the run finished")
        XCTAssertEqual(h.status(peer), 0, "peer log:\n\(h.log("py-peer"))")

        let m = h.metrics()
        XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3], "steps must advance on the Python actor's groups")
        // py-peer is the only actor, so every trained group is its own. (Per-update token rates can be 0 for an update
        // whose groups all arrived while the previous one trained: they count toward the step that ends next.)
        XCTAssertTrue(m.allSatisfy { ($0["positions"] as? [Int])?.count == 2 && ($0["actorsConnected"] as? Int) == 1 }, "\(m)")
        XCTAssertGreaterThan(m.reduce(0.0) { $0 + ((($1["actorTokensPerSecond"] as? [String: Double])?["py-peer"]) ?? 0) }, 0)
        XCTAssertEqual(m.last?["malformed"] as? Int, 0)
        let log = h.log("learner")
        XCTAssertTrue(log.contains("actor py-peer joined"))
        XCTAssertFalse(log.contains("rejected"), "the learner rejected a Python group:\n\(log)")
        // The peer checked the weights itself: every version it loaded matched the notice's size and SHA-256.
        let peerLog = h.log("py-peer")
        XCTAssertTrue(peerLog.contains("loaded policy v0") && peerLog.contains("verified"), peerLog)
        // The learner's own rewards: the peer answers correctly on even samples, so some rollouts are correct.
        XCTAssertGreaterThan(m.compactMap { $0["correctRate"] as? Double }.max() ?? 0, 0)
    }
}
