/*
 * comm-local.c: the in-process communicator: N ranks as threads of one process.
 *
 * The ranks of a group share one struct group. A collective posts each rank's buffer pointer in
 * its slot, meets the others at a barrier, reads or writes the posted buffers directly, and meets
 * them at a second barrier, after which no rank touches another's buffer, so each may reuse its
 * own. All-reduce needs no scratch: element i is summed (over ranks, in rank order, so every rank
 * gets the same bits) by the one rank whose chunk holds it, which writes the sum into every
 * rank's buffer. Send and receive are a rendezvous through a mailbox per (sender, receiver).
 *
 * A mutex and a condition variable carry every wait: this communicator exists to test the
 * partitioning and to play CPU "devices", not to be fast.
 */
#include "config.h"

#include "engine/comm-impl.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

struct mailbox {
    const void *buf;   /* the sender's buffer while a message waits; NULL when empty */
    size_t bytes;
    int status;        /* set by the receiver: 0, or PD_EINVAL on a size mismatch */
    bool taken;
};

struct group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size, refs;
    int arrived;               /* barrier: ranks at the current barrier */
    unsigned long generation;  /* barrier: bumped each time all have arrived */
    void **slot;               /* [size] posted buffers of the current collective */
    size_t *slot_n;            /* [size] their sizes, checked to agree */
    struct mailbox *box;       /* [size][size] box[from * size + to] */
};

struct local_comm {
    struct pd_comm base;
    struct group *g;
};

static struct group *
group_of(struct pd_comm *c)
{
    return ((struct local_comm *)c)->g;
}

static void
group_barrier(struct group *g)
{
    pthread_mutex_lock(&g->mu);
    unsigned long gen = g->generation;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        g->generation++;
        pthread_cond_broadcast(&g->cv);
    } else {
        while (g->generation == gen)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

static int
local_barrier(struct pd_comm *c, char *err)
{
    group_barrier(group_of(c));
    return 0;
}

/* Post this rank's buffer and size, wait for all, and check that every rank posted the same
 * size (a mismatch is a bug in the caller; every rank reports it). */
static int
post(struct pd_comm *c, const void *buf, size_t n, const char *what, char *err)
{
    struct group *g = group_of(c);
    g->slot[c->rank] = (void *)buf;
    g->slot_n[c->rank] = n;
    group_barrier(g);
    for (int r = 0; r < g->size; r++)
        if (g->slot_n[r] != n) {
            size_t theirs = g->slot_n[r];
            group_barrier(g);
            return pd_errorf(err, PD_EINVAL, "%s: rank %d passed %zu, rank %d passed %zu", what,
                             c->rank, n, r, theirs);
        }
    return 0;
}

static int
local_broadcast(struct pd_comm *c, void *buf, size_t bytes, int root, char *err)
{
    int rc = post(c, buf, bytes, "broadcast", err);
    if (rc)
        return rc;
    struct group *g = group_of(c);
    if (c->rank != root && bytes)
        memcpy(buf, g->slot[root], bytes);
    group_barrier(g);
    return 0;
}

static int
local_all_reduce_sum(struct pd_comm *c, float *buf, size_t n, char *err)
{
    int rc = post(c, buf, n, "all-reduce", err);
    if (rc)
        return rc;
    struct group *g = group_of(c);
    size_t per = (n + (size_t)g->size - 1) / (size_t)g->size;
    size_t lo = PD_MIN(n, per * (size_t)c->rank), hi = PD_MIN(n, lo + per);
    for (size_t i = lo; i < hi; i++) {
        float s = ((float *)g->slot[0])[i];
        for (int r = 1; r < g->size; r++)
            s += ((float *)g->slot[r])[i];
        for (int r = 0; r < g->size; r++)
            ((float *)g->slot[r])[i] = s;
    }
    group_barrier(g);
    return 0;
}

static int
local_all_gather(struct pd_comm *c, void *out, const void *in, size_t bytes, char *err)
{
    int rc = post(c, in, bytes, "all-gather", err);
    if (rc)
        return rc;
    struct group *g = group_of(c);
    for (int r = 0; r < g->size; r++)
        if (bytes && (char *)out + (size_t)r * bytes != g->slot[r])
            memcpy((char *)out + (size_t)r * bytes, g->slot[r], bytes);
    group_barrier(g);
    return 0;
}

static int
local_send(struct pd_comm *c, const void *buf, size_t bytes, int peer, char *err)
{
    struct group *g = group_of(c);
    struct mailbox *mb = &g->box[c->rank * g->size + peer];
    pthread_mutex_lock(&g->mu);
    mb->buf = buf ? buf : (const void *)"";   /* NULL marks an empty box */
    mb->bytes = bytes;
    mb->taken = false;
    pthread_cond_broadcast(&g->cv);
    while (!mb->taken)
        pthread_cond_wait(&g->cv, &g->mu);
    int rc = mb->status;
    mb->buf = NULL;
    mb->taken = false;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (rc)
        return pd_errorf(err, rc, "send: rank %d sent %zu bytes to rank %d, which expected "
                         "another size", c->rank, bytes, peer);
    return 0;
}

static int
local_recv(struct pd_comm *c, void *buf, size_t bytes, int peer, char *err)
{
    struct group *g = group_of(c);
    struct mailbox *mb = &g->box[peer * g->size + c->rank];
    pthread_mutex_lock(&g->mu);
    while (mb->buf == NULL || mb->taken)
        pthread_cond_wait(&g->cv, &g->mu);
    size_t sent = mb->bytes;
    mb->status = sent == bytes ? 0 : PD_EINVAL;
    if (sent == bytes && bytes)
        memcpy(buf, mb->buf, bytes);
    mb->taken = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (sent != bytes)
        return pd_errorf(err, PD_EINVAL, "receive: rank %d expected %zu bytes from rank %d, "
                         "which sent %zu", c->rank, bytes, peer, sent);
    return 0;
}

static void
group_free(struct group *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->slot);
    free(g->slot_n);
    free(g->box);
    free(g);
}

