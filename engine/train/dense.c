/*
 * dense.c: the frozen-base training forward and backward of dense llama, qwen2 and qwen3
 * models (dense.h). The weights are the loaded model's own (pd_model's pd_weight, in the file's
 * types) and go through ops-frozen.c's products; the 1-D tensors (norms, biases) are copied to
 * float32 once. The forward keeps each layer's input; the backward recomputes a layer from it
 * and then walks back through it (see the header for why).
 */
#include "config.h"

#include "engine/train/dense.h"

#include <string.h>

#include "engine/model.h"
#include "engine/train/lora-train.h"
#include "engine/train/ops.h"

/* The adapted products of a layer, in the order of proj_names. */
enum { P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, P_COUNT };

static const char *const proj_names[P_COUNT] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

struct dense_layer {
    struct pd_tr_frozen w[P_COUNT];
    float *attn_norm, *ffn_norm;   /* [E] */
    float *q_norm, *k_norm;        /* [D] (qwen3), or NULL */
    float *bq, *bk, *bv, *bo;      /* (qwen2 has the first three), or NULL */
    const struct pd_tlora_pair *pair[P_COUNT];   /* of the attached adapter, or NULL */
};

/* One layer's activations, recomputed in the backward. */
struct dense_act {
    float *n1, *rstd1, *qp, *rq, *kp, *rk, *q, *k, *v, *probs, *att, *h2, *n2, *rstd2;
    float *g, *u, *a;
};

struct pd_dense {
    const struct pd_model *m;
    struct pd_tlora *lora;
    int64_t E, H, Hkv, D, F, V, L;
    struct dense_layer *layers;
    float *output_norm;
    struct pd_tr_frozen out;
    float *wbuf;                   /* PD_TR_FROZEN_BUF */
    /* sized for B x T */
    int B, T;
    bool have_forward;
    float *arena;
    int32_t *pos;                  /* [N] */
    float *saved;                  /* [L][N][E] each layer's input */
    float *hf, *rstdf, *nf;        /* the last hidden state, its rstd, normed */
    float *logits;                 /* [N][V] */
    float *x, *dx, *dn;            /* [N][E] */
    struct dense_act a;
    float *dq, *dqp, *dk, *dkp, *dv, *datt, *dg, *du, *da;
};

/* ---- the model's tensors ---------------------------------------------------------------------- */

/* A float32 copy of a 1-D weight (NULL when the model has none). */
static int
copy_vec(float **out, const struct pd_weight *w)
{
    *out = NULL;
    if (w->data == NULL)
        return 0;
    *out = malloc(sizeof(float) * (size_t)w->ne[0]);
    if (*out == NULL)
        return PD_ENOMEM;
    pd_dequantize_row(w->type, w->data, *out, w->ne[0]);
    return 0;
}

static struct pd_tr_frozen
frozen(const struct pd_weight *w)
{
    return (struct pd_tr_frozen){ w->data, w->type, w->ne[0], w->ne[1] };
}

static int
bind_layer(struct dense_layer *dl, const struct pd_layer *l)
{
    const struct pd_weight *w[P_COUNT] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate,
                                           &l->ffn_up, &l->ffn_down };
    for (int p = 0; p < P_COUNT; p++) {
        if (w[p]->data == NULL)
            return PD_EUNSUPPORTED;
        dl->w[p] = frozen(w[p]);
    }
    int rc = copy_vec(&dl->attn_norm, &l->attn_norm) | copy_vec(&dl->ffn_norm, &l->ffn_norm) |
             copy_vec(&dl->q_norm, &l->q_norm) | copy_vec(&dl->k_norm, &l->k_norm) |
             copy_vec(&dl->bq, &l->bq) | copy_vec(&dl->bk, &l->bk) | copy_vec(&dl->bv, &l->bv) |
             copy_vec(&dl->bo, &l->bo);
    return rc ? PD_ENOMEM : 0;
}

