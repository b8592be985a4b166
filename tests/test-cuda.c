/*
 * test-cuda.c: each CUDA kernel against its CPU twin on random inputs, several shapes each (odd
 * sizes included). Skips (loudly) on a build without CUDA or a machine without a device, so make
 * check passes on CPU-only hosts. `test-cuda --bench` instead times the decode product on the
 * matrices of real models (tests/gpu/device-check prints that table).
 *
 * Tolerances, and why (u = float's unit roundoff, 6e-8):
 *   dequantize       1e-6 of the row's largest value: the same float operations as the CPU, up to
 *                    a fused multiply-add
 *   matvec           1e-5 of sum |w_i x_i|, every format: the dequantized weights are exact, only
 *                    the order of the float sum differs
 *   matmul, F32      1e-5 of sum |w_i x_i| (cuBLAS SGEMM, no TF32)
 *   matmul, half     2e-3 of sum |w_i x_i| for weights that go to F16 (F32, F16, Q4_0, Q4_1, Q8_0,
 *                    Q4_K, Q6_K: weights and activations each rounded to 11 bits, 2^-11 = 4.9e-4
 *                    apiece); 8e-3 for BF16 weights (the activations rounded to 8 bits, 2^-8)
 *   rmsnorm, swiglu  1e-5 relative (expf and rsqrtf within 2 ulp)
 *   softmax          1e-4 relative (a float sum of up to ~600 terms per thread against the CPU's
 *                    double sum)
 *   rope             (1e-5 + 5e-7 pos) of the row's largest value: cos and sin agree to a few
 *                    ulp, but an angle of pos radians carries pos * u of rounding
 *   attention        2e-5 absolute (values in [-1, 1]; exp within 2 ulp, float sums)
 *   router           the same expert ids (tokens whose choice is within 1e-5 of a tie are
 *                    counted, not compared), weights 1e-5 relative, entropy 2e-5 absolute
 *   logits stats     log-sum-exp 1e-6 relative (double on both sides), entropy 1e-5 absolute,
 *                    log-probabilities 2e-5 absolute
 *   top-k            exact: the same ids and the same values
 */
#include "config.h"

#include "engine/pd.h"
#include "engine/sampler.h"
#include "kernels/backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant-impl.h"
#include "kernels/cpu/quant.h"
#include "tests/tap.h"

#include <math.h>
#include <string.h>

static uint64_t seed = 7;

