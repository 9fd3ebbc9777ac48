// Shared prefixes in the training pass (Prefix Grouper, arXiv 2506.05433): two groups of sequences whose prompts
// run once give, for every sequence and position, the logits of the unshared pass over the whole sequences, and the
// same parameter and input-vector gradients for the same logits gradient (the prompt's gradient is the sum over
// its continuations); and the gradients through the shared path match finite differences of its own loss.
import XCTest
import TensorMath
@testable import TransformerLM

final class SharedPrefixTests: XCTestCase {
    struct Case {
        let model: LlamaModel
        let prefixes: [ModelInput]
        var continuations: [(prefix: Int, input: ModelInput)]
        /// Per sequence and position (of the whole sequence), V weights of the loss sum(logits * R).
        let weightR: [[Float]]
        var whole: [ModelInput] {
            continuations.map {
                ModelInput(tokens: prefixes[$0.prefix].tokens + $0.input.tokens, vectors: $0.input.vectors)
            }
        }
    }

    func makeCase(tied: Bool = false) -> Case {
        let c = ModelFixtures.microConfig(tied: tied)
        let model = ModelFixtures.model(c)
        var rng = Xoshiro256(seed: 5)
        let prefixes = [
            ModelFixtures.input(length: 5, vectorPositions: [], config: c, rng: &rng),
            ModelFixtures.input(length: 3, vectorPositions: [], config: c, rng: &rng)
        ]
        let continuations: [(prefix: Int, input: ModelInput)] = [
            (0, ModelFixtures.input(length: 4, vectorPositions: [0, 2], config: c, rng: &rng)),
            (0, ModelFixtures.input(length: 2, vectorPositions: [], config: c, rng: &rng)),
            (1, ModelFixtures.input(length: 5, vectorPositions: [1], config: c, rng: &rng)),
            (0, ModelFixtures.input(length: 1, vectorPositions: [0], config: c, rng: &rng)),
            (1, ModelFixtures.input(length: 3, vectorPositions: [], config: c, rng: &rng))
        ]
        let lengths = continuations.map { prefixes[$0.prefix].count + $0.input.count }
        let r = lengths.map { n in (0..<(n * c.vocabSize)).map { _ in Float(rng.normal()) } }
        return Case(model: model, prefixes: prefixes, continuations: continuations, weightR: r)
    }

    /// The logits gradient of sum(logits * R) laid out in `pass`'s rows: a shared prefix row sums its sequences'.
    func dLogits(_ s: Case, _ pass: TrainingPass) -> [Float] {
        let V = s.model.config.vocabSize
        var out = [Float](repeating: 0, count: pass.totalRows * V)
        for (i, r) in s.weightR.enumerated() {
            for p in 0..<(r.count / V) {
                let row = pass.row(sequence: i, position: p)
                for j in 0..<V { out[row * V + j] += r[p * V + j] }
            }
        }
        return out
    }

    func sharedLoss(_ s: Case) -> Double {
        let pass = s.model.forward(prefixes: s.prefixes, continuations: s.continuations)
        let V = s.model.config.vocabSize
        var l = 0.0
        for (i, r) in s.weightR.enumerated() {
            for p in 0..<(r.count / V) {
                let logits = pass.logits(sequence: i, position: p)
                for j in 0..<V { l += Double(logits[j]) * Double(r[p * V + j]) }
            }
        }
        return l
    }

    func testSharedPassEqualsUnsharedLogitsAndGradients() {
        for tied in [false, true] {
            let s = makeCase(tied: tied)
            let V = s.model.config.vocabSize
            let shared = s.model.forward(prefixes: s.prefixes, continuations: s.continuations)
            let whole = s.model.forward(s.whole)
            XCTAssertEqual(
                shared.totalRows, 8 + s.continuations.reduce(0) { $0 + $1.input.count }, "each prefix packed once")
            var maxLogit = 0.0, maxLogitDiff = 0.0
            for i in s.continuations.indices {
                for p in 0..<s.whole[i].count {
                    let a = shared.logits(sequence: i, position: p), b = whole.logits(sequence: i, position: p)
                    for j in 0..<V {
                        maxLogitDiff = max(maxLogitDiff, Double(abs(a[j] - b[j])));
                        maxLogit = max(maxLogit, Double(abs(b[j])))
                    }
                }
            }
            let gShared = s.model.makeGradients(), gWhole = s.model.makeGradients()
            let vShared = dLogits(s, shared).withUnsafeBufferPointer {
                shared.backward(dLogits: $0.baseAddress!, gradients: gShared)
            }
            let vWhole = dLogits(s, whole).withUnsafeBufferPointer {
                whole.backward(dLogits: $0.baseAddress!, gradients: gWhole)
            }
            var maxGrad = 0.0, maxGradDiff = 0.0
            for i in 0..<gWhole.count {
                maxGrad = max(maxGrad, Double(abs(gWhole[i])));
                maxGradDiff = max(maxGradDiff, Double(abs(gShared[i] - gWhole[i])))
            }
            var maxVecDiff = 0.0
            for i in s.continuations.indices {
                XCTAssertEqual(vShared[i].count, vWhole[i].count)
                for (a, b) in zip(vShared[i], vWhole[i]) { maxVecDiff = max(maxVecDiff, Double(abs(a - b))) }
            }
            print(
                "shared prefix (tied \(tied)): logits max diff \(maxLogitDiff) (max |logit| \(maxLogit)), gradient max diff \(maxGradDiff) (max |g| \(maxGrad)), input-vector gradient max diff \(maxVecDiff)"
            )
            // The same sums in float32 in another order: relative 1e-5 of the largest entry.
            XCTAssertLessThan(maxLogitDiff, 1e-5 * max(1, maxLogit))
            XCTAssertLessThan(maxGradDiff, 1e-5 * max(1, maxGrad))
            XCTAssertLessThan(maxVecDiff, 1e-5 * max(1, maxGrad))
        }
    }

    func testSharedPathGradientsMatchFiniteDifferences() {
        let s = makeCase()
        let pass = s.model.forward(prefixes: s.prefixes, continuations: s.continuations)
        let grads = s.model.makeGradients()
        _ = dLogits(s, pass).withUnsafeBufferPointer { pass.backward(dLogits: $0.baseAddress!, gradients: grads) }
        assertParameterGradientsMatchFiniteDifferences(s.model, grads, seed: 13, label: "shared-prefix grad") {
            sharedLoss(s)
        }
    }
}
