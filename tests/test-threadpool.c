/*
 * test-threadpool.c: every thread runs, barriers hold everyone back, the chunk counter hands out
 * each chunk exactly once, and the pool survives many runs (including after its workers slept).
 */
#include "config.h"

#include "kernels/cpu/threadpool.h"
#include "tests/tap.h"

#include <stdatomic.h>
#include <unistd.h>

#define N_CHUNKS 1000

struct job {
    struct pd_threadpool *tp;
    atomic_int ran;
    atomic_int phase_errors;
    int stage[64];
    atomic_int taken[N_CHUNKS];
};

static void
job_fn(void *arg, int ith, int nth)
{
    struct job *j = arg;
    atomic_fetch_add(&j->ran, 1);
    /* Three stages: no thread may see another still in an earlier stage after a barrier. */
    for (int s = 1; s <= 3; s++) {
        j->stage[ith] = s;
        pd_threadpool_barrier(j->tp);
        for (int t = 0; t < nth; t++)
            if (j->stage[t] < s)
                atomic_fetch_add(&j->phase_errors, 1);
        pd_threadpool_barrier(j->tp);
    }
    if (ith == 0)
        pd_threadpool_chunk_reset(j->tp);
    pd_threadpool_barrier(j->tp);
    for (int c; (c = pd_threadpool_chunk_next(j->tp)) < N_CHUNKS;)
        atomic_fetch_add(&j->taken[c], 1);
}

static void
check_pool(int n)
{
    struct pd_threadpool *tp = pd_threadpool_new(n);
    ok(tp != NULL && pd_threadpool_size(tp) == n, "pool of %d threads", n);
    static struct job j;
    int runs = 200, bad_chunks = 0;
    memset(&j, 0, sizeof j);
    j.tp = tp;
    for (int r = 0; r < runs; r++) {
        if (r == runs / 2)
            usleep(20000); /* let the workers fall asleep once */
        for (int c = 0; c < N_CHUNKS; c++)
            atomic_store(&j.taken[c], 0);
        pd_threadpool_run(tp, job_fn, &j);
        for (int c = 0; c < N_CHUNKS; c++)
            bad_chunks += atomic_load(&j.taken[c]) != 1;
    }
    is_int(atomic_load(&j.ran), runs * n, "every thread ran every time (%d threads)", n);
    is_int(atomic_load(&j.phase_errors), 0, "barriers held (%d threads)", n);
    is_int(bad_chunks, 0, "each chunk taken exactly once (%d threads)", n);
    pd_threadpool_free(tp);
}

int
main(void)
{
    plan(16);
    check_pool(1);
    check_pool(2);
    check_pool(3);
    check_pool(8);
    return exit_status();
}
