// Tests for policyLoss: loss values against a slow reference written like the formulas, dLogp against
// central finite differences, and limiting cases (clip boundaries, on-policy, TIS truncation, KL, masks).

import XCTest
import PolicyGradient
import TensorMath // SplitMix64: deterministic test data

final class PolicyLossTests: XCTestCase {
    // MARK: slow reference, written term by term like the formulas in the papers

    /// Per-step objective s (the thing the policy maximises) before normalisation.
    private func objectiveReference(a: Double, logp: Double, behaviour: Double, config: LossConfig) -> Double {
        let rho = exp(logp - behaviour)
        switch config.kind {
        case .reinforce:
            guard let cap = config.tisCap else { return a * logp } // REINFORCE: A·log π
            // Importance-weighted surrogate A·ρ while ρ ≤ C; continued linearly in log ρ with slope C beyond.
            if rho <= cap { return a * rho }
            return a * (cap + cap * (log(rho) - log(cap)))
        case .clipped:
            let clipped = Swift.min(Swift.max(rho, 1 - config.clipLow), 1 + config.clipHigh)
            return Swift.min(rho * a, clipped * a) // PPO: min(ρA, clip(ρ)A)
        }
    }

    /// k3 = π_ref/π − log(π_ref/π) − 1
    private func k3Reference(logp: Double, ref: Double) -> Double {
        let q = exp(ref) / exp(logp)
        return q - log(q) - 1
    }

    private func lossReference(_ rollouts: [RolloutTerms], config: LossConfig) -> Double {
        func included(_ r: RolloutTerms, _ t: Int) -> Bool { r.mask?[t] ?? true }
        func rolloutSum(_ r: RolloutTerms) -> Double {
            var s = 0.0
            for t in r.logp.indices where included(r, t) {
                var term = -objectiveReference(
                    a: r.advantage, logp: r.logp[t], behaviour: r.behaviourLogp[t], config: config)
                if config.klBeta != 0 { term += config.klBeta * k3Reference(logp: r.logp[t], ref: r.referenceLogp![t]) }
                s += (r.weight?[t] ?? 1) * term
            }
            return s
        }
        let bigR = Double(rollouts.count)
        switch config.normalization {
        case .sequence: // (1/R) Σ_i Σ_t
            return rollouts.map(rolloutSum).reduce(0, +) / bigR
        case .sequenceMean: // (1/R) Σ_i (1/|o_i|) Σ_t
            var total = 0.0
            for r in rollouts {
                let n = r.logp.indices.filter { included(r, $0) }.count
                if n > 0 { total += rolloutSum(r) / Double(n) }
            }
            return total / bigR
        case .token: // (1/Σ_i |o_i|) Σ_i Σ_t
            let n = rollouts.map { r in r.logp.indices.filter { included(r, $0) }.count }.reduce(0, +)
            return n == 0 ? 0 : rollouts.map(rolloutSum).reduce(0, +) / Double(n)
        case .constant: // (1/(R·L)) Σ_i Σ_t
            return rollouts.map(rolloutSum).reduce(0, +) / (bigR * config.constantLength)
        }
    }

    // MARK: data

    /// Random batch with log-ratios in [−spread, spread], masks and reference log-probs, avoiding the kinks
    /// of the clipped and TIS objectives by `margin` so finite differences are valid.
    private func randomBatch(
        seed: UInt64, spread: Double = 0.6, withMask: Bool = true, config: LossConfig? = nil,
        margin: Double = 1e-3
    ) -> [RolloutTerms] {
        var rng = SplitMix64(seed: seed)
        var kinks: [Double] = []
        if let c = config {
            kinks = [log(1 + c.clipHigh), log(1 - c.clipLow)]
            if let cap = c.tisCap { kinks.append(log(cap)) }
        }
        var out: [RolloutTerms] = []
        for i in 0..<5 {
            let n = Int.random(in: 1...7, using: &rng)
            var logp: [Double] = [], beh: [Double] = [], ref: [Double] = [], mask: [Bool] = []
            for _ in 0..<n {
                let b = Double.random(in: -4 ... -0.1, using: &rng)
                var x: Double
                repeat {
                    x = Double.random(in: -spread...spread, using: &rng)
                } while kinks.contains { abs($0 - x) < margin }
                beh.append(b)
                logp.append(b + x)
                ref.append(b + x + Double.random(in: -0.5...0.5, using: &rng))
                mask.append(withMask ? Double.random(in: 0..<1, using: &rng) < 0.75 : true)
            }
            let a = i == 4 ? 0 : Double.random(in: -1.5...1.5, using: &rng) // include a zero-advantage rollout
            out.append(
                RolloutTerms(
                    advantage: a, logp: logp, behaviourLogp: beh, referenceLogp: ref, mask: withMask ? mask : nil))
        }
        return out
    }

