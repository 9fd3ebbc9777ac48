// How much of a policy-gradient update is signal: K groups generated at the same weights, each group's gradient
// taken alone (the learner's loss and normalisation, not clipped, no step), and the gradient noise scale of those K
// samples (PolicyGradient/GradientNoiseScale.swift), for the whole model and for the embedding table apart from the
// other weights. A group, not a rollout, is the sample: its rollouts share one baseline (RLOO / GRPO), so they are
// not independent; the batch of a run is its prompts per update.
import Foundation
import PolicyGradient
import SoftTokens
import TensorMath
import Tasks
import TransformerLM

public struct GradientNoiseReport: Sendable, Codable {
    /// "all", "embedding" (the input embedding table, also the LM head when tied), "other" (every other weight).
    public var blocks: [String: GradientNoiseScale]
    public var groups: Int
    public var groupSize: Int
    /// The run's batch in groups (prompts per update), for the signal share.
    public var batchGroups: Int
    /// Groups whose rewards were all equal: zero gradient under RLOO (they are still samples of the batch).
    public var flatGroups: Int
    public var rewardMean: Double
    public var thinkingLength: Double
    /// Median over groups of the group gradient's norm (what `train` prints as grad, for one group).
    public var medianGroupNorm: Double
    public var sampler: String
    public var seconds: Double
}

public enum GradientNoiseProbe {
    /// Generates `groups` groups (train prompts from the run's schedule, the run's sampler) with `model`'s current
    /// weights, `blocks` groups at a time, and measures the noise scale of their gradients. Holds `blocks` gradient
    /// sums in memory (4 bytes per parameter each), however many groups: group i is added to sum i mod `blocks`, the
    /// jackknife's blocks. `groups` >= 3, 3 <= `blocks` <= `groups`.
    public static func measure(
        model: LlamaModel, task: any ReasoningTask, config: RLConfig, groups k: Int, blocks j: Int = 8,
        threads: Int = 1
    ) throws -> GradientNoiseReport {
        precondition(k >= 3 && j >= 3 && j <= k, "the noise scale needs at least 3 groups in at least 3 blocks")
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try config.frozenRanges(in: model)
        let learner = PolicyLearner(
            model: model, config: config, endOfThinking: task.thinkingMarker.tokens, threads: threads,
            marker: task.thinkingMarker)
        let sampler = config.resolvedSampler(for: task)
        let scorer = RewardScorer(task: task, shaping: config.rewards)
        var schedule = PromptSchedule(count: task.count(.train), seed: config.seed)
        let count = model.parameterCount
        let table = model.layout.embedding..<(model.layout.embedding + model.config.vocabSize * model.config.hiddenSize)
        let parts: [(name: String, ranges: [Range<Int>])] = [
            ("embedding", [table]), ("other", [0..<table.lowerBound, table.upperBound..<count]),
        ]
        let sums = (0..<j).map { _ in FloatBuffer(count: count) } // FloatBuffer starts zeroed
        var counts = [Int](repeating: 0, count: j)
        var squares = [[Double]](repeating: [Double](repeating: 0, count: j), count: parts.count)
        var norms: [Double] = [], rewards: [Double] = [], thinking: [Int] = []
        var flat = 0
        var done = 0
        while done < k {
            let requests = SingleProcessRL.nextRequests(min(j, k - done), from: &schedule, task: task, config: config)
            var (generated, _) = RolloutGenerator(model: model, config: sampler, task: task)
                .generate(requests, policyVersion: learner.version)
            for g in generated.indices { for r in generated[g].indices { scorer.score(&generated[g][r]) } }
            for group in generated {
                _ = try learner.computeGradient(groups: [group])
                let g = learner.gradient.baseAddress!, b = done % j
                var squared = 0.0
                for (p, part) in parts.enumerated() {
                    let q = part.ranges.reduce(0.0) { $0 + dotProduct(g, g, range: $1) }
                    squares[p][b] += q; squared += q
                }
                axpy(1, g, sums[b].pointer, count: count)
                counts[b] += 1
                norms.append(squared.squareRoot())
                rewards += group.map(\.reward)
                thinking += group.map(\.thinkingLength)
                if group.allSatisfy({ $0.reward == group[0].reward }) { flat += 1 }
                done += 1
            }
        }
        var estimates: [String: GradientNoiseScale] = [:]
        var whole = [Double](repeating: 0, count: j * j)
        for (p, part) in parts.enumerated() {
            var m = [Double](repeating: 0, count: j * j)
            for a in 0..<j {
                for c in a..<j {
                    let v = part.ranges.reduce(0.0) { $0 + dotProduct(sums[a].pointer, sums[c].pointer, range: $1) }
                    m[a * j + c] = v; m[c * j + a] = v
                }
            }
            estimates[part.name] = GradientNoiseScale(gram: m, counts: counts, squares: squares[p])
            for i in 0..<(j * j) { whole[i] += m[i] }
        }
        estimates["all"] = GradientNoiseScale(
            gram: whole, counts: counts, squares: (0..<j).map { b in squares.reduce(0) { $0 + $1[b] } })
        return GradientNoiseReport(
            blocks: estimates, groups: k, groupSize: config.groupSize, batchGroups: config.promptsPerStep,
            flatGroups: flat, rewardMean: rewards.reduce(0, +) / Double(rewards.count),
            thinkingLength: Double(thinking.reduce(0, +)) / Double(thinking.count),
            medianGroupNorm: norms.sorted()[k / 2], sampler: sampler.label,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// sum_i a_i b_i over `range` in Double: Float partial sums over short chunks (the SIMD kernel), added in Double,
    /// so 10^8 terms keep their precision.
    static func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, range: Range<Int>) -> Double {
        var total = 0.0
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(4096, range.upperBound - i)
            total += Double(dot(a + i, b + i, count: n))
            i += n
        }
        return total
    }

    /// The report as a table: per block, |G|^2, tr(Sigma), B_simple in groups and rollouts, and the signal's share
    /// of the run's update.
    public static func render(_ r: GradientNoiseReport) -> String {
        var lines = [
            "noise scale | \(r.sampler) | \(r.groups) groups x \(r.groupSize) | reward \(String(format: "%.3f", r.rewardMean)) | thinking \(String(format: "%.1f", r.thinkingLength)) | \(r.flatGroups) groups with equal rewards | median group gradient norm \(String(format: "%.3g", r.medianGroupNorm)) | \(String(format: "%.0f", r.seconds)) s",
            "| block | signal |G|^2 | noise tr(Sigma) per group | B_simple (groups) | B_simple (rollouts) | signal share at \(r.batchGroups) groups |",
            "|---|---|---|---|---|---|",
        ]
        func pm(_ v: Double, _ se: Double) -> String {
            v.isFinite ? String(format: "%.3g ± %.2g", v, se) : "no signal"
        }
        for name in ["all", "embedding", "other"] {
            guard let b = r.blocks[name] else { continue }
            let rollouts = b.batchScale.isFinite
                ? String(format: "%.0f ± %.0f", b.batchScale * Double(r.groupSize), b.batchScaleSE * Double(r.groupSize))
                : "no signal"
            lines.append(
                "| \(name) | \(pm(b.signal, b.signalSE)) | \(pm(b.noise, b.noiseSE)) | \(pm(b.batchScale, b.batchScaleSE)) | \(rollouts) | \(String(format: "%.3f", b.signalShare(batch: Double(r.batchGroups)))) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}
