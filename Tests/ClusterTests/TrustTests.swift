// Trust end to end, with real learner/actor processes and raw CURVE peers on real tcp sockets: an allowed
// actor trains; unknown keys and plaintext peers get nothing; a valid key cannot act as another actor; removing a
// key + SIGHUP refuses it at its next connection; a reachable bind without keys refuses to start unless --insecure.
import XCTest
import Foundation
import Transport

/// A raw DEALER that is a CURVE client (options set before connect), speaking the wire protocol by hand.
final class CurvePeer {
    let socket: ZMQSocket
    var codec = WireCodec()
    init(_ context: ZMQContext, keys: CurveKeyPair?, learnerKey: String?, endpoint: String) throws {
        socket = try ZMQSocket(context, .dealer)
        try socket.set(.linger(ms: 0))
        if let keys, let learnerKey {
            try socket.set(.curveServerKey(learnerKey)); try socket.set(.curvePublicKey(keys.publicKey));
            try socket.set(.curveSecretKey(keys.secretKey))
        }
        try socket.connect(endpoint)
    }
    func send(_ body: Wire.Body) throws { try socket.send(try codec.encode(body)) }
    func hello(_ id: String) throws {
        var h = Wire.Hello(); h.actorID = id; h.host = "trust-test"; h.slots = 1
        try send(.hello(h))
    }
    /// Skips other messages until one matches `want` (nil after `timeout` s, a hang guard); heartbeats meanwhile.
    func await_(_ timeout: Double, _ want: (Envelope) -> Bool) throws -> Envelope? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let frames = try socket.receive(timeoutMs: 100), frames.count == 1,
                let e = try? WireCodec().decode(frames[0]), want(e)
            {
                return e
            }
            try send(.heartbeat(Wire.Heartbeat()))
        }
        return nil
    }
    func welcome(_ timeout: Double = 20) throws -> Bool {
        try await_(timeout) {
            if case .welcome = $0.body { return true }; return false
        } != nil
    }
    func error(code: UInt32, _ timeout: Double = 20) throws -> Wire.Error? {
        guard
            case .error(let e)? = try await_(
                timeout,
                {
                    if case .error(let e) = $0.body { return e.code == code }; return false
                })?.body
        else { return nil }
        return e
    }
}

final class TrustTests: XCTestCase {
    override func setUpWithError() throws {
        guard CurveKeyPair.isAvailable else {
            throw XCTSkip(
                "libzmq has no CURVE (zmq_has(\"curve\") == 0): install libzmq built with libsodium (`bash scripts/setup.sh`)"
            )
        }
    }

    struct Keys { let learnerDir: URL; let actorDir: URL; let learnerKey: String; let allowList: URL }

