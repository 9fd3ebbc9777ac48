// End to end: the `softrl` binary corrects a forced OpenBLAS fallback at start-up and reports it; falls back when
// the better kernel fails its probe; respects a user's OPENBLAS_CORETYPE. OpenBLAS chooses well on most test
// machines, so SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE=Prescott makes the binary start as if OpenBLAS had picked the
// SSE3 kernel itself (it really loads Prescott; see TensorMath/BLASKernel.swift). Skips with a reason when the
// binary is not built or the CPU has nothing better than Prescott.
// On CPUs this machine is not, under qemu-user's emulation (`qemu-x86_64 -cpu MODEL`: its cpuid and XGETBV are
// the model's, and an instruction the model lacks raises SIGILL as on real hardware): a CPU with AVX2 but no FMA
// (OpenBLAS picks its FMA kernels there and crashed `softrl` at start-up), the user's kernel on a CPU that cannot
// run it, and the kernel tests on an AVX2-only CPU (no AVX-512). qemu-user does not follow execve, so a process
// `softrl` re-executes (the probe child, the switched process) runs natively: these tests check what the emulated
// process decided and ran before that. They skip with a reason when qemu-x86_64 is not installed.
// A user's OPENBLAS_CORETYPE older than the CPU (Haswell on AVX-512) makes the first line of a heavy command say
// what it costs, measured; that test skips on CPUs without AVX-512.
import XCTest
import Foundation
import SoftRLTestSupport
import TensorMath

final class BLASKernelCommandLineTests: XCTestCase {
    func softrl() throws -> URL { try SoftRLBinary.find() }

