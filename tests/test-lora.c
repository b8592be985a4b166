/*
 * test-lora.c: LoRA adapters, written by the trainer and applied by the inference engine.
 *
 *   - an adapter ponder writes reads back (keys, alpha, every tensor) through the GGUF reader
 *     and through engine/lora.c;
 *   - on the bundled model (deepseek2, F32), the engine's logits with the adapter beside the
 *     weights equal those of the model with s B A merged into them (pd_tlora_merge), and those
 *     of the training forward with the adapter attached;
 *   - on SmolLM2 (llama, Q4_1), an F32 adapter applied beside the quantized weights gives the
 *     logits of the same model whose adapted weights are replaced here by dequantized W + s B A
 *     in F32 (precise mode, so both products run in float);
 *   - the adapter's gradients of A and B against central differences of the loss (the float32
 *     forward, differenced in float64), leaving out the steps that move a token to another
 *     expert (a jump, not a slope); and the adapted weights getting no gradient;
 *   - bad adapters: another architecture, a missing base tensor, mismatched shapes, a lone
 *     half, a truncated file: each refused with a message naming the problem.
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/train/bpe-train.h"
#include "engine/train/lora-train.h"
#include "engine/train/model.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

static char tmpdir[256];

static void
skip(int n, const char *why)
{
    for (int i = 0; i < n; i++)
        ok(1, "# SKIP %s", why);
}

static const char *
tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* A deterministic small value for index i of stream seed. */
static float
wave(int64_t i, int seed)
{
    return 0.05f * sinf((float)(i * 7 + seed * 13) * 0.37f);
}

static float
max_rel_diff(const float *a, const float *b, int64_t n)
{
    float worst = 0.0f, scale = 1e-3f;
    for (int64_t i = 0; i < n; i++)
        scale = fmaxf(scale, fabsf(b[i]));
    for (int64_t i = 0; i < n; i++)
        worst = fmaxf(worst, fabsf(a[i] - b[i]) / scale);
    return worst;
}

/* Logits [n][V] of tokens through model m with the adapters in cp (precise), malloc'd. */
static float *
engine_logits(struct pd_model *m, const int32_t *ids, int n, int n_lora, const char *const *paths,
              char *err)
{
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    cp.n_ctx = 64, cp.n_threads = 2, cp.logits_all = true, cp.precise = true;
    cp.n_lora = n_lora;
    for (int i = 0; i < n_lora; i++)
        cp.lora_path[i] = paths[i], cp.lora_scale[i] = 1.0f;
    struct pd_context *ctx = NULL;
    int rc = pd_context_new(&ctx, m, &cp, err);
    if (rc == 0)
        rc = pd_context_decode(ctx, ids, n, err);
    float *out = NULL;
    int64_t V = m->hp.n_vocab;
    if (rc == 0 && (out = malloc(sizeof(float) * (size_t)(n * V))) != NULL)
        for (int i = 0; i < n; i++)
            memcpy(out + i * V, pd_context_logits(ctx, i), sizeof(float) * (size_t)V);
    pd_context_free(ctx);
    return out;
}

/* ---- the bundled model ----------------------------------------------------------------------- */

static struct pd_tmodel *
tiny_tmodel(const char *path)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    struct pd_tmodel *m = NULL;
    if (pd_gguf_open(&g, path, err) != 0 || pd_tmodel_from_gguf(&m, g, err) != 0)
        diag("%s: %s", path, err);
    pd_gguf_close(g);
    return m;
}

