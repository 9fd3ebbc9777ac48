// Tests for AdamW (against a slow Double reference written like Loshchilov & Hutter Alg. 2), the
// learning-rate schedule's endpoints, global-norm clipping and the finite check.

import XCTest
import PolicyGradient
import TensorMath

final class OptimiserTests: XCTestCase {
    // MARK: AdamW

    /// Slow reference: one parameter at a time, in Double, straight from the algorithm.
    private struct AdamWReference {
        var theta: [Double], m: [Double], v: [Double], t = 0
        let beta1: Double, beta2: Double, eps: Double, lambda: Double
        mutating func step(g: [Double], lr: Double, decays: (Int) -> Bool) {
            t += 1
            for i in theta.indices {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(beta1, Double(t)))
                let vHat = v[i] / (1 - pow(beta2, Double(t)))
                let decayTerm = decays(i) ? lambda * theta[i] : 0
                theta[i] = theta[i] - lr * (mHat / (vHat.squareRoot() + eps) + decayTerm)
            }
        }
    }

    private func runAgainstReference(weightDecay: Double, decayMask: ((Int) -> Bool)?) {
        var rng = SplitMix64(seed: 42)
        let n = 37
        let config = AdamWConfig(lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: weightDecay)
        var params = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        var ref = AdamWReference(
            theta: params.map(Double.init), m: .init(repeating: 0, count: n), v: .init(repeating: 0, count: n),
            beta1: 0.9, beta2: 0.95, eps: 1e-8, lambda: weightDecay)
        let opt = AdamW(parameterCount: n, config: config)
        for s in 0..<8 {
            let grads = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
            let lr = 1e-2 * Double(s + 1) / 8 // changing rate: the decay must use the current one
            params.withUnsafeMutableBufferPointer { p in
                grads.withUnsafeBufferPointer { g in
                    opt.update(parameters: p, gradients: g, learningRate: Float(lr), decayMask: decayMask)
                }
            }
            ref.step(g: grads.map(Double.init), lr: lr, decays: decayMask ?? { _ in true })
        }
        XCTAssertEqual(opt.step, 8)
        for i in 0..<n {
            XCTAssertEqual(Double(params[i]), ref.theta[i], accuracy: 1e-5, "param \(i)")
            XCTAssertEqual(Double(opt.m[i]), ref.m[i], accuracy: 1e-5)
            XCTAssertEqual(Double(opt.v[i]), ref.v[i], accuracy: 1e-5)
        }
    }

    func testAdamWMatchesSlowReferenceWithoutDecay() { runAgainstReference(weightDecay: 0, decayMask: nil) }
    func testAdamWMatchesSlowReferenceWithDecay() { runAgainstReference(weightDecay: 0.1, decayMask: nil) }
    func testAdamWMatchesSlowReferenceWithDecayMask() {
        runAgainstReference(weightDecay: 0.1, decayMask: { $0 % 3 != 0 })
    }

    func testFirstStepMovesEachParameterByLearningRateTimesSign() {
        // Bias correction at t = 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g), whatever |g| is.
        var params: [Float] = [0, 0, 0, 0]
        let grads: [Float] = [1e-3, -5, 100, -0.25]
        let opt = AdamW(parameterCount: 4, config: AdamWConfig(eps: 1e-12))
        params.withUnsafeMutableBufferPointer { p in
            grads.withUnsafeBufferPointer { opt.update(parameters: p, gradients: $0, learningRate: 0.01) }
        }
        for (p, g) in zip(params, grads) { XCTAssertEqual(p, g > 0 ? -0.01 : 0.01, accuracy: 1e-7) }
    }

    func testDecoupledDecayWithZeroGradientShrinksByLearningRateTimesLambda() {
        // g = 0 → m = v = 0 → only θ ← θ(1 − ηλ), and only where the mask allows it.
        var params: [Float] = [2, 2, -4]
        let zeros: [Float] = [0, 0, 0]
        let opt = AdamW(parameterCount: 3, config: AdamWConfig(weightDecay: 0.5))
        for _ in 0..<3 {
            params.withUnsafeMutableBufferPointer { p in
                zeros.withUnsafeBufferPointer {
                    opt.update(parameters: p, gradients: $0, learningRate: 0.1, decayMask: { $0 != 1 })
                }
            }
        }
        let f = Float(pow(1 - 0.1 * 0.5, 3.0))
        XCTAssertEqual(params[0], 2 * f, accuracy: 1e-6)
        XCTAssertEqual(params[1], 2)
        XCTAssertEqual(params[2], -4 * f, accuracy: 1e-6)
    }

    func testSaveAndRestoreStateContinuesIdentically() throws {
        var rng = SplitMix64(seed: 9)
        let n = 16
        let gradSeq = (0..<5).map { _ in (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }
        let config = AdamWConfig(weightDecay: 0.01)
        func apply(_ opt: AdamW, _ params: inout [Float], _ steps: Range<Int>) {
            for s in steps {
                params.withUnsafeMutableBufferPointer { p in
                    gradSeq[s].withUnsafeBufferPointer { opt.update(parameters: p, gradients: $0, learningRate: 1e-2) }
                }
            }
        }
        var a = [Float](repeating: 0.5, count: n)
        let optA = AdamW(parameterCount: n, config: config)
        apply(optA, &a, 0..<3)
        let saved = try JSONDecoder().decode(AdamWState.self, from: JSONEncoder().encode(optA.saveState()))
        var b = a
        apply(optA, &a, 3..<5)

        let optB = AdamW(parameterCount: n, config: config)
        optB.restoreState(saved)
        XCTAssertEqual(optB.step, 3)
        apply(optB, &b, 3..<5)
        XCTAssertEqual(a, b)
        XCTAssertEqual(optA.m, optB.m)
        XCTAssertEqual(optA.v, optB.v)
    }

    // MARK: schedule

    func testScheduleEndpoints() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1)
        XCTAssertEqual(s.rate(at: 0), 1e-4, accuracy: 1e-18) // small but non-zero
        XCTAssertEqual(s.rate(at: 9), 1e-3, accuracy: 1e-18) // last warm-up step reaches the peak
        XCTAssertEqual(s.rate(at: 10), 1e-3, accuracy: 1e-18) // decay starts at the peak
        XCTAssertEqual(s.rate(at: 60), 0.5 * (1e-3 + 1e-4), accuracy: 1e-15) // cosine midpoint
        XCTAssertEqual(s.rate(at: 110), 1e-4, accuracy: 1e-18)
        XCTAssertEqual(s.rate(at: 1000), 1e-4, accuracy: 1e-18)
        for k in 0..<120 { XCTAssertGreaterThan(s.rate(at: k), 0) }
        for k in 0..<9 { XCTAssertLessThan(s.rate(at: k), s.rate(at: k + 1)) }
        for k in 10..<110 { XCTAssertGreaterThan(s.rate(at: k), s.rate(at: k + 1)) }
    }

    func testScheduleWithoutWarmupStartsAtPeak() {
        let s = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 4, minRatio: 0)
        XCTAssertEqual(s.rate(at: 0), 2)
        XCTAssertEqual(s.rate(at: 2), 1, accuracy: 1e-15)
        XCTAssertEqual(s.rate(at: 4), 0)
    }

    // MARK: clipping and finiteness

    func testGlobalNormMatchesSlowReference() {
        var rng = SplitMix64(seed: 5)
        for n in [0, 1, 7, 8, 9, 1001] {
            let g = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
            var sumSquares = 0.0
            for x in g { sumSquares += Double(x) * Double(x) }
            g.withUnsafeBufferPointer {
                XCTAssertEqual(globalNorm($0), sumSquares.squareRoot(), accuracy: 1e-12 * max(1, sumSquares))
            }
        }
        let pythagoras: [Float] = [3, 4]
        pythagoras.withUnsafeBufferPointer { XCTAssertEqual(globalNorm($0), 5) }
    }

    func testClippingScalesToMaxNorm() {
        var rng = SplitMix64(seed: 6)
        var g = (0..<1003).map { _ in Float.random(in: -1...1, using: &rng) }
        let original = g
        let before = g.withUnsafeBufferPointer { globalNorm($0) }
        let result = g.withUnsafeMutableBufferPointer { clipGradients($0, maxNorm: 1.5) }
        XCTAssertEqual(result.normBefore, before)
        XCTAssertEqual(result.scale, 1.5 / before, accuracy: 1e-15)
        XCTAssertEqual(g.withUnsafeBufferPointer { globalNorm($0) }, 1.5, accuracy: 1e-5)
        for (x, y) in zip(g, original) { XCTAssertEqual(Double(x), Double(y) * result.scale, accuracy: 1e-6) } // direction kept
    }

    func testClippingLeavesSmallGradientsUntouched() {
        var g: [Float] = [0.3, -0.4]
        let result = g.withUnsafeMutableBufferPointer { clipGradients($0, maxNorm: 1) }
        XCTAssertEqual(result.scale, 1)
        XCTAssertEqual(result.normBefore, 0.5, accuracy: 1e-7)
        XCTAssertEqual(g, [0.3, -0.4])
    }

    func testClippingLeavesNonFiniteGradientsUntouched() {
        var g: [Float] = [1e3, .nan, 2]
        let result = g.withUnsafeMutableBufferPointer { clipGradients($0, maxNorm: 1) }
        XCTAssertTrue(result.normBefore.isNaN)
        XCTAssertEqual(result.scale, 1)
        XCTAssertEqual(g[0], 1e3)
    }

    func testAllFiniteDetectsNaNAndInfinity() {
        for n in [1, 5, 4096, 4097, 10_000] {
            var g = [Float](repeating: 1, count: n)
            g[0] = .greatestFiniteMagnitude
            if n > 1 { g[1] = -.leastNonzeroMagnitude }
            XCTAssertTrue(g.withUnsafeBufferPointer(allFinite))
            for bad in [Float.nan, .infinity, -.infinity, -Float.nan] {
                for position in Set([0, n / 2, n - 1]) {
                    var h = g
                    h[position] = bad
                    XCTAssertFalse(h.withUnsafeBufferPointer(allFinite), "n \(n) value \(bad) at \(position)")
                }
            }
        }
        XCTAssertTrue([Float]().withUnsafeBufferPointer(allFinite))
    }
}
