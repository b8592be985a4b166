/*
 * matmul.cu: products of GGUF weight matrices with activations on the GPU, the twin of
 * kernels/cpu/matmul.c.
 *
 * Decode (one activation row): the kernels of matvec.cuh, launched here for the host-buffer entry
 * points and the device-pointer ones of the whole-model forward.
 *
 * Prefill (T activation rows): the weights are dequantized on the device a block of rows at a time
 * into a scratch buffer (F32, or F16/BF16 for tensor cores) and multiplied by cublasGemmEx. In
 * cuBLAS's column-major terms a row-major W[n_out][n_in] is A (n_in x n_out), X[T][n_in] is
 * B (n_in x T) and Y[T][n_out] is C (n_out x T): C = A^T B.
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"
#include "kernels/cuda/matvec.cuh"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <type_traits>

#define CONVERT_THREADS 256
#define GEMM_SCRATCH_BYTES ((size_t)64 << 20) /* the dequantized block of weight rows */

/* ---- decode: matrix-vector (the kernels and their dispatch are matvec.cuh's) ------------- */

extern "C" int
pd_cuda_matvec(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
               int64_t n_out, char *err, size_t err_size)
{
    void *d_w = NULL, *d_x = NULL, *d_y = NULL;
    int rc = -1;
    size_t wbytes;
    PD_TRY(pd_cuda_check_weights(wtype, n_in, err, err_size));
    wbytes = pd_type_row_size((enum pd_type)wtype, n_in) * (size_t)n_out;
    PD_TRY(pd_cuda_upload(dev, &d_w, w, wbytes, "the weights", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_x, x, sizeof(float) * n_in, "the activations", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_y, NULL, sizeof(float) * n_out, "the output", err, err_size));
    matvec_cuda((float *)d_y, d_w, wtype, (const float *)d_x, n_in, n_out, 0);
    PD_TRY(pd_cuda_download(y, d_y, sizeof(float) * n_out, "matvec", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_w);
    pd_cuda_free(d_x);
    pd_cuda_free(d_y);
    return rc;
}

extern "C" int
pd_cuda_matvec_bench(int dev, int wtype, int64_t n_in, int64_t n_out, int iters,
                     double *seconds, char *err, size_t err_size)
{
    void *d_w = NULL, *d_x = NULL, *d_y = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    float ms = 0.0f;
    int rc = -1;
    size_t wbytes;
    *seconds = 0.0;
    PD_TRY(pd_cuda_check_weights(wtype, n_in, err, err_size));
    wbytes = pd_type_row_size((enum pd_type)wtype, n_in) * (size_t)n_out;
    PD_TRY(pd_cuda_upload(dev, &d_w, NULL, wbytes, "the weights", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_x, NULL, sizeof(float) * n_in, "the activations", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_y, NULL, sizeof(float) * n_out, "the output", err, err_size));
    /* 0x3c bytes: every scale and float is small and finite; the values do not matter here. */
    PD_CUDA_TRY(cudaMemset(d_w, 0x3c, wbytes));
    PD_CUDA_TRY(cudaMemset(d_x, 0x3c, sizeof(float) * n_in));
    PD_CUDA_TRY(cudaEventCreate(&t0));
    PD_CUDA_TRY(cudaEventCreate(&t1));
    matvec_cuda((float *)d_y, d_w, wtype, (const float *)d_x, n_in, n_out, 0); /* warm-up */
    PD_CUDA_TRY(cudaEventRecord(t0, 0));
    for (int i = 0; i < iters; i++)
        matvec_cuda((float *)d_y, d_w, wtype, (const float *)d_x, n_in, n_out, 0);
    PD_CUDA_TRY(cudaEventRecord(t1, 0));
    PD_CUDA_TRY(cudaGetLastError());
    PD_CUDA_TRY(cudaEventSynchronize(t1));
    PD_CUDA_TRY(cudaEventElapsedTime(&ms, t0, t1));
    *seconds = ms / 1000.0 / (iters > 0 ? iters : 1);
    rc = 0;
fail:
    if (t0)
        cudaEventDestroy(t0);
    if (t1)
        cudaEventDestroy(t1);
    pd_cuda_free(d_w);
    pd_cuda_free(d_x);
    pd_cuda_free(d_y);
    return rc;
}

/* ---- prefill: dequantize + GEMM ---------------------------------------------------------------- */

template <typename O>
__global__ void
convert_kernel(O *out, const float *x, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        if constexpr (sizeof(O) == sizeof(float))
            out[i] = x[i];
        else if constexpr (std::is_same<O, __half>::value)
            out[i] = __float2half_rn(x[i]);
        else
            out[i] = __float2bfloat16_rn(x[i]);
    }
}

/* out[t][0..n) = x[t * ldx + 0..n) for t < T, converted: a prefill product's activations, packed. */
template <typename O>
__global__ void
convert_rows_kernel(O *out, const float *x, int64_t ldx, int64_t n, int64_t T)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * T) {
        float v = x[(i / n) * ldx + i % n];
        if constexpr (std::is_same<O, __half>::value)
            out[i] = __float2half_rn(v);
        else
            out[i] = __float2bfloat16_rn(v);
    }
}

