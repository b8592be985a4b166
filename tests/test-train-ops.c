/*
 * test-train-ops.c: every training op's float32 backward against float64 central differences
 * of a double-precision reference forward written out longhand here, the forwards against the
 * same references (and against inference's kernels where those exist), MLA composed from the
 * ops, and the optimizer: AdamW against a hand-computed double run, the clip, the schedule's
 * shape, and aux-loss-free balancing on a skewed router.
 *
 * Gradient check: loss = sum(out . R) for a random R. The float backward gets dout = R, into
 * gradient buffers that already hold random values (so accumulation is checked too); the double
 * reference is differentiated by central differences, input by input. The error reported is the
 * largest difference over the largest numerical gradient component.
 */
#include "config.h"

#include "engine/train/ops.h"
#include "engine/train/optim.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

#include <math.h>
#include <string.h>

#define GRAD_TOL 1e-3
#define FWD_TOL 1e-5

static uint64_t seed = 7;
static struct pd_threadpool *pool;
static double worst_grad;   /* the largest relative gradient error seen */

static double
urand(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(seed >> 11) * (1.0 / 9007199254740992.0);
}

/* Scratch freed after each check, so a leak checker stays quiet. */
static void *scratch[256];
static int n_scratch;

static void *
tmp(size_t bytes)
{
    PD_ASSERT(n_scratch < (int)PD_ARRAY_SIZE(scratch));
    void *p = calloc(1, bytes ? bytes : 1);
    PD_ASSERT(p);
    return scratch[n_scratch++] = p;
}

static void
tmp_free(void)
{
    while (n_scratch > 0)
        free(scratch[--n_scratch]);
}

static float *
fz(int64_t n)
{
    return tmp(sizeof(float) * n);
}

static float *
frnd(int64_t n, double scale)
{
    float *x = fz(n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((urand() * 2.0 - 1.0) * scale);
    return x;
}

static float *
fcopy(const float *x, int64_t n)
{
    float *y = fz(n);
    memcpy(y, x, sizeof(float) * n);
    return y;
}

static double *
dcopy(const float *x, int64_t n)
{
    double *y = tmp(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

/* ---- the harness ----------------------------------------------------------------------------- */

enum { MAX_IN = 10 };

/* A double reference op (fwd fills out from in[], with parameters p), its inputs, and the float
 * gradient buffers the op under test filled. */
struct ref {
    void (*fwd)(const struct ref *r);
    const void *p;
    int n_in;
    double *in[MAX_IN];
    int64_t n[MAX_IN];
    const char *name[MAX_IN];       /* the gradient's name; NULL: not checked */
    float *grad[MAX_IN], *before[MAX_IN];
    double *out, *R;
    int64_t n_out;
    float *Rf;                      /* R in float: the dout the backward gets */
};

static void
ref_init(struct ref *r, void (*fwd)(const struct ref *), const void *p, int64_t n_out)
{
    memset(r, 0, sizeof *r);
    r->fwd = fwd;
    r->p = p;
    r->n_out = n_out;
    r->out = tmp(sizeof(double) * n_out);
    r->Rf = frnd(n_out, 1);
    r->R = dcopy(r->Rf, n_out);
}

/* The next input, x[n] (NULL: absent); returns its gradient buffer, already holding random values
 * so that the backward must add to them, or NULL when name is. */
static float *
ref_in(struct ref *r, const char *name, const float *x, int64_t n)
{
    int i = r->n_in++;
    PD_ASSERT(i < MAX_IN);
    r->in[i] = x ? dcopy(x, n) : NULL;
    r->n[i] = n;
    r->name[i] = x ? name : NULL;
    if (r->name[i] == NULL)
        return NULL;
    r->before[i] = frnd(n, 0.5);
    return r->grad[i] = fcopy(r->before[i], n);
}

static double
ref_loss(const struct ref *r)
{
    r->fwd(r);
    double l = 0.0;
    for (int64_t j = 0; j < r->n_out; j++)
        l += r->out[j] * r->R[j];
    return l;
}

/* Every element of a small input; 400 of a large one, spread by a prime stride so that no
 * layout (heads, rows) aliases the sample. */
static void
check_grad(struct ref *r, int i, const char *op)
{
    double max_num = 0.0, max_diff = 0.0;
    int64_t n = r->n[i], count = PD_MIN(n, 400);
    for (int64_t c = 0; c < count; c++) {
        int64_t j = n > count ? c * 7919 % n : c;
        double s = r->in[i][j], h = 1e-5 * fmax(1.0, fabs(s));
        r->in[i][j] = s + h;
        double lp = ref_loss(r);
        r->in[i][j] = s - h;
        double lm = ref_loss(r);
        r->in[i][j] = s;
        double num = (lp - lm) / (2.0 * h);
        double ana = (double)r->grad[i][j] - (r->before[i] ? r->before[i][j] : 0.0);
        max_num = fmax(max_num, fabs(num));
        max_diff = fmax(max_diff, fabs(num - ana));
    }
    double rel = max_diff / fmax(max_num, 1e-30);
    worst_grad = fmax(worst_grad, rel);
    ok(rel < GRAD_TOL && max_num > 0.0, "%s: %s matches central differences (rel err %.1e)", op,
       r->name[i], rel);
}

/* The forward against the reference, then every named gradient against central differences. */
static void
ref_check(struct ref *r, const float *out, double tol, const char *op)
{
    r->fwd(r);
    double max_ref = 0.0, max_diff = 0.0;
    for (int64_t j = 0; j < r->n_out; j++) {
        max_ref = fmax(max_ref, fabs(r->out[j]));
        max_diff = fmax(max_diff, fabs(r->out[j] - out[j]));
    }
    double rel = max_diff / fmax(max_ref, 1e-30);
    ok(rel < tol, "%s: forward matches the double reference (rel err %.1e)", op, rel);
    for (int i = 0; i < r->n_in; i++)
        if (r->name[i])
            check_grad(r, i, op);
}

/* ---- double references ----------------------------------------------------------------------- */

static void
d_linear(double *y, const double *x, const double *W, const double *b, int64_t N, int64_t n_in,
         int64_t n_out)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < n_in; i++)
                s += x[n * n_in + i] * W[o * n_in + i];
            y[n * n_out + o] = s;
        }
}