static float
frand(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((seed >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void
fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = frand() * scale;
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    PD_ASSERT(p);
    return p;
}

static const int all_types[] = { PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16, PD_TYPE_Q4_0,
                                 PD_TYPE_Q4_1, PD_TYPE_Q8_0, PD_TYPE_Q4_K, PD_TYPE_Q6_K };

static const char *
tname(int t)
{
    return pd_type_traits_get((uint32_t)t)->name;
}

/* rows rows of n_in random weights in type t. The K-quants have no quantizer here: their blocks are
 * random bytes with small positive super-block scales (every bit pattern of the rest is valid). */
static void *
make_weights(int t, int64_t n_in, int64_t rows)
{
    size_t row = pd_type_row_size((enum pd_type)t, n_in);
    uint8_t *w = xmalloc(row * (size_t)rows);
    float *x = xmalloc(sizeof(float) * (size_t)n_in);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *wr = w + (size_t)r * row;
        if (t == PD_TYPE_Q4_K || t == PD_TYPE_Q6_K) {
            for (size_t i = 0; i < row; i++)
                wr[i] = (uint8_t)(frand() * 128 + 128);
            for (int64_t b = 0; b < n_in / PD_QK_K; b++) {
                uint16_t d = pd_fp32_to_fp16(0.002f + 0.004f * (frand() + 1));
                uint16_t dmin = pd_fp32_to_fp16(0.001f + 0.002f * (frand() + 1));
                if (t == PD_TYPE_Q4_K) {
                    struct pd_block_q4_K *bk = (struct pd_block_q4_K *)wr + b;
                    bk->d = d;
                    bk->dmin = dmin;
                } else {
                    ((struct pd_block_q6_K *)wr + b)->d = d;
                }
            }
        } else {
            fill(x, n_in, 1.0f);
            PD_ASSERT(pd_quantize_row((enum pd_type)t, x, wr, n_in));
        }
    }
    free(x);
    return w;
}

/* ---- memory ------------------------------------------------------------------------------------ */

static void
check_memory(int dev)
{
    char err[512] = "";
    size_t free_b = 0, total_b = 0;
    ok(pd_cuda_mem_info(dev, &free_b, &total_b) == 0 && total_b > 0 && free_b <= total_b,
       "device %d: %.0f MiB free of %.0f MiB", dev, free_b / 1048576.0, total_b / 1048576.0);
    void *p = NULL;
    int rc = pd_cuda_alloc(dev, &p, (size_t)1 << 20, "a test buffer", err, sizeof err);
    ok(rc == 0 && p != NULL, "1 MiB allocates (%s)", rc ? err : "ok");
    pd_cuda_free(p);
    rc = pd_cuda_alloc(dev, &p, total_b + ((size_t)1 << 30), "the test's KV cache", err,
                       sizeof err);
    ok(rc != 0 && p == NULL && strstr(err, "needed") && strstr(err, "--gpus") &&
           strstr(err, "the test's KV cache"),
       "more than the device has fails and says what to try");
    diag("%s", err);
    rc = pd_cuda_alloc(dev, &p, (size_t)1 << 20, "a test buffer", err, sizeof err);
    ok(rc == 0, "allocation works again after an out-of-memory");
    pd_cuda_free(p);
    ok(pd_cuda_bandwidth(dev) > 0, "bandwidth bound %.0f GB/s", pd_cuda_bandwidth(dev) / 1e9);
}

/* ---- products ---------------------------------------------------------------------------------- */

static void
check_dequantize(int dev, int t, int64_t n_in, int64_t rows)
{
    void *w = make_weights(t, n_in, rows);
    size_t n = (size_t)n_in * (size_t)rows, row = pd_type_row_size((enum pd_type)t, n_in);
    float *gpu = xmalloc(sizeof(float) * n), *cpu = xmalloc(sizeof(float) * n);
    char err[512] = "";
    int rc = pd_cuda_dequantize(dev, gpu, w, t, n_in, rows, err, sizeof err);
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        float *c = cpu + r * n_in, *g = gpu + r * n_in, amax = 0.0f;
        pd_dequantize_row((enum pd_type)t, (const char *)w + r * row, c, n_in);
        for (int64_t i = 0; i < n_in; i++)
            amax = fmaxf(amax, fabsf(c[i]));
        for (int64_t i = 0; i < n_in; i++)
            worst = fmax(worst, fabs(g[i] - c[i]) / (amax + 1e-30));
    }
    if (!ok(rc == 0 && worst <= 1e-6, "dequantize %s %lldx%lld (max error %.2g of the row max)",
            tname(t), (long long)rows, (long long)n_in, worst))
        diag("%s", err);
    free(w);
    free(gpu);
    free(cpu);
}

/* The CPU twin on its precise path (float activations): y[T][n_out]; scale[T][n_out] gets
 * sum |w_i x_i|, the size a rounding error is measured against. */
static void
cpu_product(float *y, double *scale, const void *w, int t, const float *x, int64_t n_in,
            int64_t n_out, int64_t T)
{
    float *wbuf = xmalloc(sizeof(float) * (size_t)n_in);
    pd_matmul(y, n_out, w, NULL, (enum pd_type)t, x, PD_TYPE_F32, wbuf, n_in, n_out, T, 0, 1);
    size_t row = pd_type_row_size((enum pd_type)t, n_in);
    for (int64_t r = 0; r < n_out; r++) {
        pd_dequantize_row((enum pd_type)t, (const char *)w + r * row, wbuf, n_in);
        for (int64_t s = 0; s < T; s++) {
            double a = 0.0;
            for (int64_t i = 0; i < n_in; i++)
                a += fabs((double)wbuf[i] * x[s * n_in + i]);
            scale[s * n_out + r] = a + 1e-30;
        }
    }
    free(wbuf);
}

static void
check_product(int dev, int t, int64_t n_in, int64_t n_out, int64_t T, int gemm, int half)
{
    void *w = make_weights(t, n_in, n_out);
    size_t ny = (size_t)T * (size_t)n_out;
    float *x = xmalloc(sizeof(float) * (size_t)(T * n_in));
    float *gpu = xmalloc(sizeof(float) * ny), *cpu = xmalloc(sizeof(float) * ny);
    double *scale = xmalloc(sizeof(double) * ny);
    fill(x, T * n_in, 2.0f);
    char err[512] = "";
    int rc = gemm ? pd_cuda_matmul(dev, gpu, w, t, x, n_in, n_out, T, half, err, sizeof err)
                  : pd_cuda_matvec(dev, gpu, w, t, x, n_in, n_out, err, sizeof err);
    cpu_product(cpu, scale, w, t, x, n_in, n_out, T);
    double tol = !half ? 1e-5 : t == PD_TYPE_BF16 ? 8e-3 : 2e-3, worst = 0.0;
    for (size_t i = 0; i < ny; i++)
        worst = fmax(worst, fabs(gpu[i] - cpu[i]) / scale[i]);
    if (!ok(rc == 0 && worst <= tol, "%s %s %lldx%lld, %lld rows%s: max error %.2g (tolerance %g)",
            gemm ? "matmul" : "matvec", tname(t), (long long)n_out, (long long)n_in, (long long)T,
            half ? ", half" : "", worst, tol))
        diag("%s", err);
    free(w);
    free(x);
    free(gpu);
    free(cpu);
    free(scale);
}

