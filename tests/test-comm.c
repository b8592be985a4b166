/*
 * test-comm.c: the in-process communicator's collectives on their own, over 1 to 4 ranks (one
 * thread each): all-reduce against a sum made here in rank order (bit for bit, and the same on
 * every rank), broadcast from every root, all-gather, a pipeline chain of sends and receives,
 * the barrier, and the errors a caller's bug gets (sizes that disagree, a bad peer).
 */
#include "config.h"

#include "engine/comm.h"
#include "tests/tap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_N 1000

static const size_t lengths[] = { 0, 1, 3, 7, 64, MAX_N };

struct rank_result {
    int failures;               /* checks that failed on this rank */
    char first[PD_ERR_MAX];     /* what the first one was */
    int mismatch_send_rc, mismatch_recv_rc, bad_peer_rc;
};

struct job {
    struct pd_comm *comm;
    struct rank_result *res;
    atomic_int *counter;
};

static void
fail(struct rank_result *r, const char *what)
{
    if (r->failures++ == 0)
        snprintf(r->first, sizeof r->first, "%s", what);
}

/* The value rank r puts at index i in round k: random-looking, with a varied exponent, so the
 * order of a float sum shows. */
static float
value(int r, size_t i, int k)
{
    uint32_t h = (uint32_t)(r * 2654435761u) ^ (uint32_t)(i * 40503u) ^ (uint32_t)(k * 97u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return ((float)(h & 0xffff) / 65536.0f - 0.5f) * (float)(1 << (h >> 28));
}

static void
check_all_reduce(struct job *j, int size, int rank)
{
    float mine[MAX_N], expect[MAX_N];
    char err[PD_ERR_MAX];
    for (size_t li = 0; li < PD_ARRAY_SIZE(lengths); li++) {
        size_t n = lengths[li];
        for (size_t i = 0; i < n; i++) {
            mine[i] = value(rank, i, (int)li);
            float s = value(0, i, (int)li);
            for (int r = 1; r < size; r++)
                s += value(r, i, (int)li);
            expect[i] = s;
        }
        if (pd_comm_all_reduce_sum(j->comm, mine, n, err) != 0)
            fail(j->res, err);
        else if (n && memcmp(mine, expect, n * sizeof(float)) != 0)
            fail(j->res, "all-reduce: not the rank-order sum");
    }
}

static void
check_broadcast_gather(struct job *j, int size, int rank)
{
    char err[PD_ERR_MAX];
    uint8_t buf[MAX_N], gathered[4 * MAX_N];
    for (int root = 0; root < size; root++)
        for (size_t li = 0; li < PD_ARRAY_SIZE(lengths); li++) {
            size_t n = lengths[li];
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(rank == root ? i * 7 + (size_t)root : 0xee);
            if (pd_comm_broadcast(j->comm, buf, n, root, err) != 0) {
                fail(j->res, err);
                continue;
            }
            for (size_t i = 0; i < n; i++)
                if (buf[i] != (uint8_t)(i * 7 + (size_t)root)) {
                    fail(j->res, "broadcast: wrong bytes");
                    break;
                }
        }
    for (size_t li = 0; li < PD_ARRAY_SIZE(lengths); li++) {
        size_t n = lengths[li];
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(i + (size_t)rank * 31);
        if (pd_comm_all_gather(j->comm, gathered, buf, n, err) != 0) {
            fail(j->res, err);
            continue;
        }
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < n; i++)
                if (gathered[(size_t)r * n + i] != (uint8_t)(i + (size_t)r * 31)) {
                    fail(j->res, "all-gather: wrong bytes");
                    r = size;
                    break;
                }
    }
}

/* The pipeline's pattern: 0 -> 1 -> ... -> size-1 -> 0, each stage adding its rank. */
static void
check_chain(struct job *j, int size, int rank)
{
    char err[PD_ERR_MAX];
    float v[MAX_N];
    if (size == 1)
        return;
    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    if (rank == 0) {
        for (size_t i = 0; i < MAX_N; i++)
            v[i] = (float)i;
        if (pd_comm_send(j->comm, v, sizeof v, next, err) || pd_comm_recv(j->comm, v, sizeof v,
                                                                        prev, err)) {
            fail(j->res, err);
            return;
        }
        float add = (float)(size * (size - 1) / 2);
        for (size_t i = 0; i < MAX_N; i++)
            if (v[i] != (float)i + add) {
                fail(j->res, "chain: wrong values back at rank 0");
                break;
            }
        return;
    }
    if (pd_comm_recv(j->comm, v, sizeof v, prev, err)) {
        fail(j->res, err);
        return;
    }
    for (size_t i = 0; i < MAX_N; i++)
        v[i] += (float)rank;
    if (pd_comm_send(j->comm, v, sizeof v, next, err))
        fail(j->res, err);
}

