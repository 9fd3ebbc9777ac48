// Prometheus metrics of the learner and of an actor, kept with swift-prometheus and fed with plain values
// (StepMetrics, ActorStatus, ActorBatchReport) from the services' monitoring hooks. Names follow Prometheus
// conventions: `softrl_<role>_<what>_<unit>`, counters end in `_total`, times are in seconds, ratios are 0..1.
// Labels are bounded: `actor` (one value per actor; a departed actor's series are removed) and nothing per work
// item, prompt or step.
import Foundation
import Cluster
import Prometheus

private func name(_ subsystem: String, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "softrl", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
}

/// Bucket bounds for the learner's update time (seconds): 10 ms .. 2 min.
let stepSecondsBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
/// Bucket bounds for group staleness (policy versions behind).
let stalenessBuckets: [Double] = [0, 1, 2, 3, 4, 8, 16]
/// Bucket bounds for an actor's group generation time (seconds).
let generationSecondsBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

public final class LearnerMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private let version, actorsConnected, reward, rewardStd, correct, loss, gradNorm, lr, tokensPerSecond,
        rolloutsPerSecond,
        waitShare, logProbGap, thinkingLength, lastStepTime: Gauge
    private let steps, skipped, rollouts, droppedStale, reissued, duplicates, malformed: Counter
    private let stepSeconds, staleness: ValueHistogram
    private var lastCumulative: [String: Int] = [:]
    private var perActor: [String: [Gauge]] = [:]
    private var actorTokensPerSecond: [String: Double] = [:]

    public init(runId: String = "") {
        let s = "learner"
        let info = registry.makeGauge(
            descriptor: name("", "info", "", "Constant 1; labels name the role and software version."),
            labels: [("role", "learner"), ("version", RunMetadata.softwareVersion)])
        info.set(to: 1.0)
        version = registry.makeGauge(
            descriptor: name(s, "policy", "version", "Policy version the learner last published."))
        actorsConnected = registry.makeGauge(descriptor: name(s, "actors", "connected", "Actors currently connected."))
        reward = registry.makeGauge(
            descriptor: name(s, "reward", "mean", "Mean reward of the rollouts in the last update."))
        rewardStd = registry.makeGauge(
            descriptor: name(s, "reward", "stddev", "Standard deviation of the reward in the last update."))
        correct = registry.makeGauge(
            descriptor: name(s, "correct", "ratio", "Share of correct answers in the last update."))
        loss = registry.makeGauge(descriptor: name(s, "loss", "", "Policy loss of the last update."))
        gradNorm = registry.makeGauge(
            descriptor: name(s, "grad", "norm", "Global gradient norm of the last update (before clipping)."))
        lr = registry.makeGauge(descriptor: name(s, "learning", "rate", "Learning rate of the last update."))
        tokensPerSecond = registry.makeGauge(
            descriptor: name(
                s, "cluster_tokens", "per_second",
                "Generated positions per second across the cluster, over the last update."))
        rolloutsPerSecond = registry.makeGauge(
            descriptor: name(s, "cluster_rollouts", "per_second", "Rollouts received per second, over the last update.")
        )
        waitShare = registry.makeGauge(
            descriptor: name(
                s, "wait", "ratio", "Share of wall time the learner waited for rollouts, over the last update."))
        logProbGap = registry.makeGauge(
            descriptor: name(
                s, "log_prob", "gap",
                "Mean |learner - behaviour| log-prob on current-version rollouts (stale weights show here)."))
        thinkingLength = registry.makeGauge(
            descriptor: name(s, "thinking", "steps", "Mean thinking length of the last update's rollouts."))
        lastStepTime = registry.makeGauge(
            descriptor: name(s, "last_update", "timestamp_seconds", "Unix time of the last update."))
        steps = registry.makeCounter(
            descriptor: name(s, "updates", "total", "Updates applied or skipped since the process started."))
        skipped = registry.makeCounter(
            descriptor: name(s, "skipped_updates", "total", "Updates skipped for a non-finite loss or gradient."))
        rollouts = registry.makeCounter(descriptor: name(s, "rollouts_trained", "total", "Rollouts trained on."))
        droppedStale = registry.makeCounter(
            descriptor: name(s, "dropped_stale_groups", "total", "Groups dropped as too stale."))
        reissued = registry.makeCounter(
            descriptor: name(s, "reissued_items", "total", "Work items re-issued (actor lost or deadline passed)."))
        duplicates = registry.makeCounter(
            descriptor: name(s, "duplicate_results", "total", "Results for work already completed elsewhere."))
        malformed = registry.makeCounter(
            descriptor: name(s, "rejected_messages", "total", "Malformed messages and invalid groups rejected."))
        stepSeconds = registry.makeValueHistogram(
            descriptor: name(s, "update_duration", "seconds", "Time of one update (forward, backward, optimizer)."),
            buckets: stepSecondsBuckets)
        staleness = registry.makeValueHistogram(
            descriptor: name(s, "group_staleness", "versions", "Policy versions behind, per group trained on."),
            buckets: stalenessBuckets)
    }

    /// MONITORING: one update's record (the learner's `onStep` hook).
    public func record(step m: StepMetrics) {
        lock.lock(); defer { lock.unlock() }
        let u = m.update
        version.set(Double(u.policyVersion))
        actorsConnected.set(Double(m.actorsConnected))
        reward.set(u.rewardMean); rewardStd.set(u.rewardStd); correct.set(u.correctRate); loss.set(u.loss)
        gradNorm.set(u.gradNorm.isFinite ? u.gradNorm : .nan); lr.set(u.learningRate)
        tokensPerSecond.set(m.clusterTokensPerSecond); rolloutsPerSecond.set(m.rolloutsPerSecond)
        waitShare.set(m.learnerWaitShare); logProbGap.set(u.logProbGap); thinkingLength.set(u.thinkingLength)
        lastStepTime.set(Date().timeIntervalSince1970)
        steps.increment()
        if u.skipped { skipped.increment() }
        rollouts.increment(by: Int64(u.rollouts))
        stepSeconds.record(m.learnerStepMs / 1000)
        for (k, n) in m.stalenessHistogram { if let v = Double(k) { for _ in 0..<n { staleness.record(v) } } }
        // StepMetrics carries running totals (they survive a resume); counters take the increase.
        for (key, value, counter) in [
            ("dropped", m.droppedStale, droppedStale), ("reissued", m.reissued, reissued),
            ("duplicates", m.duplicates, duplicates), ("malformed", m.malformed, malformed)
        ] {
            let before = lastCumulative[key] ?? value // first sight after a (re)start: the baseline, not an increase
            if value > before { counter.increment(by: Int64(value - before)) }
            lastCumulative[key] = value
        }
        actorTokensPerSecond = m.actorTokensPerSecond
        for (id, gauges) in perActor { gauges[0].set(actorTokensPerSecond[id] ?? 0) }
    }

    /// MONITORING: connected actors (the learner's `onActorStatus` hook, once per heartbeat period).
    public func record(actors: [ActorStatus]) {
        lock.lock(); defer { lock.unlock() }
        let s = "learner"
        let present = Set(actors.map(\.id))
        for (id, gauges) in perActor where !present.contains(id) { // departed: drop its series (bounded cardinality)
            for g in gauges { registry.unregisterGauge(g) }
            perActor.removeValue(forKey: id)
        }
        for a in actors {
            let gauges =
                perActor[a.id]
                ?? {
                    let l = [("actor", a.id)]
                    let g = [
                        registry.makeGauge(
                            descriptor: name(
                                s, "actor_tokens", "per_second",
                                "Positions per second generated by this actor, over the last update."), labels: l),
                        registry.makeGauge(
                            descriptor: name(s, "actor_busy", "slots", "Slots this actor reported busy."), labels: l),
                        registry.makeGauge(descriptor: name(s, "actor", "slots", "Slots this actor has."), labels: l),
                        registry.makeGauge(
                            descriptor: name(s, "actor_policy", "version", "Policy version this actor reported."),
                            labels: l),
                        registry.makeGauge(
                            descriptor: name(
                                s, "actor_last_seen", "seconds", "Seconds since the learner last heard from this actor."
                            ), labels: l)
                    ]
                    perActor[a.id] = g
                    return g
                }()
            gauges[0].set(actorTokensPerSecond[a.id] ?? 0)
            gauges[1].set(Double(a.busySlots)); gauges[2].set(Double(a.slots))
            gauges[3].set(Double(a.policyVersion)); gauges[4].set(a.secondsSinceSeen)
        }
        actorsConnected.set(Double(actors.count))
    }

    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

