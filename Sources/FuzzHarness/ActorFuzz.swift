// The actor's protocol core driven by a fuzz script: every frame comes from "the learner", which the script plays
// and which here is hostile. The in-memory cluster (ClusterKit) carries out the session's effects as ActorService
// does, minus the model math, and audits each: a model it is asked to build must be one a process can hold,
// installed weights pass their SHA-256, a generation order holds only items the session accepted as possible
// (generation then answers at once with no groups), a relay forwards only decodable frames, and every message
// the actor sends encodes.
import Cluster
import ClusterKit
import Foundation

public final class ActorFuzzRun {
    public let cluster: InMemoryCluster
    public let member: InMemoryCluster.Member
    public var session: ActorSession { member.session }
    public var logs: [String] { cluster.logs }
    public var modelsPrepared: Int { member.modelsPrepared }
    public var installs: Int { member.installs }
    public var orders: Int { member.orders }

    public init(slots: Int = 4) {
        cluster = InMemoryCluster(core: nil, start: 1000, updateSeconds: nil)
        cluster.generation = .immediateEmpty
        member = cluster.addActor("fuzz-actor", slots: slots, host: "fuzz", softwareVersion: "fuzz")
    }

    deinit { cluster.tearDown() }

    public func run(_ data: Data) throws {
        for event in FuzzInput.events(data) {
            cluster.playActorEvent(event, to: member)
            if let v = cluster.violations.first { throw FuzzFinding(v) }
        }
    }
}
