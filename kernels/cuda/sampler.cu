/*
 * sampler.cu: what sampling needs from the logits, computed where they are, so that only a few
 * numbers cross the bus: the log-sum-exp and entropy of each row (the twin of pd_logits_stats in
 * engine/sampler.c), and the k best logits of a row (the sampler's top-k).
 *
 * Log-sum-exp and entropy: each thread keeps the CPU's one-pass state over its share of the row
 * (running maximum m, s = sum e^(l-m), t = sum e^(l-m) (l-m)), in double as the CPU does, and the
 * block merges the states pairwise: with M = max(m1, m2) and r_i = e^(m_i - M),
 * s = r1 s1 + r2 s2 and t = r1 (t1 + (m1 - M) s1) + r2 (t2 + (m2 - M) s2).
 *
 * Top-k: k rounds of a block-wide argmax. Candidates are ordered by (logit descending, id
 * ascending), the sampler's order; round j takes the best candidate that comes after round j-1's
 * in that order, so nothing is marked or sorted and the logits are read-only. k times the row, read
 * from L2: fine for the k of sampling (tens). For a decode step (pd_cuda_dev_candidates) the row
 * is cut into chunks taken by many blocks at once, then merged, and the step's statistics and
 * candidates land in one buffer that one download brings over.
 */
#include "config.h"

#include "kernels/cuda/cuda-common.cuh"
#include "kernels/cuda/exec.cuh"

#define STATS_THREADS 256
#define TOPK_THREADS 1024

/* ---- log-sum-exp and entropy ----------------------------------------------------------------- */

struct lse_state {
    double m, s, t;
};

__device__ static lse_state
lse_merge(lse_state a, lse_state b)
{
    if (b.s == 0.0)
        return a;
    if (a.s == 0.0)
        return b;
    double M = fmax(a.m, b.m), ra = exp(a.m - M), rb = exp(b.m - M);
    lse_state c = { M, ra * a.s + rb * b.s,
                    ra * (a.t + (a.m - M) * a.s) + rb * (b.t + (b.m - M) * b.s) };
    return c;
}

/* One block per row. */
__global__ void
logits_stats_kernel(float *lse, double *lse64, float *entropy, float *logprobs,
                    const float *logits, int64_t n)
{
    __shared__ lse_state part[STATS_THREADS];
    const float *lr = logits + blockIdx.x * n;
    lse_state st = { -INFINITY, 0.0, 0.0 };
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        double l = lr[i];
        if (!(l > -INFINITY)) /* -inf and NaN contribute nothing, as on the CPU */
            continue;
        if (st.s == 0.0) {
            st.m = l;
            st.s = 1.0;
        } else if (l > st.m) {
            double r = exp(st.m - l);
            st.t = r * (st.t + (st.m - l) * st.s);
            st.s = r * st.s + 1.0;
            st.m = l;
        } else {
            double e = exp(l - st.m);
            st.s += e;
            st.t += e * (l - st.m);
        }
    }
    part[threadIdx.x] = st;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w)
            part[threadIdx.x] = lse_merge(part[threadIdx.x], part[threadIdx.x + w]);
        __syncthreads();
    }
    st = part[0];
    double L = st.s == 0.0 ? -INFINITY : st.m + log(st.s);
    if (threadIdx.x == 0) {
        double h = st.s == 0.0 ? 0.0 : log(st.s) - st.t / st.s;
        if (lse)
            lse[blockIdx.x] = (float)L;
        if (lse64)
            lse64[blockIdx.x] = L;
        entropy[blockIdx.x] = (float)(h > 0.0 ? h : 0.0);
    }
    if (logprobs) {
        float *o = logprobs + blockIdx.x * n;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
            o[i] = (float)((double)lr[i] - L);
    }
}

