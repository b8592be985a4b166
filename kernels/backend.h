/*
 * backend.h: the compute backends beside the CPU.
 *
 * The CPU kernels are always there (kernels/cpu/). The CUDA backend is compiled when configure
 * finds nvcc and cuBLAS; otherwise kernels/cuda/stub.c answers that there is no device. This
 * first layer only finds devices and runs single kernels on host buffers, so each CUDA kernel can
 * be checked against its CPU twin (tests/test-cuda.c, which skips without a device); the engine's backend interface grows from here.
 * Declared extern "C" so the .cu files define them with C linkage.
 */
#ifndef PD_BACKEND_H
#define PD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether this build has the CUDA backend compiled in. */
int pd_cuda_compiled(void);

/* Number of usable CUDA devices (0 without a driver, a device, or a CUDA build). */
int pd_cuda_device_count(void);

/* "NVIDIA H200, 139.8 GiB, sm_90" into buf; 0, or -1 when dev does not exist. */
int pd_cuda_device_describe(int dev, char *buf, size_t size);

/* out[rows][n] = rmsnorm(x[rows][n]) * w[n] on device dev; host buffers in and out.
 * 0, or -1 with a message in err (err_size bytes). The CPU twin is pd_rmsnorm. */
int pd_cuda_rmsnorm(int dev, float *out, const float *x, const float *w, int64_t rows, int64_t n,
                    float eps, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
