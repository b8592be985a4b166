/*
 * test-train-model: ponder's trainable deepseek2 model against PyTorch autograd, llm.c-style,
 * and its GGUF export against ponder's own inference.
 *
 * tests/data/train-<case>.bin (tests/tools/make-train-fixture.py; float64 reference): a config,
 * the weights, one batch with a target mask, the loss, every parameter's gradient, and ten AdamW
 * steps' losses. Checked: the loss (relative 1e-5), each gradient tensor (the norm of the
 * difference relative to the reference's norm, < 1e-4), the ten losses (relative 1e-4).
 *
 * Export: a model with a trained tokenizer written as GGUF, loaded by pd_model_load and run by
 * pd_context (precise float path); every position's logits against the training forward's
 * (relative error of the logit vector < 2e-5; 3e-6 reached).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/train/bpe-train.h"
#include "engine/train/model.h"
#include "engine/train/optim.h"
#include "engine/train/task.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

static struct pd_threadpool *pool;

/* ---- the fixture -------------------------------------------------------------------------- */

struct fixture {
    struct pd_tmodel_config cfg;
    int B, T;
    int32_t *tokens, *targets;
    int64_t n_params;
    float *params, *bias, loss, *grads;
    int steps, warmup, total;
    float peak, floor, beta1, beta2, eps, wd, clip, gamma;
    float *losses;
};

static bool
rd(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

static int32_t
rd_i32(FILE *f)
{
    int32_t v = 0;
    PD_ASSERT(rd(f, &v, 4));
    return v;
}

static float
rd_f32(FILE *f)
{
    float v = 0;
    PD_ASSERT(rd(f, &v, 4));
    return v;
}

static float *
rd_floats(FILE *f, int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p);
    PD_ASSERT(p && rd(f, p, (size_t)n * sizeof *p));
    return p;
}

static bool
load_fixture(struct fixture *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    char magic[4];
    PD_ASSERT(rd(f, magic, 4) && memcmp(magic, "PDTF", 4) == 0 && rd_i32(f) == 1);
    struct pd_tmodel_config *c = &fx->cfg;
    memset(c, 0, sizeof *c);
    int32_t *ints[] = { &c->n_vocab, &c->n_ctx, &c->n_embd, &c->n_layer, &c->n_head,
                        &c->q_lora_rank, &c->kv_lora_rank, &c->qk_nope, &c->qk_rope, &c->v_head,
                        &c->n_ff, &c->n_dense_lead, &c->n_expert, &c->n_expert_used,
                        &c->n_ff_exp, &c->n_expert_shared, &c->n_group, &c->n_group_used };
    for (size_t i = 0; i < PD_ARRAY_SIZE(ints); i++)
        *ints[i] = rd_i32(f);
    c->sigmoid = rd_i32(f) != 0;
    c->expert_norm = rd_i32(f) != 0;
    c->tied = rd_i32(f) != 0;
    c->expert_scale = rd_f32(f);
    c->rms_eps = rd_f32(f);
    c->rope_base = rd_f32(f);
    fx->B = rd_i32(f);
    fx->T = rd_i32(f);
    int64_t N = (int64_t)fx->B * fx->T;
    fx->tokens = malloc((size_t)N * 4);
    fx->targets = malloc((size_t)N * 4);
    PD_ASSERT(rd(f, fx->tokens, (size_t)N * 4) && rd(f, fx->targets, (size_t)N * 4));
    PD_ASSERT(rd(f, &fx->n_params, 8));
    fx->params = rd_floats(f, fx->n_params);
    int n_moe = 0;
    for (int il = c->n_dense_lead; c->n_expert > 0 && il < c->n_layer; il++)
        n_moe++;
    fx->bias = rd_floats(f, (int64_t)PD_MAX(n_moe, 1) * PD_MAX(c->n_expert, 1));
    fx->loss = rd_f32(f);
    fx->grads = rd_floats(f, fx->n_params);
    fx->steps = rd_i32(f);
    fx->peak = rd_f32(f);
    fx->floor = rd_f32(f);
    fx->warmup = rd_i32(f);
    fx->total = rd_i32(f);
    fx->beta1 = rd_f32(f);
    fx->beta2 = rd_f32(f);
    fx->eps = rd_f32(f);
    fx->wd = rd_f32(f);
    fx->clip = rd_f32(f);
    fx->gamma = rd_f32(f);
    fx->losses = rd_floats(f, fx->steps);
    fclose(f);
    return true;
}

static void
free_fixture(struct fixture *fx)
{
    free(fx->tokens);
    free(fx->targets);
    free(fx->params);
    free(fx->bias);
    free(fx->grads);
    free(fx->losses);
}

/* ---- against PyTorch ---------------------------------------------------------------------- */

