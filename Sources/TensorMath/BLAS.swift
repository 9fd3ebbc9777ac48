// Matrix products for SoftRL: a thin row-major wrapper over OpenBLAS's cblas_sgemm, and the naive triple loop
// kept beside it as the reference the tests compare against (llm.c keeps matmul_forward_naive the same way).
// Everything is fp32 and row-major. This file knows nothing about models.
import CKernels
import COpenBLAS
import Foundation

public enum Transpose { case none, transposed }

/// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is (m, k), op(B) is (k, n), C is (m, n).
/// lda/ldb/ldc are the row strides of the matrices as stored (so strided column blocks work without copies).
/// A linear layer at few rows (x W^T with 2 <= m <= SkinnyGEMM.maxRows, alpha 1, beta 0 or 1, one BLAS thread) runs
/// CKernels' register-blocked AVX2/AVX-512 kernel; everything else goes to OpenBLAS.
@inline(__always)
public func sgemm(
    _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if ta == .none && tb == .transposed && m >= 2 && m <= SkinnyGEMM.maxRows && k > 0 && alpha == 1
        && (beta == 0 || beta == 1),
        let kernel = SkinnyGEMM.kernel, openblas_get_num_threads() == 1
    {
        kernel(a, lda, b, ldb, c, ldc, m, n, k, beta == 1 ? 1 : 0)
        return
    }
    sgemmOpenBLAS(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// The same product through OpenBLAS only (sgemv for one row, else sgemm).
public func sgemmOpenBLAS(
    _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if m == 1 && ta == .none && k > 0 {
        // One row (decode at batch 1): a matrix-vector product. sgemm would pack the whole weight matrix into its
        // panel layout on every call, reading and writing it once more than the product itself needs; sgemv streams
        // it once. C is zeroed first for beta = 0 so NaN left in C never leaks through (as sgemm guarantees).
        if beta == 0 { c.update(repeating: 0, count: n) }
        if tb == .transposed { // B stored (n, k): y = B a
            cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(n), blasint(k), alpha, b, blasint(ldb), a, 1, beta, c, 1)
        } else { // B stored (k, n): y = B^T a
            cblas_sgemv(CblasRowMajor, CblasTrans, blasint(k), blasint(n), alpha, b, blasint(ldb), a, 1, beta, c, 1)
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// The same product written like the math, in Double accumulation. Slow; for tests and as a fallback.
public func sgemmNaive(
    _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let aip = ta == .none ? a[i * lda + p] : a[p * lda + i]
                let bpj = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                acc += Double(aip) * Double(bpj)
            }
            let old = beta == 0 ? 0 : beta * c[i * ldc + j] // beta 0 ignores NaN in C, as BLAS does
            c[i * ldc + j] = alpha * Float(acc) + old
        }
    }
}

/// OpenBLAS's thread pool size for this process. Set it deliberately: several processes on 2 cores
/// each running 2 BLAS threads oversubscribe the machine and run slower than one thread each.
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}

/// Decode's linear layers: y (m, n) = x (m, k) W^T with W (n, k) at m of 2 to 16. OpenBLAS packs all of W into its
/// panel format on every sgemm call, which at so few rows costs as much as the product; CKernels' softrl_gemm_nt
/// streams W once per block of rows instead (measured by `softrl bench kernels`).
public enum SkinnyGEMM {
    public typealias Kernel =
        @convention(c) (
            UnsafePointer<Float>?, Int, UnsafePointer<Float>?, Int,
            UnsafeMutablePointer<Float>?, Int, Int, Int, Int, Int32
        ) -> Void
    /// Largest row count sent to the kernel (SOFTRL_SKINNY_GEMM_ROWS overrides; 0 sends everything to OpenBLAS).
    nonisolated(unsafe) public static var maxRows: Int = {
        if let s = getenv("SOFTRL_SKINNY_GEMM_ROWS"), let v = Int(String(cString: s)) { return v }
        return 16 // measured (bench kernels, Zen 4): 1.5-3.4x OpenBLAS at 4-8 rows, no gain at 32
    }()
    /// The variant for the active SIMD path (nil on the portable path: OpenBLAS then does everything).
    public static func kernel(for path: SIMDPath) -> Kernel? {
        switch path {
        case .avx512: return softrl_gemm_nt_avx512
        case .avx2: return softrl_gemm_nt_avx2
        case .portable: return nil
        }
    }
    nonisolated(unsafe) static var kernel: Kernel? = kernel(for: SIMDPath.active)
}
