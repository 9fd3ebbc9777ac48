// oneDNN beside SoftRL's own packed kernels on the linear layers of one SmolLM2-135M step (hidden 576, 30 layers,
// q/o 576x576, k/v 192x576, gate/up 1536x576, down 576x1536, LM head 49152x576), y = x W^T at M rows. Built and run
// by scripts/bench-onednn.sh; compiled against Sources/CKernels directly, so the own kernels are the product's.
// Weights: 8 distinct layers cycled over the 30 (56 MB of bf16, more than the 32 MB L3) plus the head, so they stream
// from memory as in a real step. Each kernel gets its weights in its own preferred layout, prepared once (untimed),
// as decode packs once per generation. One thread everywhere. Prints one line per (kernel, M): name, M, ms per step.
#include <dnnl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CKernels.h"

#define LAYERS 30
#define DISTINCT 8
#define MATS 7

static const long HIDDEN = 576, FF = 1536, KV = 192, VOCAB = 49152;

typedef struct { long n, k; } shape;
static const shape layer_shapes[MATS] = {{576, 576}, {192, 576}, {192, 576}, {576, 576},
                                         {1536, 576}, {1536, 576}, {576, 1536}};
static const shape head_shape = {49152, 576};

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        dnnl_status_t s_ = (x);                                                                    \
        if (s_ != dnnl_success) { fprintf(stderr, "%s failed: %d\n", #x, (int)s_); exit(1); }     \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
}

static uint16_t to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1)) >> 16);
}

// The fp32 weights W (n, k) row-major: [DISTINCT][MATS] plus the head.
static float *W[DISTINCT][MATS], *Whead;

static float *make(long n, long k) {
    float *w = aligned_alloc(64, (size_t)(n * k * 4 + 63) / 64 * 64);
    for (long i = 0; i < n * k; i++) w[i] = uniform() * 0.1f;
    return w;
}

// One prepared weight matrix of some kernel, and how to run it.
typedef struct kernel kernel;
struct kernel {
    const char *name;
    void *(*prepare)(kernel *, const float *w, long n, long k, long m);
    void (*run)(kernel *, void *prep, const float *x, const uint16_t *xb, float *y, long m, long n, long k);
    void (*release)(void *prep);
};

// --- SoftRL's own kernels ---
static void *own_f32_prepare(kernel *kk, const float *w, long n, long k, long m) {
    (void)kk; (void)m;
    float *p = aligned_alloc(64, (size_t)softrl_packed_count(n, k) * 4);
    softrl_pack_nt_avx512(w, k, n, k, p);
    return p;
}
static void own_f32_run(kernel *kk, void *p, const float *x, const uint16_t *xb, float *y, long m, long n, long k) {
    (void)kk; (void)xb;
    softrl_gemm_packed_avx512(x, k, p, y, n, m, n, k, 0);
}
static void *own_bf16_prepare(kernel *kk, const float *w, long n, long k, long m) {
    (void)kk; (void)m;
    uint16_t *p = aligned_alloc(64, ((size_t)softrl_packed_bf16_count(n, k) * 2 + 63) / 64 * 64);
    softrl_pack_nt_bf16(w, k, n, k, p, 0);
    return p;
}
static void own_bf16w_run(kernel *kk, void *p, const float *x, const uint16_t *xb, float *y, long m, long n, long k) {
    (void)kk; (void)xb;
    softrl_gemm_packed_bf16w_avx512(x, k, p, y, n, m, n, k, 0);
}
static void own_bf16_run(kernel *kk, void *p, const float *x, const uint16_t *xb, float *y, long m, long n, long k) {
    (void)kk; (void)xb;
    softrl_gemm_packed_bf16_avx512bf16(x, k, p, y, n, m, n, k, 0);
}

// --- oneDNN ---
static dnnl_engine_t engine;
static dnnl_stream_t stream;

