// The actor's protocol as a pure state machine: one session with one learner connection. Frames in, effects out
// (send, build the model, install assembled weights, generate a batch, reconnect, finish). No sockets, threads
// or clocks: ActorService runs it over ZeroMQ with a generation thread; tests run it in memory.
//
// Rules it owns: say Hello on connect (and again after Error 3, or after Error 6 once a heartbeat passes);
// fetch the announced version chunk by chunk before generating, from the relays the notice names, nearest first,
// then the learner (a relay that stalls or errs is left for the next source and skipped for a while; a relay's
// patience is measured against the learner's own link; a blob that fails its SHA-256 after relays helped is fetched
// again from the learner; a learner fetch left unanswered is re-asked); tell the learner about work we cannot do
// (Error 7 with its work id); serve what we hold
// or fetch to the actors the learner points at us (WeightRelay); generate
// only with weights at least as new as the Work asks; ask for work with the free slots; heartbeat; presume the
// learner lost after `liveness` silent intervals.
import Foundation
import Logging
import SoftTokens
import Tasks
import TransformerLM
import Transport

public enum ActorEffect {
    case send(Wire.Body)
    /// Send to a relay (another actor's relay endpoint), on a connection of its own; `serverKey`: the relay's CURVE
    /// public key ("" = plaintext).
    case sendUpstream(Wire.Body, endpoint: String, serverKey: String)
    /// Send this frame to a child on our relay endpoint (a chunk forwarded byte for byte, or an error); shared by
    /// every send, never copied per child.
    case relay(EncodedFrame, to: PeerAddress)
    /// A model of this shape is needed (new run or new architecture): build it (zero weights until installed).
    case prepareModel(LlamaConfig)
    /// Every chunk of `version` arrived (and was hashed on arrival): `assembler.assemble()` checks the SHA-256 and
    /// joins the blob; load it off the socket thread, then call weightsInstalled / weightsRejected.
    case installWeights(version: Int, assembler: BlobAssembler)
    /// Generate these items (one batch) with the current model; then call `generated`.
    case generate(GenerationOrder)
    /// The learner is gone or sent us away: close the connection, back off, reconnect, call `connected`.
    case reconnect(reason: String)
    /// The run is complete: exit.
    case finished
    case log(Logger.Level, String)
}

public struct GenerationOrder: Sendable {
    public var items: [Wire.WorkItem]
    public var requests: [GenerationRequest]
    public var sampler: SamplerConfig
    public var endOfThinking: Int32
    public var endOfSequence: Int32
    public var version: Int
    /// The run's task (name and options JSON, from Welcome): text tasks end thinking with a multi-token marker
    /// that the generator takes from the task.
    public var taskName: String
    public var taskOptionsJson: String
}

public struct ActorIdentity: Sendable {
    public var actorId: String
    public var host: String
    public var pid: UInt32
    public var cores: Int
    public var slots: Int
    public var softwareVersion: String
    /// Where this actor serves weights to others (announced in Hello); nil = it does not relay.
    public var relayEndpoint: String?
    /// The relay's CURVE public key, announced with it ("" = plaintext relay).
    public var relayPublicKey = ""
    public init(
        actorId: String, host: String, pid: UInt32, cores: Int, slots: Int, softwareVersion: String,
        relayEndpoint: String? = nil
    ) {
        self.actorId = actorId; self.host = host; self.pid = pid; self.cores = cores; self.slots = slots;
        self.softwareVersion = softwareVersion
        self.relayEndpoint = relayEndpoint
    }
}

