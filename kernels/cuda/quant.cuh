/*
 * quant.cuh: GGUF block formats on the device, the twin of kernels/cpu/quant.c and quant-k.c.
 *
 * The block layouts are the CPU's (kernels/cpu/quant-impl.h, included here so there is one
 * definition). Every supported quantized format is read in units of 32 consecutive elements: a
 * whole block of Q4_0/Q8_0, one of the eight 32-element groups of a Q4_K/Q6_K super-block. Unit u
 * of a row covers elements [32u, 32u + 32). The arithmetic follows the CPU dequantizers (same
 * operands, same order), so a unit dequantizes to the CPU's floats up to fused multiply-adds.
 */
#ifndef PD_CUDA_QUANT_CUH
#define PD_CUDA_QUANT_CUH

#include "kernels/backend.h"
#include "kernels/cuda/device.cuh"

#include <stdio.h>

/* quant-impl.h states its layout checks in C11; in CUDA C++ they are static_assert. */
#define _Static_assert static_assert
extern "C" {
#include "kernels/cpu/quant-impl.h"
}
#undef _Static_assert

/* Elements of unit u of a row at row, for one format; v[32]. */
template <int TYPE> PD_HD void pd_dev_unit(float *v, const uint8_t *row,
                                                                int64_t u);

template <>
PD_HD void
pd_dev_unit<PD_TYPE_Q4_0>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q4_0 *b = (const struct pd_block_q4_0 *)row + u;
    float d = pd_dev_fp16(b->d);
    for (int j = 0; j < 16; j++) {
        v[j] = (float)((b->qs[j] & 0xF) - 8) * d;
        v[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
    }
}

template <>
PD_HD void
pd_dev_unit<PD_TYPE_Q4_1>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q4_1 *b = (const struct pd_block_q4_1 *)row + u;
    float d = pd_dev_fp16(b->d), m = pd_dev_fp16(b->m);
    for (int j = 0; j < 16; j++) {
        v[j] = (float)(b->qs[j] & 0xF) * d + m;
        v[j + 16] = (float)(b->qs[j] >> 4) * d + m;
    }
}

template <>
PD_HD void
pd_dev_unit<PD_TYPE_Q8_0>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q8_0 *b = (const struct pd_block_q8_0 *)row + u;
    float d = pd_dev_fp16(b->d);
    for (int j = 0; j < 32; j++)
        v[j] = (float)b->qs[j] * d;
}

/* Group g's scale and minimum of a Q4_K super-block (the 6-bit pairs of pd_k4_scale_min),
 * multiplied out: value = dl * q - ml. */
PD_HD void
pd_dev_k4_scale_min(const struct pd_block_q4_K *b, int g, float *dl, float *ml)
{
    const uint8_t *q = b->scales;
    int sc, m;
    if (g < 4) {
        sc = q[g] & 63;
        m = q[g + 4] & 63;
    } else {
        sc = (q[g + 4] & 0xF) | ((q[g - 4] >> 6) << 4);
        m = (q[g + 4] >> 4) | ((q[g] >> 6) << 4);
    }
    *dl = pd_dev_fp16(b->d) * (float)sc;
    *ml = pd_dev_fp16(b->dmin) * (float)m;
}

/* Q4_K: group g of a super-block is the low (g even) or high (g odd) nibbles of qs[32 (g/2) ..];
 * value = d*sc*q - dmin*m with the 6-bit scale and min of pd_k4_scale_min. */
template <>
PD_HD void
pd_dev_unit<PD_TYPE_Q4_K>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q4_K *b = (const struct pd_block_q4_K *)row + u / 8;
    int g = (int)(u % 8);
    float dl, ml;
    pd_dev_k4_scale_min(b, g, &dl, &ml);
    const uint8_t *qs = b->qs + 32 * (g / 2);
    int shift = 4 * (g % 2);
    for (int l = 0; l < 32; l++)
        v[l] = dl * (float)((qs[l] >> shift) & 0xF) - ml;
}

