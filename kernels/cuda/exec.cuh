/*
 * exec.cuh: the state behind the device-pointer entry points (pd_cuda_dev_* in kernels/backend.h):
 * the device, the one stream every op of a context is queued on, the cuBLAS handle bound to it,
 * and the scratch the prefill product dequantizes weight blocks into. Shared by the .cu files
 * that define device-pointer entry points; exec.cu makes and frees it.
 */
#ifndef PD_CUDA_EXEC_CUH
#define PD_CUDA_EXEC_CUH

#include "kernels/cuda/cuda-common.cuh"

#include <cublas_v2.h>

struct pd_cuda_exec {
    int dev;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *scratch;          /* the dequantized weight block of a prefill product */
    size_t scratch_bytes;
    int half;               /* prefill products in F16/BF16 (pd_cuda_exec_set_half) */
    void *act;              /* their activations, converted; grown to the largest product */
    size_t act_bytes;
    cudaGraphExec_t graph;  /* the recorded decode step, or NULL */
};

/* After a launch on x's stream: 0, or -1 with the launch error naming `what`. */
static inline int
pd_cuda_launched(const char *what, char *err, size_t err_size)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        return 0;
    snprintf(err, err_size, "launching %s: %s", what, cudaGetErrorString(e));
    return -1;
}

#endif
