// The cluster as users run it: a learner and actor processes on loopback TCP. Actors are killed with SIGKILL,
// join late, and the learner is killed and resumed; the tests then audit metrics.jsonl and the checkpoint:
// versions advance, every trained prompt position appears once, and trained + outstanding positions cover the
// schedule without gaps (no prompt skipped, none counted twice).
import XCTest
import Foundation

final class ClusterProcessTests: XCTestCase {
    func testLearnerAndTwoActorsTrainAndVersionsAdvance() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "4"])
        let ep = try h.endpoint()
        try h.startActor("a0", endpoint: ep); try h.startActor("a1", endpoint: ep)
        guard h.waitForExit(learner, timeout: 240) else {
            return XCTFail("learner did not finish; log:\n\(h.log("learner"))")
        }
        XCTAssertEqual(h.status(learner), 0)
        let m = h.metrics()
        XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(m.map { $0["policyVersion"] as? Int }, [1, 2, 3, 4])
        for key in [
            "loss", "rewardMean", "rewardStd", "correctRate", "clusterTokensPerSecond", "rolloutsPerSecond",
            "learnerStepMs",
            "learnerWaitShare", "stalenessHistogram", "droppedStale", "reissued", "actorsConnected",
            "actorTokensPerSecond", "logProbGap"
        ] {
            XCTAssertNotNil(m.last?[key], "metrics.jsonl lacks \(key)")
        }
        XCTAssertTrue(h.log("learner").contains("actor a0 joined") && h.log("learner").contains("actor a1 joined"))
        try h.assertEveryPromptOnce(m)
        // Both actors were told the run finished and exited cleanly.
        for p in h.processes.dropFirst(2) {
            guard h.waitForExit(p, timeout: 30) else { return XCTFail("an actor did not exit after the run finished") }
            XCTAssertEqual(h.status(p), 0)
        }
    }

    func testKilledActorsWorkIsReissuedAndNothingCountsTwice() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        // Staleness 3 and 2 slots let a victim hold several items; one caught between items (the learner says
        // "0 item(s) re-queued") proves nothing, so up to three victims are killed until one dies holding work.
        let learner = try h.startLearner(["--base", base, "--steps", "1000", "--max-staleness", "3"])
        let ep = try h.endpoint()
        try h.startActor("survivor", endpoint: ep)
        var lostWithVictims = 0
        for attempt in 0..<3 where lostWithVictims == 0 {
            let name = "victim\(attempt)"
            let victim = try h.startActor(name, endpoint: ep, slots: 2)
            let joinedAt = h.lastStep()
            XCTAssertTrue(
                h.waitUntil(120) {
                    h.metrics().contains {
                        ($0["step"] as? Int ?? 0) > joinedAt
                            && (($0["actorTokensPerSecond"] as? [String: Double])?[name] ?? 0) > 0
                    }
                },
                "\(name) never contributed; log:\n\(h.log(name))")
            kill(victim.processIdentifier, SIGKILL)
            XCTAssertTrue(
                h.waitUntil(120) { h.log("learner").contains("actor \(name) silent") },
                "the learner never noticed the dead actor:\n\(h.log("learner"))")
            let silentLine =
                h.log("learner").split(separator: "\n").first { $0.contains("actor \(name) silent") }.map(String.init)
                ?? ""
            lostWithVictims +=
                Int(silentLine.components(separatedBy: "presumed lost; ").last?.prefix { $0.isNumber } ?? "") ?? 0
        }
        XCTAssertGreaterThan(lostWithVictims, 0, "three victims all died holding nothing: inconclusive")
        let noticedAt = h.lastStep()
        XCTAssertTrue(
            h.waitUntil(120) {
                h.lastStep() >= noticedAt + 2 && (h.metrics().last?["reissued"] as? Int ?? 0) >= lostWithVictims
            },
            "training did not go on with the victims' \(lostWithVictims) item(s) re-issued; log:\n\(h.log("learner"))")
        h.stopLearner(learner)
        let m = h.metrics()
        try h.assertEveryPromptOnce(m)
    }

    func testLateActorGetsCurrentWeightsAndContributes() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "1000"])
        let ep = try h.endpoint()
        try h.startActor("early", endpoint: ep)
        XCTAssertTrue(h.waitUntil(120) { h.lastStep() >= 2 })
        let joinedAt = h.lastStep()
        try h.startActor("late", endpoint: ep)
        let contributed = {
            h.metrics().contains { (($0["actorTokensPerSecond"] as? [String: Double])?["late"] ?? 0) > 0 }
        }
        XCTAssertTrue(
            h.waitUntil(180) { contributed() },
            "the late actor's groups never reached an update; log:\n\(h.log("late"))")
        h.stopLearner(learner)
        // It loaded a version at least as new as the one current when it joined (never the initial weights).
        let loaded = h.log("late").components(separatedBy: "loaded policy v").dropFirst().compactMap {
            Int($0.prefix { $0.isNumber })
        }
        XCTAssertGreaterThanOrEqual(loaded.first ?? -1, joinedAt, "late actor log:\n\(h.log("late"))")
    }

    func testRelayChainCarriesWeightsAndSurvivesAKilledRelay() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        // Fan-out 1: a chain learner -> r0 -> r1 -> r2, each actor serving the next on its own relay socket.
        // Steps enough that the run outlasts r2's wait for its dead parent on any machine; the learner is stopped
        // by SIGTERM once r2 has shown it kept up (a fixed short run finished before that on a fast CI machine).
        let learner = try h.startLearner(["--base", base, "--steps", "1000", "--relay-fanout", "1"])
        let ep = try h.endpoint()
        var actors: [Process] = []
        for i in 0..<3 {
            actors.append(try h.startActor("r\(i)", endpoint: ep, extra: ["--relay-bind", "tcp://127.0.0.1:*"]))
            XCTAssertTrue(h.waitUntil(60) { h.log("learner").contains("actor r\(i) joined") }) // joining order = chain order
        }
        XCTAssertTrue(
            h.waitUntil(180) { h.log("r2").contains("via relays") && h.lastStep() >= 2 },
            "r2 never loaded weights through relays; log:\n\(h.log("r2"))")
        XCTAssertTrue(h.log("r1").contains("serving weights to other actors at tcp://127.0.0.1:"))
        kill(actors[1].processIdentifier, SIGKILL)
        let killedAt = h.lastStep()
        // r2 keeps up: it loads versions after the kill (from r0 or the learner, after leaving the dead r1).
        let loaded = {
            h.log("r2").components(separatedBy: "loaded policy v").dropFirst().compactMap {
                Int($0.prefix { $0.isNumber })
            }.max() ?? -1
        }
        XCTAssertTrue(
            h.waitUntil(180) { loaded() > killedAt + 1 },
            "r2 stopped loading versions after its relay died; r2 log:\n\(h.log("r2"))")
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() > killedAt + 2 },
            "training stopped after the relay died; log:\n\(h.log("learner"))")
        h.stopLearner(learner)
        try h.assertEveryPromptOnce(h.metrics())
    }

    func testLearnerKilledAndResumedContinuesAndActorsReconnect() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let first = try h.startLearner(["--base", base, "--steps", "20", "--checkpoint-every", "1"])
        let ep = try h.endpoint()
        let actors = [try h.startActor("r0", endpoint: ep), try h.startActor("r1", endpoint: ep)]
        XCTAssertTrue(h.waitUntil(120) { h.lastStep() >= 3 })
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let before = h.metrics()
        let checkpointStep = try XCTUnwrap(h.learnerState()["step"] as? Int)
        XCTAssertGreaterThanOrEqual(checkpointStep, 2)
        // Same endpoint: the actors are not told anything, they reconnect by themselves.
        let second = try h.startLearner(["--resume", h.runDir.path], bind: ep, log: "learner2")
        guard h.waitForExit(second, timeout: 240) else {
            return XCTFail("resumed learner did not finish; log:\n\(h.log("learner2"))")
        }
        XCTAssertEqual(h.status(second), 0)
        XCTAssertTrue(h.log("learner2").contains("resuming run"))
        let after = Array(h.metrics().dropFirst(before.count))
        XCTAssertEqual(after.first?["step"] as? Int, checkpointStep + 1, "step count must continue from the checkpoint")
        XCTAssertEqual(after.last?["step"] as? Int, 20)
        XCTAssertGreaterThanOrEqual(after.last?["actorsConnected"] as? Int ?? 0, 1, "actors did not reconnect")
        for a in actors { XCTAssertTrue(h.waitForExit(a, timeout: 30), "actor did not exit after the run finished") }
        // The surviving lineage: steps up to the checkpoint from the first run, then the resumed run.
        let lineage = before.filter { ($0["step"] as? Int ?? 0) <= checkpointStep } + after
        try h.assertEveryPromptOnce(lineage)
    }

    func testSIGTERMStopsActorAndLearnerCleanlyWithACheckpoint() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "1000", "--checkpoint-every", "1000"])
        let ep = try h.endpoint()
        let first = try h.startActor("polite", endpoint: ep)
        XCTAssertTrue(h.waitUntil(120) { h.lastStep() >= 1 })
        kill(first.processIdentifier, SIGTERM)
        guard h.waitForExit(first, timeout: 30) else {
            return XCTFail("actor ignored SIGTERM; log:\n\(h.log("polite"))")
        }
        XCTAssertEqual(h.status(first), 0)
        XCTAssertTrue(h.waitUntil(10) { h.log("learner").contains("actor polite left") }, h.log("learner"))
        try h.startActor("second", endpoint: ep)
        let before = h.lastStep()
        XCTAssertTrue(h.waitUntil(120) { h.lastStep() >= before + 2 }, "no progress after the first actor left")
        kill(learner.processIdentifier, SIGTERM)
        guard h.waitForExit(learner, timeout: 60) else {
            return XCTFail("learner ignored SIGTERM; log:\n\(h.log("learner"))")
        }
        XCTAssertEqual(h.status(learner), 0)
        // The checkpoint written on the way out holds the last step logged (checkpoint-every was never reached).
        XCTAssertEqual(try h.learnerState()["step"] as? Int, h.lastStep())
        try h.assertEveryPromptOnce(h.metrics())
    }
}

