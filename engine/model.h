/*
 * model.h: a GGUF model bound to ponder's view of it, and the context that runs it.
 *
 * pd_model_load opens the file (memory-mapped; weights are used in place, Q4_0 matrices repacked
 * for the CPU products when a CPU context asks: pd_model_repack), reads the
 * architecture's hyper-parameters with llama.cpp's keys, binds every tensor by llama.cpp's names
 * and checks each one's shape and type before anything runs, and builds the tokenizer. A missing
 * tensor, a wrong shape, an unsupported tensor type or an unknown architecture is an error naming
 * it. Architectures: llama (and Mixtral-style llama with experts), qwen2 (QKV biases), qwen3
 * (Q/K RMSNorm), and the mixture-of-experts qwen2moe (shared expert behind a sigmoid gate),
 * qwen3moe and olmoe (Q/K RMSNorm over the whole projection).
 *
 * pd_context holds what one conversation needs: the KV cache (n_ctx positions), the scratch of
 * the forward pass (planned once, for at most n_batch tokens at a time), the thread pool, and the
 * logits of the last evaluated token (or of every token, with logits_all).
 */
#ifndef PD_MODEL_H
#define PD_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/split.h"
#include "engine/tokenizer.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant.h"

/* The most experts a token may be routed to (DeepSeek-V3 uses 8). */
#define PD_MAX_EXPERTS_USED 16
/* The most expert groups group-limited routing may use (DeepSeek-V3 has 8). */
#define PD_MAX_EXPERT_GROUPS 256

enum pd_arch {
    PD_ARCH_LLAMA,
    PD_ARCH_QWEN2,
    PD_ARCH_QWEN3,
    PD_ARCH_QWEN2MOE,
    PD_ARCH_QWEN3MOE,
    PD_ARCH_OLMOE,
    PD_ARCH_DEEPSEEK2,
};

/* How router scores become probabilities (deepseek2.expert_gating_func). */
enum pd_gating {
    PD_GATING_SOFTMAX = 1,
    PD_GATING_SIGMOID = 2,
};

/* A weight as stored: ne[0] elements per row, ne[1] rows, ne[2] experts (1 for a plain
 * matrix); expert e's matrix starts at data + e * expert_stride bytes. packed is NULL, or (after
 * pd_model_repack) the same matrices interleaved eight rows at a time for the CPU products
 * (kernels/cpu/repack.h), expert after expert with no gap; data stays the file's rows, which
 * every other reader uses. */
struct pd_weight {
    const void *data;
    enum pd_type type;
    int64_t ne[3];
    size_t expert_stride;
    const void *packed;
};

/* Expert e's repacked matrix, or NULL when w has none. */
static inline const void *
pd_weight_packed(const struct pd_weight *w, int64_t e)
{
    if (w->packed == NULL)
        return NULL;
    return (const char *)w->packed + (size_t)e * (size_t)w->ne[1] *
                                         pd_type_row_size(w->type, w->ne[0]);
}

struct pd_layer {
    struct pd_weight attn_norm, wq, wk, wv, wo;
    struct pd_weight bq, bk, bv, bo;   /* optional (qwen2 has q/k/v) */
    struct pd_weight q_norm, k_norm;   /* optional (qwen3), D elements */
    struct pd_weight ffn_norm, ffn_gate, ffn_up, ffn_down;   /* dense FFN (absent in MoE layers) */
    /* mixture of experts: router {E, X}; experts {E, Fe, X} and {Fe, E, X} */
    struct pd_weight ffn_gate_inp, ffn_gate_exps, ffn_up_exps, ffn_down_exps;
    /* shared expert (qwen2moe): scalar sigmoid gate {E}, then a SwiGLU of width Fs */
    struct pd_weight ffn_gate_inp_shexp, ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp;
    struct pd_weight exp_probs_b;      /* selection bias {X} (DeepSeek-V3), optional */
    bool moe;
    /* multi-head latent attention (deepseek2): q straight {E, H*Dk}, or through a rank-Rq
     * bottleneck (q_a {E, Rq}, its norm, q_b {Rq, H*Dk}); kv_a {E, R+Dr} gives the latent and the
     * shared RoPE key; k_b {Dn, R, H} takes a query into latent space; v_b {R, Dv, H} takes an
     * attention output out of it */
    struct pd_weight wq_a, q_a_norm, wq_b, wkv_a, kv_a_norm, wk_b, wv_b;
    /* experts of the old one-tensor-per-expert layout that had to be copied together (gate, up,
     * down; NULL where the file's own bytes serve) */
    void *experts_copied[3];
};

