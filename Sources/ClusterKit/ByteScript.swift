// Byte scripts for the protocol cores: a byte string read as a script of events, so that libFuzzer's byte
// mutations explore sequences (Hello, then work, then a result...) and not only single frames; and the feeder
// that plays a script in the in-memory cluster, against its learner or as the learner of one actor.
//
//   op < 0xE0  a frame: from peer (op & 3) (the learner target; the actor has one learner), after
//              ((op >> 2) & 7) * 0.5 s; then a 2-byte little-endian length L and L bytes (cut at the end of input)
//   0xE0-0xEF  the update thread finishes the running update (learner target; odd op: no weights snapshot)
//   0xF0-0xFF  a tick after (op & 0xF) s
//
// The same format is written by `FuzzScript` when seeds are made, so every seed is a real, valid session.
import Foundation

public enum FuzzEvent: Equatable {
    case frame(peer: Int, delay: Double, bytes: Data)
    case updateFinished(withSnapshot: Bool)
    case tick(delay: Double)
}

public enum FuzzInput {
    public static func events(_ data: Data) -> [FuzzEvent] {
        let b = [UInt8](data)
        var i = 0
        var out: [FuzzEvent] = []
        while i < b.count {
            let op = b[i]; i += 1
            switch op {
            case 0xF0...0xFF: out.append(.tick(delay: Double(op & 0xF)))
            case 0xE0...0xEF: out.append(.updateFinished(withSnapshot: op & 1 == 0))
            default:
                var n = 0
                if i < b.count { n = Int(b[i]); i += 1 }
                if i < b.count { n |= Int(b[i]) << 8; i += 1 }
                let end = min(b.count, i + n)
                out.append(.frame(peer: Int(op & 3), delay: Double((op >> 2) & 7) * 0.5, bytes: Data(b[i..<end])))
                i = end
            }
        }
        return out
    }
}

/// Writes event scripts (seeds and regression inputs).
public struct FuzzScript {
    public private(set) var data = Data()
    public init() {}
    public mutating func frame(_ bytes: Data, peer: Int = 0, delaySteps: Int = 0) {
        precondition(peer >= 0 && peer < 4 && delaySteps >= 0 && delaySteps < 8 && bytes.count <= 0xFFFF)
        data.append(UInt8(peer | delaySteps << 2))
        data.append(UInt8(bytes.count & 0xFF)); data.append(UInt8(bytes.count >> 8))
        data.append(bytes)
    }
    public mutating func tick(seconds: Int) {
        precondition(seconds >= 0 && seconds < 16); data.append(0xF0 | UInt8(seconds))
    }
    public mutating func updateFinished(snapshot: Bool = true) { data.append(snapshot ? 0xE0 : 0xE1) }
}

/// The byte-script feeder: a script's events played against the cluster, as the fuzz targets do.
extension InMemoryCluster {
    /// The learner's peers in a learner script: frames come from these four addresses (no member owns them, so
    /// what the learner answers them is in `strayFrames`).
    public static let scriptPeers: [Data] = (0..<4).map { Data("peer-\($0)".utf8) }

    /// One event against the learner: a frame from a script peer, a tick, or the running update finishing.
    public func playLearnerEvent(_ event: FuzzEvent) {
        switch event {
        case let .frame(peer, delay, bytes):
            advance(by: delay)
            inject(bytes, from: Self.scriptPeers[peer])
        case .tick(let delay):
            advance(by: delay)
            tickLearner()
        case .updateFinished(let withSnapshot): finishUpdate(withSnapshot: withSnapshot)
        }
        deliverDue()
    }

    /// One event from the learner `m` has, which the script plays: a frame, or time passing (an update finishing
    /// is only a tick to an actor).
    public func playActorEvent(_ event: FuzzEvent, to m: Member) {
        switch event {
        case let .frame(_, delay, bytes):
            advance(by: delay)
            deliver(bytes, to: m)
        case .tick(let delay):
            advance(by: delay)
            tick(m)
        case .updateFinished: tick(m)
        }
        deliverDue()
    }
}
