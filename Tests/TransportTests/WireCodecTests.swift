// WireCodec: every message kind round-trips; hostile or foreign frames are rejected with clear errors.
// Not socket tests: frames are handed to the codec directly.
import Foundation
import XCTest
import TensorMath
@testable import Transport

final class WireCodecTests: XCTestCase {
    /// One of every body kind, with non-default values in every field.
    static func sampleBodies() throws -> [Envelope.OneOf_Body] {
        var hello = Wire.Hello()
        hello.actorID = "actor-7"; hello.host = "node-3"; hello.pid = 4242; hello.cores = 2
        hello.softwareVersion = "softrl 0.1.0"; hello.slots = 3
        var welcome = Wire.Welcome()
        welcome.runID = "run-1"; welcome.taskName = "arith"; welcome.taskOptionsJson = #"{"digits":3}"#
        welcome.samplerConfigJson = #"{"temperature":0.7}"#; welcome.policyVersion = 5
        welcome.heartbeatIntervalMs = 1000; welcome.modelConfigJson = #"{"dim":64}"#
        var request = Wire.WorkRequest()
        request.actorID = "actor-7"; request.freeSlots = 2
        var item = Wire.WorkItem()
        item.workID = "w-1"; item.promptIndex = 12345678901; item.groupSize = 8
        var work = Wire.Work()
        work.items = [item, item]; work.policyVersion = 5; work.samplerConfigJson = #"{"temperature":1.0}"#

        var hard = Wire.Step()
        hard.tokenID = 17; hard.behaviourLogprob = -0.25; hard.shadowToken = -1
        var soft = Wire.Step()
        soft.tokenID = -1; soft.behaviourLogprob = -1.5; soft.shadowToken = 99
        soft.vector = try TensorCodec.encode([0.5, -1, .infinity, .nan], shape: [4])
        var rollout = Wire.Rollout()
        rollout.promptTokenIds = [1, 2, 3, 0, -5, Int32.max]
        rollout.steps = [hard, soft]
        rollout.answerTokenIds = [40, 41]
        rollout.answerLogprobs = [-0.1, -2.5]
        rollout.claimedReward = 1.0; rollout.sampler = "soft-gumbel"; rollout.policyVersion = 5
        rollout.thinkingLength = 2; rollout.forcedEnd = true
        var timings = Wire.RolloutTimings()
        timings.generateMs = 123.5; timings.tokens = 44
        var group = Wire.RolloutGroup()
        group.workID = "w-1"; group.actorID = "actor-7"; group.policyVersion = 5; group.promptIndex = 12345678901
        group.rollouts = [rollout, rollout]; group.timings = timings

        var notice = Wire.VersionNotice()
        notice.version = 6; notice.sizeBytes = 1 << 33; notice.sha256 = String(repeating: "0f", count: 32)
        var fetch = Wire.FetchWeights()
        fetch.version = 6; fetch.chunkIndex = 3
        var chunk = Wire.WeightsChunk()
        chunk.version = 6; chunk.chunkIndex = 3; chunk.chunkCount = 10; chunk.totalBytes = 1 << 33
        chunk.sha256 = notice.sha256; chunk.data = Data((0..<255).map { UInt8($0) })
        var heartbeat = Wire.Heartbeat()
        heartbeat.policyVersion = 5; heartbeat.busySlots = 1
        var goodbye = Wire.Goodbye()
        goodbye.reason = "shutting down"
        var error = Wire.Error()
        error.code = Wire.ErrorCode.badRequest.rawValue; error.message = "no such version"
        return [
            .hello(hello), .welcome(welcome), .workRequest(request), .work(work), .rolloutGroup(group),
            .versionNotice(notice), .fetchWeights(fetch), .weightsChunk(chunk), .heartbeat(heartbeat),
            .goodbye(goodbye), .error(error)
        ]
    }