/* (a): the file's keys and tensors, and engine/lora.c's view of them. */
static void
check_readback(const struct pd_tlora *l, const struct pd_tmodel *tm, const char *path,
               const struct pd_model *pm)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    if (!ok(pd_gguf_open(&g, path, err) == 0, "the adapter opens as a GGUF")) {
        diag("%s", err);
        return;
    }
    const char *type = "", *arch = "", *atype = "";
    float alpha = 0.0f;
    pd_gguf_get_str(g, "general.type", &type);
    pd_gguf_get_str(g, "general.architecture", &arch);
    pd_gguf_get_str(g, "adapter.type", &atype);
    pd_gguf_get_f32(g, "adapter.lora.alpha", &alpha);
    ok(strcmp(type, "adapter") == 0 && strcmp(arch, "deepseek2") == 0 &&
       strcmp(atype, "lora") == 0 && alpha == l->alpha,
       "keys: general.type %s, architecture %s, adapter.type %s, alpha %g", type, arch, atype,
       alpha);
    is_int((int)g->n_tensors, 2 * l->n_pairs, "two tensors per adapted weight");
    int same = 0;
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        char an[96], bn[96];
        snprintf(an, sizeof an, "%s.lora_a", tm->tensors[q->tensor].name);
        snprintf(bn, sizeof bn, "%s.lora_b", tm->tensors[q->tensor].name);
        const struct pd_gguf_tensor *a = pd_gguf_tensor(g, an), *b = pd_gguf_tensor(g, bn);
        same += a && b && a->ne[0] == (uint64_t)q->n_in && a->ne[1] == (uint64_t)l->rank &&
                b->ne[0] == (uint64_t)l->rank && b->ne[1] == (uint64_t)q->n_out &&
                memcmp(a->data, l->params + q->a, a->nbytes) == 0 &&
                memcmp(b->data, l->params + q->b, b->nbytes) == 0;
    }
    is_int(same, l->n_pairs, "every lora_a {n_in, r} and lora_b {r, n_out} holds its values");
    pd_gguf_close(g);
    struct pd_lora *el = NULL;
    int rc = pd_lora_load(&el, pm, path, 2.0f, err);
    if (!ok(rc == 0, "engine/lora.c loads it")) {
        diag("%s", err);
        return;
    }
    int found = 0;
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        const struct pd_gguf_tensor *t = pd_gguf_tensor(pm->gguf, tm->tensors[q->tensor].name);
        struct pd_weight w = { .data = t ? t->data : NULL };
        const struct pd_lora_pair *p = pd_lora_find(el, &w);
        found += p && p->r == l->rank && fabsf(p->s - 2.0f * l->s) < 1e-6f &&
                 memcmp(p->a, l->params + q->a, sizeof(float) * (size_t)(l->rank * q->n_in)) == 0 &&
                 memcmp(p->b, l->params + q->b, sizeof(float) * (size_t)(l->rank * q->n_out)) == 0;
    }
    is_int(found, l->n_pairs, "with the same pairs, and s = scale * alpha / r");
    pd_lora_free(el);
}

static void
check_tiny(struct pd_threadpool *tp)
{
    char err[PD_ERR_MAX];
    const char *base = test_path("../models/ponder-tiny.gguf");
    struct pd_tmodel *tm = tiny_tmodel(base);
    struct pd_model *pm = NULL;
    if (!ok(tm && pd_model_load(&pm, base, err) == 0, "the bundled model loads"))
        return;
    struct pd_tlora *l = NULL;
    PD_ASSERT(pd_tlora_new(&l, tm, 4, 8.0f, PD_TLORA_ALL, 7, err) == 0);
    for (int i = 0; i < l->n_pairs; i++)   /* B away from zero, so the adapter shows */
        for (int64_t k = 0; k < l->pairs[i].n_out * l->rank; k++)
            l->params[l->pairs[i].b + k] = 2.0f * wave(k, i);
    const char *ad = tmp_path("tiny-lora.gguf");
    int rc = pd_tlora_write_gguf(l, "test", ad, err);
    ok(rc == 0, "an adapter of rank 4 on %d weights written (%s)", l->n_pairs, rc ? err : ad);
    check_readback(l, tm, ad, pm);

    int32_t ids[24];
    for (int i = 0; i < 24; i++)
        ids[i] = (i * 37 + 11) % pm->hp.n_vocab;
    float *with = engine_logits(pm, ids, 24, 1, &ad, err);
    float *plain = engine_logits(pm, ids, 24, 0, NULL, err);
    int64_t NV = 24 * (int64_t)pm->hp.n_vocab;
    ok(with && plain && max_rel_diff(with, plain, NV) > 1e-2f, "the adapter changes the logits");

    /* the training forward with the adapter attached, and the merged model */
    tm->lora = l;
    PD_ASSERT(pd_tmodel_forward(tm, tp, ids, NULL, 1, 24, NULL, NULL, err) == 0);
    float d = with ? max_rel_diff(with, pd_tmodel_logits(tm), NV) : 1.0f;
    ok(d < 1e-4f, "engine --lora = the training forward with the adapter (rel %.1e)", d);
    tm->lora = NULL;
    pd_tlora_merge(l, tm);
    struct pd_gguf *g = NULL;
    struct pd_bpe *tok = NULL;
    PD_ASSERT(pd_gguf_open(&g, base, err) == 0 && pd_bpe_from_gguf(&tok, g, err) == 0);
    pd_gguf_close(g);
    const char *merged = tmp_path("tiny-merged.gguf");
    PD_ASSERT(pd_tmodel_write_gguf(tm, tok, "merged", merged, err) == 0);
    struct pd_model *mm = NULL;
    PD_ASSERT(pd_model_load(&mm, merged, err) == 0);
    float *ref = engine_logits(mm, ids, 24, 0, NULL, err);
    d = with && ref ? max_rel_diff(with, ref, NV) : 1.0f;
    ok(d < 1e-4f, "engine --lora = the model with s B A merged in (rel %.1e)", d);
    free(with), free(plain), free(ref);
    pd_model_free(mm), pd_model_free(pm), pd_bpe_free(tok);
    pd_tlora_free(l), pd_tmodel_free(tm);
}

