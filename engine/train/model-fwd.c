/*
 * model-fwd.c: the trainable model's forward (saving activations) and backward, composed from
 * the training ops (ops.h) in the order engine/forward.c runs a deepseek2 model at inference.
 *
 * The backward walks the layers in reverse with one buffer, dres, holding the gradient of the
 * residual stream: each branch's backward ends in its RMSNorm's backward, which accumulates the
 * branch's share into dres; the branch's own scratch is zeroed before use and reused by every
 * layer.
 */
#include "config.h"

#include "engine/train/model-impl.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "engine/train/lora-train.h"
#include "engine/train/ops.h"

/* ---- memory ------------------------------------------------------------------------------- */

void
pd_tmodel_free_acts(struct pd_tmodel *m)
{
    struct tm_priv *pv = tm_priv(m);
    for (int i = 0; i < pv->n_allocs; i++)
        free(pv->allocs[i]);
    free(pv->allocs);
    free(pv->act);
    free(pv->h);
    pv->allocs = NULL;
    pv->n_allocs = pv->cap_allocs = 0;
    pv->act = NULL;
    pv->h = NULL;
    pv->B = pv->T = 0;
    pv->have_forward = false;
}

/* n zeroed elements of size sz, remembered for pd_tmodel_free_acts; NULL when out of memory (or
 * for n == 0, which callers never use). */
static void *
alloc(struct tm_priv *pv, int64_t n, size_t sz, bool *fail)
{
    if (*fail || n <= 0)
        return NULL;
    if (pv->n_allocs == pv->cap_allocs) {
        int cap = pv->cap_allocs ? 2 * pv->cap_allocs : 128;
        void **na = realloc(pv->allocs, (size_t)cap * sizeof *na);
        if (na == NULL) {
            *fail = true;
            return NULL;
        }
        pv->allocs = na;
        pv->cap_allocs = cap;
    }
    void *p = calloc((size_t)n, sz);
    if (p == NULL) {
        *fail = true;
        return NULL;
    }
    pv->allocs[pv->n_allocs++] = p;
    return p;
}

#define F(n) ((float *)alloc(pv, (n), sizeof(float), &fail))
#define I(n) ((int32_t *)alloc(pv, (n), sizeof(int32_t), &fail))

/* Size everything for B x T (kept when the size is unchanged). */
static int
reserve(struct pd_tmodel *m, int B, int T, char *err)
{
    struct tm_priv *pv = tm_priv(m);
    if (pv->B == B && pv->T == T)
        return 0;
    pd_tmodel_free_acts(m);
    const struct pd_tmodel_config *c = &m->cfg;
    int64_t N = (int64_t)B * T, E = c->n_embd, H = c->n_head, Dn = c->qk_nope, Dr = c->qk_rope;
    int64_t Dv = c->v_head, R = c->kv_lora_rank, Rq = c->q_lora_rank, Dq = Dn + Dr;
    int64_t X = c->n_expert, K = c->n_expert_used, Fe = c->n_ff_exp;
    int64_t Fs = (int64_t)c->n_expert_shared * Fe, NK = N * K, V = c->n_vocab;
    int64_t Fmax = PD_MAX(c->n_ff, Fs);
    bool fail = false;
    pv->act = calloc((size_t)c->n_layer, sizeof *pv->act);
    pv->h = calloc((size_t)c->n_layer + 1, sizeof *pv->h);
    if (pv->act == NULL || pv->h == NULL)
        fail = true;
    for (int il = 0; il <= c->n_layer && !fail; il++)
        pv->h[il] = F(N * E);
    for (int il = 0; il < c->n_layer && !fail; il++) {
        struct tm_act *a = &pv->act[il];
        const struct tm_layer *L = &pv->layers[il];
        a->n1 = F(N * E), a->rstd1 = F(N);
        if (Rq > 0)
            a->qa = F(N * Rq), a->rqa = F(N), a->qan = F(N * Rq);
        a->q = F(N * H * Dq);
        a->lat = F(N * R), a->rl = F(N), a->latn = F(N * R), a->kpe = F(N * Dr);
        a->k = F(N * H * Dn), a->v = F(N * H * Dv), a->probs = F((int64_t)B * H * T * T);
        a->o = F(N * H * Dv), a->hmid = F(N * E), a->n2 = F(N * E), a->rstd2 = F(N);
        if (L->moe < 0) {
            a->fg = F(N * c->n_ff), a->fu = F(N * c->n_ff), a->fa = F(N * c->n_ff);
            continue;
        }
        if (Fs > 0)
            a->fg = F(N * Fs), a->fu = F(N * Fs), a->fa = F(N * Fs);
        a->rlog = F(N * X), a->rprob = F(N * X), a->wts = F(NK);
        a->ids = I(NK), a->offset = I(X + 1), a->row_token = I(NK), a->token_row = I(NK);
        a->rx = F(NK * E), a->eg = F(NK * Fe), a->eu = F(NK * Fe), a->ea = F(NK * Fe);
        a->ey = F(NK * E);
    }
    pv->xf = F(N * E), pv->rstdf = F(N), pv->logits = F(N * V), pv->logp = F(N), pv->lse = F(N);
    pv->tmp = F(N * E);
    pv->tokens = I(N), pv->targets = I(N), pv->pos = I(N);
    pv->dres = F(N * E), pv->dn = F(N * E), pv->dO = F(N * H * Dv), pv->dq = F(N * H * Dq);
    pv->dk = F(N * H * Dn), pv->dv = F(N * H * Dv), pv->dlatn = F(N * R), pv->dlat = F(N * R);
    pv->dkpe = F(N * Dr), pv->dlogits = F(N * V), pv->dxf = F(N * E);
    if (Rq > 0)
        pv->dqan = F(N * Rq), pv->dqa = F(N * Rq);
    if (Fmax > 0)
        pv->dfa = F(N * Fmax), pv->dfg = F(N * Fmax), pv->dfu = F(N * Fmax);
    if (m->n_moe > 0) {
        pv->dey = F(NK * E), pv->dea = F(NK * Fe), pv->deg = F(NK * Fe), pv->deu = F(NK * Fe);
        pv->drx = F(NK * E), pv->dwts = F(NK), pv->drlog = F(N * X);
    }
    if (fail) {
        pd_tmodel_free_acts(m);
        return pd_errorf(err, PD_ENOMEM, "out of memory for the activations of %d x %d tokens",
                         B, T);
    }
    pv->B = B;
    pv->T = T;
    return 0;
}

