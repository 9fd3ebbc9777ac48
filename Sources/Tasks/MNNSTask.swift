// mnns, "minimum non-negative signed sum" (after the CoT2 paper, arXiv 2505.23648): given digits
// d_1..d_m in 1...9, find the smallest value >= 0 of s_1 d_1 + ... + s_m d_m over signs s_i = +-1.
// Not a search heuristic: the 2^m sign vectors are simply enumerated (m <= 6).
//
// Format (m = 4, the default):
//   prompt  "<bos>3 5 1 7:"   digits separated by spaces
//   cot     "3,8,7,0"         partial sums along one best sign vector (here +3 +5 -1 -7)
//   answer  "0"
// The partial-sum path prefers '+' at the earliest position where a choice exists, so it starts with '+'
// whenever some optimal vector does. It cannot always: for "1 5" the only optimum is -1 +5 = 4, and
// the trace is "-1,4" (the signs are readable from the partial sums, which is all the model needs).
import Foundation
import TensorMath

public struct MNNSTask: ReasoningTask {
    public let name = "mnns"
    public let vocabulary = Vocabulary.builtIn
    public let digitCount: Int
    private let split: EnumeratedSplit

    public init(options: TaskOptions = .init()) throws {
        try requireOption("mnnsDigits", options.mnnsDigits, in: 2...6)
        digitCount = options.mnnsDigits
        let total = Int(pow(9.0, Double(digitCount)).rounded())
        split = EnumeratedSplit(total: total, tag: .mnnsSplit, taskSeed: options.seed, digits: digitCount)
    }

    public func count(_ split: Split) -> Int { self.split.count(split) }

    /// Enumeration index -> digits, most significant base-9 place first, each shifted into 1...9.
    public func digits(ofInstance instance: Int) -> [Int] {
        var rest = instance
        var result = [Int](repeating: 0, count: digitCount)
        for position in stride(from: digitCount - 1, through: 0, by: -1) {
            result[position] = rest % 9 + 1
            rest /= 9
        }
        return result
    }

    /// The best signs (+1/-1) and their sum. Vectors are visited with '+' before '-' at each position,
    /// so the first one reaching the minimum is the preferred trace.
    static func bestSigns(_ digits: [Int]) -> (signs: [Int], sum: Int) {
        var best: (signs: [Int], sum: Int)? = nil
        let m = digits.count
        for pattern in 0..<(1 << m) {
            // Bit (m-1-i) set means digit i is subtracted; counting up puts '+' first at early positions.
            let signs = (0..<m).map { i in (pattern >> (m - 1 - i)) & 1 == 0 ? 1 : -1 }
            let sum = zip(signs, digits).reduce(0) { $0 + $1.0 * $1.1 }
            if sum >= 0, best == nil || sum < best!.sum { best = (signs, sum) }
        }
        // Flipping every sign of a negative sum gives a positive one, so some sum is always >= 0.
        return best!
    }

    public func problem(_ split: Split, _ index: Int) -> Problem {
        let digits = digits(ofInstance: self.split.instance(split, index))
        let (signs, answer) = MNNSTask.bestSigns(digits)
        var partial = 0
        var partialSums: [String] = []
        for (sign, digit) in zip(signs, digits) {
            partial += sign * digit
            partialSums.append(String(partial))
        }
        let promptText = digits.map(String.init).joined(separator: " ") + ":"
        let answerText = String(answer)
        return Problem(
            id: index,
            prompt: [Vocabulary.bos] + encodeBuiltIn(promptText),
            cot: encodeBuiltIn(partialSums.joined(separator: ",")),
            answer: answerText,
            answerTokens: encodeBuiltIn(answerText) + [Vocabulary.eos])
    }

    public func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        AnswerJudge.verdict(
            answerTokens: answerTokens, vocabulary: vocabulary, expected: problem.answer,
            isWellFormed: AnswerJudge.isNonNegativeInteger)
    }

    /// Largest possible answer is 9m, so its digits plus eos.
    public var maxAnswerTokens: Int { String(9 * digitCount).count + 1 }

    /// Worst case trace: m partial sums of at most '-' + digits(9m) characters, m-1 commas; plus slack.
    public var suggestedThinkingLimit: Int {
        digitCount * (1 + String(9 * digitCount).count) + (digitCount - 1) + 4
    }
}

/// Built-in tasks only emit characters of `Vocabulary.builtIn`; a failure here is a bug in this module.
func encodeBuiltIn(_ text: String) -> [Int32] {
    do { return try Vocabulary.builtIn.encode(text) } catch {
        preconditionFailure("built-in task produced text outside the built-in vocabulary: \(error)")
    }
}