struct pd_hparams {
    enum pd_arch arch;
    const char *arch_name;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;       /* E */
    int32_t n_layer;
    int32_t n_head;       /* H */
    int32_t n_head_kv;    /* Hkv */
    int32_t head_dim;     /* D (key and value) */
    int32_t n_ff;         /* F */
    float rms_eps;
    int32_t n_expert;     /* X; 0 for a dense model */
    int32_t n_expert_used;/* K */
    int32_t n_ff_exp;     /* Fe */
    int32_t n_ff_shexp;   /* Fs (qwen2moe), 0 when there is no shared expert */
    bool expert_norm;     /* renormalize the K chosen weights to sum to 1 */
    bool qk_norm_full;    /* Q/K norms over the whole projection (olmoe), not per head */
    enum pd_gating gating;
    int32_t n_expert_groups;      /* group-limited routing: X experts in this many groups */
    int32_t n_expert_groups_used; /* of which the best this many are eligible */
    float expert_weights_scale;   /* the chosen weights are multiplied by it (1: none) */
    /* deepseek2 */
    int32_t n_dense_lead;  /* the first layers have a dense FFN */
    int32_t q_lora_rank;   /* Rq; 0 = plain attn_q */
    int32_t kv_lora_rank;  /* R, the latent width cached per token */
    int32_t head_dim_v;    /* Dv (MLA) */
    float kq_scale;        /* attention score scale (MLA: includes YaRN's mscale squared) */
    struct pd_rope rope;
    const char *rope_scaling; /* "none", "linear", "yarn" */
};

struct pd_model {
    struct pd_gguf *gguf;
    struct pd_hparams hp;
    struct pd_tokenizer *tok;
    const char *name;            /* general.name or the file name */
    char *name_owned;
    const char *chat_template;   /* tokenizer.chat_template or NULL */
    struct pd_weight tok_embd, output_norm, output;
    bool tied_output;
    float *rope_freqs;           /* n_rot/2, or NULL */
    struct pd_layer *layers;
    uint64_t n_params;
    struct pd_repack_arena *repacked; /* the memory of the repacked weights (model-repack.c) */
};

int pd_model_load(struct pd_model **out, const char *path, char *err);
void pd_model_free(struct pd_model *m);

struct pd_threadpool;

/* model-repack.c. Whether CPU contexts repack (PONDER_REPACK=0 in the environment says no). */
bool pd_model_repack_wanted(void);

/* Give every Q4_0 matrix product weight of layers [layer_first, layer_end), and the output head
 * when head is set, that can be repacked and is not yet, its repacked copy, written by pool's
 * threads into memory m owns; then release the file pages the copied rows came from
 * (pd_gguf_release_pages). Copies that would take more than half of the machine's memory are
 * not made. 0, or PD_ENOMEM with err set. Not while a forward pass or another pd_model_repack
 * runs on m. */
int pd_model_repack(struct pd_model *m, struct pd_threadpool *pool, int32_t layer_first,
                    int32_t layer_end, bool head, char *err);

/* Release the repacked copies (pd_model_free does it; the weights lose their packed pointers). */
void pd_model_repack_free(struct pd_model *m);

