/*
 * weight-plan.c: the bytes of tensor data one rank's device holds (engine/weight-plan.h).
 */
#include "config.h"

#include "engine/weight-plan.h"

#include "engine/forward-impl.h"

#include <stdlib.h>
#include <string.h>

/* Device offsets keep the file's address modulo this (GGUF aligns tensors to at most 32 bytes;
 * the kernels' widest loads want 16). */
#define PLAN_ALIGN 256

int
pd_layer_each_weight(const struct pd_layer *l,
                     int (*fn)(const struct pd_weight *w, bool experts, void *ud), void *ud)
{
    const struct pd_weight *dense[] = {
        &l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo, &l->bq, &l->bk, &l->bv, &l->bo,
        &l->q_norm, &l->k_norm, &l->ffn_norm, &l->ffn_gate, &l->ffn_up, &l->ffn_down,
        &l->ffn_gate_inp, &l->ffn_gate_inp_shexp, &l->ffn_gate_shexp, &l->ffn_up_shexp,
        &l->ffn_down_shexp, &l->exp_probs_b, &l->wq_a, &l->q_a_norm, &l->wq_b, &l->wkv_a,
        &l->kv_a_norm, &l->wk_b, &l->wv_b,
    };
    const struct pd_weight *experts[] = { &l->ffn_gate_exps, &l->ffn_up_exps,
                                          &l->ffn_down_exps };
    int rc;
    for (size_t i = 0; i < PD_ARRAY_SIZE(dense); i++)
        if ((rc = fn(dense[i], false, ud)) != 0)
            return rc;
    for (size_t i = 0; i < PD_ARRAY_SIZE(experts); i++)
        if ((rc = fn(experts[i], true, ud)) != 0)
            return rc;
    return 0;
}

/* Matrices [first, end) of w as bytes of the data section starting at base. */
static void
matrices(const struct pd_weight *w, const uint8_t *base, int64_t first, int64_t end,
         size_t *lo, size_t *hi)
{
    size_t mat = pd_type_row_size(w->type, w->ne[0]) * (size_t)w->ne[1];
    size_t stride = w->expert_stride ? w->expert_stride : mat;
    size_t at = (size_t)((const uint8_t *)w->data - base);
    *lo = at + (size_t)first * stride;
    *hi = at + (size_t)(end - 1) * stride + mat;
}

struct collect {
    const struct pd_model *m;
    const uint8_t *base;
    size_t size;                   /* of the data section */
    int64_t expert_first, expert_end;
    struct pd_weight_span *spans;
    int n, cap;
    char *err;
};

static int
add_span(struct collect *cl, const struct pd_weight *w, int64_t first, int64_t end)
{
    if (w->data == NULL || first >= end)
        return 0;
    size_t lo, hi;
    matrices(w, cl->base, first, end, &lo, &hi);
    if ((const uint8_t *)w->data < cl->base || hi > cl->size)
        return pd_errorf(cl->err, PD_EFORMAT, "%s: a weight lies outside the file's tensor data",
                         cl->m->name);
    if (cl->n == cl->cap) {
        int cap = cl->cap ? 2 * cl->cap : 64;
        struct pd_weight_span *grown = realloc(cl->spans, sizeof *grown * (size_t)cap);
        if (grown == NULL)
            return pd_errorf(cl->err, PD_ENOMEM, "out of memory");
        cl->spans = grown;
        cl->cap = cap;
    }
    cl->spans[cl->n++] = (struct pd_weight_span){ .first = lo, .end = hi };
    return 0;
}

static int
add_weight(const struct pd_weight *w, bool experts, void *ud)
{
    struct collect *cl = ud;
    if (experts)
        return add_span(cl, w, cl->expert_first, PD_MIN(cl->expert_end, w->ne[2]));
    return add_span(cl, w, 0, PD_MAX(w->ne[2], 1));
}

static int
span_cmp(const void *pa, const void *pb)
{
    const struct pd_weight_span *a = pa, *b = pb;
    return a->first < b->first ? -1 : a->first > b->first;
}

int
pd_weight_plan_make(struct pd_weight_plan *p, const struct pd_model *m,
                    const struct pd_part *pt, char *err)
{
    const struct pd_gguf *g = m->gguf;
    memset(p, 0, sizeof *p);
    struct collect cl = {
        .m = m, .base = g->map + g->data_offset, .size = (size_t)(g->size - g->data_offset),
        .expert_first = pt ? pt->expert_first : 0,
        .expert_end = pt ? pt->expert_end : m->hp.n_expert, .err = err,
    };
    int32_t lf = pt ? pt->layer_first : 0, le = pt ? pt->layer_end : m->hp.n_layer;
    int rc = 0;
    if (pt == NULL || pt->embed)
        rc = add_weight(&m->tok_embd, false, &cl);
    if (rc == 0 && (pt == NULL || pt->head) && (rc = add_weight(&m->output_norm, false, &cl)) == 0)
        rc = add_weight(&m->output, false, &cl);
    for (int32_t il = lf; il < le && rc == 0; il++)
        rc = pd_layer_each_weight(&m->layers[il], add_weight, &cl);
    if (rc) {
        free(cl.spans);
        return rc;
    }
    /* sorted and merged: a tied head, a fused gate-and-up tensor and neighbours become one */
    if (cl.n > 1)   /* a pipeline stage may hold nothing at all (spans NULL) */
        qsort(cl.spans, (size_t)cl.n, sizeof *cl.spans, span_cmp);
    int n = 0;
    for (int i = 0; i < cl.n; i++) {
        if (n > 0 && cl.spans[i].first <= cl.spans[n - 1].end)
            cl.spans[n - 1].end = PD_MAX(cl.spans[n - 1].end, cl.spans[i].end);
        else
            cl.spans[n++] = cl.spans[i];
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        struct pd_weight_span *s = &cl.spans[i];
        size_t want = s->first % PLAN_ALIGN;
        at += (want + PLAN_ALIGN - at % PLAN_ALIGN) % PLAN_ALIGN;
        s->dev = at;
        at += s->end - s->first;
        p->held += s->end - s->first;
    }
    p->spans = cl.spans;
    p->n = n;
    p->bytes = at;
    return 0;
}

void
pd_weight_plan_free(struct pd_weight_plan *p)
{
    free(p->spans);
    memset(p, 0, sizeof *p);
}

/* The index of the span holding byte `at`, or -1. */
static int
span_of(const struct pd_weight_plan *p, size_t at)
{
    int lo = 0, hi = p->n;   /* the last span starting at or before `at` is in [lo, hi) */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (p->spans[mid].first <= at)
            lo = mid;
        else
            hi = mid;
    }
    if (p->n == 0 || at < p->spans[lo].first || at >= p->spans[lo].end)
        return -1;
    return lo;
}

size_t
pd_weight_plan_find(const struct pd_weight_plan *p, size_t at)
{
    int i = span_of(p, at);
    return i < 0 ? SIZE_MAX : p->spans[i].dev + (at - p->spans[i].first);
}

bool
pd_weight_plan_holds(const struct pd_weight_plan *p, const struct pd_model *m,
                     const struct pd_weight *w, int64_t first, int64_t end)
{
    if (w->data == NULL || first >= end)
        return true;
    const struct pd_gguf *g = m->gguf;
    size_t lo, hi;
    matrices(w, g->map + g->data_offset, first, end, &lo, &hi);
    int a = span_of(p, lo);
    return a >= 0 && span_of(p, hi - 1) == a;   /* spans are contiguous bytes */
}
