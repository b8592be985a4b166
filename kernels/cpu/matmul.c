/*
 * matmul.c: weight-stationary matrix products over quantized rows.
 *
 * Each thread owns a contiguous band of weight rows (rounded to ROW_BLOCK so neighbours do not
 * share cache lines of y). Within its band it walks ROW_BLOCK rows at a time and, for each, runs
 * through the T activation rows: the block of weights stays in L1/L2 while every token uses it.
 */
#include "config.h"

#include "kernels/cpu/matmul.h"

#include <string.h>

#define ROW_BLOCK 16
#define MIN64(a, b) ((a) < (b) ? (a) : (b))

static enum pd_type
act_type(enum pd_type wtype)
{
    return pd_type_traits_get(wtype)->vec_dot_type;
}

size_t
pd_matmul_act_size(enum pd_type wtype, int64_t n_in, int64_t T)
{
    return pd_type_row_size(act_type(wtype), n_in) * (size_t)T;
}

void
pd_matmul_quantize(void *xq, const float *x, enum pd_type wtype, int64_t n_in, int64_t T,
                   int ith, int nth)
{
    enum pd_type at = act_type(wtype);
    size_t row = pd_type_row_size(at, n_in);
    for (int64_t t = ith; t < T; t += nth) {
        char *dst = (char *)xq + (size_t)t * row;
        if (at == PD_TYPE_F32)
            memcpy(dst, x + t * n_in, row);
        else
            pd_quantize_row(at, x + t * n_in, dst, n_in);
    }
}

void
pd_matmul(float *y, int64_t ldy, const void *w, enum pd_type wtype, const void *xq,
          int64_t n_in, int64_t n_out, int64_t T, int ith, int nth)
{
    size_t wrow = pd_type_row_size(wtype, n_in);
    size_t arow = pd_type_row_size(act_type(wtype), n_in);
    int64_t n_blocks = (n_out + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t per = (n_blocks + nth - 1) / nth;
    int64_t r0 = MIN64(ith * per * ROW_BLOCK, n_out);
    int64_t r1 = MIN64((ith + 1) * per * ROW_BLOCK, n_out);

    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
        int64_t re = MIN64(rb + ROW_BLOCK, r1);
        for (int64_t t = 0; t < T; t++) {
            const char *a = (const char *)xq + (size_t)t * arow;
            float *yt = y + t * ldy;
            for (int64_t r = rb; r < re; r++)
                pd_vec_dot(wtype, n_in, &yt[r], (const char *)w + (size_t)r * wrow, a);
        }
    }
}
