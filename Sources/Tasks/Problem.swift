// The task-facing types every other module codes against: splits, problems, verdicts, rewards
// and the `ReasoningTask` protocol. No task logic lives here.
import Foundation

public enum Split: String, Codable, Sendable, CaseIterable { case train, test }

public struct Problem: Codable, Sendable, Equatable {
    /// Index within its split.
    public let id: Int
    /// Starts with `Vocabulary.bos` and ends with the prompt text's last character (':' for built-ins).
    public let prompt: [Int32]
    /// Discrete chain-of-thought trace for supervised warm-start; holds no `<eot>`.
    public let cot: [Int32]
    /// Canonical answer text.
    public let answer: String
    /// `encode(answer) + [eos]`.
    public let answerTokens: [Int32]

    public init(id: Int, prompt: [Int32], cot: [Int32], answer: String, answerTokens: [Int32]) {
        self.id = id
        self.prompt = prompt
        self.cot = cot
        self.answer = answer
        self.answerTokens = answerTokens
    }
}

public enum Verdict: String, Codable, Sendable {
    case correct
    /// Parses as the task's kind of answer (e.g. a number) but is not the right one.
    case wellFormedWrong
    /// Empty, holds specials, or is not the task's kind of answer at all.
    case malformed
}

public struct RewardShaping: Codable, Sendable, Equatable {
    // The paper (Soft Tokens, Hard Truths, arXiv 2509.19170) uses 100/10/0; scaled by 1/100 here,
    // which leaves Adam updates unchanged and keeps losses in a readable range.
    public var correct: Double = 1.0
    public var wellFormedWrong: Double = 0.1
    public var malformed: Double = 0.0

    public init(correct: Double = 1.0, wellFormedWrong: Double = 0.1, malformed: Double = 0.0) {
        self.correct = correct
        self.wellFormedWrong = wellFormedWrong
        self.malformed = malformed
    }

    public func reward(_ v: Verdict) -> Double {
        switch v {
        case .correct: return correct
        case .wellFormedWrong: return wellFormedWrong
        case .malformed: return malformed
        }
    }

    // Missing keys keep their defaults, so a config file may set only what it changes.
    private enum CodingKeys: String, CodingKey { case correct, wellFormedWrong, malformed }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RewardShaping()
        correct = try c.decodeIfPresent(Double.self, forKey: .correct) ?? defaults.correct
        wellFormedWrong = try c.decodeIfPresent(Double.self, forKey: .wellFormedWrong) ?? defaults.wellFormedWrong
        malformed = try c.decodeIfPresent(Double.self, forKey: .malformed) ?? defaults.malformed
    }
}

public protocol ReasoningTask: Sendable {
    var name: String { get }
    var vocabulary: Vocabulary { get }
    func count(_ split: Split) -> Int
    /// Deterministic; `index` must be in `0..<count(split)`.
    func problem(_ split: Split, _ index: Int) -> Problem
    /// `answerTokens` are the generated answer tokens; only those before the first eos are judged.
    func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict
    /// Generation limit for the answer, including eos.
    var maxAnswerTokens: Int { get }
    /// A chain-of-thought length cap that comfortably fits the discrete traces.
    var suggestedThinkingLimit: Int { get }
    /// How thinking ends (default: the single `<eot>` token; see ThinkingMarker.swift).
    var thinkingMarker: ThinkingMarker { get }
    /// The token that ends an answer (default `Vocabulary.eos`).
    var endOfSequence: Int32 { get }
    /// Where a problem comes from, for messages that must send the user to it ("data.jsonl line 12"; built-in tasks
    /// name the split and index).
    func origin(_ split: Split, _ index: Int) -> String
}

extension ReasoningTask {
    public func origin(_ split: Split, _ index: Int) -> String { "\(name) \(split.rawValue) problem \(index)" }
}

/// Shared verdict rule. The answer is the text before the first eos; if no eos was generated the whole
/// sequence counts (generation hit its limit, so the text ended exactly at the end of the given tokens).
/// Any special or out-of-table id in that text makes it malformed.
enum AnswerJudge {
    static func verdict(
        answerTokens: [Int32], vocabulary: Vocabulary, expected: String,
        isWellFormed: (String) -> Bool
    ) -> Verdict {
        let body = answerTokens.prefix { $0 != Vocabulary.eos }
        for id in body where Vocabulary.isSpecial(id) || id < 0 || Int(id) >= vocabulary.count {
            return .malformed
        }
        let text = vocabulary.decode(Array(body))
        if text == expected { return .correct }
        return isWellFormed(text) ? .wellFormedWrong : .malformed
    }

    /// "A non-negative integer": one or more ASCII digits, nothing else.
    static func isNonNegativeInteger(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
