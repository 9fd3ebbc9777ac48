// End-to-end direction check of the whole RL loop (generation, reward, advantages, loss, backward through the
// model, AdamW): on a task whose answer is one fixed token, a tiny random model's reward must rise within a few
// dozen updates, for hard and for soft thinking. A sign error anywhere in the chain makes reward fall instead.
import XCTest
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM

/// Prompt "<bos> a" ; correct answer "b" (then eos). Any other single letter is well-formed but wrong.
struct OneTokenTask: ReasoningTask {
    let vocabulary = Vocabulary(characters: Array("abcdefgh"))
    var name: String { "one-token" }
    func count(_ split: Split) -> Int { 4 }
    func problem(_ split: Split, _ index: Int) -> Problem {
        let prompt = try! [Vocabulary.bos] + vocabulary.encode("a")
        return Problem(
            id: index, prompt: prompt, cot: [], answer: "b",
            answerTokens: try! vocabulary.encode("b") + [Vocabulary.eos])
    }
    func verdict(answerTokens: [Int32], for problem: Problem) -> Verdict {
        let body = answerTokens.prefix { $0 != Vocabulary.eos }
        if body.count == 1 && vocabulary.decode(Array(body)) == "b" { return .correct }
        return body.count == 1 && body.allSatisfy { $0 > Vocabulary.endOfThinking } ? .wellFormedWrong : .malformed
    }
    var maxAnswerTokens: Int { 2 }
    var suggestedThinkingLimit: Int { 2 }
}

/// The one-layer model the run tests train: width 16, 2 query heads sharing 1 key/value head.
func oneLayerConfig(vocabSize: Int, maxPositions: Int) -> LlamaConfig {
    LlamaConfig(
        vocabSize: vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2,
        numKeyValueHeads: 1, maxPositionEmbeddings: maxPositions)
}

final class RLRunTests: XCTestCase {
    func meanReward(mode: ThinkingMode, steps: Int) -> (early: Double, late: Double) {
        let task = OneTokenTask()
        let c = oneLayerConfig(vocabSize: task.vocabulary.count, maxPositions: 16)
        let model = try! LlamaModel(config: c, seed: 3, std: 0.1)
        var config = RLConfig()
        config.sampler.mode = mode
        config.groupSize = 8; config.promptsPerStep = 2; config.steps = steps
        config.learningRate = 1e-2; config.warmupSteps = 0
        config.rewards = RewardShaping(correct: 1, wellFormedWrong: 0, malformed: 0) // no partial credit to get stuck on
        let rl = SingleProcessRL(model: model, task: task, config: config)
        var rewards: [Double] = []
        for _ in 0..<steps { rewards.append(try! rl.step().report.rewardMean) }
        let k = 5
        return (rewards.prefix(k).reduce(0, +) / Double(k), rewards.suffix(k).reduce(0, +) / Double(k))
    }

    func testHardThinkingRewardRises() {
        let (early, late) = meanReward(mode: .hard, steps: 100)
        print("hard: reward \(early) -> \(late)")
        XCTAssertGreaterThan(late, early + 0.3)
    }

    func testSoftThinkingRewardRises() {
        let (early, late) = meanReward(mode: .soft, steps: 100)
        print("soft: reward \(early) -> \(late)")
        XCTAssertGreaterThan(late, early + 0.3)
    }
}

/// A rollout holding an action the run's own sampler could not have made (a hard token outside top-k) has learner
/// log-prob -inf: it must be left out of the loss and counted, not drag the importance ratios of the rest.
final class ImpossibleRolloutTests: XCTestCase {
    func testAnActionOutsideTopKIsCountedAndMaskedNotTrainedOn() throws {
        let task = OneTokenTask()
        let c = oneLayerConfig(vocabSize: task.vocabulary.count, maxPositions: 16)
        let model = try LlamaModel(config: c, seed: 3, std: 0.1)
        var config = RLConfig()
        config.sampler.mode = .hard; config.sampler.topK = 1; config.sampler.maxThinkingSteps = 2
        config.groupSize = 4; config.promptsPerStep = 1; config.steps = 10; config.learningRate = 1e-3;
        config.warmupSteps = 0
        let sampler = config.resolvedSampler(for: task)
        let learner = PolicyLearner(model: model, config: config, endOfThinking: task.thinkingMarker.tokens)
        let gen = RolloutGenerator(model: model, config: sampler, task: task)
        var group = gen.generate(
            [GenerationRequest(promptIndex: 0, prompt: task.problem(.train, 0).prompt, groupSize: 4, seed: 1)],
            policyVersion: 0
        ).groups[0]
        let scorer = RewardScorer(task: task, shaping: config.rewards)
        for i in group.indices { scorer.score(&group[i]) }
        // Honest rollouts first: top-1 sampling from the learner's own weights, so every ratio is 1.
        let honest = try learner.update(groups: [group])
        XCTAssertEqual(honest.impossibleRollouts, 0)
        XCTAssertEqual(honest.meanRatio, 1, accuracy: 1e-4)
        // Now the same weights again (a fresh learner) and one rollout whose first thinking token is not the top-1.
        let model2 = try LlamaModel(config: c, seed: 3, std: 0.1)
        let learner2 = PolicyLearner(model: model2, config: config, endOfThinking: task.thinkingMarker.tokens)
        let step = try XCTUnwrap(
            group[0].steps.firstIndex { $0.token > Vocabulary.endOfThinking } ?? group[0].steps.indices.first,
            "the rollout has no thinking step to alter")
        let original = group[0].steps[step].token
        group[0].steps[step].token =
            original == Vocabulary.endOfThinking + 1 ? Vocabulary.endOfThinking + 2 : Vocabulary.endOfThinking + 1
        let report = try learner2.update(groups: [group])
        XCTAssertEqual(
            report.impossibleRollouts, 1, "the altered rollout's action is outside top-1: probability 0 for this run")
        XCTAssertFalse(report.skipped)
        XCTAssertEqual(report.meanRatio, 1, accuracy: 1e-4, "the impossible rollout must not drag the others' ratios")
        XCTAssertTrue(report.loss.isFinite && report.gradNorm.isFinite)
    }
}
