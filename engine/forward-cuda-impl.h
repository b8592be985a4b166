/*
 * forward-cuda-impl.h: the device side of a CUDA context, shared by the two files that make it
 * (forward-cuda-setup.c: what runs there, allocation, freeing) and run it (forward-cuda.c: the
 * forward pass, sampling candidates).
 */
#ifndef PD_FORWARD_CUDA_IMPL_H
#define PD_FORWARD_CUDA_IMPL_H

#include "engine/forward-impl.h"
#include "engine/weight-plan.h"
#include "kernels/backend.h"

#define MAX_DEV_BUFFERS 48

struct pd_cuda_ctx {
    struct pd_cuda_exec *x;
    int dev;
    /* the share of the GGUF data section this context reads, on the device (the plan places
     * each span), and where the section starts in the host map */
    uint8_t *weights;
    struct pd_weight_plan plan;
    const uint8_t *host_base;
    float *freq_factors;          /* rope_freqs, or NULL */
    float *k_cache, *v_cache;     /* [n_layer][n_ctx][kv row]; MLA: no v_cache */
    /* activations for n_batch tokens (B), as struct pd_context's CPU scratch */
    float *x_, *xn, *q, *k, *v, *att, *gate, *up, *logits;
    int32_t *tokens, *pos;
    /* MoE: router logits [B][X], the choice [B][K], the gathered rows [B*K] */
    float *probs, *rw, *rh, *rx, *rgate, *rup, *rout, *sgate, *sup, *sout, *sg;
    float *moe_part;   /* [B][E] an expert split's share of an MoE output, summed over ranks */
    int32_t sums;      /* the sums over ranks this batch has joined (an expert split) */
    int32_t *ids, *row_token, *token_row;
    /* MLA: query bottleneck [B][Rq], queries in latent space [B][H][R+Dr], outputs [B][H][R] */
    float *qa, *qabs, *olat;
    /* the decode step: every MoE layer's choice [layer][K] (read back after the step), and a lone
     * token's rows 0..K-1 for the combine */
    int32_t *step_ids, *step_rows;
    float *step_w, *step_h;
    bool record, recorded; /* replay a recorded decode step; one is recorded */
    /* host staging of one MoE layer's choice */
    int32_t *h_ids, *h_pos;
    float *h_w, *h_h;
    /* sampling on the device: the last row's candidates (struct pd_cuda_candidates), the two
     * stages' scratch, and the host copy of the candidates */
    uint8_t *cand, *cand_scratch;
    void *h_cand;
    void *bufs[MAX_DEV_BUFFERS];
    int n_bufs;
};

/* A device call failed; its message is in err. */
#define CK(call)                       \
    do {                               \
        if ((call) != 0)               \
            return PD_EIO;             \
    } while (0)

/* The router's parameters as the kernels take them. */
static inline struct pd_cuda_router
pd_cuda_fwd_router(const struct pd_hparams *hp)
{
    return (struct pd_cuda_router){
        .n_expert = hp->n_expert, .n_used = hp->n_expert_used,
        .n_groups = hp->n_expert_groups, .n_groups_used = hp->n_expert_groups_used,
        .sigmoid = hp->gating == PD_GATING_SIGMOID, .norm = hp->expert_norm,
        .scale = hp->expert_weights_scale,
    };
}

#endif
