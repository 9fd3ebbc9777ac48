// Tests for the built-in verifiers and the catalog: right, wrong-but-well-formed and malformed answers.
import XCTest
@testable import Tasks

final class VerifierTests: XCTestCase {
    let v = Vocabulary.builtIn
    func ids(_ text: String) -> [Int32] { try! Vocabulary.builtIn.encode(text) }
    let eos = Vocabulary.eos

    func testNumericTasks() throws {
        for name in ["mnns", "arith"] {
            let task = try TaskCatalog.make(name: name)
            let problem = task.problem(.test, 3)
            let answer = ids(problem.answer)
            let wrong = String(Int(problem.answer)! + 1)
            func verdict(_ tokens: [Int32]) -> Verdict { task.verdict(answerTokens: tokens, for: problem) }

            XCTAssertEqual(verdict(problem.answerTokens), .correct, name)
            XCTAssertEqual(verdict(answer), .correct, "\(name): no eos but the text ends exactly")
            XCTAssertEqual(
                verdict(answer + [eos] + ids("+x") + [Vocabulary.bos]), .correct, "\(name): after eos ignored")

            XCTAssertEqual(verdict(ids(wrong) + [eos]), .wellFormedWrong, name)
            XCTAssertEqual(verdict(answer + ids("7")), .wellFormedWrong, "\(name): extra digit, no eos")
            XCTAssertEqual(verdict(ids("0" + problem.answer) + [eos]), .wellFormedWrong, "\(name): leading zero")

            XCTAssertEqual(verdict([eos]), .malformed, "\(name): empty")
            XCTAssertEqual(verdict([]), .malformed, "\(name): nothing generated")
            XCTAssertEqual(verdict(answer + ids("x") + [eos]), .malformed, "\(name): trailing garbage")
            XCTAssertEqual(verdict(ids("-") + answer + [eos]), .malformed, "\(name): negative")
            XCTAssertEqual(verdict(ids(" ") + answer + [eos]), .malformed, "\(name): space")
            XCTAssertEqual(verdict([Vocabulary.endOfThinking] + answer + [eos]), .malformed, "\(name): special")
            XCTAssertEqual(verdict(answer + [Vocabulary.pad]), .malformed, "\(name): pad")
            XCTAssertEqual(verdict(answer + [999]), .malformed, "\(name): id outside the table")
        }
    }

    func testReach() throws {
        let task = try TaskCatalog.make(name: "reach")
        let problem = task.problem(.test, 0)
        let prompt = v.decode(problem.prompt)
        let candidates = prompt.split(separator: "?")[1].dropLast().split(separator: "|").map(String.init)
        let distractor = candidates.first { $0 != problem.answer }!
        func verdict(_ tokens: [Int32]) -> Verdict { task.verdict(answerTokens: tokens, for: problem) }

        XCTAssertEqual(verdict(problem.answerTokens), .correct)
        XCTAssertEqual(verdict(ids(problem.answer)), .correct)
        XCTAssertEqual(verdict(ids(distractor) + [eos]), .wellFormedWrong)
        XCTAssertEqual(verdict(ids(problem.answer == "a" ? "b" : "a") + [eos]), .wellFormedWrong, "another node")

        XCTAssertEqual(verdict(ids("z") + [eos]), .malformed, "z is not one of the 8 nodes")
        XCTAssertEqual(verdict(ids(problem.answer + problem.answer) + [eos]), .malformed, "two letters")
        XCTAssertEqual(verdict(ids("3") + [eos]), .malformed)
        XCTAssertEqual(verdict([eos]), .malformed)
        XCTAssertEqual(verdict([Vocabulary.bos] + ids(problem.answer) + [eos]), .malformed)
    }

    func testCatalog() throws {
        for name in TaskCatalog.builtInNames {
            let task = try TaskCatalog.make(name: name)
            XCTAssertEqual(task.name, name)
            XCTAssertEqual(task.vocabulary, Vocabulary.builtIn)
            XCTAssertGreaterThan(task.count(.train), task.count(.test))
        }
        XCTAssertThrowsError(try TaskCatalog.make(name: "sudoku")) { error in
            XCTAssertEqual(error as? TaskError, .unknownTask("sudoku"))
            let message = String(describing: error)
            XCTAssertTrue(message.contains("mnns") && message.contains("jsonl:PATH"), message)
        }
        XCTAssertThrowsError(try TaskCatalog.make(name: "jsonl:"))
    }
}