static void
check_products(int dev)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(all_types); i++) {
        int t = all_types[i];
        bool fl = t == PD_TYPE_F32 || t == PD_TYPE_F16 || t == PD_TYPE_BF16;
        check_dequantize(dev, t, 512, 3);
        if (fl)
            check_dequantize(dev, t, 97, 5);
        check_product(dev, t, 256, 1, 1, 0, 0);
        check_product(dev, t, 768, 33, 1, 0, 0);
        check_product(dev, t, 2048, 129, 1, 0, 0);
        if (fl)
            check_product(dev, t, 1001, 31, 1, 0, 0);
        for (int half = 0; half < 2; half++) {
            check_product(dev, t, 256, 65, 1, 1, half);
            check_product(dev, t, 512, 129, 7, 1, half);
            if (fl)
                check_product(dev, t, 97, 13, 5, 1, half);
        }
    }
    /* F32 scratch holds 4096 of these rows: two blocks of weights, the second partial */
    check_product(dev, PD_TYPE_Q4_K, 4096, 5000, 3, 1, 0);
    check_product(dev, PD_TYPE_Q4_0, 4096, 5000, 3, 1, 1);
}

/* ---- row operations ---------------------------------------------------------------------------- */

static void
check_rmsnorm(int dev, int64_t rows, int64_t n)
{
    float *x = xmalloc(sizeof(float) * rows * n), *w = xmalloc(sizeof(float) * n);
    float *gpu = xmalloc(sizeof(float) * rows * n), *cpu = xmalloc(sizeof(float) * rows * n);
    fill(x, rows * n, 4.0f);
    fill(w, n, 1.0f);
    char err[512] = "";
    int rc = pd_cuda_rmsnorm(dev, gpu, x, w, rows, n, 1e-6f, err, sizeof err);
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        pd_rmsnorm(cpu + r * n, x + r * n, w, n, 1e-6f);
        for (int64_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(gpu[r * n + i] - cpu[r * n + i]) /
                                    (fabs(cpu[r * n + i]) + 1e-3));
    }
    if (!ok(rc == 0 && worst < 1e-5, "rmsnorm %lldx%lld (max relative error %.2g)",
            (long long)rows, (long long)n, worst))
        diag("%s", err);
    free(x);
    free(w);
    free(gpu);
    free(cpu);
}

static void
check_rope(int dev, const char *what, struct pd_rope r, int n_heads, int D)
{
    static const int32_t pos[] = { 0, 1, 2, 17, 100, 513, 1000 };
    int64_t T = PD_ARRAY_SIZE(pos), n = T * n_heads * D;
    float *x = xmalloc(sizeof(float) * n), *cpu = xmalloc(sizeof(float) * n);
    float *cs = xmalloc(sizeof(float) * r.n_rot);
    fill(x, n, 2.0f);
    memcpy(cpu, x, sizeof(float) * n);
    char err[512] = "";
    int rc = pd_cuda_rope(dev, x, pos, &r, T, n_heads, D, err, sizeof err);
    double worst = 0.0; /* error / tolerance */
    for (int64_t t = 0; t < T; t++) {
        float *c = cpu + t * n_heads * D, *g = x + t * n_heads * D, amax = 0.0f;
        pd_rope_cache(cs, &r, pos[t]);
        pd_rope_apply(c, cs, &r, n_heads, D);
        for (int i = 0; i < n_heads * D; i++)
            amax = fmaxf(amax, fabsf(c[i]));
        for (int i = 0; i < n_heads * D; i++)
            worst = fmax(worst, fabs(g[i] - c[i]) / ((1e-5 + 5e-7 * pos[t]) * amax));
    }
    if (!ok(rc == 0 && worst <= 1.0, "rope %s, %d heads of %d (error %.2g of tolerance)", what,
            n_heads, D, worst))
        diag("%s", err);
    free(x);
    free(cpu);
    free(cs);
}

