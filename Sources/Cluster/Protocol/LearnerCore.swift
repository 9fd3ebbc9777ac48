// The learner's protocol as a pure state machine: frames in (with the sender's address and the time), effects
// out (messages to send, an update to start, a checkpoint to write, metrics to record, lines to log). No sockets,
// threads, clocks or signals: LearnerService drives it over ZeroMQ, the tests drive it in memory with a manual
// clock and thousands of simulated actors, and both run exactly this code.
//
// It owns: the session table (who is connected, under which address, with how much credit), Hello rules
// (duplicate ids are refused, not displaced), validation of every result, the work ledger (what is in flight,
// buffered, re-issued), dispatch (by record of returned work, credit- and staleness-bounded, speculative re-issue
// when starved), weights serving from pre-encoded chunks, the relay tree judged by delivery, quarantine of work no
// actor can do, per-update metrics, and rate-limited warnings and session lines.
import Foundation
import Logging
import Run
import SoftTokens
import Tasks
import TransformerLM
import Transport

/// Where a frame came from / goes to: the shell's address of one connection (a ZeroMQ routing id).
public typealias PeerAddress = Data

public enum Outgoing {
    case body(Wire.Body)
    /// Already encoded and shared between peers (weights chunks): sent without a copy.
    case frame(EncodedFrame)
}

/// What the learner core asks its shell to do, in order.
public enum LearnerEffect {
    case send(Outgoing, to: PeerAddress)
    /// Train on these groups on the update thread, then call `updateFinished`.
    case startUpdate(UpdateJob)
    /// Write model, optimizer and this state atomically (the update thread is idle when this is emitted). The core
    /// keeps no wall clock: the shell stamps `savedAt`.
    case checkpoint(LearnerState)
    /// One update's metrics; the shell stamps `time` (wall clock) as it records them.
    case record(StepMetrics)
    case log(Logger.Level, String)
}

public struct UpdateJob {
    public var groups: [[Rollout]]
    public var positions: [Int]
    /// Versions behind -> groups, for metrics.
    public var staleness: [Int: Int]
    public var version: Int
}

/// One policy version ready to serve: the notice and every chunk, encoded once.
public struct WeightSnapshot: Sendable {
    public let notice: Wire.VersionNotice
    public let frames: [EncodedFrame]
    /// gamma * RMS(E) of these weights: the noise scale a soft/fuzzy rollout of this version must state (nil: unchecked).
    public let noiseSigma: Double?
    /// The blob's byte format (Welcome.weights_format; WeightsWireFormat.swift).
    public let format: WeightsWireFormat
    public var version: Int { Int(notice.version) }

    /// Cuts `blob` into chunks and encodes each as a WeightsChunk envelope (on the update thread, off the loop).
    public init(version: Int, blob: Data, chunkBytes: Int, noiseSigma: Double? = nil, format: WeightsWireFormat = .f32)
        throws
    {
        self.noiseSigma = noiseSigma
        self.format = format
        let chunker = try BlobChunker(version: UInt64(version), blob: blob, chunkBytes: chunkBytes)
        var codec = WireCodec(maxMessageBytes: Int.max)
        notice = chunker.notice
        frames = try (0..<chunker.chunkCount).map {
            EncodedFrame(try codec.encode(.weightsChunk(try chunker.chunk($0))))
        }
    }
}

/// What the learner knows of one connected actor.
public struct ActorSessionRecord {
    public let id: String
    public var address: PeerAddress
    public let host: String
    public let pid: UInt32
    /// Groups it said it can generate at once (capped by ClusterRules.maxSlotsPerActor).
    public let slots: Int
    public var lastSeen: Double
    /// Groups it asked for and has not been given yet.
    public var credit = 0
    /// Items of it that were taken back (deadline or speculation); halves what it may hold, a result earns one back.
    public var strikes = 0
    /// Groups it returned that passed validation: its record. An actor without one (a new id, or a peer that takes
    /// work and never returns it) is on probation and holds at most one item, from room the others leave.
    public var returned = 0
    public var version = 0
    public var busySlots = 0
    /// When it was last given work (a dispatch counter): ties go to whoever waited longest.
    var lastIssued = 0
    var tokensSinceStep = 0.0
    var generateMsSinceStep = 0.0
}

public final class LearnerCore {
    public let config: RLConfig
    public let rules: ClusterRules
    public let staleness: StalenessRule
    public let runId: String
    public let ledger: WorkLedger
    let modelConfig: LlamaConfig
    public let sampler: SamplerConfig
    let task: any ReasoningTask
    let rewards: RewardScorer
    let welcomeTemplate: Wire.Welcome
    var codec: WireCodec