    /// Runs `executable arguments` with exactly these kernel-related variables (none of the caller's SOFTRL_* or
    /// OPENBLAS_CORETYPE), under `qemu-x86_64 -cpu emulatedCPU` when that is given.
    func run(_ executable: URL, _ arguments: [String], env: [String: String] = [:], emulatedCPU: String? = nil) throws
        -> (status: Int32, signaled: Bool, out: String, err: String)
    {
        let p = Process()
        if let emulatedCPU {
            p.executableURL = try qemu()
            p.arguments = ["-cpu", emulatedCPU, executable.path] + arguments
            // A guest that dies of a signal may leave a qemu_*.core file in the working directory (if core dumps are on).
            p.currentDirectoryURL = FileManager.default.temporaryDirectory
        } else {
            p.executableURL = executable
            p.arguments = arguments
        }
        var e = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("SOFTRL_") && $0.key != "OPENBLAS_CORETYPE"
        }
        e.merge(env) { $1 }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        // Read both pipes to the end concurrently: a full stderr pipe must not stall the child.
        var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (
            p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: o, as: UTF8.self),
            String(decoding: errData, as: UTF8.self)
        )
    }

    /// Runs `softrl bench kernels --json` (tiny sgemm, short timings) with exactly these kernel-related variables.
    func kernelReport(_ env: [String: String], emulatedCPU: String? = nil) throws -> [String: String] {
        let r = try run(
            try softrl(), ["bench", "kernels", "--json", "--sgemm-size", "128", "--seconds", "0.001"], env: env,
            emulatedCPU: emulatedCPU)
        XCTAssertEqual(
            r.status, 0,
            "signaled \(r.signaled): "
                + r.err.split(separator: "\n").filter { !$0.contains("TCG doesn't support") }.joined(separator: "\n"))
        let line = r.out.split(separator: "\n").last.map(String.init) ?? ""
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        return try XCTUnwrap(obj["blas_kernel"] as? [String: String], line)
    }

    /// qemu-user's x86-64 emulator, or a skip with the reason.
    func qemu() throws -> URL {
        #if !arch(x86_64)
            throw XCTSkip("CPU emulation tests are for x86-64 hosts")
        #else
            let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(
                String.init)
            guard let dir = dirs.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/qemu-x86_64") })
            else {
                throw XCTSkip(
                    "qemu-x86_64 not found on PATH: install qemu-user (scripts/setup.sh does) to run SoftRL on emulated CPUs"
                )
            }
            return URL(fileURLWithPath: dir + "/qemu-x86_64")
        #endif
    }

    func betterThanPrescott() throws -> String {
        guard let best = OpenBLASCores.best(for: CPUFeatures.host),
            OpenBLASCores.tier(best) > OpenBLASCores.tier("Prescott")
        else {
            throw XCTSkip(
                "this CPU (\(CPUFeatures.host.shortDescription)) supports no kernel newer than Prescott: nothing to correct"
            )
        }
        return best
    }

    func testForcedFallbackIsCorrectedAndReported() throws {
        let best = try betterThanPrescott()
        let k = try kernelReport(["SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE": "Prescott"])
        print("forced Prescott -> \(k["blasKernelSummary"] ?? "?")")
        XCTAssertEqual(k["blasKernelSource"], "switched")
        XCTAssertEqual(k["blasKernelOpenBLASChoice"], "Prescott")
        XCTAssertEqual(k["blasKernel"]?.lowercased(), best.lowercased())
        XCTAssertLessThanOrEqual(Double(k["blasKernelCheckError"] ?? "") ?? .infinity, BLASKernel.tolerance)
        let summary = try XCTUnwrap(k["blasKernelSummary"])
        XCTAssertTrue(summary.hasPrefix("OpenBLAS kernel \(k["blasKernel"]!) (switched from Prescott"), summary)
    }

    func testFailedProbeKeepsOpenBLASChoice() throws {
        _ = try betterThanPrescott()
        let k = try kernelReport(["SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE": "Prescott", "SOFTRL_TEST_FAIL_BLAS_PROBE": "1"]
        )
        XCTAssertEqual(k["blasKernelSource"], "fallback")
        XCTAssertEqual(k["blasKernel"]?.lowercased(), "prescott")
        XCTAssertTrue(k["blasKernelReason"]?.contains("failed its probe") ?? false, k["blasKernelReason"] ?? "")
    }

    func testUsersCoreTypeIsRespected() throws {
        let k = try kernelReport(["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(k["blasKernelSource"], "user")
        XCTAssertEqual(k["blasKernel"]?.lowercased(), "prescott")
    }

    func testDefaultEnvironmentRunsTheBestGeneration() throws {
        let k = try kernelReport([:])
        print("default environment: \(k["blasKernelSummary"] ?? "?")")
        if let best = OpenBLASCores.best(for: CPUFeatures.host) {
            XCTAssertGreaterThanOrEqual(
                OpenBLASCores.tier(k["blasKernel"] ?? ""), OpenBLASCores.tier(best), k["blasKernelSummary"] ?? "")
        }
        XCTAssertNotEqual(k["blasKernelSource"], "user")
    }

    /// Runs `softrl arguments` with stdout and stderr into one pipe (what a terminal or a log file shows, in order)
    /// and returns its lines.
    func mergedLines(_ arguments: [String], env: [String: String]) throws -> (status: Int32, lines: [String]) {
        let p = Process()
        p.executableURL = try softrl()
        p.arguments = arguments
        var e = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("SOFTRL_") && $0.key != "OPENBLAS_CORETYPE"
        }
        e.merge(env) { $1 }
        p.environment = e
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    /// An OPENBLAS_CORETYPE older than the CPU: the first line of a heavy command says so and gives the measured
    /// share of the own-kernel rate; without it, or on a light command, nothing is said.
    func testOlderCoreTypeIsTheFirstLineWithItsMeasuredCost() throws {
        guard CPUFeatures.host.avx512Usable, let best = OpenBLASCores.best(for: CPUFeatures.host) else {
            throw XCTSkip(
                "this CPU (\(CPUFeatures.host.shortDescription)) has no usable AVX-512: Haswell is not older than it")
        }
        let bench = ["bench", "kernels", "--sgemm-size", "0", "--seconds", "0.001"]
        let r = try mergedLines(bench, env: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(r.status, 0, r.lines.joined(separator: "\n"))
        let first = try XCTUnwrap(r.lines.first)
        print("OPENBLAS_CORETYPE=Haswell, first line: \(first)")
        let prefix = "softrl: OPENBLAS_CORETYPE=Haswell: OpenBLAS sgemm runs at "
        XCTAssertTrue(first.hasPrefix(prefix), first)
        XCTAssertTrue(first.contains("x of this CPU's own-kernel rate (CPU supports \(best)); "), first)
        let figure = first.dropFirst(prefix.count).prefix(while: { $0 != "x" })
        let share = try XCTUnwrap(Double(figure), first)
        XCTAssertTrue(share.isFinite && share > 0, first)
        XCTAssertEqual(r.lines.filter { $0.contains("OPENBLAS_CORETYPE=Haswell:") }.count, 1)

        let plain = try mergedLines(bench, env: [:])
        XCTAssertEqual(plain.status, 0)
        XCTAssertFalse(plain.lines.joined().contains("own-kernel rate"), plain.lines.first ?? "")
        // A command without heavy math pays no probe and says nothing.
        let light = try mergedLines(["model"], env: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertFalse(light.lines.joined().contains("own-kernel rate"), light.lines.first ?? "")
    }

    // MARK: Emulated CPUs (qemu-user)

    /// AVX2 without FMA: Debian's OpenBLAS 0.3.21 loads its Haswell kernels (they use FMA) and the first product
    /// died with SIGILL before `softrl` printed anything. Now the start-up sees the kernel needs what the CPU lacks,
    /// switches to Sandybridge (AVX, no FMA) before any product, and says why.
    func testAVX2WithoutFMAIsSwitchedBeforeAnyProduct() throws {
        _ = try qemu()
        let k = try kernelReport([:], emulatedCPU: "Haswell,-fma")
        print("emulated Haswell without FMA -> \(k["blasKernelSummary"] ?? "?")")
        XCTAssertEqual(k["blasKernelSource"], "switched")
        XCTAssertEqual(k["blasKernel"]?.lowercased(), "sandybridge")
        XCTAssertEqual(
            OpenBLASCores.tier(k["blasKernelOpenBLASChoice"] ?? ""), OpenBLASCores.tier("Haswell"),
            "OpenBLAS itself should have picked an AVX2+FMA kernel on this model: \(k["blasKernelOpenBLASChoice"] ?? "?")"
        )
        XCTAssertTrue(k["blasKernelReason"]?.contains("does not enable") ?? false, k["blasKernelReason"] ?? "")
    }

    /// The user's OPENBLAS_CORETYPE is kept even when the CPU cannot run it, but `softrl` says so before the crash.
    func testUnsupportedUserKernelIsExplainedBeforeTheCrash() throws {
        _ = try qemu()
        let r = try run(
            try softrl(), ["bench", "kernels", "--json", "--sgemm-size", "128", "--seconds", "0.001"],
            env: ["OPENBLAS_CORETYPE": "Haswell"], emulatedCPU: "SandyBridge")
        XCTAssertTrue(
            r.err.contains("softrl: warning: OPENBLAS_CORETYPE=Haswell") && r.err.contains("set it to Sandybridge"),
            r.err)
        // Haswell's FMA kernels on an AVX-only CPU: the check product dies with SIGILL (qemu re-raises it).
        XCTAssertTrue(
            r.signaled && r.status == SIGILL, "expected SIGILL, got status \(r.status) signaled \(r.signaled)")
    }

    /// The kernel tests on an AVX2-only CPU: every AVX2 kernel (and the AVX2 packed products in decode and training)
    /// against its double-precision reference and the portable path, with AVX-512 really absent (an AVX-512
    /// instruction anywhere on these paths would raise SIGILL). Runs this test bundle's own binary under qemu.
    func testKernelTestsPassOnAnAVX2OnlyCPU() throws {
        _ = try qemu()
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0])
        guard bundle.lastPathComponent.hasSuffix(".xctest"), FileManager.default.isExecutableFile(atPath: bundle.path)
        else {
            throw XCTSkip(
                "not running from a Linux .xctest binary (\(bundle.path)): cannot re-run the kernel tests under qemu")
        }
        let suites = [
            "TensorMathTests.SIMDKernelTests", "TensorMathTests.KernelChoiceTests", "TransformerLMTests.DecodingTests",
            "TransformerLMTests.GradientTests"
        ]
        let r = try run(bundle, [suites.joined(separator: ",")], emulatedCPU: "Haswell")
        let log = (r.out + r.err).split(separator: "\n").filter { !$0.contains("TCG doesn't support") }.joined(
            separator: "\n")
        let tail = String(log.suffix(3000))
        XCTAssertEqual(r.status, 0, "signaled \(r.signaled)\n" + tail)
        XCTAssertTrue(
            log.contains("SIMD paths not testable on this CPU (skipped): [\"avx512\"]"),
            "the emulated CPU should have AVX2 and no AVX-512:\n" + tail)
        XCTAssertFalse(
            log.contains("[\"avx2\"") || log.contains("\"avx2\", \"avx512\""), "the AVX2 path was skipped:\n" + tail)
        let executed = log.split(separator: "\n").filter { $0.contains("Executed") && $0.contains("with 0 failures") }
        XCTAssertFalse(executed.isEmpty, tail)
        print("on an emulated Haswell (AVX2 + FMA, no AVX-512): \(executed.last ?? "")")
    }
}
