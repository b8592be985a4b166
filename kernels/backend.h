/*
 * backend.h: the compute backends beside the CPU.
 *
 * The CPU kernels are always there (kernels/cpu/). The CUDA backend is compiled when configure
 * finds nvcc and cuBLAS; otherwise kernels/cuda/stub.c answers that there is no device. This
 * first layer finds devices, manages device memory, and runs single kernels on host buffers, so
 * each CUDA kernel can be checked against its CPU twin (tests/test-cuda.c, which skips without a
 * device). The device-pointer layer at the end runs whole models (engine/forward-cuda.c).
 * Declared extern "C" so the .cu files define them with C linkage.
 */
#ifndef PD_BACKEND_H
#define PD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/cpu/ops.h" /* struct pd_rope */

/* Whether this build has the CUDA backend compiled in. */
int pd_cuda_compiled(void);

/* Number of usable CUDA devices (0 without a driver, a device, or a CUDA build). */
int pd_cuda_device_count(void);

/* "NVIDIA H200, 139.8 GiB, sm_90" into buf; 0, or -1 when dev does not exist. */
int pd_cuda_device_describe(int dev, char *buf, size_t size);

/* ---- device memory (kernels/cuda/memory.cu) ------------------------------------------------ */

/* Free and total bytes of device dev's memory; 0, or -1 when dev does not exist. */
int pd_cuda_mem_info(int dev, size_t *free_bytes, size_t *total_bytes);

/* *ptr = bytes of device memory on dev, for `what` ("the KV cache"). 0, or -1 with a message; out
 * of memory says how much was needed, how much is free and what to try:
 * "device 0: out of memory for the KV cache: needed 4096 MiB, 1200 MiB free of 80 GiB; try --gpus
 * with more devices, fewer layers on GPU, or a smaller -c". */
int pd_cuda_alloc(int dev, void **ptr, size_t bytes, const char *what, char *err,
                  size_t err_size);

/* Free what pd_cuda_alloc gave (NULL is fine). */
void pd_cuda_free(void *ptr);

/* Peak memory bandwidth of dev in bytes per second (memory clock x bus width x 2), 0 unknown. */
double pd_cuda_bandwidth(int dev);

/* ---- single kernels on host buffers, each the twin of a CPU function ------------------------
 *
 * Every entry point below copies its inputs to device dev, runs one kernel (or one short chain),
 * copies the result back and frees what it took: they exist to check each kernel alone against its
 * CPU twin (tests/test-cuda.c). Each returns 0, or -1 with a message in err (err_size bytes).
 * Weights w are n_out rows of n_in elements in GGUF type wtype (enum pd_type of
 * kernels/cpu/quant.h): F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K and Q6_K; n_in a multiple of the
 * block size (32, or 256 for the K-quants). */

/* Whether the CUDA kernels handle weights of GGUF type wtype. */
int pd_cuda_type_supported(int wtype);

/* out[rows][n_in] = the values of rows of w. Twin: pd_dequantize_row. */
int pd_cuda_dequantize(int dev, float *out, const void *w, int wtype, int64_t n_in,
                       int64_t rows, char *err, size_t err_size);

/* Decode product y[n_out] = W . x[n_in]: one block per weight row dequantizes and dots in float.
 * Twin: pd_matmul on the precise path (each row dequantized, float activations). */
int pd_cuda_matvec(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
                   int64_t n_out, char *err, size_t err_size);

/* Prefill product y[T][n_out] = x[T][n_in] . W^T: W dequantized on the device in blocks of rows,
 * then cublasGemmEx. half = 0: F32 weights and activations (exact to float rounding); half = 1:
 * F16 (BF16 for BF16 weights) with F32 accumulation, on tensor cores. Twin: pd_matmul, precise. */
int pd_cuda_matmul(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
                   int64_t n_out, int64_t T, int half, char *err, size_t err_size);

/* out[rows][n] = rmsnorm(x[rows][n]) * w[n] (w may be NULL). Twin: pd_rmsnorm. */
int pd_cuda_rmsnorm(int dev, float *out, const float *x, const float *w, int64_t rows, int64_t n,
                    float eps, char *err, size_t err_size);

/* Rotate x[T][n_heads][D] in place, token t at position pos[t], with the parameters of r (both
 * layouts, YaRN, frequency factors). Twin: pd_rope_cache + pd_rope_apply. */
