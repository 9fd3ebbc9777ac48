// How far each actor's rollouts are from the learner's own recomputation: the mean |learner - behaviour| log-prob
// per action of the groups it made, per update, and a warning naming an actor above the threshold. An honest actor on
// the current weights is at ~1e-6 (f32) to ~1e-4 (bf16 wire), one update stale at the policy drift (~1e-2 on the tiny
// model); a peer with another sampler or a bug in its end-of-thinking rule was measured at 0.47 nats. Pure logic: the
// learner core feeds it the producer of each position and each update's per-group gaps.
import Foundation

struct ActorAgreement {
    /// Who made the group at each buffered position (set when the result is accepted, taken when it is trained on).
    private var producers: [Int: String] = [:]
    /// Last update that logged a warning per actor: one line per actor per `warningInterval` updates.
    private var lastWarned: [String: Int] = [:]
    static let warningInterval = 20

    mutating func produced(position: Int, by actor: String) { producers[position] = actor }

    /// The mean gap per actor over this update's groups (`gaps[k]` belongs to `positions[k]`; nil or missing: not
    /// scored), and the warnings for actors above `threshold`.
    mutating func update(positions: [Int], gaps: [Double?], threshold: Double, step: Int) -> (
        perActor: [String: Double], warnings: [String]
    ) {
        var sums: [String: (sum: Double, groups: Int)] = [:]
        for (k, position) in positions.enumerated() {
            guard let actor = producers.removeValue(forKey: position), k < gaps.count, let gap = gaps[k], gap.isFinite
            else { continue }
            sums[actor, default: (0, 0)].sum += gap
            sums[actor, default: (0, 0)].groups += 1
        }
        let perActor = sums.mapValues { $0.sum / Double($0.groups) }
        var warnings: [String] = []
        for (actor, gap) in perActor.sorted(by: { $0.key < $1.key }) where gap > threshold {
            if let last = lastWarned[actor], step - last < Self.warningInterval { continue }
            lastWarned[actor] = step
            warnings.append(
                "actor \(actor): its rollouts disagree with the learner by \(String(format: "%.3g", gap)) nats per action "
                    + "(mean |learner - behaviour| log-prob, over \(sums[actor]!.groups) group(s) of update \(step); warning threshold "
                    + "\(threshold), --gap-warning): it may run other weights, another sampler or a different end-of-thinking rule "
                    + "(docs/PROTOCOL.md); its rollouts are trained on with importance weights. Next warning for it in \(Self.warningInterval) updates at the earliest"
            )
        }
        return (perActor, warnings)
    }
}
