// Decode's and prefill's linear layers on weights stored as bfloat16 (declarations and layout in CKernels.h):
//  - softrl_gemm_packed_bf16w_avx512: bf16 weights widened to fp32 in registers, fp32 products and accumulation in
//    the same order as softrl_gemm_packed_avx512, so on weights that are bf16 already the results are bit-identical
//    to the fp32 panels, at half the bytes streamed per step.
//  - softrl_gemm_packed_bf16_avx512bf16: activations rounded to bf16 as well, pairs multiplied and accumulated in
//    fp32 by vdpbf16ps (AVX512_BF16: 32 products per instruction, twice the fp32 FMA's 16).
// Both read the same pair-interleaved panels, so one packing serves either. AVX-512 only: callers check cpuid.
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#include "transpose8.h"

long softrl_packed_bf16_count(long n, long k) {
    return (n + SOFTRL_PANEL - 1) / SOFTRL_PANEL * SOFTRL_PANEL * ((k + 1) / 2 * 2);
}

// Round-to-nearest-even, NaN kept a quiet NaN (TensorMath's BFloat16.encode).
static inline uint16_t sr_bf16(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x0040);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1)) >> 16);
}

// One panel entry: 1 when exact_only and the float is not a bf16 value.
static inline int sr_pack_one(const float *src, int exact_only, uint16_t *out) {
    uint32_t b;
    memcpy(&b, src, 4);
    if (exact_only) {
        if (b & 0xffffu) return 1;
        *out = (uint16_t)(b >> 16);
    } else {
        *out = sr_bf16(*src);
    }
    return 0;
}

int softrl_pack_nt_bf16(const float *w, long ldw, long n, long k, uint16_t *dst, int exact_only) {
    const long kp = (k + 1) / 2 * 2;
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        uint16_t *panel = dst + j * kp;
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL;
        // Blocks of 16 k-values: each W row segment (64 bytes) read contiguously, 8 pair rows of the panel written.
        for (long p0 = 0; p0 < kp; p0 += 16) {
            const long pe = p0 + 16 < kp ? p0 + 16 : kp;
            for (long c = 0; c < SOFTRL_PANEL; c++) {
                const float *src = w + (j + c) * ldw;
                for (long p = p0; p < pe; p++) {
                    uint16_t h = 0;
                    if (c < cols && p < k && sr_pack_one(src + p, exact_only, &h)) return 1;
                    panel[(p >> 1) * 2 * SOFTRL_PANEL + 2 * c + (p & 1)] = h;
                }
            }
        }
    }
    return 0;
}

int softrl_all_bf16(const float *x, long n) {
    const uint32_t *b = (const uint32_t *)(const void *)x;
    uint32_t any = 0;
    for (long i = 0; i < n; i++) any |= b[i] & 0xffffu;
    return any == 0;
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__clang__)
#include <immintrin.h>

// Bytes ahead the first row block prefetches within the panel stream (as the fp32 kernel's 32 k-rows: 4 KB).
#define SR_BF_PFD 4096
#define SR_MRMAX 8
#define SR_PAIR (2 * SOFTRL_PANEL)      /* uint16 per pair row of a panel (128 bytes) */

// Prefetch for a pair row: the first block streams ahead in the panel; later blocks fetch their share of the next
// panel (pf advancing pfs bytes per pair), so it is in cache when its turn comes.
#define SR_BF_PREFETCH(wq, q) do { \
    if (pf) __builtin_prefetch(pf + (q) * pfs); \
    else { __builtin_prefetch((const char *)(wq) + SR_BF_PFD); __builtin_prefetch((const char *)(wq) + SR_BF_PFD + 64); } \
} while (0)

