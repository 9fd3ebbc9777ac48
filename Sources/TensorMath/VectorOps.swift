// Small numerically careful vector kernels shared by the model and the samplers: max-subtracted softmax with a
// temperature, log-sum-exp, argmax. Double accumulation where a sum can lose precision. softmax and argmax run
// the AVX2/AVX-512 variants from CKernels when the CPU has them (SIMDDispatch.swift); the Swift loops below are the
// portable path the tests compare them with.
import CKernels
import Foundation

/// out[i] = softmax(x / temperature)[i]; returns log Z of the tempered logits (so log p_i = x_i/T - logZ).
@discardableResult
@inline(__always)
public func softmax(
    _ x: UnsafePointer<Float>, count n: Int, temperature: Float = 1, into out: UnsafeMutablePointer<Float>,
    path: SIMDPath = SIMDPath.active
) -> Double {
    switch path {
    case .avx512: return softrl_softmax_temp_avx512(x, n, 1 / temperature, out)
    case .avx2: return softrl_softmax_temp_avx2(x, n, 1 / temperature, out)
    case .portable: break
    }
    var mx = -Float.infinity
    for i in 0..<n where x[i] > mx { mx = x[i] }
    let invT = 1 / temperature
    var sum: Double = 0
    for i in 0..<n {
        let e = expf((x[i] - mx) * invT)
        out[i] = e
        sum += Double(e)
    }
    let inv = Float(1 / sum)
    for i in 0..<n { out[i] *= inv }
    return Double(mx * invT) + log(sum)
}

/// out[i] = exp((x_i - max) / temperature) / sum_j exp((x_j - max) / temperature) in Double: the samplers' step
/// distributions (every thinking and answer step, actor and learner). The wide paths use CKernels' double-precision
/// exponential (within 1 ulp of libm's, results below 2^-1022 flushed to 0).
public func softmaxDouble(
    _ x: UnsafePointer<Float>, count n: Int, temperature: Double, into out: UnsafeMutablePointer<Double>,
    path: SIMDPath = SIMDPath.active
) {
    switch path {
    case .avx512: return softrl_softmax_f64_avx512(x, n, temperature, out)
    case .avx2: return softrl_softmax_f64_avx2(x, n, temperature, out)
    case .portable: break
    }
    var mx = -Double.infinity
    for i in 0..<n { mx = max(mx, Double(x[i])) }
    var sum = 0.0
    for i in 0..<n { out[i] = exp((Double(x[i]) - mx) / temperature); sum += out[i] }
    for i in 0..<n { out[i] /= sum }
}

/// log sum_i exp(x_i / temperature), max-subtracted.
@inline(__always)
public func logSumExp(_ x: UnsafePointer<Float>, count n: Int, temperature: Float = 1) -> Double {
    var mx = -Float.infinity
    for i in 0..<n where x[i] > mx { mx = x[i] }
    let invT = Double(1 / temperature)
    var sum = 0.0
    for i in 0..<n { sum += exp(Double(x[i] - mx) * invT) }
    return Double(mx) * invT + log(sum)
}

/// Index of the largest entry (first on ties: deterministic greedy decoding).
@inline(__always)
public func argmax(_ x: UnsafePointer<Float>, count n: Int, path: SIMDPath = SIMDPath.active) -> Int {
    switch path {
    case .avx512: return softrl_argmax_avx512(x, n)
    case .avx2: return softrl_argmax_avx2(x, n)
    case .portable: break
    }
    var best = 0
    var mx = x[0]
    for i in 1..<n where x[i] > mx { mx = x[i]; best = i }
    return best
}
