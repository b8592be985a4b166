/*
 * exec.cu: the execution state of the device-pointer layer (a stream, a cuBLAS handle, the
 * prefill scratch), the copies, and the small element-wise kernels of a forward pass that have no
 * CPU twin of their own in kernels/cuda: residual and bias adds, the MoE gather and the MoE
 * combine (the sum engine/moe.c does in its step 6).
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"

#include <stdlib.h>

#define EW_THREADS 256
#define EXEC_SCRATCH_BYTES ((size_t)64 << 20) /* as matmul.cu's GEMM_SCRATCH_BYTES */

extern "C" int
pd_cuda_exec_new(struct pd_cuda_exec **out, int dev, char *err, size_t err_size)
{
    struct pd_cuda_exec *x = (struct pd_cuda_exec *)calloc(1, sizeof *x);
    *out = NULL;
    if (x == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    x->dev = dev;
    PD_CUDA_TRY(cudaSetDevice(dev));
    PD_CUDA_TRY(cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking));
    PD_CUBLAS_TRY(cublasCreate(&x->blas));
    PD_CUBLAS_TRY(cublasSetStream(x->blas, x->stream));
    /* plain F32 products: TF32 would cost the CPU's agreement for speed nobody asked for yet */
    PD_CUBLAS_TRY(cublasSetMathMode(x->blas, CUBLAS_DEFAULT_MATH));
    x->scratch_bytes = EXEC_SCRATCH_BYTES;
    PD_TRY(pd_cuda_alloc(dev, &x->scratch, x->scratch_bytes, "the prefill product's scratch",
                         err, err_size));
    *out = x;
    return 0;
fail:
    pd_cuda_exec_free(x);
    return -1;
}

extern "C" void
pd_cuda_exec_free(struct pd_cuda_exec *x)
{
    if (x == NULL)
        return;
    cudaSetDevice(x->dev);
    if (x->stream)
        cudaStreamSynchronize(x->stream);
    if (x->graph)
        cudaGraphExecDestroy(x->graph);
    if (x->blas)
        cublasDestroy(x->blas);
    pd_cuda_free(x->scratch);
    pd_cuda_free(x->act);
    if (x->stream)
        cudaStreamDestroy(x->stream);
    free(x);
}

extern "C" void
pd_cuda_exec_set_half(struct pd_cuda_exec *x, int half)
{
    x->half = half;
}

extern "C" int
pd_cuda_exec_bind(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    PD_CUDA_TRY(cudaSetDevice(x->dev));
    return 0;
fail:
    return -1;
}

extern "C" int
pd_cuda_exec_record_begin(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    /* thread-local: another thread's CUDA calls meanwhile neither join nor break the recording */
    PD_CUDA_TRY(cudaStreamBeginCapture(x->stream, cudaStreamCaptureModeThreadLocal));
    return 0;
fail:
    return -1;
}

extern "C" int
pd_cuda_exec_record_end(struct pd_cuda_exec *x, int keep, char *err, size_t err_size)
{
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(x->stream, &graph);
    if (e == cudaSuccess && keep)
        e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (!keep)
        return 0;
    if (e != cudaSuccess) {
        snprintf(err, err_size, "device %d: recording the decode step: %s", x->dev,
                 cudaGetErrorString(e));
        return -1;
    }
    if (x->graph)
        cudaGraphExecDestroy(x->graph);
    x->graph = exec;
    return 0;
}

extern "C" int
pd_cuda_exec_replay(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    if (x->graph == NULL) {
        snprintf(err, err_size, "device %d: no recorded step to replay", x->dev);
        return -1;
    }
    PD_CUDA_TRY(cudaGraphLaunch(x->graph, x->stream));
    return 0;
fail:
    return -1;
}

