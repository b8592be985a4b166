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
 * Each head's work is matrix products on blocks of TB query rows (against the keys up to the
 * block's last row), run on the blocked product of ops-linear.c, so attention goes at the speed
 * of the linear layers; only the upper half of each diagonal block is wasted. Threads take whole
 * heads in the forward; in the backward they take whole (sequence, key/value head) pairs, so the
 * keys and values a thread accumulates into are its own, and whole sequences when a shared RoPE
 * key (written by every head) needs its gradient.
 */
#include "config.h"

#include "engine/train/ops.h"
#include "kernels/cpu/threadpool.h"

#include <string.h>

enum { TB = 64 };   /* query rows per block */

struct attn_args {
    const struct pd_tr_attn *a;
    float *out, *probs, *scratch;
    float *dq, *dk, *dkrope, *dv;
    const float *dout, *q, *k, *krope, *v;
    bool by_sequence;
};

/* One head's views: row 0 of sequence b, and the row strides. */
struct head {
    const float *q, *k, *kr, *v;
    float *P;
    int64_t ldq, ldk, ldv, ldo;
    int64_t qoff, koff, voff, roff;    /* offsets of (b, h) / (b, g) in the [B*T] arrays */
};

static struct head
head_at(const struct attn_args *x, int64_t b, int h)
{
    const struct pd_tr_attn *a = x->a;
    int g = h / (a->H / a->Hkv);
    int64_t Dq = a->Dk + a->Dr;
    struct head hd = {
        .ldq = a->H * Dq, .ldk = a->Hkv * (int64_t)a->Dk, .ldv = a->Hkv * (int64_t)a->Dv,
        .ldo = a->H * (int64_t)a->Dv,
        .P = x->probs + (b * a->H + h) * a->T * a->T,
    };
    hd.qoff = b * a->T * hd.ldq + h * Dq;
    hd.koff = b * a->T * hd.ldk + (int64_t)g * a->Dk;
    hd.voff = b * a->T * hd.ldv + (int64_t)g * a->Dv;
    hd.roff = b * a->T * a->Dr;
    hd.q = x->q + hd.qoff;
    hd.k = x->k + hd.koff;
    hd.v = x->v + hd.voff;
    hd.kr = a->Dr ? x->krope + hd.roff : NULL;
    return hd;
}

/* Rows t0..t1-1 of P (stride T) hold scores: scale, softmax over the past, zero the future. */
static void
softmax_block(float *P, int64_t T, int64_t t0, int64_t t1, float scale)
{
    for (int64_t t = t0; t < t1; t++) {
        float *p = P + t * T;
        pd_tr_softmax(p, t + 1, scale);
        for (int64_t j = t + 1; j < t1; j++)
            p[j] = 0.0f;
    }
}

static void
forward_head(const struct attn_args *x, int64_t b, int h)
{
    const struct pd_tr_attn *a = x->a;
    struct head hd = head_at(x, b, h);
    float *O = x->out + b * a->T * hd.ldo + (int64_t)h * a->Dv;
    for (int64_t t0 = 0; t0 < a->T; t0 += TB) {
        int64_t t1 = PD_MIN(a->T, t0 + TB), m = t1 - t0;
        float *P = hd.P + t0 * a->T;
        for (int64_t i = 0; i < m; i++)
            memset(P + i * a->T, 0, sizeof(float) * t1);
        pd_tr_gemm(NULL, P, a->T, hd.q + t0 * hd.ldq, hd.ldq, false, hd.k, hd.ldk, true, m, t1,
                   a->Dk);
        if (a->Dr)
            pd_tr_gemm(NULL, P, a->T, hd.q + t0 * hd.ldq + a->Dk, hd.ldq, false, hd.kr, a->Dr,
                       true, m, t1, a->Dr);
        softmax_block(hd.P, a->T, t0, t1, a->scale);
        for (int64_t i = 0; i < m; i++)
            memset(O + (t0 + i) * hd.ldo, 0, sizeof(float) * a->Dv);
        pd_tr_gemm(NULL, O + t0 * hd.ldo, hd.ldo, P, a->T, false, hd.v, hd.ldv, false, m, a->Dv,
                   t1);
    }
}

static void
forward_task(void *ctx, int ith, int nth)
{
    const struct attn_args *x = ctx;
    const struct pd_tr_attn *a = x->a;
    for (int64_t i = ith; i < a->B * a->H; i += nth)
        forward_head(x, i / a->H, (int)(i % a->H));
}

/* dS = P (dP - rowsum(P dP)) scale, in place over dP, rows t0..t1-1 (dS row stride T). */
static void
softmax_back_block(float *dS, const float *P, int64_t T, int64_t t0, int64_t t1, float scale)
{
    for (int64_t t = t0; t < t1; t++) {
        float *d = dS + (t - t0) * T;
        const float *p = P + t * T;
        double sum = 0.0;
        for (int64_t j = 0; j <= t; j++)
            sum += (double)p[j] * d[j];
        for (int64_t j = 0; j <= t; j++)
            d[j] = p[j] * (d[j] - (float)sum) * scale;
        for (int64_t j = t + 1; j < t1; j++)
            d[j] = 0.0f;
    }
}

