// The training pass: forward over a batch of sequences of different lengths with every activation kept, and the
// backward pass that mirrors it. All positions of all sequences are packed into N rows so each linear layer is
// one sgemm; attention runs per sequence and head on strided views (no copies).
// Shapes: N packed tokens, d hidden, qd = heads*hd, kvd = kvHeads*hd, ff intermediate, V vocab.
import Foundation
import TensorMath

final class LayerActivations {
    let xIn, xn1, q, k, v, att, xMid, xn2, gate, up, h: FloatBuffer   // (N, d|qd|kvd|ff)
    let inv1, inv2: FloatBuffer                                          // (N) 1/rms
    let probs: FloatBuffer                                               // per sequence (heads, T, T)
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

/// The result of `LlamaModel.forward`: logits for every position plus what backward needs.
public final class TrainingPass {
    public let model: LlamaModel
    public let inputs: [ModelInput]
    /// Row of each sequence's first position in the packed layout.
    public let rowOffsets: [Int]
    public let totalRows: Int
    /// (N, V) logits, packed.
    public let logits: FloatBuffer
    let layers: [LayerActivations]
    let probOffsets: [Int]
    let xFinal: FloatBuffer      // (N, d) input to the final norm
    let xnFinal: FloatBuffer     // (N, d) normalised
    let invFinal: FloatBuffer

    /// Logits at `position` of sequence `sequence` (V floats).
    public func logits(sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        logits.pointer + (rowOffsets[sequence] + position) * model.config.vocabSize
    }

    /// Key and value rows (after RoPE) of `layer` for sequence `sequence`, position `position`: used to fill a KV cache.
    func keyRow(layer: Int, sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        layers[layer].k.pointer + (rowOffsets[sequence] + position) * model.config.kvDim
    }
    func valueRow(layer: Int, sequence: Int, position: Int) -> UnsafeMutablePointer<Float> {
        layers[layer].v.pointer + (rowOffsets[sequence] + position) * model.config.kvDim
    }

    init(model: LlamaModel, inputs: [ModelInput]) {
        self.model = model
        self.inputs = inputs
        let c = model.config
        var offs: [Int] = [], pOffs: [Int] = []
        var n = 0, p = 0
        for s in inputs { offs.append(n); pOffs.append(p); n += s.count; p += c.numAttentionHeads * s.count * s.count }
        rowOffsets = offs; probOffsets = pOffs; totalRows = n
        // All activations live in one recycled arena (see ScratchArena): no page faults or zeroing per pass.
        let P = ScratchArena.padded
        let arena = ScratchArena(floats: c.numHiddenLayers * LayerActivations.floats(n: n, c: c, probsCount: p)
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
            rmsnormForward(a.xIn.pointer, W + lw.inputNorm, a.xn1.pointer, invRms: a.inv1.pointer, rows: n, dim: d, eps: eps)
            linearForward(a.xn1.pointer, W + lw.q, a.q.pointer, rows: n, inDim: d, outDim: c.qDim)
            linearForward(a.xn1.pointer, W + lw.k, a.k.pointer, rows: n, inDim: d, outDim: c.kvDim)
            linearForward(a.xn1.pointer, W + lw.v, a.v.pointer, rows: n, inDim: d, outDim: c.kvDim)
            for (s, seq) in inputs.enumerated() {
                for t in 0..<seq.count {
                    let r = rowOffsets[s] + t
                    applyRope(a.q.pointer + r * c.qDim, heads: c.numAttentionHeads, headDim: c.headDim, position: t, table: model.rope, inverse: false)
                    applyRope(a.k.pointer + r * c.kvDim, heads: c.numKeyValueHeads, headDim: c.headDim, position: t, table: model.rope, inverse: false)
                }
            }
            attentionForward(a)
            // xMid = xIn + att W_o^T
            a.xMid.pointer.update(from: a.xIn.pointer, count: n * d)
            linearForward(a.att.pointer, W + lw.o, a.xMid.pointer, rows: n, inDim: c.qDim, outDim: d, accumulate: true)
            rmsnormForward(a.xMid.pointer, W + lw.postNorm, a.xn2.pointer, invRms: a.inv2.pointer, rows: n, dim: d, eps: eps)
            linearForward(a.xn2.pointer, W + lw.gate, a.gate.pointer, rows: n, inDim: d, outDim: c.intermediateSize)
            linearForward(a.xn2.pointer, W + lw.up, a.up.pointer, rows: n, inDim: d, outDim: c.intermediateSize)
            swigluForward(a.gate.pointer, a.up.pointer, a.h.pointer, count: n * c.intermediateSize)
            let out = li + 1 < layers.count ? layers[li + 1].xIn.pointer : xFinal.pointer
            out.update(from: a.xMid.pointer, count: n * d)
            linearForward(a.h.pointer, W + lw.down, out, rows: n, inDim: c.intermediateSize, outDim: d, accumulate: true)
        }
        rmsnormForward(xFinal.pointer, W + L.finalNorm, xnFinal.pointer, invRms: invFinal.pointer, rows: n, dim: d, eps: eps)
        linearForward(xnFinal.pointer, W + L.lmHead, logits.pointer, rows: n, inDim: d, outDim: c.vocabSize)
    }