public final class ActorMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let version, busy, slots, connected, tokensPerSecond: Gauge
    private let groups, rollouts, tokens: Counter
    private let generation: ValueHistogram

    public init(actorId: String) {
        let s = "actor"
        let l = [("actor", actorId)]
        registry.makeGauge(
            descriptor: name("", "info", "", "Constant 1; labels name the role and software version."),
            labels: [("role", "actor"), ("version", RunMetadata.softwareVersion)]
        ).set(to: 1.0)
        version = registry.makeGauge(
            descriptor: name(s, "policy", "version", "Policy version the actor generates with (-1: none yet)."),
            labels: l)
        busy = registry.makeGauge(descriptor: name(s, "busy", "slots", "Slots generating now."), labels: l)
        slots = registry.makeGauge(descriptor: name(s, "slots", "", "Slots (groups generated together)."), labels: l)
        connected = registry.makeGauge(
            descriptor: name(s, "learner", "connected", "1 while welcomed by a learner."), labels: l)
        tokensPerSecond = registry.makeGauge(
            descriptor: name(s, "tokens", "per_second", "Positions per second in the last batch."), labels: l)
        groups = registry.makeCounter(
            descriptor: name(s, "groups_sent", "total", "Groups generated and sent."), labels: l)
        rollouts = registry.makeCounter(
            descriptor: name(s, "rollouts", "total", "Rollouts generated and sent."), labels: l)
        tokens = registry.makeCounter(
            descriptor: name(s, "tokens", "total", "Positions run through the model while generating."), labels: l)
        generation = registry.makeValueHistogram(
            descriptor: name(
                s, "group_generation", "seconds", "Wall time to generate a group (groups of a batch share it)."),
            labels: l, buckets: generationSecondsBuckets)
    }

    /// MONITORING: the actor's `onBatchSent` hook.
    public func record(batch b: ActorBatchReport) {
        groups.increment(by: Int64(b.groups)); rollouts.increment(by: Int64(b.rollouts));
        tokens.increment(by: Int64(b.tokens))
        for _ in 0..<b.groups { generation.record(b.milliseconds / 1000) }
        if b.milliseconds > 0 { tokensPerSecond.set(Double(b.tokens) / (b.milliseconds / 1000)) }
    }

    /// MONITORING: the actor's `onStatus` hook.
    public func record(status s: ActorSelfStatus) {
        version.set(Double(s.policyVersion)); busy.set(Double(s.busySlots)); slots.set(Double(s.slots));
        connected.set(to: s.connected ? 1.0 : 0.0)
    }

    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
