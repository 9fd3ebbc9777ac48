// SHA256Hasher: streaming SHA-256 for checking weight blobs end to end, on swift-crypto (BoringSSL underneath,
// which uses the CPU's SHA extensions or AVX2 where present). The tests check it against a plain-Swift
// FIPS 180-4 reference of their own.
import Crypto
import Foundation

public struct SHA256Hasher {
    private var inner = Crypto.SHA256()

    public init() {}

    public mutating func update(_ data: Data) {
        inner.update(data: data)
    }

    public mutating func update(bytes: UnsafeRawBufferPointer) {
        inner.update(bufferPointer: bytes)
    }

    /// The 32-byte digest. The hasher is spent afterwards.
    public mutating func finalize() -> [UInt8] {
        Array(inner.finalize())
    }

    public static func hash(_ data: Data) -> [UInt8] {
        Array(Crypto.SHA256.hash(data: data))
    }

    /// Lowercase hex digest, the form used on the wire (VersionNotice.sha256, WeightsChunk.sha256).
    public static func hex(_ data: Data) -> String { hexString(Array(Crypto.SHA256.hash(data: data))) }

    public static func hexString(_ digest: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
