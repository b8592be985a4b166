/*
 * forward-cuda.c: the whole-model forward pass on one CUDA device, behind the same pd_context as
 * the CPU's (forward.c), so pd_context_decode, _logits, _routing and _truncate work unchanged.
 *
 * Where things live. At context creation the GGUF's tensor data section is copied to the device
 * once, as it is in the file (every weight keeps its GGUF format; a weight's device address is
 * the section's device copy plus the weight's offset in the host map, so a tied output head or a
 * fused gate-and-up expert tensor needs nothing special). The KV cache (MLA: the latent cache),
 * the activations of a batch of n_batch tokens and the logits rows live on the device too; host
 * memory holds only what callers read: the logits and the routing trace.
 *
 * One batch (T tokens at n_past) is one stream of device ops mirroring forward.c, mla.c and moe.c
 * op for op, in their order and with their scales (kernels/backend.h, pd_cuda_dev_*):
 *
 *   upload tokens and positions; embed
 *   per layer: rmsnorm; attention (q/k/v products, biases, Q/K norms, RoPE, K and V into the
 *              cache, fused attention; or MLA in the absorbed form); output product, bias,
 *              residual; rmsnorm; dense SwiGLU FFN, or the MoE layer
 *   head: final rmsnorm of the rows whose logits are wanted, output product, logits to the host
 *
 * In a batch of several tokens a MoE layer runs its router on the device and then waits once:
 * the chosen ids, weights and entropy come back to the host (they are the routing trace, which
 * pd_context_routing serves as on the CPU), the host groups the (token, choice) pairs by expert
 * as moe.c does, and the per-expert products are launched over contiguous gathered rows.
 * Everything else is queued without waiting. Activations are F32 throughout: the weights are
 * dequantized in the products (the CPU's --precise arithmetic), so logits agree with the CPU's
 * precise mode to rounding.
 *
 * The decode step (one token) never waits inside: its experts' products read the router's choice
 * on the device (pd_cuda_dev_matvec_experts), each MoE layer's choice goes to its own slot, and
 * the KV cache rows and attention lengths follow the position held on the device. So the whole
 * step does the same work at every position: it is recorded once (a CUDA graph) and replayed,
 * one launch a token instead of hundreds; the logits and the routing trace come back after it.
 * PONDER_CUDA_GRAPHS=0 launches the step's ops one by one instead.
 *
 * Sampling (pd_generate) defers the logits: they stay on the device and the step's sampling
 * candidates, the row's log-sum-exp and entropy and its k best logits (a few hundred bytes
 * against 600 KB for V3's vocabulary), are chosen there and come back in one copy; the whole row
 * follows only when the sampler needs it (top-k off). PONDER_CUDA_SAMPLE=0 samples on the host.
 *
 * In a split (engine/split.h) each rank is a context of this file on its own device, holding only
 * its share of the weights (engine/weight-plan.h): a pipeline stage runs its layers, from the
 * hidden state the previous stage sent (pd_cuda_fwd_move_hidden); an expert-parallel rank runs
 * everything but the products of other ranks' experts (zeros in their place) and sums each MoE
 * output over the ranks. Collectives take device buffers in place over NCCL, or go through the
 * host when the ranks share a device (the in-process communicator). An expert split's decode
 * step is not recorded: its collectives run between the step's kernels.
 *
 * PONDER_CUDA_HALF=1 runs prefill's products in half precision (F16, or BF16 for BF16 weights,
 * accumulated in F32, on tensor cores); by default they are F32, as described above.
 */
#include "config.h"

#include "engine/forward-cuda-impl.h"
#include "engine/comm.h"
#include "engine/sampler.h"

#include <string.h>

/* ---- the forward pass ---- */

/* The device address of weight bytes at host in the file's map. */
static const void *
dw_at(const struct pd_cuda_ctx *g, const void *host)
{
    size_t at = pd_weight_plan_find(&g->plan, (size_t)((const uint8_t *)host - g->host_base));
    PD_ASSERT(at != SIZE_MAX);   /* the plan holds every weight this context's share reads */
    return g->weights + at;
}

/* The device address of a weight (NULL for an absent one). */
static const void *
dw(const struct pd_cuda_ctx *g, const struct pd_weight *w)
{
    return w->data ? dw_at(g, w->data) : NULL;
}

