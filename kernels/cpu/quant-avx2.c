/*
 * quant-avx2.c: AVX2 kernels for the dots and activation quantizers that dominate decoding.
 *
 * The build does not depend on -march: every function here carries its own target attribute and
 * pd_quant_avx2_install only hands them out when the CPU reports AVX2, FMA and F16C, so the
 * binary runs on any x86-64 (and this file compiles to a stub elsewhere).
 *
 * Quantized dots: weights are unpacked to one byte per element in a 256-bit register, and
 * multiplied with the 8-bit activations by maddubs (unsigned x signed bytes, pairs summed to 16
 * bits) then madd (pairs summed to 32 bits). Signed weights are made unsigned with the sign
 * trick: |w| * (a with w's sign). Every product fits: |w| <= 127 and |a| <= 127 by construction
 * of the quantizers, so no 16-bit sum saturates. Each block's 32-bit sums are scaled in float
 * with one FMA, so results differ from the plain-C kernels only by float rounding order.
 *
 * Activation quantizers produce exactly the plain-C bytes: the same float multiply, then
 * round-half-away (Q8_0, Q8_1) built from truncation, or round-to-nearest-even (Q8_K).
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "kernels/cpu/quant-impl.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* ---- helpers --------------------------------------------------------------------------------- */

static inline AVX2 float
hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline AVX2 float
fp16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 16 bytes of nibbles to 32 bytes: low nibbles (elements 0..15), then high nibbles (16..31). */
static inline AVX2 __m256i
nibbles32(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* The 32 bits of a little-endian word as 32 bytes: 0xFF where the bit is set. */
static inline AVX2 __m256i
bits32_to_bytes(const uint8_t *qh)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    __m256i v = _mm256_set1_epi32((int)h);
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                              0x0303030303030303ll);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_and_si256(_mm256_shuffle_epi8(v, spread), bit);
    return _mm256_cmpeq_epi8(v, bit);
}

/* Eight 32-bit sums of products of unsigned bytes ux and signed bytes y. */
static inline AVX2 __m256i
dot_u8_i8(__m256i ux, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, y), _mm256_set1_epi16(1));
}

