// The learner spread over several processes (ranks, e.g. `mpirun -np N softrl learner ...`): rank 0 is the
// whole learner (LearnerCore, sockets, weights served, checkpoints) and hands every update's groups to the other
// ranks; they build the same PolicyLearner from what rank 0 sends at start (model config, run config, weights,
// AdamW state: no shared filesystem needed) and call the same `update(groups:)`, whose reducer sums their
// gradients, so every rank applies the same AdamW step. This file is only that relay; the protocol core never
// learns how many ranks there are, and the group's transport (MPI) is behind LearnerRankGroup.
//
// Rank 0's messages, in the order every rank sees them (one broadcast each, a kind byte then JSON):
//   start  (once): RankStart, then three float broadcasts: weights, AdamW m, AdamW v
//   update (per update): the step it makes and its groups, rewards already scored
//   stop   (once): the others return
import Foundation
import Logging
import PolicyGradient
import Run
import SoftTokens
import TensorMath
import TransformerLM

/// What ranks need from their group besides the gradient sum; MPIReduction's MPIProcessGroup is one.
public protocol LearnerRankGroup: GradientReducer {
    /// Rank 0 passes its bytes, the others nil; every rank returns rank 0's bytes.
    func broadcast(_ bytes: Data?) throws -> Data
    /// Rank 0's floats into `buffer` on every rank.
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Prints `message` and ends every rank: for a group that can no longer agree on an update.
    func abort(_ message: String) -> Never
    /// The host this rank runs on (for logs).
    var hostName: String { get }
}

/// Everything a rank > 0 needs to build the same learner as rank 0, besides the three float buffers.
struct RankStart: Codable {
    var runId: String
    var modelConfig: LlamaConfig
    var config: RLConfig
    var endOfThinking: [Int32]
    var wireWeights: WeightsWireFormat
    var optimizerStep: Int
}

struct RankUpdate: Codable {
    /// The step this update makes (optimizer step + 1 on every rank): a rank that disagrees stops the group.
    var step: Int
    var groups: [[Rollout]]
}

enum RankMessageKind: UInt8 { case start = 1, update = 2, stop = 3 }

enum RankMessage {
    // Behaviour log-probs can be -inf (an action the learner finds impossible): JSON has no such number.
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
    static func encode<T: Encodable>(_ kind: RankMessageKind, _ value: T?) throws -> Data {
        var data = Data([kind.rawValue])
        if let value { data.append(try encoder().encode(value)) }
        return data
    }
    static func kind(of data: Data) throws -> RankMessageKind {
        guard let first = data.first, let kind = RankMessageKind(rawValue: first) else {
            throw ConfigError(
                "rank message of \(data.count) bytes has no known kind (first byte \(data.first.map(String.init) ?? "none")): ranks run different softrl builds?"
            )
        }
        return kind
    }
    static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        try decoder().decode(type, from: data.dropFirst())
    }
}

/// Rank 0's side: sends the start state, each update's groups and the final stop.
public final class LearnerRankLeader {
    public let group: LearnerRankGroup
    let log: Logger

    public init(group: LearnerRankGroup, log: Logger) {
        precondition(group.rank == 0, "only rank 0 leads")
        self.group = group; self.log = log
    }

    /// Sends what the other ranks build their learner from: call once, after a resume has restored the optimizer.
    public func shareStart(
        runId: String, model: LlamaModel, learner: PolicyLearner, endOfThinking: [Int32], wireWeights: WeightsWireFormat
    ) throws {
        // Rank 0's micro-batch size, not each host's own choice (it depends on the host's memory): the ranks split
        // every update by micro-batch index, so they must cut the same micro-batches.
        var config = learner.config
        config.microBatch = learner.microBatch
        let start = RankStart(
            runId: runId, modelConfig: model.config, config: config, endOfThinking: endOfThinking,
            wireWeights: wireWeights, optimizerStep: learner.optimizer.step)
        _ = try group.broadcast(RankMessage.encode(.start, start))
        try group.broadcast(model.weights.buffer)
        try learner.optimizer.m.withUnsafeMutableBufferPointer { try group.broadcast($0) }
        try learner.optimizer.v.withUnsafeMutableBufferPointer { try group.broadcast($0) }
        log.info(
            "learner ranks: \(group.size) (rank 0 on \(group.hostName) leads); every update's groups go to all of them, each differentiates its share"
        )
    }

    /// Hands the update about to start to every rank; call on the thread that then runs `update(groups:)`.
    public func shareUpdate(_ groups: [[Rollout]], step: Int) throws {
        _ = try group.broadcast(RankMessage.encode(.update, RankUpdate(step: step, groups: groups)))
    }

    /// Releases the other ranks (their loop returns); call once, after the last update.
    public func shareStop() throws {
        _ = try group.broadcast(RankMessage.encode(.stop, Optional<RankStart>.none))
    }
}

/// A rank > 0: builds the learner from rank 0's start message, then makes every update rank 0 sends until stop.
public enum LearnerRankFollower {
    public static func run(
        group: LearnerRankGroup, makeLearner: (LlamaModel, RLConfig, [Int32], GradientReducer) -> PolicyLearner
    ) throws {
        let log = Logger(label: "softrl.learner.rank\(group.rank)")
        let first = try group.broadcast(nil)
        guard try RankMessage.kind(of: first) == .start else {
            group.abort("rank \(group.rank) expected the start message first")
        }
        let start = try RankMessage.decode(RankStart.self, first)
        let weights = FloatBuffer(count: ParameterLayout(start.modelConfig).totalCount)
        try group.broadcast(weights.buffer)
        let model = try LlamaModel(config: start.modelConfig, weights: weights)
        // Built after the weights arrived: a KL reference copies the starting policy, as on rank 0.
        let learner = makeLearner(model, start.config, start.endOfThinking, group)
        try learner.optimizer.m.withUnsafeMutableBufferPointer { try group.broadcast($0) }
        try learner.optimizer.v.withUnsafeMutableBufferPointer { try group.broadcast($0) }
        learner.optimizer.step = start.optimizerStep
        if start.wireWeights != .f32 { learner.actorWeights = start.wireWeights.rounded }
        log.info(
            "rank \(group.rank) of \(group.size) on \(group.hostName) (pid \(getpid())): run \(start.runId) at step \(start.optimizerStep), \(model.parameterCount) parameters"
        )
        while true {
            let message = try group.broadcast(nil)
            switch try RankMessage.kind(of: message) {
            case .stop:
                log.info("rank \(group.rank): stopped by rank 0 at step \(learner.version)")
                return
            case .start:
                group.abort("rank \(group.rank) got a second start message")
            case .update:
                let update = try RankMessage.decode(RankUpdate.self, message)
                guard update.step == learner.version + 1 else {
                    group.abort(
                        "rank \(group.rank) is at step \(learner.version) but rank 0 sent step \(update.step): the ranks' weights differ; resume from the last checkpoint"
                    )
                }
                let report: UpdateReport
                do { report = try learner.update(groups: update.groups) } catch {
                    group.abort("update \(update.step) failed: \(error); the last checkpoint is intact, stopping")
                }
                log.debug("rank \(group.rank): step \(report.step) loss \(report.loss)")
            }
        }
    }
}
