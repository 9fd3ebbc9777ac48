// `softrl bench cluster`: how far one learner goes, measured with the real protocol core on real sockets.
//  1. ingest: prepared valid rollout groups of the `tiny` model fed to LearnerCore, in process (the core's own
//     cost) and from M DEALER threads over TCP loopback (what a learner loop sustains), with the loop's CPU time;
//  2. weight delivery: N receivers fetch one version chunk by chunk from a ROUTER serving the core's shared
//     frames, beside a raw ZeroMQ stream of the same bytes to one receiver, in the same run;
//  3. learner memory per connected actor: RSS growth of a core that admits 10,000 Hello messages.
// Numbers only; the command prints them with the CPU and the limits beside them.
import Cluster
import ClusterKit
import Foundation
import Run
import SoftTokens
import Tasks
import TransformerLM
import Transport

public enum ClusterBenchmark {
    public struct Ingest: Sendable {
        public var rollouts = 0
        public var coreRolloutsPerSecond = 0.0
        public var socketRolloutsPerSecond = 0.0
        public var loopCPUMicrosecondsPerRollout = 0.0
        public var rejected = 0
    }

    /// The mnns task and a random `tiny` model: what every figure here is measured with.
    static func tinySetup() throws -> (task: any ReasoningTask, model: LlamaModel) {
        let task = try TaskCatalog.make(name: "mnns", options: TaskOptions())
        return (task, try LlamaModel(config: .tiny(vocabSize: task.vocabulary.count), seed: 1))
    }

    /// A core that accepts everything it is sent for a long time: big window, many steps.
    static func openCore(groupSize: Int, task: any ReasoningTask, model: LlamaModel) throws -> LearnerCore {
        var c = RLConfig()
        c.task = "mnns"; c.groupSize = groupSize; c.promptsPerStep = 64; c.maxStaleness = 1000; c.steps = 1_000_000
        let weights = try WeightSnapshot(
            model: model, version: 0, sampler: c.resolvedSampler(for: task), format: .f32,
            chunkBytes: ClusterRules().chunkBytes)
        return LearnerCore(
            config: c, task: task, modelConfig: model.config, rules: ClusterRules(), weights: weights, runId: "bench")
    }

    /// Registers `id` on `core` from `address` and gives it `credit` items, through the in-memory cluster (the
    /// actor is a hand-written peer there); returns the issued items.
    static func join(_ core: LearnerCore, _ id: String, _ address: Data, credit: Int) throws -> [Wire.WorkItem] {
        let sim = InMemoryCluster(core: core, updateSeconds: nil)
        var h = Wire.Hello(); h.actorID = id; h.slots = UInt32(ClusterRules.maxSlotsPerActor)
        sim.rawSend(.hello(h), from: address)
        var items: [Wire.WorkItem] = []
        var left = credit
        while left > 0 {
            var r = Wire.WorkRequest(); r.freeSlots = UInt32(min(left, ClusterRules.maxSlotsPerActor))
            sim.strayFrames[address] = []
            sim.rawSend(.workRequest(r), from: address)
            sim.deliverDue()
            let issued = (sim.strayFrames[address] ?? []).flatMap { f -> [Wire.WorkItem] in
                if case .work(let w)? = try? WireCodec().decode(f).body { return w.items }
                return []
            }
            if issued.isEmpty { break }
            items += issued
            left -= issued.count
        }
        return items
    }

