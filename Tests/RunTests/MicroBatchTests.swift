// The data-parallel update: the same rollouts through 1, 3 or every-rollout micro-batches, through 1, 2 or 3
// threads, and through two workers joined by an in-process reducer, give the gradient of one pass over the whole
// update (scored and differentiated here directly with PolicyScorer and policyLoss, no micro-batching), for every
// loss normalisation; and the post-step weights agree.
import XCTest
import Foundation
import TensorMath
import TransformerLM
import SoftTokens
import PolicyGradient
@testable import Run

private let eot: Int32 = 3, eos: Int32 = 2

private func smallModel() -> LlamaModel {
    let c = LlamaConfig(
        vocabSize: 13, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2,
        numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 64)
    return try! LlamaModel(config: c, seed: 11, std: 0.3)
}

/// Three groups of four rollouts with varied rewards (so advantages are not zero), prompts of different lengths.
private func groups(_ model: LlamaModel, mode: ThinkingMode) -> [[Rollout]] {
    var s = SamplerConfig(mode: mode)
    s.maxThinkingSteps = 5; s.maxAnswerTokens = 3
    let gen = RolloutGenerator(model: model, config: s, endOfThinking: eot, endOfSequence: eos)
    let prompts: [[Int32]] = [[1, 4, 5], [1, 6, 7, 8, 9], [1, 10]]
    var out = gen.generate(
        prompts.enumerated().map {
            GenerationRequest(promptIndex: $0.offset, prompt: $0.element, groupSize: 4, seed: 5 + UInt64($0.offset))
        },
        policyVersion: 0
    ).groups
    for g in out.indices { for r in out[g].indices { out[g][r].reward = Double((g + 2 * r) % 3) } }
    return out
}

private func config(_ normalization: LossNormalization, kind: LossKind, microBatch: MicroBatchSize?) -> RLConfig {
    var c = RLConfig()
    c.loss.normalization = normalization; c.loss.kind = kind; c.loss.constantLength = 7
    c.maxGradNorm = 1e9 // no clipping: the raw gradients are compared
    c.learningRate = 1e-3; c.warmupSteps = 0
    c.microBatch = microBatch
    return c
}

/// One pass over the whole update, written without micro-batches or shared prompts: every rollout scored and
/// differentiated whole, at once.
private func onePassGradient(_ model: LlamaModel, _ groups: [[Rollout]], _ config: RLConfig) -> (
    loss: Double, gradient: [Float]
) {
    // Steps fed as vectors carry the config's weight, every other action 1 (LossConfig.continuousStepWeight).
    let w = config.loss.continuousStepWeight
    let scorer = PolicyScorer(model: model, endOfThinking: [eot])
    scorer.sharePrompts = false
    let rollouts = groups.flatMap { $0 }
    let advantages = groups.flatMap { computeAdvantages(rewards: $0.map(\.reward), estimator: config.advantage) }
    let (pass, logProbs) = scorer.score(rollouts)
    let terms = rollouts.indices.map {
        RolloutTerms(
            advantage: advantages[$0], logp: logProbs[$0], behaviourLogp: rollouts[$0].behaviourLogProbs,
            weight: rollouts[$0].steps.map { $0.vector.isEmpty ? 1 : w } + rollouts[$0].answer.map { _ in 1 })
    }
    let result = policyLoss(terms, config: config.loss)
    let g = model.makeGradients()
    scorer.backward(pass, rollouts, dLogp: result.dLogp, gradients: g)
    return (result.loss, g.array)
}

/// max |a - b| / max |b|. Float32 sums in another order and logits blocked in other rows differ by ~1e-7 to ~4e-6
/// of the largest entry; the tests allow 1e-5.
private func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    let scale = Double(b.map { abs($0) }.max() ?? 0)
    let diff = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
    return scale > 0 ? diff / scale : diff
}

/// Two or more workers of one update in one process: each worker's thread calls allReduceSum, the last to arrive
/// sums every worker's buffer in rank order and every worker copies the sum back (the shape MPI_Allreduce has).
final class InProcessReducer {
    private let condition = NSCondition()
    private var floats: [UnsafeMutableBufferPointer<Float>?]
    private var doubles: [UnsafeMutableBufferPointer<Double>?]
    private var arrived = 0, generation = 0
    let size: Int
    init(size: Int) {
        self.size = size; floats = Array(repeating: nil, count: size); doubles = Array(repeating: nil, count: size)
    }

