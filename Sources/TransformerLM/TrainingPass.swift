// The training pass: forward over a batch of sequences of different lengths with every activation kept, and the
// backward pass that mirrors it. All positions of all sequences are packed into N rows so each linear layer is
// one sgemm; attention runs per sequence and head on strided views (no copies).
// Shared prefixes (Prefix Grouper, arXiv 2506.05433): sequences that start with the same prefix (a GRPO group's
// prompt) can have it packed once; each continuation's queries attend to the prefix's keys and values, and in the
// backward the prefix's rows collect the gradients of every continuation once. Outputs and gradients equal the
// unshared pass; only the prefix's rows are not repeated. Attention over a continuation runs on a gathered copy
// of its prefix's and its own rows (the prefix's queries recomputed there and discarded: attention is a few
// percent of the pass).
// Shapes: N packed tokens, d hidden, qd = heads*hd, kvd = kvHeads*hd, ff intermediate, V vocab.
import Foundation
import TensorMath

final class LayerActivations {
    let xIn, xn1, q, k, v, att, xMid, xn2, gate, up, h: FloatBuffer // (N, d|qd|kvd|ff)
    let inv1, inv2: FloatBuffer // (N) 1/rms
    let probs: FloatBuffer // per sequence (heads, T, T)
    /// Slices of `arena` (uninitialised: the forward pass writes every element before reading it).
    init(n: Int, c: LlamaConfig, probsCount: Int, arena: ScratchArena) {
        xIn = arena.slice(n * c.hiddenSize); xn1 = arena.slice(n * c.hiddenSize)
        q = arena.slice(n * c.qDim); k = arena.slice(n * c.kvDim); v = arena.slice(n * c.kvDim)
        att = arena.slice(n * c.qDim); xMid = arena.slice(n * c.hiddenSize); xn2 = arena.slice(n * c.hiddenSize)
        gate = arena.slice(n * c.intermediateSize); up = arena.slice(n * c.intermediateSize)
        h = arena.slice(n * c.intermediateSize)
        inv1 = arena.slice(n); inv2 = arena.slice(n)
        probs = arena.slice(probsCount)
    }
    /// Floats `init` takes from the arena.
    static func floats(n: Int, c: LlamaConfig, probsCount: Int) -> Int {
        let P = ScratchArena.padded
        return 4 * P(n * c.hiddenSize) + 2 * P(n * c.qDim) + 2 * P(n * c.kvDim) + 3 * P(n * c.intermediateSize)
            + 2 * P(n) + P(probsCount)
    }
}

/// A run of packed rows: a whole sequence, a shared prefix, or a continuation of the prefix segment `prefix`
/// (its positions start at `start`, the prefix's length, and it attends to the prefix's keys and values).
struct Segment {
    let input: ModelInput
    let firstRow: Int
    let start: Int
    let prefix: Int?
    /// Offset of its attention probabilities (heads x T x T, T = start + own length) in a layer's `probs`.
    let probOffset: Int
    var length: Int { start + input.count }
}

/// The result of `LlamaModel.forward`: logits for every position plus what backward needs.
public final class TrainingPass {
    public let model: LlamaModel
    /// Row of each sequence's first own position in the packed layout (after its shared prefix, if it has one):
    /// without shared prefixes a sequence's rows are rowOffsets[s] ..< rowOffsets[s] + count. `row` maps any position.
    public let rowOffsets: [Int]
    public let totalRows: Int
    /// (N, V) logits, packed.
    public let logits: FloatBuffer
    let segments: [Segment]
    /// The segment of each sequence.
    let sequenceSegments: [Int]
    let layers: [LayerActivations]
    let xFinal: FloatBuffer // (N, d) input to the final norm
    let xnFinal: FloatBuffer // (N, d) normalised
    let invFinal: FloatBuffer

    /// The packed row of `position` of sequence `sequence` (a shared prefix's row for positions inside it).
    @inline(__always) public func row(sequence: Int, position: Int) -> Int {
        let seg = segments[sequenceSegments[sequence]]
        if let k = seg.prefix, position < seg.start { return segments[k].firstRow + position }
        return seg.firstRow + position - seg.start
    }

