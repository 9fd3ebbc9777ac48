// fp32 <-> bfloat16 (the top 16 bits of an fp32, round-to-nearest-even), for shipping weights at half the bytes
// (e.g. 538 MB -> 269 MB for SmolLM2-135M per policy version) and holding them in actors. Math stays fp32:
// decode before use.
import Foundation

public enum BFloat16 {
    /// Round-to-nearest-even; NaN stays a (quiet) NaN, infinities stay infinite.
    @inline(__always) public static func encode(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    @inline(__always) public static func decode(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    public static func encode(_ xs: UnsafeBufferPointer<Float>) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: xs.count) { out, n in
            for i in 0..<xs.count { out[i] = encode(xs[i]) }
            n = xs.count
        }
    }

    public static func decode(_ hs: UnsafeBufferPointer<UInt16>, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<hs.count { out[i] = decode(hs[i]) }
    }
}
