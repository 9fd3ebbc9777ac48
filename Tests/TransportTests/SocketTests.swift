// Real ZeroMQ sockets over tcp loopback and inproc: patterns, options, timeouts, error paths.
// Not codec tests (WireCodecTests) except where a socket loop must survive bad frames.
import Foundation
import XCTest
import TensorMath
@testable import Transport
import CZeroMQ

final class SocketTests: XCTestCase {
    var ctx: ZMQContext!

    override func setUpWithError() throws { ctx = try ZMQContext() }
    override func tearDown() { ctx = nil }

    func testRouterDealerRoundTripWithRoutingIdsAndMultipart() throws {
        let router = try ZMQSocket(ctx, .router)
        try router.set(.routerMandatory(true))
        let endpoint = try bindLoopback(router)
        let a = try dealer(ctx, id: "actor-a", to: endpoint)
        let b = try dealer(ctx, id: "actor-b", to: endpoint)
        XCTAssertEqual(try a.routingId, Data("actor-a".utf8))

        XCTAssertTrue(try a.send(frames: [Data("from a".utf8), Data(), Data([0, 1, 2])]))
        XCTAssertTrue(try b.send(frames: [[UInt8]("from b".utf8)]))

        var seen: [String: [Data]] = [:]
        while seen.count < 2 {
            let frames = try mustReceive(router)
            seen[frames[0].utf8String] = Array(frames.dropFirst())
        }
        XCTAssertEqual(seen["actor-a"], [Data("from a".utf8), Data(), Data([0, 1, 2])]) // empty frame kept
        XCTAssertEqual(seen["actor-b"], [Data("from b".utf8)])

        // Reply by routing id: each DEALER gets only its own message.
        XCTAssertTrue(try router.send(frames: [Data("actor-b".utf8), Data("to b".utf8)]))
        XCTAssertTrue(try router.send(frames: [Data("actor-a".utf8), Data("to a".utf8), Data("part 2".utf8)]))
        XCTAssertEqual(try mustReceive(a), [Data("to a".utf8), Data("part 2".utf8)])
        XCTAssertEqual(try mustReceive(b), [Data("to b".utf8)])
        XCTAssertNil(try a.receive(timeoutMs: 0))
    }

    func testRouterMandatoryUnknownPeerThrowsHostUnreachable() throws {
        let router = try ZMQSocket(ctx, .router)
        try router.set(.routerMandatory(true))
        _ = try bindLoopback(router)
        XCTAssertThrowsError(try router.send(frames: [Data("nobody".utf8), Data("x".utf8)])) { error in
            let e = error as? TransportError
            XCTAssertEqual(e?.isHostUnreachable, true, "\(error)")
            XCTAssertTrue(e?.description.contains("send") == true, "\(error)")
        }
    }

    func testPubSubNotice() throws {
        let pub = try ZMQSocket(ctx, .pub)
        let endpoint = try bindLoopback(pub)
        let sub = try ZMQSocket(ctx, .sub)
        try sub.set(.subscribe(Data("notice".utf8)))
        try sub.connect(endpoint)

        // Subscriptions reach the publisher asynchronously (the "slow joiner"), so publish until one arrives.
        var codec = WireCodec()
        var notice = Wire.VersionNotice()
        notice.version = 7
        notice.sizeBytes = 1234
        notice.sha256 = String(repeating: "ab", count: 32)
        let payload = try codec.encode(.versionNotice(notice))
        var received: [Data]?
        for _ in 0..<100 where received == nil {
            try pub.send(frames: [Data("other".utf8), Data("ignored".utf8)]) // filtered by topic
            try pub.send(frames: [Data("notice".utf8), payload])
            received = try sub.receive(timeoutMs: 100)
        }
        let frames = try XCTUnwrap(received)
        XCTAssertEqual(frames[0], Data("notice".utf8))
        XCTAssertEqual(try codec.decode(frames[1]).versionNotice, notice)
    }

    func testPollerReportsOnlyReadableSockets() throws {
        let left = try ZMQSocket(ctx, .pair), right = try ZMQSocket(ctx, .pair)
        try left.bind("inproc://poller-a")
        try right.connect("inproc://poller-a")
        let quietL = try ZMQSocket(ctx, .pair), quietR = try ZMQSocket(ctx, .pair)
        try quietL.bind("inproc://poller-b")
        try quietR.connect("inproc://poller-b")

        let poller = ZMQPoller([left, quietL])
        XCTAssertEqual(try poller.poll(timeoutMs: 0), [])
        try right.send(Data("ping".utf8))
        XCTAssertEqual(try poller.poll(timeoutMs: hangGuardMs), [left])
        XCTAssertEqual(try left.receive(timeoutMs: 0), [Data("ping".utf8)])
        XCTAssertEqual(try poller.poll(timeoutMs: 10), []) // drained
    }

