// Parity with the Python `tokenizers` package: tokenizer.json files trained by
// scripts/reference/make_tokenizer_fixtures.py (byte-level GPT-2 / Llama-3 / SmolLM-style, SentencePiece-style
// Llama-2 legacy and Metaspace), and SmolLM2's own tokenizer when models/SmolLM2-135M-Instruct exists.
import Foundation
import XCTest
@testable import TextTokenizers

struct TokenizerCase: Decodable {
    let text: String
    let ids: [Int32]
    let idsNoSpecial: [Int32]
    let decoded: String
    let decodedSkip: String
}

enum TokenizerFixtures {
    static let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func cases() throws -> [String: [TokenizerCase]] {
        try JSONDecoder().decode(
            [String: [TokenizerCase]].self, from: Data(contentsOf: dir.appendingPathComponent("cases.json")))
    }
    static func tokenizer(_ name: String) throws -> HFTokenizer {
        try HFTokenizer(path: dir.appendingPathComponent("\(name).tokenizer.json").path)
    }
    /// SOFTRL_SMOLLM2_DIR, else models/SmolLM2-135M-Instruct at the repository root (scripts/get-smollm2.sh).
    static var smollm2Dir: URL {
        if let env = ProcessInfo.processInfo.environment["SOFTRL_SMOLLM2_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.appendingPathComponent("models/SmolLM2-135M-Instruct")
    }
}

final class TokenizerParityTests: XCTestCase {
    func check(_ tok: HFTokenizer, _ cases: [TokenizerCase], name: String) {
        var failures = 0
        for c in cases where failures < 5 {
            let ids = tok.encode(c.text, addSpecialTokens: true)
            let plain = tok.encode(c.text, addSpecialTokens: false)
            let dec = tok.decode(c.ids, skipSpecialTokens: false)
            let decSkip = tok.decode(c.ids, skipSpecialTokens: true)
            if ids != c.ids || plain != c.idsNoSpecial || dec != c.decoded || decSkip != c.decodedSkip { failures += 1 }
            XCTAssertEqual(ids, c.ids, "\(name) encode \(String(reflecting: c.text))")
            XCTAssertEqual(plain, c.idsNoSpecial, "\(name) encode without specials \(String(reflecting: c.text))")
            XCTAssertEqual(dec, c.decoded, "\(name) decode \(String(reflecting: c.text))")
            XCTAssertEqual(decSkip, c.decodedSkip, "\(name) decode skipping specials \(String(reflecting: c.text))")
        }
    }

    func testByteLevelGPT2() throws {
        check(try TokenizerFixtures.tokenizer("gpt2"), try TokenizerFixtures.cases()["gpt2"]!, name: "gpt2")
    }
    func testByteLevelLlama3() throws {
        check(try TokenizerFixtures.tokenizer("llama3"), try TokenizerFixtures.cases()["llama3"]!, name: "llama3")
    }
    func testByteLevelSmolLMStyle() throws {
        check(try TokenizerFixtures.tokenizer("smollm"), try TokenizerFixtures.cases()["smollm"]!, name: "smollm")
    }
    func testSentencePieceLlama2() throws {
        check(try TokenizerFixtures.tokenizer("llama2"), try TokenizerFixtures.cases()["llama2"]!, name: "llama2")
    }
    func testSentencePieceMetaspace() throws {
        check(
            try TokenizerFixtures.tokenizer("metaspace"), try TokenizerFixtures.cases()["metaspace"]!, name: "metaspace"
        )
    }

    func testSmolLM2() throws {
        let dir = TokenizerFixtures.smollm2Dir
        let file = dir.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw XCTSkip(
                "SmolLM2 tokenizer not present at \(file.path): run scripts/get-smollm2.sh (or set SOFTRL_SMOLLM2_DIR)")
        }
        let cases = try JSONDecoder().decode(
            [TokenizerCase].self,
            from: Data(contentsOf: TokenizerFixtures.dir.appendingPathComponent("smollm2_cases.json")))
        let tok = try HFTokenizer(path: dir.path)
        XCTAssertEqual(tok.vocabSize, 49152)
        check(tok, cases, name: "SmolLM2")
        // "The capital of France is" (ids checked against transformers in docs/machine-facts.md).
        XCTAssertEqual(tok.encode("The capital of France is"), [504, 3575, 282, 4649, 314])
    }
}
