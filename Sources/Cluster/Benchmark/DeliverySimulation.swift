// Weight delivery to thousands of actors, simulated: the real LearnerCore and real ActorSessions (with their
// relays) exchange real encoded frames, but over modelled links instead of sockets. Every node has one uplink
// at `bytesPerSecond`, shared round robin, message by message, among the peers it has frames queued for (as
// ZeroMQ's per-peer pipes and TCP's flows share a link); a chunk is charged `nominalChunkBytes`, so a small
// stand-in blob models a big one; each hop adds `latencySeconds`. Downlinks and CPU are free except the
// receiver's final SHA-256, charged at `hashBytesPerSecond`. The answer: when every actor holds the version, from the moment all
// say Hello. Discrete events on a heap; deterministic for a seed.
import Foundation
import TensorMath
import DequeModule
import HeapModule
import PolicyGradient
import Tasks
import TransformerLM
import Transport

public enum DeliverySimulation {
    public struct Link: Sendable {
        public var bytesPerSecond: Double
        public var latencySeconds: Double
        public var hashBytesPerSecond: Double
        public init(bytesPerSecond: Double, latencySeconds: Double, hashBytesPerSecond: Double) {
            self.bytesPerSecond = bytesPerSecond; self.latencySeconds = latencySeconds; self.hashBytesPerSecond = hashBytesPerSecond
        }
    }

    public struct Result: Sendable {
        public var actors = 0, fanout = 0
        /// Until every surviving actor held the version.
        public var seconds = 0.0
        /// Chunk frames the learner's link carried.
        public var learnerChunks = 0
        /// Actors killed mid-transfer, and survivors that had to leave a relay for another source.
        public var killed = 0, failovers = 0
    }

    struct Event: Comparable {
        var time: Double
        var seq: Int
        var kind: Kind
        static func < (a: Event, b: Event) -> Bool { (a.time, a.seq) < (b.time, b.seq) }
        static func == (a: Event, b: Event) -> Bool { a.seq == b.seq }
    }
    enum Kind {
        case toLearner(actor: Int, Data)
        case toActor(Int, Data)
        case relayRequest(relay: Int, child: Int, Data)
        case upstreamReply(child: Int, endpoint: String, Data)
        case installed(Int, version: Int)
        case tick(Int)
        case linkFree(Int)
        case kill
    }

