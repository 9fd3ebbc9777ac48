// One check, used by the gradient tests of the plain and the shared-prefix training pass: for every parameter
// tensor, the directional derivative along a random unit direction within it by central differences against the
// analytic gradient's projection on that direction.
import XCTest
import SoftRLTestSupport
import TensorMath
@testable import TransformerLM

/// Asserts `grads` (the analytic gradient of `loss` at the model's weights) against central differences of `loss`
/// with step `h`, tensor by tensor, within a relative error of `tolerance`; prints each pair under `label`.
func assertParameterGradientsMatchFiniteDifferences(
    _ model: LlamaModel, _ grads: FloatBuffer, seed: UInt64, label: String, h: Float = 1e-2, tolerance: Double = 2e-3,
    file: StaticString = #filePath, line: UInt = #line, loss: () -> Double
) {
    var rng = Xoshiro256(seed: seed)
    for e in model.layout.entries {
        let dir = (0..<e.count).map { _ in Float(rng.normal()) }
        let norm = Float(dir.reduce(0) { $0 + Double($1 * $1) }.squareRoot())
        let u = dir.map { $0 / norm }
        let numeric = centralDifference(at: model.weights.pointer + e.offset, along: u, h: h, loss: loss)
        var analytic = 0.0
        for i in 0..<e.count { analytic += Double(grads[e.offset + i]) * Double(u[i]) }
        let err = abs(numeric - analytic) / max(1, abs(numeric))
        print("\(label) \(e.name): analytic \(analytic) numeric \(numeric) rel.err \(err)")
        XCTAssertLessThan(err, tolerance, "\(label) of \(e.name)", file: file, line: line)
    }
}
