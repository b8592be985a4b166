/*
 * test-split.c: one model over 2 and 4 in-process CPU "devices" against the unsplit model.
 *
 * For each fixture and split (layer: any model; expert: MoE models) and each group size, two
 * scenarios run side by side on an unsplit context and a split one:
 *   all      24 tokens in one call with every token's logits kept;
 *   stream   20 tokens in batches of 8, then 4 single tokens, then a truncation to 10 positions
 *            and 3 more tokens (the cache of every rank forgets, and batches cross ranks again).
 * After each call: the logits (every kept row), and for a MoE model the routing of every token
 * (expert ids equal, gate weights and entropies within 1e-6).
 *
 * Measured: the layer split reproduces the logits bit for bit (the same operations in the same
 * order, only on other threads); the expert split within the bound printed below (the K
 * weighted expert outputs are summed per rank, then over ranks), and its routing is the unsplit
 * model's. The worst differences are printed as diagnostics.
 */
#include "config.h"

#include "engine/comm.h"
#include "engine/model.h"
#include "engine/split.h"
#include "kernels/backend.h"
#include "tests/tap.h"

#include <math.h>
#include <string.h>

#define N_TOK 24
#define EXPERT_TOL 1e-4f   /* logits, expert split */
#define ROUTE_TOL 1e-6f

struct fixture {
    const char *file;
    bool moe;
};

static const struct fixture fixtures[] = {
    { "data/moe-qwen3moe.gguf", true },
    { "data/ds-v3.gguf", true },
    { "data/arch-qwen3.gguf", false },
};

struct worst {
    float logit;       /* largest |split - unsplit| over logits */
    float route;       /* over gate weights and entropies */
    int id_mismatch;   /* (token, layer, k) with another expert */
    int logit_bits;    /* logits not bit-identical */
};

static void
compare_logits(struct worst *w, const float *a, const float *b, int32_t n)
{
    if (memcmp(a, b, sizeof(float) * (size_t)n) != 0)
        w->logit_bits++;
    for (int32_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= w->logit))
            w->logit = isnan(d) ? INFINITY : d;
    }
}

static void
compare_routing(struct worst *w, const struct pd_routing *a, const struct pd_routing *b)
{
    if (a == NULL || b == NULL) {
        w->id_mismatch += a != b;
        return;
    }
    if (a->n_layers != b->n_layers || a->k != b->k) {
        w->id_mismatch++;
        return;
    }
    for (int32_t l = 0; l < a->n_layers; l++) {
        w->route = fmaxf(w->route, fabsf(a->entropy[l] - b->entropy[l]));
        for (int32_t k = 0; k < a->k; k++) {
            size_t at = (size_t)l * (size_t)a->k + (size_t)k;
            w->id_mismatch += a->ids[at] != b->ids[at];
            w->route = fmaxf(w->route, fabsf(a->weights[at] - b->weights[at]));
        }
    }
}

/* The same tokens, calls and truncations on both; every result compared. */
static bool
decode_both(struct worst *w, struct pd_context *ref, struct pd_context *sp, const int32_t *tok,
            int32_t n, int32_t n_vocab, bool all)
{
    char err[PD_ERR_MAX];
    if (pd_context_decode(ref, tok, n, err) != 0 || pd_context_decode(sp, tok, n, err) != 0) {
        diag("decode: %s", err);
        return false;
    }
    int32_t rows = all ? n : 1;
    for (int32_t i = 0; i < rows; i++) {
        int32_t at = all ? i : -1;
        compare_logits(w, all ? pd_context_logits(sp, i) : pd_context_last_logits(sp),
                       all ? pd_context_logits(ref, i) : pd_context_last_logits(ref), n_vocab);
        compare_routing(w, pd_context_routing(sp, at), pd_context_routing(ref, at));
    }
    if (!all)
        compare_routing(w, pd_context_routing(sp, 0), pd_context_routing(ref, 0));
    return true;
}

