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

#include "kernels/cpu/repack.h"

#define ROW_BLOCK 16
#define MIN64(a, b) ((a) < (b) ? (a) : (b))

enum pd_type
pd_matmul_act_type(enum pd_type wtype, bool precise)
{
    return precise ? PD_TYPE_F32 : pd_type_traits_get(wtype)->vec_dot_type;
}

size_t
pd_matmul_act_row_size(enum pd_type act, int64_t n_in)
{
    return act == PD_TYPE_Q8_0 ? pd_repack_act_row_size(n_in) : pd_type_row_size(act, n_in);
}

size_t
pd_matmul_act_size(enum pd_type act, int64_t n_in, int64_t T)
{
    return pd_matmul_act_row_size(act, n_in) * (size_t)T;
}

void
pd_matmul_quantize(void *xq, const float *x, enum pd_type act, int64_t n_in, int64_t T,
                   int ith, int nth)
{
    size_t row = pd_matmul_act_row_size(act, n_in);
    for (int64_t t = ith; t < T; t += nth) {
        char *dst = (char *)xq + (size_t)t * row;
        if (act == PD_TYPE_F32) {
            memcpy(dst, x + t * n_in, row);
        } else {
            pd_quantize_row(act, x + t * n_in, dst, n_in);
            if (act == PD_TYPE_Q8_0)
                pd_repack_act_finish(dst, n_in);
        }
    }
}

/* Weight rows [r0, r1) against T activation rows in the weights' own dot format. */
static void
rows_native(float *y, int64_t ldy, const char *w, enum pd_type wtype, const char *xq,
            size_t arow, int64_t n_in, int64_t r0, int64_t r1, int64_t T)
{
    size_t wrow = pd_type_row_size(wtype, n_in);
    pd_vec_dot_fn dot = pd_vec_dot_get(wtype);
    pd_vec_dot4_fn dot4 = pd_vec_dot4_get(wtype);
    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
        int64_t re = MIN64(rb + ROW_BLOCK, r1);
        int64_t t = 0;
        for (; dot4 && t + 4 <= T; t += 4) {
            const char *a = xq + (size_t)t * arow;
            float *yt = y + t * ldy;
            for (int64_t r = rb; r < re; r++)
                dot4(n_in, &yt[r], (size_t)ldy, w + (size_t)r * wrow, a, arow);
        }
        for (; t < T; t++) {
            const char *a = xq + (size_t)t * arow;
            float *yt = y + t * ldy;
            for (int64_t r = rb; r < re; r++)
                dot(n_in, &yt[r], w + (size_t)r * wrow, a);
        }
    }
}

/* Repacked rows [r0, r1) (whole groups of eight) against T activation rows: each group meets
 * four activation rows at a time while its bytes are in L1, then the rest one by one. */
static void
rows_packed(float *y, int64_t ldy, const char *wp, const char *xq, size_t arow, int64_t n_in,
            int64_t r0, int64_t r1, int64_t T)
{
    const struct pd_repack_kernels *k = pd_repack_kernels_get();
    size_t group = pd_repack_group_size(n_in);
    for (int64_t r = r0; r < r1; r += PD_REPACK_ROWS) {
        const char *g = wp + (size_t)(r / PD_REPACK_ROWS) * group;
        int64_t t = 0;
        for (; t + 4 <= T; t += 4)
            k->gemm4(n_in, y + t * ldy + r, (size_t)ldy, g, xq + (size_t)t * arow, arow);
        for (; t < T; t++)
            k->gemv(n_in, y + t * ldy + r, g, xq + (size_t)t * arow);
    }
}

/* The precise path: each weight row dequantized once into this thread's buffer. */
static void
rows_float(float *y, int64_t ldy, const char *w, enum pd_type wtype, const float *x, float *buf,
           int64_t n_in, int64_t r0, int64_t r1, int64_t T)
{
    size_t wrow = pd_type_row_size(wtype, n_in);
    pd_vec_dot_fn dot = pd_vec_dot_get(PD_TYPE_F32);
    for (int64_t r = r0; r < r1; r++) {
        pd_dequantize_row(wtype, w + (size_t)r * wrow, buf, n_in);
        for (int64_t t = 0; t < T; t++)
            dot(n_in, &y[t * ldy + r], buf, x + t * n_in);
    }
}

/* Bands are whole multiples of ROW_BLOCK, and n_out of a repacked weight a multiple of 8, so
 * every band of a repacked weight is whole groups. */
_Static_assert(ROW_BLOCK % PD_REPACK_ROWS == 0, "bands must hold whole repacked groups");

void
pd_matmul(float *y, int64_t ldy, const void *w, const void *wpacked, enum pd_type wtype,
          const void *xq, enum pd_type act, float *wbuf, int64_t n_in, int64_t n_out, int64_t T,
          int ith, int nth)
{
    int64_t n_blocks = (n_out + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t per = (n_blocks + nth - 1) / nth;
    int64_t r0 = MIN64(ith * per * ROW_BLOCK, n_out);
    int64_t r1 = MIN64((ith + 1) * per * ROW_BLOCK, n_out);
    size_t arow = pd_matmul_act_row_size(act, n_in);
    if (act != pd_type_traits_get(wtype)->vec_dot_type)
        rows_float(y, ldy, w, wtype, xq, wbuf, n_in, r0, r1, T);
    else if (wpacked != NULL && pd_repack_fits(wtype, n_in, n_out))
        rows_packed(y, ldy, wpacked, xq, arow, n_in, r0, r1, T);
    else
        rows_native(y, ldy, w, wtype, xq, arow, n_in, r0, r1, T);
}
