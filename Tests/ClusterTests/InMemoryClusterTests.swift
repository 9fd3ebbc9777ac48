// The learner and actor protocol cores against each other in the in-memory cluster (ClusterKit), on a manual
// clock: joins, leaves, deaths, partitions and heals, duplicate ids, hoarders, late joiners, a learner restart
// from its checkpoint state, and a thousand actors. Every run ends with the audit that each schedule position was trained exactly once or is
// still outstanding. Milliseconds per scenario; deterministic.
import XCTest
@testable import Cluster
import ClusterKit
import PolicyGradient
import Run
import SoftTokens
import Tasks
import Transport

final class InMemoryClusterTests: XCTestCase {
    func config(steps: Int = 8, maxStaleness: Int = 0, prompts: Int = 2, groupSize: Int = 2) -> RLConfig {
        var c = RLConfig()
        c.task = "mnns"; c.steps = steps; c.maxStaleness = maxStaleness; c.promptsPerStep = prompts;
        c.groupSize = groupSize; c.seed = 5
        return c
    }

    func testSynchronousRunWastesNoWork() throws {
        let sim = try InMemoryCluster(config: config(steps: 10))
        for i in 0..<3 { sim.addActor("a\(i)") }
        XCTAssertTrue(
            sim.run(for: 300) { sim.core.isDone },
            "run did not finish; logs:\n\(sim.logs.suffix(20).joined(separator: "\n"))")
        XCTAssertEqual(sim.metrics.count, 10)
        XCTAssertEqual(sim.metrics.last?.droppedStale, 0, "synchronous runs must issue no work that goes stale")
        XCTAssertEqual(sim.core.malformed, 0, sim.logs.joined(separator: "\n"))
        XCTAssertTrue(
            sim.metrics.allSatisfy { $0.stalenessHistogram == ["0": 2] }, "\(sim.metrics.map(\.stalenessHistogram))")
        sim.assertEveryPositionOnce()
        // Every actor did some of the work.
        XCTAssertTrue(sim.metrics.contains { ($0.actorTokensPerSecond["a2"] ?? 0) > 0 })
    }

    func testPipelinedRunKeepsStalenessWithinItsBound() throws {
        let sim = try InMemoryCluster(config: config(steps: 12, maxStaleness: 1))
        for i in 0..<3 { sim.addActor("a\(i)", generateSeconds: 0.3 + 0.2 * Double(i)) }
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        XCTAssertEqual(sim.metrics.last?.droppedStale, 0)
        XCTAssertTrue(sim.metrics.allSatisfy { Set($0.stalenessHistogram.keys).isSubset(of: ["0", "1"]) })
        // Actors kept generating while the learner trained: some groups were one version old.
        XCTAssertTrue(sim.metrics.contains { $0.stalenessHistogram["1"] != nil })
        sim.assertEveryPositionOnce()
    }

    func testDeadActorsWorkIsReissuedAndTheRunCompletes() throws {
        let sim = try InMemoryCluster(config: config(steps: 8))
        sim.addActor("doomed", generateSeconds: 3); sim.addActor("steady")
        sim.run(for: 1) // both hold work now
        XCTAssertFalse(sim.core.ledger.inFlight.values.filter { $0.actor == "doomed" }.isEmpty)
        sim.kill("doomed")
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        XCTAssertTrue(sim.logs.contains { $0.contains("actor doomed silent") && $0.contains("presumed lost") })
        XCTAssertGreaterThan(sim.metrics.last?.reissued ?? 0, 0)
        sim.assertEveryPositionOnce()
    }

    func testPartitionedActorIsDroppedThenRejoinsWithTheSameId() throws {
        let sim = try InMemoryCluster(config: config(steps: 30))
        let cut = sim.addActor("cut"); sim.addActor("other")
        sim.run(for: 2)
        cut.partitioned = true
        sim.run(for: 8)
        XCTAssertNil(sim.core.actors["cut"], "a silent actor must be presumed lost")
        cut.partitioned = false
        XCTAssertTrue(sim.run(for: 30) { sim.core.actors["cut"] != nil }, "the healed actor never rejoined")
        XCTAssertGreaterThan(cut.connections, 1, "it should have reconnected on a new connection")
        let before = sim.metrics.count
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        XCTAssertTrue(
            sim.metrics[before...].contains { ($0.actorTokensPerSecond["cut"] ?? 0) > 0 },
            "the rejoined actor did no work")
        sim.assertEveryPositionOnce()
    }

