// A multi-token, text end-of-thinking marker (text tasks): thinking ends when the decoded hard / shadow tokens
// contain the marker text; on a shadow or forced end the marker's tokens are inserted, and the learner's
// teacher-forced recomputation (which inserts the same tokens) still reproduces every recorded log-probability.
import Foundation
import XCTest
import Tasks
import TensorMath
import TextTokenizers
import TransformerLM
@testable import SoftTokens

final class TextMarkerTests: XCTestCase {
    static let tokenizerPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TextTokenizersTests/Fixtures/smollm.tokenizer.json").path

    func model(vocab: Int) -> LlamaModel {
        let c = LlamaConfig(
            vocabSize: vocab, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2,
            numAttentionHeads: 2, numKeyValueHeads: 1, maxPositionEmbeddings: 96)
        return try! LlamaModel(config: c, seed: 5, std: 0.3)
    }

    func run(_ m: LlamaModel, _ marker: ThinkingMarker, _ config: SamplerConfig, prompt: [Int32]) -> [Rollout] {
        let gen = RolloutGenerator(model: m, config: config, marker: marker, endOfSequence: 2)
        let reqs = (0..<3).map {
            GenerationRequest(promptIndex: $0, prompt: prompt + [Int32(100 + $0)], groupSize: 6, seed: 9 + UInt64($0))
        }
        return gen.generate(reqs, policyVersion: 1).groups.flatMap { $0 }
    }

    func checkRecompute(_ m: LlamaModel, _ marker: ThinkingMarker, _ rollouts: [Rollout], _ label: String) {
        let scored = PolicyScorer(model: m, endOfThinking: marker.tokens).score(rollouts).logProbs
        var worst = 0.0
        for (r, lp) in zip(rollouts, scored) {
            XCTAssertEqual(lp.count, r.behaviourLogProbs.count)
            for (a, b) in zip(lp, r.behaviourLogProbs) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        }
        XCTAssertLessThan(worst, 1e-4, label)
    }

    func testTextMarkerEndsThinkingAndRecomputes() throws {
        let tok = try HFTokenizer(path: Self.tokenizerPath)
        let m = model(vocab: tok.vocabSize)
        let decode: ([Int32]) -> String = { tok.decode($0, skipSpecialTokens: false) }
        let prompt = tok.encode("Question: Tom has 3 apples.")
        // 1. A marker the model never produces: every rollout is forced; the multi-token marker is inserted.
        let never = ThinkingMarker.text(
            "The final answer is:", tokens: tok.encode(" The final answer is:", addSpecialTokens: false), decode: decode
        )
        XCTAssertGreaterThan(never.tokens.count, 2)
        for mode in [ThinkingMode.hard, .soft, .fuzzy, .gumbel] {
            var c = SamplerConfig(mode: mode)
            c.maxThinkingSteps = 5; c.maxAnswerTokens = 4
            let rs = run(m, never, c, prompt: prompt)
            XCTAssertTrue(rs.allSatisfy { $0.thinkingEnd == .forced && $0.steps.count == 5 }, "\(mode)")
            checkRecompute(m, never, rs, "forced \(mode)")
        }
        // 2. A marker made of what the greedy shadow says at steps 1-2 of one rollout: shadow ends happen, after
        //    exactly the steps before the completing token.
        var c = SamplerConfig(mode: .fuzzy)
        c.maxThinkingSteps = 8; c.maxAnswerTokens = 4
        let probe = run(m, never, c, prompt: prompt)
        let shadows = probe[0].steps.map(\.shadow)
        let text = decode(Array(shadows[1...2]))
        XCTAssertFalse(text.isEmpty)
        let marker = ThinkingMarker.text(text, tokens: tok.encode(text, addSpecialTokens: false), decode: decode)
        let rs = run(m, marker, c, prompt: prompt)
        let shadowEnds = rs.filter { $0.thinkingEnd == .shadow }
        XCTAssertFalse(shadowEnds.isEmpty, "marker \(String(reflecting: text)) never completed by the shadow")
        for r in shadowEnds {
            // The shadows of the recorded steps plus the completing one contain the marker; the steps alone do not.
            XCTAssertFalse(decode(r.steps.map(\.shadow)).contains(text))
        }
        checkRecompute(m, marker, rs, "shadow ends")
        // 3. Hard mode: thinking ends when the sampled tokens spell the marker (nothing inserted).
        var h = SamplerConfig(mode: .hard)
        h.maxThinkingSteps = 8; h.maxAnswerTokens = 4
        h.greedy = true
        let hard = run(m, marker, h, prompt: prompt)
        for r in hard where r.thinkingEnd == .sampled {
            XCTAssertTrue(decode(r.steps.compactMap { $0.token >= 0 ? $0.token : nil }).contains(text))
        }
        checkRecompute(m, marker, hard.filter { _ in true }, "hard")
    }

    func testSingleTokenMarkerIsUnchanged() {
        let marker = ThinkingMarker.token(3)
        XCTAssertTrue(marker.isComplete([5, 3]))
        XCTAssertFalse(marker.isComplete([3, 5]))
        XCTAssertEqual(marker.tokens, [3])
    }
}
