// A rollout exactly as the policy produced it: prompt, every thinking step (token or the exact vector fed, with
// its behaviour log-probability), how thinking ended, the hard answer tokens with their log-probabilities, the
// sampler settings, the noise scale and the policy version. Enough for the learner to recompute every
// log-probability bit-for-bit in its inputs, and for another implementation to check it (docs/PROTOCOL.md,
// "Files and metrics a run writes").
import Foundation
import TransformerLM

public enum ThinkingEnd: String, Codable, Sendable {
    /// Hard mode sampled the end-of-thinking token (it is the last step and counts as an action).
    case sampled
    /// The greedy shadow (argmax) emitted end-of-thinking; the token was inserted, not sampled.
    case shadow
    /// The thinking-length limit was hit; end-of-thinking was forced.
    case forced
}

public struct Rollout: Codable, Sendable, Equatable {
    public var promptIndex: Int
    public var sampleIndex: Int
    public var prompt: [Int32]
    public var steps: [ThinkingStep]
    public var thinkingEnd: ThinkingEnd
    public var answer: [Int32]
    public var answerLogProbs: [Double]
    public var sampler: SamplerConfig
    /// Gaussian noise scale used (gamma * RMS(E) of the behaviour weights); 0 when no noise.
    public var noiseSigma: Double
    public var policyVersion: Int
    /// Filled by whoever holds the task (the learner recomputes it; an actor's claim is not trusted).
    public var reward: Double = 0
    public var verdict: String = ""

    public init(
        promptIndex: Int, sampleIndex: Int, prompt: [Int32], steps: [ThinkingStep], thinkingEnd: ThinkingEnd,
        answer: [Int32], answerLogProbs: [Double], sampler: SamplerConfig, noiseSigma: Double, policyVersion: Int
    ) {
        self.promptIndex = promptIndex; self.sampleIndex = sampleIndex; self.prompt = prompt; self.steps = steps
        self.thinkingEnd = thinkingEnd; self.answer = answer; self.answerLogProbs = answerLogProbs
        self.sampler = sampler; self.noiseSigma = noiseSigma; self.policyVersion = policyVersion
    }

    /// Behaviour log-probabilities of every action: thinking steps, then answer tokens.
    public var behaviourLogProbs: [Double] { steps.map(\.logProb) + answerLogProbs }
    public var actionCount: Int { steps.count + answer.count }
    /// Thinking length as the paper counts it (steps fed before end-of-thinking).
    public var thinkingLength: Int { thinkingEnd == .sampled ? steps.count - 1 : steps.count }
    var insertsEndOfThinking: Bool { thinkingEnd != .sampled }

    /// The sequence to teacher-force on the learner: prompt, thinking inputs, end-of-thinking (when inserted),
    /// and the answer tokens except the last (nothing is predicted after it).
    public func modelInput(endOfThinking: Int32) -> ModelInput { modelInput(endOfThinking: [endOfThinking]) }

    /// The same with a marker of one or more tokens (text tasks), inserted whole unless thinking ended by sampling.
    public func modelInput(endOfThinking: [Int32]) -> ModelInput {
        var tokens = prompt
        var vectors: [Float] = []
        for s in steps {
            tokens.append(s.token)
            if s.token == ModelInput.vectorSlot { vectors.append(contentsOf: s.vector) }
        }
        if insertsEndOfThinking { tokens.append(contentsOf: endOfThinking) }
        tokens.append(contentsOf: answer.dropLast())
        return ModelInput(tokens: tokens, vectors: vectors)
    }

    /// Position whose logits give the distribution of thinking step `t`.
    public func stepLogitPosition(_ t: Int) -> Int { prompt.count - 1 + t }
    /// Position whose logits give the distribution of answer token `j`.
    public func answerLogitPosition(_ j: Int, markerLength: Int = 1) -> Int {
        prompt.count + steps.count + (insertsEndOfThinking ? markerLength : 0) - 1 + j
    }
}
