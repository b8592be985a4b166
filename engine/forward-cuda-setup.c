/*
 * forward-cuda-setup.c: making a CUDA context (engine/forward-cuda.c runs it): whether a model's
 * weights and shapes have kernels, the weights copied to the device once as the file holds them,
 * the KV cache, activations and sampling buffers, the host side of the routing trace; and
 * freeing it all. An allocation that does not fit says what it was for and what to try.
 */
#include "config.h"

#include "engine/forward-cuda-impl.h"
#include "engine/sampler.h"
#include "engine/split.h"
#include "engine/weight-plan.h"

#include <stdlib.h>
#include <string.h>

/* ---- what runs here ---- */

struct each_weight {
    int (*fn)(const struct pd_weight *, void *);
    void *ud;
};

static int
each_layer_weight(const struct pd_weight *w, bool experts, void *ud)
{
    (void)experts;
    struct each_weight *ew = ud;
    return ew->fn(w, ew->ud);
}

/* Every weight of the model, for the checks below. */
static int
each_weight(const struct pd_model *m, int (*fn)(const struct pd_weight *, void *), void *ud)
{
    int rc;
    if ((rc = fn(&m->tok_embd, ud)) || (rc = fn(&m->output_norm, ud)) ||
        (rc = fn(&m->output, ud)))
        return rc;
    struct each_weight ew = { fn, ud };
    for (int il = 0; il < m->hp.n_layer; il++)
        if ((rc = pd_layer_each_weight(&m->layers[il], each_layer_weight, &ew)) != 0)
            return rc;
    return 0;
}

struct weight_check {
    const struct pd_model *m;
    char *err;
};

static int
check_weight(const struct pd_weight *w, void *ud)
{
    struct weight_check *wc = ud;
    const struct pd_gguf *g = wc->m->gguf;
    const uint8_t *base = g->map + g->data_offset, *p = w->data;
    if (p == NULL)
        return 0;
    if (!pd_cuda_type_supported(w->type)) {
        const struct pd_type_traits *tr = pd_type_traits_get((uint32_t)w->type);
        return pd_errorf(wc->err, PD_EUNSUPPORTED, "%s has %s weights, which have no CUDA kernel "
                         "(CUDA runs f32 f16 bf16 q4_0 q4_1 q8_0 q4_K q6_K)", wc->m->name,
                         tr ? tr->name : "unknown");
    }
    if (p < base || p >= g->map + g->size)
        return pd_errorf(wc->err, PD_EUNSUPPORTED, "%s: a weight lies outside the file's tensor "
                         "data, which is what goes to the device", wc->m->name);
    return 0;
}

int
pd_cuda_fwd_supported(const struct pd_model *m, char *err)
{
    const struct pd_hparams *hp = &m->hp;
    char msg[PD_ERR_MAX];
    struct weight_check wc = { m, err };
    int rc = each_weight(m, check_weight, &wc);
    if (rc)
        return rc;
    struct pd_cuda_attn a = { .T = 1, .n_kv = 1, .H = hp->n_head, .Hkv = hp->n_head_kv,
                              .D = hp->head_dim, .Dv = hp->head_dim, .scale = 1.0f };
    if (hp->arch == PD_ARCH_DEEPSEEK2) {
        a.Hkv = 1;
        a.D = (int)pd_fwd_kv_row(hp);
        a.Dv = hp->kv_lora_rank;
    }
    if (pd_cuda_attention_check(&a, msg, sizeof msg) != 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s on CUDA: %s", m->name, msg);
    if (hp->rope.n_rot < 2 || hp->rope.n_rot % 2 || hp->rope.n_rot > hp->head_dim)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s on CUDA: rotary dimensions %d do not fit "
                         "heads of %d", m->name, hp->rope.n_rot, hp->head_dim);
    if (hp->n_expert > 0) {
        struct pd_cuda_router r = pd_cuda_fwd_router(hp);
        if (pd_cuda_router_check(&r, msg, sizeof msg) != 0)
            return pd_errorf(err, PD_EUNSUPPORTED, "%s on CUDA: %s", m->name, msg);
    }
    return 0;
}

/* ---- making and freeing ---- */

static int
dev_alloc(struct pd_cuda_ctx *g, void *ptr, size_t bytes, const char *what, char *err)
{
    void **p = ptr;
    PD_ASSERT(g->n_bufs < MAX_DEV_BUFFERS);
    if (pd_cuda_alloc(g->dev, p, bytes ? bytes : 1, what, err, PD_ERR_MAX) != 0)
        return PD_ENOMEM;
    g->bufs[g->n_bufs++] = *p;
    return 0;
}