    func testASecondConnectionCannotTakeALiveActorsId() throws {
        let sim = try InMemoryCluster(config: config(steps: 6))
        let real = sim.addActor("alice")
        sim.run(for: 1)
        let impostor = sim.addImpostor("alice")
        sim.run(for: 0.2)
        XCTAssertEqual(impostor.errors.map(\.code), [Wire.ErrorCode.duplicateActor.rawValue], "\(impostor.errors)")
        XCTAssertEqual(sim.core.actors["alice"]?.address, real.address, "the newcomer displaced the live actor")
        XCTAssertFalse(
            sim.logs.contains { $0.contains("alice said Hello again") || $0.contains("re-queued") },
            "the live actor's work was taken away")
        XCTAssertEqual(sim.core.refusedDuplicates, 1)
        // Once the real one is gone, the same id is free again (the impostor retries by itself).
        sim.kill("alice")
        XCTAssertTrue(
            sim.run(for: 30) { sim.core.actors["alice"]?.address == impostor.address },
            sim.logs.suffix(10).joined(separator: "\n"))
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        sim.assertEveryPositionOnce()
    }

    /// An actor restarted soon after it died (same id, new connection) is refused as the twin of its dead self; the
    /// refusal says when the dead one expires, so it is back right then, not a whole window after the refusal.
    func testARestartedActorRejoinsWhenItsDeadSelfExpires() throws {
        let sim = try InMemoryCluster(config: config(steps: 8))
        sim.addActor("bob"); sim.addActor("other")
        sim.run(for: 2)
        sim.kill("bob")
        let killedAt = sim.now
        sim.run(for: 3) // the restart comes while the learner still counts the dead one as live
        let restarted = sim.addImpostor("bob")
        XCTAssertTrue(
            sim.run(for: 30) { sim.core.actors["bob"]?.address == restarted.address },
            sim.logs.suffix(10).joined(separator: "\n"))
        XCTAssertEqual(
            restarted.errors.first?.code, Wire.ErrorCode.duplicateActor.rawValue,
            "the restart should first have been refused as a twin")
        XCTAssertGreaterThan(restarted.errors.first?.retryAfterMs ?? 0, 0)
        let window = ClusterRules().silenceLimitSeconds
        XCTAssertLessThan(
            sim.now - killedAt, window + 1,
            "rejoined \(sim.now - killedAt) s after the kill; the dead one expired after \(window) s")
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        sim.assertEveryPositionOnce()
    }

    /// Work whose rollouts cannot fit the model's positions (prompt + thinking limit + marker + answer limit) is
    /// dropped with a warning instead of reaching the generator, which would stop on a precondition.
    func testAnActorDropsWorkItsModelHasNoRoomFor() throws {
        let sim = try InMemoryCluster(config: config(steps: 2))
        let a = sim.addActor("a")
        sim.run(for: 1)
        let positions = try XCTUnwrap(a.session.modelConfig?.maxPositionEmbeddings)
        let s = sim.core.sampler
        func work(promptLength: Int) throws -> Data {
            var item = Wire.WorkItem(); item.workID = "long-\(promptLength)"; item.groupSize = 1
            item.promptTokenIds = Array(repeating: 4, count: promptLength)
            var w = Wire.Work(); w.items = [item]; w.policyVersion = 0
            var codec = WireCodec()
            return try codec.encode(.work(w))
        }
        let fits = positions - s.maxThinkingSteps - 1 - s.maxAnswerTokens
        let tooLong = a.session.receive(try work(promptLength: fits + 1), now: sim.now)
        XCTAssertTrue(
            tooLong.contains {
                if case .log(.warning, let t) = $0 { return t.contains("dropped impossible work long-\(fits + 1)") };
                return false
            }, "\(tooLong)")
        let accepted = a.session.receive(try work(promptLength: fits), now: sim.now)
        XCTAssertFalse(
            accepted.contains {
                if case .log(.warning, _) = $0 { return true }; return false
            }, "the longest prompt that fits must be taken: \(accepted)")
    }

