// The gradient noise scale (McCandlish, Kaplan, Amodei et al., "An Empirical Model of Large-Batch Training",
// arXiv 1812.06162, sec. 2.2 and app. A): from K independent per-sample gradients g_1..g_K at the same weights,
// the true gradient's squared norm |G|^2 and the trace of the per-sample covariance tr(Sigma), and their ratio
//     B_simple = tr(Sigma) / |G|^2,
// the batch size at which a mean gradient is as much signal as noise: a batch of B samples has expected squared
// norm |G|^2 + tr(Sigma) / B, so the signal's share of it is |G|^2 / (|G|^2 + tr(Sigma) / B) = 1 / (1 + B_simple / B).
//
// Everything comes from sums. The K samples are dealt into J blocks (sample i into block i mod J, or one block per
// sample), and the caller keeps, per block b, the sum S_b of its gradients, their count n_b and the sum Q_b of their
// squared norms: J gradient-sized buffers however large K is. With S = sum_b S_b (|S|^2 = sum_bc S_b . S_c) and
// Q = sum_b Q_b, the unbiased estimators (E[g_i . g_j] = |G|^2 for i != j, E|g_i|^2 = |G|^2 + tr Sigma) are
//     |G|^2     = (|S|^2 - Q) / (K (K - 1))              the mean of the pairwise products g_i . g_j, i != j
//     tr(Sigma) = (Q - |S|^2 / K) / (K - 1)              the sample covariance's trace
// Standard errors by the delete-a-group jackknife (Efron & Stein 1981; one block per sample is the delete-one
// jackknife): each estimate recomputed without block b from the same sums, se^2 = (J - 1) / J * sum_b (est_(-b) - mean)^2.

public struct GradientNoiseScale: Sendable, Equatable, Codable {
    /// Samples (per-sample gradients) the estimate is from.
    public var samples: Int
    /// |G|^2, the squared norm of the expected gradient, and its standard error.
    public var signal: Double
    public var signalSE: Double
    /// tr(Sigma), the per-sample gradient's total variance, and its standard error.
    public var noise: Double
    public var noiseSE: Double
    /// B_simple = noise / signal in samples, and its jackknife standard error. Infinite when the signal estimate is
    /// not positive (no signal distinguishable from the noise at this K).
    public var batchScale: Double
    public var batchScaleSE: Double

    /// The estimate from J >= 3 blocks: `gram` the J x J products S_b . S_c of the blocks' gradient sums (row-major,
    /// symmetric), `counts` the samples n_b in each block, `squares` the sums Q_b of their squared norms.
    public init(gram m: [Double], counts: [Int], squares: [Double]) {
        let blocks = counts.count
        precondition(blocks >= 3, "the jackknife needs at least 3 blocks")
        precondition(m.count == blocks * blocks && squares.count == blocks, "one Gram row, count and square per block")
        let k = counts.reduce(0, +)
        precondition(k >= 3 && counts.allSatisfy { $0 >= 1 }, "every block needs a sample")
        var rowSums = [Double](repeating: 0, count: blocks)
        var total = 0.0
        for b in 0..<blocks {
            for c in 0..<blocks { rowSums[b] += m[b * blocks + c] }
            total += rowSums[b]
        }
        let trace = squares.reduce(0, +)
        func estimate(sumSquared s2: Double, squares q: Double, count n: Int) -> (signal: Double, noise: Double) {
            let n = Double(n)
            return ((s2 - q) / (n * (n - 1)), (q - s2 / n) / (n - 1))
        }
        func ratio(_ e: (signal: Double, noise: Double)) -> Double { e.signal > 0 ? e.noise / e.signal : .infinity }
        let full = estimate(sumSquared: total, squares: trace, count: k)
        // Without block b: |S - S_b|^2 = |S|^2 - 2 S.S_b + |S_b|^2, Q - Q_b.
        let leaveOut = (0..<blocks).map { b in
            estimate(
                sumSquared: total - 2 * rowSums[b] + m[b * blocks + b], squares: trace - squares[b],
                count: k - counts[b])
        }
        func jackknifeSE(_ values: [Double]) -> Double {
            guard values.allSatisfy(\.isFinite) else { return .infinity }
            let mean = values.reduce(0, +) / Double(values.count)
            let ss = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            return (Double(blocks - 1) / Double(blocks) * ss).squareRoot()
        }
        samples = k
        signal = full.signal
        noise = full.noise
        signalSE = jackknifeSE(leaveOut.map(\.signal))
        noiseSE = jackknifeSE(leaveOut.map(\.noise))
        batchScale = ratio(full)
        batchScaleSE = batchScale.isFinite ? jackknifeSE(leaveOut.map(ratio)) : .infinity
    }

    /// The signal's expected share of the squared norm of a mean gradient over `batch` samples.
    public func signalShare(batch: Double) -> Double {
        guard signal > 0 else { return 0 }
        return signal / (signal + noise / batch)
    }
}

extension GradientNoiseScale {
    /// One block per sample: the K x K Gram matrix of the samples themselves (delete-one jackknife).
    public init(gram m: [Double], samples k: Int) {
        self.init(gram: m, counts: [Int](repeating: 1, count: k), squares: (0..<k).map { m[$0 * k + $0] })
    }
}