public final class ActorSession {
    public internal(set) var identity: ActorIdentity
    var codec = WireCodec()
    public private(set) var rules = ClusterRules()
    public private(set) var welcomed = false
    public private(set) var runId = ""
    public private(set) var modelConfig: LlamaConfig?
    var sampler = SamplerConfig()
    var endOfThinking: Int32 = Vocabulary.endOfThinking, endOfSequence: Int32 = Vocabulary.eos
    var taskName = "", taskOptionsJson = ""
    /// Byte format of the weights blobs this learner sends (from Welcome).
    public private(set) var weightsFormat = WeightsWireFormat.f32
    /// Version of the weights the model holds (-1: none yet).
    public private(set) var modelVersion = -1
    var announced: Wire.VersionNotice?
    var assembler: BlobAssembler?
    var installing = false
    /// Longest wait between the learner's chunks in this fetch: a learner that is merely busy (hundreds of receivers
    /// on one link) is given 4x that before chunks are asked for again, so re-asks cannot pile duplicates on a
    /// saturated link; each re-ask doubles the patience. Relays are held to the same measure of the learner's
    /// link (their own gaps do not count: a relay 14 s late would otherwise have earned 56 s of patience).
    var longestChunkGap = 0.0
    /// Relays to fetch the announced version from (nearest first); `sourceIndex == sources.count` is the learner.
    var sources: [String] = []
    var sourceKeys: [String] = []
    var sourceIndex = 0
    /// When a chunk last arrived, and when the current relay last said anything (a chunk or a heartbeat while it
    /// waits for its own parent).
    var lastChunkAt = 0.0, lastHeardFromSource = 0.0
    /// Relays that failed us (stalled, erred, or helped deliver a bad blob), by endpoint, with the version they
    /// failed: skipped for the next ClusterRules.relayMemoryVersions versions, so a bad relay costs one stall, not
    /// one per version while the learner still lists it.
    var failedRelays: [String: UInt64] = [:]
    /// Some chunk of the blob being assembled came from a relay (so a bad blob is fetched again from the learner).
    var usedRelay = false
    /// A version whose relayed blob failed its check: fetch it from the learner only.
    var distrustRelaysFor: UInt64?
    public internal(set) var relay = WeightRelay()
    /// Chunks of the current version that arrived from relays / from the learner (logged when the version loads).
    var chunksFromRelays = 0, chunksFromLearner = 0
    /// Chunks requested and not yet received (at most ClusterRules.fetchWindow).
    var pendingChunks: Set<UInt64> = []
    var queue: [(item: Wire.WorkItem, minVersion: Int)] = []
    var requested = false
    /// Rejections are logged like the learner logs a peer's warnings (a few a minute, the rest counted): a learner
    /// that rejects every group (e.g. a base model with NaN weights) must not fill the actor's log.
    var rejectionLog = WarningLimiter()
    public private(set) var generating = false
    var lastHeard = 0.0
    var lastHeartbeat = -Double.infinity
    var helloAgainAt: Double?
    public private(set) var groupsSent = 0
    public private(set) var finishedRun = false

    public init(identity: ActorIdentity) { self.identity = identity }

    /// A new connection: forget what was in progress on the old one and say Hello.
    public func connected(now: Double) -> [ActorEffect] {
        welcomed = false; requested = false; assembler = nil; queue = []; helloAgainAt = nil
        lastHeard = now
        return [.send(.hello(hello))]
    }

    var hello: Wire.Hello {
        var h = Wire.Hello()
        h.actorID = identity.actorId; h.host = identity.host; h.pid = identity.pid
        h.cores = UInt32(identity.cores); h.softwareVersion = identity.softwareVersion; h.slots = UInt32(identity.slots)
        h.relayEndpoint = identity.relayEndpoint ?? ""
        h.relayPublicKey = identity.relayPublicKey
        return h
    }

    public func receive(_ frame: Data, now: Double) -> [ActorEffect] {
        lastHeard = now
        let env: Envelope
        do { env = try codec.decode(frame) } catch {
            return [.log(.warning, "dropped malformed message from learner: \(error)")]
        }
        var out: [ActorEffect] = []
        switch env.body {
        case .welcome(let w)?: welcome(w, &out)
        case .versionNotice(let n)?: announced = n // the learner's truth, even if older (it restarted from a checkpoint)
        case .weightsChunk(let c)?: chunk(c, frame: frame, fromRelay: false, now: now, &out)
        case .work(let w)?:
            requested = false
            accept(w, &out)
        case .heartbeat?: break
        case .goodbye(let b)?:
            out.append(.log(.info, "learner said goodbye: \(b.reason)"))
            if b.runFinished {
                finishedRun = true; out.append(.finished)
            } else {
                out.append(.reconnect(reason: "learner stopping"))
            }
        case .error(let e)?: learnerError(e, now: now, &out)
        default: out.append(.log(.warning, "unexpected message from the learner; ignored"))
        }
        return out
    }

