// What the CPU can do and what the OS lets it do, from cpuid and XGETBV (read in C, CKernels/cpu.c; decoded here
// so the decoding is table-tested). An instruction set is usable only when the CPU has it AND the OS saves its
// register state on context switches (XCR0): AVX needs the SSE and YMM bits (1, 2), AVX-512 also the opmask and
// ZMM bits (5, 6, 7). A hypervisor can hide AVX-512 state from the guest while cpuid still lists AVX-512F; using it
// then dies with SIGILL, so every decision below goes through the `usable` properties, never the raw flags.
import CKernels
import Foundation

public struct CPUFeatures: Sendable, Equatable {
    public var vendor: String = ""
    public var family: Int = 0
    public var model: Int = 0
    public var sse3 = false, ssse3 = false, sse41 = false, sse42 = false
    public var osxsave = false, avx = false, fma = false, avx2 = false
    public var avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false, avx512bf16 = false
    /// XGETBV(0), or 0 when the OS did not set OSXSAVE.
    public var xcr0: UInt64 = 0

    public init() {}

    /// The OS saves SSE and YMM state (XCR0 bits 1 and 2).
    public var osYMM: Bool { osxsave && xcr0 & 0b110 == 0b110 }
    /// The OS also saves opmask, ZMM0-15 upper halves and ZMM16-31 (XCR0 bits 5, 6, 7).
    public var osZMM: Bool { osYMM && xcr0 & 0xE0 == 0xE0 }
    public var avxUsable: Bool { avx && osYMM }
    /// AVX2 and FMA, both usable (every AVX2 kernel in OpenBLAS and in CKernels also uses FMA).
    public var avx2FMAUsable: Bool { avxUsable && avx2 && fma }
    /// AVX-512 F/BW/DQ/VL, usable.
    public var avx512Usable: Bool { avx2FMAUsable && osZMM && avx512f && avx512bw && avx512dq && avx512vl }
    /// AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of a usable AVX-512.
    public var avx512BF16Usable: Bool { avx512Usable && avx512bf16 }

    /// Decodes raw cpuid/XGETBV registers.
    public init(raw r: softrl_cpuid_raw) {
        var v = r.vendor
        vendor = withUnsafeBytes(of: &v) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        family = Int(r.family); model = Int(r.model)
        func bit(_ x: UInt32, _ i: UInt32) -> Bool { x & (1 << i) != 0 }
        sse3 = bit(r.leaf1_ecx, 0); ssse3 = bit(r.leaf1_ecx, 9); fma = bit(r.leaf1_ecx, 12)
        sse41 = bit(r.leaf1_ecx, 19); sse42 = bit(r.leaf1_ecx, 20)
        osxsave = bit(r.leaf1_ecx, 27); avx = bit(r.leaf1_ecx, 28)
        avx2 = bit(r.leaf7_ebx, 5); avx512f = bit(r.leaf7_ebx, 16); avx512dq = bit(r.leaf7_ebx, 17)
        avx512bw = bit(r.leaf7_ebx, 30); avx512vl = bit(r.leaf7_ebx, 31)
        avx512bf16 = bit(r.leaf7_1_eax, 5)
        xcr0 = osxsave ? r.xcr0 : 0
    }

    /// This machine's features (read once).
    public static let host: CPUFeatures = {
        var raw = softrl_cpuid_raw()
        softrl_cpuid_read(&raw)
        return CPUFeatures(raw: raw)
    }()

    /// Short list for logs, e.g. "AVX-512F/BW/DQ/VL/BF16, FMA, AVX2"; features the CPU has but the OS disabled
    /// are marked, e.g. "AVX-512 (disabled by the OS)".
    public var shortDescription: String {
        var parts: [String] = []
        if avx512f {
            if avx512Usable {
                var s = "AVX-512F"
                for (has, name) in [(avx512bw, "BW"), (avx512dq, "DQ"), (avx512vl, "VL"), (avx512bf16, "BF16")]
                where has { s += "/" + name }
                parts.append(s)
            } else {
                parts.append(osZMM ? "AVX-512F (incomplete: needs BW/DQ/VL)" : "AVX-512 (disabled by the OS)")
            }
        }
        if fma { parts.append(avxUsable ? "FMA" : "FMA (disabled by the OS)") }
        if avx2 {
            parts.append(avxUsable ? "AVX2" : "AVX2 (disabled by the OS)")
        } else if avx {
            parts.append(avxUsable ? "AVX" : "AVX (disabled by the OS)")
        }
        if parts.isEmpty {
            parts.append(
                sse42 ? "SSE4.2" : sse41 ? "SSE4.1" : ssse3 ? "SSSE3" : sse3 ? "SSE3" : "no SIMD beyond SSE2 detected")
        }
        return parts.joined(separator: ", ")
    }
}

extension CPUFeatures {
    /// The CPU's model name as Linux reports it (/proc/cpuinfo), e.g. "AMD EPYC 9R14"; "unknown" elsewhere.
    public static let modelName: String = {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in s.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }()
}
