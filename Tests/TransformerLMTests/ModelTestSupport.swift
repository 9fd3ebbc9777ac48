// Shared helpers for the model tests: a tiny config that makes finite differences cheap, and deterministic inputs.
import TensorMath
@testable import TransformerLM

enum ModelFixtures {
    /// 2 layers, 2 query heads sharing 1 key/value head (exercises GQA), head dim 4.
    static func microConfig(tied: Bool = false) -> LlamaConfig {
        LlamaConfig(
            vocabSize: 11, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2,
            numAttentionHeads: 2, numKeyValueHeads: 1, maxPositionEmbeddings: 32, tieWordEmbeddings: tied)
    }

    static func model(_ c: LlamaConfig, seed: UInt64 = 7) -> LlamaModel {
        // std 0.3: large enough that attention and norms are far from their linear regime.
        try! LlamaModel(config: c, seed: seed, std: 0.3)
    }

    /// A random sequence with vectors at `vectorPositions`.
    static func input(length: Int, vectorPositions: Set<Int>, config c: LlamaConfig, rng: inout Xoshiro256)
        -> ModelInput
    {
        var tokens: [Int32] = [], vecs: [Float] = []
        for t in 0..<length {
            if vectorPositions.contains(t) {
                tokens.append(ModelInput.vectorSlot)
                for _ in 0..<c.hiddenSize { vecs.append(Float(rng.normal()) * 0.5) }
            } else {
                tokens.append(Int32(rng.next() % UInt64(c.vocabSize)))
            }
        }
        return ModelInput(tokens: tokens, vectors: vecs)
    }

    /// One decode step of all of `seqs` (one row each) at position `pos`: each one's token there, and its vector
    /// when that token is a vector slot.
    static func decodeInput(_ seqs: [ModelInput], at pos: Int, hiddenSize: Int) -> ModelInput {
        var input = ModelInput(tokens: [])
        for s in seqs {
            input.tokens.append(s.tokens[pos])
            if s.tokens[pos] == ModelInput.vectorSlot {
                let slot = s.tokens[..<pos].filter { $0 == ModelInput.vectorSlot }.count
                input.vectors += s.vectors[(slot * hiddenSize)..<((slot + 1) * hiddenSize)]
            }
        }
        return input
    }
}
