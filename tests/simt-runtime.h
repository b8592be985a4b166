/*
 * simt-runtime.h: the part of the CUDA runtime and of cuBLAS that the backend calls, on the host,
 * for the kernels run by tests/simt.h. With it the backend's own .cu files compile as plain
 * C++ (tests/simt-include/ holds the headers they include by CUDA's names) and run whole on a
 * machine with no GPU: tests/test-cuda-simt runs test-cuda's kernel checks, and
 * test-cuda-model-simt whole models, against them.
 *
 * Device memory is host memory, filled with NaNs when allocated (nothing promises what fresh
 * device memory holds); PD_SIMT_MEMORY_MIB sets the device's size (default 4096), so running out
 * can be tested. There is one device. Work on a stream runs at once, unless the stream is being
 * captured: then it is recorded, and a graph made from it replays it. cublasGemmEx is the plain
 * triple loop, accumulating in float as the compute type asks.
 */
#ifndef PD_TESTS_SIMT_RUNTIME_H
#define PD_TESTS_SIMT_RUNTIME_H

#include "tests/simt.h"

#include <map>
#include <stdio.h>
#include <stdlib.h>

/* ---- errors ---- */

enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorLaunchFailure = 719,
    cudaErrorInvalidDevice = 101,
    cudaErrorStreamCaptureInvalidated = 901,
};
typedef enum cudaError cudaError_t;

inline thread_local cudaError_t pd_simt_last_error = cudaSuccess;

inline cudaError_t
pd_simt_fail(cudaError_t e)
{
    pd_simt_last_error = e;
    return e;
}

inline const char *
cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure (the host emulation saw a warp shuffle with lanes "
               "missing, or a barrier that not every thread reaches)";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    }
    return "unknown error";
}

/* A kernel that did what the device leaves undefined (pd_simt_faults) fails as a launch. */
inline std::atomic<int> pd_simt_faults_reported{ 0 };

inline cudaError_t
pd_simt_launch_status(void)
{
    int now = pd_simt_faults;
    return pd_simt_faults_reported.exchange(now) != now ? cudaErrorLaunchFailure : cudaSuccess;
}

inline cudaError_t
cudaGetLastError(void)
{
    cudaError_t e = pd_simt_last_error;
    pd_simt_last_error = cudaSuccess;
    return e != cudaSuccess ? e : pd_simt_launch_status();
}

/* ---- the device ---- */

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int major, minor;
};

enum cudaDeviceAttr { cudaDevAttrMemoryClockRate = 36, cudaDevAttrGlobalMemoryBusWidth = 37 };

inline size_t
pd_simt_memory_total(void)
{
    const char *mib = getenv("PD_SIMT_MEMORY_MIB");
    return (size_t)(mib && *mib ? atol(mib) : 4096) << 20;
}

inline std::mutex pd_simt_memory_lock;
inline std::map<void *, size_t> pd_simt_allocations;
inline size_t pd_simt_allocated = 0;

inline cudaError_t
cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}

inline cudaError_t
cudaSetDevice(int dev)
{
    return dev == 0 ? cudaSuccess : pd_simt_fail(cudaErrorInvalidDevice);
}

inline cudaError_t
cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
    if (dev != 0)
        return pd_simt_fail(cudaErrorInvalidDevice);
    snprintf(p->name, sizeof p->name, "host SIMT emulation");
    p->totalGlobalMem = pd_simt_memory_total();
    p->major = 9;
    p->minor = 0;
    return cudaSuccess;
}

inline cudaError_t
cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev)
{
    if (dev != 0)
        return pd_simt_fail(cudaErrorInvalidDevice);
    *v = a == cudaDevAttrMemoryClockRate ? 1000000 : 64;   /* 16 GB/s, as a number to divide by */
    return cudaSuccess;
}

inline cudaError_t
cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    std::lock_guard<std::mutex> l(pd_simt_memory_lock);
    *total_bytes = pd_simt_memory_total();
    *free_bytes = *total_bytes - pd_simt_allocated;
    return cudaSuccess;
}

inline cudaError_t
cudaMalloc(void **p, size_t n)
{
    std::lock_guard<std::mutex> l(pd_simt_memory_lock);
    *p = NULL;
    if (n > pd_simt_memory_total() - pd_simt_allocated || (*p = malloc(n)) == NULL)
        return pd_simt_fail(cudaErrorMemoryAllocation);
    memset(*p, 0xFF, n);   /* NaN as floats */
    pd_simt_allocations[*p] = n;
    pd_simt_allocated += n;
    return cudaSuccess;
}

inline cudaError_t
cudaFree(void *p)
{
    std::lock_guard<std::mutex> l(pd_simt_memory_lock);
    auto it = pd_simt_allocations.find(p);
    if (p == NULL)
        return cudaSuccess;
    if (it == pd_simt_allocations.end())
        return pd_simt_fail(cudaErrorInvalidValue);
    pd_simt_allocated -= it->second;
    pd_simt_allocations.erase(it);
    free(p);
    return cudaSuccess;
}

inline cudaError_t
cudaDeviceSynchronize(void)
{
    return pd_simt_launch_status();
}

/* ---- copies ---- */

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

inline cudaError_t
cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind)
{
    memmove(dst, src, n);
    return cudaSuccess;
}

inline cudaError_t
cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind, cudaStream_t s)
{
    pd_simt_enqueue(s, [=] { memmove(dst, src, n); });
    return cudaSuccess;
}