    func testEveryBodyRoundTripsWithVersionAndSequence() throws {
        var sender = WireCodec()
        let receiver = WireCodec()
        let bodies = try Self.sampleBodies()
        for (i, body) in bodies.enumerated() {
            let env = try receiver.decode(try sender.encode(body))
            XCTAssertEqual(env.protocolVersion, WireCodec.protocolVersion)
            XCTAssertEqual(env.sequence, UInt64(i + 1))
            if case .rolloutGroup = body {
                // NaN != NaN, so compare the soft step's vector by bits, the rest by value.
                let sent = try TensorCodec.decode(Self.softVector(body)).values.map(\.bitPattern)
                let got = try TensorCodec.decode(Self.softVector(env.body!)).values.map(\.bitPattern)
                XCTAssertEqual(sent, got)
                XCTAssertEqual(env.rolloutGroup.rollouts[0].steps[0], try Self.group(body).rollouts[0].steps[0])
                XCTAssertEqual(env.rolloutGroup.timings, try Self.group(body).timings)
                XCTAssertEqual(env.rolloutGroup.rollouts[1].answerLogprobs, [-0.1, -2.5])
                XCTAssertTrue(env.rolloutGroup.rollouts[1].forcedEnd)
            } else {
                XCTAssertEqual(env.body, body)
            }
        }
        XCTAssertEqual(sender.lastSequence, UInt64(bodies.count))
    }

    static func group(_ body: Envelope.OneOf_Body) throws -> Wire.RolloutGroup {
        guard case let .rolloutGroup(g) = body else { throw XCTSkip("not a group") }
        return g
    }

    static func softVector(_ body: Envelope.OneOf_Body) throws -> Wire.Tensor {
        try group(body).rollouts[0].steps[1].vector
    }

    /// The zero-copy chunk reader against swift-protobuf (the reference): on canonical chunk frames it must give
    /// the same envelope with `data` sharing the frame's bytes; on every single-byte change and truncation of them
    /// it must either decline (nil: swift-protobuf decides) or agree with swift-protobuf exactly.
    func testChunkFrameReaderAgreesWithSwiftProtobuf() throws {
        var rng = SystemRandomNumberGenerator()
        var codec = WireCodec(maxMessageBytes: Int.max)
        var frames: [Data] = []
        for (i, size) in [0, 1, 127, 128, 300, 70_000].enumerated() {
            var c = Wire.WeightsChunk()
            c.version = UInt64(i * 1_000_003); c.chunkIndex = UInt64(i); c.chunkCount = UInt64(i + 1)
            c.totalBytes = i == 0 ? 0 : UInt64(size) << 20; c.sha256 = i == 1 ? "" : String(repeating: "ab", count: 32)
            c.data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            frames.append(try codec.encode(.weightsChunk(c)))
        }
        for frame in frames {
            let fast = try XCTUnwrap(ChunkFrameReader.read(frame), "a canonical chunk frame must take the fast path")
            XCTAssertEqual(fast, try Envelope(serializedBytes: frame))
            guard case .weightsChunk(let c)? = fast.body, !c.data.isEmpty else { continue }
            frame.withUnsafeBytes { f in
                c.data.withUnsafeBytes { d in
                    XCTAssertTrue(
                        d.baseAddress! >= f.baseAddress! && d.baseAddress! < f.baseAddress! + f.count,
                        "data must be a slice of the frame, not a copy")
                }
            }
        }
        var mutated = 0, declined = 0
        for frame in frames.prefix(5) {
            var variants = (0..<frame.count).map { frame.prefix($0) }
            for at in 0..<frame.count {
                for value in [0x00, 0x01, 0x7F, 0x80, 0xFF, Int(frame[at] ^ 0x08)] as [Int] {
                    var m = frame; m[at] = UInt8(value); variants.append(m)
                }
            }
            for m in variants {
                mutated += 1
                let reference = try? Envelope(serializedBytes: m)
                guard let fast = ChunkFrameReader.read(m) else { declined += 1; continue }
                XCTAssertEqual(
                    fast, reference, "the fast reader accepted what swift-protobuf reads differently: \(Array(m))")
            }
        }
        XCTAssertGreaterThan(mutated - declined, 0, "some mutations stay canonical and must be read the same")
        // Through the codec: the same checks as any frame (protocol version), whichever reader ran.
        var wrongVersion = try Envelope(serializedBytes: frames[3]); wrongVersion.protocolVersion = 9
        XCTAssertThrowsError(try codec.decode(try wrongVersion.serializedData()))
    }

    func testEmptyFrameIsRejected() {
        XCTAssertThrowsError(try WireCodec().decode(Data())) { error in
            XCTAssertEqual(error as? WireError, .emptyFrame)
            XCTAssertTrue("\(error)".contains("empty frame"))
        }
    }