    /// Logits at `position` of sequence `sequence` (V floats).
    public func logits(sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        logits.pointer + row(sequence: sequence, position: position) * model.config.vocabSize
    }

    /// Key and value rows (after RoPE) of `layer` for sequence `sequence`, position `position`: used to fill a KV cache.
    func keyRow(layer: Int, sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        layers[layer].k.pointer + row(sequence: sequence, position: position) * model.config.kvDim
    }
    func valueRow(layer: Int, sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        layers[layer].v.pointer + row(sequence: sequence, position: position) * model.config.kvDim
    }

    /// `prefixes` are packed first, once each; sequence i is `sequences[i].input`, continuing `prefixes[prefix]`
    /// when `prefix` is set.
    init(model: LlamaModel, prefixes: [ModelInput], sequences: [(prefix: Int?, input: ModelInput)]) {
        self.model = model
        let c = model.config
        var segs: [Segment] = [], seqSegs: [Int] = []
        var n = 0, p = 0
        func add(_ input: ModelInput, prefix: Int?) {
            let start = prefix.map { segs[$0].input.count } ?? 0, T = start + input.count
            segs.append(Segment(input: input, firstRow: n, start: start, prefix: prefix, probOffset: p))
            n += input.count; p += c.numAttentionHeads * T * T
        }
        for x in prefixes { add(x, prefix: nil) }
        for s in sequences { seqSegs.append(segs.count); add(s.input, prefix: s.prefix) }
        segments = segs; sequenceSegments = seqSegs; totalRows = n
        rowOffsets = seqSegs.map { segs[$0].firstRow }
        // All activations live in one recycled arena (see ScratchArena): no page faults or zeroing per pass.
        let P = ScratchArena.padded
        let arena = ScratchArena(
            floats: c.numHiddenLayers * LayerActivations.floats(n: n, c: c, probsCount: p)
                + 2 * P(n * c.hiddenSize) + P(n) + P(n * c.vocabSize))
        layers = (0..<c.numHiddenLayers).map { _ in LayerActivations(n: n, c: c, probsCount: p, arena: arena) }
        xFinal = arena.slice(n * c.hiddenSize)
        xnFinal = arena.slice(n * c.hiddenSize)
        invFinal = arena.slice(n)
        logits = arena.slice(n * c.vocabSize)
        run()
    }

    private func run() {
        let c = model.config, L = model.layout, W = model.weights.pointer
        let n = totalRows, d = c.hiddenSize, eps = Float(c.rmsNormEps)
        // Embed: token rows copied from E, vector rows copied from the caller.
        embed(into: layers.isEmpty ? xFinal.pointer : layers[0].xIn.pointer)
        for (li, a) in layers.enumerated() {
            let lw = L.layers[li]
            rmsnormForward(
                a.xIn.pointer, W + lw.inputNorm, a.xn1.pointer, invRms: a.inv1.pointer, rows: n, dim: d, eps: eps)
            linearForward(a.xn1.pointer, W + lw.q, a.q.pointer, rows: n, inDim: d, outDim: c.qDim)
            linearForward(a.xn1.pointer, W + lw.k, a.k.pointer, rows: n, inDim: d, outDim: c.kvDim)
            linearForward(a.xn1.pointer, W + lw.v, a.v.pointer, rows: n, inDim: d, outDim: c.kvDim)
            for seg in segments {
                for t in 0..<seg.input.count {
                    let r = seg.firstRow + t
                    applyRope(
                        a.q.pointer + r * c.qDim, heads: c.numAttentionHeads, headDim: c.headDim,
                        position: seg.start + t, table: model.rope, inverse: false)
                    applyRope(
                        a.k.pointer + r * c.kvDim, heads: c.numKeyValueHeads, headDim: c.headDim,
                        position: seg.start + t, table: model.rope, inverse: false)
                }
            }
            attentionForward(a)
            // xMid = xIn + att W_o^T
            a.xMid.pointer.update(from: a.xIn.pointer, count: n * d)
            linearForward(a.att.pointer, W + lw.o, a.xMid.pointer, rows: n, inDim: c.qDim, outDim: d, accumulate: true)
            rmsnormForward(
                a.xMid.pointer, W + lw.postNorm, a.xn2.pointer, invRms: a.inv2.pointer, rows: n, dim: d, eps: eps)
            linearForward(a.xn2.pointer, W + lw.gate, a.gate.pointer, rows: n, inDim: d, outDim: c.intermediateSize)
            linearForward(a.xn2.pointer, W + lw.up, a.up.pointer, rows: n, inDim: d, outDim: c.intermediateSize)
            swigluForward(a.gate.pointer, a.up.pointer, a.h.pointer, count: n * c.intermediateSize)
            let out = li + 1 < layers.count ? layers[li + 1].xIn.pointer : xFinal.pointer
            out.update(from: a.xMid.pointer, count: n * d)
            linearForward(
                a.h.pointer, W + lw.down, out, rows: n, inDim: c.intermediateSize, outDim: d, accumulate: true)
        }
        rmsnormForward(
            xFinal.pointer, W + L.finalNorm, xnFinal.pointer, invRms: invFinal.pointer, rows: n, dim: d, eps: eps)
        linearForward(xnFinal.pointer, W + L.lmHead, logits.pointer, rows: n, inDim: d, outDim: c.vocabSize)
    }

