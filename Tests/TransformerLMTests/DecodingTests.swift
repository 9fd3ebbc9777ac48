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
        let seqs = [
            ModelFixtures.input(length: 9, vectorPositions: [3, 5, 6], config: c, rng: &rng),
            ModelFixtures.input(length: 7, vectorPositions: [2], config: c, rng: &rng),
            ModelFixtures.input(length: 5, vectorPositions: [], config: c, rng: &rng)
        ]
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
                    input.vectors.append(
                        contentsOf: seqs[i].vectors[(vecCursor[i] * c.hiddenSize)..<((vecCursor[i] + 1) * c.hiddenSize)]
                    )
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
        model.decodeStep(
            rows: [0, 1], input: ModelInput(tokens: [5, ModelInput.vectorSlot], vectors: vec), cache: cache,
            logits: logits.pointer)
        let full = model.forward([
            ModelInput(tokens: prompt.tokens + [5]),
            ModelInput(tokens: prompt.tokens + [ModelInput.vectorSlot], vectors: vec)
        ])
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

    /// A decode step of more rows than the model has positions (48 rows, 32 positions): each row's logits are the
    /// full forward pass of its own sequence. Before, the step's one-token-per-row input was checked as one sequence
    /// of 48 positions and the process stopped.
    func testADecodeStepOfMoreRowsThanPositionsMatchesFullForward() {
        let c = ModelFixtures.microConfig()
        let model = ModelFixtures.model(c)
        let rows = c.maxPositionEmbeddings + 16
        let prompt = ModelInput(tokens: [1, 4, 2])
        let cache = KVCache(config: c, rows: rows)
        _ = model.prefill(prompts: [prompt], rows: [Array(0..<rows)], cache: cache)
        let next = (0..<rows).map { Int32($0 % c.vocabSize) }
        let logits = FloatBuffer(count: rows * c.vocabSize)
        model.decodeStep(rows: Array(0..<rows), input: ModelInput(tokens: next), cache: cache, logits: logits.pointer)
        let full = model.forward(next.map { ModelInput(tokens: prompt.tokens + [$0]) })
        var maxDiff: Float = 0
        for r in 0..<rows {
            let ref = full.logits(sequence: r, position: 3)
            for v in 0..<c.vocabSize { maxDiff = max(maxDiff, abs(logits[r * c.vocabSize + v] - ref[v])) }
        }
        XCTAssertLessThan(maxDiff, 1e-4)
    }

    /// Decode on every SIMD path (its packed-product kernel and its attention kernel; the portable path multiplies the
    /// unpacked weights with OpenBLAS), and the widest attention with OpenBLAS on the unpacked weights, must each match
    /// the full forward pass, at a shape with whole and partial panels (q|k|v 128 wide, gate|up 192, vocabulary 70),
    /// 1 to 20 rows, and positions 3 to 19 (across the cache's 16-position key blocks). The cache's memory is recycled
    /// and never zeroed, so each case first drops a cache of the same shape filled with poison (NaN, +-1e3, infinity).
    func testDecodeMatchesFullForwardOnEveryPath() {
        let c = LlamaConfig(
            vocabSize: 70, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2,
            numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 32)
        let model = ModelFixtures.model(c)
        let savedKernel = PackedGEMM.active, savedPath = SIMDPath.active
        defer { PackedGEMM.active = savedKernel; SIMDPath.active = savedPath }
        var cases: [(String, SIMDPath, PackedGEMM.Kernel?)] = [
            ("unpacked (OpenBLAS), \(savedPath) attention", savedPath, nil)
        ]
        for path in SIMDPath.supported { cases.append(("\(path)", path, PackedGEMM.kernel(for: path))) }
        let length = 20, promptLength = 3
        for rows in [1, 3, 20] {
            var rng = Xoshiro256(seed: UInt64(rows))
            let seqs = (0..<rows).map { _ in
                ModelFixtures.input(length: length, vectorPositions: [4, 17], config: c, rng: &rng)
            }
            let full = model.forward(seqs)
            for (name, path, kernel) in cases {
                SIMDPath.active = path
                PackedGEMM.active = kernel
                // A cache of this shape filled with NaN and dropped: its block goes back to the scratch cache, and the
                // cache below most likely gets it.
                do {
                    let poisoned = KVCache(config: c, rows: rows)
                    let poison: [Float] = [.nan, 1e3, -1e3, .infinity]
                    for l in 0..<c.numHiddenLayers {
                        for i in 0..<(rows * c.numKeyValueHeads * poisoned.keyStride) {
                            poisoned.keys[l][i] = poison[i % 4]
                        }
                        for i in 0..<(rows * c.numKeyValueHeads * poisoned.valueStride) {
                            poisoned.values[l][i] = poison[i % 4]
                        }
                    }
                }
                let cache = KVCache(config: c, rows: rows)
                let prompts = seqs.map { ModelInput(tokens: Array($0.tokens[..<promptLength])) }
                let first = model.prefill(prompts: prompts, rows: (0..<rows).map { [$0] }, cache: cache)
                XCTAssertEqual(cache.decodeWeights == nil, kernel == nil, "\(name): packed weights iff a packed kernel")
                let logits = FloatBuffer(count: rows * c.vocabSize)
                var maxDiff: Float = 0
                // Prefill's own logits (its inference pass with a packed kernel, else the training pass).
                for i in 0..<rows {
                    let ref = full.logits(sequence: i, position: promptLength - 1)
                    for v in 0..<c.vocabSize {
                        let e = abs(first[i][v] - ref[v])
                        maxDiff = e.isNaN ? .infinity : max(maxDiff, e)
                    }
                }
                for pos in promptLength..<length {
                    let input = ModelFixtures.decodeInput(seqs, at: pos, hiddenSize: c.hiddenSize)
                    model.decodeStep(rows: Array(0..<rows), input: input, cache: cache, logits: logits.pointer)
                    for i in 0..<rows {
                        let ref = full.logits(sequence: i, position: pos)
                        for v in 0..<c.vocabSize {
                            let e = abs(logits[i * c.vocabSize + v] - ref[v])
                            maxDiff = e.isNaN ? .infinity : max(maxDiff, e)
                        }
                    }
                }
                XCTAssertLessThan(maxDiff, 1e-4, "\(name), \(rows) rows")
            }
        }
    }
}
