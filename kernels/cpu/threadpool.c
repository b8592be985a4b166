/*
 * threadpool.c: persistent workers, spinning barriers, and a shared chunk counter.
 *
 * A run is announced by bumping `generation`. Workers spin on it for a while (a token of decode
 * arrives every few milliseconds, and waking a sleeping thread costs more than the spin) and then
 * fall asleep on `wake`. The barrier is a counter plus a phase number: the last thread to arrive
 * resets the counter and advances the phase, the others spin until it moves. Counters sit on
 * their own cache lines so the spinning threads do not slow the one that writes.
 */
#include "config.h"

#include "kernels/cpu/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define CACHE_LINE 64
/* About a millisecond of spinning before a worker sleeps. */
#define SPIN_BEFORE_SLEEP 20000
/* Pause instructions before a waiting thread starts yielding its core. */
#define YIELD_AFTER 2000

struct pd_threadpool {
    int n_threads;
    pthread_t *threads;

    _Alignas(CACHE_LINE) atomic_int generation;
    _Alignas(CACHE_LINE) atomic_int n_done;
    _Alignas(CACHE_LINE) atomic_int barrier_count;
    _Alignas(CACHE_LINE) atomic_int barrier_phase;
    _Alignas(CACHE_LINE) atomic_int chunk;
    _Alignas(CACHE_LINE) atomic_bool stop;

    pd_task_fn fn;
    void *ctx;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    int n_sleeping;
};

/* Spin politely: after a while, give the core away. On an oversubscribed machine (more threads
 * than cores, as when tests run in parallel) the thread we wait for may not be running at all,
 * and pure spinning would burn its time slice. */
static inline void
relax_or_yield(unsigned spins)
{
    if (spins < YIELD_AFTER)
        cpu_relax();
    else
        sched_yield();
}

static void
spin_until_changed(atomic_int *v, int old)
{
    for (unsigned spins = 0; atomic_load_explicit(v, memory_order_acquire) == old; spins++)
        relax_or_yield(spins);
}

struct worker_arg {
    struct pd_threadpool *tp;
    int ith;
};

static bool
wait_for_generation(struct pd_threadpool *tp, int seen)
{
    for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
        if (atomic_load_explicit(&tp->generation, memory_order_acquire) != seen)
            return !atomic_load(&tp->stop);
        relax_or_yield((unsigned)i);
    }
    pthread_mutex_lock(&tp->lock);
    tp->n_sleeping++;
    while (atomic_load(&tp->generation) == seen && !atomic_load(&tp->stop))
        pthread_cond_wait(&tp->wake, &tp->lock);
    tp->n_sleeping--;
    pthread_mutex_unlock(&tp->lock);
    return !atomic_load(&tp->stop);
}

static void *
worker_main(void *p)
{
    struct worker_arg *arg = p;
    struct pd_threadpool *tp = arg->tp;
    int ith = arg->ith;
    free(arg);
    int seen = 0;
    while (wait_for_generation(tp, seen)) {
        seen = atomic_load_explicit(&tp->generation, memory_order_acquire);
        tp->fn(tp->ctx, ith, tp->n_threads);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_acq_rel);
    }
    return NULL;
}

struct pd_threadpool *
pd_threadpool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    struct pd_threadpool *tp = calloc(1, sizeof *tp);
    if (tp == NULL)
        return NULL;
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->lock, NULL);
    pthread_cond_init(&tp->wake, NULL);
    tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
    if (tp->threads == NULL) {
        free(tp);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *arg = malloc(sizeof *arg);
        if (arg == NULL) {
            tp->n_threads = i;
            pd_threadpool_free(tp);
            return NULL;
        }
        arg->tp = tp;
        arg->ith = i;
        if (pthread_create(&tp->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            tp->n_threads = i;
            pd_threadpool_free(tp);
            return NULL;
        }
    }
    return tp;
}

void
pd_threadpool_free(struct pd_threadpool *tp)
{
    if (tp == NULL)
        return;
    pthread_mutex_lock(&tp->lock);
    atomic_store(&tp->stop, true);
    atomic_fetch_add(&tp->generation, 1);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->lock);
    for (int i = 1; i < tp->n_threads; i++)
        pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->lock);
    pthread_cond_destroy(&tp->wake);
    free(tp->threads);
    free(tp);
}

int
pd_threadpool_size(const struct pd_threadpool *tp)
{
    return tp->n_threads;
}

void
pd_threadpool_run(struct pd_threadpool *tp, pd_task_fn fn, void *ctx)
{
    if (tp->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_store(&tp->n_done, 0);
    atomic_store(&tp->barrier_count, 0);
    pthread_mutex_lock(&tp->lock);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    if (tp->n_sleeping > 0)
        pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->lock);

    fn(ctx, 0, tp->n_threads);
    for (unsigned spins = 0;
         atomic_load_explicit(&tp->n_done, memory_order_acquire) < tp->n_threads - 1; spins++)
        relax_or_yield(spins);
}

void
pd_threadpool_barrier(struct pd_threadpool *tp)
{
    int nth = tp->n_threads;
    if (nth == 1)
        return;
    int phase = atomic_load_explicit(&tp->barrier_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&tp->barrier_count, 1, memory_order_acq_rel) == nth - 1) {
        atomic_store_explicit(&tp->barrier_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&tp->barrier_phase, 1, memory_order_acq_rel);
        return;
    }
    spin_until_changed(&tp->barrier_phase, phase);
}

void
pd_threadpool_chunk_reset(struct pd_threadpool *tp)
{
    atomic_store_explicit(&tp->chunk, 0, memory_order_relaxed);
}

int
pd_threadpool_chunk_next(struct pd_threadpool *tp)
{
    return atomic_fetch_add_explicit(&tp->chunk, 1, memory_order_relaxed);
}
