/*
 * moe.cu: the mixture-of-experts router on the GPU, the twin of choose_experts in engine/moe.c.
 *
 * One block per token. The block turns the router's logits into probabilities (softmax, or
 * sigmoid for DeepSeek-V3) and their entropy with block reductions; then one thread makes the
 * choice exactly as the CPU does it, step by step: selection scores = probabilities + bias, the
 * best groups (group score = sum of its two best selection scores) keep their experts, top-K by
 * selection score (ties to the lower id), weights = the unbiased probabilities of the chosen,
 * renormalized with the CPU's floor and scaled, ordered by decreasing weight. The choice is K x X
 * comparisons, small beside everything else a layer does; keeping it on one thread keeps it
 * obviously the CPU's.
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"

#define ROUTE_THREADS 256
#define ROUTE_MAX_EXPERTS 1024
#define ROUTE_MAX_GROUPS 64
#define ROUTE_MAX_USED 64

/* The K largest of p[X], largest first (ties to the lower id), as top_k in engine/moe.c. */
__device__ static void
route_top_k(int32_t *ids, float *vals, const float *p, int32_t X, int32_t K)
{
    for (int32_t k = 0; k < K; k++) {
        ids[k] = -1;
        vals[k] = -INFINITY;
    }
    for (int32_t e = 0; e < X; e++) {
        if (p[e] <= vals[K - 1])
            continue;
        int32_t k = K - 1;
        for (; k > 0 && p[e] > vals[k - 1]; k--) {
            ids[k] = ids[k - 1];
            vals[k] = vals[k - 1];
        }
        ids[k] = e;
        vals[k] = p[e];
    }
}

/* Group-limited routing: only the best n_used groups keep their experts eligible. */
__device__ static void
route_mask_groups(float *sel, int32_t X, int32_t n_groups, int32_t n_used)
{
    int32_t per = X / n_groups;
    float gscore[ROUTE_MAX_GROUPS], gval[ROUTE_MAX_GROUPS];
    int32_t gid[ROUTE_MAX_GROUPS];
    for (int32_t g = 0; g < n_groups; g++) {
        float best[2];
        int32_t ids[2];
        route_top_k(ids, best, sel + g * per, per, per >= 2 ? 2 : 1);
        gscore[g] = best[0] + (per >= 2 ? best[1] : 0.0f);
    }
    route_top_k(gid, gval, gscore, n_groups, n_used);
    for (int32_t g = 0; g < n_groups; g++) {
        bool keep = false;
        for (int32_t i = 0; i < n_used; i++)
            keep |= gid[i] == g;
        if (!keep)
            for (int32_t e = 0; e < per; e++)
                sel[g * per + e] = -INFINITY;
    }
}

/* Dynamic shared memory: 2 X floats (probabilities, selection scores). */
__global__ void
route_kernel(int32_t *ids, float *weights, float *entropy, const float *logits,
             const float *bias, struct pd_cuda_router r)
{
    PD_SHARED_DYNAMIC(float, sh);
    float *p = sh, *sel = sh + r.n_expert;
    int32_t X = r.n_expert, K = r.n_used;
    const float *lg = logits + (int64_t)blockIdx.x * X;
    float h;
    if (r.sigmoid) {
        float s = 0.0f;
        for (int e = threadIdx.x; e < X; e += blockDim.x) {
            p[e] = 1.0f / (1.0f + expf(-lg[e]));
            s += p[e];
        }
        s = pd_block_sum(s);
        float hp = 0.0f;
        for (int e = threadIdx.x; e < X; e += blockDim.x) {
            float q = p[e] / s;
            if (q > 0.0f)
                hp -= q * logf(q);
        }
        h = pd_block_sum(hp);
    } else {
        float m = -INFINITY;
        for (int e = threadIdx.x; e < X; e += blockDim.x)
            m = fmaxf(m, lg[e]);
        m = pd_block_max(m);
        float s = 0.0f;
        for (int e = threadIdx.x; e < X; e += blockDim.x) {
            p[e] = expf(lg[e] - m);
            s += p[e];
        }
        s = pd_block_sum(s);
        float hp = 0.0f;
        for (int e = threadIdx.x; e < X; e += blockDim.x) {
            p[e] = p[e] / s;
            if (p[e] > 0.0f)
                hp -= p[e] * logf(p[e]);
        }
        h = pd_block_sum(hp);
    }
    for (int e = threadIdx.x; e < X; e += blockDim.x)
        sel[e] = p[e] + (bias ? bias[e] : 0.0f);
    __syncthreads();
    if (threadIdx.x != 0)
        return;

    entropy[blockIdx.x] = h;
    int32_t *id = ids + (int64_t)blockIdx.x * K;
    float *w = weights + (int64_t)blockIdx.x * K;
    if (r.n_groups > 1)
        route_mask_groups(sel, X, r.n_groups, r.n_groups_used);
    route_top_k(id, w, sel, X, K);
    for (int32_t k = 0; k < K; k++)
        w[k] = id[k] >= 0 ? p[id[k]] : 0.0f;
    if (r.norm) {
        float sum = 0.0f;
        for (int32_t k = 0; k < K; k++)
            sum += w[k];
        sum = sum > 6.1e-5f ? sum : 6.1e-5f; /* llama.cpp's floor, as the CPU */
        for (int32_t k = 0; k < K; k++)
            w[k] /= sum;
    }
    for (int32_t k = 0; k < K; k++)
        w[k] *= r.scale;
    /* decreasing weight, ties to the lower id (insertion sort, as sort_by_weight) */
    for (int32_t i = 1; i < K; i++)
        for (int32_t j = i; j > 0 && (w[j] > w[j - 1] || (w[j] == w[j - 1] && id[j] < id[j - 1]));
             j--) {
            float tw = w[j];
            w[j] = w[j - 1];
            w[j - 1] = tw;
            int32_t ti = id[j];
            id[j] = id[j - 1];
            id[j - 1] = ti;
        }
}

