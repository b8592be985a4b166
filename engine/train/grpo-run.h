/*
 * grpo-run.h: the GRPO loop for full-weight training of a trainable deepseek2 model (model.h):
 * sample G completions per prompt from the current policy, score them, advantages, mu optimizer
 * steps on the batch, report. The objective is grpo.h's.
 *
 * One step:
 *   1. prompts: examples step*P .. step*P+P-1 of the source (P = opts.prompts);
 *   2. sampling: the policy is written as a GGUF (opts.sample_path, through path.tmp) and run by
 *      the inference engine (engine/generate's context, KV cache, the precise float path): each
 *      prompt's KV is computed once and kept for its G completions; plain temperature sampling
 *      (no top-k/p), at most max_completion tokens, ending at EOS (which is part of the
 *      completion); the draws are seeded by (seed, step);
 *   3. rewards: the source scores the P*G completions (the caller's: tasks, plugins);
 *   4. advantages (pd_grpo_advantages); the log-probabilities are recomputed in float32 by the
 *      training forward at the sampling temperature, one group per forward (a micro-batch,
 *      weighted as the whole batch); the reference's (beta > 0) by a frozen copy of the starting
 *      weights; with mu > 1 the first pass's log-probs are kept as the old ones;
 *   5. mu times: gradient over all groups, global-norm clip, AdamW at a constant rate.
 * The routers' selection biases stay as loaded (no balancing), so the reference is exactly
 * the starting model.
 *
 * State of a run: options, step, weights, AdamW moments, the reference (the base model file,
 * reloaded on resume): pd_grpo_run_save writes all but the base (GGUF, atomic), and a resumed
 * run samples and updates exactly as the uninterrupted one (same threads).
 */
#ifndef PD_TRAIN_GRPO_RUN_H
#define PD_TRAIN_GRPO_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"
#include "engine/train/grpo.h"
#include "engine/train/lora-train.h"
#include "engine/train/model.h"

struct pd_bpe;
struct pd_threadpool;
struct pd_dense;
struct pd_model;

#define PD_GRPO_MAX_FN 8          /* reward functions reported apart */

struct pd_grpo_run_opts {
    struct pd_grpo_params grpo;
    int32_t group;                /* G completions per prompt (8) */
    int32_t prompts;              /* prompts per step (4) */
    int64_t steps;                /* (100) */
    int32_t mu;                   /* num_iterations: optimizer steps per generation batch (1) */
    float temp;                   /* sampling temperature, also the log-probs' (1.0) */
    float lr;                     /* constant (1e-5) */
    float weight_decay;           /* (0, as transformers) */
    float clip;                   /* global gradient norm (1.0; 0 = off) */
    float beta1, beta2, eps;      /* AdamW (0.9, 0.999, 1e-8) */
    uint64_t seed;                /* sampling (1) */
    int32_t threads;              /* the sampler's (0: all CPUs) */
    /* LoRA (lora-train.h): rank > 0 trains an adapter of that rank over the frozen model */
    int32_t lora_rank;            /* (0: the full weights) */
    float lora_alpha;             /* (0: the rank, so alpha / r = 1) */
    uint32_t lora_targets;        /* enum pd_tlora_target mask */
};

void pd_grpo_run_opts_default(struct pd_grpo_run_opts *o);
int pd_grpo_run_opts_check(const struct pd_grpo_run_opts *o, char *err);
/* Set an option from text. Keys: group prompts steps mu temp lr weight_decay clip beta1 beta2
 * eps seed loss scale_rewards epsilon epsilon_high beta max_completion mask_truncated lora_rank
 * lora_alpha lora_targets.
 * PD_ENOTFOUND for an unknown key, PD_EINVAL for a bad value. */
int pd_grpo_run_opts_set(struct pd_grpo_run_opts *o, const char *key, const char *value,
                         char *err);
/* The options as a JSON object (cap bytes, like snprintf; returns the full length). */
int pd_grpo_run_opts_json(const struct pd_grpo_run_opts *o, char *buf, size_t cap);

/* Where prompts come from and how completions are scored: the caller's. */
struct pd_grpo_source {
    void *ud;
    /* The text of example index (the model continues it). 0 or a negative PD_E*. */
    int (*prompt)(void *ud, int64_t index, char *buf, size_t cap, char *err);
    /*
     * Score n_prompts * G completions (prompt p's are p*G .. p*G+G-1; index[p] its example):
     * texts (NUL-terminated, the EOS not included), n_tokens (EOS included). Fill rewards[n]
     * (the weighted total), none[n] (left out of the group), correct[n] (1 right, 0 wrong,
     * -1 unknown) and per_fn[n][n_fn] (NAN where a function gave None). 0, or a negative PD_E*
     * that stops the run.
     */
    int (*score)(void *ud, const int64_t *index, int n_prompts, int G, const char *const *texts,
                 const int32_t *n_tokens, double *rewards, bool *none, int8_t *correct,
                 double *per_fn, char *err);
    int n_fn;                     /* <= PD_GRPO_MAX_FN */
};