inline cudaError_t
cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                  size_t height, cudaMemcpyKind, cudaStream_t s)
{
    pd_simt_enqueue(s, [=] {
        for (size_t r = 0; r < height; r++)
            memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    });
    return cudaSuccess;
}

inline cudaError_t
cudaMemset(void *p, int v, size_t n)
{
    memset(p, v, n);
    return cudaSuccess;
}

inline cudaError_t
cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s)
{
    pd_simt_enqueue(s, [=] { memset(p, v, n); });
    return cudaSuccess;
}

/* ---- streams, graphs, events ---- */

enum { cudaStreamNonBlocking = 1 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal };

struct pd_simt_graph {
    std::vector<std::function<void()>> work;
};
typedef struct pd_simt_graph *cudaGraph_t;
typedef struct pd_simt_graph *cudaGraphExec_t;

inline cudaError_t
cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = new pd_simt_stream();
    return cudaSuccess;
}

inline cudaError_t
cudaStreamDestroy(cudaStream_t s)
{
    delete s;
    return cudaSuccess;
}

inline cudaError_t
cudaStreamSynchronize(cudaStream_t s)
{
    if (s && s->capturing)
        return pd_simt_fail(cudaErrorStreamCaptureInvalidated);
    return pd_simt_launch_status();
}

inline cudaError_t
cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode)
{
    if (s == NULL || s->capturing)
        return pd_simt_fail(cudaErrorInvalidValue);
    s->capturing = true;
    s->recorded.clear();
    return cudaSuccess;
}

inline cudaError_t
cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g)
{
    if (s == NULL || !s->capturing)
        return pd_simt_fail(cudaErrorInvalidValue);
    s->capturing = false;
    *g = new pd_simt_graph{ std::move(s->recorded) };
    s->recorded.clear();
    return cudaSuccess;
}

inline cudaError_t
cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long)
{
    *exec = new pd_simt_graph{ g->work };
    return cudaSuccess;
}

inline cudaError_t
cudaGraphDestroy(cudaGraph_t g)
{
    delete g;
    return cudaSuccess;
}

inline cudaError_t
cudaGraphExecDestroy(cudaGraphExec_t g)
{
    delete g;
    return cudaSuccess;
}

inline cudaError_t
cudaGraphLaunch(cudaGraphExec_t g, cudaStream_t s)
{
    for (const std::function<void()> &w : g->work)
        pd_simt_enqueue(s, w);
    return cudaSuccess;
}

struct pd_simt_event {
    double seconds;
};
typedef struct pd_simt_event *cudaEvent_t;

inline cudaError_t
cudaEventCreate(cudaEvent_t *e)
{
    *e = new pd_simt_event{ 0.0 };
    return cudaSuccess;
}

inline cudaError_t
cudaEventDestroy(cudaEvent_t e)
{
    delete e;
    return cudaSuccess;
}

inline cudaError_t
cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    pd_simt_enqueue(s, [e] {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        e->seconds = ts.tv_sec + ts.tv_nsec * 1e-9;
    });
    return cudaSuccess;
}

inline cudaError_t
cudaEventSynchronize(cudaEvent_t)
{
    return cudaSuccess;
}

inline cudaError_t
cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
    *ms = (float)((b->seconds - a->seconds) * 1e3);
    return cudaSuccess;
}

/* ---- cuBLAS: the one product the prefill uses ---- */

typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0 } cublasMath_t;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType_t;

struct pd_simt_blas {
    cudaStream_t stream;
};
typedef struct pd_simt_blas *cublasHandle_t;

inline const char *
cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

inline cublasStatus_t
cublasCreate(cublasHandle_t *h)
{
    *h = new pd_simt_blas{ NULL };
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t
cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t
cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t
cublasSetMathMode(cublasHandle_t, cublasMath_t)
{
    return CUBLAS_STATUS_SUCCESS;
}

/* Element i of a matrix of type t. */
inline float
pd_simt_blas_at(const void *m, cudaDataType_t t, size_t i)
{
    if (t == CUDA_R_32F)
        return ((const float *)m)[i];
    uint16_t h = ((const uint16_t *)m)[i];
    return t == CUDA_R_16F ? pd_fp16_to_fp32(h) : pd_bf16_to_fp32(h);
}

/* C = alpha op(A) op(B) + beta C, column-major, C in float. */
inline cublasStatus_t
cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const void *alpha, const void *A, cudaDataType_t at, int lda, const void *B,
             cudaDataType_t bt, int ldb, const void *beta, void *C, cudaDataType_t ct, int ldc,
             cublasComputeType_t, cublasGemmAlgo_t)
{
    if (ct != CUDA_R_32F)
        return CUBLAS_STATUS_INVALID_VALUE;
    float al = *(const float *)alpha, be = *(const float *)beta;
    pd_simt_enqueue(h->stream, [=] {
        float *c = (float *)C;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float sum = 0.0f;
                for (int l = 0; l < k; l++) {
                    size_t ai = ta == CUBLAS_OP_T ? (size_t)l + (size_t)i * lda
                                                  : (size_t)i + (size_t)l * lda;
                    size_t bi = tb == CUBLAS_OP_T ? (size_t)j + (size_t)l * ldb
                                                  : (size_t)l + (size_t)j * ldb;
                    sum += pd_simt_blas_at(A, at, ai) * pd_simt_blas_at(B, bt, bi);
                }
                float *out = c + (size_t)i + (size_t)j * ldc;
                *out = be == 0.0f ? al * sum : al * sum + be * *out;
            }
    });
    return CUBLAS_STATUS_SUCCESS;
}

#endif
