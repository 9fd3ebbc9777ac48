// TensorCodec: [Float] + shape <-> Wire.Tensor as raw little-endian f32 bytes, with validation.
// Not a tensor library: no math, no other dtypes yet; TensorMath owns real tensors.
import Foundation

public enum TensorCodec {
    /// The only dtype defined by the wire contract so far.
    public static let f32 = "f32"

    /// Number of elements of `shape` (1 for a scalar), checking for negative dimensions and overflow.
    public static func elementCount(shape: [Int]) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw TensorCodecError.negativeDimension(shape: shape) }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw TensorCodecError.shapeOverflow(shape: shape) }
            count = p
        }
        // Byte count must be addressable too.
        guard !count.multipliedReportingOverflow(by: MemoryLayout<Float>.size).overflow else {
            throw TensorCodecError.shapeOverflow(shape: shape)
        }
        return count
    }

    /// Encodes values (row-major) with the given shape. Bit patterns (NaN payloads, ±inf, -0) are kept.
    public static func encode(_ values: [Float], shape: [Int]) throws -> Wire.Tensor {
        let count = try elementCount(shape: shape)
        guard values.count == count else {
            throw TensorCodecError.countMismatch(shape: shape, expectedElements: count, actualElements: values.count)
        }
        guard shape.allSatisfy({ $0 <= Int(UInt32.max) }) else { throw TensorCodecError.shapeOverflow(shape: shape) }
        var tensor = Wire.Tensor()
        tensor.dtype = f32
        tensor.shape = shape.map { UInt32($0) }
        #if _endian(little)
            tensor.data = values.withUnsafeBytes { Data($0) } // one memcpy: host order is the wire order
        #else
            tensor.data = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        #endif
        return tensor
    }

    /// Decodes a tensor, validating dtype and that shape and byte count agree.
    public static func decode(_ tensor: Wire.Tensor) throws -> (values: [Float], shape: [Int]) {
        guard tensor.dtype == f32 else { throw TensorCodecError.unsupportedDtype(tensor.dtype) }
        let shape = tensor.shape.map { Int($0) }
        let count = try elementCount(shape: shape)
        let expectedBytes = count * MemoryLayout<Float>.size
        guard tensor.data.count == expectedBytes else {
            throw TensorCodecError.byteCountMismatch(
                shape: shape, expectedBytes: expectedBytes, actualBytes: tensor.data.count)
        }
        // Copy straight into the array's storage (memcpy); Data may be unaligned, so no typed reads.
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            tensor.data.withUnsafeBytes { raw in
                if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
            }
            initialized = count
        }
        #if _endian(little)
            return (values, shape)
        #else
            return (values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }, shape)
        #endif
    }
}