/* Expert (or head) e's matrix of a 3-d weight. */
static const void *
dw_slice(const struct pd_cuda_ctx *g, const struct pd_weight *w, int64_t e)
{
    return dw_at(g, (const uint8_t *)w->data + (size_t)e * w->expert_stride);
}

/* ---- a split's collectives on device buffers ---- */

enum { XCHG_SEND, XCHG_RECV, XCHG_SUM };

/* A split's send, receive or sum over ranks of n floats of device buffer buf: in place when the
 * communicator moves device memory (NCCL), else through c->part.host (the in-process
 * communicator: ranks that share a device, or a build without NCCL). The stream is drained
 * first, since the collective runs beside it. */
static int
exchange(struct pd_context *c, int op, float *buf, size_t n, int peer, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    struct pd_comm *comm = c->part.comm;
    size_t bytes = sizeof(float) * n;
    float *at = buf;
    int rc;
    CK(pd_cuda_exec_sync(g->x, "the work before a split's exchange", err, PD_ERR_MAX));
    if (pd_comm_device(comm) != g->dev) {
        PD_ASSERT(n <= (size_t)c->n_batch * (size_t)c->m->hp.n_embd);
        at = c->part.host;
        if (op != XCHG_RECV)
            CK(pd_cuda_dev_download(g->x, at, buf, bytes, "a split's exchange", err,
                                    PD_ERR_MAX));
    }
    rc = op == XCHG_SEND ? pd_comm_send(comm, at, bytes, peer, err)
       : op == XCHG_RECV ? pd_comm_recv(comm, at, bytes, peer, err)
                         : pd_comm_all_reduce_sum(comm, at, n, err);
    if (rc == 0 && at != buf && op != XCHG_SEND)
        CK(pd_cuda_dev_upload(g->x, buf, at, bytes, "a split's exchange", err, PD_ERR_MAX));
    return rc;
}

/* y[T][ldy] = W in[T][ldx] for a whole weight. */
static int
project(struct pd_cuda_ctx *g, float *y, int64_t ldy, const struct pd_weight *w, const float *in,
        int64_t ldx, int64_t T, char *err)
{
    return pd_cuda_dev_matmul(g->x, y, ldy, dw(g, w), w->type, in, ldx, w->ne[0], w->ne[1], T,
                              err, PD_ERR_MAX);
}

static int
add_bias(struct pd_cuda_ctx *g, float *y, const struct pd_weight *b, int64_t T, char *err)
{
    if (b->data == NULL)
        return 0;
    return pd_cuda_dev_add(g->x, y, dw(g, b), 0, T, b->ne[0], err, PD_ERR_MAX);
}

static int
rmsnorm(struct pd_cuda_ctx *g, float *out, int64_t ld_out, const float *in, int64_t ld_in,
        const struct pd_weight *w, int64_t rows, int64_t n, float eps, char *err)
{
    return pd_cuda_dev_rmsnorm(g->x, out, ld_out, in, ld_in, dw(g, w), rows, n, eps, err,
                               PD_ERR_MAX);
}

static int
rope(struct pd_context *c, float *xs, int64_t ld, int64_t T, int n_heads, int D, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    return pd_cuda_dev_rope(g->x, xs, ld, g->pos, &c->m->hp.rope, g->freq_factors, T, n_heads, D,
                            err, PD_ERR_MAX);
}

/* Layer il's rows of the cache (row width rw); a token's row is its position. */
static float *
cache_layer(const struct pd_context *c, float *cache, int il, int64_t rw)
{
    return cache + pd_fwd_cache_layer(c, il) * (size_t)rw;
}

