// Text tasks for a pretrained model with a subword tokenizer (a Hugging Face tokenizer.json):
//  - jsonl:PATH with options.tokenizer: one {"question", "answer"} object per line, GSM8K style (the expected
//    answer is the text after "####" when present, else the whole field; the text before "####" is the supervised
//    chain of thought, with GSM8K's <<calculator>> annotations removed). {"prompt", "answer", "cot"} lines work too.
//  - words: generated arithmetic word problems with numeric answers at graded difficulty (options.wordLevel), a
//    fixed train/test split from options.seed, offline.
// The prompt is the question in a template (the model directory's ChatML chat template by default); thinking ends
// with a text marker ("The final answer is:") detected on decoded tokens; the answer is judged numerically (first
// number in it) or by exact text. Everything is determined by the task name + TaskOptions, so actors can rebuild it.
import Foundation
import TensorMath
import TextTokenizers

public struct TextTask: ReasoningTask {
    public let name: String
    /// Only the four character specials: text tasks use `tokenizer`, not a character table.
    public let vocabulary = Vocabulary(characters: [])
    public let tokenizer: HFTokenizer
    public let maxAnswerTokens: Int
    public let suggestedThinkingLimit: Int
    public let thinkingMarker: ThinkingMarker
    public let endOfSequence: Int32
    public let numeric: Bool
    private let problems: [Split: [Problem]]
    private let origins: [Split: [String?]]
    /// The questions as text (index-aligned with the problems), for display.
    public let questions: [Split: [String]]

    public struct Example: Sendable, Equatable {
        public var question: String
        public var answer: String
        public var cot: String
        /// "PATH line N" for problems read from a file.
        public var origin: String?
        public init(question: String, answer: String, cot: String, origin: String? = nil) {
            self.question = question; self.answer = answer; self.cot = cot; self.origin = origin
        }
    }

    // MARK: Construction

    public static func jsonl(path: String, options: TaskOptions) throws -> TextTask {
        var train = try readExamples(path: path)
        let companion = JSONLTask.testFilePath(for: path)
        var test: [Example]
        if FileManager.default.fileExists(atPath: companion) {
            test = try readExamples(path: companion)
        } else {
            test = try JSONLTask.holdOutTest(from: &train, path: path, options: options)
        }
        return try TextTask(name: TaskCatalog.jsonlPrefix + path, train: train, test: test, options: options)
    }

    public static func wordProblems(options: TaskOptions) throws -> TextTask {
        try requireOption("wordLevel", options.wordLevel, in: 1...3)
        try requireOption("wordCount", options.wordCount, in: 10...1_000_000)
        let testCount = max(50, options.wordCount / 10)
        let all = WordProblemGenerator.make(
            count: options.wordCount + testCount, level: options.wordLevel, seed: options.seed)
        return try TextTask(
            name: "words", train: Array(all.prefix(options.wordCount)), test: Array(all.suffix(testCount)),
            options: options)
    }

    public init(name: String, train: [Example], test: [Example], options: TaskOptions) throws {
        guard let tokPath = options.tokenizer, !tokPath.isEmpty else { throw TaskError.needsTokenizer(task: name) }
        self.name = name
        do { tokenizer = try HFTokenizer(path: tokPath) } catch {
            throw TaskError.tokenizer("task '\(name)': \(error)")
        }
        let tok = tokenizer
        let directory = TextTask.directory(of: tokPath)
        guard let eos = try TextTask.endOfSequenceID(directory: directory, tokenizer: tok) else {
            throw TaskError.tokenizer(
                "task '\(name)': no end-of-sequence token: \(tokPath) has no generation_config.json / "
                    + "config.json eos_token_id beside it and none of <|im_end|>, <|endoftext|>, </s>, <|eot_id|> is an added token"
            )
        }
        endOfSequence = eos
        switch options.verifier {
        case "auto": numeric = (train + test).allSatisfy { TextTask.firstNumber(in: $0.answer) != nil }
        case "numeric": numeric = true
        case "exact": numeric = false
        default:
            throw TaskError.invalidOption(name: "verifier", value: options.verifier, allowed: "numeric, exact or auto")
        }
        guard !options.endOfThinking.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TaskError.invalidOption(
                name: "endOfThinking", value: "\"\"", allowed: "non-empty text, e.g. \"The final answer is:\"")
        }
        let markerTokens = tok.encode(" " + options.endOfThinking, addSpecialTokens: false)
        thinkingMarker = .text(
            options.endOfThinking, tokens: markerTokens, decode: { tok.decode($0, skipSpecialTokens: false) })

