/*
 * quant-k.c: the 256-element formats (K-quants, IQ4_XS) and their activation format Q8_K, in
 * plain C.
 *
 * Each super-block of 256 weights carries one or two fp16 scales and a small integer scale (and
 * for some formats a min) per group of 16 or 32 weights. The dequantizers follow ggml's order of
 * float operations so their output is the same floats. The dots first unpack a super-block into
 * 256 small integers and 16 integer group scales, take the integer dot with the Q8_K activation
 * group by group, and use the activation's per-16 sums (bsums) for the min terms, so each
 * super-block costs one or two float multiplies.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu/quant-impl.h"

#define FP16(h) pd_fp16_to_fp32(h)

/* ---- unpacking: weights to small integers, per-16 group scales ----------------------------- */

/* Q2_K: values 0..3; scale low nibble, min high nibble, per 16. */
static void
q2_K_unpack(int8_t *q, const struct pd_block_q2_K *b)
{
    for (int half = 0; half < 2; half++) {
        const uint8_t *qs = b->qs + 32 * half;
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                q[128 * half + 32 * j + l] = (int8_t)((qs[l] >> (2 * j)) & 3);
    }
}

/* Q3_K's sixteen 6-bit scales, unbiased (-32..31). */
static void
q3_K_scales(int *sc, const uint8_t *s)
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | hi << 4) - 32;
    }
}

/* Q3_K: values -4..3, the low two bits from qs, minus 4 where the hmask bit is clear. */
static void
q3_K_unpack(int8_t *q, const struct pd_block_q3_K *b)
{
    for (int half = 0; half < 2; half++) {
        const uint8_t *qs = b->qs + 32 * half;
        for (int j = 0; j < 4; j++) {
            uint8_t m = (uint8_t)(1u << (4 * half + j));
            for (int l = 0; l < 32; l++) {
                int v = (qs[l] >> (2 * j)) & 3;
                q[128 * half + 32 * j + l] = (int8_t)(v - ((b->hmask[l] & m) ? 0 : 4));
            }
        }
    }
}

/* Q4_K/Q5_K: low nibbles of 32 bytes are one group of 32, high nibbles the next. */
static void
q4_K_unpack(int8_t *q, const uint8_t *qs)
{
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) {
            q[64 * j + l] = (int8_t)(qs[32 * j + l] & 0xF);
            q[64 * j + 32 + l] = (int8_t)(qs[32 * j + l] >> 4);
        }
}

/* Q5_K: as Q4_K plus a fifth bit; group g of 32 takes bit g of qh[l]. */
static void
q5_K_unpack(int8_t *q, const struct pd_block_q5_K *b)
{
    q4_K_unpack(q, b->qs);
    for (int g = 0; g < 8; g++)
        for (int l = 0; l < 32; l++)
            q[32 * g + l] = (int8_t)(q[32 * g + l] | ((b->qh[l] >> g) & 1) << 4);
}

/* Q6_K: values -32..31 from 4 low bits in ql and 2 high bits in qh. */
static void
q6_K_unpack(int8_t *q, const struct pd_block_q6_K *b)
{
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b->ql + 64 * half;
        const uint8_t *qh = b->qh + 32 * half;
        int8_t *o = q + 128 * half;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    }
}

/* IQ4_XS: 6-bit scale of group ib (0..7), unbiased. */
static int
iq4_xs_scale(const struct pd_block_iq4_xs *b, int ib)
{
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return (lo | hi << 4) - 32;
}

/* IQ4_XS: the non-linear levels, in groups of 32 laid out as IQ4_NL blocks. */
static void
iq4_xs_unpack(int8_t *q, const struct pd_block_iq4_xs *b)
{
    for (int ib = 0; ib < 8; ib++)
        for (int j = 0; j < 16; j++) {
            q[32 * ib + j] = pd_iq4nl_values[b->qs[16 * ib + j] & 0xF];
            q[32 * ib + j + 16] = pd_iq4nl_values[b->qs[16 * ib + j] >> 4];
        }
}

/* ---- dequantize ------------------------------------------------------------------------------ */

void
pd_dequant_q2_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q2_K *b = src;
    int8_t q[PD_QK_K];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
        q2_K_unpack(q, &b[i]);
        for (int g = 0; g < 16; g++) {
            /* groups run: half, shift, then first or second 16 bytes */
            float dl = d * (float)(b[i].scales[g] & 0xF);
            float ml = dmin * (float)(b[i].scales[g] >> 4);
            for (int l = 0; l < 16; l++)
                dst[16 * g + l] = dl * (float)q[16 * g + l] - ml;
        }
    }
}

void
pd_dequant_q3_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q3_K *b = src;
    int8_t q[PD_QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        float d = FP16(b[i].d);
        q3_K_scales(sc, b[i].scales);
        q3_K_unpack(q, &b[i]);
        for (int g = 0; g < 16; g++) {
            float dl = d * (float)sc[g];
            for (int l = 0; l < 16; l++)
                dst[16 * g + l] = dl * (float)q[16 * g + l];
        }
    }
}

/* Q4_K and Q5_K share the scale/min layout: dst = d*sc*q - dmin*m per group of 32. */
static void
dequant_k4_groups(float *dst, const int8_t *q, const uint8_t *scales, float d, float dmin)
{
    for (int g = 0; g < 8; g++) {
        uint8_t sc, m;
        pd_k4_scale_min(&sc, &m, scales, g);
        float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++)
            dst[32 * g + l] = dl * (float)q[32 * g + l] - ml;
    }
}

