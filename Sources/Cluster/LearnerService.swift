// The learner: binds a ROUTER socket, hands out work by credit (an actor asks for as many groups as it has
// free slots), tracks every item with a deadline, re-issues work of actors that go silent, recomputes rewards
// itself, drops stale groups, trains on complete groups on a background thread while the socket loop keeps
// serving, publishes each new version as a small notice, and serves the weights in chunks on request.
// Checkpoints every N steps and on SIGINT/SIGTERM.
import Foundation
import Logging
import PolicyGradient
import SoftTokens
import Tasks
import TensorMath
import TransformerLM
import Transport

public struct LearnerOptions: Sendable {
    public var bind = "tcp://0.0.0.0:5555"
    public var runDirectory: URL
    /// Checkpoint every N updates (and always on exit).
    public var checkpointEvery = 20
    /// Heartbeat period both ways (zguide ppworker: 1 s).
    public var heartbeatIntervalMs = 1000
    /// Silent heartbeat periods before an actor is presumed dead and its work re-issued (zguide: 3-5).
    public var heartbeatLiveness = 5
    /// An item not returned within this many seconds is re-issued even if its actor still heartbeats.
    public var workTimeoutSeconds = 300.0
    /// Largest message accepted (ZMQ_MAXMSGSIZE): bigger ones drop the sender's connection, not the learner.
    public var maxMessageBytes: Int64 = 64 << 20
    public var chunkBytes = 4 << 20
    public init(runDirectory: URL) { self.runDirectory = runDirectory }
}

final class ActorRecord {
    let id: String
    let identity: Data
    var lastSeen: Double
    var credit = 0
    let host: String
    let pid: UInt32
    var tokensSinceStep = 0.0
    // MONITORING HOOK: what the actor's hello and heartbeats say, for ActorStatus.
    var slots = 0, busySlots = 0, reportedVersion = -1
    init(id: String, identity: Data, now: Double, host: String, pid: UInt32) {
        self.id = id; self.identity = identity; lastSeen = now; self.host = host; self.pid = pid
    }
}

public final class LearnerService {
    let log = Logger(label: "softrl.learner")
    public let model: LlamaModel     // public for run metadata (MONITORING HOOK)
    public let config: RLConfig
    let task: any ReasoningTask
    let sampler: SamplerConfig
    let options: LearnerOptions
    public let runId: String        // public for run metadata (MONITORING HOOK)
    let learner: PolicyLearner
    let rewards: RewardScorer
    let ledger: WorkLedger
    let metricsLog: MetricsLog
    var codec = WireCodec()
    var actors: [String: ActorRecord] = [:]
    var chunker: BlobChunker
    /// Runs the update and snapshots + hashes the new weights off the socket thread.
    let trainer = BackgroundWorker<(UpdateReport, BlobChunker?, [Int: Int])>(label: "softrl.learner.update")
    var droppedStale = 0, malformed = 0
    var stalenessThisStep: [Int: Int] = [:]
    var lastStepEnd = ProcessControl.now()
    var waitStart: Double? = ProcessControl.now()
    var waitTotal = 0.0
    var rolloutsSinceStep = 0
    var lastCheckpointStep = 0
    var positionsInUpdate: [Int] = []
    /// Goodbye reason that tells actors the run is over (anything else: keep reconnecting).
    public static let finishedReason = "finished: training complete"
    /// The endpoint actually bound (resolves "tcp://host:*").
    public private(set) var endpoint = ""
    // MONITORING HOOK: observers (set by the executable before run()); called on the socket thread.
    /// After every update, with the same record metrics.jsonl gets.
    public var onStep: ((StepMetrics) -> Void)?
    /// Once per heartbeat period, with every connected actor.
    public var onActorStatus: (([ActorStatus]) -> Void)?

