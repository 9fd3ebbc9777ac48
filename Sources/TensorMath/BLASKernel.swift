// Which OpenBLAS kernel runs, and making it the right one.
//
// OpenBLAS (DYNAMIC_ARCH builds such as Debian's) picks its kernel once, when the library loads, from the CPU model
// it recognises. On CPUs it does not know (e.g. cloud VMs whose model string is generic) it falls back to an old
// kernel: `Prescott` (SSE3) on an AVX-512 Xeon VM, 4-5x slower sgemm. It reads OPENBLAS_CORETYPE only at load time,
// so the only way to change the kernel of a running process is to start it again: `BLASKernel.selectAtStartup()`,
// called first thing in `softrl`'s main (before any BLAS call), compares OpenBLAS's choice with what cpuid and
// XGETBV say the CPU and OS really support (`CPUFeatures`), and when OpenBLAS chose a kernel of an older SIMD
// generation (or of a newer one, whose instructions the CPU or OS lacks: Debian's 0.3.21 picks Haswell on a CPU
// with AVX2 but no FMA, and its first product dies with SIGILL) it, before any BLAS call,
//   1. runs a probe child (this executable, OPENBLAS_CORETYPE = the better kernel, SOFTRL_BLAS_PROBE set) that
//      checks the kernel loaded and computes small products against a double-precision naive reference; a wrong
//      result or a crash (SIGILL) means "keep OpenBLAS's choice";
//   2. re-executes itself (/proc/self/exe, same argv) with OPENBLAS_CORETYPE set and SOFTRL_BLAS_KERNEL recording
//      the decision, so it happens once: a process that finds SOFTRL_BLAS_KERNEL set never re-executes again except
//      to fall back (below), and child processes (actors started by `softrl local`) inherit the decision;
//   3. in the re-executed process, checks the kernel that loaded and verifies products again; on failure it
//      re-executes once more with OpenBLAS's own choice, marked as a fallback.
// A user's own OPENBLAS_CORETYPE is always respected (no probe, no switch). The outcome is `BLASKernel.current`;
// its `summary` is the line to log.
//
// Testing the fallback on a machine where OpenBLAS chooses well: SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE=NAME makes
// the start-up re-execute once with OPENBLAS_CORETYPE=NAME and SOFTRL_BLAS_EMULATED=NAME, and a process with
// SOFTRL_BLAS_EMULATED set treats that OPENBLAS_CORETYPE as OpenBLAS's own choice rather than the user's. The
// kernel that loads is the real one (e.g. Prescott), so the correction the test sees is the real one too. Without
// that test variable nothing sets SOFTRL_BLAS_EMULATED, and a user's OPENBLAS_CORETYPE stays theirs.
// SOFTRL_TEST_FAIL_BLAS_PROBE=1 makes the probe report failure (to test that the start-up then keeps OpenBLAS's
// choice).
import COpenBLAS
import Foundation

/// The OpenBLAS core name that fits a CPU best, and the SIMD generation of OpenBLAS core names.
public enum OpenBLASCores {
    /// SIMD generation of a core's kernels: 1 SSE*, 2 AVX, 3 AVX2+FMA, 4 AVX-512. 0 = unknown name.
    public static func tier(_ core: String) -> Int { generation(core) / 10 }

    /// The instruction sets a core's kernels assume, finer than `tier`: tens are the tier, units the step within it
    /// (SSE 10, SSE3 11, SSSE3 12, SSE4.1 13, SSE4.2 14; AVX-512 40, with AVX512_BF16 41). 0 = unknown name.
    public static func generation(_ core: String) -> Int {
        switch core.lowercased() {
        case "sapphirerapids", "cooperlake": return 41
        case "skylakex": return 40
        case "haswell", "zen", "skylake": return 30
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 20
        case "nehalem": return 14
        case "penryn", "dunnington": return 13
        case "core2", "atom", "bobcat", "nano": return 12
        case "prescott", "opteron_sse3", "barcelona": return 11
        case "katmai", "coppermine", "northwood", "banias", "athlon", "opteron": return 10
        default: return 0
        }
    }