    func learnerError(_ e: Wire.Error, now: Double, _ out: inout [ActorEffect]) {
        switch Wire.ErrorCode(rawValue: e.code) {
        case .unknownActor?:
            out.append(.log(.info, "the learner does not know us (it restarted?): saying Hello again"))
            welcomed = false; requested = false
            out.append(.send(.hello(hello)))
        case .duplicateActor?:
            // The learner says when the holder will be presumed dead (a little after, so its reaper has run); an
            // older learner does not, and then a whole liveness window is the safe wait.
            let wait =
                e.retryAfterMs > 0
                ? min(
                    Double(e.retryAfterMs) / 1000 + ClusterRules.twinRetryMarginSeconds, rules.silenceLimitSeconds * 2)
                : rules.silenceLimitSeconds
            out.append(
                .log(
                    .warning, "learner refused our id: \(e.message); trying again in \(String(format: "%.1f", wait)) s")
            )
            welcomed = false
            helloAgainAt = now + wait
        case .resultRejected?:
            if case .log(let suppressed) = rejectionLog.admit(Data("learner".utf8), now: now) {
                out.append(
                    .log(
                        .warning,
                        "learner rejected \(e.workID): \(e.message)"
                            + (suppressed > 0 ? " (\(suppressed) more rejection(s) not logged)" : "")))
            }
        case .badRequest?:
            // Usually a fetch for a version the learner no longer serves; the VersionNotice that follows restarts it.
            assembler = nil; announced = nil
            out.append(.log(.info, "learner: \(e.message)"))
        default:
            out.append(.log(.warning, "learner error \(e.code): \(e.message)"))
        }
    }

    func welcome(_ w: Wire.Welcome, _ out: inout [ActorEffect]) {
        do {
            let config = try JSONDecoder().decode(LlamaConfig.self, from: Data(w.modelConfigJson.utf8))
            // Before anything is sized from it (fuzzing: an unchecked config trapped on overflow or looped for ever).
            try config.validate()
            guard ParameterLayout.checkedTotalCount(config, limit: ClusterRules.maxModelParameters) != nil else {
                throw ConfigError(
                    "model_config_json describes a model over \(ClusterRules.maxModelParameters) parameters (or rotary-table floats)"
                )
            }
            let settings = try JSONDecoder().decode(SamplerConfig.self, from: Data(w.samplerConfigJson.utf8))
            try settings.validate() // the learner's settings are as untrusted as its model config
            sampler = settings
            weightsFormat = try WeightsWireFormat(welcome: w.weightsFormat)
            endOfThinking = w.endOfThinkingToken; endOfSequence = w.endOfSequenceToken
            taskName = w.taskName; taskOptionsJson = w.taskOptionsJson
            if runId != w.runID || modelConfig != config {
                modelConfig = config
                modelVersion = -1
                out.append(.prepareModel(config))
            }
            var r = ClusterRules()
            r.heartbeatIntervalMs = max(50, Int(w.heartbeatIntervalMs))
            if w.liveness > 0 { r.liveness = Int(w.liveness) }
            if w.maxMessageBytes > 0 { r.maxMessageBytes = Int(w.maxMessageBytes) }
            rules = r
            codec = WireCodec(maxMessageBytes: r.maxMessageBytes)
            assembler = nil; announced = nil // a new handshake: a fetch in progress was addressed to a learner that may be gone
            if runId != w.runID {
                out.append(
                    .log(
                        .info, "joined run \(w.runID): task \(w.taskName), \(sampler.label), policy v\(w.policyVersion)"
                    ))
            }
            runId = w.runID
            welcomed = true
        } catch {
            out.append(.log(.error, "cannot work for this learner: \(error)"))
            welcomed = false
        }
    }

