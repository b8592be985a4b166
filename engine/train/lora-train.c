/*
 * lora-train.c: a LoRA adapter over the trainable model (lora-train.h): which weights it
 * adapts, its starting values, and its forward and backward beside each adapted product.
 *
 * Per product over N rows, with u = x A^T [N][r]:
 *   forward    y  += s u B^T
 *   backward   dB += s dy^T u;  du = s dy B;  dA += du^T x;  dx += du A
 * u is recomputed in the backward (N r n_in multiply-adds, small beside W's own product) rather
 * than kept per call, so the saved activations stay what they are without an adapter.
 */
#include "config.h"

#include "engine/train/lora-train.h"

#include <math.h>
#include <string.h>

#include "engine/train/model.h"
#include "engine/train/ops.h"

static const struct {
    const char *name;
    uint32_t mask;
} target_names[] = {
    { "attn_q", PD_TLORA_ATTN_Q }, { "attn_kv_a", PD_TLORA_ATTN_KV_A },
    { "attn_kv", PD_TLORA_ATTN_KV }, { "attn_output", PD_TLORA_ATTN_OUTPUT },
    { "ffn", PD_TLORA_FFN }, { "shexp", PD_TLORA_SHEXP },
    { "attn", PD_TLORA_ATTN }, { "all", PD_TLORA_ALL },
};

/* The target of a tensor by the part of its name after "blk.N.", or 0. */
static uint32_t
target_of(const char *name)
{
    static const struct {
        const char *suffix;
        uint32_t mask;
    } tensors[] = {
        { "attn_q.weight", PD_TLORA_ATTN_Q }, { "attn_q_a.weight", PD_TLORA_ATTN_Q },
        { "attn_q_b.weight", PD_TLORA_ATTN_Q }, { "attn_kv_a_mqa.weight", PD_TLORA_ATTN_KV_A },
        { "attn_k.weight", PD_TLORA_ATTN_KV }, { "attn_v.weight", PD_TLORA_ATTN_KV },
        { "attn_output.weight", PD_TLORA_ATTN_OUTPUT }, { "ffn_gate.weight", PD_TLORA_FFN },
        { "ffn_up.weight", PD_TLORA_FFN }, { "ffn_down.weight", PD_TLORA_FFN },
        { "ffn_gate_shexp.weight", PD_TLORA_SHEXP }, { "ffn_up_shexp.weight", PD_TLORA_SHEXP },
        { "ffn_down_shexp.weight", PD_TLORA_SHEXP },
    };
    if (strncmp(name, "blk.", 4) != 0)
        return 0;
    const char *dot = strchr(name + 4, '.');
    for (size_t i = 0; dot && i < PD_ARRAY_SIZE(tensors); i++)
        if (strcmp(dot + 1, tensors[i].suffix) == 0)
            return tensors[i].mask;
    return 0;
}

int
pd_tlora_targets_parse(const char *s, uint32_t *mask, char *err)
{
    uint32_t m = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        bool known = false;
        for (size_t i = 0; i < PD_ARRAY_SIZE(target_names); i++)
            if (strlen(target_names[i].name) == len && strncmp(s, target_names[i].name, len) == 0)
                m |= target_names[i].mask, known = true;
        if (!known)
            return pd_errorf(err, PD_EINVAL, "LoRA target '%.*s' unknown: attn_q, attn_kv_a, "
                             "attn_kv, attn_output, ffn, shexp, attn or all", (int)len, s);
        s += len + (s[len] == ',');
    }
    if (m == 0)
        return pd_errorf(err, PD_EINVAL, "no LoRA targets");
    *mask = m;
    return 0;
}

int
pd_tlora_targets_format(uint32_t mask, char *buf, size_t cap)
{
    int len = 0;
    if (cap)
        buf[0] = '\0';
    /* the single targets only (the first six names) */
    for (size_t i = 0; i < 6; i++)
        if (mask & target_names[i].mask)
            len += snprintf(buf + PD_MIN((size_t)len, cap), cap > (size_t)len ? cap - len : 0,
                            "%s%s", len ? "," : "", target_names[i].name);
    return len;
}

