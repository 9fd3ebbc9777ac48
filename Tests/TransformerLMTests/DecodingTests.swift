// KV-cache decoding must give the same logits as the full training forward pass: token and vector inputs,
// rows of different lengths advancing in lock step, and a prompt shared by a group of rows.
import XCTest
import TensorMath
@testable import TransformerLM

final class DecodingTests: XCTestCase {
    func testCachedDecodingMatchesFullForward() {
        let c = ModelFixtures.microConfig()
        let model = ModelFixtures.model(c)
        var rng = Xoshiro256(seed: 5)
        let seqs = [ModelFixtures.input(length: 9, vectorPositions: [3, 5, 6], config: c, rng: &rng),
                    ModelFixtures.input(length: 7, vectorPositions: [2], config: c, rng: &rng),
                    ModelFixtures.input(length: 5, vectorPositions: [], config: c, rng: &rng)]
        let full = model.forward(seqs)
        let prefixLen = [3, 2, 1]
        func prefix(_ s: ModelInput, _ n: Int) -> (ModelInput, Int) {
            let nv = s.tokens[..<n].filter { $0 == ModelInput.vectorSlot }.count
            return (ModelInput(tokens: Array(s.tokens[..<n]), vectors: Array(s.vectors[..<(nv * c.hiddenSize)])), nv)
        }
        let cache = KVCache(config: c, rows: 3)
        var vecCursor = [Int](repeating: 0, count: 3)
        var prompts: [ModelInput] = []
        for i in 0..<3 { let (p, nv) = prefix(seqs[i], prefixLen[i]); prompts.append(p); vecCursor[i] = nv }
        let first = model.prefill(prompts: prompts, rows: [[0], [1], [2]], cache: cache)
        var maxDiff: Float = 0
        for i in 0..<3 {
            let ref = full.logits(sequence: i, position: prefixLen[i] - 1)
            for v in 0..<c.vocabSize { maxDiff = max(maxDiff, abs(first[i][v] - ref[v])) }
        }
        var pos = prefixLen
        let logits = FloatBuffer(count: 3 * c.vocabSize)
        while true {
            let active = (0..<3).filter { pos[$0] < seqs[$0].count }
            if active.isEmpty { break }
            var input = ModelInput(tokens: [])
            for i in active {
                let t = seqs[i].tokens[pos[i]]
                input.tokens.append(t)
                if t == ModelInput.vectorSlot {
                    input.vectors.append(contentsOf: seqs[i].vectors[(vecCursor[i] * c.hiddenSize)..<((vecCursor[i] + 1) * c.hiddenSize)])
                    vecCursor[i] += 1
                }
            }
            model.decodeStep(rows: active, input: input, cache: cache, logits: logits.pointer)
            for (k, i) in active.enumerated() {
                let ref = full.logits(sequence: i, position: pos[i])
                for v in 0..<c.vocabSize { maxDiff = max(maxDiff, abs(logits[k * c.vocabSize + v] - ref[v])) }
                pos[i] += 1
            }
        }
        print("KV-cache vs full forward: max |logit diff| = \(maxDiff)")
        XCTAssertLessThan(maxDiff, 1e-4)
        XCTAssertEqual(cache.lengths, [9, 7, 5])
    }

    func testSharedPromptRowsMatchIndependentSequences() {
        let c = ModelFixtures.microConfig()
        let model = ModelFixtures.model(c)
        var rng = Xoshiro256(seed: 9)
        let prompt = ModelFixtures.input(length: 4, vectorPositions: [], config: c, rng: &rng)
        let cache = KVCache(config: c, rows: 2)
        _ = model.prefill(prompts: [prompt], rows: [[0, 1]], cache: cache)
        // Row 0 gets a token, row 1 a vector; compare with full forward of each concatenation.
        let vec = (0..<c.hiddenSize).map { _ in Float(rng.normal()) }
        let logits = FloatBuffer(count: 2 * c.vocabSize)
        model.decodeStep(rows: [0, 1], input: ModelInput(tokens: [5, ModelInput.vectorSlot], vectors: vec), cache: cache, logits: logits.pointer)
        let full = model.forward([ModelInput(tokens: prompt.tokens + [5]),
                                  ModelInput(tokens: prompt.tokens + [ModelInput.vectorSlot], vectors: vec)])
        var maxDiff: Float = 0
        for i in 0..<2 {
            let ref = full.logits(sequence: i, position: 4)
            for v in 0..<c.vocabSize { maxDiff = max(maxDiff, abs(logits[i * c.vocabSize + v] - ref[v])) }
        }
        XCTAssertLessThan(maxDiff, 1e-4)
        // The two rows were fed different inputs, so their logits must differ: the cache rows are independent.
        var differ = false
        for v in 0..<c.vocabSize where abs(logits[v] - logits[c.vocabSize + v]) > 1e-4 { differ = true }
        XCTAssertTrue(differ)
    }
}
