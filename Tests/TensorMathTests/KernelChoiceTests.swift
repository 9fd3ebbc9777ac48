// The feature-to-kernel mapping and the start-up decision, for a table of CPUs (including AVX-512 present but
// disabled by the OS, and AVX2 without FMA), cpuid decoding from raw registers, and the start-up check product.
import XCTest
import CKernels
@testable import TensorMath

final class KernelChoiceTests: XCTestCase {
    // XCR0 values: x87|SSE|AVX (0x7), plus opmask|ZMM_Hi256|Hi16_ZMM (0xE7).
    static let xcrAVX: UInt64 = 0x7, xcrAVX512: UInt64 = 0xE7

    static func cpu(
        _ vendor: String = "GenuineIntel", sse: Int = 42, avx: Bool = false, fma: Bool = false, avx2: Bool = false,
        avx512: Bool = false, bf16: Bool = false, xcr0: UInt64? = nil, osxsave: Bool = true
    ) -> CPUFeatures {
        var f = CPUFeatures()
        f.vendor = vendor
        f.sse3 = sse >= 3; f.ssse3 = sse >= 31; f.sse41 = sse >= 41; f.sse42 = sse >= 42
        f.avx = avx; f.fma = fma; f.avx2 = avx2
        f.avx512f = avx512; f.avx512bw = avx512; f.avx512dq = avx512; f.avx512vl = avx512; f.avx512bf16 = bf16
        f.osxsave = osxsave
        f.xcr0 = osxsave ? (xcr0 ?? (avx512 ? xcrAVX512 : avx ? xcrAVX : 0x3)) : 0
        return f
    }

