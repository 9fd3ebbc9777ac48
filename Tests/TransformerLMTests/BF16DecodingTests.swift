// Generation on bf16 panels against generation on fp32 panels and the fp32 training forward pass: bf16-stored
// weights must change no logit at all (so a learner scoring the same bf16-valued weights sees no new gap), bf16
// products must stay within a stated distance of fp32, and a CPU without AVX512_BF16 must run fp32 unchanged.
// An extension of DecodingTests, so the emulated-CPU run of that suite covers the fallback.
import XCTest
import TensorMath
@testable import TransformerLM

extension DecodingTests {
    /// Prefill and `steps` decode steps of `rows` random sequences (token and vector inputs); every logit in order,
    /// and the panel format the generation used.
    func bf16DecodeRun(_ model: LlamaModel, rows: Int, steps: Int, compute: GenerationCompute)
        -> (format: PackedGEMM.PanelFormat?, logits: [Float], reference: [Float])
    {
        let c = model.config
        let saved = GenerationCompute.active
        GenerationCompute.active = compute
        defer { GenerationCompute.active = saved }
        var rng = Xoshiro256(seed: UInt64(rows))
        let promptLength = 3, length = promptLength + steps
        let seqs = (0..<rows).map { _ in
            ModelFixtures.input(length: length, vectorPositions: [4, length - 1], config: c, rng: &rng)
        }
        let full = model.forward(seqs)
        let cache = KVCache(config: c, rows: rows)
        let first = model.prefill(
            prompts: seqs.map { ModelInput(tokens: Array($0.tokens[..<promptLength])) },
            rows: (0..<rows).map { [$0] }, cache: cache)
        var out = first.flatMap { $0 }, ref: [Float] = []
        for i in 0..<rows {
            ref += Array(
                UnsafeBufferPointer(start: full.logits(sequence: i, position: promptLength - 1), count: c.vocabSize))
        }
        let logits = FloatBuffer(count: rows * c.vocabSize)
        for pos in promptLength..<length {
            let input = ModelFixtures.decodeInput(seqs, at: pos, hiddenSize: c.hiddenSize)
            model.decodeStep(rows: Array(0..<rows), input: input, cache: cache, logits: logits.pointer)
            out += Array(UnsafeBufferPointer(start: logits.pointer, count: rows * c.vocabSize))
            for i in 0..<rows {
                ref += Array(UnsafeBufferPointer(start: full.logits(sequence: i, position: pos), count: c.vocabSize))
            }
        }
        return (cache.decodeWeights?.format, out, ref)
    }

    static let bf16Config = LlamaConfig(
        vocabSize: 70, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2,
        numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 32)

    /// Weights that are bf16 values (an actor on `--wire-weights bf16`): stored as bf16 panels under `--compute f32`,
    /// and every prefill and decode logit bit-identical to the same weights in fp32 panels. Weights that are not
    /// bf16 values are never rounded under f32.
    func testBF16StoredWeightsChangeNoLogit() throws {
        let c = Self.bf16Config
        let model = ModelFixtures.model(c)
        XCTAssertEqual(
            bf16DecodeRun(model, rows: 3, steps: 4, compute: .f32).format, PackedGEMM.active == nil ? nil : .f32,
            "fp32 weights must keep fp32 panels under --compute f32")
        let w = model.weights
        for i in 0..<w.count { w[i] = BFloat16.decode(BFloat16.encode(w[i])) }
        guard PackedGEMM.bf16Weights != nil, PackedGEMM.active != nil else {
            throw XCTSkip(
                "SIMD path \(SIMDPath.active) (\(CPUFeatures.host.shortDescription)): bf16 panels need AVX-512")
        }
        let saved = PackedGEMM.bf16WeightsEnabled
        defer { PackedGEMM.bf16WeightsEnabled = saved }
        for rows in [1, 3, 20] {
            PackedGEMM.bf16WeightsEnabled = false
            let f32 = bf16DecodeRun(model, rows: rows, steps: 16, compute: .f32)
            PackedGEMM.bf16WeightsEnabled = true
            let bf16 = bf16DecodeRun(model, rows: rows, steps: 16, compute: .f32)
            XCTAssertEqual(f32.format, .f32)
            XCTAssertEqual(bf16.format, .bf16Weights)
            let differ = zip(f32.logits, bf16.logits).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differ, 0, "rows \(rows): logits differing between fp32 and bf16 panels of the same weights")
        }
    }

    /// bf16 products (`--compute bf16`) on a CPU that has them: every logit within 2^-4 of the largest |logit| from
    /// the fp32 forward pass, and not equal to it (the products really are rounded). The bound is loose on purpose:
    /// each product's relative error is at most ~2^-7 of the sum of |x w| (BF16KernelTests), which two layers of
    /// norms and attention spread; what the RL gap is, the measurements in docs/PERFORMANCE.md say. Without
    /// AVX512_BF16, `--compute bf16` is fp32 and bit-identical to `--compute f32`.
    func testBF16ProductsStayNearFP32() {
        let c = Self.bf16Config
        let model = ModelFixtures.model(c)
        for rows in [1, 5, 20] {
            let f32 = bf16DecodeRun(model, rows: rows, steps: 12, compute: .f32)
            let bf16 = bf16DecodeRun(model, rows: rows, steps: 12, compute: .bf16)
            guard PackedGEMM.bf16Products != nil, PackedGEMM.active != nil else {
                print(
                    "no AVX512_BF16 here (\(CPUFeatures.host.shortDescription), SIMD path \(SIMDPath.active)): --compute bf16 runs fp32"
                )
                XCTAssertEqual(bf16.format, f32.format)
                XCTAssertEqual(
                    zip(f32.logits, bf16.logits).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                    "--compute bf16 without AVX512_BF16 must be fp32 unchanged")
                continue
            }
            XCTAssertEqual(bf16.format, .bf16Products)
            let scale = Double(bf16.reference.map { abs($0) }.max()!)
            let worst = zip(bf16.logits, bf16.reference).map { abs(Double($0) - Double($1)) }.max()!
            print(
                String(
                    format:
                        "bf16 products, %d rows: max |logit - fp32 forward| = %.3g (%.3g of the largest |logit| %.3g)",
                    rows, worst, worst / scale, scale))
            XCTAssertLessThanOrEqual(worst / scale, 1.0 / 16, "rows \(rows)")
            XCTAssertGreaterThan(worst, 0, "rows \(rows): bf16 products gave the fp32 logits exactly")
        }
    }
}