/* ---- SmolLM2: a quantized base, the adapter beside it ---------------------------------------- */

struct adapted {
    struct pd_weight *w;
    char name[64];
};

/* An adapter on a few of SmolLM2's weights, written by hand in llama.cpp's format. */
static int
write_smol_adapter(struct pd_model *m, struct adapted *ad, int n, float **ab, int r,
                   float alpha, const char *path, char *err)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    pd_gguf_writer_set_str(w, "general.architecture", m->hp.arch_name);
    pd_gguf_writer_set_str(w, "general.type", "adapter");
    pd_gguf_writer_set_str(w, "adapter.type", "lora");
    pd_gguf_writer_set_f32(w, "adapter.lora.alpha", alpha);
    char names[16][80];
    for (int i = 0; i < n; i++) {
        int64_t n_in = ad[i].w->ne[0], n_out = ad[i].w->ne[1];
        ab[2 * i] = malloc(sizeof(float) * (size_t)(r * n_in));
        ab[2 * i + 1] = malloc(sizeof(float) * (size_t)(n_out * r));
        for (int64_t k = 0; k < r * n_in; k++)
            ab[2 * i][k] = wave(k, 3 * i + 1);
        for (int64_t k = 0; k < n_out * r; k++)
            ab[2 * i + 1][k] = wave(k, 3 * i + 2);
        uint64_t nea[2] = { (uint64_t)n_in, (uint64_t)r }, neb[2] = { (uint64_t)r,
                                                                     (uint64_t)n_out };
        snprintf(names[2 * i], sizeof names[0], "%s.lora_a", ad[i].name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s.lora_b", ad[i].name);
        pd_gguf_writer_add_tensor(w, names[2 * i], PD_TYPE_F32, 2, nea, ab[2 * i],
                                  sizeof(float) * nea[0] * nea[1]);
        pd_gguf_writer_add_tensor(w, names[2 * i + 1], PD_TYPE_F32, 2, neb, ab[2 * i + 1],
                                  sizeof(float) * neb[0] * neb[1]);
    }
    int rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    return rc;
}

