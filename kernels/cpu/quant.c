/*
 * quant.c: half-precision conversions, the float formats, the 32-element block formats, and the
 * dispatch behind quant.h.
 *
 * Everything here is the plain-C reference: it follows ggml's arithmetic (same order of float
 * operations, same rounding) so that rows dequantize to the same floats ggml produces and the
 * quantizers write the same bytes as ggml's reference quantizers. Dots of quantized rows work on
 * integers against the activation quantized to the format's vec_dot_type (Q8_0 or Q8_1), with one
 * float multiply per block; dots of float rows accumulate in double.
 *
 * The 256-element formats live in quant-k.c, the SIMD kernels in quant-avx2.c. Which kernels
 * pd_vec_dot and pd_quantize_row use is decided once, on first use, from the CPU's features;
 * PONDER_SIMD=scalar in the environment keeps the plain-C kernels (for comparisons).
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/quant-impl.h"
#include "kernels/cpu/quant.h"

const int8_t pd_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* ---- half precision ------------------------------------------------------------------------ */

static inline uint32_t
f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float
bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 to binary32; exact for every input (subnormals, infinities, NaN payloads). */
float
pd_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;

    if (exp == 0x1F) /* inf or NaN: keep the payload */
        return bits_f32(sign | 0x7F800000 | (mant << 13));
    if (exp == 0) /* zero or subnormal: mant * 2^-24, exact in float */
        return bits_f32(sign | f32_bits((float)mant * 0x1p-24f));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

/* binary32 to binary16, rounding to nearest, ties to even; overflow gives infinity, NaN stays a
 * (quiet) NaN keeping the top bits of its payload. */
uint16_t
pd_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);

    x &= 0x7FFFFFFF;
    if (x > 0x7F800000)
        return sign | 0x7E00 | (uint16_t)((x >> 13) & 0x3FF);
    if (x >= 0x47800000) /* >= 65536 (and inf): infinity */
        return sign | 0x7C00;
    if (x < 0x38800000) {
        /* Below the smallest normal half: adding 0.5 makes the float unit in the last place
         * 2^-24, the subnormal step, so the hardware add does the rounding. */
        float r = bits_f32(x) + 0.5f;
        return sign | (uint16_t)(f32_bits(r) - 0x3F000000);
    }
    /* Normal: rebias the exponent and round the 13 dropped bits to nearest even; a carry out of
     * the mantissa moves into the exponent, up to infinity, as it should. */
    x += ((uint32_t)(15 - 127) << 23) + 0xFFF + ((x >> 13) & 1);
    return sign | (uint16_t)(x >> 13);
}

/* bfloat16 to binary32: the top half of the float. */
float
pd_bf16_to_fp32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

/* binary32 to bfloat16, round to nearest even; NaN becomes a quiet NaN. */
uint16_t
pd_fp32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);

    if ((x & 0x7FFFFFFF) > 0x7F800000)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

#define FP16(h) pd_fp16_to_fp32(h)

/* ---- float formats ------------------------------------------------------------------------- */

static void
dequant_f32(float *dst, const void *src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void
dequant_f16(float *dst, const void *src, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = pd_fp16_to_fp32(h[i]);
}

static void
dequant_bf16(float *dst, const void *src, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = pd_bf16_to_fp32(h[i]);
}

static void
quant_f32(void *dst, const float *src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void
quant_f16(void *dst, const float *src, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = pd_fp32_to_fp16(src[i]);
}

static void
quant_bf16(void *dst, const float *src, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = pd_fp32_to_bf16(src[i]);
}

static void
dot_f32_ref(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * y[i];
    *s = (float)sum;
}

static void
dot_f16_ref(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)pd_fp16_to_fp32(x[i]) * y[i];
    *s = (float)sum;
}

static void
dot_bf16_ref(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)pd_bf16_to_fp32(x[i]) * y[i];
    *s = (float)sum;
}

/* ---- 32-element formats: dequantize -------------------------------------------------------- */

