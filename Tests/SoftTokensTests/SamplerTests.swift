// Soft-token samplers: the learner's recomputation of recorded log-probabilities (teacher forcing through the
// full forward pass) equals what the actor recorded while decoding with the KV cache, for every sampler; the
// log-density gradients through the whole model match finite differences; densities match slow formulas; and
// sampler statistics are what the method says (noise RMS = sigma, fuzzy = argmax embedding + noise, truncation).
import XCTest
import Foundation
import SoftRLTestSupport
import TensorMath
import TransformerLM
@testable import SoftTokens

let eot: Int32 = 3, eos: Int32 = 2

func microModel(seed: UInt64 = 7) -> LlamaModel {
    let c = LlamaConfig(
        vocabSize: 11, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2,
        numAttentionHeads: 2, numKeyValueHeads: 1, maxPositionEmbeddings: 64)
    return try! LlamaModel(config: c, seed: seed, std: 0.3)
}

func samplerConfigs() -> [SamplerConfig] {
    var out: [SamplerConfig] = []
    for mode in ThinkingMode.allCases {
        var c = SamplerConfig(mode: mode)
        c.maxThinkingSteps = 6; c.maxAnswerTokens = 3
        out.append(c)
    }
    var truncated = SamplerConfig(mode: .soft)
    truncated.topK = 4; truncated.topP = 0.9; truncated.maxThinkingSteps = 6; truncated.maxAnswerTokens = 3
    out.append(truncated)
    var dirTop = SamplerConfig(mode: .dirichlet)
    dirTop.topK = 5; dirTop.maxThinkingSteps = 6; dirTop.maxAnswerTokens = 3
    out.append(dirTop)
    return out
}

