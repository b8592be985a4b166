/*
 * rmsnorm.cu: RMSNorm on the GPU, the twin of pd_rmsnorm in kernels/cpu/ops.c.
 *
 * One block per row; threads stride over the row, reduce the sum of squares in shared memory,
 * then scale. Layered as kernel -> launcher on a stream -> checked entry point.
 */
#include "config.h"

#include "kernels/backend.h"
#include "kernels/cuda/exec.cuh"

#define RMSNORM_THREADS 256

__global__ void
rmsnorm_kernel(float *out, int64_t ld_out, const float *x, int64_t ld_x, const float *w,
               int64_t n, float eps)
{
    __shared__ float partial[RMSNORM_THREADS];
    const float *xr = x + blockIdx.x * ld_x;
    float *outr = out + blockIdx.x * ld_out;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        ss += xr[i] * xr[i];
    partial[threadIdx.x] = ss;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    float scale = rsqrtf(partial[0] / n + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        outr[i] = xr[i] * scale * (w ? w[i] : 1.0f);
}

static void
rmsnorm_cuda(float *out, int64_t ld_out, const float *x, int64_t ld_x, const float *w,
             int64_t rows, int64_t n, float eps, cudaStream_t stream)
{
    PD_LAUNCH(rmsnorm_kernel, (unsigned)rows, RMSNORM_THREADS, 0, stream)(
        out, ld_out, x, ld_x, w, n, eps);
}

extern "C" int
pd_cuda_rmsnorm(int dev, float *out, const float *x, const float *w, int64_t rows, int64_t n,
                float eps, char *err, size_t err_size)
{
    void *d_x = NULL, *d_out = NULL, *d_w = NULL;
    size_t bytes = sizeof(float) * (size_t)rows * (size_t)n;
    int rc = -1;
    PD_TRY(pd_cuda_upload(dev, &d_x, x, bytes, "the rmsnorm input", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_out, NULL, bytes, "the rmsnorm output", err, err_size));
    if (w)
        PD_TRY(pd_cuda_upload(dev, &d_w, w, sizeof(float) * (size_t)n, "the norm weights", err,
                              err_size));
    rmsnorm_cuda((float *)d_out, n, (const float *)d_x, n, (const float *)d_w, rows, n, eps, 0);
    PD_TRY(pd_cuda_download(out, d_out, bytes, "rmsnorm", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_x);
    pd_cuda_free(d_out);
    pd_cuda_free(d_w);
    return rc;
}

extern "C" int
pd_cuda_dev_rmsnorm(struct pd_cuda_exec *x, float *out, int64_t ld_out, const float *in,
                    int64_t ld_in, const float *w, int64_t rows, int64_t n, float eps, char *err,
                    size_t err_size)
{
    if (rows <= 0)
        return 0;
    rmsnorm_cuda(out, ld_out, in, ld_in, w, rows, n, eps, x->stream);
    return pd_cuda_launched("rmsnorm", err, err_size);
}
