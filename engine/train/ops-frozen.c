/*
 * ops-frozen.c: products through a frozen weight kept in its file's own type (F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, K-quants...): the LoRA trainer's base (dense.h) is never converted as a
 * whole. Rows of W are dequantized a chunk at a time into a caller's buffer (threads split the
 * chunk's rows), then a float32 product of the chunk runs through pd_tr_gemm; an F32 weight is
 * used in place. The values are exactly what the inference engine's precise path multiplies
 * with (pd_dequantize_row), so the two agree to rounding.
 */
#include "config.h"

#include <string.h>

#include "engine/train/ops.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/threadpool.h"

struct dequant_job {
    float *dst;
    const char *src;
    enum pd_type type;
    int64_t rows, n_in;
    size_t row_bytes;
};

static void
dequant_worker(void *arg, int ith, int nth)
{
    const struct dequant_job *j = arg;
    for (int64_t r = ith; r < j->rows; r += nth)
        pd_dequantize_row(j->type, j->src + (size_t)r * j->row_bytes, j->dst + r * j->n_in,
                          j->n_in);
}

/* Rows r0 .. r0+rows-1 of W as float32: in place for F32, else dequantized into wbuf. */
static const float *
rows_f32(struct pd_threadpool *tp, const struct pd_tr_frozen *w, float *wbuf, int64_t r0,
         int64_t rows)
{
    size_t row_bytes = pd_type_row_size(w->type, w->n_in);
    if (w->type == PD_TYPE_F32)
        return (const float *)w->data + r0 * w->n_in;
    struct dequant_job j = { wbuf, (const char *)w->data + (size_t)r0 * row_bytes, w->type, rows,
                             w->n_in, row_bytes };
    if (tp)
        pd_threadpool_run(tp, dequant_worker, &j);
    else
        dequant_worker(&j, 0, 1);
    return wbuf;
}

/* Rows of W per chunk: as many as fit the buffer (at least one). */
static int64_t
chunk_rows(const struct pd_tr_frozen *w)
{
    return PD_MAX(1, PD_TR_FROZEN_BUF / w->n_in);
}

void
pd_tr_frozen_forward(struct pd_threadpool *tp, float *y, float *wbuf, const float *x,
                     const struct pd_tr_frozen *w, int64_t N)
{
    int64_t n_in = w->n_in, n_out = w->n_out, step = chunk_rows(w);
    memset(y, 0, sizeof(float) * (size_t)(N * n_out));
    for (int64_t r0 = 0; r0 < n_out; r0 += step) {
        int64_t rows = PD_MIN(step, n_out - r0);
        const float *Wc = rows_f32(tp, w, wbuf, r0, rows);
        /* y[N][r0 .. r0+rows) += x[N][n_in] . Wc[rows][n_in]^T */
        pd_tr_gemm(tp, y + r0, n_out, x, n_in, false, Wc, n_in, true, N, rows, n_in);
    }
}

void
pd_tr_frozen_backward(struct pd_threadpool *tp, float *dx, float *wbuf, const float *dy,
                      const struct pd_tr_frozen *w, int64_t N)
{
    int64_t n_in = w->n_in, n_out = w->n_out, step = chunk_rows(w);
    for (int64_t r0 = 0; r0 < n_out; r0 += step) {
        int64_t rows = PD_MIN(step, n_out - r0);
        const float *Wc = rows_f32(tp, w, wbuf, r0, rows);
        /* dx[N][n_in] += dy[N][r0 .. r0+rows) . Wc[rows][n_in] */
        pd_tr_gemm(tp, dx, n_in, dy + r0, n_out, false, Wc, n_in, false, N, n_in, rows);
    }
}
