// An in-memory cluster for the protocol cores: one LearnerCore and any number of ActorSessions exchanging real
// encoded frames through queues, on a manual clock. Links can be cut and healed, actors killed, hoarders added,
// the learner restarted from its checkpoint state. Generation returns real rollouts of a tiny random model
// (generated once per prompt and re-stamped), so the learner's full validation runs on every group; updates
// are simulated (the version advances; the weights blob is a small stand-in). Deterministic and fast: no
// sockets, threads or sleeps.
import Foundation
import XCTest
@testable import Cluster
import PolicyGradient
import SoftTokens
import Tasks
import TransformerLM
import Transport

final class InMemoryCluster {
    var now = 0.0
    let dt: Double
    var core: LearnerCore
    let task: any ReasoningTask
    let model: LlamaModel
    var config: RLConfig
    let rules: ClusterRules
    /// The noise scale the (fixed) behaviour model implies; the learner checks every soft rollout against it.
    let sigma: Double

    final class Member {
        let session: ActorSession
        var address: Data
        var alive = true
        var partitioned = false
        var generation: (order: GenerationOrder, doneAt: Double)?
        var generateSeconds: Double
        var inbox: [Data] = []
        var codec = WireCodec()
        var finished = false
        var errors: [Wire.Error] = []
        var connections = 1
        /// Relays: requests from children (frame, child's peer address) and replies from our upstream relays.
        var relayInbox: [(Data, Data)] = []
        var upstreamInbox: [(Data, String)] = []
        /// A relay that flips a byte in every chunk it forwards.
        var corruptsRelayedChunks = false
        /// How its relay treats children (hostile relays); and whether it never asks for work (a relay-only peer).
        var relayBehaviour = RelayBehaviour.honest
        var neverWorks = false
        /// Children that asked, and when (a heartbeat-only relay keeps them waiting with heartbeats).
        var askedBy: [Data: Double] = [:]
        var childPeer: Data { Data("relay-peer:\(session.identity.actorId)".utf8) }
        init(session: ActorSession, address: Data, generateSeconds: Double) {
            self.session = session; self.address = address; self.generateSeconds = generateSeconds
        }
    }
    enum RelayBehaviour: Equatable {
        case honest
        /// Answers every request with a heartbeat, never a chunk.
        case heartbeatsOnly
        /// Sends the right chunks this many seconds late.
        case late(Double)
        /// Never answers.
        case mute
    }
    /// Frames a late relay holds back: (when, frame, child, relay endpoint).
    var delayed: [(at: Double, frame: Data, child: Member, endpoint: String)] = []
    var members: [String: Member] = [:]
    /// Every session, impostors included, in joining order.
    var everyone: [Member] = []
    var ownerOfAddress: [Data: Member] = [:]
    /// Frames for the learner, in arrival order.
    var learnerInbox: [(Data, Data)] = []
    /// Frames the learner sent to addresses no member owns (raw peers, the test's own sockets).
    var strayFrames: [Data: [Data]] = [:]
    var update: (job: UpdateJob, doneAt: Double)?
    var updateSeconds: Double
    var trained: [Int] = []
    var metrics: [StepMetrics] = []
    var logs: [String] = []
    var lastCheckpoint: LearnerState?
    var connectionCounter = 0
    /// Relay endpoints (inproc://relay-ID) and child peer addresses to their members.
    var relayOwner: [String: Member] = [:]
    var childOfPeer: [Data: Member] = [:]
    /// Weights chunk frames the learner sent, by version: what relays take off its link.
    var learnerChunksSent: [UInt64: Int] = [:]
    private var rolloutCache: [Int: [Rollout]] = [:]

    init(config: RLConfig, rules: ClusterRules = ClusterRules(), dt: Double = 0.05, updateSeconds: Double = 0.5) throws {
        self.config = config; self.rules = rules; self.dt = dt; self.updateSeconds = updateSeconds
        task = try TaskCatalog.make(name: config.task, options: config.taskOptions)
        model = try LlamaModel(config: .tiny(vocabSize: max(64, task.vocabulary.count)), seed: 3)
        sigma = RolloutGenerator.noiseSigma(model: model, gamma: config.resolvedSampler(for: task).noiseScale)
        core = LearnerCore(config: config, task: task, modelConfig: model.config, rules: rules,
                           weights: try Self.weights(version: 0, noiseSigma: sigma), runId: "sim")
    }