static void
dequant_q4_0(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d);
        for (int j = 0; j < PD_QK / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void
dequant_q4_1(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d), m = FP16(b[i].m);
        for (int j = 0; j < PD_QK / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit values of a Q5 block, 0..31, in element order. */
static void
q5_unpack(uint8_t *q, const uint8_t *qs, const uint8_t *qh)
{
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
                 (uint32_t)qh[3] << 24;
    for (int j = 0; j < PD_QK / 2; j++) {
        q[j] = (uint8_t)((qs[j] & 0xF) | ((h >> j) & 1) << 4);
        q[j + 16] = (uint8_t)((qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4);
    }
}

static void
dequant_q5_0(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q5_0 *b = src;
    uint8_t q[PD_QK];
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d);
        q5_unpack(q, b[i].qs, b[i].qh);
        for (int j = 0; j < PD_QK; j++)
            dst[j] = (float)(q[j] - 16) * d;
    }
}

static void
dequant_q5_1(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q5_1 *b = src;
    uint8_t q[PD_QK];
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d), m = FP16(b[i].m);
        q5_unpack(q, b[i].qs, b[i].qh);
        for (int j = 0; j < PD_QK; j++)
            dst[j] = (float)q[j] * d + m;
    }
}

static void
dequant_q8_0(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d);
        for (int j = 0; j < PD_QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

static void
dequant_q8_1(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d);
        for (int j = 0; j < PD_QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

static void
dequant_iq4_nl(float *dst, const void *src, int64_t n)
{
    const struct pd_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / PD_QK; i++, dst += PD_QK) {
        float d = FP16(b[i].d);
        for (int j = 0; j < PD_QK / 2; j++) {
            dst[j] = d * (float)pd_iq4nl_values[b[i].qs[j] & 0xF];
            dst[j + 16] = d * (float)pd_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

/* ---- 32-element formats: quantize (ggml's reference, round to nearest) -------------------- */

/* The element of largest magnitude (the first one on ties), with its sign. */
static float
block_absmax_signed(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void
block_minmax(float *min, float *max, const float *x, int n)
{
    *min = x[0];
    *max = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *min)
            *min = x[j];
        if (x[j] > *max)
            *max = x[j];
    }
}

static int
min_int(int a, int b)
{
    return a < b ? a : b;
}

static void
quant_q4_0(void *dst, const float *src, int64_t n)
{
    struct pd_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float d = block_absmax_signed(src, PD_QK) / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = pd_fp32_to_fp16(d);
        for (int j = 0; j < PD_QK / 2; j++) {
            int q0 = min_int(15, (int8_t)(src[j] * id + 8.5f));
            int q1 = min_int(15, (int8_t)(src[j + 16] * id + 8.5f));
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static void
quant_q4_1(void *dst, const float *src, int64_t n)
{
    struct pd_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float min, max;
        block_minmax(&min, &max, src, PD_QK);
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = pd_fp32_to_fp16(d);
        b[i].m = pd_fp32_to_fp16(min);
        for (int j = 0; j < PD_QK / 2; j++) {
            int q0 = min_int(15, (int8_t)((src[j] - min) * id + 0.5f));
            int q1 = min_int(15, (int8_t)((src[j + 16] - min) * id + 0.5f));
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Packs 32 five-bit values into the nibbles and high-bit word of a Q5 block. */
static void
q5_pack(uint8_t *qs, uint8_t *qh, const uint8_t *q)
{
    uint32_t h = 0;
    for (int j = 0; j < PD_QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        h |= (uint32_t)(q[j] >> 4 & 1) << j;
        h |= (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

static void
quant_q5_0(void *dst, const float *src, int64_t n)
{
    struct pd_block_q5_0 *b = dst;
    uint8_t q[PD_QK];
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float d = block_absmax_signed(src, PD_QK) / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = pd_fp32_to_fp16(d);
        for (int j = 0; j < PD_QK; j++)
            q[j] = (uint8_t)min_int(31, (int8_t)(src[j] * id + 16.5f));
        q5_pack(b[i].qs, b[i].qh, q);
    }
}

static void
quant_q5_1(void *dst, const float *src, int64_t n)
{
    struct pd_block_q5_1 *b = dst;
    uint8_t q[PD_QK];
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float min, max;
        block_minmax(&min, &max, src, PD_QK);
        float d = (max - min) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = pd_fp32_to_fp16(d);
        b[i].m = pd_fp32_to_fp16(min);
        for (int j = 0; j < PD_QK; j++)
            q[j] = (uint8_t)((src[j] - min) * id + 0.5f);
        q5_pack(b[i].qs, b[i].qh, q);
    }
}

/* Scale d = amax/127 of a block and the 32 values roundf(x/d); returns d. */
static float
q8_block(int8_t *qs, const float *x)
{
    float amax = 0;
    for (int j = 0; j < PD_QK; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127;
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < PD_QK; j++)
        qs[j] = (int8_t)roundf(x[j] * id);
    return d;
}

static void
quant_q8_0_ref(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK)
        b[i].d = pd_fp32_to_fp16(q8_block(b[i].qs, src));
}

static void
quant_q8_1_ref(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float d = q8_block(b[i].qs, src);
        int sum = 0;
        for (int j = 0; j < PD_QK; j++)
            sum += b[i].qs[j];
        b[i].d = pd_fp32_to_fp16(d);
        b[i].s = pd_fp32_to_fp16((float)sum * d);
    }
}

/* ---- 32-element formats: dots --------------------------------------------------------------- */

static int
dot32_i8(const int8_t *x, const int8_t *y)
{
    int sum = 0;
    for (int j = 0; j < PD_QK; j++)
        sum += x[j] * y[j];
    return sum;
}

/* Nibbles of a Q4 block as signed bytes, minus the offset. */
static void
q4_unpack(int8_t *q, const uint8_t *qs, int offset)
{
    for (int j = 0; j < PD_QK / 2; j++) {
        q[j] = (int8_t)((qs[j] & 0xF) - offset);
        q[j + 16] = (int8_t)((qs[j] >> 4) - offset);
    }
}

static void
dot_q4_0_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    int8_t q[PD_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        q4_unpack(q, x[i].qs, 8);
        sum += (float)dot32_i8(q, y[i].qs) * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

static void
dot_q4_1_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_1 *x = w;
    const struct pd_block_q8_1 *y = a;
    int8_t q[PD_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        q4_unpack(q, x[i].qs, 0);
        sum += (float)dot32_i8(q, y[i].qs) * (FP16(x[i].d) * FP16(y[i].d)) +
               FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

static void
dot_q5_0_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    uint8_t u[PD_QK];
    int8_t q[PD_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        q5_unpack(u, x[i].qs, x[i].qh);
        for (int j = 0; j < PD_QK; j++)
            q[j] = (int8_t)(u[j] - 16);
        sum += (float)dot32_i8(q, y[i].qs) * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

static void
dot_q5_1_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_1 *x = w;
    const struct pd_block_q8_1 *y = a;
    uint8_t u[PD_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        q5_unpack(u, x[i].qs, x[i].qh);
        int sumi = 0;
        for (int j = 0; j < PD_QK; j++)
            sumi += u[j] * y[i].qs[j];
        sum += (float)sumi * (FP16(x[i].d) * FP16(y[i].d)) + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

static void
dot_q8_0_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q8_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++)
        sum += (float)dot32_i8(x[i].qs, y[i].qs) * (FP16(x[i].d) * FP16(y[i].d));
    *s = sum;
}

static void
dot_iq4_nl_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_iq4_nl *x = w;
    const struct pd_block_q8_0 *y = a;
    int8_t q[PD_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        for (int j = 0; j < PD_QK / 2; j++) {
            q[j] = pd_iq4nl_values[x[i].qs[j] & 0xF];
            q[j + 16] = pd_iq4nl_values[x[i].qs[j] >> 4];
        }
        sum += (float)dot32_i8(q, y[i].qs) * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

/* ---- tables and dispatch -------------------------------------------------------------------- */

struct quant_impl {
    pd_dequant_fn dequant;
    pd_quant_fn quant;
    pd_vec_dot_fn dot_ref;
};

static const struct quant_impl impls[PD_TYPE_COUNT] = {
    [PD_TYPE_F32] = { dequant_f32, quant_f32, dot_f32_ref },
    [PD_TYPE_F16] = { dequant_f16, quant_f16, dot_f16_ref },
    [PD_TYPE_BF16] = { dequant_bf16, quant_bf16, dot_bf16_ref },
    [PD_TYPE_Q4_0] = { dequant_q4_0, quant_q4_0, dot_q4_0_ref },
    [PD_TYPE_Q4_1] = { dequant_q4_1, quant_q4_1, dot_q4_1_ref },
    [PD_TYPE_Q5_0] = { dequant_q5_0, quant_q5_0, dot_q5_0_ref },
    [PD_TYPE_Q5_1] = { dequant_q5_1, quant_q5_1, dot_q5_1_ref },
    [PD_TYPE_Q8_0] = { dequant_q8_0, quant_q8_0_ref, dot_q8_0_ref },
    [PD_TYPE_Q8_1] = { dequant_q8_1, quant_q8_1_ref, NULL },
    [PD_TYPE_IQ4_NL] = { dequant_iq4_nl, NULL, dot_iq4_nl_ref },
    [PD_TYPE_Q2_K] = { pd_dequant_q2_K, NULL, pd_dot_q2_K_ref },
    [PD_TYPE_Q3_K] = { pd_dequant_q3_K, NULL, pd_dot_q3_K_ref },
    [PD_TYPE_Q4_K] = { pd_dequant_q4_K, NULL, pd_dot_q4_K_ref },
    [PD_TYPE_Q5_K] = { pd_dequant_q5_K, NULL, pd_dot_q5_K_ref },
    [PD_TYPE_Q6_K] = { pd_dequant_q6_K, NULL, pd_dot_q6_K_ref },
    [PD_TYPE_Q8_K] = { pd_dequant_q8_K, pd_quant_q8_K_ref, NULL },
    [PD_TYPE_IQ4_XS] = { pd_dequant_iq4_xs, NULL, pd_dot_iq4_xs_ref },
};

/* The kernels in use: the references, overwritten by SIMD ones where the CPU allows. */
static pd_vec_dot_fn dots[PD_TYPE_COUNT];
static pd_vec_dot4_fn dot4s[PD_TYPE_COUNT];   /* NULL where a type has no four-row kernel */
static pd_quant_fn quants[PD_TYPE_COUNT];
static const char *simd_name = "scalar";
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void
simd_init(void)
{
    for (int t = 0; t < PD_TYPE_COUNT; t++) {
        dots[t] = impls[t].dot_ref;
        quants[t] = impls[t].quant;
    }
    const char *force = getenv("PONDER_SIMD");
    if (force != NULL && strcmp(force, "scalar") == 0)
        return;
    const char *name = pd_quant_avx2_install(dots, dot4s, quants);
    if (name != NULL)
        simd_name = name;
}

static const struct quant_impl *
impl_get(enum pd_type t)
{
    if ((unsigned)t >= PD_TYPE_COUNT)
        return NULL;
    return &impls[t];
}

/* dst[0..n) = the values of row src; a type without a dequantizer writes zeros. */
void
pd_dequantize_row(enum pd_type t, const void *src, float *dst, int64_t n)
{
    const struct quant_impl *im = impl_get(t);
    if (im == NULL || im->dequant == NULL) {
        memset(dst, 0, (size_t)n * sizeof(float));
        return;
    }
    im->dequant(dst, src, n);
}

/* Quantizes n floats into dst with the kernel chosen for this CPU (bit-identical to the
 * reference); false for a type without a quantizer. */
bool
pd_quantize_row(enum pd_type t, const float *src, void *dst, int64_t n)
{
    pthread_once(&simd_once, simd_init);
    if ((unsigned)t >= PD_TYPE_COUNT || quants[t] == NULL)
        return false;
    quants[t](dst, src, n);
    return true;
}

/* As pd_quantize_row with the plain-C quantizer. */
bool
pd_quantize_row_ref(enum pd_type t, const float *src, void *dst, int64_t n)
{
    const struct quant_impl *im = impl_get(t);
    if (im == NULL || im->quant == NULL)
        return false;
    im->quant(dst, src, n);
    return true;
}

/* The dot kernel for type t on this CPU; NULL when t has none. */
pd_vec_dot_fn
pd_vec_dot_get(enum pd_type t)
{
    pthread_once(&simd_once, simd_init);
    if ((unsigned)t >= PD_TYPE_COUNT)
        return NULL;
    return dots[t];
}

/* The four-row kernel for type t on this CPU; NULL when there is none. */
pd_vec_dot4_fn
pd_vec_dot4_get(enum pd_type t)
{
    pthread_once(&simd_once, simd_init);
    if ((unsigned)t >= PD_TYPE_COUNT)
        return NULL;
    return dot4s[t];
}

/* *s = dot of weight row w (type t) and activation row a (vec_dot_type of t); 0 for a type
 * without a dot. */
void
pd_vec_dot(enum pd_type t, int64_t n, float *s, const void *w, const void *a)
{
    pd_vec_dot_fn f = pd_vec_dot_get(t);
    if (f == NULL) {
        *s = 0;
        return;
    }
    f(n, s, w, a);
}

/* As pd_vec_dot, always with the plain-C kernel. */
void
pd_vec_dot_ref(enum pd_type t, int64_t n, float *s, const void *w, const void *a)
{
    const struct quant_impl *im = impl_get(t);
    if (im == NULL || im->dot_ref == NULL) {
        *s = 0;
        return;
    }
    im->dot_ref(n, s, w, a);
}

/* The SIMD path pd_vec_dot takes: "avx2" or "scalar". */
const char *
pd_quant_simd_name(void)
{
    pthread_once(&simd_once, simd_init);
    return simd_name;
}
