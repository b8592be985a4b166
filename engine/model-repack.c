/*
 * model-repack.c: the model's Q4_0 matrices repacked eight rows at a time for the CPU products
 * (kernels/cpu/repack.h).
 *
 * A CPU context on the quantized path (not precise) calls pd_model_repack for its share of the
 * model unless PONDER_REPACK=0. Every product weight of type Q4_0 whose rows per expert divide by
 * 8 gets a copy. The plan is a size table (one entry a weight), one anonymous mapping for all of
 * them (transparent huge pages asked for, so writing the copy costs few page faults), and the
 * context's threads writing disjoint groups of rows. The weight's data pointer stays on the
 * file's rows, which CUDA uploads, LoRA, the trainer, precise contexts and `model info` go on
 * reading.
 *
 * The copy replaces the file's pages rather than doubling them: once written, the pages of the
 * copied rows are released (pd_gguf_release_pages). The few readers of those rows that remain
 * on the CPU (the embedding when the head is tied to it, a precise or PONDER_REPACK=0 context on
 * the same model) fault them back in from the page cache. A model whose copies would take more
 * than half of the machine's memory is left as it is: paging the file in and out is then the
 * better deal than an anonymous copy that cannot be paged out.
 *
 * Each call that copies something maps one arena; they form a list because the ranks of a split
 * model repack their own layers, one call each.
 */
#include "config.h"

#include "engine/model.h"
#include "engine/pd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/cpu/repack.h"
#include "kernels/cpu/threadpool.h"

struct pd_repack_arena {
    struct pd_repack_arena *next;
    size_t size;    /* of the whole mapping, this header included */
};

#define ARENA_HEADER 64   /* the copies start one cache line in */
#define LAYER_WEIGHTS 19  /* product weights a layer can have (layer_weights) */

/* The weights of layer l that go through pd_matmul, present or not. */
static size_t
layer_weights(struct pd_weight **out, struct pd_layer *l)
{
    struct pd_weight *ws[LAYER_WEIGHTS] = {
        &l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down,
        &l->ffn_gate_inp, &l->ffn_gate_exps, &l->ffn_up_exps, &l->ffn_down_exps,
        &l->ffn_gate_shexp, &l->ffn_up_shexp, &l->ffn_down_shexp,
        &l->wq_a, &l->wq_b, &l->wkv_a, &l->wk_b, &l->wv_b,
    };
    memcpy(out, ws, sizeof ws);
    return LAYER_WEIGHTS;
}

/* Bytes of w's copy (all experts). */
static size_t
packed_size(const struct pd_weight *w)
{
    return (size_t)w->ne[2] * (size_t)w->ne[1] * pd_type_row_size(w->type, w->ne[0]);
}

/* What one call copies: the weights, where each copy goes, and the groups of eight rows in all
 * (numbered weight after weight, expert after expert, for sharing between threads). */
struct repack_plan {
    const struct pd_gguf *gguf;
    struct pd_weight **ws;
    char **dst;
    size_t n;
    int64_t n_groups;
};

static int64_t
weight_groups(const struct pd_weight *w)
{
    return w->ne[2] * (w->ne[1] / PD_REPACK_ROWS);
}

/* Copies the groups of weight w numbered [lo, hi) within it, expert by expert, and releases
 * the file pages they came from at once, so the model is never resident twice while it is
 * copied (pages this thread shares with a neighbour's groups stay, for release_rows). */
static void
repack_groups(const struct pd_gguf *g, char *dst, const struct pd_weight *w, int64_t lo,
              int64_t hi)
{
    int64_t per_expert = w->ne[1] / PD_REPACK_ROWS;
    size_t row = pd_type_row_size(w->type, w->ne[0]), matrix = (size_t)w->ne[1] * row;
    size_t group = PD_REPACK_ROWS * row;
    while (lo < hi) {
        int64_t e = lo / per_expert, end = PD_MIN(hi, (e + 1) * per_expert);
        int64_t g0 = lo - e * per_expert, g1 = end - e * per_expert;
        const char *rows = (const char *)w->data + (size_t)e * w->expert_stride;
        pd_repack_q4_0(dst + (size_t)e * matrix, rows, w->ne[0], g0, g1);
        pd_gguf_release_pages(g, rows + (size_t)g0 * group, (size_t)(g1 - g0) * group);
        lo = end;
    }
}

/* Thread ith copies its contiguous share of all the plan's groups. */
static void
repack_worker(void *arg, int ith, int nth)
{
    const struct repack_plan *p = arg;
    int64_t per = (p->n_groups + nth - 1) / nth;
    int64_t g0 = PD_MIN(ith * per, p->n_groups), g1 = PD_MIN(g0 + per, p->n_groups);
    int64_t base = 0;
    for (size_t k = 0; k < p->n && base < g1; k++) {
        int64_t n = weight_groups(p->ws[k]);
        int64_t lo = PD_MAX(g0 - base, 0), hi = PD_MIN(g1 - base, n);
        if (lo < hi)
            repack_groups(p->gguf, p->dst[k], p->ws[k], lo, hi);
        base += n;
    }
}

