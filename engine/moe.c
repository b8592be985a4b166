/*
 * moe.c: the mixture-of-experts feed-forward layer, and the routing trace it leaves behind.
 *
 * For a batch of T tokens (glossary: E embedding, X experts, K chosen per token, Fe expert width,
 * Fs shared-expert width), every thread of the pool runs these steps, a barrier between each:
 *
 *   1. router      probs[T][X] = W_router . xn               (a plain matrix product)
 *   2. choose      per token: softmax or sigmoid, entropy, top-K by probability plus the
 *                  selection bias within the best expert groups (DeepSeek-V3), weights from the
 *                  unbiased probabilities, renormalized and scaled where the model says so; the
 *                  choice is the routing trace
 *   3. group       one thread counts tokens per expert and gives each (token, choice) a row of
 *                  the gathered buffers, experts in order, so an expert's tokens are contiguous
 *   4. gather      rx[row] = xn[token of row]
 *   5. experts     for each expert with tokens: its gate and up products over its rows, SwiGLU,
 *                  its down product. Every thread takes a share of each expert's weight rows,
 *                  so an expert with many tokens and one with few keep all cores busy alike,
 *                  and only the chosen experts' weights are read.
 *   6. combine     x[t] += sum_k w[t][k] * rout[row of (t, k)]  (+ the shared expert, gated)
 *
 * On a rank of an expert split (engine/split.c), step 5 runs only the rank's block of experts and
 * step 6 sums the rank's share apart; pd_split_moe_reduce adds the sum over ranks.
 *
 * Qwen2-MoE's shared expert is a dense SwiGLU of width Fs whose output is scaled by
 * sigmoid(w_shexp . xn), computed for every token beside the routed experts; DeepSeek's shared
 * experts are the same SwiGLU, ungated.
 */
#include "config.h"

#include "engine/forward-impl.h"
#include "engine/route.h"
#include "kernels/cpu/matmul.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Each of the B tokens' routing views into the trace arrays (layers x K ids and weights, layers
 * entropies a token). */
static void
point_routing(struct pd_moe_scratch *s, size_t B, size_t K)
{
    size_t Lm = (size_t)s->n_layers;
    for (size_t t = 0; t < B; t++)
        s->routing[t] = (struct pd_routing){
            .n_layers = s->n_layers, .k = (int32_t)K, .layer = s->layer_of,
            .ids = s->ids + t * Lm * K, .weights = s->weights + t * Lm * K,
            .entropy = s->entropy + t * Lm,
        };
}