    /// When `coreType` (an OPENBLAS_CORETYPE value) names a kernel older than the best this CPU and OS support
    /// (`best(for:)`): that best kernel; nil for the same or a newer generation, an unknown name or an unreadable CPU.
    /// Haswell and Zen share their kernels, so neither is older than the other; SkylakeX is older than Cooperlake.
    public static func newerKernel(than coreType: String, features: CPUFeatures) -> String? {
        guard let best = best(for: features) else { return nil }
        let g = generation(coreType)
        return g > 0 && g < generation(best) ? best : nil
    }

    /// The log line for an OPENBLAS_CORETYPE older than the CPU supports. `sgemmShare` is OpenBLAS sgemm's rate over
    /// SoftRL's own fp32 kernel's at the same product (nil: not measured). The share is not 1 with the best kernel
    /// either, so it is what the reader compares with a run without the variable, not a verdict on its own.
    public static func olderCoreTypeNotice(coreType: String, best: String, sgemmShare: Double?) -> String {
        guard let r = sgemmShare, r.isFinite, r > 0 else {
            return "OPENBLAS_CORETYPE=\(coreType) names a kernel older than this CPU supports (\(best)); "
                + "unset it for full speed"
        }
        return "OPENBLAS_CORETYPE=\(coreType): OpenBLAS sgemm runs at " + String(format: "%.2fx", r)
            + " of this CPU's own-kernel rate (CPU supports \(best)); unset it for full speed"
    }

    /// The best kernel of Debian's OpenBLAS 0.3.21 DYNAMIC_ARCH set that the CPU and OS really support.
    /// AVX-512 (F/BW/DQ/VL, OS-enabled ZMM state): Cooperlake with AVX512_BF16, else SkylakeX. AVX2 + FMA (OS-enabled
    /// YMM): Zen on AMD (same kernels as Haswell, block sizes for Zen caches), else Haswell. AVX alone, or AVX2
    /// without FMA (the Haswell kernels use FMA): Sandybridge. Then the SSE generations. nil: not an x86 CPU we
    /// can read.
    public static func best(for f: CPUFeatures) -> String? {
        if f.avx512Usable { return f.avx512bf16 ? "Cooperlake" : "SkylakeX" }
        if f.avx2FMAUsable { return f.vendor == "AuthenticAMD" || f.vendor == "HygonGenuine" ? "Zen" : "Haswell" }
        if f.avxUsable { return "Sandybridge" }
        if f.sse42 { return "Nehalem" }
        if f.sse41 { return "Penryn" }
        if f.ssse3 { return "Core2" }
        if f.sse3 { return "Prescott" }
        return nil
    }
}

/// What to do at start-up, decided from OpenBLAS's choice, the user's OPENBLAS_CORETYPE and the CPU's features.
public enum KernelDecision: Equatable, Sendable {
    /// Run with the kernel that loaded. `source` says who chose it.
    case keep(source: KernelChoice.Source, reason: String)
    /// Re-execute with OPENBLAS_CORETYPE = `core` (after a successful probe).
    case switchTo(core: String, reason: String)
    /// Run with the user's OPENBLAS_CORETYPE although it needs instructions the CPU or OS lacks: say so first
    /// (`warning`), since the first product will most likely die with SIGILL.
    case keepUnsupportedUserChoice(warning: String)