    public init(model: LlamaModel, config: RLConfig, task: any ReasoningTask, options: LearnerOptions,
                resume: (optimizer: AdamWState, state: LearnerState)? = nil) throws {
        self.model = model; self.config = config; self.task = task; self.options = options
        sampler = config.resolvedSampler(for: task)
        learner = PolicyLearner(model: model, config: config, endOfThinking: Vocabulary.endOfThinking)
        rewards = RewardScorer(task: task, shaping: config.rewards)
        if let r = resume {
            learner.optimizer.restoreState(r.optimizer)
            runId = r.state.runId
            ledger = WorkLedger(schedule: PromptSchedule(count: task.count(.train), seed: config.seed, cursor: r.state.scheduleCursor),
                                reissue: r.state.outstandingPositions)
            droppedStale = r.state.droppedStale
            lastCheckpointStep = r.state.step
        } else {
            runId = UUID().uuidString.prefix(8).lowercased()
            ledger = WorkLedger(schedule: PromptSchedule(count: task.count(.train), seed: config.seed))
        }
        try FileManager.default.createDirectory(at: options.runDirectory, withIntermediateDirectories: true)
        metricsLog = MetricsLog(runDirectory: options.runDirectory)
        version = learner.version
        chunker = try BlobChunker(version: UInt64(learner.version), blob: WeightsBlob.encode(model), chunkBytes: options.chunkBytes)
    }

    /// The published policy version. Read on the socket thread only; the update thread owns `learner`.
    var version = 0
    /// Issued-but-unconsumed groups allowed: enough for the next update plus `maxStaleness` more.
    var outstandingLimit: Int { config.promptsPerStep * (config.maxStaleness + 1) }

    public func run() throws {
        let context = try ZMQContext()
        defer { context.shutdown() }
        let socket = try ZMQSocket(context, .router)
        try socket.set(.routerMandatory(true))          // unroutable sends fail loudly instead of vanishing
        try socket.set(.routerHandover(true))           // an actor reconnecting with its id takes over its old, half-open connection
        try socket.set(.heartbeatInterval(ms: 1000))    // ZMTP pings close dead TCP connections (partition, crash)
        try socket.set(.heartbeatTimeout(ms: 5000))
        try socket.set(.maxMessageSize(options.maxMessageBytes))
        try socket.set(.linger(ms: 1000))              // bounded wait for queued sends on exit
        try socket.set(.sendHWM(10_000)); try socket.set(.receiveHWM(10_000))
        try socket.bind(options.bind)
        endpoint = try socket.lastEndpoint
        try? endpoint.write(to: options.runDirectory.appendingPathComponent("learner.endpoint"), atomically: true, encoding: .utf8)
        log.info("learner \(runId) bound \(endpoint) | task \(task.name) | \(sampler.label) | policy v\(version) | \(config.promptsPerStep) prompts x \(config.groupSize) samples, max staleness \(config.maxStaleness)")
        let poller = ZMQPoller([socket])
        var lastHeartbeat = 0.0
        while !ProcessControl.stopRequested && (version < config.steps || trainer.isBusy) {
            _ = try? poller.poll(timeoutMs: 20)
            while let frames = try socket.receive(timeoutMs: 0) { handle(frames, socket) }
            let now = ProcessControl.now()
            reapSilentActors(now)
            let expired = ledger.expire(now: now, timeout: options.workTimeoutSeconds)
            if expired > 0 { log.warning("re-issuing \(expired) work item(s) past their \(Int(options.workTimeoutSeconds)) s deadline") }
            if let (report, snapshot, staleness) = trainer.takeResult() { finishUpdate(report, snapshot, staleness, socket) }
            startUpdateIfReady()
            dispatch(socket)
            if now - lastHeartbeat > Double(options.heartbeatIntervalMs) / 1000 {
                lastHeartbeat = now
                var hb = Wire.Heartbeat(); hb.policyVersion = UInt64(version)
                broadcast(.heartbeat(hb), socket)
                onActorStatus?(actors.values.sorted { $0.id < $1.id }.map {   // MONITORING HOOK
                    ActorStatus(id: $0.id, host: $0.host, busySlots: $0.busySlots, slots: $0.slots,
                                policyVersion: $0.reportedVersion, secondsSinceSeen: now - $0.lastSeen)
                })
            }
        }
        trainer.waitIdle()
        if let (report, snapshot, staleness) = trainer.takeResult() { finishUpdate(report, snapshot, staleness, socket) }
        var bye = Wire.Goodbye(); bye.reason = ProcessControl.stopRequested ? "learner stopping (signal); it may be resumed" : LearnerService.finishedReason
        broadcast(.goodbye(bye), socket)
        try checkpoint()
        log.info("learner stopped at step \(version); checkpoint in \(options.runDirectory.path)/\(LearnerCheckpoint.directoryName)")
        socket.close(lingerMs: 500)
    }

