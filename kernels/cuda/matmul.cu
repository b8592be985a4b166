/*
 * matmul.cu: products of GGUF weight matrices with activations on the GPU, the twin of
 * kernels/cpu/matmul.c.
 *
 * Decode (one activation row): a block of four warps computes MV_ROWS rows. Four threads share
 * each 32-element unit of a row (pd_dev_part: a quarter each, read as two 4-byte words or float4s),
 * a warp covers eight consecutive units and the four warps interleave, so a warp's loads of a
 * row are one contiguous stretch; each activation quarter is loaded once for the MV_ROWS rows.
 * The weights are read once, which is what bounds decode speed. Q6_K, whose units share their
 * high bits four ways, has a kernel of its own: sixteen threads to a 256-element super-block,
 * each reading its bytes once. Shapes the fast kernels cannot tile (rows not a whole number of
 * units, misaligned activations) take one block per row.
 *
 * Prefill (T activation rows): the weights are dequantized on the device a block of rows at a time
 * into a scratch buffer (F32, or F16/BF16 for tensor cores) and multiplied by cublasGemmEx. In
 * cuBLAS's column-major terms a row-major W[n_out][n_in] is A (n_in x n_out), X[T][n_in] is
 * B (n_in x T) and Y[T][n_out] is C (n_out x T): C = A^T B.
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"
#include "kernels/cuda/quant.cuh"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <type_traits>

#define MV_THREADS 128
#define CONVERT_THREADS 256
#define GEMM_SCRATCH_BYTES ((size_t)64 << 20) /* the dequantized block of weight rows */

/* ---- decode: matrix-vector ------------------------------------------------------------------- */

/* y[row] = W[row] . x; one block per row: for the shapes matvec_parts_kernel cannot tile. */
/* Where the matrix, input and output of blockIdx.y's product are: for the decode of an MoE layer,
 * product k uses expert ids[k]'s matrix (read on the device, so nothing waits for the router) on
 * input x + k ld_in and writes y + k ld_out; ids NULL: one plain product. */
struct matvec_sel {
    const int32_t *ids;
    size_t expert_stride;
    int64_t ld_in, ld_out;
    int32_t first, end;   /* the experts held here; w points at expert first */
};

/* Block row k's operands. false: its expert is held by another rank of an expert split, and its
 * output rows are zeros (the combine then adds nothing for it). */
__device__ __forceinline__ bool
matvec_select(const struct matvec_sel &sel, const uint8_t *&w, const float *&x, float *&y)
{
    int k = blockIdx.y;
    x += k * sel.ld_in;
    y += k * sel.ld_out;
    if (sel.ids == NULL)
        return true;
    int32_t e = sel.ids[k];
    if (e < sel.first || e >= sel.end)
        return false;
    w += (size_t)(e - sel.first) * sel.expert_stride;
    return true;
}

template <int TYPE>
__global__ void
matvec_kernel(float *y, const uint8_t *w, size_t row_bytes, const float *x, int64_t n_in,
              struct matvec_sel sel)
{
    if (!matvec_select(sel, w, x, y)) {
        if (threadIdx.x == 0)
            y[blockIdx.x] = 0.0f;
        return;
    }
    const uint8_t *row = w + blockIdx.x * row_bytes;
    float sum = 0.0f;
    if constexpr (pd_dev_is_float(TYPE)) {
        for (int64_t i = threadIdx.x; i < n_in; i += blockDim.x)
            sum += pd_dev_elem<TYPE>(row, i) * x[i];
    } else {
        float v[32];
        for (int64_t u = threadIdx.x; u < n_in / 32; u += blockDim.x) {
            pd_dev_unit<TYPE>(v, row, u);
            const float *xu = x + 32 * u;
            for (int j = 0; j < 32; j++)
                sum += v[j] * xu[j];
        }
    }
    sum = pd_block_sum(sum);
    if (threadIdx.x == 0)
        y[blockIdx.x] = sum;
}

#define MV_WARPS 4
#define MV_ROWS 2

/* The start of a block of the decode kernels: its product's operands (matvec_select) and its
 * MV_ROWS rows, sums at zero; false when the block's expert is another rank's (its rows are
 * written as zeros and the whole block leaves, so no barrier is skipped). */
