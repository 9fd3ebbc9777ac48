// Run-time choice between the portable Swift kernels (SIMD8<Float>, compiled for baseline x86-64, i.e. SSE2) and
// the AVX2/FMA and AVX-512 variants in CKernels, for the hot loops OpenBLAS does not cover: attention over the KV
// cache in decode, row softmax, RMSNorm, SwiGLU (and its backward), RoPE, AdamW, the vocabulary softmax and argmax.
// `SIMDPath.active` is the widest variant this CPU and OS support (cpuid + XGETBV, `CPUFeatures`);
// SOFTRL_SIMD=portable|avx2|avx512 narrows it (for measuring; a wider request than supported is ignored).
// Every kernel takes `path:` so the tests run each variant against the portable one and a double reference.
import CKernels
import Foundation

public enum SIMDPath: String, CaseIterable, Sendable {
    case portable, avx2, avx512

    /// Variants this process can run (portable always; the others only when compiled in and usable).
    public static let supported: [SIMDPath] = {
        var s: [SIMDPath] = [.portable]
        guard softrl_kernels_compiled() != 0 else { return s }
        let f = CPUFeatures.host
        if f.avx2FMAUsable { s.append(.avx2) }
        if f.avx512Usable { s.append(.avx512) }
        return s
    }()

    nonisolated(unsafe) public static var active: SIMDPath = {
        if let req = getenv("SOFTRL_SIMD").map({ String(cString: $0) }), let p = SIMDPath(rawValue: req),
            supported.contains(p)
        {
            return p
        }
        return supported.last!
    }()
}

