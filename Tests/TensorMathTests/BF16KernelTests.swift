// The bf16 panels of generation (CKernels/kernels_bf16.c) against their definitions: the packing entry by entry,
// the widening kernel bit for bit against the fp32 panels on bf16-valued weights, the vdpbf16ps kernel against a
// double-precision x W^T within the error bound of bf16 rounding derived below. An extension of SIMDKernelTests, so
// the emulated-CPU run of that suite (no AVX-512, no AVX512_BF16) also checks that the bf16 paths are never taken.
//
// The bound. u = 2^-8 is bfloat16's unit roundoff (8 significant bits, round to nearest even): bf16(a) = a (1 + d),
// |d| <= u, for a normal a. A product of two bf16 values has at most 16 significant bits, so it is exact in fp32.
// Summing K such products in fp32 (any order, any pairing) costs at most gamma_K = K 2^-24 / (1 - K 2^-24) relative
// to the sum of their magnitudes (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5). So
//   |y_bf16 - sum_i x_i w_i| <= ((1 + u)^2 (1 + gamma_K) - 1) sum_i |x_i w_i|        (both operands rounded)
//   |y_bf16 - sum_i x_i w_i| <= ((1 + u) (1 + gamma_K) - 1) sum_i |x_i w_i|           (weights bf16 already)
// The test data are normal numbers whose products stay far from fp32's denormal range (vdpbf16ps flushes those).
import Foundation
import XCTest
import CKernels
@testable import TensorMath

extension SIMDKernelTests {
    static let bf16Unit = 1.0 / 256.0

    static func gamma(_ k: Int) -> Double { Double(k) * 0x1p-24 / (1 - Double(k) * 0x1p-24) }

    func roundedBF16(_ x: [Float]) -> [Float] { x.map { BFloat16.decode(BFloat16.encode($0)) } }

    /// Random entries of magnitude in [2^-6, 1] with random signs (no denormal products).
    func randomNormal(_ n: Int) -> [Float] {
        (0..<n).map { _ in Float((rng.uniform() < 0.5 ? -1 : 1) * Foundation.pow(2, -6 * rng.uniform())) }
    }

    /// bf16 packing entry by entry against its definition (CKernels.h), on the scalar path and the AVX-512 one, with
    /// shapes that cover whole and ragged 8-column groups, odd k and k % 16; NaN past k in each row is never read; the
    /// exact-only packing refuses fp32 weights and, on bf16-valued ones, writes the same panels as the rounding one.
    func testBF16PackLayout() {
        let P = PackedGEMM.panel
        let paths = SIMDPath.supported.filter { $0 != .avx2 }
        for (n, k) in [(1, 1), (5, 3), (32, 7), (33, 2), (70, 9), (64, 16), (100, 129), (40, 33), (96, 48)] {
            let ldw = k + 3
            var w = random(n * ldw)
            for i in 0..<n { for p in k..<ldw { w[i * ldw + p] = .nan } } // past k: never read
            if n * ldw > 5 { w[3] = .nan; w[4] = -.infinity } // NaN and infinity inside W keep their meaning
            let kp = (k + 1) / 2 * 2
            let count = PackedGEMM.packedBF16Count(n: n, k: k)
            XCTAssertEqual(count, (n + P - 1) / P * P * kp)
            for path in paths {
                var dst = [UInt16](repeating: 0xFFFF, count: count)
                XCTAssertTrue(PackedGEMM.packBF16(w, ldw: ldw, n: n, k: k, into: &dst, exactOnly: false, path: path))
                var wrong = 0
                for panel in 0..<((n + P - 1) / P) {
                    for p in 0..<kp {
                        for c in 0..<P {
                            let col = panel * P + c
                            let want: UInt16 = col < n && p < k ? BFloat16.encode(w[col * ldw + p]) : 0
                            if dst[panel * P * kp + (p / 2) * 2 * P + 2 * c + p % 2] != want { wrong += 1 }
                        }
                    }
                }
                XCTAssertEqual(wrong, 0, "\(path) n \(n) k \(k): wrong entries")
                // exactOnly: refused on fp32 weights, the same panels on bf16-valued ones.
                var other = [UInt16](repeating: 0, count: count)
                XCTAssertFalse(
                    PackedGEMM.packBF16(w, ldw: ldw, n: n, k: k, into: &other, exactOnly: true, path: path),
                    "\(path) n \(n) k \(k)")
                let rounded = w.map { $0.isNaN ? $0 : BFloat16.decode(BFloat16.encode($0)) }
                XCTAssertTrue(
                    PackedGEMM.packBF16(rounded, ldw: ldw, n: n, k: k, into: &other, exactOnly: true, path: path),
                    "\(path) n \(n) k \(k)")
                XCTAssertEqual(
                    other, dst, "\(path) n \(n) k \(k): exact packing of rounded weights differs from rounding packing")
            }
            let finite = w.filter { !$0.isNaN }
            XCTAssertEqual(PackedGEMM.isBF16Valued(finite, count: finite.count), false)
            let finiteRounded = roundedBF16(finite)
            XCTAssertEqual(PackedGEMM.isBF16Valued(finiteRounded, count: finiteRounded.count), true)
        }
    }