    // MARK: Messages

    func handle(_ frames: [Data], _ socket: ZMQSocket) {
        guard frames.count == 2 else { malformed += 1; log.warning("dropped a message of \(frames.count) frames (expected identity + payload)"); return }
        let identity = frames[0]
        let envelope: Envelope
        do { envelope = try codec.decode(frames[1]) } catch {
            malformed += 1
            log.warning("dropped malformed message from \(printable(identity)): \(error)")
            var e = Wire.Error()
            if case WireError.protocolMismatch = error { e.code = 1 } else { e.code = 2 }
            e.message = "malformed message: \(error)"
            send(.error(e), to: identity, socket)
            return
        }
        let now = ProcessControl.now()
        let actorId = String(decoding: identity, as: UTF8.self)
        if case .hello(let h)? = envelope.body { welcome(h, identity: identity, socket, now); return }
        guard let actor = actors[actorId] else {
            var e = Wire.Error(); e.code = 3; e.message = "unknown actor \(actorId): send Hello first"
            send(.error(e), to: identity, socket)
            return
        }
        actor.lastSeen = now
        switch envelope.body {
        case .workRequest(let r)?: actor.credit = Int(min(r.freeSlots, 64))
        case .rolloutGroup(let g)?: receive(g, from: actor)
        case .fetchWeights(let f)?: serveWeights(f, to: identity, socket)
        case .heartbeat(let hb)?: actor.busySlots = Int(hb.busySlots); actor.reportedVersion = Int(hb.policyVersion)  // MONITORING HOOK
        case .goodbye(let b)?:
            let n = ledger.actorLost(actor.id)
            actors.removeValue(forKey: actor.id)
            log.info("actor \(actor.id) left (\(b.reason)); \(n) item(s) re-queued; \(actors.count) connected")
        default:
            log.warning("actor \(actor.id) sent an unexpected message; ignored")
        }
    }

    func welcome(_ h: Wire.Hello, identity: Data, _ socket: ZMQSocket, _ now: Double) {
        let id = String(decoding: identity, as: UTF8.self)
        if let old = actors[id] {
            // Same id again: the actor restarted or reconnected; whatever it held is gone.
            let n = ledger.actorLost(old.id)
            log.info("actor \(id) reconnected; \(n) item(s) re-queued")
        } else {
            log.info("actor \(id) joined from \(h.host) pid \(h.pid), \(h.cores) cores, \(h.softwareVersion); \(actors.count + 1) connected")
        }
        actors[id] = ActorRecord(id: id, identity: identity, now: now, host: h.host, pid: h.pid)
        actors[id]?.slots = Int(h.slots)  // MONITORING HOOK
        var w = Wire.Welcome()
        w.runID = runId
        w.taskName = config.task
        w.taskOptionsJson = String(decoding: (try? JSONEncoder().encode(config.taskOptions)) ?? Data(), as: UTF8.self)
        w.samplerConfigJson = String(decoding: (try? JSONEncoder().encode(sampler)) ?? Data(), as: UTF8.self)
        w.policyVersion = UInt64(version)
        w.heartbeatIntervalMs = UInt32(options.heartbeatIntervalMs)
        w.modelConfigJson = String(decoding: (try? JSONEncoder().encode(model.config)) ?? Data(), as: UTF8.self)
        send(.welcome(w), to: identity, socket)
        send(.versionNotice(chunker.notice), to: identity, socket)
    }