    func testRandomBytesAreRejected() {
        var rng = SplitMix64(seed: 1)
        let codec = WireCodec()
        for n in 0..<2000 {
            let garbage = randomBytes(Int.random(in: 1...512, using: &rng), &rng)
            XCTAssertThrowsError(try codec.decode(garbage), "sample \(n) decoded") { error in
                XCTAssertNotNil(error as? WireError)
                XCTAssertFalse("\(error)".isEmpty)
            }
        }
    }

    func testEveryTruncationOfAValidEnvelopeIsRejected() throws {
        var sender = WireCodec()
        let codec = WireCodec()
        for body in try Self.sampleBodies() {
            let full = try sender.encode(body)
            for length in 0..<full.count {
                XCTAssertThrowsError(try codec.decode(full.prefix(length)), "prefix \(length)/\(full.count) decoded")
            }
        }
    }

    func testBitFlipsNeverCrash() throws {
        // A flipped bit may still be a valid envelope (e.g. inside a string); it must never trap.
        var sender = WireCodec()
        let full = try sender.encode(try Self.sampleBodies()[4])
        let codec = WireCodec()
        var rng = SplitMix64(seed: 3)
        var rejected = 0
        for _ in 0..<2000 {
            var mutated = full
            let at = Int.random(in: 0..<mutated.count, using: &rng)
            mutated[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            if (try? codec.decode(mutated)) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 0)
    }

    func testNotProtobufHasClearMessage() {
        // 0xFF... is an unterminated varint tag: definitely not protobuf.
        XCTAssertThrowsError(try WireCodec().decode(Data(repeating: 0xFF, count: 16))) { error in
            guard case .notProtobuf = error as? WireError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("not valid protobuf"), "\(error)")
        }
    }

    func testWrongOrMissingProtocolVersion() throws {
        var newer = Envelope()
        newer.protocolVersion = 2
        newer.heartbeat = Wire.Heartbeat()
        XCTAssertThrowsError(try WireCodec().decode(try newer.serializedBytes())) { error in
            XCTAssertEqual(error as? WireError, .protocolMismatch(peer: 2, ours: 1))
            XCTAssertTrue(
                "\(error)".contains("peer speaks protocol 2, this build speaks 1: upgrade this process"), "\(error)")
        }
        var missing = Envelope()
        missing.sequence = 5
        missing.heartbeat = Wire.Heartbeat()
        XCTAssertThrowsError(try WireCodec().decode(try missing.serializedBytes())) { error in
            XCTAssertEqual(error as? WireError, .missingProtocolVersion)
        }
        // A protobuf that is something else entirely (field 1 = 300) reads as a wrong version too.
        XCTAssertThrowsError(try WireCodec().decode(Data([0x08, 0xAC, 0x02]))) { error in
            XCTAssertEqual(error as? WireError, .protocolMismatch(peer: 300, ours: 1))
        }
    }

    func testEnvelopeWithoutBodyIsRejected() throws {
        var empty = Envelope()
        empty.protocolVersion = WireCodec.protocolVersion
        empty.sequence = 1
        XCTAssertThrowsError(try WireCodec().decode(try empty.serializedBytes())) { error in
            XCTAssertEqual(error as? WireError, .emptyBody)
        }
        // A body kind from a newer build (unknown field 99) looks the same to this build.
        var future = try empty.serializedBytes() as Data
        future.append(contentsOf: [0x9A, 0x06, 0x00]) // field 99, length-delimited, 0 bytes
        XCTAssertThrowsError(try WireCodec().decode(future)) { error in
            XCTAssertEqual(error as? WireError, .emptyBody)
        }
    }

    func testSizeLimitBothWays() throws {
        var small = WireCodec(maxMessageBytes: 100)
        var chunk = Wire.WeightsChunk()
        chunk.data = Data(count: 200)
        XCTAssertThrowsError(try small.encode(.weightsChunk(chunk))) { error in
            guard case let .tooLarge(bytes, limit) = error as? WireError else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(bytes, 200)
            XCTAssertEqual(limit, 100)
        }
        XCTAssertEqual(small.lastSequence, 0) // a refused message uses no sequence number

        var big = WireCodec()
        let frame = try big.encode(.weightsChunk(chunk))
        XCTAssertThrowsError(try small.decode(frame)) { error in
            guard case .tooLarge = error as? WireError else { return XCTFail("\(error)") }
        }
        XCTAssertNoThrow(try big.decode(frame))
    }
}
