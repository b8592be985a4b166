/*
 * test-repack.c: Q4_0 weights interleaved eight rows at a time (kernels/cpu/repack.h) against
 * the rows they were made from.
 *
 * What is checked, and how close counts as equal:
 *   - this CPU's repack and the activations' side table write the plain-C bytes;
 *   - the plain-C eight-row kernels (one and four activation rows) give exactly the floats of
 *     pd_vec_dot_ref on the original rows: same integer sums, same float operations;
 *   - this CPU's kernels (AVX2 where there is one) against the plain-C dot, within REPACK_TOL of
 *     sum |w a| (float rounding order only);
 *   - pd_matmul with a repacked weight against pd_matmul on its rows: T = 1, 3, 4, 5, 17
 *     activation rows, 1 to 3 threads, several shapes, and the expert slices of a 3-D weight
 *     whose experts lie apart in memory, within REPACK_TOL;
 *   - a matrix whose rows do not divide by 8, or of another type, is not repackable, and
 *     pd_matmul keeps the rows of one even when handed a copy;
 *   - a deliberate fault: one byte changed in a repacked copy must fail the same comparison.
 * The worst differences are printed as diagnostics.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

#define REPACK_TOL 2e-5
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t seed = 7;

static float
frand(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((seed >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* n_out random Q4_0 rows of n_in elements (rows of varied scale); caller frees. */
static char *
random_weights(int64_t n_in, int64_t n_out)
{
    size_t row = pd_type_row_size(PD_TYPE_Q4_0, n_in);
    char *w = malloc(row * (size_t)n_out);
    float *f = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t r = 0; r < n_out; r++) {
        for (int64_t i = 0; i < n_in; i++)
            f[i] = frand() * (1 + r % 5);
        pd_quantize_row(PD_TYPE_Q4_0, f, w + (size_t)r * row, n_in);
    }
    free(f);
    return w;
}

/* T random float activation rows; caller frees. */
static float *
random_acts(int64_t n_in, int64_t T)
{
    float *x = malloc(sizeof(float) * (size_t)(n_in * T));
    for (int64_t i = 0; i < n_in * T; i++)
        x[i] = frand() * 3;
    return x;
}

/* The repacked copy of n_out rows; caller frees. */
static char *
repacked(const char *w, int64_t n_in, int64_t n_out)
{
    char *p = malloc(pd_type_row_size(PD_TYPE_Q4_0, n_in) * (size_t)n_out);
    pd_repack_q4_0(p, w, n_in, 0, n_out / PD_REPACK_ROWS);
    return p;
}

/* sum |w a| over the dequantized operands: the scale errors are measured against. */
static double
magnitude(const char *wrow, const char *arow, int64_t n_in)
{
    float *wf = malloc(sizeof(float) * (size_t)n_in), *af = malloc(sizeof(float) * (size_t)n_in);
    pd_dequantize_row(PD_TYPE_Q4_0, wrow, wf, n_in);
    pd_dequantize_row(PD_TYPE_Q8_0, arow, af, n_in);
    double m = 0;
    for (int64_t i = 0; i < n_in; i++)
        m += fabs((double)wf[i] * af[i]);
    free(wf);
    free(af);
    return m;
}

/* This CPU's repack writes the plain-C bytes, for whole matrices and group ranges. */
static void
check_repack_bytes(void)
{
    enum { N_IN = 2080, N_OUT = 48 };
    const struct pd_repack_kernels *k = pd_repack_kernels_get(), *ref = pd_repack_kernels_ref();
    size_t size = pd_type_row_size(PD_TYPE_Q4_0, N_IN) * N_OUT;
    char *w = random_weights(N_IN, N_OUT), *a = calloc(1, size), *b = calloc(1, size);
    k->repack(a, w, N_IN, 0, 2);
    k->repack(a, w, N_IN, 2, N_OUT / PD_REPACK_ROWS);
    ref->repack(b, w, N_IN, 0, N_OUT / PD_REPACK_ROWS);
    ok(memcmp(a, b, size) == 0, "the %s repack writes the plain-C bytes", k->name);
    free(w);
    free(a);
    free(b);
}

static void
check_act_table(void)
{
    enum { N = 1024 };
    const struct pd_repack_kernels *k = pd_repack_kernels_get(), *ref = pd_repack_kernels_ref();
    size_t row = pd_repack_act_row_size(N);
    char *a = calloc(1, row), *b = calloc(1, row);
    float *x = random_acts(N, 1);
    pd_quantize_row(PD_TYPE_Q8_0, x, a, N);
    memcpy(b, a, row);
    k->act_finish(a, N);
    ref->act_finish(b, N);
    ok(memcmp(a, b, row) == 0, "the %s side table has the plain-C bytes", k->name);
    free(a);
    free(b);
    free(x);
}

/* The kernels k on one group set against pd_vec_dot_ref row by row; returns the worst error
 * relative to sum |w a|. */
