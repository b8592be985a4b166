/*
 * pretrain.h: supervised training of the deepseek2-style model (model.h) on generated task
 * traces (task.h): the batches, the step (forward, backward, clip, schedule, AdamW, balancing),
 * checkpoints and resuming.
 *
 * Data: example i of a run is a pure function of (seed, i): its task is drawn by a hash of both
 * against the countdown share, its problem is problem i of that task's train split, its text
 * the prompt (masked out of the loss) then the solver's completion and EOS. Row b of step s is
 * example s * batch + b, one example a row from position 0, cut to seq + 1 tokens, padded with
 * EOS whose targets do not count. So the state of a run is its options, its step, the weights,
 * the AdamW moments and the routers' biases: a checkpoint holds all of them, and a resumed run
 * continues bit for bit as the uninterrupted one would (with the same number of threads: the
 * ops' sums are split by thread).
 *
 * A checkpoint is a GGUF file (written through path.tmp, synced, renamed): keys ponder.train.*
 * (the options as key=value text, the step), the tokenizer's metadata, and tensors params, adam.m,
 * adam.v, bias (1-D, F32).
 */
#ifndef PD_TRAIN_PRETRAIN_H
#define PD_TRAIN_PRETRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"
#include "engine/train/model.h"

struct pd_bpe;
struct pd_threadpool;

struct pd_pretrain_opts {
    struct pd_tmodel_config model;   /* n_vocab is set from the tokenizer */
    int64_t steps;
    int32_t batch, seq;
    float lr, min_lr;
    int64_t warmup;
    float weight_decay, clip, beta1, beta2, eps;
    float balance_gamma;             /* 0: no balancing */
    double countdown_share;          /* of the examples; the rest are arith */
    double slip_rate;                /* of the solver's traces */
    int32_t style;                   /* enum pd_task_style: the prompts' style (chat) */
    uint64_t seed;
    int32_t vocab;                   /* the tokenizer's size, when it is trained here */
    int32_t tok_docs;                /* texts it is trained on */
};

void pd_pretrain_opts_default(struct pd_pretrain_opts *o);

/* Set an option or a model size (model.h's keys) from text. Training keys: steps batch seq lr
 * min_lr warmup weight_decay clip beta1 beta2 eps balance_gamma countdown_share slip_rate
 * prompts (chat or tinyzero: task.h's styles) seed
 * tok_vocab tok_docs. PD_ENOTFOUND for an unknown key, PD_EINVAL for a bad value. */
int pd_pretrain_opts_set(struct pd_pretrain_opts *o, const char *key, const char *value,
                         char *err);
/* All of them as "key=value\n" lines (cap bytes, like snprintf; returns the full length). */
int pd_pretrain_opts_format(const struct pd_pretrain_opts *o, char *buf, size_t cap);
int pd_pretrain_opts_check(const struct pd_pretrain_opts *o, char *err);

/* Train the tokenizer on o->tok_docs generated texts (EOS "<|endoftext|>"). */
int pd_pretrain_tokenizer(struct pd_bpe **out, const struct pd_pretrain_opts *o, char *err);

struct pd_pretrain {
    struct pd_pretrain_opts opts;
    struct pd_tmodel *model;
    struct pd_bpe *tok;              /* owned */
    float *m1, *m2;                  /* AdamW moments */
    int64_t step;                    /* steps done */
    int32_t *tokens, *targets;       /* the batch, [batch][seq] */
};

/* A fresh run: the model initialized from o->seed, with tok (ownership passes, even on error). */
int pd_pretrain_new(struct pd_pretrain **out, const struct pd_pretrain_opts *o,
                    struct pd_bpe *tok, char *err);
void pd_pretrain_free(struct pd_pretrain *p);

struct pd_pretrain_stats {
    float loss;
    double grad_norm;                /* before clipping */
    float lr;
    float imbalance;                 /* max expert load / mean, worst layer */
    int64_t tokens;                  /* batch * seq */
    int64_t targets;                 /* positions in the loss */
    bool skipped;                    /* a gradient that was not finite: no update */
};

/* Step number p->step: batch, forward, backward, clip, AdamW, balancing; p->step advances. */
int pd_pretrain_step(struct pd_pretrain *p, struct pd_threadpool *tp,
                     struct pd_pretrain_stats *st, char *err);

/* Fill p->tokens/p->targets with step's batch (also used by benchmarks). */
int pd_pretrain_batch(struct pd_pretrain *p, int64_t step, char *err);

int pd_pretrain_save(const struct pd_pretrain *p, const char *path, char *err);
int pd_pretrain_load(struct pd_pretrain **out, const char *path, char *err);

#endif