    final class Worker: GradientReducer {
        let group: InProcessReducer, rank: Int
        init(group: InProcessReducer, rank: Int) { self.group = group; self.rank = rank }
        var size: Int { group.size }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
            group.join(rank, float: buffer, double: nil)
        }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
            group.join(rank, float: nil, double: buffer)
        }
    }
    func worker(_ rank: Int) -> Worker { Worker(group: self, rank: rank) }

    fileprivate func join(
        _ rank: Int, float: UnsafeMutableBufferPointer<Float>?, double: UnsafeMutableBufferPointer<Double>?
    ) {
        condition.lock(); defer { condition.unlock() }
        floats[rank] = float; doubles[rank] = double
        arrived += 1
        let myGeneration = generation
        if arrived == size {
            if let first = floats[0] {
                var sum = [Float](repeating: 0, count: first.count)
                for r in 0..<size {
                    precondition(floats[r]!.count == sum.count); for i in sum.indices { sum[i] += floats[r]![i] }
                }
                for r in 0..<size { for i in sum.indices { floats[r]![i] = sum[i] } }
            } else {
                var sum = [Double](repeating: 0, count: doubles[0]!.count)
                for r in 0..<size { for i in sum.indices { sum[i] += doubles[r]![i] } }
                for r in 0..<size { for i in sum.indices { doubles[r]![i] = sum[i] } }
            }
            arrived = 0; generation += 1
            condition.broadcast()
        } else {
            while generation == myGeneration { condition.wait() }
        }
    }
}

final class MicroBatchTests: XCTestCase {
    /// A group's prompt run once (shared keys and values) gives every log-probability of the whole-sequence pass.
    func testSharedPromptsGiveTheUnsharedLogProbs() {
        for mode in [ThinkingMode.hard, .soft, .fuzzy] {
            let model = smallModel()
            let rollouts = groups(model, mode: mode).flatMap { $0 }
            let shared = PolicyScorer(model: model, endOfThinking: [eot]),
                whole = PolicyScorer(model: model, endOfThinking: [eot])
            whole.sharePrompts = false
            let (sharedPass, a) = shared.score(rollouts)
            let (wholePass, b) = whole.score(rollouts)
            XCTAssertLessThan(sharedPass.totalRows, wholePass.totalRows, "each group's prompt packed once")
            let diff = zip(a.joined(), b.joined()).map { abs($0 - $1) }.max() ?? 0
            print(
                "\(mode): \(sharedPass.totalRows) vs \(wholePass.totalRows) rows, log-prob max diff shared vs whole \(diff)"
            )
            XCTAssertLessThan(diff, 1e-5, "\(mode)")
        }
    }

    func testSizesParseAndSplitAtTheirLimitingCases() {
        XCTAssertEqual(MicroBatchSize(parsing: "8"), MicroBatchSize(8, .rollouts))
        XCTAssertEqual(MicroBatchSize(parsing: "8 rollouts"), MicroBatchSize(8, .rollouts))
        XCTAssertEqual(MicroBatchSize(parsing: "2048tokens"), MicroBatchSize(2048, .tokens))
        XCTAssertEqual(MicroBatchSize(parsing: "2048 t"), MicroBatchSize(2048, .tokens))
        for bad in ["0", "", "tokens", "8 bytes", "-3", "1.5"] { XCTAssertNil(MicroBatchSize(parsing: bad), bad) }
        // One rollout per micro-batch; everything in one; a token limit smaller than one rollout still takes it.
        XCTAssertEqual(MicroBatchSize(1, .rollouts).split(lengths: [5, 6, 7]), [0..<1, 1..<2, 2..<3])
        XCTAssertEqual(MicroBatchSize(100, .rollouts).split(lengths: [5, 6, 7]), [0..<3])
        XCTAssertEqual(MicroBatchSize(4, .tokens).split(lengths: [5, 6, 7]), [0..<1, 1..<2, 2..<3])
        XCTAssertEqual(MicroBatchSize(12, .tokens).split(lengths: [5, 6, 7, 1]), [0..<2, 2..<4])
        XCTAssertEqual(MicroBatchSize(3, .rollouts).split(lengths: []), [])
        // Enough micro-batches for every worker thread, when there are enough rollouts.
        XCTAssertEqual(MicroBatchSize(100, .rollouts).split(lengths: [5, 6, 7, 8], atLeast: 2), [0..<2, 2..<4])
        XCTAssertEqual(MicroBatchSize(100, .tokens).split(lengths: [5, 6, 7, 8], atLeast: 2), [0..<2, 2..<4])
        XCTAssertEqual(
            MicroBatchSize(100, .rollouts).split(lengths: [1, 1, 1, 1, 1, 1], atLeast: 3), [0..<2, 2..<4, 4..<6])
        XCTAssertEqual(MicroBatchSize(100, .rollouts).split(lengths: [5], atLeast: 4), [0..<1])
        // SmolLM2's `words` update of 2 groups of 16 (a group's first rollout carries the 72-token prompt) at 459
        // tokens: the limit alone needs 5 micro-batches; for 2 workers taking them in turn that rounds up to 6, and
        // each worker's positions are within a tenth of the other's.
        let group = [127] + Array(repeating: 55, count: 15)
        let batches = MicroBatchSize(459, .tokens).split(lengths: group + group, atLeast: 2)
        XCTAssertEqual(batches.count, 6)
        let lengths = group + group
        let load = (0..<2).map { w in
            batches.indices.filter { $0 % 2 == w }.reduce(0) { $0 + lengths[batches[$1]].reduce(0, +) }
        }
        XCTAssertLessThan(Double(abs(load[0] - load[1])), 0.1 * Double(load.max()!), "\(batches) \(load)")
        XCTAssertTrue(batches.allSatisfy { lengths[$0].reduce(0, +) <= 459 }, "\(batches)")
        // A config file names the size as a string; a bad one says what to write.
        let decoded = try? JSONDecoder().decode(
            RLConfig.self,
            from: JSONEncoder().encode(config(.token, kind: .clipped, microBatch: MicroBatchSize(96, .tokens))))
        XCTAssertEqual(decoded?.microBatch, MicroBatchSize(96, .tokens))
        XCTAssertThrowsError(try ConfigFile.apply(["microBatch": "lots"], over: RLConfig(), source: "test"))
    }