// dnnl_sgemm takes W as stored (the transposed operand) and packs it on every call. oneDNN 2.6 exports no plain
// bf16 gemm in its C API (dnnl_gemm_bf16bf16f32 is internal), so bf16 goes through the matmul primitive.
static void *plain_f32_prepare(kernel *kk, const float *w, long n, long k, long m) {
    (void)kk; (void)n; (void)k; (void)m;
    return (void *)w;
}
static void plain_release(void *p) { (void)p; }
static void sgemm_run(kernel *kk, void *p, const float *x, const uint16_t *xb, float *y, long m, long n, long k) {
    (void)kk; (void)xb;
    CHECK(dnnl_sgemm('N', 'T', m, n, k, 1.0f, x, k, p, k, 0.0f, y, n));
}
// The matmul primitive with weights in the layout it prefers (format_tag_any), reordered once from W (n, k):
// for matmul's (k, n) weights that is tag ba. Source f32 or bf16 (M, K) row-major; destination f32.
typedef struct { dnnl_primitive_t prim; dnnl_memory_t src, wei, dst; dnnl_data_type_t dt; } matmul_prep;

static void *matmul_prepare(kernel *kk, const float *w, long n, long k, long m, dnnl_data_type_t dt) {
    (void)kk;
    matmul_prep *mp = calloc(1, sizeof *mp);
    mp->dt = dt;
    dnnl_memory_desc_t src_md, wei_md, dst_md, user_md;
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_md, 2, wd, dt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&user_md, 2, wd, dnnl_f32, dnnl_ba));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &src_md, &wei_md, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    CHECK(dnnl_primitive_create(&mp->prim, pd));
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_memory_create(&mp->wei, chosen, engine, DNNL_MEMORY_ALLOCATE));
    dnnl_memory_t user;
    CHECK(dnnl_memory_create(&user, &user_md, engine, (void *)w));
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &user_md, engine, chosen, engine, NULL));
    dnnl_primitive_t reorder;
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mp->wei}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, rargs));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    // Source and destination handles are set per call.
    CHECK(dnnl_memory_create(&mp->src, &src_md, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&mp->dst, &dst_md, engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    return mp;
}
static void *matmul_f32_prepare(kernel *kk, const float *w, long n, long k, long m) {
    return matmul_prepare(kk, w, n, k, m, dnnl_f32);
}
static void *matmul_bf16_prepare(kernel *kk, const float *w, long n, long k, long m) {
    return matmul_prepare(kk, w, n, k, m, dnnl_bf16);
}
static void matmul_run(kernel *kk, void *p, const float *x, const uint16_t *xb, float *y, long m, long n, long k) {
    (void)kk; (void)m; (void)n; (void)k;
    matmul_prep *mp = p;
    CHECK(dnnl_memory_set_data_handle(mp->src, mp->dt == dnnl_bf16 ? (void *)xb : (void *)x));
    CHECK(dnnl_memory_set_data_handle(mp->dst, y));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mp->src}, {DNNL_ARG_WEIGHTS, mp->wei}, {DNNL_ARG_DST, mp->dst}};
    CHECK(dnnl_primitive_execute(mp->prim, stream, 3, args));
    CHECK(dnnl_stream_wait(stream));
}
static void matmul_release(void *p) {
    matmul_prep *mp = p;
    dnnl_primitive_destroy(mp->prim);
    dnnl_memory_destroy(mp->src); dnnl_memory_destroy(mp->wei); dnnl_memory_destroy(mp->dst);
    free(mp);
}

static kernel kernels[] = {
    {"own-f32", own_f32_prepare, own_f32_run, free},
    {"own-bf16w", own_bf16_prepare, own_bf16w_run, free},
    {"own-bf16", own_bf16_prepare, own_bf16_run, free},
    {"dnnl-sgemm", plain_f32_prepare, sgemm_run, plain_release},
    {"dnnl-matmul-f32", matmul_f32_prepare, matmul_run, matmul_release},
    {"dnnl-matmul-bf16", matmul_bf16_prepare, matmul_run, matmul_release},
};