#undef F
#undef I

static void
zero(float *p, int64_t n)
{
    memset(p, 0, (size_t)n * sizeof *p);
}

/* ---- forward ------------------------------------------------------------------------------ */

#define W(off) (m->params + (off))
#define G(off) (m->grads + (off))

/* A product of the model, y[N][n_out] = x[N][n_in] . W^T, plus the adapter's share where m has
 * one on W. */
static void
proj_forward(struct pd_tmodel *m, struct pd_threadpool *tp, float *y, const float *x,
             const float *w, int64_t N, int64_t n_in, int64_t n_out)
{
    pd_tr_linear_forward(tp, y, x, w, NULL, N, n_in, n_out);
    if (m->lora)
        pd_tlora_forward(m->lora, m, tp, y, x, w, N, n_in, n_out);
}

/* Its backward: with an adapter the weights are frozen (no dW), the adapter gets its share. */
static void
proj_backward(struct pd_tmodel *m, struct pd_threadpool *tp, float *dx, float *dw,
              const float *dy, const float *x, const float *w, int64_t N, int64_t n_in,
              int64_t n_out)
{
    pd_tr_linear_backward(tp, dx, m->lora ? NULL : dw, NULL, dy, x, w, N, n_in, n_out);
    if (m->lora)
        pd_tlora_backward(m->lora, m, tp, dx, dy, x, w, N, n_in, n_out);
}

static struct pd_tr_attn
attn_shape(const struct pd_tmodel *m)
{
    const struct pd_tmodel_config *c = &m->cfg;
    const struct tm_priv *pv = tm_priv(m);
    return (struct pd_tr_attn){ .B = pv->B, .T = pv->T, .H = c->n_head, .Hkv = c->n_head,
                                .Dk = c->qk_nope, .Dr = c->qk_rope, .Dv = c->v_head,
                                .scale = 1.0f / sqrtf((float)(c->qk_nope + c->qk_rope)) };
}

static struct pd_tr_router
router_shape(const struct pd_tmodel *m)
{
    const struct pd_tmodel_config *c = &m->cfg;
    return (struct pd_tr_router){ .X = c->n_expert, .K = c->n_expert_used, .sigmoid = c->sigmoid,
                                  .norm = c->expert_norm, .scale = c->expert_scale,
                                  .n_groups = c->n_group, .n_groups_used = c->n_group_used };
}

