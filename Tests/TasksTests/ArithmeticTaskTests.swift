// Tests for the arith task: products, the written-out trace, coverage and split determinism.
import XCTest
@testable import Tasks

final class ArithmeticTaskTests: XCTestCase {
    func parsePrompt(_ problem: Problem) -> (a: Int, b: Int) {
        let text = Vocabulary.builtIn.decode(problem.prompt)
        XCTAssertTrue(text.hasPrefix("<bos>") && text.hasSuffix(":"), text)
        let factors = text.dropFirst(5).dropLast().split(separator: "*").map { Int($0)! }
        XCTAssertEqual(factors.count, 2)
        return (factors[0], factors[1])
    }

    /// Checks a trace "p0+p1+...=s" where every part is digit-reversed, against ordinary integer arithmetic.
    func checkTrace(_ trace: String, a: Int, b: Int, file: StaticString = #filePath, line: UInt = #line) {
        let sides = trace.split(separator: "=")
        XCTAssertEqual(sides.count, 2, trace, file: file, line: line)
        let partials = sides[0].split(separator: "+").map { Int(String($0.reversed()))! }
        var rest = b, place = 1
        var expected: [Int] = []
        repeat { expected.append(a * (rest % 10) * place); rest /= 10; place *= 10 } while rest > 0
        XCTAssertEqual(partials, expected, trace, file: file, line: line)
        XCTAssertEqual(Int(String(sides[1].reversed())), a * b, trace, file: file, line: line)
    }

    func testHandWorkedTrace() {
        // 47*6 = 282, 47*80 = 3760 -> "0673", 4042 -> "2404".
        XCTAssertEqual(ArithmeticTask.trace(47, 86), "282+0673=2404")
        // A zero digit still gets a partial product: 12*0 = "0", then 12*30 = 360 -> "063".
        XCTAssertEqual(ArithmeticTask.trace(12, 30), "0+063=063")
    }

    func testEveryInstance() throws {
        let task = try ArithmeticTask()
        XCTAssertEqual(task.count(.test), 500)
        XCTAssertEqual(task.count(.train) + task.count(.test), 90 * 90)
        var seen = Set<[Int]>()
        for split in [Split.train, .test] {
            for index in 0..<task.count(split) {
                let problem = task.problem(split, index)
                let (a, b) = parsePrompt(problem)
                XCTAssertTrue((10...99).contains(a) && (10...99).contains(b))
                XCTAssertTrue(seen.insert([a, b]).inserted, "\(a)*\(b) appears twice")
                XCTAssertEqual(problem.answer, String(a * b))
                XCTAssertEqual(problem.answerTokens, try Vocabulary.builtIn.encode(String(a * b)) + [Vocabulary.eos])
                if index % 50 == 0 { checkTrace(Vocabulary.builtIn.decode(problem.cot), a: a, b: b) }
                XCTAssertLessThanOrEqual(problem.cot.count, task.suggestedThinkingLimit)
                XCTAssertLessThanOrEqual(problem.answerTokens.count, task.maxAnswerTokens)
            }
        }
        XCTAssertEqual(seen.count, 8100)
    }

    func testDeterminismAndOtherSizes() throws {
        let first = try ArithmeticTask(), second = try ArithmeticTask()
        for index in stride(from: 0, to: 7600, by: 101) {
            XCTAssertEqual(first.problem(.train, index), second.problem(.train, index))
        }
        var options = TaskOptions()
        options.arithDigits = 3
        let large = try ArithmeticTask(options: options)
        XCTAssertEqual(large.count(.test), 500)
        XCTAssertEqual(large.count(.train), 900 * 900 - 500)
        for index in [0, 1, 12_345, large.count(.train) - 1] {
            let problem = large.problem(.train, index)
            let (a, b) = parsePrompt(problem)
            XCTAssertTrue((100...999).contains(a) && (100...999).contains(b))
            XCTAssertEqual(problem.answer, String(a * b))
            checkTrace(Vocabulary.builtIn.decode(problem.cot), a: a, b: b)
            XCTAssertLessThanOrEqual(problem.cot.count, large.suggestedThinkingLimit)
        }
        options.arithDigits = 4
        XCTAssertThrowsError(try ArithmeticTask(options: options))
    }
}