    /// One tick of a hoarder at `peer`: asks for a thousand slots, heartbeats, and keeps the work ids it was given.
    func hoard(_ sim: InMemoryCluster, from peer: Data, into hoarded: inout Set<String>) {
        var req = Wire.WorkRequest(); req.freeSlots = 1000
        sim.rawSend(.workRequest(req), from: peer)
        sim.rawSend(.heartbeat(Wire.Heartbeat()), from: peer)
        for f in sim.strayFrames[peer] ?? [] {
            if case .work(let w)? = try? WireCodec().decode(f).body { hoarded.formUnion(w.items.map(\.workID)) }
        }
        sim.strayFrames[peer] = []
    }

    func testAHoarderCannotStallTraining() throws {
        var rules = ClusterRules(); rules.minSpeculateSeconds = 5
        let sim = try InMemoryCluster(config: config(steps: 6, prompts: 4), rules: rules)
        sim.addActor("honest", slots: 2)
        // A peer that asks for a thousand slots every 50 ms and never returns anything.
        let hoarder = Data("hoarder".utf8)
        var hello = Wire.Hello(); hello.actorID = "hoarder"; hello.slots = 1000
        sim.rawSend(.hello(hello), from: hoarder)
        var hoarded = Set<String>()
        let finished = sim.run(for: 200) {
            hoard(sim, from: hoarder, into: &hoarded)
            return sim.core.isDone
        }
        XCTAssertTrue(
            finished, "training stalled behind the hoarder; logs:\n\(sim.logs.suffix(15).joined(separator: "\n"))")
        XCTAssertGreaterThan(hoarded.count, 0, "the hoarder was never given anything: the test proves nothing")
        XCTAssertLessThanOrEqual(sim.now, 120, "far slower than the honest actor alone would be")
        XCTAssertGreaterThan(sim.core.speculated, 0)
        XCTAssertGreaterThan(sim.core.actors["hoarder"]?.strikes ?? 0, 0, "the hoarder kept its credit")
        sim.assertEveryPositionOnce()
    }

    /// Updates in `seconds` of one honest actor (already proven) while `hoarders` ids each say Hello with 1,000
    /// slots, ask for work every 50 ms and never return any; also what the hoarders were given.
    func updatesUnderHoarding(hoarders: Int, seconds: Double) throws -> (
        updates: Int, hoarded: Int, sim: InMemoryCluster
    ) {
        let sim = try InMemoryCluster(config: config(steps: 100_000, maxStaleness: 1), dt: 0.05, updateSeconds: 0.1)
        sim.addActor("honest", slots: 2, generateSeconds: 0.2)
        XCTAssertTrue(sim.run(for: 30) { sim.core.version >= 3 }, "the honest actor alone did not train")
        let peers = (0..<hoarders).map { Data("hoarder-\($0)".utf8) }
        for (i, p) in peers.enumerated() {
            var hello = Wire.Hello(); hello.actorID = "hoarder-\(i)"; hello.slots = 1000
            sim.rawSend(.hello(hello), from: p)
        }
        var hoarded = Set<String>()
        let start = sim.core.version
        sim.run(for: seconds) {
            for p in peers { hoard(sim, from: p, into: &hoarded) }
            return false
        }
        return (sim.core.version - start, hoarded.count, sim)
    }

    /// Forty ids that take work and never return it (ids are free under --insecure; a fleet of hung actors looks the
    /// same): an id without a record of returned work holds little, so the honest actor keeps at least half its rate.
    func testFortyHoardingIdsLeaveTheHonestActorAtLeastHalfItsRate() throws {
        let alone = try updatesUnderHoarding(hoarders: 0, seconds: 60)
        let attacked = try updatesUnderHoarding(hoarders: 40, seconds: 60)
        XCTAssertGreaterThan(attacked.hoarded, 0, "the hoarders were never given anything: the test proves nothing")
        XCTAssertGreaterThanOrEqual(
            2 * attacked.updates, alone.updates,
            "\(attacked.updates) updates under 40 hoarders vs \(alone.updates) alone; logs:\n\(attacked.sim.logs.suffix(10).joined(separator: "\n"))"
        )
        attacked.sim.assertEveryPositionOnce()
    }

