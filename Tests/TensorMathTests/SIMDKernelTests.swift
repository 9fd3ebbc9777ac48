// Every SIMD path of every kernel (portable Swift, AVX2/FMA, AVX-512 where this CPU has them) against a naive
// double-precision reference, and each wide path against the portable one. Paths this CPU lacks are reported and
// skipped. Sizes cover full vectors and ragged tails.
import Foundation
import XCTest
import CKernels
@testable import TensorMath

final class SIMDKernelTests: XCTestCase {
    var rng = Xoshiro256(seed: 42)
    func random(_ n: Int, _ scale: Double = 1) -> [Float] {
        (0..<n).map { _ in Float((rng.uniform() * 2 - 1) * scale) }
    }

    override func setUp() {
        let missing = SIMDPath.allCases.filter { !SIMDPath.supported.contains($0) }
        if !missing.isEmpty { print("SIMD paths not testable on this CPU (skipped): \(missing.map(\.rawValue))") }
    }

    func assertClose(
        _ a: [Float], _ b: [Double], rel: Double, _ msg: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.count, b.count, msg, file: file, line: line)
        let scale = max(b.map { abs($0) }.max() ?? 1, 1e-30)
        var worst = 0.0
        for i in 0..<min(a.count, b.count) { worst = max(worst, abs(Double(a[i]) - b[i]) / scale) }
        if a.contains(where: { $0.isNaN }) { worst = .infinity }
        XCTAssertLessThanOrEqual(
            worst, rel, "\(msg): max error \(worst) relative to the largest entry", file: file, line: line)
    }

    func softmaxRef(_ x: [Float], _ invT: Double = 1) -> [Double] {
        let m = Double(x.max()!)
        let e = x.map { Foundation.exp((Double($0) - m) * invT) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testRowSoftmax() {
        for n in [1, 7, 8, 15, 16, 17, 33, 72, 200] {
            let x = random(n, 6)
            let ref = softmaxRef(x)
            var portable = x
            Kernels.softmaxInPlace(&portable, length: n, path: .portable)
            for path in SIMDPath.supported {
                var y = x
                Kernels.softmaxInPlace(&y, length: n, path: path)
                assertClose(y, ref, rel: 2e-6, "softmax \(path) n=\(n)")
                assertClose(y, portable.map(Double.init), rel: 2e-6, "softmax \(path) vs portable n=\(n)")
            }
        }
    }

    func testAttentionHead() {
        for (hd, len, stride) in [
            (64, 1, 192), (64, 72, 192), (32, 9, 64), (16, 17, 32), (8, 5, 24), (24, 40, 48), (128, 3, 256)
        ] {
            let q = random(hd), keys = random(len * stride), values = random(len * stride)
            let scale = 1 / Float(hd).squareRoot()
            var s = (0..<len).map { j in
                (0..<hd).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[j * stride + $1]) } * Double(scale)
            }
            let m = s.max()!
            s = s.map { Foundation.exp($0 - m) }
            let z = s.reduce(0, +)
            let ref = (0..<hd).map { i in (0..<len).reduce(0.0) { $0 + s[$1] / z * Double(values[$1 * stride + i]) } }
            var portable = [Float](repeating: 0, count: hd)
            for path in SIMDPath.supported {
                var out = [Float](repeating: .nan, count: hd), scores = [Float](repeating: .nan, count: len)
                Kernels.attendHead(
                    q: q, keys: keys, values: values, stride: stride, length: len, headDim: hd, scale: scale,
                    scores: &scores, out: &out, path: path)
                if path == .portable { portable = out }
                assertClose(out, ref, rel: 3e-6, "attention \(path) hd=\(hd) len=\(len)")
                assertClose(
                    out, portable.map(Double.init), rel: 3e-6, "attention \(path) vs portable hd=\(hd) len=\(len)")
            }
        }
    }

    /// Decode's attention over one row's cache (keys in 16-position blocks, values one row per position), every path
    /// against a double-precision reference written like the math and against the portable path: grouped and plain
    /// multi-head, head sizes that are and are not a multiple of the vector width, lengths inside and at the edge of a
    /// block, strides with gaps. Everything the cache holds past `length` is poison (NaN, +-1e3, infinity): it must
    /// never reach the output (a finite poison also catches a softmax that forgets to mask its max or its sum).
    func testAttentionOverCachedBlocks() {
        let B = Kernels.keyBlock
        for (heads, kvHeads, hd, len) in [
            (1, 1, 64, 1), (2, 1, 32, 9), (4, 2, 32, 40), (8, 4, 32, 72), (9, 3, 64, 72),
            (5, 1, 16, 33), (8, 2, 24, 40), (8, 4, 8, 64), (1, 1, 128, 3), (12, 1, 16, 17),
            (16, 2, 64, 50), (6, 6, 32, 16), (24, 2, 16, 5),
            (40, 2, 16, 20), (34, 1, 32, 7)
        ] {
            let group = heads / kvHeads, cap = len + 20
            let keyStride = (cap + B - 1) / B * B * hd + B, valueStride = cap * hd + 3
            let q = random(heads * hd)
            let poison: [Float] = [.nan, 1e3, -1e3, .infinity]
            var keys = (0..<(kvHeads * keyStride)).map { poison[$0 % 4] },
                values = (0..<(kvHeads * valueStride)).map { poison[$0 % 4] }
            func keyIndex(_ g: Int, _ p: Int, _ d: Int) -> Int { g * keyStride + (p / B) * hd * B + d * B + p % B }
            for g in 0..<kvHeads {
                for p in 0..<len {
                    for d in 0..<hd { keys[keyIndex(g, p, d)] = Float((rng.uniform() * 2 - 1) * 3) }
                    for d in 0..<hd { values[g * valueStride + p * hd + d] = Float(rng.uniform() * 2 - 1) }
                }
            }
            let scale = 1 / Float(hd).squareRoot()
            var ref: [Double] = []
            for h in 0..<heads {
                let g = h / group
                var s = (0..<len).map { p in
                    (0..<hd).reduce(0.0) { $0 + Double(q[h * hd + $1]) * Double(keys[keyIndex(g, p, $1)]) }
                        * Double(scale)
                }
                let m = s.max()!
                s = s.map { Foundation.exp($0 - m) }
                let z = s.reduce(0, +)
                ref += (0..<hd).map { i in
                    (0..<len).reduce(0.0) { $0 + s[$1] / z * Double(values[g * valueStride + $1 * hd + i]) }
                }
            }
            var portable = [Float](repeating: 0, count: heads * hd)
            for path in SIMDPath.supported {
                var out = [Float](repeating: .nan, count: heads * hd)
                var scores = [Float](repeating: .nan, count: Kernels.attendScoresCount(group: group, length: len))
                Kernels.attendCached(
                    q: q, heads: heads, kvHeads: kvHeads, headDim: hd, keys: keys, keyStride: keyStride,
                    values: values, valueStride: valueStride, length: len, scale: scale, scores: &scores,
                    out: &out, path: path)
                if path == .portable { portable = out }
                let what = "cached attention \(path) heads \(heads)/\(kvHeads) hd \(hd) len \(len)"
                assertClose(out, ref, rel: 3e-6, what)
                assertClose(out, portable.map(Double.init), rel: 3e-6, what + " vs portable")
            }
        }
    }

    func testRMSNorm() {
        for (rows, dim) in [(1, 8), (3, 576), (2, 37), (4, 128)] {
            let x = random(rows * dim, 3), w = random(dim)
            var ref = [Double](), refInv = [Double]()
            for r in 0..<rows {
                let xs = x[(r * dim)..<((r + 1) * dim)].map(Double.init)
                let inv = 1 / (xs.reduce(0) { $0 + $1 * $1 } / Double(dim) + 1e-5).squareRoot()
                refInv.append(inv)
                ref += (0..<dim).map { xs[$0] * inv * Double(w[$0]) }
            }
            for path in SIMDPath.supported {
                var y = [Float](repeating: .nan, count: rows * dim), inv = [Float](repeating: .nan, count: rows)
                Kernels.rmsnorm(x, w, &y, invRms: &inv, rows: rows, dim: dim, eps: 1e-5, path: path)
                assertClose(y, ref, rel: 2e-6, "rmsnorm \(path) \(rows)x\(dim)")
                assertClose(inv, refInv, rel: 2e-6, "rmsnorm inverse RMS \(path)")
            }
        }
    }

    /// RMSNorm's backward on every path against the derivative in double precision and the portable path; dx and dw
    /// start from nonzero values (both accumulate), dims on and off the vector widths.
    func testRMSNormBackward() {
        for (rows, dim) in [(1, 1), (2, 7), (3, 16), (2, 37), (4, 128), (3, 576), (1, 24)] {
            let x = random(rows * dim, 3), w = random(dim), dy = random(rows * dim), dx0 = random(rows * dim),
                dw0 = random(dim)
            var inv = [Float](), refDx = dx0.map(Double.init), refDw = dw0.map(Double.init)
            for r in 0..<rows {
                let xs = (0..<dim).map { Double(x[r * dim + $0]) }
                let ir = Float(1 / (xs.reduce(0) { $0 + $1 * $1 } / Double(dim) + 1e-5).squareRoot())
                inv.append(ir)
                let rr = Double(ir)
                let s = (0..<dim).reduce(0.0) { $0 + Double(dy[r * dim + $1]) * Double(w[$1]) * xs[$1] }
                for j in 0..<dim {
                    refDx[r * dim + j] +=
                        rr * Double(w[j]) * Double(dy[r * dim + j]) - xs[j] * rr * rr * rr / Double(dim) * s
                    refDw[j] += Double(dy[r * dim + j]) * xs[j] * rr
                }
            }
            var pDx = dx0, pDw = dw0
            Kernels.rmsnormBackward(dy, x, w, invRms: inv, dx: &pDx, dw: &pDw, rows: rows, dim: dim, path: .portable)
            for path in SIMDPath.supported {
                var dx = dx0, dw = dw0
                Kernels.rmsnormBackward(dy, x, w, invRms: inv, dx: &dx, dw: &dw, rows: rows, dim: dim, path: path)
                assertClose(dx, refDx, rel: 2e-6, "rmsnorm backward dx \(path) \(rows)x\(dim)")
                assertClose(dw, refDw, rel: 2e-6, "rmsnorm backward dw \(path) \(rows)x\(dim)")
                assertClose(
                    dx, pDx.map(Double.init), rel: 2e-6, "rmsnorm backward dx \(path) vs portable \(rows)x\(dim)")
                assertClose(
                    dw, pDw.map(Double.init), rel: 2e-6, "rmsnorm backward dw \(path) vs portable \(rows)x\(dim)")
            }
        }
    }

    /// The training pass's causal attention (one sequence, one key/value head and the query heads sharing it), forward
    /// and backward, on every path against a double-precision reference written like the math and against the
    /// portable path (OpenBLAS over the full square). Lengths and head sizes on and off the vector widths (head sizes
    /// the kernels tile as 1-4 vectors and ones they do row by row), rows with gaps between heads. Poison: NaN and
    /// infinity in the gaps, in the key/value rows past the sequence (the next sequence's rows in a real pass), in the
    /// scratch and in every output the kernel writes; none may reach a result, and nothing outside the outputs changes.
    func testCausalAttention() {
        let poison: [Float] = [.nan, .infinity, -.infinity, 1e30]
        for (T, hd, group) in [
            (1, 32, 1), (5, 8, 2), (16, 16, 1), (17, 32, 2), (33, 24, 3), (64, 32, 2), (40, 64, 1),
            (9, 128, 2), (20, 48, 3), (7, 6, 1), (3, 16, 4), (65, 32, 1)
        ] {
            let ldq = group * hd + 5, ldkv = hd + 3, rowsKV = T + 4
            func poisoned(_ rows: Int, _ ld: Int, _ cols: Int, valid: Int, _ scale: Double = 1) -> [Float] {
                var a = (0..<(rows * ld)).map { poison[$0 % 4] }
                for r in 0..<valid { for c in 0..<cols { a[r * ld + c] = Float((rng.uniform() * 2 - 1) * scale) } }
                return a
            }
            let q = poisoned(T, ldq, group * hd, valid: T, 2), k = poisoned(rowsKV, ldkv, hd, valid: T, 2)
            let v = poisoned(rowsKV, ldkv, hd, valid: T), dOut = poisoned(T, ldq, group * hd, valid: T)
            let dk0 = poisoned(T, ldkv, hd, valid: T), dv0 = poisoned(T, ldkv, hd, valid: T)
            let scale = 1 / Float(hd).squareRoot()
            // Reference in double.
            var refP = [Double](repeating: 0, count: group * T * T),
                refOut = [Double](repeating: 0, count: group * T * hd)
            var refDq = [Double](repeating: 0, count: group * T * hd)
            var refDk = (0..<(T * hd)).map { Double(dk0[($0 / hd) * ldkv + $0 % hd]) }
            var refDv = (0..<(T * hd)).map { Double(dv0[($0 / hd) * ldkv + $0 % hd]) }
            for h in 0..<group {
                func qv(_ i: Int, _ d: Int) -> Double { Double(q[i * ldq + h * hd + d]) }
                func dov(_ i: Int, _ d: Int) -> Double { Double(dOut[i * ldq + h * hd + d]) }
                for i in 0..<T {
                    var sc = (0...i).map { j in
                        (0..<hd).reduce(0.0) { $0 + qv(i, $1) * Double(k[j * ldkv + $1]) } * Double(scale)
                    }
                    let m = sc.max()!
                    sc = sc.map { Foundation.exp($0 - m) }
                    let z = sc.reduce(0, +)
                    for j in 0...i { refP[h * T * T + i * T + j] = sc[j] / z }
                    for d in 0..<hd {
                        refOut[(h * T + i) * hd + d] = (0...i).reduce(0.0) {
                            $0 + refP[h * T * T + i * T + $1] * Double(v[$1 * ldkv + d])
                        }
                    }
                }
                for i in 0..<T {
                    let p = (0...i).map { refP[h * T * T + i * T + $0] }
                    let dp = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + dov(i, $1) * Double(v[j * ldkv + $1]) } }
                    let dotv = (0...i).reduce(0.0) { $0 + p[$1] * dp[$1] }
                    for j in 0...i {
                        let ds = p[j] * (dp[j] - dotv)
                        for d in 0..<hd {
                            refDq[(h * T + i) * hd + d] += Double(scale) * ds * Double(k[j * ldkv + d])
                            refDk[j * hd + d] += Double(scale) * ds * qv(i, d)
                            refDv[j * hd + d] += p[j] * dov(i, d)
                        }
                    }
                }
            }
            func heads(_ a: [Float], _ ld: Int) -> [Float] {
                (0..<group).flatMap { h in (0..<T).flatMap { i in (0..<hd).map { a[i * ld + h * hd + $0] } } }
            }
            func rows(_ a: [Float]) -> [Float] { (0..<(T * hd)).map { a[($0 / hd) * ldkv + $0 % hd] } }
            var portable: [[Float]] = []
            for path in SIMDPath.supported {
                let what = "causal attention \(path) T \(T) hd \(hd) group \(group)"
                var scratch = [Float](
                    repeating: .nan, count: Kernels.causalAttentionScratchCount(length: T, headDim: hd))
                var probs = [Float](repeating: .nan, count: group * T * T + 7)
                var out = [Float](repeating: .nan, count: T * ldq)
                Kernels.causalAttentionForward(
                    q: q, ldq: ldq, k: k, v: v, ldkv: ldkv, length: T, headDim: hd, group: group,
                    scale: scale, probs: &probs, out: &out, ldo: ldq, scratch: &scratch, path: path)
                scratch = scratch.map { _ in .nan }
                var dq = [Float](repeating: .nan, count: T * ldq), dk = dk0, dv = dv0
                Kernels.causalAttentionBackward(
                    q: q, ldq: ldq, k: k, v: v, ldkv: ldkv, probs: probs, dOut: dOut, lddo: ldq,
                    length: T, headDim: hd, group: group, scale: scale, dq: &dq, lddq: ldq,
                    dk: &dk, dv: &dv, lddkv: ldkv, scratch: &scratch, path: path)
                XCTAssertTrue(probs[(group * T * T)...].allSatisfy { $0.isNaN }, what + ": wrote past probs")
                for i in 0..<T {
                    for c in (group * hd)..<ldq {
                        XCTAssertTrue(out[i * ldq + c].isNaN && dq[i * ldq + c].isNaN, what + ": wrote in a gap")
                    }
                    for c in hd..<ldkv {
                        XCTAssertEqual(dk[i * ldkv + c].bitPattern, dk0[i * ldkv + c].bitPattern, what + ": dk gap")
                        XCTAssertEqual(dv[i * ldkv + c].bitPattern, dv0[i * ldkv + c].bitPattern, what + ": dv gap")
                    }
                }
                let results = [Array(probs[0..<(group * T * T)]), heads(out, ldq), heads(dq, ldq), rows(dk), rows(dv)]
                let refs = [refP, refOut, refDq, refDk, refDv], names = ["probs", "out", "dq", "dk", "dv"]
                if path == .portable { portable = results }
                for i in 0..<5 {
                    assertClose(results[i], refs[i], rel: 1e-5, "\(what) \(names[i])")
                    assertClose(results[i], portable[i].map(Double.init), rel: 1e-5, "\(what) \(names[i]) vs portable")
                }
            }
        }
    }

    func testSwiGLU() {
        for n in [1, 8, 15, 16, 100, 1536] {
            let g = random(n, 10), u = random(n, 2)
            let ref = (0..<n).map { i -> Double in
                let gi = Double(g[i]); return gi / (1 + Foundation.exp(-gi)) * Double(u[i])
            }
            var portable = [Float](repeating: 0, count: n)
            Kernels.swiglu(g, u, &portable, count: n, path: .portable)
            for path in SIMDPath.supported {
                var h = [Float](repeating: .nan, count: n)
                Kernels.swiglu(g, u, &h, count: n, path: path)
                assertClose(h, ref, rel: 2e-6, "swiglu \(path) n=\(n)")
                assertClose(h, portable.map(Double.init), rel: 2e-6, "swiglu \(path) vs portable n=\(n)")
            }
        }
    }

    /// SwiGLU's backward on every path against the derivative in double precision and against the portable path.
    func testSwiGLUBackward() {
        for n in [1, 8, 15, 16, 100, 1536] {
            let g = random(n, 10), u = random(n, 2), dh = random(n)
            var refGate = [Double](), refUp = [Double]()
            for i in 0..<n {
                let gi = Double(g[i]), s = 1 / (1 + Foundation.exp(-gi))
                refUp.append(Double(dh[i]) * gi * s)
                refGate.append(Double(dh[i]) * Double(u[i]) * s * (1 + gi * (1 - s)))
            }
            var pGate = [Float](repeating: 0, count: n), pUp = [Float](repeating: 0, count: n)
            Kernels.swigluBackward(dh, g, u, dGate: &pGate, dUp: &pUp, count: n, path: .portable)
            for path in SIMDPath.supported {
                var dGate = [Float](repeating: .nan, count: n), dUp = [Float](repeating: .nan, count: n)
                Kernels.swigluBackward(dh, g, u, dGate: &dGate, dUp: &dUp, count: n, path: path)
                assertClose(dGate, refGate, rel: 2e-6, "swiglu backward dgate \(path) n=\(n)")
                assertClose(dUp, refUp, rel: 2e-6, "swiglu backward dup \(path) n=\(n)")
                assertClose(
                    dGate, pGate.map(Double.init), rel: 2e-6, "swiglu backward dgate \(path) vs portable n=\(n)")
                assertClose(dUp, pUp.map(Double.init), rel: 2e-6, "swiglu backward dup \(path) vs portable n=\(n)")
            }
        }
    }

    func testRoPE() {
        for (heads, hd) in [(9, 64), (2, 16), (3, 6), (1, 40)] {
            let x = random(heads * hd), c = random(hd / 2), s = random(hd / 2)
            for sign: Float in [1, -1] {
                var ref = [Double](repeating: 0, count: heads * hd)
                for h in 0..<heads {
                    for i in 0..<(hd / 2) {
                        let a = Double(x[h * hd + i]), b = Double(x[h * hd + i + hd / 2]), si = Double(sign * s[i])
                        ref[h * hd + i] = a * Double(c[i]) - b * si
                        ref[h * hd + i + hd / 2] = b * Double(c[i]) + a * si
                    }
                }
                for path in SIMDPath.supported {
                    var y = x
                    Kernels.rope(&y, heads: heads, headDim: hd, cos: c, sin: s, sign: sign, path: path)
                    assertClose(y, ref, rel: 1e-6, "rope \(path) \(heads)x\(hd) sign \(sign)")
                }
            }
        }
    }

    func testAdamW() {
        for n in [1, 15, 16, 17, 1000] {
            let p0 = random(n), g = random(n, 0.1), m0 = random(n, 0.01), v0 = random(n, 0.01).map { abs($0) }
            let b1 = 0.9, b2 = 0.999, ic1 = 1 / 0.1, ic2 = 1 / 0.001, eps = 1e-8, lr = 0.1, wd = 1e-3
            var refP = [Double](), refM = [Double](), refV = [Double]()
            for i in 0..<n {
                let gi = Double(g[i]), m = b1 * Double(m0[i]) + (1 - b1) * gi,
                    v = b2 * Double(v0[i]) + (1 - b2) * gi * gi
                refM.append(m); refV.append(v)
                refP.append(Double(p0[i]) - (lr * (m * ic1 / ((v * ic2).squareRoot() + eps)) + wd * Double(p0[i])))
            }
            for path in SIMDPath.supported {
                var p = p0, m = m0, v = v0
                Kernels.adamw(
                    p: &p, g: g, m: &m, v: &v, count: n, beta1: 0.9, beta2: 0.999, invCorrection1: Float(ic1),
                    invCorrection2: Float(ic2), eps: 1e-8, lr: 0.1, lrDecay: 1e-3, path: path)
                assertClose(m, refM, rel: 1e-6, "adamw m \(path) n=\(n)")
                assertClose(v, refV, rel: 1e-6, "adamw v \(path) n=\(n)")
                // lr 0.1 makes the step as large as p itself, so comparing p checks the step too.
                assertClose(p, refP, rel: 1e-6, "adamw p \(path) n=\(n)")
            }
        }
    }

    func testVocabularySoftmaxAndArgmax() {
        for n in [1, 5, 64, 1000, 49152] {
            var x = random(n, 8)
            let mx = Double(x.max()!)
            for temperature: Float in [1, 0.5, 1e-4] {
                let invT = 1 / Double(temperature)
                let ref = softmaxRef(x, invT)
                let refLogZ =
                    mx * invT + Foundation.log(x.map { Foundation.exp((Double($0) - mx) * invT) }.reduce(0, +))
                for path in SIMDPath.supported {
                    var out = [Float](repeating: .nan, count: n)
                    let logZ = softmax(x, count: n, temperature: temperature, into: &out, path: path)
                    assertClose(out, ref, rel: 3e-6, "softmax T=\(temperature) \(path) n=\(n)")
                    XCTAssertEqual(
                        logZ, refLogZ, accuracy: 1e-5 * max(1, abs(refLogZ)), "log Z \(path) T=\(temperature) n=\(n)")
                }
            }
            // argmax: first index on ties, NaN never chosen unless first.
            if n > 3 { x[n / 2] = 100; x[n - 1] = 100; x[1] = .nan }
            let expected = argmax(x, count: n, path: .portable)
            if n > 3 { XCTAssertEqual(expected, n / 2) }
            for path in SIMDPath.supported {
                XCTAssertEqual(argmax(x, count: n, path: path), expected, "argmax \(path) n=\(n)")
            }
        }
        let nanFirst: [Float] = [.nan, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        for path in SIMDPath.supported {
            XCTAssertEqual(argmax(nanFirst, count: nanFirst.count, path: path), 0, "NaN first \(path)")
        }
    }
}