    func testReceiveTimeoutReturnsNil() throws {
        let pull = try ZMQSocket(ctx, .pull)
        _ = try bindLoopback(pull)
        XCTAssertNil(try pull.receive(timeoutMs: 50))
        XCTAssertNil(try pull.receive(timeoutMs: 0))
        // The socket-level option path: a blocking receive that gives up.
        try pull.set(.receiveTimeout(ms: 50))
        XCTAssertNil(try pull.receive())
    }

    func testSendWithoutPeerAndDontWaitReturnsFalse() throws {
        let d = try ZMQSocket(ctx, .dealer) // no connection at all: nowhere to queue
        XCTAssertFalse(try d.send(frames: [Data("x".utf8)], dontWait: true))
        try d.set(.sendTimeout(ms: 20))
        XCTAssertFalse(try d.send(frames: [Data("x".utf8), Data("y".utf8)]))
    }

    func testOptionsAreApplied() throws {
        let s = try ZMQSocket(ctx, .dealer)
        XCTAssertEqual(try s.intOption(ZMQ_LINGER), ZMQSocket.defaultLingerMs)
        try s.set(.sendHWM(10)); XCTAssertEqual(try s.intOption(ZMQ_SNDHWM), 10)
        try s.set(.receiveHWM(20)); XCTAssertEqual(try s.intOption(ZMQ_RCVHWM), 20)
        try s.set(.heartbeatInterval(ms: 500)); XCTAssertEqual(try s.intOption(ZMQ_HEARTBEAT_IVL), 500)
        try s.set(.heartbeatTimeout(ms: 1500)); XCTAssertEqual(try s.intOption(ZMQ_HEARTBEAT_TIMEOUT), 1500)
        try s.set(.heartbeatTTL(ms: 3000)); XCTAssertEqual(try s.intOption(ZMQ_HEARTBEAT_TTL), 3000)
        try s.set(.reconnectInterval(ms: 50)); XCTAssertEqual(try s.intOption(ZMQ_RECONNECT_IVL), 50)
        try s.set(.reconnectIntervalMax(ms: 2000)); XCTAssertEqual(try s.intOption(ZMQ_RECONNECT_IVL_MAX), 2000)
        try s.set(.immediate(true)); XCTAssertEqual(try s.intOption(ZMQ_IMMEDIATE), 1)
        try s.set(.receiveTimeout(ms: 75)); XCTAssertEqual(try s.intOption(ZMQ_RCVTIMEO), 75)
        try s.set(.sendTimeout(ms: 76)); XCTAssertEqual(try s.intOption(ZMQ_SNDTIMEO), 76)
        try s.set(.maxMessageSize(1 << 20))
        let router = try ZMQSocket(ctx, .router)
        try router.set(.routerHandover(true))
        XCTAssertThrowsError(try s.set(.linger(ms: Int(Int32.max) + 1)))
    }

    func testBadEndpointAndClosedSocketGiveDescriptiveErrors() throws {
        let s = try ZMQSocket(ctx, .router)
        XCTAssertThrowsError(try s.bind("nonsense://where")) { error in
            XCTAssertTrue("\(error)".contains("bind nonsense://where"), "\(error)")
        }
        s.close(lingerMs: 0)
        s.close() // twice is fine
        XCTAssertTrue(s.isClosed)
        XCTAssertThrowsError(try s.receive(timeoutMs: 0)) { error in
            XCTAssertTrue("\(error)".contains("closed"), "\(error)")
        }
    }

    func testUnbindAndDisconnect() throws {
        let router = try ZMQSocket(ctx, .router)
        let endpoint = try bindLoopback(router)
        let d = try dealer(ctx, id: "d", to: endpoint)
        try d.disconnect(endpoint)
        try router.unbind(endpoint)
        XCTAssertThrowsError(try router.unbind(endpoint)) // no longer bound
    }

    func testContextShutdownWakesBlockedReceive() throws {
        let pull = try ZMQSocket(ctx, .pull)
        try pull.bind("inproc://shutdown")
        let context = ctx!
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { context.shutdown() }
        XCTAssertThrowsError(try pull.receive()) { error in // blocks until shutdown
            XCTAssertEqual((error as? TransportError)?.isContextTerminated, true, "\(error)")
        }
        pull.close(lingerMs: 0)
    }