static void
backward_head(const struct attn_args *x, int64_t b, int h, float *dS)
{
    const struct pd_tr_attn *a = x->a;
    struct head hd = head_at(x, b, h);
    const float *dO = x->dout + b * a->T * hd.ldo + (int64_t)h * a->Dv;
    int64_t T = a->T;
    for (int64_t t0 = 0; t0 < T; t0 += TB) {
        int64_t t1 = PD_MIN(T, t0 + TB), m = t1 - t0;
        const float *P = hd.P + t0 * T, *Q = hd.q + t0 * hd.ldq, *G = dO + t0 * hd.ldo;
        if (x->dv)
            pd_tr_gemm(NULL, x->dv + hd.voff, hd.ldv, P, T, true, G, hd.ldo, false, t1, a->Dv, m);
        for (int64_t i = 0; i < m; i++)
            memset(dS + i * T, 0, sizeof(float) * t1);
        pd_tr_gemm(NULL, dS, T, G, hd.ldo, false, hd.v, hd.ldv, true, m, t1, a->Dv);
        softmax_back_block(dS, hd.P, T, t0, t1, a->scale);
        if (x->dq) {
            float *dq = x->dq + hd.qoff + t0 * hd.ldq;
            pd_tr_gemm(NULL, dq, hd.ldq, dS, T, false, hd.k, hd.ldk, false, m, a->Dk, t1);
            if (a->Dr)
                pd_tr_gemm(NULL, dq + a->Dk, hd.ldq, dS, T, false, hd.kr, a->Dr, false, m, a->Dr,
                           t1);
        }
        if (x->dk)
            pd_tr_gemm(NULL, x->dk + hd.koff, hd.ldk, dS, T, true, Q, hd.ldq, false, t1, a->Dk, m);
        if (x->dkrope && a->Dr)
            pd_tr_gemm(NULL, x->dkrope + hd.roff, a->Dr, dS, T, true, Q + a->Dk, hd.ldq, false, t1,
                       a->Dr, m);
    }
}

static void
backward_task(void *ctx, int ith, int nth)
{
    const struct attn_args *x = ctx;
    const struct pd_tr_attn *a = x->a;
    int group = a->H / a->Hkv;
    float *dS = x->scratch + (int64_t)ith * TB * a->T;
    if (x->by_sequence) {
        for (int64_t b = ith; b < a->B; b += nth)
            for (int h = 0; h < a->H; h++)
                backward_head(x, b, h, dS);
        return;
    }
    for (int64_t i = ith; i < a->B * a->Hkv; i += nth)
        for (int h = 0; h < group; h++)
            backward_head(x, i / a->Hkv, (int)(i % a->Hkv) * group + h, dS);
}

static void
run(struct pd_threadpool *tp, pd_task_fn fn, struct attn_args *x)
{
    if (tp && pd_threadpool_size(tp) > 1)
        pd_threadpool_run(tp, fn, x);
    else
        fn(x, 0, 1);
}

void
pd_tr_attn_forward(struct pd_threadpool *tp, float *out, float *probs, const float *q,
                   const float *k, const float *krope, const float *v, const struct pd_tr_attn *a)
{
    PD_ASSERT(a->H > 0 && a->Hkv > 0 && a->H % a->Hkv == 0 && (a->Dr == 0 || krope));
    struct attn_args x = { .a = a, .out = out, .probs = probs, .q = q, .k = k, .krope = krope,
                           .v = v };
    run(tp, forward_task, &x);
}

int
pd_tr_attn_backward(struct pd_threadpool *tp, float *dq, float *dk, float *dkrope, float *dv,
                    const float *dout, const float *probs, const float *q, const float *k,
                    const float *krope, const float *v, const struct pd_tr_attn *a, char *err)
{
    PD_ASSERT(a->H > 0 && a->Hkv > 0 && a->H % a->Hkv == 0 && (a->Dr == 0 || krope));
    int nth = tp ? pd_threadpool_size(tp) : 1;
    size_t n = (size_t)nth * TB * (size_t)a->T;
    struct attn_args x = {
        .a = a, .probs = (float *)probs, .dq = dq, .dk = dk, .dkrope = dkrope, .dv = dv,
        .dout = dout, .q = q, .k = k, .krope = krope, .v = v,
        .by_sequence = a->Dr > 0 && dkrope != NULL, .scratch = malloc(sizeof(float) * n),
    };
    if (x.scratch == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the attention backward's scratch "
                         "(%zu MiB)", sizeof(float) * n >> 20);
    run(tp, backward_task, &x);
    free(x.scratch);
    return 0;
}