/* "layers 15-29 of 30", "experts 64-127 of 256" or "" (unsplit), for messages. */
static void
describe_share(const struct pd_context *c, char *buf, size_t size)
{
    const struct pd_part *pt = &c->part;
    const struct pd_hparams *hp = &c->m->hp;
    buf[0] = '\0';
    if (pt->mode == PD_SPLIT_LAYER)
        snprintf(buf, size, ", layers %d-%d of %d", pt->layer_first, pt->layer_end - 1,
                 hp->n_layer);
    else if (pt->mode == PD_SPLIT_EXPERT)
        snprintf(buf, size, ", experts %d-%d of %d", pt->expert_first, pt->expert_end - 1,
                 hp->n_expert);
}

/* The weights this context's share reads (engine/weight-plan.h), copied span by span into one
 * device buffer. */
static int
upload_weights(struct pd_context *c, struct pd_cuda_ctx *g, char *err)
{
    const struct pd_model *m = c->m;
    const struct pd_gguf *gg = m->gguf;
    char what[200], share[80];
    int rc;
    g->host_base = gg->map + gg->data_offset;
    if ((rc = pd_weight_plan_make(&g->plan, m, c->part.comm ? &c->part : NULL, err)) != 0)
        return rc;
    describe_share(c, share, sizeof share);
    snprintf(what, sizeof what, "the weights of %s (%.1f GiB%s)", m->name,
             (double)g->plan.held / (1 << 30), share);
    if ((rc = dev_alloc(g, &g->weights, g->plan.bytes, what, err)) != 0)
        return rc;
    for (int i = 0; i < g->plan.n; i++) {
        const struct pd_weight_span *sp = &g->plan.spans[i];
        CK(pd_cuda_dev_upload(g->x, g->weights + sp->dev, g->host_base + sp->first,
                              sp->end - sp->first, what, err, PD_ERR_MAX));
    }
    if (m->rope_freqs) {
        size_t n = sizeof(float) * (size_t)(m->hp.rope.n_rot / 2);
        if ((rc = dev_alloc(g, &g->freq_factors, n, "the rope frequency factors", err)) != 0)
            return rc;
        CK(pd_cuda_dev_upload(g->x, g->freq_factors, m->rope_freqs, n, "rope_freqs", err,
                              PD_ERR_MAX));
    }
    CK(pd_cuda_exec_sync(g->x, "uploading the weights", err, PD_ERR_MAX));
    return 0;
}