static void
check_case(const char *name)
{
    char path[4096], err[PD_ERR_MAX];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/data/train-%s.bin", top ? top : ".", name);
    struct fixture fx;
    if (!load_fixture(&fx, path)) {
        ok(false, "case %s: fixture %s readable", name, path);
        return;
    }
    struct pd_tmodel *m;
    int rc = pd_tmodel_new(&m, &fx.cfg, 1, err);
    ok(rc == 0 && m->n_params == fx.n_params, "case %s: model of %lld parameters (%s)", name,
       rc == 0 ? (long long)m->n_params : -1LL, rc == 0 ? "ok" : err);
    if (rc != 0 || m->n_params != fx.n_params)
        return;
    memcpy(m->params, fx.params, (size_t)fx.n_params * sizeof(float));
    memcpy(m->bias, fx.bias, (size_t)m->n_moe * fx.cfg.n_expert * sizeof(float));
    float loss = 0;
    int64_t count = 0;
    rc = pd_tmodel_forward(m, pool, fx.tokens, fx.targets, fx.B, fx.T, &loss, &count, err);
    double lrel = fabs(loss - fx.loss) / fabs(fx.loss);
    ok(rc == 0 && lrel < 1e-5, "case %s: loss %.7f vs torch %.7f (rel %.1e, %lld targets)", name,
       loss, fx.loss, lrel, (long long)count);
    rc = pd_tmodel_backward(m, pool, err);
    ok(rc == 0, "case %s: backward (%s)", name, rc == 0 ? "ok" : err);
    double worst = 0.0;
    const char *worst_name = "";
    bool all = true;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        double dd = 0.0, rr = 0.0;
        for (int64_t j = 0; j < p->n; j++) {
            double g = m->grads[p->offset + j], r = fx.grads[p->offset + j];
            dd += (g - r) * (g - r);
            rr += r * r;
        }
        double rel = rr > 0 ? sqrt(dd / rr) : sqrt(dd);
        if (rel > worst) {
            worst = rel;
            worst_name = p->name;
        }
        if (!(rel < 1e-4)) {
            all = false;
            diag("case %s: %s: |dg|/|g| = %.2e (|g| %.3e)", name, p->name, rel, sqrt(rr));
        }
    }
    ok(all, "case %s: %d gradients within 1e-4 (worst %.2e, %s)", name, m->n_tensors, worst,
       worst_name);

    /* ten steps: clip, schedule, AdamW, balance, as the fixture's script ran them */
    float *m1 = calloc((size_t)m->n_params, sizeof(float));
    float *m2 = calloc((size_t)m->n_params, sizeof(float));
    const struct pd_adamw h = { .beta1 = fx.beta1, .beta2 = fx.beta2, .eps = fx.eps,
                                .weight_decay = fx.wd };
    const struct pd_lr_schedule s = { .peak = fx.peak, .floor = fx.floor, .warmup = fx.warmup,
                                      .total = fx.total };
    memcpy(m->params, fx.params, (size_t)fx.n_params * sizeof(float));
    double wstep = 0.0;
    for (int t = 0; t < fx.steps; t++) {
        PD_ASSERT(pd_tmodel_forward(m, pool, fx.tokens, fx.targets, fx.B, fx.T, &loss, NULL,
                                    err) == 0);
        PD_ASSERT(pd_tmodel_backward(m, pool, err) == 0);
        double rel = fabs(loss - fx.losses[t]) / fabs(fx.losses[t]);
        wstep = fmax(wstep, rel);
        diag("case %s: step %d loss %.6f torch %.6f (rel %.1e)", name, t, loss, fx.losses[t],
             rel);
        float *g = m->grads;
        pd_optim_grad_clip(&g, &m->n_params, 1, fx.clip);
        pd_tmodel_adamw(m, m1, m2, &h, pd_optim_lr(&s, t), t + 1);
        pd_tmodel_balance(m, fx.gamma);
    }
    ok(wstep < 1e-4, "case %s: %d AdamW steps' losses match torch (worst rel %.1e; %.4f -> "
       "%.4f)", name, fx.steps, wstep, fx.losses[0], fx.losses[fx.steps - 1]);
    free(m1);
    free(m2);
    pd_tmodel_free(m);
    free_fixture(&fx);
}

/* ---- export: ponder's inference on the written GGUF ---------------------------------------- */

/* A tokenizer trained on a few countdown and arith texts, EOS "<|endoftext|>". */
static struct pd_bpe *
small_tokenizer(int n_vocab)
{
    enum { DOCS = 40 };
    static char texts[DOCS][PD_TASK_TEXT_MAX];
    const char *docs[DOCS];
    char err[PD_ERR_MAX];
    for (int i = 0; i < DOCS; i++) {
        struct pd_task_params p;
        struct pd_task_problem pr;
        struct pd_task_solution sol;
        pd_task_params_default(&p, i % 2 ? PD_TASK_ARITH : PD_TASK_COUNTDOWN);
        PD_ASSERT(pd_task_generate(&p, PD_TASK_TRAIN, 7, (uint64_t)i, &pr, err) == 0);
        PD_ASSERT(pd_task_solve(&p, &pr, &sol, err) == 0);
        PD_ASSERT(pd_task_text(&pr, &sol, texts[i], sizeof texts[i]) == 0);
        docs[i] = texts[i];
    }
    static const char *const specials[] = { "<|endoftext|>" };
    struct pd_bpe_opts o = { .n_vocab = n_vocab, .specials = specials, .n_specials = 1 };
    struct pd_bpe *b;
    PD_ASSERT(pd_bpe_train(&b, docs, NULL, DOCS, &o, err) == 0);
    PD_ASSERT(pd_bpe_set_ids(b, &(struct pd_bpe_ids){ .bos = -1, .eos = 256, .pad = 256 },
                             err) == 0);
    return b;
}

