// The actor's protocol core (ActorSession.receive / tick) driven by a fuzz script: every frame comes from "the
// learner", which here is hostile. Effects are carried out as ActorService does, minus the model math:
// prepareModel sizes the model's parameters (what the service allocates), installWeights checks the blob's
// SHA-256, generate finishes at once with no groups. Audited: a generation order holds only items the session
// accepted as possible, and every message the actor sends encodes.
import Cluster
import Foundation
import SoftTokens
import TransformerLM
import Transport

public final class ActorFuzzRun {
    public let session: ActorSession
    public var now = 1000.0
    public private(set) var sentBodies: [Wire.Body] = []
    public private(set) var logs: [String] = []
    public private(set) var modelsPrepared = 0, installs = 0, orders = 0, reconnects = 0
    var codec = WireCodec(maxMessageBytes: Int.max)

    public init(slots: Int = 4) {
        session = ActorSession(identity: ActorIdentity(actorId: "fuzz-actor", host: "fuzz", pid: 1, cores: 1, slots: slots, softwareVersion: "fuzz"))
    }

    public func run(_ data: Data) throws {
        try effects(session.connected(now: now))
        for event in FuzzInput.events(data) {
            switch event {
            case let .frame(_, delay, bytes):
                now += delay
                try effects(session.receive(bytes, now: now))
            case .tick(let delay):
                now += delay
                try effects(session.tick(now: now))
            case .updateFinished: try effects(session.tick(now: now))
            }
        }
    }

    func effects(_ list: [ActorEffect]) throws {
        for e in list {
            switch e {
            case .send(let body):
                do { _ = try codec.encode(body) } catch { throw FuzzFinding("the actor produced a message it cannot encode: \(error)") }
                sentBodies.append(body)
            case .prepareModel(let config):
                // ActorService allocates this many floats next: it must be a model this process can hold.
                modelsPrepared += 1
                let count = ParameterLayout(config).totalCount
                guard count > 0, count <= ClusterRules.maxModelParameters else {
                    throw FuzzFinding("the actor was asked to allocate a model of \(count) parameters")
                }
            case let .installWeights(version, assembler):
                installs += 1
                do { _ = try assembler.assemble(); try effects(session.weightsInstalled(version: version)) } catch let f as FuzzFinding {
                    throw f
                } catch { try effects(session.weightsRejected(version: version, error)) }
            case .generate(let order):
                orders += 1
                for item in order.items where item.groupSize < 1 || item.groupSize > UInt32(ActorSession.maxGroupSize) || item.promptTokenIds.isEmpty {
                    throw FuzzFinding("an impossible work item reached generation: \(item.workID)")
                }
                // The generator stops on a precondition when a rollout cannot fit the model's positions.
                let positions = session.modelConfig?.maxPositionEmbeddings ?? 0
                for item in order.items where item.promptTokenIds.count + order.sampler.maxThinkingSteps + 1 + order.sampler.maxAnswerTokens > positions {
                    throw FuzzFinding("work whose rollouts cannot fit \(positions) positions reached generation: \(item.workID)")
                }
                try effects(session.generated([], stats: GenerationStats(), order: order))
            case .reconnect:
                reconnects += 1
                try effects(session.connected(now: now))
            case let .sendUpstream(body, _, _):
                do { _ = try codec.encode(body) } catch { throw FuzzFinding("the actor produced a relay request it cannot encode: \(error)") }
            case let .relay(frame, _):
                // What a relay forwards must be a frame its children can decode (a chunk as received, or an error).
                guard (try? WireCodec().decode(frame.data)) != nil else { throw FuzzFinding("the actor's relay sent an undecodable frame") }
            case .finished: break
            case .log(_, let line): logs.append(line)
            }
        }
    }
}
