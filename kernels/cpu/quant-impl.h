/*
 * quant-impl.h: what the files behind quant.h share and nobody else needs.
 *
 * The block structs below spell out ggml's on-disk layouts byte for byte (all fields are bytes,
 * 16-bit or 32-bit little-endian values at their natural alignment, so the structs have no
 * padding; the static asserts check the sizes against the type table). Half-precision fields are
 * kept as raw uint16_t bits and converted with pd_fp16_to_fp32.
 *
 * Per-format kernels all have the shapes of the typedefs here; quant.c collects them into the
 * dispatch tables, quant-k.c holds the 256-element formats, quant-avx2.c the SIMD versions.
 */
#ifndef PD_QUANT_IMPL_H
#define PD_QUANT_IMPL_H

#include <stdint.h>

#include "kernels/cpu/quant.h"

#define PD_QK 32   /* elements per block of the 32-element formats */
#define PD_QK_K 256 /* elements per super-block of the K-quants and IQ4_XS */

struct pd_block_q4_0 {
    uint16_t d;
    uint8_t qs[PD_QK / 2]; /* element j in the low nibble of qs[j], j + 16 in the high one */
};

struct pd_block_q4_1 {
    uint16_t d, m;
    uint8_t qs[PD_QK / 2];
};

struct pd_block_q5_0 {
    uint16_t d;
    uint8_t qh[4]; /* bit j (little-endian 32-bit word) = fifth bit of element j */
    uint8_t qs[PD_QK / 2];
};

struct pd_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[PD_QK / 2];
};

struct pd_block_q8_0 {
    uint16_t d;
    int8_t qs[PD_QK];
};

struct pd_block_q8_1 {
    uint16_t d, s; /* s = d * sum(qs) */
    int8_t qs[PD_QK];
};

struct pd_block_iq4_nl {
    uint16_t d;
    uint8_t qs[PD_QK / 2];
};

struct pd_block_q2_K {
    uint8_t scales[PD_QK_K / 16]; /* low nibble scale, high nibble min, per 16 elements */
    uint8_t qs[PD_QK_K / 4];
    uint16_t d, dmin;
};

struct pd_block_q3_K {
    uint8_t hmask[PD_QK_K / 8];
    uint8_t qs[PD_QK_K / 4];
    uint8_t scales[12]; /* sixteen 6-bit scales, biased by 32 */
    uint16_t d;
};

struct pd_block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12]; /* eight 6-bit scales and eight 6-bit mins */
    uint8_t qs[PD_QK_K / 2];
};

struct pd_block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[PD_QK_K / 8];
    uint8_t qs[PD_QK_K / 2];
};

struct pd_block_q6_K {
    uint8_t ql[PD_QK_K / 2];
    uint8_t qh[PD_QK_K / 4];
    int8_t scales[PD_QK_K / 16];
    uint16_t d;
};

struct pd_block_iq4_xs {
    uint16_t d;
    uint16_t scales_h; /* high 2 bits of the eight 6-bit scales */
    uint8_t scales_l[PD_QK_K / 64];
    uint8_t qs[PD_QK_K / 2];
};

struct pd_block_q8_K {
    float d;
    int8_t qs[PD_QK_K];
    int16_t bsums[PD_QK_K / 16]; /* sums of qs in groups of 16 */
};

_Static_assert(sizeof(struct pd_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct pd_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(struct pd_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(struct pd_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(struct pd_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct pd_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(struct pd_block_iq4_nl) == 18, "iq4_nl layout");
_Static_assert(sizeof(struct pd_block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(struct pd_block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(struct pd_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(struct pd_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(struct pd_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(struct pd_block_iq4_xs) == 136, "iq4_xs layout");
_Static_assert(sizeof(struct pd_block_q8_K) == 292, "q8_K layout");

/* Kernel shapes: n elements, a multiple of the block size. */
typedef void (*pd_dequant_fn)(float *dst, const void *src, int64_t n);
typedef void (*pd_quant_fn)(void *dst, const float *src, int64_t n);

/* The sixteen non-linear levels of IQ4_NL and IQ4_XS. */
extern const int8_t pd_iq4nl_values[16];

/* 6-bit scale and min number j (0..7) of a Q4_K/Q5_K scales array. */
static inline void
pd_k4_scale_min(uint8_t *sc, uint8_t *m, const uint8_t *q, int j)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* quant-k.c: the 256-element formats (plain C). */
void pd_dequant_q2_K(float *dst, const void *src, int64_t n);
void pd_dequant_q3_K(float *dst, const void *src, int64_t n);
void pd_dequant_q4_K(float *dst, const void *src, int64_t n);
void pd_dequant_q5_K(float *dst, const void *src, int64_t n);
void pd_dequant_q6_K(float *dst, const void *src, int64_t n);
void pd_dequant_iq4_xs(float *dst, const void *src, int64_t n);
void pd_dequant_q8_K(float *dst, const void *src, int64_t n);
void pd_quant_q8_K_ref(void *dst, const float *src, int64_t n);
void pd_dot_q2_K_ref(int64_t n, float *s, const void *w, const void *a);
void pd_dot_q3_K_ref(int64_t n, float *s, const void *w, const void *a);
void pd_dot_q4_K_ref(int64_t n, float *s, const void *w, const void *a);
void pd_dot_q5_K_ref(int64_t n, float *s, const void *w, const void *a);
void pd_dot_q6_K_ref(int64_t n, float *s, const void *w, const void *a);
void pd_dot_iq4_xs_ref(int64_t n, float *s, const void *w, const void *a);

/* quant-avx2.c: fills the tables with AVX2 versions when the CPU has them; returns the name of
 * the path taken, or NULL when it installed nothing. */
const char *pd_quant_avx2_install(pd_vec_dot_fn *dots, pd_vec_dot4_fn *dot4s,
                                  pd_quant_fn *quants);

#endif
