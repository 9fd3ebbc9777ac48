// The run's command-line flags: the task's (every command that needs a task) and the RL run's (`train`, `learner`,
// `local`). Each property is named as its field of Run.RunOverrides, and the flags convert to that value by name,
// so there is no second list of settings to keep in step; an unknown name fails on first use and in the tests.
import ArgumentParser
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks

struct TaskOptionsGroup: ParsableArguments {
    @Option(help: "Task: mnns (default), reach, arith, words (text word problems), or jsonl:PATH.") var task: String?
    @Option(help: "Seed of the task's train/test split (default \(TaskOptions().seed)).") var taskSeed: UInt64?
    @Option(help: "mnns: number of digits (2-6; default \(TaskOptions().mnnsDigits)).") var mnnsDigits: Int?
    @Option(help: "reach: nodes in the graph (5-26; default \(TaskOptions().reachNodes)).") var reachNodes: Int?
    @Option(help: "arith: digits per operand (1-3; default \(TaskOptions().arithDigits)).") var arithDigits: Int?
    @Option(help: "Text tasks (words, jsonl:PATH of {question, answer}): a model directory or tokenizer.json.")
    var tokenizer: String?
    @Option(help: "Text tasks: \"chat\" (the directory's ChatML template) or a template containing {question}.")
    var promptTemplate: String?
    @Option(help: "Text tasks: the end-of-thinking marker text.") var endOfThinking: String?
    @Option(help: "Text tasks: numeric, exact or auto.") var verifier: String?
    @Option(help: "words: difficulty 1-3.") var wordLevel: Int?
    @Option(help: "words: number of train problems.") var wordCount: Int?

    var overrides: RunOverrides { get throws { try RunOverrides(fields: givenFlags()) } }
    func make() throws -> any ReasoningTask { try overrides.makeTask() }
}

/// RL settings shared by `train`, `learner` and `local`: defaults, then the --config file, then these flags.
struct RLOptionsGroup: ParsableArguments {
    @Option(help: "Thinking mode: hard, soft, fuzzy, gumbel, dirichlet, multi.") var mode: ThinkingMode?
    @Option(help: "JSON file overriding RL defaults (flags override the file).") var config: String?
    @Option(help: "Updates.") var steps: Int?
    @Option(help: "Samples per prompt.") var groupSize: Int?
    @Option(help: "Prompts per update.") var prompts: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Advantage estimator: rloo, grpo, drgrpo.") var advantage: AdvantageEstimator?
    @Option(help: "Loss: reinforce or clipped.") var loss: LossKind?
    @Option(help: "KL coefficient to the frozen base (k3).") var klBeta: Double?
    @Flag(help: "Drop groups whose rewards are all equal (DAPO).") var dynamicSampling = false
    @Option(help: "Drop rollouts more than K policy versions old (0 = synchronous).") var maxStaleness: Int?
    @Option(
        help: """
            Gaussian noise scale gamma (sigma = gamma * RMS of the embedding matrix). Default: \(NoiseScale.pretrained) (the \
            paper's) when the task uses a tokenizer (a pretrained model), \(NoiseScale.fromScratch) otherwise (a model trained \
            from scratch).
            """) var noiseScale: Double?
    @Option(help: "Run seed.") var seed: UInt64?
    @Option(
        help:
            "Learner micro-batch: rollouts (\"8\") or sequence positions (\"2048 tokens\") per pass; default from the model size and host memory. May change on a resume."
    )
    var microBatch: String?

    /// The task and RL flags that were given, as one value.
    func overrides(task: TaskOptionsGroup) throws -> RunOverrides {
        try RunOverrides(fields: task.givenFlags().merging(givenFlags()) { a, _ in a })
    }
}

extension ThinkingMode: ExpressibleByArgument {}
extension AdvantageEstimator: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}

/// A parsed flag's value as a JSON value; nil when the flag was not given.
protocol GivenFlag {
    var givenValue: Any? { get }
}

extension Option: GivenFlag where Value: Encodable {
    var givenValue: Any? {
        guard let data = try? JSONEncoder().encode(wrappedValue),
            let value = try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed), !(value is NSNull)
        else { return nil }
        return value
    }
}

extension Flag: GivenFlag where Value == Bool {
    var givenValue: Any? { wrappedValue ? true : nil }
}

extension ParsableArguments {
    /// The flags of this group that were given, keyed by property name.
    func givenFlags() -> [String: Any] {
        var out: [String: Any] = [:]
        for child in Mirror(reflecting: self).children {
            // Property wrappers are stored as `_name`.
            guard let label = child.label, let flag = child.value as? GivenFlag, let value = flag.givenValue else {
                continue
            }
            out[String(label.drop { $0 == "_" })] = value
        }
        return out
    }
}
