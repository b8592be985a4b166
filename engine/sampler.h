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

/* The k likeliest tokens of one logits row, likeliest first (equal logits: lower id first; NaN
 * never taken), with the log-sum-exp and entropy of the whole row at temperature 1. Whenever the
 * chain truncates this is all the sampler needs, and all that has to leave a GPU. */
struct pd_candidates {
    int32_t n;        /* filled: k, or fewer when the row has fewer non-NaN logits */
    int32_t *ids;     /* [k] */
    float *logits;    /* [k] */
    double lse;
    float entropy;
};

/* Most candidates a caller asks for; above it the whole row is cheaper to move. */
#define PD_CANDIDATES_MAX 512

/* Fill c (ids and logits hold k) with the top k of logits[n_vocab], k <= PD_CANDIDATES_MAX: the
 * host's way, and the reference the device's is checked against. */
void pd_candidates_from_logits(struct pd_candidates *c, const float *logits, int32_t n_vocab,
                               int32_t k);

/* How many candidates let the chain choose exactly as from the whole row: 1 when greedy, else
 * top_k, plus the tokens of the history (the repetition penalty only lowers logits, so it can
 * push at most that many out of the top). 0 when the whole row is needed: top-k off above
 * temperature 0, a penalty below 1, or more than PD_CANDIDATES_MAX. */
int32_t pd_sampler_candidates_needed(const struct pd_sampler *s);

/* pd_sampler_sample from candidates: the same token, log-probability and entropy as from the
 * whole row, given c->n >= pd_sampler_candidates_needed(s) (or the row's every non-NaN logit). */
int32_t pd_sampler_sample_candidates(struct pd_sampler *s, const struct pd_candidates *c,
                                     float *logprob, float *entropy);

/* Record a token as part of the context (prompt tokens too), for the repetition penalty. */
void pd_sampler_accept(struct pd_sampler *s, int32_t token);

/* Forget the history (a new conversation); the generator keeps its state. */
void pd_sampler_reset(struct pd_sampler *s);

/* The log-softmax statistics of logits at temperature 1: log-sum-exp and entropy (nats). */
void pd_logits_stats(const float *logits, int32_t n, float *lse, float *entropy);

#endif
