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

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
        numKeyValueHeads: Int, maxPositionEmbeddings: Int = 512, rmsNormEps: Double = 1e-5,
        ropeTheta: Double = 10000, tieWordEmbeddings: Bool = false, headDim: Int? = nil,
        bosTokenId: Int? = 1, eosTokenId: Int? = 2, padTokenId: Int? = 0
    ) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.tieWordEmbeddings = tieWordEmbeddings
        self.headDimOverride = headDim; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId;
        self.padTokenId = padTokenId
    }

    /// ~1.0M parameters with a 64-token character vocabulary: fits the built-in tasks and trains in minutes on 2 cores.
    public static func tiny(vocabSize: Int = 64) -> LlamaConfig {
        LlamaConfig(
            vocabSize: vocabSize, hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 4,
            numAttentionHeads: 4, numKeyValueHeads: 2)
    }
    /// ~9.9M parameters: the size where matrix products dominate and the sgemm roofline matters.
    public static func small(vocabSize: Int = 64) -> LlamaConfig {
        LlamaConfig(
            vocabSize: vocabSize, hiddenSize: 256, intermediateSize: 1024, numHiddenLayers: 10,
            numAttentionHeads: 8, numKeyValueHeads: 4)
    }
    /// The shape of SmolLM2-135M (d 576, 30 layers, 9/3 heads, ff 1536, vocabulary 49,152, tied embeddings,
    /// RoPE theta 1e5), ~135M parameters: the benchmark's stand-in for a real small pretrained model. Its
    /// vocabulary is always 49,152 (a preset shaped like the real model, not sized for a task).
    public static func smolLM2Shape() -> LlamaConfig {
        LlamaConfig(
            vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
            numAttentionHeads: 9, numKeyValueHeads: 3, ropeTheta: 100_000, tieWordEmbeddings: true)
    }
    public static func preset(_ name: String, vocabSize: Int = 64) throws -> LlamaConfig {
        switch name {
        case "tiny": return .tiny(vocabSize: vocabSize)
        case "small": return .small(vocabSize: vocabSize)
        case "smollm2": return .smolLM2Shape()
        default:
            throw ConfigError(
                "unknown model preset '\(name)': use 'tiny' (~1M parameters), 'small' (~10M) or 'smollm2' (SmolLM2-135M's shape), or pass a checkpoint directory"
            )
        }
    }

    /// Upper bounds on a config's shape, checked before anything is sized from it. Each is far above any real
    /// Llama (Llama 3 405B: hidden 16,384, 126 layers, 128 heads, ff 53,248, vocabulary 128,256, 131,072 positions;
    /// Gemma's vocabulary 262,144) and low enough that a damaged or hostile config.json cannot make a process trap
    /// on an overflow, loop for ever or ask for terabytes.
    public enum Limits {
        public static let vocabSize = 1 << 24
        public static let hiddenSize = 1 << 16
        public static let intermediateSize = 1 << 18
        public static let numHiddenLayers = 1024
        public static let numAttentionHeads = 1024
        public static let headDim = 1024
        public static let maxPositionEmbeddings = 1 << 20
        /// Floats of the rotary tables (max_position_embeddings x head_dim): 1 GiB.
        public static let ropeTableFloats = 1 << 28
        /// Parameters of the whole model: 2^31 floats is 8 GiB of fp32 weights, and training needs four times that.
        public static let parameters = 1 << 31
    }

    /// Checks the bounds above and the relations the math relies on, in an order where no check can trap; the
    /// message names the field, its value, what it must be and what to do.
    public func validate() throws {
        func need(_ ok: Bool, _ field: String, _ value: Any, _ rule: String) throws {
            if !ok {
                throw ConfigError(
                    "\(field) is \(value): it must be \(rule); fix config.json (or the settings that made it) or use another checkpoint"
                )
            }
        }
        func bounded(_ value: Int, _ field: String, _ limit: Int) throws {
            try need(value >= 1 && value <= limit, field, value, "between 1 and \(limit)")
        }
        try bounded(vocabSize, "vocab_size", Limits.vocabSize)
        try bounded(hiddenSize, "hidden_size", Limits.hiddenSize)
        try bounded(intermediateSize, "intermediate_size", Limits.intermediateSize)
        try bounded(numHiddenLayers, "num_hidden_layers", Limits.numHiddenLayers)
        try bounded(numAttentionHeads, "num_attention_heads", Limits.numAttentionHeads)
        try need(
            numKeyValueHeads >= 1 && numKeyValueHeads <= numAttentionHeads, "num_key_value_heads", numKeyValueHeads,
            "between 1 and num_attention_heads (\(numAttentionHeads))")
        try need(
            numAttentionHeads % numKeyValueHeads == 0, "num_attention_heads", numAttentionHeads,
            "a multiple of num_key_value_heads (\(numKeyValueHeads)) for grouped-query attention")
        if let h = headDimOverride {
            try need(
                h >= 2 && h <= Limits.headDim && h % 2 == 0, "head_dim", h,
                "even and between 2 and \(Limits.headDim) (rotary embedding rotates pairs)")
        } else {
            try need(
                hiddenSize % numAttentionHeads == 0, "hidden_size", hiddenSize,
                "divisible by num_attention_heads (\(numAttentionHeads)), or give head_dim")
            try need(
                headDim % 2 == 0, "head_dim (hidden_size / num_attention_heads)", headDim,
                "even for rotary position embedding")
        }
        try bounded(maxPositionEmbeddings, "max_position_embeddings", Limits.maxPositionEmbeddings)
        try need(
            maxPositionEmbeddings * headDim <= Limits.ropeTableFloats, "max_position_embeddings x head_dim",
            "\(maxPositionEmbeddings) x \(headDim)", "at most \(Limits.ropeTableFloats) (the rotary tables' floats)")
        try need(rmsNormEps.isFinite && rmsNormEps > 0 && rmsNormEps < 1, "rms_norm_eps", rmsNormEps, "in (0, 1)")
        try need(ropeTheta.isFinite && ropeTheta > 0, "rope_theta", ropeTheta, "a positive finite number")
        // Every dimension is bounded now, so this count cannot overflow; only the total can be too large.
        let parameters = ParameterLayout.checkedTotalCount(self, limit: Int.max) ?? Int.max
        try need(
            parameters <= Limits.parameters, "the parameter count", parameters,
            "at most \(Limits.parameters) (\(Limits.parameters / (1 << 28)) GiB of fp32 weights)")
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", tieWordEmbeddings = "tie_word_embeddings"
        case headDimOverride = "head_dim", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId =
            "pad_token_id"
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
        eosTokenId =
            (try? c.decodeIfPresent(Int.self, forKey: .eosTokenId))
            ?? (try? c.decodeIfPresent([Int].self, forKey: .eosTokenId))?.first
        padTokenId = try? c.decodeIfPresent(Int.self, forKey: .padTokenId)
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
