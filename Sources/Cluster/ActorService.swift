// An actor: connects a DEALER to the learner, says hello, fetches the current weights in chunks, then loops:
// ask for as many groups as it has free slots, generate them (batched, KV cache) on a background thread while
// the socket thread keeps heartbeating, send them back, and fetch newer weights between groups when a version
// notice arrives. If the learner goes silent it reconnects with backoff, so a learner restart needs no actor
// restart. SIGTERM says goodbye and exits.
import Foundation
import Logging
import SoftTokens
import Tasks
import TensorMath
import TransformerLM
import Transport

public struct ActorOptions: Sendable {
    public var connect = "tcp://127.0.0.1:5555"
    public var actorId = "actor-\(ProcessControl.hostName)-\(getpid())"
    /// Groups generated together in one batch.
    public var slots = 2
    /// Learner silence (in its heartbeat periods) before reconnecting.
    public var heartbeatLiveness = 5
    public var reconnectInitialMs = 500
    public var reconnectMaxMs = 8000
    public var maxMessageBytes: Int64 = 256 << 20
    public var softwareVersion = "softrl 0.1"
    public init() {}
}

public final class ActorService {
    let log: Logger
    let options: ActorOptions
    var codec = WireCodec()
    var heartbeatInterval = 1.0
    var model: LlamaModel?
    var sampler = SamplerConfig()
    var task: (any ReasoningTask)?
    var runId = ""
    var modelVersion = -1
    var announced: Wire.VersionNotice?
    var assembler: BlobAssembler?
    /// When the last FetchWeights went out: a fetch unanswered for a few heartbeats is sent again (the learner
    /// may have died between our request and its reply, and its successor knows nothing of it).
    var lastFetchSent = 0.0
    var queue: [Wire.WorkItem] = []
    var requested = false
    var lastHeard = ProcessControl.now()
    let generator = BackgroundWorker<(groups: [[Rollout]], stats: GenerationStats, items: [Wire.WorkItem])>(label: "softrl.actor.generate")
    public private(set) var groupsSent = 0
    /// Set when the learner said the run is finished.
    public private(set) var finished = false
    // MONITORING HOOK: observers (set by the executable before run()); called on the socket thread.
    /// After each generated batch is sent.
    public var onBatchSent: ((ActorBatchReport) -> Void)?
    /// Once per heartbeat period.
    public var onStatus: ((ActorSelfStatus) -> Void)?

    public init(options: ActorOptions) {
        self.options = options
        var l = Logger(label: "softrl.actor")
        l[metadataKey: "actor"] = .string(options.actorId)
        log = l
    }

    public func run() throws {
        let context = try ZMQContext()
        defer { context.shutdown() }
        var backoffMs = options.reconnectInitialMs
        while !ProcessControl.stopRequested && !finished {
            let socket = try ZMQSocket(context, .dealer)
            try socket.set(.routingId(Data(options.actorId.utf8)))
            try socket.set(.linger(ms: 500))
            try socket.set(.maxMessageSize(options.maxMessageBytes))
            try socket.set(.reconnectInterval(ms: 200))
            try socket.set(.reconnectIntervalMax(ms: options.reconnectMaxMs))
            // ZMTP-level heartbeats close a TCP connection whose peer vanished (partition, host crash), so the
            // reconnect starts from a fresh socket instead of a half-open one.
            try socket.set(.heartbeatInterval(ms: 1000)); try socket.set(.heartbeatTimeout(ms: 5000))
            try socket.connect(options.connect)
            sendHello(socket)
            let healthy = session(socket)
            if !finished && !ProcessControl.stopRequested {
                backoffMs = healthy ? options.reconnectInitialMs : min(backoffMs * 2, options.reconnectMaxMs)
                log.warning("learner at \(options.connect) silent; reconnecting in \(backoffMs) ms")
                socket.close(lingerMs: 0)
                let until = ProcessControl.now() + Double(backoffMs) / 1000
                while ProcessControl.now() < until && !ProcessControl.stopRequested { usleep(20_000) }
            } else {
                var bye = Wire.Goodbye(); bye.reason = finished ? "run finished" : "actor stopping (signal)"
                send(.goodbye(bye), socket)
                socket.close(lingerMs: 500)
            }
        }
        generator.waitIdle()
        log.info("actor stopped after sending \(groupsSent) group(s)")
    }

