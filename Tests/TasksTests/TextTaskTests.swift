// Text tasks on a subword tokenizer: GSM8K-style JSONL parsing (answer after ####, calculator annotations dropped,
// bad lines reported with their number), the built-in word problems (answers recomputed independently from the
// question text), numeric / exact verifiers, prompt templates and the end-of-thinking marker.
import Foundation
import XCTest
@testable import Tasks
import TextTokenizers

final class TextTaskTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TextTokenizersTests/Fixtures")
    static let tokenizer = fixtures.appendingPathComponent("smollm.tokenizer.json").path

    func options() -> TaskOptions {
        var o = TaskOptions()
        o.tokenizer = Self.tokenizer
        return o
    }

    func write(_ lines: [String]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// A fresh temporary model directory (name starting `prefix`, removed after the test) holding the fixture
    /// tokenizer as tokenizer.json.
    func modelDirectory(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            atPath: Self.tokenizer, toPath: dir.appendingPathComponent("tokenizer.json").path)
        return dir
    }

    func testGSM8KStyleJSONL() throws {
        let path = try write([
            #"{"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"}"#,
            "",
            #"{"question": "What is 1,000 + 234?", "answer": "1,234"}"#,
            #"{"prompt": "Say hi", "answer": 5}"#
        ])
        let task = try TaskCatalog.make(name: "jsonl:" + path, options: options())
        let t = try XCTUnwrap(task as? TextTask)
        XCTAssertEqual(t.count(.train) + t.count(.test), 3)
        let p = t.problem(.train, 0)
        XCTAssertEqual(p.answer, "72")
        let tok = try HFTokenizer(path: Self.tokenizer)
        XCTAssertEqual(
            tok.decode(p.cot),
            " Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.")
        XCTAssertEqual(p.answerTokens.last, t.endOfSequence)
        XCTAssertEqual(tok.decode(Array(p.answerTokens.dropLast())), " 72")
        // No chat template beside a bare tokenizer.json: the fallback template.
        XCTAssertEqual(tok.decode(p.prompt), "Question: " + t.questions[.train]![0] + "\nAnswer:")
        XCTAssertEqual(t.problem(.train, 1).answer, "1,234")
        XCTAssertTrue(t.numeric)
        // Verdicts on generated answer tokens.
        func v(_ s: String) -> Verdict {
            t.verdict(
                answerTokens: tok.encode(s, addSpecialTokens: false) + [t.endOfSequence] + tok.encode(" 99"), for: p)
        }
        XCTAssertEqual(v(" 72"), .correct)
        XCTAssertEqual(v(" 72 clips."), .correct)
        XCTAssertEqual(v(" $72.00"), .correct)
        XCTAssertEqual(v(" 71"), .wellFormedWrong)
        XCTAssertEqual(v(" seventy-two"), .malformed)
        XCTAssertEqual(TextTask.judge("1,234", expected: "1,234", numeric: true), .correct)
        XCTAssertEqual(TextTask.judge("-5 apples", expected: "-5", numeric: true), .correct)
        XCTAssertEqual(TextTask.judge(" Paris\nmore", expected: "Paris", numeric: false), .correct)
        XCTAssertEqual(TextTask.judge("Rome", expected: "Paris", numeric: false), .wellFormedWrong)
        XCTAssertEqual(TextTask.judge("  ", expected: "Paris", numeric: false), .malformed)
        // The end-of-thinking marker: several tokens, detected on decoded text.
        XCTAssertGreaterThan(t.thinkingMarker.tokens.count, 1)
        XCTAssertEqual(tok.decode(t.thinkingMarker.tokens), " The final answer is:")
        XCTAssertTrue(
            t.thinkingMarker.isComplete(tok.encode("so 72. The final answer is:", addSpecialTokens: false)[...]))
        XCTAssertFalse(t.thinkingMarker.isComplete(tok.encode("so 72. The final answer", addSpecialTokens: false)[...]))
    }

    func testBadLinesAreReportedWithTheirNumber() throws {
        func error(_ lines: [String], _ o: TaskOptions? = nil) throws -> String {
            let path = try write(lines)
            do { _ = try TaskCatalog.make(name: "jsonl:" + path, options: o ?? options()); return "no error" } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(
            try error([#"{"question": "a", "answer": "1"}"#, "not json", #"{"question": "b", "answer": "2"}"#])
                .contains(":2: not a JSON object"))
        XCTAssertTrue(
            try error([#"{"question": "a", "answer": "1"}"#, #"{"answer": "2"}"#]).contains(
                ":2: missing a non-empty string \"question\""))
        XCTAssertTrue(
            try error([#"{"question": "a", "answer": "1"}"#, #"{"question": "b"}"#]).contains(":2: missing \"answer\""))
        XCTAssertTrue(try error([#"{"question": "a", "answer": "x ####  "}"#]).contains(":1: the answer is empty"))
        var bad = options(); bad.tokenizer = "/nonexistent/tok.json"
        XCTAssertTrue(
            try error([#"{"question": "a", "answer": "1"}"#, #"{"question": "b", "answer": "2"}"#], bad).contains(
                "tokenizer file not found"))
        var tmpl = options(); tmpl.promptTemplate = "no placeholder"
        XCTAssertTrue(
            try error([#"{"question": "a", "answer": "1"}"#, #"{"question": "b", "answer": "2"}"#], tmpl).contains(
                "promptTemplate"))
        XCTAssertThrowsError(try TaskCatalog.make(name: "words", options: TaskOptions())) {
            XCTAssertTrue("\($0)".contains("text task"))
        }
    }

    /// Recomputes a word problem's answer from its question text alone.
    func solve(_ q: String) -> Int {
        var total = 0
        let sentences = q.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }
        for s in sentences {
            let nums = s.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            if s.contains(" has "), let n = nums.first {
                total = n
            } else if s.contains(" gets "), let n = nums.first {
                total += n
            } else if s.contains(" gives away "), let n = nums.first {
                total -= n
            } else if s.contains(" times as many"), let n = nums.first {
                total *= n
            }
        }
        return total
    }

    func testWordProblemsAreCorrectDeterministicAndSplit() throws {
        for level in 1...3 {
            var o = options(); o.wordLevel = level; o.wordCount = 300
            let t = try XCTUnwrap(try TaskCatalog.make(name: "words", options: o) as? TextTask)
            XCTAssertEqual(t.count(.train), 300)
            XCTAssertEqual(t.count(.test), 50)
            var seen = Set<String>()
            for split in Split.allCases {
                for i in 0..<t.count(split) {
                    let q = t.questions[split]![i]
                    XCTAssertTrue(seen.insert(q).inserted, "duplicate question across splits: \(q)")
                    XCTAssertEqual(String(solve(q)), t.problem(split, i).answer, q)
                    XCTAssertGreaterThanOrEqual(Int(t.problem(split, i).answer)!, 0)
                }
            }
            let again = try XCTUnwrap(try TaskCatalog.make(name: "words", options: o) as? TextTask)
            XCTAssertEqual(again.problem(.test, 7), t.problem(.test, 7))
            if level == 3 { XCTAssertTrue(t.questions[.train]!.allSatisfy { $0.contains("times as many") }) }
        }
        var o = options(); o.wordLevel = 4
        XCTAssertThrowsError(try TaskCatalog.make(name: "words", options: o))
    }

    func testChatTemplateFromAModelDirectory() throws {
        let dir = try modelDirectory("text-dir-")
        // SmolLM2's template text (as saved by transformers) and its eos id.
        let template =
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        try template.write(to: dir.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8)
        try #"{"eos_token_id": 2}"#.write(
            to: dir.appendingPathComponent("generation_config.json"), atomically: true, encoding: .utf8)
        var o = TaskOptions(); o.tokenizer = dir.path; o.wordCount = 20
        let t = try XCTUnwrap(try TaskCatalog.make(name: "words", options: o) as? TextTask)
        XCTAssertEqual(t.endOfSequence, 2)
        let tok = try HFTokenizer(path: dir.path)
        let text = tok.decode(t.problem(.train, 0).prompt, skipSpecialTokens: false)
        XCTAssertEqual(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n"
                + t.questions[.train]![0] + "\n" + o.instruction + "<|im_end|>\n<|im_start|>assistant\n")
    }

    /// An eos_token_id that is not a token id (2^40, -1, a fraction) is an error naming the file; before, 2^40 was
    /// truncated to token 0 and generation stopped at the wrong token.
    func testAnEndOfSequenceIdThatIsNotATokenIdIsRefused() throws {
        let dir = try modelDirectory("text-eos-")
        var o = TaskOptions(); o.tokenizer = dir.path; o.wordCount = 20
        for eos in ["1099511627776", "-1", "2.5", "[1099511627776, 2]"] {
            try #"{"eos_token_id": \#(eos)}"#.write(
                to: dir.appendingPathComponent("generation_config.json"), atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try TaskCatalog.make(name: "words", options: o), "eos \(eos)") { e in
                XCTAssertTrue(
                    "\(e)".contains("generation_config.json: eos_token_id is") && "\(e)".contains("not a token id"),
                    "\(e)")
            }
        }
        try #"{"eos_token_id": [2, 5]}"#.write(
            to: dir.appendingPathComponent("generation_config.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual((try TaskCatalog.make(name: "words", options: o) as? TextTask)?.endOfSequence, 2)
    }
}