// Stores two accumulators (32 columns) of one row, or its first `cols` entries.
#define SR_BF_STORE(r0, r1) do { \
    float *out = y + a * ldy; \
    if (cols == SOFTRL_PANEL) { \
        if (accumulate) { r0 = _mm512_add_ps(r0, _mm512_loadu_ps(out)); r1 = _mm512_add_ps(r1, _mm512_loadu_ps(out + 16)); } \
        _mm512_storeu_ps(out, r0); _mm512_storeu_ps(out + 16, r1); \
    } else { \
        float tmp[SOFTRL_PANEL]; \
        _mm512_storeu_ps(tmp, r0); _mm512_storeu_ps(tmp + 16, r1); \
        for (long c = 0; c < cols; c++) out[c] = accumulate ? out[c] + tmp[c] : tmp[c]; \
    } \
} while (0)
/* Every row's accumulators (two halves added when SPLIT) stored by SR_BF_STORE. */
#define SR_BF_STORE_ROWS(MR) do { \
    for (int a = 0; a < MR; a++) { \
        __m512 r0 = SPLIT ? _mm512_add_ps(a0[a], b0[a]) : a0[a], r1 = SPLIT ? _mm512_add_ps(a1[a], b1[a]) : a1[a]; \
        SR_BF_STORE(r0, r1); \
    } \
} while (0)
/* A block kernel per row count, 1 to SR_MRMAX. */
#define SR_FOR_ROWS_1_TO_8(DEFINE) DEFINE(1) DEFINE(2) DEFINE(3) DEFINE(4) DEFINE(5) DEFINE(6) DEFINE(7) DEFINE(8)

/* The walk both bf16 products share: panels of SOFTRL_PANEL columns; rows in even blocks of at most SR_MRMAX (as
   softrl_gemm_packed_avx512 makes them, so the same blocks give the same per-entry arithmetic); each block after the
   first prefetches its share of the next panel, `pfs` bytes per pair row. BLOCK(rows) runs one block with `i`,
   `panel`, `yi`, `cols` and `pf` in scope. */
#define SR_WALK_BLOCKS(BLOCK) do { \
    const long blocks = (m + SR_MRMAX - 1) / SR_MRMAX; \
    const long pfs = blocks > 1 && kp > 0 ? (panel_bytes / (blocks - 1) + kp / 2 - 1) / (kp / 2) : 0; \
    for (long j = 0; j < n; j += SOFTRL_PANEL) { \
        const uint16_t *panel = wp + j * kp; \
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL; \
        const char *next = j + SOFTRL_PANEL < n ? (const char *)(panel + SOFTRL_PANEL * kp) : 0; \
        long i = 0; \
        for (long bi = 0; bi < blocks; bi++) { \
            const long rows = (m - i) / (blocks - bi) + ((m - i) % (blocks - bi) ? 1 : 0); \
            float *yi = y + i * ldy + j; \
            const char *pf = bi > 0 && next ? next + (bi - 1) * (panel_bytes / (blocks - 1)) : 0; \
            BLOCK(rows); \
            i += rows; \
        } \
    } \
} while (0)

/* One block of 1..8 rows: FN##rows(ARGS). */
#define SR_BLOCK_OF(FN, rows, ...) do { \
    switch (rows) { \
    case 1: FN##1(__VA_ARGS__); break; case 2: FN##2(__VA_ARGS__); break; \
    case 3: FN##3(__VA_ARGS__); break; case 4: FN##4(__VA_ARGS__); break; \
    case 5: FN##5(__VA_ARGS__); break; case 6: FN##6(__VA_ARGS__); break; \
    case 7: FN##7(__VA_ARGS__); break; case 8: FN##8(__VA_ARGS__); break; \
    default: break; \
    } \
} while (0)

#pragma clang attribute push (__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)

// The even k of a pair row is the low half of each 32-bit lane, the odd k the high half: a bf16 in the high half
// of a 32-bit word is that value as fp32.
static inline __m512 sr_even(__m512i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
static inline __m512 sr_odd(__m512i v) { return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u))); }