/* The element types of one prefill product: what the weights are dequantized to, what the
 * activations are converted to, and their size. */
struct gemm_types {
    cudaDataType_t ab;
    size_t elt;
};

static gemm_types
gemm_types_for(int wtype, int half)
{
    if (!half)
        return { CUDA_R_32F, 4 };
    /* BF16 weights keep their range (F16 would overflow above 65504); the rest go to F16, which
     * holds more mantissa. */
    return wtype == PD_TYPE_BF16 ? gemm_types{ CUDA_R_16BF, 2 } : gemm_types{ CUDA_R_16F, 2 };
}

/* y[T][ldy] = xa[T][ldx] . W^T on the device (n_in of each ldx, n_out of each ldy). xa is the
 * activations already in the element type of gt; scratch holds rows_per dequantized weight rows.
 * 0, or -1 with a message. */
static int
gemm_cuda(cublasHandle_t h, float *y, int64_t ldy, const void *w, int wtype, const void *xa,
          int64_t ldx, void *scratch, int64_t rows_per, int64_t n_in, int64_t n_out, int64_t T,
          gemm_types gt, cudaStream_t stream, char *err, size_t err_size)
{
    const float one = 1.0f, zero = 0.0f;
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n_in);
    PD_CUBLAS_TRY(cublasSetStream(h, stream));
    for (int64_t r0 = 0; r0 < n_out; r0 += rows_per) {
        int64_t rc = n_out - r0 < rows_per ? n_out - r0 : rows_per;
        const void *wr = (const uint8_t *)w + (size_t)r0 * row_bytes;
        bool known;
        if (gt.ab == CUDA_R_32F)
            known = pd_cuda_dequantize_f32((float *)scratch, wr, wtype, n_in, rc, stream);
        else if (gt.ab == CUDA_R_16F)
            known = pd_cuda_dequantize_f16(scratch, wr, wtype, n_in, rc, stream);
        else
            known = pd_cuda_dequantize_bf16(scratch, wr, wtype, n_in, rc, stream);
        if (!known) {
            snprintf(err, err_size, "matmul: weights of type %d have no CUDA kernel", wtype);
            goto fail;
        }
        PD_CUDA_TRY(cudaGetLastError());
        PD_CUBLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)rc, (int)T, (int)n_in, &one,
                                   scratch, gt.ab, (int)n_in, xa, gt.ab, (int)ldx, &zero,
                                   y + r0, CUDA_R_32F, (int)ldy, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    }
    return 0;
fail:
    return -1;
}

extern "C" int
pd_cuda_matmul(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
               int64_t n_out, int64_t T, int half, char *err, size_t err_size)
{
    void *d_w = NULL, *d_x = NULL, *d_xa = NULL, *d_y = NULL, *d_s = NULL;
    cublasHandle_t h = NULL;
    gemm_types gt = gemm_types_for(wtype, half);
    int rc = -1;
    int64_t rows_per;
    size_t wbytes, nx = (size_t)T * (size_t)n_in;
    PD_TRY(pd_cuda_check_weights(wtype, n_in, err, err_size));
    if (n_in > INT32_MAX || n_out > INT32_MAX || T > INT32_MAX) {
        snprintf(err, err_size, "matmul %lld x %lld by %lld rows: too large for cuBLAS's int "
                 "sizes", (long long)n_out, (long long)n_in, (long long)T);
        goto fail;
    }
    wbytes = pd_type_row_size((enum pd_type)wtype, n_in) * (size_t)n_out;
    rows_per = (int64_t)(GEMM_SCRATCH_BYTES / (gt.elt * (size_t)n_in));
    rows_per = rows_per < 1 ? 1 : rows_per > n_out ? n_out : rows_per;
    PD_TRY(pd_cuda_upload(dev, &d_w, w, wbytes, "the weights", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_x, x, sizeof(float) * nx, "the activations", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_xa, NULL, gt.elt * nx, "the converted activations", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_s, NULL, gt.elt * (size_t)rows_per * (size_t)n_in,
                          "the dequantized weight block", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_y, NULL, sizeof(float) * (size_t)T * (size_t)n_out,
                          "the output", err, err_size));
    {
        unsigned blocks = (unsigned)((nx + CONVERT_THREADS - 1) / CONVERT_THREADS);
        if (gt.ab == CUDA_R_32F)
            PD_LAUNCH(convert_kernel<float>, blocks, CONVERT_THREADS, 0, 0)(
                (float *)d_xa, (float *)d_x, nx);
        else if (gt.ab == CUDA_R_16F)
            PD_LAUNCH(convert_kernel<__half>, blocks, CONVERT_THREADS, 0, 0)(
                (__half *)d_xa, (float *)d_x, nx);
        else
            PD_LAUNCH(convert_kernel<__nv_bfloat16>, blocks, CONVERT_THREADS, 0, 0)(
                (__nv_bfloat16 *)d_xa, (float *)d_x, nx);
    }
    PD_CUDA_TRY(cudaGetLastError());
    PD_CUBLAS_TRY(cublasCreate(&h));
    PD_TRY(gemm_cuda(h, (float *)d_y, n_out, d_w, wtype, d_xa, n_in, d_s, rows_per, n_in, n_out,
                     T, gt, 0, err, err_size));
    PD_TRY(pd_cuda_download(y, d_y, sizeof(float) * (size_t)T * (size_t)n_out, "matmul", err,
                            err_size));
    rc = 0;
fail:
    if (h)
        cublasDestroy(h);
    pd_cuda_free(d_w);
    pd_cuda_free(d_x);
    pd_cuda_free(d_xa);
    pd_cuda_free(d_s);
    pd_cuda_free(d_y);
    return rc;
}

