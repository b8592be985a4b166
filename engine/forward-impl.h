/*
 * forward-impl.h: what the files of the forward pass share: the context itself and the helpers
 * every op uses. Not for use outside engine/forward*.c and engine/moe.c.
 */
#ifndef PD_FORWARD_IMPL_H
#define PD_FORWARD_IMPL_H

#include "engine/lora.h"
#include "engine/model.h"
#include "kernels/cpu/threadpool.h"

/* Scratch of the MoE layers, planned for n_batch tokens (B) routed to K experts each. */
struct pd_moe_scratch {
    int32_t n_layers;           /* MoE layers (Lm) */
    int32_t *layer_of;          /* [Lm] model layer of each */
    int32_t *index_of;          /* [n_layer] MoE index of each layer, -1 for a dense one */
    float *probs;               /* [B][X] router logits, then probabilities */
    float *sel;                 /* [B][X] selection scores: probabilities plus bias, masked */
    int32_t *ids;               /* [B][Lm][K] the routing trace of the batch */
    float *weights;             /* [B][Lm][K] */
    float *entropy;             /* [B][Lm] */
    struct pd_routing *routing; /* [B] views of the trace, one per token */
    int32_t *count;             /* [X] tokens per expert in this layer */
    int32_t *offset;            /* [X + 1] first gathered row of each expert */
    int32_t *row_token;         /* [B*K] the token of each gathered row */
    int32_t *token_row;         /* [B][K] the gathered row of each (token, choice) */
    float *rx;                  /* [B*K][E] gathered inputs */
    float *rgate, *rup;         /* [B*K][Fe] */
    float *rout;                /* [B*K][E] expert outputs */
    float *sgate, *sup, *sout;  /* shared expert: [B][Fs], [B][Fs], [B][E] */
    float *sg;                  /* [B] shared expert's sigmoid gate */
};

/* Scratch of multi-head latent attention (deepseek2), planned for n_batch tokens (B). */
struct pd_mla_scratch {
    float *qa;      /* [B][Rq] the query's low-rank bottleneck */
    float *qn;      /* [H][B][Dn] the no-RoPE parts of the queries, head-major */
    float *qabs;    /* [B][H][R+Dr] queries in latent space, with their RoPE parts */
    float *olat;    /* [H][B][R] attention outputs in latent space, head-major */
};

/* This context's share of the model when it is one rank of a split (engine/split.c). For the
 * whole model: no comm, every layer and expert, the embedding and the head. */
struct pd_part {
    struct pd_comm *comm;               /* NULL: unsplit */
    int mode;                           /* enum pd_split_mode */
    int32_t layer_first, layer_end;     /* layers [first, end) run here, and are cached here */
    int32_t layers[PD_MAX_DEVICES];     /* a layer split's layers per rank (all 0: even) */
    int32_t expert_first, expert_end;   /* experts [first, end) whose products run here */
    bool embed, head;                   /* this rank embeds the tokens, computes the logits */
    float *moe_out;                     /* [B][E] expert split: this rank's share of an output */
    float *host;                        /* [B][E] a CUDA rank's host staging for exchanges that
                                           do not take device memory (forward-cuda.c) */
    int32_t *tokens;                    /* a follower's copy of the tokens of a decode */
    size_t tokens_cap;
    bool live;                          /* fully made: its group may be told to stop */
    int status;                         /* the first collective that failed inside a pass */
    void *statuses;                     /* [size] what each rank said of the last batch */
    char err[PD_ERR_MAX];
    struct pd_split_group *group;       /* the driver of an in-process group: the other ranks */
};

struct pd_cuda_ctx;

struct pd_context {
    struct pd_model *m;
    int backend;                /* enum pd_backend: where this context runs */
    struct pd_cuda_ctx *cuda;   /* the device side of a CUDA context (forward-cuda.c); the CPU
                                   scratch below is then unallocated but for logits and the
                                   routing trace */
    char backend_note[PD_ERR_MAX]; /* why this backend (pd_context_backend) */
    struct pd_threadpool *pool;
    int32_t n_ctx, n_batch, n_past;
    bool logits_all;

    float *k_cache, *v_cache;   /* [n_layer][n_ctx][Hkv*D] */

    /* scratch, planned for n_batch tokens */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    float *rope_cs;             /* [n_batch][n_rot] */
    float *scores;              /* [n_threads][n_ctx] */
    float *wbuf;                /* [n_threads][widest row], precise mode only */
    bool precise;
    bool repack;                /* the products read the repacked weights (pd_model_repack) */
    void *xq;                   /* quantized activations */
    float *logits;              /* [n_batch or 1][n_vocab] */
    int32_t n_logits;
    bool device_sampling;       /* CUDA: candidates chosen on the device (PONDER_CUDA_SAMPLE) */
    bool defer_logits;          /* CUDA: decode leaves the logits on the device */
    bool logits_pending;        /* and the host's copy is stale until fetched */

    /* the batch being evaluated */
    const int32_t *tokens;
    int32_t T;