int pd_cuda_rope(int dev, float *x, const int32_t *pos, const struct pd_rope *r, int64_t T,
                 int n_heads, int D, char *err, size_t err_size);

/* In-place softmax of each row of x[rows][n]. Twin: pd_softmax. */
int pd_cuda_softmax(int dev, float *x, int64_t rows, int64_t n, char *err, size_t err_size);

/* out[n] = silu(gate[n]) * up[n]. Twin: pd_swiglu. */
int pd_cuda_swiglu(int dev, float *out, const float *gate, const float *up, int64_t n, char *err,
                   size_t err_size);

/* The shape of an attention call. Query t of the T in the batch sees the first n_kv - T + 1 + t
 * cached positions (causal; T = 1 is decode). Key head g of position p is at
 * k[p * k_stride + g * D], its value at v[p * v_stride + g * Dv]; query head h uses key head
 * h / (H / Hkv). q is [T][H][D], out [T][H][Dv]. */
struct pd_cuda_attn {
    int64_t T, n_kv;
    int H, Hkv, D, Dv;
    int64_t k_stride, v_stride;
    float scale;
    /* device positions of the T tokens, or NULL: when set, n_kv is read on the device as
     * pos[T - 1] + 1, so a captured decode step serves every position (n_kv still bounds the
     * shape checks) */
    const int32_t *pos;
};

/* Fused attention (one block per query head and token, online softmax over the positions).
 * Twin: pd_attention_head per token and head. D and Dv at most 1024. */
int pd_cuda_attention(int dev, float *out, const float *q, const float *k, const float *v,
                      const struct pd_cuda_attn *a, char *err, size_t err_size);

/* The MoE router's parameters, as engine/moe.c reads them from the model. */
struct pd_cuda_router {
    int32_t n_expert, n_used;           /* X experts, K chosen per token (X at most 1024) */
    int32_t n_groups, n_groups_used;    /* group-limited routing when n_groups > 1 */
    int sigmoid;                        /* gating: sigmoid, else softmax */
    int norm;                           /* renormalize the chosen weights (floor 6.1e-5) */
    float scale;                        /* the chosen weights are multiplied by it */
};

/* For each token t of logits[T][X]: probabilities by the gating function, entropy[t] of them,
 * the K best by probability + bias[X] (bias may be NULL) within the best groups, their unbiased
 * probabilities renormalized and scaled, ordered by decreasing weight: ids[T][K], weights[T][K].
 * Twin: choose_experts in engine/moe.c. */
int pd_cuda_moe_route(int dev, int32_t *ids, float *weights, float *entropy, const float *logits,
                      const float *bias, int64_t T, const struct pd_cuda_router *r, char *err,
                      size_t err_size);

/* Per row of logits[rows][n]: log-sum-exp and entropy (nats) in one pass; logprobs[rows][n] =
 * logits - lse when logprobs is not NULL. Twin: pd_logits_stats. */
int pd_cuda_logits_stats(int dev, float *lse, float *entropy, float *logprobs,
                         const float *logits, int64_t rows, int64_t n, char *err,
                         size_t err_size);

/* Per row of logits[rows][n]: the k largest, largest first, ties to the lower id (NaN never
 * chosen; -1 ids when fewer than k are left): ids[rows][k], vals[rows][k]. Only these cross the
 * bus. Twin: the sampler's top-k (engine/sampler.c). */
int pd_cuda_top_k(int dev, int32_t *ids, float *vals, const float *logits, int64_t rows,
                  int64_t n, int k, char *err, size_t err_size);

/* What pd_cuda_dev_candidates leaves on the device, for one download: the row's log-sum-exp (as
 * the CPU keeps it, in double) and entropy, then k ids (int32) and their k logits. */
struct pd_cuda_candidates {
    double lse;
    float entropy;
    int32_t pad;
};

/* Bytes of that buffer for k candidates, and of the scratch the two stages need for a row of n. */
size_t pd_cuda_candidates_bytes(int k);
size_t pd_cuda_candidates_scratch(int64_t n, int k);

/* Time the decode product on device-resident weights of type wtype (contents arbitrary): the
 * mean seconds per call over iters calls, for the bandwidth table of tests/gpu/device-check. */
int pd_cuda_matvec_bench(int dev, int wtype, int64_t n_in, int64_t n_out, int iters,
                         double *seconds, char *err, size_t err_size);


