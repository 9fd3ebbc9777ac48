// Each step density against a slow formula written like the math (direct products and Gamma functions, not
// the log-space code paths), and the digamma function against known values.
import XCTest
import Foundation
@testable import SoftTokens

final class DensityTests: XCTestCase {
    let logits: [Float] = [0.3, -0.2, 1.1, 0.4, -0.9]
    let E: [Float] = (0..<15).map { Float(sin(Double($0) * 1.3)) } // (5, 3)

    func probs(_ T: Double) -> [Double] {
        let e = logits.map { exp(Double($0) / T) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func eval(_ step: ThinkingStep, _ c: SamplerConfig, sigma: Double = 0.2) -> Double {
        logits.withUnsafeBufferPointer { l in
            E.withUnsafeBufferPointer { e in
                StepDensity.evaluate(
                    step: step, logits: l.baseAddress!, config: c, sigma: sigma, embeddings: e.baseAddress!, vocab: 5,
                    dim: 3)
            }
        }
    }

    func testGaussianDensityIsSquaredDistanceToMixture() {
        let c = SamplerConfig(mode: .soft)
        let p = probs(0.5)
        let mu = (0..<3).map { j in (0..<5).reduce(0.0) { $0 + p[$1] * Double(E[$1 * 3 + j]) } }
        let x: [Float] = [0.1, -0.3, 0.25]
        let expected = -(0..<3).reduce(0.0) { $0 + pow(Double(x[$1]) - mu[$1], 2) } / (2 * 0.04)
        XCTAssertEqual(eval(ThinkingStep(token: -1, vector: x, logProb: 0, shadow: 2), c), expected, accuracy: 1e-5)
    }

    /// The actor's batched mixtures (whole-vocabulary distributions in one pass, truncated ones alone) are the
    /// learner's per-step mixtures bit for bit, and the density from a precomputed distribution and mixture is the
    /// density from the logits.
    func testBatchedMixturesAreEachStepsOwnMixture() {
        let shifted: [[Float]] = [logits, logits.map { $0 * 2 }, logits.reversed(), logits.map { -$0 }]
        var dists: [StepDistribution] = []
        for (i, l) in shifted.enumerated() {
            dists.append(
                l.withUnsafeBufferPointer {
                    StepDistribution(
                        logits: $0.baseAddress!, vocab: 5, temperature: 0.7,
                        topK: i == 2 ? 3 : nil)
                })
        }
        XCTAssertEqual(dists.map(\.support.count), [5, 5, 3, 5])
        let batched = E.withUnsafeBufferPointer {
            StepDistribution.mixtures(dists, embeddings: $0.baseAddress!, dim: 3)
        }
        for (d, mu) in zip(dists, batched) {
            let own = E.withUnsafeBufferPointer { d.mixture(embeddings: $0.baseAddress!, dim: 3) }
            XCTAssertEqual(mu.map(\.bitPattern), own.map(\.bitPattern))
            let ref = (0..<3).map { j in
                d.support.indices.reduce(0.0) { $0 + d.probs[$1] * Double(E[Int(d.support[$1]) * 3 + j]) }
            }
            for j in 0..<3 { XCTAssertEqual(Double(mu[j]), ref[j], accuracy: 1e-6) }
        }
        var c = SamplerConfig(mode: .soft); c.softTemperature = 0.7
        let step = ThinkingStep(token: -1, vector: [0.1, -0.3, 0.25], logProb: 0, shadow: 2)
        let fromLogits = shifted[0].withUnsafeBufferPointer { l in
            E.withUnsafeBufferPointer { e in
                StepDensity.evaluate(
                    step: step, logits: l.baseAddress!, config: c, sigma: 0.2, embeddings: e.baseAddress!, vocab: 5,
                    dim: 3)
            }
        }
        let fromParts = E.withUnsafeBufferPointer {
            StepDensity.evaluate(
                step: step, dist: dists[0], mixture: batched[0], config: c, sigma: 0.2, embeddings: $0.baseAddress!,
                dim: 3)
        }
        XCTAssertEqual(fromParts, fromLogits)
    }

    func testConcreteDensityMatchesDirectFormula() {
        var c = SamplerConfig(mode: .gumbel); c.gumbelTemperature = 0.7
        let pi = probs(1), y: [Double] = [0.1, 0.05, 0.6, 0.2, 0.05], tau = 0.7, n = 5.0
        // (n-1)! tau^(n-1) prod_i (pi_i y_i^(-tau-1)) / (sum_i pi_i y_i^-tau)^n
        var prod = 1.0, s = 0.0
        for i in 0..<5 { prod *= pi[i] * pow(y[i], -tau - 1); s += pi[i] * pow(y[i], -tau) }
        let expected = log(24 * pow(tau, n - 1) * prod / pow(s, n))
        let step = ThinkingStep(
            token: -1, vector: [], logProb: 0, shadow: 2, support: [0, 1, 2, 3, 4], logWeights: y.map { Float(log($0)) }
        )
        XCTAssertEqual(eval(step, c), expected, accuracy: 1e-4)
    }

    func testDirichletDensityMatchesDirectFormula() {
        var c = SamplerConfig(mode: .dirichlet); c.dirichletConcentration = 3
        let alpha = probs(1).map { 3 * $0 }, w: [Double] = [0.1, 0.05, 0.6, 0.2, 0.05]
        var dens = tgamma(alpha.reduce(0, +))
        for i in 0..<5 { dens *= pow(w[i], alpha[i] - 1) / tgamma(alpha[i]) }
        let step = ThinkingStep(
            token: -1, vector: [], logProb: 0, shadow: 2, support: [0, 1, 2, 3, 4], logWeights: w.map { Float(log($0)) }
        )
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
        XCTAssertEqual(digamma(1), -0.5772156649015329, accuracy: 1e-10) // -Euler-Mascheroni
        XCTAssertEqual(digamma(0.5), -1.9635100260214235, accuracy: 1e-10) // -gamma - 2 ln 2
        XCTAssertEqual(digamma(10), 2.251752589066721, accuracy: 1e-10)
        // psi(x+1) = psi(x) + 1/x
        XCTAssertEqual(digamma(0.003) + 1 / 0.003, digamma(1.003), accuracy: 1e-8)
    }
}