static void
d_rmsnorm(double *y, const double *x, const double *w, int64_t N, int64_t E, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        double ss = 0.0;
        for (int64_t i = 0; i < E; i++)
            ss += x[n * E + i] * x[n * E + i];
        double r = 1.0 / sqrt(ss / E + eps);
        for (int64_t i = 0; i < E; i++)
            y[n * E + i] = x[n * E + i] * r * w[i];
    }
}

/* The textbook rotation: theta_i = pos * base^(-2i / n_rot). */
static void
d_rope(double *x, const int32_t *pos, int64_t N, int64_t ld, int n_head, int64_t hs, int n_rot,
       bool neox, double base)
{
    int half = n_rot / 2;
    for (int64_t n = 0; n < N; n++)
        for (int h = 0; h < n_head; h++) {
            double *xh = x + n * ld + h * hs;
            for (int i = 0; i < half; i++) {
                double th = pos[n] * pow(base, -2.0 * i / n_rot);
                int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
                double x0 = xh[a], x1 = xh[b];
                xh[a] = x0 * cos(th) - x1 * sin(th);
                xh[b] = x0 * sin(th) + x1 * cos(th);
            }
        }
}

static void
d_attn(double *out, const double *q, const double *k, const double *kr, const double *v,
       const struct pd_tr_attn *a)
{
    int Dq = a->Dk + a->Dr, group = a->H / a->Hkv;
    double s[128];
    PD_ASSERT(a->T <= 128);
    for (int64_t b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int64_t t = 0; t < a->T; t++) {
                const double *qt = q + ((b * a->T + t) * a->H + h) * Dq;
                double max = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j <= t; j++) {
                    const double *kj = k + ((b * a->T + j) * a->Hkv + h / group) * a->Dk;
                    double d = 0.0;
                    for (int i = 0; i < a->Dk; i++)
                        d += qt[i] * kj[i];
                    for (int i = 0; i < a->Dr; i++)
                        d += qt[a->Dk + i] * kr[(b * a->T + j) * a->Dr + i];
                    s[j] = d * a->scale;
                    max = fmax(max, s[j]);
                }
                for (int64_t j = 0; j <= t; j++)
                    sum += s[j] = exp(s[j] - max);
                double *o = out + ((b * a->T + t) * a->H + h) * a->Dv;
                for (int i = 0; i < a->Dv; i++)
                    o[i] = 0.0;
                for (int64_t j = 0; j <= t; j++)
                    for (int i = 0; i < a->Dv; i++)
                        o[i] += s[j] / sum * v[((b * a->T + j) * a->Hkv + h / group) * a->Dv + i];
            }
}

/* ---- embedding, RMSNorm, SwiGLU, linear ------------------------------------------------------ */

struct dims { int64_t N, a, b; const int32_t *ids; double eps; };

static void
embed_ref(const struct ref *r)
{
    const struct dims *d = r->p;
    for (int64_t n = 0; n < d->N; n++)
        for (int64_t i = 0; i < d->a; i++)
            r->out[n * d->a + i] = r->in[0][(int64_t)d->ids[n] * d->a + i];
}

static void
check_embed(void)
{
    enum { V = 7, E = 5, N = 6 };
    const int32_t ids[N] = { 3, 0, 6, 3, 3, 1 };   /* repeats: the scatter must add */
    struct dims d = { .N = N, .a = E, .ids = ids };
    float *table = frnd(V * E, 1), *out = fz(N * E);
    char err[PD_ERR_MAX];
    struct ref r;
    ref_init(&r, embed_ref, &d, N * E);
    float *dtable = ref_in(&r, "dtable", table, V * E);
    is_int(pd_tr_embed_forward(out, table, ids, N, E, V, err), 0, "embed: forward");
    pd_tr_embed_backward(dtable, r.Rf, ids, N, E);
    ref_check(&r, out, 1e-12, "embed");
    const int32_t bad[1] = { V };
    ok(pd_tr_embed_forward(out, table, bad, 1, E, V, err) == PD_EINVAL && strstr(err, "id 7"),
       "embed: an id outside the vocabulary is refused (%s)", err);
    tmp_free();
}

static void
rmsnorm_ref(const struct ref *r)
{
    const struct dims *d = r->p;
    d_rmsnorm(r->out, r->in[0], r->in[1], d->N, d->a, d->eps);
}

static void
check_rmsnorm(void)
{
    enum { N = 3, E = 16 };
    struct dims d = { .N = N, .a = E, .eps = 1e-5 };
    float *x = frnd(N * E, 2), *w = frnd(E, 1), *out = fz(N * E);
    float *rstd = fz(N), *inf = fz(E);
    x[0] = 1e-3f;
    struct ref r;
    ref_init(&r, rmsnorm_ref, &d, N * E);
    float *dx = ref_in(&r, "dx", x, N * E), *dw = ref_in(&r, "dw", w, E);
    pd_tr_rmsnorm_forward(out, rstd, x, w, N, E, 1e-5f);
    pd_tr_rmsnorm_backward(dx, dw, r.Rf, x, w, rstd, N, E);
    ref_check(&r, out, FWD_TOL, "rmsnorm");
    pd_rmsnorm(inf, x + E, w, E, 1e-5f);
    ok(memcmp(inf, out + E, sizeof(float) * E) == 0, "rmsnorm: bit-identical to inference's");
    tmp_free();
}

static void
swiglu_ref(const struct ref *r)
{
    for (int64_t i = 0; i < r->n_out; i++) {
        double g = r->in[0][i];
        r->out[i] = g / (1.0 + exp(-g)) * r->in[1][i];
    }
}

static void
check_swiglu(void)
{
    enum { n = 24 };
    float *gate = frnd(n, 4), *up = frnd(n, 2), *out = fz(n);
    float *inf = fz(n);
    struct ref r;
    ref_init(&r, swiglu_ref, NULL, n);
    float *dg = ref_in(&r, "dgate", gate, n), *du = ref_in(&r, "dup", up, n);
    pd_tr_swiglu_forward(out, gate, up, n);
    pd_tr_swiglu_backward(dg, du, r.Rf, gate, up, n);
    ref_check(&r, out, FWD_TOL, "swiglu");
    pd_swiglu(inf, gate, up, n);
    ok(memcmp(inf, out, sizeof(float) * n) == 0, "swiglu: bit-identical to inference's");
    tmp_free();
}

static void
linear_ref(const struct ref *r)
{
    const struct dims *d = r->p;
    d_linear(r->out, r->in[0], r->in[1], r->in[2], d->N, d->a, d->b);
}