    public static func ingest(actors: Int, groupsPerActor: Int, groupSize: Int = 32) throws -> Ingest {
        let (task, model) = try tinySetup()
        // Real rollouts for the issued prompts, generated once per prompt.
        func frames(for core: LearnerCore) throws -> [(Data, [Data])] {
            var cache: [Int: [Rollout]] = [:]
            let gen = RolloutGenerator(
                model: model, config: core.sampler, endOfThinking: Vocabulary.endOfThinking,
                endOfSequence: Vocabulary.eos)
            var out: [(Data, [Data])] = []
            for a in 0..<actors {
                let address = Data("bench-\(a)".utf8)
                var codec = WireCodec()
                let items = try join(core, "bench-\(a)", address, credit: groupsPerActor)
                let missing = Set(items.map { Int($0.promptIndex) }).subtracting(cache.keys).sorted()
                if !missing.isEmpty {
                    let groups = gen.generate(
                        missing.map {
                            GenerationRequest(
                                promptIndex: $0, prompt: task.problem(.train, $0).prompt, groupSize: groupSize, seed: 1)
                        },
                        policyVersion: 0
                    ).groups
                    for (p, g) in zip(missing, groups) { cache[p] = g }
                }
                out.append(
                    (
                        address,
                        try items.map { item in
                            var g = Wire.RolloutGroup()
                            g.workID = item.workID; g.promptIndex = item.promptIndex
                            g.rollouts = try cache[Int(item.promptIndex)]!.map(WireMapping.wire)
                            return try codec.encode(.rolloutGroup(g))
                        }
                    ))
            }
            return out
        }
        var result = Ingest()
        // In process.
        let core1 = try openCore(groupSize: groupSize, task: task, model: model)
        let prepared = try frames(for: core1)
        let start = ProcessControl.now()
        for (address, fs) in prepared { for f in fs { _ = core1.receive(f, from: address, now: 1) } }
        let coreSeconds = ProcessControl.now() - start
        result.rollouts = prepared.reduce(0) { $0 + $1.1.count } * groupSize
        result.rejected = core1.malformed
        result.coreRolloutsPerSecond = Double(result.rollouts) / coreSeconds

        // Over TCP loopback: M DEALERs push, one ROUTER loop decodes and validates.
        let core2 = try openCore(groupSize: groupSize, task: task, model: model)
        let prepared2 = try frames(for: core2)
        let context = try ZMQContext()
        defer { context.shutdown() }
        let router = try ZMQSocket(context, .router)
        try router.set(.receiveHWM(100_000))
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint
        let total = prepared2.reduce(0) { $0 + $1.1.count }
        let group = DispatchGroup()
        let senders = try prepared2.map { (address, _) -> ZMQSocket in
            let s = try ZMQSocket(context, .dealer)
            try s.set(.routingId(address)); try s.set(.sendHWM(100_000)); try s.connect(endpoint)
            return s
        }
        usleep(200_000) // connections up before the clock starts
        let t0 = ProcessControl.now()
        for (s, (_, fs)) in zip(senders, prepared2) {
            group.enter()
            Thread.detachNewThread {
                for f in fs { _ = try? s.send(f) }; group.leave()
            }
        }
        var received = 0
        let cpu0 = threadCPUSeconds()
        while received < total, let frames = try router.receive(timeoutMs: 10_000), frames.count == 2 {
            _ = core2.receive(frames[1], from: frames[0], now: 1)
            received += 1
        }
        let cpu = threadCPUSeconds() - cpu0
        let wall = ProcessControl.now() - t0
        group.wait()
        for s in senders { s.close(lingerMs: 0) }
        router.close(lingerMs: 0)
        result.socketRolloutsPerSecond = Double(received * groupSize) / wall
        result.loopCPUMicrosecondsPerRollout = cpu * 1e6 / Double(max(1, received * groupSize))
        result.rejected += core2.malformed
        return result
    }

    public struct Delivery: Sendable {
        public var bytes = 0
        public var receivers = 0
        public var seconds = 0.0
        public var rawSeconds = 0.0
        /// The same raw stream with the receiving thread hashing each piece as it arrives (what every receiver must
        /// do): the floor for a receiver that checks its bytes, so `seconds` beside it is what the protocol costs.
        public var rawHashedSeconds = 0.0
    }

