/*
 * split.c: one model over several ranks (engine/split.h): each rank's share, the driver's
 * commands, the pipeline's hand-offs, the expert-parallel reduction, and in-process groups.
 *
 * Every rank runs the same sequence of collectives. Rank 0 (the driver) broadcasts a command
 * (decode n tokens, truncate the cache, quit) and, for a decode, the tokens; then every rank runs
 * the batches of that decode:
 *
 *   layer    rank r > 0 receives x [T][E] and the routing trace so far from rank r - 1, runs its
 *            layers, and passes them on; after the last batch the last rank sends the logits and
 *            the trace to rank 0.
 *   expert   every rank runs the whole pass; inside each MoE layer one all-reduce
 *            (pd_split_moe_reduce) sums the ranks' shares of the output.
 *
 * A follower (rank > 0) of an in-process group is a thread of this file running pd_split_serve;
 * in a multi-process group it is another process's main thread doing the same.
 */
#include "config.h"

#include "engine/split.h"

#include "engine/comm.h"
#include "engine/forward-impl.h"
#include "engine/weight-plan.h"
#include "kernels/backend.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

enum {
    CMD_DECODE = 1,
    CMD_TRUNCATE,
    CMD_QUIT,
};

/* What each rank says of a batch it ran: 0, or the error that stopped its share. */
struct rank_status {
    int32_t rc;
    char msg[PD_ERR_MAX];
};

/* What rank 0 broadcasts before each step; fixed size, so every rank receives the same bytes. */
struct command {
    int32_t op;
    int32_t n;     /* decode: tokens that follow */
    int32_t pos;   /* truncate: the first position to forget */
    int32_t pad;
};

/* An in-process group, owned by its driver (ctx[0]). */
struct pd_split_group {
    int size;
    struct pd_context *ctx[PD_MAX_DEVICES];
    struct pd_comm *comm[PD_MAX_DEVICES];
    pthread_t thread[PD_MAX_DEVICES];
    bool started[PD_MAX_DEVICES];
    int rc[PD_MAX_DEVICES];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate;      /* followers wait for 1 (serve) or -1 (the group failed to start: leave) */
};

/* ---- names and the backend ---- */

static const char *const mode_names[] = { "none", "layer", "expert" };
static const char *const backend_names[] = { "auto", "cpu", "cuda" };

int
pd_split_mode_parse(const char *s)
{
    for (int i = 0; i < (int)PD_ARRAY_SIZE(mode_names); i++)
        if (strcmp(s, mode_names[i]) == 0)
            return i;
    return -1;
}

const char *
pd_split_mode_name(int mode)
{
    return mode >= 0 && mode < (int)PD_ARRAY_SIZE(mode_names) ? mode_names[mode] : "?";
}

int
pd_backend_parse(const char *s)
{
    for (int i = 0; i < (int)PD_ARRAY_SIZE(backend_names); i++)
        if (strcmp(s, backend_names[i]) == 0)
            return i;
    return -1;
}

const char *
pd_backend_name(int backend)
{
    return backend >= 0 && backend < (int)PD_ARRAY_SIZE(backend_names) ? backend_names[backend]
                                                                       : "?";
}

int
pd_backend_resolve(int want, int *got, char *err)
{
    *got = PD_BACKEND_CPU;
    if (want == PD_BACKEND_CPU)
        return 0;
    if (want != PD_BACKEND_CUDA && want != PD_BACKEND_AUTO)
        return pd_errorf(err, PD_EINVAL, "unknown backend %d", want);
    if (!pd_cuda_compiled()) {
        if (want == PD_BACKEND_AUTO)
            return 0;
        return pd_errorf(err, PD_EUNSUPPORTED, "the CUDA backend is not in this build (configure "
                         "found no working nvcc and cuBLAS; see --with-cuda): use --backend cpu");
    }
    /* counting devices starts the CUDA runtime: only a CUDA build does it */
    if (pd_cuda_device_count() == 0) {
        if (want == PD_BACKEND_AUTO)
            return 0;
        return pd_errorf(err, PD_EUNSUPPORTED, "no CUDA device found on this machine: use "
                         "--backend cpu");
    }
    *got = PD_BACKEND_CUDA;
    return 0;
}

/* ---- each rank's share ---- */