extern "C" int
pd_cuda_logits_stats(int dev, float *lse, float *entropy, float *logprobs, const float *logits,
                     int64_t rows, int64_t n, char *err, size_t err_size)
{
    void *d_l = NULL, *d_lse = NULL, *d_h = NULL, *d_lp = NULL;
    size_t bytes = sizeof(float) * (size_t)rows * (size_t)n;
    int rc = -1;
    PD_TRY(pd_cuda_upload(dev, &d_l, logits, bytes, "the logits", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_lse, NULL, sizeof(float) * rows, "the log-sum-exp", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_h, NULL, sizeof(float) * rows, "the entropy", err, err_size));
    if (logprobs)
        PD_TRY(pd_cuda_upload(dev, &d_lp, NULL, bytes, "the log-probabilities", err, err_size));
    PD_LAUNCH(logits_stats_kernel, (unsigned)rows, STATS_THREADS, 0, 0)(
        (float *)d_lse, NULL, (float *)d_h, (float *)d_lp, (const float *)d_l, n);
    PD_TRY(pd_cuda_download(lse, d_lse, sizeof(float) * rows, "logits stats", err, err_size));
    PD_TRY(pd_cuda_download(entropy, d_h, sizeof(float) * rows, "logits stats", err, err_size));
    if (logprobs)
        PD_TRY(pd_cuda_download(logprobs, d_lp, bytes, "logits stats", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_l);
    pd_cuda_free(d_lse);
    pd_cuda_free(d_h);
    pd_cuda_free(d_lp);
    return rc;
}

/* ---- top-k ------------------------------------------------------------------------------------ */

/* Whether candidate (va, ia) comes before (vb, ib); id -1 is "none", after everything. */
__device__ __forceinline__ bool
cand_before(float va, int ia, float vb, int ib)
{
    if (ia < 0)
        return false;
    if (ib < 0)
        return true;
    return va > vb || (va == vb && ia < ib);
}

/* The k best of m candidates, written in order to out_ids/out_vals (-1 / -inf past the last):
 * k rounds of a block argmax over the candidates after the last one taken. Candidate i has the
 * value vals[i] and the id ids[i] (-1: none), or base + i when ids is NULL. The whole block
 * calls it. */
__device__ static void
block_top_k(int32_t *out_ids, float *out_vals, const float *vals, const int32_t *ids,
            int64_t base, int64_t m, int k)
{
    __shared__ float wv[32];
    __shared__ int wi[32];
    __shared__ float prev_v;
    __shared__ int prev_i;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    if (threadIdx.x == 0) {
        prev_v = INFINITY;
        prev_i = -1;
    }
    __syncthreads();
    for (int j = 0; j < k; j++) {
        float pv = prev_v;
        int pi = prev_i;
        float bv = -INFINITY;
        int bi = -1;
        for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
            float l = vals[i];
            int id = ids ? ids[i] : (int)(base + i);
            bool after = j == 0 || l < pv || (l == pv && id > pi);
            if (id >= 0 && l == l && after && cand_before(l, id, bv, bi)) {
                bv = l;
                bi = id;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (cand_before(ov, oi, bv, bi)) {
                bv = ov;
                bi = oi;
            }
        }
        if (lane == 0) {
            wv[warp] = bv;
            wi[warp] = bi;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < nw; w++)
                if (cand_before(wv[w], wi[w], bv, bi)) {
                    bv = wv[w];
                    bi = wi[w];
                }
            out_ids[j] = bi;
            out_vals[j] = bi >= 0 ? bv : -INFINITY;
            /* nothing left: the next rounds find nothing after an impossible candidate */
            prev_v = bi >= 0 ? bv : -INFINITY;
            prev_i = bi >= 0 ? bi : INT32_MAX;
        }
        __syncthreads();
    }
}

/* One block per row. */
__global__ void
top_k_kernel(int32_t *ids, float *vals, const float *logits, int64_t n, int k)
{
    block_top_k(ids + blockIdx.x * k, vals + blockIdx.x * k, logits + blockIdx.x * n, NULL, 0,
                n, k);
}

