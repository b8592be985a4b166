/*
 * moe-check.h: the checks of a mixture-of-experts model against a reference from Hugging Face
 * transformers, shared by tests/test-moe.c (qwen2moe, qwen3moe, olmoe, mixtral) and
 * tests/test-deepseek.c (deepseek2).
 *
 * A case is a GGUF file tests/data/<prefix><name>.gguf and its reference <prefix><name>.ref,
 * written by tests/tools/make-moe-fixtures.py or make-deepseek-fixtures.py (the format is
 * described there): for every position of a token sequence, float64 logits and, for every MoE
 * layer, the chosen experts in order of decreasing gate weight, their final gate weights, the
 * entropy of the router's distribution over all experts (its softmax; for sigmoid gating the
 * sigmoid scores normalised to sum 1) and the margin of the choice. The MoE layers
 * are the model's last n_layers layers (deepseek2 puts its dense layers first).
 *
 * check_case() runs, for one case:
 *   - the model loads, with the right architecture and vocabulary;
 *   - precise mode (float activations), all positions in one call with logits_all: logits of
 *     every position within PRECISE_REL_ERR (L2 norm of the difference over that of the
 *     reference); pd_context_routing of every position has every MoE layer, the reference's
 *     expert ids in the same order, weights within ROUTE_WEIGHT_ERR and entropy within
 *     ROUTE_ENTROPY_ERR;
 *   - default mode: where the expert products keep float activations the same checks; where
 *     they take 8-bit activations (Q8_0 experts), the expert ids equal the reference's at every
 *     (position, layer) whose margin exceeds DECIDED_MARGIN and the logits are within
 *     FAST_REL_ERR;
 *   - the KV cache: decoding one token per call, and 7 per call, gives the one-call logits of
 *     each call's last token to KV_REL_ERR and its routing (ids identical, weights within
 *     KV_REL_ERR) (precise mode).
 * The worst errors measured are printed as diagnostics.
 *
 * Header-only, like tests/tap.h: a test program includes it once, after tap.h, and calls
 * check_case() for each of its cases, then done_testing().
 */
#ifndef PD_MOE_CHECK_H
#define PD_MOE_CHECK_H

#include "engine/model.h"
#include "kernels/cpu/matmul.h"
#include "tests/tap.h"

#include <math.h>

#define PRECISE_REL_ERR 1e-4
#define ROUTE_WEIGHT_ERR 1e-4
#define ROUTE_ENTROPY_ERR 1e-4
#define FAST_REL_ERR 0.05
#define DECIDED_MARGIN 0.01
#define KV_REL_ERR 1e-5
#define N_THREADS 2

#define REF_MAGIC 0x524D5044u
#define REF_VERSION 1u

struct moe_case {
    const char *name;
    const char *arch_name;
    enum pd_type etype;      /* of the expert tensors */
    const char *ref;         /* the reference's name when it is another case's (same weights) */
};

struct fixture {
    uint32_t n_pos, n_vocab, n_layers, k;
    int32_t *ids;       /* [n_pos] */
    float *logits;      /* [n_pos][n_vocab] */
    int32_t *experts;   /* [n_pos][n_layers][k] */
    float *weights;     /* [n_pos][n_layers][k] */
    float *entropy;     /* [n_pos][n_layers] */
    float *margin;      /* [n_pos][n_layers] */
    int32_t first_layer;  /* model layer of the first MoE layer (not in the file: the MoE
                             layers are the model's last n_layers) */
};

/* What a decode gave: logits and routing of every position, copied out of the context. */
struct result {
    float *logits;      /* [n_pos][n_vocab] */
    int32_t *experts;   /* [n_pos][n_layers][k] */
    float *weights;     /* [n_pos][n_layers][k] */
    float *entropy;     /* [n_pos][n_layers] */
};

static bool
read_u32(FILE *f, uint32_t *v)
{
    return fread(v, 4, 1, f) == 1;
}

