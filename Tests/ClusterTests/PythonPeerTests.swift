// Interop: an actor written in Python from proto/softrl.proto alone (scripts/interop/python_actor.py: pyzmq,
// protoc-generated softrl_pb2, numpy) joins a Swift learner as its only actor. It builds a Llama from
// Welcome.model_config_json and the documented weights blob, takes prompts from the work items and samples
// hard-mode rollouts by the proto's rules. The learner recomputes every action's log-probability with its own
// model: the gap it measures (metrics.jsonl logProbGap / logProbGapMax, and the importance ratio meanRatio) is
// the independent check that the contract is enough to reproduce the policy.
import XCTest
import Foundation
import TensorMath

final class PythonPeerTests: XCTestCase {
    static let peerScript = ClusterHarness.repoRoot.appendingPathComponent("scripts/interop/python_actor.py").path

    /// Measured between the numpy fp32 forward pass and the learner's (each test: 3 steps of 8 rollouts, ~45 actions
    /// per step): mean |gap| 2-4e-7, largest 1.3e-6, |meanRatio - 1| < 1e-7. The bounds leave a 10x margin; a wrong RoPE,
    /// norm or layer order, or a log-prob at the wrong temperature, is off by 1e-3 or far more.
    static let meanGapLimit = 5e-6, maxGapLimit = 2e-5, ratioLimit = 5e-6

    /// The Python that runs the peer (TensorMath.ReferencePython, able to import pyzmq, protobuf and numpy), or a
    /// skip with the reason; protoc must be on the PATH too.
    static func requirePythonPeer() throws -> String {
        let python: String
        do {
            python = try ReferencePython.find(repositoryRoot: ClusterHarness.repoRoot, importing: ["zmq", "google.protobuf", "numpy"],
                                              packages: "pyzmq protobuf numpy").get()
        } catch { throw XCTSkip("\(error)") }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard paths.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/protoc") }) else {
            throw XCTSkip("protoc not on PATH (apt-get install protobuf-compiler): the Python peer's softrl_pb2 cannot be generated")
        }
        return python
    }

    func testPythonModelActorMatchesLearnerLogProbsF32() throws { try runPythonActor(wire: "f32", format: "f32-flat-v1") }

    func testPythonModelActorMatchesLearnerLogProbsBF16() throws { try runPythonActor(wire: "bf16", format: "bf16-flat-v1") }

    /// Thinking at another temperature, truncated to the top k (answers stay at temperature 1, untruncated): the
    /// sampler rules of Welcome.sampler_config_json, not just the model.
    func testPythonModelActorFollowsTemperatureAndTopK() throws {
        try runPythonActor(wire: "f32", format: "f32-flat-v1", sampler: #"{"hardTemperature": 1.3, "topK": 20}"#)
    }

    func runPythonActor(wire: String, format: String, sampler: String? = nil) throws {
        let python = try Self.requirePythonPeer()
        let h = try ClusterHarness(testCase: self)
        let task = try h.writeJSONLTask()
        // A briefly fine-tuned base: some answers right and some wrong, so rewards differ within a group, the policy
        // changes every update (the peer must follow each new version), and thinking ends both ways.
        let base = h.dir.appendingPathComponent("sft").path
        let sft = try h.spawn(["sft", "--task", task, "--steps", "20", "--batch-size", "8", "--threads", "1", "--out", base], log: "sft")
        XCTAssertTrue(h.waitForExit(sft, timeout: 300), "sft did not finish; log:\n\(h.log("sft"))")
        XCTAssertEqual(h.status(sft), 0, "sft failed:\n\(h.log("sft"))")
        // --max-staleness 0: every trained rollout comes from the learner's current version, so the gap is numerics only.
        var config: [String] = []
        if let sampler {
            let url = h.dir.appendingPathComponent("rl.json")
            try #"{"sampler": \#(sampler)}"#.write(to: url, atomically: true, encoding: .utf8)
            config = ["--config", url.path]
        }
        let learner = try h.startLearner(["--base", base, "--task", task, "--mode", "hard", "--group-size", "4", "--steps", "3",
                                          "--max-staleness", "0", "--wire-weights", wire] + config)
        let ep = try h.endpoint()
        let peer = try h.spawnProgram(python, [Self.peerScript, "--connect", ep, "--id", "py-peer", "--timeout", "200"], log: "py-peer")
        XCTAssertTrue(h.waitForExit(learner, timeout: 240), "learner did not finish with only the Python actor; learner log:\n\(h.log("learner"))\npeer log:\n\(h.log("py-peer"))")
        XCTAssertEqual(h.status(learner), 0)
        XCTAssertTrue(h.waitForExit(peer, timeout: 30), "the Python actor did not leave after the run finished")
        XCTAssertEqual(h.status(peer), 0, "peer log:\n\(h.log("py-peer"))")

        let log = h.log("learner"), peerLog = h.log("py-peer")
        XCTAssertTrue(log.contains("actor py-peer joined"))
        XCTAssertFalse(log.contains("rejected"), "the learner rejected a Python group:\n\(log)")
        let m = h.metrics()
        XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3], "steps must advance on the Python actor's groups")
        XCTAssertEqual(m.last?["malformed"] as? Int, 0)
        for u in m {
            let gap = try XCTUnwrap(u["logProbGap"] as? Double), gapMax = try XCTUnwrap(u["logProbGapMax"] as? Double)
            let ratio = try XCTUnwrap(u["meanRatio"] as? Double), actions = try XCTUnwrap(u["logProbGapActions"] as? Int)
            XCTAssertEqual(actions, u["actions"] as? Int, "every action is compared (all rollouts at the current version): \(u)")
            XCTAssertGreaterThan(actions, 0)
            XCTAssertLessThan(gap, Self.meanGapLimit, "mean |learner - peer| log-prob at step \(u["step"] ?? "?"); peer log:\n\(peerLog)")
            XCTAssertLessThan(gapMax, Self.maxGapLimit, "largest |learner - peer| log-prob at step \(u["step"] ?? "?")")
            XCTAssertLessThan(abs(ratio - 1), Self.ratioLimit, "mean importance ratio at step \(u["step"] ?? "?")")
        }
        // The peer loaded and verified every version, in the announced format, and the policy really changed.
        let digests = peerLog.split(separator: "\n").filter { $0.contains("loaded policy v") && $0.contains("(\(format))") && $0.contains("verified") }
            .compactMap { line in line.range(of: "sha256 ").map { String(line[$0.upperBound...].prefix(16)) } }
        XCTAssertEqual(Set(digests).count, 3, "versions 0, 1, 2 with three different digests:\n\(peerLog)")
        XCTAssertGreaterThan(m.compactMap { $0["correctRate"] as? Double }.max() ?? 0, 0, "the learner's own rewards: some answers right")
        // Both ways thinking ends were generated (and accepted): a sampled end-of-thinking and the forced one.
        let ends = try XCTUnwrap(peerLog.firstMatch(of: #/thinking ended (\d+) time\(s\) sampled, (\d+) time\(s\) forced/#), peerLog)
        XCTAssertGreaterThan(Int(ends.1) ?? 0, 0); XCTAssertGreaterThan(Int(ends.2) ?? 0, 0)
    }
}
