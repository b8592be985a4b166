/*
 * forward.c: the context (KV cache, scratch, threads) and the forward pass: attention and dense
 * feed-forward layers here, mixture-of-experts feed-forward layers in moe.c.
 *
 * One forward pass over a batch of T tokens is one pd_threadpool_run: every thread walks the same
 * list of ops and a barrier separates each op from the next. Row-wise ops split the T tokens
 * between threads; matrix products split the weight rows; attention splits (token, head) pairs.
 *
 * A context may be one rank of a split over several devices (engine/split.c): it then runs its
 * share only (c->part: a range of layers, the embedding and the head or not, a block of experts).
 * A context on the CUDA backend runs engine/forward-cuda.c instead, from pd_context_new and
 * pd_context_decode; everything a caller reads (logits, routing, n_past) is the same.
 *
 * Shapes (glossary of kernels/cpu/ops.h): x, xn [T][E]; q [T][H*D]; k, v [T][Hkv*D];
 * att [T][H*D]; gate, up [T][F]; the cache k_cache, v_cache [n_layer][n_ctx][Hkv*D] in f32.
 */
#include "config.h"

#include "engine/forward-impl.h"
#include "engine/comm.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "kernels/backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/threadpool.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CTX_CAP 4096
#define DEFAULT_BATCH 256

void
pd_context_params_default(struct pd_context_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_batch = DEFAULT_BATCH;
    p->n_gpu_layers = -1;
}

int32_t
pd_context_params_n_ctx(const struct pd_model *m, const struct pd_context_params *p)
{
    return p->n_ctx > 0 ? p->n_ctx : PD_MIN(m->hp.n_ctx_train, DEFAULT_CTX_CAP);
}

int64_t
pd_fwd_kv_row(const struct pd_hparams *hp)
{
    if (hp->arch == PD_ARCH_DEEPSEEK2)
        return (int64_t)hp->kv_lora_rank + hp->rope.n_rot;
    return (int64_t)hp->n_head_kv * hp->head_dim;
}

int64_t
pd_fwd_widest_row(const struct pd_model *m)
{
    const struct pd_hparams *hp = &m->hp;
    int64_t w = PD_MAX(PD_MAX(hp->n_embd, hp->n_ff), (int64_t)hp->n_head * hp->head_dim);
    w = PD_MAX(w, (int64_t)hp->n_head * hp->head_dim_v);
    w = PD_MAX(w, PD_MAX(hp->q_lora_rank, pd_fwd_kv_row(hp)));
    return PD_MAX(w, PD_MAX(hp->n_ff_exp, hp->n_ff_shexp));
}

/* Bytes of quantized activations the scratch must hold: a batch of the widest rows, a batch
 * routed K ways through the experts, or (MLA) a batch once per head. Every activation format
 * takes at most 4 bytes an element plus its block headers. */
static size_t
act_scratch_size(const struct pd_model *m, int64_t T)
{
    const struct pd_hparams *hp = &m->hp;
    size_t per_row = 4, extra = 1024;
    size_t plain = (size_t)T * ((size_t)pd_fwd_widest_row(m) * per_row + extra);
    size_t routed = (size_t)T * (size_t)hp->n_expert_used *
                    ((size_t)PD_MAX(hp->n_embd, hp->n_ff_exp) * per_row + extra);
    size_t per_head = 0;
    if (hp->arch == PD_ARCH_DEEPSEEK2)
        per_head = (size_t)T * (size_t)hp->n_head *
                   ((size_t)PD_MAX(hp->kv_lora_rank, hp->head_dim) * per_row + extra);
    return PD_MAX(plain, PD_MAX(routed, per_head));
}

