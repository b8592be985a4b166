/*
 * backend.cu: finding CUDA devices, describing them, and their memory: allocation whose failure
 * says how much was needed and what to try, and the bandwidth bound decode speed is judged by.
 */
#include "config.h"

#include "kernels/backend.h"
#include "kernels/cuda/cuda-common.cuh"

#include <cublas_v2.h>

extern "C" int
pd_cuda_compiled(void)
{
    return 1;
}

extern "C" int
pd_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    return n;
}

extern "C" int
pd_cuda_device_describe(int dev, char *buf, size_t size)
{
    cudaDeviceProp prop;
    if (dev < 0 || dev >= pd_cuda_device_count() ||
        cudaGetDeviceProperties(&prop, dev) != cudaSuccess)
        return -1;
    snprintf(buf, size, "%s, %.1f GiB, sm_%d%d", prop.name,
             prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
    return 0;
}

extern "C" int
pd_cuda_mem_info(int dev, size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    if (dev < 0 || dev >= pd_cuda_device_count() || cudaSetDevice(dev) != cudaSuccess)
        return -1;
    return cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess ? 0 : -1;
}

extern "C" int
pd_cuda_alloc(int dev, void **ptr, size_t bytes, const char *what, char *err, size_t err_size)
{
    *ptr = NULL;
    cudaError_t e = cudaSetDevice(dev);
    if (e != cudaSuccess) {
        snprintf(err, err_size, "device %d: %s", dev, cudaGetErrorString(e));
        return -1;
    }
    e = cudaMalloc(ptr, bytes ? bytes : 1);
    if (e == cudaSuccess)
        return 0;
    *ptr = NULL;
    if (e != cudaErrorMemoryAllocation) {
        snprintf(err, err_size, "device %d: allocating %.1f MiB for %s: %s", dev,
                 bytes / 1048576.0, what, cudaGetErrorString(e));
        return -1;
    }
    cudaGetLastError(); /* an allocation failure is not sticky; clear it for the next call */
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    snprintf(err, err_size,
             "device %d: out of memory for %s: needed %.0f MiB, %.0f MiB free of %.1f GiB; try "
             "more devices (--gpus 0,1 --split layer, or expert for a mixture of experts), fewer "
             "layers on the GPU (--gpu-layers N), or a smaller -c",
             dev, what, bytes / 1048576.0, free_b / 1048576.0, total_b / 1073741824.0);
    return -1;
}

extern "C" void
pd_cuda_free(void *ptr)
{
    if (ptr)
        cudaFree(ptr);
}

extern "C" double
pd_cuda_bandwidth(int dev)
{
    int khz = 0, bits = 0;
    /* CUDA 13 dropped cudaDeviceProp::memoryClockRate; the attribute remains. */
    if (dev < 0 || dev >= pd_cuda_device_count() ||
        cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&bits, cudaDevAttrGlobalMemoryBusWidth, dev) != cudaSuccess)
        return 0.0;
    return 1000.0 * khz * (bits / 8.0) * 2.0; /* double data rate */
}
