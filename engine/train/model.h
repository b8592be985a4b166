/*
 * model.h: a trainable deepseek2-style model (the bundled model's architecture), in float32.
 *
 * Architecture, as engine/forward.c, mla.c and moe.c run it at inference (and llama.cpp's
 * deepseek2 graph): token embedding; n_layer blocks of
 *   h += Wo MLA(rmsnorm(h) attn_norm)          MLA: q straight or through the q_lora bottleneck,
 *                                                a latent of width R (rmsnorm) and one RoPE key
 *                                                (Dr dims, NORM layout) shared by all heads;
 *                                                score scale 1/sqrt(Dn + Dr)
 *   h += FFN(rmsnorm(h) ffn_norm)               a dense SwiGLU in the first n_dense_lead layers,
 *                                                then one shared SwiGLU expert of width S*Fe plus
 *                                                K of X routed experts (softmax or sigmoid
 *                                                scores, the selection bias, groups, the
 *                                                renormalization floor, the scale)
 * then rmsnorm (output_norm) and the output head (output.weight, or the embedding when tied).
 *
 * Parameters live in one flat float32 buffer (params), gradients in another of the same layout
 * (grads), described by a table of tensors (name, shape, offset), so the optimizer and the
 * checkpoints treat them uniformly. Names are GGUF's; shapes are the training layout, row-major
 * with a row per output ([n_out][n_in]), which is GGUF's layout for every tensor but one:
 * blk.i.attn_k_b.weight is held [H*Dn][R] here and transposed per head on export
 * (pd_tmodel_write_gguf). Experts are [X][Fe][E] (gate, up) and [X][E][Fe] (down), as in GGUF.
 *
 * The router's selection bias (exp_probs_b, [X] per MoE layer) is not a parameter: no gradient
 * reaches it; pd_tmodel_balance moves it from the expert load of the last forward.
 *
 * Glossary: B sequences of T tokens, N = B*T rows; E embedding width; H heads; Dn, Dr, Dv the
 * no-RoPE, RoPE and value dims of a head; R the latent (kv_lora) width, Rq the q_lora width;
 * F dense FFN width; X experts, K chosen, Fe expert width, S shared experts; V vocabulary.
 */
#ifndef PD_TRAIN_MODEL_H
#define PD_TRAIN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"
#include "engine/train/optim.h"

struct pd_threadpool;
struct pd_gguf_writer;
struct pd_tlora;
struct pd_bpe;

struct pd_tmodel_config {
    int32_t n_vocab;          /* V */
    int32_t n_ctx;            /* the longest sequence (GGUF context_length) */
    int32_t n_embd;           /* E */
    int32_t n_layer;
    int32_t n_head;           /* H */
    int32_t q_lora_rank;      /* Rq; 0: plain attn_q */
    int32_t kv_lora_rank;     /* R */
    int32_t qk_nope;          /* Dn */
    int32_t qk_rope;          /* Dr (even) */
    int32_t v_head;           /* Dv */
    int32_t n_ff;             /* F, the dense layers' FFN width */
    int32_t n_dense_lead;     /* the first layers are dense; the rest MoE (all dense if X = 0) */
    int32_t n_expert;         /* X */
    int32_t n_expert_used;    /* K */
    int32_t n_ff_exp;         /* Fe */
    int32_t n_expert_shared;  /* S: the shared FFN is S*Fe wide; 0: none */
    int32_t n_group;          /* expert groups (0 or 1: none) */
    int32_t n_group_used;
    bool sigmoid;             /* router scores by sigmoid (DeepSeek-V3), else softmax */
    bool expert_norm;         /* renormalize the chosen weights */
    float expert_scale;       /* the chosen weights are multiplied by it */
    bool tied;                /* the output head is the embedding */
    float rms_eps;
    float rope_base;
};

/* A small default (a few hundred thousand parameters, V to be set by the caller). */
void pd_tmodel_config_default(struct pd_tmodel_config *c);

/* Set one size from "key" and "value" text (keys: pd_tmodel_config_keys). PD_ENOTFOUND for an
 * unknown key, PD_EINVAL for a bad value. */
int pd_tmodel_config_set(struct pd_tmodel_config *c, const char *key, const char *value,
                         char *err);
const char *pd_tmodel_config_keys(void);

/* The config as "key=value\n" lines that pd_tmodel_config_set reads back (cap bytes, like
 * snprintf; returns the full length). */
int pd_tmodel_config_format(const struct pd_tmodel_config *c, char *buf, size_t cap);

/* 0, or PD_EINVAL naming the first size that does not make a model. */
int pd_tmodel_config_check(const struct pd_tmodel_config *c, char *err);

struct pd_tparam {
    char name[64];            /* GGUF's tensor name */
    int n_dims;
    int64_t shape[3];         /* row-major, outermost first: [X][n_out][n_in], [n_out][n_in], [n] */
    int64_t offset, n;        /* into params / grads, in floats */
    bool decay;               /* weight decay applies (matrices; not norms) */
};