__device__ __forceinline__ bool
matvec_begin(const struct matvec_sel &sel, const uint8_t *&w, const float *&x, float *&y,
             size_t row_bytes, int64_t row0, int64_t n_out, const uint8_t **rows, float *sum)
{
    if (!matvec_select(sel, w, x, y)) {
        if (threadIdx.x < MV_ROWS && row0 + threadIdx.x < n_out)
            y[row0 + threadIdx.x] = 0.0f;
        return false;
    }
    for (int r = 0; r < MV_ROWS; r++) {
        /* past the last row, read the last row again rather than branch in the loop */
        rows[r] = w + (size_t)min(row0 + r, n_out - 1) * row_bytes;
        sum[r] = 0.0f;
    }
    return true;
}

/* The end of a block of the decode kernels: each warp's sums of its rows, then one thread a row
 * adding the warps' (the whole block calls it). */
__device__ __forceinline__ void
matvec_store_rows(float *y, const float *sum, int64_t row0, int64_t n_out)
{
    __shared__ float partial[MV_WARPS][MV_ROWS];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int r = 0; r < MV_ROWS; r++) {
        float t = pd_warp_sum(sum[r]);
        if (lane == 0)
            partial[warp][r] = t;
    }
    __syncthreads();
    if (threadIdx.x < MV_ROWS && row0 + threadIdx.x < n_out) {
        float t = 0.0f;
        for (int k = 0; k < MV_WARPS; k++)
            t += partial[k][threadIdx.x];
        y[row0 + threadIdx.x] = t;
    }
}

/* y[row] = W[row] . x for MV_ROWS rows per block (the comment at the top). */
template <int TYPE>
__global__ void __launch_bounds__(MV_WARPS * 32)
matvec_parts_kernel(float *y, const uint8_t *w, size_t row_bytes, const float *x, int64_t n_in,
                    int64_t n_out, struct matvec_sel sel)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, s = lane % 4;
    const int64_t row0 = (int64_t)blockIdx.x * MV_ROWS, n_units = n_in / 32;
    const uint8_t *rows[MV_ROWS];
    float sum[MV_ROWS];
    if (!matvec_begin(sel, w, x, y, row_bytes, row0, n_out, rows, sum))
        return;
#pragma unroll 2
    for (int64_t u = warp * 8 + lane / 4; u < n_units; u += MV_WARPS * 8) {
        const float4 xa = *(const float4 *)(x + 32 * u + 4 * s);
        const float4 xb = *(const float4 *)(x + 32 * u + 16 + 4 * s);
        for (int r = 0; r < MV_ROWS; r++) {
            float v[8];
            pd_dev_part<TYPE>(v, rows[r], u, s);
            sum[r] += v[0] * xa.x + v[1] * xa.y + v[2] * xa.z + v[3] * xa.w +
                      v[4] * xb.x + v[5] * xb.y + v[6] * xb.z + v[7] * xb.w;
        }
    }
    matvec_store_rows(y, sum, row0, n_out);
}

/* Q6_K: y[row] = W[row] . x for MV_ROWS rows per block, a sixteenth of a super-block per thread
 * (pd_dev_q6k_sixteenth): half a warp a super-block, a warp two a step, the warps interleaved. */
__global__ void __launch_bounds__(MV_WARPS * 32)
matvec_q6k_kernel(float *y, const uint8_t *w, size_t row_bytes, const float *x, int64_t n_in,
                  int64_t n_out, struct matvec_sel sel)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t = lane % 16;
    const int64_t row0 = (int64_t)blockIdx.x * MV_ROWS, n_sb = n_in / PD_QK_K;
    const uint8_t *rows[MV_ROWS];
    float sum[MV_ROWS];
    if (!matvec_begin(sel, w, x, y, row_bytes, row0, n_out, rows, sum))
        return;
    for (int64_t sb = warp * 2 + lane / 16; sb < n_sb; sb += MV_WARPS * 2) {
        const float *xs = x + PD_QK_K * sb;
        float4 xq[4];
        for (int g = 0; g < 4; g++)
            xq[g] = *(const float4 *)(xs + pd_dev_q6k_at(t, 4 * g));
        for (int r = 0; r < MV_ROWS; r++) {
            float v[16];
            pd_dev_q6k_sixteenth(v, rows[r], sb, t);
            for (int g = 0; g < 4; g++)
                sum[r] += v[4 * g] * xq[g].x + v[4 * g + 1] * xq[g].y + v[4 * g + 2] * xq[g].z +
                          v[4 * g + 3] * xq[g].w;
        }
    }
    matvec_store_rows(y, sum, row0, n_out);
}