    func testFeatureToKernelTable() {
        let full512 = Self.cpu(avx: true, fma: true, avx2: true, avx512: true)
        var kncLike = full512
        kncLike.avx512bw = false; kncLike.avx512dq = false; kncLike.avx512vl = false
        let table: [(String, CPUFeatures, String?)] = [
            ("Xeon VM with AVX-512 (generic model string)", full512, "SkylakeX"),
            (
                "AVX-512 with BF16 (Cooper Lake, Zen 4)",
                Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true, avx512: true, bf16: true), "Cooperlake"
            ),
            (
                "AVX-512 present but disabled by the OS (XCR0 without ZMM state)",
                Self.cpu(avx: true, fma: true, avx2: true, avx512: true, xcr0: Self.xcrAVX), "Haswell"
            ),
            (
                "AMD AVX-512 disabled by the OS",
                Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true, avx512: true, bf16: true, xcr0: Self.xcrAVX),
                "Zen"
            ),
            ("AVX-512F without BW/DQ/VL (Knights Landing-like)", kncLike, "Haswell"),
            ("Zen 3: AVX2 + FMA, no AVX-512", Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true), "Zen"),
            ("Intel AVX2 + FMA", Self.cpu(avx: true, fma: true, avx2: true), "Haswell"),
            ("AVX2 without FMA", Self.cpu(avx: true, avx2: true), "Sandybridge"),
            ("AVX only", Self.cpu(avx: true), "Sandybridge"),
            (
                "AVX2 + FMA but the OS saves no YMM state", Self.cpu(avx: true, fma: true, avx2: true, xcr0: 0x3),
                "Nehalem"
            ),
            (
                "AVX-512 but no OSXSAVE (XGETBV not allowed)",
                Self.cpu(avx: true, fma: true, avx2: true, avx512: true, osxsave: false), "Nehalem"
            ),
            ("SSE4.1", Self.cpu(sse: 41), "Penryn"),
            ("SSSE3", Self.cpu(sse: 31), "Core2"),
            ("SSE3 only", Self.cpu(sse: 3), "Prescott"),
            ("nothing readable (not x86)", CPUFeatures(), nil)
        ]
        for (name, features, expected) in table {
            XCTAssertEqual(OpenBLASCores.best(for: features), expected, name)
        }
    }

    func testDecisionTable() {
        let xeon = Self.cpu(avx: true, fma: true, avx2: true, avx512: true)
        let zen3 = Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true)
        let zen4 = Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true, avx512: true, bf16: true)
        let hidden512 = Self.cpu(avx: true, fma: true, avx2: true, avx512: true, xcr0: Self.xcrAVX)
        let avx2NoFMA = Self.cpu(avx: true, avx2: true)
        func label(_ d: KernelDecision) -> String {
            switch d {
            case .keep(let s, _): return "keep \(s.rawValue)"
            case .switchTo(let c, _): return "switch \(c)"
            case .keepUnsupportedUserChoice: return "keep user, warn"
            }
        }
        let table: [(String, String, String?, CPUFeatures, String)] = [
            ("the issue's case: Prescott on an AVX-512 Xeon", "Prescott", nil, xeon, "switch SkylakeX"),
            ("a good choice is kept", "Cooperlake", nil, zen4, "keep openblas"),
            ("same SIMD generation is kept (SkylakeX on a BF16 CPU)", "SkylakeX", nil, zen4, "keep openblas"),
            ("Haswell on AVX-512 is upgraded", "Haswell", nil, xeon, "switch SkylakeX"),
            ("Zen on Zen 3 is kept", "Zen", nil, zen3, "keep openblas"),
            ("Haswell on Zen 3 is kept (same kernels)", "Haswell", nil, zen3, "keep openblas"),
            ("Prescott on Zen 3 becomes Zen, never SkylakeX", "Prescott", nil, zen3, "switch Zen"),
            ("AVX-512 hidden by the OS: Prescott becomes Haswell", "Prescott", nil, hidden512, "switch Haswell"),
            ("AVX-512 hidden by the OS: Haswell is kept", "Haswell", nil, hidden512, "keep openblas"),
            ("unknown core name on AVX2", "Generic", nil, zen3, "switch Zen"),
            (
                "AVX2 without FMA: OpenBLAS's Haswell (FMA kernels, SIGILL) becomes Sandybridge", "Haswell", nil,
                avx2NoFMA, "switch Sandybridge"
            ),
            ("AVX-512 hidden by the OS: SkylakeX becomes Haswell", "SkylakeX", nil, hidden512, "switch Haswell"),
            ("AVX-512 on Zen 3 becomes Zen", "SkylakeX", nil, zen3, "switch Zen"),
            (
                "the user's kernel the CPU cannot run is kept, with a warning", "Sandybridge", "Haswell", avx2NoFMA,
                "keep user, warn"
            ),
            ("the user's OPENBLAS_CORETYPE is respected, even an old one", "Prescott", "Prescott", xeon, "keep user"),
            ("the user's choice is respected whatever OpenBLAS did", "Cooperlake", "Haswell", zen4, "keep user"),
            ("non-x86 / unreadable CPU", "Prescott", nil, CPUFeatures(), "keep openblas")
        ]
        for (name, chosen, user, features, expected) in table {
            XCTAssertEqual(
                label(KernelDecision.decide(openBLASChoice: chosen, userCoreType: user, features: features)), expected,
                name)
        }
        XCTAssertEqual(
            OpenBLASCores.tier("COOPERLAKE"), OpenBLASCores.tier("cooperlake"), "core names compare case-insensitively")
        guard
            case .keepUnsupportedUserChoice(let warning) = KernelDecision.decide(
                openBLASChoice: "Sandybridge", userCoreType: "Haswell", features: avx2NoFMA)
        else {
            return XCTFail("an unsupported user kernel should warn")
        }
        XCTAssertTrue(
            warning.contains("OPENBLAS_CORETYPE=Haswell") && warning.contains("Sandybridge")
                && warning.contains("SIGILL"), warning)
    }

    /// Which OPENBLAS_CORETYPE names are older than the CPU: by the instruction sets each kernel assumes (Intel's and
    /// AMD's manuals: Haswell/Zen need AVX2 + FMA, SkylakeX AVX-512 F/BW/DQ/VL, Cooperlake also AVX512_BF16).
    func testOlderCoreTypeTable() {
        let xeon = Self.cpu(avx: true, fma: true, avx2: true, avx512: true)
        let zen3 = Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true)
        let zen4 = Self.cpu("AuthenticAMD", avx: true, fma: true, avx2: true, avx512: true, bf16: true)
        let hidden512 = Self.cpu(
            "AuthenticAMD", avx: true, fma: true, avx2: true, avx512: true, bf16: true, xcr0: Self.xcrAVX)
        let sse41 = Self.cpu(sse: 41)
        let table: [(String, String, CPUFeatures, String?)] = [
            ("Haswell on a BF16 CPU", "Haswell", zen4, "Cooperlake"),
            ("SkylakeX on a BF16 CPU (no AVX512_BF16 kernels)", "SkylakeX", zen4, "Cooperlake"),
            ("names compare case-insensitively", "haswell", zen4, "Cooperlake"),
            ("Cooperlake on a BF16 CPU is the best", "Cooperlake", zen4, nil),
            ("SapphireRapids is not older than Cooperlake", "SapphireRapids", zen4, nil),
            ("Sandybridge on AVX-512", "Sandybridge", xeon, "SkylakeX"),
            ("Nehalem on AVX-512", "Nehalem", xeon, "SkylakeX"),
            ("Haswell on AVX-512 without BF16", "Haswell", xeon, "SkylakeX"),
            ("SkylakeX on AVX-512 without BF16 is the best", "SkylakeX", xeon, nil),
            ("Haswell on Zen 3 (the same kernels as Zen)", "Haswell", zen3, nil),
            ("Zen on Zen 3", "Zen", zen3, nil),
            ("Sandybridge on Zen 3", "Sandybridge", zen3, "Zen"),
            ("Prescott on Zen 3", "Prescott", zen3, "Zen"),
            ("a newer kernel than the CPU runs is not older", "SkylakeX", zen3, nil),
            ("AVX-512 hidden by the OS: Haswell is the best there", "Haswell", hidden512, nil),
            ("AVX-512 hidden by the OS: Sandybridge is older", "Sandybridge", hidden512, "Zen"),
            ("SSE3 on an SSE4.1 CPU", "Prescott", sse41, "Penryn"),
            ("SSE4.2 on an SSE4.1 CPU is newer", "Nehalem", sse41, nil),
            ("unknown name", "Generic", zen4, nil),
            ("empty name", "", zen4, nil),
            ("unreadable CPU", "Prescott", CPUFeatures(), nil)
        ]
        for (name, coreType, features, expected) in table {
            XCTAssertEqual(OpenBLASCores.newerKernel(than: coreType, features: features), expected, name)
        }
        // The finer generation keeps the coarse tiers the start-up decision uses.
        for (core, tier) in [("Cooperlake", 4), ("SkylakeX", 4), ("Zen", 3), ("Sandybridge", 2), ("Nehalem", 1),
                             ("Prescott", 1), ("Generic", 0)] {
            XCTAssertEqual(OpenBLASCores.tier(core), tier, core)
        }
    }

    func testOlderCoreTypeNoticeWording() {
        XCTAssertEqual(
            OpenBLASCores.olderCoreTypeNotice(coreType: "Haswell", best: "Cooperlake", sgemmShare: 0.617),
            "OPENBLAS_CORETYPE=Haswell: OpenBLAS sgemm runs at 0.62x of this CPU's own-kernel rate "
                + "(CPU supports Cooperlake); unset it for full speed")
        let nan = OpenBLASCores.olderCoreTypeNotice(coreType: "SkylakeX", best: "Cooperlake", sgemmShare: .nan)
        XCTAssertFalse(nan.contains("nan"), "a failed measurement reads as not measured: \(nan)")
        let unmeasured = OpenBLASCores.olderCoreTypeNotice(coreType: "Nehalem", best: "Zen", sgemmShare: nil)
        XCTAssertEqual(
            unmeasured,
            "OPENBLAS_CORETYPE=Nehalem names a kernel older than this CPU supports (Zen); unset it for full speed")
    }

    func testDecodingRawCpuidRegisters() {
        var raw = softrl_cpuid_raw()
        raw.max_leaf = 16
        raw.leaf1_ecx = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 19) | (1 << 20) | (1 << 27) | (1 << 28)
        raw.leaf7_ebx = (1 << 5) | (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31)
        raw.leaf7_1_eax = 1 << 5
        raw.xcr0 = 0xE7
        raw.family = 25; raw.model = 17
        withUnsafeMutableBytes(of: &raw.vendor) { b in for (i, c) in "AuthenticAMD".utf8.enumerated() { b[i] = c } }
        var f = CPUFeatures(raw: raw)
        XCTAssertEqual(f.vendor, "AuthenticAMD")
        XCTAssertTrue(f.avx512Usable && f.avx512bf16 && f.avx2FMAUsable)
        XCTAssertEqual(OpenBLASCores.best(for: f), "Cooperlake")
        XCTAssertEqual(f.shortDescription, "AVX-512F/BW/DQ/VL/BF16, FMA, AVX2")
        raw.xcr0 = 0x7 // the hypervisor hides ZMM state
        f = CPUFeatures(raw: raw)
        XCTAssertFalse(f.avx512Usable)
        XCTAssertEqual(OpenBLASCores.best(for: f), "Zen")
        XCTAssertTrue(f.shortDescription.contains("disabled by the OS"), f.shortDescription)
        raw.leaf1_ecx &= ~UInt32(1 << 27) // no OSXSAVE: XCR0 must be ignored
        raw.xcr0 = 0xE7
        f = CPUFeatures(raw: raw)
        XCTAssertFalse(f.avxUsable)
    }

    func testHostIsReadAndTheActiveKernelIsVerified() {
        let host = CPUFeatures.host
        print(
            "host: \(CPUFeatures.modelName); \(host.shortDescription); best OpenBLAS kernel \(OpenBLASCores.best(for: host) ?? "n/a"); running \(BLASKernel.activeCoreName)"
        )
        let err = BLASKernel.verifyActiveKernel()
        XCTAssertLessThanOrEqual(err, BLASKernel.tolerance)
        let c = BLASKernel.current
        XCTAssertTrue(c.summary.hasPrefix("OpenBLAS kernel \(BLASKernel.activeCoreName) ("), c.summary)
        XCTAssertEqual(c.metadata["blasKernel"], BLASKernel.activeCoreName)
        #if arch(x86_64)
            XCTAssertTrue(host.sse3, "every x86-64 CPU that runs Swift has SSE3")
        #endif
    }
}