    /// Connected actors by id, and the id behind each address.
    public private(set) var actors: [String: ActorSessionRecord] = [:]
    var actorOfAddress: [PeerAddress: String] = [:]
    /// Who fetches each version from whom (relays of fan-out rules.relayFanout).
    var relayTree: RelayTree
    /// The published policy version and its weights.
    public private(set) var version: Int
    public private(set) var weights: WeightSnapshot
    public private(set) var updating = false
    /// Write a checkpoint every this many updates (and at the last one).
    public var checkpointEvery = 20
    public private(set) var droppedStale = 0, malformed = 0, refusedDuplicates = 0, speculated = 0
    /// Trust: messages refused because they claimed an actor id other than the connection's key name.
    public internal(set) var refusedImpersonations = 0
    var warnings = WarningLimiter()
    /// Each actor's log-prob gap to the learner's recomputation, and the warning for one that disagrees.
    var agreement = ActorAgreement()
    /// The host of the connection whose frame is being handled (warnings are limited per host), if the shell knows it.
    var warningKey: Data?
    /// Joins, leaves and re-Hellos: the first few per minute are logged one by one, the rest summarised.
    var sessionLines = EventSummary(kind: "session event")
    /// Relays judged by delivery: each actor's nearest relay for the current version (until judged), each relay's
    /// record, and the actors a relay failed (they are served by relays with a record only).
    var relayOfChild: [String: String] = [:]
    var relayRecords: [String: (delivered: Int, failedInARow: Int)] = [:]
    var sparedChildren: Set<String> = []
    public private(set) var demotedRelays = 0
    /// Prompts set aside: found at start not to fit the model (skip mode), or dropped by actors repeatedly.
    public private(set) var quarantined = 0
    var lastCheckpointStep: Int
    /// The last checkpoint could not be written (the shell said so): write one after the next update, not
    /// `checkpointEvery` updates later.
    var checkpointOwed = false
    /// The state the last checkpoint asked of the shell recorded (nil before the first).
    var lastCheckpointed: LearnerState?
    var lastHeartbeat = -Double.infinity
    var lastStepEnd: Double?
    var waitStart: Double?
    var waitTotal = 0.0
    var rolloutsSinceStep = 0
    var pendingStaleness: [Int: Int] = [:]
    var pendingPositions: [Int] = []
    var issueCounter = 0
    /// Noise scale of each recent version (a rollout may be up to maxStaleness versions old).
    var sigmaByVersion: [Int: Double] = [:]

    public init(
        config: RLConfig, task: any ReasoningTask, modelConfig: LlamaConfig, rules: ClusterRules,
        weights: WeightSnapshot,
        runId: String, resume: LearnerState? = nil
    ) {
        self.config = config; self.task = task; self.modelConfig = modelConfig; self.rules = rules;
        self.weights = weights
        self.runId = runId
        sampler = config.resolvedSampler(for: task)
        rewards = RewardScorer(task: task, shaping: config.rewards)
        staleness = StalenessRule(maxStaleness: config.maxStaleness, promptsPerStep: config.promptsPerStep)
        codec = WireCodec(maxMessageBytes: rules.maxMessageBytes)
        relayTree = RelayTree(fanout: rules.relayFanout)
        version = weights.version
        if let s = weights.noiseSigma { sigmaByVersion[version] = s }
        if let r = resume {
            ledger = WorkLedger(
                schedule: PromptSchedule(count: task.count(.train), seed: config.seed, cursor: r.scheduleCursor),
                reissue: r.outstandingPositions)
            droppedStale = r.droppedStale
            lastCheckpointStep = r.step
        } else {
            ledger = WorkLedger(schedule: PromptSchedule(count: task.count(.train), seed: config.seed))
            lastCheckpointStep = 0
        }
        var w = Wire.Welcome()
        w.runID = runId
        w.taskName = config.task
        w.taskOptionsJson = String(decoding: (try? JSONEncoder().encode(config.taskOptions)) ?? Data(), as: UTF8.self)
        w.samplerConfigJson = sampler.canonicalJSON
        w.heartbeatIntervalMs = UInt32(rules.heartbeatIntervalMs)
        w.modelConfigJson = String(decoding: (try? JSONEncoder().encode(modelConfig)) ?? Data(), as: UTF8.self)
        // Text tasks end thinking with a multi-token marker (the task describes it; actors rebuild the task).
        w.endOfThinkingToken = task.thinkingMarker.tokens.first ?? Vocabulary.endOfThinking
        w.endOfSequenceToken = task.endOfSequence
        w.maxThinkingSteps = UInt32(sampler.maxThinkingSteps)
        w.maxAnswerTokens = UInt32(sampler.maxAnswerTokens)
        w.vocabulary = task.vocabulary.tokens
        w.weightsFormat = weights.format.rawValue
        w.liveness = UInt32(rules.liveness)
        w.maxMessageBytes = UInt32(rules.maxMessageBytes)
        welcomeTemplate = w
    }

    /// Training is over: the last update is done and nothing is running.
    public var isDone: Bool { version >= config.steps && !updating }

    public var checkpointState: LearnerState {
        LearnerState(
            runId: runId, step: version, config: config, scheduleCursor: ledger.schedule.cursor,
            outstandingPositions: ledger.outstandingPositions, droppedStale: droppedStale,
            reissued: ledger.reissuedCount, savedAt: "")
    }

    // MARK: Input

