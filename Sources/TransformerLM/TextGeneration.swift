// Single-sequence generation that stops at end-of-sequence ids (what `softrl generate --prompt` and Hugging Face
// `generate` do), on top of the batched KV-cache decoding in Decoding.swift.
import Foundation
import TensorMath

extension LlamaModel {
    /// Greedy (temperature nil) or sampled continuation of `prompt`; stops after emitting an id in `stop` (which is
    /// included in the result) or after `maxNewTokens`.
    public func generate(
        prompt: [Int32], maxNewTokens: Int, temperature: Float? = nil, seed: UInt64 = 0,
        stop: Set<Int32>
    ) -> [Int32] {
        precondition(!prompt.isEmpty, "the prompt needs at least one token")
        guard maxNewTokens > 0 else { return [] }
        let V = config.vocabSize
        precondition(
            prompt.count + maxNewTokens - 1 <= config.maxPositionEmbeddings,
            "prompt (\(prompt.count)) + new tokens (\(maxNewTokens)) exceed max_position_embeddings \(config.maxPositionEmbeddings)"
        )
        let cache = KVCache(config: config, rows: 1, capacity: prompt.count + maxNewTokens)
        var rng = Xoshiro256(seed: seed, stream: 0)
        let probs = FloatBuffer(count: V)
        func pick(_ logits: UnsafePointer<Float>) -> Int32 {
            guard let t = temperature else { return Int32(argmax(logits, count: V)) }
            softmax(logits, count: V, temperature: t, into: probs.pointer)
            return Int32(rng.categorical(UnsafeBufferPointer(start: probs.pointer, count: V)))
        }
        let first = prefill(prompts: [ModelInput(tokens: prompt)], rows: [[0]], cache: cache)[0]
        var out = [first.withUnsafeBufferPointer { pick($0.baseAddress!) }]
        let logits = FloatBuffer(count: V)
        while out.count < maxNewTokens, !stop.contains(out.last!) {
            decodeStep(rows: [0], input: ModelInput(tokens: [out.last!]), cache: cache, logits: logits.pointer)
            out.append(pick(logits.pointer))
        }
        return out
    }
}
