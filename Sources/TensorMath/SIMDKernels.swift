// Small vector kernels written with SIMD8<Float> so the elementwise parts of the model run 8 (or 2 x 4) lanes at a
// time. Why explicit SIMD: Swift does not reassociate float sums (so reductions never auto-vectorise), and libm's
// expf is a scalar call per element (SwiGLU and softmax call it millions of times per training step).
// All are @inlinable so they inline into the model's loops across the module boundary.

public typealias F8 = SIMD8<Float>

@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }

@inlinable @inline(__always)
public func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// e^x for 8 lanes, relative error ~2e-7 on [-87, 88] (inputs are clamped to that range).
/// x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its degree-6 Taylor polynomial (truncation
/// error r^7/7! < 1.3e-7), times 2^n built directly in the exponent bits.
@inlinable @inline(__always)
public func exp8(_ x: F8) -> F8 {
    // Clamp with compare-and-blend: `clamped`/`pointwiseMin` are generic lane loops that did not inline.
    let lo = F8(repeating: -87.0), hi = F8(repeating: 88.0)
    var xc = x
    xc.replace(with: lo, where: x .< lo)
    xc.replace(with: hi, where: x .> hi)
    // Round x/ln2 to nearest by adding 1.5 * 2^23: the integer lands in the low mantissa bits (no SSE4.1 round needed).
    let magic = F8(repeating: 12582912.0)
    let t = xc * F8(repeating: 1.44269504088896341) + magic
    let n = t - magic
    let r = xc - n * F8(repeating: 0.693359375) - n * F8(repeating: -2.12194440e-4)
    var p = F8(repeating: 1.0 / 720.0)
    p = p * r + F8(repeating: 1.0 / 120.0)
    p = p * r + F8(repeating: 1.0 / 24.0)
    p = p * r + F8(repeating: 1.0 / 6.0)
    p = p * r + F8(repeating: 0.5)
    p = p * r + F8(repeating: 1.0)
    p = p * r + F8(repeating: 1.0)
    let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 // n as an integer
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: F8.self) // 2^n
    return p * scale
}

/// Scalar e^x with the same polynomial (for loop tails, so every element gets the same rounding behaviour).
@inlinable @inline(__always)
public func exp1(_ x: Float) -> Float { exp8(F8(repeating: x))[0] }

/// sum_i a_i b_i, 8-lane partial sums (so the result differs from a sequential sum in rounding only).
@inlinable @inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
    var acc0 = F8(), acc1 = F8()
    var i = 0
    while i + 16 <= n {
        acc0 += load8(a + i) * load8(b + i)
        acc1 += load8(a + i + 8) * load8(b + i + 8)
        i += 16
    }
    if i + 8 <= n { acc0 += load8(a + i) * load8(b + i); i += 8 }
    var s = (acc0 + acc1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += alpha * x
@inlinable @inline(__always)
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    let av = F8(repeating: alpha)
    var i = 0
    while i + 8 <= n { store8(load8(y + i) + av * load8(x + i), y + i); i += 8 }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}