static void
check_export(const char *name, const char *const *sets, size_t n_sets)
{
    char err[PD_ERR_MAX], path[4096];
    struct pd_bpe *tok = small_tokenizer(400);
    struct pd_tmodel_config c;
    pd_tmodel_config_default(&c);
    c.n_vocab = pd_bpe_n_vocab(tok);
    c.n_ctx = 64;
    for (size_t i = 0; i < n_sets; i += 2)
        PD_ASSERT(pd_tmodel_config_set(&c, sets[i], sets[i + 1], err) == 0);
    struct pd_tmodel *m;
    PD_ASSERT(pd_tmodel_new(&m, &c, 42, err) == 0);
    /* weights well away from the init's small values, so every term shows in the logits */
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        for (int64_t j = 0; j < p->n; j++) {
            float *w = m->params + p->offset + j;
            *w = p->decay ? *w * 8.0f : 1.0f + 0.2f * sinf((float)(j * 7 + i));
        }
    }
    for (int64_t j = 0; j < (int64_t)m->n_moe * c.n_expert; j++)
        m->bias[j] = 0.05f * cosf((float)j * 3.0f);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/test-train-model-%d-%s.gguf", tmp ? tmp : "/tmp",
             (int)getpid(), name);
    int rc = pd_tmodel_write_gguf(m, tok, "test", path, err);
    ok(rc == 0, "export %s: written (%s)", name, rc == 0 ? path : err);
    const char *text = "Using the numbers [3, 19, 35], create an equation that equals 28. "
                       "<think>\n35-19=16, 16+3=19. Wait, no</think>";
    int32_t *ids;
    size_t n;
    PD_ASSERT(pd_bpe_encode(tok, text, strlen(text), &ids, &n, err) == 0);
    if (n > 48)
        n = 48;
    float loss;
    PD_ASSERT(pd_tmodel_forward(m, pool, ids, NULL, 1, (int)n, &loss, NULL, err) == 0);
    const float *ref = pd_tmodel_logits(m);
    struct pd_model *pm = NULL;
    struct pd_context *ctx = NULL;
    rc = pd_model_load(&pm, path, err);
    ok(rc == 0, "export %s: pd_model_load (%s)", name, rc == 0 ? "ok" : err);
    if (rc == 0) {
        struct pd_context_params cp;
        pd_context_params_default(&cp);
        cp.n_ctx = 64;
        cp.n_threads = 2;
        cp.logits_all = true;
        cp.precise = true;
        rc = pd_context_new(&ctx, pm, &cp, err);
        if (rc == 0)
            rc = pd_context_decode(ctx, ids, (int32_t)n, err);
        ok(rc == 0, "export %s: decode %zu tokens (%s)", name, n, rc == 0 ? "ok" : err);
    }
    if (rc == 0) {
        double worst = 0.0, dd = 0.0, rr = 0.0;
        int agree = 0;
        for (size_t t = 0; t < n; t++) {
            const float *got = pd_context_logits(ctx, (int32_t)t), *want = ref + t * c.n_vocab;
            double d2 = 0.0, r2 = 0.0;
            int ag = 0, aw = 0;
            for (int v = 0; v < c.n_vocab; v++) {
                d2 += ((double)got[v] - want[v]) * ((double)got[v] - want[v]);
                r2 += (double)want[v] * want[v];
                ag = got[v] > got[ag] ? v : ag;
                aw = want[v] > want[aw] ? v : aw;
            }
            worst = fmax(worst, sqrt(d2 / r2));
            dd += d2;
            rr += r2;
            agree += ag == aw;
        }
        ok(worst < 2e-5, "export %s: inference logits = training logits over %zu positions "
           "(worst position rel %.1e, all %.1e; argmax agrees at %d/%zu)", name, n, worst,
           sqrt(dd / rr), agree, n);
    }
    pd_context_free(ctx);
    pd_model_free(pm);
    unlink(path);
    free(ids);
    pd_tmodel_free(m);
    pd_bpe_free(tok);
}

int
main(void)
{
    pool = pd_threadpool_new(2);
    PD_ASSERT(pool);
    check_case("a");
    check_case("b");
    static const char *const sig[] = { "groups", "4", "groups_used", "2", "expert_scale", "2.5" };
    check_export("sigmoid-qlora", sig, PD_ARRAY_SIZE(sig));
    static const char *const soft[] = { "q_lora", "0", "gating", "softmax", "expert_norm", "0",
                                        "tied", "1", "layers", "3" };
    check_export("softmax-tied", soft, PD_ARRAY_SIZE(soft));
    pd_threadpool_free(pool);
    done_testing();
    return exit_status();
}
