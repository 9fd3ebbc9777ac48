// The learner's socket shell: binds the ROUTER, feeds every frame and the passing time to LearnerCore, and
// performs the effects it returns: sends (chunks zero-copy), updates on a background thread (the new weights are
// snapshotted and encoded there too, never on this loop), checkpoints, metrics lines. Signals end the loop; the
// protocol itself is all in LearnerCore.
import Foundation
import Logging
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TensorMath
import TransformerLM
import Transport

public struct LearnerOptions: Sendable {
    public var bind = "tcp://0.0.0.0:5555"
    public var runDirectory: URL
    /// Checkpoint every N updates (and always on exit).
    public var checkpointEvery = LearnerOptions.defaultCheckpointEvery
    /// Updates between checkpoints unless `--checkpoint-every` says otherwise (learner and local alike).
    public static let defaultCheckpointEvery = 20
    /// Why `--checkpoint-every N` cannot be used, or nil.
    public static func refusal(checkpointEvery n: Int) -> String? {
        n >= 1 ? nil : "--checkpoint-every \(n) must be at least 1 (updates between checkpoints)"
    }
    public var rules = ClusterRules()
    /// Trust: key directory (learner.key_secret, learner.key, allowed_actors); nil = no CURVE.
    public var keys: URL?
    /// What actors are sent: exact fp32 or bf16 (half the bytes; WeightsWireFormat.swift).
    public var wireWeights = WeightsWireFormat.f32
    /// Threads of the update (PolicyLearner.threads).
    public var threads = 1
    /// Train problems whose prompt leaves no room in the model's positions for the thinking and answer limits:
    /// refuse to start (naming them), or skip them (counted as quarantined).
    public var unfitProblems = UnfitProblems.refuse
    public enum UnfitProblems: String, Sendable, CaseIterable { case refuse, skip }
    public init(runDirectory: URL) { self.runDirectory = runDirectory }
}

public final class LearnerService {
    let log = Logger(label: "softrl.learner")
    public let model: LlamaModel
    let learner: PolicyLearner
    let options: LearnerOptions
    /// Where the run's checkpoints, metrics and endpoint file live (a resume's is the checkpoint's).
    public var runDirectory: URL { options.runDirectory }
    public let core: LearnerCore
    let metricsLog: MetricsLog
    let trainer = BackgroundWorker<(UpdateReport, WeightSnapshot?)>(label: "softrl.learner.update")
    var codec: WireCodec
    /// The endpoint actually bound (resolves "tcp://host:*").
    public private(set) var endpoint = ""
    public var runId: String { core.runId }
    public var config: RLConfig { core.config }
    // MONITORING HOOK: observers (set by the executable before run()); called on the socket thread.
    /// After every update, with the same record metrics.jsonl gets.
    public var onStep: ((StepMetrics) -> Void)?
    /// Once per heartbeat period, with every connected actor.
    public var onActorStatus: (([ActorStatus]) -> Void)?

    /// Set when this learner is rank 0 of several processes (LearnerRanks.swift).
    let leader: LearnerRankLeader?

