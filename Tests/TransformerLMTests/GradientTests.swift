// Finite-difference checks of the training pass's backward: every parameter tensor and the supplied input
// vectors, on a batch of two sequences of different lengths with vector inputs and GQA. The loss is
// L = sum(logits * R) for a fixed random R, so dL/dlogits = R (the caller-injected logits gradient path).
import XCTest
import TensorMath
@testable import TransformerLM

final class GradientTests: XCTestCase {
    struct Setup {
        let model: LlamaModel
        var batch: [ModelInput]
        let weightR: [Float]
    }

    func makeSetup(tied: Bool) -> Setup {
        let c = ModelFixtures.microConfig(tied: tied)
        let model = ModelFixtures.model(c)
        var rng = Xoshiro256(seed: 3)
        let batch = [
            ModelFixtures.input(length: 6, vectorPositions: [1, 4], config: c, rng: &rng),
            ModelFixtures.input(length: 4, vectorPositions: [], config: c, rng: &rng)
        ]
        let n = batch.reduce(0) { $0 + $1.count }
        let r = (0..<(n * c.vocabSize)).map { _ in Float(rng.normal()) }
        return Setup(model: model, batch: batch, weightR: r)
    }

    func loss(_ s: Setup) -> Double {
        let pass = s.model.forward(s.batch)
        var l = 0.0
        for i in 0..<s.weightR.count { l += Double(pass.logits[i]) * Double(s.weightR[i]) }
        return l
    }

    func checkAllParameters(tied: Bool) {
        let s = makeSetup(tied: tied)
        let grads = s.model.makeGradients()
        let pass = s.model.forward(s.batch)
        s.weightR.withUnsafeBufferPointer { _ = pass.backward(dLogits: $0.baseAddress!, gradients: grads) }
        assertParameterGradientsMatchFiniteDifferences(s.model, grads, seed: 11, label: "grad") { loss(s) }
    }

    func testEveryParameterGradientMatchesFiniteDifferences() { checkAllParameters(tied: false) }
    func testTiedEmbeddingGradientMatchesFiniteDifferences() { checkAllParameters(tied: true) }

    func testInputVectorGradientsMatchFiniteDifferences() {
        var s = makeSetup(tied: false)
        let pass = s.model.forward(s.batch)
        let grads = s.model.makeGradients()
        let vg = s.weightR.withUnsafeBufferPointer { pass.backward(dLogits: $0.baseAddress!, gradients: grads) }
        XCTAssertEqual(vg[0].count, 2 * s.model.config.hiddenSize)
        XCTAssertEqual(vg[1].count, 0)
        let h: Float = 1e-2
        var maxErr = 0.0
        for j in 0..<s.batch[0].vectors.count {
            let saved = s.batch[0].vectors[j]
            s.batch[0].vectors[j] = saved + h
            let lp = loss(s)
            s.batch[0].vectors[j] = saved - h
            let lm = loss(s)
            s.batch[0].vectors[j] = saved
            let numeric = (lp - lm) / (2 * Double(h))
            maxErr = max(maxErr, abs(numeric - Double(vg[0][j])) / max(1, abs(numeric)))
        }
        print("input-vector gradient max rel.err \(maxErr)")
        XCTAssertLessThan(maxErr, 2e-3)
    }

    /// The training pass on the packed product (PackedGEMM.training, at more than SkinnyGEMM.maxRows rows: x W^T and
    /// dy W) against the same pass on OpenBLAS, on a batch of 27 rows with vector inputs: logits, every parameter
    /// gradient and the input-vector gradients. (The finite-difference checks above use fewer rows than that.)
    func testPackedTrainingProductsMatchOpenBLAS() {
        let c = ModelFixtures.microConfig()
        let model = ModelFixtures.model(c)
        var rng = Xoshiro256(seed: 21)
        let batch = [
            ModelFixtures.input(length: 9, vectorPositions: [2, 7], config: c, rng: &rng),
            ModelFixtures.input(length: 11, vectorPositions: [], config: c, rng: &rng),
            ModelFixtures.input(length: 7, vectorPositions: [0], config: c, rng: &rng)
        ]
        let n = batch.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(n, SkinnyGEMM.maxRows)
        let r = (0..<(n * c.vocabSize)).map { _ in Float(rng.normal()) }
        // The packed path runs only with one BLAS thread (with more, OpenBLAS's threaded sgemm is used).
        let saved = PackedGEMM.training, savedThreads = BLASThreads.current
        BLASThreads.set(1)
        defer { PackedGEMM.training = saved; BLASThreads.set(savedThreads) }
        func run(_ kernel: PackedGEMM.Kernel?) -> (logits: [Float], grads: [Float], vectors: [[Float]]) {
            PackedGEMM.training = kernel
            let pass = model.forward(batch)
            let grads = model.makeGradients()
            let vg = r.withUnsafeBufferPointer { pass.backward(dLogits: $0.baseAddress!, gradients: grads) }
            return (
                Array(UnsafeBufferPointer(start: pass.logits.pointer, count: n * c.vocabSize)),
                Array(UnsafeBufferPointer(start: grads.pointer, count: grads.count)), vg
            )
        }
        let reference = run(nil)
        var tested = 0
        for path in SIMDPath.supported {
            guard let kernel = PackedGEMM.kernel(for: path) else { continue }
            tested += 1
            let got = run(kernel)
            func worst(_ a: [Float], _ b: [Float]) -> Float {
                let scale = max(b.map { abs($0) }.max() ?? 1, 1e-30)
                return zip(a, b).map { $0.isNaN ? .infinity : abs($0 - $1) / scale }.max() ?? 0
            }
            XCTAssertLessThan(worst(got.logits, reference.logits), 1e-5, "\(path) logits")
            XCTAssertLessThan(worst(got.grads, reference.grads), 1e-5, "\(path) parameter gradients")
            XCTAssertLessThan(
                worst(got.vectors.flatMap { $0 }, reference.vectors.flatMap { $0 }), 1e-5,
                "\(path) input-vector gradients")
        }
        if tested == 0 { print("no packed-product variant on this CPU: nothing to compare") }
    }

    func testBackwardAccumulatesIntoGradients() {
        // Two backward calls into one buffer give twice one call: optimisers rely on accumulation over micro-batches.
        let s = makeSetup(tied: false)
        let once = s.model.makeGradients(), twice = s.model.makeGradients()
        s.weightR.withUnsafeBufferPointer { r in
            s.model.forward(s.batch).backward(dLogits: r.baseAddress!, gradients: once)
            let p = s.model.forward(s.batch)
            p.backward(dLogits: r.baseAddress!, gradients: twice)
            p.backward(dLogits: r.baseAddress!, gradients: twice)
        }
        for i in 0..<once.count { XCTAssertEqual(twice[i], 2 * once[i], accuracy: 1e-4 * max(1, abs(once[i]))) }
    }
}