/* ---- on device buffers (the whole-model forward) --------------------------------------------- */

extern "C" int
pd_cuda_dev_matmul(struct pd_cuda_exec *x, float *y, int64_t ldy, const void *w, int wtype,
                   const float *in, int64_t ldx, int64_t n_in, int64_t n_out, int64_t T,
                   char *err, size_t err_size)
{
    if (pd_cuda_check_weights(wtype, n_in, err, err_size) != 0)
        return -1;
    if (T <= 0 || n_out <= 0)
        return 0;
    if (T == 1) {
        if (!matvec_cuda(y, w, wtype, in, n_in, n_out, x->stream)) {
            snprintf(err, err_size, "matvec: weights of type %d have no CUDA kernel", wtype);
            return -1;
        }
        return pd_cuda_launched("matvec", err, err_size);
    }
    if (n_in > INT32_MAX || n_out > INT32_MAX || T > INT32_MAX || ldx > INT32_MAX ||
        ldy > INT32_MAX) {
        snprintf(err, err_size, "matmul %lld x %lld by %lld rows: too large for cuBLAS's int "
                 "sizes", (long long)n_out, (long long)n_in, (long long)T);
        return -1;
    }
    gemm_types gt = gemm_types_for(wtype, x->half);
    int64_t rows_per = (int64_t)(x->scratch_bytes / (gt.elt * (size_t)n_in));
    rows_per = rows_per < 1 ? 1 : rows_per > n_out ? n_out : rows_per;
    if ((size_t)rows_per * (size_t)n_in * gt.elt > x->scratch_bytes) {
        snprintf(err, err_size, "matmul: a row of %lld weights does not fit the %zu-byte scratch",
                 (long long)n_in, x->scratch_bytes);
        return -1;
    }
    const void *xa = in;
    if (gt.ab != CUDA_R_32F) {
        /* the activations converted and packed; prefill is never recorded, so the buffer may
         * grow here (once per larger product) */
        size_t need = gt.elt * (size_t)n_in * (size_t)T;
        if (need > x->act_bytes) {
            pd_cuda_free(x->act);
            x->act = NULL;
            x->act_bytes = 0;
            if (pd_cuda_alloc(x->dev, &x->act, need, "the half-precision prefill activations",
                              err, err_size) != 0)
                return -1;
            x->act_bytes = need;
        }
        unsigned blocks = (unsigned)(((int64_t)n_in * T + CONVERT_THREADS - 1) / CONVERT_THREADS);
        if (gt.ab == CUDA_R_16F)
            PD_LAUNCH(convert_rows_kernel<__half>, blocks, CONVERT_THREADS, 0, x->stream)(
                (__half *)x->act, in, ldx, n_in, T);
        else
            PD_LAUNCH(convert_rows_kernel<__nv_bfloat16>, blocks, CONVERT_THREADS, 0, x->stream)(
                (__nv_bfloat16 *)x->act, in, ldx, n_in, T);
        if (pd_cuda_launched("the activations' conversion", err, err_size) != 0)
            return -1;
        xa = x->act;
        ldx = n_in;
    }
    return gemm_cuda(x->blas, y, ldy, w, wtype, xa, ldx, x->scratch, rows_per, n_in, n_out, T,
                     gt, x->stream, err, err_size);
}

extern "C" int
pd_cuda_dev_matvec_experts(struct pd_cuda_exec *x, float *y, int64_t ld_out, const void *w,
                           int wtype, size_t expert_stride, const int32_t *ids, int K,
                           int32_t held_first, int32_t held_end, const float *in, int64_t ld_in,
                           int64_t n_in, int64_t n_out, char *err, size_t err_size)
{
    if (pd_cuda_check_weights(wtype, n_in, err, err_size) != 0)
        return -1;
    if (K <= 0 || n_out <= 0)
        return 0;
    if (!matvec_select_cuda(y, w, wtype, in, n_in, n_out, K,
                            matvec_sel{ ids, expert_stride, ld_in, ld_out, held_first, held_end },
                            x->stream)) {
        snprintf(err, err_size, "matvec: weights of type %d have no CUDA kernel", wtype);
        return -1;
    }
    return pd_cuda_launched("the experts' matvec", err, err_size);
}
