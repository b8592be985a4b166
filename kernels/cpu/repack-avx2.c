/*
 * repack-avx2.c: AVX2 products of eight interleaved Q4_0 rows (repack.h) with Q8_0 activations.
 *
 * As in quant-avx2.c, every function carries its own target attribute and repack.c hands them
 * out only when quant.c found AVX2, FMA and F16C and PONDER_SIMD does not say scalar.
 *
 * Per block column of a group: four 32-byte loads give the eight rows' nibbles, row r in 32-bit
 * lane r (eight registers after the low/high split); each register meets one broadcast group of
 * four activation quants in maddubs (nibbles unsigned, quants signed); the eight 16-bit results
 * are added before a single madd widens them, which is safe because each 16-bit lane then holds
 * 16 products of at most 15 * 127 (< 2^15). The block's offset correction (the side table's
 * sum8) is one subtraction; the eight row scales are one F16C conversion, times the activation's
 * float scale, into one FMA. A group's eight results come out of one register with no horizontal
 * sum.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "kernels/cpu/quant-impl.h"
#include "kernels/cpu/repack.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* The eight weight registers of one block column: w[2c] holds the low nibbles of chunk c
 * (elements 4c..4c+3 of every row, row r in lane r), w[2c+1] the high ones (16+4c..16+4c+3). */
static inline AVX2 void
unpack(__m256i w[8], const uint8_t *qs)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        w[2 * c] = _mm256_and_si256(v, m4);
        w[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
}

/* The four activation quants at q, in every 32-bit lane. */
static inline AVX2 __m256i
bcast4(const int8_t *q)
{
    int32_t v;
    memcpy(&v, q, sizeof v);
    return _mm256_set1_epi32(v);
}

/* Lane r: row r's block, nibbles unsigned, dotted with the activation block's quants y. */
static inline AVX2 __m256i
block_dot(const __m256i w[8], const int8_t *y)
{
    __m256i p[8];
    for (int c = 0; c < 4; c++) {
        p[2 * c] = _mm256_maddubs_epi16(w[2 * c], bcast4(y + 4 * c));
        p[2 * c + 1] = _mm256_maddubs_epi16(w[2 * c + 1], bcast4(y + 16 + 4 * c));
    }
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(p[0], p[1]),
                                                  _mm256_add_epi16(p[2], p[3])),
                                 _mm256_add_epi16(_mm256_add_epi16(p[4], p[5]),
                                                  _mm256_add_epi16(p[6], p[7])));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* The eight rows' scales of a block column as floats. */
static inline AVX2 __m256
scales8(const uint16_t *d)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
}

/* acc + (isum - 8 * sum of quants) * dx * dy, lane by lane. */
static inline AVX2 __m256
block_accumulate(__m256 acc, __m256i isum, __m256 dx, const struct pd_repack_act_info *info)
{
    isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(info->sum8));
    __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(info->d));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
}

/* Software prefetch this far ahead of the block column being read. A group's rows are one
 * stream (the next group follows), but the hardware prefetchers start over at every 4 KiB page
 * and decode, which uses each byte once, stalled on them: prefetching 2-4 KiB ahead took
 * qwen3moe-small decode from about 60 to 80-90 tokens/s on one thread (distances of 1-13 KiB
 * measured alike, 0.6 KiB gave 64). */
#define PREFETCH_AHEAD 4096

static inline AVX2 void
prefetch_ahead(const struct pd_block_q4_0x8 *x)
{
    const char *p = (const char *)x + PREFETCH_AHEAD;
    _mm_prefetch(p, _MM_HINT_T0);
    _mm_prefetch(p + 64, _MM_HINT_T0);
    _mm_prefetch(p + 128, _MM_HINT_T0);
}

static AVX2 void
gemv(int64_t n_in, float *y, const void *wg, const void *a)
{
    const struct pd_block_q4_0x8 *x = wg;
    const struct pd_block_q8_0 *yb = a;
    const struct pd_repack_act_info *info = pd_repack_act_info(a, n_in);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n_in / PD_QK; i++) {
        __m256i w[8];
        prefetch_ahead(&x[i]);
        unpack(w, x[i].qs);
        acc = block_accumulate(acc, block_dot(w, yb[i].qs), scales8(x[i].d), &info[i]);
    }
    _mm256_storeu_ps(y, acc);
}