/* hmid = h + Wo MLA(rmsnorm(h)) */
static void
attn_forward(struct pd_tmodel *m, struct pd_threadpool *tp, int il)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    const struct tm_layer *L = &pv->layers[il];
    struct tm_act *a = &pv->act[il];
    int64_t N = (int64_t)pv->B * pv->T, E = c->n_embd, H = c->n_head, Dn = c->qk_nope;
    int64_t Dr = c->qk_rope, Dv = c->v_head, R = c->kv_lora_rank, Rq = c->q_lora_rank;
    int64_t Dq = Dn + Dr;
    const float *h = pv->h[il];
    struct pd_rope rp = pd_tr_rope_plain((int)Dr, false, c->rope_base);
    struct pd_tr_attn at = attn_shape(m);
    pd_tr_rmsnorm_forward(a->n1, a->rstd1, h, W(L->attn_norm), N, E, c->rms_eps);
    if (Rq > 0) {
        proj_forward(m, tp, a->qa, a->n1, W(L->wq_a), N, E, Rq);
        pd_tr_rmsnorm_forward(a->qan, a->rqa, a->qa, W(L->q_a_norm), N, Rq, c->rms_eps);
        proj_forward(m, tp, a->q, a->qan, W(L->wq_b), N, Rq, H * Dq);
    } else {
        proj_forward(m, tp, a->q, a->n1, W(L->wq), N, E, H * Dq);
    }
    pd_tr_rope_forward(a->q + Dn, pv->pos, &rp, N, H * Dq, (int)H, Dq);
    proj_forward(m, tp, a->lat, a->n1, W(L->wkv_a), N, E, R);
    proj_forward(m, tp, a->kpe, a->n1, W(L->wkv_a) + R * E, N, E, Dr);
    pd_tr_rope_forward(a->kpe, pv->pos, &rp, N, Dr, 1, Dr);
    pd_tr_rmsnorm_forward(a->latn, a->rl, a->lat, W(L->kv_a_norm), N, R, c->rms_eps);
    proj_forward(m, tp, a->k, a->latn, W(L->wk_b), N, R, H * Dn);
    proj_forward(m, tp, a->v, a->latn, W(L->wv_b), N, R, H * Dv);
    pd_tr_attn_forward(tp, a->o, a->probs, a->q, a->k, a->kpe, a->v, &at);
    proj_forward(m, tp, pv->tmp, a->o, W(L->wo), N, H * Dv, E);
    for (int64_t i = 0; i < N * E; i++)
        a->hmid[i] = h[i] + pv->tmp[i];
}

/* out = SwiGLU FFN of width F on x, saving gate, up and the activation in fg, fu, fa. */
static void
swiglu_ffn_forward(struct pd_tmodel *m, struct pd_threadpool *tp, float *out, float *fg,
                   float *fu, float *fa, const float *x, const float *Wg, const float *Wu,
                   const float *Wd, int64_t N, int64_t E, int64_t F)
{
    proj_forward(m, tp, fg, x, Wg, N, E, F);
    proj_forward(m, tp, fu, x, Wu, N, E, F);
    pd_tr_swiglu_forward(fa, fg, fu, N * F);
    proj_forward(m, tp, out, fa, Wd, N, F, E);
}