    /// The default fits the host: SmolLM2's shape on a 24 GB host gets a few rollouts' worth of positions, a 1M
    /// model gets thousands, and threads keep that size until their passes together pass an eighth of the host.
    func testAutomaticSizeFollowsModelAndMemory() throws {
        let smol = try LlamaModel(
            config: LlamaConfig(
                vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
                numAttentionHeads: 9, numKeyValueHeads: 3, maxPositionEmbeddings: 8192),
            weights: FloatBuffer(
                count: ParameterLayout(
                    LlamaConfig(
                        vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
                        numAttentionHeads: 9, numKeyValueHeads: 3, maxPositionEmbeddings: 8192)
                ).totalCount))
        let host: UInt64 = 24 << 30
        let one = MicroBatchSize.automatic(for: smol, threads: 1, hostMemory: host)
        XCTAssertEqual(one.unit, .tokens)
        XCTAssertTrue((256...2048).contains(one.count), "\(one)")
        XCTAssertLessThanOrEqual(smol.trainingPassBytes(lengths: [one.count]), 1 << 30)
        // Threads keep the full size while all their passes fit in an eighth of the host; beyond, they split it.
        XCTAssertEqual(MicroBatchSize.automatic(for: smol, threads: 2, hostMemory: host), one)
        let many = MicroBatchSize.automatic(for: smol, threads: 16, hostMemory: host)
        XCTAssertEqual(Double(many.count), Double(one.count) / 4, accuracy: 2)  // (24 GB / 8 / 16) / (24 GB / 32)
        XCTAssertGreaterThan(
            MicroBatchSize.automatic(for: smallModel(), threads: 1, hostMemory: host).count, 10 * one.count)
    }

    func testMicroBatchesAndThreadsGiveTheOnePassGradient() throws {
        for mode in [ThinkingMode.hard, .soft] {
            let base = smallModel()
            let gs = groups(base, mode: mode)
            let lengths = gs.flatMap { $0 }.map { $0.modelInput(endOfThinking: [eot]).count }
            for (normalization, kind) in [
                (LossNormalization.sequence, LossKind.reinforce), (.sequenceMean, .clipped),
                (.token, .clipped), (.constant, .reinforce)
            ] {
                let reference = onePassGradient(base, gs, config(normalization, kind: kind, microBatch: nil))
                var weightsAfter: [Float]? = nil
                let sizes: [(MicroBatchSize, Int)] = [
                    (MicroBatchSize(12, .rollouts), 1), (MicroBatchSize(3, .rollouts), 1),
                    (MicroBatchSize(1, .rollouts), 1), (MicroBatchSize(lengths.max()! + 3, .tokens), 1),
                    (MicroBatchSize(3, .rollouts), 2), (MicroBatchSize(1, .rollouts), 3)
                ]
                for (size, threads) in sizes {
                    let model = base.copy()
                    let learner = PolicyLearner(
                        model: model, config: config(normalization, kind: kind, microBatch: size),
                        endOfThinking: [eot], threads: threads)
                    let report = try learner.update(groups: gs)
                    let label = "\(mode) \(normalization) \(kind), \(size), \(threads) thread(s)"
                    XCTAssertFalse(report.skipped, label)
                    // Log-probs come from float32 logits whose rounding depends on the kernel that blocked their rows (packed,
                    // skinny or OpenBLAS, chosen by row count and BLAS threads): ~1e-7 per term, ~1e-6 over this loss.
                    XCTAssertEqual(report.loss, reference.loss, accuracy: 1e-5, label)
                    let d = relativeDifference(learner.gradients.array, reference.gradient)
                    print(
                        "\(label): \(learner.microBatches(gs.flatMap { $0 }).count) micro-batches, gradient max rel diff \(d)"
                    )
                    XCTAssertLessThan(d, 1e-5, label)
                    // The step: AdamW's first update moves each weight by ~lr * sign(g); equal gradients, equal weights.
                    let w = model.weights.array
                    if let first = weightsAfter {
                        let diff = zip(w, first).map { abs($0 - $1) }.max()!
                        XCTAssertLessThan(diff, 1e-5, "post-step weights, \(label)")
                    } else {
                        weightsAfter = w
                    }
                }
            }
        }
    }

