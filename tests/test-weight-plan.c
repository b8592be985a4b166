/*
 * test-weight-plan.c: what one rank of a split copies to its device (engine/weight-plan.h).
 *
 * For each fixture (dense with biases and a tied head, every MoE flavour, DeepSeek's MLA with its
 * per-head 3-d weights, a fused gate-and-up expert tensor) and each split over 1 to 4 ranks, the
 * plan of every rank, from the partitioning split.c gives that rank:
 *   - holds whole every weight the rank's forward reads: its layers (layer split) or every layer
 *     (expert split), the embeddings where it embeds, the head where it computes the logits, and
 *     of each MoE layer's experts exactly its own block;
 *   - holds nothing of what other ranks read: another stage's layers, another rank's experts
 *     (the point of a split: a model larger than one device's memory);
 *   - together, the ranks hold every weight of the model;
 *   - places spans on the device at the file's alignment (modulo 256) without overlap, and
 *     finds a byte's device offset by the span that holds it.
 * The per-rank share of the bytes is printed as diagnostics.
 */
#include "config.h"

#include "engine/comm.h"
#include "engine/forward-impl.h"
#include "engine/model.h"
#include "engine/split.h"
#include "engine/weight-plan.h"
#include "tests/tap.h"

#include <string.h>

static const char *const fixtures[] = {
    "data/arch-qwen2.gguf",   "data/arch-qwen3.gguf",       "data/moe-qwen2moe.gguf",
    "data/moe-qwen3moe.gguf", "data/moe-olmoe.gguf",        "data/moe-mixtral.gguf",
    "data/ds-v3.gguf",        "data/ds-lite-yarn-q8_0.gguf", "data/ds-v3-fused.gguf",
};

struct walk {
    const struct pd_model *m;
    const struct pd_weight_plan *p;
    int64_t ef, ee;    /* the experts the rank holds */
    bool held;         /* want every weight held (true) or none of them (false) */
    int bad;
};

static void
want(struct walk *wk, const struct pd_weight *w, int64_t first, int64_t end)
{
    if (w->data == NULL || first >= end)
        return;
    bool all = pd_weight_plan_holds(wk->p, wk->m, w, first, end);
    /* "none held": not even the first byte of the first matrix */
    const struct pd_gguf *g = wk->m->gguf;
    size_t mat = pd_type_row_size(w->type, w->ne[0]) * (size_t)w->ne[1];
    size_t at = (size_t)((const uint8_t *)w->data - (g->map + g->data_offset)) +
                (size_t)first * (w->expert_stride ? w->expert_stride : mat);
    bool any = pd_weight_plan_find(wk->p, at) != SIZE_MAX;
    if (wk->held ? !all : any)
        wk->bad++;
}

static int
layer_weight(const struct pd_weight *w, bool experts, void *ud)
{
    struct walk *wk = ud;
    if (experts)
        want(wk, w, wk->ef, wk->ee);
    else
        want(wk, w, 0, PD_MAX(w->ne[2], 1));
    return 0;
}

/* Weights of other ranks' experts: none held. */
static int
foreign_experts(const struct pd_weight *w, bool experts, void *ud)
{
    struct walk *wk = ud;
    if (!experts || w->data == NULL)
        return 0;
    for (int64_t e = 0; e < w->ne[2]; e++)
        if (e < wk->ef || e >= wk->ee)
            want(wk, w, e, e + 1);
    return 0;
}

static bool
spans_sound(const struct pd_weight_plan *p)
{
    size_t held = 0;
    for (int i = 0; i < p->n; i++) {
        const struct pd_weight_span *s = &p->spans[i];
        if (s->end <= s->first || s->dev % 256 != s->first % 256 || s->dev + (s->end - s->first) >
            p->bytes)
            return false;
        if (i > 0 && (s->first <= p->spans[i - 1].end ||
                      s->dev < p->spans[i - 1].dev + (p->spans[i - 1].end - p->spans[i - 1].first)))
            return false;
        if (pd_weight_plan_find(p, s->first) != s->dev ||
            pd_weight_plan_find(p, s->end - 1) != s->dev + (s->end - s->first) - 1 ||
            pd_weight_plan_find(p, s->end) != SIZE_MAX)
            return false;
        held += s->end - s->first;
    }
    return held == p->held;
}

/* Rank r's share: split.c's own partitioning, through a context that is only its part. */
static bool
rank_part(struct pd_part *pt, struct pd_model *m, int mode, struct pd_comm *comm, char *err)
{
    struct pd_context c;
    memset(&c, 0, sizeof c);
    c.m = m;
    struct pd_context_params p;
    pd_context_params_default(&p);
    p.split = mode;
    p.comm = comm;
    if (pd_split_part_init(&c, &p, err) != 0)
        return false;
    *pt = c.part;
    return true;
}

