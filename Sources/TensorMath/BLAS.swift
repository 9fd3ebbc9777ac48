// Matrix products for SoftRL: a thin row-major wrapper over OpenBLAS's cblas_sgemm, and the naive triple loop
// kept beside it as the reference the tests compare against (llm.c keeps matmul_forward_naive the same way).
// Everything is fp32 and row-major. This file knows nothing about models.
import COpenBLAS

public enum Transpose { case none, transposed }

/// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is (m, k), op(B) is (k, n), C is (m, n).
/// lda/ldb/ldc are the row strides of the matrices as stored (so strided column blocks work without copies).
@inline(__always)
public func sgemm(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// The same product written like the math, in Double accumulation. Slow; for tests and as a fallback.
public func sgemmNaive(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let aip = ta == .none ? a[i * lda + p] : a[p * lda + i]
                let bpj = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                acc += Double(aip) * Double(bpj)
            }
            let old = beta == 0 ? 0 : beta * c[i * ldc + j]   // beta 0 ignores NaN in C, as BLAS does
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
