/*
 * lora-train.h: LoRA adapters trained over a frozen trainable model (model.h).
 *
 * For each targeted weight W [n_out][n_in] the adapter holds A [r][n_in] and B [n_out][r], and
 * the model's product becomes y = W x + s B (A x) with s = alpha / r. A starts uniform in
 * +-1/sqrt(n_in) (PEFT's Kaiming-uniform bound) and B at zero, so step 0 is the base exactly.
 * While m->lora is set, pd_tmodel_forward applies the adapter and pd_tmodel_backward fills the
 * adapter's gradients (l->grads) instead of the weights': W gets no gradient (the gradient
 * still flows through it to what comes before).
 *
 * Targets are 2-D weights only (the routed experts and MLA's k_b/v_b are 3-D):
 *   attn_q       attn_q, or attn_q_a and attn_q_b (the query bottleneck)
 *   attn_kv_a    attn_kv_a_mqa (the latent and the shared RoPE key)
 *   attn_output  attn_output
 *   ffn          the dense layers' ffn_gate, ffn_up, ffn_down
 *   shexp        the shared experts' ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp
 *   attn_kv      a dense model's attn_k and attn_v (llama, qwen2, qwen3: dense.h)
 *   attn         attn_q, attn_kv_a, attn_kv and attn_output;  all: every one of them
 * llama.cpp's deepseek2 graph applies adapters only to attn_output and the FFNs, so an adapter
 * meant for llama.cpp should keep to attn_output, ffn and shexp.
 *
 * The adapter's parameters live in one flat buffer (params), gradients in another (grads), so
 * the optimizer and checkpoints treat them as the model's. Files: pd_tlora_write_gguf writes
 * llama.cpp's adapter GGUF (engine/lora.h reads it back), pd_tlora_merge folds the adapter into
 * the weights (lora-gguf.c).
 */
#ifndef PD_TRAIN_LORA_H
#define PD_TRAIN_LORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"

struct pd_tmodel;
struct pd_threadpool;
struct pd_gguf;
struct pd_gguf_writer;

enum pd_tlora_target {
    PD_TLORA_ATTN_Q = 1 << 0,
    PD_TLORA_ATTN_KV_A = 1 << 1,
    PD_TLORA_ATTN_OUTPUT = 1 << 2,
    PD_TLORA_FFN = 1 << 3,
    PD_TLORA_SHEXP = 1 << 4,
    PD_TLORA_ATTN_KV = 1 << 5,     /* a dense model's attn_k and attn_v */
};
#define PD_TLORA_ATTN \
    (PD_TLORA_ATTN_Q | PD_TLORA_ATTN_KV_A | PD_TLORA_ATTN_KV | PD_TLORA_ATTN_OUTPUT)
#define PD_TLORA_ALL (PD_TLORA_ATTN | PD_TLORA_FFN | PD_TLORA_SHEXP)
/* what llama.cpp's deepseek2 graph applies an adapter to (its q, q_a, q_b and kv_a products take
 * none), so a default adapter means the same in both */
#define PD_TLORA_DEFAULT (PD_TLORA_ATTN_OUTPUT | PD_TLORA_FFN | PD_TLORA_SHEXP)

/* The targets a dense model (llama, qwen2, qwen3) adapts when none are named: every
 * projection, q, k, v, o, gate, up, down, as Unsloth's default does. */
#define PD_TLORA_DENSE_DEFAULT PD_TLORA_ALL

/* "attn,ffn" -> a mask of enum pd_tlora_target; PD_EINVAL naming an unknown target. */
int pd_tlora_targets_parse(const char *s, uint32_t *mask, char *err);
/* The mask as the names pd_tlora_targets_parse reads (cap bytes, like snprintf). */
int pd_tlora_targets_format(uint32_t mask, char *buf, size_t cap);

/* One adapted weight: the base tensor (its GGUF name, and for a trainable model its index in
 * m->tensors), its sizes, and where A and B sit in params/grads. */
struct pd_tlora_pair {
    char name[64];
    int tensor;
    int64_t n_in, n_out;
    int64_t a, b;            /* offsets (floats) of A [r][n_in] and B [n_out][r] */
};