static void
check_ropes(int dev)
{
    struct pd_rope r = { .n_rot = 64, .freq_base = 10000.0f, .freq_scale = 1.0f,
                         .attn_factor = 1.0f, .beta_fast = 32.0f, .beta_slow = 1.0f,
                         .n_ctx_orig = 4096 };
    check_rope(dev, "normal", r, 3, 64);
    r.neox = true;
    check_rope(dev, "neox", r, 5, 64);
    r.n_rot = 32;
    check_rope(dev, "neox, 32 of 96 rotated", r, 2, 96);
    struct pd_rope y = { .n_rot = 64, .neox = false, .freq_base = 10000.0f, .freq_scale = 0.25f,
                         .ext_factor = 1.0f, .attn_factor = 1.0f, .beta_fast = 32.0f,
                         .beta_slow = 1.0f, .n_ctx_orig = 4096 };
    check_rope(dev, "yarn, 64 of 128 rotated (deepseek2)", y, 4, 128);
    y.neox = true;
    y.freq_base = 1000000.0f;
    check_rope(dev, "yarn, neox", y, 3, 128);
    float ff[64];
    for (int i = 0; i < 64; i++)
        ff[i] = 1.0f + (float)i / 8.0f;
    struct pd_rope l = { .n_rot = 128, .neox = false, .freq_base = 500000.0f,
                         .freq_scale = 1.0f, .attn_factor = 1.0f, .beta_fast = 32.0f,
                         .beta_slow = 1.0f, .n_ctx_orig = 8192, .freq_factors = ff };
    check_rope(dev, "frequency factors (llama 3.1)", l, 2, 128);
}

static void
check_softmax(int dev, int64_t rows, int64_t n)
{
    float *x = xmalloc(sizeof(float) * rows * n), *cpu = xmalloc(sizeof(float) * rows * n);
    fill(x, rows * n, 8.0f);
    if (n > 3)
        x[3] = -INFINITY;
    memcpy(cpu, x, sizeof(float) * rows * n);
    char err[512] = "";
    int rc = pd_cuda_softmax(dev, x, rows, n, err, sizeof err);
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++)
        pd_softmax(cpu + r * n, n);
    for (int64_t i = 0; i < rows * n; i++)
        worst = fmax(worst, fabs(x[i] - cpu[i]) / (cpu[i] + 1e-30));
    if (!ok(rc == 0 && worst <= 1e-4, "softmax %lldx%lld (max relative error %.2g)",
            (long long)rows, (long long)n, worst))
        diag("%s", err);
    free(x);
    free(cpu);
}

static void
check_swiglu(int dev, int64_t n)
{
    float *g = xmalloc(sizeof(float) * n), *u = xmalloc(sizeof(float) * n);
    float *gpu = xmalloc(sizeof(float) * n), *cpu = xmalloc(sizeof(float) * n);
    fill(g, n, 6.0f);
    fill(u, n, 2.0f);
    char err[512] = "";
    int rc = pd_cuda_swiglu(dev, gpu, g, u, n, err, sizeof err);
    pd_swiglu(cpu, g, u, n);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(gpu[i] - cpu[i]) / (fabs(cpu[i]) + 1e-6));
    if (!ok(rc == 0 && worst <= 1e-5, "swiglu %lld (max relative error %.2g)", (long long)n,
            worst))
        diag("%s", err);
    free(g);
    free(u);
    free(gpu);
    free(cpu);
}

/* ---- attention ----------------------------------------------------------------------------- */

static void
check_attention(int dev, int64_t T, int64_t n_kv, int H, int Hkv, int D, int Dv)
{
    int64_t stride = (int64_t)Hkv * (D > Dv ? D : Dv) + 3; /* odd: a stride bug shows */
    struct pd_cuda_attn a = { .T = T, .n_kv = n_kv, .H = H, .Hkv = Hkv, .D = D, .Dv = Dv,
                              .k_stride = stride, .v_stride = stride,
                              .scale = 1.0f / sqrtf((float)D) };
    size_t nq = (size_t)T * H * D, no = (size_t)T * H * Dv, nkv = (size_t)n_kv * stride;
    float *q = xmalloc(sizeof(float) * nq), *k = xmalloc(sizeof(float) * nkv);
    float *v = xmalloc(sizeof(float) * nkv), *gpu = xmalloc(sizeof(float) * no);
    float *cpu = xmalloc(sizeof(float) * no), *scores = xmalloc(sizeof(float) * n_kv);
    fill(q, nq, 2.0f);
    fill(k, nkv, 2.0f);
    fill(v, nkv, 1.0f);
    char err[512] = "";
    int rc = pd_cuda_attention(dev, gpu, q, k, v, &a, err, sizeof err);
    for (int64_t t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / Hkv);
            pd_attention_head(cpu + (t * H + h) * Dv, scores, q + (t * H + h) * D,
                              k + (int64_t)g * D, v + (int64_t)g * Dv, n_kv - T + 1 + t, D, Dv,
                              stride, a.scale);
        }
    double worst = 0.0;
    for (size_t i = 0; i < no; i++)
        worst = fmax(worst, fabs(gpu[i] - cpu[i]));
    if (!ok(rc == 0 && worst <= 2e-5, "attention T %lld over %lld, %d/%d heads, D %d, Dv %d "
            "(max error %.2g)", (long long)T, (long long)n_kv, H, Hkv, D, Dv, worst))
        diag("%s", err);
    free(q);
    free(k);
    free(v);
    free(gpu);
    free(cpu);
    free(scores);
}

