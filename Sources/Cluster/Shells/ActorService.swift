// The actor's socket shell: connects a DEALER to the learner, feeds frames and time to ActorSession, and performs
// its effects: sends, building the model, loading weights, generating on a background thread (so heartbeats
// go on), reconnecting with backoff on a fresh socket. SIGTERM says goodbye and exits.
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
    public var reconnectInitialMs = 500
    public var reconnectMaxMs = 8000
    public var softwareVersion = "softrl 0.2"
    /// Trust: this actor's key pair and the learner's public key; nil = no CURVE.
    public var keys: ActorKeys?
    /// Relays: where to serve held weights to other actors (e.g. "tcp://*:5601"), and the address to announce if the
    /// bound one is not what others should dial; nil = do not relay.
    public var relayBind: String?
    public var relayAdvertise: String?
    /// Log the SHA-256 of the installed fp32 weights after each load.
    public var logWeightsDigest = false
    public init() {}
}

public final class ActorService {
    let log: Logger
    let options: ActorOptions
    public let session: ActorSession
    var model: LlamaModel?
    let generator = BackgroundWorker<(groups: [[Rollout]], stats: GenerationStats, order: GenerationOrder)>(
        label: "softrl.actor.generate")
    /// Verifies and loads a weights blob (SHA-256 of up to hundreds of MB) while the loop keeps heartbeating.
    let installer = BackgroundWorker<(version: Int, error: Error?)>(label: "softrl.actor.install")
    var reconnect: String?
    // MONITORING HOOK: observers (set by the executable before run()); called on the socket thread.
    /// After each generated batch is sent.
    public var onBatchSent: ((ActorBatchReport) -> Void)?
    /// Once per heartbeat period.
    public var onStatus: ((ActorSelfStatus) -> Void)?
    var lastStatus = 0.0
    /// The run's task, built from Welcome's name and options (text tasks read their tokenizer from that path).
    var task: (key: String, task: any ReasoningTask)?

    public init(options: ActorOptions) {
        self.options = options
        session = ActorSession(
            identity: ActorIdentity(
                actorId: options.actorId, host: ProcessControl.hostName, pid: UInt32(getpid()),
                cores: ProcessInfo.processInfo.activeProcessorCount, slots: options.slots,
                softwareVersion: options.softwareVersion))
        var l = Logger(label: "softrl.actor")
        l[metadataKey: "actor"] = .string(options.actorId)
        log = l
    }

    public var groupsSent: Int { session.groupsSent }

    public func run() throws {
        log.info(
            "actor \(options.actorId) connecting to \(options.connect), \(options.slots) slot(s) | \(BLASKernel.current.summary)"
        )
        let context = try ZMQContext()
        defer { context.shutdown() }
        let relays = RelayLinks(context: context, maxMessageBytes: session.rules.maxMessageBytes, keys: options.keys)
        defer { relays.close() }
        if let bind = options.relayBind {
            let log = self.log
            session.identity.relayEndpoint = try relays.bind(bind, advertise: options.relayAdvertise) {
                key, address, count in
                if count <= 10 || count % 100 == 0 {
                    log.warning(
                        "relay refused CURVE key \(key) from \(address) (not in \(ClusterSecurity.allowListName)); \(count) refused so far"
                    )
                }
            }
            session.identity.relayPublicKey = options.keys?.keys.publicKey ?? ""
            log.info(
                "serving weights to other actors at \(session.identity.relayEndpoint!)\(options.keys == nil ? " (plaintext)" : " (CURVE, allow-listed keys only)")"
            )
        }
        var backoffMs = options.reconnectInitialMs
        while !ProcessControl.stopRequested && !session.finishedRun {
            let socket = try ZMQSocket(context, .dealer)
            try options.keys?.configure(socket) // Trust: CURVE client options before connect
            let linkWatch = try options.keys.map { try ActorLinkWatch(socket, keys: $0) } // Trust: say why a key is refused
            defer { linkWatch?.close() }
            try socket.set(.linger(ms: 500))
            try socket.set(.maxMessageSize(Int64(session.rules.maxMessageBytes)))
            try socket.set(.reconnectInterval(ms: 200))
            try socket.set(.reconnectIntervalMax(ms: options.reconnectMaxMs))
            try socket.set(.heartbeatInterval(ms: 0)) // liveness is the session's; see ClusterRules for why not ZMTP's
            try socket.set(
                .tcpKeepalive(
                    idleSeconds: ClusterRules.keepaliveIdleSeconds,
                    intervalSeconds: ClusterRules.keepaliveIntervalSeconds,
                    count: ClusterRules.keepaliveCount))
            try socket.connect(options.connect)
            reconnect = nil
            perform(session.connected(now: ProcessControl.now()), socket, relays)
            while !ProcessControl.stopRequested && !session.finishedRun && reconnect == nil {
                _ = try? ZMQPoller([socket] + relays.sockets).poll(timeoutMs: 20)
                relays.drain(
                    child: { perform(session.relayRequest($0, from: $1), socket, relays) },
                    upstreamFrame: {
                        perform(session.receiveUpstream($0, from: $1, now: ProcessControl.now()), socket, relays)
                    })
                for problem in linkWatch?.problems() ?? [] { log.error("\(problem)") }
                while reconnect == nil, let frames = try? socket.receive(timeoutMs: 0) {
                    guard frames.count == 1 else { log.warning("dropped a \(frames.count)-frame message"); continue }
                    perform(session.receive(frames[0], now: ProcessControl.now()), socket, relays)
                }
                if let done = generator.takeResult() {
                    perform(session.generated(done.groups, stats: done.stats, order: done.order), socket, relays)
                    onBatchSent?(
                        ActorBatchReport(
                            groups: done.groups.count, rollouts: done.groups.reduce(0) { $0 + $1.count }, // MONITORING HOOK
                            tokens: done.stats.tokens, milliseconds: done.stats.milliseconds,
                            policyVersion: done.order.version))
                }
                if let done = installer.takeResult() {
                    perform(
                        done.error.map { session.weightsRejected(version: done.version, $0) }
                            ?? session.weightsInstalled(version: done.version), socket, relays)
                }
                let now = ProcessControl.now()
                perform(session.tick(now: now), socket, relays)
                if let onStatus, now - lastStatus >= session.rules.heartbeatSeconds { // MONITORING HOOK
                    lastStatus = now
                    onStatus(
                        ActorSelfStatus(
                            actorId: options.actorId, policyVersion: session.modelVersion,
                            busySlots: session.generating ? options.slots : 0,
                            slots: options.slots, connected: session.welcomed))
                }
            }
            if let reason = reconnect, !ProcessControl.stopRequested {
                backoffMs = session.welcomed ? options.reconnectInitialMs : min(backoffMs * 2, options.reconnectMaxMs)
                log.warning("\(reason); reconnecting to \(options.connect) in \(backoffMs) ms")
                socket.close(lingerMs: 0)
                let until = ProcessControl.now() + Double(backoffMs) / 1000
                while ProcessControl.now() < until && !ProcessControl.stopRequested { usleep(20_000) }
            } else {
                send(session.goodbye(stopping: ProcessControl.stopRequested), socket)
                socket.close(lingerMs: 500)
            }
        }
        generator.waitIdle(); installer.waitIdle()
        log.info("actor stopped after sending \(session.groupsSent) group(s)")
    }