    /// One frame from one connection.
    /// `authenticatedId`: the connection's CURVE identity (its key's allowed name) when the learner runs with keys;
    /// it then IS the actor id (LearnerCore+Identity.swift).
    /// `peerHost`: the network address the connection comes from (the shell's getpeername), when it has one:
    /// warnings are limited per host, so a peer that reconnects (a new routing id each time) gets no fresh allowance.
    public func receive(
        _ frame: Data, from address: PeerAddress, now: Double, authenticatedId: String? = nil, peerHost: String? = nil
    ) -> [LearnerEffect] {
        var out: [LearnerEffect] = []
        warningKey = peerHost.map { Data($0.utf8) }
        defer { warningKey = nil }
        let envelope: Envelope
        do { envelope = try codec.decode(frame) } catch {
            malformed += 1
            warn(&out, address, now, "dropped a malformed message from \(Self.printable(address)): \(error)")
            let code: Wire.ErrorCode = {
                if case WireError.protocolMismatch = error { return .protocolMismatch }; return .malformed
            }()
            out.append(self.error(code, "malformed message: \(error)", to: address))
            return out
        }
        // Trust: with keys, a Hello must claim the key's own name, and later messages must come from it.
        if let authenticatedId, !admitsAuthenticated(envelope, authenticatedId, from: address, now: now, &out) {
            return out
        }
        if case .hello(let h)? = envelope.body {
            hello(bindingId(h, authenticatedId), from: address, now: now, &out); return out
        }
        guard let id = actorOfAddress[address], var actor = actors[id] else {
            warn(
                &out, address, now,
                "message from \(Self.printable(address)), which never said Hello; answered 'unknown actor'")
            out.append(error(.unknownActor, "unknown actor: send Hello first", to: address))
            return out
        }
        actor.lastSeen = now
        actors[id] = actor
        switch envelope.body {
        case .workRequest(let r)?:
            actors[id]!.credit = min(Int(r.freeSlots), actor.slots)
            // A newcomer already holding its one item can be given nothing: skip the dispatch pass (a hoarder asks every
            // 50 ms; the tick's pass still serves everyone).
            if actor.returned > 0 || !ledger.inFlight.values.contains(where: { $0.actor == id }) { dispatch(now, &out) }
        case .rolloutGroup(let g)?: result(g, from: id, now: now, &out)
        case .fetchWeights(let f)?: serveWeights(f, to: address, now: now, &out)
        case .heartbeat(let hb)?:
            actors[id]!.version = Int(hb.policyVersion); actors[id]!.busySlots = Int(hb.busySlots)
            if hb.policyVersion >= UInt64(weights.version), let relay = relayOfChild.removeValue(forKey: id) {
                relayDelivered(relay)
            }
        case .error(let e)? where e.code == Wire.ErrorCode.resultRejected.rawValue && !e.workID.isEmpty:
            workRefused(e, by: id, now: now, &out)
        case .goodbye(let b)?:
            let n = ledger.actorLost(id)
            forget(id)
            sessionLog(&out, now, "actor \(id) left (\(b.reason)); \(n) item(s) re-queued; \(actors.count) connected")
        default:
            malformed += 1
            warn(&out, address, now, "actor \(id) sent a message only the learner sends; ignored")
        }
        return out
    }

    /// Time passes: liveness, deadlines, speculation, the next update, dispatch, heartbeats.
    public func tick(now: Double) -> [LearnerEffect] {
        var out: [LearnerEffect] = []
        if lastStepEnd == nil { lastStepEnd = now; waitStart = now }
        if let summary = sessionLines.flush(now: now) {
            out.append(.log(.info, "\(summary); \(actors.count) connected"))
        }
        for a in actors.values where now - a.lastSeen > rules.silenceLimitSeconds {
            let n = ledger.actorLost(a.id)
            forget(a.id)
            sessionLog(
                &out, now,
                "actor \(a.id) silent for \(String(format: "%.1f", now - a.lastSeen)) s: presumed lost; \(n) item(s) re-queued; \(actors.count) connected",
                level: .warning)
        }
        let late = ledger.expireAssignments(now: now, timeout: rules.workTimeoutSeconds)
        if !late.isEmpty {
            for a in late { actors[a.actor]?.strikes += 1 }
            out.append(
                .log(
                    .warning,
                    "re-issuing \(late.count) item(s) past their \(Int(rules.workTimeoutSeconds)) s deadline (held by \(Set(late.map(\.actor)).sorted().joined(separator: ", ")))"
                ))
        }
        speculate(now, &out)
        startUpdateIfReady(now, &out)
        dispatch(now, &out)
        if now - lastHeartbeat >= rules.heartbeatSeconds {
            lastHeartbeat = now
            var hb = Wire.Heartbeat(); hb.policyVersion = UInt64(version)
            broadcast(.heartbeat(hb), &out)
        }
        return out
    }

    /// The update thread finished. `weights` is the new version's snapshot (nil if it could not be made).
    public func updateFinished(_ report: UpdateReport, weights snapshot: WeightSnapshot?, now: Double)
        -> [LearnerEffect]
    {
        var out: [LearnerEffect] = []
        updating = false
        waitStart = now
        version = report.policyVersion
        if let s = snapshot?.noiseSigma {
            sigmaByVersion[version] = s
            sigmaByVersion = sigmaByVersion.filter { $0.key >= version - config.maxStaleness - 1 }
        }
        if let snapshot {
            weights = snapshot
        } else {
            out.append(.log(.error, "could not snapshot weights v\(version); actors keep v\(weights.version)"))
        }
        let gaps = agreement.update(
            positions: pendingPositions, gaps: report.groupLogProbGaps, threshold: rules.logProbGapWarning,
            step: report.step)
        for w in gaps.warnings { out.append(.log(.warning, w)) }
        var metrics = stepMetrics(report, now: now)
        metrics.actorLogProbGap = gaps.perActor
        out.append(.record(metrics))
        for a in actors.values.sorted(by: { $0.id < $1.id }) {
            out.append(.send(.body(.versionNotice(notice(for: a.id))), to: a.address))
        }
        if checkpointOwed || version - lastCheckpointStep >= max(1, checkpointEvery) || version >= config.steps {
            lastCheckpointStep = version; checkpointOwed = false
            lastCheckpointed = checkpointState
            out.append(.checkpoint(checkpointState))
        }
        return out
    }

