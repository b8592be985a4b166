/*
 * matmul.h: products of quantized weight matrices with activations, shared between threads.
 *
 * A weight W is n_out rows of n_in elements in one GGUF format (rows contiguous, as ggml stores a
 * {n_in, n_out} tensor). The activations x are T rows of n_in floats. A product is two steps, each
 * called by every thread of a pool run (ith of nth) with a barrier between them:
 *
 *   pd_matmul_quantize   x[T][n_in] -> xq, in W's vec_dot_type (once per product, not per row)
 *   pd_matmul            y[T][ldy] (first n_out columns) = xq . W^T
 *
 * Threads split W's rows, so each weight row is read once per batch, and each block of rows
 * meets all T activation rows while it is in cache.
 */
#ifndef PD_MATMUL_H
#define PD_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/quant.h"

/* Bytes of scratch xq needs for T rows of n_in activations against weights of type wtype. */
size_t pd_matmul_act_size(enum pd_type wtype, int64_t n_in, int64_t T);

void pd_matmul_quantize(void *xq, const float *x, enum pd_type wtype, int64_t n_in, int64_t T,
                        int ith, int nth);

void pd_matmul(float *y, int64_t ldy, const void *w, enum pd_type wtype, const void *xq,
               int64_t n_in, int64_t n_out, int64_t T, int ith, int nth);

#endif
