// Trust: CURVE on the cluster sockets. The learner's ROUTER is a CURVE server whose ZAP authenticator
// admits only allow-listed actor keys and tags each connection with the key's name (LearnerCore then takes the
// actor id from it); actors are CURVE clients that know the learner's public key. A key directory holds:
//   learner host: learner.key_secret, learner.key, allowed_actors (`PUBLICKEY actor-name` lines)
//   actor host:   NAME.key_secret, NAME.key, learner.key
// Every option is set before bind/connect (libzmq applies security only to later connections).
import Foundation
import Logging
import TransformerLM
import Transport

/// Set by SIGHUP; the learner's loop re-reads the allow-list when it is non-zero.
nonisolated(unsafe) public var reloadSignal: Int32 = 0

public enum ClusterSecurity {
    public static let domain = "softrl"
    public static let learnerKeyName = "learner"
    public static let allowListName = "allowed_actors"

    /// Endpoints only this host can reach; anything else needs keys (or an explicit --insecure).
    public static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst("tcp://".count))
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let semi = host.firstIndex(of: ";") { host = String(host[host.index(after: semi)...]) } // "src;dst" form: the bind side
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Why a learner may not start this way, with what to type instead; nil when it may.
    public static func refusalToStart(bind: String, keys: String?, insecure: Bool) -> String? {
        if keys != nil || insecure || isLoopback(bind) { return nil }
        return """
            refusing to listen on \(bind) without authentication: any host that reaches this port could join as an actor \
            and feed the learner rollouts. Either
              1. make keys:  softrl keys generate --out keys --name learner
                             softrl keys generate --out keys --name actor-1 --allow keys/allowed_actors
                 and start:  softrl learner --bind \(bind) --keys keys ...
                 (actors: copy keys/learner.key and their own actor-N.key_secret/.key to a directory they get with --keys), or
              2. bind to loopback only (--bind tcp://127.0.0.1:5555), or
              3. accept an open, unencrypted cluster on a network you trust: add --insecure
            """
    }

    public static func installReloadHandler() {
        signal(SIGHUP) { s in reloadSignal = s }
    }
}

/// The learner side: its key pair and the running ZAP authenticator.
public final class LearnerSecurity {
    public let keys: CurveKeyPair
    public let authenticator: ZAPAuthenticator
    let log: Logger

    /// Starts the authenticator in `context`; call before creating and binding the ROUTER.
    public init(directory: URL, context: ZMQContext, log: Logger) throws {
        guard CurveKeyPair.isAvailable else {
            throw ConfigError(
                "--keys needs CURVE, but this libzmq was built without it: install libzmq with libsodium (`bash scripts/setup.sh`)"
            )
        }
        self.log = log
        keys = try CurveKeyPair.load(from: directory, name: ClusterSecurity.learnerKeyName)
        authenticator = try ZAPAuthenticator(
            context: context, allowList: directory.appendingPathComponent(ClusterSecurity.allowListName)
        ) { key, address, count in
            // Rate-limited: a refused actor retries with back-off, a scanner may retry fast.
            if count <= 10 || count % 100 == 0 {
                log.warning(
                    "refused CURVE key \(key) from \(address) (not in \(ClusterSecurity.allowListName)); \(count) refused so far"
                )
            }
        }
        log.info(
            "CURVE on: learner public key \(keys.publicKey); \(authenticator.allowedCount) actor key(s) allowed (SIGHUP re-reads \(authenticator.file.path))"
        )
    }

    /// Makes `socket` a CURVE server that asks the authenticator; before bind.
    public func configure(_ socket: ZMQSocket) throws {
        try socket.set(.curveServer(true))
        try socket.set(.curveSecretKey(keys.secretKey))
        try socket.set(.curvePublicKey(keys.publicKey))
        try socket.set(.zapDomain(ClusterSecurity.domain))
        // Fail closed even if the authenticator were gone; draft option, so EINVAL on libraries without it
        // (the authenticator is bound before the ROUTER exists, which closes the gap there too).
        try? socket.set(.zapEnforceDomain(true))
    }