static void
check_linear(void)
{
    enum { N = 13, I = 29, O = 19 };
    struct dims d = { .N = N, .a = I, .b = O };
    float *x = frnd(N * I, 1), *W = frnd(O * I, 1), *b = frnd(O, 1);
    float *y = fz(N * O);
    struct ref r;
    ref_init(&r, linear_ref, &d, N * O);
    float *dx = ref_in(&r, "dx", x, N * I), *dW = ref_in(&r, "dW", W, O * I);
    float *db = ref_in(&r, "db", b, O);
    pd_tr_linear_forward(pool, y, x, W, b, N, I, O);
    pd_tr_linear_backward(pool, dx, dW, db, r.Rf, x, W, N, I, O);
    ref_check(&r, y, FWD_TOL, "linear");
    tmp_free();
}

/* The blocked product in all four transpose combinations, at sizes that cross every block edge
 * (K > KC, M > MC, N > NC, none a multiple of the micro-tile), threaded, against double; with
 * each micro-kernel this CPU has. */
static void
check_gemm(const char *kernel)
{
    enum { M = 203, N = 141, K = 300 };
    float *A = frnd(M * K, 1), *B = frnd(K * N, 1), *C = fz(M * N);
    double worst = 0.0;
    if (kernel)
        setenv("PONDER_TRAIN_KERNEL", kernel, 1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *C0 = frnd(M * N, 1);
            memcpy(C, C0, sizeof(float) * M * N);
            pd_tr_gemm(pool, C, N, A, ta ? M : K, ta, B, tb ? K : N, tb, M, N, K);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = C0[i * N + j];
                    for (int64_t k = 0; k < K; k++)
                        s += (double)A[ta ? k * M + i : i * K + k] *
                             B[tb ? j * K + k : k * N + j];
                    worst = fmax(worst, fabs(s - C[i * N + j]));
                }
        }
    unsetenv("PONDER_TRAIN_KERNEL");
    ok(worst < 1e-3, "gemm (%s kernel): C += op(A) op(B), all four transposes, 203x141x300 on "
       "%d threads (max err %.1e)", kernel ? kernel : "best", pd_threadpool_size(pool), worst);
    tmp_free();
}

static void
bench_linear(void)
{
    enum { N = 1024, I = 512, O = 512 };
    float *x = frnd(N * I, 1), *W = frnd(O * I, 1), *y = fz(N * O);
    float *dx = fz(N * I), *dW = fz(O * I);
    double t0 = pd_time_now();
    pd_tr_linear_forward(pool, y, x, W, NULL, N, I, O);
    pd_tr_linear_backward(pool, dx, dW, NULL, y, x, W, N, I, O);
    double dt = pd_time_now() - t0;
    diag("linear 1024x512x512, forward and backward: %.1f ms, %.1f GFLOP/s on %d threads",
         dt * 1e3, 6.0 * N * I * O / dt * 1e-9, pd_threadpool_size(pool));
    tmp_free();
}

/* The vectorized exp helpers over a wide range, against double. */
static void
check_exp_rows(void)
{
    enum { n = 1003 };
    float *x = frnd(n, 40), *y = frnd(n, 1), *y0 = fcopy(y, n);
    double max = -INFINITY, sum = 0.0, es = 0.0, ea = 0.0;
    x[5] = 87.0f;   /* a large logit: shifted, nothing overflows */
    x[9] = -200.0f;
    float *s = fcopy(x, n);
    for (int i = 0; i < n; i++)
        max = fmax(max, 0.75 * x[i]);
    for (int i = 0; i < n; i++)
        sum += exp(0.75 * x[i] - max);
    pd_tr_softmax(s, n, 0.75f);
    pd_tr_exp_axpy(y, -0.5f, x, 3.0f, n);
    for (int i = 0; i < n; i++) {
        double p = exp(0.75 * x[i] - max) / sum, e = -0.5 * exp(x[i] - 3.0);
        es = fmax(es, fabs(s[i] - p) / fmax(p, 1e-30) * (p > 1e-30));
        ea = fmax(ea, fabs(y[i] - y0[i] - e) / fmax(fabs(e) + fabs(y0[i]), 1e-30));
    }
    double lse = (double)pd_tr_logsumexp(x, n), want = 0.0, m = -INFINITY;
    for (int i = 0; i < n; i++)
        m = fmax(m, x[i]);
    for (int i = 0; i < n; i++)
        want += exp(x[i] - m);
    want = m + log(want);
    ok(es < 1e-5 && ea < 1e-6 && fabs(lse - want) < 1e-5 * fabs(want),
       "exp rows: softmax (rel %.1e), exp axpy (rel %.1e), logsumexp (%.7g vs %.7g)", es, ea,
       lse, want);
    tmp_free();
}

/* ---- RoPE ------------------------------------------------------------------------------------ */

struct rope_p { int64_t N, ld, hs, off; int n_head, n_rot; bool neox; const int32_t *pos; };

static void
rope_ref(const struct ref *r)
{
    const struct rope_p *p = r->p;
    memcpy(r->out, r->in[0], sizeof(double) * r->n_out);
    d_rope(r->out + p->off, p->pos, p->N, p->ld, p->n_head, p->hs, p->n_rot, p->neox, 10000.0);
}

/* Rotate the last n_rot = 6 of each 10-wide head (MLA's layout), 3 heads a row. The backward
 * works in place: its buffer starts as dout and ends as dx. */
static void
check_rope(bool neox)
{
    enum { N = 4, H = 3, HS = 10, LD = H * HS, OFF = 4, ROT = 6 };
    const int32_t pos[N] = { 0, 5, 17, 3 };
    struct rope_p p = { .N = N, .ld = LD, .hs = HS, .off = OFF, .n_head = H, .n_rot = ROT,
                        .neox = neox, .pos = pos };
    struct pd_rope rp = pd_tr_rope_plain(ROT, neox, 10000.0f);
    float *x = frnd(N * LD, 1), *y = fcopy(x, N * LD);
    struct ref r;
    ref_init(&r, rope_ref, &p, N * LD);
    ref_in(&r, NULL, x, N * LD);
    r.name[0] = "dx";
    r.grad[0] = fcopy(r.Rf, N * LD);
    pd_tr_rope_forward(y + OFF, pos, &rp, N, LD, H, HS);
    pd_tr_rope_backward(r.grad[0] + OFF, pos, &rp, N, LD, H, HS);
    ref_check(&r, y, FWD_TOL, neox ? "rope neox" : "rope norm");
    tmp_free();
}

