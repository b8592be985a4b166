/*
 * matmul.h: products of quantized weight matrices with activations, shared between threads.
 *
 * A weight W is n_out rows of n_in elements in one GGUF format (rows contiguous, as ggml stores a
 * {n_in, n_out} tensor). The activations x are T rows of n_in floats. A product is two steps, each
 * called by every thread of a pool run (ith of nth) with a barrier between them:
 *
 *   pd_matmul_quantize   x[T][n_in] -> xq, in the activation format (once per product)
 *   pd_matmul            y[T][ldy] (first n_out columns) = xq . W^T
 *
 * The activation format is normally W's vec_dot_type (8-bit for quantized weights, so the dots
 * run on integer SIMD, as llama.cpp does). With precise set it is F32: each weight row is
 * dequantized once and meets the activations in float, which reproduces a float reference
 * (transformers on dequantized weights) to rounding, at some cost in speed.
 *
 * A Q4_0 weight may also come repacked, eight rows interleaved (kernels/cpu/repack.h): the
 * quantized path then reads that copy with the eight-row kernels, the precise path still reads
 * the rows. Q8_0 activation rows carry the side table those kernels use (the other kernels skip
 * it), so one quantized batch serves repacked and plain weights alike.
 *
 * Threads split W's rows, in bands of 16 (whole groups of a repacked weight), so each weight row
 * is read once per batch, and each band meets all T activation rows while it is in cache.
 */
#ifndef PD_MATMUL_H
#define PD_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/quant.h"

/* The activation format for weights of type wtype. */
enum pd_type pd_matmul_act_type(enum pd_type wtype, bool precise);

/* Bytes from one activation row to the next in xq (format act, n_in elements). */
size_t pd_matmul_act_row_size(enum pd_type act, int64_t n_in);

/* Bytes of scratch xq needs for T rows of n_in activations in format act. */
size_t pd_matmul_act_size(enum pd_type act, int64_t n_in, int64_t T);

void pd_matmul_quantize(void *xq, const float *x, enum pd_type act, int64_t n_in, int64_t T,
                        int ith, int nth);

/* w: W's n_out rows; wpacked: NULL, or the same rows repacked (pd_repack_fits(wtype, n_in,
 * n_out)). wbuf: this thread's scratch of n_in floats, used only when act is not W's
 * vec_dot_type (the precise path); may be NULL otherwise. */
void pd_matmul(float *y, int64_t ldy, const void *w, const void *wpacked, enum pd_type wtype,
               const void *xq, enum pd_type act, float *wbuf, int64_t n_in, int64_t n_out,
               int64_t T, int ith, int nth);

#endif