public enum Kernels {
    /// Softmax of one row in place (attention scores).
    @inline(__always)
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, length: Int, path: SIMDPath = SIMDPath.active)
    {
        switch path {
        case .avx512: softrl_softmax_inplace_avx512(row, length)
        case .avx2: softrl_softmax_inplace_avx2(row, length)
        case .portable: softmaxInPlacePortable(row, length: length)
        }
    }

    public static func softmaxInPlacePortable(_ row: UnsafeMutablePointer<Float>, length: Int) {
        var j = 0
        var mv = F8(repeating: -Float.infinity)
        while j + 8 <= length { let v = load8(row + j); mv.replace(with: v, where: v .> mv); j += 8 }
        var mx = mv.max()
        while j < length { mx = max(mx, row[j]); j += 1 }
        let m8 = F8(repeating: mx)
        var sv = F8()
        j = 0
        while j + 8 <= length { let e = exp8(load8(row + j) - m8); store8(e, row + j); sv += e; j += 8 }
        var sum = sv.sum()
        while j < length { let e = exp1(row[j] - mx); row[j] = e; sum += e; j += 1 }
        let inv = 1 / sum
        let i8 = F8(repeating: inv)
        j = 0
        while j + 8 <= length { store8(load8(row + j) * i8, row + j); j += 8 }
        while j < length { row[j] *= inv; j += 1 }
    }

    /// One attention head over `length` cached positions: scores_j = scale q.k_j, softmax, out = sum_j p_j v_j.
    /// Keys and values of consecutive positions are `stride` floats apart. `scores` needs `length` floats.
    @inline(__always)
    public static func attendHead(
        q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        stride: Int, length: Int, headDim hd: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
        path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_attend_avx512(q, keys, values, stride, length, hd, scale, scores, out)
        case .avx2: softrl_attend_avx2(q, keys, values, stride, length, hd, scale, scores, out)
        case .portable:
            for j in 0..<length { scores[j] = scale * dot(q, keys + j * stride, count: hd) }
            softmaxInPlacePortable(scores, length: length)
            out.update(repeating: 0, count: hd)
            for j in 0..<length { axpy(scores[j], values + j * stride, out, count: hd) }
        }
    }

    /// Positions per block of decode's key cache (layout: CKernels.h, SOFTRL_KEY_BLOCK): per key/value head, blocks of
    /// 16 positions, each headDim rows of 16 floats, so dimension d of position p is at
    /// [(p / 16) * headDim * 16 + d * 16 + p % 16]. Values: one row of headDim floats per position.
    public static let keyBlock = Int(SOFTRL_KEY_BLOCK)

    /// Floats `attendCached` needs in `scores` for `length` positions and `group` query heads per key/value head.
    public static func attendScoresCount(group: Int, length: Int) -> Int {
        group * (length + keyBlock - 1) / keyBlock * keyBlock
    }

    /// One row's decode attention over its KV cache: q holds `heads` query heads (headDim apart); `heads / kvHeads`
    /// consecutive query heads share each key/value head, whose keys (block layout above) start `keyStride` floats
    /// apart and values `valueStride` apart. out_h = softmax_j(scale q_h . k_j) v_j over the first `length`
    /// positions; key lanes past `length` in the last block are never used (they may hold anything).
    /// `scores` needs `attendScoresCount(group:length:)` floats.
    @inline(__always)
    public static func attendCached(
        q: UnsafePointer<Float>, heads: Int, kvHeads: Int, headDim hd: Int,
        keys: UnsafePointer<Float>, keyStride: Int, values: UnsafePointer<Float>,
        valueStride: Int, length: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512:
            softrl_attend_cached_avx512(
                q, heads, kvHeads, hd, keys, keyStride, values, valueStride, length, scale, scores, out)
        case .avx2:
            softrl_attend_cached_avx2(
                q, heads, kvHeads, hd, keys, keyStride, values, valueStride, length, scale, scores, out)
        case .portable:
            let group = heads / kvHeads, B = keyBlock
            for h in 0..<heads {
                let g = h / group
                let qh = q + h * hd, kg = keys + g * keyStride, vg = values + g * valueStride, o = out + h * hd
                for j in 0..<length {
                    let kb = kg + (j / B) * hd * B + j % B
                    var s: Float = 0
                    for d in 0..<hd { s += qh[d] * kb[d * B] }
                    scores[j] = scale * s
                }
                softmaxInPlacePortable(scores, length: length)
                o.update(repeating: 0, count: hd)
                for j in 0..<length { axpy(scores[j], vg + j * hd, o, count: hd) }
            }
        }
    }

    /// Starts loading one row's KV cache (first `length` positions; layout as for `attendCached`) into L2, so decode
    /// can fetch the next row's cache while it attends over this one. A hint: never changes a result.
    @inline(__always)
    public static func prefetchCacheRow(
        keys: UnsafePointer<Float>, keyStride: Int, values: UnsafePointer<Float>,
        valueStride: Int, kvHeads: Int, headDim: Int, length: Int
    ) {
        softrl_prefetch_cache_row(keys, keyStride, values, valueStride, kvHeads, headDim, length)
    }

    /// y = x * r * w per row, r = 1/sqrt(mean(x^2) + eps); r stored in invRms when given.
    @inline(__always)
    public static func rmsnorm(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        invRms: UnsafeMutablePointer<Float>?, rows: Int, dim: Int, eps: Float,
        path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_rmsnorm_avx512(x, w, y, invRms, rows, dim, eps)
        case .avx2: softrl_rmsnorm_avx2(x, w, y, invRms, rows, dim, eps)
        case .portable:
            for r in 0..<rows {
                let xr = x + r * dim, yr = y + r * dim
                let ss = dot(xr, xr, count: dim)
                let inv = 1 / (ss / Float(dim) + eps).squareRoot()
                invRms?[r] = inv
                let iv = F8(repeating: inv)
                var j = 0
                while j + 8 <= dim { store8(load8(xr + j) * iv * load8(w + j), yr + j); j += 8 }
                while j < dim { yr[j] = xr[j] * inv * w[j]; j += 1 }
            }
        }
    }

    /// h = silu(gate) * up (h may alias gate).
    @inline(__always)
    public static func swiglu(
        _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>,
        count: Int, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_swiglu_avx512(gate, up, h, count)
        case .avx2: softrl_swiglu_avx2(gate, up, h, count)
        case .portable:
            let one = F8(repeating: 1)
            var i = 0
            while i + 8 <= count {
                let g = load8(gate + i)
                store8(g / (one + exp8(-g)) * load8(up + i), h + i)
                i += 8
            }
            while i < count { let g = gate[i]; h[i] = g / (1 + exp1(-g)) * up[i]; i += 1 }
        }
    }

    /// SwiGLU's backward: s = sigmoid(gate), dUp = dh * gate * s, dGate = dh * up * s * (1 + gate * (1 - s))
    /// (written, not accumulated).
    @inline(__always)
    public static func swigluBackward(
        _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int,
        path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_swiglu_backward_avx512(dh, gate, up, dGate, dUp, count)
        case .avx2: softrl_swiglu_backward_avx2(dh, gate, up, dGate, dUp, count)
        case .portable:
            let one = F8(repeating: 1)
            var i = 0
            while i + 8 <= count {
                let g = load8(gate + i), d = load8(dh + i)
                let s = one / (one + exp8(-g))
                store8(d * (g * s), dUp + i)
                store8(d * load8(up + i) * s * (one + g * (one - s)), dGate + i)
                i += 8
            }
            while i < count {
                let g = gate[i]
                let s = 1 / (1 + exp1(-g))
                dUp[i] = dh[i] * (g * s)
                dGate[i] = dh[i] * up[i] * s * (1 + g * (1 - s))
                i += 1
            }
        }
    }

    /// RMSNorm's backward: dx_i += r w_i dy_i - x_i r^3/d sum_j dy_j w_j x_j ; dw_j += dy_j x_j r (both accumulated),
    /// r = invRms of the row.
    @inline(__always)
    public static func rmsnormBackward(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        invRms: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        dw: UnsafeMutablePointer<Float>, rows: Int, dim: Int, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_rmsnorm_backward_avx512(dy, x, w, invRms, dx, dw, rows, dim)
        case .avx2: softrl_rmsnorm_backward_avx2(dy, x, w, invRms, dx, dw, rows, dim)
        case .portable:
            for r in 0..<rows {
                let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
                let inv = invRms[r]
                var acc = F8()
                var j = 0
                while j + 8 <= dim { acc += load8(dyr + j) * load8(w + j) * load8(xr + j); j += 8 }
                var dotv = acc.sum()
                while j < dim { dotv += dyr[j] * w[j] * xr[j]; j += 1 }
                let k = dotv * inv * inv * inv / Float(dim)
                let iv = F8(repeating: inv), kv = F8(repeating: k)
                j = 0
                while j + 8 <= dim {
                    let dyv = load8(dyr + j), xv = load8(xr + j)
                    store8(load8(dxr + j) + iv * load8(w + j) * dyv - xv * kv, dxr + j)
                    store8(load8(dw + j) + dyv * xv * iv, dw + j)
                    j += 8
                }
                while j < dim {
                    dxr[j] += inv * w[j] * dyr[j] - xr[j] * k
                    dw[j] += dyr[j] * xr[j] * inv
                    j += 1
                }
            }
        }
    }

    /// Floats of `scratch` the causal attention kernels need for `length` positions and head size `headDim`.
    public static func causalAttentionScratchCount(length: Int, headDim: Int) -> Int {
        softrl_causal_attention_scratch(length, headDim)
    }

    /// The training pass's causal attention over one sequence of `length` positions and one key/value head, for the
    /// `group` query heads that share it (headDim floats apart in a row of q and out; rows ldq / ldo apart; key and
    /// value rows ldkv apart). Writes probs (group x length x length: row i = softmax_{j <= i}(scale q_i . k_j),
    /// 0 past i) and out = probs v. The AVX2/AVX-512 kernels compute only the causal half; the portable path is
    /// OpenBLAS over the full square and a row softmax.
    public static func causalAttentionForward(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, ldkv: Int, length T: Int, headDim hd: Int,
        group: Int, scale: Float, probs: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, ldo: Int,
        scratch: UnsafeMutablePointer<Float>, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512:
            softrl_causal_attention_forward_avx512(q, ldq, k, v, ldkv, T, hd, group, scale, probs, out, ldo, scratch)
        case .avx2:
            softrl_causal_attention_forward_avx2(q, ldq, k, v, ldkv, T, hd, group, scale, probs, out, ldo, scratch)
        case .portable:
            for h in 0..<group {
                let P = probs + h * T * T
                sgemm(
                    .none, .transposed, m: T, n: T, k: hd, alpha: scale, a: q + h * hd, lda: ldq, b: k, ldb: ldkv, c: P,
                    ldc: T)
                for i in 0..<T {
                    let row = P + i * T
                    softmaxInPlacePortable(row, length: i + 1)
                    for j in (i + 1)..<T { row[j] = 0 } // causal mask
                }
                sgemm(.none, .none, m: T, n: hd, k: T, a: P, lda: T, b: v, ldb: ldkv, c: out + h * hd, ldc: ldo)
            }
        }
    }

    /// The backward of `causalAttentionForward` from its probs and dOut (laid out like out): dq written (like q),
    /// dk and dv ACCUMULATED (rows lddkv apart; the group's query heads all add into them).
    public static func causalAttentionBackward(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, ldkv: Int, probs: UnsafePointer<Float>,
        dOut: UnsafePointer<Float>, lddo: Int, length T: Int, headDim hd: Int,
        group: Int, scale: Float, dq: UnsafeMutablePointer<Float>, lddq: Int,
        dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, lddkv: Int,
        scratch: UnsafeMutablePointer<Float>, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512:
            softrl_causal_attention_backward_avx512(
                q, ldq, k, v, ldkv, probs, dOut, lddo, T, hd, group, scale, dq, lddq, dk, dv, lddkv, scratch)
        case .avx2:
            softrl_causal_attention_backward_avx2(
                q, ldq, k, v, ldkv, probs, dOut, lddo, T, hd, group, scale, dq, lddq, dk, dv, lddkv, scratch)
        case .portable:
            let dS = scratch
            for h in 0..<group {
                let P = probs + h * T * T, dO = dOut + h * hd
                // dP = dO V^T ; dV += P^T dO
                sgemm(.none, .transposed, m: T, n: T, k: hd, a: dO, lda: lddo, b: v, ldb: ldkv, c: dS, ldc: T)
                sgemm(.transposed, .none, m: T, n: hd, k: T, a: P, lda: T, b: dO, ldb: lddo, beta: 1, c: dv, ldc: lddkv)
                // Softmax backward: dS = P * (dP - sum_j dP_j P_j), causal rows only.
                for i in 0..<T {
                    let pr = P + i * T, dr = dS + i * T
                    let dotv = dot(pr, dr, count: i + 1)
                    for j in 0...i { dr[j] = pr[j] * (dr[j] - dotv) }
                    for j in (i + 1)..<T { dr[j] = 0 }
                }
                // dQ = scale dS K ; dK += scale dS^T Q
                sgemm(
                    .none, .none, m: T, n: hd, k: T, alpha: scale, a: dS, lda: T, b: k, ldb: ldkv, c: dq + h * hd,
                    ldc: lddq)
                sgemm(
                    .transposed, .none, m: T, n: hd, k: T, alpha: scale, a: dS, lda: T, b: q + h * hd, ldb: ldq,
                    beta: 1,
                    c: dk, ldc: lddkv)
            }
        }
    }

    /// Rotate-half RoPE of each head of one row in place, with this position's cos/sin rows (headDim/2 each);
    /// sign -1 applies the inverse rotation.
    @inline(__always)
    public static func rope(
        _ row: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos c: UnsafePointer<Float>,
        sin s: UnsafePointer<Float>, sign: Float, path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_rope_avx512(row, heads, headDim, c, s, sign)
        case .avx2: softrl_rope_avx2(row, heads, headDim, c, s, sign)
        case .portable:
            let half = headDim / 2
            for h in 0..<heads {
                let v = row + h * headDim
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    let si = sign * s[i]
                    v[i] = a * c[i] - b * si
                    v[i + half] = b * c[i] + a * si
                }
            }
        }
    }

    /// One AdamW step over n parameters, weight decay on all (see PolicyGradient/AdamW.swift for the algorithm).
    public static func adamw(
        p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, count n: Int, beta1 b1: Float, beta2 b2: Float,
        invCorrection1 ic1: Float, invCorrection2 ic2: Float, eps: Float, lr: Float, lrDecay: Float,
        path: SIMDPath = SIMDPath.active
    ) {
        let omb1 = 1 - b1, omb2 = 1 - b2
        adamw(
            p: p, g: g, m: m, v: v, count: n, beta1: b1, beta2: b2, oneMinusBeta1: omb1, oneMinusBeta2: omb2,
            invCorrection1: ic1, invCorrection2: ic2, eps: eps, lr: lr, lrDecay: lrDecay, path: path)
    }

    public static func adamw(
        p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, count n: Int, beta1 b1: Float, beta2 b2: Float,
        oneMinusBeta1 omb1: Float, oneMinusBeta2 omb2: Float,
        invCorrection1 ic1: Float, invCorrection2 ic2: Float, eps: Float, lr: Float, lrDecay: Float,
        path: SIMDPath = SIMDPath.active
    ) {
        switch path {
        case .avx512: softrl_adamw_avx512(p, g, m, v, n, b1, b2, omb1, omb2, ic1, ic2, eps, lr, lrDecay)
        case .avx2: softrl_adamw_avx2(p, g, m, v, n, b1, b2, omb1, omb2, ic1, ic2, eps, lr, lrDecay)
        case .portable:
            for i in 0..<n {
                let gi = g[i]
                let mi = b1 * m[i] + omb1 * gi
                let vi = b2 * v[i] + omb2 * gi * gi
                m[i] = mi
                v[i] = vi
                let mHat = mi * ic1
                let vHat = vi * ic2
                p[i] -= lr * (mHat / (vHat.squareRoot() + eps)) + lrDecay * p[i]
            }
        }
    }
}