    /// Queues the items it can do; an impossible item is dropped with a log line and the learner is told (Error 7
    /// with its work id), so it re-issues the item at once and, if every actor drops it, quarantines its prompt.
    func accept(_ w: Wire.Work, _ out: inout [ActorEffect]) {
        let vocab = Int32(modelConfig?.vocabSize ?? 0)
        // A rollout needs the prompt, the thinking limit, an end-of-thinking marker (one token at least) and the answer
        // limit in the model's positions; the generator cannot make a longer one (it would stop on a precondition).
        let room = ClusterRules.promptRoom(maxPositions: modelConfig?.maxPositionEmbeddings ?? 0, sampler: sampler)
        for item in w.items {
            guard item.groupSize >= 1, item.groupSize <= UInt32(ActorSession.maxGroupSize),
                !item.promptTokenIds.isEmpty,
                item.promptTokenIds.count <= room,
                item.promptTokenIds.allSatisfy({ $0 >= 0 && $0 < vocab })
            else {
                let why =
                    "group size \(item.groupSize), \(item.promptTokenIds.count) prompt tokens (room for \(max(0, room)) beside the thinking and answer limits)"
                out.append(.log(.warning, "dropped impossible work \(item.workID): \(why)"))
                var e = Wire.Error(); e.code = Wire.ErrorCode.resultRejected.rawValue; e.workID = item.workID
                e.message = "this actor cannot do it: \(why)"
                out.append(.send(.error(e)))
                continue
            }
            queue.append((item, Int(w.policyVersion)))
        }
    }

    /// Largest group the actor will generate: a bound on memory a peer can make it allocate.
    public static let maxGroupSize = 4096

    func chunk(_ c: Wire.WeightsChunk, frame: Data, fromRelay: Bool, now: Double, _ out: inout [ActorEffect]) {
        guard var a = assembler, a.version == c.version else { return }
        assembler = nil // `a` is then the buffer's only owner: adding a chunk writes in place instead of copying the blob
        do {
            try a.add(c)
            // What the learner's own link achieves sets the patience with relays; a slow relay must not raise it.
            if !fromRelay { longestChunkGap = max(longestChunkGap, now - lastChunkAt) }
            lastChunkAt = now
            if fromRelay { chunksFromRelays += 1; usedRelay = true } else { chunksFromLearner += 1 }
            for (f, peer) in relay.store(c.chunkIndex, frame: frame, version: c.version, chunkCount: c.chunkCount) {
                out.append(.relay(f, to: peer))
            }
            pendingChunks.remove(c.chunkIndex)
            let missing = a.missingChunks
            if !missing.isEmpty {
                assembler = a
                for next in missing
                where !pendingChunks.contains(next) && pendingChunks.count < ClusterRules.fetchWindow {
                    out.append(fetch(c.version, next))
                }
                return
            }
            assembler = nil
            installing = true
            out.append(.installWeights(version: Int(c.version), assembler: a))
        } catch {
            out.append(.log(.warning, "weights v\(c.version) rejected (\(error)); fetching again"))
            if usedRelay || fromRelay { distrustRelaysFor = c.version; blameRelays(c.version) }
            assembler = nil
            for (f, peer) in relay.discard() { out.append(.relay(f, to: peer)) }
        }
    }

    /// A frame from a relay we fetch from: chunks count like the learner's (the assembler checks them against the
    /// learner's notice); an error or anything else makes us try the next source.
    public func receiveUpstream(_ frame: Data, from endpoint: String, now: Double) -> [ActorEffect] {
        var out: [ActorEffect] = []
        let env = try? codec.decode(frame)
        let fromCurrent = sourceIndex < sources.count && sources[sourceIndex] == endpoint
        if fromCurrent { lastHeardFromSource = now }
        if case .weightsChunk(let c)? = env?.body {
            chunk(c, frame: frame, fromRelay: true, now: now, &out)
        } else if case .heartbeat? = env?.body {
            return out
        } else if case .error(let e)? = env?.body, e.code == Wire.ErrorCode.badRequest.rawValue,
            e.weightsVersion != assembler?.version
        {
            return out // a late answer to a fetch of an older version
        } else if fromCurrent {
            let why: String = {
                if case .error(let e)? = env?.body { return e.message }; return "unexpected message"
            }()
            nextSource(because: "relay \(endpoint): \(why)", now: now, &out)
        }
        return out
    }

    /// A child's FetchWeights on our relay endpoint.
    public func relayRequest(_ frame: Data, from peer: PeerAddress) -> [ActorEffect] {
        relay.request(frame, from: peer).map { .relay($0.0, to: $0.1) }
    }

    /// Leave the current relay for the next source (the learner last) and ask it for what is still missing.
    func nextSource(because why: String, now: Double, _ out: inout [ActorEffect]) {
        guard sourceIndex < sources.count, let a = assembler else { return }
        failedRelays[sources[sourceIndex]] = a.version
        sourceIndex += 1
        out.append(
            .log(
                .info,
                "\(why); fetching v\(a.version) from \(sourceIndex < sources.count ? sources[sourceIndex] : "the learner")"
            ))
        pendingChunks = []
        for index in a.missingChunks.prefix(ClusterRules.fetchWindow) { out.append(fetch(a.version, index)) }
        lastChunkAt = now
    }

