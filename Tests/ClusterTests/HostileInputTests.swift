// Hostile and broken peers. In memory (ClusterKit, milliseconds), the learner's core gets messages from an actor
// that never said Hello, results for work nobody issued and a catalogue of invalid rollout groups (each one
// invalid in one way only: the unmutated group passes the same validation in-process); it must reject each with
// its reason, keep the run, and train normally with an honest actor; an actor's session, with the test playing its
// learner, asks again for a fetch nobody answered and drops impossible work. Against real processes, what needs sockets:
// a learner gets random bytes, truncated envelopes, wrong protocol versions, multi-frame junk and a frame beyond
// its 64 MiB limit, and connections that never say Hello; an actor gets the same kind of garbage from a
// test-controlled ROUTER playing the learner and must still join, fetch weights and return a valid group.
import XCTest
import Foundation
import Cluster
import ClusterKit
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM
import TensorMath
import Transport

/// Deterministic junk (TensorMath's SplitMix64), so a failure is reproducible.
struct JunkBytes {
    var rng: SplitMix64
    init(state: UInt64) { rng = SplitMix64(seed: state) }
    mutating func next() -> UInt64 { rng.next() }
    mutating func bytes(_ n: Int) -> Data { Data((0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }) }
}

/// Frames that are not acceptable SoftRL envelopes, each with what it is. Every one must fail WireCodec.decode.
func malformedFrames() throws -> [(String, Data)] {
    var junk = JunkBytes(state: 20_251_126)
    var codec = WireCodec()
    var hello = Wire.Hello(); hello.actorID = "mallory"; hello.host = "nowhere"; hello.softwareVersion = "hostile 0"
    let valid = try codec.encode(.hello(hello))
    var frames: [(String, Data)] = (0..<6).map { i in
        ("random bytes #\(i)", junk.bytes([1, 7, 64, 300, 4096, 65_537][i]))
    }
    frames.append(("empty frame", Data()))
    frames.append(("truncated envelope", valid.prefix(valid.count / 2)))
    frames.append(("protocol version 2", Data([0x08, 0x02, 0x52, 0x00]))) // version 2, empty Hello
    frames.append(("no protocol version", Data([0x10, 0x05, 0x52, 0x00]))) // sequence 5, empty Hello
    frames.append(("no body", Data([0x08, 0x01, 0x10, 0x01]))) // version 1, sequence 1
    frames.append(("unknown body field", Data([0x08, 0x01, 0xF2, 0x01, 0x00]))) // version 1, field 30
    frames.append(("wrong wire type for version", Data([0x0A, 0x01, 0x01, 0x52, 0x00])))
    let strict = WireCodec()
    for (name, f) in frames { XCTAssertThrowsError(try strict.decode(f), "\(name) decoded as a valid envelope") }
    return frames
}

/// One DEALER speaking to the learner under a chosen routing id.
final class RawPeer {
    let socket: ZMQSocket
    var codec = WireCodec()
    init(_ context: ZMQContext, id: String, endpoint: String) throws {
        socket = try ZMQSocket(context, .dealer)
        try socket.set(.routingId(Data(id.utf8)))
        try socket.set(.linger(ms: 0))
        try socket.connect(endpoint)
    }
    func send(_ body: Wire.Body) throws { try socket.send(try codec.encode(body)) }
    func sendRaw(_ frames: [Data]) throws { try socket.send(frames: frames) }
    /// Next decodable envelope within `timeout` seconds; sends a heartbeat every 100 ms so the learner keeps us.
    func receive(timeout: Double, heartbeat: Bool = true) throws -> Envelope? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let frames = try socket.receive(timeoutMs: 100), frames.count == 1 {
                return try WireCodec().decode(frames[0])
            }
            if heartbeat { try send(.heartbeat(Wire.Heartbeat())) }
        }
        return nil
    }
    /// The Error 7 the learner answers a rejected result with.
    func rejection(of workId: String, timeout: Double = 20) throws -> Wire.Error? {
        guard
            case .error(let e)? = try await_(
                timeout,
                {
                    if case .error(let e) = $0.body { return e.code == 7 && e.workID == workId }; return false
                })?.body
        else { return nil }
        return e
    }
    /// Skips heartbeats and notices until a message matching `want` arrives (or nil after `timeout`).
    func await_(_ timeout: Double, heartbeat: Bool = true, _ want: (Envelope) -> Bool) throws -> Envelope? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let e = try receive(timeout: end.timeIntervalSinceNow, heartbeat: heartbeat), want(e) { return e }
        }
        return nil
    }
}