static int
alloc_activations(struct pd_context *c, struct pd_cuda_ctx *g, char *err)
{
    const struct pd_hparams *hp = &c->m->hp;
    size_t B = (size_t)c->n_batch, E = (size_t)hp->n_embd, F = (size_t)PD_MAX(hp->n_ff, 1);
    size_t H = (size_t)hp->n_head, HD = H * (size_t)hp->head_dim;
    size_t HDV = H * (size_t)hp->head_dim_v, KD = (size_t)pd_fwd_kv_row(hp);
    /* the cache holds this context's layers only (a layer split's share) */
    size_t n_layer = (size_t)hp->n_layer;
    size_t cache = (size_t)(c->part.layer_end - c->part.layer_first) * (size_t)c->n_ctx * KD;
    bool mla = hp->arch == PD_ARCH_DEEPSEEK2;
    size_t X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
    size_t Fe = (size_t)hp->n_ff_exp, Fs = (size_t)hp->n_ff_shexp;
    int rc = 0;
#define DA(field, count, what)                                                           \
    do {                                                                                 \
        if ((rc = dev_alloc(g, &g->field, sizeof *g->field * (size_t)(count), what, err))) \
            return rc;                                                                   \
    } while (0)
    DA(k_cache, cache, "the KV cache (keys; lower -c to shrink it)");
    if (!mla)
        DA(v_cache, cache, "the KV cache (values; lower -c to shrink it)");
    DA(x_, B * E, "the hidden state");
    DA(xn, B * E, "the normed hidden state");
    DA(q, B * HD, "the queries");
    DA(k, B * KD, "the keys");
    DA(v, B * KD, "the values");
    DA(att, B * PD_MAX(HD, HDV), "the attention output");
    DA(gate, B * F, "the FFN gate");
    DA(up, B * F, "the FFN up projection");
    DA(logits, (size_t)c->n_logits * (size_t)hp->n_vocab, "the logits");
    DA(tokens, B, "the tokens");
    DA(pos, B, "the positions");
    if (X > 0) {
        DA(probs, B * X, "the router logits");
        DA(ids, B * K, "the chosen experts");
        DA(rw, B * K, "the expert weights");
        DA(rh, B, "the router entropy");
        DA(row_token, B * K, "the expert grouping");
        DA(token_row, B * K, "the expert grouping");
        DA(rx, B * K * E, "the gathered expert inputs");
        DA(rgate, B * K * Fe, "the expert gates");
        DA(rup, B * K * Fe, "the expert up projections");
        DA(rout, B * K * E, "the expert outputs");
        if (c->part.mode == PD_SPLIT_EXPERT)
            DA(moe_part, B * E, "this device's share of the MoE outputs");
        DA(step_ids, n_layer * K, "the decode step's routing");
        DA(step_w, n_layer * K, "the decode step's routing");
        DA(step_h, n_layer, "the decode step's routing");
        DA(step_rows, K, "the decode step's routing");
        if (Fs > 0) {
            DA(sgate, B * Fs, "the shared expert's gate");
            DA(sup, B * Fs, "the shared expert's up projection");
            DA(sout, B * E, "the shared expert's output");
            DA(sg, B, "the shared expert's gate logit");
        }
    }
    if (mla) {
        size_t R = (size_t)hp->kv_lora_rank;
        DA(qa, B * (size_t)PD_MAX(hp->q_lora_rank, 1), "the query bottleneck");
        DA(qabs, B * H * KD, "the latent queries");
        DA(olat, B * H * R, "the latent attention outputs");
    }
    DA(cand, pd_cuda_candidates_bytes(PD_CANDIDATES_MAX), "the sampling candidates");
    DA(cand_scratch, pd_cuda_candidates_scratch(hp->n_vocab, PD_CANDIDATES_MAX),
       "the sampling candidates");
#undef DA
    g->h_cand = malloc(pd_cuda_candidates_bytes(PD_CANDIDATES_MAX));
    if (g->h_cand == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the sampling candidates");
    g->h_pos = malloc(sizeof(int32_t) * B);
    g->h_ids = malloc(sizeof(int32_t) * B * PD_MAX(K, 1));
    g->h_w = malloc(sizeof(float) * B * PD_MAX(K, 1));
    g->h_h = malloc(sizeof(float) * B);
    if (!g->h_pos || !g->h_ids || !g->h_w || !g->h_h)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the routing staging");
    if (X > 0) {
        for (size_t k = 0; k < K; k++)
            g->h_ids[k] = (int32_t)k;
        CK(pd_cuda_dev_upload(g->x, g->step_rows, g->h_ids, sizeof(int32_t) * K,
                              "the decode step's routing", err, PD_ERR_MAX));
    }
    return 0;
}

void
pd_cuda_fwd_free(struct pd_context *c)
{
    struct pd_cuda_ctx *g = c->cuda;
    if (g == NULL)
        return;
    char err[PD_ERR_MAX];
    if (g->x)
        pd_cuda_exec_bind(g->x, err, sizeof err);
    pd_cuda_exec_free(g->x); /* waits for the stream first */
    pd_weight_plan_free(&g->plan);
    for (int i = 0; i < g->n_bufs; i++)
        pd_cuda_free(g->bufs[i]);
    free(g->h_pos);
    free(g->h_ids);
    free(g->h_w);
    free(g->h_h);
    free(g->h_cand);
    free(g);
    c->cuda = NULL;
}

int
pd_cuda_fwd_new(struct pd_context *c, int dev, char *err)
{
    int rc = pd_cuda_fwd_supported(c->m, err);
    if (rc)
        return rc;
    struct pd_cuda_ctx *g = calloc(1, sizeof *g);
    if (g == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    c->cuda = g;
    g->dev = dev;
    const char *graphs = getenv("PONDER_CUDA_GRAPHS"), *sample = getenv("PONDER_CUDA_SAMPLE");
    /* an expert split's step has collectives between its kernels, and a pipeline stage with
     * nothing to do has no kernels: neither is recorded */
    const struct pd_part *pt = &c->part;
    bool work = pt->layer_end > pt->layer_first || pt->embed || pt->head;
    g->record = (graphs == NULL || strcmp(graphs, "0") != 0) && pt->mode != PD_SPLIT_EXPERT &&
                work;
    /* sampling reads the logits where they are made: on the rank with the head */
    c->device_sampling = (sample == NULL || strcmp(sample, "0") != 0) && c->part.head;
    if (pd_cuda_exec_new(&g->x, dev, err, PD_ERR_MAX) != 0)
        return PD_EIO;
    const char *half = getenv("PONDER_CUDA_HALF");
    pd_cuda_exec_set_half(g->x, half != NULL && strcmp(half, "1") == 0);
    /* the device's logits rows are sized by n_logits: set it first */
    c->n_logits = c->logits_all ? c->n_batch : 1;
    if ((rc = upload_weights(c, g, err)) || (rc = alloc_activations(c, g, err)) ||
        (rc = pd_moe_alloc(c, false, err)))
        return rc;
    c->logits = malloc(sizeof(float) * (size_t)c->n_logits * (size_t)c->m->hp.n_vocab);
    if (c->logits == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the logits");
    return pd_split_part_alloc(c, err);
}