    private var allConfigs: [LossConfig] {
        var configs: [LossConfig] = []
        for norm in [LossNormalization.sequence, .token, .sequenceMean, .constant] {
            for beta in [0.0, 0.04] {
                configs.append(
                    LossConfig(kind: .reinforce, tisCap: nil, klBeta: beta, normalization: norm, constantLength: 9))
                configs.append(
                    LossConfig(kind: .reinforce, tisCap: 1.3, klBeta: beta, normalization: norm, constantLength: 9))
                configs.append(
                    LossConfig(
                        kind: .clipped, clipLow: 0.2, clipHigh: 0.2, tisCap: nil, klBeta: beta, normalization: norm,
                        constantLength: 9))
                configs.append(
                    LossConfig(
                        kind: .clipped, clipLow: 0.2, clipHigh: 0.28, tisCap: 2, klBeta: beta, normalization: norm,
                        constantLength: 9))
            }
        }
        return configs
    }

    /// `dLogp` against central differences (h 1e-6) of `loss` (the slow reference unless given), step by step.
    private func assertMatchesCentralDifferences(
        _ dLogp: [[Double]], _ batch: [RolloutTerms], _ config: LossConfig,
        of loss: (([RolloutTerms]) -> Double)? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let loss = loss ?? { self.lossReference($0, config: config) }
        let h = 1e-6
        for i in batch.indices {
            for t in batch[i].logp.indices {
                var plus = batch, minus = batch
                plus[i].logp[t] += h
                minus[i].logp[t] -= h
                let fd = (loss(plus) - loss(minus)) / (2 * h)
                XCTAssertEqual(
                    dLogp[i][t], fd, accuracy: 1e-7, "\(config) rollout \(i) step \(t)", file: file, line: line)
            }
        }
    }

    // MARK: loss values and gradients

    func testLossMatchesSlowReferenceForEveryKindAndNormalisation() {
        for (k, config) in allConfigs.enumerated() {
            let batch = randomBatch(seed: UInt64(100 + k))
            let result = policyLoss(batch, config: config)
            XCTAssertEqual(result.loss, lossReference(batch, config: config), accuracy: 1e-12, "\(config)")
        }
    }

    /// Step weights (the soft steps' `continuousStepWeight`) scale each step's term and its gradient, for every kind
    /// and normalisation; weight 1 everywhere is the unweighted loss, weight 0 removes the term but not the step
    /// from the normalisation.
    func testStepWeightsScaleEachStepsTermAndGradient() {
        for (k, config) in allConfigs.enumerated() {
            var batch = randomBatch(seed: UInt64(900 + k), config: config)
            var rng = SplitMix64(seed: UInt64(k))
            for i in batch.indices {
                batch[i].weight = batch[i].logp.map { _ in [0, 0.25, 1][Int.random(in: 0..<3, using: &rng)] }
            }
            let result = policyLoss(batch, config: config)
            XCTAssertEqual(result.loss, lossReference(batch, config: config), accuracy: 1e-12, "\(config)")
            assertMatchesCentralDifferences(result.dLogp, batch, config)
            var ones = batch
            for i in ones.indices { ones[i].weight = ones[i].logp.map { _ in 1 } }
            var none = batch
            for i in none.indices { none[i].weight = nil }
            XCTAssertEqual(policyLoss(ones, config: config).loss, policyLoss(none, config: config).loss)
            XCTAssertEqual(policyLoss(ones, config: config).dLogp, policyLoss(none, config: config).dLogp)
        }
    }