final class HostileInputTests: XCTestCase {
    // MARK: Rollout groups that are invalid in exactly one way

    struct RunShape {
        let task: any ReasoningTask
        let config: LlamaConfig
        let sampler: SamplerConfig
        let samplerJSON: String
        let groupSize: Int
        /// The learner's sigma (gamma x RMS of the base model's embeddings), which soft rollouts must state.
        let sigma: Double
    }

    /// A valid soft-mode rollout for `promptIndex` (vectors of the model's width, noise, shadow end).
    func validRollout(_ s: RunShape, promptIndex: Int, sample: Int) throws -> Wire.Rollout {
        let p = s.task.problem(.train, promptIndex)
        var w = Wire.Rollout()
        w.promptTokenIds = p.prompt
        w.steps = try (0..<2).map { t in
            var st = Wire.Step()
            st.tokenID = -1
            st.behaviourLogprob = -1.5
            st.shadowToken = 4 + Int32(t)
            st.vector = try TensorCodec.encode(
                [Float](repeating: 0.01, count: s.config.hiddenSize), shape: [s.config.hiddenSize])
            return st
        }
        w.thinkingEnd = .shadow
        w.thinkingLength = 2
        w.answerTokenIds = p.answerTokens
        w.answerLogprobs = [Double](repeating: -0.7, count: p.answerTokens.count)
        w.sampler = "hostile"
        w.sampleIndex = UInt32(sample)
        w.noiseSigma = s.sigma
        w.samplerConfigJson = s.samplerJSON
        return w
    }

    func validGroup(_ s: RunShape, workId: String, promptIndex: Int) throws -> Wire.RolloutGroup {
        var g = Wire.RolloutGroup()
        g.workID = workId; g.actorID = "mallory"; g.promptIndex = UInt64(promptIndex)
        g.rollouts = try (0..<s.groupSize).map { try validRollout(s, promptIndex: promptIndex, sample: $0) }
        g.timings.tokens = 10; g.timings.generateMs = 1
        return g
    }

    /// (what is wrong, text the learner's log must give as the reason, the mutation).
    func mutations(_ s: RunShape) -> [(String, String, (inout Wire.RolloutGroup) throws -> Void)] {
        var foreign = s.sampler; foreign.softTemperature = 0.9
        let foreignJSON = String(decoding: try! JSONEncoder().encode(foreign), as: UTF8.self)
        let d = s.config.hiddenSize
        return [
            ("wrong group size", "rollouts, expected \(s.groupSize)", { $0.rollouts.removeLast() }),
            ("wrong prompt index", "prompt index", { $0.promptIndex += 1 }),
            (
                "vector of wrong dimension", "vector of shape [\(d - 1)]",
                {
                    $0.rollouts[0].steps[0].vector = try TensorCodec.encode(
                        [Float](repeating: 0, count: d - 1), shape: [d - 1])
                }
            ),
            (
                "NaN in a vector", "expected [\(d)] finite floats",
                {
                    var v = [Float](repeating: 0, count: d); v[3] = .nan;
                    $0.rollouts[1].steps[1].vector = try TensorCodec.encode(v, shape: [d])
                }
            ),
            (
                "tensor bytes disagree with shape", "needs \(4 * d) bytes",
                { $0.rollouts[0].steps[0].vector.data.removeLast(4) }
            ),
            (
                "absurd tensor shape", "tensor shape",
                { $0.rollouts[0].steps[0].vector.shape = [UInt32.max, UInt32.max, UInt32.max] }
            ),
            ("tensor of another dtype", "f64", { $0.rollouts[1].steps[0].vector.dtype = "f64" }),
            (
                "answer token outside the vocabulary", "ids must be in the vocabulary",
                { $0.rollouts[0].answerTokenIds[0] = Int32(s.config.vocabSize) }
            ),
            (
                "negative prompt token", "prompt token ids empty or outside the vocabulary",
                { $0.rollouts[1].promptTokenIds[0] = -7 }
            ),
            (
                "sampled token outside the vocabulary", "sampled token outside the vocabulary",
                { $0.rollouts[0].steps[0].sampledTokens = [99_999] }
            ),
            (
                "hard token in a soft run", "not valid in a soft run",
                {
                    $0.rollouts[0].steps[1].tokenID = 5; $0.rollouts[0].steps[1].clearVector()
                }
            ),
            (
                "NaN behaviour log-prob", "behaviour log-prob is not finite",
                { $0.rollouts[0].steps[0].behaviourLogprob = .nan }
            ),
            ("NaN answer log-prob", "answer log-probs must be finite", { $0.rollouts[1].answerLogprobs[0] = .nan }),
            (
                "positive answer log-prob", "answer log-probs must be finite and <= 0",
                { $0.rollouts[0].answerLogprobs[0] = 0.5 }
            ),
            ("answer log-prob count", "log-probs (limit", { $0.rollouts[0].answerLogprobs.removeLast() }),
            (
                "empty answer", "answer: 0 tokens",
                {
                    $0.rollouts[0].answerTokenIds = []; $0.rollouts[0].answerLogprobs = []
                }
            ),
            (
                "prompt of another problem", "prompt tokens differ from problem",
                {
                    $0.rollouts[1].promptTokenIds =
                        s.task.problem(.train, (Int($0.promptIndex) + 1) % s.task.count(.train)).prompt
                }
            ),
            ("future policy version", "claims future policy version", { $0.rollouts[0].policyVersion = 1_000 }),
            ("another sampler's settings", "other than the run's", { $0.rollouts[0].samplerConfigJson = foreignJSON }),
            ("sampler JSON garbage", "is not a sampler config", { $0.rollouts[1].samplerConfigJson = "{\"mode\": 17" }),
            (
                "too many thinking steps", "exceed the limit",
                { g in
                    g.rollouts[0].steps = Array(
                        repeating: g.rollouts[0].steps[0], count: s.sampler.maxThinkingSteps + 2)
                }
            ),
            ("no noise in a noisy run", "noise_sigma", { $0.rollouts[0].noiseSigma = 0 }),
            ("sampled end in a soft run", "thinking_end SAMPLED", { $0.rollouts[0].thinkingEnd = .sampled }),
            ("thinking_length 2^32-1", "thinking_length", { $0.rollouts[1].thinkingLength = UInt32.max }),
            ("noise_sigma other than the run's", "is not the run's", { $0.rollouts[0].noiseSigma *= 2 }),
            (
                "soft log-prob of -10^6", "impossible for a soft step",
                { $0.rollouts[1].steps[0].behaviourLogprob = -1e6 }
            ),
            ("answer log-prob of -10^6", "below -1000", { $0.rollouts[0].answerLogprobs[0] = -1e6 }),
            ("forced_end contradicting thinking_end", "contradicts", { $0.rollouts[0].forcedEnd = true }),
            (
                "forced end before the limit", "forced to end after",
                {
                    $0.rollouts[1].thinkingEnd = .forced; $0.rollouts[1].forcedEnd = true
                }
            )
        ]
    }