/* forward.c's attention: q, k, v products, biases, Q/K norms, RoPE, the cache, attention. */
static int
attention(struct pd_context *c, const struct pd_layer *l, int il, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_hparams *hp = &c->m->hp;
    int D = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
    int64_t HD = (int64_t)H * D, KD = (int64_t)Hkv * D, E = hp->n_embd;
    float eps = hp->rms_eps;
    CK(project(g, g->q, HD, &l->wq, g->xn, E, T, err));
    CK(project(g, g->k, KD, &l->wk, g->xn, E, T, err));
    CK(project(g, g->v, KD, &l->wv, g->xn, E, T, err));
    CK(add_bias(g, g->q, &l->bq, T, err));
    CK(add_bias(g, g->k, &l->bk, T, err));
    CK(add_bias(g, g->v, &l->bv, T, err));
    if (l->q_norm.data && hp->qk_norm_full) {
        CK(rmsnorm(g, g->q, HD, g->q, HD, &l->q_norm, T, HD, eps, err));
        CK(rmsnorm(g, g->k, KD, g->k, KD, &l->k_norm, T, KD, eps, err));
    } else if (l->q_norm.data) {
        CK(rmsnorm(g, g->q, D, g->q, D, &l->q_norm, T * H, D, eps, err));
        CK(rmsnorm(g, g->k, D, g->k, D, &l->k_norm, T * Hkv, D, eps, err));
    }
    CK(rope(c, g->q, HD, T, H, D, err));
    CK(rope(c, g->k, KD, T, Hkv, D, err));
    float *kc = cache_layer(c, g->k_cache, il, KD), *vc = cache_layer(c, g->v_cache, il, KD);
    CK(pd_cuda_dev_kv_store(g->x, kc, KD, g->k, KD, KD, g->pos, T, err, PD_ERR_MAX));
    CK(pd_cuda_dev_kv_store(g->x, vc, KD, g->v, KD, KD, g->pos, T, err, PD_ERR_MAX));
    struct pd_cuda_attn a = {
        .T = T, .n_kv = c->n_past + T, .H = H, .Hkv = Hkv, .D = D, .Dv = D,
        .k_stride = KD, .v_stride = KD, .scale = hp->kq_scale, .pos = g->pos,
    };
    CK(pd_cuda_dev_attention(g->x, g->att, g->q, kc, vc, &a, err, PD_ERR_MAX));
    return 0;
}

/* mla.c's latent attention in the absorbed form: reads xn, writes att [T][H*Dv]. */
static int
mla_attention(struct pd_context *c, const struct pd_layer *l, int il, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_hparams *hp = &c->m->hp;
    int64_t H = hp->n_head, Dk = hp->head_dim, Dr = hp->rope.n_rot, Dn = Dk - Dr;
    int64_t R = hp->kv_lora_rank, KR = R + Dr, Dv = hp->head_dim_v, E = hp->n_embd;
    int64_t Rq = hp->q_lora_rank;
    float eps = hp->rms_eps;
    if (Rq == 0) {
        CK(project(g, g->q, H * Dk, &l->wq, g->xn, E, T, err));
        CK(project(g, g->k, KR, &l->wkv_a, g->xn, E, T, err));
    } else {
        CK(project(g, g->qa, Rq, &l->wq_a, g->xn, E, T, err));
        CK(project(g, g->k, KR, &l->wkv_a, g->xn, E, T, err));
        CK(rmsnorm(g, g->qa, Rq, g->qa, Rq, &l->q_a_norm, T, Rq, eps, err));
        CK(project(g, g->q, H * Dk, &l->wq_b, g->qa, Rq, T, err));
    }
    /* the latent is normed, the shared k_pe and every head's q_pe rotated (prepare_token) */
    CK(rmsnorm(g, g->k, KR, g->k, KR, &l->kv_a_norm, T, R, eps, err));
    CK(rope(c, g->k + R, KR, T, 1, (int)Dr, err));
    CK(rope(c, g->q + Dn, H * Dk, T, (int)H, (int)Dk, err));
    float *kc = cache_layer(c, g->k_cache, il, KR);
    CK(pd_cuda_dev_kv_store(g->x, kc, KR, g->k, KR, KR, g->pos, T, err, PD_ERR_MAX));
    /* q_abs = [k_b[h] . q_nope[h] | q_pe[h]] per token and head */
    CK(pd_cuda_dev_copy2d(g->x, g->qabs + R, KR, g->q + Dn, Dk, T * H, Dr, err, PD_ERR_MAX));
    for (int64_t h = 0; h < H; h++)
        CK(pd_cuda_dev_matmul(g->x, g->qabs + h * KR, H * KR, dw_slice(g, &l->wk_b, h),
                              l->wk_b.type, g->q + h * Dk, H * Dk, Dn, R, T, err, PD_ERR_MAX));
    /* one key head of R + Dr floats per position, whose first R are also the value */
    struct pd_cuda_attn a = {
        .T = T, .n_kv = c->n_past + T, .H = (int)H, .Hkv = 1, .D = (int)KR, .Dv = (int)R,
        .k_stride = KR, .v_stride = KR, .scale = hp->kq_scale, .pos = g->pos,
    };
    CK(pd_cuda_dev_attention(g->x, g->olat, g->qabs, kc, kc, &a, err, PD_ERR_MAX));
    for (int64_t h = 0; h < H; h++)
        CK(pd_cuda_dev_matmul(g->x, g->att + h * Dv, H * Dv, dw_slice(g, &l->wv_b, h),
                              l->wv_b.type, g->olat + h * R, H * R, R, Dv, T, err, PD_ERR_MAX));
    return 0;
}

