// The weights wire formats (WeightsWireFormat.swift): bf16-flat-v1 against a reference written like the definition
// of round-to-nearest-even (exact arithmetic on the scaled significand, no bit tricks), over every special class
// (NaN, +-inf, +-0, subnormals, exact ties both ways, overflow); blob layout, size errors, the SHA-256 being over
// the bytes sent, the noise scale a snapshot states (from the definition); and a real learner + actor processes on bf16: the actor's installed fp32 weights are the bf16
// rounding of the learner's, and training proceeds.
import Foundation
import XCTest
@testable import Cluster
import SoftTokens
import TensorMath
import TransformerLM
import Transport

final class WeightsWireFormatTests: XCTestCase {
    /// bf16 has 8 significand bits (7 stored) and fp32's exponent range. The nearest such value to x, ties to the
    /// even significand; magnitudes that round past the largest finite bf16 become infinite. nil for NaN.
    static func referenceBF16(_ x: Float) -> Float? {
        if x.isNaN { return nil }
        if x.isInfinite || x == 0 { return x }
        let a = Double(x.magnitude)
        // Exponent of the binade (subnormals share the smallest normal binade's spacing).
        let e = max(Int(floor(log2(a))), -126)
        let ulp = pow(2.0, Double(e - 7))
        let q = a / ulp // exact: x has at most 24 significant bits
        let lo = q.rounded(.down), r = q - lo
        let m = r < 0.5 ? lo : r > 0.5 ? lo + 1 : (lo.truncatingRemainder(dividingBy: 2) == 0 ? lo : lo + 1)
        let v = m * ulp
        let largest = (2.0 - pow(2.0, -7)) * pow(2.0, 127)
        let magnitude: Float = v > largest ? .infinity : Float(v)
        return x < 0 ? -magnitude : magnitude
    }

    func check(_ x: Float, file: StaticString = #filePath, line: UInt = #line) {
        let got = WeightsWireFormat.bf16.rounded(x)
        guard let want = Self.referenceBF16(x) else {
            return XCTAssertTrue(
                got.isNaN, "NaN \(String(x.bitPattern, radix: 16)) became \(got)", file: file, line: line)
        }
        XCTAssertEqual(
            got.bitPattern, want.bitPattern, "x = \(x) (0x\(String(x.bitPattern, radix: 16)))", file: file, line: line)
    }

