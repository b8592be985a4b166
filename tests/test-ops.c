/*
 * test-ops.c: the per-row ops and the threaded matrix product against double-precision
 * references written out longhand here.
 */
#include "config.h"

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

#include <math.h>

static uint64_t seed = 42;

static float
frand(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((seed >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double
max_abs_diff(const float *a, const double *b, int n)
{
    double m = 0.0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void
check_rmsnorm(void)
{
    enum { N = 576 };
    float x[N], w[N], out[N];
    double ref[N], ss = 0.0;
    for (int i = 0; i < N; i++) {
        x[i] = frand() * 3;
        w[i] = frand();
        ss += (double)x[i] * x[i];
    }
    double scale = 1.0 / sqrt(ss / N + 1e-5);
    for (int i = 0; i < N; i++)
        ref[i] = x[i] * scale * w[i];
    pd_rmsnorm(out, x, w, N, 1e-5f);
    ok(max_abs_diff(out, ref, N) < 1e-5, "rmsnorm matches the double reference");
}

/* Rotate with the textbook formula, in double. */
static void
rope_ref(double *out, const float *x, const struct pd_rope *r, int D, long pos, double factor)
{
    int half = r->n_rot / 2;
    for (int i = 0; i < D; i++)
        out[i] = x[i];
    for (int i = 0; i < half; i++) {
        double theta = pos * pow(r->freq_base, -2.0 * i / r->n_rot) / factor;
        int a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
        out[a] = x[a] * cos(theta) - x[b] * sin(theta);
        out[b] = x[a] * sin(theta) + x[b] * cos(theta);
    }
}

static void
check_rope(bool neox, float factor)
{
    enum { D = 64, H = 3 };
    struct pd_rope r = { .n_rot = D, .neox = neox, .freq_base = 10000.0f,
                         .freq_scale = 1.0f / factor, .attn_factor = 1.0f };
    float x[H * D], cs[D];
    double ref[H * D];
    double worst = 0.0;
    for (long pos = 0; pos < 3000; pos += 311) {
        for (int i = 0; i < H * D; i++)
            x[i] = frand();
        for (int h = 0; h < H; h++)
            rope_ref(ref + h * D, x + h * D, &r, D, pos, factor);
        pd_rope_cache(cs, &r, pos);
        pd_rope_apply(x, cs, &r, H, D);
        worst = fmax(worst, max_abs_diff(x, ref, H * D));
    }
    ok(worst < 2e-3, "rope (%s, scale factor %g) matches the formula: max error %.2g",
       neox ? "neox" : "normal", factor, worst);
}

/* Attention of one head over P cached positions against a double reference: D-wide keys, the
 * first Dv of each value row (MLA's latent heads read keys and values from the same rows). */
static void
check_attention(int D, int Dv, const char *what)
{
    enum { P = 37, MAXD = 640, STRIDE = 3 * MAXD };
    static float k[P * STRIDE], v[P * STRIDE];
    float q[MAXD], out[MAXD], scores[P];
    double ref[MAXD] = { 0 }, s[P], max = -INFINITY, sum = 0.0;
    for (int i = 0; i < P * STRIDE; i++) {
        k[i] = frand();
        v[i] = frand();
    }
    for (int d = 0; d < D; d++)
        q[d] = frand() * 4;
    for (int p = 0; p < P; p++) {
        s[p] = 0.0;
        for (int d = 0; d < D; d++)
            s[p] += (double)q[d] * k[p * STRIDE + d];
        s[p] /= sqrt(D);
        max = fmax(max, s[p]);
    }
    for (int p = 0; p < P; p++)
        sum += s[p] = exp(s[p] - max);
    for (int p = 0; p < P; p++)
        for (int d = 0; d < Dv; d++)
            ref[d] += s[p] / sum * v[p * STRIDE + d];
    pd_attention_head(out, scores, q, k, v, P, D, Dv, STRIDE, 1.0f / sqrtf(D));
    ok(max_abs_diff(out, ref, Dv) < 1e-5, "attention over the cache, %s, matches the reference",
       what);
    pd_attention_head_ref(out, scores, q, k, v, P, D, Dv, STRIDE, 1.0f / sqrtf(D));
    ok(max_abs_diff(out, ref, Dv) < 1e-5, "so does its plain-C version");
}

struct mm_job {
    struct pd_threadpool *tp;
    float *y;
    const void *w;
    enum pd_type type;
    void *xq;
    const float *x;
    int64_t n_in, n_out, T;
    bool precise;
    float *wbuf;
};

static void
mm_worker(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    enum pd_type act = pd_matmul_act_type(j->type, j->precise);
    pd_matmul_quantize(j->xq, j->x, act, j->n_in, j->T, ith, nth);
    pd_threadpool_barrier(j->tp);
    pd_matmul(j->y, j->n_out, j->w, NULL, j->type, j->xq, act, j->wbuf + ith * j->n_in, j->n_in,
              j->n_out, j->T, ith, nth);
}

/* A threaded product with weights of type t equals the float product of the dequantized
 * weights, within the error of quantizing the activations. */
static void
check_matmul(enum pd_type t, int threads, bool precise)
{
    enum { N_IN = 512, N_OUT = 77, T = 5 };
    static float wf[N_OUT * N_IN], wd[N_OUT * N_IN], x[T * N_IN], y[T * N_OUT];
    for (int i = 0; i < N_OUT * N_IN; i++)
        wf[i] = frand();
    for (int i = 0; i < T * N_IN; i++)
        x[i] = frand();
    size_t row = pd_type_row_size(t, N_IN);
    char *w = malloc(row * N_OUT);
    for (int r = 0; r < N_OUT; r++) {
        pd_quantize_row(t, wf + r * N_IN, w + r * row, N_IN);
        pd_dequantize_row(t, w + r * row, wd + r * N_IN, N_IN);
    }
    struct mm_job j = { .tp = pd_threadpool_new(threads), .y = y, .w = w, .type = t,
                        .xq = malloc(pd_matmul_act_size(pd_matmul_act_type(t, precise), N_IN, T)),
                        .x = x, .n_in = N_IN, .n_out = N_OUT, .T = T, .precise = precise,
                        .wbuf = malloc(sizeof(float) * N_IN * threads) };
    pd_threadpool_run(j.tp, mm_worker, &j);
    double worst = 0.0;
    for (int tt = 0; tt < T; tt++)
        for (int r = 0; r < N_OUT; r++) {
            double ref = 0.0, mag = 0.0;
            for (int i = 0; i < N_IN; i++) {
                ref += (double)wd[r * N_IN + i] * x[tt * N_IN + i];
                mag += fabs((double)wd[r * N_IN + i] * x[tt * N_IN + i]);
            }
            worst = fmax(worst, fabs(y[tt * N_OUT + r] - ref) / mag);
        }
    double tol = precise ? 1e-5 : 0.01;
    ok(worst < tol, "matmul %s, %d threads%s: error %.2g of sum |w x| < %g",
       pd_type_traits_get(t)->name, threads, precise ? ", float activations" : "", worst, tol);
    pd_threadpool_free(j.tp);
    free(j.wbuf);
    free(j.xq);
    free(w);
}

/* The four-row kernels give the sums of four single-row dots. */
static void
check_dot4(enum pd_type t)
{
    enum { N = 1024 };
    pd_vec_dot4_fn dot4 = pd_vec_dot4_get(t);
    if (dot4 == NULL) {
        ok(1, "# SKIP no four-row %s kernel on this CPU", pd_type_traits_get(t)->name);
        return;
    }
    enum pd_type at = pd_type_traits_get(t)->vec_dot_type;
    size_t wrow = pd_type_row_size(t, N), arow = pd_type_row_size(at, N);
    static float f[N];
    char *w = malloc(wrow), *a = malloc(4 * arow);
    for (int i = 0; i < N; i++)
        f[i] = frand();
    pd_quantize_row(t, f, w, N);
    for (int j = 0; j < 4; j++) {
        for (int i = 0; i < N; i++)
            f[i] = frand() * (j + 1);
        pd_quantize_row(at, f, a + j * arow, N);
    }
    float four[4 * 3], one;
    dot4(N, four, 3, w, a, arow);
    double worst = 0.0;
    for (int j = 0; j < 4; j++) {
        pd_vec_dot(t, N, &one, w, a + j * arow);
        worst = fmax(worst, fabs(four[j * 3] - one) / (fabs(one) + 1e-3));
    }
    ok(worst < 1e-5, "dot4 %s equals four dots (relative difference %.2g)",
       pd_type_traits_get(t)->name, worst);
    free(w);
    free(a);
}

int
main(void)
{
    plan(29);
    check_rmsnorm();
    check_rope(false, 1.0f);
    check_rope(true, 1.0f);
    check_rope(true, 4.0f);
    check_attention(64, 64, "64-wide heads");
    check_attention(576, 512, "MLA's 512 + 64 latent heads");
    check_attention(280, 264, "wide heads whose last chunks are partial");
    check_dot4(PD_TYPE_Q4_0);
    check_dot4(PD_TYPE_Q4_1);
    check_dot4(PD_TYPE_Q8_0);
    static const enum pd_type types[] = { PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_Q4_0, PD_TYPE_Q4_1,
                                          PD_TYPE_Q5_0 };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        check_matmul(types[i], 1, false);
        check_matmul(types[i], 3, false);
        check_matmul(types[i], 2, true);
    }
    check_matmul(PD_TYPE_Q8_0, 2, false);
    return exit_status();
}