    public func weightsInstalled(version: Int) -> [ActorEffect] {
        installing = false
        modelVersion = version
        let via =
            chunksFromRelays > 0
            ? " (\(chunksFromRelays) chunk(s) via relays, \(chunksFromLearner) from the learner)" : ""
        return [.log(.info, "loaded policy v\(version)\(via)")]
    }

    public func weightsRejected(version: Int, _ error: Error) -> [ActorEffect] {
        installing = false
        var out: [ActorEffect] = []
        if usedRelay {
            distrustRelaysFor = UInt64(version)
            blameRelays(UInt64(version))
            out.append(
                .log(
                    .warning,
                    "weights v\(version) from relays rejected (\(error)); fetching them again from the learner"))
        } else {
            out.append(.log(.warning, "weights v\(version) rejected (\(error)); fetching again"))
        }
        for (f, peer) in relay.discard() { out.append(.relay(f, to: peer)) }
        return out
    }

    /// The relays that served the current blob helped deliver a bad one.
    func blameRelays(_ version: UInt64) { for s in sources.prefix(sourceIndex + 1) { failedRelays[s] = version } }

    func fetch(_ version: UInt64, _ index: UInt64) -> ActorEffect {
        var f = Wire.FetchWeights(); f.version = version; f.chunkIndex = index
        pendingChunks.insert(index)
        return sourceIndex < sources.count
            ? .sendUpstream(.fetchWeights(f), endpoint: sources[sourceIndex], serverKey: sourceKeys[sourceIndex])
            : .send(.fetchWeights(f))
    }

    /// Start assembling the announced version, from its first source.
    func startFetch(_ n: Wire.VersionNotice, now: Double, _ out: inout [ActorEffect]) {
        // The blob can be no larger than the announced model in the announced format: the assembler allocates it whole.
        let expected = modelConfig.map { UInt64(ParameterLayout($0).totalCount * weightsFormat.bytesPerParameter) }
        assembler = BlobAssembler(notice: n, maxTotalBytes: expected ?? BlobAssembler.defaultMaxTotalBytes)
        pendingChunks = []
        failedRelays = failedRelays.filter {
            $0.value + UInt64(ClusterRules.relayMemoryVersions) > n.version && $0.value <= n.version
        }
        let named = zip(n.sources, n.sources.indices.map { $0 < n.sourceKeys.count ? n.sourceKeys[$0] : "" })
            .filter { $0.0 != identity.relayEndpoint && failedRelays[$0.0] == nil }.prefix(
                distrustRelaysFor == n.version ? 0 : RelayTree.maxSources)
        sources = named.map(\.0); sourceKeys = named.map(\.1)
        sourceIndex = 0
        usedRelay = false; chunksFromRelays = 0; chunksFromLearner = 0
        for (f, peer) in relay.begin(n.version) { out.append(.relay(f, to: peer)) }
        // The notice's chunk size says how many chunks there are: ask for a whole window at once. Without it, the
        // first chunk tells.
        let count = n.chunkBytes > 0 ? (n.sizeBytes + n.chunkBytes - 1) / n.chunkBytes : 0
        for index in 0..<max(1, min(UInt64(ClusterRules.fetchWindow), count)) { out.append(fetch(n.version, index)) }
        lastChunkAt = now; longestChunkGap = 0
    }

    /// Time passes: heartbeats, liveness, and the next thing to do between batches.
    public func tick(now: Double) -> [ActorEffect] {
        var out: [ActorEffect] = []
        if now - lastHeard > rules.silenceLimitSeconds {
            return [.reconnect(reason: "learner silent for \(String(format: "%.1f", now - lastHeard)) s")]
        }
        if let t = helloAgainAt, now >= t { helloAgainAt = nil; out.append(.send(.hello(hello))) }
        if welcomed && now - lastHeartbeat >= rules.heartbeatSeconds {
            lastHeartbeat = now
            var hb = Wire.Heartbeat(); hb.policyVersion = UInt64(max(modelVersion, 0));
            hb.busySlots = generating ? UInt32(identity.slots) : 0
            out.append(.send(.heartbeat(hb)))
        }
        if welcomed && !generating && !installing { advance(now, &out) }
        for (f, peer) in relay.keepalive(now: now, every: rules.heartbeatSeconds) { out.append(.relay(f, to: peer)) }
        return out
    }

