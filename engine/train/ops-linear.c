/*
 * ops-linear.c: the float32 matrix product the trainer spends its time in, and the linear layer
 * (forward, and backward to its input, weight and bias) built on it.
 *
 * The product is blocked the way BLIS blocks one: C is cut into tiles of MC x NC, each tile owned
 * by one thread for all of K (so threads never write the same element and need no reduction);
 * for each KC-deep slice, the tile's block of A is packed into 6-row slivers and its block of B
 * into 16-column slivers, both k-major, so the micro-kernel reads two contiguous streams and keeps
 * a 6 x 16 block of C in twelve AVX registers (6 x 32 in twelve AVX-512 ones, where the CPU has
 * them). Packing is also where transposes happen, so the three products of a linear layer
 * (x.W^T, dy.W, dy^T.x) run on the same kernel.
 */
#include "config.h"

#include "engine/train/ops.h"
#include "kernels/cpu/threadpool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum {
    MR = 6,     /* micro-tile rows */
    NR_MAX = 32, /* micro-tile columns: 16 (AVX2, generic) or 32 (AVX-512) */
    KC = 256,   /* depth of one packed slice */
    MC = 96,    /* tile rows (a multiple of MR): A's packed block is MC x KC, 96 KiB */
    NC = 128,   /* tile columns (a multiple of NR): B's packed block is KC x NC, 128 KiB */
};

struct gemm_args {
    float *C;
    const float *A, *B;
    int64_t ldc, lda, ldb, M, N, K;
    bool trans_a, trans_b;
    int64_t mc, nc;             /* tile size, shrunk for small products so all threads work */
    int64_t tiles_m, tiles_n;
};

typedef void (*kernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                          int mr, int nr);

/* A micro-kernel and the width of its column slivers. */
struct kernel {
    kernel_fn fn;
    int nr;
};

/* Add the valid mr x nr corner of a full micro-tile acc (rows of NR_MAX) into C. */
static void
add_tile(float *c, int64_t ldc, const float acc[MR][NR_MAX], int mr, int nr)
{
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++)
            c[r * ldc + j] += acc[r][j];
}

static void
kernel_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr)
{
    float acc[MR][NR_MAX] = { { 0 } };
    for (int64_t k = 0; k < kc; k++, a += MR, b += 16)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < 16; j++)
                acc[r][j] += a[r] * b[j];
    add_tile(c, ldc, acc, mr, nr);
}

#if defined(__x86_64__)
/* Twelve accumulators: rows 0..5, column halves 0..7 and 8..15. */
static __attribute__((target("avx2,fma"))) void
kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++, a += MR, b += 16) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), av;
#define ROW(r)                                          \
        av = _mm256_broadcast_ss(a + r);                \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);     \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
    if (mr == MR && nr == 16) {
#define STORE(r)                                                                            \
        _mm256_storeu_ps(c + r * ldc, _mm256_add_ps(_mm256_loadu_ps(c + r * ldc), c##r##0)); \
        _mm256_storeu_ps(c + r * ldc + 8,                                                   \
                         _mm256_add_ps(_mm256_loadu_ps(c + r * ldc + 8), c##r##1));
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
        return;
    }
    float acc[MR][NR_MAX];
#define SPILL(r)                                        \
    _mm256_storeu_ps(acc[r], c##r##0);                  \
    _mm256_storeu_ps(acc[r] + 8, c##r##1);
    SPILL(0) SPILL(1) SPILL(2) SPILL(3) SPILL(4) SPILL(5)
#undef SPILL
    add_tile(c, ldc, (const float(*)[NR_MAX])acc, mr, nr);
}

/* The same on AVX-512: a 6 x 32 block of C in twelve 16-wide registers. */
static __attribute__((target("avx512f"))) void
kernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr, int nr)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++, a += MR, b += 32) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), av;
#define ROW(r)                                          \
        av = _mm512_set1_ps(a[r]);                      \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);     \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
    if (mr == MR && nr == 32) {
#define STORE(r)                                                                            \
        _mm512_storeu_ps(c + r * ldc, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc), c##r##0)); \
        _mm512_storeu_ps(c + r * ldc + 16,                                                  \
                         _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + 16), c##r##1));
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
        return;
    }
    float acc[MR][NR_MAX];
#define SPILL(r)                                        \
    _mm512_storeu_ps(acc[r], c##r##0);                  \
    _mm512_storeu_ps(acc[r] + 16, c##r##1);
    SPILL(0) SPILL(1) SPILL(2) SPILL(3) SPILL(4) SPILL(5)
#undef SPILL
    add_tile(c, ldc, (const float(*)[NR_MAX])acc, mr, nr);
}
#endif

/* The widest kernel the CPU runs, or a narrower one that PONDER_TRAIN_KERNEL=avx2|generic asks
 * for (tests run each; read at every product, so set it only while no product runs). */
static struct kernel
pick_kernel(void)
{
    static _Atomic int best = -1;   /* 0 generic, 1 AVX2, 2 AVX-512; threads may race, and agree */
    int c = best;
    if (c < 0) {
        c = 0;
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            c = __builtin_cpu_supports("avx512f") ? 2 : 1;
#endif
        best = c;
    }
    const char *force = getenv("PONDER_TRAIN_KERNEL");
    if (force && strcmp(force, "generic") == 0)
        c = 0;
    else if (force && strcmp(force, "avx2") == 0 && c > 1)
        c = 1;
#if defined(__x86_64__)
    if (c == 2)
        return (struct kernel){ kernel_avx512, 32 };
    if (c == 1)
        return (struct kernel){ kernel_avx2, 16 };
#endif
    return (struct kernel){ kernel_generic, 16 };
}

/* A's rows i0.. (mc of them, zero-padded to whole slivers), depth k0..k0+kc: ap[sliver][k][r]. */
static void
pack_a(float *ap, const struct gemm_args *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc)
{
    for (int64_t s = 0; s < mc; s += MR, ap += MR * kc) {
        int rows = (int)PD_MIN(MR, mc - s);
        if (rows < MR)
            memset(ap, 0, sizeof(float) * MR * kc);
        if (g->trans_a) {
            /* A stored [K][M]: one sliver's row r is a column */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = g->A + (k0 + k) * g->lda + i0 + s;
                for (int r = 0; r < rows; r++)
                    ap[k * MR + r] = src[r];
            }
        } else {
            for (int r = 0; r < rows; r++) {
                const float *src = g->A + (i0 + s + r) * g->lda + k0;
                for (int64_t k = 0; k < kc; k++)
                    ap[k * MR + r] = src[k];
            }
        }
    }
}

/* B's columns j0.. (nc of them, zero-padded to slivers of nr), depth k0..k0+kc:
 * bp[sliver][k][j]. */
static void
pack_b(float *bp, const struct gemm_args *g, int nr, int64_t j0, int64_t nc, int64_t k0,
       int64_t kc)
{
    for (int64_t s = 0; s < nc; s += nr, bp += nr * kc) {
        int cols = (int)PD_MIN(nr, nc - s);
        if (cols < nr)
            memset(bp, 0, sizeof(float) * nr * kc);
        if (g->trans_b) {
            /* B stored [N][K]: one sliver's column j is a row */
            for (int j = 0; j < cols; j++) {
                const float *src = g->B + (j0 + s + j) * g->ldb + k0;
                for (int64_t k = 0; k < kc; k++)
                    bp[k * nr + j] = src[k];
            }
        } else {
            for (int64_t k = 0; k < kc; k++)
                memcpy(bp + k * nr, g->B + (k0 + k) * g->ldb + j0 + s, sizeof(float) * cols);
        }
    }
}

static void
gemm_tile(const struct gemm_args *g, struct kernel kn, int64_t tile, float *ap, float *bp)
{
    int64_t i0 = tile / g->tiles_n * g->mc, j0 = tile % g->tiles_n * g->nc;
    int64_t mc = PD_MIN(g->mc, g->M - i0), nc = PD_MIN(g->nc, g->N - j0);
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
        int64_t kc = PD_MIN(KC, g->K - k0);
        pack_a(ap, g, i0, mc, k0, kc);
        pack_b(bp, g, kn.nr, j0, nc, k0, kc);
        for (int64_t j = 0; j < nc; j += kn.nr)
            for (int64_t i = 0; i < mc; i += MR)
                kn.fn(kc, ap + i * kc, bp + j * kc, g->C + (i0 + i) * g->ldc + j0 + j, g->ldc,
                      (int)PD_MIN(MR, mc - i), (int)PD_MIN(kn.nr, nc - j));
    }
}

