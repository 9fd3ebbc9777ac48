// TensorCodec: exact bit round trips and clear errors for every inconsistency between dtype, shape and bytes.
import Foundation
import XCTest
import TensorMath
@testable import Transport

final class TensorCodecTests: XCTestCase {
    func testRoundTripKeepsShapeAndValues() throws {
        let values: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }
        let t = try TensorCodec.encode(values, shape: [2, 3, 4])
        XCTAssertEqual(t.dtype, "f32")
        XCTAssertEqual(t.shape, [2, 3, 4])
        XCTAssertEqual(t.data.count, 24 * 4)
        let (back, shape) = try TensorCodec.decode(t)
        XCTAssertEqual(back, values)
        XCTAssertEqual(shape, [2, 3, 4])
    }

    func testBytesAreLittleEndianF32() throws {
        let t = try TensorCodec.encode([1.0, -2.0], shape: [2])
        XCTAssertEqual([UInt8](t.data), [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
    }

    func testSpecialBitPatternsSurvive() throws {
        let bits: [UInt32] = [
            0x7FC0_0000, // quiet NaN
            0x7FC0_1234, // quiet NaN with payload
            0xFFC0_0001, // negative NaN with payload
            0x7FA0_0000, // signalling NaN
            0x7F80_0000, // +inf
            0xFF80_0000, // -inf
            0x8000_0000, // -0
            0x0000_0001, // smallest subnormal
            0x7F7F_FFFF // largest finite
        ]
        let values = bits.map { Float(bitPattern: $0) }
        let t = try TensorCodec.encode(values, shape: [3, 3])
        XCTAssertEqual(try TensorCodec.decode(t).values.map(\.bitPattern), bits)
        // Through a full wire round trip too.
        var step = Wire.Step()
        step.tokenID = -1
        step.vector = t
        var rollout = Wire.Rollout()
        rollout.steps = [step]
        var group = Wire.RolloutGroup()
        group.rollouts = [rollout]
        var codec = WireCodec()
        let env = try codec.decode(try codec.encode(.rolloutGroup(group)))
        XCTAssertEqual(
            try TensorCodec.decode(env.rolloutGroup.rollouts[0].steps[0].vector).values.map(\.bitPattern), bits)
    }

    func testScalarAndEmptyShapes() throws {
        let scalar = try TensorCodec.encode([42], shape: [])
        XCTAssertEqual(try TensorCodec.decode(scalar).values, [42])
        XCTAssertEqual(try TensorCodec.decode(scalar).shape, [])
        let empty = try TensorCodec.encode([], shape: [0, 5])
        XCTAssertEqual(empty.data.count, 0)
        XCTAssertEqual(try TensorCodec.decode(empty).values, [])
        XCTAssertEqual(try TensorCodec.decode(empty).shape, [0, 5])
    }

    func testLargeTensorRoundTrip() throws {
        var rng = SplitMix64(seed: 9)
        let values = (0..<(1 << 18)).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let back = try TensorCodec.decode(try TensorCodec.encode(values, shape: [512, 512])).values
        XCTAssertEqual(back.map(\.bitPattern), values.map(\.bitPattern))
    }

    func testEncodeRejectsCountMismatchAndBadShapes() {
        XCTAssertThrowsError(try TensorCodec.encode([1, 2, 3], shape: [2, 2])) { error in
            XCTAssertEqual(
                error as? TensorCodecError, .countMismatch(shape: [2, 2], expectedElements: 4, actualElements: 3))
            XCTAssertTrue("\(error)".contains("needs 4 values, got 3"), "\(error)")
        }
        XCTAssertThrowsError(try TensorCodec.encode([], shape: [-1])) { error in
            XCTAssertEqual(error as? TensorCodecError, .negativeDimension(shape: [-1]))
        }
        XCTAssertThrowsError(try TensorCodec.encode([], shape: [Int.max, 2])) { error in
            XCTAssertEqual(error as? TensorCodecError, .shapeOverflow(shape: [Int.max, 2]))
        }
    }

    func testDecodeRejectsWrongDtype() throws {
        var t = try TensorCodec.encode([1, 2], shape: [2])
        t.dtype = "f16"
        XCTAssertThrowsError(try TensorCodec.decode(t)) { error in
            XCTAssertEqual(error as? TensorCodecError, .unsupportedDtype("f16"))
            XCTAssertTrue("\(error)".contains("only \"f32\""), "\(error)")
        }
        t.dtype = ""
        XCTAssertThrowsError(try TensorCodec.decode(t))
    }

    func testDecodeRejectsShapeBytesMismatch() throws {
        var t = try TensorCodec.encode([1, 2, 3, 4], shape: [4])
        t.shape = [5]
        XCTAssertThrowsError(try TensorCodec.decode(t)) { error in
            XCTAssertEqual(
                error as? TensorCodecError, .byteCountMismatch(shape: [5], expectedBytes: 20, actualBytes: 16))
        }
        t.shape = [4]
        t.data.removeLast() // not a multiple of 4
        XCTAssertThrowsError(try TensorCodec.decode(t)) { error in
            XCTAssertEqual(
                error as? TensorCodecError, .byteCountMismatch(shape: [4], expectedBytes: 16, actualBytes: 15))
        }
        // A hostile shape that would overflow must be an error, not a giant allocation.
        t.shape = [UInt32.max, UInt32.max, UInt32.max]
        XCTAssertThrowsError(try TensorCodec.decode(t)) { error in
            XCTAssertEqual(
                error as? TensorCodecError, .shapeOverflow(shape: [Int(UInt32.max), Int(UInt32.max), Int(UInt32.max)]))
        }
    }

    func testDecodeFromUnalignedSlice() throws {
        // Data slices can start at odd offsets; decoding must not assume alignment.
        let t = try TensorCodec.encode([1, 2, 3], shape: [3])
        var shifted = Data([0xEE])
        shifted.append(t.data)
        var u = t
        u.data = shifted.dropFirst()
        XCTAssertEqual(try TensorCodec.decode(u).values, [1, 2, 3])
    }
}
