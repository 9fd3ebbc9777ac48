// The model's shape, with Hugging Face `LlamaConfig` field names so `config.json` is interchangeable with
// `transformers`. Presets are SoftRL's; any Llama config without biases or RoPE scaling can be given.
import Foundation

public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var headDimOverride: Int?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var padTokenId: Int?

    public var headDim: Int { headDimOverride ?? hiddenSize / numAttentionHeads }
    public var qDim: Int { numAttentionHeads * headDim }
    public var kvDim: Int { numKeyValueHeads * headDim }

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int, maxPositionEmbeddings: Int = 512, rmsNormEps: Double = 1e-5,
                ropeTheta: Double = 10000, tieWordEmbeddings: Bool = false, headDim: Int? = nil,
                bosTokenId: Int? = 1, eosTokenId: Int? = 2, padTokenId: Int? = 0) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.tieWordEmbeddings = tieWordEmbeddings
        self.headDimOverride = headDim; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId; self.padTokenId = padTokenId
    }

    /// ~1.0M parameters with a 64-token character vocabulary: fits the built-in tasks and trains in minutes on 2 cores.
    public static func tiny(vocabSize: Int = 64) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 4,
                    numAttentionHeads: 4, numKeyValueHeads: 2)
    }
    /// ~9.9M parameters: the size where matrix products dominate and the sgemm roofline matters.
    public static func small(vocabSize: Int = 64) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, hiddenSize: 256, intermediateSize: 1024, numHiddenLayers: 10,
                    numAttentionHeads: 8, numKeyValueHeads: 4)
    }
    /// The shape of SmolLM2-135M (d 576, 30 layers, 9/3 heads, ff 1536, vocabulary 49,152, tied embeddings,
    /// RoPE theta 1e5), ~135M parameters: the benchmark's stand-in for a real small pretrained model. Its
    /// vocabulary is always 49,152 (a preset shaped like the real model, not sized for a task).
    public static func smolLM2Shape() -> LlamaConfig {
        LlamaConfig(vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
                    numAttentionHeads: 9, numKeyValueHeads: 3, ropeTheta: 100_000, tieWordEmbeddings: true)
    }
    public static func preset(_ name: String, vocabSize: Int = 64) throws -> LlamaConfig {
        switch name {
        case "tiny": return .tiny(vocabSize: vocabSize)
        case "small": return .small(vocabSize: vocabSize)
        case "smollm2": return .smolLM2Shape()
        default: throw ConfigError("unknown model preset '\(name)': use 'tiny' (~1M parameters), 'small' (~10M) or 'smollm2' (SmolLM2-135M's shape), or pass a checkpoint directory")
        }
    }

    /// Checks the relations the math relies on; the message says which field to fix.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ConfigError(msg) } }
        try need(vocabSize > 0, "vocab_size must be positive (got \(vocabSize))")
        try need(hiddenSize > 0 && intermediateSize > 0 && numHiddenLayers > 0, "hidden_size, intermediate_size and num_hidden_layers must be positive")
        try need(numAttentionHeads > 0 && numKeyValueHeads > 0, "num_attention_heads and num_key_value_heads must be positive")
        try need(numAttentionHeads % numKeyValueHeads == 0, "num_attention_heads (\(numAttentionHeads)) must be a multiple of num_key_value_heads (\(numKeyValueHeads)) for grouped-query attention")
        try need(headDimOverride != nil || hiddenSize % numAttentionHeads == 0, "hidden_size (\(hiddenSize)) must be divisible by num_attention_heads (\(numAttentionHeads)), or give head_dim")
        try need(headDim % 2 == 0, "head_dim (\(headDim)) must be even for rotary position embedding")
        try need(maxPositionEmbeddings > 0, "max_position_embeddings must be positive")
        try need(rmsNormEps > 0 && ropeTheta > 0, "rms_norm_eps and rope_theta must be positive")
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", tieWordEmbeddings = "tie_word_embeddings"
        case headDimOverride = "head_dim", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        // Hugging Face's defaults for fields older configs omit.
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        headDimOverride = try c.decodeIfPresent(Int.self, forKey: .headDimOverride)
        // eos may be a list in newer configs; keep the first.
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = (try? c.decodeIfPresent(Int.self, forKey: .eosTokenId)) ?? (try? c.decodeIfPresent([Int].self, forKey: .eosTokenId))?.first
        padTokenId = try? c.decodeIfPresent(Int.self, forKey: .padTokenId)
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
