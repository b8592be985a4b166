/*
 * ops.c: RMSNorm, SwiGLU, softmax, RoPE (normal and NeoX, YaRN) and attention over a cache.
 *
 * These run once per row and are small next to the matrix products; they are written as plain
 * loops the compiler vectorizes, and double as their own reference.
 */
#include "config.h"

#include "kernels/cpu/ops.h"

#include <math.h>

void
pd_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * scale;
    }
}

void
pd_swiglu(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void
pd_add(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

void
pd_softmax(float *x, int64_t n)
{
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

/* YaRN: the band of dimensions between which interpolation ramps into extrapolation. */
static void
yarn_corr_dims(float dims[2], const struct pd_rope *r)
{
    float denom = 2.0f * logf(r->freq_base);
    float lo = r->n_rot * logf(r->n_ctx_orig / (r->beta_fast * 2.0f * (float)M_PI)) / denom;
    float hi = r->n_rot * logf(r->n_ctx_orig / (r->beta_slow * 2.0f * (float)M_PI)) / denom;
    dims[0] = fmaxf(0.0f, floorf(lo));
    dims[1] = fminf((float)(r->n_rot - 1), ceilf(hi));
}

void
pd_rope_cache(float *cs, const struct pd_rope *r, int64_t pos)
{
    float theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    float dims[2] = { 0.0f, 0.0f };
    float mscale = r->attn_factor;
    if (r->ext_factor != 0.0f) {
        yarn_corr_dims(dims, r);
        mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
    }
    float theta_extrap = (float)pos;
    for (int i = 0; i < r->n_rot / 2; i++) {
        float te = theta_extrap;
        if (r->freq_factors)
            te /= r->freq_factors[i];
        float theta = r->freq_scale * te;
        if (r->ext_factor != 0.0f) {
            float y = (i - dims[0]) / fmaxf(0.001f, dims[1] - dims[0]);
            float ramp = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * r->ext_factor;
            theta = theta * (1.0f - ramp) + te * ramp;
        }
        cs[2 * i] = cosf(theta) * mscale;
        cs[2 * i + 1] = sinf(theta) * mscale;
        theta_extrap *= theta_scale;
    }
}

void
pd_rope_apply(float *x, const float *cs, const struct pd_rope *r, int n_heads, int D)
{
    int half = r->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *xh = x + (int64_t)h * D;
        for (int i = 0; i < half; i++) {
            int a = r->neox ? i : 2 * i;
            int b = r->neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = xh[a], x1 = xh[b];
            xh[a] = x0 * c - x1 * s;
            xh[b] = x0 * s + x1 * c;
        }
    }
}

/* Softmax of scores[P] in place; returns nothing, the weights sum to 1. */
static void
softmax_scores(float *scores, int64_t P, float max)
{
    float sum = 0.0f;
    for (int64_t p = 0; p < P; p++) {
        scores[p] = expf(scores[p] - max);
        sum += scores[p];
    }
    float inv = 1.0f / sum;
    for (int64_t p = 0; p < P; p++)
        scores[p] *= inv;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define ATT_MAX_D 256

static inline __attribute__((target("avx2,fma"))) float
hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The AVX2 twin of attention_head_ref, for head sizes that are multiples of 8 (all real ones).
 * The query stays in registers while the keys stream past; the output accumulates in eight-wide
 * registers while the values stream past. */
static __attribute__((target("avx2,fma"))) void
attention_head_avx2(float *out, float *scores, const float *q, const float *k, const float *v,
                    int64_t P, int D, int Dv, int64_t kv_stride, float scale)
{
    __m256 qv[ATT_MAX_D / 8], ov[ATT_MAX_D / 8];
    for (int i = 0; i < D / 8; i++)
        qv[i] = _mm256_loadu_ps(q + 8 * i);
    float max = -INFINITY;
    for (int64_t p = 0; p < P; p++) {
        const float *kp = k + p * kv_stride;
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < D / 8; i++)
            acc = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(kp + 8 * i), acc);
        float sc = hsum8(acc) * scale;
        scores[p] = sc;
        max = sc > max ? sc : max;
    }
    softmax_scores(scores, P, max);
    for (int i = 0; i < Dv / 8; i++)
        ov[i] = _mm256_setzero_ps();
    for (int64_t p = 0; p < P; p++) {
        const float *vp = v + p * kv_stride;
        __m256 w = _mm256_set1_ps(scores[p]);
        for (int i = 0; i < Dv / 8; i++)
            ov[i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 8 * i), ov[i]);
    }
    for (int i = 0; i < Dv / 8; i++)
        _mm256_storeu_ps(out + 8 * i, ov[i]);
}