    /// A jsonl task of short sums and one problem whose prompt is longer than the model's positions (the attack's
    /// 602-token prompt at 512 positions, scaled to the simulated model).
    func taskWithOneUnfitProblem(positions: Int) throws -> String {
        var lines = (0..<12).map { #"{"prompt": "\#($0)+1=", "answer": "\#($0 + 1)"}"# }
        lines.insert(#"{"prompt": "\#(String(repeating: "7+", count: positions / 2 + 1))0=", "answer": "99"}"#, at: 5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "softrl-unfit-\(UUID().uuidString.prefix(8)).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return "jsonl:" + url.path
    }

    /// Work no actor can do: the learner finds the problem at start (the shell refuses or skips it), and an item
    /// actors drop repeatedly is quarantined, so training goes on (before: the actor dropped it, the learner re-issued
    /// it after --work-timeout to the same actor, for ever).
    func testAProblemNoActorCanDoIsFoundAtStartAndQuarantinedWhenDropped() throws {
        let positions = try InMemoryCluster(config: config(steps: 1)).model.config.maxPositionEmbeddings
        var c = config(steps: 12, maxStaleness: 1)
        c.task = try taskWithOneUnfitProblem(positions: positions)
        let sim = try InMemoryCluster(config: c)
        // The start check names exactly the long problem (a slow reference: every prompt against the room).
        let room =
            sim.model.config.maxPositionEmbeddings - sim.core.sampler.maxThinkingSteps - 1
            - sim.core.sampler.maxAnswerTokens
        let reference = (0..<sim.task.count(.train)).filter { sim.task.problem(.train, $0).prompt.count > room }
        XCTAssertEqual(reference.count, 1, "the fixture must hold exactly one unfit train problem")
        XCTAssertEqual(
            LearnerCore.unfitProblems(task: sim.task, modelConfig: sim.model.config, sampler: sim.core.sampler).map(
                \.index), reference)
        // Without the start check (a learner told to go on, or an actor whose model is smaller): quarantine.
        sim.addActor("a")
        XCTAssertTrue(
            sim.run(for: 200) { sim.core.isDone },
            "training stopped on the problem no actor can do; logs:\n\(sim.logs.suffix(15).joined(separator: "\n"))")
        XCTAssertEqual(sim.core.quarantined, 1)
        XCTAssertEqual(sim.logs.filter { $0.contains("quarantined train problem") }.count, 1, "logged once")
        XCTAssertEqual(sim.metrics.last?.quarantined, 1)
        XCTAssertEqual(
            Set(sim.core.ledger.skippedPositions.map { sim.core.ledger.schedule.index(at: $0) }), Set(reference))
        XCTAssertFalse(sim.trained.contains { reference.contains(sim.core.ledger.schedule.index(at: $0)) })
        sim.assertEveryPositionOnce()
    }

    /// Skip mode: the unfit problem is never issued.
    func testSkippedProblemsAreNeverIssued() throws {
        let positions = try InMemoryCluster(config: config(steps: 1)).model.config.maxPositionEmbeddings
        var c = config(steps: 10)
        c.task = try taskWithOneUnfitProblem(positions: positions)
        let sim = try InMemoryCluster(config: c)
        let unfit = LearnerCore.unfitProblems(task: sim.task, modelConfig: sim.model.config, sampler: sim.core.sampler)
            .map(\.index)
        sim.core.skipProblems(unfit)
        sim.addActor("a")
        XCTAssertTrue(sim.run(for: 200) { sim.core.isDone })
        XCTAssertFalse(sim.logs.contains { $0.contains("dropped impossible work") }, "an unfit problem was issued")
        XCTAssertGreaterThan(sim.core.ledger.skippedPositions.count, 0)
        sim.assertEveryPositionOnce()
    }

    /// Warnings are limited per host, not per connection: 100 connections from one host sending garbage (a peer that
    /// reconnects for a fresh routing id each time) get one host's allowance; joins beyond a few a minute are
    /// summarised (5,000 Hellos gave 5,707 lines before).
    func testWarningsAreLimitedPerHostAndJoinsSummarised() throws {
        let sim = try InMemoryCluster(config: config(steps: 2))
        var warnings = 0
        for i in 0..<100 {
            for e in sim.core.receive(Data("garbage".utf8), from: Data("conn-\(i)".utf8), now: 1, peerHost: "10.0.0.7")
            {
                if case .log(.warning, _) = e { warnings += 1 }
            }
        }
        XCTAssertEqual(warnings, ClusterRules.warningsPerPeerPerMinute, "\(warnings) warning lines for one host")
        var lines = 0
        var codec = WireCodec()
        for i in 0..<5000 {
            var h = Wire.Hello(); h.actorID = "joiner-\(i)"; h.slots = 1
            for e in sim.core.receive(
                try codec.encode(.hello(h)), from: Data("j\(i)".utf8), now: 2, peerHost: "10.0.1.\(i % 250)")
            {
                if case .log = e { lines += 1 }
            }
        }
        var summary: [String] = []
        for e in sim.core.tick(now: 70) {
            if case .log(_, let t) = e, t.contains("not logged one by one") { summary.append(t) }
        }
        XCTAssertEqual(lines, ClusterRules.sessionLinesPerMinute)
        XCTAssertEqual(summary.count, 1)
        XCTAssertTrue(
            summary.first?.hasPrefix("\(5000 - ClusterRules.sessionLinesPerMinute) more") ?? false, "\(summary)")
    }

    func testLateJoinerLoadsTheCurrentVersionBeforeWorking() throws {
        let sim = try InMemoryCluster(config: config(steps: 10))
        sim.addActor("early")
        XCTAssertTrue(sim.run(for: 100) { sim.core.version >= 4 })
        let late = sim.addActor("late")
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        XCTAssertGreaterThanOrEqual(late.session.modelVersion, 4)
        XCTAssertFalse(
            sim.logs.contains { $0.contains("[late] loaded policy v0") }, "the late joiner fetched an old version")
        XCTAssertEqual(sim.metrics.last?.droppedStale, 0)
        sim.assertEveryPositionOnce()
    }

    func testLearnerRestartFromItsCheckpointStateLosesAndRepeatsNothing() throws {
        var c = config(steps: 12); c.maxStaleness = 1
        let sim = try InMemoryCluster(config: c)
        for i in 0..<2 { sim.addActor("a\(i)") }
        XCTAssertTrue(sim.run(for: 100) { sim.core.version >= 5 && sim.update == nil })
        // The learner dies: what it knew is its checkpoint state (taken now, between updates).
        let state = sim.core.checkpointState
        let trainedBefore = sim.trained
        sim.replaceLearner(sim.run!.makeCore(resume: state))
        // The new learner does not know the actors: they are told so (Error 3) and say Hello again.
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone }, sim.logs.suffix(20).joined(separator: "\n"))
        XCTAssertTrue(sim.logs.contains { $0.contains("does not know us") })
        XCTAssertEqual(Array(sim.trained.prefix(trainedBefore.count)), trainedBefore)
        sim.assertEveryPositionOnce()
    }