    func receive(_ g: Wire.RolloutGroup, from actor: ActorRecord) {
        guard g.actorID.isEmpty || g.actorID == actor.id else {
            malformed += 1
            log.warning("actor \(actor.id) sent a group signed as \(g.actorID); dropped")
            return
        }
        switch ledger.complete(workId: g.workID, by: actor.id) {
        case .unknown:
            malformed += 1
            log.warning("actor \(actor.id) returned unknown work \(g.workID); dropped")
            return
        case .notAssigned:
            malformed += 1
            log.warning("actor \(actor.id) returned \(g.workID), which was never issued to it; dropped")
            return
        case .duplicate:
            log.info("duplicate result for \(g.workID) from \(actor.id) (already completed elsewhere); dropped")
            return
        case .accepted(let position):
            let promptIndex = ledger.schedule.index(at: position)
            var group: [Rollout] = []
            do {
                guard Int(g.promptIndex) == promptIndex else { throw RolloutValidationError("prompt index \(g.promptIndex), issued \(promptIndex)") }
                guard g.rollouts.count == config.groupSize else { throw RolloutValidationError("\(g.rollouts.count) rollouts, expected \(config.groupSize)") }
                for w in g.rollouts {
                    var r = try WireMapping.rollout(w, promptIndex: promptIndex, config: model.config, sampler: sampler)
                    guard r.policyVersion <= version else { throw RolloutValidationError("claims future policy version \(r.policyVersion)") }
                    guard rewards.score(&r) else { throw RolloutValidationError("prompt tokens differ from problem \(promptIndex)") }
                    group.append(r)
                }
            } catch {
                malformed += 1
                ledger.requeue(position)
                log.warning("actor \(actor.id) sent an invalid group for \(g.workID): \(error); re-queued")
                return
            }
            let staleness = version - (group.map(\.policyVersion).min() ?? version)
            if staleness > config.maxStaleness {
                droppedStale += 1
                ledger.requeue(position)
                return
            }
            rolloutsSinceStep += group.count
            actor.tokensSinceStep += Double(g.timings.tokens)
            ledger.buffer(position: position, group: group)
        }
    }

    func serveWeights(_ f: Wire.FetchWeights, to identity: Data, _ socket: ZMQSocket) {
        do {
            send(.weightsChunk(try chunker.answer(f)), to: identity, socket)
        } catch {
            // Usually an old version: tell the actor what is current instead.
            send(.versionNotice(chunker.notice), to: identity, socket)
        }
    }

    // MARK: Work and updates

    func dispatch(_ socket: ZMQSocket) {
        guard version < config.steps else { return }
        for actor in actors.values.sorted(by: { $0.id < $1.id }) where actor.credit > 0 {
            let items = ledger.issue(to: actor.id, count: actor.credit, limit: outstandingLimit, now: ProcessControl.now())
            if items.isEmpty { break }
            actor.credit -= items.count
            var work = Wire.Work()
            work.policyVersion = UInt64(version)
            work.items = items.map { a in
                var w = Wire.WorkItem(); w.workID = a.workId; w.promptIndex = UInt64(a.promptIndex); w.groupSize = UInt32(config.groupSize)
                return w
            }
            send(.work(work), to: actor.identity, socket)
        }
    }

    func startUpdateIfReady() {
        guard !trainer.isBusy, version < config.steps else { return }
        let current = version
        let (batch, stale) = ledger.takeBatch(count: config.promptsPerStep) { group in
            current - (group.map(\.policyVersion).min() ?? current) <= self.config.maxStaleness
        }
        droppedStale += stale
        guard !batch.isEmpty else { return }
        if let w = waitStart { waitTotal += ProcessControl.now() - w; waitStart = nil }
        var staleness: [Int: Int] = [:]
        for (_, g) in batch { staleness[current - (g.map(\.policyVersion).min() ?? current), default: 0] += 1 }
        let groups = batch.map(\.rollouts)
        positionsInUpdate = batch.map(\.position)
        let chunkBytes = options.chunkBytes
        trainer.start { [learner, model] in
            let report = learner.update(groups: groups)
            let snapshot = try? BlobChunker(version: UInt64(report.policyVersion), blob: WeightsBlob.encode(model), chunkBytes: chunkBytes)
            return (report, snapshot, staleness)
        }
    }