/* Q6_K: group g = 4 half + quarter covers elements 128 half + 32 quarter + l; its four low bits
 * come from ql (low or high nibble), its two high bits from qh; scales per 16 elements. */
template <>
PD_HD void
pd_dev_unit<PD_TYPE_Q6_K>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q6_K *b = (const struct pd_block_q6_K *)row + u / 8;
    int g = (int)(u % 8), half = g / 4, quarter = g % 4;
    const uint8_t *ql = b->ql + 64 * half + 32 * (quarter % 2);
    const uint8_t *qh = b->qh + 32 * half;
    int lshift = 4 * (quarter / 2), hshift = 2 * quarter;
    float d = pd_dev_fp16(b->d);
    const int8_t *sc = b->scales + 8 * half + 2 * quarter;
    for (int l = 0; l < 32; l++) {
        int q = (((ql[l] >> lshift) & 0xF) | ((qh[l] >> hshift) & 3) << 4) - 32;
        v[l] = d * (float)sc[l / 16] * (float)q;
    }
}

/* ---- the decode product's reads: a quarter of a unit per thread ---- */

/* Four bytes at p, which every caller below has 2-byte aligned (the blocks of Q4_0, Q8_0 and
 * Q6_K are 18, 34 and 210 bytes long, so a 4-byte load could fault). */
PD_HD uint32_t
pd_dev_load4(const uint8_t *p)
{
    const uint16_t *h = (const uint16_t *)p;
    return (uint32_t)h[0] | (uint32_t)h[1] << 16;
}

/* Byte k of w as the float 2^23 + byte, with no integer-to-float conversion: the byte is placed
 * in the mantissa of 2^23 (one byte permute). The conversion instruction runs at a quarter of the
 * rate of float arithmetic (16 a clock per SM on sm_80 and sm_90), which capped 4-bit decode
 * below half the memory bandwidth; subtracting 2^23 (and a format's offset) in float is exact,
 * so the values are those of the conversion, bit for bit. k is a constant after unrolling. */
#define PD_DEV_MAGIC 8388608.0f
PD_HD float
pd_dev_byte_magic(uint32_t w, int k)
{
    return pd_dev_bits_float(pd_dev_byte_perm(w, 0x4B000000u, 0x7440u | (unsigned)k));
}

/* Q6_K for the decode kernel, a sixteenth of a super-block per thread: thread t (0..15) of
 * super-block sb takes the 16 elements at offsets pd_dev_q6k_at(t, j), j < 16 (four runs of
 * four, one in each 32-element quarter of its half), reading each byte of ql and qh it needs once
 * (per-unit parts read qh four times over and ql twice). The values are pd_dev_unit's. */
PD_HD int
pd_dev_q6k_at(int t, int j)
{
    return 128 * (t / 8) + 32 * (j / 4) + 4 * (t % 8) + j % 4;
}

PD_HD void
pd_dev_q6k_sixteenth(float *v, const uint8_t *row, int64_t sb, int t)
{
    const struct pd_block_q6_K *b = (const struct pd_block_q6_K *)row + sb;
    int half = t / 8, l0 = 4 * (t % 8);
    const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
    const int8_t *sc = b->scales + 8 * half + l0 / 16;
    float d = pd_dev_fp16(b->d);
    uint32_t lo = pd_dev_load4(ql + l0), hi = pd_dev_load4(ql + 32 + l0);
    uint32_t h = pd_dev_load4(qh + l0);
    /* quarter g: the low or high nibbles of ql (first or second 32 bytes), bits 2g of qh */
    uint32_t q[4] = {
        (lo & 0x0F0F0F0Fu) | (h & 0x03030303u) << 4,
        (hi & 0x0F0F0F0Fu) | (h >> 2 & 0x03030303u) << 4,
        (lo >> 4 & 0x0F0F0F0Fu) | (h >> 4 & 0x03030303u) << 4,
        (hi >> 4 & 0x0F0F0F0Fu) | (h >> 6 & 0x03030303u) << 4,
    };
    for (int g = 0; g < 4; g++) {
        float dg = d * (float)sc[2 * g];
        for (int k = 0; k < 4; k++)
            v[4 * g + k] = dg * (pd_dev_byte_magic(q[g], k) - (PD_DEV_MAGIC + 32.0f));
    }
}

