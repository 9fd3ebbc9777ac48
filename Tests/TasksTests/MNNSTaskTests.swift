// Tests for the mnns task against a brute-force reference written here. Not the verifier (VerifierTests).
import XCTest
@testable import Tasks

final class MNNSTaskTests: XCTestCase {
    /// Reference: try every sign vector recursively; smallest non-negative total.
    func bruteForceMinimum(_ digits: [Int]) -> Int {
        var best = Int.max
        func visit(_ i: Int, _ total: Int) {
            if i == digits.count { if total >= 0 { best = min(best, total) }; return }
            visit(i + 1, total + digits[i])
            visit(i + 1, total - digits[i])
        }
        visit(0, 0)
        return best
    }

    /// Smallest non-negative total among sign vectors whose first sign is '+'.
    func bruteForcePlusFirstMinimum(_ digits: [Int]) -> Int? {
        var best: Int? = nil
        func visit(_ i: Int, _ total: Int) {
            if i == digits.count { if total >= 0 { best = min(best ?? total, total) }; return }
            visit(i + 1, total + digits[i])
            visit(i + 1, total - digits[i])
        }
        visit(1, digits[0])
        return best
    }

    func parse(_ task: MNNSTask, _ problem: Problem) -> (digits: [Int], partials: [Int]) {
        let prompt = task.vocabulary.decode(problem.prompt)
        XCTAssertTrue(prompt.hasPrefix("<bos>") && prompt.hasSuffix(":"), prompt)
        let digits = prompt.dropFirst(5).dropLast().split(separator: " ").map { Int($0)! }
        let partials = task.vocabulary.decode(problem.cot).split(separator: ",").map { Int($0)! }
        return (digits, partials)
    }

    func testEveryInstanceAgainstBruteForce() throws {
        let task = try MNNSTask()
        XCTAssertEqual(task.count(.test), 500)
        XCTAssertEqual(task.count(.train) + task.count(.test), 6561)
        var seen: [[Int]: Split] = [:]
        for split in [Split.train, .test] {
            for index in 0..<task.count(split) {
                let problem = task.problem(split, index)
                XCTAssertEqual(problem.id, index)
                let (digits, partials) = parse(task, problem)
                XCTAssertEqual(digits.count, 4)
                XCTAssertTrue(digits.allSatisfy { (1...9).contains($0) })
                XCTAssertNil(seen.updateValue(split, forKey: digits), "instance \(digits) appears twice")

                let expected = bruteForceMinimum(digits)
                XCTAssertEqual(problem.answer, String(expected))
                XCTAssertEqual(problem.answerTokens, try Vocabulary.builtIn.encode(String(expected)) + [Vocabulary.eos])

                // The trace: one partial sum per digit, each step adds or subtracts that digit, ends at the answer.
                XCTAssertEqual(partials.count, digits.count)
                var previous = 0
                for (digit, partial) in zip(digits, partials) {
                    XCTAssertEqual(abs(partial - previous), digit, "\(digits) -> \(partials)")
                    previous = partial
                }
                XCTAssertEqual(partials.last, expected)
                // Starts with '+' whenever some optimal vector does.
                if bruteForcePlusFirstMinimum(digits) == expected { XCTAssertGreaterThan(partials[0], 0) }

                XCTAssertLessThanOrEqual(problem.cot.count, task.suggestedThinkingLimit)
                XCTAssertLessThanOrEqual(problem.answerTokens.count, task.maxAnswerTokens)
                XCTAssertFalse(problem.cot.contains(Vocabulary.endOfThinking))
            }
        }
        XCTAssertEqual(seen.count, 6561, "train and test together cover every instance exactly once")
    }

    func testHandWorkedExamples() {
        // 3 5 1 7: +3+5-1-7 = 0.
        XCTAssertEqual(MNNSTask.bestSigns([3, 5, 1, 7]).sum, 0)
        // 1 5: only -1+5 = 4 is non-negative besides 6, so the trace must start negative.
        XCTAssertEqual(MNNSTask.bestSigns([1, 5]).signs, [-1, 1])
        XCTAssertEqual(MNNSTask.bestSigns([1, 5]).sum, 4)
        // 9 9 9 9: +9+9-9-9 = 0 is preferred over +9-9+9-9 (plus first at the earliest choice).
        XCTAssertEqual(MNNSTask.bestSigns([9, 9, 9, 9]).signs, [1, 1, -1, -1])
    }

    func testDeterministicAcrossConstructionsAndSeedDependent() throws {
        let first = try MNNSTask(), second = try MNNSTask()
        for split in [Split.train, .test] {
            for index in stride(from: 0, to: first.count(split), by: 37) {
                XCTAssertEqual(first.problem(split, index), second.problem(split, index))
            }
        }
        var options = TaskOptions()
        options.seed = 1
        let reseeded = try MNNSTask(options: options)
        let testPrompts = Set((0..<500).map { first.problem(.test, $0).prompt })
        let reseededPrompts = Set((0..<500).map { reseeded.problem(.test, $0).prompt })
        XCTAssertNotEqual(testPrompts, reseededPrompts, "the seed should move instances between splits")
    }

    func testOtherSizesAndInvalidOption() throws {
        var options = TaskOptions()
        options.mnnsDigits = 2
        let small = try MNNSTask(options: options)
        XCTAssertEqual(small.count(.train) + small.count(.test), 81)
        XCTAssertEqual(small.count(.test), 8)
        options.mnnsDigits = 9
        XCTAssertThrowsError(try MNNSTask(options: options)) { error in
            guard case .invalidOption(let name, _, _)? = error as? TaskError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "mnnsDigits")
            XCTAssertTrue(String(describing: error).contains("2...6"))
        }
    }
}
