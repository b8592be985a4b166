/*
 * test-lora-dense.c: the frozen-base trainer of dense llama, qwen2 and qwen3 models
 * (engine/train/dense.h) against the inference engine, and its adapter gradients.
 *
 *   - on the tiny F32 fixtures (tests/data/arch-qwen2, arch-qwen3, arch-llama-linear,
 *     arch-llama-yarn: biases, Q/K norms, both RoPE layouts, linear and YaRN scaling) and on
 *     SmolLM2-135M Q4_1 when present, the training forward's logits equal the engine's precise
 *     logits, first without an adapter, then with a non-zero one that the engine loads with
 *     --lora (the file pd_tlora_write_gguf wrote);
 *   - the gradients of A and B of every kind of adapted product against float64 central
 *     differences of sum(c * logits) through the float32 forward.
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/train/dense.h"
#include "engine/train/lora-train.h"
#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

static char tmpdir[256];

static float
wave(int64_t i, int seed)
{
    return 0.05f * sinf((float)(i * 7 + seed * 13) * 0.37f);
}

/* Logits [B*T][V] of B sequences of T tokens through the engine (precise), malloc'd. */
static float *
engine_logits(struct pd_model *m, const int32_t *ids, int B, int T, const char *lora, char *err)
{
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    cp.n_ctx = T, cp.n_threads = 2, cp.logits_all = true, cp.precise = true;
    if (lora)
        cp.n_lora = 1, cp.lora_path[0] = lora, cp.lora_scale[0] = 1.0f;
    struct pd_context *ctx = NULL;
    int64_t V = m->hp.n_vocab;
    float *out = malloc(sizeof(float) * (size_t)(B * T * V));
    int rc = out ? pd_context_new(&ctx, m, &cp, err) : PD_ENOMEM;
    for (int b = 0; b < B && rc == 0; b++) {
        pd_context_truncate(ctx, 0);
        if ((rc = pd_context_decode(ctx, ids + b * T, T, err)) != 0)
            break;
        for (int t = 0; t < T; t++)
            memcpy(out + ((int64_t)b * T + t) * V, pd_context_logits(ctx, t),
                   sizeof(float) * (size_t)V);
    }
    pd_context_free(ctx);
    if (rc != 0)
        free(out), out = NULL;
    return out;
}

/* max |a - b| / max |b| over n values. */
static double
rel_diff(const float *a, const float *b, int64_t n)
{
    double worst = 0.0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return worst / scale;
}

/* One model: the forward's logits against the engine's, bare and with an adapter. */
static void
check_logits(struct pd_threadpool *tp, const char *rel, int n_tests, double tol)
{
    char err[PD_ERR_MAX];
    /* the real model is wherever the test model is */
    const char *path = strstr(rel, "SmolLM2") ? test_model_path() : test_path(rel);
    struct pd_model *m = NULL;
    if (access(path, R_OK) != 0 || pd_model_load(&m, path, err) != 0) {
        for (int i = 0; i < n_tests; i++)
            ok(1, "# SKIP %s absent", rel);
        return;
    }
    enum { B = 2, T = 9 };
    int64_t V = m->hp.n_vocab;
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)((i * 977 + 13) % V);
    struct pd_dense *d = NULL;
    int rc = pd_dense_new(&d, m, err);
    ok(rc == 0, "%s: a trainer over the %s model (%s)", rel, m->hp.arch_name, rc ? err : "");
    float *ref = engine_logits(m, ids, B, T, NULL, err);
    rc = rc == 0 && ref ? pd_dense_forward(d, tp, ids, B, T, err) : -1;
    double e = rc == 0 ? rel_diff(pd_dense_logits(d), ref, B * T * V) : INFINITY;
    ok(e <= tol, "%s: logits as the engine's (relative %.2g)", rel, e);
    free(ref);

    struct pd_tlora *l = NULL;
    char file[512];
    snprintf(file, sizeof file, "%s/dense-lora.gguf", tmpdir);
    rc = d ? pd_dense_lora_new(&l, d, 4, 8.0f, PD_TLORA_ALL, 3, err) : -1;
    for (int i = 0; rc == 0 && i < l->n_pairs; i++)
        for (int64_t k = 0; k < l->pairs[i].n_out * l->rank; k++)
            l->params[l->pairs[i].b + k] = 4.0f * wave(k, i);
    if (rc == 0)
        rc = pd_tlora_write_gguf(l, "test", file, err);
    ref = rc == 0 ? engine_logits(m, ids, B, T, file, err) : NULL;
    if (rc == 0 && ref == NULL)
        diag("%s", err);
    double moved = INFINITY;
    if (ref) {
        pd_dense_set_lora(d, l);
        rc = pd_dense_forward(d, tp, ids, B, T, err);
        e = rc == 0 ? rel_diff(pd_dense_logits(d), ref, B * T * V) : INFINITY;
        pd_dense_set_lora(d, NULL);
        if (pd_dense_forward(d, tp, ids, B, T, err) == 0)
            moved = rel_diff(pd_dense_logits(d), ref, B * T * V);
    } else {
        e = INFINITY;
    }
    ok(e <= tol && moved > 100 * tol, "%s: with a %d-pair adapter, logits as the engine's "
       "--lora (relative %.2g; the adapter moves them by %.2g)", rel, l ? l->n_pairs : 0, e,
       moved);
    free(ref);
    unlink(file);
    pd_tlora_free(l);
    pd_dense_free(d);
    pd_model_free(m);
}

