/*
 * test-cuda-decode.cu: the CUDA kernels' block decoders (kernels/cuda/quant.cuh) against the CPU's
 * dequantizers, run on the host: they compile for both, so this checks on every CUDA build, with
 * no GPU, that the values the decode and prefill kernels read out of each format's blocks are the
 * CPU's: a whole 32-element unit (pd_dev_unit, prefill and the fallback kernel) and each thread's
 * eight elements of a unit (pd_dev_part, the decode kernel: its byte tricks, its wide loads),
 * and Q6_K's sixteenths of a super-block (its own decode kernel).
 * Which thread reads which part, and the launches, are what tests/test-cuda checks on a device.
 */
#include "config.h"

#include "kernels/cuda/quant.cuh"

extern "C" {
#include "engine/pd.h"
#include "kernels/cpu/quant.h"
#include "tests/tap.h"
}

#include <math.h>

#define N_IN 1024   /* four K-quant super-blocks, 32 units */
#define ROWS 8

static uint32_t rng = 12345;

static uint8_t
rbyte(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

static float
rfloat(void)
{
    return (float)rbyte() / 128.0f - 1.0f;
}

/* A row of random blocks: quantized random floats, or for the K-quants (no quantizer here) random
 * bytes with small finite super-block scales, every other bit pattern being valid. */
static void
make_row(int t, uint8_t *row)
{
    if (t == PD_TYPE_Q4_K || t == PD_TYPE_Q6_K) {
        for (size_t i = 0; i < pd_type_row_size((enum pd_type)t, N_IN); i++)
            row[i] = rbyte();
        for (int b = 0; b < N_IN / PD_QK_K; b++) {
            uint16_t d = pd_fp32_to_fp16(0.002f + 0.004f * (rfloat() + 1.0f));
            if (t == PD_TYPE_Q4_K) {
                struct pd_block_q4_K *bk = (struct pd_block_q4_K *)row + b;
                bk->d = d;
                bk->dmin = pd_fp32_to_fp16(0.001f + 0.002f * (rfloat() + 1.0f));
            } else {
                ((struct pd_block_q6_K *)row + b)->d = d;
            }
        }
        return;
    }
    float x[N_IN];
    for (int i = 0; i < N_IN; i++)
        x[i] = rfloat() * 3.0f;
    PD_ASSERT(pd_quantize_row((enum pd_type)t, x, row, N_IN));
}

/* Worst |a - b| relative to |b| (at least 1e-3 absolute scale) over the pairs compared. */
static float
diff(float a, float b)
{
    return fabsf(a - b) / fmaxf(fabsf(b), 1e-3f);
}

template <int TYPE>
static void
check_type(void)
{
    /* 16-byte aligned rows, as matvec_parts_fit asks of Q4_K */
    size_t row_bytes = pd_type_row_size((enum pd_type)TYPE, N_IN);
    uint8_t *rows = (uint8_t *)aligned_alloc(16, (row_bytes * ROWS + 15) / 16 * 16);
    float ref[N_IN], v[32];
    float worst_unit = 0.0f, worst_part = 0.0f;
    for (int r = 0; r < ROWS; r++) {
        uint8_t *row = rows + (size_t)r * row_bytes;
        make_row(TYPE, row);
        pd_dequantize_row((enum pd_type)TYPE, row, ref, N_IN);
        for (int64_t u = 0; u < N_IN / 32; u++) {
            if constexpr (!pd_dev_is_float(TYPE)) {
                pd_dev_unit<TYPE>(v, row, u);
                for (int j = 0; j < 32; j++)
                    worst_unit = fmaxf(worst_unit, diff(v[j], ref[32 * u + j]));
            }
            for (int s = 0; s < 4; s++) {
                pd_dev_part<TYPE>(v, row, u, s);
                for (int k = 0; k < 4; k++) {
                    worst_part = fmaxf(worst_part, diff(v[k], ref[32 * u + 4 * s + k]));
                    worst_part = fmaxf(worst_part, diff(v[k + 4], ref[32 * u + 16 + 4 * s + k]));
                }
            }
        }
    }
    const char *name = pd_type_traits_get((uint32_t)TYPE)->name;
    if (!pd_dev_is_float(TYPE))
        ok(worst_unit <= 1e-6f, "%s: every unit's 32 values are the CPU's (worst %.2g)", name,
           worst_unit);
    ok(worst_part <= 1e-6f, "%s: every thread's part of a unit is the CPU's (worst %.2g)", name,
       worst_part);
    free(rows);
}

/* Q6_K's decode kernel reads sixteenths of a super-block: the sixteen threads' offsets cover the
 * 256 elements once each, and each value is the CPU's. */
static void
check_q6k_sixteenths(void)
{
    size_t row_bytes = pd_type_row_size(PD_TYPE_Q6_K, N_IN);
    uint8_t *row = (uint8_t *)malloc(row_bytes);
    float ref[N_IN], v[16], worst = 0.0f;
    int seen[PD_QK_K] = { 0 }, once = 1;
    for (int t = 0; t < 16; t++)
        for (int j = 0; j < 16; j++)
            seen[pd_dev_q6k_at(t, j)]++;
    for (int i = 0; i < PD_QK_K; i++)
        once = once && seen[i] == 1;
    ok(once, "q6_K: the sixteen threads of a super-block take each element once");
    for (int r = 0; r < ROWS; r++) {
        make_row(PD_TYPE_Q6_K, row);
        pd_dequantize_row(PD_TYPE_Q6_K, row, ref, N_IN);
        for (int64_t sb = 0; sb < N_IN / PD_QK_K; sb++)
            for (int t = 0; t < 16; t++) {
                pd_dev_q6k_sixteenth(v, row, sb, t);
                for (int j = 0; j < 16; j++)
                    worst = fmaxf(worst, diff(v[j], ref[PD_QK_K * sb + pd_dev_q6k_at(t, j)]));
            }
    }
    ok(worst <= 1e-6f, "q6_K: every thread's sixteenth is the CPU's (worst %.2g)", worst);
    free(row);
}

int
main(void)
{
    check_type<PD_TYPE_Q4_0>();
    check_type<PD_TYPE_Q4_1>();
    check_type<PD_TYPE_Q8_0>();
    check_type<PD_TYPE_Q4_K>();
    check_type<PD_TYPE_Q6_K>();
    check_type<PD_TYPE_F32>();
    check_type<PD_TYPE_F16>();
    check_type<PD_TYPE_BF16>();
    check_q6k_sixteenths();
    done_testing();
    return exit_status();
}