    private func embed(into x: UnsafeMutablePointer<Float>) {
        for seg in segments { model.embed(seg.input, into: x + seg.firstRow * model.config.hiddenSize) }
    }

    /// Scratch for the attention kernels (recycled memory; the kernels write before they read).
    private func attentionScratch() -> FloatBuffer {
        let n = Kernels.causalAttentionScratchCount(
            length: segments.map(\.length).max() ?? 0, headDim: model.config.headDim)
        return ScratchArena(floats: n).slice(n)
    }

    /// A continuation's rows gathered after its prefix's, contiguous: what the attention kernels run on.
    private struct Gathered {
        let q, k, v, out, dq, dk, dv: UnsafeMutablePointer<Float> // (T, qd | kvd)
        let arena: ScratchArena
        init(rows: Int, c: LlamaConfig) {
            let P = ScratchArena.padded
            arena = ScratchArena(floats: 3 * P(rows * c.qDim) + 4 * P(rows * c.kvDim))
            q = arena.slice(rows * c.qDim).pointer; out = arena.slice(rows * c.qDim).pointer;
            dq = arena.slice(rows * c.qDim).pointer
            k = arena.slice(rows * c.kvDim).pointer; v = arena.slice(rows * c.kvDim).pointer
            dk = arena.slice(rows * c.kvDim).pointer; dv = arena.slice(rows * c.kvDim).pointer
        }
    }

    private func gatheredScratch() -> Gathered? {
        let longest = segments.filter { $0.prefix != nil }.map(\.length).max()
        return longest.map { Gathered(rows: $0, c: model.config) }
    }

    /// Copies `width`-float rows of `src` for `seg`'s prefix then its own rows into `dst` (T rows).
    private func gather(_ src: UnsafePointer<Float>, width: Int, _ seg: Segment, into dst: UnsafeMutablePointer<Float>)
    {
        let prefix = segments[seg.prefix!]
        dst.update(from: src + prefix.firstRow * width, count: seg.start * width)
        (dst + seg.start * width).update(from: src + seg.firstRow * width, count: seg.input.count * width)
    }

    /// Per sequence and key/value head: Kernels.causalAttentionForward (the AVX2/AVX-512 kernels compute only the
    /// causal half, with no per-head OpenBLAS calls: six 64 x 64 x 32 products per head and sequence, each packing its
    /// operands, were ~5 ms of a 76 ms `tiny` step by a C-harness estimate).
    private func attentionForward(_ a: LayerActivations) {
        let c = model.config, hd = c.headDim, group = c.numAttentionHeads / c.numKeyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        let scratch = attentionScratch(), gathered = gatheredScratch()
        for seg in segments {
            let T = seg.length, r0 = seg.firstRow
            var q = a.q.pointer + r0 * c.qDim, k = a.k.pointer + r0 * c.kvDim, v = a.v.pointer + r0 * c.kvDim
            var out = a.att.pointer + r0 * c.qDim
            if seg.prefix != nil, let gathered {
                gather(a.q.pointer, width: c.qDim, seg, into: gathered.q)
                gather(a.k.pointer, width: c.kvDim, seg, into: gathered.k)
                gather(a.v.pointer, width: c.kvDim, seg, into: gathered.v)
                (q, k, v, out) = (gathered.q, gathered.k, gathered.v, gathered.out)
            }
            for g in 0..<c.numKeyValueHeads {
                Kernels.causalAttentionForward(
                    q: q + g * group * hd, ldq: c.qDim, k: k + g * hd, v: v + g * hd,
                    ldkv: c.kvDim, length: T, headDim: hd, group: group, scale: scale,
                    probs: a.probs.pointer + seg.probOffset + g * group * T * T,
                    out: out + g * group * hd, ldo: c.qDim, scratch: scratch.pointer)
            }
            if seg.prefix != nil { // the continuation's own rows; the prefix's were computed by its own segment
                (a.att.pointer + r0 * c.qDim).update(from: out + seg.start * c.qDim, count: seg.input.count * c.qDim)
            }
        }
    }

