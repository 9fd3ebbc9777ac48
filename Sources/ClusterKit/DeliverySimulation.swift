// Weight delivery to thousands of actors, simulated: the real LearnerCore and real ActorSessions (with their
// relays) exchange real encoded frames in an InMemoryCluster whose link model is SharedUplinks (bandwidth and
// latency per node, the receiver's final SHA-256 charged). The answer: when every actor holds the version, from
// the moment all say Hello. Deterministic for a seed.
import Cluster
import Foundation
import PolicyGradient
import Run
import Tasks
import TensorMath
import TransformerLM
import Transport

public enum DeliverySimulation {
    public typealias Link = SharedUplinks.Parameters

    public struct Result: Sendable {
        public var actors = 0, fanout = 0
        /// Until every surviving actor held the version.
        public var seconds = 0.0
        /// Chunk frames the learner's link carried.
        public var learnerChunks = 0
        /// Actors killed mid-transfer, and survivors that had to leave a relay for another source.
        public var killed = 0, failovers = 0
    }

    /// Seconds between ticks of every node (actors' first ticks are spread over one interval).
    static let tickEvery = 0.1

    /// `actors` actors (all relaying when `fanout` > 0) join at time 0 and fetch a blob of `chunks` chunks. At
    /// `killAt` seconds, `killFraction` of the actors that have started relaying die.
    public static func run(
        actors n: Int, fanout: Int, chunks: Int = 10, nominalChunkBytes: Int, link: Link,
        killFraction: Double = 0, killAt: Double = 0, seed: UInt64 = 1
    ) throws -> Result {
        let task = try TaskCatalog.make(name: "mnns", options: TaskOptions())
        var c = RLConfig(); c.task = "mnns"
        var rules = ClusterRules(); rules.relayFanout = fanout
        let realChunkBytes = 1024
        let blob = Data((0..<(chunks * realChunkBytes)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let snapshot = try WeightSnapshot(version: 0, blob: blob, chunkBytes: realChunkBytes)
        let core = LearnerCore(
            config: c, task: task, modelConfig: .tiny(vocabSize: task.vocabulary.count), rules: rules,
            weights: snapshot, runId: "sim")
        let sim = InMemoryCluster(
            core: core, link: SharedUplinks(link, nominalChunkBytes: nominalChunkBytes), updateSeconds: nil)
        var holding = 0
        // A receiver re-examines its fetch as soon as a frame arrives, as the actor's loop does after each receive.
        sim.onArrival = { sim.tick($0) }
        sim.onInstalled = { _, _ in holding += 1 }
        let members = (0..<n).map { i in sim.addActor("a\(i)", slots: 1, relays: fanout > 0) }

        func tickForever(_ m: InMemoryCluster.Member?, at time: Double) {
            sim.queue.at(time) {
                if let m { guard m.alive else { return }; sim.tick(m) } else { sim.tickLearner() }
                tickForever(m, at: time + tickEvery)
            }
        }
        for (i, m) in members.enumerated() { tickForever(m, at: tickEvery + tickEvery * Double(i % 10) / 10) }
        tickForever(nil, at: tickEvery / 2)
        var killed = 0
        if killFraction > 0 {
            sim.queue.at(killAt) {
                // Relays that already forward chunks but do not hold the whole version yet: parents mid-transfer.
                var rng = Xoshiro256(seed: seed)
                for m in members
                where m.alive && m.session.relay.served > 0 && m.session.modelVersion < 0
                    && Double(rng.next() % 1_000_000) / 1e6 < killFraction
                {
                    m.alive = false; killed += 1
                }
            }
        }
        while holding < n - killed {
            guard sim.queue.runNext() else {
                throw ConfigError("simulation stopped before every actor held the version")
            }
            guard sim.now < 3600 else {
                throw ConfigError("simulation did not converge within an hour of simulated time")
            }
        }
        if let v = sim.violations.first { throw ConfigError("simulation broke a protocol audit: \(v)") }
        var r = Result()
        r.actors = n; r.fanout = fanout; r.seconds = sim.now; r.learnerChunks = sim.learnerChunksSent[0] ?? 0;
        r.killed = killed
        r.failovers = sim.logs.filter { $0.contains("; fetching v") }.count
        return r
    }
}