/// The BLAS wrapper (including its one-row sgemv path) against the double-precision naive product, every
/// transpose pattern, alpha/beta, strided operands, and NaN in C with beta 0.
final class SgemmWrapperTests: XCTestCase {
    func testAgainstNaiveReference() {
        var rng = Xoshiro256(seed: 9)
        for (m, n, k) in [(1, 1, 1), (1, 300, 40), (1, 77, 50), (2, 33, 17), (8, 64, 128), (37, 29, 61)] {
            for ta in [Transpose.none, .transposed] {
                for tb in [Transpose.none, .transposed] {
                    for (alpha, beta): (Float, Float) in [(1, 0), (0.5, 1), (2, -0.5)] {
                        let pad = 3
                        let lda = (ta == .none ? k : m) + pad, ldb = (tb == .none ? n : k) + pad, ldc = n + pad
                        let a = (0..<((ta == .none ? m : k) * lda)).map { _ in Float(rng.uniform() * 2 - 1) }
                        let b = (0..<((tb == .none ? k : n) * ldb)).map { _ in Float(rng.uniform() * 2 - 1) }
                        let c0 = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : Float(rng.uniform() * 2 - 1) }
                        var fast = c0, slow = c0
                        sgemm(
                            ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                            c: &fast, ldc: ldc)
                        sgemmNaive(
                            ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                            c: &slow, ldc: ldc)
                        var worst = 0.0
                        for i in 0..<m {
                            for j in 0..<n {
                                let e = abs(Double(fast[i * ldc + j]) - Double(slow[i * ldc + j]))
                                worst = e.isNaN ? .infinity : max(worst, e)
                            }
                        }
                        XCTAssertLessThanOrEqual(
                            worst, 1e-5 * Double(k).squareRoot() * 4,
                            "\(m)x\(n)x\(k) \(ta) \(tb) alpha \(alpha) beta \(beta)")
                        for i in 0..<m {
                            for j in n..<ldc {
                                XCTAssertTrue(
                                    fast[i * ldc + j].bitPattern == c0[i * ldc + j].bitPattern, "padding of C untouched"
                                )
                            }
                        }
                    }
                }
            }
        }
    }
}