    /// `computeGradient` (what `softrl noise-scale` samples) takes one batch's gradient without a step: the weights
    /// and the version stay, each group's gradient is that group's one-pass gradient, and with the paper's 1/R
    /// normalisation the mean of the groups' gradients is the one-pass gradient of all of them.
    func testComputeGradientTakesNoStepAndGroupGradientsAverageToTheBatch() throws {
        for mode in [ThinkingMode.hard, .soft] {
            let model = smallModel()
            let gs = groups(model, mode: mode)
            let cfg = config(.sequence, kind: .reinforce, microBatch: MicroBatchSize(2, .rollouts))
            let learner = PolicyLearner(model: model, config: cfg, endOfThinking: [eot])
            let before = model.weights.array
            var mean = [Float](repeating: 0, count: before.count)
            for g in gs {
                let report = try learner.computeGradient(groups: [g])
                XCTAssertFalse(report.skipped, "\(mode)")
                let own = Array(learner.gradient)
                XCTAssertLessThan(relativeDifference(own, onePassGradient(model, [g], cfg).gradient), 1e-5, "\(mode)")
                for i in mean.indices { mean[i] += own[i] / Float(gs.count) }
            }
            XCTAssertEqual(model.weights.array, before, "\(mode): computeGradient changed the weights")
            XCTAssertEqual(learner.version, 0, "\(mode): computeGradient took a step")
            XCTAssertLessThan(relativeDifference(mean, onePassGradient(model, gs, cfg).gradient), 1e-5, "\(mode)")
        }
    }

    /// `frozenParameters`: the named tensors keep their weights exactly (also under weight decay), every other
    /// weight takes the step it takes without the freeze (no clipping here, and AdamW is per weight); a name that
    /// matches no tensor is refused with the name.
    func testFrozenParametersKeepTheirWeightsAndTheRestStepAsBefore() throws {
        let base = smallModel()
        let gs = groups(base, mode: .soft)
        var cfg = config(.sequence, kind: .reinforce, microBatch: nil)
        cfg.weightDecay = 0.1
        let free = base.copy(), frozen = base.copy()
        _ = try PolicyLearner(model: free, config: cfg, endOfThinking: [eot]).update(groups: gs)
        cfg.frozenParameters = ["model.embed_tokens", "model.layers.1.mlp."]
        let ranges = try cfg.frozenRanges(in: frozen)
        XCTAssertEqual(ranges.count, 4) // the embedding and layer 1's gate, up and down
        _ = try PolicyLearner(model: frozen, config: cfg, endOfThinking: [eot]).update(groups: gs)
        let before = base.weights.array, a = free.weights.array, b = frozen.weights.array
        var inFrozen = [Bool](repeating: false, count: before.count)
        for r in ranges { for i in r { inFrozen[i] = true } }
        var movedFree = 0
        for i in before.indices {
            if inFrozen[i] {
                XCTAssertEqual(b[i], before[i], "frozen weight \(i) moved")
                if a[i] != before[i] { movedFree += 1 }
            } else {
                XCTAssertEqual(b[i], a[i], "weight \(i) took another step with the freeze")
            }
        }
        XCTAssertGreaterThan(movedFree, 0, "without the freeze those weights move")

        cfg.frozenParameters = ["model.layers.9."]
        XCTAssertThrowsError(try cfg.frozenRanges(in: frozen)) { e in
            XCTAssertTrue("\(e)".contains("'model.layers.9.' names no tensor"), "\(e)")
        }
        cfg.frozenParameters = [""]
        XCTAssertThrowsError(try cfg.validate())
    }