    /// The activations' rounding (for vdpbf16ps) against BFloat16.encode, pair by pair, tails of every length.
    func testBF16ActivationPairs() throws {
        guard PackedGEMM.bf16Products != nil else {
            throw XCTSkip(
                "no AVX512_BF16 on this CPU (\(CPUFeatures.host.shortDescription)): bf16 products not testable")
        }
        for (m, k) in [(1, 1), (2, 31), (3, 32), (1, 33), (4, 64), (2, 77)] {
            let ldx = k + 2
            let x = random(m * ldx, 3)
            let pairs = (k + 1) / 2
            var out = [UInt32](repeating: 0xDEAD_BEEF, count: m * pairs + 1)
            softrl_round_bf16_pairs_avx512bf16(x, ldx, m, k, &out)
            for i in 0..<m {
                for q in 0..<pairs {
                    let lo = BFloat16.encode(x[i * ldx + 2 * q]),
                        hi: UInt16 = 2 * q + 1 < k ? BFloat16.encode(x[i * ldx + 2 * q + 1]) : 0
                    XCTAssertEqual(
                        out[i * pairs + q], UInt32(hi) << 16 | UInt32(lo), "m \(m) k \(k) row \(i) pair \(q)")
                }
            }
            XCTAssertEqual(out[m * pairs], 0xDEAD_BEEF, "wrote past the pairs")
        }
    }

