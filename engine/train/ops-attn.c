/*
 * ops-attn.c: causal multi-head attention with grouped key/value heads, and MLA's key split into
 * a per-head part and a RoPE part shared by all heads, forward and backward.
 *
 * Per sequence b, query head h (key/value head g = h / (H / Hkv)) and query position t:
 *   s_j   = scale * (q_t[:Dk] . k_j + q_t[Dk:] . krope_j)          j = 0 .. t
 *   P_tj  = softmax_j(s)                                            saved
 *   out_t = sum_j P_tj v_j
 * and back, with dP_j = dout_t . v_j and dS_j = P_tj (dP_j - sum_i P_ti dP_i):
 *   dq_t += scale sum_j dS_j [k_j | krope_j]     dk_j += scale dS_j q_t[:Dk]
 *   dkrope_j += scale dS_j q_t[Dk:]              dv_j += P_tj dout_t
 *
 * Threads take whole (sequence, key/value head) pairs in the backward, so the keys and values a
 * thread accumulates into are its own; with a shared RoPE key (written by every head) they take
 * whole sequences instead.
 */
#include "config.h"

#include "engine/train/ops.h"
#include "kernels/cpu/threadpool.h"

#include <math.h>
#include <string.h>

/* Eight partial sums, so the compiler can vectorize without reassociating. */
static inline float
dot(const float *a, const float *b, int n)
{
    float s[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static inline void
axpy(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

struct attn_args {
    const struct pd_tr_attn *a;
    float *out, *probs;
    float *dq, *dk, *dkrope, *dv;
    const float *dout, *q, *k, *krope, *v;
    bool by_sequence;   /* backward: one task per sequence (a shared key is written) */
};

/* Pointers to row t of sequence b. */
#define QROW(x, t, h) ((x) + ((b * a->T + (t)) * a->H + (h)) * (int64_t)(a->Dk + a->Dr))
#define KROW(x, t, g) ((x) + ((b * a->T + (t)) * a->Hkv + (g)) * (int64_t)a->Dk)
#define VROW(x, t, g) ((x) + ((b * a->T + (t)) * a->Hkv + (g)) * (int64_t)a->Dv)
#define OROW(x, t, h) ((x) + ((b * a->T + (t)) * a->H + (h)) * (int64_t)a->Dv)
#define RROW(x, t) ((x) + (b * a->T + (t)) * (int64_t)a->Dr)
#define PROW(t, h) (args->probs + ((b * a->H + (h)) * a->T + (t)) * a->T)

static void
forward_head(const struct attn_args *args, int64_t b, int h)
{
    const struct pd_tr_attn *a = args->a;
    int g = h / (a->H / a->Hkv);
    for (int64_t t = 0; t < a->T; t++) {
        const float *q = QROW(args->q, t, h);
        float *p = PROW(t, h), max = -INFINITY;
        for (int64_t j = 0; j <= t; j++) {
            float s = dot(q, KROW(args->k, j, g), a->Dk);
            if (a->Dr)
                s += dot(q + a->Dk, RROW(args->krope, j), a->Dr);
            p[j] = s * a->scale;
            max = p[j] > max ? p[j] : max;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j <= t; j++) {
            p[j] = expf(p[j] - max);
            sum += p[j];
        }
        float inv = 1.0f / sum, *o = OROW(args->out, t, h);
        memset(o, 0, sizeof(float) * a->Dv);
        for (int64_t j = 0; j <= t; j++) {
            p[j] *= inv;
            axpy(o, p[j], VROW(args->v, j, g), a->Dv);
        }
    }
}

static void
forward_task(void *ctx, int ith, int nth)
{
    const struct attn_args *args = ctx;
    const struct pd_tr_attn *a = args->a;
    for (int64_t i = ith; i < a->B * a->H; i += nth)
        forward_head(args, i / a->H, (int)(i % a->H));
}

static void
backward_head(const struct attn_args *args, int64_t b, int h, float *dS)
{
    const struct pd_tr_attn *a = args->a;
    int g = h / (a->H / a->Hkv);
    for (int64_t t = 0; t < a->T; t++) {
        const float *p = PROW(t, h), *go = OROW(args->dout, t, h), *q = QROW(args->q, t, h);
        double sum = 0.0;
        for (int64_t j = 0; j <= t; j++) {
            dS[j] = dot(go, VROW(args->v, j, g), a->Dv);
            sum += (double)p[j] * dS[j];
        }
        for (int64_t j = 0; j <= t; j++)
            dS[j] = p[j] * (dS[j] - (float)sum) * a->scale;
        float *dq = args->dq ? QROW(args->dq, t, h) : NULL;
        for (int64_t j = 0; j <= t; j++) {
            if (dq) {
                axpy(dq, dS[j], KROW(args->k, j, g), a->Dk);
                if (a->Dr)
                    axpy(dq + a->Dk, dS[j], RROW(args->krope, j), a->Dr);
            }
            if (args->dk)
                axpy(KROW(args->dk, j, g), dS[j], q, a->Dk);
            if (args->dkrope && a->Dr)
                axpy(RROW(args->dkrope, j), dS[j], q + a->Dk, a->Dr);
            if (args->dv)
                axpy(VROW(args->dv, j, g), p[j], go, a->Dv);
        }
    }
}

static void
backward_task(void *ctx, int ith, int nth)
{
    const struct attn_args *args = ctx;
    const struct pd_tr_attn *a = args->a;
    int group = a->H / a->Hkv;
    float dS[a->T];
    if (args->by_sequence) {
        for (int64_t b = ith; b < a->B; b += nth)
            for (int h = 0; h < a->H; h++)
                backward_head(args, b, h, dS);
        return;
    }
    for (int64_t i = ith; i < a->B * a->Hkv; i += nth)
        for (int h = 0; h < group; h++)
            backward_head(args, i / a->Hkv, (int)(i % a->Hkv) * group + h, dS);
}

static void
run(struct pd_threadpool *tp, pd_task_fn fn, struct attn_args *args)
{
    if (tp && pd_threadpool_size(tp) > 1)
        pd_threadpool_run(tp, fn, args);
    else
        fn(args, 0, 1);
}

void
pd_tr_attn_forward(struct pd_threadpool *tp, float *out, float *probs, const float *q,
                   const float *k, const float *krope, const float *v, const struct pd_tr_attn *a)
{
    PD_ASSERT(a->H > 0 && a->Hkv > 0 && a->H % a->Hkv == 0 && (a->Dr == 0 || krope));
    struct attn_args args = { .a = a, .out = out, .probs = probs, .q = q, .k = k,
                              .krope = krope, .v = v };
    run(tp, forward_task, &args);
}

void
pd_tr_attn_backward(struct pd_threadpool *tp, float *dq, float *dk, float *dkrope, float *dv,
                    const float *dout, const float *probs, const float *q, const float *k,
                    const float *krope, const float *v, const struct pd_tr_attn *a)
{
    PD_ASSERT(a->H > 0 && a->Hkv > 0 && a->H % a->Hkv == 0 && (a->Dr == 0 || krope));
    PD_ASSERT(a->T <= (1 << 16));   /* the per-row scratch lives on the stack */
    struct attn_args args = {
        .a = a, .probs = (float *)probs, .dq = dq, .dk = dk, .dkrope = dkrope, .dv = dv,
        .dout = dout, .q = q, .k = k, .krope = krope, .v = v,
        .by_sequence = a->Dr > 0 && dkrope != NULL,
    };
    run(tp, backward_task, &args);
}
