/*
 * repack.h: Q4_0 weights interleaved eight rows at a time, and the products that read them.
 *
 * The single-row dot (quant.h) spends most of its instructions on what surrounds the integer
 * work: two fp16 scale conversions per block, the sign trick, a horizontal sum per row. Eight
 * rows side by side share all of that. A Q4_0 matrix whose row count is a multiple of 8 is
 * rearranged once, when a CPU context is made, into groups of eight rows. Within a group, block
 * column i is one struct pd_block_q4_0x8:
 *
 *   d[8]     the eight rows' fp16 scales, in row order (one F16C conversion gives eight floats)
 *   qs[128]  four chunks of 32 bytes; chunk c holds bytes 4c..4c+3 of row 0's block, then of
 *            row 1's, ..., row 7's
 *
 * A 32-byte load of chunk c puts row r's four bytes in 32-bit lane r: their low nibbles are
 * elements 4c..4c+3 of the block and their high nibbles elements 16+4c..16+4c+3, so all eight
 * rows meet one broadcast group of four activation bytes with no shuffle. The bytes are the rows'
 * own, moved: a repacked matrix has the size of the original. Group g of a matrix starts at
 * g * pd_repack_group_size(n_in) bytes.
 *
 * Activations are Q8_0 rows with a side table (pd_repack_act_row_size): after the blocks, padded
 * to 8 bytes, one struct pd_repack_act_info per block with the block's scale as a float and
 * 8 * (sum of its quants). The kernels multiply the nibbles unsigned (0..15) and subtract that
 * sum once per block, which is the Q4_0 offset of 8; and they convert the activation's scale once
 * per product rather than once per row. The integer sums are exact, so the results differ from
 * pd_vec_dot's only by float rounding order (the plain-C kernels here match the plain-C dot
 * exactly).
 *
 * Glossary: n_in = elements per row (a multiple of 32), nb = n_in / 32 blocks.
 */
#ifndef PD_REPACK_H
#define PD_REPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/quant.h"

#define PD_REPACK_ROWS 8 /* rows interleaved in one group */

struct pd_block_q4_0x8 {
    uint16_t d[PD_REPACK_ROWS];
    uint8_t qs[PD_REPACK_ROWS * 16];
};

struct pd_repack_act_info {
    float d;        /* the block's scale, fp32 */
    int32_t sum8;   /* 8 * the sum of its 32 quants */
};

_Static_assert(sizeof(struct pd_block_q4_0x8) == 8 * 18, "q4_0x8 layout");

/* Whether a matrix of n_out rows of n_in elements in type t can be repacked. */
bool pd_repack_fits(enum pd_type t, int64_t n_in, int64_t n_out);

/* Bytes of one group of eight repacked rows. */
size_t pd_repack_group_size(int64_t n_in);

/* Repack groups [g0, g1) of the Q4_0 rows at src (row 8g at src + 8g row sizes) into dst (group
 * g at dst + g group sizes), with this CPU's kernel. */
void pd_repack_q4_0(void *dst, const void *src, int64_t n_in, int64_t g0, int64_t g1);

/* Bytes of one activation row: the Q8_0 blocks, padding to 8, the side table. */
size_t pd_repack_act_row_size(int64_t n_in);

/* The side table of an activation row. */
static inline const struct pd_repack_act_info *
pd_repack_act_info(const void *row, int64_t n_in)
{
    size_t blocks = (size_t)(n_in / 32) * 34;
    return (const struct pd_repack_act_info *)((const char *)row + ((blocks + 7) & ~(size_t)7));
}

/* Fills the side table of an activation row whose Q8_0 blocks are written. */
void pd_repack_act_finish(void *row, int64_t n_in);

/* y[0..8) = the eight rows of group wg . activation row a. */
typedef void (*pd_repack_gemv_fn)(int64_t n_in, float *y, const void *wg, const void *a);

/* y[j * ldy + r] (j < 4, r < 8) = row r of group wg . activation row j (rows as bytes apart). */
typedef void (*pd_repack_gemm4_fn)(int64_t n_in, float *y, size_t ldy, const void *wg,
                                   const void *a, size_t as);

struct pd_repack_kernels {
    const char *name;               /* "avx2" or "scalar" */
    void (*repack)(void *dst, const void *src, int64_t n_in, int64_t g0, int64_t g1);
    pd_repack_gemv_fn gemv;         /* decode: one activation row */
    pd_repack_gemm4_fn gemm4;       /* prefill: four activation rows */
    void (*act_finish)(void *row, int64_t n_in);
};

/* The kernels for this CPU (PONDER_SIMD=scalar keeps the plain-C ones, as in quant.h). */
const struct pd_repack_kernels *pd_repack_kernels_get(void);

/* The plain-C kernels, always available (the tests check the SIMD ones against them). */
const struct pd_repack_kernels *pd_repack_kernels_ref(void);

/* repack-avx2.c, for repack.c: the AVX2 kernels (the CPU check is the caller's); NULL off
 * x86-64. */
const struct pd_repack_kernels *pd_repack_avx2_kernels(void);

#endif