int
pd_moe_alloc(struct pd_context *c, bool compute, char *err)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_moe_scratch *s = &c->moe;
    memset(s, 0, sizeof *s);
    if (hp->n_expert == 0)
        return 0;
    s->index_of = malloc(sizeof(int32_t) * (size_t)hp->n_layer);
    s->layer_of = malloc(sizeof(int32_t) * (size_t)hp->n_layer);
    if (s->index_of == NULL || s->layer_of == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the expert scratch");
    for (int il = 0; il < hp->n_layer; il++) {
        s->index_of[il] = c->m->layers[il].moe ? s->n_layers : -1;
        if (c->m->layers[il].moe)
            s->layer_of[s->n_layers++] = il;
    }
    size_t B = (size_t)c->n_batch, X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
    size_t Lm = (size_t)s->n_layers, E = (size_t)hp->n_embd;
    size_t Fe = (size_t)hp->n_ff_exp, Fs = (size_t)hp->n_ff_shexp;
#define ALLOC(field, count)                                                                 \
    do {                                                                                    \
        size_t n_ = (count);                                                                \
        s->field = calloc(n_ > 0 ? n_ : 1, sizeof *s->field);                               \
        if (s->field == NULL)                                                               \
            return pd_errorf(err, PD_ENOMEM, "out of memory allocating the expert %s (%zu "   \
                             "MiB)", #field, n_ * sizeof *s->field >> 20);                  \
    } while (0)
    ALLOC(ids, B * Lm * K);
    ALLOC(weights, B * Lm * K);
    ALLOC(entropy, B * Lm);
    ALLOC(routing, B);
    ALLOC(count, X);
    ALLOC(offset, X + 1);
    ALLOC(row_token, B * K);
    ALLOC(token_row, B * K);
    if (compute) {
        ALLOC(probs, B * X);
        ALLOC(sel, B * X);
        ALLOC(rx, B * K * E);
        ALLOC(rgate, B * K * Fe);
        ALLOC(rup, B * K * Fe);
        ALLOC(rout, B * K * E);
        ALLOC(sgate, B * Fs);
        ALLOC(sup, B * Fs);
        ALLOC(sout, B * (Fs ? E : 0));
        ALLOC(sg, B);
    }
#undef ALLOC
    point_routing(s, B, K);
    return 0;
}

void
pd_moe_free(struct pd_context *c)
{
    struct pd_moe_scratch *s = &c->moe;
    free(s->layer_of);
    free(s->index_of);
    free(s->probs);
    free(s->sel);
    free(s->ids);
    free(s->weights);
    free(s->entropy);
    free(s->routing);
    free(s->count);
    free(s->offset);
    free(s->row_token);
    free(s->token_row);
    free(s->rx);
    free(s->rgate);
    free(s->rup);
    free(s->rout);
    free(s->sgate);
    free(s->sup);
    free(s->sout);
    free(s->sg);
}

/* Step 2 for token t: the routing decision, into the trace. Probabilities come from the gating
 * function; the choice is made on them plus the selection bias (when the model has one), within
 * the eligible groups; the weights are the unbiased probabilities of the chosen, renormalized and
 * scaled as the model says. */
static void
choose_experts(struct pd_context *c, const struct pd_layer *l, int im, int64_t t)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_moe_scratch *s = &c->moe;
    int32_t X = hp->n_expert, K = hp->n_expert_used;
    size_t at = ((size_t)t * s->n_layers + (size_t)im) * (size_t)K;
    float *p = s->probs + t * X, *sel = s->sel + t * X;
    s->entropy[(size_t)t * s->n_layers + im] =
        pd_route_gate(p, X, hp->gating == PD_GATING_SIGMOID);
    const struct pd_route_rule rule = {
        .n_expert = X, .n_used = K, .n_groups = hp->n_expert_groups,
        .n_groups_used = hp->n_expert_groups_used, .norm = hp->expert_norm,
        .scale = hp->expert_weights_scale,
    };
    pd_route_choose(s->ids + at, s->weights + at, sel, p, l->exp_probs_b.data, &rule);
    s->sg[t] = 1.0f;   /* DeepSeek's shared experts are ungated */
    if (l->ffn_gate_inp_shexp.data) {
        const float *gw = l->ffn_gate_inp_shexp.data, *x = c->xn + t * hp->n_embd;
        float d = 0.0f;
        for (int32_t i = 0; i < hp->n_embd; i++)
            d += gw[i] * x[i];
        s->sg[t] = 1.0f / (1.0f + expf(-d));
    }
}

/* Step 3, one thread: rows of the gathered buffers, grouped by expert. */
static void
group_by_expert(struct pd_context *c, int im, int64_t T)
{
    struct pd_moe_scratch *s = &c->moe;
    int32_t X = c->m->hp.n_expert, K = c->m->hp.n_expert_used;
    memset(s->count, 0, sizeof(int32_t) * (size_t)X);
    for (int64_t t = 0; t < T; t++)
        for (int32_t k = 0; k < K; k++)
            s->count[s->ids[((size_t)t * s->n_layers + im) * K + k]]++;
    s->offset[0] = 0;
    for (int32_t e = 0; e < X; e++)
        s->offset[e + 1] = s->offset[e] + s->count[e];
    memset(s->count, 0, sizeof(int32_t) * (size_t)X);
    for (int64_t t = 0; t < T; t++)
        for (int32_t k = 0; k < K; k++) {
            int32_t e = s->ids[((size_t)t * s->n_layers + im) * K + k];
            int32_t row = s->offset[e] + s->count[e]++;
            s->row_token[row] = (int32_t)t;
            s->token_row[t * K + k] = row;
        }
}

/* For each of n weights: out rows of every expert = W_e . in rows of that expert (W_e: expert
 * e's slice of the weight). The input is quantized once when the weights agree on its format. */
static void
experts_product(struct pd_context *c, int ith, int nth, int n, float *const *outs,
                int64_t ld_out, const struct pd_weight *const *ws, const float *in,
                int64_t n_rows)
{
    struct pd_moe_scratch *s = &c->moe;
    enum pd_type act = PD_TYPE_COUNT;
    for (int i = 0; i < n; i++) {
        const struct pd_weight *w = ws[i];
        int64_t n_in = w->ne[0];
        enum pd_type need = pd_matmul_act_type(w->type, c->precise);
        if (need != act) {
            if (i > 0)
                BARRIER();
            pd_matmul_quantize(c->xq, in, need, n_in, n_rows, ith, nth);
            act = need;
            BARRIER();
        }
        size_t arow = pd_matmul_act_row_size(act, n_in);
        /* an expert-split rank runs only its own experts (all of them otherwise) */
        for (int32_t e = c->part.expert_first; e < c->part.expert_end; e++) {
            int32_t first = s->offset[e], rows = s->offset[e + 1] - first;
            if (rows == 0)
                continue;
            pd_matmul(outs[i] + (int64_t)first * ld_out, ld_out,
                      (const char *)w->data + (size_t)e * w->expert_stride,
                      pd_fwd_packed(c, w, e), w->type,
                      (const char *)c->xq + (size_t)first * arow, act, pd_fwd_wbuf(c, ith), n_in,
                      w->ne[1], rows, ith, nth);
        }
    }
    BARRIER();
}

