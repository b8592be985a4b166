/*
 * ops-loss.c: log-softmax over the vocabulary, the log-probability of each target, and the mean
 * cross-entropy over the positions that count.
 *
 * The vocabulary-wide rows are the widest the trainer touches (N x V), so threads split them.
 * The log-sum-exp of each row is saved, so the backward recomputes softmax = exp(logit - lse)
 * in one pass without a max.
 */
#include "config.h"

#include "engine/train/ops.h"
#include "kernels/cpu/threadpool.h"


struct loss_args {
    float *logp, *lse, *dlogits;
    const float *logits, *dlogp;
    const int32_t *targets;
    float dlogp_all;        /* backward: the gradient of every counted row when dlogp is NULL */
    int64_t N, V;
};

static void
run(struct pd_threadpool *tp, pd_task_fn fn, struct loss_args *args)
{
    if (tp && pd_threadpool_size(tp) > 1 && args->N * args->V >= 65536)
        pd_threadpool_run(tp, fn, args);
    else
        fn(args, 0, 1);
}

static void
forward_task(void *ctx, int ith, int nth)
{
    struct loss_args *a = ctx;
    for (int64_t n = ith; n < a->N; n += nth) {
        const float *l = a->logits + n * a->V;
        a->lse[n] = pd_tr_logsumexp(l, a->V);
        a->logp[n] = a->targets[n] >= 0 ? l[a->targets[n]] - a->lse[n] : 0.0f;
    }
}

static void
backward_task(void *ctx, int ith, int nth)
{
    struct loss_args *a = ctx;
    for (int64_t n = ith; n < a->N; n += nth) {
        int32_t t = a->targets[n];
        if (t < 0)
            continue;
        float g = a->dlogp ? a->dlogp[n] : a->dlogp_all;
        pd_tr_exp_axpy(a->dlogits + n * a->V, -g, a->logits + n * a->V, a->lse[n], a->V);
        a->dlogits[n * a->V + t] += g;
    }
}

static int
check_targets(const int32_t *targets, int64_t N, int64_t V, char *err)
{
    for (int64_t n = 0; n < N; n++)
        if (targets[n] >= V)
            return pd_errorf(err, PD_EINVAL, "position %lld: target %d is outside the "
                             "vocabulary of %lld", (long long)n, targets[n], (long long)V);
    return 0;
}

int
pd_tr_logprob_forward(struct pd_threadpool *tp, float *logp, float *lse, const float *logits,
                      const int32_t *targets, int64_t N, int64_t V, char *err)
{
    int rc = check_targets(targets, N, V, err);
    if (rc)
        return rc;
    struct loss_args a = { .logp = logp, .lse = lse, .logits = logits, .targets = targets,
                           .N = N, .V = V };
    run(tp, forward_task, &a);
    return 0;
}

void
pd_tr_logprob_backward(struct pd_threadpool *tp, float *dlogits, const float *dlogp,
                       const float *logits, const float *lse, const int32_t *targets, int64_t N,
                       int64_t V)
{
    struct loss_args a = { .dlogits = dlogits, .dlogp = dlogp, .logits = logits,
                           .lse = (float *)lse, .targets = targets, .N = N, .V = V };
    run(tp, backward_task, &a);
}

static int64_t
count_targets(const int32_t *targets, int64_t N)
{
    int64_t c = 0;
    for (int64_t n = 0; n < N; n++)
        c += targets[n] >= 0;
    return c;
}

int
pd_tr_xent_forward(struct pd_threadpool *tp, float *loss, int64_t *count, float *logp,
                   float *lse, const float *logits, const int32_t *targets, int64_t N, int64_t V,
                   char *err)
{
    int rc = pd_tr_logprob_forward(tp, logp, lse, logits, targets, N, V, err);
    if (rc)
        return rc;
    double sum = 0.0;
    for (int64_t n = 0; n < N; n++)
        sum -= logp[n];
    *count = count_targets(targets, N);
    *loss = *count ? (float)(sum / (double)*count) : 0.0f;
    return 0;
}

void
pd_tr_xent_backward(struct pd_threadpool *tp, float *dlogits, float dloss, const float *logits,
                    const float *lse, const int32_t *targets, int64_t N, int64_t V)
{
    int64_t c = count_targets(targets, N);
    if (c == 0)
        return;
    struct loss_args a = { .dlogits = dlogits, .dlogp_all = -dloss / (float)c, .logits = logits,
                           .lse = (float *)lse, .targets = targets, .N = N, .V = V };
    run(tp, backward_task, &a);
}
