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
        XCTAssertTrue(
            load("{\(bpe), \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}").contains(
                "pre_tokenizer (type BertPreTokenizer)"))
        let r = load(
            "{\(bpe), \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\"}]}}"
        )
        XCTAssertTrue(r.contains("pre_tokenizer.pretokenizers[1]") && r.contains("Split regex"), r)
        XCTAssertTrue(load("{\(bpe), \"decoder\": {\"type\": \"WordPiece\"}}").contains("decoder (type WordPiece)"))
        XCTAssertTrue(
            load("{\(bpe), \"normalizer\": {\"type\": \"BertNormalizer\"}}").contains(
                "normalizer (type BertNormalizer)"))
        XCTAssertTrue(
            load("{\(bpe), \"post_processor\": {\"type\": \"RobertaProcessing\"}}").contains("RobertaProcessing"))
        XCTAssertEqual(load("{\(bpe)}"), "loaded")
        XCTAssertThrowsError(try HFTokenizer(path: "/nonexistent/dir")) { XCTAssertTrue("\($0)".contains("not found")) }
    }

    /// Token ids outside 0..<2^24 are refused with the entry named. Before: added_tokens id -5 loaded and `generate`
    /// died on the -5 it encoded; id 2^40 was truncated to 0 and silently stood for another token.
    func testTokenIdsOutsideTheirRangeAreRefusedByEntry() throws {
        func added(_ id: String) -> String {
            "{\(bpe), \"added_tokens\": [{\"id\": \(id), \"content\": \"<x>\", \"special\": true}]}"
        }
        for id in ["-5", "1099511627776", "16777216", "2.5", "true", "\"7\""] {
            let r = load(added(id))
            XCTAssertTrue(
                r.contains("added_tokens[0]") && r.contains("\"<x>\"") && r.contains("0..<16777216"), "id \(id): \(r)")
        }
        XCTAssertEqual(load(added("16777215")), "loaded")
        let v = load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}, "merges": []}}"#)
        XCTAssertTrue(v.contains("model.vocab[\"b\"] is -1"), v)
        let big = load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 4294967296}, "merges": []}}"#)
        XCTAssertTrue(big.contains("model.vocab[\"b\"] is 4294967296"), big)
        let t = load(
            "{\(bpe), \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [-3]}}}}"
        )
        XCTAssertTrue(t.contains("special_tokens[\"<s>\"].ids"), t)
    }

    func testMergesByRank() throws {
        // "abc" with merges b+c (rank 0) before a+b (rank 1) must give a, bc.
        let t = try HFTokenizer(
            json: Data(
                #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "bc": 3, "ab": 4}, "merges": ["b c", "a b"]}}"#
                    .utf8))
        XCTAssertEqual(t.encode("abc"), [0, 3])
        XCTAssertEqual(t.encode("abab"), [4, 4])
    }
}