/* YaRN scales the rotation by its magnitude factor m; the backward must still be the exact
 * transpose: <R x, y> = <x, R^T y>. */
static void
check_rope_yarn(void)
{
    enum { N = 5, D = 16 };
    const int32_t pos[N] = { 1, 100, 2000, 7, 40000 };
    struct pd_rope rp = pd_tr_rope_plain(D, false, 10000.0f);
    rp.freq_scale = 0.25f;
    rp.ext_factor = 1.0f;
    rp.n_ctx_orig = 4096;
    float *x = frnd(N * D, 1), *y = frnd(N * D, 1), *rx = fcopy(x, N * D), *ry = fcopy(y, N * D);
    pd_tr_rope_forward(rx, pos, &rp, N, D, 1, D);
    pd_tr_rope_backward(ry, pos, &rp, N, D, 1, D);
    double a = 0.0, b = 0.0;
    for (int i = 0; i < N * D; i++) {
        a += (double)rx[i] * y[i];
        b += (double)x[i] * ry[i];
    }
    ok(fabs(a - b) < 1e-5 * (fabs(a) + 1.0), "rope yarn: the backward is the forward's transpose "
       "(%.7f vs %.7f)", a, b);
    tmp_free();
}

/* ---- attention ------------------------------------------------------------------------------- */

static void
attn_ref(const struct ref *r)
{
    d_attn(r->out, r->in[0], r->in[1], r->in[2], r->in[3], r->p);
}

static void
check_attn(const struct pd_tr_attn *a, const char *name)
{
    int64_t N = a->B * a->T, nq = N * a->H * (a->Dk + a->Dr), nk = N * a->Hkv * a->Dk;
    int64_t nr = N * a->Dr, nv = N * a->Hkv * a->Dv, no = N * a->H * a->Dv;
    float *q = frnd(nq, 1), *k = frnd(nk, 1), *kr = a->Dr ? frnd(nr, 1) : NULL;
    float *v = frnd(nv, 1), *out = fz(no);
    float *probs = fz(a->B * a->H * a->T * a->T);
    char err[PD_ERR_MAX];
    struct ref r;
    ref_init(&r, attn_ref, a, no);
    float *dq = ref_in(&r, "dq", q, nq), *dk = ref_in(&r, "dk", k, nk);
    float *dkr = ref_in(&r, "dkrope", kr, nr), *dv = ref_in(&r, "dv", v, nv);
    pd_tr_attn_forward(pool, out, probs, q, k, kr, v, a);
    is_int(pd_tr_attn_backward(pool, dq, dk, dkr, dv, r.Rf, probs, q, k, kr, v, a, err), 0,
           "%s: backward", name);
    ref_check(&r, out, FWD_TOL, name);
    if (a->Dr == 0 && a->Dk == a->Dv) {
        /* inference's kernel, head by head over the same keys and values */
        double worst = 0.0;
        float o[64], sc[128];
        int64_t kvs = (int64_t)a->Hkv * a->Dk;
        for (int64_t b = 0; b < a->B; b++)
            for (int h = 0; h < a->H; h++)
                for (int64_t t = 0; t < a->T; t++) {
                    int64_t row = b * a->T + t, g = h / (a->H / a->Hkv);
                    pd_attention_head_ref(o, sc, q + (row * a->H + h) * a->Dk,
                                          k + b * a->T * kvs + g * a->Dk,
                                          v + b * a->T * kvs + g * a->Dv, t + 1, a->Dk, a->Dv,
                                          kvs, a->scale);
                    for (int i = 0; i < a->Dv; i++)
                        worst = fmax(worst, fabs(o[i] - out[(row * a->H + h) * a->Dv + i]));
                }
        ok(worst < 1e-5, "%s: matches inference's attention kernel (max diff %.1e)", name, worst);
    }
    tmp_free();
}

/* ---- router and experts ---------------------------------------------------------------------- */

struct router_p { const struct pd_tr_router *r; const int32_t *ids; int64_t N; };

/* Softmax or sigmoid scores, in double. */
static void
d_scores(double *pr, const double *l, int X, bool sigmoid)
{
    double max = -INFINITY, sum = 0.0;
    for (int e = 0; e < X; e++)
        max = fmax(max, l[e]);
    for (int e = 0; e < X; e++)
        sum += pr[e] = sigmoid ? 1.0 / (1.0 + exp(-l[e])) : exp(l[e] - max);
    for (int e = 0; e < X && !sigmoid; e++)
        pr[e] /= sum;
}

/* The weights of the chosen experts (ids held fixed), in double. */
static void
router_ref(const struct ref *r)
{
    const struct router_p *p = r->p;
    int X = p->r->X, K = p->r->K;
    const int32_t *ids = p->ids;
    double pr[64];
    for (int64_t n = 0; n < p->N; n++) {
        d_scores(pr, r->in[0] + n * X, X, p->r->sigmoid);
        double s = 0.0;
        for (int k = 0; k < K; k++)
            s += pr[ids[n * K + k]];
        s = p->r->norm ? fmax(s, 6.1e-5) : 1.0;
        for (int k = 0; k < K; k++)
            r->out[n * K + k] = p->r->scale * pr[ids[n * K + k]] / s;
    }
}

/* The choice by the rules, in double: the best scores + bias, within the groups whose two best
 * sum highest. Returns how many tokens chose the same set as ids. */
static int
router_choice_ref(const double *logits, const float *bias, const struct pd_tr_router *r,
                  const int32_t *ids, int64_t N)
{
    int X = r->X, K = r->K, same = 0, per = r->n_groups > 1 ? X / r->n_groups : X;
    for (int64_t n = 0; n < N; n++) {
        double sel[64], gs[64];
        d_scores(sel, logits + n * X, X, r->sigmoid);
        for (int e = 0; e < X; e++)
            sel[e] += bias ? bias[e] : 0.0;
        for (int g = 0; g < X / per; g++) {
            double b1 = -INFINITY, b2 = -INFINITY;
            for (int e = g * per; e < (g + 1) * per; e++) {
                b2 = sel[e] > b1 ? b1 : fmax(b2, sel[e]);
                b1 = fmax(b1, sel[e]);
            }
            gs[g] = b1 + b2;
        }
        for (int g = 0; g < X / per && r->n_groups > 1; g++) {
            int better = 0;
            for (int o = 0; o < X / per; o++)
                better += gs[o] > gs[g];
            for (int e = g * per; e < (g + 1) * per && better >= r->n_groups_used; e++)
                sel[e] = -INFINITY;
        }
        bool all = true;
        for (int k = 0; k < K; k++) {
            int e = ids[n * K + k], better = 0;
            for (int o = 0; o < X; o++)
                better += sel[o] > sel[e];
            all &= better < K && sel[e] > -INFINITY;
        }
        same += all;
    }
    return same;
}

