// The in-memory cluster: one LearnerCore and any number of ActorSessions (with their relays) exchanging real
// encoded frames over a pluggable link model (LinkModels.swift), on a simulated clock. The one interpreter of the
// cores' effects outside the socket shells: the tests drive it step by step (links cut and healed, actors
// killed, hoarders, a learner restarted from its checkpoint state), the delivery simulation of `softrl bench
// cluster` runs it event by event over modelled links, and the fuzz targets feed it byte scripts
// (ByteScript.swift). Generation returns real rollouts of a tiny random model; updates are simulated (the version
// advances; the weights blob is a small stand-in). Every effect is audited as it is carried out (`violations`).
// Deterministic: no sockets, threads or sleeps.
import Cluster
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM
import Transport

public final class InMemoryCluster {
    public let queue: EventQueue
    public var now: Double { queue.now }
    /// Simulated seconds per `step()`.
    public let dt: Double
    public let link: LinkModel
    /// The learner; nil when a script plays it (frames to it are kept in `framesToLearner`).
    public private(set) var learner: LearnerCore?
    /// The learner of a cluster that has one.
    public var core: LearnerCore {
        guard let learner else { preconditionFailure("this cluster's learner is played by a script: use `learner`") }
        return learner
    }
    public let run: SimulatedRun?
    /// Seconds an update takes; nil: updates finish only when `finishUpdate` is called (a script says so).
    public var updateSeconds: Double?
    /// How a member answers a generation order.
    public enum Generation {
        /// After its `generateSeconds`, with real rollouts of the run's model (`step()` completes it).
        case timed
        /// At once, with no groups (the actor's fuzz target: the session's bookkeeping, not the model).
        case immediateEmpty
    }
    public var generation = Generation.timed

    public final class Member {
        public let index: Int
        public let session: ActorSession
        public internal(set) var address: Data
        public var alive = true
        public var partitioned = false
        public internal(set) var generation: (order: GenerationOrder, doneAt: Double)?
        public var generateSeconds: Double
        public internal(set) var finished = false
        /// Errors the learner sent it.
        public internal(set) var errors: [Wire.Error] = []
        public internal(set) var connections = 1
        public internal(set) var modelsPrepared = 0, installs = 0, orders = 0
        /// A relay that flips a byte in every chunk it forwards.
        public var corruptsRelayedChunks = false
        /// How its relay treats children (hostile relays); and whether it never asks for work (a relay-only peer).
        public var relayBehaviour = RelayBehaviour.honest
        public var neverWorks = false
        /// Children that asked, and when (a heartbeat-only relay keeps them waiting with heartbeats).
        var askedBy: [Data: Double] = [:]
        var codec = WireCodec(maxMessageBytes: Int.max)
        /// The address its relay's children are known by.
        var childPeer: Data { Data("relay-peer:\(session.identity.actorId)".utf8) }
        init(index: Int, session: ActorSession, address: Data, generateSeconds: Double) {
            self.index = index; self.session = session; self.address = address; self.generateSeconds = generateSeconds
        }
    }
    /// What a relay does with its children's requests.
    public enum RelayBehaviour: Equatable {
        case honest
        /// Answers every request with a heartbeat, never a chunk.
        case heartbeatsOnly
        /// Sends the right chunks this many seconds late.
        case late(Double)
        /// Never answers.
        case mute
    }
    public private(set) var members: [String: Member] = [:]
    /// Every session, impostors included, in joining order (`Node.actor(i)` is `everyone[i]`).
    public private(set) var everyone: [Member] = []
    var ownerOfAddress: [Data: Member] = [:]
    /// Relay endpoints (inproc://relay-ID) and child peer addresses to their members.
    var relayOwner: [String: Member] = [:]
    var childOfPeer: [Data: Member] = [:]
    var connectionCounter = 0
    /// Frames in flight to a learner that has since been replaced are dropped: they were sent to a dead process.
    var learnerEpoch = 0