    func testAnOrderlyEndWritesOnlyACheckpointThatAddsSomething() throws {
        var c = config(steps: 6); c.maxStaleness = 1
        // Complete: the last update's checkpoint holds everything, so the end writes none again.
        let done = try InMemoryCluster(config: c)
        done.addActor("a0")
        XCTAssertTrue(done.run(for: 300) { done.core.isDone })
        done.core.checkpointEvery = 100
        let atLastUpdate = done.checkpoints
        done.finishLearner(stopping: false)
        XCTAssertEqual(done.checkpoints, atLastUpdate)
        XCTAssertEqual(done.lastCheckpoint?.step, 6)
        // Stopped mid-run with work issued since the last checkpoint: the end writes one recording it.
        let stopped = try InMemoryCluster(config: c)
        stopped.core.checkpointEvery = 100
        stopped.addActor("a0")
        XCTAssertTrue(stopped.run(for: 100) { stopped.core.version >= 2 && !stopped.core.ledger.inFlight.isEmpty })
        let before = stopped.checkpoints
        stopped.finishLearner(stopping: true)
        XCTAssertEqual(stopped.checkpoints, before + 1)
        XCTAssertEqual(stopped.lastCheckpoint?.step, stopped.core.version)
        XCTAssertFalse(stopped.lastCheckpoint?.outstandingPositions.isEmpty ?? true)
    }