    /// A ROUTER with maxMessageSize drops a connection that sends an over-limit message (libzmq closes it)
    /// and keeps serving everyone else, including the offender once it has reconnected.
    func testOversizedMessageDropsOnlyThatConnection() throws {
        let router = try ZMQSocket(ctx, .router)
        try router.set(.maxMessageSize(1024)) // before bind: applies to accepted connections
        let endpoint = try bindLoopback(router)
        let big = try dealer(ctx, id: "big", to: endpoint)
        try big.set(.reconnectInterval(ms: 20))
        let small = try dealer(ctx, id: "small", to: endpoint)

        XCTAssertTrue(try big.send(frames: [Data(repeating: 0xAB, count: 64 * 1024)]))
        XCTAssertTrue(try small.send(frames: [Data("hello".utf8)]))
        let first = try mustReceive(router)
        XCTAssertEqual(first, [Data("small".utf8), Data("hello".utf8)]) // the big one never arrives

        // Still serving: a reply to "small" and another request from it.
        XCTAssertTrue(try router.send(frames: [Data("small".utf8), Data("ok".utf8)]))
        XCTAssertEqual(try mustReceive(small), [Data("ok".utf8)])
        XCTAssertTrue(try small.send(frames: [Data("again".utf8)]))
        XCTAssertEqual(try mustReceive(router), [Data("small".utf8), Data("again".utf8)])

        // The offender reconnects by itself; its later small messages get through.
        var fromBig: [Data]?
        for attempt in 0..<100 where fromBig == nil {
            try big.send(frames: [Data("small now \(attempt)".utf8)])
            while let frames = try router.receive(timeoutMs: 50) {
                XCTAssertLessThanOrEqual(frames[1].count, 1024)
                if frames[0] == Data("big".utf8) { fromBig = frames; break }
            }
        }
        XCTAssertNotNil(fromBig, "the DEALER that sent the oversized message never got through again")
    }

    /// A learner-style ROUTER loop: garbage frames are answered with Wire.Error and skipped; the valid
    /// message after them is still served.
    func testRouterLoopSurvivesGarbageThenServesValidMessage() throws {
        let router = try ZMQSocket(ctx, .router)
        let endpoint = try bindLoopback(router)
        let actor = try dealer(ctx, id: "actor-1", to: endpoint)

        var rng = SplitMix64(seed: 42)
        var actorCodec = WireCodec()
        var hello = Wire.Hello()
        hello.actorID = "actor-1"
        hello.slots = 4
        let valid = try actorCodec.encode(.hello(hello))
        var wrongVersion = Envelope()
        wrongVersion.protocolVersion = 99
        wrongVersion.goodbye = Wire.Goodbye()
        let garbage: [[Data]] = [
            [randomBytes(300, &rng)],
            [valid.prefix(valid.count - 3)],
            [try wrongVersion.serializedBytes()],
            [Data()],
            [valid, Data("unexpected extra frame".utf8)]
        ]
        for g in garbage { XCTAssertTrue(try actor.send(frames: g)) }
        XCTAssertTrue(try actor.send(frames: [valid]))

        let learnerCodec = WireCodec()
        var replyCodec = WireCodec()
        var rejected: [String] = []
        var served: Envelope?
        while served == nil {
            let frames = try mustReceive(router)
            let peer = frames[0]
            do {
                guard frames.count == 2 else {
                    throw WireError.notProtobuf(detail: "expected 1 payload frame, got \(frames.count - 1)")
                }
                served = try learnerCodec.decode(frames[1])
            } catch {
                rejected.append("\(error)")
                var e = Wire.Error()
                e.code = Wire.ErrorCode.malformed.rawValue
                e.message = "\(error)"
                try router.send(frames: [peer, try replyCodec.encode(.error(e))])
            }
        }
        XCTAssertEqual(served?.hello, hello)
        XCTAssertEqual(rejected.count, garbage.count, rejected.joined(separator: "\n"))
        XCTAssertTrue(rejected[2].contains("peer speaks protocol 99, this build speaks 1"), rejected[2])
        XCTAssertTrue(rejected[3].contains("empty frame"), rejected[3])

        // The actor got one Error per rejected frame, in order, each decodable.
        for i in 0..<garbage.count {
            let env = try actorCodec.decode(try mustReceive(actor)[0])
            XCTAssertEqual(env.error.code, Wire.ErrorCode.malformed.rawValue)
            XCTAssertEqual(env.sequence, UInt64(i + 1))
        }
    }

    /// Weights over real sockets: the actor pulls every chunk with FetchWeights and verifies the blob.
    func testWeightsFetchOverRouterDealer() throws {
        let router = try ZMQSocket(ctx, .router)
        let endpoint = try bindLoopback(router)
        let actor = try dealer(ctx, id: "actor-w", to: endpoint)
        var rng = SplitMix64(seed: 7)
        let blob = randomBytes(50_000, &rng)
        let chunker = try BlobChunker(version: 3, blob: blob, chunkBytes: 4096)

        var learnerCodec = WireCodec(), actorCodec = WireCodec()
        var assembler = BlobAssembler(notice: chunker.notice)
        while let index = assembler.missingChunks.first {
            var fetch = Wire.FetchWeights()
            fetch.version = 3
            fetch.chunkIndex = index
            try actor.send(try actorCodec.encode(.fetchWeights(fetch)))
            let request = try mustReceive(router)
            let env = try learnerCodec.decode(request[1])
            let chunk = try chunker.answer(env.fetchWeights)
            try router.send(frames: [request[0], try learnerCodec.encode(.weightsChunk(chunk))])
            try assembler.add(try actorCodec.decode(try mustReceive(actor)[0]).weightsChunk)
        }
        XCTAssertTrue(assembler.isComplete)
        XCTAssertEqual(try assembler.assemble(), blob)
    }
}