/* Whether matvec_parts_kernel can read these operands: whole units, a float4-aligned x, and rows
 * aligned for the widest load of their format. */
static bool
matvec_parts_fit(int wtype, const void *w, size_t row_bytes, const float *x, int64_t n_in)
{
    size_t align = wtype == PD_TYPE_F32 || wtype == PD_TYPE_Q4_K ? 16
                 : wtype == PD_TYPE_F16 || wtype == PD_TYPE_BF16 ? 8 : 2;
    return n_in % 32 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)w % align == 0 &&
           row_bytes % align == 0;
}

/* n_prod products y + k ld_out = W_k . (x + k ld_in), all on the device (see matvec_sel); false
 * for an unsupported type. */
static bool
matvec_select_cuda(float *y, const void *w, int wtype, const float *x, int64_t n_in,
                   int64_t n_out, int n_prod, struct matvec_sel sel, cudaStream_t stream)
{
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n_in);
    const uint8_t *wb = (const uint8_t *)w;
    bool fit = matvec_parts_fit(wtype, w, row_bytes, x, n_in) &&
               (sel.ids == NULL || sel.expert_stride % 16 == 0) && sel.ld_in % 4 == 0;
    if (fit && wtype == PD_TYPE_Q6_K) {
        dim3 grid((unsigned)((n_out + MV_ROWS - 1) / MV_ROWS), (unsigned)n_prod);
        matvec_q6k_kernel<<<grid, MV_WARPS * 32, 0, stream>>>(y, wb, row_bytes, x, n_in, n_out,
                                                                sel);
        return true;
    }
    if (fit) {
        dim3 grid((unsigned)((n_out + MV_ROWS - 1) / MV_ROWS), (unsigned)n_prod);
#define LAUNCH(T)                                                                  \
    matvec_parts_kernel<T><<<grid, MV_WARPS * 32, 0, stream>>>(y, wb, row_bytes, x, n_in, \
                                                               n_out, sel)
        PD_DEV_FOR_TYPE(wtype, LAUNCH, return false)
#undef LAUNCH
        return true;
    }
    dim3 grid((unsigned)n_out, (unsigned)n_prod);
#define LAUNCH(T) \
    matvec_kernel<T><<<grid, MV_THREADS, 0, stream>>>(y, wb, row_bytes, x, n_in, sel)
    PD_DEV_FOR_TYPE(wtype, LAUNCH, return false)
#undef LAUNCH
    return true;
}

/* y[n_out] = W . x[n_in], all on the device; false for an unsupported type. */
static bool
matvec_cuda(float *y, const void *w, int wtype, const float *x, int64_t n_in, int64_t n_out,
            cudaStream_t stream)
{
    return matvec_select_cuda(y, w, wtype, x, n_in, n_out, 1, matvec_sel{ NULL, 0, 0, 0, 0, 0 },
                              stream);
}

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
            convert_kernel<float><<<blocks, CONVERT_THREADS>>>((float *)d_xa, (float *)d_x, nx);
        else if (gt.ab == CUDA_R_16F)
            convert_kernel<__half><<<blocks, CONVERT_THREADS>>>((__half *)d_xa, (float *)d_x, nx);
        else
            convert_kernel<__nv_bfloat16>
                <<<blocks, CONVERT_THREADS>>>((__nv_bfloat16 *)d_xa, (float *)d_x, nx);
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
            convert_rows_kernel<__half><<<blocks, CONVERT_THREADS, 0, x->stream>>>(
                (__half *)x->act, in, ldx, n_in, T);
        else
            convert_rows_kernel<__nv_bfloat16><<<blocks, CONVERT_THREADS, 0, x->stream>>>(
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