    struct pd_moe_scratch moe;  /* mixture-of-experts layers; zeroed for a dense model */
    struct pd_mla_scratch mla;  /* latent attention; zeroed for other architectures */
    struct pd_part part;        /* the share of a split; the whole model otherwise */
    struct pd_lora *lora[PD_MAX_LORA];  /* adapters applied beside the products (lora-fwd.c) */
    int n_lora;
    float *lora_u;              /* [n_batch][largest rank] */
};


#define BARRIER() pd_threadpool_barrier(c->pool)

/* y[T][ldy] = W x for up to three weights sharing the input x[T][n_in] (forward.c). */
void pd_fwd_project(struct pd_context *c, int ith, int nth, int n, float *const *ys,
                    const int64_t *ldys, const struct pd_weight *const *ws, const float *x,
                    int64_t T);

/* Expert e's repacked copy of w for this context's products, or NULL: the rows then. */
static inline const void *
pd_fwd_packed(const struct pd_context *c, const struct pd_weight *w, int64_t e)
{
    return c->repack ? pd_weight_packed(w, e) : NULL;
}

/* Floats in one token's row of the K cache (MLA: latent plus shared RoPE key). */
int64_t pd_fwd_kv_row(const struct pd_hparams *hp);

/* Evaluate T <= n_batch tokens at n_past (forward.c): one pass over this context's layers, the
 * embedding and the head where this context holds them. n_past is the caller's to advance. */
void pd_fwd_run(struct pd_context *c, const int32_t *tokens, int32_t T);

/* Offset of layer il's rows in the KV cache, which holds only this context's layers. */
static inline size_t
pd_fwd_cache_layer(const struct pd_context *c, int il)
{
    return (size_t)(il - c->part.layer_first) * (size_t)c->n_ctx;
}

/* mla.c: plan and release the MLA scratch (a no-op for other architectures). */
int pd_mla_alloc(struct pd_context *c, char *err);
void pd_mla_free(struct pd_context *c);

/* mla.c: attention of layer il over T tokens, all threads: reads c->xn, writes c->att
 * [T][H*Dv] (the input of the output projection), appends to the cache. */
void pd_mla_attention(struct pd_context *c, const struct pd_layer *l, int il, int ith, int nth,
                      int64_t T);

/* y[T][ldy] = W x for one weight (forward.c). */
void pd_fwd_project1(struct pd_context *c, int ith, int nth, float *y, int64_t ldy,
                     const struct pd_weight *w, const float *x, int64_t T);

/* This thread's precise-mode weight buffer, or NULL (forward.c). */
float *pd_fwd_wbuf(struct pd_context *c, int ith);

/* The widest activation row of the model: the size quantized scratch rows are planned for. */
int64_t pd_fwd_widest_row(const struct pd_model *m);

/* lora-fwd.c: load the adapters p names and plan their scratch (nothing without adapters);
 * release them (NULL-safe parts); add every adapter's share to y[T][ldy] = W x, all threads. */
int pd_lora_ctx_init(struct pd_context *c, const struct pd_context_params *p, char *err);
void pd_lora_ctx_free(struct pd_context *c);
void pd_lora_apply(struct pd_context *c, int ith, int nth, float *y, int64_t ldy,
                   const struct pd_weight *w, const float *x, int64_t T);

/* moe.c: plan and release the MoE scratch (a no-op for a dense model): the routing trace and the
 * grouping by expert, and with compute the buffers of the CPU's own products (a CUDA context
 * keeps those on its device). */
int pd_moe_alloc(struct pd_context *c, bool compute, char *err);
void pd_moe_free(struct pd_context *c);

/* moe.c: the FFN of MoE layer il over T tokens, all threads: reads c->xn (normed input), adds the
 * result to c->x, and records the routing of each token. */
void pd_moe_forward(struct pd_context *c, const struct pd_layer *l, int il, int ith, int nth,
                    int64_t T);

/* forward-cuda.c: the whole model on one CUDA device. _supported: 0, or PD_EUNSUPPORTED with
 * what stops it (a weight type without a CUDA kernel, a shape the kernels do not take). _new makes
 * c->cuda for device dev (uploads the weights, plans the cache and activations, the host trace and
 * logits); _free releases it (NULL-safe); _decode evaluates n tokens as pd_context_decode. */
int pd_cuda_fwd_supported(const struct pd_model *m, char *err);
int pd_cuda_fwd_new(struct pd_context *c, int dev, char *err);
void pd_cuda_fwd_free(struct pd_context *c);
int pd_cuda_fwd_decode(struct pd_context *c, const int32_t *tokens, int32_t n, char *err);
/* One batch of T <= n_batch tokens at n_past, this context's share of it (n_past is the caller's
 * to advance), and a pipeline hand-off of the hidden state of T tokens to or from rank peer. */
int pd_cuda_fwd_batch(struct pd_context *c, const int32_t *tokens, int32_t T, char *err);
int pd_cuda_fwd_move_hidden(struct pd_context *c, int32_t T, int peer, bool send, char *err);
int pd_cuda_fwd_device(const struct pd_context *c);
/* forward-cuda.c: the deferred last logits row to the host; the candidates of the last row,
 * chosen on the device (struct pd_candidates, sampler.h). */
int pd_cuda_fwd_fetch_logits(struct pd_context *c, char *err);
int pd_cuda_fwd_candidates(struct pd_context *c, int32_t k, struct pd_candidates *out, char *err);

#endif