static void
check_router(const struct pd_tr_router *rt, bool with_bias, double logit_shift, const char *name)
{
    enum { N = 6 };
    int X = rt->X, K = rt->K;
    float *logits = frnd(N * X, 2), *bias = with_bias ? frnd(X, 0.3) : NULL;
    for (int i = 0; i < N * X; i++)
        logits[i] += (float)logit_shift;
    int32_t *ids = tmp(sizeof(int32_t) * N * K), *ids0 = tmp(sizeof(int32_t) * N * K);
    float *w = fz(N * K), *probs = fz(N * X);
    struct router_p p = { .r = rt, .ids = ids, .N = N };
    struct ref r;
    ref_init(&r, router_ref, &p, N * K);
    float *dl = ref_in(&r, "dlogits", logits, N * X);
    pd_tr_router_forward(ids, w, probs, logits, bias, rt, N);
    pd_tr_router_backward(dl, r.Rf, ids, probs, rt, N);
    bool sorted = true;
    for (int n = 0; n < N; n++)
        for (int k = 1; k < K; k++)
            sorted &= w[n * K + k - 1] >= w[n * K + k];
    ok(router_choice_ref(r.in[0], bias, rt, ids, N) == N && sorted, "%s: the choice follows the "
       "rules; weights in decreasing order", name);
    ref_check(&r, w, FWD_TOL, name);
    if (with_bias || rt->n_groups > 1) {
        /* the bias and the groups must have moved some choice, or this case tests nothing */
        struct pd_tr_router plain = *rt;
        plain.n_groups = 0;
        pd_tr_router_forward(ids0, w, probs, logits, NULL, &plain, N);
        ok(memcmp(ids0, ids, sizeof(int32_t) * N * K) != 0, "%s: the %s the choice", name,
           rt->n_groups > 1 ? "bias and groups change" : "bias changes");
        if (rt->n_groups > 1) {
            pd_tr_router_forward(ids0, w, probs, logits, bias, &plain, N);
            ok(memcmp(ids0, ids, sizeof(int32_t) * N * K) != 0, "%s: the groups alone change "
               "the choice", name);
        }
    }
    tmp_free();
}

struct moe_p { const int32_t *token_row, *row_token; int64_t N; int K; int64_t E; };

static void
combine_ref(const struct ref *r)
{
    const struct moe_p *p = r->p;
    for (int64_t t = 0; t < p->N; t++)
        for (int64_t i = 0; i < p->E; i++) {
            double s = 0.0;
            for (int k = 0; k < p->K; k++)
                s += r->in[1][t * p->K + k] * r->in[0][p->token_row[t * p->K + k] * p->E + i];
            r->out[t * p->E + i] = s;
        }
}

static void
gather_ref(const struct ref *r)
{
    const struct moe_p *p = r->p;
    for (int64_t row = 0; row < p->N * p->K; row++)
        for (int64_t i = 0; i < p->E; i++)
            r->out[row * p->E + i] = r->in[0][p->row_token[row] * p->E + i];
}

static void
check_moe_plumbing(void)
{
    enum { N = 5, K = 2, X = 4, E = 3 };
    const int32_t ids[N * K] = { 2, 0, 1, 2, 2, 3, 0, 2, 1, 3 };
    int32_t offset[X + 1], row_token[N * K], token_row[N * K];
    char err[PD_ERR_MAX];
    is_int(pd_tr_moe_group(offset, row_token, token_row, ids, N, K, X, err), 0, "moe: group");
    bool good = offset[0] == 0 && offset[X] == N * K;
    for (int e = 0; e < X; e++)
        for (int row = offset[e]; row < offset[e + 1]; row++)
            good &= row == offset[e] || row_token[row] > row_token[row - 1];
    for (int i = 0; i < N * K; i++)
        good &= row_token[token_row[i]] == i / K && token_row[i] >= offset[ids[i]] &&
                token_row[i] < offset[ids[i] + 1];
    ok(good, "moe: rows grouped by expert, in token order, and back");
    const int32_t bad[2] = { 0, X };
    ok(pd_tr_moe_group(offset, row_token, token_row, bad, 1, 2, X, err) == PD_EINVAL,
       "moe: an expert id out of range is refused (%s)", err);

    struct moe_p p = { .token_row = token_row, .row_token = row_token, .N = N, .K = K, .E = E };
    float *x = frnd(N * E, 1), *rx = fz(N * K * E);
    struct ref r;
    ref_init(&r, gather_ref, &p, N * K * E);
    float *dx = ref_in(&r, "dx", x, N * E);
    pd_tr_moe_gather_forward(rx, x, row_token, N * K, E);
    pd_tr_moe_gather_backward(dx, r.Rf, row_token, N * K, E);
    ref_check(&r, rx, 1e-12, "moe gather");

    float *y = frnd(N * K * E, 1), *w = frnd(N * K, 1), *out = fz(N * E);
    ref_init(&r, combine_ref, &p, N * E);
    float *dy = ref_in(&r, "dy", y, N * K * E), *dw = ref_in(&r, "dweights", w, N * K);
    pd_tr_moe_combine_forward(out, y, w, token_row, N, K, E);
    pd_tr_moe_combine_backward(dy, dw, r.Rf, y, w, token_row, N, K, E);
    ref_check(&r, out, FWD_TOL, "moe combine");
    tmp_free();
}

/* ---- log-softmax and cross-entropy ----------------------------------------------------------- */

struct xent_p { const int32_t *targets; int64_t N, V; bool mean; };

static void
xent_ref(const struct ref *r)
{
    const struct xent_p *p = r->p;
    double sum = 0.0;
    int64_t c = 0;
    for (int64_t n = 0; n < p->N; n++) {
        const double *l = r->in[0] + n * p->V;
        double max = -INFINITY, s = 0.0;
        for (int64_t v = 0; v < p->V; v++)
            max = fmax(max, l[v]);
        for (int64_t v = 0; v < p->V; v++)
            s += exp(l[v] - max);
        double lp = p->targets[n] >= 0 ? l[p->targets[n]] - max - log(s) : 0.0;
        if (!p->mean)
            r->out[n] = lp;
        sum -= lp;
        c += p->targets[n] >= 0;
    }
    if (p->mean)
        r->out[0] = sum / c;
}