    func testPaperLossIsMinusMeanOfAdvantageTimesSummedLogp() {
        // −(1/(B·G)) Σ_i A_i Σ_t log π(o_it): the "Soft Tokens, Hard Truths" RLOO loss, written out directly.
        let batch = [
            RolloutTerms(advantage: 0.5, logp: [-1, -2], behaviourLogp: [-1, -2]),
            RolloutTerms(advantage: -1, logp: [-0.5, -0.25, -3], behaviourLogp: [-0.5, -0.25, -3])
        ]
        var config = LossConfig.paper
        config.tisCap = nil
        let expected = -(0.5 * (-3.0) + (-1.0) * (-3.75)) / 2
        let result = policyLoss(batch, config: config)
        XCTAssertEqual(result.loss, expected, accuracy: 1e-15)
        XCTAssertEqual(result.dLogp, [[-0.25, -0.25], [0.5, 0.5, 0.5]])
    }

    func testGradientMatchesCentralFiniteDifferences() {
        for (k, config) in allConfigs.enumerated() {
            // Ratios spread up to e^±0.6, so clipping and TIS truncation (cap 1.3) are both active somewhere.
            let batch = randomBatch(seed: UInt64(500 + k), config: config)
            assertMatchesCentralDifferences(policyLoss(batch, config: config).dLogp, batch, config)
        }
    }

    func testTISWeightIsStopGradientAndTruncatedAtCap() {
        // Gradient is −c·w·A with w = min(ρ, C), a constant: beyond the cap it stays −c·C·A (not 0, as it
        // would be for the derivative of −A·min(ρ, C)); inside it is −c·ρ·A.
        let cap = 2.0
        let x: [Double] = [log(0.5), 0, log(1.9), log(3), log(50)]
        let batch = [
            RolloutTerms(advantage: 1.5, logp: x.map { $0 - 1 }, behaviourLogp: [Double](repeating: -1, count: x.count))
        ]
        let config = LossConfig(kind: .reinforce, tisCap: cap, normalization: .sequence)
        let result = policyLoss(batch, config: config)
        let expected = [-0.5 * 1.5, -1 * 1.5, -1.9 * 1.5, -cap * 1.5, -cap * 1.5]
        for (g, e) in zip(result.dLogp[0], expected) { XCTAssertEqual(g, e, accuracy: 1e-12) }
        XCTAssertEqual(result.stats.tisTruncatedFraction, 2.0 / 5.0, accuracy: 1e-15)
        XCTAssertEqual(result.stats.maxRatio, 50, accuracy: 1e-9)
    }

    func testTISOffIgnoresBehaviourLogp() {
        let a = RolloutTerms(advantage: 0.7, logp: [-1, -2], behaviourLogp: [-1, -2])
        let b = RolloutTerms(advantage: 0.7, logp: [-1, -2], behaviourLogp: [-5, 3])
        let config = LossConfig(kind: .reinforce, tisCap: nil)
        XCTAssertEqual(policyLoss([a], config: config).dLogp, policyLoss([b], config: config).dLogp)
        XCTAssertEqual(policyLoss([a], config: config).loss, policyLoss([b], config: config).loss)
    }

    func testRatioOutsideClipRangeGivesZeroGradient() {
        let config = LossConfig(kind: .clipped, clipLow: 0.2, clipHigh: 0.28, tisCap: nil, normalization: .sequence)
        func grad(_ a: Double, _ rho: Double) -> (Double, LossStats) {
            let r = policyLoss([RolloutTerms(advantage: a, logp: [log(rho) - 2], behaviourLogp: [-2])], config: config)
            return (r.dLogp[0][0], r.stats)
        }
        // Positive advantage above 1 + ε_high and negative advantage below 1 − ε_low: clipped, no gradient.
        XCTAssertEqual(grad(1, 1.3).0, 0)
        XCTAssertEqual(grad(1, 5).0, 0)
        XCTAssertEqual(grad(-1, 0.79).0, 0)
        XCTAssertEqual(grad(-1, 0.1).0, 0)
        XCTAssertEqual(grad(1, 1.3).1.clippedFraction, 1)
        // The other sides keep the unclipped gradient −ρ·A (PPO's pessimistic bound).
        XCTAssertEqual(grad(1, 0.5).0, -0.5, accuracy: 1e-12)
        XCTAssertEqual(grad(-1, 2).0, 2, accuracy: 1e-12)
        XCTAssertEqual(grad(1, 1.27).0, -1.27, accuracy: 1e-12) // clip-higher: 1.27 < 1.28 still learns
        XCTAssertEqual(grad(-1, 0.81).0, 0.81, accuracy: 1e-12)
        XCTAssertEqual(grad(1, 0.5).1.clippedFraction, 0)
    }