static int
alloc_buffers(struct pd_context *c, const struct pd_context_params *p, char *err)
{
    const struct pd_hparams *hp = &c->m->hp;
    size_t B = (size_t)c->n_batch;
    size_t E = hp->n_embd, HD = (size_t)hp->n_head * hp->head_dim;
    size_t KD = (size_t)pd_fwd_kv_row(hp), F = hp->n_ff;
    size_t HDV = (size_t)hp->n_head * hp->head_dim_v;
    size_t n_layer = (size_t)(c->part.layer_end - c->part.layer_first);
    size_t cache = n_layer * (size_t)c->n_ctx * KD;
    /* MLA keeps its values inside the K rows (the latent), so it has no V cache */
    size_t v_cache = hp->arch == PD_ARCH_DEEPSEEK2 ? 1 : cache;
    int nth = pd_threadpool_size(c->pool);
    c->n_logits = c->logits_all ? c->n_batch : 1;
#define ALLOC(field, count)                                                             \
    do {                                                                                \
        c->field = malloc(sizeof(float) * (count));                                     \
        if (c->field == NULL)                                                           \
            return pd_errorf(err, PD_ENOMEM, "out of memory allocating %s (%zu MiB)",   \
                             #field, sizeof(float) * (size_t)(count) >> 20);            \
    } while (0)
    ALLOC(k_cache, cache);
    ALLOC(v_cache, v_cache);
    ALLOC(x, B * E);
    ALLOC(xn, B * E);
    ALLOC(q, B * HD);
    ALLOC(k, B * KD);
    ALLOC(v, B * KD);
    ALLOC(att, B * PD_MAX(HD, HDV));
    ALLOC(gate, B * F);
    ALLOC(up, B * F);
    ALLOC(rope_cs, B * hp->rope.n_rot);
    ALLOC(scores, (size_t)nth * c->n_ctx);
    ALLOC(logits, (size_t)c->n_logits * hp->n_vocab);
    if (c->precise)
        ALLOC(wbuf, (size_t)nth * pd_fwd_widest_row(c->m));
#undef ALLOC
    c->xq = malloc(act_scratch_size(c->m, c->n_batch));
    if (c->xq == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for activation scratch");
    int rc = pd_moe_alloc(c, true, err);
    if (rc == 0)
        rc = pd_mla_alloc(c, err);
    if (rc == 0)
        rc = pd_lora_ctx_init(c, p, err);
    return rc ? rc : pd_split_part_alloc(c, err);
}

/* The quantized products of a CPU context read Q4_0 weights repacked, unless PONDER_REPACK=0.
 * A model too large to copy, or memory that cannot be had, leaves the rows as they are: the
 * context still runs, a little slower. */
static void
use_repacked(struct pd_context *c)
{
    char ignored[PD_ERR_MAX];
    if (c->precise || !pd_model_repack_wanted())
        return;
    c->repack = pd_model_repack(c->m, c->pool, c->part.layer_first, c->part.layer_end,
                                c->part.head, ignored) == 0;
}

bool
pd_context_repacked(const struct pd_context *c)
{
    return c->repack && c->m->repacked != NULL;
}

/* The CUDA device a context runs on: its communicator's (a rank of an NCCL group), else the
 * first of --gpus (a rank of an in-process group gets its own), else 0. */
static int
context_device(const struct pd_context_params *p)
{
    if (p->comm && pd_comm_device(p->comm) >= 0)
        return pd_comm_device(p->comm);
    return p->n_devices >= 1 ? p->devices[0] : 0;
}

/* The backend a context of m runs on: pd_backend_resolve's answer, then CUDA only for a model
 * whose weights and shapes the CUDA forward takes, on devices that exist. AUTO falls back to the
 * CPU and says why in note; an explicit --backend cuda that cannot run is an error saying what to
 * do. An in-process group is checked here once, for all its devices, and its ranks are made with
 * the backend it resolved to. */
static int
choose_backend(const struct pd_model *m, const struct pd_context_params *p, int *got, char *note,
               char *err)
{
    int rc = pd_backend_resolve(p->backend, got, err);
    if (rc || *got != PD_BACKEND_CUDA)
        return rc;
    bool explicit = p->backend == PD_BACKEND_CUDA;
    int dev = context_device(p);
    char why[PD_ERR_MAX], desc[160] = "";
    int n_devices = PD_MIN(p->n_devices, PD_MAX_DEVICES);   /* more: the split refuses them */
    if (p->comm == NULL)
        for (int r = 1; r < n_devices; r++)
            if (p->devices[r] < 0 || p->devices[r] >= pd_cuda_device_count())
                return pd_errorf(err, PD_EINVAL, "no CUDA device %d (%d found)", p->devices[r],
                                 pd_cuda_device_count());
    if (p->n_lora > 0) {
        if (explicit)
            return pd_errorf(err, PD_EUNSUPPORTED, "the CUDA backend does not apply LoRA "
                             "adapters: use --backend cpu with --lora");
        *got = PD_BACKEND_CPU;
        snprintf(note, PD_ERR_MAX, "cpu: LoRA adapters run on the CPU");
        return 0;
    }
    if (dev < 0 || dev >= pd_cuda_device_count())
        return pd_errorf(err, PD_EINVAL, "no CUDA device %d (%d found)", dev,
                         pd_cuda_device_count());
    if ((rc = pd_cuda_fwd_supported(m, why)) != 0) {
        if (explicit)
            return pd_errorf(err, rc, "%.*s: use --backend cpu", PD_ERR_MAX - 32, why);
        *got = PD_BACKEND_CPU;
        snprintf(note, PD_ERR_MAX, "cpu: %.*s", PD_ERR_MAX - 8, why);
        return 0;
    }
    pd_cuda_device_describe(dev, desc, sizeof desc);
    if (p->comm == NULL && p->n_devices > 1) {
        size_t at = (size_t)snprintf(note, PD_ERR_MAX, "cuda: devices");
        for (int r = 0; r < n_devices && at < PD_ERR_MAX; r++)
            at += (size_t)snprintf(note + at, PD_ERR_MAX - at, "%s%d", r ? "," : " ",
                                   p->devices[r]);
        if (at < PD_ERR_MAX)
            snprintf(note + at, PD_ERR_MAX - at, " (device %d: %s)", dev, desc);
    } else {
        snprintf(note, PD_ERR_MAX, "cuda: device %d (%s)", dev, desc);
    }
    return 0;
}

int
pd_context_backend(const struct pd_context *c, char *note, size_t size)
{
    if (note && size)
        snprintf(note, size, "%s", c->backend_note);
    return c->backend;
}

static int
context_new(struct pd_context **out, struct pd_model *m, const struct pd_context_params *p,
            char *err)
{
    *out = NULL;
    char note[PD_ERR_MAX] = "";
    int backend, rc = choose_backend(m, p, &backend, note, err);
    if (rc)
        return rc;
    if (backend == PD_BACKEND_CUDA && p->comm == NULL && p->n_gpu_layers >= 0 &&
        p->n_gpu_layers < m->hp.n_layer) {
        struct pd_context_params q;
        if (p->n_gpu_layers == 0) {   /* no layer on a GPU: the CPU alone */
            q = *p;
            q.backend = PD_BACKEND_CPU;
            q.n_devices = 0;
            q.split = PD_SPLIT_NONE;
            q.n_gpu_layers = -1;
            if ((rc = pd_context_new(out, m, &q, err)) == 0)
                snprintf((*out)->backend_note, PD_ERR_MAX, "cpu: --gpu-layers 0");
            return rc;
        }
        if ((rc = pd_split_offload_params(m, p, &q, err)) != 0)
            return rc;
        size_t at = strlen(note);
        int32_t L = m->hp.n_layer, N = p->n_gpu_layers;
        snprintf(note + at, PD_ERR_MAX - at, "; layers 0-%d on the CPU, %d-%d and the head on "
                 "the GPU%s", L - N - 1, L - N, L - 1, q.n_devices > 2 ? "s" : "");
        return pd_split_group_new(out, m, &q, backend, note, err);
    }
    if ((p->split != PD_SPLIT_NONE || p->n_devices > 1) && p->comm == NULL)
        return pd_split_group_new(out, m, p, backend, note, err);
    struct pd_context *c = calloc(1, sizeof *c);
    if (c == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    c->m = m;
    c->backend = backend;
    snprintf(c->backend_note, sizeof c->backend_note, "%s", note);
    c->n_ctx = pd_context_params_n_ctx(m, p);
    c->n_batch = PD_MIN(p->n_batch > 0 ? p->n_batch : DEFAULT_BATCH, c->n_ctx);
    c->logits_all = p->logits_all;
    c->precise = p->precise;
    int nth = p->n_threads > 0 ? p->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    c->pool = pd_threadpool_new(nth > 0 ? nth : 1);
    if (c->pool == NULL) {
        rc = pd_errorf(err, PD_ENOMEM, "cannot start %d threads", nth);
        goto fail;
    }
    if ((rc = pd_split_part_init(c, p, err)) != 0)
        goto fail;
    if (backend == PD_BACKEND_CUDA)
        rc = pd_cuda_fwd_new(c, context_device(p), err);
    else
        rc = alloc_buffers(c, p, err);
    if (rc)
        goto fail;
    if (backend != PD_BACKEND_CUDA)
        use_repacked(c);
    *out = c;
    return 0;
fail:
    pd_context_free(c);
    return rc;
}

int
pd_context_new(struct pd_context **out, struct pd_model *m, const struct pd_context_params *p,
               char *err)
{
    int rc = context_new(out, m, p, err);
    return p->comm ? pd_split_agree_start(p->comm, out, rc, err) : rc;
}

void
pd_context_free(struct pd_context *c)
{
    if (c == NULL)
        return;
    if (c->part.comm)
        pd_split_release(c);
    pd_cuda_fwd_free(c);
    pd_threadpool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->gate);
    free(c->up);
    free(c->rope_cs);
    free(c->scores);
    free(c->wbuf);
    free(c->xq);
    free(c->logits);
    pd_moe_free(c);
    pd_mla_free(c);
    pd_lora_ctx_free(c);
    free(c);
}

/* ---- the forward pass, run by every thread ---- */

/* y[T][ldy] = W x for up to three weights sharing the input x[T][n_in]. The activations are
 * quantized once when the weights agree on the format they need. */
float *
pd_fwd_wbuf(struct pd_context *c, int ith)
{
    return c->wbuf ? c->wbuf + (size_t)ith * pd_fwd_widest_row(c->m) : NULL;
}

void
pd_fwd_project(struct pd_context *c, int ith, int nth, int n, float *const *ys,
               const int64_t *ldys, const struct pd_weight *const *ws, const float *x, int64_t T)
{
    enum pd_type act = PD_TYPE_COUNT;
    float *wbuf = pd_fwd_wbuf(c, ith);
    for (int i = 0; i < n; i++) {
        const struct pd_weight *w = ws[i];
        enum pd_type need = pd_matmul_act_type(w->type, c->precise);
        if (need != act) {
            if (i > 0)
                BARRIER();
            pd_matmul_quantize(c->xq, x, need, w->ne[0], T, ith, nth);
            act = need;
            BARRIER();
        }
        pd_matmul(ys[i], ldys[i], w->data, pd_fwd_packed(c, w, 0), w->type, c->xq, act, wbuf,
                  w->ne[0], w->ne[1], T, ith, nth);
    }
    BARRIER();
    for (int i = 0; i < n && c->n_lora > 0; i++)
        pd_lora_apply(c, ith, nth, ys[i], ldys[i], ws[i], x, T);
}

void
pd_fwd_project1(struct pd_context *c, int ith, int nth, float *y, int64_t ldy,
                const struct pd_weight *w, const float *x, int64_t T)
{
    pd_fwd_project(c, ith, nth, 1, &y, &ldy, &w, x, T);
}

static void
norm_rows(struct pd_context *c, int ith, int nth, float *out, const float *in,
          const struct pd_weight *w, int64_t T)
{
    int64_t E = c->m->hp.n_embd;
    for (int64_t t = ith; t < T; t += nth)
        pd_rmsnorm(out + t * E, in + t * E, w->data, E, c->m->hp.rms_eps);
    BARRIER();
}

static void
add_bias(float *y, const struct pd_weight *b)
{
    if (b->data)
        pd_add(y, b->data, b->ne[0]);
}

/* Biases, Q/K norms and RoPE for token t, then its K and V into the cache. */
static void
prepare_qkv(struct pd_context *c, const struct pd_layer *l, int il, int64_t t)
{
    const struct pd_hparams *hp = &c->m->hp;
    int D = hp->head_dim;
    int64_t HD = (int64_t)hp->n_head * D, KD = (int64_t)hp->n_head_kv * D;
    float *q = c->q + t * HD, *k = c->k + t * KD, *v = c->v + t * KD;
    add_bias(q, &l->bq);
    add_bias(k, &l->bk);
    add_bias(v, &l->bv);
    if (l->q_norm.data && hp->qk_norm_full) {
        pd_rmsnorm(q, q, l->q_norm.data, HD, hp->rms_eps);
        pd_rmsnorm(k, k, l->k_norm.data, KD, hp->rms_eps);
    } else if (l->q_norm.data) {
        for (int h = 0; h < hp->n_head; h++)
            pd_rmsnorm(q + h * D, q + h * D, l->q_norm.data, D, hp->rms_eps);
        for (int h = 0; h < hp->n_head_kv; h++)
            pd_rmsnorm(k + h * D, k + h * D, l->k_norm.data, D, hp->rms_eps);
    }
    const float *cs = c->rope_cs + t * hp->rope.n_rot;
    pd_rope_apply(q, cs, &hp->rope, hp->n_head, D);
    pd_rope_apply(k, cs, &hp->rope, hp->n_head_kv, D);
    size_t at = (pd_fwd_cache_layer(c, il) + (size_t)(c->n_past + t)) * KD;
    memcpy(c->k_cache + at, k, sizeof(float) * KD);
    memcpy(c->v_cache + at, v, sizeof(float) * KD);
}

static void
attention(struct pd_context *c, int il, int ith, int nth, int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    int D = hp->head_dim, H = hp->n_head, group = hp->n_head / hp->n_head_kv;
    int64_t HD = (int64_t)H * D, KD = (int64_t)hp->n_head_kv * D;
    const float *kc = c->k_cache + pd_fwd_cache_layer(c, il) * KD;
    const float *vc = c->v_cache + pd_fwd_cache_layer(c, il) * KD;
    float scale = hp->kq_scale;
    float *scores = c->scores + (size_t)ith * c->n_ctx;
    for (int64_t i = ith; i < T * H; i += nth) {
        int64_t t = i / H;
        int h = (int)(i % H), kvh = h / group;
        pd_attention_head(c->att + t * HD + (int64_t)h * D, scores, c->q + t * HD + (int64_t)h * D,
                          kc + (int64_t)kvh * D, vc + (int64_t)kvh * D, c->n_past + t + 1, D, D,
                          KD, scale);
    }
    BARRIER();
}

static void
layer_forward(struct pd_context *c, int il, int ith, int nth, int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    const struct pd_layer *l = &c->m->layers[il];
    int64_t E = hp->n_embd, F = hp->n_ff;
    int64_t HD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;

    norm_rows(c, ith, nth, c->xn, c->x, &l->attn_norm, T);
    if (hp->arch == PD_ARCH_DEEPSEEK2) {
        pd_mla_attention(c, l, il, ith, nth, T);
    } else {
        float *qkv[3] = { c->q, c->k, c->v };
        const int64_t qkv_ld[3] = { HD, KD, KD };
        const struct pd_weight *qkv_w[3] = { &l->wq, &l->wk, &l->wv };
        pd_fwd_project(c, ith, nth, 3, qkv, qkv_ld, qkv_w, c->xn, T);
        for (int64_t t = ith; t < T; t += nth)
            prepare_qkv(c, l, il, t);
        BARRIER();
        attention(c, il, ith, nth, T);
    }
    pd_fwd_project1(c, ith, nth, c->xn, E, &l->wo, c->att, T);
    for (int64_t t = ith; t < T; t += nth) {
        add_bias(c->xn + t * E, &l->bo);
        pd_add(c->x + t * E, c->xn + t * E, E);
    }
    BARRIER();

    norm_rows(c, ith, nth, c->xn, c->x, &l->ffn_norm, T);
    if (l->moe) {
        pd_moe_forward(c, l, il, ith, nth, T);
        return;
    }
    float *gu[2] = { c->gate, c->up };
    const int64_t gu_ld[2] = { F, F };
    const struct pd_weight *gu_w[2] = { &l->ffn_gate, &l->ffn_up };
    pd_fwd_project(c, ith, nth, 2, gu, gu_ld, gu_w, c->xn, T);
    for (int64_t t = ith; t < T; t += nth)
        pd_swiglu(c->gate + t * F, c->gate + t * F, c->up + t * F, F);
    BARRIER();
    pd_fwd_project1(c, ith, nth, c->xn, E, &l->ffn_down, c->gate, T);
    for (int64_t t = ith; t < T; t += nth)
        pd_add(c->x + t * E, c->xn + t * E, E);
    BARRIER();
}

static void
forward_worker(void *arg, int ith, int nth)
{
    struct pd_context *c = arg;
    const struct pd_model *m = c->m;
    const struct pd_hparams *hp = &m->hp;
    int64_t T = c->T, E = hp->n_embd;
    size_t embd_row = pd_type_row_size(m->tok_embd.type, E);

    /* a pipeline stage past the first has received its input in c->x */
    bool embed = c->part.embed;
    for (int64_t t = ith; t < T; t += nth) {
        if (embed)
            pd_dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data +
                              (size_t)c->tokens[t] * embd_row, c->x + t * E, E);
        pd_rope_cache(c->rope_cs + t * hp->rope.n_rot, &hp->rope, c->n_past + t);
    }
    BARRIER();
    for (int il = c->part.layer_first; il < c->part.layer_end; il++)
        layer_forward(c, il, ith, nth, T);
    if (!c->part.head)
        return;

    /* Only the rows whose logits are wanted go through the output head. */
    int64_t first = c->logits_all ? 0 : T - 1;
    norm_rows(c, ith, nth, c->xn, c->x + first * E, &m->output_norm, T - first);
    pd_fwd_project1(c, ith, nth, c->logits, hp->n_vocab, &m->output, c->xn, T - first);
}

void
pd_fwd_run(struct pd_context *c, const int32_t *tokens, int32_t T)
{
    c->tokens = tokens;
    c->T = T;
    pd_threadpool_run(c->pool, forward_worker, c);
}

int
pd_context_decode(struct pd_context *c, const int32_t *tokens, int32_t n, char *err)
{
    if (n <= 0)
        return pd_errorf(err, PD_EINVAL, "nothing to decode");
    if ((int64_t)c->n_past + n > c->n_ctx)
        return pd_errorf(err, PD_ERANGE,
                         "%d tokens do not fit in the context: %d of %d positions used, %d left "
                         "(raise -c, or shorten the prompt)",
                         n, c->n_past, c->n_ctx, c->n_ctx - c->n_past);
    int32_t n_vocab = c->m->hp.n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return pd_errorf(err, PD_EINVAL, "token %d at position %d is outside the vocabulary "
                             "(%d tokens)", tokens[i], i, n_vocab);
    if (c->logits_all && n > c->n_batch)
        return pd_errorf(err, PD_EINVAL, "with all logits kept, at most %d tokens a call",
                         c->n_batch);
    if (c->part.comm)
        return pd_split_decode(c, tokens, n, err);
    if (c->cuda)
        return pd_cuda_fwd_decode(c, tokens, n, err);
    for (int32_t done = 0; done < n; done += c->T) {
        pd_fwd_run(c, tokens + done, PD_MIN(n - done, c->n_batch));
        c->n_past += c->T;
    }
    return 0;
}

const float *
pd_context_logits(const struct pd_context *c, int32_t i)
{
    PD_ASSERT(!c->logits_pending);   /* deferred on the device: fetch first */
    if (!c->logits_all)
        return c->logits;
    return c->logits + (size_t)i * c->m->hp.n_vocab;
}

const struct pd_routing *
pd_context_routing(const struct pd_context *c, int32_t i)
{
    if (c->moe.n_layers == 0 || c->T == 0)
        return NULL;
    if (i < 0)
        i = c->T - 1;
    return i < c->T ? &c->moe.routing[i] : NULL;
}

const float *
pd_context_last_logits(const struct pd_context *c)
{
    return pd_context_logits(c, c->logits_all ? c->T - 1 : 0);
}

int
pd_context_candidates(struct pd_context *c, int32_t k, struct pd_candidates *out, char *err)
{
    if (k < 1 || k > PD_CANDIDATES_MAX)
        return pd_errorf(err, PD_EINVAL, "%d sampling candidates asked for (1 to %d)", k,
                         PD_CANDIDATES_MAX);
    if (c->cuda && c->device_sampling)
        return pd_cuda_fwd_candidates(c, k, out, err);
    int rc = pd_context_fetch_logits(c, err);
    if (rc == 0)
        pd_candidates_from_logits(out, pd_context_last_logits(c), c->m->hp.n_vocab, k);
    return rc;
}

int
pd_context_defer_logits(struct pd_context *c, bool on, char *err)
{
    if (c->cuda == NULL || !c->device_sampling)
        return 0;
    c->defer_logits = on;
    return on ? 0 : pd_context_fetch_logits(c, err);
}

int
pd_context_fetch_logits(struct pd_context *c, char *err)
{
    return c->cuda ? pd_cuda_fwd_fetch_logits(c, err) : 0;
}

struct pd_model *
pd_context_model(const struct pd_context *c)
{
    return c->m;
}

int32_t
pd_context_n_past(const struct pd_context *c)
{
    return c->n_past;
}

int32_t
pd_context_n_ctx(const struct pd_context *c)
{
    return c->n_ctx;
}

int32_t
pd_context_n_threads(const struct pd_context *c)
{
    return pd_threadpool_size(c->pool);
}

void
pd_context_truncate(struct pd_context *c, int32_t pos)
{
    if (c->part.comm)
        pd_split_truncate(c, pos);
    else if (pos >= 0 && pos < c->n_past)
        c->n_past = pos;
}
