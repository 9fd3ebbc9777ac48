// All of a model's weights in one flat fp32 buffer with named views (llm.c's single parameter allocation), in
// Hugging Face's tensor names and shapes so a checkpoint is a straight copy. Gradients use the same layout, so
// the optimiser is one loop over one buffer.
import TensorMath

public struct ParameterLayout: Sendable {
    public struct Entry: Sendable {
        public let name: String // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
        public let shape: [Int] // Hugging Face shape; Linear weights are (out, in)
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }
    /// Offsets of one decoder layer's tensors.
    public struct Layer: Sendable { public let inputNorm, q, k, v, o, postNorm, gate, up, down: Int }

    public let entries: [Entry]
    public let layers: [Layer]
    public let embedding: Int
    public let finalNorm: Int
    /// Equal to `embedding` when the LM head is tied to the input embedding.
    public let lmHead: Int
    public let totalCount: Int

    public init(_ c: LlamaConfig) {
        var entries: [Entry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let e = Entry(name: name, shape: shape, offset: offset)
            entries.append(e); offset += e.count
            return e.offset
        }
        let d = c.hiddenSize
        embedding = add("model.embed_tokens.weight", [c.vocabSize, d])
        var layers: [Layer] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            layers.append(
                Layer(
                    inputNorm: add(p + "input_layernorm.weight", [d]),
                    q: add(p + "self_attn.q_proj.weight", [c.qDim, d]),
                    k: add(p + "self_attn.k_proj.weight", [c.kvDim, d]),
                    v: add(p + "self_attn.v_proj.weight", [c.kvDim, d]),
                    o: add(p + "self_attn.o_proj.weight", [d, c.qDim]),
                    postNorm: add(p + "post_attention_layernorm.weight", [d]),
                    gate: add(p + "mlp.gate_proj.weight", [c.intermediateSize, d]),
                    up: add(p + "mlp.up_proj.weight", [c.intermediateSize, d]),
                    down: add(p + "mlp.down_proj.weight", [d, c.intermediateSize])))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [d])
        lmHead = c.tieWordEmbeddings ? embedding : add("lm_head.weight", [c.vocabSize, d])
        self.entries = entries
        totalCount = offset
    }

    /// What `ParameterLayout(c).totalCount` would be, computed without building the layout and with overflow
    /// checks: nil when a dimension is not positive or the count (or the rotary table, max positions x head_dim)
    /// exceeds `limit`. For configs that arrive over the network, which must not make a process trap, loop or
    /// allocate without bound.
    public static func checkedTotalCount(_ c: LlamaConfig, limit: Int) -> Int? {
        guard c.vocabSize > 0, c.hiddenSize > 0, c.intermediateSize > 0, c.numHiddenLayers > 0,
            c.numAttentionHeads > 0, c.numKeyValueHeads > 0, c.maxPositionEmbeddings > 0
        else { return nil }
        let headDim = c.headDimOverride ?? c.hiddenSize / c.numAttentionHeads
        guard headDim > 0 else { return nil }
        func mul(_ a: Int, _ b: Int) -> Int? {
            let (p, o) = a.multipliedReportingOverflow(by: b); return o || p > limit ? nil : p
        }
        func sum(_ xs: [Int?]) -> Int? {
            var t = 0
            for x in xs {
                guard let x else { return nil }; let (s, o) = t.addingReportingOverflow(x);
                guard !o, s <= limit else { return nil }; t = s
            }
            return t
        }
        let d = c.hiddenSize
        guard mul(c.maxPositionEmbeddings, headDim) != nil, let q = mul(c.numAttentionHeads, headDim),
            let kv = mul(c.numKeyValueHeads, headDim),
            let embedding = mul(c.vocabSize, d),
            let layer = sum([
                d, mul(q, d), mul(kv, d), mul(kv, d), mul(d, q), d, mul(c.intermediateSize, d),
                mul(c.intermediateSize, d), mul(d, c.intermediateSize)
            ])
        else { return nil }
        return sum([embedding, mul(c.numHiddenLayers, layer), d, c.tieWordEmbeddings ? 0 : embedding])
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The buffer ranges of the tensors whose Hugging Face name starts with one of `prefixes` ("model.embed_tokens",
    /// "model.layers.0."), in layout order; throws naming a prefix that matches no tensor. With a tied LM head the
    /// embedding's range is the head's too ("lm_head" then matches nothing: the head is "model.embed_tokens.weight").
    public func ranges(matching prefixes: [String]) throws -> [Range<Int>] {
        for p in prefixes where !entries.contains(where: { $0.name.hasPrefix(p) }) {
            let tied = lmHead == embedding && "lm_head.weight".hasPrefix(p) ? " (this model's LM head is tied to model.embed_tokens.weight)" : ""
            throw ConfigError(
                "'\(p)' names no tensor of this model\(tied); names start with model.embed_tokens, model.layers.N., model.norm\(lmHead == embedding ? "" : ", lm_head")"
            )
        }
        return entries.filter { e in prefixes.contains { e.name.hasPrefix($0) } }.map { $0.offset..<($0.offset + $0.count) }
    }
    /// Norm gains are 1-initialised and conventionally excluded from weight decay.
    public func isNormGain(_ e: Entry) -> Bool { e.shape.count == 1 }
}
