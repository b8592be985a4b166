/*
 * ops-rows.c: the ops that work a row at a time: embedding lookup, RMSNorm, SwiGLU.
 *
 * Forwards repeat kernels/cpu/ops.c's arithmetic in the same order (RMSNorm's sum of squares in
 * double, eps inside the root; silu as g / (1 + e^-g)), so training and inference agree to the
 * last bit on the same weights. Backwards accumulate.
 */
#include "config.h"

#include "engine/train/ops.h"

#include <math.h>
#include <string.h>

int
pd_tr_embed_forward(float *out, const float *table, const int32_t *ids, int64_t N, int64_t E,
                    int64_t n_vocab, char *err)
{
    for (int64_t n = 0; n < N; n++) {
        if (ids[n] < 0 || ids[n] >= n_vocab)
            return pd_errorf(err, PD_EINVAL, "token %lld: id %d is outside the vocabulary of "
                             "%lld", (long long)n, ids[n], (long long)n_vocab);
        memcpy(out + n * E, table + (int64_t)ids[n] * E, sizeof(float) * E);
    }
    return 0;
}

void
pd_tr_embed_backward(float *dtable, const float *dout, const int32_t *ids, int64_t N, int64_t E)
{
    for (int64_t n = 0; n < N; n++) {
        float *d = dtable + (int64_t)ids[n] * E;
        const float *g = dout + n * E;
        for (int64_t i = 0; i < E; i++)
            d[i] += g[i];
    }
}

void
pd_tr_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t N,
                      int64_t E, float eps)
{
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * E;
        float *o = out + n * E;
        double ss = 0.0;
        for (int64_t i = 0; i < E; i++)
            ss += (double)xr[i] * xr[i];
        float scale = 1.0f / sqrtf((float)(ss / E) + eps);
        rstd[n] = scale;
        if (w)
            for (int64_t i = 0; i < E; i++)
                o[i] = xr[i] * scale * w[i];
        else
            for (int64_t i = 0; i < E; i++)
                o[i] = xr[i] * scale;
    }
}

/*
 * y = x r w with r = (mean(x^2) + eps)^-1/2, so dr/dx_j = -r^3 x_j / E and, with g = dy * w,
 *   dx_i = r g_i - x_i r^3 / E * sum_j g_j x_j,      dw_i = dy_i x_i r.
 */
void
pd_tr_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int64_t N, int64_t E)
{
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * E, *g = dout + n * E;
        float r = rstd[n];
        if (dw && w)
            for (int64_t i = 0; i < E; i++)
                dw[i] += g[i] * xr[i] * r;
        if (!dx)
            continue;
        double dot = 0.0;
        for (int64_t i = 0; i < E; i++)
            dot += (double)g[i] * (w ? w[i] : 1.0f) * xr[i];
        float c = (float)(dot * r * r * r / E);
        float *d = dx + n * E;
        if (w)
            for (int64_t i = 0; i < E; i++)
                d[i] += r * g[i] * w[i] - xr[i] * c;
        else
            for (int64_t i = 0; i < E; i++)
                d[i] += r * g[i] - xr[i] * c;
    }
}

void
pd_tr_swiglu_forward(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* silu(g) = g s with s = sigmoid(g); silu'(g) = s (1 + g (1 - s)). */
void
pd_tr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                      const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i], s = 1.0f / (1.0f + expf(-g));
        if (dup)
            dup[i] += dout[i] * g * s;
        if (dgate)
            dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}