/* h[il+1] = hmid + FFN(rmsnorm(hmid)) */
static int
ffn_forward(struct pd_tmodel *m, struct pd_threadpool *tp, int il, char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    const struct tm_layer *L = &pv->layers[il];
    struct tm_act *a = &pv->act[il];
    int64_t N = (int64_t)pv->B * pv->T, E = c->n_embd, X = c->n_expert, K = c->n_expert_used;
    int64_t Fe = c->n_ff_exp, Fs = (int64_t)c->n_expert_shared * Fe;
    float *out = pv->h[il + 1];
    pd_tr_rmsnorm_forward(a->n2, a->rstd2, a->hmid, W(L->ffn_norm), N, E, c->rms_eps);
    if (L->moe < 0) {
        swiglu_ffn_forward(m, tp, pv->tmp, a->fg, a->fu, a->fa, a->n2, W(L->gate), W(L->up),
                           W(L->down), N, E, c->n_ff);
        for (int64_t i = 0; i < N * E; i++)
            out[i] = a->hmid[i] + pv->tmp[i];
        return 0;
    }
    struct pd_tr_router rt = router_shape(m);
    proj_forward(m, tp, a->rlog, a->n2, W(L->router), N, E, X);
    pd_tr_router_forward(a->ids, a->wts, a->rprob, a->rlog, m->bias + L->moe * X, &rt, N);
    pd_tr_expert_load(m->load + L->moe * X, a->ids, N, (int)K, (int)X);
    int rc = pd_tr_moe_group(a->offset, a->row_token, a->token_row, a->ids, N, (int)K, (int)X,
                             err);
    if (rc != 0)
        return rc;
    pd_tr_moe_gather_forward(a->rx, a->n2, a->row_token, N * K, E);
    for (int64_t e = 0; e < X; e++) {
        int64_t r0 = a->offset[e], nr = a->offset[e + 1] - r0;
        if (nr == 0)
            continue;
        swiglu_ffn_forward(m, tp, a->ey + r0 * E, a->eg + r0 * Fe, a->eu + r0 * Fe,
                           a->ea + r0 * Fe, a->rx + r0 * E, W(L->gate_exps) + e * Fe * E,
                           W(L->up_exps) + e * Fe * E, W(L->down_exps) + e * E * Fe, nr, E, Fe);
    }
    if (Fs > 0) {
        swiglu_ffn_forward(m, tp, pv->tmp, a->fg, a->fu, a->fa, a->n2, W(L->gate_sh), W(L->up_sh),
                           W(L->down_sh), N, E, Fs);
        for (int64_t i = 0; i < N * E; i++)
            out[i] = a->hmid[i] + pv->tmp[i];
    } else {
        memcpy(out, a->hmid, (size_t)(N * E) * sizeof *out);
    }
    pd_tr_moe_combine_forward(out, a->ey, a->wts, a->token_row, N, (int)K, E);
    return 0;
}

int
pd_tmodel_forward(struct pd_tmodel *m, struct pd_threadpool *tp, const int32_t *tokens,
                  const int32_t *targets, int B, int T, float *loss, int64_t *count, char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->n_ctx)
        return pd_errorf(err, PD_EINVAL, "batch %d x %d: T must be within 1..ctx (%d)", B, T,
                         c->n_ctx);
    int rc = reserve(m, B, T, err);
    if (rc == 0 && m->lora && pd_tlora_reserve(m->lora, (int64_t)B * T) != 0)
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for the adapter's scratch");
    if (rc != 0)
        return rc;
    struct tm_priv *pv = tm_priv(m);
    pv->have_forward = false;
    int64_t N = (int64_t)B * T, E = c->n_embd, V = c->n_vocab;
    for (int64_t i = 0; i < N; i++) {
        pv->tokens[i] = tokens[i];
        pv->targets[i] = targets ? targets[i] : -1;
        pv->pos[i] = (int32_t)(i % T);
    }
    rc = pd_tr_embed_forward(pv->h[0], W(pv->tok_embd), pv->tokens, N, E, V, err);
    for (int il = 0; rc == 0 && il < c->n_layer; il++) {
        attn_forward(m, tp, il);
        rc = ffn_forward(m, tp, il, err);
    }
    if (rc != 0)
        return rc;
    pd_tr_rmsnorm_forward(pv->xf, pv->rstdf, pv->h[c->n_layer], W(pv->output_norm), N, E,
                          c->rms_eps);
    const float *Wout = W(pv->output >= 0 ? pv->output : pv->tok_embd);
    proj_forward(m, tp, pv->logits, pv->xf, Wout, N, E, V);
    float l = 0.0f;
    rc = pd_tr_xent_forward(tp, &l, &pv->count, pv->logp, pv->lse, pv->logits, pv->targets, N, V,
                            err);
    if (rc != 0)
        return rc;
    if (loss)
        *loss = l;
    if (count)
        *count = pv->count;
    pv->have_forward = true;
    return 0;
}