static void
check_smollm2(void)
{
    char err[PD_ERR_MAX];
    const char *path = test_model_path();
    struct pd_model *m = NULL;
    if (access(path, R_OK) != 0 || pd_model_load(&m, path, err) != 0) {
        skip(3, "no SmolLM2 model: run tests/fetch-model");
        return;
    }
    struct pd_layer *L = m->layers;
    struct adapted ad[] = {
        { &L[0].wq, "blk.0.attn_q.weight" }, { &L[0].wv, "blk.0.attn_v.weight" },
        { &L[7].wo, "blk.7.attn_output.weight" }, { &L[12].ffn_gate, "blk.12.ffn_gate.weight" },
        { &L[29].ffn_down, "blk.29.ffn_down.weight" },
    };
    int n = (int)PD_ARRAY_SIZE(ad), r = 4;
    float alpha = 16.0f, s = alpha / (float)r, *ab[10];
    const char *file = tmp_path("smol-lora.gguf");
    ok(write_smol_adapter(m, ad, n, ab, r, alpha, file, err) == 0, "a SmolLM2 adapter written");
    int32_t ids[8] = { 1, 504, 3153, 314, 260, 2082, 28, 2 };
    float *with = engine_logits(m, ids, 8, 1, &file, err);
    if (with == NULL)
        diag("%s", err);
    /* the reference: each adapted weight replaced by dequantized W + s B A, in F32 */
    float *merged[5];
    struct pd_weight saved[5];
    for (int i = 0; i < n; i++) {
        struct pd_weight *w = ad[i].w;
        int64_t n_in = w->ne[0], n_out = w->ne[1];
        size_t row = pd_type_row_size(w->type, n_in);
        merged[i] = malloc(sizeof(float) * (size_t)(n_in * n_out));
        for (int64_t o = 0; o < n_out; o++) {
            float *dst = merged[i] + o * n_in;
            pd_dequantize_row(w->type, (const char *)w->data + o * row, dst, n_in);
            for (int64_t k = 0; k < n_in; k++) {
                double d = 0.0;
                for (int j = 0; j < r; j++)
                    d += (double)ab[2 * i + 1][o * r + j] * ab[2 * i][j * n_in + k];
                dst[k] += (float)(s * d);
            }
        }
        saved[i] = *w;
        w->data = merged[i], w->type = PD_TYPE_F32, w->expert_stride = 0;
    }
    float *ref = engine_logits(m, ids, 8, 0, NULL, err);
    for (int i = 0; i < n; i++)
        *ad[i].w = saved[i];
    float *plain = engine_logits(m, ids, 8, 0, NULL, err);
    int64_t NV = 8 * (int64_t)m->hp.n_vocab;
    float d = with && ref ? max_rel_diff(with, ref, NV) : 1.0f;
    ok(with && plain && max_rel_diff(with, plain, NV) > 1e-3f, "the adapter changes the logits");
    ok(d < 2e-4f, "Q4_1 + F32 adapter beside it = merged F32 weights (rel %.1e)", d);
    for (int i = 0; i < n; i++)
        free(merged[i]), free(ab[2 * i]), free(ab[2 * i + 1]);
    free(with), free(ref), free(plain);
    pd_model_free(m);
}

/* ---- gradients ------------------------------------------------------------------------------- */

static double
loss_at(struct pd_tmodel *m, struct pd_threadpool *tp, const int32_t *ids, const int32_t *tg,
        int T)
{
    char err[PD_ERR_MAX];
    float loss = 0.0f;
    PD_ASSERT(pd_tmodel_forward(m, tp, ids, tg, 1, T, &loss, NULL, err) == 0);
    return loss;
}