static void
check_attentions(int dev)
{
    check_attention(dev, 1, 1, 4, 2, 64, 64);        /* the first token */
    check_attention(dev, 1, 37, 8, 2, 64, 64);       /* decode, grouped query heads */
    check_attention(dev, 1, 300, 4, 4, 128, 128);
    check_attention(dev, 1, 50, 4, 1, 192, 128);     /* MLA, uncompressed */
    check_attention(dev, 1, 33, 2, 1, 576, 512);     /* MLA over the latent cache */
    check_attention(dev, 9, 9, 6, 3, 64, 64);        /* prefill from empty */
    check_attention(dev, 5, 20, 4, 2, 80, 80);       /* prefill after 15 cached */
    check_attention(dev, 3, 1000, 2, 2, 32, 48);
}

/* ---- the MoE router -------------------------------------------------------------------------- */

static void
ref_top_k(int32_t *ids, float *vals, const float *p, int32_t X, int32_t K)
{
    for (int32_t k = 0; k < K; k++) {
        ids[k] = -1;
        vals[k] = -INFINITY;
    }
    for (int32_t e = 0; e < X; e++) {
        if (p[e] <= vals[K - 1])
            continue;
        int32_t k = K - 1;
        for (; k > 0 && p[e] > vals[k - 1]; k--) {
            ids[k] = ids[k - 1];
            vals[k] = vals[k - 1];
        }
        ids[k] = e;
        vals[k] = p[e];
    }
}

/* choose_experts of engine/moe.c for one token (a file-static function there, so restated here
 * step by step). Returns whether the choice is within 1e-5 of a tie (then the ids may differ). */
static bool
ref_route(int32_t *ids, float *w, float *entropy, const float *logits, const float *bias,
          const struct pd_cuda_router *r)
{
    int32_t X = r->n_expert, K = r->n_used;
    float p[1024], sel[1024], top[65], gs[64], gv[65];
    int32_t tid[65], gid[65];
    bool fragile = false;
    double sum = 0.0, h = 0.0;
    memcpy(p, logits, sizeof(float) * X);
    if (r->sigmoid) {
        for (int32_t e = 0; e < X; e++)
            sum += p[e] = 1.0f / (1.0f + expf(-p[e]));
        for (int32_t e = 0; e < X; e++)
            if (p[e] / sum > 0.0)
                h -= p[e] / sum * log(p[e] / sum);
    } else {
        float max = -INFINITY;
        for (int32_t e = 0; e < X; e++)
            max = fmaxf(max, p[e]);
        for (int32_t e = 0; e < X; e++)
            sum += p[e] = expf(p[e] - max);
        for (int32_t e = 0; e < X; e++) {
            p[e] = (float)(p[e] / sum);
            if (p[e] > 0.0f)
                h -= p[e] * log(p[e]);
        }
    }
    *entropy = (float)h;
    for (int32_t e = 0; e < X; e++)
        sel[e] = p[e] + (bias ? bias[e] : 0.0f);
    if (r->n_groups > 1) {
        int32_t per = X / r->n_groups;
        for (int32_t g = 0; g < r->n_groups; g++) {
            ref_top_k(tid, top, sel + g * per, per, 2);
            gs[g] = top[0] + top[1];
        }
        ref_top_k(gid, gv, gs, r->n_groups, r->n_groups_used + 1);
        fragile |= r->n_groups_used < r->n_groups && gv[r->n_groups_used - 1] -
                                                          gv[r->n_groups_used] < 1e-5f;
        for (int32_t g = 0; g < r->n_groups; g++) {
            bool keep = false;
            for (int32_t i = 0; i < r->n_groups_used; i++)
                keep |= gid[i] == g;
            for (int32_t e = 0; keep == false && e < per; e++)
                sel[g * per + e] = -INFINITY;
        }
    }
    ref_top_k(tid, top, sel, X, K + 1);
    fragile |= K < X && top[K - 1] - top[K] < 1e-5f;
    for (int32_t k = 0; k < K; k++) {
        ids[k] = tid[k];
        w[k] = p[tid[k]];
    }
    if (r->norm) {
        float s = 0.0f;
        for (int32_t k = 0; k < K; k++)
            s += w[k];
        s = s > 6.1e-5f ? s : 6.1e-5f;
        for (int32_t k = 0; k < K; k++)
            w[k] /= s;
    }
    for (int32_t k = 0; k < K; k++)
        w[k] *= r->scale;
    for (int32_t i = 1; i < K; i++)
        for (int32_t j = i; j > 0 && (w[j] > w[j - 1] || (w[j] == w[j - 1] && ids[j] < ids[j - 1]));
             j--) {
            float tw = w[j];
            w[j] = w[j - 1];
            w[j - 1] = tw;
            int32_t ti = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = ti;
        }
    return fragile;
}