struct pd_tmodel {
    struct pd_tmodel_config cfg;
    int n_tensors;
    struct pd_tparam *tensors;
    int64_t n_params;
    float *params;            /* n_params */
    float *grads;             /* n_params, filled by pd_tmodel_backward */
    int n_moe;                /* MoE layers: layers n_dense_lead .. n_layer-1 */
    float *bias;              /* [n_moe][X] selection biases, outside the gradient */
    float *load;              /* [n_moe][X] the expert load of the last forward */
    struct pd_tlora *lora;    /* the caller's adapter, trained over frozen weights, or NULL
                                 (lora-train.h) */
    void *priv;               /* saved activations and scratch */
};

/* A model with cfg's sizes, weights from seed: normal with std 0.02, the projections into the
 * residual stream (attn_output, ffn_down, ffn_down_shexp, ffn_down_exps) scaled by
 * 1/sqrt(2 n_layer), norms of ones, biases zero. */
int pd_tmodel_new(struct pd_tmodel **out, const struct pd_tmodel_config *cfg, uint64_t seed,
                  char *err);
void pd_tmodel_free(struct pd_tmodel *m);

/* The tensor named name, or NULL. */
const struct pd_tparam *pd_tmodel_find(const struct pd_tmodel *m, const char *name);

/*
 * Forward over B sequences of T tokens (tokens[B*T], each sequence from position 0), saving
 * what the backward needs. targets[B*T] is the next token at each position, or -1 where it
 * does not count (prompt tokens, padding). *loss is the mean cross-entropy over the counted
 * positions and *count their number (either may be NULL). The logits stay readable through
 * pd_tmodel_logits until the next forward; the expert load goes into m->load. tp may be NULL.
 * PD_EINVAL for a token or target out of range or T > n_ctx; PD_ENOMEM.
 */
int pd_tmodel_forward(struct pd_tmodel *m, struct pd_threadpool *tp, const int32_t *tokens,
                      const int32_t *targets, int B, int T, float *loss, int64_t *count,
                      char *err);

/* The logits [B*T][V] of the last forward. */
const float *pd_tmodel_logits(const struct pd_tmodel *m);

/* Gradients of the last forward's loss into m->grads (overwritten, not accumulated). PD_ENOMEM;
 * PD_EINVAL without a forward before it. */
int pd_tmodel_backward(struct pd_tmodel *m, struct pd_threadpool *tp, char *err);

/* The same from a caller's gradient of the last forward's logits, dlogits[B*T][V] (GRPO's,
 * through the log-probabilities at a temperature): m->grads (overwritten) gets the gradient of
 * sum(dlogits * logits). PD_EINVAL without a forward before it. */
int pd_tmodel_backward_logits(struct pd_tmodel *m, struct pd_threadpool *tp, const float *dlogits,
                              char *err);

/* DeepSeek-V3's balancing: every MoE layer's bias moves by gamma toward equal load, from the
 * last forward's load. Returns the worst imbalance (max load / mean load) over the layers. */
float pd_tmodel_balance(struct pd_tmodel *m, float gamma);

/* The worst imbalance of the last forward, without changing anything (1 for a dense model). */
float pd_tmodel_imbalance(const struct pd_tmodel *m);

/* One AdamW step over every tensor (decay only where the table says so) with moments m1, m2
 * (n_params each, zero before step 1) at step t >= 1 and rate lr. Gradients as they are: clip
 * them first (pd_optim_grad_clip on m->grads, m->n_params). */
void pd_tmodel_adamw(struct pd_tmodel *m, float *m1, float *m2, const struct pd_adamw *h,
                     float lr, int64_t t);

/* A model from a deepseek2 GGUF with F32 weights (one that pd_tmodel_write_gguf wrote, or
 * any deepseek2 file of that shape): its sizes from the deepseek2.* keys, every tensor by name
 * (attn_k_b transposed back per head), the routers' selection biases from exp_probs_b. The
 * GGUF stays the caller's. PD_EUNSUPPORTED for another architecture or a tensor that is not F32,
 * PD_EFORMAT for a missing tensor or a wrong shape (named), PD_ENOMEM. (model-load.c) */
struct pd_gguf;
int pd_tmodel_from_gguf(struct pd_tmodel **out, const struct pd_gguf *g, char *err);

/* ---- export ---- */

/* Add the model (hyper-parameters under deepseek2.*, tensors in GGUF layout, F32) to a GGUF
 * being written, with general.name. The writer references memory the model owns until it is
 * written (or freed), so call pd_gguf_writer_write before changing or freeing the model. */
int pd_tmodel_add_gguf(const struct pd_tmodel *m, struct pd_gguf_writer *w, const char *name,
                       char *err);

/* The whole file: the model, the tokenizer (which sets V: it must equal cfg.n_vocab) and a
 * chat template that writes the R1-Zero prompt; written through path.tmp and renamed. */
int pd_tmodel_write_gguf(const struct pd_tmodel *m, const struct pd_bpe *tok, const char *name,
                         const char *path, char *err);

#endif
