// What an in-memory cluster runs: a run configuration, its task, a small random model of the right vocabulary,
// the noise scale that model implies, a small stand-in weights blob per version, and real rollouts of the model.
// Built once and shared by every cluster made from it (the fuzz targets make one cluster per input).
import Cluster
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM
import Transport

public final class SimulatedRun {
    public let config: RLConfig
    public let rules: ClusterRules
    public let task: any ReasoningTask
    /// A random `tiny` model: it generates the rollouts (real ones, so the learner's full validation runs on them).
    public let model: LlamaModel
    /// The run's sampler as the learner resolves it for the task.
    public let sampler: SamplerConfig
    /// The noise scale the model implies; the learner checks every soft rollout against it.
    public let sigma: Double
    private var snapshots: [Int: WeightSnapshot] = [:]
    private var rolloutCache: [Int: [Rollout]] = [:]

    public init(config: RLConfig, rules: ClusterRules = ClusterRules()) throws {
        self.config = config; self.rules = rules
        task = try TaskCatalog.make(name: config.task, options: config.taskOptions)
        model = try LlamaModel(config: .tiny(vocabSize: max(64, task.vocabulary.count)), seed: 3)
        sampler = config.resolvedSampler(for: task)
        sigma = WeightSnapshot.expectedNoiseSigma(of: model, sampler: sampler)
        for v in 0...min(config.steps, 64) { snapshots[v] = try Self.standIn(version: v, noiseSigma: sigma) }
    }

    /// A small stand-in blob per version, in three chunks (the sessions check size and SHA-256 as usual): updates
    /// are simulated, so the weights never change; the version does.
    public static func standIn(version: Int, noiseSigma: Double?) throws -> WeightSnapshot {
        try WeightSnapshot(
            version: version, blob: Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ version) }),
            chunkBytes: 400,
            noiseSigma: noiseSigma)
    }

    /// Version `version`'s snapshot (made once).
    public func snapshot(_ version: Int) -> WeightSnapshot? {
        if let s = snapshots[version] { return s }
        let s = try? Self.standIn(version: version, noiseSigma: sigma)
        snapshots[version] = s
        return s
    }

    /// A learner core for this run, from scratch or from a checkpoint state.
    public func makeCore(runId: String = "sim", resume: LearnerState? = nil) -> LearnerCore {
        LearnerCore(
            config: config, task: task, modelConfig: model.config, rules: rules,
            weights: snapshot(resume?.step ?? 0)!, runId: resume?.runId ?? runId, resume: resume)
    }

    /// Real rollouts of the model for this prompt, generated once and stamped with the version and the requested
    /// sample indices (so groups pass every check the learner makes).
    public func rollouts(for req: GenerationRequest, version: Int) -> [Rollout] {
        if rolloutCache[req.promptIndex] == nil {
            let gen = RolloutGenerator(
                model: model, config: sampler, endOfThinking: Vocabulary.endOfThinking, endOfSequence: Vocabulary.eos)
            rolloutCache[req.promptIndex] =
                gen.generate(
                    [
                        GenerationRequest(
                            promptIndex: req.promptIndex, prompt: req.prompt, groupSize: config.groupSize, seed: 1)
                    ],
                    policyVersion: 0
                ).groups[0]
        }
        return (0..<req.groupSize).map { i in
            var r = rolloutCache[req.promptIndex]![(req.firstSample + i) % config.groupSize]
            r.policyVersion = version
            r.sampleIndex = req.firstSample + i
            return r
        }
    }
}
