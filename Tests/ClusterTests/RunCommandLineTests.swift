// The run's settings on the command line, as a user meets them (the built binary in a subprocess): every setting
// of Run.RunOverrides is a flag of `train`, `learner` and `local`; a run says which noise gamma it uses and why;
// `softrl eval` evaluates with the sampler of the run that made the checkpoint, unless told otherwise, and says so.
import XCTest
import Foundation
import Run

final class RunCommandLineTests: XCTestCase {
    func testEverySettingIsAFlagOfTrainLearnerAndLocal() throws {
        let h = try ClusterHarness(testCase: self)
        for command in ["train", "learner", "local"] {
            let (status, help) = try ClusterHarness.runToEnd(h.exe.path, [command, "--help"])
            XCTAssertEqual(status, 0, help)
            for key in RunOverrides.keys {
                let flag = RunOverrides.flag(key)
                XCTAssertTrue(
                    help.contains(flag + " ") || help.contains(flag + "\n"),
                    "`softrl \(command) --help` lacks \(flag) (setting \(key))")
            }
        }
    }

    func testTrainPrintsGammaAndEvalUsesTheRunsSampler() throws {
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let quick = ["--steps", "1", "--group-size", "2", "--prompts", "1", "--mode", "soft"]
        let byRule = h.dir.appendingPathComponent("by-rule").path, chosen = h.dir.appendingPathComponent("chosen").path
        let (s1, trained) = try ClusterHarness.runToEnd(h.exe.path, ["train", "--base", base, "--out", byRule] + quick)
        XCTAssertEqual(s1, 0, trained)
        XCTAssertTrue(trained.contains("noise gamma 1.0: for a model trained from scratch"), trained)
        let (s2, chosenOut) = try ClusterHarness.runToEnd(
            h.exe.path, ["train", "--base", base, "--out", chosen, "--noise-scale", "0.45"] + quick)
        XCTAssertEqual(s2, 0, chosenOut)
        XCTAssertTrue(chosenOut.contains("noise gamma 0.45: set by --noise-scale"), chosenOut)
        XCTAssertTrue(chosenOut.contains("soft(tau=0.5,gamma=0.45)"), chosenOut)

        func eval(_ dir: String, _ extra: [String] = []) throws -> String {
            let (status, out) = try ClusterHarness.runToEnd(
                h.exe.path,
                ["eval", dir, "--inference", "soft", "--samples", "2", "--problems", "2", "--threads", "1"] + extra)
            XCTAssertEqual(status, 0, out)
            return out.split(separator: "\n").first { $0.hasPrefix("eval sampler") }.map(String.init)
                ?? "no eval sampler line in:\n\(out)"
        }
        // The run's gamma (0.45, not the 0.33 eval used to build for every soft evaluation), and where it came from.
        let own = try eval(chosen)
        XCTAssertTrue(own.contains("noise gamma 0.45") && own.contains(chosen + "/" + RunConfigFile.name), own)
        let flagged = try eval(chosen, ["--noise-scale", "0.2", "--thinking-limit", "5"])
        XCTAssertTrue(
            flagged.contains("noise gamma 0.2") && flagged.contains("thinking limit 5")
                && flagged.contains("--noise-scale and --thinking-limit"), flagged)
        // A checkpoint without a run config: a new run's settings for the task, gamma by the rule.
        let bare = try eval(base)
        XCTAssertTrue(bare.contains("noise gamma 1.0") && bare.contains("a new run's settings"), bare)
    }
}