    /// The shell could not write the checkpoint it was asked for (out of descriptors, disk full, read-only): the next
    /// update checkpoints again.
    public func checkpointFailed() { checkpointOwed = true }

    /// Orderly end (training complete or a stop signal): tell every actor, then the shell writes the last checkpoint
    /// unless the one it wrote last already holds this state (the last update's, when nothing happened since).
    public func finish(stopping: Bool) -> [LearnerEffect] {
        var out: [LearnerEffect] = []
        var bye = Wire.Goodbye()
        bye.runFinished = !stopping && version >= config.steps
        bye.reason = bye.runFinished ? "training complete" : "learner stopping; it may be resumed"
        broadcast(.goodbye(bye), &out)
        let state = checkpointState
        if checkpointOwed || !(lastCheckpointed?.sameProgress(as: state) ?? false) { out.append(.checkpoint(state)) }
        return out
    }

    // MARK: Sessions

    func hello(_ h: Wire.Hello, from address: PeerAddress, now: Double, _ out: inout [LearnerEffect]) {
        let id = h.actorID
        guard !id.isEmpty, id.utf8.count <= ClusterRules.maxActorIdBytes,
            id.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else {
            malformed += 1
            warn(&out, address, now, "refused a Hello with an invalid actor id (\(id.utf8.count) bytes)")
            out.append(
                error(.malformed, "actor_id must be 1...\(ClusterRules.maxActorIdBytes) printable bytes", to: address))
            return
        }
        if let old = actors[id], old.address != address {
            // A live actor holds this id (heard within the liveness window, or the reaper would have removed it).
            refusedDuplicates += 1
            warn(
                &out, address, now,
                "refused a second connection claiming actor id \(id) (held by \(old.host) pid \(old.pid), last heard \(String(format: "%.1f", now - old.lastSeen)) s ago)"
            )
            // When the holder will be presumed dead if it stays silent (the reaper runs every tick): a restarted actor
            // refused as the twin of its dead self comes back then, not after a full window of its own.
            let remaining = max(0, rules.silenceLimitSeconds - (now - old.lastSeen))
            var e = Wire.Error(); e.code = Wire.ErrorCode.duplicateActor.rawValue;
            e.retryAfterMs = UInt32(remaining * 1000)
            e.message =
                "actor id \(id) is held by a live connection from \(old.host) pid \(old.pid): choose another --id, or retry after \(String(format: "%.1f", remaining)) s if that process is gone"
            out.append(.send(.body(.error(e)), to: address))
            return
        }
        if actors[id] != nil {
            let n = ledger.actorLost(id)
            sessionLog(&out, now, "actor \(id) said Hello again; \(n) item(s) re-queued")
        } else {
            sessionLog(
                &out, now,
                "actor \(id) joined from \(h.host.prefix(64)) pid \(h.pid), \(h.cores) cores, \(h.slots) slots, \(h.softwareVersion.prefix(64)); \(actors.count + 1) connected"
            )
        }
        if let previous = actorOfAddress[address], previous != id { forget(previous) }
        let slots = max(1, min(Int(h.slots == 0 ? 1 : h.slots), ClusterRules.maxSlotsPerActor))
        actors[id] = ActorSessionRecord(id: id, address: address, host: h.host, pid: h.pid, slots: slots, lastSeen: now)
        relayTree.join(
            id, endpoint: relayEndpoint(h, from: address, now: now, &out),
            key: CurveKeyPair.isValidZ85Key(h.relayPublicKey) ? h.relayPublicKey : "")
        actorOfAddress[address] = id
        var w = welcomeTemplate
        w.policyVersion = UInt64(version)
        out.append(.send(.body(.welcome(w)), to: address))
        out.append(.send(.body(.versionNotice(notice(for: id))), to: address))
    }

    /// The current version's notice for one actor: where in the relay tree it fetches from.
    func notice(for id: String) -> Wire.VersionNotice {
        var n = weights.notice
        (n.sources, n.sourceKeys) = relayTree.sourcesWithKeys(of: id)
        var ids = relayTree.ancestorIds(of: id)
        if sparedChildren.contains(id) {
            // A relay failed this actor before: only relays that have delivered may serve it now.
            let keep = ids.indices.filter { relayTree.isProven(ids[$0]) }
            n.sources = keep.map { n.sources[$0] }; n.sourceKeys = keep.map { n.sourceKeys[$0] };
            ids = keep.map { ids[$0] }
        }
        relayOfChild[id] = ids.first
        if n.sourceKeys.allSatisfy(\.isEmpty) { n.sourceKeys = [] }
        return n
    }

