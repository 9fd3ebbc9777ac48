// The AVX2/FMA and AVX-512 variants of the hot non-BLAS loops: kernels_body.h compiled twice under
// `#pragma clang attribute` target sections, so only these functions use the wider instructions. Callers
// (TensorMath/SIMDDispatch.swift) pick a variant after checking cpuid and XGETBV.
#include "CKernels.h"
#include <string.h>
#include "transpose8.h"

long softrl_packed_count(long n, long k) {
    return (n + SOFTRL_PANEL - 1) / SOFTRL_PANEL * SOFTRL_PANEL * k;
}

void softrl_pack_nt(const float *w, long ldw, long n, long k, float *dst) {
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        float *panel = dst + j * k;
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL;
        // Blocks of 8 k-values: each W row segment is read contiguously, each panel row written contiguously.
        for (long p0 = 0; p0 < k; p0 += 8) {
            const long pe = p0 + 8 < k ? p0 + 8 : k;
            for (long c = 0; c < SOFTRL_PANEL; c++) {
                if (c < cols) {
                    const float *src = w + (j + c) * ldw;
                    for (long p = p0; p < pe; p++) panel[p * SOFTRL_PANEL + c] = src[p];
                } else {
                    for (long p = p0; p < pe; p++) panel[p * SOFTRL_PANEL + c] = 0.0f;
                }
            }
        }
    }
}

void softrl_pack_nn(const float *w, long ldw, long n, long k, float *dst) {
    // Panel rows are contiguous 32-float pieces of W's rows: a copy, at memory speed on every path.
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        float *panel = dst + j * k;
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL;
        for (long p = 0; p < k; p++) {
            float *row = panel + p * SOFTRL_PANEL;
            memcpy(row, w + p * ldw + j, (size_t)cols * sizeof(float));
            for (long c = cols; c < SOFTRL_PANEL; c++) row[c] = 0.0f;
        }
    }
}

long softrl_causal_attention_scratch(long T, long hd) {
    // K^T or V^T (hd rows) and the scores or their gradient (T rows), rows of T rounded up to the widest vector.
    return (T + 15) / 16 * 16 * (hd + T);
}

void softrl_prefetch_cache_row(const float *keys, long key_stride, const float *values, long value_stride,
                               long kv_heads, long hd, long len) {
    const long key_bytes = (len + SOFTRL_KEY_BLOCK - 1) / SOFTRL_KEY_BLOCK * SOFTRL_KEY_BLOCK * hd * 4, value_bytes = len * hd * 4;
    for (long g = 0; g < kv_heads; g++) {
        const char *k = (const char *)(keys + g * key_stride), *v = (const char *)(values + g * value_stride);
        for (long o = 0; o < key_bytes; o += 64) __builtin_prefetch(k + o, 0, 2);
        for (long o = 0; o < value_bytes; o += 64) __builtin_prefetch(v + o, 0, 2);
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__clang__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define SR_PFD 32   /* packed product: prefetch the panel 32 k-rows ahead (4 KB), for weights streamed from memory */
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)
#define KS avx2
#define KW 8
#include "kernels_body.h"
#undef KS
#undef KW
#pragma clang attribute pop

#pragma clang attribute push (__attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#define KS avx512
#define KW 16
#include "kernels_body.h"
#undef KS
#undef KW
#pragma clang attribute pop

#endif
