/*
 * ops.h: the small per-row operations of a transformer forward pass, in plain C that the compiler
 * vectorizes. Arguments: outputs, then inputs, then sizes (STYLE rule 9). Glossary:
 *   n    elements in a row        D    head dimension       H / Hkv  query / key-value heads
 *   T    tokens in the batch      P    cached positions     n_rot    rotated dimensions (<= D)
 */
#ifndef PD_OPS_H
#define PD_OPS_H

#include <stdbool.h>
#include <stdint.h>

/* out[n] = x[n] / rms(x) * w[n]; w may be NULL (no scale). out may equal x. */
void pd_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* out[n] = silu(gate[n]) * up[n]. out may alias gate. */
void pd_swiglu(float *out, const float *gate, const float *up, int64_t n);

/* y[n] += x[n] */
void pd_add(float *y, const float *x, int64_t n);

/* In-place softmax over x[n] (max-subtracted; -inf entries give 0). */
void pd_softmax(float *x, int64_t n);

/* Rotary embedding parameters, as ggml's rope with YaRN. */
struct pd_rope {
    int n_rot;            /* rotated dimensions of each head (the first n_rot of D) */
    bool neox;            /* NeoX layout: pairs (i, i + n_rot/2); else adjacent pairs (2i, 2i+1) */
    float freq_base;
    float freq_scale;     /* 1 / linear or YaRN factor */
    float ext_factor;     /* YaRN extrapolation mix; 0 = plain (linear) scaling */
    float attn_factor;    /* magnitude scale */
    float beta_fast, beta_slow;
    int n_ctx_orig;       /* the training context YaRN corrects for */
    const float *freq_factors; /* n_rot/2 divisors of the frequencies (Llama 3.1), or NULL */
};

/* The cos/sin table for one position: cs[2 * (n_rot/2)] as (cos, sin) pairs. */
void pd_rope_cache(float *cs, const struct pd_rope *r, int64_t pos);

/* Rotate each of n_heads heads of x (head stride D) in place with a table from pd_rope_cache. */
void pd_rope_apply(float *x, const float *cs, const struct pd_rope *r, int n_heads, int D);

/*
 * Causal attention of one query head over P cached positions:
 *   out[Dv] = sum_p softmax_p(scale * q.k_p) v_p
 * k rows (D floats) and v rows (Dv floats) are kv_stride floats apart. scores is scratch of P.
 */
void pd_attention_head(float *out, float *scores, const float *q, const float *k, const float *v,
                       int64_t P, int D, int Dv, int64_t kv_stride, float scale);

/* The plain-C reference of pd_attention_head (which takes AVX2 where the CPU has it). */
void pd_attention_head_ref(float *out, float *scores, const float *q, const float *k,
                           const float *v, int64_t P, int D, int Dv, int64_t kv_stride,
                           float scale);

#endif
