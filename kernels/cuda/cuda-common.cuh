/*
 * cuda-common.cuh: what every .cu file of the CUDA backend shares: error checks that turn a CUDA
 * or cuBLAS failure into a message naming the call, the file and the line; block reductions;
 * half-precision loads; and the upload/download steps of the host-buffer entry points.
 *
 * The host-buffer entry points (pd_cuda_* in kernels/backend.h) exist so that each kernel can be
 * checked alone against its CPU twin. They follow one shape: set the device, allocate with
 * pd_cuda_alloc (whose out-of-memory message says what to try), copy in, launch, check the launch,
 * copy out, free everything on every path through one `fail` label.
 */
#ifndef PD_CUDA_COMMON_CUH
#define PD_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"

/* Evaluate a CUDA runtime call; on failure write the error to err and jump to `fail`. */
#define PD_CUDA_TRY(call)                                                                  \
    do {                                                                                   \
        cudaError_t pd_e_ = (call);                                                        \
        if (pd_e_ != cudaSuccess) {                                                        \
            snprintf(err, err_size, "%s:%d: %s: %s", __FILE__, __LINE__, #call,            \
                     cudaGetErrorString(pd_e_));                                           \
            goto fail;                                                                     \
        }                                                                                  \
    } while (0)

/* The same for cuBLAS calls (cublasStatus_t). */
#define PD_CUBLAS_TRY(call)                                                                \
    do {                                                                                   \
        cublasStatus_t pd_s_ = (call);                                                     \
        if (pd_s_ != CUBLAS_STATUS_SUCCESS) {                                              \
            snprintf(err, err_size, "%s:%d: %s: %s", __FILE__, __LINE__, #call,            \
                     cublasGetStatusString(pd_s_));                                        \
            goto fail;                                                                     \
        }                                                                                  \
    } while (0)

/* A call returning 0 or -1 with err already filled (pd_cuda_alloc, the launchers). */
#define PD_TRY(call)                                                                       \
    do {                                                                                   \
        if ((call) != 0)                                                                   \
            goto fail;                                                                     \
    } while (0)

/* Allocate n bytes on dev and copy host src there (src may be NULL: allocate only). */
static inline int
pd_cuda_upload(int dev, void **dst, const void *src, size_t n, const char *what, char *err,
               size_t err_size)
{
    if (pd_cuda_alloc(dev, dst, n, what, err, err_size) != 0)
        return -1;
    if (src && n) {
        cudaError_t e = cudaMemcpy(*dst, src, n, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            snprintf(err, err_size, "copying %s to device %d: %s", what, dev,
                     cudaGetErrorString(e));
            return -1;
        }
    }
    return 0;
}

/* Check the last launch, wait for the device, and copy n bytes of src back to host dst. */
static inline int
pd_cuda_download(void *dst, const void *src, size_t n, const char *what, char *err,
                 size_t err_size)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaDeviceSynchronize();
    if (e == cudaSuccess && n)
        e = cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) {
        snprintf(err, err_size, "computing %s: %s", what, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

/* ---- device helpers -------------------------------------------------------------------------- */

/* The block decoders (quant.cuh) compile for the host too, where tests/test-cuda-decode checks
 * them against the CPU's dequantizers with no GPU: these two intrinsics get host versions. */
#define PD_HD __host__ __device__ __forceinline__

/* The float whose bits are u. */
PD_HD float
pd_dev_bits_float(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* Bytes of {y, x} picked by the selector's four nibbles (byte i of the result: nibble i, 0-3 of
 * x, 4-7 of y), as the PRMT instruction. */
PD_HD uint32_t
pd_dev_byte_perm(uint32_t x, uint32_t y, uint32_t s)
{
#ifdef __CUDA_ARCH__
    return __byte_perm(x, y, s);
#else
    uint64_t both = (uint64_t)y << 32 | x;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++)
        r |= (uint32_t)(both >> 8 * (s >> 4 * i & 7) & 0xFF) << 8 * i;
    return r;
#endif
}

PD_HD float
pd_dev_fp16(uint16_t h)
{
    return __half2float(__ushort_as_half(h));
}

PD_HD float
pd_dev_bf16(uint16_t h)
{
    return pd_dev_bits_float((uint32_t)h << 16);
}

__device__ __forceinline__ float
pd_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float
pd_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block; every thread gets it. blockDim.x must be a multiple of 32, at most
 * 1024; every thread of the block must call it (it synchronizes). */
__device__ __forceinline__ float
pd_block_sum(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = pd_warp_sum(v);
    __syncthreads(); /* part may still be read by a previous call */
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : 0.0f;
    return pd_warp_sum(v);
}

/* Maximum of v over the block, as pd_block_sum. */
__device__ __forceinline__ float
pd_block_max(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = pd_warp_max(v);
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : -INFINITY;
    return pd_warp_max(v);
}

#endif