    /// Checks what the learner will check, in-process: the untouched group passes, every mutation fails.
    func assertLocally(_ g: Wire.RolloutGroup, _ s: RunShape, valid: Bool, _ what: String) {
        var ok = g.rollouts.count == s.groupSize
        let scorer = RewardScorer(task: s.task, shaping: RewardShaping())
        for w in g.rollouts where ok {
            do {
                var r = try WireMapping.rollout(
                    w, promptIndex: Int(g.promptIndex), config: s.config, sampler: s.sampler,
                    noiseSigma: { _ in s.sigma })
                ok = scorer.score(&r) && r.policyVersion <= 0
            } catch { ok = false }
        }
        XCTAssertEqual(ok, valid, "\(what): local validation disagrees with the test's intent")
    }

    // MARK: Learner under attack, in memory: the protocol core's checks, no sockets (milliseconds)

    /// A stranger that never said Hello, results for work nobody issued and the catalogue of groups invalid in one
    /// way each, against the real LearnerCore in the in-memory cluster (ClusterKit); the hostile actor vanishes
    /// and is reaped, then an honest actor trains the run to its end.
    func testLearnerRejectsStrangersAndEveryInvalidGroupThenTrains() throws {
        var c = RLConfig()
        c.task = "mnns"; c.steps = 3; c.groupSize = 2; c.promptsPerStep = 2; c.seed = 5
        let sim = try InMemoryCluster(config: c)
        let core = sim.core
        /// What the learner answered `address` since the last call.
        func replies(_ address: Data) -> [Envelope] {
            sim.deliverDue()
            defer { sim.strayFrames[address] = [] }
            return (sim.strayFrames[address] ?? []).compactMap { try? WireCodec().decode($0) }
        }
        func rejection(_ address: Data, of workId: String) -> Wire.Error? {
            replies(address).compactMap {
                if case .error(let e)? = $0.body, e.code == 7, e.workID == workId { return e }; return nil
            }.first
        }

        // 1. An actor that never said Hello: every request is answered with Error 3, nothing is served.
        let stranger = Data("stranger".utf8)
        var wr = Wire.WorkRequest(); wr.actorID = "stranger"; wr.freeSlots = 4
        var fw = Wire.FetchWeights(); fw.version = 0; fw.chunkIndex = 0
        var sg = Wire.RolloutGroup(); sg.workID = "p0"; sg.actorID = "stranger"
        for body: Wire.Body in [.workRequest(wr), .fetchWeights(fw), .rolloutGroup(sg), .heartbeat(Wire.Heartbeat())] {
            sim.rawSend(body, from: stranger)
            let reply = replies(stranger)
            guard reply.count == 1, case .error(let e)? = reply[0].body else {
                XCTFail("stranger got \(reply) for \(body)"); continue
            }
            XCTAssertEqual(e.code, Wire.ErrorCode.unknownActor.rawValue, e.message)
        }

        // 2. Hello, then results for work nobody issued.
        let mallory = Data("mallory".utf8)
        var hello = Wire.Hello(); hello.actorID = "mallory"; hello.host = "nowhere"; hello.softwareVersion = "hostile 0"
        sim.rawSend(.hello(hello), from: mallory)
        XCTAssertTrue(
            replies(mallory).contains {
                if case .welcome = $0.body { return true }; return false
            }, "no Welcome; logs:\n\(sim.logs.joined(separator: "\n"))")
        let shape = RunShape(
            task: sim.task, config: sim.model.config, sampler: core.sampler, samplerJSON: core.sampler.canonicalJSON,
            groupSize: c.groupSize, sigma: sim.sigma)
        for unknown in ["p999999", "not-a-work-id", ""] {
            sim.rawSend(.rolloutGroup(try validGroup(shape, workId: unknown, promptIndex: 0)), from: mallory)
            let e = try XCTUnwrap(rejection(mallory, of: unknown), "no rejection of unknown work '\(unknown)'")
            XCTAssertTrue(e.message.contains("no such work"), e.message)
        }

        // 3. Real work items answered with groups invalid in one way each; the learner re-queues the item and
        //    re-issues it on the next request.
        let cases = mutations(shape)
        for (what, reason, mutate) in cases {
            var req = Wire.WorkRequest(); req.actorID = "mallory"; req.freeSlots = 1
            sim.rawSend(.workRequest(req), from: mallory)
            guard
                let item = replies(mallory).compactMap({
                    if case .work(let w)? = $0.body { return w.items.first }; return nil
                }).first
            else {
                return XCTFail("no work for \(what); logs:\n\(sim.logs.suffix(20).joined(separator: "\n"))")
            }
            var g = try validGroup(shape, workId: item.workID, promptIndex: Int(item.promptIndex))
            assertLocally(g, shape, valid: true, "unmutated group")
            try mutate(&g)
            assertLocally(g, shape, valid: false, what)
            sim.rawSend(.rolloutGroup(g), from: mallory)
            // The contract: a rejected group is answered with Error 7 naming the work id and the reason.
            guard let e = rejection(mallory, of: item.workID) else {
                return XCTFail("no rejection of '\(what)'; logs:\n\(sim.logs.suffix(20).joined(separator: "\n"))")
            }
            XCTAssertTrue(e.message.contains(reason), "'\(what)' rejected as '\(e.message)', expected '\(reason)'")
        }
        XCTAssertGreaterThanOrEqual(core.malformed, 3 + cases.count, "malformed counter")
        XCTAssertEqual(core.version, 0, "an update started from hostile groups")
        // Warnings about one peer are rate-limited: mallory sent ~35 bad messages within a minute.
        let malloryWarnings = sim.logs.filter {
            $0.contains("warning") && $0.contains("mallory") && !$0.contains("silent")
        }
        XCTAssertGreaterThanOrEqual(malloryWarnings.count, 1, sim.logs.joined(separator: "\n"))
        XCTAssertLessThanOrEqual(
            malloryWarnings.count, ClusterRules.warningsPerPeerPerMinute + 1,
            "warnings are not rate-limited:\n\(malloryWarnings.joined(separator: "\n"))")

        // 4. Mallory vanishes without Goodbye, holding a re-issued item, and is reaped; an honest actor trains.
        XCTAssertTrue(
            sim.run(for: 30) { sim.logs.contains { $0.contains("actor mallory silent") } },
            "the learner never reaped the vanished hostile actor")
        sim.addActor("honest")
        XCTAssertTrue(
            sim.run(for: 300) { core.isDone },
            "the run did not finish after the attack; logs:\n\(sim.logs.suffix(20).joined(separator: "\n"))")
        XCTAssertEqual(sim.metrics.map(\.update.step), [1, 2, 3])
        XCTAssertTrue(sim.metrics.contains { ($0.actorTokensPerSecond["honest"] ?? 0) > 0 })
        XCTAssertFalse(sim.logs.contains { $0.contains("stranger joined") })
        // Nothing hostile was trained on: every trained position was returned by the honest actor, whose groups all
        // passed validation (else they would be logged as invalid).
        XCTAssertFalse(sim.logs.contains { $0.contains("actor honest: result") }, sim.logs.joined(separator: "\n"))
        sim.assertEveryPositionOnce()
    }

