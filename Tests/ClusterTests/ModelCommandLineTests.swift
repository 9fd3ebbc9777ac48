// The `softrl model ...` and `softrl generate` commands, run as a user runs them: the built `softrl` binary in a
// subprocess. Skips (with the reason) when the binary has not been built, e.g. `swift build --product softrl` first.
// The transformers interop test also skips when no Python with torch is found (TensorMath.ReferencePython).
import XCTest
import Foundation
import SoftRLTestSupport

final class ModelCommandLineTests: XCTestCase, SoftRLCommandLine {
    static let repoRoot = SoftRLBinary.repoRoot

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-cli-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func parseLogits(_ s: String) throws -> [Double] {
        let obj = try JSONSerialization.jsonObject(with: Data(s.utf8))
        return try XCTUnwrap(obj as? [Double], "stdout is not a JSON array of numbers: \(s.prefix(200))")
    }

    func makeCheckpoint(_ exe: URL) throws -> URL {
        let dir = try tempDir()
        let r = try run(exe, ["model", "init", "--preset", "tiny", "--seed", "3", "--out", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1000576 parameters"), r.stdout)
        return dir
    }

    func testInitInspectLogitsGenerate() throws {
        let exe = try softrlBinary()
        let dir = try makeCheckpoint(exe)
        let inspect = try run(exe, ["model", "inspect", dir.path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("model.layers.3.mlp.down_proj.weight"))
        XCTAssertTrue(inspect.stdout.contains("[128, 512]"))
        XCTAssertTrue(inspect.stdout.contains("parameters: 1000576"))

        let logits = try run(exe, ["model", "logits", dir.path, "--tokens", "1,2,3"])
        XCTAssertEqual(logits.status, 0, logits.stderr)
        XCTAssertEqual(try parseLogits(logits.stdout).count, 64)

        // Greedy generation through the KV cache must equal the argmax chain of full forward passes.
        let gen = try run(exe, ["generate", dir.path, "--tokens", "1,2,3", "--max-new-tokens", "4", "--greedy"])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let ids = gen.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap {
            Int($0)
        }
        XCTAssertEqual(ids.count, 4, gen.stdout)
        var seq = [1, 2, 3]
        for _ in 0..<4 {
            let r = try run(exe, ["model", "logits", dir.path, "--tokens", seq.map(String.init).joined(separator: ",")])
            let l = try parseLogits(r.stdout)
            seq.append(l.indices.max { l[$0] < l[$1] || (l[$0] == l[$1] && $0 > $1) }!)
        }
        XCTAssertEqual(Array(seq.dropFirst(3)), ids)

        // Sampling is deterministic in the seed.
        let s1 = try run(
            exe, ["generate", dir.path, "--tokens", "5", "--max-new-tokens", "6", "--temperature", "1.5", "--seed", "9"]
        )
        let s2 = try run(
            exe, ["generate", dir.path, "--tokens", "5", "--max-new-tokens", "6", "--temperature", "1.5", "--seed", "9"]
        )
        XCTAssertEqual(s1.status, 0, s1.stderr)
        XCTAssertEqual(s1.stdout, s2.stdout)
    }

    func testBadInputGivesOneLineErrorAndNonZeroExit() throws {
        let exe = try softrlBinary()
        let dir = try makeCheckpoint(exe)
        let missing = dir.appendingPathComponent("nope").path
        let cases: [([String], String)] = [
            (["model", "logits", missing, "--tokens", "1"], "does not exist"),
            (["model", "inspect", missing], "does not exist"),
            (["model", "logits", dir.path, "--tokens", "1,x,3"], "not an integer"),
            (["model", "logits", dir.path, "--tokens", ""], "empty"),
            (["model", "logits", dir.path, "--tokens", "1,64"], "outside the vocabulary"),
            (["generate", dir.path, "--tokens", "3,-1", "--max-new-tokens", "2"], "outside the vocabulary"),
            (["generate", dir.path, "--tokens=-1", "--max-new-tokens", "2"], "outside the vocabulary"),
            (
                ["model", "init", "--preset", "huge", "--out", dir.appendingPathComponent("x").path],
                "unknown model preset"
            )
        ]
        for (args, needle) in cases {
            let r = try run(exe, args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stdout.isEmpty, "\(args): stdout \(r.stdout)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): stderr should be one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(args): \(r.stderr)")
        }
    }

    /// `softrl noise-scale` on a briefly supervised tiny model: the report's blocks add up to the whole (the
    /// estimators are linear in the sums), rewards that vary give a gradient, and bad counts are refused in one line.
    func testNoiseScaleReportsAndRefusesBadCounts() throws {
        let exe = try softrlBinary()
        let dir = try makeCheckpoint(exe)
        let sft = try tempDir()
        let trained = try run(exe, ["sft", "--base", dir.path, "--out", sft.path, "--steps", "60"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let r = try run(
            exe, ["noise-scale", "--base", sft.path, "--mode", "soft", "--groups", "6", "--blocks", "3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["groups"] as? Int, 6)
        let blocks = try XCTUnwrap(report["blocks"] as? [String: [String: Any]])
        func value(_ block: String, _ key: String) throws -> Double {
            try XCTUnwrap(blocks[block]?[key] as? Double, "\(block).\(key) in \(r.stdout)")
        }
        for key in ["signal", "noise"] {
            let sum = try value("embedding", key) + value("other", key)
            XCTAssertEqual(try value("all", key), sum, accuracy: 1e-9 * abs(sum) + 1e-12, key)
        }
        XCTAssertGreaterThan(try value("all", "noise"), 0, "rewards that vary give a noisy gradient: \(r.stdout)")
        let median = try XCTUnwrap(report["medianGroupNorm"] as? Double)
        XCTAssertGreaterThan(median, 0)

        for (args, needle) in [
            (["--groups", "2"], "at least 3 groups"), (["--groups", "4", "--blocks", "5"], "at most --groups"),
        ] {
            let bad = try run(exe, ["noise-scale", "--base", sft.path] + args)
            XCTAssertNotEqual(bad.status, 0, "\(args)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
            XCTAssertTrue(bad.stderr.contains(needle), "\(args): \(bad.stderr)")
        }
    }

    /// transformers loads a checkpoint written by `softrl model init` and computes the same logits.
    func testTransformersLoadsSoftRLCheckpoint() throws {
        let exe = try softrlBinary()
        let python = try RolloutRecomputeTests.requireTorchPython()
        let dir = try makeCheckpoint(exe)
        let tokens = "1,7,3,60,2,9"
        let ours = try parseLogits(try run(exe, ["model", "logits", dir.path, "--tokens", tokens]).stdout)
        let script = Self.repoRoot.appendingPathComponent("scripts/reference/check_checkpoint.py").path
        let theirsRun = try run(URL(fileURLWithPath: python), [script, dir.path, "--tokens", tokens])
        XCTAssertEqual(theirsRun.status, 0, theirsRun.stderr)
        let theirs = try parseLogits(theirsRun.stdout)
        XCTAssertEqual(ours.count, theirs.count)
        let maxDiff = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
        print("softrl vs transformers logits: max |diff| = \(maxDiff)")
        XCTAssertLessThan(maxDiff, 1e-4)
    }
}