    /// N receivers fetch one version of `bytes` chunk by chunk (as actors do) from a ROUTER loop driven by
    /// LearnerCore, and with `relayFanout` > 0 relay it to each other as the learner directs (each on its own relay
    /// socket, until all hold it); `rawSeconds` is one receiver getting the same bytes as a plain ZeroMQ stream.
    public static func delivery(bytes: Int, receivers: Int, relayFanout: Int = 0) throws -> Delivery {
        let (task, model) = try tinySetup()
        var c = RLConfig(); c.task = "mnns"
        var blob = Data(count: bytes)
        for i in stride(from: 0, to: bytes, by: 4096) { blob[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let snapshot = try WeightSnapshot(version: 0, blob: blob, chunkBytes: ClusterRules().chunkBytes)
        var rules = ClusterRules(); rules.relayFanout = relayFanout
        // Receivers believe no blob larger than the announced model: announce one at least as large as the blob.
        var announced = model.config
        let perVocabRow = announced.hiddenSize * (announced.tieWordEmbeddings ? 1 : 2)
        let short = bytes / 4 + 1 - ParameterLayout(announced).totalCount
        if short > 0 { announced.vocabSize += (short + perVocabRow - 1) / perVocabRow }
        let core = LearnerCore(
            config: c, task: task, modelConfig: announced, rules: rules, weights: snapshot, runId: "bench")
        let context = try ZMQContext()
        defer { context.shutdown() }
        let router = try ZMQSocket(context, .router)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint
        let done = DispatchGroup()
        final class Counter: @unchecked Sendable {
            let lock = NSLock(); var value = 0
            var latest = 0.0, earliest = Double.infinity
            func add(at t: Double = 0) { lock.lock(); value += 1; latest = max(latest, t); lock.unlock() }
            func started(at t: Double) { lock.lock(); earliest = min(earliest, t); lock.unlock() }
            func get() -> Int { lock.lock(); defer { lock.unlock() }; return value }
        }
        let failures = Counter(), holders = Counter(), fetchStarts = Counter()
        for r in 0..<receivers {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    // A real ActorSession does the fetching (windowed chunk requests, SHA-256 check), as in an actor.
                    let s = try ZMQSocket(context, .dealer)
                    defer { s.close(lingerMs: 0) }
                    try s.set(.maxMessageSize(-1))
                    try s.connect(endpoint)
                    var identity = ActorIdentity(
                        actorId: "receiver-\(r)", host: "bench", pid: 0, cores: 1, slots: 1, softwareVersion: "bench")
                    let relays = RelayLinks(context: context, maxMessageBytes: ClusterRules().maxMessageBytes)
                    defer { relays.close() }
                    if relayFanout > 0 { identity.relayEndpoint = try relays.bind("tcp://127.0.0.1:*", advertise: nil) }
                    let session = ActorSession(identity: identity)
                    var installed = false, fetching = false
                    var codec = WireCodec()
                    func perform(_ effects: [ActorEffect]) throws {
                        for e in effects {
                            switch e {
                            case .send(let body):
                                if case .fetchWeights = body, !fetching {
                                    fetching = true; fetchStarts.started(at: ProcessControl.now())
                                }
                                try s.send(try codec.encode(body))
                            case let .sendUpstream(body, endpoint, key):
                                try relays.sendUpstream(try codec.encode(body), to: endpoint, serverKey: key)
                            case let .relay(frame, peer): relays.sendToChild(frame, peer)
                            case let .installWeights(version, assembler):
                                _ = try assembler.verifiedChunks() // held: every byte here and its SHA-256 checked, as an actor has it before loading
                                _ = session.weightsInstalled(version: version)
                                installed = true
                                holders.add(at: ProcessControl.now())
                            default: break
                            }
                        }
                    }
                    try perform(session.connected(now: ProcessControl.now()))
                    let deadline = ProcessControl.now() + 120
                    // A relay keeps serving until every receiver holds the version.
                    while !installed || (relayFanout > 0 && holders.get() < receivers) {
                        guard ProcessControl.now() < deadline else {
                            throw ConfigError("receiver \(r): no weights within 120 s")
                        }
                        _ = try ZMQPoller([s] + relays.sockets).poll(timeoutMs: 2)
                        while let frames = try s.receive(timeoutMs: 0) {
                            if frames.count == 1 { try perform(session.receive(frames[0], now: ProcessControl.now())) }
                        }
                        var pending: [[ActorEffect]] = []
                        relays.drain(
                            child: { pending.append(session.relayRequest($0, from: $1)) },
                            upstreamFrame: {
                                pending.append(session.receiveUpstream($0, from: $1, now: ProcessControl.now()))
                            })
                        for effects in pending { try perform(effects) }
                        if !installed { try perform(session.tick(now: ProcessControl.now())) }
                    }
                } catch { failures.add() }
            }
        }
        var finished = false
        var codec = WireCodec(maxMessageBytes: Int.max)
        while !finished {
            if let frames = try router.receive(timeoutMs: 5), frames.count == 2 {
                for case let .send(message, to) in core.receive(frames[1], from: frames[0], now: 1) {
                    switch message {
                    case .frame(let fr): _ = try router.send(head: [to], shared: fr, dontWait: false)
                    case .body(let b): _ = try router.send(frames: [to, try codec.encode(b)], dontWait: true)
                    }
                }
            }
            finished = done.wait(timeout: .now()) == .success
        }
        // From the first fetch (a receiver had the VersionNotice: connecting and joining are not delivery; a new
        // version reaches actors that are long connected) until the last receiver held the version (not until this
        // loop noticed: it polls every 5 ms).
        var out = Delivery(bytes: bytes, receivers: receivers, seconds: holders.latest - fetchStarts.earliest)
        guard failures.value == 0 else { throw ConfigError("\(failures.value) receiver(s) failed") }
        router.close(lingerMs: 0)
        // Raw reference: the same bytes pushed as 4 MiB messages to one PULL, no protocol, no hashing.
        let push = try ZMQSocket(context, .push), pull = try ZMQSocket(context, .pull)
        try pull.bind("tcp://127.0.0.1:*"); try push.connect(try pull.lastEndpoint)
        let piece = Data(count: ClusterRules().chunkBytes)
        let pieces = (bytes + piece.count - 1) / piece.count
        usleep(100_000)
        func stream(hashing: Bool) throws -> Double {
            let r0 = ProcessControl.now()
            Thread.detachNewThread { for _ in 0..<pieces { _ = try? push.send(piece) } }
            var hasher = SHA256Hasher()
            for _ in 0..<pieces {
                guard let frames = try pull.receive(timeoutMs: 60_000) else {
                    throw ConfigError("raw reference: no data within 60 s")
                }
                if hashing { for f in frames { hasher.update(f) } }
            }
            if hashing { _ = hasher.finalize() }
            return ProcessControl.now() - r0
        }
        out.rawSeconds = try stream(hashing: false)
        out.rawHashedSeconds = try stream(hashing: true)
        push.close(lingerMs: 0); pull.close(lingerMs: 0)
        return out
    }