    /// Serves one connection until the learner goes silent (returns whether it was ever welcomed) or we stop.
    func session(_ socket: ZMQSocket) -> Bool {
        lastHeard = ProcessControl.now()
        var welcomed = false
        var lastHeartbeat = 0.0
        queue = []; requested = false; assembler = nil
        let poller = ZMQPoller([socket])
        while !ProcessControl.stopRequested && !finished {
            _ = try? poller.poll(timeoutMs: 20)
            while let frames = try? socket.receive(timeoutMs: 0) {
                lastHeard = ProcessControl.now()
                guard frames.count == 1 else { log.warning("dropped a \(frames.count)-frame message"); continue }
                let env: Envelope
                do { env = try codec.decode(frames[0]) } catch { log.warning("dropped malformed message from learner: \(error)"); continue }
                switch env.body {
                case .welcome(let w)?: welcomed = welcome(w)
                case .versionNotice(let n)?: announced = n
                case .weightsChunk(let c)?: receiveChunk(c, socket)
                case .work(let w)?: accept(w); requested = false
                case .heartbeat?: break
                case .goodbye(let b)?:
                    log.info("learner said goodbye: \(b.reason)")
                    if b.reason.hasPrefix("finished") { finished = true } else { return welcomed }
                case .error(let e)?:
                    if e.code == 3 { log.info("learner does not know us (it restarted?): saying hello again"); sendHello(socket); requested = false }
                    else { log.warning("learner error \(e.code): \(e.message)") }
                default: log.warning("unexpected message from learner; ignored")
                }
            }
            if let done = generator.takeResult() { sendGroups(done, socket) }
            if welcomed && !generator.isBusy { advance(socket) }
            let now = ProcessControl.now()
            if now - lastHeartbeat > heartbeatInterval {
                lastHeartbeat = now
                var hb = Wire.Heartbeat(); hb.policyVersion = UInt64(max(modelVersion, 0)); hb.busySlots = generator.isBusy ? UInt32(options.slots) : 0
                send(.heartbeat(hb), socket)
                onStatus?(ActorSelfStatus(actorId: options.actorId, policyVersion: modelVersion, busySlots: Int(hb.busySlots),  // MONITORING HOOK
                                          slots: options.slots, connected: welcomed))
            }
            if now - lastHeard > heartbeatInterval * Double(options.heartbeatLiveness) { return welcomed }
        }
        return welcomed
    }

    func sendHello(_ socket: ZMQSocket) {
        var h = Wire.Hello()
        h.actorID = options.actorId; h.host = ProcessControl.hostName; h.pid = UInt32(getpid())
        h.cores = UInt32(ProcessInfo.processInfo.activeProcessorCount); h.softwareVersion = options.softwareVersion
        h.slots = UInt32(options.slots)
        send(.hello(h), socket)
    }

    func welcome(_ w: Wire.Welcome) -> Bool {
        do {
            let config = try JSONDecoder().decode(LlamaConfig.self, from: Data(w.modelConfigJson.utf8))
            var options = TaskOptions()
            if !w.taskOptionsJson.isEmpty { options = try JSONDecoder().decode(TaskOptions.self, from: Data(w.taskOptionsJson.utf8)) }
            sampler = try JSONDecoder().decode(SamplerConfig.self, from: Data(w.samplerConfigJson.utf8))
            if runId != w.runID || model?.config != config {
                model = try LlamaModel(config: config, weights: FloatBuffer(count: ParameterLayout(config).totalCount))
                modelVersion = -1
            }
            task = try TaskCatalog.make(name: w.taskName, options: options)
            assembler = nil   // a new handshake: any fetch in progress was addressed to a learner that may be gone
            heartbeatInterval = max(0.05, Double(w.heartbeatIntervalMs) / 1000)
            if runId != w.runID { log.info("joined run \(w.runID): task \(w.taskName), \(sampler.label), policy v\(w.policyVersion)") }
            runId = w.runID
            return true
        } catch {
            log.error("cannot work for this learner: \(error)")
            return false
        }
    }