static void
check_xent(void)
{
    enum { N = 7, V = 11 };
    const int32_t targets[N] = { 3, -1, 10, 0, -1, 5, 5 };
    float *logits = frnd(N * V, 3), *logp = fz(N), *lse = fz(N);
    float loss;
    char err[PD_ERR_MAX];
    int64_t count;
    struct xent_p p = { .targets = targets, .N = N, .V = V, .mean = false };
    struct ref r;
    ref_init(&r, xent_ref, &p, N);
    float *dl = ref_in(&r, "dlogits", logits, N * V);
    is_int(pd_tr_logprob_forward(pool, logp, lse, logits, targets, N, V, err), 0, "logprob");
    pd_tr_logprob_backward(pool, dl, r.Rf, logits, lse, targets, N, V);
    ref_check(&r, logp, FWD_TOL, "logprob");

    struct xent_p pm = { .targets = targets, .N = N, .V = V, .mean = true };
    ref_init(&r, xent_ref, &pm, 1);
    dl = ref_in(&r, "dlogits", logits, N * V);
    is_int(pd_tr_xent_forward(pool, &loss, &count, logp, lse, logits, targets, N, V, err), 0,
           "xent: forward");
    is_int(count, 5, "xent: counts the 5 unmasked positions");
    pd_tr_xent_backward(pool, dl, r.Rf[0], logits, lse, targets, N, V);
    ref_check(&r, &loss, FWD_TOL, "xent");
    const int32_t bad[1] = { V };
    ok(pd_tr_xent_forward(pool, &loss, &count, logp, lse, logits, bad, 1, V, err) == PD_EINVAL,
       "xent: a target outside the vocabulary is refused (%s)", err);
    tmp_free();
}

/* ---- MLA, composed --------------------------------------------------------------------------- */

/*
 * DeepSeek's multi-head latent attention, unabsorbed (as it trains), from the ops above:
 *   q   = Wq_b rmsnorm(Wq_a x)          [N][H][Dn + Dr], RoPE on the trailing Dr of each head
 *   lat = rmsnorm(Wkv_a[:R] x)          [N][R]           kpe = RoPE(Wkv_a[R:] x)  [N][Dr]
 *   k   = Wk_b lat  [N][H][Dn]          v = Wv_b lat  [N][H][Dv]
 *   out = Wo attention(q, [k | kpe shared], v)
 */
struct mla_p { int64_t B, T; int E, H, Dn, Dr, Dv, R, Rq; float scale; const int32_t *pos; };

enum { M_X, M_WQA, M_QN, M_WQB, M_WKVA, M_KVN, M_WKB, M_WVB, M_WO, M_COUNT };

static void
mla_ref(const struct ref *r)
{
    const struct mla_p *p = r->p;
    int64_t N = p->B * p->T;
    int Dq = p->Dn + p->Dr, H = p->H, R = p->R, Dr = p->Dr;
    double *const *in = r->in;
    double qa[64 * 16] = { 0 }, q[64 * 32] = { 0 }, kva[64 * 16] = { 0 }, lat[64 * 16] = { 0 };
    double kpe[64 * 8] = { 0 }, k[64 * 16] = { 0 }, v[64 * 16] = { 0 }, o[64 * 16] = { 0 };
    PD_ASSERT(N <= 64 && p->Rq <= 16 && H * Dq <= 32 && R + Dr <= 16 && H * p->Dv <= 16);
    d_linear(qa, in[M_X], in[M_WQA], NULL, N, p->E, p->Rq);
    d_rmsnorm(qa, qa, in[M_QN], N, p->Rq, 1e-6);
    d_linear(q, qa, in[M_WQB], NULL, N, p->Rq, H * Dq);
    d_rope(q + p->Dn, p->pos, N, H * Dq, H, Dq, Dr, false, 10000.0);
    d_linear(kva, in[M_X], in[M_WKVA], NULL, N, p->E, R + Dr);
    for (int64_t n = 0; n < N; n++) {
        memcpy(lat + n * R, kva + n * (R + Dr), sizeof(double) * R);
        memcpy(kpe + n * Dr, kva + n * (R + Dr) + R, sizeof(double) * Dr);
    }
    d_rmsnorm(lat, lat, in[M_KVN], N, R, 1e-6);
    d_rope(kpe, p->pos, N, Dr, 1, Dr, Dr, false, 10000.0);
    d_linear(k, lat, in[M_WKB], NULL, N, R, H * p->Dn);
    d_linear(v, lat, in[M_WVB], NULL, N, R, H * p->Dv);
    struct pd_tr_attn a = { .B = p->B, .T = p->T, .H = H, .Hkv = H, .Dk = p->Dn, .Dr = Dr,
                            .Dv = p->Dv, .scale = p->scale };
    d_attn(o, q, k, kpe, v, &a);
    d_linear(r->out, o, in[M_WO], NULL, N, H * p->Dv, p->E);
}

