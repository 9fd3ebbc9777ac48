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
    public typealias Kernel =
        @convention(c) (
            UnsafePointer<Float>?, Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?,
            Int, Int, Int, Int, Int32
        ) -> Void

    /// Output columns per panel.
    public static let panel = Int(SOFTRL_PANEL)

    /// Floats the packed form of an (n, k) matrix takes (n rounded up to whole panels, times k).
    public static func packedCount(n: Int, k: Int) -> Int { softrl_packed_count(n, k) }

    /// Packs W (n, k), row stride `ldw`, into `dst` (`packedCount(n:k:)` floats). Every path writes the same floats
    /// (the wide ones with 8 x 8 register transposes, ~5x the scalar loop).
    public static func pack(
        _ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>,
        path: SIMDPath = SIMDPath.active
    ) {
        precondition(n > 0 && k > 0 && ldw >= k, "pack needs n, k > 0 and ldw >= k (n \(n), k \(k), ldw \(ldw))")
        switch path {
        case .avx512: softrl_pack_nt_avx512(w, ldw, n, k, dst)
        case .avx2: softrl_pack_nt_avx2(w, ldw, n, k, dst)
        case .portable: softrl_pack_nt(w, ldw, n, k, dst)
        }
    }

    /// Packs W (k, n) row-major, row stride `ldw`, for y = x W (the same panels `pack` makes of W^T): `packedCount(n:k:)`
    /// floats.
    public static func packTransposed(
        _ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        precondition(
            n > 0 && k > 0 && ldw >= n, "packTransposed needs n, k > 0 and ldw >= n (n \(n), k \(k), ldw \(ldw))")
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
    public static func multiply(
        _ kernel: Kernel, x: UnsafePointer<Float>, ldx: Int, packed: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>, ldy: Int, m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        if m == 0 || n == 0 { return }
        kernel(x, ldx, packed, y, ldy, m, n, k, accumulate ? 1 : 0)
    }
}

// MARK: bfloat16 panels (generation only)

/// How generation (prefill and decode) multiplies by its weights: `--compute f32|bf16` on the commands that generate.
/// - f32: fp32 products. Weights that are bfloat16 values already (an actor on `--wire-weights bf16`) are stored as
///   bf16 panels and widened in registers: the same fp32 arithmetic in the same order, bit-identical results, half
///   the bytes each decode step streams. Any other weights keep fp32 panels.
/// - bf16: weights rounded to bf16 and activations rounded to bf16 for each product, pairs multiplied and summed in
///   fp32 by vdpbf16ps (AVX512_BF16); norms, attention, softmax, sampling and densities stay fp32. Opens a gap to a
///   learner scoring in fp32 (see docs/PERFORMANCE.md). On CPUs without AVX512_BF16 it is f32, unchanged.
public enum GenerationCompute: String, CaseIterable, Sendable {
    case f32, bf16

    /// The setting generation reads when it packs a generation's weights (set once by the command line).
    nonisolated(unsafe) public static var active: GenerationCompute = .f32

    /// The `--compute` help text (one home for the flag's meaning on every command that has it).
    public static let help =
        "Generation's matrix products: f32, or bf16 (weights and activations rounded to bfloat16 for "
        + "each product, fp32 sums; AVX512_BF16 CPUs only, others keep f32). Weights that are bf16 already (--wire-weights "
        + "bf16) are stored as bf16 under either setting, with fp32 products (exact)."

    /// Parses a `--compute` value, with what to type when it is not one.
    public init(flag: String) throws {
        guard let c = GenerationCompute(rawValue: flag.lowercased()) else {
            throw PanelFormatError(
                "--compute \(flag) is not a precision: use f32 (fp32 products) or bf16 (bfloat16 products "
                    + "with fp32 sums, on CPUs with AVX512_BF16)")
        }
        self = c
    }
}

public struct PanelFormatError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

extension PackedGEMM {
    public typealias BF16Kernel =
        @convention(c) (
            UnsafePointer<Float>?, Int, UnsafePointer<UInt16>?, UnsafeMutablePointer<Float>?,
            Int, Int, Int, Int, Int32
        ) -> Void