static void
shared_expert(struct pd_context *c, const struct pd_layer *l, int ith, int nth, int64_t T)
{
    struct pd_moe_scratch *s = &c->moe;
    int64_t Fs = c->m->hp.n_ff_shexp, E = c->m->hp.n_embd;
    float *gu[2] = { s->sgate, s->sup };
    const int64_t ld[2] = { Fs, Fs };
    const struct pd_weight *w[2] = { &l->ffn_gate_shexp, &l->ffn_up_shexp };
    pd_fwd_project(c, ith, nth, 2, gu, ld, w, c->xn, T);
    for (int64_t t = ith; t < T; t += nth)
        pd_swiglu(s->sgate + t * Fs, s->sgate + t * Fs, s->sup + t * Fs, Fs);
    BARRIER();
    const struct pd_weight *down = &l->ffn_down_shexp;
    float *out = s->sout;
    const int64_t ld_e = E;
    pd_fwd_project(c, ith, nth, 1, &out, &ld_e, &down, s->sgate, T);
}

void
pd_moe_forward(struct pd_context *c, const struct pd_layer *l, int il, int ith, int nth,
               int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_moe_scratch *s = &c->moe;
    int im = s->index_of[il];
    int64_t E = hp->n_embd, Fe = hp->n_ff_exp, X = hp->n_expert, K = hp->n_expert_used;

    float *probs = s->probs;
    const int64_t ld_x = X;
    const struct pd_weight *router = &l->ffn_gate_inp;
    pd_fwd_project(c, ith, nth, 1, &probs, &ld_x, &router, c->xn, T);
    for (int64_t t = ith; t < T; t += nth)
        choose_experts(c, l, im, t);
    BARRIER();
    if (ith == 0)
        group_by_expert(c, im, T);
    BARRIER();
    for (int64_t r = ith; r < T * K; r += nth)
        memcpy(s->rx + r * E, c->xn + (int64_t)s->row_token[r] * E, sizeof(float) * E);
    BARRIER();

    float *gu[2] = { s->rgate, s->rup };
    const struct pd_weight *gu_w[2] = { &l->ffn_gate_exps, &l->ffn_up_exps };
    experts_product(c, ith, nth, 2, gu, Fe, gu_w, s->rx, T * K);
    for (int64_t r = ith; r < T * K; r += nth)
        pd_swiglu(s->rgate + r * Fe, s->rgate + r * Fe, s->rup + r * Fe, Fe);
    BARRIER();
    float *down[1] = { s->rout };
    const struct pd_weight *down_w[1] = { &l->ffn_down_exps };
    experts_product(c, ith, nth, 1, down, E, down_w, s->rgate, T * K);
    if (l->ffn_gate_shexp.data)
        shared_expert(c, l, ith, nth, T);

    /* expert split: this rank's share goes to part.moe_out, summed over ranks below */
    float *share = c->part.moe_out;
    for (int64_t t = ith; t < T; t += nth) {
        float *x = share ? share + t * E : c->x + t * E;
        const float *w = s->weights + ((size_t)t * s->n_layers + im) * K;
        const int32_t *ids = s->ids + ((size_t)t * s->n_layers + im) * K;
        if (share)
            memset(x, 0, sizeof(float) * E);
        for (int64_t k = 0; k < K; k++) {
            if (ids[k] < c->part.expert_first || ids[k] >= c->part.expert_end)
                continue;
            const float *y = s->rout + (int64_t)s->token_row[t * K + k] * E;
            for (int64_t i = 0; i < E; i++)
                x[i] += w[k] * y[i];
        }
        if (l->ffn_gate_shexp.data && !share)
            for (int64_t i = 0; i < E; i++)
                x[i] += s->sg[t] * s->sout[t * E + i];
    }
    BARRIER();
    if (share)
        pd_split_moe_reduce(c, l, ith, nth, T);
}
