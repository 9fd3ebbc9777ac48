// Tests for user JSONL datasets: parsing, split files, vocabulary, verdicts and every error path.
import XCTest
@testable import Tasks

final class JSONLTaskTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tasks-jsonl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    @discardableResult
    func write(_ name: String, _ lines: [String]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testSeparateTestFileVocabularyAndProblems() throws {
        let path = try write(
            "qa.jsonl",
            [
                #"{"prompt": "2+2=", "answer": "4", "cot": "two and two"}"#,
                "",
                "   ",
                #"{"prompt": "capital of France?", "answer": "Paris", "source": "ignored"}"# + "\r",
                #"{"prompt": "héllo", "answer": "ok", "cot": null}"#
            ])
        try write("qa.test.jsonl", [#"{"prompt": "3+3=", "answer": "6!"}"#, ""])
        let task = try TaskCatalog.make(name: "jsonl:" + path)
        XCTAssertEqual(task.name, "jsonl:" + path)
        XCTAssertEqual(task.count(.train), 3)
        XCTAssertEqual(task.count(.test), 1)

        // Independent vocabulary: every character of every string, sorted, after the four specials.
        let texts = ["2+2=", "4", "two and two", "capital of France?", "Paris", "héllo", "ok", "3+3=", "6!"]
        let expected = Array(Set(texts.joined())).sorted().map(String.init)
        XCTAssertEqual(task.vocabulary.tokens, ["<pad>", "<bos>", "<eos>", "<eot>"] + expected)

        let first = task.problem(.train, 0)
        XCTAssertEqual(first.prompt.first, Vocabulary.bos)
        XCTAssertEqual(task.vocabulary.decode(first.prompt), "<bos>2+2=")
        XCTAssertEqual(task.vocabulary.decode(first.cot), "two and two")
        XCTAssertEqual(first.answerTokens, try task.vocabulary.encode("4") + [Vocabulary.eos])
        XCTAssertEqual(task.problem(.train, 1).answer, "Paris", "the \\r of a CRLF line is not data")
        XCTAssertEqual(task.problem(.train, 2).cot, [], "null cot means no trace")
        XCTAssertEqual(task.problem(.test, 0).answer, "6!")
        XCTAssertEqual(task.problem(.test, 0).id, 0)
        XCTAssertEqual(task.maxAnswerTokens, 6, "Paris + eos")
        XCTAssertEqual(task.suggestedThinkingLimit, 11 + 4)

        // Round trip through this vocabulary, and a clear error for a character it lacks.
        let sample = "Paris 2+2=4 héllo"
        XCTAssertEqual(task.vocabulary.decode(try task.vocabulary.encode(sample)), sample)
        XCTAssertThrowsError(try task.vocabulary.encode("Paris?!z")) { error in
            XCTAssertEqual(error as? VocabularyError, .unknownCharacter("z", position: 7))
        }
    }

    func testHeldOutTailWhenNoTestFile() throws {
        let lines = (0..<20).map { #"{"prompt": "q\#($0)", "answer": "a\#($0)"}"# }
        let path = try write("plain.jsonl", lines)
        let task = try JSONLTask(path: path)
        XCTAssertNil(task.testPath)
        XCTAssertEqual(task.count(.train), 18)
        XCTAssertEqual(task.count(.test), 2)
        XCTAssertEqual(task.problem(.test, 0).answer, "a18", "test is the last 10% of lines")
        XCTAssertEqual(task.problem(.test, 1).answer, "a19")
        XCTAssertEqual(task.problem(.train, 17).answer, "a17")
        XCTAssertEqual(task.suggestedThinkingLimit, JSONLTask.defaultThinkingLimit)

        let single = try write("single.jsonl", [lines[0]])
        XCTAssertThrowsError(try JSONLTask(path: single)) { error in
            XCTAssertEqual(error as? TaskError, .notEnoughExamples(path: single, found: 1))
            XCTAssertTrue(String(describing: error).contains(".test.jsonl"))
        }
        XCTAssertEqual(JSONLTask.testFilePath(for: "/d/x.jsonl"), "/d/x.test.jsonl")
        XCTAssertEqual(JSONLTask.testFilePath(for: "/d/x.txt"), "/d/x.txt.test.jsonl")
    }

    func testMalformedLinesNameFileAndLine() throws {
        let good = #"{"prompt": "p", "answer": "a"}"#
        let badLines: [(String, String)] = [
            (#"{"prompt": "p", "answer": "a""#, "not valid JSON"),
            (#"{"prompt": "p"}"#, "missing \"answer\""),
            (#"{"answer": "a"}"#, "missing \"prompt\""),
            (#"{"prompt": "p", "answer": 4}"#, "\"answer\" must be a string"),
            (#"{"prompt": "p", "answer": "a", "cot": ["x"]}"#, "\"cot\" must be a string"),
            (#"{"prompt": "", "answer": "a"}"#, "\"prompt\" is empty"),
            (#"["p", "a"]"#, "expected a JSON object"),
            ("prompt: p", "not valid JSON")
        ]
        for (number, (bad, reason)) in badLines.enumerated() {
            // Line 3: a good line and a blank line come first, so the count must include skipped lines.
            let path = try write("bad\(number).jsonl", [good, "", bad, good])
            XCTAssertThrowsError(try TaskCatalog.make(name: "jsonl:" + path), bad) { error in
                XCTAssertEqual(error as? TaskError, .malformedLine(path: path, line: 3, reason: reason), bad)
                XCTAssertTrue(String(describing: error).hasPrefix("\(path):3: "), String(describing: error))
            }
        }
        // A bad line in the companion test file names that file.
        let train = try write("pair.jsonl", [good, good])
        let test = try write("pair.test.jsonl", [good, "{"])
        XCTAssertThrowsError(try JSONLTask(path: train)) { error in
            XCTAssertEqual(error as? TaskError, .malformedLine(path: test, line: 2, reason: "not valid JSON"))
        }
    }

    func testFileErrors() throws {
        let missing = directory.appendingPathComponent("nope.jsonl").path
        XCTAssertThrowsError(try TaskCatalog.make(name: "jsonl:" + missing)) { error in
            XCTAssertEqual(error as? TaskError, .fileNotFound(path: missing))
            XCTAssertTrue(String(describing: error).contains(missing))
        }
        let blank = try write("blank.jsonl", ["", "  ", ""])
        XCTAssertThrowsError(try JSONLTask(path: blank)) { error in
            XCTAssertTrue(String(describing: error).contains("no examples"), String(describing: error))
        }
        let binary = directory.appendingPathComponent("binary.jsonl")
        try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: binary)
        XCTAssertThrowsError(try JSONLTask(path: binary.path)) { error in
            XCTAssertTrue(String(describing: error).contains("UTF-8"), String(describing: error))
        }
        // 300 distinct CJK characters + a, b, c + 4 specials = 307 tokens, more than 256.
        let wide = String((0..<300).map { Character(UnicodeScalar(0x4E00 + $0)!) })
        let big = try write(
            "big.jsonl", [#"{"prompt": "\#(wide)", "answer": "a"}"#, #"{"prompt": "b", "answer": "c"}"#])
        XCTAssertThrowsError(try JSONLTask(path: big)) { error in
            XCTAssertEqual(error as? TaskError, .vocabularyTooLarge(path: big, size: 307, limit: 256))
        }
        var options = TaskOptions()
        options.testFraction = 1.5
        let ok = try write("ok.jsonl", [#"{"prompt": "p", "answer": "a"}"#, #"{"prompt": "q", "answer": "b"}"#])
        XCTAssertThrowsError(try JSONLTask(path: ok, options: options))
    }

    func testExactMatchVerdict() throws {
        let path = try write(
            "v.jsonl", [#"{"prompt": "say hi", "answer": "hi"}"#, #"{"prompt": "say yo", "answer": "yo"}"#])
        let task = try JSONLTask(path: path)
        let problem = task.problem(.train, 0)
        let vocabulary = task.vocabulary
        func verdict(_ text: String, _ suffix: [Int32] = [Vocabulary.eos]) -> Verdict {
            task.verdict(answerTokens: try! vocabulary.encode(text) + suffix, for: problem)
        }
        XCTAssertEqual(verdict("hi"), .correct)
        XCTAssertEqual(verdict("hi", []), .correct)
        XCTAssertEqual(verdict("yo"), .wellFormedWrong)
        XCTAssertEqual(verdict("hi hi"), .wellFormedWrong)
        XCTAssertEqual(verdict("hi", [Vocabulary.endOfThinking]), .malformed)
        XCTAssertEqual(verdict(""), .malformed)
    }

    /// A line over `JSONLTask.maxLineBytes` is refused with its number and the limit before it is parsed, in both
    /// JSONL readers (before: a 100 MB line was parsed, tokenized and stopped the process in the model).
    func testARunawayLineIsRefusedWithItsNumberAndTheLimit() throws {
        let long = #"{"prompt": ""# + String(repeating: "x", count: JSONLTask.maxLineBytes) + #"", "answer": "1"}"#
        let path = try write(
            "long.jsonl", [#"{"prompt": "a", "answer": "1"}"#, "", long, #"{"prompt": "b", "answer": "2"}"#])
        for load in [{ _ = try JSONLTask(path: path) }, { _ = try TextTask.readExamples(path: path) }]
            as [() throws -> Void]
        {
            XCTAssertThrowsError(try load()) { e in
                let m = "\(e)"
                XCTAssertTrue(
                    m.contains("\(path):3:") && m.contains("\(long.utf8.count) bytes")
                        && m.contains("limit of 1048576 bytes"), m)
            }
        }
        let fits = #"{"prompt": ""# + String(repeating: "x", count: 1000) + #"", "answer": "1"}"#
        _ = try JSONLTask(path: try write("fits.jsonl", [fits, #"{"prompt": "b", "answer": "2"}"#]))
    }

    /// Every problem names its file and line (messages about one problem send the user to it).
    func testEveryProblemNamesItsFileAndLine() throws {
        let path = try write(
            "lines.jsonl",
            [
                "", #"{"prompt": "a", "answer": "1"}"#, #"{"prompt": "b", "answer": "2"}"#, "",
                #"{"prompt": "c", "answer": "3"}"#
            ])
        let task = try JSONLTask(path: path, options: TaskOptions())
        let all =
            (0..<task.count(.train)).map { task.origin(.train, $0) }
            + (0..<task.count(.test)).map { task.origin(.test, $0) }
        XCTAssertEqual(all, ["\(path) line 2", "\(path) line 3", "\(path) line 5"])
        XCTAssertEqual(
            try TextTask.readExamples(path: path).map(\.origin), ["\(path) line 2", "\(path) line 3", "\(path) line 5"])
        XCTAssertEqual(try MNNSTask().origin(.test, 7), "\(try MNNSTask().name) test problem 7")
    }
}
