/*
 * threadpool.h: a persistent pool of worker threads for the forward pass.
 *
 * One pd_threadpool_run() per token batch: every thread (the caller is thread 0) runs the same
 * function with its index ith of nth, and the function separates its ops with
 * pd_threadpool_barrier(). This is ggml's shape: one wake-up per forward pass, then barriers made
 * of spinning atomics, which cost well under a microsecond where a condition variable would cost
 * tens. Between runs the workers spin for a short while, then sleep on a condition variable, so
 * an idle ponder does not burn a core.
 */
#ifndef PD_THREADPOOL_H
#define PD_THREADPOOL_H

struct pd_threadpool;

typedef void (*pd_task_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (threads, the caller included). NULL when threads cannot be created. */
struct pd_threadpool *pd_threadpool_new(int n_threads);
void pd_threadpool_free(struct pd_threadpool *tp);
int pd_threadpool_size(const struct pd_threadpool *tp);

/* Run fn(ctx, ith, nth) on every thread and return when all have returned. Not reentrant. */
void pd_threadpool_run(struct pd_threadpool *tp, pd_task_fn fn, void *ctx);

/* Called by every thread inside a run: returns when all nth threads have reached it. */
void pd_threadpool_barrier(struct pd_threadpool *tp);

/* Work sharing inside a run: a counter that all threads take chunks from. Reset it (one thread,
 * then a barrier) before the threads draw from it; pd_threadpool_chunk returns the next chunk
 * index, or >= n_chunks when the work is done. */
void pd_threadpool_chunk_reset(struct pd_threadpool *tp);
int pd_threadpool_chunk_next(struct pd_threadpool *tp);

/* Split n items between nth threads: thread ith gets [*begin, *end). */
static inline void
pd_split_range(int n, int ith, int nth, int *begin, int *end)
{
    int per = (n + nth - 1) / nth;
    *begin = ith * per < n ? ith * per : n;
    *end = *begin + per < n ? *begin + per : n;
}

#endif
