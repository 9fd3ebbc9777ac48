// Interop: an actor written in Python from proto/softrl.proto alone (scripts/interop/python_actor.py: pyzmq,
// protoc-generated softrl_pb2, numpy) joins a Swift learner as its only actor. It builds a Llama from
// Welcome.model_config_json and the documented weights blob, takes prompts from the work items and samples
// hard, soft and fuzzy rollouts by the proto's rules and docs/PROTOCOL.md. The learner recomputes every action's
// log-probability with its own model: the gap it measures (metrics.jsonl logProbGap / logProbGapMax, and the
// importance ratio meanRatio) is the independent check that the contract is enough to reproduce the policy. The same
// peer, faulty on purpose (--bug), checks that the learner names an actor whose log-probs disagree and enforces the
// end-of-thinking rule.
import XCTest
import Foundation
import TensorMath

final class PythonPeerTests: XCTestCase {
    static let peerScript = ClusterHarness.repoRoot.appendingPathComponent("scripts/interop/python_actor.py").path

    /// Measured between the numpy fp32 forward pass and the learner's (each test: 3 steps of 8 rollouts, ~45 actions
    /// per step): hard mode mean |gap| 2-4e-7, largest 1.3e-6, |meanRatio - 1| < 1e-7. The bounds leave a 10x margin; a
    /// wrong RoPE, norm or layer order, or a log-prob at the wrong temperature, is off by 1e-3 or far more.
    static let meanGapLimit = 5e-6, maxGapLimit = 2e-5, ratioLimit = 5e-6
    /// Soft and fuzzy steps: the Gaussian log-density -|x - mu|^2 / 2 sigma^2 turns the ~1e-7 relative difference of
    /// the peer's float64 mixture mean mu and the learner's float32 one into |x - mu| |dmu| / sigma^2, larger than
    /// the hard case. Measured (the tests print each step): soft f32 mean 1.7-3.4e-6, largest 3.1e-5; fuzzy bf16
    /// with top-8 mean ~1e-7, largest 9.6e-7; |meanRatio - 1| < 1.2e-6.
    static let continuousMeanGapLimit = 5e-5, continuousMaxGapLimit = 3e-4