    // MARK: Learner under attack over sockets: what only a real process and libzmq show

    /// Frames that are not envelopes, multi-frame junk and a frame beyond the 64 MiB limit, against a real learner
    /// process: it logs each, keeps running, counts them as malformed in metrics.jsonl, then trains normally.
    func testLearnerSurvivesGarbageFramesThenTrains() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let taskName = try h.writeJSONLTask()
        let learner = try h.startLearner(["--base", base, "--task", taskName, "--steps", "3"])
        let ep = try h.endpoint()
        let context = try ZMQContext()
        defer { context.shutdown() }

        // 1. Frames that are not envelopes: each is answered with an Error (malformed) and logged.
        let mallory = try RawPeer(context, id: "mallory", endpoint: ep)
        let junk = try malformedFrames()
        for (name, frame) in junk {
            try mallory.sendRaw([frame])
            let reply = try mallory.receive(timeout: 20, heartbeat: false)
            guard case .error(let e)? = reply?.body else {
                XCTFail("no Error reply to \(name): \(String(describing: reply))"); continue
            }
            // softrl.proto: 1 = protocol version mismatch, 2 = malformed; either tells the peer it was refused.
            XCTAssertTrue([1, 2].contains(e.code), "\(name): error code \(e.code)")
        }
        // Multi-frame junk has no single envelope to answer: dropped and logged.
        try mallory.sendRaw([Data("junk".utf8), Data([0, 1, 2]), Data()])

