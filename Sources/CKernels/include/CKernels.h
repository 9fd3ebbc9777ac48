// CKernels: what Swift cannot express on its own for SoftRL's CPU paths.
//  1. The raw cpuid / xgetbv registers (TensorMath decodes them into CPU features and an OpenBLAS kernel choice).
//  2. SIMD kernels for the hot non-BLAS loops, compiled twice from one body (kernels_body.inc) with per-function
//     target attributes: *_avx2 (AVX2 + FMA, 8 lanes) and *_avx512 (AVX-512F/BW/DQ/VL, 16 lanes). The binary
//     stays baseline x86-64; Swift calls a variant only after cpuid and XGETBV say the CPU and the OS support it.
//     The portable path stays in Swift (TensorMath/SIMDKernels.swift, Layers.swift) and the tests compare every
//     variant with it. On non-x86 machines the variants are absent and `softrl_kernels_compiled()` returns 0.
#ifndef SOFTRL_CKERNELS_H
#define SOFTRL_CKERNELS_H
#include <stdint.h>

typedef struct {
    uint32_t max_leaf;          // cpuid leaf 0 eax
    uint32_t leaf1_ecx, leaf1_edx;
    uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx;
    uint32_t leaf7_1_eax;       // cpuid leaf 7 sub-leaf 1 (AVX512_BF16 is bit 5)
    uint64_t xcr0;              // XGETBV(0) when the OS set OSXSAVE, else 0
    uint32_t family, model;     // display family / model
    char vendor[13];            // "GenuineIntel", "AuthenticAMD", ...
} softrl_cpuid_raw;

/// Fills `out` (all zero on a non-x86 build).
void softrl_cpuid_read(softrl_cpuid_raw *out);

/// 1 when the AVX2 / AVX-512 variants below were compiled into this binary (x86-64 with clang), else 0.
int softrl_kernels_compiled(void);

#define SOFTRL_DECLARE_KERNELS(S) \
    void softrl_softmax_inplace_##S(float *x, long n); \
    void softrl_attend_##S(const float *q, const float *keys, const float *values, long stride, long len, long hd, \
                           float scale, float *scores, float *out); \
    void softrl_attend_cached_##S(const float *q, long heads, long kv_heads, long hd, const float *keys, \
                                  long key_stride, const float *values, long value_stride, long len, float scale, \
                                  float *scores, float *out); \
    void softrl_rmsnorm_##S(const float *x, const float *w, float *y, float *inv_rms, long rows, long dim, float eps); \
    void softrl_swiglu_##S(const float *gate, const float *up, float *h, long n); \
    void softrl_swiglu_backward_##S(const float *dh, const float *gate, const float *up, float *dgate, float *dup, long n); \
    void softrl_rmsnorm_backward_##S(const float *dy, const float *x, const float *w, const float *inv_rms, float *dx, \
                                     float *dw, long rows, long dim); \
    void softrl_causal_attention_forward_##S(const float *q, long ldq, const float *k, const float *v, long ldkv, \
                                             long T, long hd, long group, float scale, float *probs, float *out, \
                                             long ldo, float *scratch); \
    void softrl_causal_attention_backward_##S(const float *q, long ldq, const float *k, const float *v, long ldkv, \
                                              const float *probs, const float *dout, long lddo, long T, long hd, \
                                              long group, float scale, float *dq, long lddq, float *dk, float *dv, \
                                              long lddkv, float *scratch); \
    void softrl_rope_##S(float *row, long heads, long head_dim, const float *cos_, const float *sin_, float sign); \
    void softrl_adamw_##S(float *p, const float *g, float *m, float *v, long n, float b1, float b2, float omb1, \
                          float omb2, float ic1, float ic2, float eps, float lr, float lr_decay); \
    double softrl_softmax_temp_##S(const float *x, long n, float inv_t, float *out); \
    long softrl_argmax_##S(const float *x, long n); \
    void softrl_mixture_##S(const float *E, long dim, const int *support, long count, const float *w, long ldw, \
                            long rows, float *out, long ldo); \
    void softrl_softmax_f64_##S(const float *x, long n, double t, double *out); \
    void softrl_exp_f64_##S(const double *x, long n, double *out); \
    void softrl_gemm_nt_##S(const float *x, long ldx, const float *w, long ldw, float *y, long ldy, long m, long n, \
                            long k, int accumulate); \
    void softrl_gemm_packed_##S(const float *x, long ldx, const float *wp, float *y, long ldy, long m, long n, long k, \
                                int accumulate); \
    void softrl_pack_nt_##S(const float *w, long ldw, long n, long k, float *dst);

/// Decode's key cache layout, read by softrl_attend_cached_*: per key/value head, positions in blocks of this many,
/// each block hd rows of SOFTRL_KEY_BLOCK floats: dimension d of position p at [(p / 16) * hd * 16 + d * 16 + p % 16].
/// The key/value heads of a row are key_stride floats apart (a multiple of hd * 16); values are one row of hd floats
/// per position, the heads value_stride apart. softrl_attend_cached_*(q: heads x hd, one row's cache, len
/// positions) writes out (heads x hd) = softmax(scale q K^T) V per head; heads / kv_heads query heads share each
/// key/value head. Every lane of the last key block is read (lanes past len are masked, so they may hold anything);
/// `scores` needs (heads / kv_heads) x ceil(len / 16) x 16 floats.
#define SOFTRL_KEY_BLOCK 16