    /// Frames the learner sent to addresses no member owns (hand-written peers, scripts), per address.
    public var strayFrames: [Data: [Data]] = [:]
    /// Frames sent to the learner while a script plays it (core == nil), in order.
    public private(set) var framesToLearner: [(from: Data, frame: Data)] = []
    public private(set) var update: (job: UpdateJob, doneAt: Double)?
    /// Positions trained, in order (writable for tests of the audit).
    public var trained: [Int] = []
    public private(set) var metrics: [StepMetrics] = []
    public private(set) var logs: [String] = []
    public private(set) var lastCheckpoint: LearnerState?
    public private(set) var checkpoints = 0
    /// Weights chunk frames the learner sent, by version: what relays take off its link.
    public private(set) var learnerChunksSent: [UInt64: Int] = [:]
    /// What an effect broke (a message that does not encode, an impossible order...): empty in a sound run.
    public private(set) var violations: [String] = []
    /// Called when a frame from the learner or a relay has been handled by a member.
    public var onArrival: ((Member) -> Void)?
    /// Called when a member holds a new version.
    public var onInstalled: ((Member, Int) -> Void)?

    /// Breaks the cycles of a cluster that is done with: pending events, frames on the links and the hooks hold
    /// closures over it, so a process that makes one cluster after another (a fuzzer, per input) frees each.
    public func tearDown() {
        queue.removeAll()
        link.dropPending()
        onArrival = nil; onInstalled = nil
    }
    var learnerCodec = WireCodec(maxMessageBytes: Int.max)

    /// A cluster around `core` (nil: a script plays the learner). `run` gives each new version's weights and the
    /// rollouts members generate (needed for `.timed` generation and for updates that advance the version).
    public init(
        core: LearnerCore?, run: SimulatedRun? = nil, link: LinkModel = InstantLink(), start: Double = 0,
        dt: Double = 0.05,
        updateSeconds: Double? = 0.5
    ) {
        learner = core; self.run = run; self.link = link; self.dt = dt; self.updateSeconds = updateSeconds
        queue = EventQueue(start: start)
    }

    /// A cluster for `config` on a fresh SimulatedRun: the tests' entry point.
    public convenience init(
        config: RLConfig, rules: ClusterRules = ClusterRules(), dt: Double = 0.05, updateSeconds: Double = 0.5
    ) throws {
        let run = try SimulatedRun(config: config, rules: rules)
        self.init(core: run.makeCore(), run: run, dt: dt, updateSeconds: updateSeconds)
    }

    // The run's parts (a cluster made from a SimulatedRun).
    public var config: RLConfig { run!.config }
    public var task: any ReasoningTask { run!.task }
    public var model: LlamaModel { run!.model }
    public var rules: ClusterRules { run!.rules }
    public var sigma: Double { run!.sigma }

    func newAddress() -> Data { connectionCounter += 1; return Data("conn-\(connectionCounter)".utf8) }

    // MARK: Membership

    /// An actor joins: it connects and says Hello (delivered when the clock next runs).
    @discardableResult
    public func addActor(
        _ id: String, slots: Int = 2, generateSeconds: Double = 1.0, relays: Bool = false, host: String = "sim",
        softwareVersion: String = "sim"
    ) -> Member {
        let m = join(
            ActorIdentity(
                actorId: id, host: host, pid: UInt32(members.count + 1), cores: 1, slots: slots,
                softwareVersion: softwareVersion,
                relayEndpoint: relays ? "inproc://relay-\(id)" : nil), generateSeconds: generateSeconds)
        members[id] = m
        return m
    }

    /// A second process with an id already in use, on its own connection.
    public func addImpostor(_ id: String) -> Member {
        join(
            ActorIdentity(actorId: id, host: "impostor", pid: 999, cores: 1, slots: 2, softwareVersion: "sim"),
            generateSeconds: 1)
    }

    func join(_ identity: ActorIdentity, generateSeconds: Double) -> Member {
        let m = Member(
            index: everyone.count, session: ActorSession(identity: identity), address: newAddress(),
            generateSeconds: generateSeconds)
        if let e = identity.relayEndpoint { relayOwner[e] = m }
        childOfPeer[m.childPeer] = m
        everyone.append(m)
        ownerOfAddress[m.address] = m
        actorEffects(m, m.session.connected(now: now))
        return m
    }

