// Each step density against a slow formula written like the math (direct products and Gamma functions, not
// the log-space code paths), and the digamma function against known values.
import XCTest
import Foundation
@testable import SoftTokens

final class DensityTests: XCTestCase {
    let logits: [Float] = [0.3, -0.2, 1.1, 0.4, -0.9]
    let E: [Float] = (0..<15).map { Float(sin(Double($0) * 1.3)) }   // (5, 3)

    func probs(_ T: Double) -> [Double] {
        let e = logits.map { exp(Double($0) / T) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func eval(_ step: ThinkingStep, _ c: SamplerConfig, sigma: Double = 0.2) -> Double {
        logits.withUnsafeBufferPointer { l in E.withUnsafeBufferPointer { e in
            StepDensity.evaluate(step: step, logits: l.baseAddress!, config: c, sigma: sigma, embeddings: e.baseAddress!, vocab: 5, dim: 3)
        } }
    }

    func testGaussianDensityIsSquaredDistanceToMixture() {
        let c = SamplerConfig(mode: .soft)
        let p = probs(0.5)
        let mu = (0..<3).map { j in (0..<5).reduce(0.0) { $0 + p[$1] * Double(E[$1 * 3 + j]) } }
        let x: [Float] = [0.1, -0.3, 0.25]
        let expected = -(0..<3).reduce(0.0) { $0 + pow(Double(x[$1]) - mu[$1], 2) } / (2 * 0.04)
        XCTAssertEqual(eval(ThinkingStep(token: -1, vector: x, logProb: 0, shadow: 2), c), expected, accuracy: 1e-5)
    }

    func testConcreteDensityMatchesDirectFormula() {
        var c = SamplerConfig(mode: .gumbel); c.gumbelTemperature = 0.7
        let pi = probs(1), y: [Double] = [0.1, 0.05, 0.6, 0.2, 0.05], tau = 0.7, n = 5.0
        // (n-1)! tau^(n-1) prod_i (pi_i y_i^(-tau-1)) / (sum_i pi_i y_i^-tau)^n
        var prod = 1.0, s = 0.0
        for i in 0..<5 { prod *= pi[i] * pow(y[i], -tau - 1); s += pi[i] * pow(y[i], -tau) }
        let expected = log(24 * pow(tau, n - 1) * prod / pow(s, n))
        let step = ThinkingStep(token: -1, vector: [], logProb: 0, shadow: 2, support: [0, 1, 2, 3, 4], logWeights: y.map { Float(log($0)) })
        XCTAssertEqual(eval(step, c), expected, accuracy: 1e-4)
    }

    func testDirichletDensityMatchesDirectFormula() {
        var c = SamplerConfig(mode: .dirichlet); c.dirichletConcentration = 3
        let alpha = probs(1).map { 3 * $0 }, w: [Double] = [0.1, 0.05, 0.6, 0.2, 0.05]
        var dens = tgamma(alpha.reduce(0, +))
        for i in 0..<5 { dens *= pow(w[i], alpha[i] - 1) / tgamma(alpha[i]) }
        let step = ThinkingStep(token: -1, vector: [], logProb: 0, shadow: 2, support: [0, 1, 2, 3, 4], logWeights: w.map { Float(log($0)) })
        XCTAssertEqual(eval(step, c), log(dens), accuracy: 1e-4)
    }

    func testMultiTokenLogProbIsSumOfCategoricals() {
        let c = SamplerConfig(mode: .multi)
        let p = probs(1)
        let step = ThinkingStep(token: -1, vector: [], logProb: 0, shadow: 2, tokens: [2, 2, 0, 4])
        XCTAssertEqual(eval(step, c), 2 * log(p[2]) + log(p[0]) + log(p[4]), accuracy: 1e-9)
    }

    func testStepOutsideTruncatedSupportHasZeroProbability() {
        var c = SamplerConfig(mode: .hard); c.topK = 2
        XCTAssertEqual(eval(ThinkingStep(token: 4, logProb: 0, shadow: 2), c), -.infinity)
    }

    func testDigammaKnownValues() {
        XCTAssertEqual(digamma(1), -0.5772156649015329, accuracy: 1e-10)       // -Euler-Mascheroni
        XCTAssertEqual(digamma(0.5), -1.9635100260214235, accuracy: 1e-10)     // -gamma - 2 ln 2
        XCTAssertEqual(digamma(10), 2.251752589066721, accuracy: 1e-10)
        // psi(x+1) = psi(x) + 1/x
        XCTAssertEqual(digamma(0.003) + 1 / 0.003, digamma(1.003), accuracy: 1e-8)
    }
}