// MR rows x one panel (32 columns), k in pairs. The order of every fp32 operation is softrl_gemm_packed_avx512's:
// below 4 rows even k into one accumulator set and odd k into another, added at the end; otherwise k in order.
#define SR_DEFINE_WBLOCK(MR) \
static inline void sr_wblock##MR(const float *x, long ldx, const uint16_t *wp, float *y, long ldy, long k, long cols, \
                                 int accumulate, const char *pf, long pfs) { \
    enum { SPLIT = (MR < 4) }; \
    __m512 a0[MR], a1[MR], b0[MR], b1[MR]; \
    for (int a = 0; a < MR; a++) { a0[a] = _mm512_setzero_ps(); a1[a] = a0[a]; b0[a] = a0[a]; b1[a] = a0[a]; } \
    const long pairs = k / 2; \
    for (long q = 0; q < pairs; q++) { \
        const uint16_t *wq = wp + q * SR_PAIR; \
        SR_BF_PREFETCH(wq, q); \
        const __m512i z0 = _mm512_loadu_si512(wq), z1 = _mm512_loadu_si512(wq + 32); \
        const __m512 u0 = sr_even(z0), u1 = sr_even(z1), v0 = sr_odd(z0), v1 = sr_odd(z1); \
        for (int a = 0; a < MR; a++) { \
            const __m512 xe = _mm512_set1_ps(x[a * ldx + 2 * q]), xo = _mm512_set1_ps(x[a * ldx + 2 * q + 1]); \
            if (SPLIT) { \
                a0[a] = _mm512_fmadd_ps(xe, u0, a0[a]); a1[a] = _mm512_fmadd_ps(xe, u1, a1[a]); \
                b0[a] = _mm512_fmadd_ps(xo, v0, b0[a]); b1[a] = _mm512_fmadd_ps(xo, v1, b1[a]); \
            } else { \
                a0[a] = _mm512_fmadd_ps(xe, u0, a0[a]); a1[a] = _mm512_fmadd_ps(xe, u1, a1[a]); \
                a0[a] = _mm512_fmadd_ps(xo, v0, a0[a]); a1[a] = _mm512_fmadd_ps(xo, v1, a1[a]); \
            } \
        } \
    } \
    if (k & 1) { \
        const uint16_t *wq = wp + pairs * SR_PAIR; \
        const __m512 u0 = sr_even(_mm512_loadu_si512(wq)), u1 = sr_even(_mm512_loadu_si512(wq + 32)); \
        for (int a = 0; a < MR; a++) { \
            const __m512 xe = _mm512_set1_ps(x[a * ldx + k - 1]); \
            a0[a] = _mm512_fmadd_ps(xe, u0, a0[a]); a1[a] = _mm512_fmadd_ps(xe, u1, a1[a]); \
        } \
    } \
    SR_BF_STORE_ROWS(MR); \
}
SR_FOR_ROWS_1_TO_8(SR_DEFINE_WBLOCK)
#undef SR_DEFINE_WBLOCK

