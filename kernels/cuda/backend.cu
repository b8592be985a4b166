/*
 * backend.cu: finding CUDA devices and describing them.
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