/* ---- device pointers: the whole-model forward (engine/forward-cuda.c) -----------------------
 *
 * Unlike the host-buffer entry points above, these take device pointers (from pd_cuda_alloc),
 * queue their work on the stream of an execution state and return without waiting: a forward
 * pass is one stream of ops whose activations never leave the device. Each returns 0, or -1 with
 * a message (a launch error names the op; an error of an earlier op may surface at the next
 * pd_cuda_dev_download or pd_cuda_exec_sync, which name the step they were waiting for).
 * Weights w are as above (type wtype, rows of n_in elements); float arrays are row-major with
 * the leading dimensions (floats between rows) given. */

struct pd_cuda_exec;

/* A stream on device dev, a cuBLAS handle on it and the prefill product's scratch. */
int pd_cuda_exec_new(struct pd_cuda_exec **out, int dev, char *err, size_t err_size);
void pd_cuda_exec_free(struct pd_cuda_exec *x);

/* Prefill products (T > 1) in half precision from now on (half = 1: F16 weights and activations,
 * BF16 for BF16 weights, F32 accumulation, on tensor cores, as pd_cuda_matmul with half = 1) or
 * in F32 (half = 0, the default: the CPU's precise arithmetic). Decode products are unchanged. */
void pd_cuda_exec_set_half(struct pd_cuda_exec *x, int half);

/* Make x's device the calling thread's current one (a context may be used from several threads,
 * one at a time); 0, or -1 with a message. */
int pd_cuda_exec_bind(struct pd_cuda_exec *x, char *err, size_t err_size);

/* Recording: between _record_begin and _record_end what is queued on x is recorded (a CUDA
 * graph) instead of run; keep = 1 makes the recording x's graph, replacing any, keep = 0 drops
 * it (after an error while recording). _replay queues x's graph. Each 0, or -1 with a message. */
int pd_cuda_exec_record_begin(struct pd_cuda_exec *x, char *err, size_t err_size);
int pd_cuda_exec_record_end(struct pd_cuda_exec *x, int keep, char *err, size_t err_size);
int pd_cuda_exec_replay(struct pd_cuda_exec *x, char *err, size_t err_size);

/* Wait for everything queued on x; 0, or -1 with the first error, naming `what`. */
int pd_cuda_exec_sync(struct pd_cuda_exec *x, const char *what, char *err, size_t err_size);

/* Copy n bytes host -> device (queued; src may be reused once it returns) and device -> host
 * (waits for everything queued before it, so dst is ready on return). */
int pd_cuda_dev_upload(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                       const char *what, char *err, size_t err_size);
int pd_cuda_dev_download(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                         const char *what, char *err, size_t err_size);

/* n bytes of dst (device) set to zero, queued. */
int pd_cuda_dev_zero(struct pd_cuda_exec *x, void *dst, size_t n, char *err, size_t err_size);

/* dst[r][0..cols) = src[r][0..cols) for rows rows, floats, device to device. */
int pd_cuda_dev_copy2d(struct pd_cuda_exec *x, float *dst, int64_t ld_dst, const float *src,
                       int64_t ld_src, int64_t rows, int64_t cols, char *err, size_t err_size);

/* cache[pos[t]][0..cols) = src[t][0..cols) for t < T: rows of the KV cache (row width rw floats)
 * written at the tokens' positions as the device holds them (pos on the device). */
int pd_cuda_dev_kv_store(struct pd_cuda_exec *x, float *cache, int64_t rw, const float *src,
                         int64_t ld_src, int64_t cols, const int32_t *pos, int64_t T, char *err,
                         size_t err_size);

/* The decode products of an MoE layer's experts, for one token, with the choice read on the
 * device: y + k ld_out = W[ids[k]] . (in + k ld_in) for k < K, W's experts expert_stride bytes
 * apart (ld_in 0: the same input for all). Only experts [held_first, held_end) are on this
 * device (an expert split; w points at expert held_first): a choice outside them gets zeros.
 * Nothing waits for the router. */
int pd_cuda_dev_matvec_experts(struct pd_cuda_exec *x, float *y, int64_t ld_out, const void *w,
                               int wtype, size_t expert_stride, const int32_t *ids, int K,
                               int32_t held_first, int32_t held_end, const float *in,
                               int64_t ld_in, int64_t n_in, int64_t n_out, char *err,
                               size_t err_size);

/* y[t][ldy] = W . in[t][ldx] for t < T: the decode kernel of pd_cuda_matvec when T = 1, else the
 * weights dequantized to F32 a block of rows at a time and cublasGemmEx in F32 (no TF32), as
 * pd_cuda_matmul with half = 0. */