/* moe.c's step 3 on the host, from the trace of MoE layer im: rows grouped by expert. */
static int
group_by_expert(struct pd_context *c, int im, int64_t T, char *err)
{
    struct pd_moe_scratch *s = &c->moe;
    int32_t X = c->m->hp.n_expert, K = c->m->hp.n_expert_used;
    memset(s->count, 0, sizeof(int32_t) * (size_t)X);
    for (int64_t t = 0; t < T; t++)
        for (int32_t k = 0; k < K; k++) {
            int32_t e = s->ids[((size_t)t * s->n_layers + im) * K + k];
            if (e < 0 || e >= X)
                return pd_errorf(err, PD_EIO, "the device router chose expert %d of %d", e, X);
            s->count[e]++;
        }
    s->offset[0] = 0;
    for (int32_t e = 0; e < X; e++)
        s->offset[e + 1] = s->offset[e] + s->count[e];
    memset(s->count, 0, sizeof(int32_t) * (size_t)X);
    for (int64_t t = 0; t < T; t++)
        for (int32_t k = 0; k < K; k++) {
            int32_t e = s->ids[((size_t)t * s->n_layers + im) * K + k];
            int32_t row = s->offset[e] + s->count[e]++;
            s->row_token[row] = (int32_t)t;
            s->token_row[t * K + k] = row;
        }
    return 0;
}

/* The router on the device, its choice into the host trace, and the grouping to the device. */
static int
route(struct pd_context *c, const struct pd_layer *l, int im, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    struct pd_moe_scratch *s = &c->moe;
    const struct pd_hparams *hp = &c->m->hp;
    int64_t K = hp->n_expert_used, X = hp->n_expert, E = hp->n_embd;
    struct pd_cuda_router r = pd_cuda_fwd_router(hp);
    CK(project(g, g->probs, X, &l->ffn_gate_inp, g->xn, E, T, err));
    CK(pd_cuda_dev_moe_route(g->x, g->ids, g->rw, g->rh, g->probs, dw(g, &l->exp_probs_b), T, &r,
                             err, PD_ERR_MAX));
    CK(pd_cuda_dev_download(g->x, g->h_ids, g->ids, sizeof(int32_t) * (size_t)(T * K),
                            "the routing", err, PD_ERR_MAX));
    CK(pd_cuda_dev_download(g->x, g->h_w, g->rw, sizeof(float) * (size_t)(T * K),
                            "the routing", err, PD_ERR_MAX));
    CK(pd_cuda_dev_download(g->x, g->h_h, g->rh, sizeof(float) * (size_t)T, "the routing", err,
                            PD_ERR_MAX));
    for (int64_t t = 0; t < T; t++) {
        size_t at = ((size_t)t * s->n_layers + (size_t)im) * (size_t)K;
        memcpy(s->ids + at, g->h_ids + t * K, sizeof(int32_t) * (size_t)K);
        memcpy(s->weights + at, g->h_w + t * K, sizeof(float) * (size_t)K);
        s->entropy[(size_t)t * s->n_layers + im] = g->h_h[t];
    }
    int rc = group_by_expert(c, im, T, err);
    if (rc)
        return rc;
    CK(pd_cuda_dev_upload(g->x, g->row_token, s->row_token, sizeof(int32_t) * (size_t)(T * K),
                          "the expert grouping", err, PD_ERR_MAX));
    CK(pd_cuda_dev_upload(g->x, g->token_row, s->token_row, sizeof(int32_t) * (size_t)(T * K),
                          "the expert grouping", err, PD_ERR_MAX));
    return 0;
}

