/*
 * ops.cu: RoPE (normal and NeoX layouts, YaRN), softmax and SwiGLU on the GPU, the twins of
 * pd_rope_cache/pd_rope_apply, pd_softmax and pd_swiglu in kernels/cpu/ops.c. (RMSNorm is in
 * rmsnorm.cu, attention in attention.cu.)
 *
 * RoPE follows the CPU's arithmetic closely on purpose: the frequency of pair i is the position
 * multiplied by theta_scale i times in sequence (as the CPU's running product), not a power, and
 * the scalars that do not depend on the position (theta_scale, the YaRN band, the magnitude
 * scale) are computed once on the host with the CPU's formulas. Angles reach thousands of radians,
 * where one ulp of difference in theta is a visible difference in cos and sin.
 *
 * Each op also has a device-pointer entry point (pd_cuda_dev_*) for the whole-model forward.
 */
#include "config.h"

#include "kernels/cuda/exec.cuh"

#include <math.h>

#define OPS_THREADS 256

/* ---- RoPE ------------------------------------------------------------------------------------ */

/* What a rotation needs besides the position; filled on the host. */
struct rope_dev {
    int n_rot, neox;
    float theta_scale, freq_scale, ext_factor, mscale;
    float dims0, dims1;           /* the YaRN band (ext_factor != 0) */
    const float *freq_factors;    /* device, n_rot/2, or NULL */
};

/* As yarn_corr_dims and the start of pd_rope_cache in kernels/cpu/ops.c. */
static rope_dev
rope_prepare(const struct pd_rope *r, const float *d_ff)
{
    rope_dev rd;
    rd.n_rot = r->n_rot;
    rd.neox = r->neox;
    rd.theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    rd.freq_scale = r->freq_scale;
    rd.ext_factor = r->ext_factor;
    rd.mscale = r->attn_factor;
    rd.dims0 = rd.dims1 = 0.0f;
    if (r->ext_factor != 0.0f) {
        float denom = 2.0f * logf(r->freq_base);
        float lo = r->n_rot * logf(r->n_ctx_orig / (r->beta_fast * 2.0f * (float)M_PI)) / denom;
        float hi = r->n_rot * logf(r->n_ctx_orig / (r->beta_slow * 2.0f * (float)M_PI)) / denom;
        rd.dims0 = fmaxf(0.0f, floorf(lo));
        rd.dims1 = fminf((float)(r->n_rot - 1), ceilf(hi));
        rd.mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
    }
    rd.freq_factors = d_ff;
    return rd;
}

/* One block per token: each thread computes (cos, sin) of some pairs into shared memory, then the
 * block rotates every head. Dynamic shared memory: n_rot floats. The _rn intrinsics keep the
 * compiler from fusing the YaRN mix into an FMA the CPU does not do. */
__global__ void
rope_kernel(float *x, int64_t ld, const int32_t *pos, rope_dev rd, int n_heads, int D)
{
    PD_SHARED_DYNAMIC(float, cs);
    int half = rd.n_rot / 2;
    float *xt = x + (int64_t)blockIdx.x * ld;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float te = (float)pos[blockIdx.x];
        for (int j = 0; j < i; j++)
            te = __fmul_rn(te, rd.theta_scale);
        if (rd.freq_factors)
            te = __fdiv_rn(te, rd.freq_factors[i]);
        float theta = __fmul_rn(rd.freq_scale, te);
        if (rd.ext_factor != 0.0f) {
            float y = __fdiv_rn((float)i - rd.dims0, fmaxf(0.001f, rd.dims1 - rd.dims0));
            float ramp = __fmul_rn(1.0f - fminf(1.0f, fmaxf(0.0f, y)), rd.ext_factor);
            theta = __fadd_rn(__fmul_rn(theta, 1.0f - ramp), __fmul_rn(te, ramp));
        }
        cs[2 * i] = __fmul_rn(cosf(theta), rd.mscale);
        cs[2 * i + 1] = __fmul_rn(sinf(theta), rd.mscale);
    }
    __syncthreads();
    for (int k = threadIdx.x; k < n_heads * half; k += blockDim.x) {
        int h = k / half, i = k % half;
        float *xh = xt + (int64_t)h * D;
        int a = rd.neox ? i : 2 * i;
        int b = rd.neox ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1];
        float x0 = xh[a], x1 = xh[b];
        xh[a] = x0 * c - x1 * s;
        xh[b] = x0 * s + x1 * c;
    }
}