    /// A weight on the soft steps' terms scales their part of the gradient only: the learner's gradient is the one
    /// pass with those steps' dLoss/dlogp scaled, and moves linearly from the answer-only gradient (weight 0) to the
    /// policy gradient (weight 1). Hard rollouts have no such steps and are unchanged.
    func testContinuousStepWeightScalesTheSoftStepsTermsOnly() throws {
        for mode in [ThinkingMode.soft, .hard] {
            let base = smallModel()
            let gs = groups(base, mode: mode)
            var gradients: [Double: [Float]] = [:]
            for weight in [0, 0.3, 1] {
                var cfg = config(.sequence, kind: .reinforce, microBatch: MicroBatchSize(3, .rollouts))
                cfg.loss.continuousStepWeight = weight
                let reference = onePassGradient(base, gs, cfg)
                let learner = PolicyLearner(model: base.copy(), config: cfg, endOfThinking: [eot])
                let report = try learner.update(groups: gs)
                XCTAssertEqual(report.loss, reference.loss, accuracy: 1e-5, "\(mode) weight \(weight)")
                XCTAssertLessThan(
                    relativeDifference(learner.gradients.array, reference.gradient), 1e-5, "\(mode) weight \(weight)")
                gradients[weight] = learner.gradients.array
            }
            let (g0, g3, g1) = (gradients[0]!, gradients[0.3]!, gradients[1]!)
            let mixed = zip(g0, g1).map { 0.7 * $0 + 0.3 * $1 }
            XCTAssertLessThan(relativeDifference(g3, mixed), 1e-5, "\(mode): linear in the weight")
            let changed = relativeDifference(g0, g1)
            if mode == .hard { XCTAssertEqual(changed, 0, "hard steps keep weight 1") } else {
                XCTAssertGreaterThan(changed, 0.01, "the soft steps' terms are part of the gradient")
            }
        }
    }

    /// Two workers (ranks 0 and 1 of 2) on two threads, each with its share of the micro-batches, summed through the
    /// reducer: both apply the step of the one-pass gradient and end with identical weights.
    func testTwoWorkersThroughAReducerApplyTheSameStep() throws {
        let base = smallModel()
        let gs = groups(base, mode: .soft)
        let cfg = config(.token, kind: .clipped, microBatch: MicroBatchSize(2, .rollouts))
        let reference = onePassGradient(base, gs, cfg)
        let single = PolicyLearner(model: base.copy(), config: cfg, endOfThinking: [eot])
        let singleReport = try single.update(groups: gs)
        let group = InProcessReducer(size: 2)
        let learners = (0..<2).map {
            PolicyLearner(model: base.copy(), config: cfg, endOfThinking: [eot], reducer: group.worker($0))
        }
        var reports = [UpdateReport?](repeating: nil, count: 2)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { rank in
            let r = try? learners[rank].update(groups: gs)
            lock.lock(); reports[rank] = r; lock.unlock()
        }
        for rank in 0..<2 {
            let report = try XCTUnwrap(reports[rank])
            XCTAssertEqual(report.loss, reference.loss, accuracy: 1e-6)
            XCTAssertEqual(report.meanRatio, singleReport.meanRatio, accuracy: 1e-6)
            XCTAssertEqual(report.logProbGapMax, singleReport.logProbGapMax, accuracy: 1e-6)
            XCTAssertEqual(report.logProbGapActions, singleReport.logProbGapActions)
            XCTAssertLessThan(relativeDifference(learners[rank].gradients.array, reference.gradient), 1e-5)
        }
        XCTAssertEqual(
            learners[0].model.weights.array, learners[1].model.weights.array, "every worker applies the same step")
        XCTAssertLessThan(
            zip(learners[0].model.weights.array, single.model.weights.array).map { abs($0 - $1) }.max()!, 1e-5)
    }

    /// Thread timing must not change the result: the same update with 2 threads, run twice, is bit-identical.
    func testThreadedUpdateIsDeterministic() throws {
        let base = smallModel()
        let gs = groups(base, mode: .hard)
        let cfg = config(.sequence, kind: .reinforce, microBatch: MicroBatchSize(1, .rollouts))
        let runs = try (0..<3).map { _ -> [Float] in
            let learner = PolicyLearner(model: base.copy(), config: cfg, endOfThinking: [eot], threads: 2)
            _ = try learner.update(groups: gs)
            return learner.gradients.array
        }
        XCTAssertEqual(runs[0], runs[1]); XCTAssertEqual(runs[0], runs[2])
    }
}