const float *
pd_tmodel_logits(const struct pd_tmodel *m)
{
    return tm_priv(m)->logits;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* dx += the gradient through a SwiGLU FFN whose output gradient is dout; dfg, dfu, dfa are
 * scratch of N*F. */
static void
swiglu_ffn_backward(struct pd_tmodel *m, struct pd_threadpool *tp, float *dx, float *dWg,
                    float *dWu, float *dWd, const float *dout, const float *fg, const float *fu,
                    const float *fa, const float *x, const float *Wg, const float *Wu,
                    const float *Wd, float *dfg, float *dfu, float *dfa, int64_t N, int64_t E,
                    int64_t F)
{
    zero(dfa, N * F);
    zero(dfg, N * F);
    zero(dfu, N * F);
    proj_backward(m, tp, dfa, dWd, dout, fa, Wd, N, F, E);
    pd_tr_swiglu_backward(dfg, dfu, dfa, fg, fu, N * F);
    proj_backward(m, tp, dx, dWg, dfg, x, Wg, N, E, F);
    proj_backward(m, tp, dx, dWu, dfu, x, Wu, N, E, F);
}

/* On entry dres is the gradient of h[il+1]; on return, of hmid. */
static void
ffn_backward(struct pd_tmodel *m, struct pd_threadpool *tp, int il)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    const struct tm_layer *L = &pv->layers[il];
    const struct tm_act *a = &pv->act[il];
    int64_t N = (int64_t)pv->B * pv->T, E = c->n_embd, X = c->n_expert, K = c->n_expert_used;
    int64_t Fe = c->n_ff_exp, Fs = (int64_t)c->n_expert_shared * Fe, NK = N * K;
    float *dn = pv->dn;
    zero(dn, N * E);
    if (L->moe < 0) {
        swiglu_ffn_backward(m, tp, dn, G(L->gate), G(L->up), G(L->down), pv->dres, a->fg, a->fu,
                            a->fa, a->n2, W(L->gate), W(L->up), W(L->down), pv->dfg, pv->dfu,
                            pv->dfa, N, E, c->n_ff);
    } else {
        if (Fs > 0)
            swiglu_ffn_backward(m, tp, dn, G(L->gate_sh), G(L->up_sh), G(L->down_sh), pv->dres,
                                a->fg, a->fu, a->fa, a->n2, W(L->gate_sh), W(L->up_sh),
                                W(L->down_sh), pv->dfg, pv->dfu, pv->dfa, N, E, Fs);
        zero(pv->dey, NK * E);
        zero(pv->dwts, NK);
        zero(pv->drx, NK * E);
        pd_tr_moe_combine_backward(pv->dey, pv->dwts, pv->dres, a->ey, a->wts, a->token_row, N,
                                   (int)K, E);
        for (int64_t e = 0; e < X; e++) {
            int64_t r0 = a->offset[e], nr = a->offset[e + 1] - r0;
            if (nr == 0)
                continue;
            swiglu_ffn_backward(m, tp, pv->drx + r0 * E, G(L->gate_exps) + e * Fe * E,
                                G(L->up_exps) + e * Fe * E, G(L->down_exps) + e * E * Fe,
                                pv->dey + r0 * E, a->eg + r0 * Fe, a->eu + r0 * Fe,
                                a->ea + r0 * Fe, a->rx + r0 * E, W(L->gate_exps) + e * Fe * E,
                                W(L->up_exps) + e * Fe * E, W(L->down_exps) + e * E * Fe,
                                pv->deg, pv->deu, pv->dea, nr, E, Fe);
        }
        pd_tr_moe_gather_backward(dn, pv->drx, a->row_token, NK, E);
        struct pd_tr_router rt = router_shape(m);
        zero(pv->drlog, N * X);
        pd_tr_router_backward(pv->drlog, pv->dwts, a->ids, a->rprob, &rt, N);
        proj_backward(m, tp, dn, G(L->router), pv->drlog, a->n2, W(L->router), N, E,
                              X);
    }
    pd_tr_rmsnorm_backward(pv->dres, G(L->ffn_norm), dn, a->hmid, W(L->ffn_norm), a->rstd2, N,
                           E);
}

