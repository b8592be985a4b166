/*
 * stub.c: the CUDA entry points of a build without CUDA. Everything says "no device".
 */
#include "config.h"

#include "kernels/backend.h"

#include <stdio.h>

int
pd_cuda_compiled(void)
{
    return 0;
}

int
pd_cuda_device_count(void)
{
    return 0;
}

int
pd_cuda_device_describe(int dev, char *buf, size_t size)
{
    (void)dev;
    if (size)
        buf[0] = '\0';
    return -1;
}

int
pd_cuda_rmsnorm(int dev, float *out, const float *x, const float *w, int64_t rows, int64_t n,
                float eps, char *err, size_t err_size)
{
    (void)dev, (void)out, (void)x, (void)w, (void)rows, (void)n, (void)eps;
    snprintf(err, err_size, "this ponder was built without CUDA (configure --with-cuda)");
    return -1;
}