    func finishUpdate(_ r: UpdateReport, _ snapshot: BlobChunker?, _ staleness: [Int: Int], _ socket: ZMQSocket) {
        let now = ProcessControl.now()
        waitStart = now
        version = r.policyVersion
        if let snapshot { chunker = snapshot } else { log.error("could not snapshot weights v\(version); actors keep v\(chunker.notice.version)") }
        let elapsed = max(now - lastStepEnd, 1e-3)
        var m = StepMetrics()
        m.update = r
        m.time = ISO8601DateFormatter().string(from: Date())
        let tokens = actors.values.reduce(0) { $0 + $1.tokensSinceStep }
        m.clusterTokensPerSecond = tokens / elapsed
        m.rolloutsPerSecond = Double(rolloutsSinceStep) / elapsed
        m.learnerStepMs = r.milliseconds
        m.learnerWaitShare = min(1, waitTotal / elapsed)
        m.stalenessHistogram = Dictionary(uniqueKeysWithValues: staleness.map { ("\($0.key)", $0.value) })
        m.droppedStale = droppedStale; m.reissued = ledger.reissuedCount; m.duplicates = ledger.duplicateCount; m.malformed = malformed
        m.actorsConnected = actors.count
        m.actorTokensPerSecond = Dictionary(uniqueKeysWithValues: actors.values.map { ($0.id, $0.tokensSinceStep / elapsed) })
        m.positions = positionsInUpdate
        for a in actors.values { a.tokensSinceStep = 0 }
        rolloutsSinceStep = 0; waitTotal = 0; lastStepEnd = now
        metricsLog.append(m)
        onStep?(m)  // MONITORING HOOK
        print(m.humanLine); fflush(stdout)
        broadcast(.versionNotice(chunker.notice), socket)
        if version - lastCheckpointStep >= options.checkpointEvery {
            do { try checkpoint() } catch { log.error("checkpoint failed: \(error); training continues, the previous checkpoint is intact") }
        }
    }

    func checkpoint() throws {
        let state = LearnerState(runId: runId, step: version, config: config, scheduleCursor: ledger.schedule.cursor,
                                 outstandingPositions: ledger.outstandingPositions, droppedStale: droppedStale,
                                 reissued: ledger.reissuedCount, savedAt: ISO8601DateFormatter().string(from: Date()))
        try LearnerCheckpoint.save(model: model, optimizer: learner.optimizer, state: state, runDirectory: options.runDirectory)
        lastCheckpointStep = version
    }

    func reapSilentActors(_ now: Double) {
        let limit = Double(options.heartbeatIntervalMs * options.heartbeatLiveness) / 1000
        for a in actors.values where now - a.lastSeen > limit {
            let n = ledger.actorLost(a.id)
            actors.removeValue(forKey: a.id)
            log.warning("actor \(a.id) silent for \(String(format: "%.1f", now - a.lastSeen)) s: presumed lost; \(n) item(s) re-queued; \(actors.count) connected")
        }
    }

    // MARK: Sending

    func send(_ body: Wire.Body, to identity: Data, _ socket: ZMQSocket) {
        do {
            let payload = try codec.encode(body)
            _ = try socket.send(frames: [identity, payload], dontWait: true)
        } catch {
            // EHOSTUNREACH under ROUTER_MANDATORY: the peer is gone; the reaper will account for its work.
            log.debug("send to \(printable(identity)) failed: \(error)")
        }
    }

    func broadcast(_ body: Wire.Body, _ socket: ZMQSocket) {
        for a in actors.values { send(body, to: a.identity, socket) }
    }

    func printable(_ identity: Data) -> String {
        let s = String(decoding: identity, as: UTF8.self)
        return s.allSatisfy({ $0.isASCII && !$0.isNewline }) ? s : identity.map { String(format: "%02x", $0) }.joined()
    }
}
