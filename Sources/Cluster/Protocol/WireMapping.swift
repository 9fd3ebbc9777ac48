// Conversions between the in-process rollout record (SoftTokens.Rollout) and its wire form (proto Rollout),
// and the checks a learner applies to a group from the network before trusting any of it. A peer can send
// anything: every field is validated against the model's shape and the sampler limits.
import Foundation
import SoftTokens
import Tasks
import Transport
import TransformerLM

public struct RolloutValidationError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

public enum WireMapping {
    static let thinkingEnds: [ThinkingEnd: Softrl_V1_ThinkingEnd] = [
        .sampled: .sampled, .shadow: .shadow, .forced: .forced
    ]

    public static func wire(_ r: Rollout) throws -> Wire.Rollout {
        var w = Wire.Rollout()
        w.promptTokenIds = r.prompt
        w.steps = try r.steps.map { s in
            var ws = Wire.Step()
            ws.tokenID = s.token
            ws.behaviourLogprob = s.logProb
            ws.shadowToken = s.shadow
            if !s.vector.isEmpty { ws.vector = try TensorCodec.encode(s.vector, shape: [s.vector.count]) }
            if !s.support.isEmpty {
                ws.support = s.support
                ws.logWeights = try TensorCodec.encode(s.logWeights, shape: [s.logWeights.count])
            }
            ws.sampledTokens = s.tokens
            return ws
        }
        w.answerTokenIds = r.answer
        w.answerLogprobs = r.answerLogProbs
        w.claimedReward = r.reward
        w.sampler = r.sampler.label
        w.policyVersion = UInt64(r.policyVersion)
        w.thinkingLength = UInt32(r.thinkingLength)
        w.forcedEnd = r.thinkingEnd == .forced
        w.sampleIndex = UInt32(r.sampleIndex)
        w.thinkingEnd = thinkingEnds[r.thinkingEnd]!
        w.noiseSigma = r.noiseSigma
        w.samplerConfigJson = r.sampler.canonicalJSON
        return w
    }

    /// Bounds of a behaviour log-probability the learner's own sampler can produce. Categorical (hard, multi and
    /// answer tokens): in [-1000, 0] (a token with probability e^-1000 is never sampled). Gaussian (soft, fuzzy;
    /// the constant dropped): -||eps||^2 / 2 with eps ~ N(0, I_d), far above -50 d. Concrete and Dirichlet
    /// densities can be positive: only a magnitude bound.
    static func logProbRange(_ mode: ThinkingMode, hiddenSize d: Int, categorical: Bool) -> ClosedRange<Double> {
        if categorical { return -1000...1e-9 }
        switch mode {
        case .soft, .fuzzy: return -50.0 * Double(d)...1e-9
        default: return -1e7...1e7
        }
    }