extern "C" int
pd_cuda_top_k(int dev, int32_t *ids, float *vals, const float *logits, int64_t rows, int64_t n,
              int k, char *err, size_t err_size)
{
    void *d_l = NULL, *d_ids = NULL, *d_v = NULL;
    size_t bytes = sizeof(float) * (size_t)rows * (size_t)n, kb = (size_t)rows * (size_t)k;
    int rc = -1;
    if (k < 1 || n < 1 || n > INT32_MAX) {
        snprintf(err, err_size, "top-k: k %d of %lld logits", k, (long long)n);
        return -1;
    }
    PD_TRY(pd_cuda_upload(dev, &d_l, logits, bytes, "the logits", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_ids, NULL, sizeof(int32_t) * kb, "the top-k ids", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_v, NULL, sizeof(float) * kb, "the top-k values", err,
                          err_size));
    PD_LAUNCH(top_k_kernel, (unsigned)rows, TOPK_THREADS, 0, 0)((int32_t *)d_ids, (float *)d_v,
                                                   (const float *)d_l, n, k);
    PD_TRY(pd_cuda_download(ids, d_ids, sizeof(int32_t) * kb, "top-k", err, err_size));
    PD_TRY(pd_cuda_download(vals, d_v, sizeof(float) * kb, "top-k", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_l);
    pd_cuda_free(d_ids);
    pd_cuda_free(d_v);
    return rc;
}

/* ---- the candidates of one row, for one download ------------------------------------------
 *
 * One block over a vocabulary-wide row would take k rounds over 150,000 logits; instead each
 * block first takes the k best of a chunk of CHUNK logits held in shared memory, then one block
 * takes the k best of those blocks' candidates. */

#define CHUNK 2048
#define CHUNK_THREADS 256

__global__ void
chunk_top_k_kernel(int32_t *ids, float *vals, const float *logits, int64_t n, int k)
{
    __shared__ float part[CHUNK];
    int64_t lo = (int64_t)blockIdx.x * CHUNK, m = n - lo < CHUNK ? n - lo : CHUNK;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x)
        part[i] = logits[lo + i];
    __syncthreads();
    block_top_k(ids + blockIdx.x * k, vals + blockIdx.x * k, part, NULL, lo, m, k);
}

__global__ void
merge_top_k_kernel(int32_t *ids, float *vals, const int32_t *cids, const float *cvals, int64_t m,
                   int k)
{
    block_top_k(ids, vals, cvals, cids, 0, m, k);
}

static int64_t
n_chunks(int64_t n)
{
    return (n + CHUNK - 1) / CHUNK;
}

extern "C" size_t
pd_cuda_candidates_bytes(int k)
{
    return sizeof(struct pd_cuda_candidates) + (size_t)k * (sizeof(int32_t) + sizeof(float));
}

extern "C" size_t
pd_cuda_candidates_scratch(int64_t n, int k)
{
    return (size_t)n_chunks(n) * (size_t)k * (sizeof(int32_t) + sizeof(float));
}

extern "C" int
pd_cuda_dev_candidates(struct pd_cuda_exec *x, void *out, void *scratch, const float *logits,
                       int64_t n, int k, char *err, size_t err_size)
{
    if (k < 1 || n < 1 || n > INT32_MAX) {
        snprintf(err, err_size, "candidates: k %d of %lld logits", k, (long long)n);
        return -1;
    }
    int64_t nc = n_chunks(n);
    int32_t *cids = (int32_t *)scratch;
    float *cvals = (float *)(cids + nc * k);
    struct pd_cuda_candidates *head = (struct pd_cuda_candidates *)out;
    int32_t *ids = (int32_t *)(head + 1);
    float *vals = (float *)(ids + k);
    PD_LAUNCH(logits_stats_kernel, 1, STATS_THREADS, 0, x->stream)(NULL, &head->lse, &head->entropy,
                                                            NULL, logits, n);
    PD_LAUNCH(chunk_top_k_kernel, (unsigned)nc, CHUNK_THREADS, 0, x->stream)(
        cids, cvals, logits, n, k);
    PD_LAUNCH(merge_top_k_kernel, 1, TOPK_THREADS, 0, x->stream)(ids, vals, cids, cvals, nc * k, k);
    return pd_cuda_launched("the sampling candidates", err, err_size);
}