struct pd_tlora {
    char arch[24];           /* general.architecture of the base */
    int32_t rank;            /* r */
    float alpha;
    float s;                 /* alpha / r */
    uint32_t targets;
    int n_pairs;
    struct pd_tlora_pair *pairs;
    int64_t n_params;
    float *params, *grads;
    float *u, *du;           /* scratch [rows][r] of the products */
    int64_t cap_rows;
};

/* An adapter of rank r with alpha (> 0) on m's targeted weights, A drawn from seed. PD_EINVAL
 * for a rank out of 1..4096, alpha not positive, or targets that select no weight of m. */
int pd_tlora_new(struct pd_tlora **out, const struct pd_tmodel *m, int32_t rank, float alpha,
                 uint32_t targets, uint64_t seed, char *err);
void pd_tlora_free(struct pd_tlora *l);

/* A weight an adapter may adapt: GGUF name, sizes, and an index the caller keeps in the pair. */
struct pd_tlora_spec {
    const char *name;
    int64_t n_in, n_out;
    int tensor;
};

/* The same over any base: the n weights of w whose names the targets select, for a base of
 * architecture arch (what the file says it adapts). Errors as pd_tlora_new. */
int pd_tlora_new_specs(struct pd_tlora **out, const char *arch, const struct pd_tlora_spec *w,
                       int n, int32_t rank, float alpha, uint32_t targets, uint64_t seed,
                       char *err);

/* The pair adapting the rows of W at w (a pointer into m->params, at a row boundary), and that
 * row in *row0; NULL when w is not adapted. */
const struct pd_tlora_pair *pd_tlora_find(const struct pd_tlora *l, const struct pd_tmodel *m,
                                          const float *w, int64_t *row0);

/* Plan the scratch for products over N rows (pd_tmodel_forward does): 0 or PD_ENOMEM. */
int pd_tlora_reserve(struct pd_tlora *l, int64_t N);

/* The adapter's share of y[N][n_out] = x[N][n_in] . W^T (W the rows at w): y += s (x A^T) B^T,
 * and the backward: grads of A and B += theirs for dy, dx (may be NULL) += the input's. Both do
 * nothing when w is not adapted; N must be within what pd_tlora_reserve planned. */
void pd_tlora_forward(struct pd_tlora *l, const struct pd_tmodel *m, struct pd_threadpool *tp,
                      float *y, const float *x, const float *w, int64_t N, int64_t n_in,
                      int64_t n_out);
void pd_tlora_backward(struct pd_tlora *l, const struct pd_tmodel *m, struct pd_threadpool *tp,
                       float *dx, const float *dy, const float *x, const float *w, int64_t N,
                       int64_t n_in, int64_t n_out);

/* The same for pair q, over its rows row0 .. row0 + n_out - 1. */
void pd_tlora_pair_forward(struct pd_tlora *l, struct pd_threadpool *tp,
                           const struct pd_tlora_pair *q, int64_t row0, float *y, const float *x,
                           int64_t N, int64_t n_out);
void pd_tlora_pair_backward(struct pd_tlora *l, struct pd_threadpool *tp,
                            const struct pd_tlora_pair *q, int64_t row0, float *dx,
                            const float *dy, const float *x, int64_t N, int64_t n_out);

/* ---- files (lora-gguf.c) ---- */

/* The adapter as llama.cpp's adapter GGUF: general.type adapter, the base's architecture,
 * adapter.type lora, adapter.lora.alpha, and <base>.lora_a {n_in, r}, <base>.lora_b {r, n_out}
 * in F32. _add_gguf adds it to a writer (which references l->params until written). */
int pd_tlora_add_gguf(const struct pd_tlora *l, struct pd_gguf_writer *w, const char *name,
                      char *err);
int pd_tlora_write_gguf(const struct pd_tlora *l, const char *name, const char *path, char *err);

/* Read A and B of every pair from g (a file _add_gguf wrote for the same targets): PD_EFORMAT
 * naming a tensor that is missing or of another shape. */
int pd_tlora_read_gguf(struct pd_tlora *l, const struct pd_gguf *g, const char *path, char *err);

/* m's weights += s B A for every pair (m is changed: pass a copy to keep the base). */
void pd_tlora_merge(const struct pd_tlora *l, struct pd_tmodel *m);

#endif
