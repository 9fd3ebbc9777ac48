// The decoder's building blocks, each forward beside its backward with mirrored arguments (llm.c style).
// Backward functions ACCUMULATE into their gradient outputs. Shapes: N rows (tokens), d hidden, ff intermediate.
// Math follows Hugging Face's Llama (RMSNorm in fp32, rotate-half RoPE, SwiGLU); no biases.
import Foundation
import TensorMath

// MARK: Linear: y = x W^T with W stored (out, in) as in PyTorch.

@inline(__always)
func linearForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false
) {
    if let kernel = packedTrainingKernel(rows: rows) {
        return packedProduct(kernel, x: x, y: y, rows: rows, n: outDim, k: inDim, accumulate: accumulate) {
            PackedGEMM.pack(w, ldw: inDim, n: outDim, k: inDim, into: $0)
        }
    }
    sgemm(
        .none, .transposed, m: rows, n: outDim, k: inDim, a: x, lda: inDim, b: w, ldb: inDim,
        beta: accumulate ? 1 : 0, c: y, ldc: outDim)
}

/// dx (+)= dy W ; dW += dy^T x. Pass `dx == nil` when the input needs no gradient.
@inline(__always)
func linearBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulateDx: Bool
) {
    if let dx {
        if let kernel = packedTrainingKernel(rows: rows) {
            packedProduct(kernel, x: dy, y: dx, rows: rows, n: inDim, k: outDim, accumulate: accumulateDx) {
                PackedGEMM.packTransposed(w, ldw: inDim, n: inDim, k: outDim, into: $0)
            }
        } else {
            sgemm(
                .none, .none, m: rows, n: inDim, k: outDim, a: dy, lda: outDim, b: w, ldb: inDim,
                beta: accumulateDx ? 1 : 0, c: dx, ldc: inDim)
        }
    }
    sgemm(
        .transposed, .none, m: outDim, n: inDim, k: rows, a: dy, lda: outDim, b: x, ldb: inDim,
        beta: 1, c: dw, ldc: inDim)
}

/// y (+)= x B (rows x k times k x n, both dense) on the packed kernel, with B packed by `pack` for this call into a
/// recycled arena: the weights change every update, so packing them per call is the price (1-2% of a step).
@inline(__always)
func packedProduct(
    _ kernel: PackedGEMM.Kernel, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int,
    n: Int, k: Int, accumulate: Bool, pack: (UnsafeMutablePointer<Float>) -> Void
) {
    let arena = ScratchArena(floats: PackedGEMM.packedCount(n: n, k: k))
    let packed = arena.slice(PackedGEMM.packedCount(n: n, k: k)).pointer
    pack(packed)
    PackedGEMM.multiply(kernel, x: x, ldx: k, packed: packed, y: y, ldy: n, m: rows, n: n, k: k, accumulate: accumulate)
}

/// The packed kernel for a training-pass product of `rows` rows (PackedGEMM.training), or nil: few rows go to
/// `sgemm` (its 2-16-row kernel or OpenBLAS), and with several BLAS threads OpenBLAS's threaded sgemm is used.
@inline(__always)
func packedTrainingKernel(rows: Int) -> PackedGEMM.Kernel? {
    guard rows > SkinnyGEMM.maxRows, let kernel = PackedGEMM.training, BLASThreads.current == 1 else { return nil }
    return kernel
}

// MARK: RMSNorm: y = x * r * w, r = 1/sqrt(mean(x^2) + eps)
// Forward and backward: TensorMath's Kernels.rmsnorm / rmsnormBackward (AVX2/AVX-512 variants chosen at run time).

@inline(__always)
func rmsnormForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    invRms: UnsafeMutablePointer<Float>?, rows: Int, dim: Int, eps: Float
) {
    Kernels.rmsnorm(x, w, y, invRms: invRms, rows: rows, dim: dim, eps: eps)
}

/// dx_i += r w_i dy_i - x_i r^3/d * sum_j dy_j w_j x_j ; dw_j += dy_j x_j r
@inline(__always)
func rmsnormBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    invRms: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
    rows: Int, dim: Int
) {
    Kernels.rmsnormBackward(dy, x, w, invRms: invRms, dx: dx, dw: dw, rows: rows, dim: dim)
}

// MARK: Rotary position embedding (rotate-half convention of Hugging Face Llama)

/// cos/sin of position * inv_freq, (maxPositions, headDim/2), inv_freq_i = theta^(-2i/headDim) as HF computes it in fp32.
public final class RopeTable: @unchecked Sendable {
    public let half: Int
    public let cos: FloatBuffer
    public let sin: FloatBuffer
    public let maxPositions: Int
    public init(headDim: Int, theta: Double, maxPositions: Int) {
        half = headDim / 2
        self.maxPositions = maxPositions
        var c = [Float](repeating: 0, count: maxPositions * half), s = c
        for i in 0..<half {
            let invFreq = Float(1.0 / pow(theta, Double(2 * i) / Double(headDim)))
            for p in 0..<maxPositions {
                let angle = Float(p) * invFreq // fp32 product, as in HF
                c[p * half + i] = Foundation.cos(angle)
                s[p * half + i] = Foundation.sin(angle)
            }
        }
        cos = FloatBuffer(c); sin = FloatBuffer(s)
    }
}

/// Rotates each head of one row in place. `inverse` applies the transpose rotation (the backward pass).
@inline(__always)
func applyRope(
    _ row: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, position: Int, table: RopeTable, inverse: Bool
) {
    let half = headDim / 2
    Kernels.rope(
        row, heads: heads, headDim: headDim, cos: table.cos.pointer + position * half,
        sin: table.sin.pointer + position * half, sign: inverse ? -1 : 1)
}

// MARK: SwiGLU: h = silu(gate) * up
// exp8 instead of libm expf: the scalar call per element was the largest non-BLAS cost of the forward pass.
// Forward and backward: TensorMath's Kernels.swiglu / swigluBackward (AVX2/AVX-512 variants chosen at run time).

@inline(__always)
func swigluForward(
    _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, count: Int
) {
    Kernels.swiglu(gate, up, h, count: count)
}

/// dgate = dh * up * silu'(gate), dup = dh * silu(gate) (written, not accumulated: each is used once).
/// TensorMath's Kernels.swigluBackward (the portable SIMD8 loop was the largest non-BLAS cost of a `tiny` training step).
@inline(__always)
func swigluBackward(
    _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
    dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int
) {
    Kernels.swigluBackward(dh, gate, up, dGate: dGate, dUp: dUp, count: count)
}

// MARK: Causal softmax of one attention score row, in place over the first `length` entries.

@inline(__always)
func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, length: Int) {
    Kernels.softmaxInPlace(row, length: length)
}