/* Eight 32-bit sums of products of signed bytes x and y (|x| <= 127). */
static inline AVX2 __m256i
dot_i8_i8(__m256i x, __m256i y)
{
    return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline AVX2 __m256i
load256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Q5 block values: nibbles with the fifth bit from qh, 0..31. */
static inline AVX2 __m256i
q5_values(const uint8_t *qs, const uint8_t *qh)
{
    __m256i hb = _mm256_and_si256(bits32_to_bytes(qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles32(qs), hb);
}

/* ---- dots of the 32-element formats ---------------------------------------------------------- */

/* Decode reads each weight byte once, in rows of a few KiB, and the hardware prefetchers start
 * over at every 4 KiB page: asking for the bytes 4 KiB ahead keeps the stream coming (the
 * repacked Q4_0 kernels measured 2-13 KiB alike, repack-avx2.c). */
#define PREFETCH_AHEAD 4096

static inline void
prefetch_row(const void *p)
{
    _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
    _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
}

/* One Q4_0 block times its Q8_0 block, as 8 float partial sums. */
static inline AVX2 __m256
block_q4_0(const struct pd_block_q4_0 *x, const struct pd_block_q8_0 *y, __m256 acc)
{
    __m256i qx = _mm256_sub_epi8(nibbles32(x->qs), _mm256_set1_epi8(8));
    __m256i p = dot_i8_i8(qx, load256(y->qs));
    __m256 d = _mm256_set1_ps(fp16(x->d) * fp16(y->d));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
}

/* Two accumulators so consecutive blocks do not wait on each other's FMA. */
static AVX2 void
dot_q4_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0, nb = n / PD_QK;
    for (; i + 2 <= nb; i += 2) {
        prefetch_row(&x[i]);
        acc0 = block_q4_0(&x[i], &y[i], acc0);
        acc1 = block_q4_0(&x[i + 1], &y[i + 1], acc1);
    }
    if (i < nb)
        acc0 = block_q4_0(&x[i], &y[i], acc0);
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* The two fp16 words at p (a block's d and m, or d and s) as floats in lanes 0 and 1, converted
 * with one instruction. */
static inline AVX2 __m128
fp16_pair(const uint16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}

/* One Q4_1 block times its Q8_1 block. Lane 0 of dm is x.d * y.d (the scale of the integer
 * dot); lane 1 is x.m * y.s (the minimum's share), summed in *mins across blocks. */
static inline AVX2 __m256
block_q4_1(const struct pd_block_q4_1 *x, const struct pd_block_q8_1 *y, __m256 acc,
           __m128 *mins)
{
    __m128 dm = _mm_mul_ps(fp16_pair(&x->d), fp16_pair(&y->d));
    *mins = _mm_add_ps(*mins, dm);
    __m256i p = dot_u8_i8(nibbles32(x->qs), load256(y->qs));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(p), acc);
}

static AVX2 void
dot_q4_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_1 *x = w;
    const struct pd_block_q8_1 *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m128 mins0 = _mm_setzero_ps(), mins1 = _mm_setzero_ps();
    int64_t i = 0, nb = n / PD_QK;
    for (; i + 2 <= nb; i += 2) {
        prefetch_row(&x[i]);
        acc0 = block_q4_1(&x[i], &y[i], acc0, &mins0);
        acc1 = block_q4_1(&x[i + 1], &y[i + 1], acc1, &mins1);
    }
    if (i < nb)
        acc0 = block_q4_1(&x[i], &y[i], acc0, &mins0);
    __m128 mins = _mm_add_ps(mins0, mins1);
    *s = hsum_ps(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_movehdup_ps(mins));
}

static AVX2 void
dot_q5_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PD_QK; i++) {
        prefetch_row(&x[i]);
        __m256i qx = _mm256_sub_epi8(q5_values(x[i].qs, x[i].qh), _mm256_set1_epi8(16));
        __m256i p = dot_i8_i8(qx, load256(y[i].qs));
        __m256 d = _mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

static AVX2 void
dot_q5_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_1 *x = w;
    const struct pd_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        prefetch_row(&x[i]);
        __m256i p = dot_u8_i8(q5_values(x[i].qs, x[i].qh), load256(y[i].qs));
        __m256 d = _mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
        mins += fp16(x[i].m) * fp16(y[i].s);
    }
    *s = hsum_ps(acc) + mins;
}

static inline AVX2 __m256
block_q8_0(const struct pd_block_q8_0 *x, const struct pd_block_q8_0 *y, __m256 acc)
{
    __m256i p = dot_i8_i8(load256(x->qs), load256(y->qs));
    __m256 d = _mm256_set1_ps(fp16(x->d) * fp16(y->d));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
}

static AVX2 void
dot_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q8_0 *x = w;
    const struct pd_block_q8_0 *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0, nb = n / PD_QK;
    for (; i + 2 <= nb; i += 2) {
        prefetch_row(&x[i]);
        acc0 = block_q8_0(&x[i], &y[i], acc0);
        acc1 = block_q8_0(&x[i + 1], &y[i + 1], acc1);
    }
    if (i < nb)
        acc0 = block_q8_0(&x[i], &y[i], acc0);
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* ---- four activation rows at once (prefill) -------------------------------------------------
 *
 * One weight row against four activation rows: the weight block is unpacked and its scales
 * converted once, then used four times, which takes about a third of the instructions out of a
 * batched product. Results land in s[0], s[ss], s[2 ss], s[3 ss]; activation rows are as bytes
 * apart. */

static AVX2 void
dot4_q4_0(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as)
{
    const struct pd_block_q4_0 *x = w;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i qx = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        __m256i ux = _mm256_sign_epi8(qx, qx);
        float dx = fp16(x[i].d);
        for (int j = 0; j < 4; j++) {
            const struct pd_block_q8_0 *y = (const void *)((const char *)a + j * as);
            __m256i p = dot_u8_i8(ux, _mm256_sign_epi8(load256(y[i].qs), qx));
            __m256 d = _mm256_set1_ps(dx * fp16(y[i].d));
            acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j * ss] = hsum_ps(acc[j]);
}

