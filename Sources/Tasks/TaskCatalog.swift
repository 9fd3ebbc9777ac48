// Task construction by name, the options that size the built-in tasks, and the module's errors.
// It does not generate problems itself; see the individual task files.
import Foundation

public struct TaskOptions: Codable, Sendable, Equatable {
    /// Changes which instances land in each split and the generated graphs; 0 is the reference setting.
    public var seed: UInt64 = 0
    /// Number of digits in an mnns instance (2...6).
    public var mnnsDigits = 4
    /// Number of nodes in a reach graph (5...26, named a, b, c, ...).
    public var reachNodes = 8
    /// Digits per factor in arith (1...3).
    public var arithDigits = 2
    /// Fraction of a JSONL file's lines held out for test when there is no separate test file (0 < f < 1).
    public var testFraction = 0.1
    /// Text tasks: a Hugging Face tokenizer.json, or a model directory holding one (its generation_config.json
    /// gives the end-of-sequence id, its chat template the prompt format). With it, `jsonl:PATH` reads text problems
    /// ({"question", "answer"}, GSM8K style) instead of character-level ones. Must be readable on every actor.
    public var tokenizer: String? = nil
    /// Text tasks: "{question}" is replaced by the question. "chat" (default) wraps `instruction` + question in the
    /// directory's ChatML chat template; without one it falls back to "Question: {question}\nAnswer:".
    public var promptTemplate = "chat"
    /// Text tasks: told to the model after the question when promptTemplate is "chat".
    public var instruction = "Think step by step, then write \"The final answer is:\" followed by the number."
    /// Text tasks: the end-of-thinking marker, as text (it may span several tokens; detected on decoded tokens).
    public var endOfThinking = "The final answer is:"
    /// Text tasks: "numeric" (first number in the answer equals the expected number), "exact" (trimmed first line
    /// equals the expected text) or "auto" (numeric when the expected answer is a number).
    public var verifier = "auto"
    /// Built-in `words` task: difficulty 1 (one addition/subtraction) ... 3 (three operations with products).
    public var wordLevel = 1
    /// Built-in `words` task: number of train problems (the test split has a tenth as many, at least 50).
    public var wordCount = 2000

    public init() {}

    // Missing keys keep their defaults, so a config file may set only what it changes.
    private enum CodingKeys: String, CodingKey {
        case seed, mnnsDigits, reachNodes, arithDigits, testFraction
        case tokenizer, promptTemplate, instruction, endOfThinking, verifier, wordLevel, wordCount
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        mnnsDigits = try c.decodeIfPresent(Int.self, forKey: .mnnsDigits) ?? mnnsDigits
        reachNodes = try c.decodeIfPresent(Int.self, forKey: .reachNodes) ?? reachNodes
        arithDigits = try c.decodeIfPresent(Int.self, forKey: .arithDigits) ?? arithDigits
        testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction) ?? testFraction
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer) ?? tokenizer
        promptTemplate = try c.decodeIfPresent(String.self, forKey: .promptTemplate) ?? promptTemplate
        instruction = try c.decodeIfPresent(String.self, forKey: .instruction) ?? instruction
        endOfThinking = try c.decodeIfPresent(String.self, forKey: .endOfThinking) ?? endOfThinking
        verifier = try c.decodeIfPresent(String.self, forKey: .verifier) ?? verifier
        wordLevel = try c.decodeIfPresent(Int.self, forKey: .wordLevel) ?? wordLevel
        wordCount = try c.decodeIfPresent(Int.self, forKey: .wordCount) ?? wordCount
    }
}

public enum TaskError: Error, CustomStringConvertible, Equatable {
    case unknownTask(String)
    case invalidOption(name: String, value: String, allowed: String)
    case fileNotFound(path: String)
    case unreadableFile(path: String, reason: String)
    case malformedLine(path: String, line: Int, reason: String)
    case notEnoughExamples(path: String, found: Int)
    case vocabularyTooLarge(path: String, size: Int, limit: Int)
    case needsTokenizer(task: String)
    case tokenizer(String)

    public var description: String {
        switch self {
        case let .unknownTask(name):
            return
                "unknown task '\(name)'; use one of \((TaskCatalog.builtInNames + TaskCatalog.textTaskNames).joined(separator: ", ")) "
                + "or jsonl:PATH for your own dataset"
        case let .invalidOption(name, value, allowed):
            return "task option \(name) = \(value) is not supported; choose \(allowed)"
        case let .fileNotFound(path):
            return "dataset file not found: \(path); check the path after 'jsonl:'"
        case let .unreadableFile(path, reason):
            return "cannot read dataset file \(path) as UTF-8 text: \(reason)"
        case let .malformedLine(path, line, reason):
            return "\(path):\(line): \(reason); each line must be a JSON object like "
                + #"{"prompt": "...", "answer": "...", "cot": "..."} (cot optional), or with a tokenizer "#
                + #"{"question": "...", "answer": "... #### 72"}"#
        case let .needsTokenizer(task):
            return
                "task '\(task)' is a text task: give a tokenizer (--tokenizer DIR, or taskOptions.tokenizer: a model "
                + "directory or tokenizer.json)"
        case let .tokenizer(message):
            return message
        case let .notEnoughExamples(path, found) where found == 0:
            return "\(path) contains no examples (only blank lines); add JSON lines with prompt and answer"
        case let .notEnoughExamples(path, found):
            return "\(path) has \(found) example(s); need at least 2 so one can be held out for test, "
                + "or provide a separate .test.jsonl file next to it"
        case let .vocabularyTooLarge(path, size, limit):
            return "the data in \(path) uses \(size) distinct tokens (specials included) but at most \(limit) "
                + "are supported; restrict the character set (e.g. lowercase text, drop rare symbols)"
        }
    }
}

public enum TaskCatalog {
    /// Character-level tasks, built from options alone.
    public static let builtInNames = ["mnns", "reach", "arith"]
    /// Text tasks (need options.tokenizer).
    public static let textTaskNames = ["words"]
    public static let jsonlPrefix = "jsonl:"

    /// "mnns", "reach", "arith", "words" (text word problems; needs options.tokenizer), or "jsonl:PATH" (PATH is the train file; the test file is PATH with
    /// ".jsonl" replaced by ".test.jsonl" if that exists, otherwise the last `testFraction` of PATH's lines).
    public static func make(name: String, options: TaskOptions = .init()) throws -> any ReasoningTask {
        switch name {
        case "mnns": return try MNNSTask(options: options)
        case "reach": return try ReachabilityTask(options: options)
        case "arith": return try ArithmeticTask(options: options)
        case "words": return try TextTask.wordProblems(options: options)
        default:
            if name.hasPrefix(jsonlPrefix) {
                let path = String(name.dropFirst(jsonlPrefix.count))
                guard !path.isEmpty else { throw TaskError.unknownTask(name) }
                if options.tokenizer != nil { return try TextTask.jsonl(path: path, options: options) }
                return try JSONLTask(path: path, options: options)
            }
            throw TaskError.unknownTask(name)
        }
    }
}

func requireOption(_ name: String, _ value: Int, in range: ClosedRange<Int>) throws {
    guard range.contains(value) else {
        throw TaskError.invalidOption(
            name: name, value: String(value),
            allowed: "a value in \(range.lowerBound)...\(range.upperBound)")
    }
}