static void
check_router(int dev, const char *what, struct pd_cuda_router r, bool with_bias, int64_t T)
{
    int32_t X = r.n_expert, K = r.n_used;
    float *logits = xmalloc(sizeof(float) * T * X), *bias = NULL;
    int32_t *ids = xmalloc(sizeof(int32_t) * T * K);
    float *w = xmalloc(sizeof(float) * T * K), *h = xmalloc(sizeof(float) * T);
    fill(logits, T * X, 4.0f);
    if (with_bias) {
        bias = xmalloc(sizeof(float) * X);
        fill(bias, X, 0.05f);
    }
    char err[512] = "";
    int rc = pd_cuda_moe_route(dev, ids, w, h, logits, bias, T, &r, err, sizeof err);
    int id_bad = 0, fragile = 0;
    double w_err = 0.0, h_err = 0.0;
    for (int64_t t = 0; rc == 0 && t < T; t++) {
        int32_t rid[64];
        float rw[64], rh;
        if (ref_route(rid, rw, &rh, logits + t * X, bias, &r)) {
            fragile++;
            continue;
        }
        h_err = fmax(h_err, fabs(h[t] - rh));
        for (int32_t k = 0; k < K; k++) {
            id_bad += ids[t * K + k] != rid[k];
            w_err = fmax(w_err, fabs(w[t * K + k] - rw[k]) / (fabs(rw[k]) + 1e-12));
        }
    }
    if (!ok(rc == 0 && id_bad == 0 && w_err <= 1e-5 && h_err <= 2e-5,
            "router %s: %d tokens, %d of them near a tie; %d ids differ, weight error %.2g, "
            "entropy error %.2g", what, (int)T, fragile, id_bad, w_err, h_err))
        diag("%s", err);
    free(logits);
    free(bias);
    free(ids);
    free(w);
    free(h);
}

static void
check_routers(int dev)
{
    check_router(dev, "mixtral (softmax, 2 of 8)",
                 (struct pd_cuda_router){ 8, 2, 1, 1, 0, 1, 1.0f }, false, 9);
    check_router(dev, "qwen2moe (softmax, 4 of 60, no norm)",
                 (struct pd_cuda_router){ 60, 4, 1, 1, 0, 0, 1.0f }, false, 7);
    check_router(dev, "qwen3moe (softmax, 8 of 128)",
                 (struct pd_cuda_router){ 128, 8, 1, 1, 0, 1, 1.0f }, false, 33);
    check_router(dev, "deepseek-v3 (sigmoid, bias, 4 of 8 groups, scale 2.5)",
                 (struct pd_cuda_router){ 256, 8, 8, 4, 1, 1, 2.5f }, true, 33);
    check_router(dev, "deepseek2-small (sigmoid, 6 of 64, scale 1)",
                 (struct pd_cuda_router){ 64, 6, 1, 1, 1, 1, 1.0f }, false, 5);
    check_router(dev, "deepseek-v2 (softmax, groups, scale 16)",
                 (struct pd_cuda_router){ 160, 6, 8, 3, 0, 0, 16.0f }, false, 7);
}

/* ---- sampling support ------------------------------------------------------------------------ */

static void
check_logits_stats(int dev, int64_t rows, int64_t n)
{
    float *l = xmalloc(sizeof(float) * rows * n), *lp = xmalloc(sizeof(float) * rows * n);
    float *lse = xmalloc(sizeof(float) * rows), *h = xmalloc(sizeof(float) * rows);
    fill(l, rows * n, 10.0f);
    l[0] = -INFINITY;                       /* ignored, as on the CPU */
    for (int64_t i = 0; i < n; i++)         /* the last row is all -inf: lse -inf, entropy 0 */
        l[(rows - 1) * n + i] = -INFINITY;
    char err[512] = "";
    int rc = pd_cuda_logits_stats(dev, lse, h, lp, l, rows, n, err, sizeof err);
    double lse_err = 0.0, h_err = 0.0, lp_err = 0.0;
    bool empty_ok = true;
    for (int64_t r = 0; rc == 0 && r < rows; r++) {
        float rl, rh;
        pd_logits_stats(l + r * n, (int32_t)n, &rl, &rh);
        if (isinf(rl)) {
            empty_ok &= isinf(lse[r]) && lse[r] < 0 && h[r] == 0.0f;
            continue;
        }
        lse_err = fmax(lse_err, fabs(lse[r] - rl) / fabs(rl));
        h_err = fmax(h_err, fabs(h[r] - rh));
        for (int64_t i = 1; i < n; i++)
            lp_err = fmax(lp_err, fabs(lp[r * n + i] - (l[r * n + i] - rl)));
    }
    if (!ok(rc == 0 && empty_ok && lse_err <= 1e-6 && h_err <= 1e-5 && lp_err <= 2e-5,
            "logits stats %lldx%lld: lse error %.2g, entropy error %.2g, log-prob error %.2g%s",
            (long long)rows, (long long)n, lse_err, h_err, lp_err,
            empty_ok ? "" : ", an all -inf row is wrong"))
        diag("%s", err);
    free(l);
    free(lp);
    free(lse);
    free(h);
}