/* out rows of every expert with tokens = W_e . in rows of that expert (moe.c's step 5). */
static int
experts_product(struct pd_context *c, float *out, const struct pd_weight *w, const float *in,
                char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_moe_scratch *s = &c->moe;
    int64_t n_in = w->ne[0], n_out = w->ne[1];
    for (int32_t e = c->part.expert_first; e < c->part.expert_end; e++) {
        int32_t first = s->offset[e], rows = s->offset[e + 1] - first;
        if (rows == 0)
            continue;
        CK(pd_cuda_dev_matmul(g->x, out + (int64_t)first * n_out, n_out, dw_slice(g, w, e),
                              w->type, in + (int64_t)first * n_in, n_in, n_in, n_out, rows, err,
                              PD_ERR_MAX));
    }
    return 0;
}

/* The decode step's products of the chosen experts: out + k ld_out = W[ids[k]] . (in + k ld_in),
 * the choice read on the device; zeros for an expert another rank holds. */
static int
experts_decode(struct pd_context *c, float *out, int64_t ld_out, const struct pd_weight *w,
               const int32_t *ids, int K, const float *in, int64_t ld_in, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_part *pt = &c->part;
    return pd_cuda_dev_matvec_experts(g->x, out, ld_out, dw_slice(g, w, pt->expert_first),
                                      w->type, w->expert_stride, ids, K, pt->expert_first,
                                      pt->expert_end, in, ld_in, w->ne[0], w->ne[1], err,
                                      PD_ERR_MAX);
}

/* An expert split's MoE sum: this rank's experts' weighted outputs summed over ranks, then
 * added to x, then the shared expert (replicated on every rank), as split.c's
 * pd_split_moe_reduce does on the CPU. */
static int
moe_combine_split(struct pd_context *c, const int32_t *token_row, const float *weights,
                  const float *sout, const float *sg, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    int64_t E = c->m->hp.n_embd;
    int K = c->m->hp.n_expert_used;
    CK(pd_cuda_dev_zero(g->x, g->moe_part, sizeof(float) * (size_t)(T * E), err, PD_ERR_MAX));
    CK(pd_cuda_dev_moe_combine(g->x, g->moe_part, g->rout, token_row, weights, K, NULL, NULL, T,
                               E, err, PD_ERR_MAX));
    g->sums++;
    int rc = exchange(c, XCHG_SUM, g->moe_part, (size_t)(T * E), 0, err);
    if (rc)
        return rc;
    CK(pd_cuda_dev_add(g->x, g->x_, g->moe_part, E, T, E, err, PD_ERR_MAX));
    if (sout)
        CK(pd_cuda_dev_moe_combine(g->x, g->x_, NULL, NULL, NULL, 0, sout, sg, T, E, err,
                                   PD_ERR_MAX));
    return 0;
}