    /// Rebuilds and validates a rollout from the wire. `config` is the model the learner trains; `sampler` the
    /// run's settings (a peer may not train with settings the run did not ask for); `noiseSigma`, when given, the
    /// sigma the behaviour version's weights imply (sigma = gamma * RMS(E)), which a noisy rollout must state.
    public static func rollout(
        _ w: Wire.Rollout, promptIndex: Int, config: LlamaConfig, sampler: SamplerConfig,
        noiseSigma expectedSigma: ((Int) -> Double?)? = nil, runSamplerJSON: String? = nil,
        endOfThinking: Int32? = Vocabulary.endOfThinking
    ) throws -> Rollout {
        func fail(_ m: String) -> RolloutValidationError { RolloutValidationError(m) }
        let V = Int32(config.vocabSize), d = config.hiddenSize
        func tokenOK(_ t: Int32) -> Bool { t >= 0 && t < V }
        guard !w.promptTokenIds.isEmpty, w.promptTokenIds.allSatisfy(tokenOK) else {
            throw fail("prompt token ids empty or outside the vocabulary")
        }
        let recorded: SamplerConfig
        // Most rollouts carry exactly the run's JSON (what Welcome sent): skip the decoder for those (it was
        // most of the learner's ingest cost).
        if w.samplerConfigJson.isEmpty || w.samplerConfigJson == runSamplerJSON {
            recorded = sampler
        } else {
            guard let s = try? JSONDecoder().decode(SamplerConfig.self, from: Data(w.samplerConfigJson.utf8)) else {
                throw fail("sampler_config_json is not a sampler config")
            }
            recorded = s
        }
        // Density-relevant settings must be the run's, or the learner would train on another objective.
        guard recorded.mode == sampler.mode, recorded.greedy == false,
            recorded.mixtureTemperature == sampler.mixtureTemperature, recorded.topK == sampler.topK,
            recorded.topP == sampler.topP, recorded.minP == sampler.minP,
            recorded.gumbelTemperature == sampler.gumbelTemperature,
            recorded.dirichletConcentration == sampler.dirichletConcentration,
            recorded.dirichletMinAlpha == sampler.dirichletMinAlpha
        else {
            throw fail("rollout sampled with settings (\(recorded.label)) other than the run's (\(sampler.label))")
        }
        guard w.steps.count <= sampler.maxThinkingSteps + 1 else {
            throw fail("\(w.steps.count) thinking steps exceed the limit \(sampler.maxThinkingSteps)")
        }
        guard !w.answerTokenIds.isEmpty, w.answerTokenIds.count <= sampler.maxAnswerTokens,
            w.answerTokenIds.allSatisfy(tokenOK), w.answerLogprobs.count == w.answerTokenIds.count
        else {
            throw fail(
                "answer: \(w.answerTokenIds.count) tokens with \(w.answerLogprobs.count) log-probs (limit \(sampler.maxAnswerTokens), ids must be in the vocabulary)"
            )
        }
        guard w.answerLogprobs.allSatisfy({ $0.isFinite && $0 <= 1e-9 }) else {
            throw fail("answer log-probs must be finite and <= 0")
        }
        guard w.answerLogprobs.allSatisfy({ $0 >= -1000 }) else {
            throw fail("answer log-prob below -1000: no sampler produces that")
        }
        var steps: [ThinkingStep] = []
        for (t, ws) in w.steps.enumerated() {
            guard ws.behaviourLogprob.isFinite else { throw fail("step \(t): behaviour log-prob is not finite") }
            let categorical = ws.tokenID != ModelInput.vectorSlot
            let range = logProbRange(sampler.mode, hiddenSize: d, categorical: categorical)
            guard range.contains(ws.behaviourLogprob) else {
                throw fail(
                    "step \(t): behaviour log-prob \(ws.behaviourLogprob) outside \(range.lowerBound)...\(range.upperBound), impossible for a \(categorical ? "categorical" : sampler.mode.rawValue) step"
                )
            }
            var s = ThinkingStep(token: ws.tokenID, logProb: ws.behaviourLogprob, shadow: ws.shadowToken)
            if ws.tokenID == ModelInput.vectorSlot {
                guard sampler.mode != .hard else { throw fail("step \(t): a vector step in a hard-mode run") }
                guard ws.hasVector else { throw fail("step \(t): token -1 but no vector") }
                let (v, shape) = try TensorCodec.decode(ws.vector)
                guard shape == [d], v.allSatisfy(\.isFinite) else {
                    throw fail("step \(t): vector of shape \(shape), expected [\(d)] finite floats")
                }
                s.vector = v
            } else {
                guard sampler.mode == .hard, tokenOK(ws.tokenID) else {
                    throw fail("step \(t): token \(ws.tokenID) not valid in a \(sampler.mode.rawValue) run")
                }
                guard !ws.hasVector, !ws.hasLogWeights, ws.support.isEmpty else {
                    throw fail("step \(t): a hard step carries a vector or mixture weights")
                }
            }
            if !ws.support.isEmpty {
                guard ws.support.allSatisfy(tokenOK), ws.hasLogWeights else {
                    throw fail("step \(t): bad mixture support")
                }
                let (lw, shape) = try TensorCodec.decode(ws.logWeights)
                guard shape == [ws.support.count] else {
                    throw fail("step \(t): \(ws.support.count) support ids but log-weights of shape \(shape)")
                }
                s.support = ws.support; s.logWeights = lw
            }
            guard ws.sampledTokens.allSatisfy(tokenOK) else {
                throw fail("step \(t): sampled token outside the vocabulary")
            }
            s.tokens = ws.sampledTokens
            steps.append(s)
        }
        let end: ThinkingEnd
        switch w.thinkingEnd {
        case .sampled: end = .sampled
        case .shadow: end = .shadow
        case .forced: end = .forced
        default: end = w.forcedEnd ? .forced : (sampler.mode == .hard ? .sampled : .shadow)
        }
        guard end != .sampled || sampler.mode == .hard else {
            throw fail("thinking_end SAMPLED is only possible in hard mode")
        }
        // Thinking steps, not counting a sampled end-of-thinking (Rollout.thinkingLength).
        let expectedLength = end == .sampled ? steps.count - 1 : steps.count
        guard Int(w.thinkingLength) == expectedLength else {
            throw fail("thinking_length \(w.thinkingLength) but \(expectedLength) thinking steps")
        }
        guard w.thinkingEnd == .unspecified || w.forcedEnd == (end == .forced) else {
            throw fail("forced_end \(w.forcedEnd) contradicts thinking_end \(w.thinkingEnd)")
        }
        guard end != .forced || steps.count == sampler.maxThinkingSteps else {
            throw fail(
                "thinking forced to end after \(steps.count) steps, but the limit is \(sampler.maxThinkingSteps)")
        }
        if end == .sampled, let eot = endOfThinking {
            guard steps.last?.token == eot else {
                throw fail("thinking_end SAMPLED but the last step is not end-of-thinking")
            }
        }
        // The end rule (EndOfThinkingRule) on what the rollout records; the update re-checks it on the learner's own
        // logits, since a peer's recorded shadows need not be its real argmax.
        if let eot = endOfThinking {
            if sampler.mode == .hard {
                if let t = steps.dropLast(end == .sampled ? 1 : 0).firstIndex(where: { $0.token == eot }) {
                    throw fail("step \(t) is the end-of-thinking token, but thinking goes on after it")
                }
            } else if let t = steps.firstIndex(where: { $0.shadow == eot }) {
                throw fail(
                    "step \(t): its greedy shadow is the end-of-thinking token, so the sampler ends thinking at this position and inserts "
                        + "the marker instead of a step; this rollout fed and recorded a step there (docs/PROTOCOL.md, \"Where thinking ends\")"
                )
            }
        }
        guard w.noiseSigma.isFinite, w.noiseSigma >= 0, !(sampler.addsGaussianNoise && w.noiseSigma <= 0) else {
            throw fail("noise_sigma \(w.noiseSigma) invalid for \(sampler.label)")
        }
        if sampler.addsGaussianNoise, let expected = expectedSigma?(Int(w.policyVersion)) {
            guard abs(w.noiseSigma - expected) <= 1e-6 * expected else {
                throw fail(
                    "noise_sigma \(w.noiseSigma) is not the run's \(expected) (gamma x RMS of v\(w.policyVersion)'s embeddings)"
                )
            }
        }
        let total = w.promptTokenIds.count + steps.count + 1 + w.answerTokenIds.count
        guard total <= config.maxPositionEmbeddings else {
            throw fail("rollout of \(total) positions exceeds the model's \(config.maxPositionEmbeddings)")
        }
        var r = Rollout(
            promptIndex: promptIndex, sampleIndex: Int(w.sampleIndex), prompt: w.promptTokenIds, steps: steps,
            thinkingEnd: end, answer: w.answerTokenIds, answerLogProbs: w.answerLogprobs, sampler: recorded,
            noiseSigma: w.noiseSigma, policyVersion: Int(w.policyVersion))
        r.reward = 0 // never trusted: the learner recomputes it
        return r
    }
}