int
pd_dense_new(struct pd_dense **out, const struct pd_model *m, char *err)
{
    const struct pd_hparams *hp = &m->hp;
    *out = NULL;
    bool dense_arch = hp->arch == PD_ARCH_LLAMA || hp->arch == PD_ARCH_QWEN2 ||
                      hp->arch == PD_ARCH_QWEN3;
    if (!dense_arch || hp->n_expert > 0 || hp->qk_norm_full)
        return pd_errorf(err, PD_EUNSUPPORTED, "LoRA over a frozen base covers dense llama, "
                         "qwen2 and qwen3 models, not %s%s", hp->arch_name,
                         hp->n_expert > 0 ? " with experts" : "");
    struct pd_dense *d = calloc(1, sizeof *d);
    if (d == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    d->m = m;
    d->E = hp->n_embd, d->H = hp->n_head, d->Hkv = hp->n_head_kv, d->D = hp->head_dim;
    d->F = hp->n_ff, d->V = hp->n_vocab, d->L = hp->n_layer;
    d->layers = calloc((size_t)d->L, sizeof *d->layers);
    d->wbuf = malloc(sizeof(float) * (size_t)PD_TR_FROZEN_BUF);
    int rc = d->layers && d->wbuf ? copy_vec(&d->output_norm, &m->output_norm) : PD_ENOMEM;
    for (int64_t il = 0; il < d->L && rc == 0; il++)
        rc = bind_layer(&d->layers[il], &m->layers[il]);
    d->out = frozen(&m->output);
    if (rc != 0) {
        pd_dense_free(d);
        return rc == PD_ENOMEM ? pd_errorf(err, rc, "out of memory")
                               : pd_errorf(err, rc, "a layer lacks a dense projection");
    }
    *out = d;
    return 0;
}

void
pd_dense_free(struct pd_dense *d)
{
    if (d == NULL)
        return;
    for (int64_t il = 0; d->layers && il < d->L; il++) {
        struct dense_layer *l = &d->layers[il];
        free(l->attn_norm), free(l->ffn_norm), free(l->q_norm), free(l->k_norm);
        free(l->bq), free(l->bk), free(l->bv), free(l->bo);
    }
    free(d->layers);
    free(d->output_norm);
    free(d->wbuf);
    free(d->arena);
    free(d->pos);
    free(d);
}

const struct pd_model *
pd_dense_model(const struct pd_dense *d)
{
    return d->m;
}

/* ---- the adapter -------------------------------------------------------------------------- */

int
pd_dense_lora_new(struct pd_tlora **out, const struct pd_dense *d, int32_t rank, float alpha,
                  uint32_t targets, uint64_t seed, char *err)
{
    int64_t n = d->L * P_COUNT;
    struct pd_tlora_spec *w = calloc((size_t)n, sizeof *w);
    char (*names)[64] = calloc((size_t)n, sizeof *names);
    if (w == NULL || names == NULL) {
        free(w), free(names);
        return pd_errorf(err, PD_ENOMEM, "out of memory for the adapter");
    }
    for (int64_t i = 0; i < n; i++) {
        const struct pd_tr_frozen *f = &d->layers[i / P_COUNT].w[i % P_COUNT];
        snprintf(names[i], sizeof names[i], "blk.%d.%s.weight", (int)(i / P_COUNT),
                 proj_names[i % P_COUNT]);
        w[i] = (struct pd_tlora_spec){ names[i], f->n_in, f->n_out, (int)i };
    }
    int rc = pd_tlora_new_specs(out, d->m->hp.arch_name, w, (int)n, rank, alpha, targets, seed,
                                err);
    free(w), free(names);
    return rc;
}

void
pd_dense_set_lora(struct pd_dense *d, struct pd_tlora *l)
{
    d->lora = l;
    for (int64_t il = 0; il < d->L; il++)
        memset(d->layers[il].pair, 0, sizeof d->layers[il].pair);
    for (int i = 0; l && i < l->n_pairs; i++) {
        int t = l->pairs[i].tensor;
        if (t >= 0 && t < d->L * P_COUNT)
            d->layers[t / P_COUNT].pair[t % P_COUNT] = &l->pairs[i];
    }
}

/* ---- buffers ------------------------------------------------------------------------------ */

/* Plan every activation for B x T in one arena (STYLE 8): sizes first, then pointers. */
static int
reserve(struct pd_dense *d, int B, int T, char *err)
{
    if (d->arena && d->B == B && d->T == T)
        return d->lora ? pd_tlora_reserve(d->lora, (int64_t)B * T) : 0;
    free(d->arena), free(d->pos);
    d->arena = NULL, d->have_forward = false;
    int64_t N = (int64_t)B * T, E = d->E, HD = d->H * d->D, KD = d->Hkv * d->D, F = d->F;
    struct {
        float **p;
        int64_t n;
    } plan[] = {
        { &d->saved, d->L * N * E }, { &d->hf, N * E }, { &d->rstdf, N }, { &d->nf, N * E },
        { &d->logits, N * d->V }, { &d->x, N * E }, { &d->dx, N * E }, { &d->dn, N * E },
        { &d->a.n1, N * E }, { &d->a.rstd1, N }, { &d->a.qp, N * HD }, { &d->a.rq, N * d->H },
        { &d->a.kp, N * KD }, { &d->a.rk, N * d->Hkv }, { &d->a.q, N * HD },
        { &d->a.k, N * KD }, { &d->a.v, N * KD }, { &d->a.probs, (int64_t)B * d->H * T * T },
        { &d->a.att, N * HD }, { &d->a.h2, N * E }, { &d->a.n2, N * E }, { &d->a.rstd2, N },
        { &d->a.g, N * F }, { &d->a.u, N * F }, { &d->a.a, N * F }, { &d->dq, N * HD },
        { &d->dqp, N * HD }, { &d->dk, N * KD }, { &d->dkp, N * KD }, { &d->dv, N * KD },
        { &d->datt, N * HD }, { &d->dg, N * F }, { &d->du, N * F }, { &d->da, N * F },
    };
    int64_t total = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(plan); i++)
        total += plan[i].n;
    d->arena = malloc(sizeof(float) * (size_t)total);
    d->pos = malloc(sizeof(int32_t) * (size_t)N);
    if (d->arena == NULL || d->pos == NULL ||
        (d->lora && pd_tlora_reserve(d->lora, N) != 0)) {
        free(d->arena), free(d->pos);
        d->arena = NULL, d->pos = NULL;
        return pd_errorf(err, PD_ENOMEM, "out of memory for %d x %d tokens (%lld MiB)", B, T,
                         (long long)(total >> 18));
    }
    float *at = d->arena;
    for (size_t i = 0; i < PD_ARRAY_SIZE(plan); i++)
        *plan[i].p = at, at += plan[i].n;
    for (int64_t n = 0; n < N; n++)
        d->pos[n] = (int32_t)(n % T);
    d->B = B, d->T = T;
    return 0;
}