static bool
load_fixture(struct fixture *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    uint32_t magic, version;
    bool good = false;
    if (f == NULL)
        return false;
    if (read_u32(f, &magic) && magic == REF_MAGIC && read_u32(f, &version) &&
        version == REF_VERSION && read_u32(f, &fx->n_pos) && read_u32(f, &fx->n_vocab) &&
        read_u32(f, &fx->n_layers) && read_u32(f, &fx->k) && fx->n_pos > 0 &&
        fx->n_pos <= 4096 && fx->n_vocab > 0 && fx->n_vocab <= 1u << 20 && fx->n_layers > 0 &&
        fx->n_layers <= 256 && fx->k > 0 && fx->k <= 64) {
        size_t nl = (size_t)fx->n_pos * fx->n_vocab;
        size_t nr = (size_t)fx->n_pos * fx->n_layers * fx->k;
        size_t ne = (size_t)fx->n_pos * fx->n_layers;
        fx->ids = malloc(4 * (size_t)fx->n_pos);
        fx->logits = malloc(4 * nl);
        fx->experts = malloc(4 * nr);
        fx->weights = malloc(4 * nr);
        fx->entropy = malloc(4 * ne);
        fx->margin = malloc(4 * ne);
        good = fx->ids && fx->logits && fx->experts && fx->weights && fx->entropy &&
               fx->margin && fread(fx->ids, 4, fx->n_pos, f) == fx->n_pos &&
               fread(fx->logits, 4, nl, f) == nl && fread(fx->experts, 4, nr, f) == nr &&
               fread(fx->weights, 4, nr, f) == nr && fread(fx->entropy, 4, ne, f) == ne &&
               fread(fx->margin, 4, ne, f) == ne && fgetc(f) == EOF;
    }
    fclose(f);
    return good;
}

static void
free_fixture(struct fixture *fx)
{
    free(fx->ids);
    free(fx->logits);
    free(fx->experts);
    free(fx->weights);
    free(fx->entropy);
    free(fx->margin);
}

static void
free_result(struct result *r)
{
    free(r->logits);
    free(r->experts);
    free(r->weights);
    free(r->entropy);
    memset(r, 0, sizeof *r);
}

