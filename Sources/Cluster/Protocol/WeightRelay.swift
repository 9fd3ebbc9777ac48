// An actor's relay: serves the weights version it holds or is fetching to the actors the learner points at it
// (VersionNotice.sources), with the learner's own FetchWeights / WeightsChunk messages. Chunk frames are forwarded
// byte for byte as they arrive (cut-through): a chunk is served before the whole blob is verified, so a tree of
// depth d costs d chunk times, not d blob times. Safety does not rest on the relay: every receiver checks the
// SHA-256 the learner announced, so a broken or hostile relay can delay a child (it fails over) but never give it
// a wrong model. Pure: ActorSession owns one; the shell carries its frames on the actor's relay ROUTER.
import Foundation
import Transport

public struct WeightRelay {
    /// Requests parked until their chunk arrives, from all children together (a bound on what peers can make us keep).
    public static let maxWaiting = 4096
    /// Version held or being fetched; nil before the first.
    public private(set) var version: UInt64?
    /// WeightsChunk envelopes exactly as they arrived from upstream, by chunk index.
    private var frames: [UInt64: Data] = [:]
    private var waiting: [(peer: PeerAddress, version: UInt64, index: UInt64)] = []
    private var codec = WireCodec()
    private var lastKeepalive = -Double.infinity
    /// Chunks sent to children, for logs and metrics.
    public private(set) var served = 0

    public init() {}

    /// Starts relaying `version` (the actor began fetching it): older chunks go; requests parked for another
    /// version are refused so their senders move on.
    public mutating func begin(_ version: UInt64) -> [(Data, PeerAddress)] {
        guard self.version != version else { return [] }
        self.version = version
        frames.removeAll()
        var out: [(Data, PeerAddress)] = []
        let keep = waiting.filter { $0.version == version }
        for w in waiting where w.version != version { out.append(refusal(w.version, w.index, to: w.peer)) }
        waiting = keep
        return out
    }

    /// A chunk of the current version arrived (already checked against the notice by the assembler): keep it and
    /// serve whoever waits for it.
    public mutating func store(_ index: UInt64, frame: Data, version: UInt64) -> [(Data, PeerAddress)] {
        guard version == self.version else { return [] }
        frames[index] = frame
        var out: [(Data, PeerAddress)] = []
        waiting.removeAll { w in
            guard w.version == version && w.index == index else { return false }
            out.append((frame, w.peer)); served += 1
            return true
        }
        return out
    }

    /// The chunks were wrong (the blob failed its SHA-256): serve none of them again.
    public mutating func discard() -> [(Data, PeerAddress)] {
        frames.removeAll()
        let out = waiting.map { refusal($0.version, $0.index, to: $0.peer) }
        waiting.removeAll()
        version = nil
        return out
    }

    /// A FetchWeights from a child: the chunk if held, parked if it is on its way (this version, or a newer one
    /// whose notice has not reached us yet), else refused with Error 4 so the child tries its next source.
    public mutating func request(_ frame: Data, from peer: PeerAddress) -> [(Data, PeerAddress)] {
        guard let env = try? codec.decode(frame), case .fetchWeights(let f)? = env.body else {
            return [(encodeError(.malformed, "a relay answers FetchWeights only"), peer)]
        }
        if f.version == version, let chunk = frames[f.chunkIndex] { served += 1; return [(chunk, peer)] }
        if f.version >= (version ?? 0) && waiting.count < Self.maxWaiting
            && !waiting.contains(where: { $0.peer == peer && $0.version == f.version && $0.index == f.chunkIndex }) {
            waiting.append((peer, f.version, f.chunkIndex))
            return []
        }
        return [refusal(f.version, f.chunkIndex, to: peer)]
    }

    /// A heartbeat to each child still waiting, once per `every` seconds: we are alive, our own source is slow or
    /// being replaced, so they should not leave us yet.
    public mutating func keepalive(now: Double, every: Double) -> [(Data, PeerAddress)] {
        guard !waiting.isEmpty, now - lastKeepalive >= every, let hb = try? codec.encode(.heartbeat(Wire.Heartbeat())) else { return [] }
        lastKeepalive = now
        var seen = Set<PeerAddress>()
        return waiting.compactMap { seen.insert($0.peer).inserted ? (hb, $0.peer) : nil }
    }

    private mutating func refusal(_ version: UInt64, _ index: UInt64, to peer: PeerAddress) -> (Data, PeerAddress) {
        (encodeError(.badRequest, "relay does not serve chunk \(index) of v\(version)" + (self.version.map { " (it holds v\($0))" } ?? ""), version: version), peer)
    }

    private mutating func encodeError(_ code: Wire.ErrorCode, _ message: String, version: UInt64 = 0) -> Data {
        var e = Wire.Error(); e.code = code.rawValue; e.message = message; e.weightsVersion = version
        return (try? codec.encode(.error(e))) ?? Data()
    }
}