struct pd_context_params {
    int32_t n_ctx;       /* 0: the model's, capped at 4096 */
    int32_t n_batch;     /* tokens per forward pass in prefill (default 256) */
    int32_t n_threads;   /* 0: the number of online CPUs */
    bool logits_all;     /* keep logits for every token of a batch (tests, scoring) */
    bool precise;        /* float activations in the matrix products (kernels/cpu/matmul.h):
                            slower, reproduces a float reference to rounding */
    /* several devices (engine/split.h); all zero: the whole model in this one context */
    int32_t backend;     /* enum pd_backend: where the model runs (AUTO: pd_backend_resolve) */
    int32_t split;       /* enum pd_split_mode */
    int32_t n_devices;   /* ranks of an in-process group (> 1 with a split and no comm) */
    int32_t devices[PD_MAX_DEVICES]; /* the device of each rank (CUDA ids; labels on the CPU;
                                        -1 in a CUDA group: a rank on the CPU) */
    int32_t layers[PD_MAX_DEVICES];  /* a layer split's layers per rank (all 0: even shares) */
    int32_t n_gpu_layers;/* CUDA: the last n layers and the head on the GPU(s), the others on the
                            CPU (a layer split whose rank 0 is the CPU); -1 (the default): all */
    struct pd_comm *comm;/* this context is rank pd_comm_rank(comm) of a multi-process group; the
                            caller keeps comm and frees it after the context */
    /* LoRA adapters (engine/lora.h) the context loads and applies, CPU only; the paths need
     * live only through pd_context_new */
    int32_t n_lora;
    const char *lora_path[PD_MAX_LORA];
    float lora_scale[PD_MAX_LORA];
};

void pd_context_params_default(struct pd_context_params *p);

/* The context length p gives a context of m: p->n_ctx, or the model's capped at 4096. */
int32_t pd_context_params_n_ctx(const struct pd_model *m, const struct pd_context_params *p);

struct pd_context;

int pd_context_new(struct pd_context **out, struct pd_model *m,
                   const struct pd_context_params *p, char *err);
void pd_context_free(struct pd_context *ctx);

/* Evaluate n tokens at positions n_past.. and append them to the cache. PD_ERANGE (with a message
 * saying how many positions are left) when they do not fit; the cache is then unchanged. */
int pd_context_decode(struct pd_context *ctx, const int32_t *tokens, int32_t n, char *err);

/* Logits of the last token evaluated (n_vocab floats); with logits_all, of token i of the last
 * call to pd_context_decode. Valid until the next decode. */
const float *pd_context_logits(const struct pd_context *ctx, int32_t i);

/* Routing of token i of the last decode (i = -1: its last token); NULL for a dense model.
 * Valid until the next decode. */
const struct pd_routing *pd_context_routing(const struct pd_context *ctx, int32_t i);

/* Logits of the last token of the last decode, whatever logits_all says. */
const float *pd_context_last_logits(const struct pd_context *ctx);

struct pd_candidates;

/* The k likeliest tokens of the last token's logits, with the row's log-sum-exp and entropy
 * (struct pd_candidates, sampler.h; its arrays hold k, 1 <= k <= PD_CANDIDATES_MAX). On a GPU
 * they are chosen there and only they cross the bus. */
int pd_context_candidates(struct pd_context *ctx, int32_t k, struct pd_candidates *c, char *err);

/* While on, a GPU context leaves each decode's logits on the device (pd_generate samples from
 * candidates): pd_context_fetch_logits brings the last row over when the whole of it is needed,
 * before pd_context_logits may be read; turning it off fetches too. Nothing on the CPU. */
int pd_context_defer_logits(struct pd_context *ctx, bool on, char *err);
int pd_context_fetch_logits(struct pd_context *ctx, char *err);
struct pd_model *pd_context_model(const struct pd_context *ctx);

int32_t pd_context_n_past(const struct pd_context *ctx);
int32_t pd_context_n_ctx(const struct pd_context *ctx);
int32_t pd_context_n_threads(const struct pd_context *ctx);
/* Whether the products of ctx read Q4_0 weights repacked eight rows at a time (model-repack.c). */
bool pd_context_repacked(const struct pd_context *ctx);
/* Forget cached positions from pos on (pos = 0: start over). */
void pd_context_truncate(struct pd_context *ctx, int32_t pos);

#endif
