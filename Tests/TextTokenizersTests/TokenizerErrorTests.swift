// Bad tokenizer files give errors that name what is wrong.
import Foundation
import XCTest
@testable import TextTokenizers

final class TokenizerErrorTests: XCTestCase {
    func load(_ json: String) -> String {
        do { _ = try HFTokenizer(json: Data(json.utf8), source: "t.json"); return "loaded" } catch { return "\(error)" }
    }
    let bpe = #""model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#

    func testMalformedAndUnsupported() throws {
        XCTAssertTrue(load("[1,2]").contains("not a JSON object"))
        XCTAssertTrue(load("{}").contains("missing \"model\""))
        XCTAssertTrue(load(#"{"model": {"type": "WordPiece", "vocab": {}}}"#).contains("model (type WordPiece)"))
        XCTAssertTrue(load(#"{"model": {"type": "Unigram", "vocab": []}}"#).contains("Unigram"))
        XCTAssertTrue(load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}}"#).contains("merges[0]"))
        XCTAssertTrue(load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ac"]}}"#).contains("two tokens"))
        XCTAssertTrue(load("{\(bpe), \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}").contains("pre_tokenizer (type BertPreTokenizer)"))
        let r = load("{\(bpe), \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\"}]}}")
        XCTAssertTrue(r.contains("pre_tokenizer.pretokenizers[1]") && r.contains("Split regex"), r)
        XCTAssertTrue(load("{\(bpe), \"decoder\": {\"type\": \"WordPiece\"}}").contains("decoder (type WordPiece)"))
        XCTAssertTrue(load("{\(bpe), \"normalizer\": {\"type\": \"BertNormalizer\"}}").contains("normalizer (type BertNormalizer)"))
        XCTAssertTrue(load("{\(bpe), \"post_processor\": {\"type\": \"RobertaProcessing\"}}").contains("RobertaProcessing"))
        XCTAssertEqual(load("{\(bpe)}"), "loaded")
        XCTAssertThrowsError(try HFTokenizer(path: "/nonexistent/dir")) { XCTAssertTrue("\($0)".contains("not found")) }
    }

    func testMergesByRank() throws {
        // "abc" with merges b+c (rank 0) before a+b (rank 1) must give a, bc.
        let t = try HFTokenizer(json: Data(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "bc": 3, "ab": 4}, "merges": ["b c", "a b"]}}"#.utf8))
        XCTAssertEqual(t.encode("abc"), [0, 3])
        XCTAssertEqual(t.encode("abab"), [4, 4])
    }
}
