// One body for every SIMD width (included by kernels.c with KS = name suffix, KW = float lanes). Written with
// clang vector extensions, so the same code becomes YMM (KW 8) or ZMM (KW 16) instructions. The math mirrors the
// portable Swift kernels (TensorMath/SIMDKernels.swift exp8, Layers.swift): same exp polynomial, same order of
// operations, except that FMA contraction rounds once where Swift rounds twice (tests allow for that).
// No include guard: included once per width on purpose.

#define SR_CAT2(a, b) a##_##b
#define SR_CAT(a, b) SR_CAT2(a, b)
#define FN(name) SR_CAT(name, KS)
#define VF FN(sr_vf)
#define VI FN(sr_vi)

typedef float VF __attribute__((vector_size(KW * 4)));
typedef int32_t VI __attribute__((vector_size(KW * 4)));

static inline VF FN(ld)(const float *p) { VF v; memcpy(&v, p, sizeof v); return v; }
static inline void FN(st)(float *p, VF v) { memcpy(p, &v, sizeof v); }
// A broadcast, one instruction (vbroadcastss from memory). Written as `{0} + x` it was an add of 0.0 (which the
// compiler must keep: it turns -0.0 into +0.0) and a register shuffle before every broadcast FMA of the products.
static inline VF FN(splat)(float x) {
#if KW == 16
    return (VF)_mm512_set1_ps(x);
#else
    return (VF)_mm256_set1_ps(x);
#endif
}
static inline float FN(hsum)(VF v) {
    // Halve the vector until one lane is left (log2(KW) shuffles and adds instead of KW-1 scalar adds).
#if KW == 16
    typedef float h8 __attribute__((vector_size(32)));
    h8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    VF a = v;
#endif
    typedef float h4 __attribute__((vector_size(16)));
    h4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}
static inline float FN(hmax)(VF v) { float m = v[0]; for (int i = 1; i < KW; i++) m = v[i] > m ? v[i] : m; return m; }

// e^x, relative error ~2e-7 on [-87, 88] (clamped): x = n ln2 + r, degree-6 Taylor for e^r, 2^n in the exponent.
static inline VF FN(vexp)(VF x) {
    x = __builtin_elementwise_max(x, FN(splat)(-87.0f));
    x = __builtin_elementwise_min(x, FN(splat)(88.0f));
    const VF magic = FN(splat)(12582912.0f);
    VF t = x * 1.44269504088896341f + magic;
    VF n = t - magic;
    VF r = x - n * 0.693359375f - n * -2.12194440e-4f;
    VF p = FN(splat)(1.0f / 720.0f);
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    VI nb = (VI)t - 0x4B400000;
    VF scale = (VF)((nb + 127) << 23);
    return p * scale;
}
static inline float FN(sexp)(float x) { return FN(vexp)(FN(splat)(x))[0]; }

