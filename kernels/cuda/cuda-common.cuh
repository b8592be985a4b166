/*
 * cuda-common.cuh: what every .cu file of the CUDA backend shares: error checks that turn a CUDA
 * or cuBLAS failure into a message naming the call, the file and the line.
 */
#ifndef PD_CUDA_COMMON_CUH
#define PD_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdio.h>

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

#endif