bool
pd_model_repack_wanted(void)
{
    const char *v = getenv("PONDER_REPACK");
    return v == NULL || strcmp(v, "0") != 0;
}

/* The weights of the share that can be repacked and are not yet, into ws (room for every product
 * weight of the share); returns how many. */
static size_t
collect(struct pd_weight **ws, struct pd_model *m, int32_t layer_first, int32_t layer_end,
        bool head)
{
    size_t n = 0;
    struct pd_weight *lw[LAYER_WEIGHTS];
    for (int32_t il = layer_first; il < layer_end; il++) {
        size_t k = layer_weights(lw, &m->layers[il]);
        for (size_t i = 0; i < k; i++)
            ws[n++] = lw[i];
    }
    if (head)
        ws[n++] = &m->output;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (ws[i]->data != NULL && ws[i]->packed == NULL &&
            pd_repack_fits(ws[i]->type, ws[i]->ne[0], ws[i]->ne[1]))
            ws[kept++] = ws[i];
    return kept;
}

/* An arena for size bytes of copies, or NULL. */
static struct pd_repack_arena *
arena_new(size_t size)
{
    size_t total = ARENA_HEADER + size;
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, total, MADV_HUGEPAGE);
#endif
    struct pd_repack_arena *a = p;
    a->size = total;
    return a;
}

/* Whether copies of size bytes stay within half of the machine's memory. */
static bool
fits_in_memory(size_t size)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages <= 0 || page <= 0 || size <= (size_t)pages / 2 * (size_t)page;
}

/* The file pages of w's rows, expert by expert (the gaps between experts are other tensors):
 * those the threads left, shared between two threads' groups. */
static void
release_rows(const struct pd_model *m, const struct pd_weight *w)
{
    size_t matrix = (size_t)w->ne[1] * pd_type_row_size(w->type, w->ne[0]);
    for (int64_t e = 0; e < w->ne[2]; e++)
        pd_gguf_release_pages(m->gguf, (const char *)w->data + (size_t)e * w->expert_stride,
                              matrix);
}

int
pd_model_repack(struct pd_model *m, struct pd_threadpool *pool, int32_t layer_first,
                int32_t layer_end, bool head, char *err)
{
    size_t cap = (size_t)PD_MAX(layer_end - layer_first, 0) * LAYER_WEIGHTS + 1;
    struct repack_plan p = { .gguf = m->gguf, .ws = malloc(cap * sizeof *p.ws),
                             .dst = malloc(cap * sizeof *p.dst) };
    int rc = 0;
    if (p.ws == NULL || p.dst == NULL) {
        rc = pd_errorf(err, PD_ENOMEM, "out of memory planning the repacked weights");
        goto out;
    }
    p.n = collect(p.ws, m, layer_first, layer_end, head);
    size_t size = 0;
    for (size_t k = 0; k < p.n; k++) {
        size += (packed_size(p.ws[k]) + 63) & ~(size_t)63;
        p.n_groups += weight_groups(p.ws[k]);
    }
    if (p.n == 0 || !fits_in_memory(size))
        goto out;
    struct pd_repack_arena *a = arena_new(size);
    if (a == NULL) {
        rc = pd_errorf(err, PD_ENOMEM, "no memory for %zu MiB of repacked weights", size >> 20);
        goto out;
    }
    char *at = (char *)a + ARENA_HEADER;
    for (size_t k = 0; k < p.n; k++) {
        p.dst[k] = at;
        at += (packed_size(p.ws[k]) + 63) & ~(size_t)63;
    }
    pd_threadpool_run(pool, repack_worker, &p);
    for (size_t k = 0; k < p.n; k++) {
        p.ws[k]->packed = p.dst[k];
        release_rows(m, p.ws[k]);
    }
    a->next = m->repacked;
    m->repacked = a;
out:
    free(p.ws);
    free(p.dst);
    return rc;
}

void
pd_model_repack_free(struct pd_model *m)
{
    if (m->repacked == NULL)
        return;
    struct pd_weight *lw[LAYER_WEIGHTS];
    for (int32_t il = 0; m->layers != NULL && il < m->hp.n_layer; il++) {
        size_t k = layer_weights(lw, &m->layers[il]);
        for (size_t i = 0; i < k; i++)
            lw[i]->packed = NULL;
    }
    m->output.packed = NULL;
    while (m->repacked != NULL) {
        struct pd_repack_arena *a = m->repacked;
        m->repacked = a->next;
        munmap(a, a->size);
    }
}
