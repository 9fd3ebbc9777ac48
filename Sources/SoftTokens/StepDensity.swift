// The probability of one chain-of-thought step under the policy, and its gradient, for every sampler. Used by
// both sides: the actor records log pi(step) while sampling, the learner recomputes it from the recorded step
// with gradients (method notes sec. 2). One implementation, so the two cannot drift apart.
//
// Given the logits l at the previous position and temperature T, p = softmax(l / T) restricted to the support S
// (top-k / top-p / min-p, renormalised; all tokens when no truncation). Gradients w.r.t. l follow from
// dp_j/dl_k = p_j (delta_jk - p_k) / T on S; the mixture mean mu = p^T E also sends a gradient into E.
import Foundation
import TensorMath

/// The tempered, truncated distribution at one position.
public struct StepDistribution {
    /// Token ids kept (all of the vocabulary when not truncated), in id order.
    public let support: [Int32]
    /// p over `support`, renormalised, in Double.
    public let probs: [Double]
    public let temperature: Double
    public let argmax: Int32

    public init(
        logits: UnsafePointer<Float>, vocab: Int, temperature: Double,
        topK: Int? = nil, topP: Double? = nil, minP: Double? = nil
    ) {
        self.temperature = temperature
        argmax = Int32(TensorMath.argmax(logits, count: vocab))
        var full = [Double](repeating: 0, count: vocab)
        full.withUnsafeMutableBufferPointer {
            softmaxDouble(logits, count: vocab, temperature: temperature, into: $0.baseAddress!)
        }
        guard topK != nil || topP != nil || minP != nil else {
            support = (0..<vocab).map { Int32($0) }
            probs = full
            return
        }
        let order = Self.truncationOrder(full, topK: topK, minP: minP)
        var keep = [Bool](repeating: false, count: vocab)
        let pMax = full[order[0]]
        var cumulative = 0.0
        for (rank, i) in order.enumerated() {
            if let k = topK, rank >= k { break }
            if let mp = minP, full[i] < mp * pMax, rank > 0 { break }
            keep[i] = true
            cumulative += full[i]
            if let tp = topP, cumulative >= tp { break }
        }
        var s: [Int32] = [], p: [Double] = []
        var kept = 0.0
        for i in 0..<vocab where keep[i] { s.append(Int32(i)); p.append(full[i]); kept += full[i] }
        support = s
        probs = p.map { $0 / kept }
    }

    /// A thinking step's distribution under a sampler's settings (its mode's temperature and truncation): the one
    /// definition the actor samples from and the learner recomputes.
    public init(logits: UnsafePointer<Float>, vocab: Int, config c: SamplerConfig) {
        self.init(
            logits: logits, vocab: vocab, temperature: c.mixtureTemperature, topK: c.topK, topP: c.topP, minP: c.minP)
    }

    /// The tokens by probability (descending, ties by id) as far as truncation can reach: the whole order for top-p
    /// alone, else only the candidates top-k and min-p can keep. Sorting all of a 49k vocabulary for a top-20 cost
    /// ~3 ms per step; the kept entries and their order are those of the full sort.
    static func truncationOrder(_ p: [Double], topK: Int?, minP: Double?) -> [Int] {
        func before(_ a: Int, _ b: Int) -> Bool { p[a] > p[b] || (p[a] == p[b] && a < b) }
        var candidates = Array(p.indices)
        if let mp = minP, let pMax = p.max() {
            // Beyond rank 0, min-p keeps only p_i >= mp * p_max: the rest cannot be reached (rank 0 is the maximum).
            candidates = candidates.filter { p[$0] >= mp * pMax || p[$0] == pMax }
        }
        if let k = topK, k < candidates.count {
            // The k best by `before`: a running set of k, replaced only when an entry beats its worst.
            var best = Array(candidates.prefix(max(k, 1))).sorted(by: before)
            for i in candidates.dropFirst(best.count) where before(i, best[best.count - 1]) {
                var lo = 0, hi = best.count - 1
                while lo < hi { let mid = (lo + hi) / 2; if before(i, best[mid]) { hi = mid } else { lo = mid + 1 } }
                best.insert(i, at: lo)
                best.removeLast()
            }
            return best
        }
        return candidates.sorted(by: before)
    }