/* ||x - ref|| / ||ref|| over n values. */
static double
rel_err(const float *x, const float *ref, int32_t n)
{
    double num = 0.0, den = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double d = (double)x[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

static struct pd_context *
new_context(struct pd_model *m, bool precise, bool logits_all)
{
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    cp.backend = PD_BACKEND_CPU; /* CUDA has tests/test-cuda-model */
    cp.n_ctx = 64;
    cp.n_threads = N_THREADS;
    cp.logits_all = logits_all;
    cp.precise = precise;
    struct pd_context *ctx = NULL;
    char err[PD_ERR_MAX] = "";
    if (pd_context_new(&ctx, m, &cp, err) != 0) {
        diag("context: %s", err);
        return NULL;
    }
    return ctx;
}

/* Whether rt has the fixture's shape: its n_layers MoE layers, model layers first_layer.. in
 * order, k experts each. */
static bool
routing_shape(const struct pd_routing *rt, const struct fixture *fx)
{
    if (rt == NULL || rt->n_layers != (int32_t)fx->n_layers || rt->k != (int32_t)fx->k ||
        rt->layer == NULL || rt->ids == NULL || rt->weights == NULL || rt->entropy == NULL)
        return false;
    for (int32_t l = 0; l < rt->n_layers; l++)
        if (rt->layer[l] != fx->first_layer + l)
            return false;
    return true;
}

/* Copies routing rt (of the fixture's shape) into slot p of r. */
static void
copy_routing(struct result *r, const struct fixture *fx, uint32_t p, const struct pd_routing *rt)
{
    size_t nk = (size_t)fx->n_layers * fx->k;
    memcpy(r->experts + p * nk, rt->ids, sizeof(int32_t) * nk);
    memcpy(r->weights + p * nk, rt->weights, sizeof(float) * nk);
    memcpy(r->entropy + (size_t)p * fx->n_layers, rt->entropy, sizeof(float) * fx->n_layers);
}

/* All positions in one decode call with logits_all; r gets logits and routing of each. */
static bool
decode_all(struct pd_model *m, const struct fixture *fx, bool precise, struct result *r)
{
    struct pd_context *ctx = new_context(m, precise, true);
    char err[PD_ERR_MAX] = "";
    size_t V = fx->n_vocab, nk = (size_t)fx->n_layers * fx->k;
    bool good = true;
    memset(r, 0, sizeof *r);
    if (ctx == NULL)
        return false;
    if (pd_context_decode(ctx, fx->ids, (int32_t)fx->n_pos, err) != 0) {
        diag("decode: %s", err);
        pd_context_free(ctx);
        return false;
    }
    r->logits = malloc(sizeof(float) * fx->n_pos * V);
    r->experts = malloc(sizeof(int32_t) * fx->n_pos * nk);
    r->weights = malloc(sizeof(float) * fx->n_pos * nk);
    r->entropy = malloc(sizeof(float) * fx->n_pos * fx->n_layers);
    for (uint32_t p = 0; p < fx->n_pos; p++) {
        memcpy(r->logits + p * V, pd_context_logits(ctx, (int32_t)p), sizeof(float) * V);
        const struct pd_routing *rt = pd_context_routing(ctx, (int32_t)p);
        if (!routing_shape(rt, fx)) {
            if (good)
                diag("position %u: routing %s (want %u layers %d.. of %u experts)", p,
                     rt == NULL ? "missing" : "of another shape", fx->n_layers, fx->first_layer,
                     fx->k);
            good = false;
            continue;
        }
        copy_routing(r, fx, p, rt);
    }
    const struct pd_routing *last = pd_context_routing(ctx, -1);
    if (good && (!routing_shape(last, fx) ||
                 memcmp(last->ids, r->experts + (fx->n_pos - 1) * nk, sizeof(int32_t) * nk))) {
        diag("pd_context_routing(ctx, -1) is not the routing of the last position");
        good = false;
    }
    pd_context_free(ctx);
    if (!good)
        free_result(r);
    return good;
}

static void
check_logits(const struct moe_case *mc, const struct fixture *fx, const float *got,
             const char *mode, double bound)
{
    int32_t V = (int32_t)fx->n_vocab;
    double worst = 0.0;
    uint32_t worst_pos = 0;
    for (uint32_t p = 0; p < fx->n_pos; p++) {
        double e = rel_err(got + (size_t)p * V, fx->logits + (size_t)p * V, V);
        if (e > worst) {
            worst = e;
            worst_pos = p;
        }
    }
    diag("%s %s: worst logits relative error %.3g (position %u)", mc->name, mode, worst,
         worst_pos);
    ok(worst < bound, "%s %s: logits relative error %.2g < %.2g at every position", mc->name,
       mode, worst, bound);
}

static void
describe_route(char *buf, size_t n, const int32_t *ids, const float *w, uint32_t k)
{
    size_t used = 0;
    buf[0] = 0;
    for (uint32_t j = 0; j < k && used < n; j++)
        used += (size_t)snprintf(buf + used, n - used, "%s%d:%.4f", j ? " " : "", ids[j], w[j]);
}

/* Routing against the reference. With decided_only, (position, layer) pairs whose reference
 * margin is at most DECIDED_MARGIN are left out of the id comparison, and weights and entropy are
 * only reported. */
static void
check_routing(const struct moe_case *mc, const struct fixture *fx, const struct result *r,
              const char *mode, bool decided_only)
{
    uint32_t L = fx->n_layers, K = fx->k;
    int same = 0, compared = 0, skipped = 0, skipped_same = 0, reported = 0;
    double worst_w = 0.0, worst_h = 0.0;
    for (uint32_t p = 0; p < fx->n_pos; p++) {
        for (uint32_t l = 0; l < L; l++) {
            size_t o = ((size_t)p * L + l) * K;
            const int32_t *gi = r->experts + o, *ri = fx->experts + o;
            const float *gw = r->weights + o, *rw = fx->weights + o;
            if (decided_only && fx->margin[p * L + l] <= DECIDED_MARGIN) {
                skipped++;
                skipped_same += memcmp(gi, ri, sizeof(int32_t) * K) == 0;
                continue;
            }
            compared++;
            bool eq = memcmp(gi, ri, sizeof(int32_t) * K) == 0;
            same += eq;
            if (eq)
                for (uint32_t j = 0; j < K; j++)
                    worst_w = fmax(worst_w, fabs((double)gw[j] - rw[j]));
            worst_h = fmax(worst_h, fabs((double)r->entropy[p * L + l] - fx->entropy[p * L + l]));
            if (!eq && reported++ < 5) {
                char a[160], b[160];
                describe_route(a, sizeof a, gi, gw, K);
                describe_route(b, sizeof b, ri, rw, K);
                diag("%s %s position %u layer %u: experts %s, transformers %s (margin %.4f)",
                     mc->name, mode, p, l, a, b, fx->margin[p * L + l]);
            }
        }
    }
    diag("%s %s: routing: worst weight error %.3g (where the ids agree), worst entropy error "
         "%.3g", mc->name, mode, worst_w, worst_h);
    if (decided_only) {
        diag("%s %s: %d (position, layer) pairs with margin <= %g not compared (%d of them "
             "agree anyway)", mc->name, mode, skipped, DECIDED_MARGIN, skipped_same);
        is_int(same, compared, "%s %s: transformers' experts, in order, wherever the choice is "
               "decided (%d of %u)", mc->name, mode, compared, fx->n_pos * L);
        return;
    }
    is_int(same, compared, "%s %s: transformers' experts, in order, at every position and layer",
           mc->name, mode);
    ok(same == compared && worst_w < ROUTE_WEIGHT_ERR, "%s %s: gate weights within %.2g "
       "(worst %.2g)", mc->name, mode, ROUTE_WEIGHT_ERR, worst_w);
    ok(worst_h < ROUTE_ENTROPY_ERR, "%s %s: router entropy within %.2g (worst %.2g)", mc->name,
       mode, ROUTE_ENTROPY_ERR, worst_h);
}

/* 1 and 7 tokens per call (n_batch unchanged) against one call: logits and routing of each
 * call's last token, precise mode. */
static void
check_kv_cache(struct pd_model *m, const struct moe_case *mc, const struct fixture *fx,
               const struct result *batch)
{
    int32_t V = (int32_t)fx->n_vocab;
    size_t nk = (size_t)fx->n_layers * fx->k;
    char err[PD_ERR_MAX] = "";
    static const int32_t steps[] = { 1, 7 };
    for (size_t s = 0; s < PD_ARRAY_SIZE(steps); s++) {
        int32_t step = steps[s];
        struct pd_context *ctx = new_context(m, true, false);
        double worst = 0.0, worst_w = 0.0;
        bool good = ctx != NULL, route_same = ctx != NULL;
        for (int32_t p = 0; good && p < (int32_t)fx->n_pos; p += step) {
            int32_t n = PD_MIN(step, (int32_t)fx->n_pos - p);
            if (pd_context_decode(ctx, fx->ids + p, n, err) != 0) {
                diag("decode at %d: %s", p, err);
                good = false;
                break;
            }
            size_t last = (size_t)(p + n - 1);
            worst = fmax(worst, rel_err(pd_context_last_logits(ctx), batch->logits + last * V,
                                        V));
            const struct pd_routing *rt = pd_context_routing(ctx, -1);
            if (!routing_shape(rt, fx) ||
                memcmp(rt->ids, batch->experts + last * nk, sizeof(int32_t) * nk) != 0) {
                if (route_same)
                    diag("%s: %d token(s) a call: routing of position %zu differs from one "
                         "call's", mc->name, step, last);
                route_same = false;
                continue;
            }
            for (size_t j = 0; j < nk; j++)
                worst_w = fmax(worst_w, fabs((double)rt->weights[j] -
                                             batch->weights[last * nk + j]));
        }
        good = good && pd_context_n_past(ctx) == (int32_t)fx->n_pos;
        diag("%s: %d token(s) a call vs one call: worst logits relative difference %.3g, worst "
             "weight difference %.3g", mc->name, step, worst, worst_w);
        ok(good && worst < KV_REL_ERR,
           "%s precise: %d token(s) a call give one call's logits (%.2g < %.2g)", mc->name, step,
           worst, KV_REL_ERR);
        ok(good && route_same && worst_w < KV_REL_ERR,
           "%s precise: %d token(s) a call give one call's routing", mc->name, step);
        pd_context_free(ctx);
    }
}

/* Everything above for one case: tests/data/<prefix><name>.gguf against its .ref. */
static void
check_case(const struct moe_case *mc, const char *prefix)
{
    char rel[128];
    struct fixture fx = { 0 };
    snprintf(rel, sizeof rel, "data/%s%s.ref", prefix, mc->ref ? mc->ref : mc->name);
    if (!ok(load_fixture(&fx, test_path(rel)), "%s: read tests/%s", mc->name, rel)) {
        free_fixture(&fx);
        return;
    }
    snprintf(rel, sizeof rel, "data/%s%s.gguf", prefix, mc->name);
    struct pd_model *m = NULL;
    char err[PD_ERR_MAX] = "";
    if (!ok(pd_model_load(&m, test_path(rel), err) == 0, "%s: load tests/%s", mc->name, rel)) {
        diag("%s", err);
        free_fixture(&fx);
        return;
    }
    ok(strcmp(m->hp.arch_name, mc->arch_name) == 0, "%s: architecture %s (got %s)", mc->name,
       mc->arch_name, m->hp.arch_name);
    if (!ok(m->hp.n_vocab == (int32_t)fx.n_vocab, "%s: vocabulary size %d matches the fixture's %u",
            mc->name, m->hp.n_vocab, fx.n_vocab)) {
        pd_model_free(m);
        free_fixture(&fx);
        return;
    }
    fx.first_layer = m->hp.n_layer - (int32_t)fx.n_layers;
    if (!ok(fx.first_layer >= 0, "%s: the fixture's %u MoE layers fit the model's %d", mc->name,
            fx.n_layers, m->hp.n_layer)) {
        pd_model_free(m);
        free_fixture(&fx);
        return;
    }

    struct result precise = { 0 }, fast = { 0 };
    if (ok(decode_all(m, &fx, true, &precise), "%s precise: decode of %u tokens with routing "
           "for each", mc->name, fx.n_pos)) {
        check_logits(mc, &fx, precise.logits, "precise", PRECISE_REL_ERR);
        check_routing(mc, &fx, &precise, "precise", false);
        check_kv_cache(m, mc, &fx, &precise);
    }
    bool quant_act = pd_matmul_act_type(mc->etype, false) != PD_TYPE_F32;
    if (ok(decode_all(m, &fx, false, &fast), "%s default: decode of %u tokens with routing "
           "for each", mc->name, fx.n_pos)) {
        check_logits(mc, &fx, fast.logits, "default", quant_act ? FAST_REL_ERR : PRECISE_REL_ERR);
        check_routing(mc, &fx, &fast, "default", quant_act);
    }
    free_result(&precise);
    free_result(&fast);
    pd_model_free(m);
    free_fixture(&fx);
}

#endif
