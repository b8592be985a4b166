/*
 * device.cuh: the helpers the kernels share on the device: bit-level float and byte tricks,
 * half-precision loads, and warp and block reductions.
 *
 * It needs nothing of the CUDA runtime, so the kernels built on it also compile as plain C++
 * under tests/simt.h (which defines PD_SIMT and stands in for CUDA's device vocabulary;
 * tests/simt-include/ holds the CUDA headers then), where test-cuda-host, test-cuda-simt and
 * test-cuda-model-simt run them on the host, thread for thread.
 */
#ifndef PD_CUDA_DEVICE_CUH
#define PD_CUDA_DEVICE_CUH

#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The block decoders (quant.cuh) also compile for the host as plain functions, where
 * tests/test-cuda-host checks them against the CPU's dequantizers: these intrinsics get host
 * versions. */
#define PD_HD __host__ __device__ __forceinline__

/* Launch kernel on grid blocks of block threads with shared bytes of dynamic shared memory,
 * queued on stream, then the arguments in parentheses: PD_LAUNCH(k, grid, block, shared,
 * stream)(args). A kernel declares that memory with PD_SHARED_DYNAMIC(type, name). Spelt so,
 * tests/simt.h can run the kernels on the host. */
#ifndef PD_SIMT
#define PD_LAUNCH(kernel, grid, block, shared, stream) \
    kernel<<<(grid), (block), (shared), (stream)>>>
#define PD_SHARED_DYNAMIC(type, name) extern __shared__ type name[]
#endif

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