    /// The relay endpoint a Hello announces, if it is one an actor can connect to; else the actor is a leaf.
    func relayEndpoint(_ h: Wire.Hello, from address: PeerAddress, now: Double, _ out: inout [LearnerEffect]) -> String?
    {
        let e = h.relayEndpoint
        guard !e.isEmpty else { return nil }
        guard e.utf8.count <= ClusterRules.maxEndpointBytes,
            ["tcp://", "ipc://", "inproc://"].contains(where: e.hasPrefix),
            e.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }), !e.contains("*")
        else {
            warn(
                &out, address, now,
                "ignored relay endpoint \(e.prefix(64).debugDescription) of \(h.actorID): not a connectable tcp://, ipc:// or inproc:// address; it fetches from the learner"
            )
            return nil
        }
        return e
    }

    func forget(_ id: String) {
        if let a = actors.removeValue(forKey: id), actorOfAddress[a.address] == id {
            actorOfAddress.removeValue(forKey: a.address)
        }
        relayTree.leave(id)
        relayOfChild[id] = nil; sparedChildren.remove(id); relayRecords[id] = nil
    }

    // MARK: Results

    func result(_ g: Wire.RolloutGroup, from id: String, now: Double, _ out: inout [LearnerEffect]) {
        let address = actors[id]!.address
        func reject(_ why: String, requeue position: Int? = nil) {
            malformed += 1
            if let position { ledger.requeue(position) }
            warn(&out, address, now, "actor \(id): result \(g.workID) rejected: \(why)")
            var e = Wire.Error(); e.code = Wire.ErrorCode.resultRejected.rawValue; e.workID = g.workID
            e.message = "result \(g.workID) rejected: \(why)"
            out.append(.send(.body(.error(e)), to: address))
        }
        guard g.actorID.isEmpty || g.actorID == id else { return reject("signed as actor \(g.actorID)") }
        switch ledger.complete(workId: g.workID, by: id, now: now) {
        case .unknown: return reject("no such work was issued")
        case .notAssigned: return reject("it was issued to another actor")
        case .duplicate:
            out.append(.log(.info, "duplicate result for \(g.workID) from \(id) (already completed); dropped"))
            return
        case .accepted(let position):
            let promptIndex = ledger.schedule.index(at: position)
            var group: [Rollout] = []
            do {
                guard g.promptIndex == UInt64(promptIndex) else {
                    throw RolloutValidationError("prompt index \(g.promptIndex), issued \(promptIndex)")
                }
                guard g.rollouts.count == config.groupSize else {
                    throw RolloutValidationError("\(g.rollouts.count) rollouts, expected \(config.groupSize)")
                }
                var seen = Set<UInt32>()
                let problem = task.problem(.train, promptIndex) // once per group: every rollout answers the same one
                for w in g.rollouts {
                    guard seen.insert(w.sampleIndex).inserted, w.sampleIndex < UInt32(config.groupSize) else {
                        throw RolloutValidationError("sample index \(w.sampleIndex) repeated or outside the group")
                    }
                    var r = try WireMapping.rollout(
                        w, promptIndex: promptIndex, config: modelConfig, sampler: sampler,
                        noiseSigma: { [sigmaByVersion] in sigmaByVersion[$0] },
                        runSamplerJSON: welcomeTemplate.samplerConfigJson,
                        endOfThinking: task.thinkingMarker.tokens.count == 1 ? task.thinkingMarker.tokens[0] : nil)
                    guard r.policyVersion <= version else {
                        throw RolloutValidationError("claims future policy version \(r.policyVersion)")
                    }
                    guard rewards.score(&r, against: problem) else {
                        throw RolloutValidationError("prompt tokens differ from problem \(promptIndex)")
                    }
                    group.append(r)
                }
            } catch {
                return reject("\(error)", requeue: position)
            }
            guard staleness.isFresh(group, at: version) else {
                droppedStale += 1
                return reject(
                    "\(StalenessRule.staleness(of: group, at: version)) versions stale (max \(config.maxStaleness))",
                    requeue: position)
            }
            rolloutsSinceStep += group.count
            actors[id]!.tokensSinceStep += Double(g.timings.tokens)
            if g.timings.generateMs.isFinite && g.timings.generateMs >= 0 {
                actors[id]!.generateMsSinceStep += min(g.timings.generateMs, 3.6e6)
            }
            actors[id]!.strikes = max(0, actors[id]!.strikes - 1)
            actors[id]!.returned += 1
            ledger.buffer(position: position, group: group)
            agreement.produced(position: position, by: id)
            startUpdateIfReady(now, &out)
        }
    }

    func serveWeights(_ f: Wire.FetchWeights, to address: PeerAddress, now: Double, _ out: inout [LearnerEffect]) {
        // A child its relays should have served asks the learner: they failed it (stalled, erred, or helped deliver
        // a bad blob, and the child moved on up to us).
        if f.version == weights.notice.version, let child = actorOfAddress[address],
            let relay = relayOfChild.removeValue(forKey: child)
        {
            relayFailed(relay, child: child, now: now, &out)
        }
        guard f.version == weights.notice.version, f.chunkIndex < UInt64(weights.frames.count) else {
            out.append(
                error(
                    .badRequest,
                    "no chunk \(f.chunkIndex) of version \(f.version): serving v\(weights.version) in \(weights.frames.count) chunk(s)",
                    to: address))
            out.append(
                .send(.body(.versionNotice(actorOfAddress[address].map(notice(for:)) ?? weights.notice)), to: address))
            return
        }
        out.append(.send(.frame(weights.frames[Int(f.chunkIndex)]), to: address))
    }

    // MARK: Relays judged by delivery

    /// A child installed the current version and never asked the learner for it: its nearest relay delivered.
    func relayDelivered(_ relay: String) {
        relayRecords[relay, default: (0, 0)].delivered += 1
        relayRecords[relay]!.failedInARow = 0
        relayTree.delivered(relay)
    }

    /// A child had to fetch from the learner: a relay without a record is demoted at once, one with a record after
    /// `ClusterRules.relayFailuresToDemote` failures in a row; the child is served by proven relays only from now on.
    func relayFailed(_ relay: String, child: String, now: Double, _ out: inout [LearnerEffect]) {
        var r = relayRecords[relay, default: (0, 0)]
        r.failedInARow += 1
        relayRecords[relay] = r
        sparedChildren.insert(child)
        guard r.delivered == 0 || r.failedInARow >= ClusterRules.relayFailuresToDemote, relayTree.isRelay(relay) else {
            return
        }
        relayTree.demote(relay)
        demotedRelays += 1
        out.append(
            .log(
                .warning,
                "relay \(relay) demoted to a leaf: \(child) had to fetch v\(weights.version) from the learner (\(r.delivered) version(s) delivered before, \(r.failedInARow) failure(s) in a row)"
            ))
    }

    // MARK: Work no actor can do

    /// An actor says it cannot do an item it holds (Error 7 with the work id: the prompt does not fit its model, or
    /// generation failed). The item goes back in line at once, for another actor if there is one; after
    /// `ClusterRules.dropsBeforeQuarantine` such drops its prompt is quarantined: skipped from now on, counted, logged
    /// once. Drops from an actor without a record of returned work count only while no actor has one (a hoarder's
    /// drops must not quarantine the data set).
    func workRefused(_ e: Wire.Error, by id: String, now: Double, _ out: inout [LearnerEffect]) {
        guard let held = ledger.inFlight[e.workID], held.actor == id else { return }
        let counts = (actors[id]?.returned ?? 0) > 0 || !actors.values.contains { $0.returned > 0 }
        guard
            let promptIndex = ledger.dropped(
                workId: e.workID, counts: counts, quarantineAfter: ClusterRules.dropsBeforeQuarantine)
        else {
            warn(
                &out, actors[id]!.address, now, "actor \(id) cannot do \(e.workID): \(e.message.prefix(200)); re-queued"
            )
            return
        }
        quarantined += 1
        out.append(
            .log(
                .warning,
                "quarantined train problem \(promptIndex) (answer \(task.problem(.train, promptIndex).answer.prefix(40).debugDescription)): dropped \(ClusterRules.dropsBeforeQuarantine) times by actors, last by \(id): \(e.message.prefix(200)); it is skipped from now on"
            ))
    }

    /// Skips these train problems from the start (`--unfit-problems skip`).
    public func skipProblems(_ promptIndices: [Int]) {
        ledger.skipPrompts(promptIndices)
        quarantined += promptIndices.count
    }

    /// Train problems whose prompt leaves no room in the model's positions for the thinking and answer limits, with
    /// their prompt length: no actor can generate a rollout for them.
    public static func unfitProblems(task: any ReasoningTask, modelConfig: LlamaConfig, sampler: SamplerConfig) -> [(
        index: Int, promptTokens: Int
    )] {
        let room = ClusterRules.promptRoom(maxPositions: modelConfig.maxPositionEmbeddings, sampler: sampler)
        return (0..<task.count(.train)).compactMap { i in
            let n = task.problem(.train, i).prompt.count
            return n > room ? (i, n) : nil
        }
    }

    // MARK: Work and updates

    /// How the window of outstanding work is shared. Actors with a record of returned work share it fairly, minus one
    /// seat kept for newcomers; actors on probation (no record) share that seat, one item each. So 40 ids that take
    /// work and never return it hold one seat's worth between them, not the whole window (before: 4 such ids got one
    /// update per ~10 s out of an honest actor that could do 25 per second).
    struct WindowShares {
        let window: Int
        let proven: Int
        /// Items the probation actors may hold together.
        let newcomerSeat: Int
        init(window: Int, actors: Dictionary<String, ActorSessionRecord>.Values) {
            self.window = window
            proven = actors.filter { $0.returned > 0 }.count
            let newcomers = actors.count > proven
            newcomerSeat = !newcomers ? 0 : proven == 0 ? window : max(1, window / (proven + 1))
        }
        /// Most groups `a` may hold now: a proven actor its slots within its fair share, halved per strike; an actor on
        /// probation one.
        func cap(_ a: ActorSessionRecord) -> Int {
            guard a.returned > 0 else { return ClusterRules.probationItems }
            let fair = max(1, (window - newcomerSeat + proven - 1) / max(1, proven))
            return max(1, min(a.slots, fair) >> min(a.strikes, 16))
        }
    }

    func dispatch(_ now: Double, _ out: inout [LearnerEffect]) {
        guard version < config.steps else { return }
        let window = staleness.window(updating: updating)
        guard window > 0 else { return }
        var held = ledger.heldCounts
        let shares = WindowShares(window: window, actors: actors.values)
        var onProbation = actors.values.filter { $0.returned == 0 }.reduce(0) { $0 + (held[$1.id] ?? 0) }
        // Items actors on probation have held far longer than a group takes are not coming back soon: they do not
        // count against the window of the actors with a record (their late result is still taken, first wins).
        let overdue =
            ledger.medianDuration.map { median in
                ledger.inFlight.values.filter {
                    (actors[$0.actor]?.returned ?? 1) == 0 && now - $0.issuedAt > rules.speculateFactor * median
                }.count
            } ?? 0
        // Newcomers that have had nothing taken back first (they are held to the seat anyway, and a new honest actor
        // in a busy cluster must get an item to earn its record), then actors with a record, then newcomers with
        // strikes; within each, the reliable (fewest strikes), the least loaded, the longest unserved.
        func tier(_ a: ActorSessionRecord) -> Int { a.returned > 0 ? 1 : a.strikes == 0 ? 0 : 2 }
        let candidates = actors.values.filter { $0.credit > 0 }.sorted {
            (tier($0), $0.strikes, held[$0.id] ?? 0, $0.lastIssued, $0.id) < (
                tier($1), $1.strikes, held[$1.id] ?? 0, $1.lastIssued, $1.id
            )
        }
        for a in candidates {
            var room = min(a.credit, shares.cap(a) - (held[a.id] ?? 0))
            if a.returned == 0 { room = min(room, shares.newcomerSeat - onProbation) }
            guard room > 0 else { continue }
            let items = ledger.issue(
                to: a.id, count: room, limit: window + (a.returned > 0 ? overdue : 0), now: now,
                avoidFormerHolders: actors.count > 1)
            if items.isEmpty { continue }
            held[a.id, default: 0] += items.count
            if a.returned == 0 { onProbation += items.count }
            actors[a.id]!.credit -= items.count
            issueCounter += 1
            actors[a.id]!.lastIssued = issueCounter
            var work = Wire.Work()
            work.policyVersion = UInt64(version)
            work.items = items.map { item in
                var w = Wire.WorkItem()
                w.workID = item.workId; w.promptIndex = UInt64(item.promptIndex); w.groupSize = UInt32(config.groupSize)
                w.promptTokenIds = task.problem(.train, item.promptIndex).prompt
                w.seed = GroupSeed.of(runSeed: config.seed, position: item.position)
                return w
            }
            out.append(.send(.body(.work(work)), to: a.address))
        }
    }

    /// The learner waits for data while an actor sits idle: take back work held far longer than usual and let
    /// the idle actor do it too (first result wins; the slow holder's late result still counts). Idle actors with a
    /// record of returned work are the ones meant: when only actors on probation are idle while proven ones work,
    /// handing them the items would pass work from one hoarder to the next.
    func speculate(_ now: Double, _ out: inout [LearnerEffect]) {
        guard !updating, version < config.steps, ledger.reissue.isEmpty, let median = ledger.medianDuration else {
            return
        }
        let held = ledger.heldCounts
        let idleAll = actors.values.filter { $0.credit > 0 && (held[$0.id] ?? 0) == 0 }
        let idleProven = idleAll.filter { $0.returned > 0 }
        let anyProven = actors.values.contains { $0.returned > 0 }
        let idle = anyProven ? idleProven : idleAll
        guard !idle.isEmpty else { return }
        let threshold = max(rules.minSpeculateSeconds, rules.speculateFactor * median)
        let holders = Set(held.keys).subtracting(idle.map(\.id))
        let taken = ledger.expireAssignments(now: now, timeout: threshold, heldBy: holders).prefix(
            idle.count * ClusterRules.maxSlotsPerActor)
        guard !taken.isEmpty else { return }
        speculated += taken.count
        for a in taken { actors[a.actor]?.strikes += 1 }
        out.append(
            .log(
                .warning,
                "learner starved: \(taken.count) item(s) held over \(String(format: "%.0f", threshold)) s by \(Set(taken.map(\.actor)).sorted().joined(separator: ", ")) also given to idle actors"
            ))
    }

    func startUpdateIfReady(_ now: Double, _ out: inout [LearnerEffect]) {
        guard !updating, version < config.steps else { return }
        let (batch, stale) = ledger.takeBatch(count: config.promptsPerStep, at: version, rule: staleness)
        droppedStale += stale
        guard !batch.isEmpty else { return }
        if let w = waitStart { waitTotal += now - w; waitStart = nil }
        var hist: [Int: Int] = [:]
        for (_, g) in batch { hist[StalenessRule.staleness(of: g, at: version), default: 0] += 1 }
        pendingStaleness = hist
        pendingPositions = batch.map(\.position)
        updating = true
        out.append(
            .startUpdate(
                UpdateJob(groups: batch.map(\.rollouts), positions: pendingPositions, staleness: hist, version: version)
            ))
    }

    func stepMetrics(_ r: UpdateReport, now: Double) -> StepMetrics {
        let elapsed = max(now - (lastStepEnd ?? now), 1e-3)
        var m = StepMetrics()
        m.update = r
        m.clusterTokensPerSecond = actors.values.reduce(0) { $0 + $1.tokensSinceStep } / elapsed
        m.rolloutsPerSecond = Double(rolloutsSinceStep) / elapsed
        m.learnerStepMs = r.milliseconds
        m.learnerWaitShare = min(1, waitTotal / elapsed)
        m.stalenessHistogram = Dictionary(uniqueKeysWithValues: pendingStaleness.map { ("\($0.key)", $0.value) })
        m.droppedStale = droppedStale; m.reissued = ledger.reissuedCount; m.duplicates = ledger.duplicateCount;
        m.malformed = malformed
        m.speculated = speculated; m.refusedDuplicateIds = refusedDuplicates
        m.quarantined = quarantined; m.demotedRelays = demotedRelays
        m.actorsConnected = actors.count
        m.actorTokensPerSecond = Dictionary(
            uniqueKeysWithValues: actors.values.map { ($0.id, $0.tokensSinceStep / elapsed) })
        m.actorBusyShare = Dictionary(
            uniqueKeysWithValues: actors.values.map { ($0.id, min(1, $0.generateMsSinceStep / 1000 / elapsed)) })
        m.positions = pendingPositions
        for id in actors.keys { actors[id]!.tokensSinceStep = 0; actors[id]!.generateMsSinceStep = 0 }
        rolloutsSinceStep = 0; waitTotal = 0; lastStepEnd = now
        return m
    }

    // MARK: Helpers

    func broadcast(_ body: Wire.Body, _ out: inout [LearnerEffect]) {
        for a in actors.values.sorted(by: { $0.id < $1.id }) { out.append(.send(.body(body), to: a.address)) }
    }

    func error(_ code: Wire.ErrorCode, _ message: String, to address: PeerAddress) -> LearnerEffect {
        var e = Wire.Error(); e.code = code.rawValue; e.message = message
        return .send(.body(.error(e)), to: address)
    }

    func warn(_ out: inout [LearnerEffect], _ address: PeerAddress, _ now: Double, _ message: String) {
        switch warnings.admit(warningKey ?? address, now: now) {
        case .log(let suppressedBefore):
            out.append(
                .log(
                    .warning,
                    suppressedBefore > 0
                        ? "\(message) (\(suppressedBefore) similar warning(s) from this peer suppressed)" : message))
        case .suppress: break
        }
    }

    func sessionLog(_ out: inout [LearnerEffect], _ now: Double, _ line: String, level: Logger.Level = .info) {
        if sessionLines.admit(now: now) { out.append(.log(level, line)) }
    }

    public static func printable(_ address: PeerAddress) -> String {
        let s = String(decoding: address, as: UTF8.self)
        return !s.isEmpty && s.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            ? s : address.map { String(format: "%02x", $0) }.joined()
    }
}