static void
check_barrier(struct job *j, int size)
{
    char err[PD_ERR_MAX];
    for (int round = 1; round <= 20; round++) {
        atomic_fetch_add(j->counter, 1);
        if (pd_comm_barrier(j->comm, err) != 0)
            fail(j->res, err);
        if (atomic_load(j->counter) != round * size)
            fail(j->res, "barrier: a rank passed before all arrived");
        if (pd_comm_barrier(j->comm, err) != 0)
            fail(j->res, err);
    }
}

static void
check_errors(struct job *j, int size, int rank)
{
    char err[PD_ERR_MAX];
    float v[4] = { 0 };
    j->res->bad_peer_rc = pd_comm_send(j->comm, v, sizeof v, rank, err);   /* itself */
    if (size < 2)
        return;
    if (rank == 0)
        j->res->mismatch_send_rc = pd_comm_send(j->comm, v, 2 * sizeof(float), 1, err);
    else if (rank == 1)
        j->res->mismatch_recv_rc = pd_comm_recv(j->comm, v, sizeof v, 0, err);
}

static void *
rank_main(void *arg)
{
    struct job *j = arg;
    int size = pd_comm_size(j->comm), rank = pd_comm_rank(j->comm);
    check_all_reduce(j, size, rank);
    check_broadcast_gather(j, size, rank);
    check_chain(j, size, rank);
    check_barrier(j, size);
    check_errors(j, size, rank);
    return NULL;
}

static void
run_group(int size)
{
    struct pd_comm *comms[4];
    struct rank_result res[4];
    struct job jobs[4];
    pthread_t th[4];
    atomic_int counter = 0;
    char err[PD_ERR_MAX];
    memset(res, 0, sizeof res);
    if (!ok(pd_comm_local_new(comms, size, err) == 0, "%d ranks: group made", size)) {
        diag("%s", err);
        return;
    }
    is_int(pd_comm_size(comms[size - 1]), size, "%d ranks: size", size);
    is_int(pd_comm_rank(comms[size - 1]), size - 1, "%d ranks: rank", size);
    is_str(pd_comm_name(comms[0]), "local", "%d ranks: name", size);
    for (int r = 0; r < size; r++) {
        jobs[r] = (struct job){ .comm = comms[r], .res = &res[r], .counter = &counter };
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < size; r++)
        pthread_join(th[r], NULL);
    for (int r = 0; r < size; r++) {
        ok(res[r].failures == 0, "%d ranks: rank %d: all-reduce, broadcast, all-gather, chain, "
           "barrier", size, r);
        if (res[r].failures)
            diag("%d failures, the first: %s", res[r].failures, res[r].first);
        is_int(res[r].bad_peer_rc, PD_EINVAL, "%d ranks: rank %d cannot send to itself", size, r);
    }
    if (size >= 2) {
        is_int(res[0].mismatch_send_rc, PD_EINVAL, "%d ranks: sender of the wrong size told",
               size);
        is_int(res[1].mismatch_recv_rc, PD_EINVAL, "%d ranks: receiver of the wrong size told",
               size);
    }
    for (int r = 0; r < size; r++)
        pd_comm_free(comms[r]);
}

int
main(void)
{
    char err[PD_ERR_MAX];
    struct pd_comm *none[1];
    is_int(pd_comm_local_new(none, 0, err), PD_EINVAL, "a group of 0 ranks is refused");
    for (int size = 1; size <= 4; size++)
        run_group(size);
    if (!pd_comm_nccl_available()) {
        struct pd_comm *c;
        is_int(pd_comm_nccl_from_env(&c, 0, err), PD_EUNSUPPORTED, "no NCCL: said so");
    } else {
        ok(1, "NCCL compiled in (its collectives run in tests/gpu, with a device)");
    }
    return exit_status();
}