    private func embed(into x: UnsafeMutablePointer<Float>) {
        for (s, seq) in inputs.enumerated() { model.embed(seq, into: x + rowOffsets[s] * model.config.hiddenSize) }
    }

    /// Scratch for the attention kernels (recycled memory; the kernels write before they read).
    private func attentionScratch() -> FloatBuffer {
        let n = Kernels.causalAttentionScratchCount(length: inputs.map(\.count).max() ?? 0, headDim: model.config.headDim)
        return ScratchArena(floats: n).slice(n)
    }

    /// Per sequence and key/value head: Kernels.causalAttentionForward (the AVX2/AVX-512 kernels compute only the
    /// causal half, with no per-head OpenBLAS calls: six 64 x 64 x 32 products per head and sequence, each packing its
    /// operands, were ~5 ms of a 76 ms `tiny` step by a C-harness estimate).
    private func attentionForward(_ a: LayerActivations) {
        let c = model.config, hd = c.headDim, group = c.numAttentionHeads / c.numKeyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        let scratch = attentionScratch()
        for (s, seq) in inputs.enumerated() {
            let T = seq.count, r0 = rowOffsets[s]
            for g in 0..<c.numKeyValueHeads {
                Kernels.causalAttentionForward(q: a.q.pointer + r0 * c.qDim + g * group * hd, ldq: c.qDim,
                                               k: a.k.pointer + r0 * c.kvDim + g * hd, v: a.v.pointer + r0 * c.kvDim + g * hd,
                                               ldkv: c.kvDim, length: T, headDim: hd, group: group, scale: scale,
                                               probs: a.probs.pointer + probOffsets[s] + g * group * T * T,
                                               out: a.att.pointer + r0 * c.qDim + g * group * hd, ldo: c.qDim,
                                               scratch: scratch.pointer)
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
        linearBackward(dLogits, xnFinal.pointer, W + L.lmHead, dx: dXn.pointer, dw: G + L.lmHead,
                       rows: n, inDim: d, outDim: c.vocabSize, accumulateDx: false)
        rmsnormBackward(dXn.pointer, xFinal.pointer, W + L.finalNorm, invRms: invFinal.pointer, dx: dResid.pointer,
                        dw: G + L.finalNorm, rows: n, dim: d)
        let dH = arena.slice(n * ff), dGate = arena.slice(n * ff), dUp = arena.slice(n * ff)
        let dAtt = arena.slice(n * c.qDim), dQ = arena.slice(n * c.qDim)
        let dK = arena.slice(n * c.kvDim), dV = arena.slice(n * c.kvDim)
        for li in stride(from: layers.count - 1, through: 0, by: -1) {
            let a = layers[li], lw = L.layers[li]
            // MLP: out = xMid + down(silu(gate(xn2)) * up(xn2))
            linearBackward(dResid.pointer, a.h.pointer, W + lw.down, dx: dH.pointer, dw: G + lw.down,
                           rows: n, inDim: ff, outDim: d, accumulateDx: false)
            swigluBackward(dH.pointer, a.gate.pointer, a.up.pointer, dGate: dGate.pointer, dUp: dUp.pointer, count: n * ff)
            linearBackward(dGate.pointer, a.xn2.pointer, W + lw.gate, dx: dXn.pointer, dw: G + lw.gate,
                           rows: n, inDim: d, outDim: ff, accumulateDx: false)
            linearBackward(dUp.pointer, a.xn2.pointer, W + lw.up, dx: dXn.pointer, dw: G + lw.up,
                           rows: n, inDim: d, outDim: ff, accumulateDx: true)
            rmsnormBackward(dXn.pointer, a.xMid.pointer, W + lw.postNorm, invRms: a.inv2.pointer, dx: dResid.pointer,
                            dw: G + lw.postNorm, rows: n, dim: d)
            // Attention: xMid = xIn + o(att)
            linearBackward(dResid.pointer, a.att.pointer, W + lw.o, dx: dAtt.pointer, dw: G + lw.o,
                           rows: n, inDim: c.qDim, outDim: d, accumulateDx: false)
            attentionBackward(a, dAtt: dAtt.pointer, dQ: dQ.pointer, dK: dK.pointer, dV: dV.pointer)
            for (s, seq) in inputs.enumerated() {
                for t in 0..<seq.count {
                    let r = rowOffsets[s] + t
                    applyRope(dQ.pointer + r * c.qDim, heads: c.numAttentionHeads, headDim: c.headDim, position: t, table: model.rope, inverse: true)
                    applyRope(dK.pointer + r * c.kvDim, heads: c.numKeyValueHeads, headDim: c.headDim, position: t, table: model.rope, inverse: true)
                }
            }
            linearBackward(dQ.pointer, a.xn1.pointer, W + lw.q, dx: dXn.pointer, dw: G + lw.q,
                           rows: n, inDim: d, outDim: c.qDim, accumulateDx: false)
            linearBackward(dK.pointer, a.xn1.pointer, W + lw.k, dx: dXn.pointer, dw: G + lw.k,
                           rows: n, inDim: d, outDim: c.kvDim, accumulateDx: true)
            linearBackward(dV.pointer, a.xn1.pointer, W + lw.v, dx: dXn.pointer, dw: G + lw.v,
                           rows: n, inDim: d, outDim: c.kvDim, accumulateDx: true)
            rmsnormBackward(dXn.pointer, a.xIn.pointer, W + lw.inputNorm, invRms: a.inv1.pointer, dx: dResid.pointer,
                            dw: G + lw.inputNorm, rows: n, dim: d)
        }
        // Embedding: scatter token rows, hand vector rows back to the caller.
        var vectorGrads: [[Float]] = []
        let dE = G + L.embedding
        for (s, seq) in inputs.enumerated() {
            var vg = [Float](); vg.reserveCapacity(seq.vectorCount * d)
            for t in 0..<seq.count {
                let src = dResid.pointer + (rowOffsets[s] + t) * d
                let tok = seq.tokens[t]
                if tok == ModelInput.vectorSlot {
                    vg.append(contentsOf: UnsafeBufferPointer(start: src, count: d))
                } else {
                    let dst = dE + Int(tok) * d
                    for j in 0..<d { dst[j] += src[j] }
                }
            }
            vectorGrads.append(vg)
        }
        return vectorGrads
    }

    private func attentionBackward(_ a: LayerActivations, dAtt: UnsafePointer<Float>, dQ: UnsafeMutablePointer<Float>,
                                   dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>) {
        let c = model.config, hd = c.headDim, group = c.numAttentionHeads / c.numKeyValueHeads
        let scale = 1 / Float(hd).squareRoot()
        dK.update(repeating: 0, count: totalRows * c.kvDim)
        dV.update(repeating: 0, count: totalRows * c.kvDim)
        let scratch = attentionScratch()
        for (s, seq) in inputs.enumerated() {
            let T = seq.count, r0 = rowOffsets[s]
            for g in 0..<c.numKeyValueHeads {
                let qo = r0 * c.qDim + g * group * hd, kvo = r0 * c.kvDim + g * hd
                Kernels.causalAttentionBackward(q: a.q.pointer + qo, ldq: c.qDim, k: a.k.pointer + kvo, v: a.v.pointer + kvo,
                                                ldkv: c.kvDim, probs: a.probs.pointer + probOffsets[s] + g * group * T * T,
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
        return TrainingPass(model: self, inputs: batch)
    }

    /// A zeroed gradient buffer laid out like the weights.
    public func makeGradients() -> FloatBuffer { FloatBuffer(count: layout.totalCount) }

    /// Bytes a training pass over sequences of these lengths holds at its peak: the forward's activations and
    /// logits, the backward's temporaries and a logits gradient the size of the logits. What a micro-batch costs.
    public func trainingPassBytes(lengths: [Int]) -> Int {
        let c = config, P = ScratchArena.padded
        let n = lengths.reduce(0, +), probs = lengths.reduce(0) { $0 + c.numAttentionHeads * $1 * $1 }
        let forward = c.numHiddenLayers * LayerActivations.floats(n: n, c: c, probsCount: probs)
            + 2 * P(n * c.hiddenSize) + P(n) + P(n * c.vocabSize)
        let backward = 2 * P(n * c.hiddenSize) + 3 * P(n * c.intermediateSize) + 2 * P(n * c.qDim) + 2 * P(n * c.kvDim)
        return 4 * (forward + backward + P(n * c.vocabSize))
    }
}