/* sum(c * logits) of the forward, in float64. */
static double
objective(struct pd_dense *d, struct pd_threadpool *tp, const int32_t *ids, int B, int T,
          const float *c, int64_t n)
{
    char err[PD_ERR_MAX];
    if (pd_dense_forward(d, tp, ids, B, T, err) != 0)
        return NAN;
    const float *z = pd_dense_logits(d);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)c[i] * z[i];
    return s;
}

/* A and B gradients of every pair against central differences on one fixture. */
static void
check_grads(struct pd_threadpool *tp, const char *rel)
{
    char err[PD_ERR_MAX];
    struct pd_model *m = NULL;
    struct pd_dense *d = NULL;
    struct pd_tlora *l = NULL;
    if (pd_model_load(&m, test_path(rel), err) != 0 || pd_dense_new(&d, m, err) != 0 ||
        pd_dense_lora_new(&l, d, 2, 4.0f, PD_TLORA_ALL, 5, err) != 0) {
        ok(0, "%s: a trainer and an adapter (%s)", rel, err);
        pd_dense_free(d), pd_model_free(m);
        return;
    }
    enum { B = 2, T = 5 };
    int64_t V = m->hp.n_vocab, n = (int64_t)B * T * V;
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)((i * 311 + 7) % V);
    for (int i = 0; i < l->n_pairs; i++)   /* B non-zero, or A would get no gradient */
        for (int64_t k = 0; k < l->pairs[i].n_out * l->rank; k++)
            l->params[l->pairs[i].b + k] = 2.0f * wave(k, i);
    float *c = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        c[i] = wave(i, 11);
    pd_dense_set_lora(d, l);
    int rc = pd_dense_forward(d, tp, ids, B, T, err);
    if (rc == 0)
        rc = pd_dense_backward_logits(d, tp, c, err);
    double worst = 0.0;
    int checked = 0;
    for (int i = 0; rc == 0 && i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        int64_t at[4] = { q->a + 3, q->a + q->n_in + 1, q->b + 2, q->b + q->n_out * l->rank - 1 };
        for (int j = 0; j < 4; j++) {
            float keep = l->params[at[j]], h = 1e-2f;
            l->params[at[j]] = keep + h;
            double up = objective(d, tp, ids, B, T, c, n);
            l->params[at[j]] = keep - h;
            double down = objective(d, tp, ids, B, T, c, n);
            l->params[at[j]] = keep;
            double num = (up - down) / (2.0 * h), ana = l->grads[at[j]];
            double e = fabs(num - ana) / fmax(fabs(num), 5e-2);
            if (e > worst)
                worst = e;
            if (e > 2e-2)
                diag("%s %s[%lld]: analytic %.6g, numeric %.6g", rel, q->name,
                     (long long)at[j], ana, num);
            checked++;
        }
    }
    ok(rc == 0 && checked > 0 && worst < 2e-2, "%s: %d A and B gradients of %d pairs as central "
       "differences (worst relative %.2g)", rel, checked, l->n_pairs, worst);
    free(c);
    pd_tlora_free(l);
    pd_dense_free(d);
    pd_model_free(m);
}

int
main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test-lora-dense-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        plan_skip_all("cannot make a temporary directory");
        return exit_status();
    }
    plan(5 * 3 + 2);
    struct pd_threadpool *tp = pd_threadpool_new(2);
    check_logits(tp, "data/arch-qwen2.gguf", 3, 1e-5);
    check_logits(tp, "data/arch-qwen3.gguf", 3, 1e-5);
    check_logits(tp, "data/arch-llama-linear.gguf", 3, 1e-5);
    check_logits(tp, "data/arch-llama-yarn.gguf", 3, 1e-5);
    check_logits(tp, "models/SmolLM2-135M-Instruct.Q4_1.gguf", 3, 1e-5);
    check_grads(tp, "data/arch-qwen2.gguf");
    check_grads(tp, "data/arch-qwen3.gguf");
    pd_threadpool_free(tp);
    rmdir(tmpdir);
    return exit_status();
}
