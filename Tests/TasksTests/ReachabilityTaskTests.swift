// Tests for the reach task: answers checked by an independent search over the edges parsed from the prompt.
import XCTest
@testable import Tasks

final class ReachabilityTaskTests: XCTestCase {
    struct Parsed {
        var edges: [(String, String)]
        var root: String
        var candidates: [String]
        var canonical: String {
            edges.map { "\($0.0)>\($0.1)" }.sorted().joined(separator: ",") + ";" + root + "?"
                + candidates.sorted().joined(separator: "|")
        }
    }

    func parse(_ problem: Problem) -> Parsed {
        let text = Vocabulary.builtIn.decode(problem.prompt)
        XCTAssertTrue(text.hasPrefix("<bos>") && text.hasSuffix(":"), text)
        let parts = text.dropFirst(5).dropLast().split(separator: ";")
        XCTAssertEqual(parts.count, 2, text)
        let edges = parts[0].split(separator: ",").map { edge -> (String, String) in
            let ends = edge.split(separator: ">")
            XCTAssertEqual(ends.count, 2, text)
            return (String(ends[0]), String(ends[1]))
        }
        let query = parts[1].split(separator: "?")
        return Parsed(edges: edges, root: String(query[0]), candidates: query[1].split(separator: "|").map(String.init))
    }

    /// Reference: depth-first search collecting every node reachable from `start` (start included).
    func reachable(from start: String, _ edges: [(String, String)]) -> Set<String> {
        var seen: Set<String> = [start]
        var stack = [start]
        while let node = stack.popLast() {
            for (from, to) in edges where from == node && !seen.contains(to) {
                seen.insert(to)
                stack.append(to)
            }
        }
        return seen
    }

    /// Reference: shortest hop count by repeated relaxation (Bellman-Ford style, no queue).
    func hops(from start: String, to goal: String, _ edges: [(String, String)]) -> Int? {
        var distance: [String: Int] = [start: 0]
        for _ in 0..<30 {
            for (from, to) in edges {
                if let d = distance[from], d + 1 < distance[to] ?? .max { distance[to] = d + 1 }
            }
        }
        return distance[goal]
    }

    func checkValid(_ problem: Problem, nodeCount: Int, file: StaticString = #filePath, line: UInt = #line) {
        let parsed = parse(problem)
        let letters = Set("abcdefghijklmnopqrstuvwxyz".prefix(nodeCount).map(String.init))
        XCTAssertEqual(parsed.edges.count, nodeCount, file: file, line: line)
        XCTAssertEqual(
            Set(parsed.edges.map { "\($0.0)>\($0.1)" }).count, parsed.edges.count, "duplicate edge",
            file: file, line: line)
        for (from, to) in parsed.edges {
            XCTAssertTrue(letters.contains(from) && letters.contains(to), file: file, line: line)
            XCTAssertFalse(
                reachable(from: to, parsed.edges).contains(from), "cycle through \(from)>\(to)",
                file: file, line: line)
        }
        XCTAssertEqual(parsed.candidates.count, 2, file: file, line: line)
        XCTAssertTrue(parsed.candidates.contains(problem.answer), file: file, line: line)
        let other = parsed.candidates.first { $0 != problem.answer }!
        let fromRoot = reachable(from: parsed.root, parsed.edges)
        XCTAssertTrue(fromRoot.contains(problem.answer), file: file, line: line)
        XCTAssertFalse(fromRoot.contains(other), file: file, line: line)
        XCTAssertNotEqual(parsed.root, other, file: file, line: line)
        XCTAssertTrue(
            parsed.edges.contains { $0.1 == other }, "distractor should have an incoming edge",
            file: file, line: line)

        // The trace: a path along listed edges from the root to the answer, and a shortest one.
        let path = Vocabulary.builtIn.decode(problem.cot).map(String.init)
        XCTAssertEqual(path.first, parsed.root, file: file, line: line)
        XCTAssertEqual(path.last, problem.answer, file: file, line: line)
        for (from, to) in zip(path, path.dropFirst()) {
            XCTAssertTrue(
                parsed.edges.contains { $0 == (from, to) }, "\(from)>\(to) is not an edge",
                file: file, line: line)
        }
        XCTAssertEqual(
            path.count - 1, hops(from: parsed.root, to: problem.answer, parsed.edges), file: file, line: line)
        XCTAssertGreaterThanOrEqual(path.count, 3, "target at least two hops away", file: file, line: line)
        XCTAssertEqual(
            problem.answerTokens, [Vocabulary.builtIn.id(of: Character(problem.answer))!, Vocabulary.eos],
            file: file, line: line)
    }

    func testInstancesAreValidAndSplitsDisjoint() throws {
        let task = try ReachabilityTask()
        XCTAssertEqual(task.count(.train), 100_000)
        XCTAssertEqual(task.count(.test), 500)
        var testCanonical = Set<String>()
        for index in 0..<500 {
            let problem = task.problem(.test, index)
            XCTAssertEqual(problem.id, index)
            checkValid(problem, nodeCount: 8)
            XCTAssertLessThanOrEqual(problem.prompt.count, 40)
            XCTAssertLessThanOrEqual(problem.cot.count, task.suggestedThinkingLimit)
            testCanonical.insert(parse(problem).canonical)
        }
        var answerFirst = 0
        for index in 0..<2000 {
            let problem = task.problem(.train, index)
            if index % 10 == 0 { checkValid(problem, nodeCount: 8) }
            let parsed = parse(problem)
            XCTAssertFalse(testCanonical.contains(parsed.canonical), "train \(index) is also a test problem")
            if parsed.candidates[0] == problem.answer { answerFirst += 1 }
        }
        // Candidate order must not give the answer away (expect about 1000 of 2000).
        XCTAssertTrue((850...1150).contains(answerFirst), "answer listed first \(answerFirst) times")
        checkValid(task.problem(.train, 99_999), nodeCount: 8)
    }

    func testDeterminismAndSeed() throws {
        let first = try ReachabilityTask(), second = try ReachabilityTask()
        for index in [0, 1, 2, 777, 99_999] {
            XCTAssertEqual(first.problem(.train, index), second.problem(.train, index))
        }
        XCTAssertEqual(first.problem(.test, 499), second.problem(.test, 499))
        XCTAssertNotEqual(first.problem(.train, 0).prompt, first.problem(.train, 1).prompt)
        var options = TaskOptions()
        options.seed = 99
        let reseeded = try ReachabilityTask(options: options)
        XCTAssertNotEqual(
            (0..<20).map { first.problem(.train, $0).prompt },
            (0..<20).map { reseeded.problem(.train, $0).prompt })
    }

    func testOtherGraphSizes() throws {
        for nodes in [5, 12, 26] {
            var options = TaskOptions()
            options.reachNodes = nodes
            let task = try ReachabilityTask(options: options)
            for index in 0..<20 { checkValid(task.problem(.train, index), nodeCount: nodes) }
            checkValid(task.problem(.test, 0), nodeCount: nodes)
        }
        var options = TaskOptions()
        options.reachNodes = 4
        XCTAssertThrowsError(try ReachabilityTask(options: options))
    }
}
