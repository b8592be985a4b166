/*
 * matvec.cuh: the decode products, y[row] = W[row] . x for one activation row, and their dispatch
 * by format and shape; matmul.cu's entry points and the whole-model forward launch them.
 *
 * A block of four warps computes MV_ROWS rows. Four threads share each 32-element unit of a row
 * (pd_dev_part: a quarter each, read as two 4-byte words or float4s), a warp covers eight
 * consecutive units and the four warps interleave, so a warp's loads of a row are one contiguous
 * stretch; each activation quarter is loaded once for the MV_ROWS rows. The weights are read
 * once, which is what bounds decode speed. Q6_K, whose units share their high bits four ways, has
 * a kernel of its own: sixteen threads to a 256-element super-block, each reading its bytes once.
 * Shapes the fast kernels cannot tile (rows not a whole number of units, misaligned activations)
 * take one block per row.
 *
 * Device code and launches only (PD_LAUNCH), so tests/test-cuda-simt runs this very source on
 * the host under tests/simt.h.
 */
#ifndef PD_CUDA_MATVEC_CUH
#define PD_CUDA_MATVEC_CUH

#include "kernels/cuda/quant.cuh"

#define MV_THREADS 128

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
        PD_LAUNCH(matvec_q6k_kernel, grid, MV_WARPS * 32, 0, stream)(
            y, wb, row_bytes, x, n_in, n_out, sel);
        return true;
    }
    if (fit) {
        dim3 grid((unsigned)((n_out + MV_ROWS - 1) / MV_ROWS), (unsigned)n_prod);
#define LAUNCH(T)                                                                          \
    PD_LAUNCH(matvec_parts_kernel<T>, grid, MV_WARPS * 32, 0, stream)(y, wb, row_bytes, x, n_in, \
                                                                  n_out, sel)
        PD_DEV_FOR_TYPE(wtype, LAUNCH, return false)
#undef LAUNCH
        return true;
    }
    dim3 grid((unsigned)n_out, (unsigned)n_prod);
#define LAUNCH(T) \
    PD_LAUNCH(matvec_kernel<T>, grid, MV_THREADS, 0, stream)(y, wb, row_bytes, x, n_in, sel)
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

#endif