struct cand {
    float v;
    int32_t id;
};

static int
cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void
check_top_k(int dev, int64_t rows, int64_t n, int k)
{
    float *l = xmalloc(sizeof(float) * rows * n), *vals = xmalloc(sizeof(float) * rows * k);
    int32_t *ids = xmalloc(sizeof(int32_t) * rows * k);
    struct cand *c = xmalloc(sizeof(struct cand) * n);
    for (int64_t i = 0; i < rows * n; i++)
        l[i] = roundf(frand() * 300.0f) / 100.0f; /* many equal logits: ties by id */
    l[1] = NAN;
    l[2] = -INFINITY;
    char err[512] = "";
    int rc = pd_cuda_top_k(dev, ids, vals, l, rows, n, k, err, sizeof err);
    int bad = 0;
    for (int64_t r = 0; rc == 0 && r < rows; r++) {
        int32_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (!isnan(l[r * n + i]))
                c[m++] = (struct cand){ l[r * n + i], (int32_t)i };
        qsort(c, (size_t)m, sizeof *c, cand_cmp);
        for (int j = 0; j < k; j++) {
            int32_t want = j < m ? c[j].id : -1;
            float wv = j < m ? c[j].v : -INFINITY;
            bad += ids[r * k + j] != want || vals[r * k + j] != wv;
        }
    }
    if (!ok(rc == 0 && bad == 0, "top-%d of %lldx%lld: %d wrong", k, (long long)rows,
            (long long)n, bad))
        diag("%s", err);
    free(l);
    free(vals);
    free(ids);
    free(c);
}

/* A decode step's candidates, chosen on the device from device logits, against the host's. */
static void
check_candidates(int dev, int64_t n, int k)
{
    float *l = xmalloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++)
        l[i] = roundf(frand() * 2000.0f) / 100.0f; /* many equal logits: ties by id */
    l[3] = NAN;
    l[5] = -INFINITY;
    int32_t *want_ids = xmalloc(sizeof(int32_t) * k);
    float *want_l = xmalloc(sizeof(float) * k);
    struct pd_candidates want = { .ids = want_ids, .logits = want_l };
    pd_candidates_from_logits(&want, l, (int32_t)n, k);
    size_t bytes = pd_cuda_candidates_bytes(k);
    unsigned char *got = xmalloc(bytes);
    struct pd_cuda_exec *x = NULL;
    void *d_l = NULL, *d_out = NULL, *d_scratch = NULL;
    char err[512] = "";
    int rc = pd_cuda_exec_new(&x, dev, err, sizeof err);
    if (rc == 0)
        rc = pd_cuda_alloc(dev, &d_l, sizeof(float) * n, "logits", err, sizeof err);
    if (rc == 0)
        rc = pd_cuda_alloc(dev, &d_out, bytes, "candidates", err, sizeof err);
    if (rc == 0)
        rc = pd_cuda_alloc(dev, &d_scratch, pd_cuda_candidates_scratch(n, k), "scratch", err,
                           sizeof err);
    if (rc == 0)
        rc = pd_cuda_dev_upload(x, d_l, l, sizeof(float) * n, "logits", err, sizeof err);
    if (rc == 0)
        rc = pd_cuda_dev_candidates(x, d_out, d_scratch, d_l, n, k, err, sizeof err);
    if (rc == 0)
        rc = pd_cuda_dev_download(x, got, d_out, bytes, "candidates", err, sizeof err);
    int bad = 0;
    double lse_err = 0.0, h_err = 0.0;
    if (rc == 0) {
        const struct pd_cuda_candidates *h = (const void *)got;
        const int32_t *ids = (const int32_t *)(h + 1);
        const float *vals = (const float *)(ids + k);
        for (int j = 0; j < k; j++)
            bad += j < want.n ? ids[j] != want_ids[j] || vals[j] != want_l[j] : ids[j] != -1;
        lse_err = fabs(h->lse - want.lse) / fabs(want.lse);
        h_err = fabs(h->entropy - want.entropy);
    }
    if (!ok(rc == 0 && bad == 0 && lse_err <= 1e-12 && h_err <= 1e-5,
            "sampling candidates, top-%d of %lld on the device: %d wrong, lse error %.2g, "
            "entropy error %.2g", k, (long long)n, bad, lse_err, h_err))
        diag("%s", err);
    pd_cuda_free(d_l);
    pd_cuda_free(d_out);
    pd_cuda_free(d_scratch);
    pd_cuda_exec_free(x);
    free(l);
    free(want_ids);
    free(want_l);
    free(got);
}