// softrl_pack_nt_bf16 with AVX-512: per W row, 16 k-values rounded (or checked) at once and narrowed to 8 pair words
// (vpmovdw), then 8 rows x 8 pair words transposed in registers, so each pair row of the panel is written 32 bytes at
// a time. The scalar loop writes 2 bytes per 128-byte pair row. Ragged edges (the last panel's missing columns,
// k % 16) go through the scalar entry.
int softrl_pack_nt_bf16_avx512(const float *w, long ldw, long n, long k, uint16_t *dst, int exact_only) {
    typedef int32_t v8 __attribute__((vector_size(32)));
    const long kp = (k + 1) / 2 * 2, k16 = k - k % 16;
    const __m512i low = _mm512_set1_epi32(0xffff), one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(0x0040);
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        uint16_t *panel = dst + j * kp;
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL;
        const long c8 = cols - cols % 8;
        for (long c0 = 0; c0 < c8; c0 += 8) {
            const float *src = w + (j + c0) * ldw;
            for (long p0 = 0; p0 < k16; p0 += 16) {
                v8 r[8];
                for (int i = 0; i < 8; i++) {
                    const __m512i b = _mm512_loadu_si512(src + i * ldw + p0);
                    __m512i h;
                    if (exact_only) {
                        if (_mm512_test_epi32_mask(b, low)) return 1;
                        h = _mm512_srli_epi32(b, 16);
                    } else {
                        h = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, bias), _mm512_and_si512(_mm512_srli_epi32(b, 16), one)), 16);
                        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, absmask), inf);
                        h = _mm512_mask_mov_epi32(h, nan, _mm512_or_si512(_mm512_srli_epi32(b, 16), quiet));
                    }
                    const __m256i words = _mm512_cvtepi32_epi16(h);     // 16 bf16 = 8 pair words, k order
                    memcpy(&r[i], &words, 32);
                }
                // 8 x 8 transpose of pair words: t[q] = pair q of rows c0..c0+7.
                v8 o[8];
                SR_TRANSPOSE8(v8, r, o);
                for (int i = 0; i < 8; i++) memcpy(panel + (p0 / 2 + i) * SR_PAIR + 2 * c0, &o[i], 32);
            }
            for (long c = c0; c < c0 + 8; c++) {
                for (long p = k16; p < kp; p++) {
                    uint16_t h = 0;
                    if (p < k && sr_pack_one(w + (j + c) * ldw + p, exact_only, &h)) return 1;
                    panel[(p >> 1) * SR_PAIR + 2 * c + (p & 1)] = h;
                }
            }
        }
        for (long c = c8; c < SOFTRL_PANEL; c++) {
            for (long p = 0; p < kp; p++) {
                uint16_t h = 0;
                if (c < cols && p < k && sr_pack_one(w + (j + c) * ldw + p, exact_only, &h)) return 1;
                panel[(p >> 1) * SR_PAIR + 2 * c + (p & 1)] = h;
            }
        }
    }
    return 0;
}

void softrl_gemm_packed_bf16w_avx512(const float *x, long ldx, const uint16_t *wp, float *y, long ldy, long m, long n,
                                     long k, int accumulate) {
    const long kp = (k + 1) / 2 * 2, panel_bytes = SOFTRL_PANEL * kp * 2;
#define SR_W(rows) SR_BLOCK_OF(sr_wblock, rows, x + i * ldx, ldx, panel, yi, ldy, k, cols, accumulate, pf, pfs)
    SR_WALK_BLOCKS(SR_W);
#undef SR_W
}
#pragma clang attribute pop

#pragma clang attribute push (__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"))), apply_to = function)