/* moe.c's pd_moe_forward: reads xn, adds to x, records the routing. */
static int
moe_forward(struct pd_context *c, const struct pd_layer *l, int il, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_hparams *hp = &c->m->hp;
    int64_t E = hp->n_embd, Fe = hp->n_ff_exp, K = hp->n_expert_used, Fs = hp->n_ff_shexp;
    int im = c->moe.index_of[il];
    const int32_t *token_row;
    const float *weights;
    if (T == 1) {
        /* the decode step: the choice stays on the device, in this layer's slot */
        struct pd_cuda_router r = pd_cuda_fwd_router(hp);
        int32_t *ids = g->step_ids + (int64_t)im * K;
        float *w = g->step_w + (int64_t)im * K;
        CK(project(g, g->probs, hp->n_expert, &l->ffn_gate_inp, g->xn, E, 1, err));
        CK(pd_cuda_dev_moe_route(g->x, ids, w, g->step_h + im, g->probs,
                                 dw(g, &l->exp_probs_b), 1, &r, err, PD_ERR_MAX));
        CK(experts_decode(c, g->rgate, Fe, &l->ffn_gate_exps, ids, (int)K, g->xn, 0, err));
        CK(experts_decode(c, g->rup, Fe, &l->ffn_up_exps, ids, (int)K, g->xn, 0, err));
        CK(pd_cuda_dev_swiglu(g->x, g->rgate, g->rgate, g->rup, K * Fe, err, PD_ERR_MAX));
        CK(experts_decode(c, g->rout, E, &l->ffn_down_exps, ids, (int)K, g->rgate, Fe, err));
        token_row = g->step_rows;
        weights = w;
    } else {
        int rc = route(c, l, im, T, err);
        if (rc)
            return rc;
        CK(pd_cuda_dev_gather(g->x, g->rx, g->xn, g->row_token, T * K, E, err, PD_ERR_MAX));
        if (c->part.mode == PD_SPLIT_EXPERT)   /* the rows of other ranks' experts stay zeros */
            CK(pd_cuda_dev_zero(g->x, g->rout, sizeof(float) * (size_t)(T * K * E), err,
                                PD_ERR_MAX));
        CK(experts_product(c, g->rgate, &l->ffn_gate_exps, g->rx, err));
        CK(experts_product(c, g->rup, &l->ffn_up_exps, g->rx, err));
        CK(pd_cuda_dev_swiglu(g->x, g->rgate, g->rgate, g->rup, T * K * Fe, err, PD_ERR_MAX));
        CK(experts_product(c, g->rout, &l->ffn_down_exps, g->rgate, err));
        token_row = g->token_row;
        weights = g->rw;
    }
    const float *sout = NULL, *sg = NULL;
    if (l->ffn_gate_shexp.data) {
        CK(project(g, g->sgate, Fs, &l->ffn_gate_shexp, g->xn, E, T, err));
        CK(project(g, g->sup, Fs, &l->ffn_up_shexp, g->xn, E, T, err));
        CK(pd_cuda_dev_swiglu(g->x, g->sgate, g->sgate, g->sup, T * Fs, err, PD_ERR_MAX));
        CK(project(g, g->sout, E, &l->ffn_down_shexp, g->sgate, Fs, T, err));
        sout = g->sout;
        if (l->ffn_gate_inp_shexp.data) {   /* Qwen2-MoE's sigmoid gate; DeepSeek's is 1 */
            /* the gate is one f32 row of E: its product gives the logit, the combine its sigmoid */
            CK(pd_cuda_dev_matmul(g->x, g->sg, 1, dw(g, &l->ffn_gate_inp_shexp), PD_TYPE_F32,
                                  g->xn, E, E, 1, T, err, PD_ERR_MAX));
            sg = g->sg;
        }
    }
    if (c->part.mode == PD_SPLIT_EXPERT)
        return moe_combine_split(c, token_row, weights, sout, sg, T, err);
    CK(pd_cuda_dev_moe_combine(g->x, g->x_, g->rout, token_row, weights, (int)K, sout, sg, T, E,
                               err, PD_ERR_MAX));
    return 0;
}

static int
layer_forward(struct pd_context *c, int il, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_hparams *hp = &c->m->hp;
    const struct pd_layer *l = &c->m->layers[il];
    int64_t E = hp->n_embd, F = hp->n_ff;
    float eps = hp->rms_eps;
    int rc;

    CK(rmsnorm(g, g->xn, E, g->x_, E, &l->attn_norm, T, E, eps, err));
    rc = hp->arch == PD_ARCH_DEEPSEEK2 ? mla_attention(c, l, il, T, err)
                                      : attention(c, l, il, T, err);
    if (rc)
        return rc;
    CK(project(g, g->xn, E, &l->wo, g->att, l->wo.ne[0], T, err));
    CK(add_bias(g, g->xn, &l->bo, T, err));
    CK(pd_cuda_dev_add(g->x, g->x_, g->xn, E, T, E, err, PD_ERR_MAX));

    CK(rmsnorm(g, g->xn, E, g->x_, E, &l->ffn_norm, T, E, eps, err));
    if (l->moe)
        return moe_forward(c, l, il, T, err);
    CK(project(g, g->gate, F, &l->ffn_gate, g->xn, E, T, err));
    CK(project(g, g->up, F, &l->ffn_up, g->xn, E, T, err));
    CK(pd_cuda_dev_swiglu(g->x, g->gate, g->gate, g->up, T * F, err, PD_ERR_MAX));
    CK(project(g, g->xn, E, &l->ffn_down, g->gate, F, T, err));
    CK(pd_cuda_dev_add(g->x, g->x_, g->xn, E, T, E, err, PD_ERR_MAX));
    return 0;
}

/* The ops of one batch of T tokens, from the tokens and positions on the device to the logits
 * rows there: forward.c's forward_worker. */