        // Prompt template.
        let render: (String) -> String
        if options.promptTemplate == "chat" {
            if let chat = directory.flatMap({ try? ChatTemplate.load(directory: $0) }) {
                let instruction = options.instruction
                render = { chat.render(user: instruction.isEmpty ? $0 : $0 + "\n" + instruction) }
            } else {
                render = { "Question: \($0)\nAnswer:" }
            }
        } else {
            guard options.promptTemplate.contains("{question}") else {
                throw TaskError.invalidOption(
                    name: "promptTemplate", value: String(reflecting: options.promptTemplate),
                    allowed: "\"chat\" or a template containing {question}")
            }
            let template = options.promptTemplate
            render = { template.replacingOccurrences(of: "{question}", with: $0) }
        }
        var problems: [Split: [Problem]] = [:]
        var longestCot = 0, longestAnswer = 0
        for (split, examples) in [(Split.train, train), (.test, test)] {
            problems[split] = examples.enumerated().map { (i, e) in
                let cot = e.cot.isEmpty ? [] : tok.encode(" " + e.cot, addSpecialTokens: false)
                let answer = tok.encode(" " + e.answer, addSpecialTokens: false) + [eos]
                longestCot = max(longestCot, cot.count)
                longestAnswer = max(longestAnswer, answer.count)
                return Problem(
                    id: i, prompt: tok.encode(render(e.question)), cot: cot, answer: e.answer, answerTokens: answer)
            }
        }
        self.problems = problems
        origins = [.train: train.map(\.origin), .test: test.map(\.origin)]
        questions = [.train: train.map(\.question), .test: test.map(\.question)]
        maxAnswerTokens = max(8, longestAnswer + 4)
        suggestedThinkingLimit = min(256, max(48, longestCot + longestCot / 2))
    }

    // MARK: ReasoningTask

    public func count(_ split: Split) -> Int { problems[split]!.count }
    public func problem(_ split: Split, _ index: Int) -> Problem { problems[split]![index] }
    public func origin(_ split: Split, _ index: Int) -> String {
        origins[split]![index] ?? "\(name) \(split.rawValue) problem \(index)"
    }

    /// The text before the first end-of-sequence token, decoded; numeric: its first number equals the expected one
    /// (well-formed but wrong when it has a different number, malformed without one); exact: its trimmed first line
    /// equals the expected text (well-formed but wrong when non-empty).
    public func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        let body = Array(answerTokens.prefix { $0 != endOfSequence })
        let text = tokenizer.decode(body, skipSpecialTokens: true)
        return TextTask.judge(text, expected: problem.answer, numeric: numeric)
    }

    public static func judge(_ text: String, expected: String, numeric: Bool) -> Verdict {
        if numeric {
            guard let got = firstNumber(in: text) else { return .malformed }
            guard let want = firstNumber(in: expected) else { return .wellFormedWrong }
            return abs(got - want) <= 1e-6 * max(1, abs(want)) ? .correct : .wellFormedWrong
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed == expected.trimmingCharacters(in: .whitespaces) { return .correct }
        return trimmed.isEmpty ? .malformed : .wellFormedWrong
    }

    /// The first number in the text: optional minus, digits with optional thousands commas, optional decimals.
    public static func firstNumber(in text: String) -> Double? {
        let s = Array(text.unicodeScalars)
        var i = 0
        while i < s.count {
            let isDigit = { (k: Int) in k < s.count && s[k].value >= 48 && s[k].value <= 57 }
            if isDigit(i) {
                var start = i
                if i > 0, s[i - 1] == "-" { start = i - 1 }
                var j = i
                var digits = ""
                while j < s.count {
                    if isDigit(j) { digits.unicodeScalars.append(s[j]); j += 1; continue }
                    if s[j] == ",", isDigit(j + 1), isDigit(j + 2), isDigit(j + 3), !isDigit(j + 4) { j += 1; continue }
                    break
                }
                if j < s.count, s[j] == ".", isDigit(j + 1) {
                    digits += "."
                    j += 1
                    while isDigit(j) { digits.unicodeScalars.append(s[j]); j += 1 }
                }
                guard let v = Double(digits) else { return nil }
                return start < i ? -v : v
            }
            i += 1
        }
        return nil
    }

    // MARK: Files

    static func directory(of tokenizerPath: String) -> String? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: tokenizerPath, isDirectory: &isDir) else { return nil }
        return isDir.boolValue ? tokenizerPath : (tokenizerPath as NSString).deletingLastPathComponent
    }

    /// eos_token_id from generation_config.json / config.json beside the tokenizer (the first if a list), else a
    /// conventional end token among the added tokens.
    static func endOfSequenceID(directory: String?, tokenizer: HFTokenizer) throws -> Int32? {
        if let directory {
            for file in ["generation_config.json", "config.json"] {
                let url = URL(fileURLWithPath: directory).appendingPathComponent(file)
                guard let data = FileManager.default.contents(atPath: url.path),
                    let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                    let v = obj["eos_token_id"]
                else { continue }
                let first = (v as? [Any])?.first ?? v
                guard let id = HFTokenizer.tokenId(first) else {
                    throw TaskError.tokenizer(
                        "\(url.path): eos_token_id is \(v), not a token id (an integer in 0..<\(HFTokenizer.maxTokenIds), or a list of them)"
                    )
                }
                return id
            }
        }
        for name in ["<|im_end|>", "<|eot_id|>", "</s>", "<|endoftext|>", "<|end_of_text|>"] {
            if let a = tokenizer.addedTokens.first(where: { $0.content == name }) { return a.id }
        }
        return nil
    }

    static func readExamples(path: String) throws -> [Example] {
        guard FileManager.default.fileExists(atPath: path) else { throw TaskError.fileNotFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskError.unreadableFile(path: path, reason: "cannot open")
        }
        try JSONLTask.checkLineLengths(data, path: path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TaskError.unreadableFile(path: path, reason: "not valid UTF-8")
        }
        var out: [Example] = []
        // Split on scalars: as Characters, "\r\n" is one grapheme and would not match "\n".
        for (k, raw) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = k + 1
            let line = String(String.UnicodeScalarView(raw)).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw TaskError.malformedLine(path: path, line: lineNo, reason: "not a JSON object")
            }
            guard let question = (obj["question"] ?? obj["prompt"]) as? String, !question.isEmpty else {
                throw TaskError.malformedLine(
                    path: path, line: lineNo, reason: "missing a non-empty string \"question\" (or \"prompt\")")
            }
            let answerField: String
            if let a = obj["answer"] as? String {
                answerField = a
            } else if let n = obj["answer"] as? NSNumber {
                answerField = n.stringValue
            } else {
                throw TaskError.malformedLine(
                    path: path, line: lineNo, reason: "missing \"answer\" (a string or a number)")
            }
            var answer = answerField, cot = (obj["cot"] as? String) ?? ""
            if let r = answerField.range(of: "####") {
                answer = String(answerField[r.upperBound...])
                if cot.isEmpty { cot = String(answerField[..<r.lowerBound]) }
            }
            answer = answer.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !answer.isEmpty else {
                throw TaskError.malformedLine(
                    path: path, line: lineNo, reason: "the answer is empty (nothing after ####?)")
            }
            out.append(
                Example(
                    question: question, answer: answer,
                    cot: removeCalculatorAnnotations(cot).trimmingCharacters(in: .whitespacesAndNewlines),
                    origin: "\(path) line \(lineNo)"))
        }
        if out.isEmpty { throw TaskError.notEnoughExamples(path: path, found: 0) }
        return out
    }

    /// GSM8K writes "48/2 = <<48/2=24>>24": drop the <<...>> parts.
    static func removeCalculatorAnnotations(_ s: String) -> String {
        var out = "", rest = Substring(s)
        while let open = rest.range(of: "<<"), let close = rest[open.upperBound...].range(of: ">>") {
            out += rest[..<open.lowerBound]
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}

/// Arithmetic word problems with numeric answers. Level 1: one addition or subtraction of numbers up to 20;
/// level 2: two steps with numbers up to 50; level 3: three steps including a multiplication. Each comes with a
/// worked solution (the supervised chain of thought). Deterministic in (count, level, seed).
enum WordProblemGenerator {
    static let names = ["Tom", "Ana", "Lee", "Maya", "Omar", "Sara", "Ben", "Yuki", "Ivan", "Lena", "Raj", "Zoe"]
    static let items = [
        "apples", "marbles", "stickers", "books", "coins", "pencils", "cookies", "stamps", "shells", "cards"
    ]

    static func make(count: Int, level: Int, seed: UInt64) -> [TextTask.Example] {
        var rng = SplitMix64(seed: 0x5750_524F_424C_454D &+ seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(level))
        var seen = Set<String>()
        var out: [TextTask.Example] = []
        var attempts = 0
        while out.count < count && attempts < count * 50 {
            attempts += 1
            let e = one(level: level, rng: &rng)
            if seen.insert(e.question).inserted { out.append(e) }
        }
        return out
    }

    static func one(level: Int, rng: inout SplitMix64) -> TextTask.Example {
        func r(_ lo: Int, _ hi: Int) -> Int { lo + rng.below(hi - lo + 1) }
        let name = names[r(0, names.count - 1)], item = items[r(0, items.count - 1)]
        let limit = level == 1 ? 20 : 50
        var total = r(2, limit)
        var question = "\(name) has \(total) \(item)."
        var steps: [String] = []
        let ops = level == 1 ? 1 : level == 2 ? 2 : 3
        var usedProduct = false
        for k in 0..<ops {
            let kind: Int
            if level == 3 && !usedProduct && (k == ops - 1 || r(0, 2) == 0) { kind = 2 } else { kind = r(0, 1) }
            switch kind {
            case 2:
                usedProduct = true
                let m = r(2, 4)
                question += " Then \(name)'s collection grows to \(m) times as many."
                steps.append("\(total) * \(m) = \(total * m).")
                total *= m
            case 1 where total > 1:
                let n = r(1, min(total - 1, limit))
                question += " \(name) gives away \(n)."
                steps.append("\(total) - \(n) = \(total - n).")
                total -= n
            default:
                let n = r(1, limit)
                question += " \(name) gets \(n) more."
                steps.append("\(total) + \(n) = \(total + n).")
                total += n
            }
        }
        question += " How many \(item) does \(name) have now?"
        return TextTask.Example(question: question, answer: String(total), cot: steps.joined(separator: " "))
    }
}