    /// A small stand-in blob per version, in three chunks (the sessions check size and SHA-256 as usual).
    static func weights(version: Int, noiseSigma: Double? = nil) throws -> WeightSnapshot {
        try WeightSnapshot(version: version, blob: Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ version) }), chunkBytes: 400,
                           noiseSigma: noiseSigma)
    }

    func newAddress() -> Data { connectionCounter += 1; return Data("conn-\(connectionCounter)".utf8) }

    @discardableResult
    func addActor(_ id: String, slots: Int = 2, generateSeconds: Double = 1.0, relays: Bool = false) -> Member {
        let s = ActorSession(identity: ActorIdentity(actorId: id, host: "sim", pid: UInt32(members.count + 1), cores: 1, slots: slots, softwareVersion: "sim",
                                                     relayEndpoint: relays ? "inproc://relay-\(id)" : nil))
        let m = Member(session: s, address: newAddress(), generateSeconds: generateSeconds)
        if relays { relayOwner["inproc://relay-\(id)"] = m }
        childOfPeer[m.childPeer] = m
        members[id] = m
        everyone.append(m)
        ownerOfAddress[m.address] = m
        actorEffects(m, s.connected(now: now))
        return m
    }

    /// A second process with an id already in use, on its own connection.
    func addImpostor(_ id: String) -> Member {
        let s = ActorSession(identity: ActorIdentity(actorId: id, host: "impostor", pid: 999, cores: 1, slots: 2, softwareVersion: "sim"))
        let m = Member(session: s, address: newAddress(), generateSeconds: 1)
        everyone.append(m)
        ownerOfAddress[m.address] = m
        actorEffects(m, s.connected(now: now))
        return m
    }

    func kill(_ id: String) { members[id]?.alive = false }

    /// Sends a raw envelope to the learner from `address` (a hand-written peer).
    func rawSend(_ body: Wire.Body, from address: Data) {
        var c = WireCodec()
        learnerInbox.append((address, try! c.encode(body)))
    }

    // MARK: Running

    func step() {
        now += dt
        deliver()
        if let u = update, now >= u.doneAt {
            update = nil
            trained += u.job.positions
            var r = UpdateReport(); r.policyVersion = u.job.version + 1; r.step = r.policyVersion
            learnerEffects(core.updateFinished(r, weights: try! Self.weights(version: r.policyVersion, noiseSigma: sigma), now: now))
        }
        let due = delayed.filter { $0.at <= now }
        delayed.removeAll { $0.at <= now }
        for d in due where d.child.alive && !d.child.partitioned { d.child.upstreamInbox.append((d.frame, d.endpoint)) }
        for m in everyone where m.alive && m.relayBehaviour == .heartbeatsOnly && Int(now / rules.heartbeatSeconds) != Int((now - dt) / rules.heartbeatSeconds) {
            var codec = WireCodec()
            let hb = try! codec.encode(.heartbeat(Wire.Heartbeat()))
            for (peer, at) in m.askedBy where now - at < 60 {
                if let child = childOfPeer[peer], child.alive { child.upstreamInbox.append((hb, m.session.identity.relayEndpoint!)) }
            }
        }
        for m in everyone where m.alive {
            if let g = m.generation, now >= g.doneAt {
                m.generation = nil
                let groups = g.order.requests.map { req in rollouts(for: req, version: g.order.version) }
                var stats = GenerationStats(); stats.tokens = 100 * groups.count; stats.milliseconds = m.generateSeconds * 1000
                actorEffects(m, m.session.generated(groups, stats: stats, order: g.order))
            }
            actorEffects(m, m.session.tick(now: now))
        }
        learnerEffects(core.tick(now: now))
        deliver()
    }

    /// Runs until `condition` or `limit` simulated seconds; returns whether the condition held.
    @discardableResult
    func run(for limit: Double, until condition: () -> Bool = { false }) -> Bool {
        let end = now + limit
        while now < end {
            step()
            if condition() { return true }
        }
        return condition()
    }

    func deliver() {
        var rounds = 0
        while rounds < 50 {
            rounds += 1
            let toLearner = learnerInbox; learnerInbox = []
            for (address, frame) in toLearner { learnerEffects(core.receive(frame, from: address, now: now)) }
            var any = !toLearner.isEmpty
            for m in everyone where m.alive && !m.inbox.isEmpty {
                let frames = m.inbox; m.inbox = []
                any = true
                for f in frames { actorEffects(m, m.session.receive(f, now: now)) }
            }
            for m in everyone where m.alive && !(m.relayInbox.isEmpty && m.upstreamInbox.isEmpty) {
                let requests = m.relayInbox, replies = m.upstreamInbox
                m.relayInbox = []; m.upstreamInbox = []
                any = true
                for (f, peer) in requests { actorEffects(m, m.session.relayRequest(f, from: peer)) }
                for (f, endpoint) in replies { actorEffects(m, m.session.receiveUpstream(f, from: endpoint, now: now)) }
            }
            if !any { return }
        }
    }

    func learnerEffects(_ effects: [LearnerEffect]) {
        for e in effects {
            switch e {
            case let .send(message, to: address):
                let frame: Data
                switch message {
                case .body(let b): var c = WireCodec(); frame = try! c.encode(b)
                case .frame(let f): frame = f.data
                }
                if case .frame = message, case .weightsChunk(let c)? = try? WireCodec().decode(frame).body { learnerChunksSent[c.version, default: 0] += 1 }
                guard let m = ownerOfAddress[address] else { strayFrames[address, default: []].append(frame); continue }
                if case .body(.error(let err)) = message { m.errors.append(err) }
                if m.alive && !m.partitioned && m.address == address { m.inbox.append(frame) }
            case .startUpdate(let job):
                XCTAssertNil(update, "an update started while another ran")
                update = (job, now + updateSeconds)
            case .checkpoint(let state): lastCheckpoint = state
            case .record(let m): metrics.append(m)
            case let .log(level, text): logs.append("\(level) \(text)")
            }
        }
    }

    func actorEffects(_ m: Member, _ effects: [ActorEffect]) {
        for e in effects {
            switch e {
            case .send(let body):
                guard m.alive && !m.partitioned else { continue }
                if m.neverWorks, case .workRequest = body { continue }
                learnerInbox.append((m.address, try! m.codec.encode(body)))
            case let .sendUpstream(body, endpoint, _):
                guard m.alive && !m.partitioned, let relay = relayOwner[endpoint], relay.alive && !relay.partitioned else { continue }
                relay.relayInbox.append((try! m.codec.encode(body), m.childPeer))
            case let .relay(frame, peer):
                guard m.alive && !m.partitioned, let child = childOfPeer[peer], child.alive && !child.partitioned else { continue }
                var f = frame.data
                if m.corruptsRelayedChunks, case .weightsChunk? = try? WireCodec().decode(f).body { f[f.count - 1] ^= 0xFF }   // data is the last field
                let endpoint = m.session.identity.relayEndpoint!
                switch m.relayBehaviour {
                case .honest: child.upstreamInbox.append((f, endpoint))
                case .heartbeatsOnly: m.askedBy[peer] = now
                case .late(let seconds): delayed.append((now + seconds, f, child, endpoint))
                case .mute: break
                }
            case .prepareModel: break
            case let .installWeights(version, assembler):
                do { _ = try assembler.assemble(); actorEffects(m, m.session.weightsInstalled(version: version)) } catch {
                    actorEffects(m, m.session.weightsRejected(version: version, error))
                }
            case .generate(let order): m.generation = (order, now + m.generateSeconds)
            case .reconnect:
                m.connections += 1
                ownerOfAddress[m.address] = nil
                m.address = newAddress()
                ownerOfAddress[m.address] = m
                actorEffects(m, m.session.connected(now: now))
            case .finished: m.finished = true
            case .log(_, let text): logs.append("[\(m.session.identity.actorId)] \(text)")
            }
        }
    }

    /// Real rollouts of the tiny model for this prompt, generated once and stamped with the version and the
    /// requested sample indices (so groups pass every check the learner makes).
    func rollouts(for req: GenerationRequest, version: Int) -> [Rollout] {
        if rolloutCache[req.promptIndex] == nil {
            let gen = RolloutGenerator(model: model, config: core.sampler, endOfThinking: Vocabulary.endOfThinking, endOfSequence: Vocabulary.eos)
            rolloutCache[req.promptIndex] = gen.generate([GenerationRequest(promptIndex: req.promptIndex, prompt: req.prompt, groupSize: config.groupSize, seed: 1)],
                                                         policyVersion: 0).groups[0]
        }
        return (0..<req.groupSize).map { i in
            var r = rolloutCache[req.promptIndex]![(req.firstSample + i) % config.groupSize]
            r.policyVersion = version
            r.sampleIndex = req.firstSample + i
            return r
        }
    }

    // MARK: Audits

    /// No position trained twice; trained + outstanding = the schedule so far.
    func assertEveryPositionOnce(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(trained).count, trained.count, "a position was trained twice: \(trained)", file: file, line: line)
        let outstanding = Set(core.ledger.outstandingPositions + (update?.job.positions ?? []))   // a running update's too
        XCTAssertTrue(outstanding.isDisjoint(with: trained), "a trained position is still outstanding", file: file, line: line)
        // Quarantined prompts' positions are neither trained nor outstanding, and nothing else is.
        let skipped = core.ledger.skippedPositions
        XCTAssertTrue(skipped.isDisjoint(with: trained) && skipped.isDisjoint(with: outstanding), "a skipped position was trained or is outstanding", file: file, line: line)
        XCTAssertEqual(Set(trained).union(outstanding).union(skipped), Set(0..<core.ledger.schedule.cursor), "positions skipped", file: file, line: line)
    }
}