    /// Bytes of learner memory per connected actor: resident memory before and after a core admits `actors`
    /// Hellos (run it first, before other benchmarks leave freed memory for the allocator to reuse).
    public static func memoryPerActor(actors: Int) throws -> Double {
        let (task, model) = try tinySetup()
        var c = RLConfig(); c.task = "mnns"
        let core = LearnerCore(
            config: c, task: task, modelConfig: model.config, rules: ClusterRules(),
            weights: try WeightSnapshot(version: 0, blob: Data(count: 1024), chunkBytes: 1024), runId: "bench")
        var codec = WireCodec()
        let frames = try (0..<actors).map { i -> Data in
            var h = Wire.Hello(); h.actorID = String(format: "actor-%06d", i); h.host = "host-\(i % 100)";
            return try codec.encode(.hello(h))
        }
        let addresses = (0..<actors).map { Data("conn-\($0)".utf8) }
        let before = residentBytes()
        for (f, a) in zip(frames, addresses) { _ = core.receive(f, from: a, now: 0) }
        let after = residentBytes()
        precondition(core.actors.count == actors)
        return Double(after - before) / Double(actors)
    }

    /// SHA-256 throughput over 64 MiB (what a receiver pays to check a version), best of 3.
    public static func hashBytesPerSecond() -> Double {
        let data = Data(count: 64 << 20)
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = ProcessControl.now()
            _ = SHA256Hasher.hex(data)
            best = min(best, ProcessControl.now() - t0)
        }
        return Double(data.count) / best
    }

    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let kb =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first
            .flatMap { Int($0) } ?? 0
        return kb * 1024
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