static inline float FN(dot)(const float *a, const float *b, long n) {
    VF acc0 = {0}, acc1 = {0};
    long i = 0;
    for (; i + 2 * KW <= n; i += 2 * KW) {
        acc0 += FN(ld)(a + i) * FN(ld)(b + i);
        acc1 += FN(ld)(a + i + KW) * FN(ld)(b + i + KW);
    }
    if (i + KW <= n) { acc0 += FN(ld)(a + i) * FN(ld)(b + i); i += KW; }
    float s = FN(hsum)(acc0 + acc1);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void FN(softrl_softmax_inplace)(float *x, long n) {
    long j = 0;
    VF mv = FN(splat)(-INFINITY);
    for (; j + KW <= n; j += KW) mv = __builtin_elementwise_max(mv, FN(ld)(x + j));
    float mx = FN(hmax)(mv);
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    const VF m = FN(splat)(mx);
    VF sv = {0};
    for (j = 0; j + KW <= n; j += KW) { VF e = FN(vexp)(FN(ld)(x + j) - m); FN(st)(x + j, e); sv += e; }
    float sum = FN(hsum)(sv);
    for (; j < n; j++) { float e = FN(sexp)(x[j] - mx); x[j] = e; sum += e; }
    const float inv = 1.0f / sum;
    for (j = 0; j + KW <= n; j += KW) FN(st)(x + j, FN(ld)(x + j) * inv);
    for (; j < n; j++) x[j] *= inv;
}

// out[0..hd) = sum_j p[j] * values[j * stride + 0..hd): attention's value side for any head size (the paths
// that keep a whole head in registers cover the common sizes).
static inline void FN(weighted_rows)(float *out, const float *p, const float *values, long stride, long len, long hd) {
    for (long i = 0; i < hd; i++) out[i] = 0;
    for (long j = 0; j < len; j++) {
        const float *v = values + j * stride;
        const float pj = p[j];
        const VF pv = FN(splat)(pj);
        long i = 0;
        for (; i + KW <= hd; i += KW) FN(st)(out + i, FN(ld)(out + i) + pv * FN(ld)(v + i));
        for (; i < hd; i++) out[i] += pj * v[i];
    }
}

// One query head over `len` cached positions: scores_j = scale q.k_j, softmax, out = sum_j p_j v_j.
// Key/value rows of one head are `stride` floats apart (the cache's kv width).
void FN(softrl_attend)(const float *q, const float *keys, const float *values, long stride, long len, long hd,
                       float scale, float *scores, float *out) {
    for (long j = 0; j < len; j++) scores[j] = scale * FN(dot)(q, keys + j * stride, hd);
    FN(softrl_softmax_inplace)(scores, len);
    if (hd == 4 * KW || hd == 2 * KW || hd == KW) {
        // Whole head in registers (hd 64 with AVX-512, 32/64 with AVX2 via the general loop).
        VF o0 = {0}, o1 = {0}, o2 = {0}, o3 = {0};
        for (long j = 0; j < len; j++) {
            const float *v = values + j * stride;
            const VF p = FN(splat)(scores[j]);
            o0 += p * FN(ld)(v);
            if (hd >= 2 * KW) o1 += p * FN(ld)(v + KW);
            if (hd == 4 * KW) { o2 += p * FN(ld)(v + 2 * KW); o3 += p * FN(ld)(v + 3 * KW); }
        }
        FN(st)(out, o0);
        if (hd >= 2 * KW) FN(st)(out + KW, o1);
        if (hd == 4 * KW) { FN(st)(out + 2 * KW, o2); FN(st)(out + 3 * KW, o3); }
        return;
    }
    FN(weighted_rows)(out, scores, values, stride, len, hd);
}

// Decode attention over the KV cache (layout in CKernels.h, SOFTRL_KEY_BLOCK): per key/value head, keys in blocks
// of 16 positions, each block hd rows of 16 floats (dimension d of the block's 16 positions contiguous), values one
// row of hd floats per position. Each key/value head's cache is one contiguous stream, read once per step for all
// the query heads that share it. Three passes per group: scores (broadcast FMAs, no horizontal sums), softmax
// numerators with the positions past len masked, then sum_j e_hj v_j scaled by 1 / sum_j e_hj.
#define SR_KB SOFTRL_KEY_BLOCK
#define SR_BV (SR_KB / KW)              /* vectors per key block row: 1 (AVX-512) or 2 (AVX2) */
#if KW == 16
#define SR_SC_GH 4                      /* scores tile: up to 4 heads x 4 blocks (16 accumulators) */
#define SR_SC_NB 4
#define SR_PV_ACC 12                    /* output tile: heads x hd vectors <= 12 accumulators */
#else
#define SR_SC_GH 2                      /* 2 heads x 2 blocks x 2 vectors (8 of 16 registers) */
#define SR_SC_NB 2
#define SR_PV_ACC 8
#endif

// Scores of GH heads (q rows hd apart) against NB key blocks at kb (blocks hd * 16 floats apart), times scale, into
// sc (head rows ldsc apart). Every lane of each block is computed; lanes past len are masked by the softmax.
static inline __attribute__((always_inline)) void FN(sc_tile)(const float *q, const int GH, const float *kb,
                                                              const int NB, long hd, float scale, float *sc, long ldsc) {
    VF acc[SR_SC_GH][SR_SC_NB * SR_BV];
    for (int h = 0; h < GH; h++) for (int i = 0; i < NB * SR_BV; i++) acc[h][i] = FN(splat)(0.0f);
    for (long d = 0; d < hd; d++) {
        VF k[SR_SC_NB * SR_BV];
        for (int b = 0; b < NB; b++) for (int v = 0; v < SR_BV; v++) k[b * SR_BV + v] = FN(ld)(kb + b * hd * SR_KB + d * SR_KB + v * KW);
        for (int h = 0; h < GH; h++) {
            const VF qv = FN(splat)(q[h * hd + d]);
            for (int i = 0; i < NB * SR_BV; i++) acc[h][i] += qv * k[i];
        }
    }
    for (int h = 0; h < GH; h++) for (int i = 0; i < NB * SR_BV; i++) FN(st)(sc + h * ldsc + i * KW, acc[h][i] * scale);
}

#define SR_SC_CASE(GH, NB) case (GH) * 8 + (NB): FN(sc_tile)(qh, GH, kb, NB, hd, scale, sh, ldsc); break;

// out (GH heads hd apart, HV vectors from vector hv) = inv_h * sum_j e_hj v_j over len positions (v rows hd apart).
// Few accumulators: even and odd positions go to separate sets, so enough FMA chains are in flight.
static inline __attribute__((always_inline)) void FN(pv_tile)(const float *e, long ldsc, const int GH, const float *v,
                                                              long hd, const int HV, long len, const float *inv,
                                                              float *o) {
    enum { SPLIT_MAX = SR_PV_ACC / 2 };
    const int split = GH * HV <= SPLIT_MAX;
    VF a[SR_PV_ACC], b[SR_PV_ACC];
    for (int i = 0; i < GH * HV; i++) { a[i] = FN(splat)(0.0f); b[i] = a[i]; }
    long j = 0;
    if (split) {
        for (; j + 2 <= len; j += 2) {
            VF v0[4], v1[4];
            for (int c = 0; c < HV; c++) { v0[c] = FN(ld)(v + j * hd + c * KW); v1[c] = FN(ld)(v + (j + 1) * hd + c * KW); }
            for (int h = 0; h < GH; h++) {
                const VF p0 = FN(splat)(e[h * ldsc + j]), p1 = FN(splat)(e[h * ldsc + j + 1]);
                for (int c = 0; c < HV; c++) { a[h * HV + c] += p0 * v0[c]; b[h * HV + c] += p1 * v1[c]; }
            }
        }
    }
    for (; j < len; j++) {
        VF v0[4];
        for (int c = 0; c < HV; c++) v0[c] = FN(ld)(v + j * hd + c * KW);
        for (int h = 0; h < GH; h++) {
            const VF p0 = FN(splat)(e[h * ldsc + j]);
            for (int c = 0; c < HV; c++) a[h * HV + c] += p0 * v0[c];
        }
    }
    for (int h = 0; h < GH; h++)
        for (int c = 0; c < HV; c++) FN(st)(o + h * hd + c * KW, (split ? a[h * HV + c] + b[h * HV + c] : a[h * HV + c]) * inv[h]);
}

#define SR_PV_CASE(GH, HV) case (GH) * 8 + (HV): FN(pv_tile)(e, ldsc, GH, vc, hd, HV, len, inv + h0, oc); break;

void FN(softrl_attend_cached)(const float *q, long heads, long kv_heads, long hd, const float *keys, long key_stride,
                              const float *values, long value_stride, long len, float scale, float *scores,
                              float *out) {
    const long group = heads / kv_heads;
    const long nb = (len + SR_KB - 1) / SR_KB, ldsc = nb * SR_KB;
    VI lane;
    for (int i = 0; i < KW; i++) lane[i] = i;
    for (long g = 0; g < kv_heads; g++) {
        const float *kg = keys + g * key_stride, *vg = values + g * value_stride, *qg = q + g * group * hd;
        float *og = out + g * group * hd;
        // 1. Scores, tiles of heads x key blocks.
        for (long h0 = 0; h0 < group; h0 += SR_SC_GH) {
            const int gh = group - h0 < SR_SC_GH ? (int)(group - h0) : SR_SC_GH;
            for (long b0 = 0; b0 < nb; b0 += SR_SC_NB) {
                const int nbk = nb - b0 < SR_SC_NB ? (int)(nb - b0) : SR_SC_NB;
                const float *qh = qg + h0 * hd, *kb = kg + b0 * hd * SR_KB;
                float *sh = scores + h0 * ldsc + b0 * SR_KB;
                switch (gh * 8 + nbk) {
                SR_SC_CASE(1, 1) SR_SC_CASE(1, 2) SR_SC_CASE(2, 1) SR_SC_CASE(2, 2)
#if SR_SC_NB == 4
                SR_SC_CASE(1, 3) SR_SC_CASE(1, 4) SR_SC_CASE(2, 3) SR_SC_CASE(2, 4)
                SR_SC_CASE(3, 1) SR_SC_CASE(3, 2) SR_SC_CASE(3, 3) SR_SC_CASE(3, 4)
                SR_SC_CASE(4, 1) SR_SC_CASE(4, 2) SR_SC_CASE(4, 3) SR_SC_CASE(4, 4)
#endif
                default: break;
                }
            }
        }
        // Softmax and output for chunks of up to 16 heads (their inverse sums on the stack).
        for (long hc = 0; hc < group; hc += 16) {
            const long nh = group - hc < 16 ? group - hc : 16;
            float inv[16];
            // 2. Softmax numerators in place (positions past len masked to 0), inverse sums kept for the output.
            for (long h = 0; h < nh; h++) {
                float *sc = scores + (hc + h) * ldsc;
                VF mv = FN(splat)(-INFINITY);
                long j = 0;
                for (; j + KW <= len; j += KW) mv = __builtin_elementwise_max(mv, FN(ld)(sc + j));
                for (; j < ldsc; j += KW) {
                    const VI keep = (lane + (int)j) < (int)len;
                    mv = __builtin_elementwise_max(mv, (VF)(((VI)FN(ld)(sc + j) & keep) | ((VI)FN(splat)(-INFINITY) & ~keep)));
                }
                const VF m = FN(splat)(__builtin_reduce_max(mv));
                VF sv = FN(splat)(0.0f);
                for (j = 0; j + KW <= len; j += KW) { const VF ex = FN(vexp)(FN(ld)(sc + j) - m); FN(st)(sc + j, ex); sv += ex; }
                for (; j < ldsc; j += KW) {
                    const VI keep = (lane + (int)j) < (int)len;
                    const VF ex = (VF)((VI)FN(vexp)(FN(ld)(sc + j) - m) & keep);
                    FN(st)(sc + j, ex);
                    sv += ex;
                }
                inv[h] = 1.0f / FN(hsum)(sv);
            }
            // 3. out_h = inv_h sum_j e_hj v_j.
            if (hd % KW == 0) {
                const long nvec = hd / KW;
                for (long c0 = 0; c0 < nvec;) {
                    const int hv = nvec - c0 >= 4 ? 4 : nvec - c0 >= 2 ? 2 : 1;
                    const int ghmax = SR_PV_ACC / hv;
                    for (long h0 = 0; h0 < nh; h0 += ghmax) {
                        const int gh = nh - h0 < ghmax ? (int)(nh - h0) : ghmax;
                        const float *e = scores + (hc + h0) * ldsc, *vc = vg + c0 * KW;
                        float *oc = og + (hc + h0) * hd + c0 * KW;
                        switch (gh * 8 + hv) {
                        SR_PV_CASE(1, 1) SR_PV_CASE(2, 1) SR_PV_CASE(3, 1) SR_PV_CASE(4, 1)
                        SR_PV_CASE(5, 1) SR_PV_CASE(6, 1) SR_PV_CASE(7, 1) SR_PV_CASE(8, 1)
                        SR_PV_CASE(1, 2) SR_PV_CASE(2, 2) SR_PV_CASE(3, 2) SR_PV_CASE(4, 2)
                        SR_PV_CASE(1, 4) SR_PV_CASE(2, 4)
#if SR_PV_ACC >= 12
                        SR_PV_CASE(9, 1) SR_PV_CASE(10, 1) SR_PV_CASE(11, 1) SR_PV_CASE(12, 1)
                        SR_PV_CASE(5, 2) SR_PV_CASE(6, 2) SR_PV_CASE(3, 4)
#endif
                        default: break;
                        }
                    }
                    c0 += hv;
                }
            } else {
                for (long h = 0; h < nh; h++) {
                    const float *e = scores + (hc + h) * ldsc;
                    float *o = og + (hc + h) * hd;
                    FN(weighted_rows)(o, e, vg, hd, len, hd);
                    for (long i = 0; i < hd; i++) o[i] *= inv[h];
                }
            }
        }
    }
}
#undef SR_SC_CASE
#undef SR_PV_CASE
#undef SR_SC_GH
#undef SR_SC_NB
#undef SR_PV_ACC
#undef SR_BV
#undef SR_KB

void FN(softrl_rmsnorm)(const float *x, const float *w, float *y, float *inv_rms, long rows, long dim, float eps) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        const float ss = FN(dot)(xr, xr, dim);
        const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        if (inv_rms) inv_rms[r] = inv;
        long j = 0;
        for (; j + KW <= dim; j += KW) FN(st)(yr + j, FN(ld)(xr + j) * inv * FN(ld)(w + j));
        for (; j < dim; j++) yr[j] = xr[j] * inv * w[j];
    }
}