    /// Back-propagates `dLogits` (N, V; packed like `logits`) and ACCUMULATES parameter gradients into `gradients`
    /// (same layout as the weights). Returns, per sequence, the gradient for each supplied input vector,
    /// (vector count, d) row-major. Token-embedding gradients go into the embedding rows of `gradients`.
    @discardableResult
    public func backward(dLogits: UnsafePointer<Float>, gradients: FloatBuffer) -> [[Float]] {
        let c = model.config, L = model.layout, W = model.weights.pointer, G = gradients.pointer
        precondition(gradients.count == L.totalCount, "gradient buffer layout does not match the model")
        let n = totalRows, d = c.hiddenSize, ff = c.intermediateSize
        // Temporaries from a recycled arena. Only dResid accumulates (the residual stream) and starts from zero; the
        // others are overwritten (beta 0 products, or written element by element) before they are read.
        let P = ScratchArena.padded
        let arena = ScratchArena(floats: 2 * P(n * d) + 3 * P(n * ff) + 2 * P(n * c.qDim) + 2 * P(n * c.kvDim))
        let dResid = arena.zeroedSlice(n * d)
        let dXn = arena.slice(n * d)
        // Final norm and LM head.
        linearBackward(
            dLogits, xnFinal.pointer, W + L.lmHead, dx: dXn.pointer, dw: G + L.lmHead,
            rows: n, inDim: d, outDim: c.vocabSize, accumulateDx: false)
        rmsnormBackward(
            dXn.pointer, xFinal.pointer, W + L.finalNorm, invRms: invFinal.pointer, dx: dResid.pointer,
            dw: G + L.finalNorm, rows: n, dim: d)
        let dH = arena.slice(n * ff), dGate = arena.slice(n * ff), dUp = arena.slice(n * ff)
        let dAtt = arena.slice(n * c.qDim), dQ = arena.slice(n * c.qDim)
        let dK = arena.slice(n * c.kvDim), dV = arena.slice(n * c.kvDim)
        for li in stride(from: layers.count - 1, through: 0, by: -1) {
            let a = layers[li], lw = L.layers[li]
            // MLP: out = xMid + down(silu(gate(xn2)) * up(xn2))
            linearBackward(
                dResid.pointer, a.h.pointer, W + lw.down, dx: dH.pointer, dw: G + lw.down,
                rows: n, inDim: ff, outDim: d, accumulateDx: false)
            swigluBackward(
                dH.pointer, a.gate.pointer, a.up.pointer, dGate: dGate.pointer, dUp: dUp.pointer, count: n * ff)
            linearBackward(
                dGate.pointer, a.xn2.pointer, W + lw.gate, dx: dXn.pointer, dw: G + lw.gate,
                rows: n, inDim: d, outDim: ff, accumulateDx: false)
            linearBackward(
                dUp.pointer, a.xn2.pointer, W + lw.up, dx: dXn.pointer, dw: G + lw.up,
                rows: n, inDim: d, outDim: ff, accumulateDx: true)
            rmsnormBackward(
                dXn.pointer, a.xMid.pointer, W + lw.postNorm, invRms: a.inv2.pointer, dx: dResid.pointer,
                dw: G + lw.postNorm, rows: n, dim: d)
            // Attention: xMid = xIn + o(att)
            linearBackward(
                dResid.pointer, a.att.pointer, W + lw.o, dx: dAtt.pointer, dw: G + lw.o,
                rows: n, inDim: c.qDim, outDim: d, accumulateDx: false)
            attentionBackward(a, dAtt: dAtt.pointer, dQ: dQ.pointer, dK: dK.pointer, dV: dV.pointer)
            for seg in segments {
                for t in 0..<seg.input.count {
                    let r = seg.firstRow + t
                    applyRope(
                        dQ.pointer + r * c.qDim, heads: c.numAttentionHeads, headDim: c.headDim,
                        position: seg.start + t, table: model.rope, inverse: true)
                    applyRope(
                        dK.pointer + r * c.kvDim, heads: c.numKeyValueHeads, headDim: c.headDim,
                        position: seg.start + t, table: model.rope, inverse: true)
                }
            }
            linearBackward(
                dQ.pointer, a.xn1.pointer, W + lw.q, dx: dXn.pointer, dw: G + lw.q,
                rows: n, inDim: d, outDim: c.qDim, accumulateDx: false)
            linearBackward(
                dK.pointer, a.xn1.pointer, W + lw.k, dx: dXn.pointer, dw: G + lw.k,
                rows: n, inDim: d, outDim: c.kvDim, accumulateDx: true)
            linearBackward(
                dV.pointer, a.xn1.pointer, W + lw.v, dx: dXn.pointer, dw: G + lw.v,
                rows: n, inDim: d, outDim: c.kvDim, accumulateDx: true)
            rmsnormBackward(
                dXn.pointer, a.xIn.pointer, W + lw.inputNorm, invRms: a.inv1.pointer, dx: dResid.pointer,
                dw: G + lw.inputNorm, rows: n, dim: d)
        }
        // Embedding: scatter token rows (a shared prefix's once, with every continuation's gradient in it), hand
        // vector rows back to the caller.
        var vectorGrads = [[Float]](repeating: [], count: segments.count)
        let dE = G + L.embedding
        for (si, seg) in segments.enumerated() {
            var vg = [Float](); vg.reserveCapacity(seg.input.vectorCount * d)
            for t in 0..<seg.input.count {
                let src = dResid.pointer + (seg.firstRow + t) * d
                let tok = seg.input.tokens[t]
                if tok == ModelInput.vectorSlot {
                    vg.append(contentsOf: UnsafeBufferPointer(start: src, count: d))
                } else {
                    let dst = dE + Int(tok) * d
                    for j in 0..<d { dst[j] += src[j] }
                }
            }
            vectorGrads[si] = vg
        }
        return sequenceSegments.map { vectorGrads[$0] }
    }

