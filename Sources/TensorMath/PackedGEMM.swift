// Decode's linear layers on weights packed once per generation: y (m, n) = x (m, k) W^T, W (n, k) as stored.
// OpenBLAS's sgemm copies all of W into its panel layout on every call; at decode's 1-64 rows that copy costs as much
// as the product (sgemm_incopy was 14% of a `tiny` batch-32 profile). Packing W into the same kind of panels once,
// when a generation starts, leaves only the product: CKernels' softrl_gemm_packed_* (a broadcast micro-kernel,
// up to 8 rows x 32 columns of accumulators with AVX-512, 6 x 16 with AVX2; no horizontal sums; the panel prefetched
// 4 KB ahead, for weights streamed from memory). Layout: panels of `panel` (32)
// output columns, each k rows of 32 contiguous floats; the last panel zero-padded.
// The portable path has no packed kernel: callers keep OpenBLAS on the unpacked weights there (`kernel(for:)` nil).
import CKernels
import Foundation

public enum PackedGEMM {
    public typealias Kernel = @convention(c) (UnsafePointer<Float>?, Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?,
                                              Int, Int, Int, Int, Int32) -> Void

    /// Output columns per panel.
    public static let panel = Int(SOFTRL_PANEL)

    /// Floats the packed form of an (n, k) matrix takes (n rounded up to whole panels, times k).
    public static func packedCount(n: Int, k: Int) -> Int { softrl_packed_count(n, k) }

    /// Packs W (n, k), row stride `ldw`, into `dst` (`packedCount(n:k:)` floats). Every path writes the same floats
    /// (the wide ones with 8 x 8 register transposes, ~5x the scalar loop).
    public static func pack(_ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>,
                            path: SIMDPath = SIMDPath.active) {
        precondition(n > 0 && k > 0 && ldw >= k, "pack needs n, k > 0 and ldw >= k (n \(n), k \(k), ldw \(ldw))")
        switch path {
        case .avx512: softrl_pack_nt_avx512(w, ldw, n, k, dst)
        case .avx2: softrl_pack_nt_avx2(w, ldw, n, k, dst)
        case .portable: softrl_pack_nt(w, ldw, n, k, dst)
        }
    }

    /// Packs W (k, n) row-major, row stride `ldw`, for y = x W (the same panels `pack` makes of W^T): `packedCount(n:k:)`
    /// floats.
    public static func packTransposed(_ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(n > 0 && k > 0 && ldw >= n, "packTransposed needs n, k > 0 and ldw >= n (n \(n), k \(k), ldw \(ldw))")
        softrl_pack_nn(w, ldw, n, k, dst)
    }

    /// The packed-product variant for a SIMD path (nil on the portable path).
    public static func kernel(for path: SIMDPath) -> Kernel? {
        switch path {
        case .avx512: return softrl_gemm_packed_avx512
        case .avx2: return softrl_gemm_packed_avx2
        case .portable: return nil
        }
    }

    /// The variant for `SIMDPath.active`, or nil (use OpenBLAS on the unpacked weights).
    nonisolated(unsafe) public static var active: Kernel? = {
        // SOFTRL_PACKED_DECODE=0 keeps decode on OpenBLAS and the 2-16-row kernel (for measuring the difference).
        if let s = getenv("SOFTRL_PACKED_DECODE"), String(cString: s) == "0" { return nil }
        return kernel(for: SIMDPath.active)
    }()

    /// The variant the training pass uses for its activation-side products (x W^T and dy W at more than
    /// SkinnyGEMM.maxRows rows, one BLAS thread), or nil for OpenBLAS. Why: at the training pass's shapes (~1k rows,
    /// k 128-512) OpenBLAS packs the activations as well as the weights on every call and zeroes C first for beta 0;
    /// packing only the (small) weights and running the broadcast kernel measured ~4% faster per product in a C
    /// harness, and it writes C once. SOFTRL_PACKED_TRAINING=0 keeps OpenBLAS (for measuring the difference).
    nonisolated(unsafe) public static var training: Kernel? = {
        if let s = getenv("SOFTRL_PACKED_TRAINING"), String(cString: s) == "0" { return nil }
        return kernel(for: SIMDPath.active)
    }()

    /// y (m, n) (+)= x (m, k) W^T with W packed by `pack`; x rows `ldx` apart, y rows `ldy` apart.
    @inline(__always)
    public static func multiply(_ kernel: Kernel, x: UnsafePointer<Float>, ldx: Int, packed: UnsafePointer<Float>,
                                y: UnsafeMutablePointer<Float>, ldy: Int, m: Int, n: Int, k: Int, accumulate: Bool) {
        if m == 0 || n == 0 { return }
        kernel(x, ldx, packed, y, ldy, m, n, k, accumulate ? 1 : 0)
    }
}