    /// Called from the learner loop: re-reads the allow-list after SIGHUP.
    public func reloadIfRequested() {
        guard reloadSignal != 0 else { return }
        reloadSignal = 0
        do {
            let n = try authenticator.reload()
            log.info(
                "SIGHUP: allow-list re-read, \(n) actor key(s) allowed; removed keys are refused at their next connection"
            )
        } catch {
            log.error("SIGHUP: allow-list not reloaded, the previous one stays in force: \(error)")
        }
    }

    public func stop() { authenticator.stop() }
}

/// The actor side: its own pair and the learner's public key.
public struct ActorKeys: Sendable {
    public let name: String
    /// Where the keys came from (a relaying actor also reads the cluster's allow-list here).
    public let directory: URL
    public let keys: CurveKeyPair
    public let learnerPublicKey: String

    /// Loads NAME.key_secret (NAME: `name`, or the only non-learner secret key in `directory`) and learner.key.
    public init(directory: URL, name: String?) throws {
        guard CurveKeyPair.isAvailable else {
            throw ConfigError(
                "--keys needs CURVE, but this libzmq was built without it: install libzmq with libsodium (`bash scripts/setup.sh`)"
            )
        }
        let chosen: String
        if let name {
            chosen = name
        } else {
            let secrets = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
                .filter { $0.hasSuffix(".key_secret") && $0 != "\(ClusterSecurity.learnerKeyName).key_secret" }.sorted()
            guard secrets.count == 1 else {
                throw ConfigError(
                    secrets.isEmpty
                        ? "no actor key in \(directory.path): make one with `softrl keys generate --out \(directory.path) --name actor-1` and allow its public key on the learner"
                        : "\(directory.path) holds several actor keys (\(secrets.joined(separator: ", "))): choose one with --id NAME"
                )
            }
            chosen = String(secrets[0].dropLast(".key_secret".count))
        }
        self.name = chosen
        self.directory = directory
        keys = try CurveKeyPair.load(from: directory, name: chosen)
        learnerPublicKey = try CurveKeyPair.loadPublic(
            CurveKeyPair.publicFile(directory, ClusterSecurity.learnerKeyName))
    }

    /// Makes `socket` a CURVE client of the learner; before connect.
    public func configure(_ socket: ZMQSocket) throws {
        try socket.set(.curveServerKey(learnerPublicKey))
        try socket.set(.curvePublicKey(keys.publicKey))
        try socket.set(.curveSecretKey(keys.secretKey))
    }
}

/// Turns the actor socket's handshake failures into one clear message each (the link is otherwise silent).
public final class ActorLinkWatch {
    let monitor: ZMQMonitor
    let keys: ActorKeys
    var reported = Set<String>()

    /// Before connect.
    public init(_ socket: ZMQSocket, keys: ActorKeys) throws { monitor = try ZMQMonitor(socket); self.keys = keys }

    /// Messages for failures not reported yet on this socket.
    public func problems() -> [String] {
        var out: [String] = []
        for event in monitor.drain() {
            let message: String
            switch event {
            case let .authenticationFailed(status, endpoint):
                message =
                    "the learner at \(endpoint) refused this actor's key (ZAP \(status)): on the learner host add the line `\(keys.keys.publicKey) \(keys.name)` to \(ClusterSecurity.allowListName) and send the learner SIGHUP (systemctl reload softrl-learner); retrying"
            case let .handshakeFailed(endpoint):
                message =
                    "CURVE handshake with \(endpoint) failed: the learner runs without --keys, or learner.key here is not that learner's public key (copy it again); retrying"
            case .handshakeSucceeded:
                reported.removeAll(); continue
            case .accepted, .disconnected:
                continue
            }
            if reported.insert(message).inserted { out.append(message) }
        }
        return out
    }

    public func close() { monitor.close() }
}
