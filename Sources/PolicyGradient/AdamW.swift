// AdamW over one flat Float parameter buffer (one loop over all parameters, in the style of llm.c's
// gpt2_update). Not a general optimiser framework: no parameter groups beyond a per-index decay mask,
// no AMSGrad, no state sharding.
//
// Algorithm (Kingma & Ba arXiv 1412.6980, Alg. 1; decoupled weight decay from Loshchilov & Hutter
// arXiv 1711.05101, Alg. 2), at step t = 1, 2, …:
//     m ← β1·m + (1−β1)·g
//     v ← β2·v + (1−β2)·g²
//     m̂ = m / (1−β1^t),  v̂ = v / (1−β2^t)
//     θ ← θ − η·( m̂ / (√v̂ + ε) + λ·θ )          (λ·θ only where the decay mask allows it)
// The decay is scaled by the learning rate η, as in PyTorch's AdamW and llm.c, so a schedule on η
// also schedules the decay (the paper's η_t multiplier).

import Foundation
import TensorMath

public struct AdamWConfig: Codable, Sendable, Equatable {
    /// Nominal peak learning rate (feed it to LearningRateSchedule); `update` takes the current rate explicitly.
    public var lr: Double = 1e-3
    public var beta1: Double = 0.9
    /// 0.95 rather than Adam's 0.999: a shorter second-moment memory lets v track the variance of the
    /// gradient as it shifts, which keeps steps bounded after loss spikes — standard for transformer LM
    /// training (GPT-3, Brown et al. arXiv 2005.14165 §2.3 / App. B; llm.c) and more so for noisy RL gradients.
    public var beta2: Double = 0.95
    public var eps: Double = 1e-8
    /// Decoupled weight decay λ; 0 = plain Adam with bias correction.
    public var weightDecay: Double = 0.0

    public init(
        lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.95, eps: Double = 1e-8, weightDecay: Double = 0.0
    ) {
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// Optimiser state for checkpoints: the moment buffers and the number of updates taken.
public struct AdamWState: Codable, Sendable, Equatable {
    public var step: Int
    public var m: [Float]
    public var v: [Float]
    public init(step: Int, m: [Float], v: [Float]) {
        self.step = step
        self.m = m
        self.v = v
    }
}

public final class AdamW {
    public let parameterCount: Int
    public var config: AdamWConfig
    /// Number of updates taken so far (the bias-correction t of the last update).
    public var step: Int = 0
    /// First and second moment estimates, one per parameter.
    public var m: [Float]
    public var v: [Float]

    public init(parameterCount: Int, config: AdamWConfig = AdamWConfig()) {
        precondition(parameterCount >= 0)
        self.parameterCount = parameterCount
        self.config = config
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
    }

    /// One AdamW step over all parameters. `decayMask(i)` = false exempts parameter i from weight decay
    /// (typically biases, norms, embeddings); nil = decay everything. Gradients must already be clipped
    /// and finite — the caller decides whether to skip a step.
    public func update(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        learningRate: Float, decayMask: ((Int) -> Bool)? = nil
    ) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount, "buffer size mismatch")
        step += 1
        // Bias corrections in Double: β^t underflows gracefully and 1−β^t keeps its precision for small t.
        let t = Double(step)
        let b1 = Float(config.beta1), b2 = Float(config.beta2)
        let oneMinusB1 = Float(1 - config.beta1), oneMinusB2 = Float(1 - config.beta2)
        let invCorrection1 = Float(1 / (1 - pow(config.beta1, t)))
        let invCorrection2 = Float(1 / (1 - pow(config.beta2, t)))
        let eps = Float(config.eps)
        let lr = learningRate
        let lrDecay = learningRate * Float(config.weightDecay)
        let n = parameterCount
        guard n > 0, let p = parameters.baseAddress, let g = gradients.baseAddress else { return }

        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                let mp = mb.baseAddress!, vp = vb.baseAddress!
                if let decayMask, lrDecay != 0 {
                    for i in 0..<n {
                        let gi = g[i]
                        let mi = b1 * mp[i] + oneMinusB1 * gi
                        let vi = b2 * vp[i] + oneMinusB2 * gi * gi
                        mp[i] = mi
                        vp[i] = vi
                        let mHat = mi * invCorrection1
                        let vHat = vi * invCorrection2
                        let decay: Float = decayMask(i) ? lrDecay : 0
                        p[i] -= lr * (mHat / (vHat.squareRoot() + eps)) + decay * p[i]
                    }
                } else {
                    // Hot path without a per-element closure call: TensorMath's vectorised loop (AVX2/AVX-512 when
                    // the CPU has it; the portable Swift loop is the same expression element by element).
                    Kernels.adamw(
                        p: p, g: g, m: mp, v: vp, count: n, beta1: b1, beta2: b2, oneMinusBeta1: oneMinusB1,
                        oneMinusBeta2: oneMinusB2, invCorrection1: invCorrection1, invCorrection2: invCorrection2,
                        eps: eps, lr: lr, lrDecay: lrDecay)
                }
            }
        }
    }

    /// Copy of the state for a checkpoint.
    public func saveState() -> AdamWState { AdamWState(step: step, m: m, v: v) }

    /// Restore a checkpoint taken with `saveState()` for the same parameter count.
    public func restoreState(_ state: AdamWState) {
        precondition(state.m.count == parameterCount && state.v.count == parameterCount, "state size mismatch")
        precondition(state.step >= 0)
        step = state.step
        m = state.m
        v = state.v
    }
}
