// Independent check of recorded log-probabilities: a short real `softrl sft` checkpoint, `softrl rollouts` in
// hard / soft / fuzzy mode, then scripts/reference/recompute_rollouts.py (PyTorch + transformers, no shared code)
// teacher-forces every rollout through LlamaForCausalLM and recomputes each step's log-prob / log-density and
// each answer token's log-prob. Agreement means the Swift forward pass, the position bookkeeping (step t at
// len(prompt) - 1 + t, <eot> unless sampled, answer after it) and the density formulas all match a reference.
//
// Python: TensorMath.ReferencePython ($SOFTRL_PYTHON, .venv, python3); skipped (with the reason) when none of them
// can `import torch, transformers`.
import XCTest
import Foundation
import TensorMath

final class RolloutRecomputeTests: XCTestCase {
    static let script = ClusterHarness.repoRoot.appendingPathComponent("scripts/reference/recompute_rollouts.py").path

    /// The Python to use (TensorMath.ReferencePython), or a skip saying why there is none.
    static func requireTorchPython() throws -> String {
        do {
            return try ReferencePython.find(
                repositoryRoot: ClusterHarness.repoRoot, importing: ["torch", "transformers"]
            ).get()
        } catch {
            throw XCTSkip("\(error)")
        }
    }

    /// Runs the reference script on `files` and returns its --json report.
    func recompute(_ h: ClusterHarness, python: String, checkpoint: String, files: [String], log name: String) throws
        -> [String: Any]
    {
        let p = try h.spawnProgram(python, [Self.script, checkpoint] + files + ["--json"], log: name)
        XCTAssertTrue(h.waitForExit(p, timeout: 300), "recompute_rollouts.py did not finish; log:\n\(h.log(name))")
        XCTAssertEqual(h.status(p), 0, "recompute_rollouts.py failed:\n\(h.log(name))")
        // stdout and stderr share the log: the report is the last line that is a JSON object.
        let line = try XCTUnwrap(
            h.log(name).split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON report:\n\(h.log(name))")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testRecordedLogProbsMatchTransformers() throws {
        let python = try Self.requireTorchPython()
        let h = try ClusterHarness(testCase: self)

        let ckpt = h.dir.appendingPathComponent("sft").path
        let sft = try h.spawn(
            ["sft", "--task", "mnns", "--steps", "30", "--batch-size", "16", "--threads", "1", "--out", ckpt],
            log: "sft")
        XCTAssertTrue(h.waitForExit(sft, timeout: 300), "sft did not finish; log:\n\(h.log("sft"))")
        XCTAssertEqual(h.status(sft), 0, "sft failed:\n\(h.log("sft"))")

        var files: [String: String] = [:]
        for mode in ["hard", "soft", "fuzzy"] {
            let out = h.dir.appendingPathComponent("\(mode).jsonl").path
            let p = try h.spawn(
                [
                    "rollouts", ckpt, "--task", "mnns", "--mode", mode, "--count", "8", "--group-size", "4",
                    "--seed", "3", "--out", out
                ], log: "rollouts-\(mode)")
            XCTAssertTrue(
                h.waitForExit(p, timeout: 120), "rollouts \(mode) did not finish; log:\n\(h.log("rollouts-\(mode)"))")
            XCTAssertEqual(h.status(p), 0, "rollouts \(mode) failed:\n\(h.log("rollouts-\(mode)"))")
            files[mode] = out
        }

        let r = try recompute(
            h, python: python, checkpoint: ckpt, files: ["hard", "soft", "fuzzy"].map { files[$0]! }, log: "recompute")
        let byMode = try XCTUnwrap(r["actionsByMode"] as? [String: Int], "\(r)")
        let absByMode = try XCTUnwrap(r["maxAbsErrorByMode"] as? [String: Double], "non-numeric error (inf?): \(r)")
        let relByMode = try XCTUnwrap(r["maxRelErrorByMode"] as? [String: Double], "non-numeric error (inf?): \(r)")
        print(
            """
            rollout recompute vs transformers: \(r["rollouts"] ?? "?") rollouts, \(r["actions"] ?? "?") actions \(byMode)
              max |d| hard \(absByMode["hard"] ?? .nan), answer \(absByMode["answer"] ?? .nan)
              max rel soft \(relByMode["soft"] ?? .nan), fuzzy \(relByMode["fuzzy"] ?? .nan)
              shadow mismatches \(r["shadowMismatches"] ?? "?"), worst: \(r["worst"] ?? "none")
            """)

        for mode in ["hard", "soft", "fuzzy", "answer"] {
            XCTAssertGreaterThanOrEqual(byMode[mode] ?? 0, 12, "too few \(mode) actions checked: \(byMode)")
        }
        XCTAssertGreaterThanOrEqual(r["actions"] as? Int ?? 0, 100)
        XCTAssertEqual(r["infiniteMismatches"] as? Int, 0, "\(r)")
        // Tolerances. Measured (30-step sft; rollout seeds 1 and 3; Swift fp32 vs torch fp32 eager, float64 after):
        // hard / answer |d| ~ 1e-6..3e-6 (fp32 logits differing in the last bits), soft relative ~ 3e-7..5e-7.
        // Fuzzy (tau = 1e-4, logits scaled by 1e4 before the softmax) was the worry: a 1e-6 logit difference
        // becomes 1e-2 in the exponent, but the mixture is then essentially one-hot, so mu barely moves; measured
        // relative error ~ 2e-8. 1e-3 therefore keeps a margin of >= 300x everywhere, and is still far below what
        // a real bug gives (a wrong position, temperature or sigma changes these figures by O(1)).
        let tolerance = 1e-3
        XCTAssertLessThan(absByMode["hard"] ?? .infinity, tolerance, "hard step log-probs disagree: \(r)")
        XCTAssertLessThan(absByMode["answer"] ?? .infinity, tolerance, "answer log-probs disagree: \(r)")
        XCTAssertLessThan(relByMode["soft"] ?? .infinity, tolerance, "soft densities disagree: \(r)")
        XCTAssertLessThan(relByMode["fuzzy"] ?? .infinity, tolerance, "fuzzy densities disagree: \(r)")
        XCTAssertEqual(
            r["shadowMismatches"] as? Int, 0, "recorded greedy shadows differ from transformers' argmax: \(r)")

        // The check must be able to fail: shift one recorded hard log-prob by 0.01 and expect the script to see it.
        let text = try String(contentsOfFile: files["hard"]!, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        var row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        var steps = try XCTUnwrap(row["steps"] as? [[String: Any]])
        let first = try XCTUnwrap(steps.first, "first hard rollout has no steps")
        steps[0]["logProb"] = try XCTUnwrap(first["logProb"] as? Double) + 0.01
        row["steps"] = steps
        lines[0] = String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self)
        let bad = h.dir.appendingPathComponent("hard-tampered.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: bad, atomically: true, encoding: .utf8)
        let t = try recompute(h, python: python, checkpoint: ckpt, files: [bad.path], log: "recompute-tampered")
        let tampered = try XCTUnwrap((t["maxAbsErrorByMode"] as? [String: Double])?["hard"], "\(t)")
        XCTAssertGreaterThan(tampered, 0.009, "a 0.01 shift in a recorded log-prob went unnoticed: \(t)")
    }
}
