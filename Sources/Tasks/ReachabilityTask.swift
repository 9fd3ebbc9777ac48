// reach: ProsQA-like graph reachability (after Coconut, arXiv 2412.06769, and "Reasoning by
// Superposition", arXiv 2505.12514). A random DAG, a root and two candidates; exactly one candidate
// is reachable from the root. Not a general graph library: graphs are tiny and searched by BFS.
//
// Format (n = 8 nodes named a..h, n edges):
//   prompt  "<bos>f>c,h>f,g>h,b>e,e>a,f>a,g>c,d>a;b?c|a:"
//           edges "x>y" joined by ',', then ';', the root, '?', the two candidates joined by '|', ':'
//   cot     "bea"     a shortest path from the root to the reachable candidate, one letter per node
//   answer  "a"       (c is not reachable from b, though it has incoming edges)
// Every instance has the target at least two edges from the root (so it needs more than a lookup), and a
// distractor that has an incoming edge (so it cannot be ruled out just by never being an edge target).
//
// Splits: instance (split, i) comes from its own seeded stream, so any index is generated on demand.
// A stable hash of the instance's canonical form (sorted edges, root, sorted candidates) puts it in
// exactly one split; streams skip instances belonging to the other split, so train and test never share
// a problem, regardless of edge or candidate order.
import Foundation
import TensorMath

public struct ReachabilityTask: ReasoningTask {
    public let name = "reach"
    public let vocabulary = Vocabulary.builtIn
    public let nodeCount: Int
    private let seed: UInt64
    static let trainCount = 100_000
    static let testCount = 500
    /// One instance in `testBuckets` (by canonical hash) belongs to test.
    static let testBuckets: UInt64 = 8

    public init(options: TaskOptions = .init()) throws {
        try requireOption("reachNodes", options.reachNodes, in: 5...26)
        nodeCount = options.reachNodes
        seed = options.seed
    }

    public func count(_ split: Split) -> Int {
        split == .train ? ReachabilityTask.trainCount : ReachabilityTask.testCount
    }

    struct Instance {
        var edges: [(from: Int, to: Int)] // in listing order; nodes are 0-based letter indices
        var root: Int
        var candidates: [Int] // listing order
        var target: Int // the reachable candidate
        var path: [Int] // root ... target

        var canonical: String {
            let sortedEdges = edges.map { "\(letter($0.from))>\(letter($0.to))" }.sorted()
            return sortedEdges.joined(separator: ",") + ";" + String(letter(root)) + "?"
                + candidates.sorted().map { String(letter($0)) }.joined(separator: "|")
        }

        var promptText: String {
            edges.map { "\(letter($0.from))>\(letter($0.to))" }.joined(separator: ",") + ";"
                + String(letter(root)) + "?" + candidates.map { String(letter($0)) }.joined(separator: "|") + ":"
        }
    }

    static func letter(_ node: Int) -> Character {
        Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(node)))
    }

    /// Draws one graph with a valid root/target/distractor, retrying graphs that offer none.
    static func randomInstance(nodeCount n: Int, using rng: inout SplitMix64) -> Instance {
        while true {
            // Random topological order hides reachability from the letter names.
            var rankToNode = Array(0..<n)
            rng.shuffle(&rankToNode)
            var pairs: [(Int, Int)] = []
            for lo in 0..<n { for hi in (lo + 1)..<n { pairs.append((rankToNode[lo], rankToNode[hi])) } }
            rng.shuffle(&pairs)
            let edges = pairs.prefix(n).map { (from: $0.0, to: $0.1) }

            var successors = [[Int]](repeating: [], count: n)
            var inDegree = [Int](repeating: 0, count: n)
            for edge in edges {
                successors[edge.from].append(edge.to)
                inDegree[edge.to] += 1
            }
            for i in 0..<n { successors[i].sort() } // deterministic BFS tie-break: alphabetical

            struct Choice { var root: Int; var targets: [Int]; var distractors: [Int]; var parent: [Int?] }
            var choices: [Choice] = []
            for root in 0..<n {
                let (distance, parent) = breadthFirst(from: root, successors: successors)
                let targets = (0..<n).filter { (distance[$0] ?? 0) >= 2 }
                let distractors = (0..<n).filter { $0 != root && distance[$0] == nil && inDegree[$0] > 0 }
                if !targets.isEmpty && !distractors.isEmpty {
                    choices.append(Choice(root: root, targets: targets, distractors: distractors, parent: parent))
                }
            }
            guard !choices.isEmpty else { continue }
            let choice = choices[rng.below(choices.count)]
            let target = choice.targets[rng.below(choice.targets.count)]
            let distractor = choice.distractors[rng.below(choice.distractors.count)]
            var path = [target]
            while let previous = choice.parent[path[0]] { path.insert(previous, at: 0) }
            let candidates = rng.below(2) == 0 ? [target, distractor] : [distractor, target]
            return Instance(edges: edges, root: choice.root, candidates: candidates, target: target, path: path)
        }
    }

    /// BFS distances (nil = unreachable) and parents along the first-found shortest paths.
    static func breadthFirst(from root: Int, successors: [[Int]]) -> (distance: [Int?], parent: [Int?]) {
        var distance = [Int?](repeating: nil, count: successors.count)
        var parent = [Int?](repeating: nil, count: successors.count)
        distance[root] = 0
        var queue = [root]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for next in successors[node] where distance[next] == nil {
                distance[next] = distance[node]! + 1
                parent[next] = node
                queue.append(next)
            }
        }
        return (distance, parent)
    }

    func instance(_ split: Split, _ index: Int) -> Instance {
        precondition(
            index >= 0 && index < count(split),
            "problem index \(index) is outside 0..<\(count(split)) for the \(split.rawValue) split")
        var rng = SplitMix64(
            seed: SplitMix64.derivedSeed(
                SeedTag.reachInstance.rawValue, seed,
                UInt64(nodeCount), split.seedTag, UInt64(index)))
        while true {
            let candidate = ReachabilityTask.randomInstance(nodeCount: nodeCount, using: &rng)
            let isTestBucket = stableHash(candidate.canonical) % ReachabilityTask.testBuckets == 0
            if isTestBucket == (split == .test) { return candidate }
        }
    }

    public func problem(_ split: Split, _ index: Int) -> Problem {
        let instance = instance(split, index)
        let answerText = String(ReachabilityTask.letter(instance.target))
        return Problem(
            id: index,
            prompt: [Vocabulary.bos] + encodeBuiltIn(instance.promptText),
            cot: encodeBuiltIn(String(instance.path.map(ReachabilityTask.letter))),
            answer: answerText,
            answerTokens: encodeBuiltIn(answerText) + [Vocabulary.eos])
    }

    public func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        let nodeLetters = Set((0..<nodeCount).map(ReachabilityTask.letter))
        return AnswerJudge.verdict(
            answerTokens: answerTokens, vocabulary: vocabulary, expected: problem.answer,
            isWellFormed: { $0.count == 1 && nodeLetters.contains($0.first!) })
    }

    /// One letter and eos.
    public var maxAnswerTokens: Int { 2 }

    /// A path visits at most every node once; plus slack.
    public var suggestedThinkingLimit: Int { nodeCount + 4 }
}