    /// `ranks`: the group when this process is rank 0 of a learner spread over several (`mpirun -np N`); nil alone.
    public init(
        model: LlamaModel, config: RLConfig, task: any ReasoningTask, options: LearnerOptions,
        resume: (optimizer: AdamWState, state: LearnerState)? = nil, ranks: LearnerRankGroup? = nil
    ) throws {
        self.model = model; self.options = options
        _ = try config.frozenRanges(in: model) // a name that matches no tensor is the user's error, not a trap
        learner = PolicyLearner(
            model: model, config: config, endOfThinking: task.thinkingMarker.tokens,
            reducer: ranks ?? SingleWorkerReducer(),
            threads: options.threads, marker: task.thinkingMarker)
        if let r = resume { learner.optimizer.restoreState(r.optimizer) }
        if options.wireWeights != .f32 { learner.actorWeights = options.wireWeights.rounded } // score what the actors ran
        let logger = log
        leader = ranks.map { LearnerRankLeader(group: $0, log: logger) }
        let runId = resume?.state.runId ?? String(UUID().uuidString.prefix(8)).lowercased()
        try leader?.shareStart(
            runId: runId, model: model, learner: learner, endOfThinking: task.thinkingMarker.tokens,
            wireWeights: options.wireWeights)
        try FileManager.default.createDirectory(at: options.runDirectory, withIntermediateDirectories: true)
        metricsLog = MetricsLog(runDirectory: options.runDirectory)
        let weights = try WeightSnapshot(
            model: model, version: learner.version, sampler: config.resolvedSampler(for: task),
            format: options.wireWeights, chunkBytes: options.rules.chunkBytes)
        core = LearnerCore(
            config: config, task: task, modelConfig: model.config, rules: options.rules, weights: weights,
            runId: runId, resume: resume?.state)
        core.checkpointEvery = options.checkpointEvery
        codec = WireCodec(maxMessageBytes: options.rules.maxMessageBytes)
        // Work no actor can do: a problem whose prompt cannot fit beside the thinking and answer limits would be issued,
        // dropped and issued again for ever. Found here, before any actor is asked.
        let unfit = LearnerCore.unfitProblems(task: task, modelConfig: model.config, sampler: core.sampler)
        if !unfit.isEmpty {
            let room = ClusterRules.promptRoom(maxPositions: model.config.maxPositionEmbeddings, sampler: core.sampler)
            let named = unfit.prefix(5).map {
                "train problem \($0.index) (answer \(task.problem(.train, $0.index).answer.prefix(40).debugDescription)): \($0.promptTokens) prompt tokens"
            }
            let what =
                "\(unfit.count) of \(task.count(.train)) train problem(s) of \(config.task) do not fit the model: \(named.joined(separator: "; "))\(unfit.count > 5 ? "; ..." : ""). A prompt may have \(room) tokens: max_position_embeddings \(model.config.maxPositionEmbeddings) minus the thinking limit \(core.sampler.maxThinkingSteps), one end-of-thinking step and the answer limit \(core.sampler.maxAnswerTokens)"
            switch unfit.count == task.count(.train) ? .refuse : options.unfitProblems {
            case .refuse:
                throw ConfigError(
                    "\(what). HINT: shorten or remove those problems, lower --max-thinking-steps, or start with --unfit-problems skip to train on the others"
                )
            case .skip:
                core.skipProblems(unfit.map(\.index))
                log.warning("\(what); skipping them (--unfit-problems skip; counted as quarantined in metrics.jsonl)")
            }
        }
        log.info(
            "weights to actors: \(weights.format.rawValue), \(weights.notice.sizeBytes) bytes per version in \(weights.frames.count) chunk(s) (fp32 master weights: \(model.parameterCount * 4) bytes)"
        )
    }