extern "C" int
pd_cuda_exec_sync(struct pd_cuda_exec *x, const char *what, char *err, size_t err_size)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(x->stream);
    if (e != cudaSuccess) {
        snprintf(err, err_size, "device %d: %s: %s", x->dev, what, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

extern "C" int
pd_cuda_dev_upload(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                   const char *what, char *err, size_t err_size)
{
    /* from pageable memory the copy is staged before this returns, so src may be reused */
    cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, x->stream);
    if (e != cudaSuccess) {
        snprintf(err, err_size, "device %d: copying %s to the device: %s", x->dev, what,
                 cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

extern "C" int
pd_cuda_dev_download(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                     const char *what, char *err, size_t err_size)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, x->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(x->stream);
    if (e != cudaSuccess) {
        snprintf(err, err_size, "device %d: computing %s: %s", x->dev, what,
                 cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

extern "C" int
pd_cuda_dev_copy2d(struct pd_cuda_exec *x, float *dst, int64_t ld_dst, const float *src,
                   int64_t ld_src, int64_t rows, int64_t cols, char *err, size_t err_size)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    PD_CUDA_TRY(cudaMemcpy2DAsync(dst, sizeof(float) * (size_t)ld_dst, src,
                                  sizeof(float) * (size_t)ld_src, sizeof(float) * (size_t)cols,
                                  (size_t)rows, cudaMemcpyDeviceToDevice, x->stream));
    return 0;
fail:
    return -1;
}

extern "C" int
pd_cuda_dev_zero(struct pd_cuda_exec *x, void *dst, size_t n, char *err, size_t err_size)
{
    if (n == 0)
        return 0;
    PD_CUDA_TRY(cudaMemsetAsync(dst, 0, n, x->stream));
    return 0;
fail:
    return -1;
}

/* ---- element-wise ---------------------------------------------------------------------------- */

__global__ void
kv_store_kernel(float *cache, int64_t rw, const float *src, int64_t ld_src, int64_t cols,
                const int32_t *pos, int64_t T)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < T * cols) {
        int64_t t = i / cols, j = i % cols;
        cache[(int64_t)pos[t] * rw + j] = src[t * ld_src + j];
    }
}


__global__ void
add_kernel(float *y, const float *a, int64_t a_ld, int64_t rows, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * n) {
        int64_t r = i / n, j = i % n;
        y[i] += a[r * a_ld + j];
    }
}

static unsigned
blocks_for(int64_t n)
{
    return (unsigned)((n + EW_THREADS - 1) / EW_THREADS);
}

extern "C" int
pd_cuda_dev_add(struct pd_cuda_exec *x, float *y, const float *a, int64_t a_ld, int64_t rows,
                int64_t n, char *err, size_t err_size)
{
    if (rows * n <= 0)
        return 0;
    PD_LAUNCH(add_kernel, blocks_for(rows * n), EW_THREADS, 0, x->stream)(y, a, a_ld, rows, n);
    return pd_cuda_launched("add", err, err_size);
}

__global__ void
gather_kernel(float *out, const float *in, const int32_t *rows_src, int64_t n_rows, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n_rows * n) {
        int64_t r = i / n, j = i % n;
        out[i] = in[(int64_t)rows_src[r] * n + j];
    }
}

extern "C" int
pd_cuda_dev_kv_store(struct pd_cuda_exec *x, float *cache, int64_t rw, const float *src,
                     int64_t ld_src, int64_t cols, const int32_t *pos, int64_t T, char *err,
                     size_t err_size)
{
    if (T * cols <= 0)
        return 0;
    PD_LAUNCH(kv_store_kernel, blocks_for(T * cols), EW_THREADS, 0, x->stream)(
        cache, rw, src, ld_src, cols, pos, T);
    return pd_cuda_launched("the KV cache store", err, err_size);
}

extern "C" int
pd_cuda_dev_gather(struct pd_cuda_exec *x, float *out, const float *in, const int32_t *rows_src,
                   int64_t n_rows, int64_t n, char *err, size_t err_size)
{
    if (n_rows * n <= 0)
        return 0;
    PD_LAUNCH(gather_kernel, blocks_for(n_rows * n), EW_THREADS, 0, x->stream)(out, in, rows_src,
                                                                         n_rows, n);
    return pd_cuda_launched("the expert gather", err, err_size);
}

/* One thread per element of xs: the same terms in the same order as engine/moe.c's step 6, so
 * the sum rounds as the CPU's does (up to fused multiply-adds). */
__global__ void
moe_combine_kernel(float *xs, const float *rout, const int32_t *token_row, const float *weights,
                   int K, const float *sout, const float *sg_logit, int64_t T, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= T * n)
        return;
    int64_t t = i / n, j = i % n;
    float v = xs[i];
    for (int k = 0; k < K; k++)
        v += weights[t * K + k] * rout[(int64_t)token_row[t * K + k] * n + j];
    if (sout) {
        float sg = sg_logit ? 1.0f / (1.0f + expf(-sg_logit[t])) : 1.0f;
        v += sg * sout[i];
    }
    xs[i] = v;
}

extern "C" int
pd_cuda_dev_moe_combine(struct pd_cuda_exec *x, float *xs, const float *rout,
                        const int32_t *token_row, const float *weights, int K, const float *sout,
                        const float *sg_logit, int64_t T, int64_t n, char *err, size_t err_size)
{
    if (T * n <= 0)
        return 0;
    PD_LAUNCH(moe_combine_kernel, blocks_for(T * n), EW_THREADS, 0, x->stream)(
        xs, rout, token_row, weights, K, sout, sg_logit, T, n);
    return pd_cuda_launched("the expert combine", err, err_size);
}