static void
gemm_task(void *ctx, int ith, int nth)
{
    const struct gemm_args *g = ctx;
    _Alignas(64) float ap[MC * KC];
    _Alignas(64) float bp[NC * KC];
    struct kernel kn = pick_kernel();
    for (int64_t t = ith; t < g->tiles_m * g->tiles_n; t += nth)
        gemm_tile(g, kn, t, ap, bp);
}

void
pd_tr_gemm(struct pd_threadpool *tp, float *C, int64_t ldc, const float *A, int64_t lda,
           bool trans_a, const float *B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
           int64_t K)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return;
    struct gemm_args g = {
        .C = C, .A = A, .B = B, .ldc = ldc, .lda = lda, .ldb = ldb, .M = M, .N = N, .K = K,
        .trans_a = trans_a, .trans_b = trans_b, .mc = MC, .nc = NC,
    };
    int nth = tp ? pd_threadpool_size(tp) : 1, nr = pick_kernel().nr;
    /* Small products: smaller tiles, so that every thread has a few */
    while (nth > 1 && (g.nc > nr || g.mc > MR) &&
           ((M + g.mc - 1) / g.mc) * ((N + g.nc - 1) / g.nc) < 4 * nth) {
        if (g.nc > nr && (g.nc >= 2 * g.mc || g.mc <= MR))
            g.nc /= 2;
        else
            g.mc = PD_MAX(MR, g.mc / 2 / MR * MR);
    }
    g.tiles_m = (M + g.mc - 1) / g.mc;
    g.tiles_n = (N + g.nc - 1) / g.nc;
    if (nth > 1 && M * N * K >= 32 * 32 * 32)
        pd_threadpool_run(tp, gemm_task, &g);
    else
        gemm_task(&g, 0, 1);
}

void
pd_tr_linear_forward(struct pd_threadpool *tp, float *y, const float *x, const float *W,
                     const float *b, int64_t N, int64_t n_in, int64_t n_out)
{
    for (int64_t n = 0; n < N; n++) {
        if (b)
            memcpy(y + n * n_out, b, sizeof(float) * n_out);
        else
            memset(y + n * n_out, 0, sizeof(float) * n_out);
    }
    pd_tr_gemm(tp, y, n_out, x, n_in, false, W, n_in, true, N, n_out, n_in);
}

void
pd_tr_linear_backward(struct pd_threadpool *tp, float *dx, float *dW, float *db, const float *dy,
                      const float *x, const float *W, int64_t N, int64_t n_in, int64_t n_out)
{
    if (dx)
        pd_tr_gemm(tp, dx, n_in, dy, n_out, false, W, n_in, false, N, n_in, n_out);
    if (dW)
        pd_tr_gemm(tp, dW, n_in, dy, n_out, true, x, n_in, false, n_out, n_in, N);
    if (db)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < n_out; o++)
                db[o] += dy[n * n_out + o];
}
