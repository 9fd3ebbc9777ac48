// The learner as several MPI ranks (`mpirun -np 2 softrl learner ...`), against the real thing: Open MPI's
// mpirun, real processes, real sockets. The gradient sum against a plain rank-order loop; two ranks against one
// process on the same work (metrics and checkpoint); a rank killed mid-run (the group stops, the last
// checkpoint is whole and resumes as one process); and ranks in two network namespaces, so their sums cross a
// real (virtual) link rather than shared memory. Each test skips with the reason when mpirun is missing.
import XCTest
import Foundation
import Cluster
import TransformerLM

final class LearnerRankTests: XCTestCase {
    static let mpirunCandidates = ["/usr/bin/mpirun", "/usr/local/bin/mpirun", "/usr/bin/orterun"]

    /// mpirun with the flags every test needs: root is allowed (CI runs as root), more ranks than cores.
    func mpirun() throws -> (path: String, flags: [String]) {
        guard let path = Self.mpirunCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip(
                "mpirun not found at \(Self.mpirunCandidates): apt-get install openmpi-bin libopenmpi-dev (scripts/setup.sh)"
            )
        }
        return (path, ["--allow-run-as-root", "--oversubscribe"])
    }

    func testGradientSumOverTwoRanksEqualsTheRankOrderSumOnEveryRank() throws {
        let (mpirun, flags) = try mpirun()
        let h = try ClusterHarness(testCase: self)
        // An odd count (no chunk boundary luck); values with varied exponents so a wrong order would show.
        let (status, out) = try ClusterHarness.runToEnd(
            mpirun,
            flags + ["-np", "2", h.exe.path, "bench", "allreduce", "--floats", "1000003", "--repeats", "1", "--check"],
            environment: ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 })
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(
            out.contains("max |sum - rank-order loop| summed over ranks 0 "),
            "two ranks have one possible sum, a0 + a1:\n\(out)")
        XCTAssertTrue(out.contains("result bits differ from rank 0's on 0 rank(s)"), out)
    }

    /// The same run, as one process and as two ranks: a tiny model, one actor with one slot, synchronous updates,
    /// so every update sees the same groups in the same order (their seeds come from the run seed and the prompt
    /// position) and only the gradient's summation differs.
    func testTwoRanksTrainLikeOneProcess() throws {
        let (mpirun, flags) = try mpirun()
        let steps = 3
        // A briefly warm-started model: a random one earns no reward on mnns, so its gradients would all be 0.
        let setup = try ClusterHarness(testCase: self)
        let base = setup.dir.appendingPathComponent("sft").path
        let sft = try setup.spawn(["sft", "--task", "mnns", "--steps", "60", "--out", base], log: "sft")
        sft.waitUntilExit()
        XCTAssertEqual(sft.terminationStatus, 0, setup.log("sft"))
        // Four micro-batches of two rollouts per update: rank 0 differentiates the 1st and 3rd, rank 1 the others, and
        // the sum's order differs from one process's, which adds them in turn.
        let args = [
            "--steps", "\(steps)", "--max-staleness", "0", "--checkpoint-every", "1", "--seed", "7", "--group-size",
            "4", "--micro-batch", "2"
        ]
        func run(ranks: Int) throws -> (metrics: [[String: Any]], checkpoint: URL, log: String) {
            let h = try ClusterHarness(testCase: self)
            let learner = try h.startLearner(
                ["--base", base] + args, wrapper: ranks > 1 ? [mpirun] + flags + ["-np", "\(ranks)"] : [])
            try h.startActor("a1", endpoint: try h.endpoint())
            XCTAssertTrue(
                h.waitForExit(learner, timeout: 300),
                "the learner (\(ranks) rank(s)) did not finish \(steps) steps:\n\(h.log("learner"))")
            XCTAssertEqual(h.status(learner), 0, h.log("learner"))
            return (h.metrics(), h.runDir.appendingPathComponent("checkpoint"), h.log("learner"))
        }
        let one = try run(ranks: 1)
        let two = try run(ranks: 2)
        XCTAssertTrue(two.log.contains("learner ranks: 2"), "rank 0 should say it leads two ranks:\n\(two.log)")
        XCTAssertTrue(two.log.contains("rank 1 of 2"), "rank 1 should have followed:\n\(two.log)")
        XCTAssertEqual(one.metrics.count, steps, one.log)
        XCTAssertEqual(two.metrics.count, steps, two.log)
        // Inputs to the update: identical. Results: equal up to the order of one float sum per gradient element.
        XCTAssertGreaterThan(
            one.metrics.compactMap { $0["gradNorm"] as? Double }.max() ?? 0, 0,
            "no update had a gradient: nothing compared")
        for (a, b) in zip(one.metrics, two.metrics) {
            for key in [
                "step", "rollouts", "actions", "groupsKept", "rewardMean", "correctRate", "learningRate", "positions"
            ] {
                XCTAssertEqual("\(a[key] ?? "-")", "\(b[key] ?? "-")", "\(key) at step \(a["step"] ?? "?")")
            }
            for key in ["loss", "gradNorm", "logProbGap", "meanRatio"] {
                let x = try XCTUnwrap(a[key] as? Double, key), y = try XCTUnwrap(b[key] as? Double, key)
                XCTAssertEqual(
                    x, y, accuracy: 1e-4 * max(1, abs(x)),
                    "\(key) at step \(a["step"] ?? "?"): one process \(x), two ranks \(y)")
            }
        }
        let (m1, o1, s1) = try LearnerCheckpoint.load(one.checkpoint)
        let (m2, o2, s2) = try LearnerCheckpoint.load(two.checkpoint)
        XCTAssertEqual(s1.step, steps); XCTAssertEqual(s2.step, steps)
        XCTAssertEqual(o1.step, o2.step)
        // AdamW moves a weight by at most lr per step whatever the gradient; a gradient element at rounding level
        // can change sign with the sum's order, so that bound is the worst case; the mean stays far below it.
        var maxDiff: Float = 0, sumDiff = 0.0
        for i in 0..<m1.parameterCount {
            let d = abs(m1.weights[i] - m2.weights[i]); maxDiff = max(maxDiff, d); sumDiff += Double(d)
        }
        let meanDiff = sumDiff / Double(m1.parameterCount)
        print("two ranks vs one process after \(steps) updates: max |dw| \(maxDiff), mean |dw| \(meanDiff)")
        XCTAssertLessThanOrEqual(Double(maxDiff), 2e-4 * Double(steps))
        XCTAssertLessThanOrEqual(meanDiff, 1e-6)
    }

    func testKilledRankStopsTheGroupAndLeavesAWholeCheckpointThatResumesAsOneProcess() throws {
        let (mpirun, flags) = try mpirun()
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let group = try h.startLearner(
            ["--base", base, "--steps", "1000", "--max-staleness", "0", "--checkpoint-every", "2"],
            wrapper: [mpirun] + flags + ["-np", "2"])
        try h.startActor("a1", endpoint: try h.endpoint())
        XCTAssertTrue(h.waitUntil(180) { h.lastStep() >= 3 }, "the two ranks never trained:\n\(h.log("learner"))")
        // Rank 1 names its pid when it starts following.
        let line = try XCTUnwrap(
            h.log("learner").split(separator: "\n").first { $0.contains("rank 1 of 2") }, h.log("learner"))
        let pid = try XCTUnwrap(
            Int32(line.components(separatedBy: "(pid ").last?.prefix { $0.isNumber } ?? ""), String(line))
        kill(pid, SIGKILL)
        XCTAssertTrue(h.waitForExit(group, timeout: 60), "the group kept running without rank 1:\n\(h.log("learner"))")
        XCTAssertNotEqual(h.status(group), 0, "a group that lost a rank must not exit as a success")
        let log = h.log("learner")
        XCTAssertTrue(
            log.contains("rank 1") && (log.contains("signal 9") || log.contains("Killed")),
            "no message names the dead rank:\n\(log)")
        // The checkpoint on disk is a whole one (it loads, weights and optimizer agree in size and step).
        let (model, optimizer, state) = try LearnerCheckpoint.load(h.runDir.appendingPathComponent("checkpoint"))
        XCTAssertEqual(optimizer.step, state.step)
        XCTAssertEqual(optimizer.m.count, model.parameterCount)
        XCTAssertGreaterThanOrEqual(state.step, 2)

        // One process continues the run the two ranks left.
        let resumed = try h.spawn(
            ["learner", "--resume", h.runDir.path, "--bind", "tcp://127.0.0.1:*", "--steps", "\(state.step + 2)"]
                + ClusterHarness.fastLearnerArgs,
            log: "resumed")
        XCTAssertTrue(
            h.waitUntil(60) {
                FileManager.default.fileExists(atPath: h.runDir.appendingPathComponent("learner.endpoint").path)
                    && h.log("resumed").contains("bound")
            },
            h.log("resumed"))
        let endpoint = try String(contentsOf: h.runDir.appendingPathComponent("learner.endpoint"), encoding: .utf8)
        try h.startActor("a2", endpoint: endpoint)
        XCTAssertTrue(h.waitForExit(resumed, timeout: 180), "the resumed learner did not finish:\n\(h.log("resumed"))")
        XCTAssertEqual(h.status(resumed), 0, h.log("resumed"))
        XCTAssertEqual(
            try LearnerCheckpoint.load(h.runDir.appendingPathComponent("checkpoint")).state.step, state.step + 2)
        XCTAssertTrue(
            h.metrics().contains { ($0["step"] as? Int) == state.step + 1 },
            "the resumed run should continue at step \(state.step + 1)")
    }

    /// Two "hosts" as network namespaces joined through a bridge: mpirun runs in the learner's and starts an Open MPI
    /// daemon in each through an rsh agent that enters the namespace where it would ssh; rank 0 (the learner's socket)
    /// in one, rank 1 in the other, the actor in a third. MPI may use only TCP on that subnet, so every sum crosses
    /// the link, as between two machines.
    func testRanksOnTwoHostsInNetworkNamespacesTrainOverTheLink() throws {
        let (mpirun, flags) = try mpirun()
        let lab = try NetnsLab(testCase: self)
        try lab.build(actors: 2)
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let agent = h.dir.appendingPathComponent("netns-agent.sh")
        try "#!/bin/sh\nhost=\"$1\"; shift\nexec \(lab.ip) netns exec \"$host\" /bin/sh -c \"$*\"\n".write(
            to: agent, atomically: true, encoding: .utf8)
        chmod(agent.path, 0o755)
        let bind = "tcp://\(lab.learnerAddress):5555"
        let subnet = "10.250.\(lab.subnet).0/24"
        let group = try h.spawnProgram(
            lab.ip,
            ["netns", "exec", lab.learnerNS(), mpirun] + flags
                + [
                    "--mca", "plm_rsh_agent", agent.path, "--host", "\(lab.learnerNS()),\(lab.actorNS(1))", "--map-by",
                    "node",
                    "--mca", "pml", "ob1", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet, "--mca",
                    "oob_tcp_if_include", subnet,
                    "-np", "2", h.exe.path, "learner", "--bind", bind, "--run-dir", h.runDir.path, "--base", base,
                    "--steps", "4",
                    "--max-staleness", "0", "--insecure"
                ] + ClusterHarness.fastLearnerArgs, log: "learner")
        XCTAssertEqual(try h.endpoint(), bind)
        try h.spawn(
            ["actor", "--connect", bind, "--id", "a1", "--slots", "1", "--threads", "1"], log: "a1",
            wrapper: lab.wrapper(lab.actorNS(2)))
        XCTAssertTrue(
            h.waitForExit(group, timeout: 300), "the ranks did not finish over the link:\n\(h.log("learner"))")
        XCTAssertEqual(h.status(group), 0, h.log("learner"))
        XCTAssertEqual(h.lastStep(), 4, h.log("learner"))
        XCTAssertTrue(h.log("learner").contains("rank 1 of 2"), h.log("learner"))
    }
}