    public func run() throws {
        ProcessControl.raiseOpenFileLimit() // every actor is a connection, and a checkpoint must still open files
        let context = try ZMQContext()
        defer { context.shutdown() }
        // Trust: the ZAP authenticator is up before the ROUTER exists, and CURVE is set before bind.
        let security = try options.keys.map { try LearnerSecurity(directory: $0, context: context, log: log) }
        defer { security?.stop() }
        let socket = try ZMQSocket(context, .router)
        try security?.configure(socket)
        try socket.set(.routerMandatory(true)) // unroutable sends fail loudly instead of vanishing
        try socket.set(.routerHandover(false)) // a second connection never displaces a live one (ids are per connection)
        try socket.set(.heartbeatInterval(ms: 0)) // no ZMTP heartbeats: libzmq 4.3.4 can abort on them (ClusterRules)
        try socket.set(
            .tcpKeepalive(
                idleSeconds: ClusterRules.keepaliveIdleSeconds, intervalSeconds: ClusterRules.keepaliveIntervalSeconds,
                count: ClusterRules.keepaliveCount))
        try socket.set(.maxMessageSize(Int64(options.rules.maxMessageBytes)))
        try socket.set(.sendHWM(ClusterRules.sendHighWaterMark));
        try socket.set(.receiveHWM(ClusterRules.receiveHighWaterMark))
        try socket.bind(options.bind)
        endpoint = try socket.lastEndpoint
        try? endpoint.write(
            to: options.runDirectory.appendingPathComponent("learner.endpoint"), atomically: true, encoding: .utf8)
        let c = core.config
        log.info(
            "learner \(core.runId) bound \(endpoint) | task \(c.task) | \(core.sampler.label) | policy v\(core.version) | \(c.promptsPerStep) prompts x \(c.groupSize) samples, max staleness \(c.maxStaleness) | \(BLASKernel.current.summary)"
        )
        let poller = ZMQPoller([socket])
        var lastStatus = 0.0
        // Hello deadline: the monitor names accepted and ended connections by descriptor, each message its source.
        let port = endpoint.hasPrefix("tcp://") ? endpoint.split(separator: ":").last.flatMap { Int($0) } : nil
        var deadline = HelloDeadline(seconds: options.rules.helloDeadlineSeconds)
        // The monitor also keeps descriptors in reserve: connections past the open-file limit minus the reserve are
        // closed as they are accepted, so checkpoints can still open files (1,500 silent peers at a limit of 1,024
        // made every checkpoint fail with "Too many open files" while training went on).
        let connections = port != nil ? try ZMQMonitor(socket, watchConnections: true) : nil
        defer { connections?.close() }
        var closedSilent = 0, lastDeadlineCheck = 0.0
        let descriptorLimit = ProcessControl.openFileLimit()
        var refusedForReserve = 0, refusedReported = 0, lastReserveReport = -Double.infinity
        while !ProcessControl.stopRequested && !core.isDone {
            _ = try? poller.poll(timeoutMs: 20)
            security?.reloadIfRequested() // Trust: SIGHUP re-reads the allow-list
            for event in connections?.drain() ?? [] {
                switch event {
                case .accepted(let fd):
                    if let port,
                        ProcessControl.openDescriptorCount() > descriptorLimit - ClusterRules.descriptorReserve,
                        TCPConnection.shutDown(fd, ifLocalPort: port)
                    {
                        refusedForReserve += 1
                    } else if options.rules.helloDeadlineSeconds > 0 {
                        deadline.accepted(fd, now: ProcessControl.now())
                    }
                case .disconnected(let fd): deadline.ended(fd)
                default: break
                }
            }
            if refusedForReserve > refusedReported && ProcessControl.now() - lastReserveReport >= 60 {
                lastReserveReport = ProcessControl.now()
                log.warning(
                    "refused \(refusedForReserve - refusedReported) connection(s): open files at the limit of \(descriptorLimit) minus \(ClusterRules.descriptorReserve) kept for checkpoints and logs (\(refusedForReserve) so far). HINT: raise the limit (ulimit -n, LimitNOFILE=) if these are real actors"
                )
                refusedReported = refusedForReserve
            }
            // Messages are taken for at most `ClusterRules.receiveSliceSeconds` per turn: under a flood (40 peers asking
            // for work every 50 ms) the loop still ticks, so heartbeats go out and honest actors do not presume the
            // learner lost (they did, and were then refused as twins of themselves).
            let sliceEnd = ProcessControl.now() + ClusterRules.receiveSliceSeconds
            while ProcessControl.now() < sliceEnd,
                let (frames, userId, sourceFd) = try socket.receiveAuthenticated(timeoutMs: 0)
            {
                let now = ProcessControl.now()
                defer {
                    if sourceFd >= 0, let address = frames.first, core.actorOfAddress[address] != nil {
                        deadline.introduced(sourceFd)
                    }
                }
                // Trust: with keys, the actor id is the ZAP user id (the key's allowed name); "" if somehow absent.
                let authenticatedId = security == nil ? nil : (userId ?? "")
                let host = PeerHost.of(sourceFd) // warnings are limited per host, not per connection
                guard frames.count == 2 else {
                    perform(
                        core.receive(
                            Data(), from: frames.first ?? Data(), now: now, authenticatedId: authenticatedId,
                            peerHost: host), socket) // counted as malformed
                    continue
                }
                perform(
                    core.receive(
                        frames[1], from: frames[0], now: now, authenticatedId: authenticatedId, peerHost: host), socket)
            }
            if let (report, snapshot) = trainer.takeResult() {
                perform(core.updateFinished(report, weights: snapshot, now: ProcessControl.now()), socket)
            }
            let now = ProcessControl.now()
            perform(core.tick(now: now), socket)
            if let port, options.rules.helloDeadlineSeconds > 0, now - lastDeadlineCheck >= 1 {
                lastDeadlineCheck = now
                let closed = deadline.overdue(now: now).filter { TCPConnection.shutDown($0, ifLocalPort: port) }.count
                if closed > 0 {
                    closedSilent += closed
                    log.warning(
                        "closed \(closed) connection(s) that said no Hello within \(Int(options.rules.helloDeadlineSeconds)) s (\(closedSilent) so far)"
                    )
                }
            }
            if let onActorStatus, now - lastStatus >= options.rules.heartbeatSeconds { // MONITORING HOOK
                lastStatus = now
                onActorStatus(
                    core.actors.values.sorted { $0.id < $1.id }.map {
                        ActorStatus(
                            id: $0.id, host: $0.host, busySlots: $0.busySlots, slots: $0.slots,
                            policyVersion: $0.version, secondsSinceSeen: now - $0.lastSeen)
                    })
            }
        }
        if let leader, trainer.isBusy { // a dead rank leaves the others blocked in the sum until the launcher ends them
            log.warning(
                "stopping with update \(core.version + 1) in flight on \(leader.group.size) learner ranks; waiting for it. If a rank has died the launcher ends the group: the update is then not applied and the checkpoint on disk stands"
            )
        }
        trainer.waitIdle()
        if let (report, snapshot) = trainer.takeResult() {
            perform(core.updateFinished(report, weights: snapshot, now: ProcessControl.now()), socket)
        }
        perform(core.finish(stopping: ProcessControl.stopRequested), socket)
        do { try leader?.shareStop() } catch { log.error("could not release the other learner ranks: \(error)") }
        log.info(
            "learner stopped at step \(core.version); checkpoint in \(options.runDirectory.path)/\(LearnerCheckpoint.directoryName)"
        )
        socket.close(lingerMs: 500)
    }