/* On entry dres is the gradient of hmid; on return, of h[il]. */
static int
attn_backward(struct pd_tmodel *m, struct pd_threadpool *tp, int il, char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    const struct tm_layer *L = &pv->layers[il];
    const struct tm_act *a = &pv->act[il];
    int64_t N = (int64_t)pv->B * pv->T, E = c->n_embd, H = c->n_head, Dn = c->qk_nope;
    int64_t Dr = c->qk_rope, Dv = c->v_head, R = c->kv_lora_rank, Rq = c->q_lora_rank;
    int64_t Dq = Dn + Dr;
    struct pd_rope rp = pd_tr_rope_plain((int)Dr, false, c->rope_base);
    struct pd_tr_attn at = attn_shape(m);
    zero(pv->dO, N * H * Dv);
    zero(pv->dq, N * H * Dq);
    zero(pv->dk, N * H * Dn);
    zero(pv->dv, N * H * Dv);
    zero(pv->dkpe, N * Dr);
    zero(pv->dlatn, N * R);
    zero(pv->dlat, N * R);
    zero(pv->dn, N * E);
    proj_backward(m, tp, pv->dO, G(L->wo), pv->dres, a->o, W(L->wo), N, H * Dv, E);
    int rc = pd_tr_attn_backward(tp, pv->dq, pv->dk, pv->dkpe, pv->dv, pv->dO, a->probs, a->q,
                                 a->k, a->kpe, a->v, &at, err);
    if (rc != 0)
        return rc;
    proj_backward(m, tp, pv->dlatn, G(L->wv_b), pv->dv, a->latn, W(L->wv_b), N, R,
                          H * Dv);
    proj_backward(m, tp, pv->dlatn, G(L->wk_b), pv->dk, a->latn, W(L->wk_b), N, R,
                          H * Dn);
    pd_tr_rmsnorm_backward(pv->dlat, G(L->kv_a_norm), pv->dlatn, a->lat, W(L->kv_a_norm), a->rl,
                           N, R);
    pd_tr_rope_backward(pv->dkpe, pv->pos, &rp, N, Dr, 1, Dr);
    proj_backward(m, tp, pv->dn, G(L->wkv_a) + R * E, pv->dkpe, a->n1,
                          W(L->wkv_a) + R * E, N, E, Dr);
    proj_backward(m, tp, pv->dn, G(L->wkv_a), pv->dlat, a->n1, W(L->wkv_a), N, E, R);
    pd_tr_rope_backward(pv->dq + Dn, pv->pos, &rp, N, H * Dq, (int)H, Dq);
    if (Rq > 0) {
        zero(pv->dqan, N * Rq);
        zero(pv->dqa, N * Rq);
        proj_backward(m, tp, pv->dqan, G(L->wq_b), pv->dq, a->qan, W(L->wq_b), N, Rq,
                              H * Dq);
        pd_tr_rmsnorm_backward(pv->dqa, G(L->q_a_norm), pv->dqan, a->qa, W(L->q_a_norm), a->rqa,
                               N, Rq);
        proj_backward(m, tp, pv->dn, G(L->wq_a), pv->dqa, a->n1, W(L->wq_a), N, E, Rq);
    } else {
        proj_backward(m, tp, pv->dn, G(L->wq), pv->dq, a->n1, W(L->wq), N, E, H * Dq);
    }
    pd_tr_rmsnorm_backward(pv->dres, G(L->attn_norm), pv->dn, pv->h[il], W(L->attn_norm),
                           a->rstd1, N, E);
    return 0;
}

/* The backward from dlogits [N][V] (the cross-entropy's when NULL). */
static int
backward_from(struct pd_tmodel *m, struct pd_threadpool *tp, const float *dlogits, char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    if (!pv->have_forward)
        return pd_errorf(err, PD_EINVAL, "backward without a forward");
    int64_t N = (int64_t)pv->B * pv->T, E = c->n_embd, V = c->n_vocab;
    zero(m->grads, m->n_params);
    if (m->lora)
        zero(m->lora->grads, m->lora->n_params);
    zero(pv->dxf, N * E);
    zero(pv->dres, N * E);
    if (dlogits == NULL) {
        zero(pv->dlogits, N * V);
        pd_tr_xent_backward(tp, pv->dlogits, 1.0f, pv->logits, pv->lse, pv->targets, N, V);
        dlogits = pv->dlogits;
    }
    int64_t out = pv->output >= 0 ? pv->output : pv->tok_embd;
    proj_backward(m, tp, pv->dxf, G(out), dlogits, pv->xf, W(out), N, E, V);
    pd_tr_rmsnorm_backward(pv->dres, G(pv->output_norm), pv->dxf, pv->h[c->n_layer],
                           W(pv->output_norm), pv->rstdf, N, E);
    for (int il = c->n_layer - 1; il >= 0; il--) {
        ffn_backward(m, tp, il);
        int rc = attn_backward(m, tp, il, err);
        if (rc != 0)
            return rc;
    }
    pd_tr_embed_backward(G(pv->tok_embd), pv->dres, pv->tokens, N, E);
    return 0;
}

int
pd_tmodel_backward(struct pd_tmodel *m, struct pd_threadpool *tp, char *err)
{
    return backward_from(m, tp, NULL, err);
}

int
pd_tmodel_backward_logits(struct pd_tmodel *m, struct pd_threadpool *tp, const float *dlogits,
                          char *err)
{
    if (dlogits == NULL)
        return pd_errorf(err, PD_EINVAL, "no gradient of the logits");
    return backward_from(m, tp, dlogits, err);
}