/* Uniform in (-1, 1) from a 64-bit state (an LCG; plenty for a starting point). */
static float
next_uniform(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*x >> 11) / 4503599627370496.0 - 1.0);
}

int
pd_tlora_new_specs(struct pd_tlora **out, const char *arch, const struct pd_tlora_spec *w, int n,
                   int32_t rank, float alpha, uint32_t targets, uint64_t seed, char *err)
{
    *out = NULL;
    if (rank < 1 || rank > 4096)
        return pd_errorf(err, PD_EINVAL, "LoRA rank %d: must be within 1..4096", rank);
    if (!(alpha > 0.0f && alpha < 1e6f))
        return pd_errorf(err, PD_EINVAL, "LoRA alpha %g: must be positive", alpha);
    struct pd_tlora *l = calloc(1, sizeof *l);
    if (l == NULL || (l->pairs = calloc((size_t)PD_MAX(n, 1), sizeof *l->pairs)) == NULL) {
        free(l);
        return pd_errorf(err, PD_ENOMEM, "out of memory for the adapter");
    }
    snprintf(l->arch, sizeof l->arch, "%s", arch);
    l->rank = rank, l->alpha = alpha, l->s = alpha / (float)rank, l->targets = targets;
    for (int i = 0; i < n; i++) {
        if (!(target_of(w[i].name) & targets))
            continue;
        struct pd_tlora_pair *q = &l->pairs[l->n_pairs++];
        snprintf(q->name, sizeof q->name, "%s", w[i].name);
        q->tensor = w[i].tensor, q->n_out = w[i].n_out, q->n_in = w[i].n_in;
        q->a = l->n_params;
        q->b = q->a + rank * q->n_in;
        l->n_params = q->b + q->n_out * rank;
    }
    if (l->n_pairs == 0) {
        pd_tlora_free(l);
        return pd_errorf(err, PD_EINVAL, "the LoRA targets select no weight of this model");
    }
    l->params = calloc((size_t)l->n_params, sizeof(float));
    l->grads = calloc((size_t)l->n_params, sizeof(float));
    if (l->params == NULL || l->grads == NULL) {
        pd_tlora_free(l);
        return pd_errorf(err, PD_ENOMEM, "out of memory for the adapter");
    }
    uint64_t x = seed ^ 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        float bound = 1.0f / sqrtf((float)q->n_in);
        for (int64_t k = 0; k < rank * q->n_in; k++)
            l->params[q->a + k] = bound * next_uniform(&x);
    }
    *out = l;
    return 0;
}

int
pd_tlora_new(struct pd_tlora **out, const struct pd_tmodel *m, int32_t rank, float alpha,
             uint32_t targets, uint64_t seed, char *err)
{
    *out = NULL;
    struct pd_tlora_spec *w = calloc((size_t)m->n_tensors, sizeof *w);
    if (w == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the adapter");
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        if (p->n_dims == 2)   /* the experts and MLA's k_b, v_b are 3-D: not adapted */
            w[n++] = (struct pd_tlora_spec){ p->name, p->shape[1], p->shape[0], i };
    }
    int rc = pd_tlora_new_specs(out, "deepseek2", w, n, rank, alpha, targets, seed, err);
    free(w);
    return rc;
}

void
pd_tlora_free(struct pd_tlora *l)
{
    if (l == NULL)
        return;
    free(l->pairs);
    free(l->params);
    free(l->grads);
    free(l->u);
    free(l->du);
    free(l);
}

const struct pd_tlora_pair *
pd_tlora_find(const struct pd_tlora *l, const struct pd_tmodel *m, const float *w, int64_t *row0)
{
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        const float *base = m->params + m->tensors[q->tensor].offset;
        if (w >= base && w < base + q->n_out * q->n_in) {
            *row0 = (int64_t)(w - base) / q->n_in;
            return q;
        }
    }
    return NULL;
}