static bool
new_pair(struct pd_context **ref, struct pd_context **sp, struct pd_model *m, int mode, int size,
         const int32_t *layers, bool all)
{
    char err[PD_ERR_MAX];
    struct pd_context_params p;
    pd_context_params_default(&p);
    p.backend = PD_BACKEND_CPU; /* the unsplit reference too: bit-identical comparisons */
    p.n_ctx = 64;
    p.n_batch = all ? 32 : 8;
    p.logits_all = all;
    p.n_threads = 2;
    *ref = *sp = NULL;
    if (pd_context_new(ref, m, &p, err) != 0) {
        diag("unsplit context: %s", err);
        return false;
    }
    p.split = mode;
    p.n_devices = size;
    p.n_threads = size;   /* one thread per rank */
    for (int r = 0; layers && r < size; r++)
        p.layers[r] = layers[r];
    if (pd_context_new(sp, m, &p, err) != 0) {
        diag("split context: %s", err);
        return false;
    }
    return true;
}

/* layers: each rank's layers of a layer split, or NULL for even shares. */
static void
run_case(struct pd_model *m, const char *name, int mode, int size, const int32_t *layers,
         float *worst_expert)
{
    int32_t n_vocab = m->hp.n_vocab, tok[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        tok[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    struct worst w = { 0 };
    bool ran = true;
    for (int all = 1; all >= 0 && ran; all--) {
        struct pd_context *ref, *sp;
        ran = new_pair(&ref, &sp, m, mode, size, layers, all);
        if (ran && all) {
            ran = decode_both(&w, ref, sp, tok, N_TOK, n_vocab, true);
        } else if (ran) {
            ran = decode_both(&w, ref, sp, tok, 20, n_vocab, false);
            for (int i = 20; i < N_TOK && ran; i++)
                ran = decode_both(&w, ref, sp, tok + i, 1, n_vocab, false);
            pd_context_truncate(ref, 10);
            pd_context_truncate(sp, 10);
            ran = ran && pd_context_n_past(sp) == 10;
            if (ran)
                ran = decode_both(&w, ref, sp, tok + 3, 3, n_vocab, false);
        }
        pd_context_free(sp);
        pd_context_free(ref);
    }
    const char *ms = pd_split_mode_name(mode);
    char what[64] = "";
    for (int r = 0; layers && r < size; r++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%d", r ? "+" : " (layers ",
                 layers[r]);
    if (layers)
        strcat(what, ")");
    if (!ok(ran, "%s: %s split over %d devices%s runs", name, ms, size, what))
        return;
    if (mode == PD_SPLIT_LAYER) {
        ok(w.logit_bits == 0, "%s: layer split over %d%s: logits bit-identical", name, size,
           what);
        if (w.logit_bits)
            diag("%d rows differ, by at most %g", w.logit_bits, w.logit);
    } else {
        ok(w.logit <= EXPERT_TOL, "%s: expert split over %d: logits within %g", name, size,
           EXPERT_TOL);
        diag("%s expert/%d: logits differ by at most %.3g", name, size, w.logit);
        *worst_expert = fmaxf(*worst_expert, w.logit);
    }
    is_int(w.id_mismatch, 0, "%s: %s split over %d: the same experts chosen", name, ms, size);
    ok(w.route <= ROUTE_TOL, "%s: %s split over %d: gate weights and entropies within %g",
       name, ms, size, ROUTE_TOL);
    if (w.route > 0)
        diag("routing differs by at most %.3g", w.route);
}

static void
check_refusals(struct pd_model *dense)
{
    char err[PD_ERR_MAX] = "";
    struct pd_context_params p;
    struct pd_context *c = NULL;
    pd_context_params_default(&p);
    p.n_ctx = 16;
    p.split = PD_SPLIT_EXPERT;
    p.n_devices = 2;
    is_int(pd_context_new(&c, dense, &p, err), PD_EINVAL, "a dense model: no expert split");
    ok(strstr(err, "no experts") != NULL, "... and says why: %s", err);
    p.split = PD_SPLIT_LAYER;
    p.n_devices = PD_MAX_DEVICES + 1;
    is_int(pd_context_new(&c, dense, &p, err), PD_EINVAL, "too many devices refused");
    p.n_devices = 2;
    p.backend = PD_BACKEND_CUDA;
    p.devices[0] = 0;
    p.devices[1] = 1023;
    if (pd_cuda_device_count() == 0) {
        is_int(pd_context_new(&c, dense, &p, err), PD_EUNSUPPORTED,
               "--backend cuda over 2 devices, none here: refused");
        ok(strstr(err, "--backend cpu") != NULL, "... and says what to do: %s", err);
    } else {
        is_int(pd_context_new(&c, dense, &p, err), PD_EINVAL,
               "--backend cuda over a device that is not there: refused");
        ok(strstr(err, "no CUDA device 1023") != NULL, "... and names it: %s", err);
    }
    int got = -1;
    is_int(pd_backend_resolve(PD_BACKEND_AUTO, &got, err), 0, "auto resolves");
    is_int(got, pd_cuda_device_count() > 0 ? PD_BACKEND_CUDA : PD_BACKEND_CPU,
           "... to CUDA where there is a device, else the CPU");
    is_int(pd_split_mode_parse("expert"), PD_SPLIT_EXPERT, "'expert' parses");
    is_int(pd_split_mode_parse("tensor"), -1, "'tensor' does not");
    is_int(pd_backend_parse("cuda"), PD_BACKEND_CUDA, "'cuda' parses");
}

static void
check_describe(struct pd_model *m)
{
    char err[PD_ERR_MAX], buf[256];
    struct pd_context_params p;
    struct pd_context *c = NULL;
    pd_context_params_default(&p);
    p.backend = PD_BACKEND_CPU;
    p.n_ctx = 16;
    p.split = PD_SPLIT_EXPERT;
    p.n_devices = 4;
    p.n_threads = 4;
    if (!ok(pd_context_new(&c, m, &p, err) == 0, "expert split over 4 made"))
        return;
    pd_split_describe(c, buf, sizeof buf);
    is_str(buf, "expert split over 4 local ranks (experts 0-1 | 2-3 | 4-5 | 6-7)",
           "described");
    is_int(pd_split_size(c), 4, "size 4");
    is_int(pd_split_rank(c), 0, "the caller holds rank 0");
    pd_context_free(c);
    p.split = PD_SPLIT_LAYER;
    p.n_devices = 2;
    p.layers[0] = 0;
    p.layers[1] = m->hp.n_layer;
    if (!ok(pd_context_new(&c, m, &p, err) == 0, "layer split with the layers given made"))
        return;
    pd_split_describe(c, buf, sizeof buf);
    is_str(buf, "layer split over 2 local ranks (layers none | 0-1)", "described, rank 0 holding "
           "none");
    pd_context_free(c);
    p.layers[1] = m->hp.n_layer + 1;
    is_int(pd_context_new(&c, m, &p, err), PD_EINVAL, "layers adding up to more than the model's: "
           "refused");
    ok(strstr(err, "add up to 3; the model has 2") != NULL, "... saying so: %s", err);
}

int
main(void)
{
    char err[PD_ERR_MAX];
    float worst_expert = 0.0f;
    for (size_t f = 0; f < PD_ARRAY_SIZE(fixtures); f++) {
        struct pd_model *m = NULL;
        const char *name = fixtures[f].file + 5;
        if (!ok(pd_model_load(&m, test_path(fixtures[f].file), err) == 0, "load %s", name)) {
            diag("%s", err);
            continue;
        }
        for (int size = 2; size <= 4; size += 2) {
            run_case(m, name, PD_SPLIT_LAYER, size, NULL, &worst_expert);
            if (fixtures[f].moe)
                run_case(m, name, PD_SPLIT_EXPERT, size, NULL, &worst_expert);
        }
        /* uneven shares, as --gpu-layers makes them: all but the last layer on rank 0, none on
         * rank 1 */
        int32_t uneven[3] = { m->hp.n_layer - 1, 0, 1 };
        run_case(m, name, PD_SPLIT_LAYER, 3, uneven, &worst_expert);
        if (f == 0)
            check_describe(m);
        else if (!fixtures[f].moe)
            check_refusals(m);
        pd_model_free(m);
    }
    diag("expert split: logits within %.3g of the unsplit model's", worst_expert);
    return exit_status();
}
