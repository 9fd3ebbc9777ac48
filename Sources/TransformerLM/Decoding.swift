// Incremental decoding with a key/value cache, for a batch of sequences advancing in lock step (rollout
// generation). Each cache row is one sequence; a prompt shared by a group of samples is run once and its keys and
// values copied into every row of the group. Each row may be fed a token id or a d-vector at each step.
// Matches the training pass exactly in math (tested), but keeps no activations.
import Foundation
import TensorMath

public final class KVCache {
    public let rows: Int
    public let capacity: Int
    let kvHeads: Int
    let headDim: Int
    /// Floats between consecutive key/value heads of a row's keys: capacity rounded up to whole key blocks, x headDim.
    let keyStride: Int
    /// Floats between consecutive key/value heads of a row's values (capacity x headDim).
    let valueStride: Int
    /// Per layer (rows, kvHeads, keyStride): keys after RoPE in Kernels.keyBlock blocks (see Kernels.attendCached).
    let keys: [UnsafeMutablePointer<Float>]
    /// Per layer (rows, kvHeads, capacity, headDim).
    let values: [UnsafeMutablePointer<Float>]
    /// Memory for keys and values from the scratch block cache: a generation of the same shape as an earlier one gets
    /// pages already mapped, and nothing is zeroed (decode reads only positions it wrote; key lanes past a row's
    /// length in its last block are masked by the attention kernel).
    private let arena: ScratchArena
    /// Positions filled so far in each row.
    public private(set) var lengths: [Int]
    /// The weights this generation decodes with, packed for PackedGEMM (nil on the portable SIMD path).
    var decodeWeights: DecodeWeights?

    public init(config: LlamaConfig, rows: Int, capacity: Int? = nil) {
        self.rows = rows
        let cap = min(capacity ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings)
        self.capacity = cap
        kvHeads = config.numKeyValueHeads
        headDim = config.headDim
        let B = Kernels.keyBlock
        let kStride = (cap + B - 1) / B * B * config.headDim, vStride = cap * config.headDim
        keyStride = kStride
        valueStride = vStride
        let keyFloats = rows * config.numKeyValueHeads * kStride, valueFloats = rows * config.numKeyValueHeads * vStride
        let a = ScratchArena(
            floats: config.numHiddenLayers * (ScratchArena.padded(keyFloats) + ScratchArena.padded(valueFloats)))
        arena = a
        keys = (0..<config.numHiddenLayers).map { _ in a.slice(keyFloats).pointer }
        values = (0..<config.numHiddenLayers).map { _ in a.slice(valueFloats).pointer }
        lengths = [Int](repeating: 0, count: rows)
    }

