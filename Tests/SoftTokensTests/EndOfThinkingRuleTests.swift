// The end-of-thinking rule as the learner checks it (EndOfThinkingRule, PolicyScorer.endRuleViolations) against the
// sampler that defines it: every rollout RolloutGenerator makes, in every mode, follows the rule on the learner's
// own logits; the other reading (feed the step whose argmax is end-of-thinking, then insert the token), a SHADOW end
// where the argmax is not end-of-thinking, and a hard rollout that goes on after sampling it are each found.
import XCTest
import Foundation
import Tasks
import TransformerLM
@testable import SoftTokens

final class EndOfThinkingRuleTests: XCTestCase {
    /// Rollouts of the micro model, many of them ending by the shadow (its argmax is end-of-thinking often enough).
    func rollouts(_ mode: ThinkingMode, model: LlamaModel) -> [Rollout] {
        var c = SamplerConfig(mode: mode)
        c.maxThinkingSteps = 6; c.maxAnswerTokens = 3
        let gen = RolloutGenerator(model: model, config: c, endOfThinking: eot, endOfSequence: eos)
        let reqs = (0..<8).map {
            GenerationRequest(
                promptIndex: $0, prompt: [1, Int32(4 + $0 % 6), 5, eot - 1], groupSize: 8, seed: 9 + UInt64($0))
        }
        return gen.generate(reqs, policyVersion: 0).groups.flatMap { $0 }
    }

    func violations(_ model: LlamaModel, _ rs: [Rollout]) -> [String?] {
        let scorer = PolicyScorer(model: model, endOfThinking: eot)
        let (pass, _) = scorer.score(rs)
        return scorer.endRuleViolations(pass, rs, marker: .token(eot))
    }

    func testTheSamplersOwnRolloutsFollowTheRuleInEveryMode() {
        let model = microModel(seed: 11)
        for mode in ThinkingMode.allCases {
            let rs = rollouts(mode, model: model)
            let ends = Dictionary(grouping: rs, by: \.thinkingEnd).mapValues(\.count)
            XCTAssertGreaterThan(
                ends[mode == .hard ? .sampled : .shadow] ?? 0, 0, "\(mode): no end by the model in \(ends)")
            for (r, v) in zip(rs, violations(model, rs)) {
                XCTAssertNil(v, "\(mode) rollout \(r.promptIndex)/\(r.sampleIndex) (\(r.thinkingEnd))")
            }
        }
    }

    func testFeedingTheStepWhoseArgmaxEndsThinkingIsFound() throws {
        let model = microModel(seed: 11)
        for mode in ThinkingMode.allCases where mode != .hard {
            let shadowEnded = rollouts(mode, model: model).filter { $0.thinkingEnd == .shadow && $0.steps.count < 6 }
            XCTAssertFalse(shadowEnded.isEmpty, "\(mode)")
            // The other reading of the rule: a step is fed at the position whose argmax is end-of-thinking, then the
            // token is inserted after it. Any vector will do: the argmax at that position does not depend on it.
            let fed = shadowEnded.map { r -> Rollout in
                var f = r
                let last = r.steps.last
                f.steps.append(
                    ThinkingStep(
                        token: ModelInput.vectorSlot, vector: last?.vector ?? [Float](repeating: 0.1, count: 8),
                        logProb: 0,
                        shadow: 0, support: last?.support ?? [], logWeights: last?.logWeights ?? [],
                        tokens: last?.tokens ?? []))
                return f
            }
            let fedFound = zip(fed, violations(model, fed)).compactMap { f, v in v.map { (f, $0) } }
            XCTAssertGreaterThan(
                fedFound.count, fed.count / 2, "\(mode): fed steps found \(fedFound.count) of \(fed.count)")
            for (f, v) in fedFound {
                XCTAssertTrue(
                    v.contains(
                        "step \(f.steps.count - 1): the argmax at this position completes the end-of-thinking marker"),
                    v)
            }
            // A SHADOW end one step early: the argmax after the (new) last step is not end-of-thinking. (A position
            // whose top two logits are within the tolerance is not judged, so count over several rollouts.)
            let early = shadowEnded.filter { !$0.steps.isEmpty }.map { r -> Rollout in
                var e = r; e.steps.removeLast(); return e
            }
            let found = violations(model, early).compactMap { $0 }
            XCTAssertGreaterThan(
                found.count, early.count / 2, "\(mode): early SHADOW ends found \(found.count) of \(early.count)")
            for e in found { XCTAssertTrue(e.contains("thinking_end SHADOW, but the argmax after the last step"), e) }
        }
    }

    func testAHardRolloutThatGoesOnAfterSamplingEndOfThinkingIsFound() throws {
        let model = microModel(seed: 11)
        let sampled = rollouts(.hard, model: model).filter { $0.thinkingEnd == .sampled && $0.steps.count < 6 }
        var r = try XCTUnwrap(sampled.first)
        r.steps.append(ThinkingStep(token: 5, logProb: -1, shadow: 5))
        r.thinkingEnd = .forced
        let v = try XCTUnwrap(violations(model, [r])[0])
        XCTAssertTrue(v.contains("completes the end-of-thinking marker, so thinking ends there"), v)
    }

    /// A near-tie of the argmax is not judged: the same rollout with an unclear deciding position passes.
    func testAnUnclearArgmaxIsNotJudged() {
        let marker = ThinkingMarker.token(eot)
        let clear = EndOfThinkingRule.violation(
            mode: .soft, end: .forced, deciding: [.init(token: 5), .init(token: eot)], afterLast: nil, marker: marker)
        XCTAssertNotNil(clear)
        let unclear = EndOfThinkingRule.violation(
            mode: .soft, end: .forced, deciding: [.init(token: 5), .init(token: eot, clear: false)], afterLast: nil,
            marker: marker)
        XCTAssertNil(unclear)
        var logits: [Float] = [0.1, 2.0, 2.0005, -1]
        XCTAssertEqual(EndOfThinkingRule.position(logits: &logits, vocab: 4), .init(token: 2, clear: false))
        logits[2] = 2.5
        XCTAssertEqual(EndOfThinkingRule.position(logits: &logits, vocab: 4), .init(token: 2, clear: true))
    }
}