/* ---- the bandwidth table ------------------------------------------------------------------- */

static int
bench(int dev)
{
    static const struct {
        const char *name;
        int64_t n_in, n_out;
    } m[] = {
        { "smollm2-135m ffn_up", 576, 1536 },     { "smollm2-135m output", 576, 49152 },
        { "qwen3-30b-a3b attn_q", 2048, 4096 },   { "qwen3-30b-a3b expert", 2048, 768 },
        { "qwen3-30b-a3b output", 2048, 151936 }, { "deepseek-v3 dense ffn", 7168, 18432 },
        { "deepseek-v3 expert", 7168, 2048 },     { "deepseek-v3 output", 7168, 129280 },
    };
    static const int types[] = { PD_TYPE_Q4_0, PD_TYPE_Q8_0, PD_TYPE_Q4_K, PD_TYPE_Q6_K,
                                 PD_TYPE_F16, PD_TYPE_BF16 };
    char desc[256], err[512];
    double bw = pd_cuda_bandwidth(dev);
    pd_cuda_device_describe(dev, desc, sizeof desc);
    printf("decode matvec on device %d (%s), bound %.0f GB/s\n", dev, desc, bw / 1e9);
    printf("%-24s %-5s %9s %9s %8s %7s\n", "matrix", "type", "MiB", "us", "GB/s", "bound");
    for (size_t i = 0; i < PD_ARRAY_SIZE(m); i++)
        for (size_t j = 0; j < PD_ARRAY_SIZE(types); j++) {
            double s;
            if (m[i].n_in % pd_type_traits_get((uint32_t)types[j])->block_size != 0)
                continue; /* SmolLM2's 576 columns are not a whole number of K-quant blocks */
            size_t bytes = pd_type_row_size((enum pd_type)types[j], m[i].n_in) * m[i].n_out;
            if (pd_cuda_matvec_bench(dev, types[j], m[i].n_in, m[i].n_out, 50, &s, err,
                                     sizeof err) != 0) {
                fprintf(stderr, "test-cuda: %s\n", err);
                return 1;
            }
            printf("%-24s %-5s %9.1f %9.1f %8.0f %6.1f%%\n", m[i].name, tname(types[j]),
                   bytes / 1048576.0, s * 1e6, bytes / s / 1e9, 100.0 * bytes / s / bw);
        }
    return 0;
}

int
main(int argc, char **argv)
{
    bool bench_mode = argc > 1 && strcmp(argv[1], "--bench") == 0;
    if (!pd_cuda_compiled())
        plan_skip_all("built without CUDA");
    int n = pd_cuda_device_count();
    if (n == 0)
        plan_skip_all("no CUDA device");
    if (bench_mode)
        return bench(0);
    for (int dev = 0; dev < n; dev++) {
        char desc[256];
        pd_cuda_device_describe(dev, desc, sizeof desc);
        diag("device %d: %s", dev, desc);
        check_memory(dev);
        check_products(dev);
        check_rmsnorm(dev, 7, 576);
        check_rmsnorm(dev, 3, 7168);
        check_rmsnorm(dev, 2, 1001);
        check_ropes(dev);
        check_softmax(dev, 3, 1);
        check_softmax(dev, 5, 129);
        check_softmax(dev, 2, 151936);
        check_swiglu(dev, 1);
        check_swiglu(dev, 4097);
        check_attentions(dev);
        check_routers(dev);
        check_logits_stats(dev, 3, 100);
        check_logits_stats(dev, 3, 151936);
        check_top_k(dev, 2, 10, 12);
        check_top_k(dev, 3, 1000, 5);
        check_top_k(dev, 2, 151936, 40);
        check_top_k(dev, 1, 129280, 1);
        check_candidates(dev, 49152, 40);
        check_candidates(dev, 129280, 104);
        check_candidates(dev, 151936, PD_CANDIDATES_MAX);
        check_candidates(dev, 3000, 1);
        check_candidates(dev, 10, 12);   /* fewer logits than asked: -1 past them */
    }
    done_testing();
    return exit_status();
}