    /// Between batches: finish fetching announced weights first, then generate what is queued, else ask for work.
    func advance(_ now: Double, _ out: inout [ActorEffect]) {
        if let n = announced, Int(n.version) != modelVersion {
            if assembler?.version != n.version {
                startFetch(n, now: now, &out)
            } else if sourceIndex < sources.count {
                // A relay that is alive but itself waiting (its parent died) says so with heartbeats: stay with it
                // for one more stall period (its own failover takes one), so only the dead relay's own children
                // move, not its whole subtree; heartbeats alone never hold us longer (a relay that answered only
                // with heartbeats used to cost every child 15 s per version). The patience is measured against the
                // learner's own link (longestChunkGap counts its chunks only), so a relay that is merely slow is
                // left too.
                let silent = now - max(lastChunkAt, lastHeardFromSource), starved = now - lastChunkAt
                if silent > max(rules.relayStallSeconds, 4 * longestChunkGap)
                    || starved > max(2 * rules.relayStallSeconds, 4 * longestChunkGap)
                {
                    nextSource(
                        because:
                            "relay \(sources[sourceIndex]) sent nothing for \(String(format: "%.1f", now - lastChunkAt)) s",
                        now: now, &out)
                }
            } else if now - lastChunkAt > max(5, 5 * rules.heartbeatSeconds, 4 * longestChunkGap),
                let missing = assembler?.missingChunks
            {
                out.append(.log(.info, "no reply to the weights fetch for v\(n.version); asking again"))
                pendingChunks = []
                for index in missing.prefix(ClusterRules.fetchWindow) { out.append(fetch(n.version, index)) }
                longestChunkGap = max(longestChunkGap * 2, now - lastChunkAt)
                lastChunkAt = now
            }
            return
        }
        guard modelVersion >= 0 else { return }
        let ready = queue.filter { $0.minVersion <= modelVersion }
        if !ready.isEmpty {
            queue.removeAll { $0.minVersion <= modelVersion }
            let items = ready.map(\.item)
            let requests = items.map {
                GenerationRequest(
                    promptIndex: Int($0.promptIndex), prompt: $0.promptTokenIds, groupSize: Int($0.groupSize),
                    seed: $0.seed)
            }
            generating = true
            out.append(
                .generate(
                    GenerationOrder(
                        items: items, requests: requests, sampler: sampler, endOfThinking: endOfThinking,
                        endOfSequence: endOfSequence, version: modelVersion, taskName: taskName,
                        taskOptionsJson: taskOptionsJson)))
        } else if queue.isEmpty && !requested {
            var r = Wire.WorkRequest(); r.actorID = identity.actorId; r.freeSlots = UInt32(identity.slots)
            out.append(.send(.workRequest(r)))
            requested = true
        }
    }

    /// The generation thread finished `order`.
    public func generated(_ groups: [[Rollout]], stats: GenerationStats, order: GenerationOrder) -> [ActorEffect] {
        generating = false
        var out: [ActorEffect] = []
        let tokensPerGroup = UInt64(stats.tokens / max(groups.count, 1))
        for (item, group) in zip(order.items, groups) {
            do {
                var g = Wire.RolloutGroup()
                g.workID = item.workID; g.actorID = identity.actorId; g.promptIndex = item.promptIndex
                g.policyVersion = UInt64(group.first?.policyVersion ?? 0)
                g.rollouts = try group.map(WireMapping.wire)
                g.timings.generateMs = stats.milliseconds / Double(max(groups.count, 1))
                g.timings.tokens = tokensPerGroup
                out.append(.send(.rolloutGroup(g)))
                groupsSent += 1
            } catch {
                out.append(.log(.error, "could not encode group \(item.workID): \(error)"))
            }
        }
        return out
    }

    /// Goodbye to send when the actor stops by itself.
    public func goodbye(stopping: Bool) -> Wire.Body {
        var b = Wire.Goodbye();
        b.reason = finishedRun ? "run finished" : (stopping ? "actor stopping (signal)" : "actor leaving")
        return .goodbye(b)
    }
}
