/*
 * quant.h: the tensor formats of GGUF files, as blocks of bytes, and what the CPU does with them.
 *
 * Type numbers are ggml's (they are what GGUF files store). For each supported format there is:
 *   - a plain-C dequantizer (the reference),
 *   - a quantizer (used for activations, and by the GGUF writer for weights it produces),
 *   - a dot product of one weight row with one activation row already quantized to the format's
 *     "vec_dot_type" (Q8_0 for the 32-element formats, Q8_1 for Q4_1/Q5_1, Q8_K for the
 *     K-quants, F32 for the float formats), with SIMD versions chosen at run time by CPU features; each SIMD version matches
 *     its plain-C twin within the tolerance stated in tests/test-quant.c.
 *
 * Glossary: n = elements in a row (a multiple of the format's block size).
 * This header depends on nothing above kernels/.
 */
#ifndef PD_QUANT_H
#define PD_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pd_type {
    PD_TYPE_F32 = 0,
    PD_TYPE_F16 = 1,
    PD_TYPE_Q4_0 = 2,
    PD_TYPE_Q4_1 = 3,
    PD_TYPE_Q5_0 = 6,
    PD_TYPE_Q5_1 = 7,
    PD_TYPE_Q8_0 = 8,
    PD_TYPE_Q8_1 = 9,
    PD_TYPE_Q2_K = 10,
    PD_TYPE_Q3_K = 11,
    PD_TYPE_Q4_K = 12,
    PD_TYPE_Q5_K = 13,
    PD_TYPE_Q6_K = 14,
    PD_TYPE_Q8_K = 15,
    PD_TYPE_IQ4_NL = 20,
    PD_TYPE_IQ4_XS = 23,
    PD_TYPE_BF16 = 30,
    PD_TYPE_COUNT = 40
};

struct pd_type_traits {
    const char *name;          /* "q4_K"-style, as ggml names them */
    int64_t block_size;        /* elements per block */
    size_t type_size;          /* bytes per block */
    bool supported;            /* dequantize and dot exist */
    enum pd_type vec_dot_type; /* format the other operand of pd_vec_dot must be in */
};

/* Traits of a type number read from a file; NULL when ggml never defined it. A defined but
 * unsupported type (say IQ2_XXS) returns traits with supported = false and its name, so the
 * caller can say which type it cannot use. */
const struct pd_type_traits *pd_type_traits_get(uint32_t type);

/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t pd_type_row_size(enum pd_type t, int64_t n);

/* dst[0..n) = the values of the row src. */
void pd_dequantize_row(enum pd_type t, const void *src, float *dst, int64_t n);

/* Quantize a row of n floats into dst (pd_type_row_size(t, n) bytes). Defined for F32, F16, BF16,
 * Q8_0, Q8_1, Q8_K, Q4_0, Q4_1, Q5_0, Q5_1 (round-to-nearest, as ggml's reference quantizers);
 * returns false for a type it cannot produce. */
bool pd_quantize_row(enum pd_type t, const float *src, void *dst, int64_t n);

/* As pd_quantize_row, always with the plain-C quantizer (the SIMD ones write the same bytes). */
bool pd_quantize_row_ref(enum pd_type t, const float *src, void *dst, int64_t n);

/* *s = dot(row w of type t, row a of type vec_dot_type(t)), n elements. */
void pd_vec_dot(enum pd_type t, int64_t n, float *s, const void *w, const void *a);

/* The plain-C versions, always available (used by the tests to check the SIMD ones). */
void pd_vec_dot_ref(enum pd_type t, int64_t n, float *s, const void *w, const void *a);

/* A dot kernel for one type: pd_vec_dot without the type argument. */
typedef void (*pd_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);

/* The kernel pd_vec_dot(t, ...) runs, for callers that dot many rows of one type (NULL for a type
 * without a dot). Looking it up once saves the dispatch per row. */
pd_vec_dot_fn pd_vec_dot_get(enum pd_type t);

/* One weight row against four activation rows (as bytes apart): s[0], s[ss], s[2 ss], s[3 ss].
 * For batched products; the same sums as four pd_vec_dot calls, up to float rounding order. */
typedef void (*pd_vec_dot4_fn)(int64_t n, float *s, size_t ss, const void *w, const void *a,
                               size_t as);

/* The four-row kernel for type t on this CPU; NULL when there is none. */
pd_vec_dot4_fn pd_vec_dot4_get(enum pd_type t);

/* Half-precision conversions. */
float pd_fp16_to_fp32(uint16_t h);
uint16_t pd_fp32_to_fp16(float f);
float pd_bf16_to_fp32(uint16_t h);
uint16_t pd_fp32_to_bf16(float f);

/* Which SIMD path pd_vec_dot took ("avx2" or "scalar"), for ponder bench. */
const char *pd_quant_simd_name(void);

#endif