    /// `actors` actors (all relaying when `fanout` > 0) join at time 0 and fetch a blob of `chunks` chunks. At
    /// `killAt` seconds, `killFraction` of the actors that have started relaying die.
    public static func run(actors n: Int, fanout: Int, chunks: Int = 10, nominalChunkBytes: Int, link: Link,
                           killFraction: Double = 0, killAt: Double = 0, seed: UInt64 = 1) throws -> Result {
        let (task, model) = try ClusterBenchmark.tinySetup()
        var c = RLConfig(); c.task = "mnns"
        var rules = ClusterRules(); rules.relayFanout = fanout
        let realChunkBytes = 1024
        let blob = Data((0..<(chunks * realChunkBytes)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let snapshot = try WeightSnapshot(version: 0, blob: blob, chunkBytes: realChunkBytes)
        let core = LearnerCore(config: c, task: task, modelConfig: model.config, rules: rules, weights: snapshot, runId: "sim")
        let sessions = (0..<n).map { i in
            ActorSession(identity: ActorIdentity(actorId: "a\(i)", host: "sim", pid: UInt32(i), cores: 1, slots: 1, softwareVersion: "sim",
                                                 relayEndpoint: fanout > 0 ? "inproc://relay-\(i)" : nil))
        }
        let address = (0..<n).map { Data("a\($0)".utf8) }
        var actorOfAddress: [Data: Int] = [:]
        for (i, a) in address.enumerated() { actorOfAddress[a] = i }
        func relayIndex(_ endpoint: String) -> Int? { Int(endpoint.dropFirst("inproc://relay-".count)) }
        func childIndex(_ peer: Data) -> Int? { Int(String(decoding: peer.dropFirst(1), as: UTF8.self)) }   // "c<i>"

        var queue = Heap<Event>()
        var seq = 0
        /// Per node (index n = the learner): frames queued per destination, destinations in round-robin order, busy.
        struct Uplink { var queues: [Int: Deque<(size: Int, kind: Kind)>] = [:]; var order = Deque<Int>(); var busy = false }
        var uplinks = [Uplink](repeating: Uplink(), count: n + 1)
        var alive = [Bool](repeating: true, count: n)
        var holding = 0, learnerChunks = 0, failovers = 0
        var now = 0.0
        var codecs = (0..<n).map { _ in WireCodec() }
        var learnerCodec = WireCodec()
        func schedule(_ time: Double, _ kind: Kind) { seq += 1; queue.insert(Event(time: time, seq: seq, kind: kind)) }
        /// Queues a frame on `node`'s uplink for `destination`; it arrives one latency after its turn on the link ends.
        func transmit(from node: Int, to destination: Int, _ frame: Data, chunk: Bool, _ kind: Kind) {
            if uplinks[node].queues[destination, default: []].isEmpty { uplinks[node].order.append(destination) }
            uplinks[node].queues[destination, default: []].append((chunk ? nominalChunkBytes : frame.count, kind))
            if !uplinks[node].busy { sendNext(node) }
        }
        func sendNext(_ node: Int) {
            guard let destination = uplinks[node].order.popFirst() else { uplinks[node].busy = false; return }
            let message = uplinks[node].queues[destination]!.removeFirst()
            if !uplinks[node].queues[destination]!.isEmpty { uplinks[node].order.append(destination) }
            uplinks[node].busy = true
            let done = now + Double(message.size) / link.bytesPerSecond
            schedule(done + link.latencySeconds, message.kind)
            schedule(done, .linkFree(node))
        }
        func learnerEffects(_ effects: [LearnerEffect]) {
            for case let .send(message, to) in effects {
                guard let i = actorOfAddress[to] else { continue }
                switch message {
                case .frame(let f): learnerChunks += 1; transmit(from: n, to: i, f.data, chunk: true, .toActor(i, f.data))
                case .body(let b): if let f = try? learnerCodec.encode(b) { transmit(from: n, to: i, f, chunk: false, .toActor(i, f)) }
                }
            }
        }
        func actorEffects(_ i: Int, _ effects: [ActorEffect]) {
            for e in effects {
                switch e {
                case .send(let body): if let f = try? codecs[i].encode(body) { transmit(from: i, to: n, f, chunk: false, .toLearner(actor: i, f)) }
                case let .sendUpstream(body, endpoint, _):
                    if let r = relayIndex(endpoint), let f = try? codecs[i].encode(body) { transmit(from: i, to: r, f, chunk: false, .relayRequest(relay: r, child: i, f)) }
                case let .relay(frame, peer):
                    if let child = childIndex(peer) {
                        let bytes = frame.data
                        transmit(from: i, to: child, bytes, chunk: bytes.count > realChunkBytes, .upstreamReply(child: child, endpoint: "inproc://relay-\(i)", bytes))
                    }
                case let .installWeights(version, assembler):
                    if (try? assembler.verify()) != nil {
                        // Chunks are hashed as they arrive: what is left after the last one is its own hash, or, when
                        // hashing is slower than the link, the part of the whole hash the transfer did not hide.
                        let total = Double(chunks * nominalChunkBytes)
                        let tail = max(Double(nominalChunkBytes) / link.hashBytesPerSecond, total / link.hashBytesPerSecond - total / link.bytesPerSecond)
                        schedule(now + tail, .installed(i, version: version))
                    } else { actorEffects(i, sessions[i].weightsRejected(version: version, BlobError.checksumMismatch(expected: "", actual: ""))) }
                case .log(_, let text): if text.contains("; fetching v") { failovers += 1 }
                default: break
                }
            }
        }

        for i in 0..<n {
            actorEffects(i, sessions[i].connected(now: 0))
            schedule(0.1 + 0.1 * Double(i % 10) / 10, .tick(i))
        }
        schedule(0.05, .tick(n))
        if killFraction > 0 { schedule(killAt, .kill) }
        var rng = Xoshiro256(seed: seed)
        var killed = 0
        let tickEvery = 0.1
        while holding < n - killed, let e = queue.popMin() {
            now = e.time
            guard now < 3600 else { throw ConfigError("simulation did not converge within an hour of simulated time") }
            switch e.kind {
            case let .toLearner(i, f): if alive[i] { learnerEffects(core.receive(f, from: address[i], now: now)) }
            case let .toActor(i, f):
                if alive[i] { actorEffects(i, sessions[i].receive(f, now: now)); actorEffects(i, sessions[i].tick(now: now)) }
            case let .relayRequest(r, child, f): if alive[r] && alive[child] { actorEffects(r, sessions[r].relayRequest(f, from: Data("c\(child)".utf8))) }
            case let .upstreamReply(child, endpoint, f):
                if alive[child] { actorEffects(child, sessions[child].receiveUpstream(f, from: endpoint, now: now)); actorEffects(child, sessions[child].tick(now: now)) }
            case let .installed(i, version):
                if alive[i] { actorEffects(i, sessions[i].weightsInstalled(version: version)); holding += 1 }
            case .tick(let i):
                if i == n { learnerEffects(core.tick(now: now)) } else if alive[i] { actorEffects(i, sessions[i].tick(now: now)) }
                if i == n || alive[i] { schedule(now + tickEvery, .tick(i)) }
            case .linkFree(let node): sendNext(node)
            case .kill:
                // Relays that already forward chunks but do not hold the whole version yet: parents mid-transfer.
                let midTransfer = (0..<n).filter { alive[$0] && sessions[$0].relay.served > 0 && sessions[$0].modelVersion < 0 }
                for i in midTransfer where Double(rng.next() % 1_000_000) / 1e6 < killFraction { alive[i] = false; killed += 1 }
            }
        }
        var r = Result()
        r.actors = n; r.fanout = fanout; r.seconds = now; r.learnerChunks = learnerChunks; r.killed = killed; r.failovers = failovers
        return r
    }
}