static void
check_mla(void)
{
    enum { B = 2, T = 4, N = B * T, E = 12, H = 2, Dn = 4, Dr = 2, Dq = Dn + Dr, Dv = 3, R = 5,
           Rq = 6 };
    const int32_t pos[N] = { 0, 1, 2, 3, 0, 1, 2, 3 };
    struct mla_p p = { .B = B, .T = T, .E = E, .H = H, .Dn = Dn, .Dr = Dr, .Dv = Dv, .R = R,
                       .Rq = Rq, .scale = 0.37f, .pos = pos };
    const int64_t size[M_COUNT] = { N * E, Rq * E, Rq, H * Dq * Rq, (R + Dr) * E, R,
                                    H * Dn * R, H * Dv * R, E * H * Dv };
    static const char *const names[M_COUNT] = { "dx", "dWq_a", "dq_a_norm", "dWq_b", "dWkv_a",
                                                "dkv_a_norm", "dWk_b", "dWv_b", "dWo" };
    float *w[M_COUNT], *g[M_COUNT];
    struct ref r;
    ref_init(&r, mla_ref, &p, N * E);
    for (int i = 0; i < M_COUNT; i++) {
        w[i] = frnd(size[i], i == M_QN || i == M_KVN ? 1.5 : 0.6);
        g[i] = ref_in(&r, names[i], w[i], size[i]);
    }
    struct pd_rope rp = pd_tr_rope_plain(Dr, false, 10000.0f);
    struct pd_tr_attn a = { .B = B, .T = T, .H = H, .Hkv = H, .Dk = Dn, .Dr = Dr, .Dv = Dv,
                            .scale = p.scale };
    float *qa = fz(N * Rq), *rq = fz(N), *qan = fz(N * Rq), *q = fz(N * H * Dq);
    float *lat = fz(N * R), *kpe = fz(N * Dr), *rl = fz(N), *latn = fz(N * R);
    float *k = fz(N * H * Dn), *v = fz(N * H * Dv), *probs = fz(B * H * T * T);
    float *o = fz(N * H * Dv), *out = fz(N * E), *dO = fz(N * H * Dv), *dqa = fz(N * Rq);
    float *dqan = fz(N * Rq), *dq = fz(N * H * Dq), *dlat = fz(N * R), *dkpe = fz(N * Dr);
    float *dlatn = fz(N * R), *dk = fz(N * H * Dn), *dv = fz(N * H * Dv);
    /* forward */
    pd_tr_linear_forward(pool, qa, w[M_X], w[M_WQA], NULL, N, E, Rq);
    pd_tr_rmsnorm_forward(qan, rq, qa, w[M_QN], N, Rq, 1e-6f);
    pd_tr_linear_forward(pool, q, qan, w[M_WQB], NULL, N, Rq, H * Dq);
    pd_tr_rope_forward(q + Dn, pos, &rp, N, H * Dq, H, Dq);
    pd_tr_linear_forward(pool, lat, w[M_X], w[M_WKVA], NULL, N, E, R);
    pd_tr_linear_forward(pool, kpe, w[M_X], w[M_WKVA] + R * E, NULL, N, E, Dr);
    pd_tr_rope_forward(kpe, pos, &rp, N, Dr, 1, Dr);
    pd_tr_rmsnorm_forward(latn, rl, lat, w[M_KVN], N, R, 1e-6f);
    pd_tr_linear_forward(pool, k, latn, w[M_WKB], NULL, N, R, H * Dn);
    pd_tr_linear_forward(pool, v, latn, w[M_WVB], NULL, N, R, H * Dv);
    pd_tr_attn_forward(pool, o, probs, q, k, kpe, v, &a);
    pd_tr_linear_forward(pool, out, o, w[M_WO], NULL, N, H * Dv, E);
    /* backward, in reverse */
    pd_tr_linear_backward(pool, dO, g[M_WO], NULL, r.Rf, o, w[M_WO], N, H * Dv, E);
    char err[PD_ERR_MAX];
    PD_ASSERT(pd_tr_attn_backward(pool, dq, dk, dkpe, dv, dO, probs, q, k, kpe, v, &a, err) == 0);
    pd_tr_linear_backward(pool, dlatn, g[M_WVB], NULL, dv, latn, w[M_WVB], N, R, H * Dv);
    pd_tr_linear_backward(pool, dlatn, g[M_WKB], NULL, dk, latn, w[M_WKB], N, R, H * Dn);
    pd_tr_rmsnorm_backward(dlat, g[M_KVN], dlatn, lat, w[M_KVN], rl, N, R);
    pd_tr_rope_backward(dkpe, pos, &rp, N, Dr, 1, Dr);
    pd_tr_linear_backward(pool, g[M_X], g[M_WKVA] + R * E, NULL, dkpe, w[M_X], w[M_WKVA] + R * E,
                          N, E, Dr);
    pd_tr_linear_backward(pool, g[M_X], g[M_WKVA], NULL, dlat, w[M_X], w[M_WKVA], N, E, R);
    pd_tr_rope_backward(dq + Dn, pos, &rp, N, H * Dq, H, Dq);
    pd_tr_linear_backward(pool, dqan, g[M_WQB], NULL, dq, qan, w[M_WQB], N, Rq, H * Dq);
    pd_tr_rmsnorm_backward(dqa, g[M_QN], dqan, qa, w[M_QN], rq, N, Rq);
    pd_tr_linear_backward(pool, g[M_X], g[M_WQA], NULL, dqa, w[M_X], w[M_WQA], N, E, Rq);
    ref_check(&r, out, FWD_TOL, "mla composed");
    tmp_free();
}

/* ---- the optimizer --------------------------------------------------------------------------- */

static void
check_adamw(void)
{
    enum { n = 6, STEPS = 4 };
    const struct pd_adamw h = { .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f };
    const float lr[STEPS] = { 1e-2f, 3e-2f, 2e-2f, 5e-3f };
    float *w = frnd(n, 1), *m = fz(n), *v = fz(n);
    double dw[n], dm[n] = { 0 }, dv[n] = { 0 }, w0[n], worst = 0.0, moved = 0.0;
    for (int i = 0; i < n; i++)
        w0[i] = dw[i] = w[i];
    for (int t = 1; t <= STEPS; t++) {
        float *g = frnd(n, 1);
        g[0] = 0.0f;   /* a parameter with no gradient still decays */
        pd_optim_adamw_step(w, m, v, g, n, &h, lr[t - 1], t);
        for (int i = 0; i < n; i++) {
            dw[i] *= 1.0 - (double)lr[t - 1] * h.weight_decay;
            dm[i] = h.beta1 * dm[i] + (1.0 - h.beta1) * g[i];
            dv[i] = h.beta2 * dv[i] + (1.0 - h.beta2) * (double)g[i] * g[i];
            double mhat = dm[i] / (1.0 - pow(h.beta1, t)), vhat = dv[i] / (1.0 - pow(h.beta2, t));
            dw[i] -= lr[t - 1] * mhat / (sqrt(vhat) + h.eps);
        }
    }
    for (int i = 0; i < n; i++) {
        worst = fmax(worst, fabs(w[i] - dw[i]));
        moved = fmax(moved, fabs(w0[i] - dw[i]));
    }
    ok(worst < 1e-5 * moved, "adamw: %d steps match the double reference (err %.1e of a move of "
       "%.1e)", STEPS, worst, moved);
    tmp_free();
}