    func testOnPolicyClippedEqualsReinforceGradient() {
        // ρ = 1: ∇ρ·A = ρ·A·∇log π = A·∇log π, so PPO/GRPO reduce to REINFORCE (with or without TIS, w = 1).
        var batch = randomBatch(seed: 7, withMask: true)
        for i in batch.indices { batch[i].behaviourLogp = batch[i].logp }
        for norm in [LossNormalization.sequence, .token, .sequenceMean, .constant] {
            let clipped = policyLoss(
                batch, config: LossConfig(kind: .clipped, clipLow: 0.2, clipHigh: 0.28, normalization: norm))
            let plain = policyLoss(batch, config: LossConfig(kind: .reinforce, tisCap: nil, normalization: norm))
            let tis = policyLoss(batch, config: LossConfig(kind: .reinforce, tisCap: 2, normalization: norm))
            for i in batch.indices {
                for t in batch[i].logp.indices {
                    XCTAssertEqual(clipped.dLogp[i][t], plain.dLogp[i][t], accuracy: 1e-15)
                    XCTAssertEqual(tis.dLogp[i][t], plain.dLogp[i][t], accuracy: 1e-15)
                }
            }
            XCTAssertEqual(clipped.stats.clippedFraction, 0)
            XCTAssertEqual(clipped.stats.meanRatio, 1)
        }
    }

    func testNormalisationsAgreeForEqualLengthsWithoutMasks() {
        // All rollouts of length L: token = sequenceMean = constant(L) = sequence / L.
        var rng = SplitMix64(seed: 3)
        let L = 6
        let batch = (0..<4).map { _ in
            RolloutTerms(
                advantage: Double.random(in: -1...1, using: &rng),
                logp: (0..<L).map { _ in Double.random(in: -3...0, using: &rng) },
                behaviourLogp: (0..<L).map { _ in Double.random(in: -3...0, using: &rng) })
        }
        for kind in [LossKind.reinforce, .clipped] {
            func loss(_ n: LossNormalization) -> Double {
                policyLoss(batch, config: LossConfig(kind: kind, normalization: n, constantLength: Double(L))).loss
            }
            XCTAssertEqual(loss(.token), loss(.sequenceMean), accuracy: 1e-12)
            XCTAssertEqual(loss(.constant), loss(.sequenceMean), accuracy: 1e-12)
            XCTAssertEqual(loss(.sequence) / Double(L), loss(.sequenceMean), accuracy: 1e-12)
        }
    }

    // MARK: KL

    func testKLIsZeroWhenPolicyEqualsReference() {
        var batch = randomBatch(seed: 11, withMask: false)
        for i in batch.indices { batch[i].referenceLogp = batch[i].logp }
        let with = policyLoss(batch, config: LossConfig(kind: .clipped, klBeta: 0.04, normalization: .sequenceMean))
        let without = policyLoss(batch, config: LossConfig(kind: .clipped, klBeta: 0, normalization: .sequenceMean))
        XCTAssertEqual(with.stats.meanKL, 0)
        XCTAssertEqual(with.loss, without.loss, accuracy: 1e-15)
        for i in batch.indices { XCTAssertEqual(with.dLogp[i], without.dLogp[i]) } // ∂k3/∂logp = 1 − 1 = 0
    }

    func testKLGradientMatchesFiniteDifferencesAndKLIsNonNegative() {
        // Zero advantages isolate the β·k3 term.
        var batch = randomBatch(seed: 12, spread: 2, withMask: false)
        for i in batch.indices { batch[i].advantage = 0 }
        let config = LossConfig(kind: .reinforce, tisCap: nil, klBeta: 0.5, normalization: .token)
        let result = policyLoss(batch, config: config)
        XCTAssertGreaterThan(result.loss, 0)
        XCTAssertGreaterThan(result.stats.meanKL, 0)
        XCTAssertEqual(result.loss, 0.5 * result.stats.meanKL, accuracy: 1e-12) // token normalisation: β·mean k3
        assertMatchesCentralDifferences(result.dLogp, batch, config, of: { policyLoss($0, config: config).loss })
        for i in batch.indices {
            for t in batch[i].logp.indices {
                // ∂/∂logp of β(e^d − d − 1), d = ref − logp, is β(1 − e^d) / N
                let d = batch[i].referenceLogp![t] - batch[i].logp[t]
                XCTAssertEqual(result.dLogp[i][t], 0.5 * (1 - exp(d)) / Double(result.stats.steps), accuracy: 1e-14)
            }
        }
    }

