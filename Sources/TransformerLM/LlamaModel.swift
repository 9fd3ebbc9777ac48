// A Llama-family decoder (Touvron et al. 2023, arXiv 2302.13971; grouped-query attention, Ainslie et al. 2023,
// arXiv 2305.13245) in fp32 on the CPU: the config, the flat weights, and the input type shared by the training
// pass (TrainingPass.swift) and incremental decoding (Decoding.swift). Knows nothing about RL.
import Foundation
import TensorMath

/// One sequence's inputs. At each position either a token id is embedded, or (where `tokens[t] == vectorSlot`)
/// the next row of `vectors` is fed as the input embedding directly: this is how soft thinking tokens enter.
public struct ModelInput: Sendable, Equatable {
    public static let vectorSlot: Int32 = -1
    public var tokens: [Int32]
    /// (number of vector positions, hidden) row-major, in position order.
    public var vectors: [Float]

    public init(tokens: [Int32], vectors: [Float] = []) { self.tokens = tokens; self.vectors = vectors }
    public var count: Int { tokens.count }
    public var vectorCount: Int { tokens.reduce(0) { $0 + ($1 == Self.vectorSlot ? 1 : 0) } }
}

public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let layout: ParameterLayout
    public let weights: FloatBuffer
    let rope: RopeTable

    /// A model whose weights are `weights` (layout order). Throws on a config the math cannot run.
    public init(config: LlamaConfig, weights: FloatBuffer) throws {
        try config.validate()
        let layout = ParameterLayout(config)
        guard weights.count == layout.totalCount else {
            throw ConfigError("weight buffer has \(weights.count) floats, config needs \(layout.totalCount)")
        }
        self.config = config
        self.layout = layout
        self.weights = weights
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, maxPositions: config.maxPositionEmbeddings)
    }

    /// Random initialisation: N(0, 0.02) for matrices (GPT-2/Llama practice), ones for norm gains. Deterministic in `seed`.
    public convenience init(config: LlamaConfig, seed: UInt64, std: Float = 0.02) throws {
        try config.validate() // before the layout and buffer are sized from it
        let layout = ParameterLayout(config)
        let w = FloatBuffer(count: layout.totalCount)
        var rng = Xoshiro256(seed: seed)
        for e in layout.entries {
            let p = w.pointer + e.offset
            if layout.isNormGain(e) {
                for i in 0..<e.count { p[i] = 1 }
            } else {
                for i in 0..<e.count { p[i] = Float(rng.normal()) * std }
            }
        }
        try self.init(config: config, weights: w)
    }

    public var parameterCount: Int { layout.totalCount }

    /// The input embedding matrix E, (vocab, hidden).
    public var embeddingMatrix: UnsafeMutablePointer<Float> { weights.pointer + layout.embedding }

    /// Writes one input's rows (hidden floats each, consecutive from `x`): E's row for a token id, the caller's vector
    /// where the token is `ModelInput.vectorSlot`. The first step of every pass (training, prefill, decode).
    func embed(_ input: ModelInput, into x: UnsafeMutablePointer<Float>) {
        let d = config.hiddenSize, E = embeddingMatrix
        input.vectors.withUnsafeBufferPointer { vecs in
            var vi = 0
            for (t, tok) in input.tokens.enumerated() {
                if tok == ModelInput.vectorSlot {
                    (x + t * d).update(from: vecs.baseAddress! + vi * d, count: d); vi += 1
                } else {
                    (x + t * d).update(from: E + Int(tok) * d, count: d)
                }
            }
        }
    }

    /// A deep copy (e.g. a frozen reference policy).
    public func copy() -> LlamaModel {
        let w = FloatBuffer(count: weights.count)
        w.pointer.update(from: weights.pointer, count: weights.count)
        return try! LlamaModel(config: config, weights: w)
    }

    /// `oneTokenPerRow`: `batch[0]` holds one input for each of many cache rows (a decode step), not one sequence, so
    /// its length is bounded by the cache, not by the positions (a step of 128 rows on a 32-position model trapped).
    func checkInputs(_ batch: [ModelInput], oneTokenPerRow: Bool = false) {
        for (s, seq) in batch.enumerated() {
            precondition(
                oneTokenPerRow || seq.count <= config.maxPositionEmbeddings,
                "sequence \(s) has \(seq.count) positions; max_position_embeddings is \(config.maxPositionEmbeddings)")
            precondition(
                seq.vectors.count == seq.vectorCount * config.hiddenSize,
                "sequence \(s): \(seq.vectorCount) vector slots need \(seq.vectorCount * config.hiddenSize) floats, got \(seq.vectors.count)"
            )
            for t in seq.tokens where t != ModelInput.vectorSlot {
                precondition(
                    t >= 0 && Int(t) < config.vocabSize,
                    "sequence \(s): token id \(t) outside vocabulary of \(config.vocabSize)")
            }
        }
    }
}