static void
check_clip(void)
{
    float a[3] = { 3, 0, 0 }, b[2] = { 0, 4 };
    float *g[2] = { a, b };
    const int64_t n[2] = { 3, 2 };
    double norm = pd_optim_grad_clip(g, n, 2, 1.0f);
    double after = pd_optim_grad_norm(g, n, 2);
    ok(fabs(norm - 5.0) < 1e-9 && fabs(after - 1.0) < 1e-5 && fabs(a[0] - 0.6f) < 1e-6,
       "clip: norm 5 clipped to 1 (now %.6f), direction kept", after);
    float keep = a[0];
    norm = pd_optim_grad_clip(g, n, 2, 2.0f);
    ok(fabs(norm - after) < 1e-9 && a[0] == keep, "clip: a norm under the limit is left alone");
    b[1] = INFINITY;
    ok(isinf(pd_optim_grad_clip(g, n, 2, 1.0f)) && a[0] == keep, "clip: an infinite norm is "
       "reported, nothing scaled");
}

static void
check_schedule(void)
{
    const struct pd_lr_schedule s = { .peak = 1e-3f, .floor = 1e-4f, .warmup = 10, .total = 110 };
    bool warm = true, decay = true;
    for (int i = 1; i < 10; i++)
        warm &= pd_optim_lr(&s, i) > pd_optim_lr(&s, i - 1);
    for (int i = 11; i <= 110; i++)
        decay &= pd_optim_lr(&s, i) < pd_optim_lr(&s, i - 1);
    ok(warm && fabs(pd_optim_lr(&s, 0) - 1e-4) < 1e-9 && fabs(pd_optim_lr(&s, 4) - 5e-4) < 1e-9,
       "schedule: linear warmup from peak/warmup");
    ok(fabs(pd_optim_lr(&s, 9) - 1e-3) < 1e-9 && fabs(pd_optim_lr(&s, 10) - 1e-3) < 1e-9,
       "schedule: peak at the end of warmup");
    ok(decay && fabs(pd_optim_lr(&s, 60) - 5.5e-4) < 1e-8, "schedule: cosine decay, halfway at "
       "the midpoint (%g)", pd_optim_lr(&s, 60));
    ok(pd_optim_lr(&s, 110) == 1e-4f && pd_optim_lr(&s, 500) == 1e-4f && pd_optim_lr(&s, 109) >
       1e-4f, "schedule: the floor from the last step on");
}

/* A router that sends most tokens to experts 0 and 1: balancing must even the load out. */
static void
check_balance(void)
{
    enum { N = 256, X = 8, K = 2, STEPS = 300 };
    const struct pd_tr_router rt = { .X = X, .K = K, .sigmoid = true, .norm = true,
                                     .scale = 1.0f };
    float *logits = frnd(N * X, 1), *bias = fz(X), load[X];
    float *w = fz(N * K), *probs = fz(N * X);
    int32_t *ids = tmp(sizeof(int32_t) * N * K);
    for (int n = 0; n < N; n++) {
        logits[n * X + 0] += 2.5f;
        logits[n * X + 1] += 2.0f;
    }
    pd_tr_router_forward(ids, w, probs, logits, bias, &rt, N);
    float before = pd_tr_expert_load(load, ids, N, K, X), l0 = load[0], after = before;
    float sum = 0.0f;
    for (int e = 0; e < X; e++)
        sum += load[e];
    for (int s = 0; s < STEPS; s++) {
        pd_tr_router_forward(ids, w, probs, logits, bias, &rt, N);
        after = pd_tr_expert_load(load, ids, N, K, X);
        pd_optim_balance(bias, load, X, 1e-3f);
    }
    ok(fabs(sum - 1.0f) < 1e-6 && l0 > 0.4f, "balance: load shares sum to 1; expert 0 starts "
       "with %.2f of the load", l0);
    ok(after < 1.25f && after < before / 2 && bias[0] < 0.0f && bias[7] > 0.0f,
       "balance: imbalance (max/mean load) %.2f -> %.2f after %d steps", before, after, STEPS);
    diag("expert load after balancing: %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f", load[0],
         load[1], load[2], load[3], load[4], load[5], load[6], load[7]);
    tmp_free();
}

int
main(void)
{
    pool = pd_threadpool_new(2);
    PD_ASSERT(pool);
    check_embed();
    check_rmsnorm();
    check_swiglu();
    check_linear();
    check_gemm("generic");
    check_gemm("avx2");
    check_gemm(NULL);
    check_exp_rows();
    check_rope(false);
    check_rope(true);
    check_rope_yarn();
    struct pd_tr_attn gqa = { .B = 2, .T = 5, .H = 4, .Hkv = 2, .Dk = 8, .Dv = 8,
                              .scale = 0.35355339f };
    check_attn(&gqa, "attention gqa");
    struct pd_tr_attn mha = { .B = 3, .T = 4, .H = 3, .Hkv = 3, .Dk = 4, .Dr = 2, .Dv = 5,
                              .scale = 0.5f };
    check_attn(&mha, "attention with a shared rope key");
    struct pd_tr_attn gqa2 = { .B = 1, .T = 70, .H = 2, .Hkv = 1, .Dk = 4, .Dv = 4,
                               .scale = 0.5f };
    check_attn(&gqa2, "attention over two blocks");
    struct pd_tr_attn mha2 = { .B = 1, .T = 67, .H = 2, .Hkv = 2, .Dk = 3, .Dr = 2, .Dv = 3,
                               .scale = 0.45f };
    check_attn(&mha2, "attention over two blocks, shared rope key");
    struct pd_tr_router soft = { .X = 8, .K = 3, .norm = true, .scale = 1.0f };
    check_router(&soft, false, 0.0, "router softmax norm");
    struct pd_tr_router soft_raw = { .X = 8, .K = 2, .scale = 1.0f };
    check_router(&soft_raw, true, 0.0, "router softmax bias");
    struct pd_tr_router sig = { .X = 8, .K = 3, .sigmoid = true, .norm = true, .scale = 2.5f };
    check_router(&sig, true, 0.0, "router sigmoid norm bias scale");
    struct pd_tr_router grouped = { .X = 16, .K = 4, .sigmoid = true, .norm = true, .scale = 1.5f,
                                    .n_groups = 4, .n_groups_used = 2 };
    check_router(&grouped, true, 0.0, "router sigmoid groups");
    check_router(&sig, false, -14.0, "router sigmoid at the floor");
    check_moe_plumbing();
    check_xent();
    check_mla();
    check_adamw();
    check_clip();
    check_schedule();
    check_balance();
    bench_linear();
    diag("worst relative gradient error: %.2e", worst_grad);
    pd_threadpool_free(pool);
    return exit_status();
}