/* An even share of n items: rank r of size gets [*first, *end). */
static void
share(int32_t n, int r, int size, int32_t *first, int32_t *end)
{
    *first = (int32_t)((int64_t)n * r / size);
    *end = (int32_t)((int64_t)n * (r + 1) / size);
}

int
pd_split_rank(const struct pd_context *c)
{
    return c->part.comm ? pd_comm_rank(c->part.comm) : 0;
}

int
pd_split_size(const struct pd_context *c)
{
    return c->part.comm ? pd_comm_size(c->part.comm) : 1;
}

/* Rank r's layers: the given counts (pd_context_params.layers), or an even share. */
static int
layer_share(const struct pd_part *pt, int32_t n_layer, int r, int size, int32_t *first,
            int32_t *end, char *err)
{
    int32_t total = 0, before = 0;
    for (int i = 0; i < size; i++) {
        if (pt->layers[i] < 0)
            return pd_errorf(err, PD_EINVAL, "%d layers for device %d", pt->layers[i], i);
        total += pt->layers[i];
        before += i < r ? pt->layers[i] : 0;
    }
    if (total == 0) {
        share(n_layer, r, size, first, end);
        return 0;
    }
    if (total != n_layer)
        return pd_errorf(err, PD_EINVAL, "the layers given to the devices add up to %d; the "
                         "model has %d", total, n_layer);
    *first = before;
    *end = before + pt->layers[r];
    return 0;
}

/* Rank `rank` of `size`'s share of m under split mode (p->layers for a layer split's counts); the
 * whole model for size 0. */
static int
part_for(struct pd_part *pt, const struct pd_model *m, const struct pd_context_params *p,
         int rank, int size, char *err)
{
    const struct pd_hparams *hp = &m->hp;
    memset(pt, 0, sizeof *pt);
    pt->layer_end = hp->n_layer;
    pt->expert_end = hp->n_expert;
    pt->embed = pt->head = true;
    if (size == 0)
        return 0;
    switch (p->split) {
    case PD_SPLIT_LAYER:
        /* with more ranks than layers some hold none and only pass the hidden state on */
        memcpy(pt->layers, p->layers, sizeof pt->layers);
        if (layer_share(pt, hp->n_layer, rank, size, &pt->layer_first, &pt->layer_end, err))
            return PD_EINVAL;
        pt->embed = rank == 0;
        pt->head = rank == size - 1;
        break;
    case PD_SPLIT_EXPERT:
        if (hp->n_expert == 0)
            return pd_errorf(err, PD_EINVAL, "%s is a dense model: it has no experts to split "
                             "(use --split layer)", m->name);
        if (hp->n_expert < size)
            return pd_errorf(err, PD_EINVAL, "cannot split %d experts over %d devices",
                             hp->n_expert, size);
        share(hp->n_expert, rank, size, &pt->expert_first, &pt->expert_end);
        pt->head = rank == 0;
        break;
    default:
        return pd_errorf(err, PD_EINVAL, "a communicator was given but no split mode");
    }
    pt->mode = p->split;
    return 0;
}

int
pd_split_part_init(struct pd_context *c, const struct pd_context_params *p, char *err)
{
    struct pd_comm *comm = p->comm;
    int rc = part_for(&c->part, c->m, p, comm ? pd_comm_rank(comm) : 0,
                      comm ? pd_comm_size(comm) : 0, err);
    if (rc == 0)
        c->part.comm = comm;
    return rc;
}

int
pd_split_offload_params(const struct pd_model *m, const struct pd_context_params *p,
                        struct pd_context_params *q, char *err)
{
    int32_t L = m->hp.n_layer, N = p->n_gpu_layers;
    int n_gpu = p->n_devices > 0 ? p->n_devices : 1;
    if (p->split == PD_SPLIT_EXPERT)
        return pd_errorf(err, PD_EINVAL, "--gpu-layers keeps the first layers on the CPU, a "
                         "split by layer: it does not go with --split expert");
    if (n_gpu + 1 > PD_MAX_DEVICES)
        return pd_errorf(err, PD_EINVAL, "--gpu-layers with %d devices: at most %d", n_gpu,
                         PD_MAX_DEVICES - 1);
    *q = *p;
    q->split = PD_SPLIT_LAYER;
    q->n_devices = n_gpu + 1;
    q->devices[0] = -1;
    q->layers[0] = L - N;
    for (int g = 0; g < n_gpu; g++) {
        q->devices[g + 1] = p->n_devices > 0 ? p->devices[g] : 0;
        q->layers[g + 1] = (int32_t)((int64_t)N * (g + 1) / n_gpu - (int64_t)N * g / n_gpu);
    }
    return 0;
}