struct pd_grpo_step_stats {
    int64_t step;                 /* 1-based, the step just done */
    double reward_mean, reward_std;   /* over scored completions (NAN when none is) */
    double fn_mean[PD_GRPO_MAX_FN], fn_std[PD_GRPO_MAX_FN];
    double accuracy;              /* share right among those known; NAN when none known */
    double kl;                    /* mean k3 over completion tokens (first pass; NAN: beta 0) */
    double clip_frac, clip_low, clip_high;   /* shares of tokens, over the mu passes */
    double zero_std_frac;         /* groups without signal */
    double none_frac;             /* completions left out */
    double truncated_frac;        /* completions without EOS */
    double len_mean;              /* completion tokens, EOS included */
    int32_t len_min, len_max;
    double think_len;             /* mean tokens up to and including "</think>" (all if none) */
    double entropy;               /* mean entropy (nats) of softmax(z/T) at completion tokens */
    double loss, grad_norm;       /* of the last pass; the norm before clipping */
    double sample_logp_err;       /* max |log p| gap, at temperature 1, between the sampler
                                     (inference engine) and the training forward */
    double gen_tok_s;             /* sampled tokens per second */
    double train_tok_s;           /* tokens through forward+backward per second */
    double gen_s, step_s;
};

struct pd_grpo_run {
    struct pd_grpo_run_opts opts;
    struct pd_tmodel *model;      /* the policy (with LoRA: the frozen base, lora attached) */
    struct pd_tlora *lora;        /* the adapter trained (lora_rank > 0), else NULL */
    struct pd_tmodel *ref;        /* frozen starting weights (with LoRA: the base without the
                                     adapter); NULL when beta == 0 */
    struct pd_bpe *tok;
    float *m1, *m2;               /* AdamW moments of what is trained (weights or adapter) */
    int64_t step;                 /* steps done */
    int64_t adam_t;               /* optimizer steps done */
    int64_t label;                /* the caller's (a store's run id), kept in checkpoints */
    char sample_path[4096];       /* the policy as GGUF, for the sampler (with LoRA: the base,
                                     and the adapter beside it at sample_path.lora, removed
                                     once loaded) */
    bool base_written;            /* with LoRA, the base is written once */
    /* LoRA over a dense llama/qwen2/qwen3 model frozen in its file's types (dense.h): model
     * and ref are NULL, the reference (beta > 0) is dense without the adapter, and the
     * sampler loads base_path itself with the adapter beside it */
    struct pd_dense *dense;
    struct pd_model *base;
    char base_path[4096];
};

/* A run over model and tok (ownership of both passes, even on error). The reference is a copy of model's weights when beta > 0. sample_path: a file this run
 * may write and replace (the caller removes it). */
int pd_grpo_run_new(struct pd_grpo_run **out, const struct pd_grpo_run_opts *o,
                    struct pd_tmodel *model, struct pd_bpe *tok, const char *sample_path,
                    char *err);
void pd_grpo_run_free(struct pd_grpo_run *r);

/* A LoRA run (o->lora_rank > 0) over base, a dense llama, qwen2 or qwen3 model loaded from
 * base_path whose weights stay as the file has them. Ownership of base and tok passes, even on
 * error. PD_EINVAL without a LoRA rank (full weights train only the F32 deepseek2 model);
 * PD_EUNSUPPORTED for another architecture. */
int pd_grpo_run_new_dense(struct pd_grpo_run **out, const struct pd_grpo_run_opts *o,
                          struct pd_model *base, const char *base_path, struct pd_bpe *tok,
                          const char *sample_path, char *err);

/* Step r->step + 1; r->step advances. tp runs the training forward/backward (may be NULL). */
int pd_grpo_run_step(struct pd_grpo_run *r, struct pd_threadpool *tp,
                     const struct pd_grpo_source *src, struct pd_grpo_step_stats *st, char *err);

/* The result at path: the trained model (deepseek2 GGUF, F32), or with LoRA the adapter GGUF,
 * or with LoRA and merge the base with the adapter folded in. */
int pd_grpo_run_write(const struct pd_grpo_run *r, const char *path, bool merge, char *err);

/* Checkpoint: options, step, weights (with LoRA: the adapter), moments, biases, tokenizer
 * (GGUF via path.tmp). */
int pd_grpo_run_save(const struct pd_grpo_run *r, const char *path, char *err);
/* A run from a checkpoint; ref_model: the base model (its weights become the reference when
 * beta > 0, and with LoRA the frozen policy; taken over here). */
int pd_grpo_run_load(struct pd_grpo_run **out, const char *path, struct pd_tmodel *ref_model,
                     const char *sample_path, char *err);
/* The same for a LoRA run over a dense base (pd_grpo_run_new_dense's arguments; the tokenizer
 * is the base's). */
int pd_grpo_run_load_dense(struct pd_grpo_run **out, const char *path, struct pd_model *base,
                           const char *base_path, struct pd_bpe *tok, const char *sample_path,
                           char *err);

#endif
