// The actor's relay sockets: a ROUTER where children fetch the weights this actor holds (WeightRelay answers),
// and DEALERs to the relays this actor fetches from (VersionNotice.sources). Sockets only; ActorSession decides
// what to send where. A child trusts a relayed blob only through the SHA-256 the learner announced on its own
// link. With CURVE keys, the relay ROUTER is a CURVE server under the actor's own key that admits only the keys
// on its copy of the cluster's allow-list (so only the cluster's actors read the weights), and children dial it
// with their own keys and the relay's public key from the learner's notice.
import Foundation
import Transport

public final class RelayLinks {
    let context: ZMQContext
    let maxMessageBytes: Int
    let keys: ActorKeys?
    private var authenticator: ZAPAuthenticator?
    /// Our relay ROUTER, if this actor relays.
    private(set) var server: ZMQSocket?
    /// DEALERs to upstream relays by endpoint (a handful: the sources of the version being fetched).
    private var upstream: [String: ZMQSocket] = [:]

    public init(context: ZMQContext, maxMessageBytes: Int, keys: ActorKeys? = nil) {
        self.context = context; self.maxMessageBytes = maxMessageBytes; self.keys = keys
    }

    /// Binds the relay ROUTER and returns the endpoint to announce: `advertise` if given, else the bound address with
    /// a wildcard host replaced by this host's name (`tcp://*:0` binds an ephemeral port).
    public func bind(
        _ endpoint: String, advertise: String?,
        onRefusal: @escaping @Sendable (String, String, Int) -> Void = { _, _, _ in }
    ) throws -> String {
        let s = try ZMQSocket(context, .router)
        try configure(s)
        if let keys {
            // The authenticator must answer before the first handshake: start it before binding.
            authenticator = try ZAPAuthenticator(
                context: context, allowList: keys.directory.appendingPathComponent(ClusterSecurity.allowListName),
                onRefusal: onRefusal)
            try s.set(.curveServer(true))
            try s.set(.curveSecretKey(keys.keys.secretKey)); try s.set(.curvePublicKey(keys.keys.publicKey))
            try s.set(.zapDomain(ClusterSecurity.domain))
            try? s.set(.zapEnforceDomain(true))
        }
        // Chunks go out as shared frames, so a child that asks without reading costs no copy per request; but each
        // queued frame keeps its version's buffer alive, so a queue as deep as the learner's would hold one chunk per
        // version for as long as the child does not read. A queue a fetch window deep keeps that to a few buffers.
        try s.set(.sendHWM(ClusterRules.relaySendHighWaterMark));
        try s.set(.receiveHWM(ClusterRules.receiveHighWaterMark))
        try s.bind(endpoint)
        server = s
        if let advertise { return advertise }
        let bound = try s.lastEndpoint
        for wildcard in ["tcp://0.0.0.0:", "tcp://[::]:"] where bound.hasPrefix(wildcard) {
            return "tcp://\(ProcessControl.hostName):" + bound.dropFirst(wildcard.count)
        }
        return bound
    }

    private func configure(_ s: ZMQSocket) throws {
        try s.set(.linger(ms: 0))
        try s.set(.maxMessageSize(Int64(maxMessageBytes)))
        try s.set(.heartbeatInterval(ms: 0)) // see ClusterRules: no ZMTP heartbeats
        try s.set(
            .tcpKeepalive(
                idleSeconds: ClusterRules.keepaliveIdleSeconds, intervalSeconds: ClusterRules.keepaliveIntervalSeconds,
                count: ClusterRules.keepaliveCount))
    }

    public func sendUpstream(_ frame: Data, to endpoint: String, serverKey: String) throws {
        if upstream[endpoint] == nil {
            if upstream.count > RelayTree.maxSources { closeUpstream() } // sources of an older version
            let s = try ZMQSocket(context, .dealer)
            try configure(s)
            if let keys, !serverKey.isEmpty {
                try s.set(.curveServerKey(serverKey))
                try s.set(.curvePublicKey(keys.keys.publicKey)); try s.set(.curveSecretKey(keys.keys.secretKey))
            }
            try s.connect(endpoint)
            upstream[endpoint] = s
        }
        _ = try upstream[endpoint]!.send(frames: [frame], dontWait: true)
    }

    public func sendToChild(_ frame: EncodedFrame, _ peer: PeerAddress) {
        _ = try? server?.send(head: [peer], shared: frame, dontWait: true)
    }

    public var sockets: [ZMQSocket] { (server.map { [$0] } ?? []) + Array(upstream.values) }

    /// Children's requests taken per call: a flood of them must not keep the actor's loop from its own work.
    static let childRequestsPerDrain = 256

    /// Waiting frames: children's requests (with their address, at most `childRequestsPerDrain`) and upstream
    /// replies (with the endpoint).
    public func drain(child: (Data, PeerAddress) -> Void, upstreamFrame: (Data, String) -> Void) {
        var taken = 0
        while taken < Self.childRequestsPerDrain, let server, let frames = try? server.receive(timeoutMs: 0) {
            taken += 1
            if frames.count == 2 { child(frames[1], frames[0]) }
        }
        for (endpoint, s) in upstream {
            while let frames = try? s.receive(timeoutMs: 0) {
                if frames.count == 1 { upstreamFrame(frames[0], endpoint) }
            }
        }
    }

    func closeUpstream() {
        for s in upstream.values { s.close(lingerMs: 0) }
        upstream = [:]
    }

    public func close() {
        closeUpstream()
        server?.close(lingerMs: 0); server = nil
        authenticator?.stop(); authenticator = nil
    }
}