static int
batch_ops(struct pd_context *c, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_model *m = c->m;
    const struct pd_hparams *hp = &m->hp;
    const struct pd_part *pt = &c->part;
    int64_t E = hp->n_embd, V = hp->n_vocab;
    int rc;
    /* a later pipeline stage starts from the hidden state the previous one sent */
    if (pt->embed)
        CK(pd_cuda_dev_embed(g->x, g->x_, dw(g, &m->tok_embd), m->tok_embd.type, g->tokens, E,
                             T, err, PD_ERR_MAX));
    for (int il = pt->layer_first; il < pt->layer_end; il++)
        if ((rc = layer_forward(c, il, T, err)) != 0)
            return rc;
    if (!pt->head)
        return 0;
    /* only the rows whose logits are wanted go through the head */
    int64_t first = c->logits_all ? 0 : T - 1;
    CK(rmsnorm(g, g->xn, E, g->x_ + first * E, E, &m->output_norm, T - first, E, hp->rms_eps,
               err));
    CK(project(g, g->logits, V, &m->output, g->xn, E, T - first, err));
    return 0;
}

/* The decode step's ops, recorded the first time and replayed after. */
static int
decode_step_ops(struct pd_context *c, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    if (!g->record)
        return batch_ops(c, 1, err);
    if (!g->recorded) {
        char ignored[PD_ERR_MAX];
        CK(pd_cuda_exec_record_begin(g->x, err, PD_ERR_MAX));
        int rc = batch_ops(c, 1, err);
        if (rc) {
            pd_cuda_exec_record_end(g->x, 0, ignored, sizeof ignored);
            return rc;
        }
        if (pd_cuda_exec_record_end(g->x, 1, err, PD_ERR_MAX) != 0) {
            size_t n = strlen(err);
            snprintf(err + n, PD_ERR_MAX - n, " (PONDER_CUDA_GRAPHS=0 runs without recording)");
            return PD_EIO;
        }
        g->recorded = true;
    }
    CK(pd_cuda_exec_replay(g->x, err, PD_ERR_MAX));
    return 0;
}

/* The MoE layers this context runs, as indices of the routing trace: [*first, *end). */
static void
own_moe_layers(const struct pd_context *c, int32_t *first, int32_t *end)
{
    const struct pd_moe_scratch *s = &c->moe;
    *first = *end = 0;
    for (int32_t il = c->part.layer_first; il < c->part.layer_end; il++)
        if (s->index_of[il] >= 0) {
            if (*end == 0)
                *first = s->index_of[il];
            *end = s->index_of[il] + 1;
        }
}

/* One batch of T <= n_batch tokens at n_past, its logits (and a decode step's routing trace,
 * which prefill records as it goes) back on the host. A pipeline stage without the head has no
 * logits, and brings back the trace of its own layers only: the rest came from the stages
 * before it. */
static int
run_batch(struct pd_context *c, const int32_t *tokens, int64_t T, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_moe_scratch *s = &c->moe;
    int64_t V = hp->n_vocab, K = hp->n_expert_used, first = c->logits_all ? 0 : T - 1;
    int rc;
    c->tokens = tokens;
    c->T = (int32_t)T;
    for (int64_t t = 0; t < T; t++)
        g->h_pos[t] = c->n_past + (int32_t)t;
    CK(pd_cuda_dev_upload(g->x, g->tokens, tokens, sizeof(int32_t) * (size_t)T, "the tokens",
                          err, PD_ERR_MAX));
    CK(pd_cuda_dev_upload(g->x, g->pos, g->h_pos, sizeof(int32_t) * (size_t)T, "the positions",
                          err, PD_ERR_MAX));
    if ((rc = T == 1 ? decode_step_ops(c, err) : batch_ops(c, T, err)) != 0)
        return rc;
    /* deferred, the logits stay on the device for pd_cuda_fwd_candidates */
    c->logits_pending = c->part.head && c->defer_logits && !c->logits_all;
    if (c->part.head && !c->logits_pending)
        CK(pd_cuda_dev_download(g->x, c->logits, g->logits,
                                sizeof(float) * (size_t)((T - first) * V), "the logits", err,
                                PD_ERR_MAX));
    int32_t lf, le;
    if (T == 1 && s->n_layers > 0) {
        /* a lone token's trace rows are [layer][K], the slots' layout */
        own_moe_layers(c, &lf, &le);
        size_t at = (size_t)lf * (size_t)K, n = (size_t)(le - lf) * (size_t)K;
        CK(pd_cuda_dev_download(g->x, s->ids + at, g->step_ids + at, sizeof(int32_t) * n,
                                "the routing", err, PD_ERR_MAX));
        CK(pd_cuda_dev_download(g->x, s->weights + at, g->step_w + at, sizeof(float) * n,
                                "the routing", err, PD_ERR_MAX));
        CK(pd_cuda_dev_download(g->x, s->entropy + lf, g->step_h + lf,
                                sizeof(float) * (size_t)(le - lf), "the routing", err,
                                PD_ERR_MAX));
    }
    return 0;
}