    /// A row's keys in one layer: key/value head g starts at + g * keyStride.
    @inline(__always) func rowKeys(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> {
        keys[layer] + row * kvHeads * keyStride
    }
    /// A row's values in one layer: key/value head g starts at + g * valueStride, position p at + p * headDim.
    @inline(__always) func rowValues(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> {
        values[layer] + row * kvHeads * valueStride
    }
    /// Stores one position's key and value vectors (kvHeads x headDim each, key after RoPE).
    @inline(__always) func store(
        _ layer: Int, _ row: Int, _ pos: Int, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>
    ) {
        let B = Kernels.keyBlock, hd = headDim
        let kb = rowKeys(layer, row) + (pos / B) * hd * B + pos % B, vb = rowValues(layer, row) + pos * hd
        for g in 0..<kvHeads {
            let kg = kb + g * keyStride, src = k + g * hd
            for d in 0..<hd { kg[d * B] = src[d] }
            (vb + g * valueStride).update(from: v + g * hd, count: hd)
        }
    }

    /// Empties a row so a new sequence can start in it.
    public func reset(row: Int) { lengths[row] = 0 }
    public func resetAll() { for r in 0..<rows { lengths[r] = 0 } }

    fileprivate func setLength(_ row: Int, _ n: Int) { lengths[row] = n }
}

/// Decode's weight matrices packed once for PackedGEMM: per layer [q|k|v] and [gate|up] (each one product), o and
/// down, and the LM head. Built from the model's weights as they are when a generation starts (in `prefill`; a cache
/// fed without a prefill packs at its first step), and used for every step of that generation, i.e. the KVCache's life.
/// Why per generation and not per weight version: the weights are written in place by several owners (the
/// optimiser, the actor's weight installer, checkpoint loading), and a version counter one of them forgot to bump
/// would make decode silently use stale weights. A generation never sees a weight change, and packing is one pass
/// over the weights, which `softrl bench model` prints beside a decode run ("decode weights packed in ...").
/// Panels are fp32, or bf16 (`PackedGEMM.PanelFormat`): bf16 when the weights are bf16 values already (exact, half
/// the bytes per step) or when `GenerationCompute.active` asks for bf16 products on a CPU that has them.
public final class DecodeWeights {
    /// Panels of one matrix: fp32 floats or bf16 uint16s, as `format` says.
    struct Layer { let qkv, o, gateUp, down: UnsafeRawPointer }
    let format: PackedGEMM.PanelFormat
    private let f32Kernel: PackedGEMM.Kernel?
    private let bf16Kernel: PackedGEMM.BF16Kernel?
    let layers: [Layer]
    let lmHead: UnsafeRawPointer
    weak var model: LlamaModel?
    private let arena: ScratchArena

    /// nil when the active SIMD path has no packed kernel (decode then multiplies the unpacked weights with OpenBLAS).
    public init?(
        model: LlamaModel, kernel: PackedGEMM.Kernel? = PackedGEMM.active,
        compute: GenerationCompute = GenerationCompute.active
    ) {
        guard let kernel else { return nil }
        let c = model.config, L = model.layout
        let d = c.hiddenSize, ff = c.intermediateSize, qkvW = c.qDim + 2 * c.kvDim
        for lw in L.layers {
            precondition(
                lw.k == lw.q + c.qDim * d && lw.v == lw.k + c.kvDim * d && lw.up == lw.gate + ff * d,
                "decode expects q/k/v and gate/up adjacent in the parameter layout")
        }
        // (offset, n, k) of every matrix, in packing order: per layer qkv, o, gateUp, down; then the LM head.
        var mats: [(Int, Int, Int)] = []
        for lw in L.layers { mats += [(lw.q, qkvW, d), (lw.o, d, c.qDim), (lw.gate, 2 * ff, d), (lw.down, d, ff)] }
        mats.append((L.lmHead, c.vocabSize, d))
        // bf16 panels: products asked for and available, or weights that are bf16 already (tried exact-only: fp32
        // weights fail at their first entry; weights bf16 only in part are packed again as fp32).
        var format = PackedGEMM.PanelFormat.f32
        var arena: ScratchArena? = nil, panels: [UnsafeRawPointer] = []
        let products = compute == .bf16 ? PackedGEMM.bf16Products : nil
        // The first matrix's values decide whether the exact-only packing is worth trying (fp32 weights are refused
        // without allocating bf16 panels first).
        let (w0, n0, k0) = mats[0]
        let mayBeBF16 = PackedGEMM.isBF16Valued(model.weights.pointer + w0, count: n0 * k0)
        if let bf16 = products ?? (mayBeBF16 ? PackedGEMM.bf16Weights : nil) {
            let a = DecodeWeights.packAll(model, mats, bf16: true, exactOnly: products == nil)
            if let a {
                arena = a.0; panels = a.1; format = products != nil ? .bf16Products : .bf16Weights; bf16Kernel = bf16
            } else {
                bf16Kernel = nil
            }
        } else {
            bf16Kernel = nil
        }
        if arena == nil {
            let a = DecodeWeights.packAll(model, mats, bf16: false, exactOnly: false)!
            arena = a.0; panels = a.1
        }
        self.format = format
        f32Kernel = format == .f32 ? kernel : nil
        self.arena = arena!
        layers = (0..<c.numHiddenLayers).map {
            Layer(qkv: panels[4 * $0], o: panels[4 * $0 + 1], gateUp: panels[4 * $0 + 2], down: panels[4 * $0 + 3])
        }
        lmHead = panels.last!
        self.model = model
    }

    /// Packs every matrix into one recycled block (pages already mapped when a generation of the same model ran
    /// before; every element is written). nil when `exactOnly` and some weight is not a bf16 value.
    private static func packAll(
        _ model: LlamaModel, _ mats: [(Int, Int, Int)], bf16: Bool,
        exactOnly: Bool
    ) -> (ScratchArena, [UnsafeRawPointer])? {
        let W = model.weights.pointer
        // A slice's size in floats (bf16 panels: two per float).
        func floats(_ n: Int, _ k: Int) -> Int {
            bf16 ? (PackedGEMM.packedBF16Count(n: n, k: k) + 1) / 2 : PackedGEMM.packedCount(n: n, k: k)
        }
        let arena = ScratchArena(floats: mats.map { ScratchArena.padded(floats($0.1, $0.2)) }.reduce(0, +))
        var out: [UnsafeRawPointer] = []
        for (w, n, k) in mats {
            let dst = arena.slice(floats(n, k)).pointer
            if bf16 {
                let h = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt16.self)
                guard PackedGEMM.packBF16(W + w, ldw: k, n: n, k: k, into: h, exactOnly: exactOnly) else { return nil }
            } else {
                PackedGEMM.pack(W + w, ldw: k, n: n, k: k, into: dst)
            }
            out.append(UnsafeRawPointer(dst))
        }
        return (arena, out)
    }

    /// y (m, n) (+)= x (m, k) W^T for one of this generation's packed matrices.
    @inline(__always)
    func multiply(
        _ x: UnsafePointer<Float>, ldx: Int, _ panels: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, ldy: Int,
        m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        if let f32Kernel {
            PackedGEMM.multiply(
                f32Kernel, x: x, ldx: ldx, packed: panels.assumingMemoryBound(to: Float.self), y: y, ldy: ldy,
                m: m, n: n, k: k, accumulate: accumulate)
        } else {
            PackedGEMM.multiply(
                bf16Kernel!, x: x, ldx: ldx, packed: panels.assumingMemoryBound(to: UInt16.self), y: y, ldy: ldy,
                m: m, n: n, k: k, accumulate: accumulate)
        }
    }
}

extension LlamaModel {
    /// Runs each prompt once and fills the cache rows listed for it (a group of samples shares one prompt).
    /// Rows must be empty. Returns each prompt's logits at its last position (V floats each).
    public func prefill(prompts: [ModelInput], rows: [[Int]], cache: KVCache) -> [[Float]] {
        precondition(prompts.count == rows.count, "one row list per prompt")
        // A generation starts here: pack this model's weights for the decode steps that follow.
        cache.decodeWeights = DecodeWeights(model: self)
        for (s, prompt) in prompts.enumerated() {
            precondition(
                prompt.count <= cache.capacity,
                "prompt of \(prompt.count) positions exceeds the cache capacity \(cache.capacity)")
            for r in rows[s] { precondition(cache.lengths[r] == 0, "prefill into a non-empty cache row \(r)") }
        }
        guard let packed = cache.decodeWeights else {
            return prefillWithTrainingPass(prompts: prompts, rows: rows, cache: cache)
        }
        return prefillInference(prompts: prompts, rows: rows, cache: cache, packed: packed)
    }