static void
check_grads(struct pd_threadpool *tp)
{
    char err[PD_ERR_MAX];
    struct pd_tmodel_config c;
    pd_tmodel_config_default(&c);
    static const char *const sets[] = { "vocab", "40", "ctx", "16", "embd", "16", "layers", "2",
                                        "heads", "2", "q_lora", "8", "kv_lora", "8", "qk_nope",
                                        "4", "qk_rope", "4", "v_head", "4", "ff", "24",
                                        "experts", "4", "experts_used", "2", "ff_exp", "8",
                                        "shared", "1" };
    for (size_t i = 0; i < PD_ARRAY_SIZE(sets); i += 2)
        PD_ASSERT(pd_tmodel_config_set(&c, sets[i], sets[i + 1], err) == 0);
    struct pd_tmodel *m = NULL;
    struct pd_tlora *l = NULL;
    PD_ASSERT(pd_tmodel_new(&m, &c, 5, err) == 0);
    for (int64_t i = 0; i < m->n_params; i++)   /* weights large enough to matter */
        m->params[i] *= 4.0f;
    PD_ASSERT(pd_tlora_new(&l, m, 2, 4.0f, PD_TLORA_ALL, 9, err) == 0);
    int32_t ids[12], tg[12];
    for (int i = 0; i < 12; i++)
        ids[i] = (i * 11 + 3) % 40, tg[i] = (i * 7 + 5) % 40;
    double plain = loss_at(m, tp, ids, tg, 12);
    m->lora = l;
    ok(loss_at(m, tp, ids, tg, 12) == plain, "with B = 0 the adapter leaves the model as it is");
    for (int i = 0; i < l->n_pairs; i++)
        for (int64_t k = 0; k < l->pairs[i].n_out * l->rank; k++)
            l->params[l->pairs[i].b + k] = 4.0f * wave(k, i);
    double base = loss_at(m, tp, ids, tg, 12);
    PD_ASSERT(pd_tmodel_backward(m, tp, err) == 0);
    float *ana = malloc(sizeof(float) * (size_t)l->n_params);
    memcpy(ana, l->grads, sizeof(float) * (size_t)l->n_params);
    /* a step that moves a token to another expert is a jump, not a slope: such picks are
     * left out, told by the expert load changing */
    size_t nload = sizeof(float) * (size_t)(m->n_moe * c.n_expert);
    float *load0 = malloc(nload);
    memcpy(load0, m->load, nload);
    double worst = 0.0, biggest = 0.0;
    int checked = 0, jumped = 0;
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        int64_t picks[2] = { q->a + (i * 5) % (l->rank * q->n_in),
                             q->b + (i * 3) % (l->rank * q->n_out) };
        for (int k = 0; k < 2; k++, checked++) {
            float *p = l->params + picks[k], keep = *p;
            double h = 1e-3;
            *p = keep + (float)h;
            double lp = loss_at(m, tp, ids, tg, 12);
            bool jump = memcmp(load0, m->load, nload) != 0;
            *p = keep - (float)h;
            double lm = loss_at(m, tp, ids, tg, 12);
            jump |= memcmp(load0, m->load, nload) != 0;
            *p = keep;
            if (jump) {
                jumped++;
                continue;
            }
            double num = (lp - lm) / (2.0 * h);
            worst = fmax(worst, fabs(num - ana[picks[k]]));
            biggest = fmax(biggest, fabs(num));
        }
    }
    double rel = biggest > 0 ? worst / biggest : 1.0;
    ok(rel < 1e-2 && biggest > 1e-3 && jumped < checked / 2, "dA, dB on %d weights match "
       "central differences (rel %.1e of %.1e; loss %.3f; %d of %d picks moved an expert)",
       l->n_pairs, rel, biggest, base, jumped, checked);
    free(load0);
    const struct pd_tparam *wo = pd_tmodel_find(m, "blk.1.attn_output.weight");
    double gw = 0.0;
    for (int64_t i = 0; wo && i < wo->n; i++)
        gw += fabs(m->grads[wo->offset + i]);
    ok(wo && gw == 0.0, "the adapted weights stay frozen: no gradient");
    m->lora = NULL;
    free(ana);
    pd_tlora_free(l), pd_tmodel_free(m);
}

/* ---- bad adapters ---------------------------------------------------------------------------- */

/* An adapter for the bundled model with one pair: base name, lora_a ne, lora_b ne (b_ne0 0: no
 * lora_b), architecture arch. */