/// The training pass's causal attention over one sequence (T positions) and one key/value head, for the `group`
/// query heads that share it (hd floats apart in each row of q, out, dout and dq). Forward: probs (group x T x T,
/// row i = softmax_j<=i(scale q_i . k_j), 0 past i) and out = probs v. Backward, from probs and dout: dq written,
/// dk and dv accumulated. `scratch` needs softrl_causal_attention_scratch(T, hd) floats.
long softrl_causal_attention_scratch(long T, long hd);

/// Output columns per panel of a packed weight matrix (softrl_pack_nt).
#define SOFTRL_PANEL 32

/// Floats softrl_pack_nt writes for W (n, k): n rounded up to whole panels, times k.
long softrl_packed_count(long n, long k);

/// Packs W (n, k) row-major (row stride ldw) for softrl_gemm_packed_*: panel j holds output columns
/// 32j..32j+31 as k rows of 32 contiguous floats, dst[j*32*k + p*32 + c] = W[(32j + c) * ldw + p]; the last
/// panel is zero-padded. Portable C; softrl_pack_nt_avx2/_avx512 write the same floats with 8 x 8 transposes.
void softrl_pack_nt(const float *w, long ldw, long n, long k, float *dst);

/// Packs W (k, n) row-major (row stride ldw) for y = x W with softrl_gemm_packed_* (the layout softrl_pack_nt gives
/// W^T): dst[j*32*k + p*32 + c] = W[p * ldw + 32j + c], the last panel zero-padded. Portable C (a copy).
void softrl_pack_nn(const float *w, long ldw, long n, long k, float *dst);

/// Asks the CPU to start loading one row's KV cache (the first len positions of each of kv_heads key/value heads,
/// layout as for softrl_attend_cached_*) into L2: decode issues it for the next row while attending over this
/// one, so the cache streams from memory while the current row computes. A hint only; no effect on results.
void softrl_prefetch_cache_row(const float *keys, long key_stride, const float *values, long value_stride,
                               long kv_heads, long hd, long len);

/// bfloat16 panels for generation (kernels_bf16.c): the panels of softrl_pack_nt with each pair of consecutive k-values
/// of a column in one 32-bit word, so a vdpbf16ps multiplies a broadcast activation pair by 32 columns. kp = k rounded
/// up to even; panel j (output columns 32j..32j+31) starts at j*32*kp and holds kp/2 pair rows of 64 uint16:
/// dst[j*32*kp + (p/2)*64 + 2c + p%2] = bf16(W[(32j + c) * ldw + p]); the odd k's missing partner and the last
/// panel's missing columns are 0. uint16 elements the packing of W (n, k) takes:
long softrl_packed_bf16_count(long n, long k);

/// Packs W (n, k) row-major (row stride ldw) into bf16 panels (layout above), rounding to nearest even. With
/// exact_only, W must already hold bf16 values (the low 16 bits of every float zero, as after bf16 wire weights):
/// returns 1 at the first entry that is not (dst then holds nothing usable), else 0.
int softrl_pack_nt_bf16(const float *w, long ldw, long n, long k, uint16_t *dst, int exact_only);
/// The same with AVX-512 register transposes (same entries, same return value).
int softrl_pack_nt_bf16_avx512(const float *w, long ldw, long n, long k, uint16_t *dst, int exact_only);

/// 1 when every one of the n floats is a bfloat16 value (its low 16 bits zero), else 0.
int softrl_all_bf16(const float *x, long n);

/// 1 when the bf16 kernels below were compiled into this binary (x86-64 with clang), else 0.
int softrl_bf16_kernels_compiled(void);

/// y (m, n) (+)= x (m, k) W^T on bf16 panels: weights widened to fp32 in registers, fp32 products and sums in the
/// order of softrl_gemm_packed_avx512 (bit-identical to it on the same, bf16-valued, weights). AVX-512F/BW/DQ/VL.
void softrl_gemm_packed_bf16w_avx512(const float *x, long ldx, const uint16_t *wp, float *y, long ldy, long m, long n,
                                     long k, int accumulate);

/// y (m, n) (+)= bf16(x) (m, k) W^T on bf16 panels: the activations rounded to nearest even bf16, each product of two
/// bf16 exact in fp32, the sums in fp32 (vdpbf16ps: denormal inputs read as 0, results rounded to nearest even).
/// Needs AVX512_BF16.
void softrl_gemm_packed_bf16_avx512bf16(const float *x, long ldx, const uint16_t *wp, float *y, long ldy, long m, long n,
                                        long k, int accumulate);

/// x (m rows ldx apart, k floats) rounded to bf16 pairs: out[i * ceil(k/2) + q] holds bf16(x[i][2q]) in its low half
/// and bf16(x[i][2q+1]) (0 past k) in its high half. Needs AVX512_BF16 (the product above calls it).
void softrl_round_bf16_pairs_avx512bf16(const float *x, long ldx, long m, long k, uint32_t *out);

SOFTRL_DECLARE_KERNELS(avx2)
SOFTRL_DECLARE_KERNELS(avx512)

#endif