int
pd_split_plan(const struct pd_model *m, const struct pd_context_params *p,
              struct pd_rank_share *out, int *n, char *err)
{
    const struct pd_hparams *hp = &m->hp;
    struct pd_context_params q = *p;
    bool cuda = p->backend != PD_BACKEND_CPU;
    int rc;
    *n = 0;
    if (cuda && p->n_gpu_layers >= 0 && p->n_gpu_layers < hp->n_layer) {
        if (p->n_gpu_layers == 0) {   /* the CPU alone */
            cuda = false;
            q.n_devices = 0;
            q.split = PD_SPLIT_NONE;
        } else if ((rc = pd_split_offload_params(m, p, &q, err)) != 0) {
            return rc;
        }
    }
    int size = q.split != PD_SPLIT_NONE || q.n_devices > 1 ? PD_MAX(q.n_devices, 1) : 0;
    if (size > PD_MAX_DEVICES)
        return pd_errorf(err, PD_EINVAL, "a split over %d devices: at most %d", size,
                         PD_MAX_DEVICES);
    if (size > 0 && q.split == PD_SPLIT_NONE)
        q.split = PD_SPLIT_LAYER;
    size_t kv_row = sizeof(float) * (size_t)pd_fwd_kv_row(hp) *
                    (hp->arch == PD_ARCH_DEEPSEEK2 ? 1 : 2);   /* MLA keeps no values */
    size_t n_ctx = (size_t)pd_context_params_n_ctx(m, &q);
    for (int r = 0; r < PD_MAX(size, 1); r++) {
        struct pd_part pt;
        struct pd_weight_plan wp;
        if ((rc = part_for(&pt, m, &q, r, size, err)) != 0 ||
            (rc = pd_weight_plan_make(&wp, m, size ? &pt : NULL, err)) != 0)
            return rc;
        struct pd_rank_share *s = &out[r];
        s->device = size ? q.devices[r] : q.n_devices > 0 ? q.devices[0] : 0;
        s->backend = cuda && s->device >= 0 ? PD_BACKEND_CUDA : PD_BACKEND_CPU;
        s->layer_first = pt.layer_first;
        s->layer_end = pt.layer_end;
        s->expert_first = pt.expert_first;
        s->expert_end = pt.expert_end;
        s->embed = pt.embed;
        s->head = pt.head;
        s->weight_bytes = wp.held;
        s->kv_bytes = (size_t)(pt.layer_end - pt.layer_first) * n_ctx * kv_row;
        pd_weight_plan_free(&wp);
    }
    *n = PD_MAX(size, 1);
    return 0;
}