static AVX2 void
dot4_q4_1(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as)
{
    const struct pd_block_q4_1 *x = w;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    __m128 mins[4] = { _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps() };
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i qx = nibbles32(x[i].qs);
        __m128 xdm = fp16_pair(&x[i].d);
        for (int j = 0; j < 4; j++) {
            const struct pd_block_q8_1 *y = (const void *)((const char *)a + j * as);
            __m128 dm = _mm_mul_ps(xdm, fp16_pair(&y[i].d));
            mins[j] = _mm_add_ps(mins[j], dm);
            __m256i p = dot_u8_i8(qx, load256(y[i].qs));
            acc[j] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(p), acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j * ss] = hsum_ps(acc[j]) + _mm_cvtss_f32(_mm_movehdup_ps(mins[j]));
}

static AVX2 void
dot4_q8_0(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as)
{
    const struct pd_block_q8_0 *x = w;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i qx = load256(x[i].qs);
        __m256i ux = _mm256_sign_epi8(qx, qx);
        float dx = fp16(x[i].d);
        for (int j = 0; j < 4; j++) {
            const struct pd_block_q8_0 *y = (const void *)((const char *)a + j * as);
            __m256i p = dot_u8_i8(ux, _mm256_sign_epi8(load256(y[i].qs), qx));
            __m256 d = _mm256_set1_ps(dx * fp16(y[i].d));
            acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        s[j * ss] = hsum_ps(acc[j]);
}

static AVX2 void
dot_iq4_nl(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_iq4_nl *x = w;
    const struct pd_block_q8_0 *y = a;
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pd_iq4nl_values));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PD_QK; i++) {
        prefetch_row(&x[i]);
        __m256i qx = _mm256_shuffle_epi8(table, nibbles32(x[i].qs));
        __m256i p = dot_i8_i8(qx, load256(y[i].qs));
        __m256 d = _mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

/* ---- dots of the K-quants -------------------------------------------------------------------- */

static AVX2 void
dot_q4_K(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_K *x = w;
    const struct pd_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        prefetch_row(&x[i]);
        prefetch_row((const char *)&x[i] + 128);
        uint8_t sc[8], m[8];
        int summ = 0;
        for (int g = 0; g < 8; g++) {
            pd_k4_scale_min(&sc[g], &m[g], x[i].scales, g);
            summ += m[g] * (y[i].bsums[2 * g] + y[i].bsums[2 * g + 1]);
        }
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q4 = load256(x[i].qs + 32 * j);
            __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(q4, m4),
                                              load256(y[i].qs + 64 * j));
            __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
                                              load256(y[i].qs + 64 * j + 32));
            lo = _mm256_madd_epi16(lo, _mm256_set1_epi16(sc[2 * j]));
            hi = _mm256_madd_epi16(hi, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(lo, hi));
        }
        float d = y[i].d * fp16(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        mins += y[i].d * fp16(x[i].dmin) * (float)summ;
    }
    *s = hsum_ps(acc) - mins;
}

static AVX2 void
dot_q5_K(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_K *x = w;
    const struct pd_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(0x01);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        prefetch_row(&x[i]);
        prefetch_row((const char *)&x[i] + 128);
        uint8_t sc[8], m[8];
        int summ = 0;
        for (int g = 0; g < 8; g++) {
            pd_k4_scale_min(&sc[g], &m[g], x[i].scales, g);
            summ += m[g] * (y[i].bsums[2 * g] + y[i].bsums[2 * g + 1]);
        }
        __m256i qh = load256(x[i].qh), sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q4 = load256(x[i].qs + 32 * j);
            /* group 2j takes bit 2j of qh, group 2j+1 bit 2j+1, as the value's bit 4 */
            __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), m1);
            __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), m1);
            __m256i v0 = _mm256_or_si256(_mm256_and_si256(q4, m4), _mm256_slli_epi16(h0, 4));
            __m256i v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
                                         _mm256_slli_epi16(h1, 4));
            __m256i lo = _mm256_maddubs_epi16(v0, load256(y[i].qs + 64 * j));
            __m256i hi = _mm256_maddubs_epi16(v1, load256(y[i].qs + 64 * j + 32));
            lo = _mm256_madd_epi16(lo, _mm256_set1_epi16(sc[2 * j]));
            hi = _mm256_madd_epi16(hi, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(lo, hi));
        }
        float d = y[i].d * fp16(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        mins += y[i].d * fp16(x[i].dmin) * (float)summ;
    }
    *s = hsum_ps(acc) - mins;
}