    /// Prefill's inference pass (every SIMD path with a packed kernel): all prompt positions as rows of one pass,
    /// products on the weights this generation just packed, keys and values written straight into the cache, the
    /// causal attention kernel per prompt and key/value head, and the final norm and LM head on each prompt's last
    /// row only. The training pass (the portable path below) keeps every activation for a backward that never
    /// comes, computes logits at every position and runs OpenBLAS, which packs weights and activations per call.
    private func prefillInference(prompts: [ModelInput], rows: [[Int]], cache: KVCache, packed: DecodeWeights)
        -> [[Float]]
    {
        checkInputs(prompts)
        let c = config, L = layout, W = weights.pointer
        let d = c.hiddenSize, ff = c.intermediateSize, hd = c.headDim, H = c.numAttentionHeads, kvH = c.numKeyValueHeads
        let group = H / kvH, qkvW = c.qDim + 2 * c.kvDim, eps = Float(c.rmsNormEps), V = c.vocabSize
        let scale = 1 / Float(hd).squareRoot()
        var offsets: [Int] = [], n = 0
        for p in prompts { offsets.append(n); n += p.count }
        let S = prompts.count, maxT = prompts.map(\.count).max() ?? 0
        let scratchCount = Kernels.causalAttentionScratchCount(length: maxT, headDim: hd)
        // Temporaries from a recycled arena; every slice is written before it is read.
        let P = ScratchArena.padded
        let arena = ScratchArena(
            floats: 2 * P(n * d) + P(n * qkvW) + P(n * c.qDim) + P(n * 2 * ff) + P(n * ff)
                + P(group * maxT * maxT) + P(scratchCount) + 2 * P(S * d) + P(S * V))
        let x = arena.slice(n * d).pointer, xn = arena.slice(n * d).pointer
        let qkv = arena.slice(n * qkvW).pointer, att = arena.slice(n * c.qDim).pointer
        let gu = arena.slice(n * 2 * ff).pointer, hidden = arena.slice(n * ff).pointer
        let probs = arena.slice(group * maxT * maxT).pointer, scratch = arena.slice(scratchCount).pointer
        let last = arena.slice(S * d).pointer, lastN = arena.slice(S * d).pointer, logits = arena.slice(S * V).pointer
        func linear(
            _ x: UnsafePointer<Float>, _ pw: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, m: Int,
            inDim: Int, outDim: Int, accumulate: Bool = false
        ) {
            packed.multiply(x, ldx: inDim, pw, y, ldy: outDim, m: m, n: outDim, k: inDim, accumulate: accumulate)
        }
        for (s, prompt) in prompts.enumerated() { embed(prompt, into: x + offsets[s] * d) }
        for li in 0..<c.numHiddenLayers {
            let lw = L.layers[li], pl = packed.layers[li]
            rmsnormForward(x, W + lw.inputNorm, xn, invRms: nil, rows: n, dim: d, eps: eps)
            linear(xn, pl.qkv, qkv, m: n, inDim: d, outDim: qkvW)
            for (s, prompt) in prompts.enumerated() {
                for t in 0..<prompt.count {
                    let q = qkv + (offsets[s] + t) * qkvW, k = q + c.qDim, v = k + c.kvDim
                    applyRope(q, heads: H, headDim: hd, position: t, table: rope, inverse: false)
                    applyRope(k, heads: kvH, headDim: hd, position: t, table: rope, inverse: false)
                    for r in rows[s] { cache.store(li, r, t, key: k, value: v) }
                }
                let T = prompt.count, row0 = qkv + offsets[s] * qkvW
                for g in 0..<kvH {
                    Kernels.causalAttentionForward(
                        q: row0 + g * group * hd, ldq: qkvW, k: row0 + c.qDim + g * hd,
                        v: row0 + c.qDim + c.kvDim + g * hd, ldkv: qkvW, length: T, headDim: hd,
                        group: group, scale: scale, probs: probs,
                        out: att + offsets[s] * c.qDim + g * group * hd, ldo: c.qDim, scratch: scratch)
                }
            }
            linear(att, pl.o, x, m: n, inDim: c.qDim, outDim: d, accumulate: true)
            rmsnormForward(x, W + lw.postNorm, xn, invRms: nil, rows: n, dim: d, eps: eps)
            linear(xn, pl.gateUp, gu, m: n, inDim: d, outDim: 2 * ff)
            for i in 0..<n { swigluForward(gu + i * 2 * ff, gu + i * 2 * ff + ff, hidden + i * ff, count: ff) }
            linear(hidden, pl.down, x, m: n, inDim: ff, outDim: d, accumulate: true)
        }
        for (s, prompt) in prompts.enumerated() {
            (last + s * d).update(from: x + (offsets[s] + prompt.count - 1) * d, count: d)
            for r in rows[s] { cache.setLength(r, prompt.count) }
        }
        rmsnormForward(last, W + L.finalNorm, lastN, invRms: nil, rows: S, dim: d, eps: eps)
        linear(lastN, packed.lmHead, logits, m: S, inDim: d, outDim: V)
        return (0..<S).map { Array(UnsafeBufferPointer(start: logits + $0 * V, count: V)) }
    }