    /// Pure decision (table-tested): never overrides a user's OPENBLAS_CORETYPE (but warns when it cannot run here);
    /// switches when OpenBLAS's kernel is of an older SIMD generation than the best kernel the CPU and OS support, or
    /// of a newer one they cannot run.
    public static func decide(openBLASChoice: String, userCoreType: String?, features: CPUFeatures) -> KernelDecision {
        let best = OpenBLASCores.best(for: features)
        if let user = userCoreType, !user.isEmpty {
            if let best, OpenBLASCores.tier(user) > OpenBLASCores.tier(best) {
                return .keepUnsupportedUserChoice(
                    warning: "OPENBLAS_CORETYPE=\(user) (set in the environment) needs instructions "
                        + "this CPU or its OS does not enable (CPU: \(features.shortDescription)); expect a crash with SIGILL. "
                        + "Unset OPENBLAS_CORETYPE, or set it to \(best), the best kernel this CPU runs")
            }
            return .keep(source: .user, reason: "OPENBLAS_CORETYPE=\(user) set by the user")
        }
        guard let best else {
            return .keep(source: .openBLAS, reason: "chosen by OpenBLAS; CPU features unknown")
        }
        let have = OpenBLASCores.tier(openBLASChoice), want = OpenBLASCores.tier(best)
        if have == want {
            return .keep(source: .openBLAS, reason: "chosen by OpenBLAS")
        }
        if have > want {
            return .switchTo(
                core: best,
                reason: "OpenBLAS chose \(openBLASChoice), whose instructions this CPU or its OS does not enable")
        }
        return .switchTo(core: best, reason: "OpenBLAS chose \(openBLASChoice), older than the CPU supports")
    }
}

/// The kernel this process runs with and why. `summary` is the one line to log.
public struct KernelChoice: Sendable, Equatable {
    public enum Source: String, Sendable, Codable {
        case openBLAS = "openblas" // OpenBLAS's own choice, kept
        case user = "user" // the user's OPENBLAS_CORETYPE
        case switched = "switched" // replaced OpenBLAS's choice with a better kernel
        case fallback = "fallback" // tried a better kernel, it failed; OpenBLAS's choice kept
    }
    /// The kernel running now (openblas_get_corename()).
    public var core: String
    /// What OpenBLAS chose by itself (nil when the user set OPENBLAS_CORETYPE).
    public var openBLASChoice: String?
    public var source: Source
    public var reason: String
    /// Largest relative error of the start-up check products against the double-precision reference.
    public var verificationError: Double
    public var cpu: String
    /// Which variant of CKernels' SIMD loops runs (portable, avx2, avx512).
    public var simd: String

    public var summary: String {
        var why: String
        switch source {
        case .openBLAS: why = reason
        case .user: why = reason
        case .switched: why = "switched from \(openBLASChoice ?? "?"): \(reason)"
        case .fallback: why = "fallback to OpenBLAS's choice: \(reason)"
        }
        why += String(format: "; check %.1e", verificationError)
        return "OpenBLAS kernel \(core) (\(why); CPU: \(cpu); SIMD kernels: \(simd))"
    }

    /// Flat key/values for run metadata (metrics.jsonl).
    public var metadata: [String: String] {
        [
            "blasKernel": core, "blasKernelSource": source.rawValue, "blasKernelOpenBLASChoice": openBLASChoice ?? "",
            "blasKernelReason": reason, "blasKernelCheckError": String(format: "%.2e", verificationError),
            "cpuFeatures": cpu, "simdKernels": simd, "blasKernelSummary": summary
        ]
    }
}

public enum BLASKernel {
    static let probeVar = "SOFTRL_BLAS_PROBE"
    static let decisionVar = "SOFTRL_BLAS_KERNEL"
    static let emulatedVar = "SOFTRL_BLAS_EMULATED"
    static let emulateTestVar = "SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE"
    static let failProbeTestVar = "SOFTRL_TEST_FAIL_BLAS_PROBE"
    /// A check product is trusted when every entry is within this relative error (of sum_p |a_ip b_pj|).
    public static let tolerance = 1e-4

    /// The kernel OpenBLAS is running (e.g. "Cooperlake", "Prescott").
    public static var activeCoreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    private static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    nonisolated(unsafe) private static var selected: KernelChoice?