    public func index(of token: Int32) -> Int? {
        // Support is sorted by id: binary search.
        var lo = 0, hi = support.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if support[mid] == token { return mid }
            if support[mid] < token { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    /// Scatters a gradient w.r.t. p (over the support) into the logits: dl_j += coef * p_j (g_j - sum_i p_i g_i) / T.
    func backpropProbs(_ dp: [Double], coefficient: Double, into dLogits: UnsafeMutablePointer<Float>) {
        var mean = 0.0
        for i in 0..<probs.count { mean += probs[i] * dp[i] }
        for i in 0..<probs.count {
            dLogits[Int(support[i])] += Float(coefficient * probs[i] * (dp[i] - mean) / temperature)
        }
    }

    /// Scatters a gradient w.r.t. log p (over the support) into the logits: dl_j += coef * (c_j - p_j sum c) / T.
    func backpropLogProbs(_ dlogp: [Double], coefficient: Double, into dLogits: UnsafeMutablePointer<Float>) {
        var total = 0.0
        for c in dlogp { total += c }
        for i in 0..<probs.count {
            dLogits[Int(support[i])] += Float(coefficient * (dlogp[i] - probs[i] * total) / temperature)
        }
    }

    /// mu = sum_i p_i E_i, (d): TensorMath's Mixture (the actor's and the learner's mixtures both come from there, with
    /// the same rounding on every path). Zero weights (most of a 49k vocabulary at low temperature) are skipped.
    func mixture(embeddings E: UnsafePointer<Float>, dim: Int) -> [Float] {
        Self.mixtures([self], embeddings: E, dim: dim)[0]
    }

    /// The mixtures of several distributions over one embedding table, bit-identical to `mixture` of each: those
    /// over the whole vocabulary (no truncation) in one pass over the table, the truncated ones one by one (their
    /// supports differ, and are small).
    static func mixtures(_ dists: [StepDistribution], embeddings E: UnsafePointer<Float>, dim: Int) -> [[Float]] {
        // A support that is the whole vocabulary is 0..<count in order: the kernel reads the table's rows directly.
        func whole(_ d: StepDistribution) -> Bool { d.support.count == Int(d.support.last ?? -1) + 1 }
        var groups = Dictionary(grouping: dists.indices.filter { whole(dists[$0]) }, by: { dists[$0].support.count })
            .sorted { $0.key < $1.key }.map { (members: $0.value, support: [Int32]?.none) }
        groups += dists.indices.filter { !whole(dists[$0]) }.map {
            (members: [$0], support: Optional(dists[$0].support))
        }
        var out = [[Float]](repeating: [], count: dists.count)
        for (members, support) in groups {
            let count = dists[members[0]].support.count
            var w = [Float](repeating: 0, count: members.count * count)
            for (r, i) in members.enumerated() { for k in 0..<count { w[r * count + k] = Float(dists[i].probs[k]) } }
            var mu = [Float](repeating: 0, count: members.count * dim)
            w.withUnsafeBufferPointer { wp in
                mu.withUnsafeMutableBufferPointer { mp in
                    func run(_ sp: UnsafePointer<Int32>?) {
                        Mixture.rows(
                            E, dim: dim, support: sp, count: count, weights: wp.baseAddress!, ldw: count,
                            rows: members.count, out: mp.baseAddress!, ldo: dim)
                    }
                    if let support { support.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                }
            }
            for (r, i) in members.enumerated() { out[i] = Array(mu[(r * dim)..<((r + 1) * dim)]) }
        }
        return out
    }
}

/// What one thinking step did, exactly as recorded by the actor.
public struct ThinkingStep: Codable, Sendable, Equatable {
    /// Token id fed, or `ModelInputSlot` (-1) when `vector` was fed.
    public var token: Int32
    /// The exact vector fed (d floats); empty when a token was fed.
    public var vector: [Float]
    /// Behaviour log-probability (hard, multi) or log-density (soft, fuzzy, gumbel, dirichlet; constants dropped).
    public var logProb: Double
    /// Argmax token at this step: the greedy shadow whose end-of-thinking stops soft/fuzzy chains.
    public var shadow: Int32
    /// gumbel / dirichlet: the support and the log mixture weights over it (x = sum_i w_i E_i).
    public var support: [Int32]
    public var logWeights: [Float]
    /// multi: the K tokens whose embeddings were averaged.
    public var tokens: [Int32]

    public init(
        token: Int32, vector: [Float] = [], logProb: Double, shadow: Int32,
        support: [Int32] = [], logWeights: [Float] = [], tokens: [Int32] = []
    ) {
        self.token = token; self.vector = vector; self.logProb = logProb; self.shadow = shadow
        self.support = support; self.logWeights = logWeights; self.tokens = tokens
    }
}

public enum StepDensity {
    /// log pi(step | logits) for `mode`, and when `coefficient` is given, ACCUMULATES coefficient * d(log pi)/d(logits)
    /// into `dLogits` (V) and coefficient * d(log pi)/dE into `dEmbeddings` (V, d) (soft/fuzzy only).
    /// `sigma` is the Gaussian noise scale recorded with the rollout.
    public static func evaluate(
        step: ThinkingStep, logits: UnsafePointer<Float>, config: SamplerConfig, sigma: Double,
        embeddings E: UnsafePointer<Float>, vocab: Int, dim: Int,
        coefficient: Double? = nil, dLogits: UnsafeMutablePointer<Float>? = nil,
        dEmbeddings: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        let dist = StepDistribution(logits: logits, vocab: vocab, config: config)
        return evaluate(
            step: step, dist: dist, mixture: nil, config: config, sigma: sigma, embeddings: E, dim: dim,
            coefficient: coefficient, dLogits: dLogits, dEmbeddings: dEmbeddings)
    }

    /// The same, from the step's distribution already computed from the logits (and for soft/fuzzy its mixture mean,
    /// nil to compute it here): the actor has both from sampling the step.
    static func evaluate(
        step: ThinkingStep, dist: StepDistribution, mixture: [Float]?, config: SamplerConfig, sigma: Double,
        embeddings E: UnsafePointer<Float>, dim: Int, coefficient: Double? = nil,
        dLogits: UnsafeMutablePointer<Float>? = nil, dEmbeddings: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        switch config.mode {
        case .hard:
            guard let i = dist.index(of: step.token) else { return -.infinity }
            if let c = coefficient, let dl = dLogits {
                var g = [Double](repeating: 0, count: dist.probs.count); g[i] = 1
                dist.backpropLogProbs(g, coefficient: c, into: dl)
            }
            return log(dist.probs[i])
        case .soft, .fuzzy:
            if sigma <= 0 { return 0 } // greedy variant: deterministic, no density
            let (value, resid) = gaussianLogDensity(
                step.vector, mixture ?? dist.mixture(embeddings: E, dim: dim), sigma: sigma)
            let inv2 = 1 / (sigma * sigma)
            if let c = coefficient {
                // d/dmu = (x - mu) / sigma^2 ; d/dp_i = E_i . that ; d/dE_i = p_i * that.
                var dp = [Double](repeating: 0, count: dist.probs.count)
                for (k, tok) in dist.support.enumerated() {
                    let row = E + Int(tok) * dim
                    var dot = 0.0
                    for j in 0..<dim { dot += Double(row[j]) * resid[j] }
                    dp[k] = dot * inv2
                    if let dE = dEmbeddings {
                        let drow = dE + Int(tok) * dim, w = c * dist.probs[k] * inv2
                        for j in 0..<dim { drow[j] += Float(w * resid[j]) }
                    }
                }
                if let dl = dLogits { dist.backpropProbs(dp, coefficient: c, into: dl) }
            }
            return value
        case .multi:
            var lp = 0.0
            var g = [Double](repeating: 0, count: dist.probs.count)
            for t in step.tokens {
                guard let i = dist.index(of: t) else { return -.infinity }
                lp += log(dist.probs[i]); g[i] += 1
            }
            if let c = coefficient, let dl = dLogits { dist.backpropLogProbs(g, coefficient: c, into: dl) }
            return lp
        case .gumbel:
            return concrete(
                step: step, dist: dist, tau: config.gumbelTemperature, coefficient: coefficient, dLogits: dLogits)
        case .dirichlet:
            return dirichlet(
                step: step, dist: dist, gamma: config.dirichletConcentration, minAlpha: config.dirichletMinAlpha,
                coefficient: coefficient, dLogits: dLogits)
        }
    }

    /// log N(x; mu, sigma^2 I) without its constant, -|x - mu|^2 / (2 sigma^2), and the residual x - mu, in Double:
    /// the soft / fuzzy step density of both `evaluate` and `continuousSteps`.
    static func gaussianLogDensity(_ x: [Float], _ mu: [Float], sigma: Double) -> (value: Double, residual: [Double]) {
        var sq = 0.0
        var resid = [Double](repeating: 0, count: mu.count)
        for j in 0..<mu.count { let r = Double(x[j]) - Double(mu[j]); resid[j] = r; sq += r * r }
        return (-0.5 * sq * (1 / (sigma * sigma)), resid)
    }

    /// Soft / fuzzy steps of whole-vocabulary distributions, several at once (the learner's batch): the log-densities
    /// exactly as `evaluate` computes them, and with `coefficients` the same gradients, with the two passes over the
    /// embedding table as matrix products in Float: dp = E (x - mu) / sigma^2 for all steps (R E^T), and
    /// dE += sum_s c_s p_s (x_s - mu_s)^T / sigma_s^2 (W^T R). One step at a time those passes were V x d scalar loops
    /// in Double per step (~40 ms per step over SmolLM2's 49k x 576 table). `dLogits[s]` is step s's logits
    /// gradient row (V; only read with `coefficients`); steps with sigma <= 0 have no density (0, no gradient).
    static func continuousSteps(
        _ steps: [ThinkingStep], dists: [StepDistribution], mixtures: [[Float]], sigmas: [Double],
        coefficients: [Double]?, embeddings E: UnsafePointer<Float>, vocab V: Int, dim d: Int,
        dLogits: [UnsafeMutablePointer<Float>], dEmbeddings: UnsafeMutablePointer<Float>?
    ) -> [Double] {
        let n = steps.count
        var values = [Double](repeating: 0, count: n)
        var resid = [Float](repeating: 0, count: n * d)
        for s in 0..<n where sigmas[s] > 0 {
            let (value, r) = gaussianLogDensity(steps[s].vector, mixtures[s], sigma: sigmas[s])
            values[s] = value
            for j in 0..<d { resid[s * d + j] = Float(r[j]) }
        }
        guard let coefficients else { return values }
        precondition(
            dists.allSatisfy { $0.support.count == V }, "batched soft-step gradients need whole-vocabulary supports")
        // dp (n x V) = R (n x d) E^T.
        var dp = [Float](repeating: 0, count: n * V)
        resid.withUnsafeBufferPointer { r in
            dp.withUnsafeMutableBufferPointer { out in
                sgemm(
                    .none, .transposed, m: n, n: V, k: d, a: r.baseAddress!, lda: d, b: E, ldb: d, c: out.baseAddress!,
                    ldc: V)
            }
        }
        var w = dEmbeddings == nil ? [] : [Float](repeating: 0, count: n * V)
        for s in 0..<n where sigmas[s] > 0 {
            let inv2 = 1 / (sigmas[s] * sigmas[s])
            let g = (0..<V).map { Double(dp[s * V + $0]) * inv2 }
            dists[s].backpropProbs(g, coefficient: coefficients[s], into: dLogits[s])
            if dEmbeddings != nil {
                for k in 0..<V { w[s * V + k] = Float(coefficients[s] * dists[s].probs[k] * inv2) }
            }
        }
        // dE (V x d) += W^T R.
        if let dE = dEmbeddings {
            w.withUnsafeBufferPointer { wp in
                resid.withUnsafeBufferPointer { r in
                    sgemm(
                        .transposed, .none, m: V, n: d, k: n, a: wp.baseAddress!, lda: V, b: r.baseAddress!, ldb: d,
                        beta: 1, c: dE, ldc: d)
                }
            }
        }
        return values
    }

    /// Log-density of Gumbel-Softmax weights y over n support entries (the Concrete distribution, Maddison et al.
    /// 2017, arXiv 1611.00712): log (n-1)! + (n-1) log tau + sum_i (log pi_i - (tau+1) log y_i) - n log sum_i pi_i y_i^-tau.
    static func concrete(
        step: ThinkingStep, dist: StepDistribution, tau: Double, coefficient: Double?,
        dLogits: UnsafeMutablePointer<Float>?
    ) -> Double {
        guard let aligned = align(step, dist) else { return -.infinity }
        let n = Double(aligned.count)
        var a = [Double](repeating: 0, count: aligned.count) // log pi_i - tau log y_i
        var lp: Double = logGamma(n) + (n - 1) * log(tau)
        for (i, logY) in aligned.enumerated() {
            let logPi = log(dist.probs[i])
            lp += logPi - (tau + 1) * logY
            a[i] = logPi - tau * logY
        }
        let mx = a.max() ?? 0
        var s = 0.0
        for v in a { s += exp(v - mx) }
        let lse = mx + log(s)
        lp -= n * lse
        if let c = coefficient, let dl = dLogits {
            // d/dlog pi_i = 1 - n softmax(a)_i
            let g = a.map { 1 - n * exp($0 - lse) }
            dist.backpropLogProbs(g, coefficient: c, into: dl)
        }
        return lp
    }

    /// Log-density of Dirichlet weights w with alpha_i = max(gamma p_i, minAlpha):
    /// lgamma(sum alpha) - sum lgamma(alpha_i) + sum (alpha_i - 1) log w_i.
    static func dirichlet(
        step: ThinkingStep, dist: StepDistribution, gamma: Double, minAlpha: Double,
        coefficient: Double?, dLogits: UnsafeMutablePointer<Float>?
    ) -> Double {
        guard let aligned = align(step, dist) else { return -.infinity }
        let alpha = dist.probs.map { max(gamma * $0, minAlpha) }
        let total = alpha.reduce(0, +)
        var lp: Double = logGamma(total)
        for (i, logW) in aligned.enumerated() {
            let a: Double = alpha[i]
            lp += (a - 1) * logW - logGamma(a)
        }
        if let c = coefficient, let dl = dLogits {
            let psiTotal = digamma(total)
            var dp = [Double](repeating: 0, count: alpha.count)
            for i in 0..<alpha.count where gamma * dist.probs[i] > minAlpha { // the floor has zero gradient
                dp[i] = gamma * (psiTotal - digamma(alpha[i]) + aligned[i])
            }
            dist.backpropProbs(dp, coefficient: c, into: dl)
        }
        return lp
    }

    /// The recorded log-weights in the order of the distribution's support, or nil if the supports differ
    /// (the weights moved enough to change the truncation set: the recorded step has no density there).
    static func align(_ step: ThinkingStep, _ dist: StepDistribution) -> [Double]? {
        guard step.support == dist.support, step.logWeights.count == step.support.count else { return nil }
        return step.logWeights.map { Double($0) }
    }

    /// log pi(token) for an answer token at temperature 1 over the full vocabulary; accumulates its logits gradient.
    public static func answerToken(
        _ token: Int32, logits: UnsafePointer<Float>, vocab: Int,
        coefficient: Double? = nil, dLogits: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        let lse = logSumExp(logits, count: vocab)
        if let c = coefficient, let dl = dLogits {
            for j in 0..<vocab { dl[j] -= Float(c * exp(Double(logits[j]) - lse)) }
            dl[Int(token)] += Float(c)
        }
        return Double(logits[Int(token)]) - lse
    }
}

/// log Gamma(x) for x > 0 (the C library's lgamma; named to avoid Glibc/Foundation overload ambiguity).
@inline(__always) public func logGamma(_ x: Double) -> Double { Foundation.lgamma(x) }

/// Digamma psi(x) for x > 0: recurrence up to x >= 6, then the asymptotic series (Abramowitz & Stegun 6.3.18).
public func digamma(_ x0: Double) -> Double {
    var x = x0, r = 0.0
    while x < 6 { r -= 1 / x; x += 1 }
    let f = 1 / (x * x)
    return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
}