    func testBF16RoundingMatchesTheDefinition() {
        let specials: [Float] = [
            0, -0.0, 1, -1, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7F80_0001), // signalling NaN, payload low
            Float(bitPattern: 0xFFC0_1234), .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
            Float(bitPattern: 0x7F7F_7FFF), Float(bitPattern: 0x7F7F_8000), Float(bitPattern: 0x7F7F_8001), // below, at, above the overflow tie
            Float(bitPattern: 0x007F_FFFF), Float(bitPattern: 0x0000_8000), Float(bitPattern: 0x0001_8000)
        ] // subnormals, subnormal ties
        for x in specials { check(x) }
        // Exact ties in both directions of the even rule, both signs, across binades.
        for hi in [UInt32(0x3F80), 0x3F81, 0x4049, 0x0080, 0x7F00, 0x0001, 0x0002] {
            for sign in [UInt32(0), 0x8000_0000] {
                for low in [UInt32(0x7FFF), 0x8000, 0x8001, 0x0000, 0xFFFF] {
                    check(Float(bitPattern: sign | (hi << 16) | low))
                }
            }
        }
        // Random bit patterns: every class in proportion (1/256 of them NaN or inf, 1/256 subnormal).
        var rng = Xoshiro256(seed: 11, stream: 0)
        for _ in 0..<200_000 { check(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        // Weight-like values.
        for _ in 0..<50_000 { check(Float(rng.normal()) * 0.02) }
    }

    func testBlobIsLittleEndianHalvesAndRoundTrips() throws {
        let model = try LlamaModel(config: .tiny(vocabSize: 16), seed: 3)
        let n = model.parameterCount
        model.weights.pointer[0] = .nan; model.weights.pointer[1] = -.infinity;
        model.weights.pointer[2] = Float(bitPattern: 0x3F80_8000)
        let blob = WeightsWireFormat.bf16.encode(model)
        XCTAssertEqual(blob.count, 2 * n)
        XCTAssertEqual(WeightsWireFormat.f32.encode(model).count, 4 * n)
        // Byte i*2, i*2+1 = low, high byte of the top 16 bits of the rounded fp32.
        for i in stride(from: 0, to: n, by: 97) where !model.weights.pointer[i].isNaN {
            let want = Self.referenceBF16(model.weights.pointer[i])!.bitPattern >> 16
            XCTAssertEqual(UInt32(blob[2 * i]) | UInt32(blob[2 * i + 1]) << 8, want, "parameter \(i)")
        }
        let actor = try LlamaModel(config: model.config, weights: FloatBuffer(count: n))
        try WeightsWireFormat.bf16.decode(blob, into: actor)
        XCTAssertTrue(actor.weights.pointer[0].isNaN)
        XCTAssertEqual(actor.weights.pointer[1], -.infinity)
        XCTAssertEqual(actor.weights.pointer[2], 1.0) // tie to even
        for i in 3..<n {
            XCTAssertEqual(
                actor.weights.pointer[i].bitPattern, Self.referenceBF16(model.weights.pointer[i])!.bitPattern)
        }
        // Wrong size: says which format, how many bytes, and why.
        XCTAssertThrowsError(try WeightsWireFormat.bf16.decode(blob.dropLast(2), into: actor)) {
            XCTAssertTrue("\($0)".contains("bf16-flat-v1") && "\($0)".contains("disagree on the model config"), "\($0)")
        }
        // A 4-byte-per-parameter blob announced as bf16 is refused, not misread.
        XCTAssertThrowsError(try WeightsWireFormat.bf16.decode(WeightsWireFormat.f32.encode(model), into: actor))
    }

    func testSnapshotHashesTheBytesSentAndWelcomeNamesTheFormat() throws {
        let model = try LlamaModel(config: .tiny(vocabSize: 16), seed: 4)
        let blob = WeightsWireFormat.bf16.encode(model)
        let snap = try WeightSnapshot(version: 0, blob: blob, chunkBytes: 4096, format: .bf16)
        XCTAssertEqual(snap.notice.sha256, SHA256Hasher.hex(blob))
        XCTAssertEqual(Int(snap.notice.sizeBytes), 2 * model.parameterCount)
        // Reassembled from the encoded chunks, the bytes are the bf16 blob.
        let codec = WireCodec(maxMessageBytes: Int.max)
        var assembler = BlobAssembler(notice: snap.notice)
        for f in snap.frames {
            guard case .weightsChunk(let c)? = try codec.decode(f.data).body else { return XCTFail("not a chunk") }
            try assembler.add(c)
        }
        XCTAssertEqual(try assembler.assemble(), blob)
        // Loaded chunk by chunk (as actors do, without joining them) the model gets what the joined blob gives,
        // also when pieces split a parameter (odd sizes take the joined path).
        let joined = try LlamaModel(config: model.config, weights: FloatBuffer(count: model.parameterCount))
        try WeightsWireFormat.bf16.decode(blob, into: joined)
        let cuts = [[Data]](
            arrayLiteral: try assembler.verifiedChunks(), [blob.prefix(1001), blob.dropFirst(1001)],
            [blob.prefix(4096), blob.dropFirst(4096)])
        for pieces in cuts {
            let piecewise = try LlamaModel(config: model.config, weights: FloatBuffer(count: model.parameterCount))
            try WeightsWireFormat.bf16.decode(pieces: pieces, into: piecewise)
            XCTAssertTrue(
                (0..<model.parameterCount).allSatisfy {
                    piecewise.weights.pointer[$0].bitPattern == joined.weights.pointer[$0].bitPattern
                }, "pieces of \(pieces.map(\.count))")
        }
        XCTAssertGreaterThan(try assembler.verifiedChunks().count, 1)
        XCTAssertEqual(try WeightsWireFormat(flag: "bf16"), .bf16)
        XCTAssertEqual(try WeightsWireFormat(welcome: ""), .f32)
        XCTAssertThrowsError(try WeightsWireFormat(flag: "fp8")) { XCTAssertTrue("\($0)".contains("use f32"), "\($0)") }
        XCTAssertThrowsError(try WeightsWireFormat(welcome: "f16-flat-v1")) {
            XCTAssertTrue("\($0)".contains("upgrade this actor"), "\($0)")
        }
    }

    /// A snapshot states the noise scale actors will draw with: gamma times the RMS of the token embeddings as the
    /// actor holds them (after the wire format's rounding), computed here from the definition.
    func testSnapshotStatesTheNoiseScaleOfTheWeightsActorsHold() throws {
        let model = try LlamaModel(config: .tiny(vocabSize: 64), seed: 3)
        var sampler = SamplerConfig(mode: .soft); sampler.noiseScale = 0.7
        var sigmas: [WeightsWireFormat: Double] = [:]
        for format in WeightsWireFormat.allCases {
            let snapshot = try WeightSnapshot(
                model: model, version: 4, sampler: sampler, format: format, chunkBytes: 4096)
            let n = model.config.vocabSize * model.config.hiddenSize
            var sumOfSquares = 0.0
            for i in 0..<n {
                let e = Double(
                    format == .f32 ? model.embeddingMatrix[i] : Self.referenceBF16(model.embeddingMatrix[i])!)
                sumOfSquares += e * e
            }
            let expected = 0.7 * (sumOfSquares / Double(n)).squareRoot()
            let sigma = try XCTUnwrap(snapshot.noiseSigma)
            XCTAssertEqual(sigma, expected, accuracy: 1e-12 * expected, "\(format)")
            XCTAssertEqual(snapshot.version, 4)
            XCTAssertEqual(snapshot.format, format)
            XCTAssertEqual(Int(snapshot.notice.sizeBytes), model.parameterCount * format.bytesPerParameter)
            sigmas[format] = sigma
        }
        XCTAssertNotEqual(sigmas[.f32], sigmas[.bf16], "bf16 rounding should move the embeddings' RMS")
    }

    /// Real processes: a learner and two actors per format, from the same base. With bf16, the v0 the actors
    /// installed must hash to the bf16 rounding of the base checkpoint (computed here from the file), later versions
    /// load and training proceeds, and the behaviour/learner log-prob gap is no larger than with f32 actors.
    func testClusterTrainsWithBF16WeightsOnTheWire() throws {
        func run(_ format: String) throws -> (ClusterHarness, [[String: Any]], base: String)? {
            let h = try ClusterHarness(testCase: self)
            let base = try h.makeBase()
            let learner = try h.startLearner([
                "--base", base, "--steps", "3", "--wire-weights", format, "--max-staleness", "0"
            ])
            let ep = try h.endpoint()
            for id in ["a0", "a1"] {
                try h.spawn(
                    ["actor", "--connect", ep, "--id", id, "--slots", "1", "--threads", "1", "--log-weights-digest"],
                    log: id)
            }
            guard h.waitForExit(learner, timeout: 240) else {
                XCTFail("\(format): learner did not finish; log:\n\(h.log("learner"))"); return nil
            }
            XCTAssertEqual(h.status(learner), 0, h.log("learner"))
            XCTAssertTrue(h.log("learner").contains("weights to actors: \(format)-flat-v1"), h.log("learner"))
            let m = h.metrics()
            XCTAssertEqual(m.map { $0["step"] as? Int }, [1, 2, 3], "\(format): training did not proceed")
            return (h, m, base)
        }
        guard let (h, m, base) = try run("bf16"), let (_, m32, _) = try run("f32") else { return }

        let model = try ModelCheckpoint.load(directory: URL(fileURLWithPath: base))
        let rounded = (0..<model.parameterCount).map { Self.referenceBF16(model.weights.pointer[$0])! }
        let want = rounded.withUnsafeBytes { SHA256Hasher.hex(Data($0)) }
        let exact = SHA256Hasher.hex(Data(bytes: model.weights.pointer, count: model.parameterCount * 4))
        XCTAssertNotEqual(want, exact, "the base model is bf16-exact: the test cannot tell the formats apart")
        for id in ["a0", "a1"] {
            let log = h.log(id)
            XCTAssertTrue(
                log.contains("installed v0 from bf16-flat-v1 (\(2 * model.parameterCount) bytes) in ")
                    && log.contains(" ms: fp32 weights sha256 \(want)"),
                "actor \(id) did not install the bf16 rounding of the base (want sha256 \(want)):\n\(log)")
        }
        let later = ["a0", "a1"].flatMap {
            h.log($0).components(separatedBy: "installed v").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        }
        XCTAssertTrue(later.contains { $0 >= 1 }, "no actor installed an updated version")
        // On-policy (staleness 0) rollouts of version k are rescored by the learner at version k in fp32.
        func gaps(_ m: [[String: Any]]) -> [Double] { m.compactMap { $0["logProbGap"] as? Double } }
        XCTAssertTrue(m.allSatisfy { ($0["logProbGapActions"] as? Int ?? 0) > 0 }, "no on-policy actions to compare")
        XCTAssertTrue(m.allSatisfy { ($0["logProbGapMax"] as? Double ?? -1) >= ($0["logProbGap"] as? Double ?? 0) })
        // The learner scores at the weights its actors ran (the bf16 rounding of its master weights), so the gap
        // stays at the f32 run's summation-order noise (~3e-7 here); scoring at the fp32 master weights instead gives
        // ~3e-3 on this model (and 5 nats per action on SmolLM2's soft steps, README "Bring your own model").
        let g16 = gaps(m).reduce(0, +) / 3, g32 = gaps(m32).reduce(0, +) / 3
        XCTAssertLessThan(
            g16, max(100 * g32, 1e-5),
            "bf16 actors and the learner disagree on log-probs: bf16 \(gaps(m)), f32 \(gaps(m32))")
    }
}
