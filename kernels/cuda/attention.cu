/*
 * attention.cu: attention over a KV cache on the GPU, the twin of pd_attention_head in
 * kernels/cpu/ops.c (called once per query head and token).
 *
 * Flash-decoding within one block: a block takes one query head of one token; its warps take the
 * cached positions in turn (warp w: positions w, w + nw, ...), each keeping its own running maximum
 * m, sum of weights l and weighted sum of values acc (spread over the lanes: lane j holds elements
 * j, j + 32, ...). When a score s raises the maximum, the old l and acc are scaled by e^(m - m').
 * At the end the warps' states are merged the same way through shared memory. Scores are never
 * stored, so the cache length is bounded only by the time it takes.
 *
 * The batch dimension makes the same kernel serve prefill: token t of T sees the first
 * n_kv - T + 1 + t positions (causal).
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"

#define ATT_THREADS 128
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_MAX_DIM 1024

/* NACC: value elements per lane (Dv <= 32 NACC). Dynamic shared memory: D floats of query,
 * ATT_WARPS * (Dv + 2) floats for merging the warps. */
template <int NACC>
__global__ void
attention_kernel(float *out, const float *q, const float *k, const float *v,
                 struct pd_cuda_attn a)
{
    PD_SHARED_DYNAMIC(float, sh);
    float *qs = sh, *wacc = sh + a.D, *wm = wacc + ATT_WARPS * a.Dv, *wl = wm + ATT_WARPS;
    int h = blockIdx.x, g = h / (a.H / a.Hkv);
    int64_t n_kv = a.pos ? (int64_t)a.pos[a.T - 1] + 1 : a.n_kv;
    int64_t t = blockIdx.y, n_pos = n_kv - a.T + 1 + t;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const float *qh = q + (t * a.H + h) * a.D;
    for (int d = threadIdx.x; d < a.D; d += blockDim.x)
        qs[d] = qh[d];
    __syncthreads();

    float m = -INFINITY, l = 0.0f, acc[NACC];
#pragma unroll
    for (int j = 0; j < NACC; j++)
        acc[j] = 0.0f;
    for (int64_t p = warp; p < n_pos; p += ATT_WARPS) {
        const float *kp = k + p * a.k_stride + (int64_t)g * a.D;
        float s = 0.0f;
        for (int d = lane; d < a.D; d += 32)
            s += qs[d] * kp[d];
        s = pd_warp_sum(s) * a.scale;
        float m_new = fmaxf(m, s);
        float corr = expf(m - m_new); /* 0 on the first position (m = -inf) */
        float e = expf(s - m_new);
        l = l * corr + e;
        const float *vp = v + p * a.v_stride + (int64_t)g * a.Dv;
#pragma unroll
        for (int j = 0; j < NACC; j++) {
            int d = lane + 32 * j;
            if (d < a.Dv)
                acc[j] = acc[j] * corr + e * vp[d];
        }
        m = m_new;
    }

#pragma unroll
    for (int j = 0; j < NACC; j++) {
        int d = lane + 32 * j;
        if (d < a.Dv)
            wacc[warp * a.Dv + d] = acc[j];
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++)
        M = fmaxf(M, wm[w]);
    float L = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++)
        L += wl[w] * expf(wm[w] - M); /* a warp that saw no position has l = 0, m = -inf */
    float *oh = out + (t * a.H + h) * a.Dv;
    for (int d = threadIdx.x; d < a.Dv; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            o += wacc[w * a.Dv + d] * expf(wm[w] - M);
        oh[d] = o / L;
    }
}

/* out, q, k, v on the device; false when Dv is out of range. */
static bool
attention_cuda(float *out, const float *q, const float *k, const float *v,
               const struct pd_cuda_attn *a, cudaStream_t stream)
{
    dim3 grid((unsigned)a->H, (unsigned)a->T);
    size_t shmem = sizeof(float) * ((size_t)a->D + ATT_WARPS * ((size_t)a->Dv + 2));
#define LAUNCH(N) PD_LAUNCH(attention_kernel<N>, grid, ATT_THREADS, shmem, stream)(out, q, k, v, *a)
    if (a->Dv <= 64)
        LAUNCH(2);
    else if (a->Dv <= 128)
        LAUNCH(4);
    else if (a->Dv <= 256)
        LAUNCH(8);
    else if (a->Dv <= 512)
        LAUNCH(16);
    else if (a->Dv <= ATT_MAX_DIM)
        LAUNCH(32);
    else
        return false;
#undef LAUNCH
    return true;
}

/* 0, or -1 with a message when the kernel cannot take this shape. */
extern "C" int
pd_cuda_attention_check(const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    if (a->T < 1 || a->n_kv < a->T || a->Hkv < 1 || a->H % a->Hkv || a->D < 1 ||
        a->D > ATT_MAX_DIM || a->Dv < 1 || a->Dv > ATT_MAX_DIM) {
        snprintf(err, err_size, "attention: bad shape (T %lld, n_kv %lld, H %d, Hkv %d, D %d, "
                 "Dv %d; D and Dv at most %d)", (long long)a->T, (long long)a->n_kv, a->H,
                 a->Hkv, a->D, a->Dv, ATT_MAX_DIM);
        return -1;
    }
    return 0;
}

extern "C" int
pd_cuda_dev_attention(struct pd_cuda_exec *x, float *out, const float *q, const float *k,
                      const float *v, const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    if (pd_cuda_attention_check(a, err, err_size) != 0)
        return -1;
    attention_cuda(out, q, k, v, a, x->stream);
    return pd_cuda_launched("attention", err, err_size);
}

extern "C" int
pd_cuda_attention(int dev, float *out, const float *q, const float *k, const float *v,
                  const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    void *d_out = NULL, *d_q = NULL, *d_k = NULL, *d_v = NULL;
    size_t qbytes = sizeof(float) * (size_t)a->T * a->H * a->D;
    size_t obytes = sizeof(float) * (size_t)a->T * a->H * a->Dv;
    /* the last row of the cache needs only its own heads, not a whole stride */
    size_t kbytes = sizeof(float) * ((size_t)(a->n_kv - 1) * a->k_stride + (size_t)a->Hkv * a->D);
    size_t vbytes = sizeof(float) * ((size_t)(a->n_kv - 1) * a->v_stride +
                                     (size_t)a->Hkv * a->Dv);
    int rc = -1;
    if (pd_cuda_attention_check(a, err, err_size) != 0)
        return -1;
    PD_TRY(pd_cuda_upload(dev, &d_q, q, qbytes, "the queries", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_k, k, kbytes, "the key cache", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_v, v, vbytes, "the value cache", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_out, NULL, obytes, "the attention output", err, err_size));
    attention_cuda((float *)d_out, (const float *)d_q, (const float *)d_k, (const float *)d_v, a,
                   0);
    PD_TRY(pd_cuda_download(out, d_out, obytes, "attention", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_out);
    pd_cuda_free(d_q);
    pd_cuda_free(d_k);
    pd_cuda_free(d_v);
    return rc;
}
