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

#include "kernels/cuda/cuda-common.cuh"

/* quant-impl.h states its layout checks in C11; in CUDA C++ they are static_assert. */
#define _Static_assert static_assert
extern "C" {
#include "kernels/cpu/quant-impl.h"
}
#undef _Static_assert

/* Elements of unit u of a row at row, for one format; v[32]. */
template <int TYPE> __device__ __forceinline__ void pd_dev_unit(float *v, const uint8_t *row,
                                                                int64_t u);

template <>
__device__ __forceinline__ void
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
__device__ __forceinline__ void
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
__device__ __forceinline__ void
pd_dev_unit<PD_TYPE_Q8_0>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q8_0 *b = (const struct pd_block_q8_0 *)row + u;
    float d = pd_dev_fp16(b->d);
    for (int j = 0; j < 32; j++)
        v[j] = (float)b->qs[j] * d;
}

/* Q4_K: group g of a super-block is the low (g even) or high (g odd) nibbles of qs[32 (g/2) ..];
 * value = d*sc*q - dmin*m with the 6-bit scale and min of pd_k4_scale_min. */
template <>
__device__ __forceinline__ void
pd_dev_unit<PD_TYPE_Q4_K>(float *v, const uint8_t *row, int64_t u)
{
    const struct pd_block_q4_K *b = (const struct pd_block_q4_K *)row + u / 8;
    int g = (int)(u % 8);
    const uint8_t *q = b->scales;
    int sc, m;
    if (g < 4) {
        sc = q[g] & 63;
        m = q[g + 4] & 63;
    } else {
        sc = (q[g + 4] & 0xF) | ((q[g - 4] >> 6) << 4);
        m = (q[g + 4] >> 4) | ((q[g] >> 6) << 4);
    }
    float dl = pd_dev_fp16(b->d) * (float)sc, ml = pd_dev_fp16(b->dmin) * (float)m;
    const uint8_t *qs = b->qs + 32 * (g / 2);
    int shift = 4 * (g % 2);
    for (int l = 0; l < 32; l++)
        v[l] = dl * (float)((qs[l] >> shift) & 0xF) - ml;
}

/* Q6_K: group g = 4 half + quarter covers elements 128 half + 32 quarter + l; its four low bits
 * come from ql (low or high nibble), its two high bits from qh; scales per 16 elements. */
template <>
__device__ __forceinline__ void
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

/* Element i of a float-format row. */
template <int TYPE> __device__ __forceinline__ float pd_dev_elem(const uint8_t *row, int64_t i);

template <>
__device__ __forceinline__ float
pd_dev_elem<PD_TYPE_F32>(const uint8_t *row, int64_t i)
{
    return ((const float *)row)[i];
}

template <>
__device__ __forceinline__ float
pd_dev_elem<PD_TYPE_F16>(const uint8_t *row, int64_t i)
{
    return pd_dev_fp16(((const uint16_t *)row)[i]);
}

template <>
__device__ __forceinline__ float
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