static double
kernels_error(const struct pd_repack_kernels *k, int64_t n_in, int64_t n_out, bool four)
{
    size_t wrow = pd_type_row_size(PD_TYPE_Q4_0, n_in), arow = pd_repack_act_row_size(n_in);
    char *w = random_weights(n_in, n_out), *p = repacked(w, n_in, n_out);
    float *x = random_acts(n_in, 4);
    char *a = malloc(arow * 4);
    for (int j = 0; j < 4; j++) {
        pd_quantize_row(PD_TYPE_Q8_0, x + j * n_in, a + j * arow, n_in);
        pd_repack_kernels_ref()->act_finish(a + j * arow, n_in);
    }
    float y[4 * PD_REPACK_ROWS];
    double worst = 0;
    for (int64_t g = 0; g < n_out / PD_REPACK_ROWS; g++) {
        const char *wg = p + (size_t)g * pd_repack_group_size(n_in);
        if (four)
            k->gemm4(n_in, y, PD_REPACK_ROWS, wg, a, arow);
        else
            for (int j = 0; j < 4; j++)
                k->gemv(n_in, y + j * PD_REPACK_ROWS, wg, a + j * arow);
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < PD_REPACK_ROWS; r++) {
                const char *wr = w + (size_t)(g * PD_REPACK_ROWS + r) * wrow;
                float want;
                pd_vec_dot_ref(PD_TYPE_Q4_0, n_in, &want, wr, a + j * arow);
                double e = fabs((double)y[j * PD_REPACK_ROWS + r] - want);
                worst = fmax(worst, e == 0 ? 0 : e / magnitude(wr, a + j * arow, n_in));
            }
    }
    free(w);
    free(p);
    free(x);
    free(a);
    return worst;
}

static void
check_kernels(void)
{
    static const int64_t shapes[][2] = { { 32, 8 }, { 256, 16 }, { 1024, 24 }, { 2080, 8 } };
    const struct pd_repack_kernels *k = pd_repack_kernels_get(), *ref = pd_repack_kernels_ref();
    for (size_t s = 0; s < COUNT(shapes); s++) {
        int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        double e1 = kernels_error(ref, n_in, n_out, false), e4 = kernels_error(ref, n_in, n_out,
                                                                                true);
        ok(e1 == 0 && e4 == 0, "plain-C eight-row kernels equal the plain dot exactly, %lld x %lld "
           "(%.2g, %.2g)", (long long)n_out, (long long)n_in, e1, e4);
        e1 = kernels_error(k, n_in, n_out, false);
        e4 = kernels_error(k, n_in, n_out, true);
        ok(e1 < REPACK_TOL && e4 < REPACK_TOL, "%s eight-row kernels, %lld x %lld, one and four "
           "rows: %.2g, %.2g of sum |w a|", k->name, (long long)n_out, (long long)n_in, e1, e4);
    }
}

struct mm_job {
    struct pd_threadpool *tp;
    float *y;
    const char *w, *packed;
    void *xq;
    const float *x;
    int64_t n_in, n_out, T;
};

static void
mm_worker(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    pd_matmul_quantize(j->xq, j->x, PD_TYPE_Q8_0, j->n_in, j->T, ith, nth);
    pd_threadpool_barrier(j->tp);
    pd_matmul(j->y, j->n_out, j->w, j->packed, PD_TYPE_Q4_0, j->xq, PD_TYPE_Q8_0, NULL, j->n_in,
              j->n_out, j->T, ith, nth);
}

/* pd_matmul of x[T] with the rows w and with their copy p, on threads threads: the worst
 * difference relative to sum |w a|. */
static double
matmul_error(const char *w, const char *p, const float *x, int64_t n_in, int64_t n_out,
             int64_t T, int threads)
{
    float *y0 = malloc(sizeof(float) * (size_t)(n_out * T));
    float *y1 = malloc(sizeof(float) * (size_t)(n_out * T));
    struct mm_job j = { .tp = pd_threadpool_new(threads), .w = w, .x = x, .n_in = n_in,
                        .n_out = n_out, .T = T,
                        .xq = malloc(pd_matmul_act_size(PD_TYPE_Q8_0, n_in, T)) };
    j.y = y0;
    pd_threadpool_run(j.tp, mm_worker, &j);
    j.y = y1;
    j.packed = p;
    pd_threadpool_run(j.tp, mm_worker, &j);
    size_t wrow = pd_type_row_size(PD_TYPE_Q4_0, n_in);
    size_t arow = pd_matmul_act_row_size(PD_TYPE_Q8_0, n_in);
    double worst = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < n_out; r++) {
            double e = fabs((double)y1[t * n_out + r] - y0[t * n_out + r]);
            if (e > 0)
                e /= magnitude(w + (size_t)r * wrow, (const char *)j.xq + (size_t)t * arow, n_in);
            worst = fmax(worst, e);
        }
    pd_threadpool_free(j.tp);
    free(j.xq);
    free(y0);
    free(y1);
    return worst;
}