static void
write_bad(const char *path, const char *arch, const char *base, uint64_t a0, uint64_t a1,
          uint64_t b0, uint64_t b1)
{
    char err[PD_ERR_MAX], an[96], bn[96];
    static float zeros[1 << 16];
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    pd_gguf_writer_set_str(w, "general.architecture", arch);
    pd_gguf_writer_set_str(w, "general.type", "adapter");
    pd_gguf_writer_set_str(w, "adapter.type", "lora");
    pd_gguf_writer_set_f32(w, "adapter.lora.alpha", 8.0f);
    snprintf(an, sizeof an, "%s.lora_a", base);
    snprintf(bn, sizeof bn, "%s.lora_b", base);
    uint64_t nea[2] = { a0, a1 }, neb[2] = { b0, b1 };
    pd_gguf_writer_add_tensor(w, an, PD_TYPE_F32, 2, nea, zeros, a0 * a1 * 4);
    if (b0)
        pd_gguf_writer_add_tensor(w, bn, PD_TYPE_F32, 2, neb, zeros, b0 * b1 * 4);
    PD_ASSERT(pd_gguf_writer_write(w, path, err) == 0);
    pd_gguf_writer_free(w);
}

static void
expect_refused(const struct pd_model *m, const char *path, const char *needle, const char *what)
{
    char err[PD_ERR_MAX] = "";
    struct pd_lora *l = NULL;
    int rc = pd_lora_load(&l, m, path, 1.0f, err);
    ok(rc < 0 && l == NULL && strstr(err, needle) != NULL, "%s: refused (%s)", what, err);
    pd_lora_free(l);
}

static void
check_bad(void)
{
    char err[PD_ERR_MAX];
    struct pd_model *m = NULL;
    if (pd_model_load(&m, test_path("../models/ponder-tiny.gguf"), err) != 0) {
        skip(7, "no bundled model");
        return;
    }
    const struct pd_gguf_tensor *wo = pd_gguf_tensor(m->gguf, "blk.0.attn_output.weight");
    uint64_t n_in = wo->ne[0], n_out = wo->ne[1];
    const char *p = tmp_path("bad.gguf");
    write_bad(p, "llama", "blk.0.attn_output.weight", n_in, 4, 4, n_out);
    expect_refused(m, p, "architecture 'llama'", "another architecture");
    write_bad(p, "deepseek2", "blk.99.attn_output.weight", n_in, 4, 4, n_out);
    expect_refused(m, p, "which the model does not have", "a tensor without its base");
    write_bad(p, "deepseek2", "blk.0.attn_output.weight", n_in + 1, 4, 4, n_out);
    expect_refused(m, p, "lora_a must be", "lora_a of the wrong width");
    write_bad(p, "deepseek2", "blk.0.attn_output.weight", n_in, 4, 3, n_out);
    expect_refused(m, p, "lora_a must be", "ranks that disagree");
    write_bad(p, "deepseek2", "blk.0.attn_output.weight", n_in, 4, 0, 0);
    expect_refused(m, p, "has no blk.0.attn_output.weight.lora_b", "a lone lora_a");
    write_bad(p, "deepseek2", "blk.1.ffn_gate_exps.weight", n_in, 4, 4, n_out);
    expect_refused(m, p, "not a 2-D projection", "an adapter for the 3-D experts");
    /* a good file cut short */
    write_bad(p, "deepseek2", "blk.0.attn_output.weight", n_in, 4, 4, n_out);
    FILE *f = fopen(p, "r+b");
    fseek(f, 0, SEEK_END);
    PD_ASSERT(ftruncate(fileno(f), ftell(f) / 2) == 0);
    fclose(f);
    struct pd_lora *l = NULL;
    int rc = pd_lora_load(&l, m, p, 1.0f, err);
    ok(rc == PD_EFORMAT && l == NULL, "a truncated adapter: refused (%s)", err);
    pd_model_free(m);
}

int
main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test-lora-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        plan_skip_all("cannot make a temporary directory");
        return exit_status();
    }
    plan(24);
    struct pd_threadpool *tp = pd_threadpool_new(2);
    check_tiny(tp);
    check_smollm2();
    check_grads(tp);
    check_bad();
    pd_threadpool_free(tp);
    const char *names[] = { "tiny-lora.gguf", "tiny-merged.gguf", "smol-lora.gguf", "bad.gguf" };
    for (size_t i = 0; i < PD_ARRAY_SIZE(names); i++)
        unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return exit_status();
}
