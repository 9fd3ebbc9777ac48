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
    /// Standard errors (nil in reports written before they were recorded). Greedy pass@1 is one Bernoulli trial
    /// per problem: binomial sqrt(p(1-p)/n). Sampled pass@1, pass@k and thinking lengths are means over problems
    /// of a per-problem value, so their SE is that value's sample standard deviation / sqrt(problems).
    public var greedyPass1SE: Double?
    public var passAtKSE: [Int: Double]?
    public var meanThinkingLengthSE: Double?
    public var greedyThinkingLengthSE: Double?
    /// Correct samples per problem, in test-split order (lets two evaluations on the same problems be compared
    /// pairwise).
    public var correctPerProblem: [Int]?

    public var sampledPass1SE: Double? { passAtKSE?[1] }
}

/// Standard error of the mean of `values`: sample standard deviation (n - 1) / sqrt(n); 0 below two values.
public func standardErrorOfMean(_ values: [Double]) -> Double {
    let n = Double(values.count)
    guard values.count > 1 else { return 0 }
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (variance / n).squareRoot()
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
        var thinkingPerProblem: [Double] = [], greedyThinkingPerProblem: [Double] = []
        var thinking = 0.0, greedyThinking = 0.0, greedyCorrect = 0
        var idx = 0
        while idx < n {
            let batch = Array(idx..<min(n, idx + promptsPerBatch))
            idx += batch.count
            let problems = batch.map { task.problem(.test, $0) }
            let greedyGen = RolloutGenerator(model: model, config: greedy, task: task)
            let g = greedyGen.generate(
                problems.enumerated().map {
                    GenerationRequest(
                        promptIndex: batch[$0.offset], prompt: $0.element.prompt, groupSize: 1, seed: seed)
                }, policyVersion: 0
            ).groups
            for (p, group) in zip(problems, g) {
                if task.verdict(answerTokens: group[0].answer, for: p) == .correct { greedyCorrect += 1 }
                greedyThinking += Double(group[0].thinkingLength)
                greedyThinkingPerProblem.append(Double(group[0].thinkingLength))
            }
            if samples > 0 {
                let gen = RolloutGenerator(model: model, config: sampled, task: task)
                let reqs = problems.enumerated().map {
                    GenerationRequest(
                        promptIndex: batch[$0.offset], prompt: $0.element.prompt, groupSize: samples,
                        seed: GroupSeed.of(runSeed: seed, position: batch[$0.offset]))
                }
                for (p, group) in zip(problems, gen.generate(reqs, policyVersion: 0).groups) {
                    correctCounts.append(
                        group.filter { task.verdict(answerTokens: $0.answer, for: p) == .correct }.count)
                    thinking += Double(group.map(\.thinkingLength).reduce(0, +)) / Double(samples)
                    thinkingPerProblem.append(Double(group.map(\.thinkingLength).reduce(0, +)) / Double(samples))
                }
            }
        }
        report.greedyPass1 = Double(greedyCorrect) / Double(max(n, 1))
        report.greedyThinkingLength = greedyThinking / Double(max(n, 1))
        report.greedyPass1SE = (report.greedyPass1 * (1 - report.greedyPass1) / Double(max(n, 1))).squareRoot()
        report.greedyThinkingLengthSE = standardErrorOfMean(greedyThinkingPerProblem)
        if samples > 0 {
            report.meanThinkingLength = thinking / Double(max(n, 1))
            report.meanThinkingLengthSE = standardErrorOfMean(thinkingPerProblem)
            report.correctPerProblem = correctCounts
            var passSE: [Int: Double] = [:]
            var k = 1
            while k <= samples {
                let perProblem = correctCounts.map { unbiasedPassAtK(n: samples, c: $0, k: k) }
                report.passAtK[k] = perProblem.reduce(0, +) / Double(max(n, 1))
                passSE[k] = standardErrorOfMean(perProblem)
                k *= 2
            }
            report.passAtKSE = passSE
            report.sampledPass1 = report.passAtK[1] ?? 0
        }
        report.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return report
    }
}