    func perform(_ effects: [LearnerEffect], _ socket: ZMQSocket) {
        for effect in effects {
            switch effect {
            case let .send(message, to: address):
                do {
                    switch message {
                    case .body(let body): _ = try socket.send(frames: [address, try codec.encode(body)], dontWait: true)
                    case .frame(let frame): _ = try socket.send(head: [address], shared: frame, dontWait: true)
                    }
                } catch {
                    // EHOSTUNREACH under ROUTER_MANDATORY: the peer is gone; the core's reaper accounts for its work.
                    log.debug("send to \(LearnerCore.printable(address)) failed: \(error)")
                }
            case .startUpdate(let job):
                let chunkBytes = options.rules.chunkBytes, sampler = core.sampler, format = options.wireWeights
                trainer.start { [learner, model, log, leader] in
                    do { try leader?.shareUpdate(job.groups, step: learner.version + 1) } catch {
                        leader?.group.abort(
                            "could not hand update \(learner.version + 1) to the other learner ranks: \(error)")
                    }
                    let report: UpdateReport
                    do { report = try learner.update(groups: job.groups) } catch {
                        // Only a multi-worker reducer throws (a worker is gone); the weights are untouched.
                        let message = "update failed: \(error); the last checkpoint is intact, stopping"
                        if let leader { leader.group.abort(message) } // ends every rank, not only this one
                        log.critical("\(message)")
                        exit(EXIT_FAILURE)
                    }
                    let snapshot = try? WeightSnapshot(
                        model: model, version: report.policyVersion, sampler: sampler, format: format,
                        chunkBytes: chunkBytes)
                    return (report, snapshot)
                }
            case .checkpoint(var state):
                state.savedAt = ISO8601DateFormatter().string(from: Date()) // the core keeps no clock: stamped here
                do {
                    try LearnerCheckpoint.save(
                        model: model, optimizer: learner.optimizer, state: state, runDirectory: options.runDirectory)
                    log.info("checkpoint at update \(state.step)") // what a stop now keeps
                } catch {
                    core.checkpointFailed()
                    log.error(
                        "checkpoint failed: \(error); training continues, the previous checkpoint is intact; trying again after the next update"
                    )
                }
            case .record(var m):
                m.time = ISO8601DateFormatter().string(from: Date()) // the core keeps no clock: stamped here
                metricsLog.append(m)
                onStep?(m) // MONITORING HOOK
                print(m.humanLine); fflush(stdout)
            case let .log(level, message):
                log.log(level: level, "\(message)")
            }
        }
    }
}

/// The network address a connection comes from (IPv4 or IPv6, without the port), from its descriptor; nil when it
/// has none (ipc, inproc) or the descriptor is gone.
enum PeerHost {
    static func of(_ fd: Int32) -> String? {
        guard fd >= 0 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            var a = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            }
            guard inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil else { return nil }
        case AF_INET6:
            var a = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            }
            guard inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil else { return nil }
        default:
            return nil
        }
        return String(cString: text)
    }
}