        // 2. A frame above ZMQ_MAXMSGSIZE (64 MiB): libzmq drops that connection; the learner must not notice.
        let giant = try RawPeer(context, id: "giant", endpoint: ep)
        try giant.sendRaw([Data(count: (64 << 20) + 1)])
        mallory.socket.close(lingerMs: 0)
        XCTAssertTrue(learner.isRunning, "the learner died under hostile input; log:\n\(h.log("learner"))")

        // 3. An honest actor: training must proceed as if nothing happened.
        let honest = try h.startActor("honest", endpoint: ep)
        XCTAssertTrue(
            h.waitForExit(learner, timeout: 240), "learner did not finish after the attack; log:\n\(h.log("learner"))")
        XCTAssertEqual(h.status(learner), 0)
        XCTAssertTrue(h.waitForExit(honest, timeout: 30))

        let log = h.log("learner")
        let m = h.metrics()
        XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3])
        let malformed = m.last?["malformed"] as? Int ?? 0
        // Every undecodable frame and the multi-frame message.
        XCTAssertGreaterThanOrEqual(malformed, junk.count + 1, "malformed counter in metrics.jsonl")
        XCTAssertTrue(m.contains { (($0["actorTokensPerSecond"] as? [String: Double])?["honest"] ?? 0) > 0 })
        // Warnings about one peer are rate-limited: mallory sent 14 bad frames within a minute.
        let malloryWarnings = log.split(separator: "\n").filter {
            $0.contains("warning") && $0.contains("mallory") && !$0.contains("silent")
        }
        XCTAssertGreaterThanOrEqual(malloryWarnings.count, 1, log)
        XCTAssertLessThanOrEqual(
            malloryWarnings.count, ClusterRules.warningsPerPeerPerMinute + 1, "warnings are not rate-limited:\n\(log)")
        XCTAssertFalse(log.contains("giant joined") || log.contains("mallory joined"))
    }

    // MARK: Actor under attack (the test plays the learner)

    /// Connections that complete the ZeroMQ handshake and never say Hello are closed after the Hello deadline
    /// (they used to hold a file descriptor each for ever); a real actor, which says Hello at once, trains on.
    func testSilentConnectionsAreClosedAfterTheHelloDeadline() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "1000", "--hello-deadline", "1"])
        let ep = try h.endpoint()
        let actor = try h.startActor("honest", endpoint: ep)
        XCTAssertTrue(h.waitUntil(120) { h.lastStep() >= 1 }, "no training; learner log:\n\(h.log("learner"))")
        func learnerSockets() -> Int {
            let dir = "/proc/\(learner.processIdentifier)/fd"
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")) ?? "").hasPrefix(
                    "socket:")
            }.count
        }
        let before = learnerSockets()
        let context = try ZMQContext()
        defer { context.shutdown() }
        var silent: [ZMQSocket] = []
        for _ in 0..<30 {
            let s = try ZMQSocket(context, .dealer)
            try s.set(.linger(ms: 0)); try s.set(.reconnectInterval(ms: -1)) // once closed, stay closed
            try s.connect(ep)
            silent.append(s)
        }
        defer { for s in silent { s.close(lingerMs: 0) } }
        XCTAssertTrue(
            h.waitUntil(10) { learnerSockets() >= before + 30 },
            "the 30 silent connections never reached the learner (\(learnerSockets()) sockets, \(before) before)")
        XCTAssertTrue(
            h.waitUntil(15) { learnerSockets() <= before + 2 },
            "silent connections still held after the deadline: \(learnerSockets()) sockets, \(before) before; log:\n\(h.log("learner").suffix(2000))"
        )
        XCTAssertTrue(h.log("learner").contains("that said no Hello within 1 s"), String(h.log("learner").suffix(2000)))
        // The honest actor was not among them: it keeps training.
        let step = h.lastStep()
        XCTAssertTrue(
            h.waitUntil(60) { h.lastStep() > step + 2 },
            "training stopped; learner log:\n\(h.log("learner").suffix(2000))")
        XCTAssertTrue(actor.isRunning)
        XCTAssertFalse(h.log("honest").contains("reconnect"), h.log("honest"))
        learner.terminate(); actor.terminate()
    }

    func testActorSurvivesGarbageFromItsLearnerThenWorks() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let taskName = try h.writeJSONLTask()
        let fake = try FakeLearner(base: base, taskName: taskName)
        defer { fake.context.shutdown() }
        let actor = try h.startActor("victim", endpoint: fake.endpoint)
        guard
            case .hello(let hello)? = try fake.await_(
                30,
                {
                    if case .hello = $0.1.body { return true }; return false
                })?.1.body
        else {
            return XCTFail("actor never said hello; log:\n\(h.log("victim"))")
        }
        XCTAssertEqual(hello.actorID, "victim")

        // Garbage before any Welcome.
        let junk = try malformedFrames()
        for (_, frame) in junk { try fake.sendRaw([frame]) }
        try fake.sendRaw([Data("multi".utf8), Data([0xFF, 0x00])])
        var badWelcome = fake.welcome; badWelcome.modelConfigJson = "{\"vocab_size\": \"many\"}"
        try fake.send(.welcome(badWelcome))
        var stray = Wire.WeightsChunk(); stray.version = 7; stray.chunkCount = 1; stray.totalBytes = 3;
        stray.data = Data([1, 2, 3])
        try fake.send(.weightsChunk(stray))
        try fake.send(
            .goodbye(
                {
                    var b = Wire.Goodbye(); b.reason = ""; return b
                }())) // not "finished": the actor reconnects
        XCTAssertTrue(
            h.waitUntil(30) {
                h.log("victim").components(separatedBy: "dropped malformed message from learner").count - 1
                    >= junk.count
            },
            "actor log:\n\(h.log("victim"))")
        XCTAssertTrue(actor.isRunning, "the actor died on garbage; log:\n\(h.log("victim"))")

        // A Welcome, then a notice whose SHA-256 is wrong: the actor must reject those weights and fetch again.
        _ = try fake.await_(30) {
            if case .hello = $0.1.body { return true }; return false
        } // it said hello again after the Goodbye
        try fake.send(.welcome(fake.welcome))
        var lie = fake.chunker.notice; lie.sha256 = String(repeating: "0", count: 64)
        try fake.send(.versionNotice(lie))
        var served = 0
        var noticeFixed = false
        var group: Wire.RolloutGroup?
        let end = Date().addingTimeInterval(120)
        while group == nil && Date() < end && actor.isRunning {
            guard let (_, env) = try fake.receive(timeout: 0.2) else { continue }
            switch env.body {
            case .fetchWeights(let f)?:
                try fake.send(.weightsChunk(try fake.chunker.answer(f))); served += 1
                if !noticeFixed && h.log("victim").contains("rejected") {
                    noticeFixed = true
                    try fake.send(.versionNotice(fake.chunker.notice))
                }
            case .workRequest?:
                var w = Wire.Work(); w.policyVersion = 0
                var item = Wire.WorkItem(); item.workID = "p0"; item.promptIndex = 3; item.groupSize = 2
                item.promptTokenIds = fake.task.problem(.train, 3).prompt; item.seed = 42
                w.items = [item]
                try fake.send(.work(w))
            case .rolloutGroup(let g)?: group = g
            default: break
            }
        }
        let log = h.log("victim")
        let g = try XCTUnwrap(group, "the actor never returned a group; log:\n\(log)")
        XCTAssertTrue(log.contains("weights v0 rejected"), "the lying notice was not caught:\n\(log)")
        XCTAssertTrue(log.contains("loaded policy v0"), log)
        XCTAssertTrue(log.contains("cannot work for this learner"), log)
        XCTAssertTrue(log.contains("dropped a 2-frame message"), log)
        XCTAssertGreaterThanOrEqual(served, 2)
        // The group is one the real learner would accept.
        XCTAssertEqual(g.workID, "p0"); XCTAssertEqual(g.promptIndex, 3); XCTAssertEqual(g.rollouts.count, 2)
        let scorer = RewardScorer(task: fake.task, shaping: RewardShaping())
        for w in g.rollouts {
            var r = try WireMapping.rollout(w, promptIndex: 3, config: fake.model.config, sampler: fake.sampler)
            XCTAssertTrue(scorer.score(&r), "the actor's rollout does not belong to prompt 3")
        }
        // Run over: the actor leaves cleanly.
        try fake.send(
            .goodbye(
                {
                    var b = Wire.Goodbye(); b.reason = "training complete"; b.runFinished = true; return b
                }()))
        XCTAssertTrue(h.waitForExit(actor, timeout: 30), "actor did not exit on the finished Goodbye")
        XCTAssertEqual(h.status(actor), 0)
    }

    // MARK: Actor under attack, in memory (the test plays the learner to one ActorSession)

    /// A learner that dies between the actor's weights request and its reply (its successor never saw the
    /// request): the actor must ask again rather than wait forever.
    func testActorRetriesAnUnansweredWeightsFetch() throws {
        let l = try ScriptedLearner()
        var welcome = l.welcome; welcome.heartbeatIntervalMs = 200
        l.send(.welcome(welcome))
        l.send(.versionNotice(l.weights.notice))
        // Swallow the first fetch; keep the actor's learner-silence timer quiet with heartbeats.
        var fetches = 0
        let end = l.sim.now + 90
        while l.actor.session.modelVersion < 0 && l.sim.now < end {
            l.send(.heartbeat(Wire.Heartbeat()))
            for case .fetchWeights(let f) in l.received() {
                fetches += 1
                if fetches >= 2 { l.answer(f) }
            }
            l.sim.advance(by: 0.1)
            l.sim.tick(l.actor)
        }
        XCTAssertGreaterThanOrEqual(fetches, 2, "the actor never re-sent its fetch; log:\n\(l.log)")
        XCTAssertTrue(l.log.contains("loaded policy v0"), l.log)
        XCTAssertTrue(l.log.contains("asking again"), l.log)
    }

    /// Work the actor cannot do: a prompt index outside the task, an absurd group size. It is dropped before it
    /// reaches generation (the cluster audits every order), and the next, possible item is done.
    func testActorSurvivesImpossibleWork() throws {
        let l = try ScriptedLearner()
        l.send(.welcome(l.welcome))
        l.send(.versionNotice(l.weights.notice))
        var sentBad = false
        var group: Wire.RolloutGroup?
        let end = l.sim.now + 120
        while group == nil && l.sim.now < end {
            for body in l.received() {
                switch body {
                case .fetchWeights(let f): l.answer(f)
                case .workRequest:
                    var w = Wire.Work()
                    var item = Wire.WorkItem(); item.workID = sentBad ? "p1" : "p0"; item.groupSize = 2
                    item.promptIndex = sentBad ? 0 : UInt64(Int.max) + 5
                    item.promptTokenIds = sentBad ? l.sim.task.problem(.train, 0).prompt : []
                    w.items = [item]
                    sentBad = true
                    l.send(.work(w))
                case .rolloutGroup(let g): if g.workID == "p1" { group = g }
                default: break
                }
            }
            l.sim.step()
        }
        XCTAssertTrue(sentBad, "the actor never asked for work; log:\n\(l.log)")
        XCTAssertEqual(l.sim.violations, [], "impossible work reached generation")
        XCTAssertTrue(l.log.contains("dropped impossible work p0"), l.log)
        XCTAssertNotNil(group, "the actor did no valid work after the impossible item; log:\n\(l.log)")
    }
}