// 1 / d from the hardware's reciprocal estimate and one Newton step (rcp14: 2^-14 -> ~1 ulp; AVX2's rcpps:
// 1.5 * 2^-12 -> a few ulp). A vector division is several times the cost of the rest of SwiGLU's arithmetic.
// Only for d >= 1 here (sigmoid's 1 + e^-g), far from the estimate's zero and overflow cases.
static inline VF FN(vrecip)(VF d) {
#if KW == 16
    VF r = (VF)_mm512_rcp14_ps((__m512)d);
#else
    VF r = (VF)_mm256_rcp_ps((__m256)d);
#endif
    return r * (2.0f - d * r);
}

void FN(softrl_swiglu)(const float *gate, const float *up, float *h, long n) {
    long i = 0;
    for (; i + KW <= n; i += KW) {
        VF g = FN(ld)(gate + i);
        FN(st)(h + i, g * FN(vrecip)(1.0f + FN(vexp)(-g)) * FN(ld)(up + i));
    }
    for (; i < n; i++) { float g = gate[i]; h[i] = g / (1.0f + FN(sexp)(-g)) * up[i]; }
}

// RMSNorm's backward (Layers.swift): dx_i += r w_i dy_i - x_i r^3/d sum_j dy_j w_j x_j ; dw_j += dy_j x_j r.
void FN(softrl_rmsnorm_backward)(const float *dy, const float *x, const float *w, const float *inv_rms, float *dx,
                                 float *dw, long rows, long dim) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * dim, *dyr = dy + r * dim;
        float *dxr = dx + r * dim;
        const float inv = inv_rms[r];
        VF acc0 = FN(splat)(0.0f), acc1 = acc0;
        long j = 0;
        for (; j + 2 * KW <= dim; j += 2 * KW) {
            acc0 += FN(ld)(dyr + j) * FN(ld)(w + j) * FN(ld)(xr + j);
            acc1 += FN(ld)(dyr + j + KW) * FN(ld)(w + j + KW) * FN(ld)(xr + j + KW);
        }
        for (; j + KW <= dim; j += KW) acc0 += FN(ld)(dyr + j) * FN(ld)(w + j) * FN(ld)(xr + j);
        float dotv = FN(hsum)(acc0 + acc1);
        for (; j < dim; j++) dotv += dyr[j] * w[j] * xr[j];
        const float k = dotv * inv * inv * inv / (float)dim;
        const VF iv = FN(splat)(inv), kv = FN(splat)(k);
        for (j = 0; j + KW <= dim; j += KW) {
            const VF dyv = FN(ld)(dyr + j), xv = FN(ld)(xr + j);
            FN(st)(dxr + j, FN(ld)(dxr + j) + iv * FN(ld)(w + j) * dyv - xv * kv);
            FN(st)(dw + j, FN(ld)(dw + j) + dyv * xv * iv);
        }
        for (; j < dim; j++) {
            dxr[j] += inv * w[j] * dyr[j] - xr[j] * k;
            dw[j] += dyr[j] * xr[j] * inv;
        }
    }
}