// MR rows x one panel with vdpbf16ps: per pair row, each row's two activations (one 32-bit bf16 pair, broadcast)
// times the panel's 32 column pairs, both products added into the fp32 accumulators. Below 4 rows even and odd pair
// rows go to separate accumulator sets (more chains in flight).
#define SR_DEFINE_DBLOCK(MR) \
static inline void sr_dblock##MR(const uint32_t *xb, long ldxb, const uint16_t *wp, float *y, long ldy, long pairs, \
                                 long cols, int accumulate, const char *pf, long pfs) { \
    enum { SPLIT = (MR < 4) }; \
    __m512 a0[MR], a1[MR], b0[MR], b1[MR]; \
    for (int a = 0; a < MR; a++) { a0[a] = _mm512_setzero_ps(); a1[a] = a0[a]; b0[a] = a0[a]; b1[a] = a0[a]; } \
    long q = 0; \
    if (SPLIT) { \
        for (; q + 2 <= pairs; q += 2) { \
            const uint16_t *wq = wp + q * SR_PAIR; \
            SR_BF_PREFETCH(wq, q); SR_BF_PREFETCH(wq + SR_PAIR, q + 1); \
            const __m512bh u0 = (__m512bh)_mm512_loadu_si512(wq), u1 = (__m512bh)_mm512_loadu_si512(wq + 32); \
            const __m512bh v0 = (__m512bh)_mm512_loadu_si512(wq + SR_PAIR), v1 = (__m512bh)_mm512_loadu_si512(wq + SR_PAIR + 32); \
            for (int a = 0; a < MR; a++) { \
                const __m512bh xe = (__m512bh)_mm512_set1_epi32((int)xb[a * ldxb + q]); \
                const __m512bh xo = (__m512bh)_mm512_set1_epi32((int)xb[a * ldxb + q + 1]); \
                a0[a] = _mm512_dpbf16_ps(a0[a], xe, u0); a1[a] = _mm512_dpbf16_ps(a1[a], xe, u1); \
                b0[a] = _mm512_dpbf16_ps(b0[a], xo, v0); b1[a] = _mm512_dpbf16_ps(b1[a], xo, v1); \
            } \
        } \
    } \
    for (; q < pairs; q++) { \
        const uint16_t *wq = wp + q * SR_PAIR; \
        SR_BF_PREFETCH(wq, q); \
        const __m512bh u0 = (__m512bh)_mm512_loadu_si512(wq), u1 = (__m512bh)_mm512_loadu_si512(wq + 32); \
        for (int a = 0; a < MR; a++) { \
            const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)xb[a * ldxb + q]); \
            a0[a] = _mm512_dpbf16_ps(a0[a], xv, u0); a1[a] = _mm512_dpbf16_ps(a1[a], xv, u1); \
        } \
    } \
    SR_BF_STORE_ROWS(MR); \
}
SR_FOR_ROWS_1_TO_8(SR_DEFINE_DBLOCK)
#undef SR_DEFINE_DBLOCK

void softrl_round_bf16_pairs_avx512bf16(const float *x, long ldx, long m, long k, uint32_t *out) {
    const long pairs = (k + 1) / 2;
    for (long i = 0; i < m; i++) {
        const float *xi = x + i * ldx;
        uint32_t *oi = out + i * pairs;
        long p = 0;
        for (; p + 32 <= k; p += 32) {
            const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xi + p + 16), _mm512_loadu_ps(xi + p));
            _mm512_storeu_si512(oi + p / 2, (__m512i)h);
        }
        if (p < k) {
            // The tail (and the odd k's zero partner) through masked loads: lanes past k read as 0.
            const long r = k - p;
            const __mmask16 lo = (__mmask16)(r >= 16 ? 0xffff : (1u << r) - 1), hi = (__mmask16)(r > 16 ? (1u << (r - 16)) - 1 : 0);
            const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xi + p + 16), _mm512_maskz_loadu_ps(lo, xi + p));
            _mm512_mask_storeu_epi32(oi + p / 2, (__mmask16)((1u << ((r + 1) / 2)) - 1), (__m512i)h);
        }
    }
}

void softrl_gemm_packed_bf16_avx512bf16(const float *x, long ldx, const uint16_t *wp, float *y, long ldy, long m, long n,
                                        long k, int accumulate) {
    const long kp = (k + 1) / 2 * 2, pairs = kp / 2, panel_bytes = SOFTRL_PANEL * kp * 2;
    // The activations rounded to bf16 once per call, each row as k/2 pairs (one 32-bit broadcast per pair row).
    uint32_t stack[4096];
    uint32_t *xb = m * pairs <= 4096 ? stack : (uint32_t *)malloc((size_t)(m * pairs) * 4);
    if (!xb) abort();
    softrl_round_bf16_pairs_avx512bf16(x, ldx, m, k, xb);
#define SR_D(rows) SR_BLOCK_OF(sr_dblock, rows, xb + i * pairs, pairs, panel, yi, ldy, pairs, cols, accumulate, pf, pfs)
    SR_WALK_BLOCKS(SR_D);
#undef SR_D
    if (xb != stack) free(xb);
}
#pragma clang attribute pop

int softrl_bf16_kernels_compiled(void) { return 1; }
#else
int softrl_bf16_kernels_compiled(void) { return 0; }
#endif