static AVX2 void
dot_iq4_xs(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_iq4_xs *x = w;
    const struct pd_block_q8_K *y = a;
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pd_iq4nl_values));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        prefetch_row(&x[i]);
        prefetch_row((const char *)&x[i] + 128);
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            int lo = (x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            int ls = (lo | ((x[i].scales_h >> (2 * ib)) & 3) << 4) - 32;
            __m256i qx = _mm256_shuffle_epi8(table, nibbles32(x[i].qs + 16 * ib));
            __m256i q8 = load256(y[i].qs + 32 * ib);
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(q8, qx));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16((short)ls)));
        }
        float d = y[i].d * fp16(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* Scales for the 16+16 16-bit sums of one 32-element maddubs: sc[0] low lane, sc[1] high. */
static inline AVX2 __m256i
scale_pair(const int8_t *sc)
{
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

static AVX2 void
dot_q6_K(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q6_K *x = w;
    const struct pd_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    __m256 acc = _mm256_setzero_ps();
    float bias = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        prefetch_row(&x[i]);
        prefetch_row((const char *)&x[i] + 128);
        const int8_t *sc = x[i].scales;
        int sumb = 0;
        for (int g = 0; g < 16; g++)
            sumb += sc[g] * y[i].bsums[g];
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x[i].ql + 64 * half;
            const int8_t *q8 = y[i].qs + 128 * half;
            __m256i l0 = load256(ql), l1 = load256(ql + 32), h = load256(x[i].qh + 32 * half);
            __m256i q[4];
            q[0] = _mm256_and_si256(l0, m4);
            q[1] = _mm256_and_si256(l1, m4);
            q[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
            q[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
            for (int k = 0; k < 4; k++) {
                __m256i hk = _mm256_and_si256(_mm256_srli_epi16(h, 2 * k), m2);
                __m256i v = _mm256_or_si256(q[k], _mm256_slli_epi16(hk, 4));
                __m256i p = _mm256_maddubs_epi16(v, load256(q8 + 32 * k));
                p = _mm256_madd_epi16(p, scale_pair(sc + 8 * half + 2 * k));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        float d = y[i].d * fp16(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        bias += d * (float)(32 * sumb);
    }
    *s = hsum_ps(acc) - bias;
}

/* ---- float dots ------------------------------------------------------------------------------ */

static AVX2 void
dot_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_row(x + i);
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k),
                                     _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    }
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                      _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline AVX2 __m256
load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline AVX2 __m256
load_bf16x8(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static AVX2 void
dot_f16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_row(x + i);
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_f16x8(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                                     acc[k]);
    }
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                      _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += fp16(x[i]) * y[i];
    *s = sum;
}

static AVX2 void
dot_bf16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                      _mm256_setzero_ps() };
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_row(x + i);
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_bf16x8(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                                     acc[k]);
    }
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                      _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += pd_bf16_to_fp32(x[i]) * y[i];
    *s = sum;
}

/* ---- activation quantizers ------------------------------------------------------------------- */

static inline AVX2 float
hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Largest |x| over 32 floats. */
static inline AVX2 float
absmax32(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
    return hmax_ps(m);
}

/* roundf (ties away from zero), exactly: truncate, then step away where the rest is >= 1/2. */
static inline AVX2 __m256i
round_away(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, step)));
}

/* Packs 4x8 int32 (each within int8 range) into 32 bytes in order. */
static inline AVX2 void
pack_store32(int8_t *dst, __m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, p);
}

/* One Q8_0/Q8_1 block: qs = roundf(x/d); returns d and the sum of qs in *sum. */
static inline AVX2 float
q8_block(int8_t *qs, int *sum, const float *x)
{
    float d = absmax32(x) / 127;
    __m256 id = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
    pack_store32(qs, q[0], q[1], q[2], q[3]);
    __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    u = _mm_hadd_epi32(u, u);
    u = _mm_hadd_epi32(u, u);
    *sum = _mm_cvtsi128_si32(u);
    return d;
}