// SwiGLU's backward (Layers.swift): s = sigmoid(g), dup = dh g s, dgate = dh up s (1 + g (1 - s)).
void FN(softrl_swiglu_backward)(const float *dh, const float *gate, const float *up, float *dgate, float *dup, long n) {
    const VF one = FN(splat)(1.0f);
    long i = 0;
    for (; i + KW <= n; i += KW) {
        const VF g = FN(ld)(gate + i), d = FN(ld)(dh + i);
        const VF s = FN(vrecip)(one + FN(vexp)(-g));
        FN(st)(dup + i, d * (g * s));
        FN(st)(dgate + i, d * FN(ld)(up + i) * s * (one + g * (one - s)));
    }
    for (; i < n; i++) {
        const float g = gate[i], s = 1.0f / (1.0f + FN(sexp)(-g));
        dup[i] = dh[i] * (g * s);
        dgate[i] = dh[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

void FN(softrl_rope)(float *row, long heads, long head_dim, const float *cos_, const float *sin_, float sign) {
    const long half = head_dim / 2;
    for (long h = 0; h < heads; h++) {
        float *v = row + h * head_dim;
        long i = 0;
        for (; i + KW <= half; i += KW) {
            VF a = FN(ld)(v + i), b = FN(ld)(v + i + half), c = FN(ld)(cos_ + i), s = FN(ld)(sin_ + i) * sign;
            FN(st)(v + i, a * c - b * s);
            FN(st)(v + i + half, b * c + a * s);
        }
        for (; i < half; i++) {
            float a = v[i], b = v[i + half], s = sign * sin_[i];
            v[i] = a * cos_[i] - b * s;
            v[i + half] = b * cos_[i] + a * s;
        }
    }
}

void FN(softrl_adamw)(float *p, const float *g, float *m, float *v, long n, float b1, float b2, float omb1,
                      float omb2, float ic1, float ic2, float eps, float lr, float lr_decay) {
    long i = 0;
    for (; i + KW <= n; i += KW) {
        VF gi = FN(ld)(g + i), pi = FN(ld)(p + i);
        VF mi = b1 * FN(ld)(m + i) + omb1 * gi;
        VF vi = b2 * FN(ld)(v + i) + omb2 * gi * gi;
        FN(st)(m + i, mi);
        FN(st)(v + i, vi);
        VF mh = mi * ic1, vh = vi * ic2;
        FN(st)(p + i, pi - (lr * (mh / (__builtin_elementwise_sqrt(vh) + eps)) + lr_decay * pi));
    }
    for (; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + omb1 * gi, vi = b2 * v[i] + omb2 * gi * gi;
        m[i] = mi; v[i] = vi;
        float mh = mi * ic1, vh = vi * ic2;
        p[i] -= lr * (mh / (sqrtf(vh) + eps)) + lr_decay * p[i];
    }
}

// out = softmax(x * inv_t); returns log Z of the tempered logits. Lane sums in float over blocks of 64 vectors,
// the blocks added in double (a vocabulary of 49k entries keeps ~double precision in the normaliser).
double FN(softrl_softmax_temp)(const float *x, long n, float inv_t, float *out) {
    long j = 0;
    VF mv = FN(splat)(-INFINITY);
    for (; j + KW <= n; j += KW) mv = __builtin_elementwise_max(mv, FN(ld)(x + j));
    float mx = FN(hmax)(mv);
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    const VF m = FN(splat)(mx);
    double sum = 0;
    j = 0;
    while (j + KW <= n) {
        VF acc = {0};
        long end = j + 64 * KW;
        for (; j + KW <= n && j < end; j += KW) {
            VF e = FN(vexp)((FN(ld)(x + j) - m) * inv_t);
            FN(st)(out + j, e);
            acc += e;
        }
        sum += (double)FN(hsum)(acc);
    }
    for (; j < n; j++) { float e = FN(sexp)((x[j] - mx) * inv_t); out[j] = e; sum += e; }
    const float inv = (float)(1.0 / sum);
    for (j = 0; j + KW <= n; j += KW) FN(st)(out + j, FN(ld)(out + j) * inv);
    for (; j < n; j++) out[j] *= inv;
    return (double)(mx * inv_t) + log(sum);
}

// y (m, n) = x (m, k) W^T (+ y when accumulate), W stored (n, k) row-major: the linear layer at decode's few rows.
// Register blocking of IB x rows by 4 W rows: each W chunk is loaded once per x block into 4 x IB accumulators,
// and the 4 W rows (4k floats) stay in L1 while every x block passes over them. No packing of W (what makes
// OpenBLAS's sgemm costly at small m: it copies the whole weight matrix on every call). IB is 1..SR_IBMAX, one
// fully unrolled function per IB so the accumulators live in registers.
#define SR_JB 4
#if KW == 16
#define SR_IBMAX 6
#else
#define SR_IBMAX 2
#endif
#define SR_DEFINE_BLOCK(IB) \
static inline void FN(gemm_block##IB)(const float *x, long ldx, const float *w, long ldw, float *y, long ldy, \
                                       long k, int accumulate) { \
    const long kv = k - k % KW; \
    VF acc[IB][SR_JB]; \
    for (int a = 0; a < IB; a++) for (int b = 0; b < SR_JB; b++) acc[a][b] = FN(splat)(0.0f); \
    for (long p = 0; p < kv; p += KW) { \
        VF wv[SR_JB]; \
        for (int b = 0; b < SR_JB; b++) wv[b] = FN(ld)(w + b * ldw + p); \
        for (int a = 0; a < IB; a++) { \
            const VF xv = FN(ld)(x + a * ldx + p); \
            for (int b = 0; b < SR_JB; b++) acc[a][b] += xv * wv[b]; \
        } \
    } \
    for (int a = 0; a < IB; a++) { \
        for (int b = 0; b < SR_JB; b++) { \
            float s = FN(hsum)(acc[a][b]); \
            for (long p = kv; p < k; p++) s += x[a * ldx + p] * w[b * ldw + p]; \
            float *out = y + a * ldy + b; \
            *out = accumulate ? *out + s : s; \
        } \
    } \
}
SR_DEFINE_BLOCK(1)
SR_DEFINE_BLOCK(2)
#if SR_IBMAX >= 6
SR_DEFINE_BLOCK(3)
SR_DEFINE_BLOCK(4)
SR_DEFINE_BLOCK(5)
SR_DEFINE_BLOCK(6)
#endif

void FN(softrl_gemm_nt)(const float *x, long ldx, const float *w, long ldw, float *y, long ldy,
                        long m, long n, long k, int accumulate) {
    long j = 0;
    for (; j + SR_JB <= n; j += SR_JB) {
        const float *wj = w + j * ldw;
        long i = 0;
        for (; i + SR_IBMAX <= m; i += SR_IBMAX) {
#if SR_IBMAX == 6
            FN(gemm_block6)(x + i * ldx, ldx, wj, ldw, y + i * ldy + j, ldy, k, accumulate);
#else
            FN(gemm_block2)(x + i * ldx, ldx, wj, ldw, y + i * ldy + j, ldy, k, accumulate);
#endif
        }
        const long rest = m - i;
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy + j;
        switch (rest) {
        case 0: break;
        case 1: FN(gemm_block1)(xi, ldx, wj, ldw, yi, ldy, k, accumulate); break;
#if SR_IBMAX >= 6
        case 2: FN(gemm_block2)(xi, ldx, wj, ldw, yi, ldy, k, accumulate); break;
        case 3: FN(gemm_block3)(xi, ldx, wj, ldw, yi, ldy, k, accumulate); break;
        case 4: FN(gemm_block4)(xi, ldx, wj, ldw, yi, ldy, k, accumulate); break;
        case 5: FN(gemm_block5)(xi, ldx, wj, ldw, yi, ldy, k, accumulate); break;
#endif
        default: break;
        }
    }
    for (; j < n; j++) {
        for (long i = 0; i < m; i++) {
            float s = FN(dot)(x + i * ldx, w + j * ldw, k);
            float *out = y + i * ldy + j;
            *out = accumulate ? *out + s : s;
        }
    }
}
#undef SR_IBMAX
#undef SR_JB
#undef SR_DEFINE_BLOCK

// softrl_pack_nt (kernels.c) with 8 x 8 register transposes: 8 W rows x 8 k-values loaded as 8 vectors (each a
// contiguous row segment), transposed, stored as 8 panel rows of 8 columns. The scalar version writes one float per
// 128-byte panel row and ran at ~1.5 GB/s; this one moves 32-byte pieces both ways. Ragged edges (the last panel's
// missing columns, k % 8) fall back to the scalar loop.
void FN(softrl_pack_nt)(const float *w, long ldw, long n, long k, float *dst) {
    typedef float v8 __attribute__((vector_size(32)));
    const long k8 = k - k % 8;
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        float *panel = dst + j * k;
        const long cols = n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL;
        const long c8 = cols - cols % 8;
        for (long c0 = 0; c0 < c8; c0 += 8) {
            const float *src = w + (j + c0) * ldw;
            for (long p0 = 0; p0 < k8; p0 += 8) {
                v8 r[8];
                for (int i = 0; i < 8; i++) memcpy(&r[i], src + i * ldw + p0, 32);
                v8 o[8];
                SR_TRANSPOSE8(v8, r, o);
                for (int i = 0; i < 8; i++) memcpy(panel + (p0 + i) * SOFTRL_PANEL + c0, &o[i], 32);
            }
            for (long p = k8; p < k; p++)
                for (long c = c0; c < c0 + 8; c++) panel[p * SOFTRL_PANEL + c] = w[(j + c) * ldw + p];
        }
        for (long p = 0; p < k; p++) {
            for (long c = c8; c < cols; c++) panel[p * SOFTRL_PANEL + c] = w[(j + c) * ldw + p];
            for (long c = cols; c < SOFTRL_PANEL; c++) panel[p * SOFTRL_PANEL + c] = 0.0f;
        }
    }
}

// y (m, n) = x (m, k) W^T (+ y when accumulate) with W packed by softrl_pack_nt (panels of SOFTRL_PANEL output
// columns, each panel k rows of SOFTRL_PANEL contiguous floats). The classic broadcast micro-kernel: for each k,
// two vectors of the panel times MR broadcast x entries into MR x 2 accumulators; no horizontal sums and no
// per-call packing (the weights were packed once, when the generation started). AVX-512 covers a whole panel
// (2 x 16 columns) with up to 8 rows (16 accumulators); AVX2 covers each half panel (2 x 8) with up to 6 rows
// (12 of its 16 registers). Panels outermost, so each panel is read once from memory and the x rows stay in cache.
#define SR_CHUNKS (SOFTRL_PANEL / (2 * KW))
#if KW == 16
#define SR_MRMAX 8
#else
#define SR_MRMAX 6
#endif
#ifndef SR_PFD
#define SR_PFD 0
#endif
#if SR_PFD
#define SR_PREFETCH(w) do { __builtin_prefetch((w) + SR_PFD * SOFTRL_PANEL); if (2 * KW == SOFTRL_PANEL) __builtin_prefetch((w) + SR_PFD * SOFTRL_PANEL + 16); } while (0)
#else
#define SR_PREFETCH(w) do { } while (0)
#endif
/* pfs floats of the next panel per k-row (one 64-byte line, or two when pfs > 16). */
#define SR_PREFETCH_NEXT(a, pfs) do { __builtin_prefetch(a); if ((pfs) > 16) __builtin_prefetch((a) + 16); } while (0)
#define SR_DEFINE_PBLOCK(MR) \
static inline void FN(gemm_pblock##MR)(const float *x, long ldx, const float *wp, float *y, long ldy, long k, \
                                        long cols, int accumulate, const float *pfn, long pfs) { \
    enum { SPLIT = (MR < 4) }; \
    VF a0[MR], a1[MR], b0[MR], b1[MR]; \
    for (int a = 0; a < MR; a++) { a0[a] = FN(splat)(0.0f); a1[a] = a0[a]; b0[a] = a0[a]; b1[a] = a0[a]; } \
    long p = 0; \
    if (SPLIT) { \
        /* Few rows: two independent accumulator sets (even and odd k) hide the FMA latency. */ \
        for (; p + 2 <= k; p += 2) { \
            const float *w0 = wp + p * SOFTRL_PANEL, *w1 = w0 + SOFTRL_PANEL; \
            if (pfn) { SR_PREFETCH_NEXT(pfn + p * pfs, pfs); SR_PREFETCH_NEXT(pfn + (p + 1) * pfs, pfs); } \
            else { SR_PREFETCH(w0); SR_PREFETCH(w1); } \
            const VF u0 = FN(ld)(w0), u1 = FN(ld)(w0 + KW), v0 = FN(ld)(w1), v1 = FN(ld)(w1 + KW); \
            for (int a = 0; a < MR; a++) { \
                const VF xe = FN(splat)(x[a * ldx + p]), xo = FN(splat)(x[a * ldx + p + 1]); \
                a0[a] += xe * u0; a1[a] += xe * u1; b0[a] += xo * v0; b1[a] += xo * v1; \
            } \
        } \
    } \
    for (; p < k; p++) { \
        const float *w0 = wp + p * SOFTRL_PANEL; \
        if (pfn) SR_PREFETCH_NEXT(pfn + p * pfs, pfs); else SR_PREFETCH(w0); \
        const VF u0 = FN(ld)(w0), u1 = FN(ld)(w0 + KW); \
        for (int a = 0; a < MR; a++) { \
            const VF xv = FN(splat)(x[a * ldx + p]); \
            a0[a] += xv * u0; a1[a] += xv * u1; \
        } \
    } \
    for (int a = 0; a < MR; a++) { \
        float *out = y + a * ldy; \
        VF r0 = SPLIT ? a0[a] + b0[a] : a0[a], r1 = SPLIT ? a1[a] + b1[a] : a1[a]; \
        if (cols == 2 * KW) { \
            if (accumulate) { r0 += FN(ld)(out); r1 += FN(ld)(out + KW); } \
            FN(st)(out, r0); FN(st)(out + KW, r1); \
        } else { \
            float tmp[2 * KW]; \
            FN(st)(tmp, r0); FN(st)(tmp + KW, r1); \
            for (long c = 0; c < cols; c++) out[c] = accumulate ? out[c] + tmp[c] : tmp[c]; \
        } \
    } \
}
SR_DEFINE_PBLOCK(1)
SR_DEFINE_PBLOCK(2)
SR_DEFINE_PBLOCK(3)
SR_DEFINE_PBLOCK(4)
SR_DEFINE_PBLOCK(5)
SR_DEFINE_PBLOCK(6)
#if SR_MRMAX >= 8
SR_DEFINE_PBLOCK(7)
SR_DEFINE_PBLOCK(8)
#endif

#if KW == 8
// One row with AVX2: the whole panel (4 vectors) per pass, k split in two accumulator sets; two half-panel passes
// would read each panel twice, and at one row the panels stream from memory.
static void FN(gemm_prow)(const float *x, const float *wp, float *y, long k, long cols, int accumulate) {
    VF a[4] = {{0}}, b[4] = {{0}};
    long p = 0;
    for (; p + 2 <= k; p += 2) {
        const float *w0 = wp + p * SOFTRL_PANEL;
        const VF xe = FN(splat)(x[p]), xo = FN(splat)(x[p + 1]);
        for (int v = 0; v < 4; v++) { a[v] += xe * FN(ld)(w0 + v * KW); b[v] += xo * FN(ld)(w0 + SOFTRL_PANEL + v * KW); }
    }
    for (; p < k; p++) {
        const VF xv = FN(splat)(x[p]);
        for (int v = 0; v < 4; v++) a[v] += xv * FN(ld)(wp + p * SOFTRL_PANEL + v * KW);
    }
    float tmp[SOFTRL_PANEL];
    for (int v = 0; v < 4; v++) FN(st)(tmp + v * KW, a[v] + b[v]);
    for (long c = 0; c < cols; c++) y[c] = accumulate ? y[c] + tmp[c] : tmp[c];
}
#endif

void FN(softrl_gemm_packed)(const float *x, long ldx, const float *wp, float *y, long ldy, long m, long n, long k,
                            int accumulate) {
#if KW == 8
    if (m == 1 && SOFTRL_PANEL == 4 * KW) {
        for (long j = 0; j < n; j += SOFTRL_PANEL)
            FN(gemm_prow)(x, wp + j * k, y + j, k, n - j < SOFTRL_PANEL ? n - j : SOFTRL_PANEL, accumulate);
        return;
    }
#endif
    // Row blocks as even as possible (32 rows with AVX-512: 8 + 8 + 8 + 8; 20 rows: 7 + 7 + 6).
    const long blocks = (m + SR_MRMAX - 1) / SR_MRMAX;
    for (long j = 0; j < n; j += SOFTRL_PANEL) {
        const float *panel = wp + j * k;     // panel j / SOFTRL_PANEL starts at (j / SOFTRL_PANEL) * SOFTRL_PANEL * k
        for (long c0 = 0; c0 < SR_CHUNKS * 2 * KW; c0 += 2 * KW) {
            long cols = n - j - c0;
            if (cols <= 0) break;
            if (cols > 2 * KW) cols = 2 * KW;
            long i = 0;
            // The first row block streams this panel from memory (prefetching SR_PFD k-rows ahead); the later ones
            // read it from cache, so they prefetch the next panel instead, block bi its (bi-1)-th 1 / (blocks - 1)
            // share, pfs floats per k-row. 32 rows of SmolLM2's or `small`'s decode weights (streamed from memory
            // every step) ran 3-5% faster in a C harness; weights that stay in cache (`tiny`) saw no difference.
            const float *next = j + SOFTRL_PANEL < n && c0 == 0 ? panel + SOFTRL_PANEL * k : 0;
            const long pfs = blocks > 1 ? (SOFTRL_PANEL + blocks - 2) / (blocks - 1) : 0;
            for (long bi = 0; bi < blocks; bi++) {
                const long rows = (m - i) / (blocks - bi) + ((m - i) % (blocks - bi) ? 1 : 0);
                const float *xi = x + i * ldx, *wc = panel + c0;
                float *yi = y + i * ldy + j + c0;
                const float *pfn = bi > 0 && next ? next + (bi - 1) * pfs * k : 0;
                switch (rows) {
                case 1: FN(gemm_pblock1)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 2: FN(gemm_pblock2)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 3: FN(gemm_pblock3)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 4: FN(gemm_pblock4)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 5: FN(gemm_pblock5)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 6: FN(gemm_pblock6)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
#if SR_MRMAX >= 8
                case 7: FN(gemm_pblock7)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
                case 8: FN(gemm_pblock8)(xi, ldx, wc, yi, ldy, k, cols, accumulate, pfn, pfs); break;
#endif
                default: break;
                }
                i += rows;
            }
        }
    }
}
#undef SR_CHUNKS
#undef SR_MRMAX
#undef SR_DEFINE_PBLOCK
#undef SR_PREFETCH_NEXT

// The training pass's causal attention, per sequence and key/value head (TransformerLM/TrainingPass.swift). The
// `group` query heads sharing the key/value head are hd floats apart in a row; rows of q/out/dout/dq are ld* floats
// apart, rows of k/v/dk/dv ldkv. Only the causal half is computed (OpenBLAS's products computed the full T x T).
// Scores and their gradient live in scratch rows of Tp = T rounded up to whole vectors, so every row is processed in
// whole vectors; lanes past a row's causal length are masked and written 0. K (forward) and V (backward) are
// transposed once per call (hd rows of Tp floats, zero-padded) for the score products.
#define SR_NT_R 4                       /* score tiles: 4 rows x SR_NT_NB vectors of columns */
#if KW == 16
#define SR_NT_NB 4
#define SR_WS_ACC 12                    /* weighted-sum tiles: rows x hd vectors <= 12 accumulators */
#else
#define SR_NT_NB 2
#define SR_WS_ACC 8
#endif

static void FN(transpose_pad)(const float *src, long lds, long T, long hd, float *dst, long Tp) {
    for (long d = 0; d < hd; d++) {
        for (long j = 0; j < T; j++) dst[d * Tp + j] = src[j * lds + d];
        for (long j = T; j < Tp; j++) dst[d * Tp + j] = 0.0f;
    }
}

// c (R rows ldc apart, NB vectors) = alpha * a (R rows lda apart, hd entries) x bt (hd rows ldbt apart).
static inline __attribute__((always_inline)) void FN(nt_tile)(const float *a, long lda, const int R, const float *bt,
                                                              long ldbt, const int NB, long hd, float alpha, float *c,
                                                              long ldc) {
    VF acc[SR_NT_R][SR_NT_NB];
    for (int r = 0; r < R; r++) for (int i = 0; i < NB; i++) acc[r][i] = FN(splat)(0.0f);
    for (long d = 0; d < hd; d++) {
        VF b[SR_NT_NB];
        for (int i = 0; i < NB; i++) b[i] = FN(ld)(bt + d * ldbt + i * KW);
        for (int r = 0; r < R; r++) {
            const VF av = FN(splat)(a[r * lda + d]);
            for (int i = 0; i < NB; i++) acc[r][i] += av * b[i];
        }
    }
    for (int r = 0; r < R; r++) for (int i = 0; i < NB; i++) FN(st)(c + r * ldc + i * KW, acc[r][i] * alpha);
}
#define SR_NT_CASE(R, NB) case (R) * 8 + (NB): FN(nt_tile)(a + r0 * lda, lda, R, bt + jv * KW, ldbt, NB, hd, alpha, c + r0 * ldc + jv * KW, ldc); break;

// c = alpha a bt on the causal part: rows [r0, r0 + R) get the column vectors that cover [0, r0 + R).
static void FN(nt_causal)(const float *a, long lda, long rows, const float *bt, long ldbt, long hd, float alpha,
                          float *c, long ldc) {
    for (long r0 = 0; r0 < rows; r0 += SR_NT_R) {
        const int R = rows - r0 < SR_NT_R ? (int)(rows - r0) : SR_NT_R;
        const long nv = (r0 + R + KW - 1) / KW;
        for (long jv = 0; jv < nv; jv += SR_NT_NB) {
            const int nb = nv - jv < SR_NT_NB ? (int)(nv - jv) : SR_NT_NB;
            switch (R * 8 + nb) {
            SR_NT_CASE(1, 1) SR_NT_CASE(2, 1) SR_NT_CASE(3, 1) SR_NT_CASE(4, 1)
            SR_NT_CASE(1, 2) SR_NT_CASE(2, 2) SR_NT_CASE(3, 2) SR_NT_CASE(4, 2)
#if SR_NT_NB == 4
            SR_NT_CASE(1, 3) SR_NT_CASE(2, 3) SR_NT_CASE(3, 3) SR_NT_CASE(4, 3)
            SR_NT_CASE(1, 4) SR_NT_CASE(2, 4) SR_NT_CASE(3, 4) SR_NT_CASE(4, 4)
#endif
            default: break;
            }
        }
    }
}

// o (R rows ldo apart, HV vectors) (+)= alpha sum_{x in [x0, x1)} w[r * ldwr + x * ldwx] m[x * ldm + 0..HV*KW).
static inline __attribute__((always_inline)) void FN(ws_tile)(const float *w, long ldwr, long ldwx, const int R,
                                                              const float *m, long ldm, const int HV, long x0, long x1,
                                                              float alpha, float *o, long ldo, int accumulate) {
    VF acc[SR_WS_ACC];
    for (int i = 0; i < R * HV; i++) acc[i] = FN(splat)(0.0f);
    for (long x = x0; x < x1; x++) {
        VF mv[4];
        for (int c = 0; c < HV; c++) mv[c] = FN(ld)(m + x * ldm + c * KW);
        for (int r = 0; r < R; r++) {
            const VF wv = FN(splat)(w[r * ldwr + x * ldwx]);
            for (int c = 0; c < HV; c++) acc[r * HV + c] += wv * mv[c];
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < HV; c++) {
            float *dst = o + r * ldo + c * KW;
            VF res = acc[r * HV + c] * alpha;
            if (accumulate) res += FN(ld)(dst);
            FN(st)(dst, res);
        }
    }
}
#define SR_WS_CASE(R, HV) case (R) * 8 + (HV): FN(ws_tile)(wr, ldwr, ldwx, R, m, ldm, HV, xa, xb, alpha, orow, ldo, accumulate); break;

// Rows [0, rows) of o (+)= alpha sum_x w(r, x) m_x with a causal range of x per block of rows [r0, r0 + R):
// lower ? [0, r0 + R) (P V, dS K: the weights past the diagonal are 0) : [r0, nx) (P^T dO, dS^T Q).
static void FN(wsum_causal)(const float *w, long ldwr, long ldwx, long rows, const float *m, long ldm, long hd, long nx,
                            int lower, float alpha, float *o, long ldo, int accumulate) {
    const long hv = hd / KW;
    if (hd % KW == 0 && hv >= 1 && hv <= 4) {
        const long rmax = SR_WS_ACC / hv;
        for (long r0 = 0; r0 < rows; r0 += rmax) {
            const int R = rows - r0 < rmax ? (int)(rows - r0) : (int)rmax;
            const long xa = lower ? 0 : r0, xb = lower ? r0 + R : nx;
            const float *wr = w + r0 * ldwr;
            float *orow = o + r0 * ldo;
            switch (R * 8 + (int)hv) {
            SR_WS_CASE(1, 1) SR_WS_CASE(2, 1) SR_WS_CASE(3, 1) SR_WS_CASE(4, 1)
            SR_WS_CASE(5, 1) SR_WS_CASE(6, 1) SR_WS_CASE(7, 1) SR_WS_CASE(8, 1)
            SR_WS_CASE(1, 2) SR_WS_CASE(2, 2) SR_WS_CASE(3, 2) SR_WS_CASE(4, 2)
            SR_WS_CASE(1, 3) SR_WS_CASE(2, 3) SR_WS_CASE(1, 4) SR_WS_CASE(2, 4)
#if SR_WS_ACC >= 12
            SR_WS_CASE(9, 1) SR_WS_CASE(10, 1) SR_WS_CASE(11, 1) SR_WS_CASE(12, 1)
            SR_WS_CASE(5, 2) SR_WS_CASE(6, 2) SR_WS_CASE(3, 3) SR_WS_CASE(4, 3) SR_WS_CASE(3, 4)
#endif
            default: break;
            }
        }
        return;
    }
    // Head sizes that are not 1-4 whole vectors: one row at a time.
    for (long r = 0; r < rows; r++) {
        float *dst = o + r * ldo;
        if (!accumulate) for (long i = 0; i < hd; i++) dst[i] = 0.0f;
        const long xa = lower ? 0 : r, xb = lower ? r + 1 : nx;
        for (long x = xa; x < xb; x++) {
            const float wx = alpha * w[r * ldwr + x * ldwx];
            const VF wv = FN(splat)(wx);
            const float *mx = m + x * ldm;
            long i = 0;
            for (; i + KW <= hd; i += KW) FN(st)(dst + i, FN(ld)(dst + i) + wv * FN(ld)(mx + i));
            for (; i < hd; i++) dst[i] += wx * mx[i];
        }
    }
}

// Softmax of x[0, len) in place on whole vectors: the lanes from len to the end of the last vector are masked out
// (whatever they hold) and written 0.
static inline void FN(softmax_masked)(float *x, long len) {
    VI lane;
    for (int i = 0; i < KW; i++) lane[i] = i;
    const long end = (len + KW - 1) / KW * KW;
    VF mv = FN(splat)(-INFINITY);
    for (long j = 0; j < end; j += KW) {
        const VI keep = (lane + (int)j) < (int)len;
        mv = __builtin_elementwise_max(mv, (VF)(((VI)FN(ld)(x + j) & keep) | ((VI)FN(splat)(-INFINITY) & ~keep)));
    }
    const VF m = FN(splat)(__builtin_reduce_max(mv));
    VF sv = FN(splat)(0.0f);
    for (long j = 0; j < end; j += KW) {
        const VI keep = (lane + (int)j) < (int)len;
        const VF e = (VF)((VI)FN(vexp)(FN(ld)(x + j) - m) & keep);
        FN(st)(x + j, e);
        sv += e;
    }
    const VF inv = FN(splat)(1.0f / FN(hsum)(sv));
    for (long j = 0; j < end; j += KW) FN(st)(x + j, FN(ld)(x + j) * inv);
}

void FN(softrl_causal_attention_forward)(const float *q, long ldq, const float *k, const float *v, long ldkv, long T,
                                         long hd, long group, float scale, float *probs, float *out, long ldo,
                                         float *scratch) {
    const long Tp = (T + KW - 1) / KW * KW;
    float *kt = scratch, *sc = scratch + hd * Tp;
    FN(transpose_pad)(k, ldkv, T, hd, kt, Tp);
    for (long h = 0; h < group; h++) {
        float *P = probs + h * T * T;
        FN(nt_causal)(q + h * hd, ldq, T, kt, Tp, hd, scale, sc, Tp);
        for (long i = 0; i < T; i++) {
            float *row = sc + i * Tp;
            FN(softmax_masked)(row, i + 1);
            long end = (i + KW) / KW * KW;      // the row's last vector (already 0 past i)
            if (end > T) end = T;
            memcpy(P + i * T, row, (size_t)end * sizeof(float));
            for (long j = end; j < T; j++) P[i * T + j] = 0.0f;
        }
        FN(wsum_causal)(P, T, 1, T, v, ldkv, hd, T, 1, 1.0f, out + h * hd, ldo, 0);
    }
}

void FN(softrl_causal_attention_backward)(const float *q, long ldq, const float *k, const float *v, long ldkv,
                                          const float *probs, const float *dout, long lddo, long T, long hd,
                                          long group, float scale, float *dq, long lddq, float *dk, float *dv,
                                          long lddkv, float *scratch) {
    const long Tp = (T + KW - 1) / KW * KW;
    float *vt = scratch, *ds = scratch + hd * Tp;
    FN(transpose_pad)(v, ldkv, T, hd, vt, Tp);
    for (long h = 0; h < group; h++) {
        const float *P = probs + h * T * T, *doh = dout + h * hd;
        // dP = dO V^T (causal part), then dV += P^T dO.
        FN(nt_causal)(doh, lddo, T, vt, Tp, hd, 1.0f, ds, Tp);
        FN(wsum_causal)(P, 1, T, T, doh, lddo, hd, T, 0, 1.0f, dv, lddkv, 1);
        // dS = P (dP - sum_j P_j dP_j) on each causal row, 0 past the diagonal (the products below read those zeros).
        for (long i = 0; i < T; i++) {
            const float *pr = P + i * T;
            float *dr = ds + i * Tp;
            const float dotv = FN(dot)(pr, dr, i + 1);
            const VF dvec = FN(splat)(dotv);
            long j = 0;
            for (; j + KW <= i + 1; j += KW) FN(st)(dr + j, FN(ld)(pr + j) * (FN(ld)(dr + j) - dvec));
            for (; j <= i; j++) dr[j] = pr[j] * (dr[j] - dotv);
            for (; j < Tp; j++) dr[j] = 0.0f;
        }
        // dQ = scale dS K ; dK += scale dS^T Q.
        FN(wsum_causal)(ds, Tp, 1, T, k, ldkv, hd, T, 1, scale, dq + h * hd, lddq, 0);
        FN(wsum_causal)(ds, 1, Tp, T, q + h * hd, ldq, hd, T, 0, scale, dk, lddkv, 1);
    }
}
#undef SR_NT_CASE
#undef SR_WS_CASE
#undef SR_NT_R
#undef SR_NT_NB
#undef SR_WS_ACC

// Index of the largest entry, first on ties; NaN entries are never chosen unless x[0] is NaN (then 0), as the
// Swift argmax does.
long FN(softrl_argmax)(const float *x, long n) {
    if (n <= 0 || x[0] != x[0]) return 0;
    long j = 0;
    VF mv = FN(splat)(x[0]);
    for (; j + KW <= n; j += KW) mv = __builtin_elementwise_max(mv, FN(ld)(x + j));
    float mx = FN(hmax)(mv);
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    const VF m = FN(splat)(mx);
    for (j = 0; j + KW <= n; j += KW) {
        VI eq = FN(ld)(x + j) == m;
        if (__builtin_reduce_or(eq)) break;
    }
    for (; j < n; j++) if (x[j] == mx) return j;
    return 0;
}

// Soft-token mixtures of several rows at once: out_r = sum_k w_r[k] E[support[k]] (support NULL: k itself), k in
// order, each term rounded as a product and then added, never fused into an FMA (contraction is off for this
// function; at -O0 nothing is fused anyway): the portable path, the actor and the learner, on any CPU, get
// bit-identical sums (see TensorMath/Mixture.swift). Zero weights are skipped. Every embedding row is read once for
// all rows: over SmolLM2's 49k x 576 table (113 MB) the per-row mixture was memory-bound.
#pragma clang fp contract(off)
void FN(softrl_mixture)(const float *E, long dim, const int *support, long count, const float *w, long ldw, long rows,
                        float *out, long ldo) {
    for (long r = 0; r < rows; r++) memset(out + r * ldo, 0, (size_t)dim * sizeof(float));
    for (long k = 0; k < count; k++) {
        const float *e = E + (support ? (long)support[k] : k) * dim;
        for (long r = 0; r < rows; r++) {
            const float a = w[r * ldw + k];
            if (a == 0.0f) continue;
            float *y = out + r * ldo;
            const VF av = FN(splat)(a);
            long j = 0;
            for (; j + KW <= dim; j += KW) FN(st)(y + j, FN(ld)(y + j) + av * FN(ld)(e + j));
            for (; j < dim; j++) y[j] = y[j] + a * e[j];
        }
    }
}
#pragma clang fp contract(on)

// Softmax in double of float logits at temperature t, as StepDistribution defines it (every thinking and answer
// step of the actor and the learner): out_i = exp((x_i - max) / t) / sum_j exp((x_j - max) / t). The exponential is
// a double-precision polynomial (|error| within ~1 ulp of libm's exp, tested); results below 2^-1022 are flushed to
// 0. Over a 49k vocabulary the scalar libm loop was ~11% of the actor's time on SmolLM2.
#define VD FN(sr_vd)
#define VL FN(sr_vl)
#define VH FN(sr_vh)
typedef double VD __attribute__((vector_size(KW * 4)));
typedef int64_t VL __attribute__((vector_size(KW * 4)));
typedef float VH __attribute__((vector_size(KW * 2)));
static inline VD FN(dsplat)(double x) { VD v; for (int i = 0; i < KW / 2; i++) v[i] = x; return v; }
static inline VD FN(dexp)(VD x) {
    const VD lo = FN(dsplat)(-708.0);
    const VD kf = __builtin_elementwise_floor(x * FN(dsplat)(1.4426950408889634074) + FN(dsplat)(0.5));
    VD r = x - kf * FN(dsplat)(6.93147180369123816490e-01);
    r = r - kf * FN(dsplat)(1.90821492927058770002e-10);
    // Taylor series to degree 13 on |r| <= ln2 / 2 (remainder < 1e-17 relative), Horner.
    VD p = FN(dsplat)(1.0 / 6227020800.0);
    p = p * r + FN(dsplat)(1.0 / 479001600.0);
    p = p * r + FN(dsplat)(1.0 / 39916800.0);
    p = p * r + FN(dsplat)(1.0 / 3628800.0);
    p = p * r + FN(dsplat)(1.0 / 362880.0);
    p = p * r + FN(dsplat)(1.0 / 40320.0);
    p = p * r + FN(dsplat)(1.0 / 5040.0);
    p = p * r + FN(dsplat)(1.0 / 720.0);
    p = p * r + FN(dsplat)(1.0 / 120.0);
    p = p * r + FN(dsplat)(1.0 / 24.0);
    p = p * r + FN(dsplat)(1.0 / 6.0);
    p = p * r + FN(dsplat)(0.5);
    p = p * r + FN(dsplat)(1.0);
    p = p * r + FN(dsplat)(1.0);
    const VL k = __builtin_convertvector(__builtin_elementwise_max(kf, FN(dsplat)(-1022.0)), VL);
    VD scale; VL bits = (k + 1023) << 52; memcpy(&scale, &bits, sizeof scale);
    VD y = p * scale;
    // Below -708 (and -inf): 0. NaN stays NaN (the comparison is false for it).
    const VL under = x < lo;
    VD zero = FN(dsplat)(0.0);
    VL ybits; memcpy(&ybits, &y, sizeof y);
    VL zbits; memcpy(&zbits, &zero, sizeof zero);
    ybits = (under & zbits) | (~under & ybits);
    memcpy(&y, &ybits, sizeof y);
    return y;
}
void FN(softrl_softmax_f64)(const float *x, long n, double t, double *out) {
    float mx = -INFINITY;
    for (long j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    const VD m = FN(dsplat)((double)mx), tv = FN(dsplat)(t);
    VD acc = FN(dsplat)(0.0);
    long j = 0;
    for (; j + KW / 2 <= n; j += KW / 2) {
        VH h; memcpy(&h, x + j, sizeof h);
        const VD e = FN(dexp)((__builtin_convertvector(h, VD) - m) / tv);
        memcpy(out + j, &e, sizeof e);
        acc += e;
    }
    double sum = 0;
    for (int i = 0; i < KW / 2; i++) sum += acc[i];
    for (; j < n; j++) {
        VD v = FN(dsplat)(((double)x[j] - (double)mx) / t);
        const double e = FN(dexp)(v)[0];
        out[j] = e; sum += e;
    }
    const VD s = FN(dsplat)(sum);
    for (j = 0; j + KW / 2 <= n; j += KW / 2) {
        VD v; memcpy(&v, out + j, sizeof v);
        v = v / s;
        memcpy(out + j, &v, sizeof v);
    }
    for (; j < n; j++) out[j] /= sum;
}
/* the vector exp alone, for the tests */
void FN(softrl_exp_f64)(const double *x, long n, double *out) {
    long j = 0;
    for (; j + KW / 2 <= n; j += KW / 2) { VD v; memcpy(&v, x + j, sizeof v); v = FN(dexp)(v); memcpy(out + j, &v, sizeof v); }
    for (; j < n; j++) out[j] = FN(dexp)(FN(dsplat)(x[j]))[0];
}
#undef VD
#undef VL
#undef VH

#undef FN
#undef VF
#undef VI