    /// Between groups: finish fetching announced weights first, then ask for work or start generating.
    func advance(_ socket: ZMQSocket) {
        if let n = announced, Int(n.version) > modelVersion {
            let now = ProcessControl.now()
            if assembler == nil || assembler.map({ $0.version != n.version }) == true {
                assembler = BlobAssembler(notice: n)
                requestChunk(n.version, 0, socket)
            } else if now - lastFetchSent > max(5, 5 * heartbeatInterval), let missing = assembler?.missingChunks.first {
                log.info("no reply to the weights fetch for v\(n.version); asking again")
                requestChunk(n.version, missing, socket)
            }
            return
        }
        guard modelVersion >= 0, let model, let task else { return }
        if !queue.isEmpty {
            let items = queue; queue = []
            let version = modelVersion
            let gen = RolloutGenerator(model: model, config: sampler, endOfThinking: Vocabulary.endOfThinking, endOfSequence: Vocabulary.eos)
            generator.start {
                let requests = items.map { GenerationRequest(promptIndex: Int($0.promptIndex), prompt: task.problem(.train, Int($0.promptIndex)).prompt,
                                                             groupSize: Int($0.groupSize), seed: Self.seed(workId: $0.workID)) }
                let (groups, stats) = gen.generate(requests, policyVersion: version)
                return (groups, stats, items)
            }
        } else if !requested {
            var r = Wire.WorkRequest(); r.actorID = options.actorId; r.freeSlots = UInt32(options.slots)
            send(.workRequest(r), socket)
            requested = true
        }
    }

    /// Largest group the actor will generate: a bound on memory a peer can make it allocate.
    static let maxGroupSize = 4096

    /// Queues the items it can do; an impossible item (prompt outside the task, absurd group size) is logged and
    /// dropped: the learner re-issues it after its deadline, and the actor keeps working.
    func accept(_ w: Wire.Work) {
        let prompts = task?.count(.train) ?? 0
        for item in w.items {
            guard item.promptIndex < UInt64(prompts), item.groupSize >= 1, item.groupSize <= UInt32(Self.maxGroupSize) else {
                log.warning("dropped impossible work \(item.workID): prompt index \(item.promptIndex) of \(prompts), group size \(item.groupSize)")
                continue
            }
            queue.append(item)
        }
    }

    /// A group's random stream depends only on its work id (the schedule position), not on which actor runs it.
    static func seed(workId: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a
        for b in workId.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    func receiveChunk(_ c: Wire.WeightsChunk, _ socket: ZMQSocket) {
        guard var a = assembler, a.version == c.version else { return }
        do {
            try a.add(c)
            assembler = a
            if let next = a.missingChunks.first {
                requestChunk(c.version, next, socket)
                return
            }
            guard let model else { return }
            try WeightsBlob.decode(try a.assemble(), into: model)
            modelVersion = Int(c.version)
            assembler = nil
            log.info("loaded policy v\(modelVersion)")
        } catch {
            log.warning("weights v\(c.version) rejected (\(error)); fetching again")
            assembler = nil
        }
    }

    func requestChunk(_ version: UInt64, _ index: UInt64, _ socket: ZMQSocket) {
        var f = Wire.FetchWeights(); f.version = version; f.chunkIndex = index
        send(.fetchWeights(f), socket)
        lastFetchSent = ProcessControl.now()
    }

    func sendGroups(_ done: (groups: [[Rollout]], stats: GenerationStats, items: [Wire.WorkItem]), _ socket: ZMQSocket) {
        let tokensPerGroup = UInt64(done.stats.tokens / max(done.groups.count, 1))
        for (item, group) in zip(done.items, done.groups) {
            do {
                var g = Wire.RolloutGroup()
                g.workID = item.workID; g.actorID = options.actorId; g.promptIndex = item.promptIndex
                g.policyVersion = UInt64(group.first?.policyVersion ?? 0)
                g.rollouts = try group.map(WireMapping.wire)
                g.timings.generateMs = done.stats.milliseconds / Double(done.groups.count)
                g.timings.tokens = tokensPerGroup
                send(.rolloutGroup(g), socket)
                groupsSent += 1
            } catch {
                log.error("could not encode group \(item.workID): \(error)")
            }
        }
        onBatchSent?(ActorBatchReport(groups: done.groups.count, rollouts: done.groups.reduce(0) { $0 + $1.count },  // MONITORING HOOK
                                      tokens: done.stats.tokens, milliseconds: done.stats.milliseconds,
                                      policyVersion: done.groups.first?.first?.policyVersion ?? modelVersion))
    }

    func send(_ body: Wire.Body, _ socket: ZMQSocket) {
        do { _ = try socket.send(frames: [try codec.encode(body)], dontWait: true) } catch {
            log.debug("send failed: \(error)")
        }
    }
}