/* ---- products with the adapter ------------------------------------------------------------- */

/* y[N][n_out] = x W^T + b + the adapter's share, for projection p of layer l. */
static void
project(struct pd_dense *d, struct pd_threadpool *tp, const struct dense_layer *l, int p, float *y,
        const float *x, const float *b, int64_t N)
{
    const struct pd_tr_frozen *w = &l->w[p];
    pd_tr_frozen_forward(tp, y, d->wbuf, x, w, N);
    for (int64_t n = 0; b && n < N; n++)
        for (int64_t o = 0; o < w->n_out; o++)
            y[n * w->n_out + o] += b[o];
    if (d->lora && l->pair[p])
        pd_tlora_pair_forward(d->lora, tp, l->pair[p], 0, y, x, N, w->n_out);
}

/* dx += dy W (+ the adapter's share), and the adapter's gradients for this product. */
static void
project_back(struct pd_dense *d, struct pd_threadpool *tp, const struct dense_layer *l, int p,
             float *dx, const float *dy, const float *x, int64_t N)
{
    pd_tr_frozen_backward(tp, dx, d->wbuf, dy, &l->w[p], N);
    if (d->lora && l->pair[p])
        pd_tlora_pair_backward(d->lora, tp, l->pair[p], 0, dx, dy, x, N, l->w[p].n_out);
}

/* ---- one layer ----------------------------------------------------------------------------- */

static struct pd_tr_attn
attn_shape(const struct pd_dense *d)
{
    return (struct pd_tr_attn){ .B = d->B, .T = d->T, .H = (int)d->H, .Hkv = (int)d->Hkv,
                                .Dk = (int)d->D, .Dr = 0, .Dv = (int)d->D,
                                .scale = d->m->hp.kq_scale };
}

