/*
 * test-quant.c: the tensor formats of kernels/cpu/quant.h against references no one here wrote.
 *
 * What is checked, and how close counts as equal:
 *   - fp16 <-> fp32 and bf16 <-> fp32: every one of the 65536 half inputs against a reference
 *     built from ldexp (bit-exact), and rounding at every midpoint between neighbouring halves
 *     (ties to even, one float either side rounds towards it).
 *   - Dequantization: tests/data/quant-ref.bin holds rows of every format and the gguf Python
 *     package's dequantization of them. Ours must agree within 1e-6 of the row's largest
 *     magnitude (in practice the floats are identical; the count of exact ones is printed).
 *   - Quantizers: on the fixture rows gguf made by quantizing floats, ours must write the same
 *     bytes; on random rows, quantize -> dequantize errors stay within each format's bound
 *     (stated in roundtrip_bound).
 *   - Dots: pd_vec_dot_ref and pd_vec_dot against a float64 dot of the dequantized weights and
 *     dequantized activations, within DOT_TOL (DOT_TOL_Q8_1 for formats dotted with Q8_1, whose
 *     fp16 block sums carry 2^-11 relative error) of sum |w*a|; and the SIMD dot against the
 *     plain-C one within SIMD_TOL of sum |w*a|. SIMD quantizers must match the plain-C bytes.
 *   - A type ggml defines but ponder does not compute with reports supported = false and a name.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/quant.h"
#include "tests/tap.h"

#define DOT_TOL 2e-5
#define DOT_TOL_Q8_1 2e-3
#define SIMD_TOL 2e-5

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Uniform in [-1, 1). */
static float
rng_float(void)
{
    return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0);
}

static uint32_t
f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float
u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- half precision -------------------------------------------------------------------------- */

static float
fp16_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v;
    if (e == 0x1F)
        return u2f((uint32_t)(h & 0x8000) << 16 | 0x7F800000 | (uint32_t)m << 13);
    v = e == 0 ? ldexp(m, -24) : ldexp(m + 1024, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static void
test_fp16_exhaustive(void)
{
    int bad_to = 0, bad_back = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = pd_fp16_to_fp32((uint16_t)h);
        if (f2u(f) != f2u(fp16_ref((uint16_t)h)))
            bad_to++;
        uint16_t back = pd_fp32_to_fp16(f);
        bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan ? !((back & 0x7C00) == 0x7C00 && (back & 0x3FF)) : back != h)
            bad_back++;
    }
    is_int(bad_to, 0, "fp16 -> fp32 exact for all 65536 halves");
    is_int(bad_back, 0, "fp32 -> fp16 gives back every half (NaN stays NaN)");
}

/* At each midpoint between positive halves h and h+1: ties to even, neighbours towards them. */
static void
test_fp16_rounding(void)
{
    int bad = 0;
    for (uint16_t h = 0; h < 0x7BFF; h++) {
        float lo = fp16_ref(h), hi = fp16_ref((uint16_t)(h + 1));
        float mid = (float)(((double)lo + hi) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : h;
        for (int sgn = 0; sgn < 2; sgn++) {
            uint16_t s = sgn ? 0x8000 : 0;
            float m = sgn ? -mid : mid;
            bad += pd_fp32_to_fp16(m) != (s | even);
            bad += pd_fp32_to_fp16(nextafterf(m, 0)) != (s | h);
            bad += pd_fp32_to_fp16(nextafterf(m, m * 2)) != (s | (uint16_t)(h + 1));
        }
    }
    bad += pd_fp32_to_fp16(65519.996f) != 0x7BFF;
    bad += pd_fp32_to_fp16(65520.0f) != 0x7C00;
    bad += pd_fp32_to_fp16(-1e30f) != 0xFC00;
    bad += pd_fp32_to_fp16(1e-30f) != 0;
    is_int(bad, 0, "fp32 -> fp16 rounds to nearest even at every midpoint, overflows to inf");
}

static void
test_bf16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = pd_bf16_to_fp32((uint16_t)h);
        bool is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        bad += f2u(f) != h << 16;
        uint16_t back = pd_fp32_to_bf16(f);
        bad += is_nan ? !isnan(pd_bf16_to_fp32(back)) : back != h;
        if (is_nan || (h & 0x7FFF) >= 0x7F7F)
            continue;
        /* midpoint to the next bfloat16 and a float either side of it */
        uint32_t mid = h << 16 | 0x8000;
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += pd_fp32_to_bf16(u2f(mid)) != even;
        bad += pd_fp32_to_bf16(u2f(mid - 1)) != h;
        bad += pd_fp32_to_bf16(u2f(mid + 1)) != (uint16_t)(h + 1);
    }
    is_int(bad, 0, "bf16 <-> fp32 exact for all 65536 inputs, ties to even at every midpoint");
}

