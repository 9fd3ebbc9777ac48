// The update's end-of-thinking check: a current-version rollout that feeds a step where the learner's argmax ends
// thinking is counted and left out of the loss; the same rollout one version stale is not judged (its argmax was
// taken under the older weights the learner no longer holds).
import XCTest
import PolicyGradient
@testable import Run
import SoftTokens
import Tasks
import TransformerLM

final class EndRuleUpdateTests: XCTestCase {
    func testACurrentRolloutBreakingTheRuleIsLeftOutAndAStaleOneIsNotJudged() throws {
        let task = OneTokenTask()
        let c = oneLayerConfig(vocabSize: task.vocabulary.count, maxPositions: 32)
        let model = try LlamaModel(config: c, seed: 5, std: 0.4)
        var config = RLConfig()
        config.sampler.mode = .soft; config.groupSize = 2; config.learningRate = 1e-3; config.warmupSteps = 0
        let sampler = {
            var s = config.sampler; s.maxThinkingSteps = 6; s.maxAnswerTokens = 2; return s
        }()
        let gen = RolloutGenerator(
            model: model, config: sampler, endOfThinking: Vocabulary.endOfThinking, endOfSequence: Vocabulary.eos)
        let reqs = (0..<16).map {
            GenerationRequest(promptIndex: 0, prompt: task.problem(.train, 0).prompt, groupSize: 8, seed: UInt64($0))
        }
        let all = gen.generate(reqs, policyVersion: 0).groups.flatMap { $0 }
        let shadowEnded = all.filter { $0.thinkingEnd == .shadow && $0.steps.count < 6 }
        let honest = try XCTUnwrap(all.first { $0.thinkingEnd != .shadow }, "need an honest partner")
        let learner = PolicyLearner(model: model, config: config, endOfThinking: Vocabulary.endOfThinking)
        // Shadow-ended rollouts with a step fed where thinking ended; one the scorer judges (a near-tie is not judged).
        let fed = shadowEnded.map { r -> Rollout in
            var f = r
            f.steps.append(
                ThinkingStep(
                    token: ModelInput.vectorSlot, vector: [Float](repeating: 0.05, count: 16), logProb: -3, shadow: 0))
            return f
        }
        let scorer = PolicyScorer(model: model, endOfThinking: Vocabulary.endOfThinking)
        let judged = scorer.endRuleViolations(scorer.score(fed).pass, fed, marker: .token(Vocabulary.endOfThinking))
        let bad = try XCTUnwrap(
            zip(fed, judged).first { $0.1 != nil }?.0, "no rollout ended by the shadow, or none judged")
        var a = bad, b = honest
        a.reward = 1; b.reward = 0
        let current = try learner.update(groups: [[a, b]])
        XCTAssertEqual(current.endRuleViolations, 1, "the current-version breach is counted")
        XCTAssertEqual(current.impossibleRollouts, 0)
        XCTAssertEqual(learner.version, 1)
        let stale = try learner.update(groups: [[a, b]]) // the same rollouts, now one version behind
        XCTAssertEqual(stale.endRuleViolations, 0, "a stale rollout is not judged on newer weights")
    }
}