/* Part s (0..3) of unit u: the eight elements 32u + {4s..4s+3, 16+4s..16+4s+3}, into v[8] (the
 * four of the first run, then the four of the second). That set is the two nibbles of the same
 * four bytes in Q4_0/Q4_1/Q4_K, so four threads read a unit's bytes once between them; the
 * values are pd_dev_unit's, element for element. */
template <int TYPE> PD_HD void pd_dev_part(float *v, const uint8_t *row,
                                                                int64_t u, int s);

template <>
PD_HD void
pd_dev_part<PD_TYPE_Q4_0>(float *v, const uint8_t *row, int64_t u, int s)
{
    const struct pd_block_q4_0 *b = (const struct pd_block_q4_0 *)row + u;
    float d = pd_dev_fp16(b->d);
    uint32_t q = pd_dev_load4(b->qs + 4 * s);
    uint32_t lo = q & 0x0F0F0F0Fu, hi = q >> 4 & 0x0F0F0F0Fu;
    for (int k = 0; k < 4; k++) {
        v[k] = (pd_dev_byte_magic(lo, k) - (PD_DEV_MAGIC + 8.0f)) * d;
        v[k + 4] = (pd_dev_byte_magic(hi, k) - (PD_DEV_MAGIC + 8.0f)) * d;
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_Q4_1>(float *v, const uint8_t *row, int64_t u, int s)
{
    const struct pd_block_q4_1 *b = (const struct pd_block_q4_1 *)row + u;
    float d = pd_dev_fp16(b->d), m = pd_dev_fp16(b->m);
    uint32_t q = pd_dev_load4(b->qs + 4 * s);
    uint32_t lo = q & 0x0F0F0F0Fu, hi = q >> 4 & 0x0F0F0F0Fu;
    for (int k = 0; k < 4; k++) {
        v[k] = (pd_dev_byte_magic(lo, k) - PD_DEV_MAGIC) * d + m;
        v[k + 4] = (pd_dev_byte_magic(hi, k) - PD_DEV_MAGIC) * d + m;
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_Q8_0>(float *v, const uint8_t *row, int64_t u, int s)
{
    const struct pd_block_q8_0 *b = (const struct pd_block_q8_0 *)row + u;
    float d = pd_dev_fp16(b->d);
    /* a signed byte b, its top bit flipped, is the unsigned b + 128 */
    uint32_t lo = pd_dev_load4((const uint8_t *)b->qs + 4 * s) ^ 0x80808080u;
    uint32_t hi = pd_dev_load4((const uint8_t *)b->qs + 16 + 4 * s) ^ 0x80808080u;
    for (int k = 0; k < 4; k++) {
        v[k] = (pd_dev_byte_magic(lo, k) - (PD_DEV_MAGIC + 128.0f)) * d;
        v[k + 4] = (pd_dev_byte_magic(hi, k) - (PD_DEV_MAGIC + 128.0f)) * d;
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_Q4_K>(float *v, const uint8_t *row, int64_t u, int s)
{
    /* the block's 16-byte head (d, dmin, the 12 bytes of scales) in one load and the quants in
     * 4-byte words: matvec_parts_fit keeps Q4_K rows 16-byte aligned (blocks are 144 bytes) */
    const struct pd_block_q4_K *b = (const struct pd_block_q4_K *)row + u / 8;
    int g = (int)(u % 8), j = g % 4;
    uint4 head = *(const uint4 *)b;
    uint32_t by = head.y >> 8 * j & 0xFF, bz = head.z >> 8 * j & 0xFF, bw = head.w >> 8 * j & 0xFF;
    /* pd_dev_k4_scale_min's 6-bit scale and min of group g, from the bytes of the head */
    uint32_t sc = g < 4 ? by & 63 : (bw & 0xF) | (by >> 6) << 4;
    uint32_t mn = g < 4 ? bz & 63 : bw >> 4 | (bz >> 6) << 4;
    float dl = pd_dev_fp16((uint16_t)(head.x & 0xFFFF)) * (float)sc;
    float ml = pd_dev_fp16((uint16_t)(head.x >> 16)) * (float)mn;
    const uint32_t *qs = (const uint32_t *)(b->qs + 32 * (g / 2));
    int shift = 4 * (g % 2);
    uint32_t lo = qs[s] >> shift & 0x0F0F0F0Fu;
    uint32_t hi = qs[4 + s] >> shift & 0x0F0F0F0Fu;
    for (int k = 0; k < 4; k++) {
        v[k] = dl * (pd_dev_byte_magic(lo, k) - PD_DEV_MAGIC) - ml;
        v[k + 4] = dl * (pd_dev_byte_magic(hi, k) - PD_DEV_MAGIC) - ml;
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_Q6_K>(float *v, const uint8_t *row, int64_t u, int s)
{
    const struct pd_block_q6_K *b = (const struct pd_block_q6_K *)row + u / 8;
    int g = (int)(u % 8), half = g / 4, quarter = g % 4;
    const uint8_t *ql = b->ql + 64 * half + 32 * (quarter % 2);
    const uint8_t *qh = b->qh + 32 * half;
    int lshift = 4 * (quarter / 2), hshift = 2 * quarter;
    float d = pd_dev_fp16(b->d);
    const int8_t *sc = b->scales + 8 * half + 2 * quarter;
    float d0 = d * (float)sc[0], d1 = d * (float)sc[1];
    uint32_t l0 = pd_dev_load4(ql + 4 * s), l1 = pd_dev_load4(ql + 16 + 4 * s);
    uint32_t h0 = pd_dev_load4(qh + 4 * s), h1 = pd_dev_load4(qh + 16 + 4 * s);
    /* four 6-bit values a word: the nibble from ql, the two high bits from qh */
    uint32_t q0 = (l0 >> lshift & 0x0F0F0F0Fu) | (h0 >> hshift & 0x03030303u) << 4;
    uint32_t q1 = (l1 >> lshift & 0x0F0F0F0Fu) | (h1 >> hshift & 0x03030303u) << 4;
    for (int k = 0; k < 4; k++) {
        v[k] = d0 * (pd_dev_byte_magic(q0, k) - (PD_DEV_MAGIC + 32.0f));
        v[k + 4] = d1 * (pd_dev_byte_magic(q1, k) - (PD_DEV_MAGIC + 32.0f));
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_F32>(float *v, const uint8_t *row, int64_t u, int s)
{
    const float *p = (const float *)row + 32 * u + 4 * s;
    float4 a = *(const float4 *)p, c = *(const float4 *)(p + 16);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = c.x, v[5] = c.y, v[6] = c.z, v[7] = c.w;
}

template <int TYPE>
PD_HD void
pd_dev_part_half(float *v, const uint8_t *row, int64_t u, int s)
{
    const uint16_t *p = (const uint16_t *)row + 32 * u + 4 * s;
    uint2 a = *(const uint2 *)p, c = *(const uint2 *)(p + 16);
    uint32_t w[4] = { a.x, a.y, c.x, c.y };
    for (int k = 0; k < 4; k++) {
        uint16_t lo = (uint16_t)(w[k] & 0xFFFF), hi = (uint16_t)(w[k] >> 16);
        v[2 * k] = TYPE == PD_TYPE_F16 ? pd_dev_fp16(lo) : pd_dev_bf16(lo);
        v[2 * k + 1] = TYPE == PD_TYPE_F16 ? pd_dev_fp16(hi) : pd_dev_bf16(hi);
    }
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_F16>(float *v, const uint8_t *row, int64_t u, int s)
{
    pd_dev_part_half<PD_TYPE_F16>(v, row, u, s);
}

template <>
PD_HD void
pd_dev_part<PD_TYPE_BF16>(float *v, const uint8_t *row, int64_t u, int s)
{
    pd_dev_part_half<PD_TYPE_BF16>(v, row, u, s);
}

/* Element i of a float-format row. */
template <int TYPE> PD_HD float pd_dev_elem(const uint8_t *row, int64_t i);

template <>
PD_HD float
pd_dev_elem<PD_TYPE_F32>(const uint8_t *row, int64_t i)
{
    return ((const float *)row)[i];
}

template <>
PD_HD float
pd_dev_elem<PD_TYPE_F16>(const uint8_t *row, int64_t i)
{
    return pd_dev_fp16(((const uint16_t *)row)[i]);
}

template <>
PD_HD float
pd_dev_elem<PD_TYPE_BF16>(const uint8_t *row, int64_t i)
{
    return pd_dev_bf16(((const uint16_t *)row)[i]);
}

/* Whether TYPE is read element by element (the float formats) or in 32-element units. */
__host__ __device__ constexpr bool
pd_dev_is_float(int type)
{
    return type == PD_TYPE_F32 || type == PD_TYPE_F16 || type == PD_TYPE_BF16;
}

/* Expand X(TYPE) for the runtime type t, inside a switch whose default runs `otherwise`. One
 * list, so adding a format touches one place. */
#define PD_DEV_FOR_TYPE(t, X, otherwise)                                                   \
    switch (t) {                                                                           \
    case PD_TYPE_F32: X(PD_TYPE_F32); break;                                               \
    case PD_TYPE_F16: X(PD_TYPE_F16); break;                                               \
    case PD_TYPE_BF16: X(PD_TYPE_BF16); break;                                             \
    case PD_TYPE_Q4_0: X(PD_TYPE_Q4_0); break;                                             \
    case PD_TYPE_Q4_1: X(PD_TYPE_Q4_1); break;                                             \
    case PD_TYPE_Q8_0: X(PD_TYPE_Q8_0); break;                                             \
    case PD_TYPE_Q4_K: X(PD_TYPE_Q4_K); break;                                             \
    case PD_TYPE_Q6_K: X(PD_TYPE_Q6_K); break;                                             \
    default: otherwise;                                                                    \
    }

/* quant.cu: rows rows of weights w (device) into out (device) as float, half or bfloat16, on
 * stream; false for a type the device kernels do not handle. */
bool pd_cuda_dequantize_f32(float *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                            cudaStream_t stream);
bool pd_cuda_dequantize_f16(void *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                            cudaStream_t stream);
bool pd_cuda_dequantize_bf16(void *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                             cudaStream_t stream);

/* Check wtype and n_in for the entry points; 0, or -1 with a message. */
static inline int
pd_cuda_check_weights(int wtype, int64_t n_in, char *err, size_t err_size)
{
    const struct pd_type_traits *tr = pd_type_traits_get((uint32_t)wtype);
    if (!pd_cuda_type_supported(wtype)) {
        snprintf(err, err_size, "weights of type %s: no CUDA kernel (have f32 f16 bf16 q4_0 "
                 "q4_1 q8_0 q4_K q6_K)", tr ? tr->name : "?");
        return -1;
    }
    if (n_in <= 0 || n_in % tr->block_size != 0) {
        snprintf(err, err_size, "rows of %lld elements: not a multiple of %s's block of %lld",
                 (long long)n_in, tr->name, (long long)tr->block_size);
        return -1;
    }
    return 0;
}

#endif