static AVX2 void
quant_q8_0(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_0 *b = dst;
    int sum;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK)
        b[i].d = pd_fp32_to_fp16(q8_block(b[i].qs, &sum, src));
}

static AVX2 void
quant_q8_1(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_1 *b = dst;
    int sum;
    for (int64_t i = 0; i < n / PD_QK; i++, src += PD_QK) {
        float d = q8_block(b[i].qs, &sum, src);
        b[i].d = pd_fp32_to_fp16(d);
        b[i].s = pd_fp32_to_fp16((float)sum * d);
    }
}

/* One Q8_K super-block with its signed extreme max != 0 known. */
static inline AVX2 void
q8_K_block(struct pd_block_q8_K *b, const float *x, float max)
{
    float iscale = -127.f / max;
    __m256 is = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int j = 0; j < PD_QK_K; j += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), is);
            v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(v), top);
        }
        pack_store32(b->qs + j, q[0], q[1], q[2], q[3]);
    }
    for (int g = 0; g < 16; g++) {
        __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b->qs + 16 * g)));
        __m256i t = _mm256_madd_epi16(v, _mm256_set1_epi16(1));
        __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        u = _mm_hadd_epi32(u, u);
        u = _mm_hadd_epi32(u, u);
        b->bsums[g] = (int16_t)_mm_cvtsi128_si32(u);
    }
    b->d = 1 / iscale;
}

static AVX2 void
quant_q8_K(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / PD_QK_K; i++, src += PD_QK_K) {
        float amax = 0;
        for (int j = 0; j < PD_QK_K; j += 32)
            amax = _mm_cvtss_f32(_mm_max_ss(_mm_set_ss(amax), _mm_set_ss(absmax32(src + j))));
        if (amax == 0) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the first element of largest magnitude decides the sign, as in the reference */
        int j = 0;
        while (src[j] != amax && src[j] != -amax)
            j++;
        q8_K_block(&b[i], src, src[j]);
    }
}

/* F16C, from CPUID leaf 1 (not every compiler's __builtin_cpu_supports knows the name; the OS
 * support for the AVX state is covered by the avx2 check). */
static bool
has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

/* Installs the AVX2 kernels into the tables when the CPU has AVX2, FMA and F16C; returns the
 * name of the path, or NULL when nothing was installed. */
const char *
pd_quant_avx2_install(pd_vec_dot_fn *dots, pd_vec_dot4_fn *dot4s, pd_quant_fn *quants)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !has_f16c())
        return NULL;
    dots[PD_TYPE_F32] = dot_f32;
    dots[PD_TYPE_F16] = dot_f16;
    dots[PD_TYPE_BF16] = dot_bf16;
    dots[PD_TYPE_Q4_0] = dot_q4_0;
    dots[PD_TYPE_Q4_1] = dot_q4_1;
    dot4s[PD_TYPE_Q4_0] = dot4_q4_0;
    dot4s[PD_TYPE_Q4_1] = dot4_q4_1;
    dot4s[PD_TYPE_Q8_0] = dot4_q8_0;
    dots[PD_TYPE_Q5_0] = dot_q5_0;
    dots[PD_TYPE_Q5_1] = dot_q5_1;
    dots[PD_TYPE_Q8_0] = dot_q8_0;
    dots[PD_TYPE_IQ4_NL] = dot_iq4_nl;
    dots[PD_TYPE_Q4_K] = dot_q4_K;
    dots[PD_TYPE_Q5_K] = dot_q5_K;
    dots[PD_TYPE_Q6_K] = dot_q6_K;
    dots[PD_TYPE_IQ4_XS] = dot_iq4_xs;
    quants[PD_TYPE_Q8_0] = quant_q8_0;
    quants[PD_TYPE_Q8_1] = quant_q8_1;
    quants[PD_TYPE_Q8_K] = quant_q8_K;
    return "avx2";
}

#else /* not x86-64: the plain-C kernels stay */

/* Nothing to install off x86-64. */
const char *
pd_quant_avx2_install(pd_vec_dot_fn *dots, pd_vec_dot4_fn *dot4s, pd_quant_fn *quants)
{
    (void)dots;
    (void)dot4s;
    (void)quants;
    return NULL;
}

#endif