/* ---- fixtures ---------------------------------------------------------------------------------- */

struct fixture {
    uint32_t type, n, flags, nbytes;
    uint8_t *raw;
    float *deq, *src;
};

static int
read_u32s(FILE *f, uint32_t *v, int count)
{
    return fread(v, 4, (size_t)count, f) == (size_t)count ? 0 : -1;
}

static int
fixture_read(FILE *f, struct fixture *r)
{
    uint32_t h[4];
    if (read_u32s(f, h, 4) < 0)
        return -1;
    r->type = h[0], r->n = h[1], r->flags = h[2], r->nbytes = h[3];
    if (r->n > (1u << 20) || r->nbytes > (1u << 22))
        return -1;
    r->raw = malloc(r->nbytes);
    r->deq = malloc(r->n * sizeof(float));
    r->src = malloc(r->n * sizeof(float));
    if (fread(r->raw, 1, r->nbytes, f) != r->nbytes ||
        fread(r->deq, 4, r->n, f) != r->n)
        return -1;
    if ((r->flags & 1) && fread(r->src, 4, r->n, f) != r->n)
        return -1;
    return 0;
}

static void
fixture_check(const struct fixture *r)
{
    const struct pd_type_traits *tr = pd_type_traits_get(r->type);
    float *got = calloc(r->n, sizeof(float));
    float amax = 0;
    int exact = 0, bad = 0;

    if (!ok(tr != NULL && pd_type_row_size(r->type, r->n) == r->nbytes,
            "fixture %s: row of %u is %u bytes", tr ? tr->name : "?", r->n, r->nbytes))
        goto out;
    pd_dequantize_row(r->type, r->raw, got, r->n);
    for (uint32_t i = 0; i < r->n; i++)
        if (isfinite(r->deq[i]))
            amax = fmaxf(amax, fabsf(r->deq[i]));
    for (uint32_t i = 0; i < r->n; i++) {
        if (f2u(got[i]) == f2u(r->deq[i]))
            exact++;
        else if (!(fabsf(got[i] - r->deq[i]) <= 1e-6f * amax))
            bad++;
    }
    ok(bad == 0, "%s: dequantize matches gguf (%d of %u bit-exact, %d off)", tr->name, exact,
       r->n, bad);
    if (r->flags & 1) {
        uint8_t *q = calloc(r->nbytes, 1);
        int diff = 0;
        ok(pd_quantize_row(r->type, r->src, q, r->n), "%s: quantizer exists", tr->name);
        for (uint32_t i = 0; i < r->nbytes; i++)
            diff += q[i] != r->raw[i];
        ok(diff == 0, "%s: quantize writes gguf's bytes (%d of %u differ)", tr->name, diff,
           r->nbytes);
        free(q);
    }
out:
    free(got);
}

static void
test_fixtures(void)
{
    const char *path = test_path("data/quant-ref.bin");
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t h[2];

    if (!ok(f != NULL, "open %s", path))
        return;
    if (!ok(fread(magic, 1, 8, f) == 8 && memcmp(magic, "PDQUANT", 8) == 0 &&
            read_u32s(f, h, 2) == 0 && h[0] == 1, "fixture header, version 1")) {
        fclose(f);
        return;
    }
    for (uint32_t k = 0; k < h[1]; k++) {
        struct fixture r = { 0 };
        if (!ok(fixture_read(f, &r) == 0, "fixture record %u reads", k))
            break;
        fixture_check(&r);
        free(r.raw);
        free(r.deq);
        free(r.src);
    }
    fclose(f);
}

/* ---- round trips ------------------------------------------------------------------------------- */

/* Largest |x - dequant(quant(x))| allowed for a block with these statistics. */
static double
roundtrip_bound(enum pd_type t, double amax, double min, double max)
{
    double range = max - min, h = 0x1p-10; /* slack for the fp16 scale */
    switch (t) {
    case PD_TYPE_F32: return 0;
    case PD_TYPE_F16: return amax * 0x1p-11;
    case PD_TYPE_BF16: return amax * 0x1p-8;
    case PD_TYPE_Q8_0:
    case PD_TYPE_Q8_1: return amax / 127 * 0.5 + amax * h;
    case PD_TYPE_Q8_K: return amax / 127 * 0.5 * (1 + 1e-6);
    case PD_TYPE_Q4_0: return amax / 8 + amax * h; /* -max clamps to +7: a full step */
    case PD_TYPE_Q5_0: return amax / 16 + amax * h;
    case PD_TYPE_Q4_1: return range / 15 * 0.5 + (fabs(min) + range) * h;
    case PD_TYPE_Q5_1: return range / 31 * 0.5 + (fabs(min) + range) * h;
    default: return 0;
    }
}