extern "C" int
pd_cuda_rope(int dev, float *x, const int32_t *pos, const struct pd_rope *r, int64_t T,
             int n_heads, int D, char *err, size_t err_size)
{
    void *d_x = NULL, *d_pos = NULL, *d_ff = NULL;
    size_t xbytes = sizeof(float) * (size_t)T * (size_t)n_heads * (size_t)D;
    rope_dev rd;
    int rc = -1;
    if (r->n_rot < 2 || r->n_rot > D || r->n_rot % 2) {
        snprintf(err, err_size, "rope: n_rot %d must be even and within the head size %d",
                 r->n_rot, D);
        return -1;
    }
    PD_TRY(pd_cuda_upload(dev, &d_x, x, xbytes, "the rope input", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_pos, pos, sizeof(int32_t) * (size_t)T, "the positions", err,
                          err_size));
    if (r->freq_factors)
        PD_TRY(pd_cuda_upload(dev, &d_ff, r->freq_factors, sizeof(float) * (r->n_rot / 2),
                              "the frequency factors", err, err_size));
    rd = rope_prepare(r, (const float *)d_ff);
    PD_LAUNCH(rope_kernel, (unsigned)T, OPS_THREADS, sizeof(float) * r->n_rot, 0)(
        (float *)d_x, (int64_t)n_heads * D, (const int32_t *)d_pos, rd, n_heads, D);
    PD_TRY(pd_cuda_download(x, d_x, xbytes, "rope", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_x);
    pd_cuda_free(d_pos);
    pd_cuda_free(d_ff);
    return rc;
}

/* ---- softmax --------------------------------------------------------------------------------- */

/* One block per row, in place; -inf entries give 0. */
__global__ void
softmax_kernel(float *x, int64_t n)
{
    float *xr = x + blockIdx.x * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        m = fmaxf(m, xr[i]);
    m = pd_block_max(m);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float e = expf(xr[i] - m);
        xr[i] = e;
        s += e;
    }
    s = pd_block_sum(s);
    float inv = 1.0f / s;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        xr[i] *= inv;
}

extern "C" int
pd_cuda_softmax(int dev, float *x, int64_t rows, int64_t n, char *err, size_t err_size)
{
    void *d_x = NULL;
    size_t bytes = sizeof(float) * (size_t)rows * (size_t)n;
    int rc = -1;
    PD_TRY(pd_cuda_upload(dev, &d_x, x, bytes, "the softmax input", err, err_size));
    PD_LAUNCH(softmax_kernel, (unsigned)rows, OPS_THREADS, 0, 0)((float *)d_x, n);
    PD_TRY(pd_cuda_download(x, d_x, bytes, "softmax", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_x);
    return rc;
}

/* ---- SwiGLU ---------------------------------------------------------------------------------- */

__global__ void
swiglu_kernel(float *out, const float *gate, const float *up, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" int
pd_cuda_swiglu(int dev, float *out, const float *gate, const float *up, int64_t n, char *err,
               size_t err_size)
{
    void *d_g = NULL, *d_u = NULL, *d_o = NULL;
    size_t bytes = sizeof(float) * (size_t)n;
    int rc = -1;
    PD_TRY(pd_cuda_upload(dev, &d_g, gate, bytes, "the gate", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_u, up, bytes, "the up projection", err, err_size));
    PD_TRY(pd_cuda_upload(dev, &d_o, NULL, bytes, "the output", err, err_size));
    PD_LAUNCH(swiglu_kernel, (unsigned)((n + OPS_THREADS - 1) / OPS_THREADS), OPS_THREADS, 0, 0)(
        (float *)d_o, (const float *)d_g, (const float *)d_u, n);
    PD_TRY(pd_cuda_download(out, d_o, bytes, "swiglu", err, err_size));
    rc = 0;
fail:
    pd_cuda_free(d_g);
    pd_cuda_free(d_u);
    pd_cuda_free(d_o);
    return rc;
}

/* ---- on device buffers (the whole-model forward) --------------------------------------------- */

extern "C" int
pd_cuda_dev_rope(struct pd_cuda_exec *x, float *xs, int64_t ld, const int32_t *pos,
                 const struct pd_rope *r, const float *freq_factors, int64_t T, int n_heads, int D,
                 char *err, size_t err_size)
{
    if (r->n_rot < 2 || r->n_rot > D || r->n_rot % 2) {
        snprintf(err, err_size, "rope: n_rot %d must be even and within the head size %d",
                 r->n_rot, D);
        return -1;
    }
    if (T <= 0)
        return 0;
    rope_dev rd = rope_prepare(r, freq_factors);
    PD_LAUNCH(rope_kernel, (unsigned)T, OPS_THREADS, sizeof(float) * r->n_rot, x->stream)(
        xs, ld, pos, rd, n_heads, D);
    return pd_cuda_launched("rope", err, err_size);
}

extern "C" int
pd_cuda_dev_swiglu(struct pd_cuda_exec *x, float *out, const float *gate, const float *up,
                   int64_t n, char *err, size_t err_size)
{
    if (n <= 0)
        return 0;
    unsigned blocks = (unsigned)((n + OPS_THREADS - 1) / OPS_THREADS);
    PD_LAUNCH(swiglu_kernel, blocks, OPS_THREADS, 0, x->stream)(out, gate, up, n);
    return pd_cuda_launched("swiglu", err, err_size);
}