/* x (the layer's input, [N][E]) -> out, keeping the activations in d->a. out may equal x. */
static void
layer_forward(struct pd_dense *d, struct pd_threadpool *tp, int64_t il, const float *x,
              float *out)
{
    const struct dense_layer *l = &d->layers[il];
    const struct pd_hparams *hp = &d->m->hp;
    struct dense_act *a = &d->a;
    int64_t N = (int64_t)d->B * d->T, E = d->E, D = d->D, F = d->F;
    int64_t HD = d->H * D, KD = d->Hkv * D;
    float eps = hp->rms_eps;

    pd_tr_rmsnorm_forward(a->n1, a->rstd1, x, l->attn_norm, N, E, eps);
    project(d, tp, l, P_Q, a->qp, a->n1, l->bq, N);
    project(d, tp, l, P_K, a->kp, a->n1, l->bk, N);
    project(d, tp, l, P_V, a->v, a->n1, l->bv, N);
    if (l->q_norm) {   /* qwen3: each head normed before RoPE */
        pd_tr_rmsnorm_forward(a->q, a->rq, a->qp, l->q_norm, N * d->H, D, eps);
        pd_tr_rmsnorm_forward(a->k, a->rk, a->kp, l->k_norm, N * d->Hkv, D, eps);
    } else {
        memcpy(a->q, a->qp, sizeof(float) * (size_t)(N * HD));
        memcpy(a->k, a->kp, sizeof(float) * (size_t)(N * KD));
    }
    pd_tr_rope_forward(a->q, d->pos, &hp->rope, N, HD, (int)d->H, D);
    pd_tr_rope_forward(a->k, d->pos, &hp->rope, N, KD, (int)d->Hkv, D);
    struct pd_tr_attn at = attn_shape(d);
    pd_tr_attn_forward(tp, a->att, a->probs, a->q, a->k, NULL, a->v, &at);
    project(d, tp, l, P_O, a->h2, a->att, l->bo, N);
    for (int64_t i = 0; i < N * E; i++)
        a->h2[i] += x[i];

    pd_tr_rmsnorm_forward(a->n2, a->rstd2, a->h2, l->ffn_norm, N, E, eps);
    project(d, tp, l, P_GATE, a->g, a->n2, NULL, N);
    project(d, tp, l, P_UP, a->u, a->n2, NULL, N);
    pd_tr_swiglu_forward(a->a, a->g, a->u, N * F);
    project(d, tp, l, P_DOWN, out, a->a, NULL, N);
    for (int64_t i = 0; i < N * E; i++)
        out[i] += a->h2[i];
}

/* dx ([N][E]) holds the gradient of layer il's output; on return, of its input x. The layer's
 * activations must be those of x (layer_forward just ran on it). */
static int
layer_backward(struct pd_dense *d, struct pd_threadpool *tp, int64_t il, const float *x,
               char *err)
{
    const struct dense_layer *l = &d->layers[il];
    struct dense_act *a = &d->a;
    int64_t N = (int64_t)d->B * d->T, E = d->E, D = d->D, F = d->F;
    int64_t HD = d->H * D, KD = d->Hkv * D;
    size_t fN = sizeof(float) * (size_t)N;

    /* FFN: out = h2 + Wd swiglu(Wg n2, Wu n2) */
    memset(d->da, 0, fN * (size_t)F);
    project_back(d, tp, l, P_DOWN, d->da, d->dx, a->a, N);
    memset(d->dg, 0, fN * (size_t)F);
    memset(d->du, 0, fN * (size_t)F);
    pd_tr_swiglu_backward(d->dg, d->du, d->da, a->g, a->u, N * F);
    memset(d->dn, 0, fN * (size_t)E);
    project_back(d, tp, l, P_GATE, d->dn, d->dg, a->n2, N);
    project_back(d, tp, l, P_UP, d->dn, d->du, a->n2, N);
    pd_tr_rmsnorm_backward(d->dx, NULL, d->dn, a->h2, l->ffn_norm, a->rstd2, N, E);

    /* attention: h2 = x + Wo attn(q, k, v) */
    memset(d->datt, 0, fN * (size_t)HD);
    project_back(d, tp, l, P_O, d->datt, d->dx, a->att, N);
    memset(d->dq, 0, fN * (size_t)HD);
    memset(d->dk, 0, fN * (size_t)KD);
    memset(d->dv, 0, fN * (size_t)KD);
    struct pd_tr_attn at = attn_shape(d);
    int rc = pd_tr_attn_backward(tp, d->dq, d->dk, NULL, d->dv, d->datt, a->probs, a->q, a->k,
                                 NULL, a->v, &at, err);
    if (rc != 0)
        return rc;
    const struct pd_rope *rope = &d->m->hp.rope;
    pd_tr_rope_backward(d->dq, d->pos, rope, N, HD, (int)d->H, D);
    pd_tr_rope_backward(d->dk, d->pos, rope, N, KD, (int)d->Hkv, D);
    const float *dq = d->dq, *dk = d->dk;
    if (l->q_norm) {
        memset(d->dqp, 0, fN * (size_t)HD);
        memset(d->dkp, 0, fN * (size_t)KD);
        pd_tr_rmsnorm_backward(d->dqp, NULL, d->dq, a->qp, l->q_norm, a->rq, N * d->H, D);
        pd_tr_rmsnorm_backward(d->dkp, NULL, d->dk, a->kp, l->k_norm, a->rk, N * d->Hkv, D);
        dq = d->dqp, dk = d->dkp;
    }
    memset(d->dn, 0, fN * (size_t)E);
    project_back(d, tp, l, P_Q, d->dn, dq, a->n1, N);
    project_back(d, tp, l, P_K, d->dn, dk, a->n1, N);
    project_back(d, tp, l, P_V, d->dn, d->dv, a->n1, N);
    pd_tr_rmsnorm_backward(d->dx, NULL, d->dn, x, l->attn_norm, a->rstd1, N, E);
    return 0;
}

