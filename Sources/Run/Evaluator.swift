// Evaluation on the test split as the paper reports it: greedy pass@1 (noise-free thinking, greedy answer),
// sampled pass@1 and pass@k for k = 1, 2, 4, ..., n (unbiased estimator of Chen et al. 2021, arXiv 2107.03374),
// and mean thinking length. Inference mode (hard / soft / fuzzy) is independent of how the model was trained.
import Foundation
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

public struct EvalReport: Codable, Sendable {
    public var inference = ""
    public var problems = 0
    public var samples = 0
    public var greedyPass1 = 0.0
    public var sampledPass1 = 0.0
    /// k -> pass@k, k = 1, 2, 4, ... up to samples.
    public var passAtK: [Int: Double] = [:]
    public var meanThinkingLength = 0.0
    public var greedyThinkingLength = 0.0
    public var milliseconds = 0.0
}

/// 1 - C(n-c, k) / C(n, k), computed as a stable product.
public func unbiasedPassAtK(n: Int, c: Int, k: Int) -> Double {
    if c == 0 { return 0 }
    if n - c < k { return 1 }
    var prod = 1.0
    for i in (n - c + 1)...n { prod *= 1 - Double(k) / Double(i) }
    return 1 - prod
}

public struct Evaluator {
    public let model: LlamaModel
    public let task: any ReasoningTask
    /// Thinking mode used at inference (the paper's best deployment: train soft/fuzzy, infer hard).
    public var sampler: SamplerConfig
    public var samples = 32
    /// nil = the whole test split.
    public var problemLimit: Int? = nil
    public var seed: UInt64 = 1234
    /// Prompts generated together (rows = promptsPerBatch * samples).
    public var promptsPerBatch = 8

    public init(model: LlamaModel, task: any ReasoningTask, sampler: SamplerConfig) {
        self.model = model; self.task = task; self.sampler = sampler
    }

    public func run() -> EvalReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let n = min(problemLimit ?? task.count(.test), task.count(.test))
        var report = EvalReport()
        report.inference = sampler.mode.rawValue
        report.problems = n
        report.samples = samples
        var greedy = sampler
        greedy.greedy = true; greedy.answerGreedy = true
        var sampled = sampler
        sampled.greedy = false; sampled.answerGreedy = false
        var correctCounts: [Int] = []
        var thinking = 0.0, greedyThinking = 0.0, greedyCorrect = 0
        var idx = 0
        while idx < n {
            let batch = Array(idx..<min(n, idx + promptsPerBatch))
            idx += batch.count
            let problems = batch.map { task.problem(.test, $0) }
            let greedyGen = RolloutGenerator(model: model, config: greedy, task: task)
            let g = greedyGen.generate(problems.enumerated().map { GenerationRequest(promptIndex: batch[$0.offset], prompt: $0.element.prompt, groupSize: 1, seed: seed) }, policyVersion: 0).groups
            for (p, group) in zip(problems, g) {
                if task.verdict(answerTokens: group[0].answer, for: p) == .correct { greedyCorrect += 1 }
                greedyThinking += Double(group[0].thinkingLength)
            }
            if samples > 0 {
                let gen = RolloutGenerator(model: model, config: sampled, task: task)
                let reqs = problems.enumerated().map {
                    GenerationRequest(promptIndex: batch[$0.offset], prompt: $0.element.prompt, groupSize: samples,
                                      seed: GroupSeed.of(runSeed: seed, position: batch[$0.offset]))
                }
                for (p, group) in zip(problems, gen.generate(reqs, policyVersion: 0).groups) {
                    correctCounts.append(group.filter { task.verdict(answerTokens: $0.answer, for: p) == .correct }.count)
                    thinking += Double(group.map(\.thinkingLength).reduce(0, +)) / Double(samples)
                }
            }
        }
        report.greedyPass1 = Double(greedyCorrect) / Double(max(n, 1))
        report.greedyThinkingLength = greedyThinking / Double(max(n, 1))
        if samples > 0 {
            report.meanThinkingLength = thinking / Double(max(n, 1))
            var k = 1
            while k <= samples {
                report.passAtK[k] = correctCounts.map { unbiasedPassAtK(n: samples, c: $0, k: k) }.reduce(0, +) / Double(max(n, 1))
                k *= 2
            }
            report.sampledPass1 = report.passAtK[1] ?? 0
        }
        report.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return report
    }
}