/* Heads wider than ATT_MAX_D (MLA's latent heads: 512 + 64 wide for V3): the query is read from
 * L1 as the keys stream past, and the output accumulates in place (in L1) as the values stream
 * past once: at long contexts the cache is far larger than the caches, so it is read once for
 * the scores and once for the output, never once per slice of the output. */
static __attribute__((target("avx2,fma"))) void
attention_head_avx2_wide(float *out, float *scores, const float *q, const float *k,
                         const float *v, int64_t P, int D, int Dv, int64_t kv_stride, float scale)
{
    float max = -INFINITY;
    for (int64_t p = 0; p < P; p++) {
        const float *kp = k + p * kv_stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= D; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kp + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kp + i + 8), a1);
        }
        if (i < D)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kp + i), a0);
        float sc = hsum8(_mm256_add_ps(a0, a1)) * scale;
        scores[p] = sc;
        max = sc > max ? sc : max;
    }
    softmax_scores(scores, P, max);
    for (int i = 0; i < Dv; i += 8)
        _mm256_storeu_ps(out + i, _mm256_setzero_ps());
    int64_t p = 0;
    for (; p + 4 <= P; p += 4) {   /* four positions a pass: a quarter of the loads and stores */
        const float *v0 = v + p * kv_stride, *v1 = v0 + kv_stride, *v2 = v1 + kv_stride,
                    *v3 = v2 + kv_stride;
        __m256 w0 = _mm256_set1_ps(scores[p]), w1 = _mm256_set1_ps(scores[p + 1]),
               w2 = _mm256_set1_ps(scores[p + 2]), w3 = _mm256_set1_ps(scores[p + 3]);
        for (int i = 0; i < Dv; i += 8) {
            __m256 o = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0 + i), _mm256_loadu_ps(out + i));
            o = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v1 + i), o);
            o = _mm256_fmadd_ps(w2, _mm256_loadu_ps(v2 + i), o);
            _mm256_storeu_ps(out + i, _mm256_fmadd_ps(w3, _mm256_loadu_ps(v3 + i), o));
        }
    }
    for (; p < P; p++) {
        const float *vp = v + p * kv_stride;
        __m256 w = _mm256_set1_ps(scores[p]);
        for (int i = 0; i < Dv; i += 8)
            _mm256_storeu_ps(out + i, _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + i),
                                                      _mm256_loadu_ps(out + i)));
    }
}
#endif

void
pd_attention_head(float *out, float *scores, const float *q, const float *k, const float *v,
                  int64_t P, int D, int Dv, int64_t kv_stride, float scale)
{
#if defined(__x86_64__)
    static int have_avx2 = -1;
    if (have_avx2 < 0)
        have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (have_avx2 && D % 8 == 0 && Dv % 8 == 0) {
        if (D <= ATT_MAX_D && Dv <= ATT_MAX_D)
            attention_head_avx2(out, scores, q, k, v, P, D, Dv, kv_stride, scale);
        else
            attention_head_avx2_wide(out, scores, q, k, v, P, D, Dv, kv_stride, scale);
        return;
    }
#endif
    pd_attention_head_ref(out, scores, q, k, v, P, D, Dv, kv_stride, scale);
}

void
pd_attention_head_ref(float *out, float *scores, const float *q, const float *k, const float *v,
                      int64_t P, int D, int Dv, int64_t kv_stride, float scale)
{
    float max = -INFINITY;
    for (int64_t p = 0; p < P; p++) {
        const float *kp = k + p * kv_stride;
        float s = 0.0f;
        for (int d = 0; d < D; d++)
            s += q[d] * kp[d];
        s *= scale;
        scores[p] = s;
        max = s > max ? s : max;
    }
    softmax_scores(scores, P, max);
    for (int d = 0; d < Dv; d++)
        out[d] = 0.0f;
    for (int64_t p = 0; p < P; p++) {
        const float *vp = v + p * kv_stride;
        for (int d = 0; d < Dv; d++)
            out[d] += scores[p] * vp[d];
    }
}