/// At most `ClusterRules.warningsPerPeerPerMinute` warning lines per peer (its host when the shell knows it, else
/// its connection) per minute, and `ClusterRules.warningsPerMinute` in all; the rest are counted and the count is
/// reported with the next line that gets through (3.9 MB of log per 20 s of garbage, before; then 1,500 lines in
/// 30 s from 100 peers that reconnected for a fresh allowance each time).
struct WarningLimiter {
    enum Verdict { case log(suppressedBefore: Int), suppress }
    private var windows: [PeerAddress: (start: Double, logged: Int, suppressed: Int)] = [:]
    private var all = (start: -Double.infinity, logged: 0)
    private(set) var suppressedTotal = 0

    mutating func admit(_ peer: PeerAddress, now: Double) -> Verdict {
        if now - all.start >= 60 { all = (now, 0) }
        var w = windows[peer] ?? (now, 0, 0)
        if now - w.start >= 60 { w = (now, 0, w.suppressed) }
        if w.logged < ClusterRules.warningsPerPeerPerMinute && all.logged < ClusterRules.warningsPerMinute {
            let s = w.suppressed
            w.logged += 1; w.suppressed = 0; all.logged += 1
            windows[peer] = w
            if windows.count > 10_000 { windows = windows.filter { now - $0.value.start < 60 } } // bounded memory
            return .log(suppressedBefore: s)
        }
        w.suppressed += 1; suppressedTotal += 1
        windows[peer] = w
        return .suppress
    }
}

/// Lines about routine events (joins, leaves): the first `ClusterRules.sessionLinesPerMinute` of each minute one by
/// one, the rest counted and summarised in one line when the minute ends (5,000 Hellos gave 5,707 lines before).
struct EventSummary {
    let kind: String
    private var start = -Double.infinity
    private var logged = 0
    private var suppressed = 0

    init(kind: String) { self.kind = kind }

    /// Whether to log this event's line now.
    mutating func admit(now: Double) -> Bool {
        if now - start >= 60 && suppressed == 0 { start = now; logged = 0 }
        guard logged < ClusterRules.sessionLinesPerMinute else { suppressed += 1; return false }
        logged += 1
        return true
    }

    /// The summary of the minute that ended, if lines were held back.
    mutating func flush(now: Double) -> String? {
        guard now - start >= 60, suppressed > 0 else { return nil }
        defer { start = now; logged = 0; suppressed = 0 }
        return
            "\(suppressed) more \(kind)(s) (joins, leaves, losses, Hellos again) in the last \(Int(now - start)) s not logged one by one"
    }
}