    func perform(_ effects: [ActorEffect], _ socket: ZMQSocket, _ relays: RelayLinks) {
        for effect in effects {
            switch effect {
            case .send(let body): send(body, socket)
            case let .sendUpstream(body, endpoint, key):
                do { try relays.sendUpstream(try session.codec.encode(body), to: endpoint, serverKey: key) } catch {
                    log.debug("send to relay \(endpoint) failed: \(error)")
                }
            case let .relay(frame, peer): relays.sendToChild(frame, peer)
            case .prepareModel(let config):
                do {
                    model = try LlamaModel(
                        config: config, weights: FloatBuffer(count: ParameterLayout(config).totalCount))
                } catch {
                    log.error("cannot build the model: \(error)"); model = nil
                }
            case let .installWeights(version, assembler):
                let model = self.model, format = session.weightsFormat, digest = options.logWeightsDigest,
                    log = self.log
                installer.start {
                    do {
                        guard let model else { throw ConfigError("no model to load weights into") }
                        let chunks = try assembler.verifiedChunks() // hashed as they arrived: checking costs nothing now
                        let start = DispatchTime.now().uptimeNanoseconds
                        try format.decode(pieces: chunks, into: model) // bf16 is widened here, once per version: matmuls stay fp32
                        var line =
                            "installed v\(version) from \(format.rawValue) (\(chunks.reduce(0) { $0 + $1.count }) bytes) in \(String(format: "%.0f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)) ms"
                        if digest {
                            let bytes = Data(
                                bytesNoCopy: model.weights.pointer, count: model.parameterCount * 4, deallocator: .none)
                            line += ": fp32 weights sha256 \(SHA256Hasher.hex(bytes))"
                        }
                        log.info("\(line)")
                        return (version, nil)
                    } catch { return (version, error) }
                }
            case .generate(let order):
                guard let model else { log.error("asked to generate without a model"); continue }
                let key = order.taskName + "\u{0}" + order.taskOptionsJson
                if task?.key != key {
                    do {
                        let options =
                            order.taskOptionsJson.isEmpty
                            ? TaskOptions()
                            : try JSONDecoder().decode(TaskOptions.self, from: Data(order.taskOptionsJson.utf8))
                        task = (key, try TaskCatalog.make(name: order.taskName, options: options))
                    } catch {
                        task = nil
                        log.warning(
                            "cannot build task \(order.taskName) (\(error)); ending thinking with token \(order.endOfThinking)"
                        )
                    }
                }
                let runTask = task?.task
                generator.start {
                    let gen =
                        runTask.map { RolloutGenerator(model: model, config: order.sampler, task: $0) }
                        ?? RolloutGenerator(
                            model: model, config: order.sampler, endOfThinking: order.endOfThinking,
                            endOfSequence: order.endOfSequence)
                    let (groups, stats) = gen.generate(order.requests, policyVersion: order.version)
                    return (groups, stats, order)
                }
            case .reconnect(let reason): reconnect = reason
            case .finished: break
            case let .log(level, message): log.log(level: level, "\(message)")
            }
        }
    }

    func send(_ body: Wire.Body, _ socket: ZMQSocket) {
        do { _ = try socket.send(frames: [try session.codec.encode(body)], dontWait: true) } catch {
            log.debug("send failed: \(error)")
        }
    }
}