static void
check_split(struct pd_model *m, const char *name, int mode, int size,
            const struct pd_weight_plan *whole)
{
    char err[PD_ERR_MAX];
    struct pd_comm *comm[4];
    if (pd_comm_local_new(comm, size, err) != 0) {
        ok(false, "%s: a group of %d", name, size);
        return;
    }
    struct pd_weight_plan plans[4];
    memset(plans, 0, sizeof plans);
    int bad_own = 0, bad_foreign = 0, bad_spans = 0, made = 0;
    char shares[160] = "";
    for (int r = 0; r < size; r++) {
        struct pd_part pt;
        if (!rank_part(&pt, m, mode, comm[r], err) ||
            pd_weight_plan_make(&plans[r], m, &pt, err) != 0) {
            diag("%s rank %d: %s", name, r, err);
            continue;
        }
        made++;
        bad_spans += !spans_sound(&plans[r]);
        struct walk own = { m, &plans[r], pt.expert_first, pt.expert_end, true, 0 };
        struct walk none = { m, &plans[r], pt.expert_first, pt.expert_end, false, 0 };
        if (pt.embed)
            want(&own, &m->tok_embd, 0, 1);
        if (pt.head) {
            want(&own, &m->output_norm, 0, 1);
            want(&own, &m->output, 0, 1);
        } else if (m->output.data != m->tok_embd.data || !pt.embed) {
            want(&none, &m->output, 0, 1);
        }
        for (int il = 0; il < m->hp.n_layer; il++) {
            bool mine = il >= pt.layer_first && il < pt.layer_end;
            if (mine)
                pd_layer_each_weight(&m->layers[il], layer_weight, &own);
            else
                pd_layer_each_weight(&m->layers[il], layer_weight, &none);
            if (mine && mode == PD_SPLIT_EXPERT)
                pd_layer_each_weight(&m->layers[il], foreign_experts, &none);
        }
        bad_own += own.bad;
        bad_foreign += none.bad;
        size_t at = strlen(shares);
        snprintf(shares + at, sizeof shares - at, "%s%.0f%%", r ? " | " : "",
                 100.0 * (double)plans[r].held / (double)whole->held);
    }
    const char *what = pd_split_mode_name(mode);
    ok(made == size, "%s: %s split over %d: every rank has a plan", name, what, size);
    ok(bad_own == 0, "%s: %s split over %d: each rank holds what its share reads", name, what,
       size);
    if (bad_own)
        diag("%d weights missing", bad_own);
    if (size > 1) {
        ok(bad_foreign == 0, "%s: %s split over %d: and nothing of the other ranks' shares", name,
           what, size);
        if (bad_foreign)
            diag("%d foreign weights held", bad_foreign);
    }
    ok(bad_spans == 0, "%s: %s split over %d: spans sorted, aligned, disjoint, found", name, what,
       size);
    /* every byte of the whole model's plan is held by some rank */
    int uncovered = 0;
    for (int i = 0; i < whole->n; i++)
        for (size_t b = whole->spans[i].first; b < whole->spans[i].end; b += 509) {
            bool any = false;
            for (int r = 0; r < size && !any; r++)
                any = pd_weight_plan_find(&plans[r], b) != SIZE_MAX;
            uncovered += !any;
        }
    ok(uncovered == 0, "%s: %s split over %d: the ranks together hold the whole model", name,
       what, size);
    diag("%s %s/%d: each rank holds %s of the weights", name, what, size, shares);
    for (int r = 0; r < size; r++) {
        pd_weight_plan_free(&plans[r]);
        pd_comm_free(comm[r]);
    }
}

int
main(void)
{
    char err[PD_ERR_MAX];
    for (size_t f = 0; f < PD_ARRAY_SIZE(fixtures); f++) {
        struct pd_model *m = NULL;
        const char *name = fixtures[f] + 5;
        if (!ok(pd_model_load(&m, test_path(fixtures[f]), err) == 0, "load %s", name)) {
            diag("%s", err);
            continue;
        }
        struct pd_weight_plan whole;
        if (!ok(pd_weight_plan_make(&whole, m, NULL, err) == 0, "%s: the whole model's plan",
                name)) {
            diag("%s", err);
            pd_model_free(m);
            continue;
        }
        const struct pd_gguf *g = m->gguf;
        struct walk all = { m, &whole, 0, m->hp.n_expert, true, 0 };
        want(&all, &m->tok_embd, 0, 1);
        want(&all, &m->output_norm, 0, 1);
        want(&all, &m->output, 0, 1);
        for (int il = 0; il < m->hp.n_layer; il++)
            pd_layer_each_weight(&m->layers[il], layer_weight, &all);
        ok(all.bad == 0 && spans_sound(&whole) &&
               whole.held <= (size_t)(g->size - g->data_offset),
           "%s: unsplit, every weight whole, within the file's data", name);
        for (int size = 1; size <= 4; size++) {
            check_split(m, name, PD_SPLIT_LAYER, size, &whole);
            if (m->hp.n_expert >= size)
                check_split(m, name, PD_SPLIT_EXPERT, size, &whole);
        }
        pd_weight_plan_free(&whole);
        pd_model_free(m);
    }
    return exit_status();
}