final class SamplerTests: XCTestCase {
    /// The learner recognises the run's own sampler settings in a rollout by comparing strings (decoding JSON per
    /// rollout was most of its ingest cost): equal settings must give the same string, however they were built,
    /// and an actor that decodes the Welcome's string and re-encodes it must give the Welcome's string back.
    func testCanonicalJSONIsTheSameForEqualSettings() throws {
        for mode in ThinkingMode.allCases {
            var c = SamplerConfig(mode: mode)
            c.topK = 7; c.maxThinkingSteps = 11
            let welcome = c.canonicalJSON
            // Foundation's JSONEncoder alone alternates between key orders from one call to the next.
            for _ in 0..<4 {
                XCTAssertEqual(c.canonicalJSON, welcome, "the same settings encoded twice must be the same string")
            }
            let actor = try JSONDecoder().decode(SamplerConfig.self, from: Data(welcome.utf8))
            XCTAssertEqual(actor.canonicalJSON, welcome)
            // The same settings written with their keys in reverse order decode to the same string.
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(welcome.utf8)) as? [String: Any])
            let keys = object.keys.sorted()
            let reversed =
                "{"
                + keys.reversed().map { k in
                    "\"\(k)\":"
                        + String(
                            decoding: try! JSONSerialization.data(
                                withJSONObject: object[k]!, options: .fragmentsAllowed), as: UTF8.self)
                }.joined(separator: ",") + "}"
            XCTAssertEqual(
                try JSONDecoder().decode(SamplerConfig.self, from: Data(reversed.utf8)).canonicalJSON, welcome,
                "mode \(mode)")
            var other = c; other.topK = 8
            XCTAssertNotEqual(other.canonicalJSON, welcome)
        }
    }

    func generate(_ model: LlamaModel, _ config: SamplerConfig, groups: Int = 2, groupSize: Int = 3) -> [Rollout] {
        let gen = RolloutGenerator(model: model, config: config, endOfThinking: eot, endOfSequence: eos)
        let reqs = (0..<groups).map {
            GenerationRequest(
                promptIndex: $0, prompt: [1, Int32(4 + $0), 5, 6], groupSize: groupSize, seed: 42 + UInt64($0))
        }
        return gen.generate(reqs, policyVersion: 3).groups.flatMap { $0 }
    }

    func testRecomputedLogProbsMatchRecordedForEverySampler() {
        let model = microModel()
        let scorer = PolicyScorer(model: model, endOfThinking: eot)
        for config in samplerConfigs() {
            let rollouts = generate(model, config)
            let (_, recomputed) = scorer.score(rollouts)
            var maxDiff = 0.0, actions = 0
            for (r, lp) in zip(rollouts, recomputed) {
                XCTAssertEqual(lp.count, r.actionCount)
                for (a, b) in zip(lp, r.behaviourLogProbs) { maxDiff = max(maxDiff, abs(a - b)); actions += 1 }
                XCTAssertEqual(r.policyVersion, 3)
            }
            print("\(config.label): \(actions) actions, max |recomputed - recorded| = \(maxDiff)")
            // Soft densities scale with 1/sigma^2, so allow relative slack there.
            XCTAssertLessThan(maxDiff, config.addsGaussianNoise ? 2e-2 : 1e-3, config.label)
            XCTAssertTrue(rollouts.allSatisfy { $0.behaviourLogProbs.allSatisfy(\.isFinite) }, config.label)
        }
    }

    func testGenerationIsDeterministicAndIndependentOfBatching() {
        let model = microModel()
        let config = samplerConfigs()[1]
        let together = generate(model, config, groups: 2)
        let gen = RolloutGenerator(model: model, config: config, endOfThinking: eot, endOfSequence: eos)
        let alone = gen.generate(
            [GenerationRequest(promptIndex: 1, prompt: [1, 5, 5, 6], groupSize: 3, seed: 43)], policyVersion: 3
        ).groups[0]
        // Same seed, same decisions whatever else shares the batch; vectors agree to BLAS rounding (sgemm blocking
        // depends on the batch size, so bit equality across batch shapes is not promised).
        for (a, b) in zip(Array(together[3...]), alone) {
            XCTAssertEqual(a.steps.map(\.shadow), b.steps.map(\.shadow))
            XCTAssertEqual(a.answer, b.answer)
            XCTAssertEqual(a.thinkingEnd, b.thinkingEnd)
            for (x, y) in zip(a.steps, b.steps) {
                for (u, v) in zip(x.vector, y.vector) { XCTAssertEqual(u, v, accuracy: 1e-5) }
            }
        }
        // Same batch, same seed: bit-identical.
        XCTAssertTrue(generate(model, config, groups: 2) == together)
    }

    func testLogDensityGradientThroughModelMatchesFiniteDifferences() {
        for config in samplerConfigs() {
            let model = microModel(seed: 21)
            let rollouts = generate(model, config, groups: 1, groupSize: 2)
            let scorer = PolicyScorer(model: model, endOfThinking: eot)
            var rng = Xoshiro256(seed: 5)
            let coef = rollouts.map { r in (0..<r.actionCount).map { _ in rng.normal() } }
            func loss() -> Double {
                let lp = scorer.score(rollouts).logProbs
                var l = 0.0
                for (a, b) in zip(lp, coef) { for (x, y) in zip(a, b) { l += x * y } }
                return l
            }
            let grads = model.makeGradients()
            let (pass, _) = scorer.score(rollouts)
            scorer.backward(pass, rollouts, dLogp: coef, gradients: grads)
            var worst = 0.0
            for name in [
                "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                "model.layers.1.mlp.down_proj.weight", "lm_head.weight"
            ] {
                let e = model.layout.entry(named: name)!
                let u = (0..<e.count).map { _ in Float(rng.normal()) / Float(e.count).squareRoot() }
                let numeric = centralDifference(at: model.weights.pointer + e.offset, along: u, h: 2e-3, loss: loss)
                var analytic = 0.0
                for i in 0..<e.count { analytic += Double(grads[e.offset + i]) * Double(u[i]) }
                let err = abs(numeric - analytic) / max(1, abs(numeric))
                worst = max(worst, err)
                XCTAssertLessThan(err, 2e-2, "\(config.label) \(name): analytic \(analytic) numeric \(numeric)")
            }
            print("\(config.label): worst relative gradient error \(worst)")
        }
    }

    func testSoftNoiseRMSEqualsSigmaAndFuzzyIsArgmaxEmbeddingPlusNoise() {
        let model = microModel()
        for mode in [ThinkingMode.soft, .fuzzy] {
            var config = SamplerConfig(mode: mode)
            config.maxThinkingSteps = 30
            let rollouts = generate(model, config, groups: 4, groupSize: 8)
            let sigma = RolloutGenerator.noiseSigma(model: model, gamma: 0.33)
            let scorer = PolicyScorer(model: model, endOfThinking: eot)
            let pass = scorer.score(rollouts).pass
            var ss = 0.0, n = 0
            let d = model.config.hiddenSize, V = model.config.vocabSize
            for (i, r) in rollouts.enumerated() {
                for (t, s) in r.steps.enumerated() {
                    let l = pass.logits(sequence: i, position: r.stepLogitPosition(t))
                    let dist = StepDistribution(logits: l, vocab: V, temperature: config.mixtureTemperature)
                    let mu = dist.mixture(embeddings: model.embeddingMatrix, dim: d)
                    for j in 0..<d { let e = Double(s.vector[j] - mu[j]); ss += e * e; n += 1 }
                    if mode == .fuzzy {
                        // At tau = 1e-4 the mixture is the argmax token's embedding (unless two logits tie within ~1e-3).
                        let row = model.embeddingMatrix + Int(dist.argmax) * d
                        for j in 0..<d { XCTAssertEqual(mu[j], row[j], accuracy: 1e-3) }
                    }
                }
            }
            let rms = (ss / Double(n)).squareRoot()
            print("\(mode): noise RMS \(rms) vs sigma \(sigma) over \(n) entries")
            XCTAssertGreaterThan(n, 500)
            XCTAssertEqual(rms, sigma, accuracy: sigma * 0.1)
            XCTAssertEqual(rollouts[0].noiseSigma, sigma, accuracy: 1e-12)
        }
    }

    func testTruncationKeepsTopTokensAndRenormalises() {
        let logits: [Float] = [0.1, 2.0, -1.0, 1.5, 0.0, 3.0]
        logits.withUnsafeBufferPointer { l in
            let k = StepDistribution(logits: l.baseAddress!, vocab: 6, temperature: 1, topK: 2)
            XCTAssertEqual(k.support, [1, 5])
            // Renormalised softmax over the kept pair.
            let e1 = exp(2.0), e5 = exp(3.0)
            XCTAssertEqual(k.probs[0], e1 / (e1 + e5), accuracy: 1e-12)
            XCTAssertEqual(k.probs.reduce(0, +), 1, accuracy: 1e-12)
            let p = StepDistribution(logits: l.baseAddress!, vocab: 6, temperature: 1, topP: 0.5)
            XCTAssertEqual(p.support, [5]) // p(5) = 0.54 alone reaches 0.5
            let m = StepDistribution(logits: l.baseAddress!, vocab: 6, temperature: 1, minP: 0.3)
            // Kept: p_i >= 0.3 * p_max, i.e. logit >= 3 + ln 0.3 = 1.796.
            XCTAssertEqual(m.support, [1, 5])
            let full = StepDistribution(logits: l.baseAddress!, vocab: 6, temperature: 0.5)
            XCTAssertEqual(full.support.count, 6)
            XCTAssertEqual(full.argmax, 5)
        }
    }

    /// Truncation picks its candidates without sorting the whole vocabulary (top-k by selection, min-p by a filter):
    /// the kept tokens and probabilities are exactly those of the definition (full sort by probability, ties by id).
    func testTruncationEqualsTheFullSortDefinition() {
        var rng = Xoshiro256(seed: 9)
        let V = 300
        for trial in 0..<6 {
            // Logits on a coarse grid, so many probabilities tie exactly.
            let logits = (0..<V).map { _ in Float(Int(rng.uniform() * 12)) * 0.5 - (trial % 2 == 0 ? 0 : 3) }
            for topK in [nil, 1, 5, 37, 299, 300, 400] as [Int?] {
                for topP in [nil, 0.3, 0.95] as [Double?] {
                    for minP in [nil, 0.05, 0.5] as [Double?] where topK != nil || topP != nil || minP != nil {
                        let got = logits.withUnsafeBufferPointer {
                            StepDistribution(
                                logits: $0.baseAddress!, vocab: V, temperature: 0.8, topK: topK, topP: topP, minP: minP)
                        }
                        // The definition, written out: softmax, full sort, then walk the order.
                        let mx = Double(logits.max()!)
                        let e = logits.map { Foundation.exp((Double($0) - mx) / 0.8) }
                        let total = e.reduce(0, +)
                        let full = e.map { $0 / total }
                        let order = (0..<V).sorted { full[$0] > full[$1] || (full[$0] == full[$1] && $0 < $1) }
                        var keep = Set<Int>(), cumulative = 0.0
                        for (rank, i) in order.enumerated() {
                            if let k = topK, rank >= k { break }
                            if let mp = minP, full[i] < mp * full[order[0]], rank > 0 { break }
                            keep.insert(i); cumulative += full[i]
                            if let tp = topP, cumulative >= tp { break }
                        }
                        let label =
                            "trial \(trial) topK \(String(describing: topK)) topP \(String(describing: topP)) minP \(String(describing: minP))"
                        XCTAssertEqual(got.support, keep.sorted().map { Int32($0) }, label)
                        let kept = keep.sorted().reduce(0.0) { $0 + full[$1] }
                        for (k, tok) in got.support.enumerated() {
                            XCTAssertEqual(got.probs[k], full[Int(tok)] / kept, accuracy: 1e-12, label)
                        }
                    }
                }
            }
        }
    }

    /// The learner's batched soft / fuzzy gradients (chunks of 32 steps through sgemm, several chunks here) against
    /// the same gradients one step at a time through `StepDensity.evaluate` (the per-step Double loops), on the model's
    /// parameters and embeddings, and the same log-probabilities.
    func testBatchedContinuousGradientsEqualStepByStep() {
        for mode in [ThinkingMode.soft, .fuzzy] {
            let model = microModel(seed: 33)
            var config = SamplerConfig(mode: mode)
            config.maxThinkingSteps = 12; config.maxAnswerTokens = 2
            let rollouts = generate(model, config, groups: 4, groupSize: 8)
            let stepCount = rollouts.reduce(0) { $0 + $1.steps.count }
            XCTAssertGreaterThan(stepCount, 64, "want more than two chunks of 32 steps")
            let scorer = PolicyScorer(model: model, endOfThinking: eot)
            var rng = Xoshiro256(seed: 8)
            let coef = rollouts.map { r in (0..<r.actionCount).map { _ in rng.normal() } }
            let batched = model.makeGradients()
            let (pass, logProbs) = scorer.score(rollouts)
            scorer.backward(pass, rollouts, dLogp: coef, gradients: batched)
            // One step at a time, as PolicyScorer did before batching.
            let V = model.config.vocabSize, d = model.config.hiddenSize
            let reference = model.makeGradients()
            let dLogits = FloatBuffer(count: pass.totalRows * V)
            let dE = reference.pointer + model.layout.embedding
            var stepLogProbs: [[Double]] = []
            for (i, r) in rollouts.enumerated() {
                var lps: [Double] = []
                for (t, step) in r.steps.enumerated() {
                    let pos = r.stepLogitPosition(t)
                    lps.append(
                        StepDensity.evaluate(
                            step: step, logits: pass.logits(sequence: i, position: pos), config: r.sampler,
                            sigma: r.noiseSigma, embeddings: model.embeddingMatrix, vocab: V, dim: d,
                            coefficient: coef[i][t],
                            dLogits: dLogits.pointer + pass.row(sequence: i, position: pos) * V,
                            dEmbeddings: dE))
                }
                for (j, tok) in r.answer.enumerated() {
                    let pos = r.answerLogitPosition(j, markerLength: 1)
                    _ = StepDensity.answerToken(
                        tok, logits: pass.logits(sequence: i, position: pos), vocab: V,
                        coefficient: coef[i][r.steps.count + j],
                        dLogits: dLogits.pointer + pass.row(sequence: i, position: pos) * V)
                }
                stepLogProbs.append(lps)
            }
            _ = pass.backward(dLogits: dLogits.pointer, gradients: reference)
            for (a, b) in zip(logProbs, stepLogProbs) {
                XCTAssertEqual(Array(a.prefix(b.count)), b, "\(mode): log-densities")
            }
            let scale = (0..<reference.count).map { abs(reference[$0]) }.max() ?? 1
            let worst = (0..<reference.count).map { abs(batched[$0] - reference[$0]) / scale }.max() ?? 0
            print(
                "\(mode): \(stepCount) steps, worst gradient difference batched vs step by step \(worst) of the largest entry"
            )
            XCTAssertLessThan(worst, 1e-5, "\(mode)")
        }
    }
}