/* Four activation rows: each block column is unpacked and its scales converted once. */
static AVX2 void
gemm4(int64_t n_in, float *y, size_t ldy, const void *wg, const void *a, size_t as)
{
    const struct pd_block_q4_0x8 *x = wg;
    const struct pd_block_q8_0 *yb[4];
    const struct pd_repack_act_info *info[4];
    __m256 acc[4];
    for (int j = 0; j < 4; j++) {
        yb[j] = (const void *)((const char *)a + j * as);
        info[j] = pd_repack_act_info(yb[j], n_in);
        acc[j] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < n_in / PD_QK; i++) {
        __m256i w[8];
        prefetch_ahead(&x[i]);
        unpack(w, x[i].qs);
        __m256 dx = scales8(x[i].d);
        for (int j = 0; j < 4; j++)
            acc[j] = block_accumulate(acc[j], block_dot(w, yb[j][i].qs), dx, &info[j][i]);
    }
    for (int j = 0; j < 4; j++)
        _mm256_storeu_ps(y + j * ldy, acc[j]);
}

/* The same bytes as the plain-C repack. A block column's nibble bytes are an 8 x 4 matrix of
 * 32-bit words (row r's word c is its bytes 4c..4c+3) and chunk c is column c: a transpose,
 * done on rows r and r + 4 side by side in the two halves of a register. */
static AVX2 void
repack(void *dst, const void *src, int64_t n_in, int64_t g0, int64_t g1)
{
    int64_t nb = n_in / PD_QK;
    const struct pd_block_q4_0 *x = src;
    for (int64_t g = g0; g < g1; g++) {
        const struct pd_block_q4_0 *rows = x + g * PD_REPACK_ROWS * nb;
        struct pd_block_q4_0x8 *out = (struct pd_block_q4_0x8 *)dst + g * nb;
        for (int64_t i = 0; i < nb; i++) {
            __m256i a[4];
            for (int r = 0; r < 4; r++) {
                __m128i lo = _mm_loadu_si128((const __m128i *)rows[r * nb + i].qs);
                __m128i hi = _mm_loadu_si128((const __m128i *)rows[(r + 4) * nb + i].qs);
                a[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
            }
            __m256i t0 = _mm256_unpacklo_epi32(a[0], a[1]), t1 = _mm256_unpackhi_epi32(a[0], a[1]);
            __m256i t2 = _mm256_unpacklo_epi32(a[2], a[3]), t3 = _mm256_unpackhi_epi32(a[2], a[3]);
            __m256i *q = (__m256i *)out[i].qs;
            _mm256_storeu_si256(q + 0, _mm256_unpacklo_epi64(t0, t2));
            _mm256_storeu_si256(q + 1, _mm256_unpackhi_epi64(t0, t2));
            _mm256_storeu_si256(q + 2, _mm256_unpacklo_epi64(t1, t3));
            _mm256_storeu_si256(q + 3, _mm256_unpackhi_epi64(t1, t3));
            for (int r = 0; r < PD_REPACK_ROWS; r++)
                out[i].d[r] = rows[r * nb + i].d;
        }
    }
}

/* The side table: the same values as the plain-C version (F16C's conversion is exact too). */
static AVX2 void
act_finish(void *row, int64_t n_in)
{
    const struct pd_block_q8_0 *b = row;
    struct pd_repack_act_info *info = (struct pd_repack_act_info *)pd_repack_act_info(row, n_in);
    const __m256i ones = _mm256_set1_epi8(1), eights = _mm256_set1_epi16(8);
    for (int64_t i = 0; i < n_in / PD_QK; i++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, q), eights);
        __m128i u = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        u = _mm_add_epi32(u, _mm_unpackhi_epi64(u, u));
        u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 1));
        info[i].sum8 = _mm_cvtsi128_si32(u);
        info[i].d = _cvtsh_ss(b[i].d);
    }
}

static const struct pd_repack_kernels kernels_avx2 = {
    .name = "avx2", .repack = repack, .gemv = gemv, .gemm4 = gemm4, .act_finish = act_finish,
};

const struct pd_repack_kernels *
pd_repack_avx2_kernels(void)
{
    return &kernels_avx2;
}

#else /* not x86-64 */

const struct pd_repack_kernels *
pd_repack_avx2_kernels(void)
{
    return NULL;
}

#endif
