/*
 * bench-quant.c: throughput of pd_vec_dot per tensor format, as a matrix-vector product would
 * use it: one activation row quantized once, dotted with every row of a weight matrix of a few
 * MB (random blocks). Reports weight bytes read per second for the chosen SIMD kernel and for
 * the plain-C one, single-threaded.
 *
 *   tests/bench/bench-quant [MB]        (default 16 MB of weights per format)
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/quant.h"

#define ROW 4096 /* elements per row, a multiple of every block size */

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Random bytes, with every 16-bit word that could be a scale made a small finite half. */
static void
fill(uint8_t *p, size_t bytes, enum pd_type t)
{
    uint64_t s = 88172645463325252ull;
    float *x = malloc(ROW * sizeof(float));
    for (size_t i = 0; i < bytes; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (uint8_t)s;
    }
    for (int i = 0; i < ROW; i++)
        x[i] = (float)((int)(i * 7919 % 2001) - 1000) * 1e-3f;
    /* formats with a quantizer: quantize real values into the first row, copy it around */
    size_t rb = pd_type_row_size(t, ROW);
    if (pd_quantize_row(t, x, p, ROW))
        for (size_t off = rb; off + rb <= bytes; off += rb)
            memcpy(p + off, p, rb);
    free(x);
}

/* Seconds for one pass of f over all rows. */
static double
pass(pd_vec_dot_fn f, enum pd_type t, const uint8_t *w, size_t rows, const void *a, float *out)
{
    size_t rb = pd_type_row_size(t, ROW);
    double t0 = now();
    for (size_t r = 0; r < rows; r++)
        if (f != NULL)
            f(ROW, &out[r], w + r * rb, a);
        else
            pd_vec_dot_ref(t, ROW, &out[r], w + r * rb, a);
    return now() - t0;
}

static void
bench(enum pd_type t, size_t mb)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    size_t rb = pd_type_row_size(t, ROW), rows = mb * 1024 * 1024 / rb;
    uint8_t *w = malloc(rows * rb);
    void *a = malloc(pd_type_row_size(tr->vec_dot_type, ROW));
    float *x = malloc(ROW * sizeof(float)), *out = malloc(rows * sizeof(float));
    double best = 1e9, best_ref = 1e9;

    fill(w, rows * rb, t);
    for (int i = 0; i < ROW; i++)
        x[i] = (float)((i * 31) % 17 - 8) * 0.1f;
    pd_quantize_row(tr->vec_dot_type, x, a, ROW);
    for (int k = 0; k < 5; k++) {
        double s = pass(pd_vec_dot_get(t), t, w, rows, a, out);
        best = s < best ? s : best;
    }
    for (int k = 0; k < 2; k++) {
        double s = pass(NULL, t, w, rows, a, out);
        best_ref = s < best_ref ? s : best_ref;
    }
    double gb = (double)(rows * rb) / 1e9;
    printf("%-8s %8.2f GB/s %8.2f Gelem/s   plain-C %6.2f GB/s\n", tr->name, gb / best,
           (double)rows * ROW / best / 1e9, gb / best_ref);
    free(w);
    free(a);
    free(x);
    free(out);
}

int
main(int argc, char **argv)
{
    static const enum pd_type types[] = {
        PD_TYPE_F32,  PD_TYPE_F16,  PD_TYPE_BF16, PD_TYPE_Q8_0,   PD_TYPE_Q4_0,
        PD_TYPE_Q4_1, PD_TYPE_Q5_0, PD_TYPE_Q5_1, PD_TYPE_IQ4_NL, PD_TYPE_Q2_K,
        PD_TYPE_Q3_K, PD_TYPE_Q4_K, PD_TYPE_Q5_K, PD_TYPE_Q6_K,   PD_TYPE_IQ4_XS,
    };
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 16;

    printf("simd: %s, %zu MB of weights per format, rows of %d\n", pd_quant_simd_name(), mb, ROW);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        bench(types[k], mb);
    return 0;
}