    /// Keys made with the real `softrl keys generate`: the learner's pair and allowed actor keys `names`.
    func makeKeys(_ h: ClusterHarness, actors names: [String]) throws -> Keys {
        let ld = h.dir.appendingPathComponent("keys-learner"), ad = h.dir.appendingPathComponent("keys-actors")
        func run(_ args: [String], _ log: String) throws {
            let p = try h.spawn(["keys", "generate"] + args, log: log)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, h.log(log))
        }
        try run(["--out", ld.path], "keys-learner")
        for n in names {
            try run(
                ["--out", ad.path, "--name", n, "--allow", ld.appendingPathComponent("allowed_actors").path],
                "keys-\(n)")
        }
        try FileManager.default.copyItem(
            at: ld.appendingPathComponent("learner.key"), to: ad.appendingPathComponent("learner.key"))
        return Keys(
            learnerDir: ld, actorDir: ad, learnerKey: try CurveKeyPair.load(from: ld, name: "learner").publicKey,
            allowList: ld.appendingPathComponent("allowed_actors"))
    }

    /// A raw CURVE peer holding the allowed key pair `name`, connected to the keyed learner at `endpoint`.
    func allowedPeer(_ context: ZMQContext, _ keys: Keys, _ name: String, endpoint: String) throws -> CurvePeer {
        try CurvePeer(
            context, keys: try CurveKeyPair.load(from: keys.actorDir, name: name), learnerKey: keys.learnerKey,
            endpoint: endpoint)
    }

    /// A harness, keys for `actors` and a learner started with them, with the endpoint it bound.
    func keyedLearner(actors: [String], steps: Int = 50) throws -> (ClusterHarness, Keys, Process, String) {
        let h = try ClusterHarness(testCase: self)
        let keys = try makeKeys(h, actors: actors)
        let base = try h.makeBase()
        let learner = try h.startLearner(["--base", base, "--steps", "\(steps)", "--keys", keys.learnerDir.path])
        return (h, keys, learner, try h.endpoint())
    }

    func testAnAllowedActorTrainsOverCurve() throws {
        let (h, keys, learner, ep) = try keyedLearner(actors: ["actor-1"], steps: 2)
        // No --id: the actor takes its id from its key's name.
        try h.spawn(
            ["actor", "--connect", ep, "--keys", keys.actorDir.path, "--slots", "1", "--threads", "1"], log: "actor-1")
        XCTAssertTrue(
            h.waitForExit(learner, timeout: 300),
            "training did not finish; learner log:\n\(h.log("learner"))\nactor log:\n\(h.log("actor-1"))")
        XCTAssertEqual(h.status(learner), 0, h.log("learner"))
        XCTAssertEqual(h.lastStep(), 2)
        XCTAssertTrue(h.log("learner").contains("actor actor-1 joined"), h.log("learner"))
        XCTAssertTrue(h.log("learner").contains("CURVE on"), h.log("learner"))
    }

    /// Relays on a CURVE cluster: a1 fetches from a0's relay over CURVE; a stranger's key and a plaintext peer get
    /// nothing from the relay, and the relay logs the refused key.
    func testRelaysOverCurveServeOnlyAllowListedKeys() throws {
        let h = try ClusterHarness(testCase: self)
        let keys = try makeKeys(h, actors: ["a0", "a1"])
        try FileManager.default.copyItem(at: keys.allowList, to: keys.actorDir.appendingPathComponent("allowed_actors"))
        let base = try h.makeBase()
        let learner = try h.startLearner([
            "--base", base, "--steps", "1000", "--keys", keys.learnerDir.path, "--relay-fanout", "1"
        ])
        let ep = try h.endpoint()
        for id in ["a0", "a1"] {
            try h.spawn(
                [
                    "actor", "--connect", ep, "--keys", keys.actorDir.path, "--id", id, "--threads", "1",
                    "--relay-bind", "tcp://127.0.0.1:*"
                ], log: id)
            XCTAssertTrue(h.waitUntil(60) { h.log("learner").contains("actor \(id) joined") }, h.log(id))
        }
        XCTAssertTrue(
            h.waitUntil(120) { h.log("a1").contains("via relays") },
            "a1 never loaded weights from a0's relay:\n\(h.log("a1"))\n\(h.log("a0"))")
        XCTAssertTrue(h.log("a0").contains("(CURVE, allow-listed keys only)"), h.log("a0"))
        let relay = try XCTUnwrap(
            h.log("a0").components(separatedBy: "serving weights to other actors at ").dropFirst().first?.split(
                separator: " "
            ).first.map(String.init))
        let a0Key = try CurveKeyPair.loadPublic(CurveKeyPair.publicFile(keys.actorDir, "a0"))
        let context = try ZMQContext()
        defer { context.shutdown() }
        var fetch = Wire.FetchWeights(); fetch.version = 0; fetch.chunkIndex = 0
        let stranger = try CurvePeer(context, keys: try CurveKeyPair.generate(), learnerKey: a0Key, endpoint: relay)
        let plaintext = try CurvePeer(context, keys: nil, learnerKey: nil, endpoint: relay)
        for peer in [stranger, plaintext] {
            // Never block: once the relay refuses the handshake the DEALER has no pipe, and a blocking send would wait for ever.
            _ = try? peer.socket.send(frames: [try peer.codec.encode(.fetchWeights(fetch))], dontWait: true)
            XCTAssertNil(try peer.socket.receive(timeoutMs: 3000), "the relay answered a peer outside the allow-list")
        }
        XCTAssertTrue(h.waitUntil(10) { h.log("a0").contains("relay refused CURVE key") }, h.log("a0"))
        h.stopLearner(learner)
    }

    func testAnUnknownKeyGetsNothingAndIsLoggedWithItsAddress() throws {
        let (h, keys, learner, ep) = try keyedLearner(actors: ["actor-1"])
        let context = try ZMQContext()
        defer { context.shutdown() }
        let stranger = try CurveKeyPair.generate()
        let peer = try CurvePeer(context, keys: stranger, learnerKey: keys.learnerKey, endpoint: ep)
        try peer.hello("intruder")
        XCTAssertTrue(
            h.waitUntil(30) { h.log("learner").contains("refused CURVE key \(stranger.publicKey) from 127.0.0.1") },
            "the refusal was not logged; log:\n\(h.log("learner"))")
        XCTAssertNil(try peer.socket.receive(timeoutMs: 0), "a refused key received something")
        XCTAssertFalse(h.log("learner").contains("intruder"), "the refused peer's Hello reached the protocol")
        // The learner still serves its allowed actor.
        let allowed = try allowedPeer(context, keys, "actor-1", endpoint: ep)
        try allowed.hello("actor-1")
        XCTAssertTrue(try allowed.welcome(), h.log("learner"))
        XCTAssertNil(try peer.socket.receive(timeoutMs: 0), "a refused key received something")
        XCTAssertTrue(learner.isRunning)
    }

    func testAnActorWhoseKeyIsNotAllowedSaysWhatToAdd() throws {
        let (h, keys, learner, ep) = try keyedLearner(actors: ["actor-1"])
        // A second key pair in its own directory, never allowed on the learner.
        let dir = h.dir.appendingPathComponent("keys-stranger")
        let stranger = try CurveKeyPair.generate()
        try stranger.save(to: dir, name: "stranger")
        try FileManager.default.copyItem(
            at: keys.actorDir.appendingPathComponent("learner.key"), to: dir.appendingPathComponent("learner.key"))
        try h.spawn(["actor", "--connect", ep, "--keys", dir.path, "--threads", "1"], log: "stranger")
        XCTAssertTrue(
            h.waitUntil(60) {
                h.log("stranger").contains("refused this actor's key")
                    && h.log("stranger").contains("\(stranger.publicKey) stranger")
            },
            "the actor did not say its key was refused; log:\n\(h.log("stranger"))")
        XCTAssertTrue(h.log("learner").contains("refused CURVE key \(stranger.publicKey)"), h.log("learner"))
        XCTAssertFalse(h.log("learner").contains("actor stranger joined"))
        XCTAssertTrue(learner.isRunning)
    }

    func testAPlaintextPeerCannotTalkToACurveLearner() throws {
        let (h, keys, _, ep) = try keyedLearner(actors: ["actor-1"])
        let context = try ZMQContext()
        defer { context.shutdown() }
        let plain = try CurvePeer(context, keys: nil, learnerKey: nil, endpoint: ep)
        try plain.hello("plaintext-peer")
        // Sent after the plaintext Hello: once this one is welcomed, the plaintext one had every chance.
        let allowed = try allowedPeer(context, keys, "actor-1", endpoint: ep)
        try allowed.hello("actor-1")
        XCTAssertTrue(try allowed.welcome(), h.log("learner"))
        XCTAssertNil(try plain.socket.receive(timeoutMs: 0), "the plaintext peer received something")
        XCTAssertFalse(
            h.log("learner").contains("plaintext-peer"),
            "the plaintext Hello reached the protocol:\n\(h.log("learner"))")
    }

    func testAValidKeyCannotActAsAnotherActor() throws {
        let (h, keys, _, ep) = try keyedLearner(actors: ["actor-1", "actor-2"])
        let context = try ZMQContext()
        defer { context.shutdown() }
        let mallory = try allowedPeer(context, keys, "actor-2", endpoint: ep)
        try mallory.hello("actor-1")
        let refusal = try XCTUnwrap(
            try mallory.error(code: 6), "no refusal for a Hello claiming another key's id; log:\n\(h.log("learner"))")
        XCTAssertTrue(refusal.message.contains("not yours") && refusal.message.contains("actor-2"), refusal.message)
        // No work under that id: a work request on this connection is answered "unknown actor".
        var wr = Wire.WorkRequest(); wr.freeSlots = 1
        try mallory.send(.workRequest(wr))
        XCTAssertNotNil(try mallory.error(code: 3), h.log("learner"))
        XCTAssertFalse(h.log("learner").contains("actor actor-1 joined"), h.log("learner"))
        // The real actor-1 joins under its own key; mallory's Hello as itself (or with no id) is accepted as actor-2.
        let real = try allowedPeer(context, keys, "actor-1", endpoint: ep)
        try real.hello("actor-1")
        XCTAssertTrue(try real.welcome(), h.log("learner"))
        try mallory.hello("")
        XCTAssertTrue(try mallory.welcome(), h.log("learner"))
        XCTAssertTrue(h.waitUntil(10) { h.log("learner").contains("actor actor-2 joined") }, h.log("learner"))
    }

    func testRemovingAKeyAndSIGHUPRefusesItAtItsNextConnection() throws {
        let (h, keys, learner, ep) = try keyedLearner(actors: ["actor-1", "actor-2"])
        let context = try ZMQContext()
        defer { context.shutdown() }
        let k1 = try CurveKeyPair.load(from: keys.actorDir, name: "actor-1")
        let first = try CurvePeer(context, keys: k1, learnerKey: keys.learnerKey, endpoint: ep)
        try first.hello("actor-1")
        XCTAssertTrue(try first.welcome(), h.log("learner"))
        first.socket.close(lingerMs: 0)
        // Remove actor-1's line and tell the learner.
        let text = try String(contentsOf: keys.allowList, encoding: .utf8)
        try text.split(separator: "\n").filter { !$0.hasSuffix(" actor-1") }.joined(separator: "\n").appending("\n")
            .write(to: keys.allowList, atomically: true, encoding: .utf8)
        kill(learner.processIdentifier, SIGHUP)
        XCTAssertTrue(
            h.waitUntil(20) { h.log("learner").contains("SIGHUP: allow-list re-read, 1 actor key(s) allowed") },
            h.log("learner"))
        let second = try CurvePeer(context, keys: k1, learnerKey: keys.learnerKey, endpoint: ep)
        try second.hello("actor-1")
        XCTAssertTrue(
            h.waitUntil(30) { h.log("learner").contains("refused CURVE key \(k1.publicKey)") }, h.log("learner"))
        XCTAssertNil(try second.socket.receive(timeoutMs: 0))
        // actor-2 is still welcome.
        let other = try allowedPeer(context, keys, "actor-2", endpoint: ep)
        try other.hello("actor-2")
        XCTAssertTrue(try other.welcome(), h.log("learner"))
        XCTAssertNil(try second.socket.receive(timeoutMs: 0), "the removed key received something")
    }

    func testAReachableBindWithoutKeysRefusesToStartUnlessInsecure() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let refused = try h.startLearner(["--base", base, "--steps", "1"], bind: "tcp://0.0.0.0:*", log: "refused")
        XCTAssertTrue(h.waitForExit(refused, timeout: 60))
        XCTAssertNotEqual(h.status(refused), 0)
        let message = h.log("refused")
        XCTAssertTrue(
            message.contains("without authentication") && message.contains("--keys") && message.contains("--insecure")
                && message.contains("softrl keys generate"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.runDir.appendingPathComponent("learner.endpoint").path))
        let open = try h.startLearner(
            ["--base", base, "--steps", "1", "--insecure"], bind: "tcp://0.0.0.0:*", log: "insecure")
        XCTAssertTrue(
            h.waitUntil(60) {
                FileManager.default.fileExists(atPath: h.runDir.appendingPathComponent("learner.endpoint").path)
            },
            "--insecure did not start; log:\n\(h.log("insecure"))")
        XCTAssertTrue(h.log("insecure").contains("WARNING: --insecure"), h.log("insecure"))
        open.terminate()
        XCTAssertTrue(h.waitForExit(open, timeout: 60))
    }
}
