// jsonl:PATH, a user dataset: one JSON object per line, {"prompt": "...", "answer": "...", "cot": "..."}
// with "cot" optional and other keys ignored. Judged by exact match of the answer text.
// Not a general JSON loader: no multi-line records, no schema beyond those three string fields.
//
// Format: prompt "<bos>" + the prompt text as given; cot = the cot text (empty if absent); answer as given.
// Test data: PATH with ".jsonl" replaced by ".test.jsonl" (or ".test.jsonl" appended) if that file exists,
// otherwise the last `testFraction` of PATH's examples (at least one). The vocabulary is every character
// seen in either split, so a test answer can always be written.
import Foundation

public struct JSONLTask: ReasoningTask {
    public let name: String
    public let vocabulary: Vocabulary
    public let trainPath: String
    /// nil when the test split is held out from the train file.
    public let testPath: String?
    public let maxAnswerTokens: Int
    public let suggestedThinkingLimit: Int
    private let problems: [Split: [Problem]]
    /// "PATH line N" of every problem, for messages.
    private let origins: [Split: [String]]

    public static let maxVocabularySize = 256
    /// A problem line longer than this is refused before it is parsed: problems are a few kilobytes, and a runaway
    /// line (a whole file without line breaks, a pasted log) must not cost gigabytes before the model refuses it.
    public static let maxLineBytes = 1 << 20
    /// Thinking budget when no example carries a trace to size it from.
    static let defaultThinkingLimit = 32

    struct Example {
        var prompt: String
        var answer: String
        var cot: String
        /// 1-based line in its file.
        var line = 0
    }

    public init(path: String, options: TaskOptions = .init()) throws {
        let companion = JSONLTask.testFilePath(for: path)
        let hasCompanion = FileManager.default.fileExists(atPath: companion)
        try self.init(
            path: path, train: try JSONLTask.readExamples(path: path),
            test: hasCompanion ? (companion, try JSONLTask.readExamples(path: companion)) : nil, options: options)
    }

    /// The task `path` would be if it held `contents` and had no companion test file (the fuzz target's
    /// entry point: the same parsing and checks without the file system).
    public init(path: String, contents: Data, options: TaskOptions = .init()) throws {
        try self.init(path: path, train: try JSONLTask.parseExamples(contents, path: path), test: nil, options: options)
    }

    init(
        path: String, train trainExamples: [Example], test companionTest: (path: String, examples: [Example])?,
        options: TaskOptions
    ) throws {
        name = TaskCatalog.jsonlPrefix + path
        trainPath = path
        var train = trainExamples
        var test: [Example]
        if let companionTest {
            testPath = companionTest.path
            test = companionTest.examples
        } else {
            testPath = nil
            test = try JSONLTask.holdOutTest(from: &train, path: path, options: options)
        }

        var characters = Set<Character>()
        for example in train + test {
            characters.formUnion(example.prompt)
            characters.formUnion(example.answer)
            characters.formUnion(example.cot)
        }
        let vocabulary = Vocabulary(characters: Array(characters))
        guard vocabulary.count <= JSONLTask.maxVocabularySize else {
            throw TaskError.vocabularyTooLarge(path: path, size: vocabulary.count, limit: JSONLTask.maxVocabularySize)
        }
        self.vocabulary = vocabulary

        func problems(_ examples: [Example]) -> [Problem] {
            examples.enumerated().map { index, example in
                // Cannot throw: the vocabulary was built from these very strings.
                let encode = { (text: String) in (try? vocabulary.encode(text))! }
                return Problem(
                    id: index,
                    prompt: [Vocabulary.bos] + encode(example.prompt),
                    cot: encode(example.cot),
                    answer: example.answer,
                    answerTokens: encode(example.answer) + [Vocabulary.eos])
            }
        }
        let trainProblems = problems(train)
        let testProblems = problems(test)
        self.problems = [.train: trainProblems, .test: testProblems]
        let testFile = companionTest?.path ?? path
        origins = [.train: train.map { "\(path) line \($0.line)" }, .test: test.map { "\(testFile) line \($0.line)" }]
        let all = trainProblems + testProblems
        maxAnswerTokens = all.map(\.answerTokens.count).max() ?? 1
        let longestTrace = all.map(\.cot.count).max() ?? 0
        suggestedThinkingLimit = longestTrace > 0 ? longestTrace + 4 : JSONLTask.defaultThinkingLimit
    }

    /// "data.jsonl" -> "data.test.jsonl"; any other name gets ".test.jsonl" appended.
    public static func testFilePath(for path: String) -> String {
        path.hasSuffix(".jsonl") ? String(path.dropLast(".jsonl".count)) + ".test.jsonl" : path + ".test.jsonl"
    }