    // MARK: masks, empty input, stats

    func testMaskedStepsAreEquivalentToRemovedSteps() {
        let batch = randomBatch(seed: 21, withMask: true)
        let removed = batch.map { r -> RolloutTerms in
            let keep = r.logp.indices.filter { r.mask![$0] }
            return RolloutTerms(
                advantage: r.advantage, logp: keep.map { r.logp[$0] }, behaviourLogp: keep.map { r.behaviourLogp[$0] },
                referenceLogp: keep.map { r.referenceLogp![$0] })
        }
        for config in allConfigs {
            let masked = policyLoss(batch, config: config)
            let cut = policyLoss(removed, config: config)
            XCTAssertEqual(masked.loss, cut.loss, accuracy: 1e-12)
            XCTAssertEqual(masked.stats.steps, cut.stats.steps)
            for (i, r) in batch.enumerated() {
                let kept = r.logp.indices.filter { r.mask![$0] }
                XCTAssertEqual(kept.map { masked.dLogp[i][$0] }, cut.dLogp[i])
                for t in r.logp.indices where !r.mask![t] { XCTAssertEqual(masked.dLogp[i][t], 0) }
            }
        }
    }

    func testFullyMaskedBatchGivesZeroLossAndGradient() {
        let r = RolloutTerms(advantage: 1, logp: [-1, -2], behaviourLogp: [-1, -3], mask: [false, false])
        for config in allConfigs {
            var rr = r
            rr.referenceLogp = [-1, -1]
            let result = policyLoss([rr], config: config)
            XCTAssertEqual(result.loss, 0)
            XCTAssertEqual(result.dLogp, [[0, 0]])
            XCTAssertEqual(result.stats.steps, 0)
        }
        XCTAssertEqual(policyLoss([], config: LossConfig()).loss, 0)
    }

    func testZeroAdvantageWithOverflowingRatioIsFinite() {
        let r = RolloutTerms(advantage: 0, logp: [0], behaviourLogp: [-1000])
        let result = policyLoss([r], config: LossConfig(kind: .clipped))
        XCTAssertEqual(result.loss, 0)
        XCTAssertEqual(result.dLogp, [[0]])
    }

    func testRatioStatistics() {
        let r = RolloutTerms(
            advantage: 1, logp: [log(2) - 1, -1, log(0.5) - 1, 5], behaviourLogp: [-1, -1, -1, 0],
            mask: [true, true, true, false])
        let s = policyLoss([r], config: LossConfig(kind: .clipped)).stats
        XCTAssertEqual(s.steps, 3)
        XCTAssertEqual(s.meanRatio, (2 + 1 + 0.5) / 3, accuracy: 1e-12)
        XCTAssertEqual(s.maxRatio, 2, accuracy: 1e-12) // the masked e^5 does not count
        XCTAssertEqual(s.clippedFraction, 1.0 / 3.0, accuracy: 1e-12) // only ρ = 2 with A > 0
    }

    // MARK: config

    func testLossConfigDecodesMissingKeysAsDefaultsAndNullCapAsOff() throws {
        let partial = try JSONDecoder().decode(LossConfig.self, from: Data(#"{"kind":"clipped","clipHigh":0.28}"#.utf8))
        var expected = LossConfig()
        expected.kind = .clipped
        expected.clipHigh = 0.28
        XCTAssertEqual(partial, expected)
        let off = try JSONDecoder().decode(LossConfig.self, from: Data(#"{"tisCap":null}"#.utf8))
        XCTAssertNil(off.tisCap)
        for config in [LossConfig.paper, .grpo, .drGRPO, .dapo] {
            XCTAssertEqual(try JSONDecoder().decode(LossConfig.self, from: JSONEncoder().encode(config)), config)
        }
        XCTAssertEqual(LossConfig.dapo.clipHigh, 0.28)
        XCTAssertEqual(LossConfig.grpo.klBeta, 0.04)
    }
}