    /// bf16-stored weights, fp32 arithmetic: on weights that are bf16 values, bit-identical to the fp32 panels'
    /// kernel (the same products and sums in the same order) at every row count up to 40, odd and even k, partial
    /// panels, strided x and y, accumulate or not; within gamma_K of a double x W^T; nothing written outside y's n
    /// columns.
    func testBF16WeightsKernelMatchesFP32PanelsBitForBit() throws {
        guard let kernel = PackedGEMM.bf16Weights, let f32 = PackedGEMM.kernel(for: .avx512) else {
            throw XCTSkip(
                "SIMD path \(SIMDPath.active) (\(CPUFeatures.host.shortDescription)): bf16 panels need AVX-512")
        }
        for (n, k) in [(5, 3), (32, 16), (33, 1), (64, 33), (100, 128), (48, 7)] {
            let ldw = k + 1
            let w = roundedBF16(random(n * ldw))
            var p32 = [Float](repeating: 0, count: PackedGEMM.packedCount(n: n, k: k))
            PackedGEMM.pack(w, ldw: ldw, n: n, k: k, into: &p32, path: .avx512)
            var p16 = [UInt16](repeating: 0, count: PackedGEMM.packedBF16Count(n: n, k: k))
            XCTAssertTrue(PackedGEMM.packBF16(w, ldw: ldw, n: n, k: k, into: &p16, exactOnly: true))
            for m in Array(1...17) + [23, 32, 40] {
                let ldx = k + 2, ldy = n + 3
                let x = random(m * ldx), y0 = random(m * ldy)
                for accumulate in [false, true] {
                    var y = accumulate ? y0 : y0.map { _ in Float.nan }
                    var yRef = y
                    PackedGEMM.multiply(
                        kernel, x: x, ldx: ldx, packed: p16, y: &y, ldy: ldy, m: m, n: n, k: k, accumulate: accumulate)
                    PackedGEMM.multiply(
                        f32, x: x, ldx: ldx, packed: p32, y: &yRef, ldy: ldy, m: m, n: n, k: k, accumulate: accumulate)
                    let differ = zip(y, yRef).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(
                        differ, 0, "\(m)x\(n)x\(k) accumulate \(accumulate): entries differing from the fp32 panels")
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0, mag = 0.0
                            for p in 0..<k {
                                let t = Double(x[i * ldx + p]) * Double(w[j * ldw + p]); s += t; mag += abs(t)
                            }
                            if accumulate { s += Double(y0[i * ldy + j]); mag += abs(Double(y0[i * ldy + j])) }
                            worst = max(worst, abs(Double(y[i * ldy + j]) - s) / (Self.gamma(k + 2) * mag + 1e-30))
                        }
                    }
                    XCTAssertLessThanOrEqual(worst, 1, "\(m)x\(n)x\(k): error beyond gamma_K (in units of the bound)")
                }
            }
        }
    }

    /// bf16 products (vdpbf16ps) against a double-precision x W^T of the unrounded operands, within the bound above
    /// with both operands rounded; against the double product of the rounded operands within gamma_K alone (the
    /// rounding is the only error beyond fp32 summation); and measurably away from the fp32 product (the activations
    /// really are rounded).
    func testBF16ProductsWithinRoundingBound() throws {
        guard let kernel = PackedGEMM.bf16Products else {
            throw XCTSkip(
                "no AVX512_BF16 on this CPU (\(CPUFeatures.host.shortDescription)): bf16 products not testable")
        }
        let u = Self.bf16Unit
        var sawRounding = false
        for (n, k) in [(5, 3), (32, 16), (33, 1), (64, 33), (100, 128), (48, 576)] {
            let ldw = k + 1
            let w = randomNormal(n * ldw), wr = roundedBF16(w)
            var p16 = [UInt16](repeating: 0, count: PackedGEMM.packedBF16Count(n: n, k: k))
            PackedGEMM.packBF16(w, ldw: ldw, n: n, k: k, into: &p16, exactOnly: false)
            for m in [1, 2, 3, 4, 5, 8, 9, 17, 32, 40] {
                let ldx = k + 2, ldy = n + 3
                let x = randomNormal(m * ldx), xr = roundedBF16(x), y0 = random(m * ldy)
                for accumulate in [false, true] {
                    var y = accumulate ? y0 : y0.map { _ in Float.nan }
                    PackedGEMM.multiply(
                        kernel, x: x, ldx: ldx, packed: p16, y: &y, ldy: ldy, m: m, n: n, k: k, accumulate: accumulate)
                    assertNothingWrittenPastN(y, y0, ldy: ldy, m: m, n: n, accumulate: accumulate)
                    var worstExact = 0.0, worstRounded = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0, sr = 0.0, mag = 0.0, magR = 0.0
                            for p in 0..<k {
                                let t = Double(x[i * ldx + p]) * Double(w[j * ldw + p])
                                let tr = Double(xr[i * ldx + p]) * Double(wr[j * ldw + p])
                                s += t; sr += tr; mag += abs(t); magR += abs(tr)
                            }
                            let acc = accumulate ? Double(y0[i * ldy + j]) : 0
                            // The final add of y0 (accumulate) is one more fp32 rounding: gamma_{K+2} covers it.
                            let g = Self.gamma(k + 2)
                            let boundExact = ((1 + u) * (1 + u) * (1 + g) - 1) * mag + g * abs(acc) + 1e-30
                            let boundRounded = g * (magR + abs(acc)) + 1e-30
                            let yv = Double(y[i * ldy + j])
                            worstExact = max(worstExact, abs(yv - (s + acc)) / boundExact)
                            worstRounded = max(worstRounded, abs(yv - (sr + acc)) / boundRounded)
                            if abs(yv - (s + acc)) > 64 * g * mag { sawRounding = true }
                        }
                    }
                    XCTAssertLessThanOrEqual(
                        worstExact, 1, "\(m)x\(n)x\(k) accumulate \(accumulate): beyond the bf16 bound")
                    XCTAssertLessThanOrEqual(
                        worstRounded, 1,
                        "\(m)x\(n)x\(k) accumulate \(accumulate): beyond gamma_K of the rounded product")
                }
            }
        }
        XCTAssertTrue(sawRounding, "bf16 products never differed from the exact product by more than fp32 summation")
    }

    /// AVX512_BF16 counts only when AVX-512 is usable: cpuid's bit with the OS's ZMM state off (a hypervisor hiding
    /// AVX-512) must not enable the bf16 products.
    func testBF16FeatureNeedsUsableAVX512() {
        var raw = softrl_cpuid_raw()
        raw.max_leaf = 7
        raw.leaf1_ecx = (1 << 12) | (1 << 27) | (1 << 28) // FMA, OSXSAVE, AVX
        raw.leaf7_ebx = (1 << 5) | (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31) // AVX2, AVX-512F/DQ/BW/VL
        raw.leaf7_1_eax = 1 << 5 // AVX512_BF16
        raw.xcr0 = 0xE6
        XCTAssertTrue(CPUFeatures(raw: raw).avx512BF16Usable)
        raw.xcr0 = 0x06 // YMM saved, ZMM not
        XCTAssertFalse(CPUFeatures(raw: raw).avx512BF16Usable)
        raw.xcr0 = 0xE6
        raw.leaf7_1_eax = 0
        XCTAssertFalse(CPUFeatures(raw: raw).avx512BF16Usable)
    }

    /// Which format a generation gets: bf16 products only where the CPU has them, bf16-stored weights only for
    /// bf16-valued weights on the AVX-512 path, fp32 otherwise (an AVX2-only CPU never leaves fp32).
    func testGenerationFormatFollowsTheCPU() {
        let hasProducts = PackedGEMM.bf16Products != nil, hasWeights = PackedGEMM.bf16Weights != nil
        print(
            "bf16 on this CPU (\(CPUFeatures.host.shortDescription), SIMD path \(SIMDPath.active)): "
                + "stored weights \(hasWeights ? "yes" : "no"), products \(hasProducts ? "yes" : "no")")
        XCTAssertEqual(hasProducts, CPUFeatures.host.avx512BF16Usable && SIMDPath.active == .avx512)
        XCTAssertEqual(PackedGEMM.format(for: .f32, weightsAreBF16: false), .f32)
        XCTAssertEqual(PackedGEMM.format(for: .f32, weightsAreBF16: true), hasWeights ? .bf16Weights : .f32)
        XCTAssertEqual(PackedGEMM.format(for: .bf16, weightsAreBF16: false), hasProducts ? .bf16Products : .f32)
        XCTAssertThrowsError(try GenerationCompute(flag: "fp16")) { e in
            XCTAssertTrue("\(e)".contains("use f32") && "\(e)".contains("bf16"), "\(e)")
        }
        XCTAssertEqual(try GenerationCompute(flag: "BF16"), .bf16)
    }
}