/* ---- the model ----------------------------------------------------------------------------- */

int
pd_dense_forward(struct pd_dense *d, struct pd_threadpool *tp, const int32_t *tokens, int B,
                 int T, char *err)
{
    const struct pd_model *m = d->m;
    if (B < 1 || T < 1 || T > m->hp.n_ctx_train)
        return pd_errorf(err, PD_EINVAL, "%d x %d tokens: the model's context is %d", B, T,
                         m->hp.n_ctx_train);
    int64_t N = (int64_t)B * T, E = d->E;
    for (int64_t n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= d->V)
            return pd_errorf(err, PD_EINVAL, "token %d outside the vocabulary (%lld)",
                             tokens[n], (long long)d->V);
    int rc = reserve(d, B, T, err);
    if (rc != 0)
        return rc;
    size_t row = pd_type_row_size(m->tok_embd.type, E);
    for (int64_t n = 0; n < N; n++)
        pd_dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data +
                          (size_t)tokens[n] * row, d->x + n * E, E);
    for (int64_t il = 0; il < d->L; il++) {
        float *in = d->saved + il * N * E;
        memcpy(in, d->x, sizeof(float) * (size_t)(N * E));
        layer_forward(d, tp, il, in, d->x);
    }
    memcpy(d->hf, d->x, sizeof(float) * (size_t)(N * E));
    pd_tr_rmsnorm_forward(d->nf, d->rstdf, d->hf, d->output_norm, N, E, m->hp.rms_eps);
    pd_tr_frozen_forward(tp, d->logits, d->wbuf, d->nf, &d->out, N);
    d->have_forward = true;
    return 0;
}

const float *
pd_dense_logits(const struct pd_dense *d)
{
    return d->logits;
}

int
pd_dense_backward_logits(struct pd_dense *d, struct pd_threadpool *tp, const float *dlogits,
                         char *err)
{
    if (!d->have_forward || d->lora == NULL)
        return pd_errorf(err, PD_EINVAL, "a backward needs a forward and an adapter");
    int64_t N = (int64_t)d->B * d->T, E = d->E;
    memset(d->lora->grads, 0, sizeof(float) * (size_t)d->lora->n_params);
    memset(d->dn, 0, sizeof(float) * (size_t)(N * E));
    pd_tr_frozen_backward(tp, d->dn, d->wbuf, dlogits, &d->out, N);
    memset(d->dx, 0, sizeof(float) * (size_t)(N * E));
    pd_tr_rmsnorm_backward(d->dx, NULL, d->dn, d->hf, d->output_norm, d->rstdf, N, E);
    for (int64_t il = d->L - 1; il >= 0; il--) {
        const float *in = d->saved + il * N * E;
        layer_forward(d, tp, il, in, d->x);   /* the activations again; d->x is scratch */
        int rc = layer_backward(d, tp, il, in, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