    private func attentionBackward(
        _ a: LayerActivations, dAtt: UnsafePointer<Float>, dQ: UnsafeMutablePointer<Float>,
        dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>
    ) {
        let c = model.config, hd = c.headDim, group = c.numAttentionHeads / c.numKeyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        dK.update(repeating: 0, count: totalRows * c.kvDim)
        dV.update(repeating: 0, count: totalRows * c.kvDim)
        let scratch = attentionScratch(), gathered = gatheredScratch()
        for seg in segments where seg.prefix != nil {
            // On the gathered rows, with a zero output gradient at the prefix's queries (its own segment carries that
            // one): the prefix's query gradient is then 0, and its key/value gradients are this continuation's share.
            let g = gathered!, T = seg.length, P = seg.start, r0 = seg.firstRow,
                prefixRow = segments[seg.prefix!].firstRow
            gather(a.q.pointer, width: c.qDim, seg, into: g.q)
            gather(a.k.pointer, width: c.kvDim, seg, into: g.k)
            gather(a.v.pointer, width: c.kvDim, seg, into: g.v)
            g.out.update(repeating: 0, count: P * c.qDim) // dOut
            (g.out + P * c.qDim).update(from: dAtt + r0 * c.qDim, count: seg.input.count * c.qDim)
            g.dk.update(repeating: 0, count: T * c.kvDim); g.dv.update(repeating: 0, count: T * c.kvDim)
            let dq = g.dq
            for h in 0..<c.numKeyValueHeads {
                Kernels.causalAttentionBackward(
                    q: g.q + h * group * hd, ldq: c.qDim, k: g.k + h * hd, v: g.v + h * hd,
                    ldkv: c.kvDim, probs: a.probs.pointer + seg.probOffset + h * group * T * T,
                    dOut: g.out + h * group * hd, lddo: c.qDim, length: T, headDim: hd, group: group,
                    scale: scale, dq: dq + h * group * hd, lddq: c.qDim, dk: g.dk + h * hd,
                    dv: g.dv + h * hd, lddkv: c.kvDim, scratch: scratch.pointer)
            }
            (dQ + r0 * c.qDim).update(from: dq + P * c.qDim, count: seg.input.count * c.qDim)
            for t in 0..<T {
                let row = t < P ? prefixRow + t : r0 + t - P
                let dkRow = dK + row * c.kvDim, dvRow = dV + row * c.kvDim, sk = g.dk + t * c.kvDim,
                    sv = g.dv + t * c.kvDim
                for j in 0..<c.kvDim { dkRow[j] += sk[j]; dvRow[j] += sv[j] }
            }
        }
        for seg in segments where seg.prefix == nil {
            let T = seg.length, r0 = seg.firstRow
            for g in 0..<c.numKeyValueHeads {
                let qo = r0 * c.qDim + g * group * hd, kvo = r0 * c.kvDim + g * hd
                Kernels.causalAttentionBackward(
                    q: a.q.pointer + qo, ldq: c.qDim, k: a.k.pointer + kvo, v: a.v.pointer + kvo,
                    ldkv: c.kvDim, probs: a.probs.pointer + seg.probOffset + g * group * T * T,
                    dOut: dAtt + qo, lddo: c.qDim, length: T, headDim: hd, group: group,
                    scale: scale, dq: dQ + qo, lddq: c.qDim, dk: dK + kvo, dv: dV + kvo,
                    lddkv: c.kvDim, scratch: scratch.pointer)
            }
        }
    }
}