/* 0, or -1 with a message when the router kernel cannot take this shape. */
extern "C" int
pd_cuda_router_check(const struct pd_cuda_router *r, char *err, size_t err_size)
{
    int32_t X = r->n_expert, K = r->n_used;
    if (X < 1 || X > ROUTE_MAX_EXPERTS || K < 1 || K > X || K > ROUTE_MAX_USED ||
        (r->n_groups > 1 && (r->n_groups > ROUTE_MAX_GROUPS || X % r->n_groups ||
                             r->n_groups_used < 1 || r->n_groups_used > r->n_groups ||
                             X / r->n_groups * r->n_groups_used < K))) {
        snprintf(err, err_size, "router: unsupported shape (%d experts, %d used, %d groups, %d "
                 "groups used; at most %d experts, %d used, %d groups)", X, K, r->n_groups,
                 r->n_groups_used, ROUTE_MAX_EXPERTS, ROUTE_MAX_USED, ROUTE_MAX_GROUPS);
        return -1;
    }
    return 0;
}

extern "C" int
pd_cuda_dev_moe_route(struct pd_cuda_exec *x, int32_t *ids, float *weights, float *entropy,
                      const float *logits, const float *bias, int64_t T,
                      const struct pd_cuda_router *r, char *err, size_t err_size)
{
    if (pd_cuda_router_check(r, err, err_size) != 0)
        return -1;
    if (T <= 0)
        return 0;
    PD_LAUNCH(route_kernel, (unsigned)T, ROUTE_THREADS, sizeof(float) * 2 * r->n_expert, x->stream)(
        ids, weights, entropy, logits, bias, *r);
    return pd_cuda_launched("the router", err, err_size);
}

extern "C" int
pd_cuda_moe_route(int dev, int32_t *ids, float *weights, float *entropy, const float *logits,
                  const float *bias, int64_t T, const struct pd_cuda_router *r, char *err,
                  size_t err_size)
{
    void *d_ids = NULL, *d_w = NULL, *d_h = NULL, *d_l = NULL, *d_b = NULL;
    int32_t X = r->n_expert, K = r->n_used;
    size_t tk = (size_t)T * (size_t)K;
    int rc = -1;
    if (pd_cuda_router_check(r, err, err_size) != 0)
        return -1;
    PD_TRY(pd_cuda_upload(dev, &d_l, logits, sizeof(float) * (size_t)T * X, "the router logits",
                          err, err_size));
    if (bias)
        PD_TRY(pd_cuda_upload(dev, &d_b, bias, sizeof(float) * X, "the selection bias", err,
                              err_size));
    PD_TRY(pd_cuda_upload(dev, &d_ids, NULL, sizeof(int32_t) * tk, "the expert ids", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_w, NULL, sizeof(float) * tk, "the expert weights", err,
                          err_size));
    PD_TRY(pd_cuda_upload(dev, &d_h, NULL, sizeof(float) * T, "the router entropy", err,
                          err_size));
    PD_LAUNCH(route_kernel, (unsigned)T, ROUTE_THREADS, sizeof(float) * 2 * X, 0)(
        (int32_t *)d_ids, (float *)d_w, (float *)d_h, (const float *)d_l, (const float *)d_b,
        *r);
    PD_TRY(pd_cuda_download(ids, d_ids, sizeof(int32_t) * tk, "the router", err, err_size));
    PD_TRY(pd_cuda_download(weights, d_w, sizeof(float) * tk, "the router", err, err_size));
    PD_TRY(pd_cuda_download(entropy, d_h, sizeof(float) * T, "the router", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_ids);
    pd_cuda_free(d_w);
    pd_cuda_free(d_h);
    pd_cuda_free(d_l);
    pd_cuda_free(d_b);
    return rc;
}