    public func kill(_ id: String) { members[id]?.alive = false }

    /// The learner process is replaced by `core` (restarted from its checkpoint state): frames in flight to the old
    /// one are lost with it.
    public func replaceLearner(_ core: LearnerCore) {
        learner = core
        learnerEpoch += 1
        update = nil
    }

    /// The learner ends in order (training complete, or a stop signal when `stopping`): its goodbyes and last
    /// checkpoint take effect as the shell carries them out.
    public func finishLearner(stopping: Bool) { learnerEffects(core.finish(stopping: stopping)) }

    // MARK: Inputs from outside the cluster

    /// Sends a raw envelope to the learner from `address` (a hand-written peer).
    public func rawSend(_ body: Wire.Body, from address: Data) {
        var c = WireCodec()
        inject(try! c.encode(body), from: address)
    }

    /// Sends raw bytes to the learner from `address`, over the link.
    public func inject(_ frame: Data, from address: Data) {
        let node = ownerOfAddress[address].map { Node.actor($0.index) } ?? .peer(address)
        toLearner(frame, from: address, node: node)
    }

    /// Hands `frame` to a member as if its learner had sent it (a script playing the learner).
    public func deliver(_ frame: Data, to m: Member) {
        guard m.alive else { return }
        actorEffects(m, m.session.receive(frame, now: now))
    }

    // MARK: Time

    /// Runs every frame and event due by now.
    public func deliverDue() {
        if !queue.run(until: now) {
            violations.append("frames at t=\(now) did not settle: the cores answer each other for ever")
        }
    }

    /// Moves the clock on by `seconds`, running what falls due on the way.
    public func advance(by seconds: Double) {
        if !queue.run(until: now + seconds) { violations.append("frames before t=\(now + seconds) did not settle") }
    }

    public func tickLearner() {
        if let learner { learnerEffects(learner.tick(now: now)) }
    }

    public func tick(_ m: Member) {
        if m.alive { actorEffects(m, m.session.tick(now: now)) }
    }

    /// The running update is done: the version advances (with the next stand-in snapshot, or none).
    public func finishUpdate(withSnapshot: Bool = true) {
        guard let u = update, let learner else { return }
        update = nil
        trained += u.job.positions
        var r = UpdateReport(); r.policyVersion = u.job.version + 1; r.step = r.policyVersion
        learnerEffects(
            learner.updateFinished(r, weights: withSnapshot ? run?.snapshot(r.policyVersion) : nil, now: now))
    }

    /// One step of `dt`: frames due arrive, a finished update or generation reports, every live actor and the
    /// learner tick, and what that sent arrives.
    public func step() {
        advance(by: dt)
        if let u = update, now >= u.doneAt { finishUpdate() }
        // Heartbeat-only relays answer the children that asked with a heartbeat once per heartbeat period.
        let period = learner?.rules.heartbeatSeconds ?? 1
        for m in everyone
        where m.alive && m.relayBehaviour == .heartbeatsOnly && Int(now / period) != Int((now - dt) / period) {
            guard let endpoint = m.session.identity.relayEndpoint, let hb = encode(.heartbeat(Wire.Heartbeat()), by: m)
            else { continue }
            for (peer, at) in m.askedBy where now - at < 60 {
                guard let child = childOfPeer[peer], child.alive && !child.partitioned else { continue }
                link.carry(hb.count, from: .actor(m.index), to: .actor(child.index), on: queue) { [self] in
                    guard child.alive else { return }
                    actorEffects(child, child.session.receiveUpstream(hb, from: endpoint, now: now))
                }
            }
        }
        for m in everyone where m.alive {
            if let g = m.generation, now >= g.doneAt {
                m.generation = nil
                let groups = g.order.requests.map { run!.rollouts(for: $0, version: g.order.version) }
                var stats = GenerationStats(); stats.tokens = 100 * groups.count;
                stats.milliseconds = m.generateSeconds * 1000
                actorEffects(m, m.session.generated(groups, stats: stats, order: g.order))
            }
            tick(m)
        }
        tickLearner()
        deliverDue()
    }