/// The learner's side of the protocol played by a test in memory: one ActorSession in an InMemoryCluster that has
/// no learner of its own, fed the Welcome, notice and weights chunks of a real LearnerCore for a small run.
final class ScriptedLearner {
    let sim: InMemoryCluster
    let actor: InMemoryCluster.Member
    let welcome: Wire.Welcome
    let weights: WeightSnapshot
    var codec = WireCodec()
    var read = 0

    init() throws {
        var c = RLConfig()
        c.task = "mnns"; c.groupSize = 2; c.promptsPerStep = 2; c.seed = 5
        let run = try SimulatedRun(config: c)
        let core = run.makeCore()
        var hello = Wire.Hello(); hello.actorID = "probe"
        let effects = core.receive(try codec.encode(.hello(hello)), from: Data("probe".utf8), now: 0)
        welcome = try XCTUnwrap(
            effects.compactMap {
                if case .send(.body(.welcome(let w)), _) = $0 { return w }; return nil
            }.first)
        weights = core.weights
        sim = InMemoryCluster(core: nil, run: run, updateSeconds: nil)
        actor = sim.addActor("victim")
    }

    func send(_ body: Wire.Body) { sim.deliver(try! codec.encode(body), to: actor) }
    /// The chunk a fetch asks for.
    func answer(_ f: Wire.FetchWeights) { sim.deliver(weights.frames[Int(f.chunkIndex)].data, to: actor) }
    /// What the actor sent since the last call.
    func received() -> [Wire.Body] {
        sim.deliverDue()
        defer { read = sim.framesToLearner.count }
        return sim.framesToLearner[read...].compactMap { try? WireCodec().decode($0.frame).body }
    }
    var log: String { sim.logs.joined(separator: "\n") }
}

