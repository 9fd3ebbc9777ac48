// The weights blob's byte formats (Welcome.weights_format; see softrl.proto). The learner keeps fp32 master weights
// and AdamW state; what it ships to actors is one of:
//   f32-flat-v1   every parameter as little-endian fp32 in ParameterLayout order (4 bytes per parameter)
//   bf16-flat-v1  the same order, each parameter rounded to bfloat16 (round-to-nearest-even; NaN stays NaN,
//                 +-inf stay infinite, finite values past bf16's range round to +-inf) as little-endian
//                 uint16, the top half of an fp32 (2 bytes per parameter: SmolLM2-135M 538 MB -> 269 MB)
// The SHA-256 in VersionNotice / WeightsChunk is over these bytes, the ones actually sent. Actors widen bf16 to
// fp32 on install (exact: every bf16 is an fp32), so their matmuls stay fp32 BLAS.
import Foundation
import TensorMath
import TransformerLM

public enum WeightsWireFormat: String, CaseIterable, Sendable, Codable {
    case f32 = "f32-flat-v1"
    case bf16 = "bf16-flat-v1"

    /// The learner's `--wire-weights` spelling.
    public var flag: String { self == .f32 ? "f32" : "bf16" }

    public init(flag: String) throws {
        guard let f = Self.allCases.first(where: { $0.flag == flag.lowercased() || $0.rawValue == flag }) else {
            throw ConfigError(
                "--wire-weights \(flag) is not a weights format: use f32 (exact, 4 bytes per parameter) or bf16 (2 bytes, rounded to nearest even)"
            )
        }
        self = f
    }

    /// The format a Welcome names ("" from an old learner means f32).
    public init(welcome name: String) throws {
        if name.isEmpty { self = .f32; return }
        guard let f = WeightsWireFormat(rawValue: name) else {
            throw ConfigError(
                "weights format \(name) is not one this actor reads (\(Self.allCases.map(\.rawValue).joined(separator: ", "))): upgrade this actor"
            )
        }
        self = f
    }

    public var bytesPerParameter: Int { self == .f32 ? 4 : 2 }

    /// The value an actor holds after `x` went through this format.
    @inline(__always) public func rounded(_ x: Float) -> Float {
        self == .f32 ? x : BFloat16.decode(BFloat16.encode(x))
    }

    /// The blob of `model`'s current weights in this format.
    public func encode(_ model: LlamaModel) -> Data { encode(UnsafeBufferPointer(model.weights.buffer)) }

    public func encode(_ values: UnsafeBufferPointer<Float>) -> Data {
        switch self {
        case .f32:
            return values.isEmpty ? Data() : Data(bytes: values.baseAddress!, count: values.count * 4)
        case .bf16:
            var out = Data(count: values.count * 2)
            out.withUnsafeMutableBytes { raw in
                let dst = raw.bindMemory(to: UInt16.self)
                for i in 0..<values.count { dst[i] = BFloat16.encode(values[i]).littleEndian }
            }
            return out
        }
    }

    /// Loads `blob` into `model`'s weights (widening bf16 to fp32).
    public func decode(_ blob: Data, into model: LlamaModel) throws { try decode(pieces: [blob], into: model) }

    /// Loads a blob given as consecutive pieces (the chunks it arrived in) without joining them first: for a
    /// 540 MB model that saves a copy and the memory of a second blob.
    public func decode(pieces: [Data], into model: LlamaModel) throws {
        let n = model.parameterCount, bytes = pieces.reduce(0) { $0 + $1.count }
        guard bytes == n * bytesPerParameter else {
            throw ConfigError(
                "\(rawValue) weights blob has \(bytes) bytes, the model needs \(n * bytesPerParameter) (\(n) parameters x \(bytesPerParameter)): actor and learner disagree on the model config"
            )
        }
        // A piece that splits a parameter's bytes (never with the default chunk size) takes the joined path.
        guard pieces.dropLast().allSatisfy({ $0.count % bytesPerParameter == 0 }) else {
            return decode(pieces.reduce(into: Data()) { $0.append($1) }, into: model.weights.pointer, count: n)
        }
        var at = 0
        for piece in pieces {
            decode(piece, into: model.weights.pointer + at, count: piece.count / bytesPerParameter)
            at += piece.count / bytesPerParameter
        }
    }

    /// `blob` (already checked to hold `count` parameters) into fp32 at `out`.
    public func decode(_ blob: Data, into out: UnsafeMutablePointer<Float>, count: Int) {
        blob.withUnsafeBytes { raw in
            switch self {
            case .f32:
                if count > 0 { _ = memcpy(out, raw.baseAddress!, count * 4) }
            case .bf16:
                for i in 0..<count {
                    let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = BFloat16.decode(h)
                }
            }
        }
    }
}