int
pd_split_part_alloc(struct pd_context *c, char *err)
{
    struct pd_part *pt = &c->part;
    if (pt->comm == NULL)
        return 0;
    pt->statuses = malloc(sizeof(struct rank_status) * (size_t)pd_comm_size(pt->comm));
    if (pt->statuses == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the split's statuses");
    if (c->cuda) {
        /* a CUDA rank stages through the host what its communicator takes only there */
        pt->host = malloc(sizeof(float) * (size_t)c->n_batch * (size_t)c->m->hp.n_embd);
        if (pt->host == NULL)
            return pd_errorf(err, PD_ENOMEM, "out of memory for the split's staging buffer");
    } else if (pt->mode == PD_SPLIT_EXPERT) {
        pt->moe_out = malloc(sizeof(float) * (size_t)c->n_batch * (size_t)c->m->hp.n_embd);
        if (pt->moe_out == NULL)
            return pd_errorf(err, PD_ENOMEM, "out of memory for the expert split's outputs");
    }
    pt->live = true;
    return 0;
}

void
pd_split_describe(const struct pd_context *c, char *buf, size_t size)
{
    const struct pd_part *pt = &c->part;
    buf[0] = '\0';
    if (pt->comm == NULL)
        return;
    int n = pd_split_size(c);
    int32_t total = pt->mode == PD_SPLIT_LAYER ? c->m->hp.n_layer : c->m->hp.n_expert;
    size_t at = (size_t)snprintf(buf, size, "%s split over %d %s rank%s (%s",
                                 pd_split_mode_name(pt->mode), n, pd_comm_name(pt->comm),
                                 n == 1 ? "" : "s", pt->mode == PD_SPLIT_LAYER ? "layers" :
                                 "experts");
    for (int r = 0; r < n && at < size; r++) {
        int32_t first = 0, end = 0;
        char ignored[PD_ERR_MAX];
        if (pt->mode != PD_SPLIT_LAYER ||
            layer_share(pt, total, r, n, &first, &end, ignored) != 0)
            share(total, r, n, &first, &end);
        if (end > first)
            at += (size_t)snprintf(buf + at, size - at, "%s%d-%d", r ? " | " : " ", first,
                                   end - 1);
        else
            at += (size_t)snprintf(buf + at, size - at, "%snone", r ? " | " : " ");
    }
    if (at < size)
        snprintf(buf + at, size - at, ")");
}

/* ---- the passes ---- */

/* The routing trace of the first T tokens: ids, weights, entropies, in that order. */
static int
move_trace(struct pd_context *c, int64_t T, int peer, bool send, char *err)
{
    struct pd_moe_scratch *s = &c->moe;
    if (s->n_layers == 0)
        return 0;
    size_t nk = (size_t)T * (size_t)s->n_layers * (size_t)c->m->hp.n_expert_used;
    void *bufs[3] = { s->ids, s->weights, s->entropy };
    size_t sizes[3] = { nk * sizeof(int32_t), nk * sizeof(float),
                        (size_t)T * (size_t)s->n_layers * sizeof(float) };
    for (int i = 0; i < 3; i++) {
        int rc = send ? pd_comm_send(c->part.comm, bufs[i], sizes[i], peer, err)
                      : pd_comm_recv(c->part.comm, bufs[i], sizes[i], peer, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* A pipeline hand-off: the hidden state (on a CUDA rank, on its device) and the trace so far, to
 * or from peer. */
static int
move_stage(struct pd_context *c, int64_t T, int peer, bool send, char *err)
{
    size_t bytes = sizeof(float) * (size_t)T * (size_t)c->m->hp.n_embd;
    int rc;
    if (c->cuda)
        rc = pd_cuda_fwd_move_hidden(c, (int32_t)T, peer, send, err);
    else
        rc = send ? pd_comm_send(c->part.comm, c->x, bytes, peer, err)
                  : pd_comm_recv(c->part.comm, c->x, bytes, peer, err);
    return rc ? rc : move_trace(c, T, peer, send, err);
}

/* This rank's share of one batch. */
static int
run_share(struct pd_context *c, const int32_t *tokens, int32_t T, char *err)
{
    struct pd_part *pt = &c->part;
    if (c->cuda)
        return pd_cuda_fwd_batch(c, tokens, T, err);
    pt->status = 0;
    pd_fwd_run(c, tokens, T);
    return pt->status ? pd_errorf(err, pt->status, "%s", pt->err) : 0;
}

/* The last stage's logits and trace back to rank 0. */
static int
return_result(struct pd_context *c, int rank, int size, char *err)
{
    int last = size - 1;
    if (size == 1 || (rank != 0 && rank != last))
        return 0;
    size_t rows = c->logits_all ? (size_t)c->T : 1;
    size_t bytes = sizeof(float) * rows * (size_t)c->m->hp.n_vocab;
    bool send = rank == last;
    int peer = send ? 0 : last;
    int rc = send ? pd_comm_send(c->part.comm, c->logits, bytes, peer, err)
                  : pd_comm_recv(c->part.comm, c->logits, bytes, peer, err);
    return rc ? rc : move_trace(c, c->T, peer, send, err);
}

/* Every rank's status (mine, and msg when it is an error) into all[size]: 0, or the first failing
 * rank's error naming it (*shared set), or the collective's own (the group is broken). */
static int
gather_statuses(struct pd_comm *comm, struct rank_status *all, int mine, const char *msg,
                bool *shared, char *err)
{
    struct rank_status me = { .rc = mine };
    int size = pd_comm_size(comm);
    if (mine)
        snprintf(me.msg, sizeof me.msg, "%s", msg);
    int rc = pd_comm_all_gather(comm, all, &me, sizeof me, err);
    if (rc)
        return rc;
    for (int r = 0; r < size; r++)
        if (all[r].rc) {
            *shared = true;
            return pd_errorf(err, all[r].rc, "device rank %d of %d: %.*s", r, size,
                             PD_ERR_MAX - 32, all[r].msg);
        }
    return 0;
}

/* After a batch every rank learns whether any rank's share failed; the first failure, naming its
 * rank, becomes the decode's error on every rank (*shared set), so none goes on alone and none
 * waits for a rank that stopped. */
static int
agree(struct pd_context *c, int mine, const char *msg, bool *shared, char *err)
{
    return gather_statuses(c->part.comm, c->part.statuses, mine, msg, shared, err);
}

int
pd_split_agree_start(struct pd_comm *comm, struct pd_context **ctx, int rc, char *err)
{
    if (comm == NULL || !pd_comm_start_pending(comm))
        return rc;
    struct rank_status *all = calloc((size_t)pd_comm_size(comm), sizeof *all);
    char mine[PD_ERR_MAX] = "";
    bool shared = false;
    if (rc)
        snprintf(mine, sizeof mine, "%s", err);
    int agreed = all ? gather_statuses(comm, all, rc, mine, &shared, err)
                     : pd_errorf(err, PD_ENOMEM, "out of memory");
    free(all);
    if (!rc && agreed && *ctx) {   /* still pending: freed without a QUIT nobody would hear */
        pd_context_free(*ctx);
        *ctx = NULL;
    }
    pd_comm_set_start_pending(comm, false);
    /* this rank's own failure: its message, not the first failing rank's */
    return rc ? pd_errorf(err, rc, "%s", mine) : agreed;
}

int
pd_split_abandon(struct pd_comm *comm, int rc, const char *why, char *err)
{
    struct pd_context *none = NULL;
    snprintf(err, PD_ERR_MAX, "%s", why);
    return pd_split_agree_start(comm, &none, rc, err);
}

/* Every rank's part of one decode of n tokens, in batches of at most n_batch. A rank whose share
 * fails still passes its hidden state on (a pipeline) or joins the sums left in the pass (an
 * expert split: forward-cuda.c), then every rank fails the decode together (agree); the batch's
 * positions are not in any rank's cache, and the caller may retry them. *shared: the error is
 * such an agreed one, after which the group goes on (not a collective's own failure). */
static int
rank_decode(struct pd_context *c, const int32_t *tokens, int32_t n, bool *shared, char *err)
{
    struct pd_part *pt = &c->part;
    int rank = pd_comm_rank(pt->comm), size = pd_comm_size(pt->comm);
    bool layer = pt->mode == PD_SPLIT_LAYER;
    int rc;
    for (int32_t done = 0; done < n;) {
        int32_t T = PD_MIN(n - done, c->n_batch);
        char share_err[PD_ERR_MAX] = "";
        if (layer && rank > 0 && (rc = move_stage(c, T, rank - 1, false, err)) != 0)
            return rc;
        int share_rc = run_share(c, tokens + done, T, share_err);
        if (layer && rank < size - 1 && (rc = move_stage(c, T, rank + 1, true, err)) != 0)
            return rc;
        if ((rc = agree(c, share_rc, share_err, shared, err)) != 0) {
            c->T = 0;
            return rc;
        }
        c->T = T;
        c->n_past += T;
        done += T;
    }
    return layer ? return_result(c, rank, size, err) : 0;
}

static void
truncate_local(struct pd_context *c, int32_t pos)
{
    if (pos >= 0 && pos < c->n_past)
        c->n_past = pos;
}

static int
command(struct pd_context *c, int op, int32_t n, int32_t pos, char *err)
{
    struct command cmd = { .op = op, .n = n, .pos = pos };
    return pd_comm_broadcast(c->part.comm, &cmd, sizeof cmd, 0, err);
}

int
pd_split_decode(struct pd_context *c, const int32_t *tokens, int32_t n, char *err)
{
    struct pd_comm *comm = c->part.comm;
    if (pd_comm_rank(comm) != 0)
        return pd_errorf(err, PD_EINVAL, "rank %d follows rank 0: it decodes in pd_split_serve",
                         pd_comm_rank(comm));
    int rc = command(c, CMD_DECODE, n, 0, err);
    bool shared = false;
    if (rc == 0)
        rc = pd_comm_broadcast(comm, (void *)tokens, sizeof(int32_t) * (size_t)n, 0, err);
    return rc ? rc : rank_decode(c, tokens, n, &shared, err);
}

void
pd_split_truncate(struct pd_context *c, int32_t pos)
{
    char err[PD_ERR_MAX];
    if (pd_comm_rank(c->part.comm) == 0)
        command(c, CMD_TRUNCATE, 0, pos, err);
    truncate_local(c, pos);
}

int
pd_split_serve(struct pd_context *c, char *err)
{
    struct pd_part *pt = &c->part;
    if (pt->comm == NULL || pd_comm_rank(pt->comm) == 0)
        return pd_errorf(err, PD_EINVAL, "only a follower rank of a split serves");
    for (;;) {
        struct command cmd;
        int rc = pd_comm_broadcast(pt->comm, &cmd, sizeof cmd, 0, err);
        if (rc)
            return rc;
        switch (cmd.op) {
        case CMD_DECODE:
            if ((size_t)cmd.n > pt->tokens_cap) {
                int32_t *grown = realloc(pt->tokens, sizeof(int32_t) * (size_t)cmd.n);
                if (grown == NULL)
                    return pd_errorf(err, PD_ENOMEM, "out of memory for %d tokens", cmd.n);
                pt->tokens = grown;
                pt->tokens_cap = (size_t)cmd.n;
            }
            rc = pd_comm_broadcast(pt->comm, pt->tokens, sizeof(int32_t) * (size_t)cmd.n, 0, err);
            bool shared = false;
            if (rc == 0)
                rc = rank_decode(c, pt->tokens, cmd.n, &shared, err);
            if (rc && !shared)   /* a failure every rank agreed on: rank 0 reports it */
                return rc;
            break;
        case CMD_TRUNCATE:
            truncate_local(c, cmd.pos);
            break;
        case CMD_QUIT:
            return 0;
        default:
            return pd_errorf(err, PD_EFORMAT, "unknown command %d from rank 0", cmd.op);
        }
    }
}

void
pd_split_moe_reduce(struct pd_context *c, const struct pd_layer *l, int ith, int nth, int64_t T)
{
    struct pd_part *pt = &c->part;
    struct pd_moe_scratch *s = &c->moe;
    int64_t E = c->m->hp.n_embd;
    if (ith == 0) {
        int rc = pd_comm_all_reduce_sum(pt->comm, pt->moe_out, (size_t)(T * E), pt->err);
        if (rc && pt->status == 0)
            pt->status = rc;
    }
    BARRIER();
    bool shared = l->ffn_gate_shexp.data != NULL;
    for (int64_t t = ith; t < T; t += nth) {
        float *x = c->x + t * E;
        pd_add(x, pt->moe_out + t * E, E);
        if (shared)
            for (int64_t i = 0; i < E; i++)
                x[i] += s->sg[t] * s->sout[t * E + i];
    }
    BARRIER();
}

/* ---- in-process groups ---- */

static void *
follower_main(void *arg)
{
    struct pd_context *c = arg;
    struct pd_split_group *g = c->part.group;
    pthread_mutex_lock(&g->mu);
    while (g->gate == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    int go = g->gate;
    pthread_mutex_unlock(&g->mu);
    if (go > 0) {
        char err[PD_ERR_MAX];
        int r = pd_comm_rank(c->part.comm);
        g->rc[r] = pd_split_serve(c, err);
    }
    return NULL;
}

static void
group_free(struct pd_split_group *g)
{
    for (int r = 1; r < g->size; r++)
        if (g->started[r])
            pthread_join(g->thread[r], NULL);
    for (int r = 1; r < g->size; r++)
        pd_context_free(g->ctx[r]);
    for (int r = 0; r < g->size; r++)
        pd_comm_free(g->comm[r]);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

static void
open_gate(struct pd_split_group *g, int value)
{
    pthread_mutex_lock(&g->mu);
    g->gate = value;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* The communicators of an in-process group: NCCL between CUDA ranks on distinct devices, else
 * the local one (CPU ranks; CUDA ranks sharing a device, or a build without NCCL: their
 * exchanges then go through host memory). */
static int
group_comms(struct pd_split_group *g, const struct pd_context_params *p, int backend, char *err)
{
    bool distinct = backend == PD_BACKEND_CUDA && pd_comm_nccl_available();
    for (int r = 0; r < g->size && distinct; r++) {
        distinct = p->devices[r] >= 0;   /* -1: a rank on the CPU */
        for (int q = 0; q < r; q++)
            distinct = distinct && p->devices[q] != p->devices[r];
    }
    if (!distinct)
        return pd_comm_local_new(g->comm, g->size, err);
    int devices[PD_MAX_DEVICES];
    for (int r = 0; r < g->size; r++)
        devices[r] = p->devices[r];
    return pd_comm_nccl_new_group(g->comm, devices, g->size, err);
}

int
pd_split_group_new(struct pd_context **out, struct pd_model *m,
                   const struct pd_context_params *p, int backend, const char *note, char *err)
{
    int size = p->n_devices;
    int mode = p->split != PD_SPLIT_NONE ? p->split : PD_SPLIT_LAYER;   /* llama.cpp's default */
    if (size < 1)
        return pd_errorf(err, PD_EINVAL, "a %s split needs the devices to split over (--gpus "
                         "LIST)", pd_split_mode_name(mode));
    if (size > PD_MAX_DEVICES)
        return pd_errorf(err, PD_EINVAL, "a %s split over %d devices: at most %d",
                         pd_split_mode_name(mode), size, PD_MAX_DEVICES);
    struct pd_split_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    g->size = size;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    int rc = group_comms(g, p, backend, err);
    /* the threads are shared out between the ranks that compute on the CPU: each gets its part
     * of the machine (a CUDA rank needs one to drive its device) */
    struct pd_context_params rp = *p;
    rp.split = mode;
    rp.n_devices = 1;
    int total = p->n_threads > 0 ? p->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN), n_cpu = 0;
    for (int r = 0; r < size; r++)
        n_cpu += backend != PD_BACKEND_CUDA || p->devices[r] < 0;
    for (int r = 0; r < size && rc == 0; r++) {
        bool on_cpu = backend != PD_BACKEND_CUDA || p->devices[r] < 0;
        rp.backend = on_cpu ? PD_BACKEND_CPU : backend;
        rp.n_threads = on_cpu ? PD_MAX(1, total / PD_MAX(n_cpu, 1)) : 1;
        rp.comm = g->comm[r];
        rp.devices[0] = p->devices[r];
        if ((rc = pd_context_new(&g->ctx[r], m, &rp, err)) == 0) {
            g->ctx[r]->part.live = false;   /* no QUIT to send until the group runs */
            g->ctx[r]->part.group = g;
        }
    }
    for (int r = 1; r < size && rc == 0; r++) {
        if (pthread_create(&g->thread[r], NULL, follower_main, g->ctx[r]) != 0)
            rc = pd_errorf(err, PD_ENOMEM, "cannot start the thread of device %d", r);
        else
            g->started[r] = true;
    }
    open_gate(g, rc == 0 ? 1 : -1);
    if (rc) {
        if (g->ctx[0])
            g->ctx[0]->part.group = NULL;
        pd_context_free(g->ctx[0]);
        group_free(g);
        return rc;
    }
    g->ctx[0]->part.live = true;
    g->ctx[0]->backend = backend;   /* the group's, though its driver may be the CPU rank */
    snprintf(g->ctx[0]->backend_note, sizeof g->ctx[0]->backend_note, "%s", note);
    *out = g->ctx[0];
    return 0;
}

void
pd_split_release(struct pd_context *c)
{
    struct pd_part *pt = &c->part;
    char err[PD_ERR_MAX];
    /* before the group agreed on its start (a context failing halfway, or freed because another
     * rank failed), no rank serves yet */
    if (pt->live && pd_comm_rank(pt->comm) == 0 && !pd_comm_start_pending(pt->comm))
        command(c, CMD_QUIT, 0, 0, err);
    if (pt->group && pd_comm_rank(pt->comm) == 0)   /* the driver owns its group */
        group_free(pt->group);
    pt->group = NULL;
    free(pt->moe_out);
    free(pt->host);
    free(pt->statuses);
    pt->statuses = NULL;
    free(pt->tokens);
    pt->moe_out = NULL;
    pt->host = NULL;
    pt->tokens = NULL;
    pt->comm = NULL;
}
