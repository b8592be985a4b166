/*
 * repack.c: the eight-row interleaved Q4_0 layout of repack.h: the repacking itself, the
 * activations' side table, the plain-C products, and the choice of kernels.
 *
 * The plain-C products follow dot_q4_0_ref in quant.c operation for operation (an exact integer
 * sum per block, then sum += isum * (dx * dy) in float), so on any CPU without AVX2, or with
 * PONDER_SIMD=scalar, a repacked product gives the very floats of the unpacked one.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "kernels/cpu/quant-impl.h"
#include "kernels/cpu/repack.h"

_Static_assert(sizeof(struct pd_block_q8_0) == 34, "pd_repack_act_info assumes 34-byte blocks");

bool
pd_repack_fits(enum pd_type t, int64_t n_in, int64_t n_out)
{
    return t == PD_TYPE_Q4_0 && n_in > 0 && n_in % PD_QK == 0 && n_out > 0 &&
           n_out % PD_REPACK_ROWS == 0;
}

size_t
pd_repack_group_size(int64_t n_in)
{
    return (size_t)(n_in / PD_QK) * sizeof(struct pd_block_q4_0x8);
}

/* One block column of one group: scales side by side, then the nibble bytes in 4-byte chunks
 * (repack.h). rows[r] is row r's block. */
static void
pack_block(struct pd_block_q4_0x8 *dst, const struct pd_block_q4_0 *const *rows, int64_t i)
{
    for (int r = 0; r < PD_REPACK_ROWS; r++) {
        dst->d[r] = rows[r][i].d;
        for (int c = 0; c < 4; c++)
            memcpy(dst->qs + (c * PD_REPACK_ROWS + r) * 4, rows[r][i].qs + 4 * c, 4);
    }
}

static void
repack_ref(void *dst, const void *src, int64_t n_in, int64_t g0, int64_t g1)
{
    int64_t nb = n_in / PD_QK;
    size_t row = pd_type_row_size(PD_TYPE_Q4_0, n_in);
    for (int64_t g = g0; g < g1; g++) {
        const struct pd_block_q4_0 *rows[PD_REPACK_ROWS];
        for (int r = 0; r < PD_REPACK_ROWS; r++)
            rows[r] = (const void *)((const char *)src + (size_t)(g * PD_REPACK_ROWS + r) * row);
        struct pd_block_q4_0x8 *out = (struct pd_block_q4_0x8 *)dst + g * nb;
        for (int64_t i = 0; i < nb; i++)
            pack_block(&out[i], rows, i);
    }
}

void
pd_repack_q4_0(void *dst, const void *src, int64_t n_in, int64_t g0, int64_t g1)
{
    pd_repack_kernels_get()->repack(dst, src, n_in, g0, g1);
}

size_t
pd_repack_act_row_size(int64_t n_in)
{
    size_t blocks = pd_type_row_size(PD_TYPE_Q8_0, n_in);
    return ((blocks + 7) & ~(size_t)7) + (size_t)(n_in / PD_QK) * sizeof(struct pd_repack_act_info);
}

static void
act_finish_ref(void *row, int64_t n_in)
{
    const struct pd_block_q8_0 *b = row;
    struct pd_repack_act_info *info = (struct pd_repack_act_info *)pd_repack_act_info(row, n_in);
    for (int64_t i = 0; i < n_in / PD_QK; i++) {
        int32_t sum = 0;
        for (int j = 0; j < PD_QK; j++)
            sum += b[i].qs[j];
        info[i].d = pd_fp16_to_fp32(b[i].d);
        info[i].sum8 = 8 * sum;
    }
}

void
pd_repack_act_finish(void *row, int64_t n_in)
{
    pd_repack_kernels_get()->act_finish(row, n_in);
}

/* Integer dot of row r's block in x with activation quants y, nibbles taken unsigned. */
static int32_t
block_dot_unsigned(const struct pd_block_q4_0x8 *x, int r, const int8_t *y)
{
    int32_t sum = 0;
    for (int c = 0; c < 4; c++) {
        const uint8_t *q = x->qs + (c * PD_REPACK_ROWS + r) * 4;
        for (int k = 0; k < 4; k++)
            sum += (q[k] & 0xF) * y[4 * c + k] + (q[k] >> 4) * y[16 + 4 * c + k];
    }
    return sum;
}

static void
gemv_ref(int64_t n_in, float *y, const void *wg, const void *a)
{
    const struct pd_block_q4_0x8 *x = wg;
    const struct pd_block_q8_0 *yb = a;
    const struct pd_repack_act_info *info = pd_repack_act_info(a, n_in);
    for (int r = 0; r < PD_REPACK_ROWS; r++) {
        float sum = 0;
        for (int64_t i = 0; i < n_in / PD_QK; i++) {
            int32_t isum = block_dot_unsigned(&x[i], r, yb[i].qs) - info[i].sum8;
            sum += (float)isum * (pd_fp16_to_fp32(x[i].d[r]) * info[i].d);
        }
        y[r] = sum;
    }
}

static void
gemm4_ref(int64_t n_in, float *y, size_t ldy, const void *wg, const void *a, size_t as)
{
    for (int j = 0; j < 4; j++)
        gemv_ref(n_in, y + j * ldy, wg, (const char *)a + j * as);
}

static const struct pd_repack_kernels kernels_ref = {
    .name = "scalar", .repack = repack_ref, .gemv = gemv_ref, .gemm4 = gemm4_ref,
    .act_finish = act_finish_ref,
};

static const struct pd_repack_kernels *kernels_chosen = &kernels_ref;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

/* The SIMD kernels go with the SIMD dots: quant.c has already weighed the CPU and
 * PONDER_SIMD. */
static void
kernels_init(void)
{
    if (strcmp(pd_quant_simd_name(), "avx2") == 0 && pd_repack_avx2_kernels() != NULL)
        kernels_chosen = pd_repack_avx2_kernels();
}

const struct pd_repack_kernels *
pd_repack_kernels_get(void)
{
    pthread_once(&kernels_once, kernels_init);
    return kernels_chosen;
}

const struct pd_repack_kernels *
pd_repack_kernels_ref(void)
{
    return &kernels_ref;
}
