// The learner's protocol core driven by a fuzz script from four peers, in the in-memory cluster (ClusterKit): a
// fresh core per input, on the same small run every time (mnns, tiny model, groups of 2). Besides crashes, each
// input is audited by the cluster as it runs (every message the learner sends encodes; an update starts only
// when none runs, with groups of the run's size) and at the end: nothing trained twice, nothing lost (trained +
// outstanding = the schedule so far).
import Cluster
import ClusterKit
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM
import Transport

public final class LearnerFuzzRun {
    /// What does not change between inputs: built once per process.
    public static func fixture() throws -> SimulatedRun {
        var c = RLConfig()
        c.task = "mnns"; c.steps = 6; c.maxStaleness = 1; c.promptsPerStep = 2; c.groupSize = 2; c.seed = 5
        return try SimulatedRun(config: c)
    }

    public let fixture: SimulatedRun
    public let cluster: InMemoryCluster
    public var core: LearnerCore { cluster.core }
    public var trained: [Int] { cluster.trained }
    /// Frames the learner sent, per peer address.
    public var sent: [Data: [Data]] { cluster.strayFrames }
    public var logs: [String] { cluster.logs }

    public static let peers: [Data] = InMemoryCluster.scriptPeers

    public init(_ fixture: SimulatedRun) {
        self.fixture = fixture
        cluster = InMemoryCluster(core: fixture.makeCore(runId: "fuzz"), run: fixture, start: 1000, updateSeconds: nil)
    }

    deinit { cluster.tearDown() }

    /// Runs one script; throws a FuzzFinding when an invariant breaks.
    public func run(_ data: Data) throws {
        for event in FuzzInput.events(data) { try apply(event) }
        try audit()
    }

    public func apply(_ event: FuzzEvent) throws {
        cluster.playLearnerEvent(event)
        if let v = cluster.violations.first { throw FuzzFinding(v) }
    }

    /// Tests of the audit only: records `position` as trained once more.
    func forgeTrained(_ position: Int) { cluster.trained.append(position) }

    public func audit() throws {
        if let v = cluster.violations.first { throw FuzzFinding(v) }
        if let p = cluster.positionAudit() { throw FuzzFinding(p) }
    }
}