static void
test_roundtrip(enum pd_type t)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    const int64_t n = 8 * 256, bs = tr->block_size == 1 ? 32 : tr->block_size;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    void *q = malloc(pd_type_row_size(t, n));
    int bad = 0;

    for (int64_t i = 0; i < n; i++)
        x[i] = rng_float() * (float)(1 << (i / 256)) * 0.01f + ((i / 256) == 3 ? 0.5f : 0);
    ok(pd_quantize_row(t, x, q, n), "%s: quantize a row", tr->name);
    pd_dequantize_row(t, q, y, n);
    for (int64_t b = 0; b < n; b += bs) {
        double amax = 0, min = x[b], max = x[b];
        for (int64_t i = b; i < b + bs; i++) {
            amax = fmax(amax, fabs(x[i]));
            min = fmin(min, x[i]);
            max = fmax(max, x[i]);
        }
        double lim = roundtrip_bound(t, amax, min, max);
        for (int64_t i = b; i < b + bs; i++)
            bad += !(fabs((double)x[i] - y[i]) <= lim);
    }
    is_int(bad, 0, "%s: quantize -> dequantize error within bound", tr->name);
    free(x);
    free(y);
    free(q);
}

/* ---- dots ------------------------------------------------------------------------------------- */

/* Byte offsets of the fp16 scale fields of formats built from random bytes. */
static const struct {
    enum pd_type t;
    int off[2];
} scale_fields[] = {
    { PD_TYPE_Q2_K, { 80, 82 } },  { PD_TYPE_Q3_K, { 108, -1 } }, { PD_TYPE_Q4_K, { 0, 2 } },
    { PD_TYPE_Q5_K, { 0, 2 } },    { PD_TYPE_Q6_K, { 208, -1 } }, { PD_TYPE_IQ4_NL, { 0, -1 } },
    { PD_TYPE_IQ4_XS, { 0, -1 } },
};

/* A random weight row of type t: quantized random floats, or random blocks with sane scales. */
static void
weight_row(enum pd_type t, void *dst, int64_t n)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    size_t bytes = pd_type_row_size(t, n);
    float *x = malloc(n * sizeof(float));

    for (int64_t i = 0; i < n; i++)
        x[i] = rng_float() + (i % 512 < 64 ? 0.7f : 0);
    if (pd_quantize_row(t, x, dst, n))
        goto out;
    for (size_t i = 0; i < bytes; i++)
        ((uint8_t *)dst)[i] = (uint8_t)rng_next();
    for (size_t k = 0; k < sizeof scale_fields / sizeof scale_fields[0]; k++) {
        if (scale_fields[k].t != t)
            continue;
        for (int64_t b = 0; b < n / tr->block_size; b++)
            for (int j = 0; j < 2 && scale_fields[k].off[j] >= 0; j++) {
                uint16_t h = pd_fp32_to_fp16(rng_float() * 0.05f);
                memcpy((uint8_t *)dst + b * tr->type_size + scale_fields[k].off[j], &h, 2);
            }
    }
out:
    free(x);
}

static void
test_dot(enum pd_type t, int64_t n)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    enum pd_type at = tr->vec_dot_type;
    /* offset 2: rows of the block formats in files are only 2-byte aligned */
    uint8_t *wbuf = malloc(pd_type_row_size(t, n) + 2), *w = wbuf + (t == PD_TYPE_F32 ? 0 : 2);
    void *a = malloc(pd_type_row_size(at, n));
    float *x = malloc(n * sizeof(float)), *wf = malloc(n * sizeof(float));
    float *af = malloc(n * sizeof(float));
    double tol = at == PD_TYPE_Q8_1 ? DOT_TOL_Q8_1 : DOT_TOL;
    int bad_ref = 0, bad_simd = 0, bad_vs = 0;

    for (int trial = 0; trial < 4; trial++) {
        weight_row(t, w, n);
        for (int64_t i = 0; i < n; i++)
            x[i] = rng_float() * (trial == 3 ? 100.0f : 1.0f);
        pd_quantize_row(at, x, a, n);
        pd_dequantize_row(t, w, wf, n);
        pd_dequantize_row(at, a, af, n);
        double want = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            want += (double)wf[i] * af[i];
            mag += fabs((double)wf[i] * af[i]);
        }
        float ref, simd;
        pd_vec_dot_ref(t, n, &ref, w, a);
        pd_vec_dot(t, n, &simd, w, a);
        bad_ref += !(fabs(ref - want) <= tol * mag);
        bad_simd += !(fabs(simd - want) <= tol * mag);
        bad_vs += !(fabs(simd - (double)ref) <= SIMD_TOL * mag);
        if (fabs(simd - (double)ref) > SIMD_TOL * mag || fabs(ref - want) > tol * mag)
            diag("%s n=%lld: want %.9g ref %.9g simd %.9g (sum|wa| %.6g)", tr->name,
                 (long long)n, want, ref, simd, mag);
    }
    ok(bad_ref == 0, "%s . %s (n=%lld): dot_ref matches float64", tr->name,
       pd_type_traits_get(at)->name, (long long)n);
    ok(bad_simd == 0, "%s (n=%lld): vec_dot matches float64", tr->name, (long long)n);
    ok(bad_vs == 0, "%s (n=%lld): vec_dot matches dot_ref", tr->name, (long long)n);
    free(wbuf);
    free(a);
    free(x);
    free(wf);
    free(af);
}