static void
check_matmul(void)
{
    static const int64_t shapes[][2] = { { 64, 8 }, { 512, 40 }, { 256, 72 } };
    static const int64_t Ts[] = { 1, 3, 4, 5, 17 };
    for (size_t s = 0; s < COUNT(shapes); s++) {
        int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        char *w = random_weights(n_in, n_out), *p = repacked(w, n_in, n_out);
        double worst = 0;
        for (size_t i = 0; i < COUNT(Ts); i++) {
            float *x = random_acts(n_in, Ts[i]);
            for (int threads = 1; threads <= 3; threads++)
                worst = fmax(worst, matmul_error(w, p, x, n_in, n_out, Ts[i], threads));
            free(x);
        }
        ok(worst < REPACK_TOL, "matmul %lld x %lld repacked, T = 1, 3, 4, 5, 17, 1-3 threads: "
           "%.2g of sum |w a|", (long long)n_out, (long long)n_in, worst);
        free(w);
        free(p);
    }
}

/* A 3-D weight as the MoE layers hold it: X experts of Fe rows each, lying stride bytes apart
 * (a gap between them, as in files with one tensor per expert), repacked expert after expert
 * with no gap; each expert's slice meets its own rows of activations. */
static void
check_experts(void)
{
    enum { X = 3, FE = 24, N_IN = 256 };
    static const int64_t rows[X] = { 1, 5, 17 };
    size_t matrix = pd_type_row_size(PD_TYPE_Q4_0, N_IN) * FE, stride = matrix + 4096;
    char *w = malloc(stride * X), *p = malloc(matrix * X);
    for (int e = 0; e < X; e++) {
        char *one = random_weights(N_IN, FE);
        memcpy(w + e * stride, one, matrix);
        free(one);
        pd_repack_q4_0(p + e * matrix, w + e * stride, N_IN, 0, FE / PD_REPACK_ROWS);
    }
    double worst = 0;
    for (int e = 0; e < X; e++) {
        float *x = random_acts(N_IN, rows[e]);
        worst = fmax(worst, matmul_error(w + e * stride, p + e * matrix, x, N_IN, FE, rows[e], 2));
        free(x);
    }
    ok(worst < REPACK_TOL, "expert slices of a 3-D weight, repacked: %.2g of sum |w a|", worst);
    free(w);
    free(p);
}

/* A weight whose rows do not divide by 8 keeps its rows even when pd_matmul is handed a copy (of
 * the first whole groups): the results are the rows' exactly. */
static void
check_unfit_matmul(void)
{
    enum { N_IN = 256, N_OUT = 44, T = 5 };
    char *w = random_weights(N_IN, N_OUT), *p = repacked(w, N_IN, N_OUT);
    float *x = random_acts(N_IN, T);
    double e = matmul_error(w, p, x, N_IN, N_OUT, T, 2);
    ok(e == 0, "matmul 44 x 256 (not whole groups) ignores a repacked copy (%.2g)", e);
    free(w);
    free(p);
    free(x);
}

static void
check_fits(void)
{
    ok(pd_repack_fits(PD_TYPE_Q4_0, 64, 16) && !pd_repack_fits(PD_TYPE_Q4_0, 64, 12) &&
       !pd_repack_fits(PD_TYPE_Q4_1, 64, 16) && !pd_repack_fits(PD_TYPE_Q8_0, 64, 16) &&
       !pd_repack_fits(PD_TYPE_Q4_0, 48, 16),
       "only Q4_0 matrices of whole blocks and whole groups of eight rows are repackable");
}

/* The checker must notice a wrong copy: one byte of row 13's nibbles changed. */
static void
check_fault(void)
{
    enum { N_IN = 512, N_OUT = 40, T = 5 };
    char *w = random_weights(N_IN, N_OUT), *p = repacked(w, N_IN, N_OUT);
    float *x = random_acts(N_IN, T);
    struct pd_block_q4_0x8 *b = (struct pd_block_q4_0x8 *)(p + pd_repack_group_size(N_IN));
    b[3].qs[(2 * PD_REPACK_ROWS + 5) * 4 + 1] ^= 0xFF;
    double e = matmul_error(w, p, x, N_IN, N_OUT, T, 2);
    ok(e > 100 * REPACK_TOL, "a repacked copy with one byte wrong is caught (%.2g)", e);
    free(w);
    free(p);
    free(x);
}

int
main(void)
{
    plan(1 + 1 + 8 + 3 + 1 + 1 + 1 + 1);
    diag("kernels on this CPU: %s", pd_repack_kernels_get()->name);
    check_repack_bytes();
    check_act_table();
    check_kernels();
    check_matmul();
    check_experts();
    check_unfit_matmul();
    check_fits();
    check_fault();
    return exit_status();
}