void
pd_dequant_q4_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q4_K *b = src;
    int8_t q[PD_QK_K];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        q4_K_unpack(q, b[i].qs);
        dequant_k4_groups(dst, q, b[i].scales, FP16(b[i].d), FP16(b[i].dmin));
    }
}

void
pd_dequant_q5_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q5_K *b = src;
    int8_t q[PD_QK_K];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        q5_K_unpack(q, &b[i]);
        dequant_k4_groups(dst, q, b[i].scales, FP16(b[i].d), FP16(b[i].dmin));
    }
}

void
pd_dequant_q6_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q6_K *b = src;
    int8_t q[PD_QK_K];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        float d = FP16(b[i].d);
        q6_K_unpack(q, &b[i]);
        for (int l = 0; l < PD_QK_K; l++)
            dst[l] = d * (float)b[i].scales[l / 16] * (float)q[l];
    }
}

void
pd_dequant_iq4_xs(float *dst, const void *src, int64_t n)
{
    const struct pd_block_iq4_xs *b = src;
    int8_t q[PD_QK_K];
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K) {
        float d = FP16(b[i].d);
        iq4_xs_unpack(q, &b[i]);
        for (int g = 0; g < 8; g++) {
            float dl = d * (float)iq4_xs_scale(&b[i], g);
            for (int l = 0; l < 32; l++)
                dst[32 * g + l] = dl * (float)q[32 * g + l];
        }
    }
}

void
pd_dequant_q8_K(float *dst, const void *src, int64_t n)
{
    const struct pd_block_q8_K *b = src;
    for (int64_t i = 0; i < n / PD_QK_K; i++, dst += PD_QK_K)
        for (int l = 0; l < PD_QK_K; l++)
            dst[l] = b[i].d * (float)b[i].qs[l];
}

/* ---- Q8_K quantize --------------------------------------------------------------------------- */

/* Activations to Q8_K as ggml's reference does: the element of largest magnitude maps to -127
 * (so d may be negative), the others round to nearest even; bsums are sums of 16. */
void
pd_quant_q8_K_ref(void *dst, const float *src, int64_t n)
{
    struct pd_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / PD_QK_K; i++, src += PD_QK_K) {
        float amax = 0, max = 0;
        for (int l = 0; l < PD_QK_K; l++)
            if (fabsf(src[l]) > amax) {
                amax = fabsf(src[l]);
                max = src[l];
            }
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0)
            continue;
        float iscale = -127.f / max;
        for (int l = 0; l < PD_QK_K; l++) {
            long v = lrintf(iscale * src[l]);
            b[i].qs[l] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * g + l];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- dots against Q8_K ----------------------------------------------------------------------- */

/* sum over the 16 groups of 16: sc[g] * dot(q, y) over the group. */
static int
dot256_groups16(const int8_t *q, const int8_t *y, const int *sc)
{
    int sum = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += q[16 * g + l] * y[16 * g + l];
        sum += sc[g] * s;
    }
    return sum;
}

void
pd_dot_q2_K_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q2_K *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int mins = 0;
        for (int g = 0; g < 16; g++) {
            sc[g] = x[i].scales[g] & 0xF;
            mins += (x[i].scales[g] >> 4) * y[i].bsums[g];
        }
        q2_K_unpack(q, &x[i]);
        int isum = dot256_groups16(q, y[i].qs, sc);
        sum += y[i].d * FP16(x[i].d) * (float)isum - y[i].d * FP16(x[i].dmin) * (float)mins;
    }
    *s = sum;
}

void
pd_dot_q3_K_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q3_K *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        q3_K_scales(sc, x[i].scales);
        q3_K_unpack(q, &x[i]);
        sum += y[i].d * FP16(x[i].d) * (float)dot256_groups16(q, y[i].qs, sc);
    }
    *s = sum;
}

/* Q4_K/Q5_K super-block: d*sum(sc*q.y) - dmin*sum(m*bsums), scales per 32. */
static float
dot_k4_block(const int8_t *q, const uint8_t *scales, uint16_t d, uint16_t dmin,
             const struct pd_block_q8_K *y)
{
    int sc[16], mins = 0;
    for (int g = 0; g < 8; g++) {
        uint8_t s, m;
        pd_k4_scale_min(&s, &m, scales, g);
        sc[2 * g] = sc[2 * g + 1] = s;
        mins += m * (y->bsums[2 * g] + y->bsums[2 * g + 1]);
    }
    int isum = dot256_groups16(q, y->qs, sc);
    return y->d * FP16(d) * (float)isum - y->d * FP16(dmin) * (float)mins;
}

void
pd_dot_q4_K_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q4_K *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        q4_K_unpack(q, x[i].qs);
        sum += dot_k4_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

void
pd_dot_q5_K_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q5_K *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        q5_K_unpack(q, &x[i]);
        sum += dot_k4_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

void
pd_dot_q6_K_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_q6_K *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        for (int g = 0; g < 16; g++)
            sc[g] = x[i].scales[g];
        q6_K_unpack(q, &x[i]);
        sum += y[i].d * FP16(x[i].d) * (float)dot256_groups16(q, y[i].qs, sc);
    }
    *s = sum;
}

void
pd_dot_iq4_xs_ref(int64_t n, float *s, const void *w, const void *a)
{
    const struct pd_block_iq4_xs *x = w;
    const struct pd_block_q8_K *y = a;
    int8_t q[PD_QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        for (int g = 0; g < 8; g++)
            sc[2 * g] = sc[2 * g + 1] = iq4_xs_scale(&x[i], g);
        iq4_xs_unpack(q, &x[i]);
        sum += y[i].d * FP16(x[i].d) * (float)dot256_groups16(q, y[i].qs, sc);
    }
    *s = sum;
}