static void
local_free(struct pd_comm *c)
{
    struct group *g = group_of(c);
    pthread_mutex_lock(&g->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (left == 0)
        group_free(g);
    free(c);
}

static const struct pd_comm_ops local_ops = {
    .name = "local",
    .send = local_send,
    .recv = local_recv,
    .broadcast = local_broadcast,
    .all_reduce_sum = local_all_reduce_sum,
    .all_gather = local_all_gather,
    .barrier = local_barrier,
    .free = local_free,
};

int
pd_comm_local_new(struct pd_comm **ranks, int size, char *err)
{
    if (size < 1 || size > 1024)
        return pd_errorf(err, PD_EINVAL, "a local group of %d ranks (1 to 1024)", size);
    for (int r = 0; r < size; r++)
        ranks[r] = NULL;
    struct group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    g->size = size;
    g->slot = calloc((size_t)size, sizeof *g->slot);
    g->slot_n = calloc((size_t)size, sizeof *g->slot_n);
    g->box = calloc((size_t)size * (size_t)size, sizeof *g->box);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (g->slot == NULL || g->slot_n == NULL || g->box == NULL) {
        group_free(g);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    for (int r = 0; r < size; r++) {
        struct local_comm *lc = calloc(1, sizeof *lc);
        if (lc == NULL) {
            for (int i = 0; i < r; i++)
                free(ranks[i]);
            group_free(g);
            return pd_errorf(err, PD_ENOMEM, "out of memory");
        }
        lc->base = (struct pd_comm){ .ops = &local_ops, .rank = r, .size = size, .device = -1 };
        lc->g = g;
        ranks[r] = &lc->base;
    }
    g->refs = size;
    return 0;
}