/// The learner's side of the protocol, driven by the test: a ROUTER on loopback that hands out a real
/// Welcome (the base model, the jsonl task, a hard sampler) and serves that model's weights as version 0.
final class FakeLearner {
    let context: ZMQContext
    let socket: ZMQSocket
    let endpoint: String
    let model: LlamaModel
    let task: any ReasoningTask
    let sampler: SamplerConfig
    let chunker: BlobChunker
    var welcome = Wire.Welcome()
    var codec = WireCodec()
    var actorIdentity = Data()

    init(base: String, taskName: String) throws {
        context = try ZMQContext()
        socket = try ZMQSocket(context, .router)
        try socket.set(.routerMandatory(true))
        try socket.set(.linger(ms: 0))
        try socket.bind("tcp://127.0.0.1:*")
        endpoint = try socket.lastEndpoint
        model = try ModelCheckpoint.load(directory: URL(fileURLWithPath: base))
        task = try TaskCatalog.make(name: taskName, options: TaskOptions())
        var s = SamplerConfig(mode: .hard)
        s.maxThinkingSteps = task.suggestedThinkingLimit; s.maxAnswerTokens = task.maxAnswerTokens
        sampler = s
        chunker = try BlobChunker(version: 0, blob: WeightsBlob.encode(model), chunkBytes: 1 << 20) // several chunks
        welcome.runID = "fake-run"; welcome.taskName = taskName
        welcome.taskOptionsJson = String(decoding: try JSONEncoder().encode(TaskOptions()), as: UTF8.self)
        welcome.samplerConfigJson = String(decoding: try JSONEncoder().encode(sampler), as: UTF8.self)
        welcome.modelConfigJson = String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)
        welcome.heartbeatIntervalMs = 1000
        welcome.policyVersion = 0
        welcome.endOfThinkingToken = Vocabulary.endOfThinking; welcome.endOfSequenceToken = Vocabulary.eos
        welcome.maxThinkingSteps = UInt32(s.maxThinkingSteps); welcome.maxAnswerTokens = UInt32(s.maxAnswerTokens)
        welcome.vocabulary = task.vocabulary.tokens; welcome.weightsFormat = WeightsBlob.format; welcome.liveness = 5
    }

    func receive(timeout: Double) throws -> (Data, Envelope)? {
        guard let frames = try socket.receive(timeoutMs: Int(timeout * 1000)), frames.count == 2 else { return nil }
        actorIdentity = frames[0]
        return (frames[0], try WireCodec().decode(frames[1]))
    }
    func await_(_ timeout: Double, _ want: ((Data, Envelope)) -> Bool) throws -> (Data, Envelope)? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if let m = try receive(timeout: 0.2), want(m) { return m } }
        return nil
    }
    func sendRaw(_ frames: [Data]) throws { try socket.send(frames: [actorIdentity] + frames) }
    func send(_ body: Wire.Body) throws { try sendRaw([try codec.encode(body)]) }
}