    /// The kernel in use. Decided by `selectAtStartup()` in `softrl`; in other processes (tests) computed on first
    /// use without re-executing.
    public static var current: KernelChoice {
        if let s = selected { return s }
        let c = describeWithoutSwitching()
        selected = c
        return c
    }

    private static func describeWithoutSwitching() -> KernelChoice {
        let core = activeCoreName
        let user = env(emulatedVar) == nil ? env("OPENBLAS_CORETYPE") : nil
        let f = CPUFeatures.host
        let d = KernelDecision.decide(openBLASChoice: core, userCoreType: user, features: f)
        let (source, reason): (KernelChoice.Source, String)
        switch d {
        case .keep(let s, let r): (source, reason) = (s, r)
        case .switchTo(let better, let r):
            (source, reason) = (.openBLAS, "\(r) (\(better) would fit; not switched: selectAtStartup() not called)")
        case .keepUnsupportedUserChoice(let warning): (source, reason) = (.user, warning)
        }
        return KernelChoice(
            core: core, openBLASChoice: source == .user ? nil : core, source: source, reason: reason,
            verificationError: verifyActiveKernel(), cpu: f.shortDescription, simd: SIMDPath.active.rawValue)
    }

    /// Call first in main, before any BLAS call. May replace the process (execv) to load a better kernel; in a
    /// probe child it exits. Returns the choice (also available as `current`).
    @discardableResult
    public static func selectAtStartup() -> KernelChoice {
        if let wanted = env(probeVar) { runProbeAndExit(wanted: wanted) }
        let f = CPUFeatures.host
        let core = activeCoreName
        func done(_ c: KernelChoice) -> KernelChoice { selected = c; return c }
        // The check product runs the loaded kernel, so only once it is known to be one this CPU can run.
        func make(_ source: KernelChoice.Source, _ orig: String?, _ reason: String, checked: Double? = nil)
            -> KernelChoice
        {
            KernelChoice(
                core: core, openBLASChoice: orig, source: source, reason: reason,
                verificationError: checked ?? verifyActiveKernel(), cpu: f.shortDescription,
                simd: SIMDPath.active.rawValue)
        }

        // Decided already (by this process before re-executing, or by a parent softrl process).
        if let recorded = env(decisionVar) {
            let parts = recorded.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            let source = KernelChoice.Source(rawValue: parts.first ?? "") ?? .openBLAS
            let orig = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
            let reason = parts.count > 2 ? parts[2] : "decided by a parent process"
            let err = verifyActiveKernel()
            if source == .switched {
                let wanted = env("OPENBLAS_CORETYPE") ?? ""
                let why: String?
                if core.lowercased() != wanted.lowercased() {
                    why = "OpenBLAS loaded \(core), not \(wanted)"
                } else if !(err <= tolerance) {
                    why = String(format: "check products off by %.1e with %@", err, core)
                } else {
                    why = nil
                }
                if let why {
                    // Back to OpenBLAS's own choice, once (the fallback record stops any further re-execution).
                    if env(emulatedVar) != nil, let orig {
                        setenv("OPENBLAS_CORETYPE", orig, 1)
                    } else {
                        unsetenv("OPENBLAS_CORETYPE")
                    }
                    setenv(decisionVar, "fallback|\(orig ?? "")|\(why)", 1)
                    reexec()
                    return done(make(.fallback, orig, why + " (re-execution failed)", checked: err))
                }
            }
            return done(make(source, orig, reason, checked: err))
        }

        // Test hook: behave as if OpenBLAS had chosen this kernel by itself (see the header comment).
        if let fake = env(emulateTestVar), env(emulatedVar) == nil, env("OPENBLAS_CORETYPE") == nil {
            setenv("OPENBLAS_CORETYPE", fake, 1)
            setenv(emulatedVar, fake, 1)
            reexec()
        }

        let user = env(emulatedVar) == nil ? env("OPENBLAS_CORETYPE") : nil
        switch KernelDecision.decide(openBLASChoice: core, userCoreType: user, features: f) {
        case .keep(let source, let reason):
            return done(make(source, source == .user ? nil : core, reason))
        case .keepUnsupportedUserChoice(let warning):
            FileHandle.standardError.write(Data("softrl: warning: \(warning)\n".utf8))
            return done(make(.user, nil, warning))
        case .switchTo(let better, let reason):
            if let failure = probe(better) {
                let why = "\(better) failed its probe (\(failure)); \(reason)"
                setenv(decisionVar, "fallback|\(core)|\(why)", 1)
                return done(make(.fallback, core, why))
            }
            setenv("OPENBLAS_CORETYPE", better, 1)
            setenv(decisionVar, "switched|\(core)|\(reason)", 1)
            reexec()
            // execv returned: could not re-execute. Say so; the kernel that loaded keeps running.
            if env(emulatedVar) != nil { setenv("OPENBLAS_CORETYPE", core, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
            let why = "could not re-execute (errno \(errno)) to switch to \(better); \(reason)"
            setenv(decisionVar, "fallback|\(core)|\(why)", 1)
            return done(make(.fallback, core, why))
        }
    }

    private static func reexec() {
        fflush(stdout); fflush(stderr)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// Runs this executable with OPENBLAS_CORETYPE = `core` as a probe; nil when it loaded that kernel and its
    /// products were right, else why not.
    static func probe(_ core: String) -> String? {
        if env(failProbeTestVar) != nil { return "\(failProbeTestVar) set" }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = []
        var e = ProcessInfo.processInfo.environment
        e["OPENBLAS_CORETYPE"] = core
        e[probeVar] = core
        e[decisionVar] = nil
        e["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = e
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return "could not start: \(error)" }
        p.waitUntilExit()
        if p.terminationReason == .uncaughtSignal { return "killed by signal \(p.terminationStatus)" }
        switch p.terminationStatus {
        case 0: return nil
        case 2: return "OpenBLAS did not load it"
        case 3: return "wrong products"
        default: return "exit status \(p.terminationStatus)"
        }
    }

    private static func runProbeAndExit(wanted: String) -> Never {
        if activeCoreName.lowercased() != wanted.lowercased() { exit(2) }
        exit(verifyActiveKernel() <= tolerance ? 0 : 3)
    }

    /// Largest relative error of a few sgemm products (all three transpose patterns the model uses, sizes that
    /// cover full and partial kernel tiles, C pre-filled with NaN to check beta = 0) against a double-precision
    /// naive product. NaN or infinity when the kernel is broken.
    public static func verifyActiveKernel() -> Double {
        var rng = Xoshiro256(seed: 0x5EED)
        var worst = 0.0
        let cases: [(Int, Int, Int, Transpose, Transpose)] = [
            (67, 45, 129, .none, .transposed), (128, 96, 64, .none, .none),
            (33, 70, 17, .transposed, .none), (1, 300, 40, .none, .transposed),
            (1, 77, 50, .none, .none)
        ]
        for (m, n, k, ta, tb) in cases {
            let a = (0..<(m * k)).map { _ in Float(rng.uniform() * 2 - 1) }
            let b = (0..<(k * n)).map { _ in Float(rng.uniform() * 2 - 1) }
            var c = [Float](repeating: .nan, count: m * n)
            let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        sgemm(
                            ta, tb, m: m, n: n, k: k, a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                            c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    var acc = 0.0, mag = 0.0
                    for p in 0..<k {
                        let x = Double(ta == .none ? a[i * lda + p] : a[p * lda + i])
                        let y = Double(tb == .none ? b[p * ldb + j] : b[j * ldb + p])
                        acc += x * y; mag += abs(x * y)
                    }
                    let e = abs(Double(c[i * n + j]) - acc) / max(mag, 1e-30)
                    if !(e <= worst) { worst = e.isNaN ? .infinity : max(worst, e) }
                }
            }
        }
        return worst
    }
}
