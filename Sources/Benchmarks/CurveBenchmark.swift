// `softrl bench curve`: what CURVE costs on the links. The same DEALER -> ROUTER stream over tcp loopback, without
// and with CURVE (+ the ZAP authenticator), in one run: MB/s of big messages (weight chunks are 4 MiB) and
// messages/s of rollout-sized ones. Sender and receiver use separate contexts (each its own I/O thread, as two
// processes would); the receiver copies each message out, as the learner does. Lines go to `output`.
import Foundation
import TransformerLM
import Transport

public struct CurveBenchmark {
    /// Big message size (weight chunks are 4 MiB) and count per measurement.
    public var bigBytes = 4 << 20, bigCount = 100
    /// Small (rollout-sized) message size and count per measurement.
    public var smallBytes = 16_384, smallCount = 20_000
    /// Repetitions; the best is reported.
    public var repeats = 3
    public var output: (String) -> Void = { print($0) }

    public init() {}

    public func run() throws {
        guard CurveKeyPair.isAvailable else {
            throw ConfigError(
                "this libzmq has no CURVE support: install one built with libsodium (`bash scripts/setup.sh`)")
        }
        let cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
            ?? "?"
        #if DEBUG
            let build = "debug build"
        #else
            let build = "release build"
        #endif
        output(
            "softrl bench curve | CPU \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores | \(build) | tcp loopback, best of \(repeats)"
        )
        let probe = try ZMQSocket(try ZMQContext(), .router)
        let enforce = (try? probe.set(.zapEnforceDomain(true))) != nil
        probe.close(lingerMs: 0)
        output(
            "   ZAP_ENFORCE_DOMAIN (fail closed without a ZAP handler): \(enforce ? "supported" : "not in this libzmq (draft API); the authenticator starts before the ROUTER instead")"
        )
        output("   message            plain                  CURVE                  CURVE / plain")
        for (size, count) in [(bigBytes, bigCount), (smallBytes, smallCount)] {
            var best: [Bool: Double] = [:]
            for _ in 0..<max(1, repeats) {
                for curve in [false, true] {
                    best[curve] = max(
                        best[curve] ?? 0, try Self.messagesPerSecond(size: size, count: count, curve: curve))
                }
            }
            let p = best[false]!, c = best[true]!
            let label = size >= 1 << 20 ? "\(size >> 20) MiB" : size >= 1024 ? "\(size >> 10) KiB" : "\(size) B"
            output(
                String(
                    format: "   %-8@ %9.0f msg/s %7.0f MB/s  %9.0f msg/s %7.0f MB/s  %6.2f", label as NSString,
                    p, p * Double(size) / 1e6, c, c * Double(size) / 1e6, c / p))
        }
    }

    /// Messages per second from one DEALER to one ROUTER.
    static func messagesPerSecond(size: Int, count: Int, curve: Bool) throws -> Double {
        let serverContext = try ZMQContext(), clientContext = try ZMQContext()
        defer { serverContext.shutdown(); clientContext.shutdown() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "softrl-bench-curve-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let serverKeys = try CurveKeyPair.generate(), clientKeys = try CurveKeyPair.generate()
        var auth: ZAPAuthenticator?
        let router = try ZMQSocket(serverContext, .router)
        if curve {
            let allow = dir.appendingPathComponent("allowed_actors")
            try "\(clientKeys.publicKey) bench\n".write(to: allow, atomically: true, encoding: .utf8)
            auth = try ZAPAuthenticator(context: serverContext, allowList: allow)
            try router.set(.curveServer(true)); try router.set(.curveSecretKey(serverKeys.secretKey));
            try router.set(.zapDomain("bench"))
        }
        defer { auth?.stop() }
        try router.set(.receiveHWM(1000))
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint
        let dealer = try ZMQSocket(clientContext, .dealer)
        if curve {
            try dealer.set(.curveServerKey(serverKeys.publicKey));
            try dealer.set(.curvePublicKey(clientKeys.publicKey)); try dealer.set(.curveSecretKey(clientKeys.secretKey))
        }
        try dealer.set(.sendHWM(1000))
        try dealer.connect(endpoint)
        // Handshake and warm-up outside the clock.
        try dealer.send(Data("warm-up".utf8))
        guard let first = try router.receiveAuthenticated(timeoutMs: 10_000) else {
            throw ConfigError("no handshake within 10 s (curve: \(curve))")
        }
        if curve && first.userId != "bench" { throw ConfigError("CURVE connection without the ZAP user id") }
        let payload = Data(repeating: 0x5A, count: size)
        let sender = Thread { for _ in 0..<count { _ = try? dealer.send(payload) } }
        let start = DispatchTime.now().uptimeNanoseconds
        sender.start()
        var bytes = 0
        for _ in 0..<count {
            guard let frames = try router.receive(timeoutMs: 60_000) else { throw ConfigError("receiver timed out") }
            bytes += frames[1].count
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        precondition(bytes == size * count)
        dealer.close(lingerMs: 0); router.close(lingerMs: 0)
        return Double(count) / seconds
    }
}
