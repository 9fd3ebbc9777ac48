// Supervised warm-start (SFT) on the tasks' discrete chain-of-thought traces: every RL source starts from such
// a checkpoint (method notes sec. 7). Sequence = prompt + trace + <eot> + answer + <eos>; cross-entropy on every
// position after the prompt, averaged over those tokens. Returns numbers per step; prints nothing.
import Foundation
import PolicyGradient
import TensorMath
import TransformerLM
import Tasks

public struct SFTConfig: Codable, Sendable, Equatable {
    public var task = "mnns"
    public var taskOptions = TaskOptions()
    /// Updates; the default leaves a tiny model competent but imperfect, so RL has something to improve.
    public var steps = 300
    /// Problems per update.
    public var batchSize = 32
    /// Peak learning rate (AdamW; small models train fast at 1e-3..3e-3).
    public var learningRate = 2e-3
    public var warmupSteps = 20
    public var minLRRatio = 0.1
    public var weightDecay = 0.0
    public var maxGradNorm = 1.0
    public var seed: UInt64 = 0
    /// Model preset for a fresh start ("tiny" or "small"), ignored when a base checkpoint is given.
    public var preset = "tiny"
    public init() {}
}

public struct SFTReport: Codable, Sendable {
    public var step = 0
    public var loss = 0.0
    public var tokens = 0
    public var learningRate = 0.0
    public var gradNorm = 0.0
    public var milliseconds = 0.0
    public var skipped = false
}

public final class SupervisedTrainer {
    public let model: LlamaModel
    public let task: any ReasoningTask
    public let config: SFTConfig
    public let optimizer: AdamW
    public var schedule: PromptSchedule
    let lr: LearningRateSchedule
    let gradients: FloatBuffer

    public init(model: LlamaModel, task: any ReasoningTask, config: SFTConfig) throws {
        try Self.checkFits(task: task, model: model)
        self.model = model; self.task = task; self.config = config
        optimizer = AdamW(
            parameterCount: model.parameterCount,
            config: AdamWConfig(lr: config.learningRate, weightDecay: config.weightDecay))
        schedule = PromptSchedule(count: task.count(.train), seed: config.seed)
        lr = LearningRateSchedule(
            peak: config.learningRate, warmupSteps: min(config.warmupSteps, config.steps),
            totalSteps: max(config.steps, config.warmupSteps), minRatio: config.minLRRatio)
        gradients = model.makeGradients()
    }

    /// Throws unless every training problem's teacher-forced sequence fits the model's positions (a longer one would
    /// stop the process in the forward pass); the message names the problem (file and line for JSONL tasks), its
    /// length, the limit and what to do.
    public static func checkFits(task: any ReasoningTask, model: LlamaModel) throws {
        let limit = model.config.maxPositionEmbeddings, marker = task.thinkingMarker.tokens
        for i in 0..<task.count(.train) {
            let p = task.problem(.train, i)
            let positions = p.prompt.count + p.cot.count + marker.count + p.answerTokens.count - 1 // the last token is only a target
            guard positions <= limit else {
                throw ConfigFileError(
                    description:
                        "\(task.origin(.train, i)): this problem's supervised sequence is \(positions) positions "
                        + "(prompt \(p.prompt.count) + trace \(p.cot.count) + end of thinking \(marker.count) + answer \(p.answerTokens.count) tokens, "
                        + "less one), over the model's max_position_embeddings of \(limit): shorten or remove this problem, or start from a model with more positions"
                )
            }
        }
    }

    /// The teacher-forced sequence of one problem and the index of its first predicted token.
    public static func sequence(_ p: Problem, marker: [Int32] = [Vocabulary.endOfThinking]) -> (
        tokens: [Int32], firstTarget: Int
    ) {
        (p.prompt + p.cot + marker + p.answerTokens, p.prompt.count)
    }

    public func step() -> SFTReport {
        let start = DispatchTime.now().uptimeNanoseconds
        var report = SFTReport()
        report.step = optimizer.step + 1
        let problems = (0..<config.batchSize).map { _ in task.problem(.train, schedule.next()) }
        let seqs = problems.map { Self.sequence($0, marker: task.thinkingMarker.tokens) }
        let pass = model.forward(seqs.map { ModelInput(tokens: Array($0.tokens.dropLast())) })
        let V = model.config.vocabSize
        let targets = seqs.reduce(0) { $0 + $1.tokens.count - $1.firstTarget }
        let dLogits = FloatBuffer(count: pass.totalRows * V)
        var loss = 0.0
        let inv = 1 / Double(targets)
        for (i, s) in seqs.enumerated() {
            for pos in (s.firstTarget - 1)..<(s.tokens.count - 1) {
                let l = pass.logits(sequence: i, position: pos)
                let d = dLogits.pointer + (pass.rowOffsets[i] + pos) * V
                let lse = softmax(l, count: V, into: d) // d = p
                let target = Int(s.tokens[pos + 1])
                loss -= (Double(l[target]) - lse) * inv
                for j in 0..<V { d[j] *= Float(inv) }
                d[target] -= Float(inv)
            }
        }
        gradients.zero()
        pass.backward(dLogits: dLogits.pointer, gradients: gradients)
        report.loss = loss
        report.tokens = targets
        report.learningRate = lr.rate(at: optimizer.step)
        if loss.isFinite && allFinite(UnsafeBufferPointer(gradients.buffer)) {
            report.gradNorm = clipGradients(gradients.buffer, maxNorm: config.maxGradNorm).normBefore
            optimizer.update(
                parameters: model.weights.buffer, gradients: UnsafeBufferPointer(gradients.buffer),
                learningRate: Float(report.learningRate))
        } else {
            report.skipped = true
        }
        report.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return report
    }
}

extension SupervisedTrainer {
    /// Runs the configured number of updates, handing each step's report to `log`; stops early when `shouldStop`
    /// says so. Returns whether every update ran.
    @discardableResult
    public func run(shouldStop: () -> Bool = { false }, log: (SFTReport) -> Void) -> Bool {
        for _ in 0..<config.steps {
            if shouldStop() { return false }
            log(step())
        }
        return true
    }
}