    /// How a generation's weights are packed and multiplied.
    public enum PanelFormat: String, Sendable {
        /// fp32 panels, fp32 products.
        case f32
        /// bf16 panels (the weights are bf16 values), widened to fp32: products bit-identical to `f32`.
        case bf16Weights = "bf16-weights"
        /// bf16 panels and bf16-rounded activations, vdpbf16ps.
        case bf16Products = "bf16-products"
    }

    /// uint16 elements the bf16 panels of an (n, k) matrix take (n rounded up to whole panels, k to even).
    public static func packedBF16Count(n: Int, k: Int) -> Int { softrl_packed_bf16_count(n, k) }

    /// Packs W (n, k), row stride `ldw`, into bf16 panels (layout: CKernels.h). `exactOnly`: W must hold bf16 values
    /// already; returns false at the first entry that does not (dst is then unusable). Otherwise rounds to nearest
    /// even and returns true.
    @discardableResult
    public static func packBF16(
        _ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<UInt16>,
        exactOnly: Bool, path: SIMDPath = SIMDPath.active
    ) -> Bool {
        precondition(n > 0 && k > 0 && ldw >= k, "packBF16 needs n, k > 0 and ldw >= k (n \(n), k \(k), ldw \(ldw))")
        let exact: Int32 = exactOnly ? 1 : 0
        if path == .avx512 && softrl_bf16_kernels_compiled() != 0 {
            return softrl_pack_nt_bf16_avx512(w, ldw, n, k, dst, exact) == 0
        }
        return softrl_pack_nt_bf16(w, ldw, n, k, dst, exact) == 0
    }

    /// Every one of the `count` floats is a bfloat16 value (its low 16 bits zero): one pass, for logs and benchmarks
    /// (generation itself finds out while it packs).
    public static func isBF16Valued(_ x: UnsafePointer<Float>, count: Int) -> Bool { softrl_all_bf16(x, count) != 0 }

    /// The bf16 kernels run only where the fp32 panels run AVX-512 (the widening kernel is AVX-512 code).
    static var bf16Capable: Bool { softrl_bf16_kernels_compiled() != 0 && SIMDPath.active == .avx512 }

    /// SOFTRL_BF16_WEIGHTS=0 keeps bf16-valued weights in fp32 panels (for measuring the difference).
    nonisolated(unsafe) public static var bf16WeightsEnabled: Bool = {
        if let s = getenv("SOFTRL_BF16_WEIGHTS"), String(cString: s) == "0" { return false }
        return true
    }()

    /// The widening kernel (bf16 weights, fp32 arithmetic), or nil: SIMD path below AVX-512, or turned off.
    public static var bf16Weights: BF16Kernel? {
        bf16WeightsEnabled && bf16Capable ? softrl_gemm_packed_bf16w_avx512 : nil
    }

    /// The vdpbf16ps kernel, or nil when the CPU (or the OS) lacks AVX512_BF16.
    public static var bf16Products: BF16Kernel? {
        bf16Capable && CPUFeatures.host.avx512BF16Usable ? softrl_gemm_packed_bf16_avx512bf16 : nil
    }

    /// What `compute` becomes on this CPU for weights that are (or are not) bf16 values already: the format the
    /// next generation will use, for logs ("bf16 products", "fp32 (no AVX512_BF16)").
    public static func format(for compute: GenerationCompute, weightsAreBF16: Bool) -> PanelFormat {
        if active == nil { return .f32 }
        if compute == .bf16, bf16Products != nil { return .bf16Products }
        return weightsAreBF16 && bf16Weights != nil ? .bf16Weights : .f32
    }

    /// y (m, n) (+)= x (m, k) W^T with W packed by `packBF16`.
    @inline(__always)
    public static func multiply(
        _ kernel: BF16Kernel, x: UnsafePointer<Float>, ldx: Int, packed: UnsafePointer<UInt16>,
        y: UnsafeMutablePointer<Float>, ldy: Int, m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        if m == 0 || n == 0 { return }
        kernel(x, ldx, packed, y, ldy, m, n, k, accumulate ? 1 : 0)
    }
}