    /// Steps until `condition` or `limit` simulated seconds; returns whether the condition held.
    @discardableResult
    public func run(for limit: Double, until condition: () -> Bool = { false }) -> Bool {
        let end = now + limit
        while now < end {
            step()
            if condition() { return true }
        }
        return condition()
    }

    // MARK: The network

    func toLearner(_ frame: Data, from address: Data, node: Node) {
        let epoch = learnerEpoch
        link.carry(frame.count, from: node, to: .learner, on: queue) { [self] in
            guard epoch == learnerEpoch else { return }
            if let learner {
                learnerEffects(learner.receive(frame, from: address, now: now))
            } else {
                framesToLearner.append((address, frame))
            }
        }
    }

    func learnerEffects(_ effects: [LearnerEffect]) {
        for e in effects {
            switch e {
            case let .send(message, to: address):
                let frame: Data
                let cost: Int
                switch message {
                case .body(let b):
                    do { frame = try learnerCodec.encode(b) } catch {
                        violations.append("the learner produced a message it cannot encode: \(error)"); continue
                    }
                    cost = frame.count
                case .frame(let f):
                    frame = f.data
                    cost = link.chunkCost(actualBytes: frame.count)
                    if case .weightsChunk(let c)? = try? learnerCodec.decode(frame).body {
                        learnerChunksSent[c.version, default: 0] += 1
                    }
                }
                guard let m = ownerOfAddress[address] else { strayFrames[address, default: []].append(frame); continue }
                if case .body(.error(let err)) = message { m.errors.append(err) }
                guard m.alive && !m.partitioned && m.address == address else { continue }
                link.carry(cost, from: .learner, to: .actor(m.index), on: queue) { [self] in
                    guard m.alive else { return }
                    actorEffects(m, m.session.receive(frame, now: now))
                    onArrival?(m)
                }
            case .startUpdate(let job):
                if update != nil { violations.append("an update started while another was running") }
                if !job.groups.allSatisfy({ $0.count == learner?.config.groupSize }) {
                    violations.append("a group of the wrong size reached training: \(job.groups.map(\.count))")
                }
                if job.groups.count != job.positions.count { violations.append("groups and positions differ in count") }
                update = (job, now + (updateSeconds ?? .infinity))
            case .checkpoint(let state): lastCheckpoint = state; checkpoints += 1
            case .record(let m): metrics.append(m)
            case let .log(level, text): logs.append("\(level) \(text)")
            }
        }
    }

