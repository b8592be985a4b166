/*
 * sampler.h: choosing the next token from the logits.
 *
 * The chain, in llama.cpp's order: repetition penalty over the last repeat_last_n accepted
 * tokens, then top-k, top-p, min-p, temperature, and a draw from the seeded generator. temp <= 0
 * means greedy (argmax; ties go to the lowest id). The same seed and the same logits give the same
 * tokens on every machine (the generator is ponder's own xoshiro256**, not rand()).
 *
 * Whatever the settings, pd_sampler_sample also reports, for the token it chose, its
 * log-probability and the entropy (nats) of the model's own distribution: softmax of the raw
 * logits at temperature 1, before penalties and truncation. This is what the token event carries:
 * how sure the model was, independent of how we sampled. Computed in one pass (log-sum-exp and
 * entropy together); the vocabulary is never sorted whole (top-k by partial selection).
 */
#ifndef PD_SAMPLER_H
#define PD_SAMPLER_H

#include <stdint.h>

struct pd_sampler_params {
    float temp;           /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed;
};

/* Defaults: temp 0.6, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, repeat_last_n 64, seed
 * 0x5eed (DeepSeek recommends 0.5-0.7 for R1 models). */
void pd_sampler_params_default(struct pd_sampler_params *p);

struct pd_sampler;

/* NULL on allocation failure. n_vocab fixes the size of the scratch it plans once. */
struct pd_sampler *pd_sampler_new(const struct pd_sampler_params *p, int32_t n_vocab);
void pd_sampler_free(struct pd_sampler *s);

/* Choose a token from logits[n_vocab] (not modified). logprob and entropy may be NULL. */
int32_t pd_sampler_sample(struct pd_sampler *s, const float *logits, float *logprob,
                          float *entropy);

/* Record a token as part of the context (prompt tokens too), for the repetition penalty. */
void pd_sampler_accept(struct pd_sampler *s, int32_t token);

/* Forget the history (a new conversation); the generator keeps its state. */
void pd_sampler_reset(struct pd_sampler *s);

/* The log-softmax statistics of logits at temperature 1: log-sum-exp and entropy (nats). */
void pd_logits_stats(const float *logits, int32_t n, float *lse, float *entropy);

#endif
