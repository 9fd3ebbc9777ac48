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
    /// Requests parked per child: its fetch window, and as many again for re-asks.
    public static let maxWaitingPerPeer = 2 * ClusterRules.fetchWindow
    /// Children tracked per version (the per-child budgets below); requests from more are refused.
    public static let maxPeers = 4096
    /// Version held or being fetched; nil before the first.
    public private(set) var version: UInt64?
    /// WeightsChunk envelopes exactly as they arrived from upstream, by chunk index, each copied once into a frame
    /// that every send shares (before: a copy per request, and a peer that asked without reading grew the actor by
    /// ~200 MB/s).
    private var frames: [UInt64: EncodedFrame] = [:]
    /// Chunks of the current version (from its first chunk); 0 until one arrived.
    private var chunkCount: UInt64 = 0
    private var waiting: [(peer: PeerAddress, version: UInt64, index: UInt64)] = []
    /// Chunks served to each child for the current version: an honest child asks for each chunk once, and again
    /// only after a stall; beyond `budget` a peer is ignored until the next version.
    private var servedTo: [PeerAddress: Int] = [:]
    private var codec = WireCodec()
    private var lastKeepalive = -Double.infinity
    /// Chunks sent to children, for logs and metrics.
    public private(set) var served = 0
    /// Requests dropped because their child was over its budget (counted, not answered).
    public private(set) var ignored = 0

    public init() {}

    /// Chunks one child may be sent per version: every chunk twice (a first fetch and a re-ask) plus a window.
    var budget: Int {
        chunkCount == 0 ? Self.maxWaitingPerPeer : 2 * Int(min(chunkCount, 1 << 20)) + ClusterRules.fetchWindow
    }

    /// Starts relaying `version` (the actor began fetching it): older chunks go; requests parked for another
    /// version are refused so their senders move on.
    public mutating func begin(_ version: UInt64) -> [(EncodedFrame, PeerAddress)] {
        guard self.version != version else { return [] }
        self.version = version
        frames.removeAll(); servedTo.removeAll(); chunkCount = 0
        var out: [(EncodedFrame, PeerAddress)] = []
        let keep = waiting.filter { $0.version == version }
        for w in waiting where w.version != version { out.append(refusal(w.version, w.index, to: w.peer)) }
        waiting = keep
        return out
    }

    /// A chunk of the current version arrived (already checked against the notice by the assembler): keep it and
    /// serve whoever waits for it.
    public mutating func store(_ index: UInt64, frame: Data, version: UInt64, chunkCount: UInt64 = 0) -> [(
        EncodedFrame, PeerAddress
    )] {
        guard version == self.version else { return [] }
        let shared = EncodedFrame(frame)
        frames[index] = shared
        if chunkCount > 0 { self.chunkCount = chunkCount }
        var out: [(EncodedFrame, PeerAddress)] = []
        waiting.removeAll { w in
            guard w.version == version && w.index == index else { return false }
            out.append((shared, w.peer)); served += 1; servedTo[w.peer, default: 0] += 1
            return true
        }
        return out
    }

    /// The chunks were wrong (the blob failed its SHA-256): serve none of them again.
    public mutating func discard() -> [(EncodedFrame, PeerAddress)] {
        frames.removeAll(); servedTo.removeAll(); chunkCount = 0
        let out = waiting.map { refusal($0.version, $0.index, to: $0.peer) }
        waiting.removeAll()
        version = nil
        return out
    }

    /// A FetchWeights from a child: the chunk if held, parked if it is on its way (this version, or a newer one
    /// whose notice has not reached us yet), else refused with Error 4 so the child tries its next source. A child
    /// past its budget for this version gets nothing (a flood costs a counter, not a send).
    public mutating func request(_ frame: Data, from peer: PeerAddress) -> [(EncodedFrame, PeerAddress)] {
        guard let env = try? codec.decode(frame), case .fetchWeights(let f)? = env.body else {
            return [(EncodedFrame(encodeError(.malformed, "a relay answers FetchWeights only")), peer)]
        }
        let sent = servedTo[peer] ?? (servedTo.count < Self.maxPeers ? 0 : Int.max)
        guard sent < budget else { ignored += 1; return [] }
        if f.version == version, let chunk = frames[f.chunkIndex] {
            served += 1; servedTo[peer] = sent + 1
            return [(chunk, peer)]
        }
        if f.version >= (version ?? 0) && waiting.count < Self.maxWaiting
            && waiting.lazy.filter({ $0.peer == peer }).count < Self.maxWaitingPerPeer
            && !waiting.contains(where: { $0.peer == peer && $0.version == f.version && $0.index == f.chunkIndex })
        {
            waiting.append((peer, f.version, f.chunkIndex))
            return []
        }
        return [refusal(f.version, f.chunkIndex, to: peer)]
    }

    /// A heartbeat to each child still waiting, once per `every` seconds: we are alive, our own source is slow or
    /// being replaced, so they should not leave us yet.
    public mutating func keepalive(now: Double, every: Double) -> [(EncodedFrame, PeerAddress)] {
        guard !waiting.isEmpty, now - lastKeepalive >= every, let hb = try? codec.encode(.heartbeat(Wire.Heartbeat()))
        else { return [] }
        lastKeepalive = now
        let frame = EncodedFrame(hb)
        var seen = Set<PeerAddress>()
        return waiting.compactMap { seen.insert($0.peer).inserted ? (frame, $0.peer) : nil }
    }

    private mutating func refusal(_ version: UInt64, _ index: UInt64, to peer: PeerAddress) -> (
        EncodedFrame, PeerAddress
    ) {
        (
            EncodedFrame(
                encodeError(
                    .badRequest,
                    "relay does not serve chunk \(index) of v\(version)"
                        + (self.version.map { " (it holds v\($0))" } ?? ""), version: version)), peer
        )
    }

    private mutating func encodeError(_ code: Wire.ErrorCode, _ message: String, version: UInt64 = 0) -> Data {
        var e = Wire.Error(); e.code = code.rawValue; e.message = message; e.weightsVersion = version
        return (try? codec.encode(.error(e))) ?? Data()
    }
}
