// Where thinking ends: the one rule RolloutGenerator follows and the learner checks (docs/PROTOCOL.md, "Where
// thinking ends"). The deciding token at thinking position t is the sampled token in hard mode and the argmax of
// that position's logits (the greedy shadow) in every other mode; `recent` is the deciding tokens so far.
//   hard:   the step is fed and recorded; if `recent` then completes the marker, thinking ends (SAMPLED: the marker's
//           last token was the last step, an action).
//   others: if `recent` plus this position's argmax completes the marker, NO step is fed or recorded at this
//           position: the marker's tokens are inserted here instead (SHADOW). Otherwise the step is fed and recorded.
//   both:   after `maxThinkingSteps` recorded steps the marker is inserted (FORCED).
// So a mixture rollout never records a step whose argmax completes the marker, and a SHADOW end means the argmax
// at the position after its last step does. A peer that feeds the step first and inserts the marker after it
// produces trajectories this sampler never does.
import Foundation
import Tasks

public enum EndOfThinkingRule {
    /// The deciding token at one position and whether the learner can trust its own argmax there: a runner-up
    /// within `argmaxTolerance` of the maximum logit could be the actor's argmax after float rounding.
    public struct Position: Sendable, Equatable {
        public var token: Int32
        public var clear: Bool
        public init(token: Int32, clear: Bool = true) { self.token = token; self.clear = clear }
    }

    /// Logit margin below which two tokens count as tied for the argmax (actor and learner batch differently, so
    /// their logits differ by ~1e-6; bf16 weights are rounded the same on both sides).
    public static let argmaxTolerance: Float = 1e-3

    /// The argmax of `logits` and whether it is clear of the runner-up by `argmaxTolerance`.
    public static func position(logits: UnsafePointer<Float>, vocab: Int) -> Position {
        var best = 0, top = logits[0], second = -Float.infinity
        for i in 1..<vocab {
            let x = logits[i]
            if x > top { second = top; top = x; best = i } else if x > second { second = x }
        }
        return Position(token: Int32(best), clear: top - second > argmaxTolerance)
    }

    /// Why a rollout breaks the rule (nil: it follows it). `deciding[t]`: step t's deciding token (hard: the
    /// recorded token; other modes: the learner's argmax at the step's position); `afterLast`: the argmax at the
    /// position after the last step (where a SHADOW end inserted the marker). A rule that turns on an unclear
    /// argmax is not judged.
    public static func violation(
        mode: ThinkingMode, end: ThinkingEnd, deciding: [Position], afterLast: Position?,
        marker: ThinkingMarker
    ) -> String? {
        var recent: [Int32] = []
        for (t, p) in deciding.enumerated() {
            recent.append(p.token)
            let complete = marker.isComplete(recent[...])
            let judgeable = !decidedByUnclear(recent, deciding.prefix(t + 1), marker)
            if mode == .hard {
                if complete && t < deciding.count - 1 && judgeable {
                    return
                        "step \(t) completes the end-of-thinking marker, so thinking ends there, but \(deciding.count - 1 - t) more step(s) follow"
                }
            } else if complete && judgeable {
                return
                    "step \(t): the argmax at this position completes the end-of-thinking marker, so the sampler ends thinking here and "
                    + "inserts the marker instead of a step; this rollout fed and recorded a step there (docs/PROTOCOL.md, \"Where thinking ends\")"
            }
        }
        switch (mode, end) {
        case (.hard, .sampled):
            if !marker.isComplete(recent[...]) && !decidedByUnclear(recent, deciding[...], marker) {
                return "thinking_end SAMPLED, but the sampled steps do not complete the end-of-thinking marker"
            }
        case (.hard, .shadow):
            return "thinking_end SHADOW in hard mode: hard thinking ends by sampling the marker or at the limit"
        case (_, .sampled):
            return "thinking_end SAMPLED is only possible in hard mode"
        case (_, .shadow):
            guard let afterLast else { return nil }
            recent.append(afterLast.token)
            let positions = deciding + [afterLast]
            if !marker.isComplete(recent[...]) && !decidedByUnclear(recent, positions[...], marker) {
                return
                    "thinking_end SHADOW, but the argmax after the last step (token \(afterLast.token)) does not complete the end-of-thinking marker"
            }
        case (_, .forced):
            break
        }
        return nil
    }

    /// Whether an unclear argmax lies in the window the marker test reads (then the verdict could flip).
    static func decidedByUnclear(_ recent: [Int32], _ positions: ArraySlice<Position>, _ marker: ThinkingMarker) -> Bool
    {
        positions.suffix(marker.window).contains { !$0.clear }
    }
}
