// The gradient noise scale from a Gram matrix, against a slow reference written from the vectors themselves (mean
// of pairwise products, sample covariance, leave-one-out recomputed from scratch), and for unbiasedness on samples
// drawn with a known mean and covariance.

import XCTest
import PolicyGradient
import TensorMath

final class GradientNoiseScaleTests: XCTestCase {
    private func gaussian(_ rng: inout Xoshiro256) -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng), u2 = Double.random(in: 0..<1, using: &rng)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    private func gram(_ g: [[Double]]) -> [Double] {
        g.flatMap { a in g.map { b in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } } }
    }

    /// |G|^2 as the mean over pairs i != j of g_i . g_j; tr(Sigma) as sum_i |g_i - mean|^2 / (K - 1).
    private func reference(_ g: [[Double]]) -> (signal: Double, noise: Double) {
        let k = g.count, d = g[0].count
        var pairs = 0.0
        for i in 0..<k { for j in 0..<k where j != i { pairs += zip(g[i], g[j]).reduce(0) { $0 + $1.0 * $1.1 } } }
        var mean = [Double](repeating: 0, count: d)
        for v in g { for t in 0..<d { mean[t] += v[t] / Double(k) } }
        var ss = 0.0
        for v in g { for t in 0..<d { ss += (v[t] - mean[t]) * (v[t] - mean[t]) } }
        return (pairs / Double(k * (k - 1)), ss / Double(k - 1))
    }

    func testEstimatesAndJackknifeMatchTheVectorReference() {
        var rng = Xoshiro256(seed: 7)
        let k = 9, d = 40
        let g = (0..<k).map { _ in (0..<d).map { t in 0.8 * Double(t % 3) + gaussian(&rng) } }
        let est = GradientNoiseScale(gram: gram(g), samples: k)
        let ref = reference(g)
        XCTAssertEqual(est.signal, ref.signal, accuracy: 1e-9 * abs(ref.signal))
        XCTAssertEqual(est.noise, ref.noise, accuracy: 1e-9 * ref.noise)
        XCTAssertEqual(est.batchScale, ref.noise / ref.signal, accuracy: 1e-9 * ref.noise / ref.signal)

        // Jackknife: each estimate recomputed from the vectors without sample i.
        let leaveOut = (0..<k).map { i in reference(g.enumerated().filter { $0.offset != i }.map(\.element)) }
        func se(_ v: [Double]) -> Double {
            let m = v.reduce(0, +) / Double(k)
            return (Double(k - 1) / Double(k) * v.reduce(0) { $0 + ($1 - m) * ($1 - m) }).squareRoot()
        }
        XCTAssertEqual(est.signalSE, se(leaveOut.map(\.signal)), accuracy: 1e-9 * est.signalSE)
        XCTAssertEqual(est.noiseSE, se(leaveOut.map(\.noise)), accuracy: 1e-9 * est.noiseSE)
        XCTAssertEqual(
            est.batchScaleSE, se(leaveOut.map { $0.noise / $0.signal }), accuracy: 1e-9 * est.batchScaleSE)
        XCTAssertEqual(est.signalShare(batch: 4), ref.signal / (ref.signal + ref.noise / 4), accuracy: 1e-12)
    }

    /// Samples dealt into blocks (i mod J): the same estimates as one block per sample, and the delete-a-group
    /// jackknife recomputed from the vectors without each block's samples.
    func testBlockSumsMatchTheVectorReference() {
        var rng = Xoshiro256(seed: 3)
        let k = 11, j = 4, d = 30
        let g = (0..<k).map { _ in (0..<d).map { t in Double(t % 2) + 1.5 * gaussian(&rng) } }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: d), count: j)
        var counts = [Int](repeating: 0, count: j), squares = [Double](repeating: 0, count: j)
        for (i, v) in g.enumerated() {
            for t in 0..<d { sums[i % j][t] += v[t] }
            counts[i % j] += 1
            squares[i % j] += v.reduce(0) { $0 + $1 * $1 }
        }
        let est = GradientNoiseScale(gram: gram(sums), counts: counts, squares: squares)
        let ref = reference(g)
        XCTAssertEqual(est.samples, k)
        XCTAssertEqual(est.signal, ref.signal, accuracy: 1e-9 * abs(ref.signal))
        XCTAssertEqual(est.noise, ref.noise, accuracy: 1e-9 * ref.noise)
        let leaveOut = (0..<j).map { b in reference(g.enumerated().filter { $0.offset % j != b }.map(\.element)) }
        func se(_ v: [Double]) -> Double {
            let m = v.reduce(0, +) / Double(j)
            return (Double(j - 1) / Double(j) * v.reduce(0) { $0 + ($1 - m) * ($1 - m) }).squareRoot()
        }
        XCTAssertEqual(est.signalSE, se(leaveOut.map(\.signal)), accuracy: 1e-9 * est.signalSE)
        XCTAssertEqual(est.noiseSE, se(leaveOut.map(\.noise)), accuracy: 1e-9 * est.noiseSE)
    }

    /// Samples g = m + s z with |m|^2 = 25 and tr(Sigma) = d s^2 = 100 (B_simple = 4): the estimates average to the
    /// truth over many draws, and the jackknife's standard error matches the spread of the estimates.
    func testUnbiasedOnKnownMeanAndCovariance() {
        var rng = Xoshiro256(seed: 11)
        let k = 12, d = 25, s = 2.0, trials = 400
        let mean = [Double](repeating: 1, count: d) // |m|^2 = 25
        var signals: [Double] = [], noises: [Double] = [], signalSEs: [Double] = []
        for _ in 0..<trials {
            let g = (0..<k).map { _ in mean.map { $0 + s * gaussian(&rng) } }
            let est = GradientNoiseScale(gram: gram(g), samples: k)
            signals.append(est.signal); noises.append(est.noise); signalSEs.append(est.signalSE)
        }
        func meanAndSE(_ v: [Double]) -> (Double, Double, Double) {
            let m = v.reduce(0, +) / Double(v.count)
            let sd = (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
            return (m, sd / Double(v.count).squareRoot(), sd)
        }
        let (sm, sse, ssd) = meanAndSE(signals), (nm, nse, _) = meanAndSE(noises)
        XCTAssertLessThan(abs(sm - 25), 4 * sse, "signal mean \(sm) ± \(sse), truth 25")
        XCTAssertLessThan(abs(nm - 100), 4 * nse, "noise mean \(nm) ± \(nse), truth 100")
        let typicalSE = signalSEs.reduce(0, +) / Double(trials)
        XCTAssertGreaterThan(typicalSE / ssd, 0.7, "jackknife SE \(typicalSE) vs spread \(ssd)")
        XCTAssertLessThan(typicalSE / ssd, 1.4, "jackknife SE \(typicalSE) vs spread \(ssd)")
    }

    func testNoSignalGivesAnInfiniteScale() {
        // Pure noise with a mean of zero and an unlucky draw: the signal estimate is not positive.
        let g: [[Double]] = [[1, 0], [-1, 0], [0, 1], [0, -1]]
        let est = GradientNoiseScale(gram: gram(g), samples: 4)
        XCTAssertLessThanOrEqual(est.signal, 0)
        XCTAssertEqual(est.batchScale, .infinity)
        XCTAssertEqual(est.signalShare(batch: 32), 0)
    }
}
