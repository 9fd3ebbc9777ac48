// End to end: the `softrl` binary corrects a forced OpenBLAS fallback at start-up and reports it; falls back when
// the better kernel fails its probe; respects a user's OPENBLAS_CORETYPE. OpenBLAS chooses well on most test
// machines, so SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE=Prescott makes the binary start as if OpenBLAS had picked the
// SSE3 kernel itself (it really loads Prescott; see TensorMath/BLASKernel.swift). Skips with a reason when the
// binary is not built or the CPU has nothing better than Prescott.
import XCTest
import Foundation
import TensorMath

final class BLASKernelCommandLineTests: XCTestCase {
    func softrl() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fm = FileManager.default
        var candidates = [Bundle(for: Self.self).bundleURL.deletingLastPathComponent().appendingPathComponent("softrl")]
        for config in ["debug", "release"] { candidates.append(root.appendingPathComponent(".build/\(config)/softrl")) }
        guard let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("softrl binary not built (looked at \(candidates.map(\.path))): run `swift build --product softrl`")
        }
        return found
    }

    /// Runs `softrl bench kernels --json` (tiny sgemm, short timings) with exactly these kernel-related variables.
    func kernelReport(_ env: [String: String]) throws -> [String: String] {
        let p = Process()
        p.executableURL = try softrl()
        p.arguments = ["bench", "kernels", "--json", "--sgemm-size", "128", "--seconds", "0.001"]
        var e = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SOFTRL_") && $0.key != "OPENBLAS_CORETYPE" }
        e.merge(env) { $1 }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), er = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: er, as: UTF8.self))
        let line = String(decoding: o, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        return try XCTUnwrap(obj["blas_kernel"] as? [String: String], line)
    }

    func betterThanPrescott() throws -> String {
        guard let best = OpenBLASCores.best(for: CPUFeatures.host), OpenBLASCores.tier(best) > OpenBLASCores.tier("Prescott") else {
            throw XCTSkip("this CPU (\(CPUFeatures.host.shortDescription)) supports no kernel newer than Prescott: nothing to correct")
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
        let k = try kernelReport(["SOFTRL_TEST_EMULATE_OPENBLAS_CHOICE": "Prescott", "SOFTRL_TEST_FAIL_BLAS_PROBE": "1"])
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
            XCTAssertGreaterThanOrEqual(OpenBLASCores.tier(k["blasKernel"] ?? ""), OpenBLASCores.tier(best), k["blasKernelSummary"] ?? "")
        }
        XCTAssertNotEqual(k["blasKernelSource"], "user")
    }
}
