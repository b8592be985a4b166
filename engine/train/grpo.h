/*
 * grpo.h: the GRPO objective (shared/specs/grpo.md section 1): group-normalized advantages, the
 * clipped surrogate, the k3 KL to a frozen reference, the three loss aggregations, and the
 * loss's gradient with respect to each token's log-probability.
 *
 * The gradient stops at the log-probabilities: dlogp[i][t] = W_it * g_it (grpo.md 1.5), where
 *   g = -c A_i rho + beta (1 - exp(ref - logp)),   rho = exp(logp - old),
 *   c = 0 when (A > 0 and rho > 1 + eps_high) or (A < 0 and rho < 1 - eps_low), else 1,
 * and W is the aggregation weight (m / (B n_i) for grpo, m / N_tok for dapo, m / (B L_max) for
 * dr_grpo; no gradient accumulation or processes here, so GA = P = 1). The caller takes it on to
 * the logits: dz_k = dlogp (onehot_k - p_k) / T, p = softmax(z / T) (pd_tr_logprob_backward on
 * the logits divided by T, then a factor 1/T).
 *
 * Layout: a batch of B completions at T positions, row-major [B][T]; position t holds the
 * log-probability of the token at t + 1 given what precedes it, and mask[b][t] is 1 where that
 * token is a completion token (up to and including the first EOS). One generation batch may be
 * split into several calls (micro-batches): pass the whole batch's sequence and token counts so
 * every call weighs its tokens as the whole batch would.
 *
 * Choices where the spec leaves room: advantages use the Bessel-corrected std plus 1e-4 (TRL);
 * a group with fewer than two scored completions has no baseline: its advantages are 0 and it
 * counts as a zero-variance group; a completion whose reward is None gets advantage 0 and takes
 * no part in its group's mean and std (its tokens still carry the KL term when beta > 0).
 */
#ifndef PD_TRAIN_GRPO_H
#define PD_TRAIN_GRPO_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"

enum pd_grpo_loss_type {
    PD_GRPO_LOSS_GRPO = 0,   /* sequence mean, then batch mean (DeepSeekMath) */
    PD_GRPO_LOSS_DAPO,       /* token sum over the batch's active tokens (TRL's default) */
    PD_GRPO_LOSS_DR_GRPO,    /* token sum / (B * max_completion) (Dr. GRPO) */
};

enum pd_grpo_scale {
    PD_GRPO_SCALE_GROUP = 0, /* (r - group mean) / (group std + eps) */
    PD_GRPO_SCALE_BATCH,     /* (r - group mean) / (batch std + eps) */
    PD_GRPO_SCALE_NONE,      /* r - group mean (Dr. GRPO) */
};

struct pd_grpo_params {
    enum pd_grpo_loss_type loss;
    enum pd_grpo_scale scale;
    float epsilon;           /* eps_low (0.2) */
    float epsilon_high;      /* < 0: epsilon (TRL's None); DAPO uses 0.28 */
    float beta;              /* KL weight (0: no reference needed) */
    int32_t max_completion;  /* L_max: dr_grpo's constant, and the sampling budget (256) */
    bool mask_truncated;     /* truncated completions leave the loss (their rewards still count) */
    double adv_eps;          /* added to the std (1e-4) */
};

/* TRL's defaults today (grpo.md 1.4), with max_completion 256. */
void pd_grpo_params_default(struct pd_grpo_params *p);
/* 0, or PD_EINVAL naming the bad value. */
int pd_grpo_params_check(const struct pd_grpo_params *p, char *err);

/* "grpo", "dapo", "dr_grpo"; "group", "batch", "none". parse: 0 or PD_EINVAL. */
const char *pd_grpo_loss_name(enum pd_grpo_loss_type t);
int pd_grpo_loss_parse(const char *s, enum pd_grpo_loss_type *out);
const char *pd_grpo_scale_name(enum pd_grpo_scale s);
int pd_grpo_scale_parse(const char *s, enum pd_grpo_scale *out);

/* ---- advantages ---- */

struct pd_grpo_adv_stats {
    int n_groups;
    int n_zero_std;          /* groups with no signal: all scored rewards equal, or < 2 scored */
    int n_scored, n_none;    /* completions with a reward, and left out */
    double mean, std;        /* over the scored rewards of the batch (std: Bessel) */
};

/*
 * adv[n_groups * G] from rewards[n_groups * G] (group g's completions are g*G .. g*G+G-1);
 * none[] (NULL: every reward scored) marks rewards that are None. st may be NULL.
 * PD_EINVAL for G < 2 or a reward that is not finite (and not None).
 */
int pd_grpo_advantages(double *adv, struct pd_grpo_adv_stats *st, const double *rewards,
                       const bool *none, int n_groups, int G, const struct pd_grpo_params *p,
                       char *err);

/* ---- the loss ---- */

struct pd_grpo_batch {
    int B, T;
    const float *logp;       /* [B][T] the policy's log-probs at the sampling temperature */
    const float *old_logp;   /* [B][T] those of the sampling policy; NULL: logp (rho = 1) */
    const float *ref_logp;   /* [B][T] the reference's; required when beta > 0 */
    const uint8_t *mask;     /* [B][T] 1 at completion tokens */
    const double *adv;       /* [B] */
    const bool *truncated;   /* [B] no EOS within the budget; NULL: none */
    int64_t n_seqs;          /* sequences of the whole generation batch (0: B) */
    int64_t n_tokens;        /* its active tokens, for dapo (0: this batch's, as
                                pd_grpo_active_tokens counts them) */
};

/* Counts ADDED to by every pd_grpo_loss call (zero it once per step). */
struct pd_grpo_loss_stats {
    double loss;             /* the aggregated loss (also returned) */
    int64_t n_tokens;        /* active tokens seen */
    double kl_sum;           /* sum of k3 over them (0 unless ref_logp is given) */
    int64_t n_clip_low;      /* A < 0 and rho < 1 - eps_low: no gradient */
    int64_t n_clip_high;     /* A > 0 and rho > 1 + eps_high: no gradient */
    double ratio_sum;        /* sum of rho */
};

/* The tokens that enter the loss: mask, less the truncated completions with mask_truncated. */
int64_t pd_grpo_active_tokens(const uint8_t *mask, const bool *truncated, int B, int T,
                              const struct pd_grpo_params *p);

/*
 * The loss of b (its share of the whole generation batch) into *loss, and its gradient with
 * respect to b->logp into dlogp[B][T] (overwritten; 0 at inactive positions; may be NULL).
 * st (may be NULL) is added to. PD_EINVAL for a missing ref_logp with beta > 0 or bad sizes.
 */
int pd_grpo_loss(double *loss, float *dlogp, struct pd_grpo_loss_stats *st,
                 const struct pd_grpo_batch *b, const struct pd_grpo_params *p, char *err);

/* The per-token loss L = -min(rho A, clip(rho) A) + beta k3 and its derivative g = dL/dlogp
 * (before the aggregation weight), for one token; ref is ignored when beta == 0. */
double pd_grpo_token_loss(double logp, double old, double ref, double adv,
                          const struct pd_grpo_params *p, double *g);

#endif