/* After a failure in an expert split's batch: the sums over ranks this rank has not joined, with
 * zeros, so the other ranks finish the pass and learn of the failure (split.c) instead of waiting
 * for this rank forever. */
static void
drain_sums(struct pd_context *c, int64_t T)
{
    struct pd_cuda_ctx *g = c->cuda;
    size_t n = (size_t)T * (size_t)c->m->hp.n_embd;
    char ignored[PD_ERR_MAX];
    if (c->part.mode != PD_SPLIT_EXPERT)
        return;
    for (; g->sums < c->moe.n_layers; g->sums++) {
        pd_cuda_dev_zero(g->x, g->moe_part, sizeof(float) * n, ignored, sizeof ignored);
        exchange(c, XCHG_SUM, g->moe_part, n, 0, ignored);
    }
}

int
pd_cuda_fwd_batch(struct pd_context *c, const int32_t *tokens, int32_t T, char *err)
{
    c->cuda->sums = 0;
    int rc = pd_cuda_exec_bind(c->cuda->x, err, PD_ERR_MAX) ? PD_EIO : run_batch(c, tokens, T, err);
    if (rc) {
        drain_sums(c, T);
        c->T = 0;
    }
    return rc;
}

int
pd_cuda_fwd_decode(struct pd_context *c, const int32_t *tokens, int32_t n, char *err)
{
    for (int32_t done = 0; done < n; done += c->T) {
        int rc = pd_cuda_fwd_batch(c, tokens + done, PD_MIN(n - done, c->n_batch), err);
        if (rc)   /* the positions of this batch are not in the cache: the caller may retry them */
            return rc;
        c->n_past += c->T;
    }
    return 0;
}

int
pd_cuda_fwd_move_hidden(struct pd_context *c, int32_t T, int peer, bool send, char *err)
{
    CK(pd_cuda_exec_bind(c->cuda->x, err, PD_ERR_MAX));
    return exchange(c, send ? XCHG_SEND : XCHG_RECV, c->cuda->x_,
                    (size_t)T * (size_t)c->m->hp.n_embd, peer, err);
}

int
pd_cuda_fwd_fetch_logits(struct pd_context *c, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    if (!c->logits_pending)
        return 0;
    CK(pd_cuda_exec_bind(g->x, err, PD_ERR_MAX));
    CK(pd_cuda_dev_download(g->x, c->logits, g->logits, sizeof(float) * (size_t)c->m->hp.n_vocab,
                            "the logits", err, PD_ERR_MAX));
    c->logits_pending = false;
    return 0;
}

int
pd_cuda_fwd_candidates(struct pd_context *c, int32_t k, struct pd_candidates *out, char *err)
{
    struct pd_cuda_ctx *g = c->cuda;
    int64_t V = c->m->hp.n_vocab;
    const float *row = g->logits + (c->logits_all ? (size_t)(c->T - 1) * (size_t)V : 0);
    size_t bytes = pd_cuda_candidates_bytes(k);
    CK(pd_cuda_exec_bind(g->x, err, PD_ERR_MAX));
    CK(pd_cuda_dev_candidates(g->x, g->cand, g->cand_scratch, row, V, k, err, PD_ERR_MAX));
    CK(pd_cuda_dev_download(g->x, g->h_cand, g->cand, bytes, "the sampling candidates", err,
                            PD_ERR_MAX));
    const struct pd_cuda_candidates *h = g->h_cand;
    const int32_t *ids = (const int32_t *)(h + 1);
    const float *vals = (const float *)(ids + k);
    out->lse = h->lse;
    out->entropy = h->entropy;
    out->n = 0;
    for (int32_t i = 0; i < k && ids[i] >= 0; i++) {
        out->ids[out->n] = ids[i];
        out->logits[out->n++] = vals[i];
    }
    return 0;
}

int
pd_cuda_fwd_device(const struct pd_context *c)
{
    return c->cuda ? c->cuda->dev : -1;
}