int
pd_tlora_reserve(struct pd_tlora *l, int64_t N)
{
    if (N <= l->cap_rows)
        return 0;
    float *u = realloc(l->u, sizeof(float) * (size_t)(N * l->rank));
    if (u)
        l->u = u;
    float *du = u ? realloc(l->du, sizeof(float) * (size_t)(N * l->rank)) : NULL;
    if (du)
        l->du = du;
    if (u == NULL || du == NULL)
        return PD_ENOMEM;
    l->cap_rows = N;
    return 0;
}

/* u = s x A^T for the pair: the scaled bottleneck of every row. */
static void
bottleneck(struct pd_tlora *l, struct pd_threadpool *tp, const struct pd_tlora_pair *q,
           const float *x, int64_t N)
{
    int64_t r = l->rank;
    pd_tr_linear_forward(tp, l->u, x, l->params + q->a, NULL, N, q->n_in, r);
    for (int64_t i = 0; i < N * r; i++)
        l->u[i] *= l->s;
}

void
pd_tlora_pair_forward(struct pd_tlora *l, struct pd_threadpool *tp, const struct pd_tlora_pair *q,
                      int64_t row0, float *y, const float *x, int64_t N, int64_t n_out)
{
    int64_t r = l->rank;
    PD_ASSERT(row0 + n_out <= q->n_out && N <= l->cap_rows);
    bottleneck(l, tp, q, x, N);
    /* y[N][n_out] += u[N][r] . B[row0 ..][r]^T */
    pd_tr_gemm(tp, y, n_out, l->u, r, false, l->params + q->b + row0 * r, r, true, N, n_out, r);
}

void
pd_tlora_pair_backward(struct pd_tlora *l, struct pd_threadpool *tp, const struct pd_tlora_pair *q,
                       int64_t row0, float *dx, const float *dy, const float *x, int64_t N,
                       int64_t n_out)
{
    int64_t r = l->rank, n_in = q->n_in;
    PD_ASSERT(row0 + n_out <= q->n_out && N <= l->cap_rows);
    const float *B = l->params + q->b + row0 * r, *A = l->params + q->a;
    float *dB = l->grads + q->b + row0 * r, *dA = l->grads + q->a;
    bottleneck(l, tp, q, x, N);
    /* dB[n_out][r] += dy^T . u */
    pd_tr_gemm(tp, dB, r, dy, n_out, true, l->u, r, false, n_out, r, N);
    /* du[N][r] = s dy . B */
    memset(l->du, 0, sizeof(float) * (size_t)(N * r));
    pd_tr_gemm(tp, l->du, r, dy, n_out, false, B, r, false, N, r, n_out);
    for (int64_t i = 0; i < N * r; i++)
        l->du[i] *= l->s;
    /* dA[r][n_in] += du^T . x;  dx[N][n_in] += du . A */
    pd_tr_gemm(tp, dA, n_in, l->du, r, true, x, n_in, false, r, n_in, N);
    if (dx)
        pd_tr_gemm(tp, dx, n_in, l->du, r, false, A, n_in, false, N, n_in, r);
}

void
pd_tlora_forward(struct pd_tlora *l, const struct pd_tmodel *m, struct pd_threadpool *tp,
                 float *y, const float *x, const float *w, int64_t N, int64_t n_in,
                 int64_t n_out)
{
    int64_t row0;
    const struct pd_tlora_pair *q = pd_tlora_find(l, m, w, &row0);
    if (q == NULL)
        return;
    PD_ASSERT(q->n_in == n_in);
    pd_tlora_pair_forward(l, tp, q, row0, y, x, N, n_out);
}

void
pd_tlora_backward(struct pd_tlora *l, const struct pd_tmodel *m, struct pd_threadpool *tp,
                  float *dx, const float *dy, const float *x, const float *w, int64_t N,
                  int64_t n_in, int64_t n_out)
{
    int64_t row0;
    const struct pd_tlora_pair *q = pd_tlora_find(l, m, w, &row0);
    if (q == NULL)
        return;
    PD_ASSERT(q->n_in == n_in);
    pd_tlora_pair_backward(l, tp, q, row0, dx, dy, x, N, n_out);
}