extension LlamaModel {
    /// Runs the training forward pass over `batch` (sequences of any lengths) and keeps what backward needs.
    public func forward(_ batch: [ModelInput]) -> TrainingPass {
        checkInputs(batch)
        return TrainingPass(model: self, prefixes: [], sequences: batch.map { (nil, $0) })
    }

    /// The same over sequences that continue shared prefixes (a group's prompt): sequence i is
    /// `prefixes[continuations[i].prefix] + continuations[i].input`, and its positions, logits and rows are those of
    /// that whole sequence; each prefix runs once. Prefixes are token-only (no vector slots).
    public func forward(prefixes: [ModelInput], continuations: [(prefix: Int, input: ModelInput)]) -> TrainingPass {
        for (k, p) in prefixes.enumerated() {
            precondition(p.vectorCount == 0 && p.count > 0, "shared prefix \(k) must be non-empty tokens")
        }
        checkInputs(prefixes)
        checkInputs(
            continuations.map {
                ModelInput(tokens: prefixes[$0.prefix].tokens + $0.input.tokens, vectors: $0.input.vectors)
            })
        return TrainingPass(
            model: self, prefixes: prefixes, sequences: continuations.map { (Optional($0.prefix), $0.input) })
    }

    /// A zeroed gradient buffer laid out like the weights.
    public func makeGradients() -> FloatBuffer { FloatBuffer(count: layout.totalCount) }

    /// Bytes a training pass over sequences of these lengths holds at its peak: the forward's activations and
    /// logits, the backward's temporaries and a logits gradient the size of the logits. What a micro-batch costs.
    public func trainingPassBytes(lengths: [Int]) -> Int {
        let c = config, P = ScratchArena.padded
        let n = lengths.reduce(0, +), probs = lengths.reduce(0) { $0 + c.numAttentionHeads * $1 * $1 }
        let forward =
            c.numHiddenLayers * LayerActivations.floats(n: n, c: c, probsCount: probs)
            + 2 * P(n * c.hiddenSize) + P(n) + P(n * c.vocabSize)
        let backward = 2 * P(n * c.hiddenSize) + 3 * P(n * c.intermediateSize) + 2 * P(n * c.qDim) + 2 * P(n * c.kvDim)
        return 4 * (forward + backward + P(n * c.vocabSize))
    }
}