int pd_cuda_dev_matmul(struct pd_cuda_exec *x, float *y, int64_t ldy, const void *w, int wtype,
                       const float *in, int64_t ldx, int64_t n_in, int64_t n_out, int64_t T,
                       char *err, size_t err_size);

/* out[t][n] = row tokens[t] of the table w (type wtype, rows of n elements); tokens on the
 * device. Twin: pd_dequantize_row of each token's row. */
int pd_cuda_dev_embed(struct pd_cuda_exec *x, float *out, const void *w, int wtype,
                      const int32_t *tokens, int64_t n, int64_t T, char *err, size_t err_size);

/* out[r][ld_out] = rmsnorm(in[r][ld_in], n elements) * w[n] (w may be NULL); out may be in. */
int pd_cuda_dev_rmsnorm(struct pd_cuda_exec *x, float *out, int64_t ld_out, const float *in,
                        int64_t ld_in, const float *w, int64_t rows, int64_t n, float eps,
                        char *err, size_t err_size);

/* y[r][n] += a[r][n] for rows rows (a_ld = 0: the same row a[n] for every r: a bias). */
int pd_cuda_dev_add(struct pd_cuda_exec *x, float *y, const float *a, int64_t a_ld, int64_t rows,
                    int64_t n, char *err, size_t err_size);

/* out[n] = silu(gate[n]) * up[n]; out may be gate. */
int pd_cuda_dev_swiglu(struct pd_cuda_exec *x, float *out, const float *gate, const float *up,
                       int64_t n, char *err, size_t err_size);

/* Rotate, in place, the first r->n_rot elements of each of n_heads heads (head h of token t at
 * xs + t * ld + h * D) with token t at position pos[t] (device). freq_factors: r->freq_factors
 * already on the device (n_rot/2 floats), or NULL; r->freq_factors itself is not read. */
int pd_cuda_dev_rope(struct pd_cuda_exec *x, float *xs, int64_t ld, const int32_t *pos,
                     const struct pd_rope *r, const float *freq_factors, int64_t T, int n_heads,
                     int D, char *err, size_t err_size);

/* Attention as pd_cuda_attention, on device buffers. */
int pd_cuda_dev_attention(struct pd_cuda_exec *x, float *out, const float *q, const float *k,
                          const float *v, const struct pd_cuda_attn *a, char *err,
                          size_t err_size);

/* Whether the attention kernel and the router kernel take these shapes: 0, or -1 with a message
 * naming the limit (host only; a context checks its model with them before it allocates). */
int pd_cuda_attention_check(const struct pd_cuda_attn *a, char *err, size_t err_size);
int pd_cuda_router_check(const struct pd_cuda_router *r, char *err, size_t err_size);

/* The router as pd_cuda_moe_route, on device buffers (bias may be NULL). */
int pd_cuda_dev_moe_route(struct pd_cuda_exec *x, int32_t *ids, float *weights, float *entropy,
                          const float *logits, const float *bias, int64_t T,
                          const struct pd_cuda_router *r, char *err, size_t err_size);

/* The sampling candidates of one logits row (device): its statistics and its k best logits,
 * likeliest first, ties to the lower id, NaN never taken, -1 ids past the last (the layout of
 * struct pd_cuda_candidates; out and scratch sized by the two functions above). Twin:
 * pd_candidates_from_logits. */
int pd_cuda_dev_candidates(struct pd_cuda_exec *x, void *out, void *scratch, const float *logits,
                           int64_t n, int k, char *err, size_t err_size);

/* out[r][n] = in[rows_src[r]][n] for r < n_rows (rows_src on the device). */
int pd_cuda_dev_gather(struct pd_cuda_exec *x, float *out, const float *in,
                       const int32_t *rows_src, int64_t n_rows, int64_t n, char *err,
                       size_t err_size);

/* The MoE layer's sum, per token t < T, as engine/moe.c adds it:
 *   xs[t][n] += sum_k weights[t][k] * rout[token_row[t][k]][n]   (k in order)
 *              + sigmoid(sg_logit[t]) * sout[t][n]                (when sout; sg_logit NULL: 1)
 * All on the device. */
int pd_cuda_dev_moe_combine(struct pd_cuda_exec *x, float *xs, const float *rout,
                            const int32_t *token_row, const float *weights, int K,
                            const float *sout, const float *sg_logit, int64_t T, int64_t n,
                            char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
