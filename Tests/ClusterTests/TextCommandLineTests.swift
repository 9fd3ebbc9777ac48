// `softrl tokenize` and `softrl generate --prompt`, run as a user runs them (the built binary in a subprocess).
// The SmolLM2 test compares greedy generation with Hugging Face transformers (scripts/reference/generate_reference.py)
// and skips with the reason when the model directory (scripts/get-smollm2.sh) or a Python with torch is absent.
import Foundation
import XCTest

final class TextCommandLineTests: XCTestCase, SoftRLCommandLine {
    static let repoRoot = ModelCommandLineTests.repoRoot
    static let fixtures = repoRoot.appendingPathComponent("Tests/TextTokenizersTests/Fixtures")
    var cli: TextCommandLineTests { self }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-text-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    static var smollm2Dir: URL {
        if let env = ProcessInfo.processInfo.environment["SOFTRL_SMOLLM2_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.appendingPathComponent("models/SmolLM2-135M-Instruct")
    }

    func testTokenizePrintsTheReferenceIds() throws {
        let exe = try cli.softrlBinary()
        let cases =
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("cases.json")))
            as! [String: [[String: Any]]]
        for name in ["gpt2", "llama2"] {
            for c in cases[name]!.prefix(25) where !(c["text"] as! String).isEmpty {
                let r = try cli.run(
                    exe,
                    [
                        "tokenize", Self.fixtures.appendingPathComponent("\(name).tokenizer.json").path, "--text",
                        c["text"] as! String
                    ])
                XCTAssertEqual(r.status, 0, r.stderr)
                let ids = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Int]
                XCTAssertEqual(ids, c["ids"] as? [Int], "\(name): \(String(reflecting: c["text"]))")
            }
        }
        let bad = try cli.run(exe, ["tokenize", "/nonexistent", "--text", "x"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("tokenizer file not found"), bad.stderr)
    }

    func testGenerateFromTextOnATinyModel() throws {
        let exe = try cli.softrlBinary()
        let dir = try cli.tempDir()
        let r0 = try cli.run(exe, ["model", "init", "--preset", "tiny", "--vocab-size", "1024", "--out", dir.path])
        XCTAssertEqual(r0.status, 0, r0.stderr)
        let noTok = try cli.run(exe, ["generate", dir.path, "--prompt", "Hello", "--max-new-tokens", "4"])
        XCTAssertNotEqual(noTok.status, 0)
        XCTAssertTrue(noTok.stderr.contains("tokenizer.json"), noTok.stderr)
        try FileManager.default.copyItem(
            at: Self.fixtures.appendingPathComponent("smollm.tokenizer.json"),
            to: dir.appendingPathComponent("tokenizer.json"))
        let r = try cli.run(exe, ["generate", dir.path, "--prompt", "Hello world", "--max-new-tokens", "5", "--greedy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.isEmpty)
        let both = try cli.run(exe, ["generate", dir.path, "--prompt", "x", "--tokens", "1,2"])
        XCTAssertTrue(both.stderr.contains("exclude each other"), both.stderr)
        let chat = try cli.run(exe, ["generate", dir.path, "--prompt", "x", "--chat"])
        XCTAssertNotEqual(chat.status, 0)
        XCTAssertTrue(chat.stderr.contains("chat template"), chat.stderr)
        // The token-id form still works and prints ids.
        let ids = try cli.run(exe, ["generate", dir.path, "--tokens", "1,2,3", "--max-new-tokens", "3"])
        XCTAssertEqual(ids.status, 0, ids.stderr)
        XCTAssertEqual(ids.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").count, 3)
    }

    func testSmolLM2GreedyMatchesTransformers() throws {
        let dir = Self.smollm2Dir
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip(
                "SmolLM2 model directory not present at \(dir.path): run scripts/get-smollm2.sh (or set SOFTRL_SMOLLM2_DIR)"
            )
        }
        let python = try RolloutRecomputeTests.requireTorchPython()
        let exe = try cli.softrlBinary()
        let script = Self.repoRoot.appendingPathComponent("scripts/reference/generate_reference.py").path
        for (prompts, chat) in [(["The capital of France is", "12 + 7 ="], false), (["What is 12 + 7?"], true)] {
            let ref = try cli.run(
                URL(fileURLWithPath: python),
                [script, dir.path, "--max-new-tokens", "20"] + (chat ? ["--chat"] : []) + prompts)
            if ref.status != 0 {
                if ref.stderr.contains("No module named") {
                    throw XCTSkip("\(python) lacks torch/transformers: \(ref.stderr.split(separator: "\n").last ?? "")")
                }
                XCTFail("generate_reference.py failed: \(ref.stderr.suffix(500))"); return
            }
            let lines = ref.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            XCTAssertEqual(lines.count, prompts.count)
            for (p, line) in zip(prompts, lines) {
                let r = try cli.run(
                    exe,
                    ["generate", dir.path, "--prompt", p, "--max-new-tokens", "20", "--greedy"]
                        + (chat ? ["--chat"] : []))
                XCTAssertEqual(r.status, 0, r.stderr)
                XCTAssertEqual(
                    r.stdout, (line["text"] as! String) + "\n", "prompt \(String(reflecting: p)) chat \(chat)")
                let tk = try cli.run(exe, ["tokenize", dir.path, "--text", p])
                if !chat {
                    XCTAssertEqual(
                        try JSONSerialization.jsonObject(with: Data(tk.stdout.utf8)) as? [Int],
                        line["promptIds"] as? [Int])
                }
            }
        }
    }
}