    /// The Python that runs the peer (TensorMath.ReferencePython, able to import pyzmq, protobuf and numpy), or a
    /// skip with the reason; protoc must be on the PATH too.
    static func requirePythonPeer() throws -> String {
        let python: String
        do {
            python = try ReferencePython.find(
                repositoryRoot: ClusterHarness.repoRoot, importing: ["zmq", "google.protobuf", "numpy"],
                packages: "pyzmq protobuf numpy"
            ).get()
        } catch { throw XCTSkip("\(error)") }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard paths.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/protoc") }) else {
            throw XCTSkip(
                "protoc not on PATH (apt-get install protobuf-compiler): the Python peer's softrl_pb2 cannot be generated"
            )
        }
        return python
    }

    func testPythonModelActorMatchesLearnerLogProbsF32() throws {
        try runPythonActor(wire: "f32", format: "f32-flat-v1")
    }

    func testPythonModelActorMatchesLearnerLogProbsBF16() throws {
        try runPythonActor(wire: "bf16", format: "bf16-flat-v1")
    }

    /// Thinking at another temperature, truncated to the top k (answers stay at temperature 1, untruncated): the
    /// sampler rules of Welcome.sampler_config_json, not just the model.
    func testPythonModelActorFollowsTemperatureAndTopK() throws {
        try runPythonActor(wire: "f32", format: "f32-flat-v1", sampler: #"{"hardTemperature": 1.3, "topK": 20}"#)
    }

    /// Soft thinking (the paper's mode): p^T E plus Gaussian noise fed as the input vector, its log-density recorded,
    /// thinking ended where the argmax is end-of-thinking (the marker replaces that step).
    func testPythonModelActorSoftMode() throws {
        try runPythonActor(wire: "f32", format: "f32-flat-v1", mode: "soft", sampler: #"{"noiseScale": 0.5}"#)
    }

    /// Fuzzy thinking (temperature 1e-4) on bf16 weights, truncated to the top 8: the noise scale of the rounded
    /// embeddings, and truncation applied to the mixture.
    func testPythonModelActorFuzzyModeWithTopKOnBF16() throws {
        try runPythonActor(
            wire: "bf16", format: "bf16-flat-v1", mode: "fuzzy", sampler: #"{"noiseScale": 0.5, "topK": 8}"#)
    }

    /// A peer that samples and records hard steps at temperature 1 while the run says 1.5: every group is valid, but
    /// its log-probs disagree with the learner's, and the learner names it (before: trained on with no warning).
    func testALearnerNamesAnActorWhoseLogProbsDisagree() throws {
        let (log, m) = try runFaultyPythonActor(bug: "hard-at-t1", mode: "hard", sampler: #"{"hardTemperature": 1.5}"#)
        XCTAssertTrue(
            log.contains("actor py-peer: its rollouts disagree with the learner by"),
            "no warning naming the actor:\n\(log)")
        let gaps = m.compactMap { ($0["actorLogProbGap"] as? [String: Double])?["py-peer"] }
        XCTAssertFalse(gaps.isEmpty)
        print("faulty python peer (hard steps at T = 1 in a T = 1.5 run): per-actor gap by step \(gaps)")
        XCTAssertGreaterThan(gaps.max() ?? 0, 0.02, "\(gaps)")
    }

    /// A peer that feeds and records the soft step at the position whose argmax is end-of-thinking, then inserts the
    /// token (the sampler's rule: instead of that step). Recorded honestly, validation rejects the group and says why;
    /// with the shadow hidden, the learner's own forward pass finds it and leaves the rollout out of the loss.
    func testTheEndOfThinkingRuleIsEnforced() throws {
        let (log, _) = try runFaultyPythonActor(
            bug: "feed-then-insert", mode: "soft", sampler: #"{"noiseScale": 0.5}"#, expectRun: false)
        XCTAssertTrue(
            log.contains("its greedy shadow is the end-of-thinking token"), "no rejection for the end rule:\n\(log)")
        let (_, m) = try runFaultyPythonActor(
            bug: "feed-then-insert-hiding", mode: "soft", sampler: #"{"noiseScale": 0.5}"#)
        XCTAssertGreaterThan(
            m.compactMap { $0["endRuleViolations"] as? Int }.reduce(0, +), 0,
            "the update did not find the hidden breach: \(m)")
    }

    /// A harness with the tiny JSONL task and a base fine-tuned on it for 20 steps (the finished `sft` process):
    /// some answers right and some wrong, so rewards differ within a group, the policy changes every update (the
    /// peer must follow each new version), and thinking ends both ways.
    func fineTunedBase(file: StaticString = #filePath, line: UInt = #line) throws -> (
        h: ClusterHarness, task: String, base: String, sft: Process
    ) {
        let h = try ClusterHarness(testCase: self)
        let task = try h.writeJSONLTask()
        let base = h.dir.appendingPathComponent("sft").path
        let sft = try h.spawn(
            ["sft", "--task", task, "--steps", "20", "--batch-size", "8", "--threads", "1", "--out", base], log: "sft")
        XCTAssertTrue(
            h.waitForExit(sft, timeout: 300), "sft did not finish; log:\n\(h.log("sft"))", file: file, line: line)
        return (h, task, base, sft)
    }

    /// Runs the faulty peer against a learner warning at 0.02 nats; returns the learner's log and metrics. With
    /// `expectRun` false the learner is stopped once the peer has left (it rejected the peer's groups).
    func runFaultyPythonActor(bug: String, mode: String, sampler: String, expectRun: Bool = true) throws -> (
        String, [[String: Any]]
    ) {
        let python = try Self.requirePythonPeer()
        let (h, task, base, _) = try fineTunedBase()
        let url = h.dir.appendingPathComponent("rl.json")
        try #"{"sampler": \#(sampler)}"#.write(to: url, atomically: true, encoding: .utf8)
        let learner = try h.startLearner([
            "--base", base, "--task", task, "--mode", mode, "--group-size", "4", "--steps", "3",
            "--max-staleness", "0", "--gap-warning", "0.02", "--config", url.path
        ])
        let peer = try h.spawnProgram(
            python,
            [
                Self.peerScript, "--connect", try h.endpoint(), "--id", "py-peer", "--timeout", "200",
                "--bug", bug
            ], log: "py-peer")
        if expectRun {
            XCTAssertTrue(
                h.waitForExit(learner, timeout: 240),
                "learner did not finish; learner log:\n\(h.log("learner"))\npeer log:\n\(h.log("py-peer"))")
        } else {
            XCTAssertTrue(
                h.waitForExit(peer, timeout: 240), "the faulty peer did not stop; peer log:\n\(h.log("py-peer"))")
            XCTAssertTrue(h.log("py-peer").contains("learner error 7"), h.log("py-peer"))
        }
        return (h.log("learner"), h.metrics())
    }

    func runPythonActor(wire: String, format: String, mode: String = "hard", sampler: String? = nil) throws {
        let python = try Self.requirePythonPeer()
        let (h, task, base, sft) = try fineTunedBase()
        XCTAssertEqual(h.status(sft), 0, "sft failed:\n\(h.log("sft"))")
        // --max-staleness 0: every trained rollout comes from the learner's current version, so the gap is numerics only.
        var config: [String] = []
        if let sampler {
            let url = h.dir.appendingPathComponent("rl.json")
            try #"{"sampler": \#(sampler)}"#.write(to: url, atomically: true, encoding: .utf8)
            config = ["--config", url.path]
        }
        let learner = try h.startLearner(
            [
                "--base", base, "--task", task, "--mode", mode, "--group-size", "4", "--steps", "3",
                "--max-staleness", "0", "--wire-weights", wire
            ] + config)
        let ep = try h.endpoint()
        let peer = try h.spawnProgram(
            python, [Self.peerScript, "--connect", ep, "--id", "py-peer", "--timeout", "200"], log: "py-peer")
        XCTAssertTrue(
            h.waitForExit(learner, timeout: 240),
            "learner did not finish with only the Python actor; learner log:\n\(h.log("learner"))\npeer log:\n\(h.log("py-peer"))"
        )
        XCTAssertEqual(h.status(learner), 0)
        XCTAssertTrue(h.waitForExit(peer, timeout: 30), "the Python actor did not leave after the run finished")
        XCTAssertEqual(h.status(peer), 0, "peer log:\n\(h.log("py-peer"))")

        let log = h.log("learner"), peerLog = h.log("py-peer")
        XCTAssertTrue(log.contains("actor py-peer joined"))
        XCTAssertFalse(log.contains("rejected"), "the learner rejected a Python group:\n\(log)")
        XCTAssertFalse(log.contains("disagree with the learner"), "the learner warned about an honest peer:\n\(log)")
        let m = h.metrics()
        XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3], "steps must advance on the Python actor's groups")
        XCTAssertEqual(m.last?["malformed"] as? Int, 0)
        for u in m {
            let gap = try XCTUnwrap(u["logProbGap"] as? Double), gapMax = try XCTUnwrap(u["logProbGapMax"] as? Double)
            let ratio = try XCTUnwrap(u["meanRatio"] as? Double),
                actions = try XCTUnwrap(u["logProbGapActions"] as? Int)
            XCTAssertEqual(
                actions, u["actions"] as? Int, "every action is compared (all rollouts at the current version): \(u)")
            XCTAssertGreaterThan(actions, 0)
            print(
                "python peer \(mode) \(wire) step \(u["step"] ?? "?"): mean gap \(gap), largest \(gapMax), meanRatio - 1 = \(ratio - 1) over \(actions) actions"
            )
            let (meanLimit, maxLimit) =
                mode == "hard"
                ? (Self.meanGapLimit, Self.maxGapLimit) : (Self.continuousMeanGapLimit, Self.continuousMaxGapLimit)
            XCTAssertLessThan(
                gap, meanLimit, "mean |learner - peer| log-prob at step \(u["step"] ?? "?"); peer log:\n\(peerLog)")
            XCTAssertLessThan(gapMax, maxLimit, "largest |learner - peer| log-prob at step \(u["step"] ?? "?")")
            let own = try XCTUnwrap(
                (u["actorLogProbGap"] as? [String: Double])?["py-peer"], "the per-actor gap of the only actor: \(u)")
            XCTAssertLessThan(own, meanLimit * 4, "per-actor gap at step \(u["step"] ?? "?")")
            XCTAssertLessThan(abs(ratio - 1), Self.ratioLimit, "mean importance ratio at step \(u["step"] ?? "?")")
        }
        // The peer loaded and verified every version, in the announced format, and the policy really changed.
        let digests = peerLog.split(separator: "\n").filter {
            $0.contains("loaded policy v") && $0.contains("(\(format))") && $0.contains("verified")
        }
        .compactMap { line in line.range(of: "sha256 ").map { String(line[$0.upperBound...].prefix(16)) } }
        XCTAssertEqual(Set(digests).count, 3, "versions 0, 1, 2 with three different digests:\n\(peerLog)")
        XCTAssertGreaterThan(
            m.compactMap { $0["correctRate"] as? Double }.max() ?? 0, 0, "the learner's own rewards: some answers right"
        )
        // Both ways thinking ends were generated (and accepted): a sampled end-of-thinking (hard) or the shadow's
        // (soft, fuzzy), and the forced one.
        let ends = try XCTUnwrap(
            peerLog.firstMatch(
                of: #/thinking ended (\d+) time\(s\) sampled, (\d+) time\(s\) by the shadow, (\d+) time\(s\) forced/#),
            peerLog)
        XCTAssertGreaterThan(Int(mode == "hard" ? ends.1 : ends.2) ?? 0, 0, "no end by the model itself:\n\(peerLog)")
        if mode == "hard" { XCTAssertGreaterThan(Int(ends.3) ?? 0, 0, "no forced end:\n\(peerLog)") }
        XCTAssertEqual(m.compactMap { $0["endRuleViolations"] as? Int }.reduce(0, +), 0)
    }
}
