// Soft-token mixtures p^T E for several rows at once (the actor's thinking steps of one decode step, and the
// learner's recompute of one step): out_r = sum_k w_r[k] E[support[k]], k in order. Every variant rounds each term
// as a product and then adds it (the C kernels are compiled without FMA contraction), so the portable path and the
// AVX2/AVX-512 kernels, one row or many, on any CPU, give bit-identical sums: the log-density the actor records and
// the one the learner recomputes from the same logits stay equal. Why several rows: the per-row mixture reads the
// whole embedding table (113 MB for SmolLM2's 49k x 576) from memory for every row and step; batched, once per step.
import CKernels

public enum Mixture {
    /// out (rows x dim, row stride `ldo`) = per row r, sum over k < count of weights[r * ldw + k] * E[row support[k]]
    /// (support nil: row k); zero weights are skipped.
    public static func rows(
        _ E: UnsafePointer<Float>, dim: Int, support: UnsafePointer<Int32>?, count: Int,
        weights: UnsafePointer<Float>, ldw: Int, rows: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
        path: SIMDPath = SIMDPath.active
    ) {
        precondition(dim > 0 && count >= 0 && rows >= 0 && ldw >= count && ldo >= dim, "mixture shapes")
        switch path {
        case .avx512: softrl_mixture_avx512(E, dim, support, count, weights, ldw, rows, out, ldo)
        case .avx2: softrl_mixture_avx2(E, dim, support, count, weights, ldw, rows, out, ldo)
        case .portable:
            for r in 0..<rows { (out + r * ldo).update(repeating: 0, count: dim) }
            for k in 0..<count {
                let e = E + (support.map { Int($0[k]) } ?? k) * dim
                for r in 0..<rows {
                    let a = weights[r * ldw + k]
                    if a == 0 { continue }
                    axpy(a, e, out + r * ldo, count: dim)
                }
            }
        }
    }
}
