/*
 * model-impl.h: what engine/train/model*.c share: each layer's tensors as offsets into the flat
 * buffers, the activations a forward saves, the backward's scratch.
 */
#ifndef PD_TRAIN_MODEL_IMPL_H
#define PD_TRAIN_MODEL_IMPL_H

#include "engine/train/model.h"

/* Offsets (in floats) of a layer's tensors in params/grads; -1 when the layer has none. */
struct tm_layer {
    int64_t attn_norm, wq, wq_a, q_a_norm, wq_b, wkv_a, kv_a_norm, wk_b, wv_b, wo;
    int64_t ffn_norm, gate, up, down;          /* dense FFN */
    int64_t router, gate_exps, up_exps, down_exps;
    int64_t gate_sh, up_sh, down_sh;           /* shared experts */
    int moe;                                    /* index among MoE layers, or -1 */
};

/* What one layer's forward saves. */
struct tm_act {
    float *n1, *rstd1;                 /* attention input (normed), its rstd */
    float *qa, *rqa, *qan;             /* q_lora: the bottleneck, its rstd, normed */
    float *q;                          /* [N][H][Dn+Dr], RoPE applied */
    float *lat, *rl, *latn, *kpe;      /* the latent, its rstd, normed; the shared key (roped) */
    float *k, *v, *probs, *o;
    float *hmid;                       /* the residual stream between attention and FFN */
    float *n2, *rstd2;
    float *fg, *fu, *fa;               /* dense or shared SwiGLU: gate, up, activation */
    float *rlog, *rprob, *wts;         /* router logits, probabilities, chosen weights */
    int32_t *ids, *offset, *row_token, *token_row;
    float *rx, *eg, *eu, *ea, *ey;     /* expert rows: gathered input, gate, up, act, output */
};

struct tm_priv {
    struct tm_layer *layers;
    int64_t tok_embd, output_norm, output;   /* output: -1 when tied */
    /* saved by the forward, sized for B x T */
    int B, T;
    bool have_forward;
    void **allocs;                      /* everything below, freed together */
    int n_allocs, cap_allocs;
    struct tm_act *act;
    float **h;                          /* [n_layer + 1] the residual stream at each layer */
    float *xf, *rstdf, *logits, *logp, *lse, *tmp;
    int32_t *tokens, *targets, *pos;
    int64_t count;
    /* backward scratch */
    float *dres, *dn, *dO, *dq, *dk, *dv, *dlatn, *dlat, *dkpe, *dqan, *dqa;
    float *dfa, *dfg, *dfu, *dey, *dea, *deg, *deu, *drx, *dwts, *drlog, *dlogits, *dxf;
    /* export: attn_k_b in GGUF's layout, one per layer */
    float *kb_export;
};

static inline struct tm_priv *
tm_priv(const struct pd_tmodel *m)
{
    return (struct tm_priv *)m->priv;
}

/* Free the saved activations and scratch (model-fwd.c). */
void pd_tmodel_free_acts(struct pd_tmodel *m);

#endif