    /// Prefill through the training pass (the portable SIMD path, which has no packed kernel).
    private func prefillWithTrainingPass(prompts: [ModelInput], rows: [[Int]], cache: KVCache) -> [[Float]] {
        let pass = forward(prompts)
        let c = config
        var out: [[Float]] = []
        for (s, prompt) in prompts.enumerated() {
            for r in rows[s] {
                for l in 0..<c.numHiddenLayers {
                    for t in 0..<prompt.count {
                        cache.store(
                            l, r, t, key: pass.keyRow(layer: l, sequence: s, position: t),
                            value: pass.valueRow(layer: l, sequence: s, position: t))
                    }
                }
                cache.setLength(r, prompt.count)
            }
            out.append(
                Array(
                    UnsafeBufferPointer(start: pass.logits(sequence: s, position: prompt.count - 1), count: c.vocabSize)
                ))
        }
        return out
    }

    /// Feeds one input to each listed row (`input.tokens[i]` to `rows[i]`, vectors for vector slots in order) at that
    /// row's next position, and writes the next-token logits to `logits` as (rows.count, V).
    public func decodeStep(rows: [Int], input: ModelInput, cache: KVCache, logits: UnsafeMutablePointer<Float>) {
        let c = config, L = layout, W = weights.pointer
        let b = rows.count, d = c.hiddenSize, ff = c.intermediateSize, hd = c.headDim
        let H = c.numAttentionHeads, group = H / c.numKeyValueHeads, eps = Float(c.rmsNormEps)
        precondition(input.count == b, "one input per row")
        checkInputs([input], oneTokenPerRow: true)
        for r in rows {
            precondition(cache.lengths[r] < cache.capacity, "cache row \(r) is full (\(cache.capacity) positions)")
        }
        // Per-step temporaries from a recycled arena (no allocation or zeroing per token; every slice is written
        // before it is read).
        let P = ScratchArena.padded
        // q, k and v (and gate and up) are adjacent in the parameter buffer, each (out, d): one sgemm against the
        // stacked (q+2kv, d) block gives each row [q | k | v] (and [gate | up]). Fewer, wider products: at decode's
        // few rows OpenBLAS's per-call cost is a large part of each product.
        let qkvW = c.qDim + 2 * c.kvDim
        let scoresCount = Kernels.attendScoresCount(group: group, length: cache.capacity)
        let arena = ScratchArena(
            floats: 2 * P(b * d) + P(b * qkvW) + P(b * c.qDim) + P(b * 2 * ff) + P(b * ff) + P(scoresCount))
        let x = arena.slice(b * d), xn = arena.slice(b * d)
        let qkv = arena.slice(b * qkvW), att = arena.slice(b * c.qDim)
        let gu = arena.slice(b * 2 * ff), hidden = arena.slice(b * ff)
        let scores = arena.slice(scoresCount)
        embed(input, into: x.pointer)
        // Packed weights for this generation (built by prefill; a cache fed without prefill packs at its first step).
        if cache.decodeWeights == nil || cache.decodeWeights?.model !== self {
            cache.decodeWeights = DecodeWeights(model: self)
        }
        let packed = cache.decodeWeights
        /// y (b, n) (+)= x (b, k) W^T: the packed kernel, or OpenBLAS (and the 2-16-row kernel) on the unpacked weights.
        @inline(__always)
        func linear(
            _ x: UnsafePointer<Float>, _ pw: UnsafeRawPointer?, _ w: Int, _ y: UnsafeMutablePointer<Float>,
            inDim: Int, outDim: Int, accumulate: Bool = false
        ) {
            if let packed, let pw {
                packed.multiply(x, ldx: inDim, pw, y, ldy: outDim, m: b, n: outDim, k: inDim, accumulate: accumulate)
            } else {
                // OpenBLAS (and the 2-16-row kernel) on the unpacked weights, never the training pass's per-call packing.
                sgemm(
                    .none, .transposed, m: b, n: outDim, k: inDim, a: x, lda: inDim, b: W + w, ldb: inDim,
                    beta: accumulate ? 1 : 0, c: y, ldc: outDim)
            }
        }
        let scale = 1 / Float(hd).squareRoot()
        for li in 0..<c.numHiddenLayers {
            let lw = L.layers[li]
            precondition(
                lw.k == lw.q + c.qDim * d && lw.v == lw.k + c.kvDim * d && lw.up == lw.gate + ff * d,
                "decode expects q/k/v and gate/up adjacent in the parameter layout")
            let pl = packed?.layers[li]
            rmsnormForward(x.pointer, W + lw.inputNorm, xn.pointer, invRms: nil, rows: b, dim: d, eps: eps)
            linear(xn.pointer, pl?.qkv, lw.q, qkv.pointer, inDim: d, outDim: qkvW)
            for (i, r) in rows.enumerated() {
                let pos = cache.lengths[r]
                let q = qkv.pointer + i * qkvW, k = q + c.qDim, v = k + c.kvDim
                applyRope(q, heads: H, headDim: hd, position: pos, table: rope, inverse: false)
                applyRope(k, heads: c.numKeyValueHeads, headDim: hd, position: pos, table: rope, inverse: false)
                cache.store(li, r, pos, key: k, value: v)
                // The next row's cache streams in from memory while this row computes (at batch 32 a layer's cache is
                // megabytes, read once per step).
                if i + 1 < b {
                    let rn = rows[i + 1]
                    Kernels.prefetchCacheRow(
                        keys: cache.rowKeys(li, rn), keyStride: cache.keyStride, values: cache.rowValues(li, rn),
                        valueStride: cache.valueStride, kvHeads: c.numKeyValueHeads, headDim: hd,
                        length: cache.lengths[rn] + 1)
                }
                // All query heads of the row over its pos + 1 cached positions in one call (Kernels.attendCached: the
                // query heads sharing a key/value head read its keys and values once; AVX2/AVX-512 when available).
                Kernels.attendCached(
                    q: q, heads: H, kvHeads: c.numKeyValueHeads, headDim: hd, keys: cache.rowKeys(li, r),
                    keyStride: cache.keyStride, values: cache.rowValues(li, r), valueStride: cache.valueStride,
                    length: pos + 1, scale: scale, scores: scores.pointer, out: att.pointer + i * c.qDim)
            }
            linear(att.pointer, pl?.o, lw.o, x.pointer, inDim: c.qDim, outDim: d, accumulate: true)
            rmsnormForward(x.pointer, W + lw.postNorm, xn.pointer, invRms: nil, rows: b, dim: d, eps: eps)
            linear(xn.pointer, pl?.gateUp, lw.gate, gu.pointer, inDim: d, outDim: 2 * ff)
            for i in 0..<b {
                swigluForward(gu.pointer + i * 2 * ff, gu.pointer + i * 2 * ff + ff, hidden.pointer + i * ff, count: ff)
            }
            linear(hidden.pointer, pl?.down, lw.down, x.pointer, inDim: ff, outDim: d, accumulate: true)
        }
        for r in rows { cache.setLength(r, cache.lengths[r] + 1) }
        rmsnormForward(x.pointer, W + L.finalNorm, xn.pointer, invRms: nil, rows: b, dim: d, eps: eps)
        linear(xn.pointer, packed?.lmHead, L.lmHead, logits, inDim: d, outDim: c.vocabSize)
    }
}

// MARK: Token generation (prefill + decodeStep), shared by `softrl generate` and the decode benchmark.

extension LlamaModel {
    /// Generates `maxNewTokens` ids after each prompt, all prompts advancing together in one KV cache (one row each).
    /// `temperature == nil` is greedy (argmax, first on ties); otherwise samples softmax(logits / T) with a
    /// deterministic stream per row derived from `seed`. Returns only the new ids, per prompt.
    public func generate(prompts: [[Int32]], maxNewTokens: Int, temperature: Float? = nil, seed: UInt64 = 0)
        -> [[Int32]]
    {
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "each prompt needs at least one token")
        precondition(maxNewTokens >= 0)
        let b = prompts.count, V = config.vocabSize
        guard maxNewTokens > 0 else { return [[Int32]](repeating: [], count: b) }
        let longest = prompts.map(\.count).max()!
        precondition(
            longest + maxNewTokens - 1 <= config.maxPositionEmbeddings,
            "prompt (\(longest)) + new tokens (\(maxNewTokens)) exceed max_position_embeddings \(config.maxPositionEmbeddings)"
        )
        let cache = KVCache(config: config, rows: b, capacity: longest + maxNewTokens)
        let first = prefill(prompts: prompts.map { ModelInput(tokens: $0) }, rows: (0..<b).map { [$0] }, cache: cache)
        var rngs = (0..<b).map { Xoshiro256(seed: seed, stream: UInt64($0)) }
        let probs = FloatBuffer(count: V)
        func pick(_ logits: UnsafePointer<Float>, _ row: Int) -> Int32 {
            guard let t = temperature else { return Int32(argmax(logits, count: V)) }
            softmax(logits, count: V, temperature: t, into: probs.pointer)
            return Int32(rngs[row].categorical(UnsafeBufferPointer(start: probs.pointer, count: V)))
        }
        var out = [[Int32]](repeating: [], count: b)
        for i in 0..<b { first[i].withUnsafeBufferPointer { out[i].append(pick($0.baseAddress!, i)) } }
        let logits = FloatBuffer(count: b * V)
        let allRows = Array(0..<b)
        for _ in 1..<maxNewTokens {
            decodeStep(
                rows: allRows, input: ModelInput(tokens: out.map { $0.last! }), cache: cache, logits: logits.pointer)
            for i in 0..<b { out[i].append(pick(logits.pointer + i * V, i)) }
        }
        return out
    }
}