// Largest relative error of kernel output y (m, n) against a double product on the fp32 weights, over the row
// magnitude: a wrongly prepared layout shows as O(1), bf16 rounding as ~1e-3.
static double check(const float *x, const float *w, const float *y, long m, long n, long k) {
    double worst = 0;
    for (long i = 0; i < m; i += (m > 4 ? m / 4 : 1))
        for (long j = 0; j < n; j += 7) {
            double acc = 0, mag = 0;
            for (long p = 0; p < k; p++) {
                double t = (double)x[i * k + p] * w[j * k + p];
                acc += t; mag += fabs(t);
            }
            double e = fabs(y[i * n + j] - acc) / (mag > 0 ? mag : 1);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

int main(int argc, char **argv) {
    long ms[8] = {1, 8, 32, 128};
    int nm = 4;
    double min_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    for (int d = 0; d < DISTINCT; d++)
        for (int j = 0; j < MATS; j++) W[d][j] = make(layer_shapes[j].n, layer_shapes[j].k);
    Whead = make(head_shape.n, head_shape.k);
    (void)HIDDEN; (void)FF; (void)KV; (void)VOCAB;
    const long maxk = 1536, maxn = 49152, maxm = 128;
    float *x = aligned_alloc(64, maxm * maxk * 4), *y = aligned_alloc(64, maxm * maxn * 4);
    uint16_t *xb = aligned_alloc(64, maxm * maxk * 2);
    for (long i = 0; i < maxm * maxk; i++) { x[i] = uniform(); xb[i] = to_bf16(x[i]); }
    const dnnl_version_t *v = dnnl_version();
    printf("# oneDNN %d.%d.%d (cpu runtime %u, isa %s)\n", v->major, v->minor, v->patch, v->cpu_runtime,
           getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "default");
    for (int mi = 0; mi < nm; mi++) {
        long m = ms[mi];
        for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++) {
            kernel *kk = &kernels[ki];
            void *prep[DISTINCT][MATS], *head;
            for (int d = 0; d < DISTINCT; d++)
                for (int j = 0; j < MATS; j++)
                    prep[d][j] = kk->prepare(kk, W[d][j], layer_shapes[j].n, layer_shapes[j].k, m);
            head = kk->prepare(kk, Whead, head_shape.n, head_shape.k, m);
            // A product of every shape, against the double reference on the (unrounded) fp32 weights.
            double err = 0;
            for (int j = 0; j < MATS; j++) {
                kk->run(kk, prep[0][j], x, xb, y, m, layer_shapes[j].n, layer_shapes[j].k);
                double e = check(x, W[0][j], y, m, layer_shapes[j].n, layer_shapes[j].k);
                if (!(e <= err)) err = e;
            }
            kk->run(kk, head, x, xb, y, m, head_shape.n, head_shape.k);
            double e = check(x, Whead, y, m, head_shape.n, head_shape.k);
            if (!(e <= err)) err = e;
            double best = INFINITY, t0 = now();
            int reps = 0;
            do {
                double s = now();
                for (int l = 0; l < LAYERS; l++)
                    for (int j = 0; j < MATS; j++)
                        kk->run(kk, prep[l % DISTINCT][j], x, xb, y, m, layer_shapes[j].n, layer_shapes[j].k);
                kk->run(kk, head, x, xb, y, m, head_shape.n, head_shape.k);
                double dt = now() - s;
                if (dt < best) best = dt;
                reps++;
            } while (reps < 3 || now() - t0 < min_seconds);
            printf("%s %ld %.3f %.1e\n", kk->name, m, 1000 * best, err);
            fflush(stdout);
            for (int d = 0; d < DISTINCT; d++)
                for (int j = 0; j < MATS; j++) kk->release(prep[d][j]);
            kk->release(head);
        }
    }
    return 0;
}