extension SIMDKernelTests {
    /// Largest |y - (accumulate ? y0 : 0) - x W^T| over the m x n entries, against the product in double written
    /// like the math (infinity if any entry is NaN).
    func worstError(
        _ y: [Float], _ y0: [Float], x: [Float], ldx: Int, w: [Float], ldw: Int, ldy: Int, m: Int, n: Int, k: Int,
        accumulate: Bool
    ) -> Double {
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var ref = accumulate ? Double(y0[i * ldy + j]) : 0
                for p in 0..<k { ref += Double(x[i * ldx + p]) * Double(w[j * ldw + p]) }
                let e = abs(Double(y[i * ldy + j]) - ref)
                worst = e.isNaN ? .infinity : max(worst, e)
            }
        }
        return worst
    }

    /// Entries of y past the n columns of its m rows (ldy apart) are as they were before the product: y0's when
    /// accumulating, else the NaN they were set to.
    func assertNothingWrittenPastN(
        _ y: [Float], _ y0: [Float], ldy: Int, m: Int, n: Int, accumulate: Bool, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        for i in 0..<m {
            for j in n..<ldy {
                if accumulate {
                    XCTAssertEqual(y[i * ldy + j], y0[i * ldy + j], "wrote outside the row", file: file, line: line)
                } else {
                    XCTAssertTrue(y[i * ldy + j].isNaN, "wrote outside the row", file: file, line: line)
                }
            }
        }
    }

    /// CKernels' skinny x W^T kernel, every wide variant this CPU has, against the naive double product; row
    /// counts 1..13 cover every register-block size and remainder, k and n cover vector and block tails.
    func testSkinnyGEMMVariants() {
        for path in SIMDPath.supported {
            guard let kernel = SkinnyGEMM.kernel(for: path) else { continue }
            for (m, n, k) in [
                (1, 5, 3), (2, 8, 16), (3, 9, 33), (4, 17, 64), (5, 4, 100), (6, 12, 576), (7, 7, 15), (13, 10, 48)
            ] {
                let ldx = k + 2, ldw = k + 1, ldy = n + 3
                let x = random(m * ldx), w = random(n * ldw), y0 = random(m * ldy)
                for accumulate in [false, true] {
                    var y = accumulate ? y0 : y0.map { _ in Float.nan }
                    kernel(x, ldx, w, ldw, &y, ldy, m, n, k, accumulate ? 1 : 0)
                    let worst = worstError(
                        y, y0, x: x, ldx: ldx, w: w, ldw: ldw, ldy: ldy, m: m, n: n, k: k, accumulate: accumulate)
                    for i in 0..<m {
                        for j in n..<ldy where !accumulate {
                            XCTAssertTrue(y[i * ldy + j].isNaN, "wrote outside the row")
                        }
                    }
                    XCTAssertLessThanOrEqual(
                        worst, 1e-5 * Double(k).squareRoot() * 4, "\(path) \(m)x\(n)x\(k) accumulate \(accumulate)")
                }
            }
        }
    }

    /// Entries of a packed block that differ from its definition: panel j, row p, column c holds B(32j + c, p) as
    /// `entry(column, row)` gives it, and zero for columns past n. The first three are reported.
    func packedLayoutErrors(_ dst: [Float], n: Int, k: Int, _ label: String, entry: (Int, Int) -> Float) -> Int {
        let P = PackedGEMM.panel
        var wrong = 0
        for j in 0..<((n + P - 1) / P) {
            for p in 0..<k {
                for c in 0..<P {
                    let col = j * P + c, want: Float = col < n ? entry(col, p) : 0
                    if dst[j * P * k + p * P + c] != want {
                        if wrong < 3 {
                            XCTFail(
                                "\(label) n \(n) k \(k) panel \(j) row \(p) column \(c): \(dst[j * P * k + p * P + c]) != \(want)"
                            )
                        }
                        wrong += 1
                    }
                }
            }
        }
        return wrong
    }

    /// The packed layout, checked entry by entry against its definition on every path (scalar C, and the 8 x 8
    /// transposes of the wide paths): panel j, row p, column c holds W[32j + c][p]; columns past n are zero.
    func testPackLayout() {
        let P = PackedGEMM.panel
        for (n, k) in [(1, 1), (5, 3), (32, 7), (33, 2), (70, 9), (64, 16), (100, 129), (256, 24)] {
            let ldw = k + 3
            let w = random(n * ldw)
            let count = PackedGEMM.packedCount(n: n, k: k)
            XCTAssertEqual(count, (n + P - 1) / P * P * k)
            for path in SIMDPath.supported {
                var dst = [Float](repeating: .nan, count: count)
                PackedGEMM.pack(w, ldw: ldw, n: n, k: k, into: &dst, path: path)
                let wrong = packedLayoutErrors(dst, n: n, k: k, "\(path)") { col, p in w[col * ldw + p] }
                XCTAssertEqual(wrong, 0, "\(path) n \(n) k \(k): wrong entries")
            }
        }
    }

    /// The training pass's dx = dy W on packed panels: `packTransposed` of W (k, n) entry by entry against its
    /// definition (the transposed matrix's `pack` layout), then the product on every wide path against a double
    /// x W, at training-pass row counts (17-70 rows, several row blocks), partial panels, rows of W with NaN in the
    /// gap past n, accumulate or not.
    func testPackTransposedProduct() {
        var tested = 0
        for (m, n, k) in [(17, 5, 3), (40, 33, 7), (70, 64, 16), (24, 100, 129), (33, 128, 64)] {
            let ldw = n + 3
            var w = random(k * ldw)
            for p in 0..<k { for c in n..<ldw { w[p * ldw + c] = .nan } }
            let count = PackedGEMM.packedCount(n: n, k: k)
            var dst = [Float](repeating: .nan, count: count)
            PackedGEMM.packTransposed(w, ldw: ldw, n: n, k: k, into: &dst)
            let wrong = packedLayoutErrors(dst, n: n, k: k, "packTransposed") { col, p in w[p * ldw + col] }
            XCTAssertEqual(wrong, 0, "packTransposed n \(n) k \(k): wrong entries")
            let x = random(m * k), y0 = random(m * n)
            for path in SIMDPath.supported {
                guard let kernel = PackedGEMM.kernel(for: path) else { continue }
                tested += 1
                for accumulate in [false, true] {
                    var y = accumulate ? y0 : y0.map { _ in Float.nan }
                    PackedGEMM.multiply(
                        kernel, x: x, ldx: k, packed: dst, y: &y, ldy: n, m: m, n: n, k: k, accumulate: accumulate)
                    let ref = (0..<(m * n)).map { e -> Double in
                        let i = e / n, c = e % n
                        let sum = (0..<k).reduce(0.0) { $0 + Double(x[i * k + $1]) * Double(w[$1 * ldw + c]) }
                        return accumulate ? sum + Double(y0[e]) : sum
                    }
                    assertClose(y, ref, rel: 1e-5, "packed x W \(path) \(m)x\(n)x\(k) accumulate \(accumulate)")
                }
            }
        }
        if tested == 0 { print("no packed-product variant on this CPU (portable path only): nothing to test") }
    }

    /// Decode's packed product on every wide path against a double-precision x W^T written like the math: every row
    /// count up to 40 (all row blocks of both widths, the one-row path), partial panels, odd k, strided x and y,
    /// accumulate or not; entries of y outside the n columns are never written.
    func testPackedGEMMVariants() {
        var tested = 0
        for path in SIMDPath.supported {
            guard let kernel = PackedGEMM.kernel(for: path) else { continue }
            tested += 1
            for (n, k) in [(5, 3), (32, 16), (33, 1), (64, 33), (100, 128), (48, 7)] {
                let ldw = k + 1
                let w = random(n * ldw)
                var packed = [Float](repeating: 0, count: PackedGEMM.packedCount(n: n, k: k))
                PackedGEMM.pack(w, ldw: ldw, n: n, k: k, into: &packed)
                for m in Array(1...17) + [23, 32, 40] {
                    let ldx = k + 2, ldy = n + 3
                    let x = random(m * ldx), y0 = random(m * ldy)
                    for accumulate in [false, true] {
                        var y = accumulate ? y0 : y0.map { _ in Float.nan }
                        PackedGEMM.multiply(
                            kernel, x: x, ldx: ldx, packed: packed, y: &y, ldy: ldy, m: m, n: n, k: k,
                            accumulate: accumulate)
                        let worst = worstError(
                            y, y0, x: x, ldx: ldx, w: w, ldw: ldw, ldy: ldy, m: m, n: n, k: k, accumulate: accumulate)
                        assertNothingWrittenPastN(y, y0, ldy: ldy, m: m, n: n, accumulate: accumulate)
                        XCTAssertLessThanOrEqual(
                            worst, 1e-5 * Double(k).squareRoot() * 4, "\(path) \(m)x\(n)x\(k) accumulate \(accumulate)")
                    }
                }
            }
        }
        if tested == 0 { print("no packed-product variant on this CPU (portable path only): nothing to test") }
    }

    /// Soft-token mixtures of several rows at once, on every path: bit-identical to one row at a time and to a plain
    /// loop that rounds each product and then adds it (the actor and the learner must get the same sum on any CPU),
    /// and close to a double-precision sum; zero weights skipped (a NaN row behind a zero weight stays out); with an
    /// explicit support (ids out of order) and without one (rows 0..<count).
    func testMixtureRows() {
        for (dim, count, rows) in [(5, 3, 1), (16, 40, 3), (24, 17, 8), (576, 64, 9), (33, 100, 2)] {
            var E = random((count + 7) * dim)
            for j in 0..<dim { E[(count + 3) * dim + j] = .nan } // a row only ever given weight 0
            var w = (0..<(rows * count)).map { _ in Float(rng.uniform()) }
            for r in 0..<rows where r % 2 == 1 { for k in stride(from: 0, to: count, by: 3) { w[r * count + k] = 0 } }
            let support: [Int32]? = count % 2 == 0 ? nil : (0..<count).map { Int32(count - 1 - $0) } // ids in reverse order
            var sup = support
            if var s = sup { for r in 0..<rows { w[r * count + 0] = 0 }; s[0] = Int32(count + 3); sup = s }
            func plain(_ r: Int) -> [Float] {
                var y = [Float](repeating: 0, count: dim)
                for k in 0..<count {
                    let a = w[r * count + k]
                    if a == 0 { continue }
                    let row = Int(sup?[k] ?? Int32(k))
                    for j in 0..<dim { let t = a * E[row * dim + j]; y[j] = y[j] + t }
                }
                return y
            }
            for path in SIMDPath.supported {
                var all = [Float](repeating: .nan, count: rows * (dim + 2))
                E.withUnsafeBufferPointer { ep in
                    w.withUnsafeBufferPointer { wp in
                        all.withUnsafeMutableBufferPointer { op in
                            func run(_ s: UnsafePointer<Int32>?) {
                                Mixture.rows(
                                    ep.baseAddress!, dim: dim, support: s, count: count, weights: wp.baseAddress!,
                                    ldw: count,
                                    rows: rows, out: op.baseAddress!, ldo: dim + 2, path: path)
                            }
                            if let sup { sup.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                        }
                    }
                }
                for r in 0..<rows {
                    let got = Array(all[(r * (dim + 2))..<(r * (dim + 2) + dim)])
                    let want = plain(r)
                    XCTAssertEqual(
                        got.map(\.bitPattern), want.map(\.bitPattern),
                        "\(path) dim \(dim) row \(r): not bit-identical to the plain loop")
                    let ref = (0..<dim).map { j in
                        (0..<count).reduce(0.0) { acc, k in
                            let a = Double(w[r * count + k])
                            return a == 0 ? acc : acc + a * Double(E[Int(sup?[k] ?? Int32(k)) * dim + j])
                        }
                    }
                    assertClose(got, ref, rel: 1e-5, "\(path) mixture dim \(dim) row \(r)")
                    XCTAssertTrue(
                        all[(r * (dim + 2) + dim)..<(r * (dim + 2) + dim + 2)].allSatisfy(\.isNaN), "wrote past the row"
                    )
                }
            }
        }
    }

    /// The samplers' double-precision softmax on every path: the wide paths' exponential within 1 ulp of libm's over
    /// [-708, 0] (and 0 below, NaN kept), the distribution within 4e-16 of the portable one, summing to 1.
    func testDoubleSoftmaxAndExponential() {
        var xs = (0..<20000).map { -708.0 * Double($0) / 20000 }
        xs += [0, -0.0, -1e-300, -0.34657359027997264, -707.99, -708.5, -745, -.infinity, .nan]
        for path in SIMDPath.supported where path != .portable {
            var out = [Double](repeating: 7, count: xs.count)
            switch path {
            case .avx512: softrl_exp_f64_avx512(xs, xs.count, &out)
            case .avx2: softrl_exp_f64_avx2(xs, xs.count, &out)
            case .portable: break
            }
            for (x, y) in zip(xs, out) {
                if x.isNaN { XCTAssertTrue(y.isNaN, "\(path) exp(nan)"); continue }
                if x < -708 { XCTAssertEqual(y, 0, "\(path) exp(\(x))"); continue }
                let want = Foundation.exp(x)
                let ulps = abs(Int64(bitPattern: y.bitPattern) - Int64(bitPattern: want.bitPattern))
                XCTAssertLessThanOrEqual(ulps, 1, "\(path) exp(\(x)) = \(y), libm \(want)")
            }
        }
        for n in [1, 3, 8, 17, 1000, 49152] {
            let x = random(n, 12)
            for t in [1.0, 0.7, 1e-4] {
                var ref = [Double](repeating: 0, count: n)
                softmaxDouble(x, count: n, temperature: t, into: &ref, path: .portable)
                for path in SIMDPath.supported {
                    var got = [Double](repeating: .nan, count: n)
                    softmaxDouble(x, count: n, temperature: t, into: &got, path: path)
                    let worst = zip(got, ref).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 4e-16, "\(path) n \(n) T \(t)")
                    XCTAssertEqual(got.reduce(0, +), 1, accuracy: 1e-12, "\(path) n \(n) T \(t)")
                }
            }
        }
    }
}
