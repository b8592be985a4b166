/*
 * quant.cu: dequantizing GGUF rows on the device, the twin of pd_dequantize_row (kernels/cpu/
 * quant.c, quant-k.c). The prefill product (matmul.cu) dequantizes weight blocks with it before
 * cuBLAS; the test checks it alone, element by element.
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"
#include "kernels/cuda/quant.cuh"

#include <cuda_bf16.h>

#define DQ_THREADS 128

template <typename O> __device__ __forceinline__ O pd_dev_out(float v);

template <>
__device__ __forceinline__ float
pd_dev_out<float>(float v)
{
    return v;
}

template <>
__device__ __forceinline__ __half
pd_dev_out<__half>(float v)
{
    return __float2half_rn(v);
}

template <>
__device__ __forceinline__ __nv_bfloat16
pd_dev_out<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* One block per row: out[row][n_in] = the row's values, converted to O. */
template <int TYPE, typename O>
__global__ void
dequantize_kernel(O *out, const uint8_t *w, size_t row_bytes, int64_t n_in)
{
    const uint8_t *row = w + blockIdx.x * row_bytes;
    O *o = out + blockIdx.x * n_in;
    if constexpr (pd_dev_is_float(TYPE)) {
        for (int64_t i = threadIdx.x; i < n_in; i += blockDim.x)
            o[i] = pd_dev_out<O>(pd_dev_elem<TYPE>(row, i));
    } else {
        float v[32];
        for (int64_t u = threadIdx.x; u < n_in / 32; u += blockDim.x) {
            pd_dev_unit<TYPE>(v, row, u);
            for (int j = 0; j < 32; j++)
                o[32 * u + j] = pd_dev_out<O>(v[j]);
        }
    }
}

/* rows rows of w (device) into out (device), as O; false for an unsupported type. */
template <typename O>
static bool
dequantize_cuda(O *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                cudaStream_t stream)
{
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n_in);
    const uint8_t *wb = (const uint8_t *)w;
#define LAUNCH(T)                                                                      \
    {                                                                                  \
        auto kernel = dequantize_kernel<T, O>;                                         \
        PD_LAUNCH(kernel, (unsigned)rows, DQ_THREADS, 0, stream)(out, wb, row_bytes, n_in); \
    }
    PD_DEV_FOR_TYPE(wtype, LAUNCH, return false)
#undef LAUNCH
    return true;
}

/* The instances the prefill product uses. */
bool
pd_cuda_dequantize_f32(float *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                       cudaStream_t stream)
{
    return dequantize_cuda<float>(out, w, wtype, n_in, rows, stream);
}

bool
pd_cuda_dequantize_f16(void *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                       cudaStream_t stream)
{
    return dequantize_cuda<__half>((__half *)out, w, wtype, n_in, rows, stream);
}

bool
pd_cuda_dequantize_bf16(void *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                        cudaStream_t stream)
{
    return dequantize_cuda<__nv_bfloat16>((__nv_bfloat16 *)out, w, wtype, n_in, rows, stream);
}

extern "C" int
pd_cuda_type_supported(int wtype)
{
    switch (wtype) {
    case PD_TYPE_F32: case PD_TYPE_F16: case PD_TYPE_BF16:
    case PD_TYPE_Q4_0: case PD_TYPE_Q4_1: case PD_TYPE_Q8_0: case PD_TYPE_Q4_K: case PD_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

extern "C" int
pd_cuda_dequantize(int dev, float *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                   char *err, size_t err_size)
{
    void *d_w = NULL, *d_out = NULL;
    int rc = -1;
    size_t wbytes, obytes = sizeof(float) * (size_t)n_in * (size_t)rows;
    PD_TRY(pd_cuda_check_weights(wtype, n_in, err, err_size));
    wbytes = pd_type_row_size((enum pd_type)wtype, n_in) * (size_t)rows;
    PD_TRY(pd_cuda_upload(dev, &d_w, w, wbytes, "the weights", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_out, NULL, obytes, "the dequantized rows", err, err_size));
    pd_cuda_dequantize_f32((float *)d_out, d_w, wtype, n_in, rows, 0);
    PD_TRY(pd_cuda_download(out, d_out, obytes, "dequantize", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_w);
    pd_cuda_free(d_out);
    return rc;
}

/* ---- the embedding lookup (the whole-model forward) ------------------------------------------ */

/* One block per token: out[t][n_in] = row tokens[t] of w, as float. */
template <int TYPE>
__global__ void
embed_kernel(float *out, const uint8_t *w, size_t row_bytes, const int32_t *tokens, int64_t n_in)
{
    const uint8_t *row = w + (size_t)tokens[blockIdx.x] * row_bytes;
    float *o = out + blockIdx.x * n_in;
    if constexpr (pd_dev_is_float(TYPE)) {
        for (int64_t i = threadIdx.x; i < n_in; i += blockDim.x)
            o[i] = pd_dev_elem<TYPE>(row, i);
    } else {
        float v[32];
        for (int64_t u = threadIdx.x; u < n_in / 32; u += blockDim.x) {
            pd_dev_unit<TYPE>(v, row, u);
            for (int j = 0; j < 32; j++)
                o[32 * u + j] = v[j];
        }
    }
}

extern "C" int
pd_cuda_dev_embed(struct pd_cuda_exec *x, float *out, const void *w, int wtype,
                  const int32_t *tokens, int64_t n, int64_t T, char *err, size_t err_size)
{
    if (pd_cuda_check_weights(wtype, n, err, err_size) != 0)
        return -1;
    if (T <= 0)
        return 0;
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n);
    const uint8_t *wb = (const uint8_t *)w;
#define LAUNCH(TY) \
    PD_LAUNCH(embed_kernel<TY>, (unsigned)T, DQ_THREADS, 0, x->stream)(out, wb, row_bytes, tokens, n)
    PD_DEV_FOR_TYPE(wtype, LAUNCH, snprintf(err, err_size, "embedding of type %d: no CUDA kernel",
                                            wtype);
                    return -1)
#undef LAUNCH
    return pd_cuda_launched("the embedding lookup", err, err_size);
}