    /// A JSONL file without a companion test file: its last `testFraction` of examples (at least one) become the
    /// test split, and at least one stays to train on.
    static func holdOutTest<E>(from train: inout [E], path: String, options: TaskOptions) throws -> [E] {
        guard options.testFraction > 0, options.testFraction < 1 else {
            throw TaskError.invalidOption(
                name: "testFraction", value: String(options.testFraction),
                allowed: "a fraction strictly between 0 and 1")
        }
        guard train.count >= 2 else { throw TaskError.notEnoughExamples(path: path, found: train.count) }
        let held = max(1, Int((Double(train.count) * options.testFraction).rounded(.down)))
        defer { train.removeLast(held) }
        return Array(train.suffix(held))
    }

    static func readExamples(path: String) throws -> [Example] {
        guard FileManager.default.fileExists(atPath: path) else { throw TaskError.fileNotFound(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TaskError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        return try parseExamples(data, path: path)
    }

    static func parseExamples(_ data: Data, path: String) throws -> [Example] {
        try checkLineLengths(data, path: path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TaskError.unreadableFile(path: path, reason: "the bytes are not valid UTF-8")
        }
        var examples: [Example] = []
        // Split on unicode scalars: as Characters, "\r\n" is one grapheme and would not match "\n".
        let scalarLines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (offset, scalars) in scalarLines.enumerated() {
            let trimmed = scalars.last == "\r" ? scalars.dropLast() : scalars[...]
            let line = Substring(String(String.UnicodeScalarView(trimmed)))
            if line.allSatisfy(\.isWhitespace) { continue }
            var example = try parseLine(line, path: path, lineNumber: offset + 1)
            example.line = offset + 1
            examples.append(example)
        }
        guard !examples.isEmpty else { throw TaskError.notEnoughExamples(path: path, found: 0) }
        return examples
    }

    /// The line-length rule over a whole file's bytes, before anything is decoded (a 100 MB line cost 850 MB of
    /// strings before its own line was refused).
    public static func checkLineLengths(_ data: Data, path: String) throws {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            var line = 1, start = 0
            while true {
                let newline = start < bytes.count ? memchr(base + start, 0x0A, bytes.count - start) : nil
                let end = newline.map { base.distance(to: UnsafeRawPointer($0)) } ?? bytes.count
                try checkLineLength(end - start, path: path, lineNumber: line)
                guard newline != nil else { return }
                line += 1; start = end + 1
            }
        }
    }

    /// The line-length rule of every JSONL task file.
    static func checkLineLength(_ bytes: Int, path: String, lineNumber: Int) throws {
        guard bytes <= maxLineBytes else {
            throw TaskError.malformedLine(
                path: path, line: lineNumber,
                reason:
                    "the line is \(bytes) bytes, over the limit of \(maxLineBytes) bytes per problem; split the file into one problem per line, or remove the line"
            )
        }
    }

    static func parseLine(_ line: Substring, path: String, lineNumber: Int) throws -> Example {
        func failure(_ reason: String) -> TaskError {
            TaskError.malformedLine(path: path, line: lineNumber, reason: reason)
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) } catch {
            throw failure("not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw failure("expected a JSON object") }
        func text(_ key: String, required: Bool) throws -> String? {
            guard let value = object[key], !(value is NSNull) else {
                if required { throw failure("missing \"\(key)\"") }
                return nil
            }
            guard let string = value as? String else { throw failure("\"\(key)\" must be a string") }
            return string
        }
        let prompt = try text("prompt", required: true)!
        let answer = try text("answer", required: true)!
        let cot = try text("cot", required: false) ?? ""
        guard !prompt.isEmpty else { throw failure("\"prompt\" is empty") }
        guard !answer.isEmpty else { throw failure("\"answer\" is empty") }
        return Example(prompt: prompt, answer: answer, cot: cot)
    }

    public func count(_ split: Split) -> Int { problems[split]!.count }
    public func origin(_ split: Split, _ index: Int) -> String { origins[split]![index] }

    public func problem(_ split: Split, _ index: Int) -> Problem {
        let list = problems[split]!
        precondition(
            index >= 0 && index < list.count,
            "problem index \(index) is outside 0..<\(list.count) for the \(split.rawValue) split")
        return list[index]
    }

    /// Exact match; any non-empty text without specials counts as a well-formed (wrong) answer.
    public func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        AnswerJudge.verdict(
            answerTokens: answerTokens, vocabulary: vocabulary, expected: problem.answer,
            isWellFormed: { !$0.isEmpty })
    }
}
