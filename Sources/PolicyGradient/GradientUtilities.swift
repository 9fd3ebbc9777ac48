// Whole-buffer gradient utilities: global L2 norm, clipping by global norm (Pascanu et al. arXiv 1211.5063),
// finite check. Fast loops over flat Float buffers (~10M floats per step); no per-tensor logic.

import Foundation

/// √(Σ g_i²), accumulated in Double (Float sums of 10M squares lose ~3 digits).
/// Eight independent accumulators: Swift keeps FP addition order, so one accumulator would serialise the loop.
public func globalNorm(_ g: UnsafeBufferPointer<Float>) -> Double {
    let n = g.count
    guard n > 0, let p = g.baseAddress else { return 0 }
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0
    var i = 0
    while i + 8 <= n {
        let x0 = Double(p[i]), x1 = Double(p[i + 1]), x2 = Double(p[i + 2]), x3 = Double(p[i + 3])
        let x4 = Double(p[i + 4]), x5 = Double(p[i + 5]), x6 = Double(p[i + 6]), x7 = Double(p[i + 7])
        s0 += x0 * x0; s1 += x1 * x1; s2 += x2 * x2; s3 += x3 * x3
        s4 += x4 * x4; s5 += x5 * x5; s6 += x6 * x6; s7 += x7 * x7
        i += 8
    }
    while i < n { let x = Double(p[i]); s0 += x * x; i += 1 }
    return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))).squareRoot()
}

/// Scale g in place so its global norm is at most maxNorm. Returns the norm before clipping and the
/// factor applied (1 when already within bounds). A non-finite norm leaves g untouched with scale 1:
/// scaling cannot repair NaN/Inf, and the caller should skip the step (see `allFinite`).
@discardableResult
public func clipGradients(_ g: UnsafeMutableBufferPointer<Float>, maxNorm: Double) -> (
    normBefore: Double, scale: Double
) {
    precondition(maxNorm > 0, "maxNorm must be positive")
    let norm = globalNorm(UnsafeBufferPointer(g))
    guard norm.isFinite, norm > maxNorm, let p = g.baseAddress else { return (norm, 1) }
    let scale = maxNorm / norm
    let s = Float(scale)
    for i in 0..<g.count { p[i] *= s }
    return (norm, scale)
}

/// True when no element is NaN or ±Inf. Works on the bit pattern: a Float is non-finite exactly when
/// its exponent bits are all ones, i.e. |bits| ≥ 0x7F80_0000; an integer max-reduction vectorises.
public func allFinite(_ g: UnsafeBufferPointer<Float>) -> Bool {
    let n = g.count
    guard n > 0, let base = g.baseAddress else { return true }
    return base.withMemoryRebound(to: UInt32.self, capacity: n) { bits in
        var worst: UInt32 = 0
        var i = 0
        let chunk = 4096 // early exit per chunk without a branch per element
        while i < n {
            let end = min(i + chunk, n)
            for j in i..<end { worst = max(worst, bits[j] & 0x7FFF_FFFF) }
            if worst >= 0x7F80_0000 { return false }
            i = end
        }
        return true
    }
}
