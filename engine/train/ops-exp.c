/*
 * ops-exp.c: the exponential-based row helpers of attention and the loss (softmax, log-sum-exp,
 * and y += a exp(x - shift)), with an eight-wide exp on AVX2.
 *
 * Attention's softmax runs over T^2/2 scores a head and the loss's over N x V logits, twice;
 * libm's expf one value at a time made them a fifth of a training step. The vector exp is the
 * classic one: n = round(x log2 e), r = x - n ln 2 in two parts (exact product for the high part),
 * e^r by a degree-7 polynomial (the Cephes expf coefficients), times 2^n built in the exponent
 * bits; within 2 ulp of expf over the clamped range [-87, 88], where e^-87 (1.6e-38) stands in
 * for anything smaller, which no sum of probabilities can tell from zero.
 */
#include "config.h"

#include "engine/train/ops.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

static int
have_avx2(void)
{
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return have;
}

static inline __attribute__((target("avx2,fma"))) __m256
exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                   _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __attribute__((target("avx2,fma"))) float
hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __attribute__((target("avx2,fma"))) double
hsum8(__m256 v)
{
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    double s[4];
    _mm256_storeu_pd(s, _mm256_add_pd(lo, hi));
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static __attribute__((target("avx2,fma"))) float
max_avx2(const float *x, int64_t n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float r = hmax8(m);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

/* y = exp(x - shift) when y is not NULL; returns the sum. Sums of eight lanes stay in float for
 * one 64-element stretch at most, then go to double. */
static __attribute__((target("avx2,fma"))) double
exp_sum_avx2(float *y, const float *x, float shift, int64_t n)
{
    __m256 s = _mm256_set1_ps(shift);
    double sum = 0.0;
    int64_t i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t end = PD_MIN(n, i + 64); i + 8 <= end; i += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
            if (y)
                _mm256_storeu_ps(y + i, e);
            acc = _mm256_add_ps(acc, e);
        }
        sum += hsum8(acc);
    }
    for (; i < n; i++) {
        float e = expf(x[i] - shift);
        if (y)
            y[i] = e;
        sum += e;
    }
    return sum;
}

static __attribute__((target("avx2,fma"))) void
exp_axpy_avx2(float *y, float a, const float *x, float shift, int64_t n)
{
    __m256 s = _mm256_set1_ps(shift), av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, e, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * expf(x[i] - shift);
}
#else
static int
have_avx2(void)
{
    return 0;
}
#endif

static float
row_max(const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx2())
        return max_avx2(x, n);
#endif
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

static double
exp_sum(float *y, const float *x, float shift, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx2())
        return exp_sum_avx2(y, x, shift, n);
#endif
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - shift);
        if (y)
            y[i] = e;
        sum += e;
    }
    return sum;
}

void
pd_tr_softmax(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= scale;
    float inv = (float)(1.0 / exp_sum(x, x, row_max(x, n), n));
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

float
pd_tr_logsumexp(const float *x, int64_t n)
{
    float max = row_max(x, n);
    return max + (float)log(exp_sum(NULL, x, max, n));
}

void
pd_tr_exp_axpy(float *y, float a, const float *x, float shift, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx2()) {
        exp_axpy_avx2(y, a, x, shift, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] += a * expf(x[i] - shift);
}
