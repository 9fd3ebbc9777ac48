// Deterministic random numbers for SoftRL: xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64,
// plus the distributions the samplers need (uniform, normal, Gumbel, Gamma, categorical).
// The full state is four UInt64s, so a checkpoint can save and restore it exactly. Not cryptographic.
import Foundation

public struct Xoshiro256: RandomNumberGenerator, Codable, Sendable, Equatable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// The whole generator state, for checkpoints.
    public var state: [UInt64] {
        get { [s0, s1, s2, s3] }
        set {
            precondition(newValue.count == 4, "xoshiro256 state is 4 words"); s0 = newValue[0]; s1 = newValue[1];
            s2 = newValue[2]; s3 = newValue[3]
        }
    }

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// An independent stream derived from this seed and a label (e.g. a prompt index): same inputs, same stream.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03) &+ 0x632B_E59B_D9B4_E019)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always) public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in (0, 1): safe to take the log of.
    @inline(__always) public mutating func uniformOpen() -> Double { (Double(next() >> 11) + 0.5) * 0x1.0p-53 }

    /// Standard normal by Box-Muller (one of the pair is used: simpler state, same distribution).
    @inline(__always) public mutating func normal() -> Double {
        let u1 = uniformOpen(), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Standard Gumbel(0, 1): -log(-log U).
    @inline(__always) public mutating func gumbel() -> Double { -log(-log(uniformOpen())) }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 uses the boost Gamma(a+1) * U^(1/a).
    public mutating func gamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 {
            let g = gamma(shape: shape + 1)
            return g * pow(uniformOpen(), 1 / shape)
        }
        let d = shape - 1.0 / 3.0, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat { x = normal(); v = 1 + c * x } while v <= 0
            v = v * v * v
            let u = uniformOpen()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Index drawn from unnormalised non-negative weights (sum must be positive).
    public mutating func categorical(_ weights: UnsafeBufferPointer<Float>) -> Int {
        var total = 0.0
        for w in weights { total += Double(w) }
        var r = uniform() * total
        for i in 0..<weights.count {
            r -= Double(weights[i])
            if r < 0 { return i }
        }
        // Rounding left a sliver: return the last index with positive weight.
        for i in stride(from: weights.count - 1, through: 0, by: -1) where weights[i] > 0 { return i }
        return weights.count - 1
    }
}