    func testSlowHolderResultStillCountsOnceAfterReissue() throws {
        var rules = ClusterRules(); rules.workTimeoutSeconds = 3
        let sim = try InMemoryCluster(config: config(steps: 4), rules: rules)
        sim.addActor("slow", slots: 1, generateSeconds: 5); sim.addActor("fast", slots: 1, generateSeconds: 0.5)
        XCTAssertTrue(sim.run(for: 300) { sim.core.isDone })
        XCTAssertTrue(sim.logs.contains { $0.contains("past their 3 s deadline") })
        sim.assertEveryPositionOnce()
    }

    func testAThousandActors() throws {
        let sim = try InMemoryCluster(config: config(steps: 3, prompts: 8))
        for i in 0..<1024 { sim.addActor(String(format: "actor-%04d", i), generateSeconds: 2) }
        sim.run(for: 1)
        XCTAssertEqual(sim.core.actors.count, 1024)
        XCTAssertTrue(sim.run(for: 200) { sim.core.isDone })
        // Every actor followed the versions (the notice reached all of them and each fetched the chunks).
        XCTAssertTrue(sim.everyone.allSatisfy { $0.session.modelVersion >= 2 })
        XCTAssertEqual(sim.metrics.last?.droppedStale, 0)
        sim.assertEveryPositionOnce()
    }

    /// Churn: 60 relaying actors, 5% of them killed every simulated minute and as many fresh ones joining, for 4
    /// minutes of training. Each kill re-issues what the victim held, nothing is trained twice or skipped,
    /// and every newcomer catches up with the current version through the relays. Prints the re-issue figure.
    func testFivePercentChurnPerMinuteReissuesOnlyWhatTheDeadHeld() throws {
        var c = config(steps: 10_000, maxStaleness: 1, prompts: 8)
        c.groupSize = 2
        var rules = ClusterRules(); rules.relayFanout = 4
        let sim = try InMemoryCluster(config: c, rules: rules, dt: 0.2, updateSeconds: 1)
        var alive: [String] = []
        var joined = 0
        func join() {
            let id = "a\(joined)"; joined += 1; sim.addActor(id, generateSeconds: 2, relays: true); alive.append(id)
        }
        for _ in 0..<60 { join() }
        var rng = SystemRandomNumberGenerator()
        var killed = 0, heldByKilled = 0
        for _ in 0..<4 {
            // Three kills spread over the minute.
            for _ in 0..<3 {
                sim.run(for: 20)
                let victim = alive.remove(at: Int.random(in: 0..<alive.count, using: &rng))
                heldByKilled += sim.core.ledger.inFlight.values.filter { $0.actor == victim }.count
                sim.kill(victim); killed += 1
                join()
            }
        }
        sim.run(for: 10)
        let reissued = sim.core.ledger.reissuedCount
        print(
            "churn: 60 actors, \(killed) killed in 4 simulated minutes (5%/min), \(heldByKilled) items held by them at death, \(reissued) re-issued; \(sim.core.version) updates, \(sim.trained.count) groups trained"
        )
        XCTAssertEqual(sim.core.actors.count, 60)
        XCTAssertGreaterThanOrEqual(reissued, heldByKilled, "every item a victim held must be re-issued")
        XCTAssertGreaterThan(sim.core.version, 50)
        sim.assertEveryPositionOnce()
        // The newest actors run the current version (at most one behind, if an update just finished).
        XCTAssertTrue(alive.suffix(10).allSatisfy { sim.core.version - sim.members[$0]!.session.modelVersion <= 1 })
    }

    func testGroupsComeFromTheLearnersSeedRule() throws {
        let sim = try InMemoryCluster(config: config(steps: 2))
        let a = sim.addActor("a")
        var seeds: [UInt64] = []
        sim.run(for: 50) {
            if let g = a.generation { seeds += g.order.items.map(\.seed) }
            return sim.core.isDone
        }
        XCTAssertFalse(seeds.isEmpty)
        let expected = (0..<4).map { GroupSeed.of(runSeed: 5, position: $0) }
        XCTAssertTrue(Set(seeds).isSubset(of: Set(expected)), "\(seeds) vs \(expected)")
    }
}
