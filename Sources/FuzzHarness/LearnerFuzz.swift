// The learner's protocol core (LearnerCore.receive / tick / updateFinished) driven by a fuzz script from four
// peers. A fresh core per input, on the same small run every time (mnns, tiny model, groups of 2). Besides
// crashes, each input is audited: nothing trained twice, nothing lost (trained + outstanding = the schedule so
// far), every group handed to training has the run's group size, and every message the learner sends encodes.
import Cluster
import Foundation
import PolicyGradient
import SoftTokens
import Tasks
import TransformerLM
import Transport

public final class LearnerFuzzRun {
    /// What does not change between inputs: built once per process.
    public struct Fixture {
        public let config: RLConfig
        public let task: any ReasoningTask
        public let model: LlamaModel
        public let sigma: Double
        public let rules: ClusterRules
        var snapshots: [Int: WeightSnapshot] = [:]

        public init() throws {
            var c = RLConfig()
            c.task = "mnns"; c.steps = 6; c.maxStaleness = 1; c.promptsPerStep = 2; c.groupSize = 2; c.seed = 5
            config = c
            task = try TaskCatalog.make(name: c.task, options: c.taskOptions)
            model = try LlamaModel(config: .tiny(vocabSize: max(64, task.vocabulary.count)), seed: 3)
            sigma = RolloutGenerator.noiseSigma(model: model, gamma: c.resolvedSampler(for: task).noiseScale)
            rules = ClusterRules()
            for v in 0...c.steps { snapshots[v] = try Self.snapshot(version: v, sigma: sigma) }
        }

        /// A small stand-in blob per version in three chunks (the actor checks size and SHA-256 as usual).
        static func snapshot(version: Int, sigma: Double) throws -> WeightSnapshot {
            try WeightSnapshot(version: version, blob: Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ version) }),
                               chunkBytes: 400, noiseSigma: sigma)
        }
        public func snapshot(_ version: Int) -> WeightSnapshot? { snapshots[version] }
    }

    public let fixture: Fixture
    public let core: LearnerCore
    public var now = 1000.0
    public private(set) var trained: [Int] = []
    public private(set) var job: UpdateJob?
    /// Frames the learner sent, per peer address.
    public private(set) var sent: [Data: [Data]] = [:]
    public private(set) var logs: [String] = []
    public private(set) var checkpoints = 0
    var codec = WireCodec(maxMessageBytes: Int.max)

    public static let peers: [Data] = (0..<4).map { Data("peer-\($0)".utf8) }

    public init(_ fixture: Fixture) {
        self.fixture = fixture
        core = LearnerCore(config: fixture.config, task: fixture.task, modelConfig: fixture.model.config, rules: fixture.rules,
                           weights: fixture.snapshot(0)!, runId: "fuzz")
    }

    /// Runs one script; throws a FuzzFinding when an invariant breaks.
    public func run(_ data: Data) throws {
        for event in FuzzInput.events(data) { try apply(event) }
        try audit()
    }

    public func apply(_ event: FuzzEvent) throws {
        switch event {
        case let .frame(peer, delay, bytes):
            now += delay
            try effects(core.receive(bytes, from: Self.peers[peer], now: now))
        case .tick(let delay):
            now += delay
            try effects(core.tick(now: now))
        case .updateFinished(let withSnapshot):
            guard let j = job else { return }
            job = nil
            trained += j.positions
            var r = UpdateReport(); r.policyVersion = j.version + 1; r.step = r.policyVersion
            try effects(core.updateFinished(r, weights: withSnapshot ? fixture.snapshot(r.policyVersion) : nil, now: now))
        }
    }

    func effects(_ list: [LearnerEffect]) throws {
        for e in list {
            switch e {
            case let .send(message, to: address):
                switch message {
                case .body(let b):
                    do { sent[address, default: []].append(try codec.encode(b)) } catch {
                        throw FuzzFinding("the learner produced a message it cannot encode: \(error)")
                    }
                case .frame(let f): sent[address, default: []].append(f.data)
                }
            case .startUpdate(let j):
                guard job == nil else { throw FuzzFinding("an update started while another was running") }
                guard j.groups.allSatisfy({ $0.count == fixture.config.groupSize }) else {
                    throw FuzzFinding("a group of the wrong size reached training: \(j.groups.map(\.count))")
                }
                guard j.groups.count == j.positions.count else { throw FuzzFinding("groups and positions differ in count") }
                job = j
            case .checkpoint: checkpoints += 1
            case .record: break
            case .log(_, let line): logs.append(line)
            }
        }
    }

    /// Tests of the audit only: records `position` as trained once more.
    func forgeTrained(_ position: Int) { trained.append(position) }

    /// Nothing trained twice; nothing lost: trained, running and outstanding positions are the schedule so far.
    public func audit() throws {
        let running = job?.positions ?? []
        let done = trained + running
        guard Set(done).count == done.count else { throw FuzzFinding("a position was trained twice: \(done)") }
        let outstanding = core.ledger.outstandingPositions
        guard Set(outstanding).count == outstanding.count else { throw FuzzFinding("a position is outstanding twice: \(outstanding)") }
        guard Set(outstanding).isDisjoint(with: done) else { throw FuzzFinding("a trained position is still outstanding") }
        let skipped = core.ledger.skippedPositions   // quarantined prompts: neither trained nor outstanding
        guard skipped.isDisjoint(with: done) && skipped.isDisjoint(with: outstanding) else { throw FuzzFinding("a quarantined position was trained or is outstanding") }
        let all = Set(done).union(outstanding).union(skipped)
        guard all == Set(0..<core.ledger.schedule.cursor) else {
            throw FuzzFinding("positions lost: schedule up to \(core.ledger.schedule.cursor), trained \(done.sorted()), outstanding \(outstanding)")
        }
    }
}
