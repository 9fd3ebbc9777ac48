// arith: multiplication of two n-digit numbers with a written-out, least-significant-digit-first trace
// (in the spirit of the multiplication tasks used for implicit/continuous CoT). Not general arithmetic.
//
// Format (n = 2, the default), for 47 * 86:
//   prompt  "<bos>47*86:"
//   cot     "282+0673=2404"   47*6 = 282 and 47*80 = 3760 written digit-reversed (ones first, the shift
//                             as leading zeros), then their sum 4042 digit-reversed
//   answer  "4042"            the product in normal notation
// Reversed digits put each column where a left-to-right model needs it: carries flow in writing order.
import Foundation
import TensorMath

public struct ArithmeticTask: ReasoningTask {
    public let name = "arith"
    public let vocabulary = Vocabulary.builtIn
    public let digitCount: Int
    private let smallest: Int // smallest n-digit factor
    private let span: Int // how many n-digit factors there are
    private let split: EnumeratedSplit

    public init(options: TaskOptions = .init()) throws {
        try requireOption("arithDigits", options.arithDigits, in: 1...3)
        digitCount = options.arithDigits
        smallest = digitCount == 1 ? 1 : Int(pow(10.0, Double(digitCount - 1)).rounded())
        span = Int(pow(10.0, Double(digitCount)).rounded()) - smallest
        let total = span * span
        split = EnumeratedSplit(total: total, tag: .arithSplit, taskSeed: options.seed, digits: digitCount)
    }

    public func count(_ split: Split) -> Int { self.split.count(split) }

    public func factors(ofInstance instance: Int) -> (a: Int, b: Int) {
        (smallest + instance / span, smallest + instance % span)
    }

    /// The trace text for a * b (see the file header).
    static func trace(_ a: Int, _ b: Int) -> String {
        let bDigits = String(b).reversed().map { Int(String($0))! }
        let partials = bDigits.enumerated().map { shift, digit in
            String(repeating: "0", count: shift) + String(String(a * digit).reversed())
        }
        return partials.joined(separator: "+") + "=" + String(String(a * b).reversed())
    }

    public func problem(_ split: Split, _ index: Int) -> Problem {
        let (a, b) = factors(ofInstance: self.split.instance(split, index))
        let answerText = String(a * b)
        return Problem(
            id: index,
            prompt: [Vocabulary.bos] + encodeBuiltIn("\(a)*\(b):"),
            cot: encodeBuiltIn(ArithmeticTask.trace(a, b)),
            answer: answerText,
            answerTokens: encodeBuiltIn(answerText) + [Vocabulary.eos])
    }

    public func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        AnswerJudge.verdict(
            answerTokens: answerTokens, vocabulary: vocabulary, expected: problem.answer,
            isWellFormed: AnswerJudge.isNonNegativeInteger)
    }

    /// A product of two n-digit numbers has at most 2n digits; plus eos.
    public var maxAnswerTokens: Int { 2 * digitCount + 1 }

    /// Worst case: partial j has at most n+1+j characters, n-1 '+', one '=', a 2n-digit sum; plus slack.
    public var suggestedThinkingLimit: Int {
        let partials = (0..<digitCount).reduce(0) { $0 + digitCount + 1 + $1 }
        return partials + (digitCount - 1) + 1 + 2 * digitCount + 4
    }
}