/// One source of randomness: the learner gives every work item its seed (run seed + schedule position), so the
/// single-process trainer, one actor and three actors produce the same rollouts and the same updates.
final class ReproducibilityTests: XCTestCase {
    func testSameSeedSameRunInOneProcessOnOneActorAndOnThreeActors() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let common = [
            "--base", base, "--steps", "3", "--group-size", "4", "--prompts", "2", "--seed", "7", "--mode", "soft"
        ]
        let train = try h.spawn(
            ["train", "--task", "mnns", "--out", h.dir.appendingPathComponent("t").path] + common, log: "train")
        XCTAssertTrue(h.waitForExit(train, timeout: 240)); XCTAssertEqual(h.status(train), 0, h.log("train"))
        // "step 2 | reward 0.013 | correct 0.000 | loss 0.0125 | grad 6.409 | cot 18.2 | 1675 ms"
        func field(_ line: Substring, _ name: String) -> Double? {
            let parts = line.components(separatedBy: " | ")
            return parts.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
        }
        let single = h.log("train").split(separator: "\n").filter { $0.hasPrefix("step ") }
            .map { [field($0, "reward"), field($0, "loss"), field($0, "grad"), field($0, "cot")] }
        XCTAssertEqual(single.count, 3, h.log("train"))
        for actors in [1, 3] {
            let dir = h.dir.appendingPathComponent("local\(actors)")
            // `local` hands --checkpoint-every to its learner: every 2nd update and the last, or only the last (20).
            let every = actors == 1 ? ["--checkpoint-every", "2"] : []
            let local = try h.spawn(
                ["local", "--actors", "\(actors)", "--run-dir", dir.path, "--eval-problems", "0"] + every + common,
                log: "local\(actors)")
            XCTAssertTrue(h.waitForExit(local, timeout: 240));
            XCTAssertEqual(h.status(local), 0, h.log("local\(actors)"))
            let text = try String(contentsOf: dir.appendingPathComponent("cluster/metrics.jsonl"), encoding: .utf8)
            let rows = text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            XCTAssertEqual(rows.count, 3)
            let checkpoints = h.log("local\(actors)").split(separator: "\n").compactMap { line -> Int? in
                guard let r = line.range(of: "checkpoint at update ") else { return nil }
                return Int(line[r.upperBound...].prefix { $0.isNumber })
            }
            XCTAssertEqual(checkpoints, actors == 1 ? [2, 3] : [3], h.log("local\(actors)"))
            for (i, (row, ref)) in zip(rows, single).enumerated() {
                let got = ["rewardMean", "loss", "gradNorm", "thinkingLength"].map { row[$0] as? Double }
                // The single-process line rounds (reward/grad to 3 decimals, loss to 4, cot to 1); the JSON does not.
                for (name, accuracy, g, r) in zip4(
                    ["reward", "loss", "grad", "cot"], [6e-4, 6e-5, 6e-4, 0.051], got, ref)
                {
                    XCTAssertEqual(
                        g ?? .nan, r ?? .nan, accuracy: accuracy, "\(actors) actor(s), update \(i + 1): \(name)")
                }
            }
        }
    }
}

private func zip4<A, B, C, D>(_ a: [A], _ b: [B], _ c: [C], _ d: [D]) -> [(A, B, C, D)] {
    (0..<min(a.count, b.count, c.count, d.count)).map { (a[$0], b[$0], c[$0], d[$0]) }
}
