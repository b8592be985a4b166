/*
 * cuda-common.cuh: what every .cu file of the CUDA backend shares: error checks that turn a CUDA
 * or cuBLAS failure into a message naming the call, the file and the line, and the upload/download
 * steps of the host-buffer entry points (the device-side helpers are device.cuh's).
 *
 * The host-buffer entry points (pd_cuda_* in kernels/backend.h) exist so that each kernel can be
 * checked alone against its CPU twin. They follow one shape: set the device, allocate with
 * pd_cuda_alloc (whose out-of-memory message says what to try), copy in, launch, check the launch,
 * copy out, free everything on every path through one `fail` label.
 */
#ifndef PD_CUDA_COMMON_CUH
#define PD_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cuda/device.cuh"

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

#endif
