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

    public init() {}

    // Missing keys keep their defaults, so a config file may set only what it changes.
    private enum CodingKeys: String, CodingKey { case seed, mnnsDigits, reachNodes, arithDigits, testFraction }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        mnnsDigits = try c.decodeIfPresent(Int.self, forKey: .mnnsDigits) ?? mnnsDigits
        reachNodes = try c.decodeIfPresent(Int.self, forKey: .reachNodes) ?? reachNodes
        arithDigits = try c.decodeIfPresent(Int.self, forKey: .arithDigits) ?? arithDigits
        testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction) ?? testFraction
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

    public var description: String {
        switch self {
        case let .unknownTask(name):
            return "unknown task '\(name)'; use one of \(TaskCatalog.builtInNames.joined(separator: ", ")) "
                + "or jsonl:PATH for your own dataset"
        case let .invalidOption(name, value, allowed):
            return "task option \(name) = \(value) is not supported; choose \(allowed)"
        case let .fileNotFound(path):
            return "dataset file not found: \(path); check the path after 'jsonl:'"
        case let .unreadableFile(path, reason):
            return "cannot read dataset file \(path) as UTF-8 text: \(reason)"
        case let .malformedLine(path, line, reason):
            return "\(path):\(line): \(reason); each line must be a JSON object like "
                + #"{"prompt": "...", "answer": "...", "cot": "..."} (cot optional)"#
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
    public static let builtInNames = ["mnns", "reach", "arith"]
    public static let jsonlPrefix = "jsonl:"

    /// "mnns", "reach", "arith", or "jsonl:PATH" (PATH is the train file; the test file is PATH with
    /// ".jsonl" replaced by ".test.jsonl" if that exists, otherwise the last `testFraction` of PATH's lines).
    public static func make(name: String, options: TaskOptions = .init()) throws -> any ReasoningTask {
        switch name {
        case "mnns": return try MNNSTask(options: options)
        case "reach": return try ReachabilityTask(options: options)
        case "arith": return try ArithmeticTask(options: options)
        default:
            if name.hasPrefix(jsonlPrefix) {
                let path = String(name.dropFirst(jsonlPrefix.count))
                guard !path.isEmpty else { throw TaskError.unknownTask(name) }
                return try JSONLTask(path: path, options: options)
            }
            throw TaskError.unknownTask(name)
        }
    }
}

func requireOption(_ name: String, _ value: Int, in range: ClosedRange<Int>) throws {
    guard range.contains(value) else {
        throw TaskError.invalidOption(name: name, value: String(value),
                                      allowed: "a value in \(range.lowerBound)...\(range.upperBound)")
    }
}