    func actorEffects(_ m: Member, _ effects: [ActorEffect]) {
        for e in effects {
            switch e {
            case .send(let body):
                if m.neverWorks, case .workRequest = body { continue }
                guard let frame = encode(body, by: m) else { continue }
                guard m.alive && !m.partitioned else { continue }
                toLearner(frame, from: m.address, node: .actor(m.index))
            case let .sendUpstream(body, endpoint, _):
                guard let frame = encode(body, by: m) else { continue }
                guard m.alive && !m.partitioned, let relay = relayOwner[endpoint], relay.alive && !relay.partitioned
                else { continue }
                let peer = m.childPeer
                link.carry(frame.count, from: .actor(m.index), to: .actor(relay.index), on: queue) { [self] in
                    guard relay.alive else { return }
                    actorEffects(relay, relay.session.relayRequest(frame, from: peer))
                }
            case let .relay(frame, peer):
                // What a relay forwards must be a frame its children can decode (a chunk as received, or an error).
                guard let body = (try? WireCodec(maxMessageBytes: Int.max).decode(frame.data))?.body else {
                    violations.append("[\(m.session.identity.actorId)] the relay sent an undecodable frame"); continue
                }
                guard m.alive && !m.partitioned, let child = childOfPeer[peer], child.alive && !child.partitioned,
                    let endpoint = m.session.identity.relayEndpoint
                else { continue }
                var f = frame.data
                var cost = f.count
                if case .weightsChunk = body {
                    if m.corruptsRelayedChunks { f[f.count - 1] ^= 0xFF } // data is the last field
                    cost = link.chunkCost(actualBytes: f.count)
                }
                let deliver = { [self, f] in
                    link.carry(cost, from: .actor(m.index), to: .actor(child.index), on: queue) { [self, f] in
                        guard child.alive else { return }
                        actorEffects(child, child.session.receiveUpstream(f, from: endpoint, now: now))
                        onArrival?(child)
                    }
                }
                switch m.relayBehaviour {
                case .honest: deliver()
                case .heartbeatsOnly: m.askedBy[peer] = now
                case .late(let seconds): queue.at(now + seconds) { if m.alive { deliver() } }
                case .mute: break
                }
            case .prepareModel(let config):
                // The actor service allocates this many floats next: it must be a model a process can hold.
                m.modelsPrepared += 1
                let count = ParameterLayout.checkedTotalCount(config, limit: ClusterRules.maxModelParameters) ?? 0
                if count <= 0 {
                    violations.append(
                        "[\(m.session.identity.actorId)] the actor was asked to allocate a model it cannot hold")
                }
            case let .installWeights(version, assembler):
                m.installs += 1
                do {
                    try assembler.verify()
                    let delay = link.checkSeconds(chunks: Int(assembler.chunkCount ?? 1))
                    if delay <= 0 {
                        installed(m, version)
                    } else {
                        queue.at(now + delay) { [self] in if m.alive { installed(m, version) } }
                    }
                } catch { actorEffects(m, m.session.weightsRejected(version: version, error)) }
            case .generate(let order):
                m.orders += 1
                audit(order, of: m)
                switch generation {
                case .timed: m.generation = (order, now + m.generateSeconds)
                case .immediateEmpty: actorEffects(m, m.session.generated([], stats: GenerationStats(), order: order))
                }
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

    func installed(_ m: Member, _ version: Int) {
        actorEffects(m, m.session.weightsInstalled(version: version))
        onInstalled?(m, version)
    }

    func encode(_ body: Wire.Body, by m: Member) -> Data? {
        do { return try m.codec.encode(body) } catch {
            violations.append("[\(m.session.identity.actorId)] the actor produced a message it cannot encode: \(error)")
            return nil
        }
    }

    /// An order reaches the generator only with items it can do: a sane group size, a prompt, and rollouts that fit
    /// the model's positions (the generator stops on a precondition otherwise).
    func audit(_ order: GenerationOrder, of m: Member) {
        let id = m.session.identity.actorId
        for item in order.items
        where item.groupSize < 1 || item.groupSize > UInt32(ActorSession.maxGroupSize) || item.promptTokenIds.isEmpty {
            violations.append("[\(id)] an impossible work item reached generation: \(item.workID)")
        }
        let positions = m.session.modelConfig?.maxPositionEmbeddings ?? 0
        for item in order.items
        where item.promptTokenIds.count + order.sampler.maxThinkingSteps + 1 + order.sampler.maxAnswerTokens > positions
        {
            violations.append(
                "[\(id)] work whose rollouts cannot fit \(positions) positions reached generation: \(item.workID)")
        }
    }

    // MARK: Audits

    /// Nothing trained twice; nothing lost: trained, running and outstanding positions are the schedule so far.
    /// nil when that holds, else what broke.
    public func positionAudit() -> String? {
        guard let core = learner else { return nil }
        let running = update?.job.positions ?? []
        let done = trained + running
        guard Set(done).count == done.count else { return "a position was trained twice: \(done)" }
        let outstanding = core.ledger.outstandingPositions
        guard Set(outstanding).count == outstanding.count else {
            return "a position is outstanding twice: \(outstanding)"
        }
        guard Set(outstanding).isDisjoint(with: done) else { return "a trained position is still outstanding" }
        // Quarantined prompts' positions are neither trained nor outstanding, and nothing else is.
        let skipped = core.ledger.skippedPositions
        guard skipped.isDisjoint(with: done) && skipped.isDisjoint(with: outstanding) else {
            return "a quarantined position was trained or is outstanding"
        }
        guard Set(done).union(outstanding).union(skipped) == Set(0..<core.ledger.schedule.cursor) else {
            return
                "positions lost: schedule up to \(core.ledger.schedule.cursor), trained \(done.sorted()), outstanding \(outstanding)"
        }
        return nil
    }
}