/* The quantizer chosen for this CPU writes exactly the plain-C bytes. */
static void
test_simd_quant_matches(enum pd_type t)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    const int64_t n = 4096;
    size_t bytes = pd_type_row_size(t, n);
    float *x = malloc(n * sizeof(float));
    uint8_t *q1 = malloc(bytes), *q2 = malloc(bytes);
    int diff = 0;

    for (int trial = 0; trial < 3; trial++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = rng_float() * (float)(i % 7 + 1) * (trial == 2 ? 1e-3f : 1.0f);
        for (int64_t i = 0; i < n; i += 64)
            x[i + 1] = 0.5f * x[i]; /* exact halves of a step appear */
        if (trial == 1)
            memset(x + 256, 0, 256 * sizeof(float)); /* all-zero blocks */
        pd_quantize_row(t, x, q1, n);
        pd_quantize_row_ref(t, x, q2, n);
        for (size_t i = 0; i < bytes; i++)
            diff += q1[i] != q2[i];
    }
    is_int(diff, 0, "%s: %s quantizer writes the plain-C bytes", tr->name,
           pd_quant_simd_name());
    free(x);
    free(q1);
    free(q2);
}

static void
test_unsupported(void)
{
    const struct pd_type_traits *tr = pd_type_traits_get(16);
    ok(tr != NULL && !tr->supported, "type 16 is defined but unsupported");
    is_str(tr ? tr->name : NULL, "iq2_xxs", "type 16 is named iq2_xxs");
    ok(pd_type_traits_get(4) == NULL, "retired type 4 has no traits");
    ok(pd_type_traits_get(1000) == NULL, "type 1000 has no traits");
    uint8_t buf[292];
    float x[256] = { 0 };
    ok(!pd_quantize_row(PD_TYPE_Q4_K, x, buf, 256), "no quantizer for q4_K");
    ok(!pd_quantize_row(16, x, buf, 256), "no quantizer for iq2_xxs");
}

int
main(void)
{
    static const enum pd_type quantizable[] = {
        PD_TYPE_F32,  PD_TYPE_F16,  PD_TYPE_BF16, PD_TYPE_Q8_0, PD_TYPE_Q8_1,
        PD_TYPE_Q8_K, PD_TYPE_Q4_0, PD_TYPE_Q4_1, PD_TYPE_Q5_0, PD_TYPE_Q5_1,
    };
    static const enum pd_type dotted[] = {
        PD_TYPE_F32,  PD_TYPE_F16,  PD_TYPE_BF16, PD_TYPE_Q4_0, PD_TYPE_Q4_1,
        PD_TYPE_Q5_0, PD_TYPE_Q5_1, PD_TYPE_Q8_0, PD_TYPE_IQ4_NL, PD_TYPE_Q2_K,
        PD_TYPE_Q3_K, PD_TYPE_Q4_K, PD_TYPE_Q5_K, PD_TYPE_Q6_K, PD_TYPE_IQ4_XS,
    };

    diag("simd path: %s", pd_quant_simd_name());
    test_fp16_exhaustive();
    test_fp16_rounding();
    test_bf16();
    test_fixtures();
    for (size_t k = 0; k < sizeof quantizable / sizeof quantizable[0]; k++) {
        test_roundtrip(quantizable[k]);
        test_simd_quant_matches(quantizable[k]);
    }
    for (size_t k = 0; k < sizeof dotted / sizeof dotted[0]; k++) {
        test_dot(dotted[k], 256 * 5);
        test_dot(dotted[k], 4096);
    }
    test_unsupported();
    return exit_status();
}
