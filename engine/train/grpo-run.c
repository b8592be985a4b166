/*
 * grpo-run.c: one GRPO step (grpo-run.h): sampling through the inference engine, scoring by
 * the caller, advantages, the log-probabilities recomputed by the training forward, mu AdamW
 * steps. Checkpoints and options are in grpo-ckpt.c.
 */
#include "config.h"

#include "engine/train/grpo-run.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/train/bpe-train.h"
#include "engine/train/dense.h"
#include "engine/train/ops.h"
#include "engine/train/optim.h"

/* What one step holds: the completions, and per group the rows and saved log-probs. */
struct sample {
    int32_t *tok;        /* the completion, EOS included when it ended */
    float *lp;           /* the sampler's log-probability of each token (temperature 1) */
    int32_t n;
    bool truncated;
    char *text;
    int32_t think;       /* tokens up to "</think>" */
};

struct step_buf {
    int P, G, T;                   /* T: the longest row of the step */
    int64_t *index;
    int32_t **prompt;              /* [P] prompt tokens */
    int32_t *n_prompt;
    struct sample *s;              /* [P*G] */
    double *rewards, *adv, *per_fn;
    bool *none, *truncated;
    int8_t *correct;
    int32_t *tokens, *targets;     /* [G][T] one group's rows */
    uint8_t *mask;
    float *logp, *lse, *dlogp;     /* [G][T] */
    float *old, *ref;              /* [P][G][T] kept across the mu passes */
    float *zs, *dz;                /* [G][T][V] logits / temp and their gradient */
    float *gacc;                   /* [n_params] the step's gradient */
};

static void
step_buf_free(struct step_buf *b)
{
    if (b->prompt)
        for (int p = 0; p < b->P; p++)
            free(b->prompt[p]);
    if (b->s)
        for (int i = 0; i < b->P * b->G; i++)
            free(b->s[i].tok), free(b->s[i].lp), free(b->s[i].text);
    free(b->index), free(b->prompt), free(b->n_prompt), free(b->s), free(b->rewards);
    free(b->adv), free(b->per_fn), free(b->none), free(b->truncated), free(b->correct);
    free(b->tokens), free(b->targets), free(b->mask), free(b->logp), free(b->lse);
    free(b->dlogp), free(b->old), free(b->ref), free(b->zs), free(b->dz), free(b->gacc);
    memset(b, 0, sizeof *b);
}

static uint64_t
mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The policy's sizes, whichever model it runs on. */
static int64_t
n_vocab(const struct pd_grpo_run *r)
{
    return r->dense ? pd_dense_model(r->dense)->hp.n_vocab : r->model->cfg.n_vocab;
}

static int32_t
n_ctx(const struct pd_grpo_run *r)
{
    return r->dense ? pd_dense_model(r->dense)->hp.n_ctx_train : r->model->cfg.n_ctx;
}

/* Whether the step computes reference log-probs (beta > 0). */
static bool
has_ref(const struct pd_grpo_run *r)
{
    return r->ref != NULL || (r->dense && r->opts.grpo.beta > 0.0f);
}

/* The logits of the policy's last forward. */
static const float *
policy_logits(const struct pd_grpo_run *r)
{
    return r->dense ? pd_dense_logits(r->dense) : pd_tmodel_logits(r->model);
}

/* ---- sampling ------------------------------------------------------------------------------- */

/* The completion's text (EOS left out) and where its thoughts end. */
static int
decode_sample(struct sample *s, const struct pd_bpe *tok, int32_t eos)
{
    size_t cap = 1, len = 0;
    for (int32_t i = 0; i < s->n; i++) {
        size_t l;
        pd_bpe_token(tok, s->tok[i], &l);
        cap += l;
    }
    s->text = malloc(cap);
    if (s->text == NULL)
        return PD_ENOMEM;
    s->think = s->n;
    for (int32_t i = 0; i < s->n; i++) {
        if (s->tok[i] == eos && i == s->n - 1)
            break;
        size_t l;
        const char *piece = pd_bpe_token(tok, s->tok[i], &l);
        memcpy(s->text + len, piece, l);
        len += l;
        s->text[len] = '\0';
        if (s->think == s->n && strstr(s->text + (len > l + 8 ? len - l - 8 : 0), "</think>"))
            s->think = i + 1;
    }
    s->text[len] = '\0';
    return 0;
}

/* G completions of one prompt whose KV the context holds (n_prompt positions; plog its last
 * logits). */
static int
sample_group(struct pd_context *ctx, struct pd_sampler *smp, const float *plog, int32_t np,
             struct sample *out, int G, int32_t max_new, int32_t eos, char *err)
{
    for (int g = 0; g < G; g++) {
        struct sample *s = &out[g];
        s->tok = malloc((size_t)max_new * sizeof *s->tok);
        s->lp = malloc((size_t)max_new * sizeof *s->lp);
        if (s->tok == NULL || s->lp == NULL)
            return pd_errorf(err, PD_ENOMEM, "out of memory for a completion");
        pd_context_truncate(ctx, np);
        const float *logits = plog;
        s->n = 0;
        s->truncated = true;
        while (s->n < max_new) {
            int32_t t = pd_sampler_sample(smp, logits, &s->lp[s->n], NULL);
            s->tok[s->n++] = t;
            if (t == eos) {
                s->truncated = false;
                break;
            }
            if (s->n == max_new)
                break;
            int rc = pd_context_decode(ctx, &t, 1, err);
            if (rc != 0)
                return rc;
            logits = pd_context_last_logits(ctx);
        }
    }
    return 0;
}

/* The policy for the engine: the model as GGUF, or with LoRA the base (once) and the adapter
 * beside it, which cp then names. */
static int
write_policy(struct pd_grpo_run *r, struct pd_context_params *cp, char *adapter, size_t cap,
             char *err)
{
    int rc = 0;
    /* a dense base is sampled from its own file (sample_all), never rewritten */
    if (!r->dense && (!r->lora || !r->base_written))
        rc = pd_tmodel_write_gguf(r->model, r->tok, "ponder-grpo-policy", r->sample_path, err);
    r->base_written = rc == 0;
    if (rc != 0 || r->lora == NULL)
        return rc;
    snprintf(adapter, cap, "%s.lora", r->sample_path);
    cp->n_lora = 1;
    cp->lora_path[0] = adapter;
    cp->lora_scale[0] = 1.0f;
    return pd_tlora_write_gguf(r->lora, "ponder-grpo-policy", adapter, err);
}

/* Write the policy, load it in the engine, sample every prompt's G completions. */
static int
sample_all(struct pd_grpo_run *r, struct step_buf *b, int32_t eos, int64_t *n_tok, char *err)
{
    const struct pd_grpo_run_opts *o = &r->opts;
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    char adapter[4096 + 8] = "";
    int rc = write_policy(r, &cp, adapter, sizeof adapter, err);
    if (rc != 0)
        return rc;
    struct pd_model *m = NULL;
    struct pd_context *ctx = NULL;
    struct pd_sampler *smp = NULL;
    float *plog = NULL;
    int32_t max_np = 0;
    for (int p = 0; p < b->P; p++)
        max_np = PD_MAX(max_np, b->n_prompt[p]);
    if ((rc = pd_model_load(&m, r->dense ? r->base_path : r->sample_path, err)) != 0)
        goto out;
    cp.n_ctx = max_np + o->grpo.max_completion + 1;
    cp.n_threads = o->threads;
    cp.precise = true;             /* the draws follow the float32 distribution trained on */
    rc = pd_context_new(&ctx, m, &cp, err);
    if (adapter[0])
        unlink(adapter);   /* the context holds its own copy */
    if (rc != 0)
        goto out;
    int32_t V = (int32_t)n_vocab(r);
    struct pd_sampler_params sp = {
        .temp = o->temp, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repeat_penalty = 1.0f,
        .repeat_last_n = 0, .seed = mix(o->seed ^ mix((uint64_t)r->step + 1)),
    };
    smp = pd_sampler_new(&sp, V);
    plog = malloc((size_t)V * sizeof *plog);
    if (smp == NULL || plog == NULL) {
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for the sampler");
        goto out;
    }
    for (int p = 0; p < b->P && rc == 0; p++) {
        pd_context_truncate(ctx, 0);
        if ((rc = pd_context_decode(ctx, b->prompt[p], b->n_prompt[p], err)) != 0)
            break;
        memcpy(plog, pd_context_last_logits(ctx), (size_t)V * sizeof *plog);
        rc = sample_group(ctx, smp, plog, b->n_prompt[p], b->s + (int64_t)p * b->G, b->G,
                          o->grpo.max_completion, eos, err);
    }
    *n_tok = 0;
    for (int i = 0; rc == 0 && i < b->P * b->G; i++) {
        *n_tok += b->s[i].n;
        if (decode_sample(&b->s[i], r->tok, eos) != 0)
            rc = pd_errorf(err, PD_ENOMEM, "out of memory for a completion's text");
    }
out:
    free(plog);
    pd_sampler_free(smp);
    pd_context_free(ctx);
    pd_model_free(m);
    return rc;
}

/* ---- the step's buffers and prompts --------------------------------------------------------- */

static size_t
at_least_1(int64_t n)
{
    return n > 0 ? (size_t)n : 1;
}

#define ALLOC(p, n) (((p) = calloc(at_least_1(n), sizeof *(p))) == NULL)

static int
prepare(struct pd_grpo_run *r, const struct pd_grpo_source *src, struct step_buf *b, char *err)
{
    int P = r->opts.prompts, G = r->opts.group, n = P * G;
    b->P = P, b->G = G;
    if (ALLOC(b->index, P) || ALLOC(b->prompt, P) || ALLOC(b->n_prompt, P) || ALLOC(b->s, n) ||
        ALLOC(b->rewards, n) || ALLOC(b->adv, n) || ALLOC(b->none, n) ||
        ALLOC(b->truncated, n) || ALLOC(b->correct, n) ||
        ALLOC(b->per_fn, (int64_t)n * PD_MAX(src->n_fn, 1)))
        return pd_errorf(err, PD_ENOMEM, "out of memory for a step");
    char *text = malloc(65536);
    if (text == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for a prompt");
    int rc = 0;
    for (int p = 0; p < P && rc == 0; p++) {
        b->index[p] = r->step * P + p;
        if ((rc = src->prompt(src->ud, b->index[p], text, 65536, err)) != 0)
            break;
        size_t np;
        if ((rc = pd_bpe_encode(r->tok, text, strlen(text), &b->prompt[p], &np, err)) != 0)
            break;
        b->n_prompt[p] = (int32_t)np;
        if (np < 1 || (int64_t)np + r->opts.grpo.max_completion > n_ctx(r))
            rc = pd_errorf(err, PD_ERANGE, "example %lld: a prompt of %zu tokens and %d of "
                             "completion do not fit the model's context of %d",
                             (long long)b->index[p], np, r->opts.grpo.max_completion,
                             n_ctx(r));
    }
    free(text);
    return rc;
}

/* What the optimizer trains: the adapter when there is one, else the weights. */
static int64_t
n_trained(const struct pd_grpo_run *r)
{
    return r->lora ? r->lora->n_params : r->model->n_params;
}

static float *
trained_grads(const struct pd_grpo_run *r)
{
    return r->lora ? r->lora->grads : r->model->grads;
}

/* After sampling: rows as long as the longest prompt + completion; buffers for T. */
static int
size_rows(struct pd_grpo_run *r, struct step_buf *b, char *err)
{
    int T = 1;
    for (int p = 0; p < b->P; p++)
        for (int g = 0; g < b->G; g++)
            T = PD_MAX(T, b->n_prompt[p] + b->s[p * b->G + g].n);
    b->T = T;
    int64_t GT = (int64_t)b->G * T, V = n_vocab(r);
    if (ALLOC(b->tokens, GT) || ALLOC(b->targets, GT) || ALLOC(b->mask, GT) ||
        ALLOC(b->logp, GT) || ALLOC(b->lse, GT) || ALLOC(b->dlogp, GT) ||
        ALLOC(b->zs, GT * V) || ALLOC(b->dz, GT * V) || ALLOC(b->gacc, n_trained(r)) ||
        (r->opts.mu > 1 && ALLOC(b->old, GT * b->P)) || (has_ref(r) && ALLOC(b->ref, GT * b->P)))
        return pd_errorf(err, PD_ENOMEM, "out of memory for rows of %d tokens", T);
    return 0;
}

/* Group p's rows: prompt then completion, EOS padding; the target of position t is token
 * t + 1 where that token is a completion token. */
static void
fill_rows(struct step_buf *b, int p, int32_t eos)
{
    int T = b->T;
    int32_t np = b->n_prompt[p];
    for (int g = 0; g < b->G; g++) {
        const struct sample *s = &b->s[p * b->G + g];
        int32_t *tk = b->tokens + (int64_t)g * T, *tg = b->targets + (int64_t)g * T;
        for (int t = 0; t < T; t++) {
            tk[t] = t < np ? b->prompt[p][t] : t < np + s->n ? s->tok[t - np] : eos;
            int k = t + 1;
            tg[t] = k >= np && k < np + s->n ? s->tok[k - np] : -1;
            b->mask[(int64_t)g * T + t] = tg[t] >= 0;
        }
    }
}

/* ---- log-probs, loss, backward -------------------------------------------------------------- */

/* Forward the policy (or the reference) over the group's rows; logp (and zs, lse) at the
 * temperature. A dense base's reference is the base with the adapter detached. */
static int
forward_logp(struct pd_grpo_run *r, bool ref, struct pd_threadpool *tp, struct step_buf *b,
             float temp, float *logp, char *err)
{
    int rc;
    const float *z;
    if (r->dense) {
        pd_dense_set_lora(r->dense, ref ? NULL : r->lora);
        rc = pd_dense_forward(r->dense, tp, b->tokens, b->G, b->T, err);
        pd_dense_set_lora(r->dense, r->lora);
        z = pd_dense_logits(r->dense);
    } else {
        struct pd_tmodel *m = ref ? r->ref : r->model;
        rc = pd_tmodel_forward(m, tp, b->tokens, NULL, b->G, b->T, NULL, NULL, err);
        z = pd_tmodel_logits(m);
    }
    if (rc != 0)
        return rc;
    int64_t N = (int64_t)b->G * b->T, V = n_vocab(r);
    float inv = 1.0f / temp;
    for (int64_t i = 0; i < N * V; i++)
        b->zs[i] = z[i] * inv;
    return pd_tr_logprob_forward(tp, logp, b->lse, b->zs, b->targets, N, V, err);
}

/* Mean entropy of softmax(zs) over the group's completion tokens: sum and count added. */
static void
entropy_add(const struct step_buf *b, int64_t V, double *sum, int64_t *count)
{
    for (int64_t i = 0; i < (int64_t)b->G * b->T; i++) {
        if (!b->mask[i])
            continue;
        const float *z = b->zs + i * V;
        double h = 0.0, lse = b->lse[i];
        for (int64_t k = 0; k < V; k++) {
            double lp = z[k] - lse;
            h -= exp(lp) * lp;
        }
        *sum += h;
        (*count)++;
    }
}

/* The largest |log p| difference, at temperature 1, between what the inference engine sampled
 * with and the training forward just computed, over group p's completion tokens: the check
 * that the two run the same model (grpo.md 7.5: mismatched log-probs make rho != 1). */
static double
sampler_gap(const struct pd_grpo_run *r, const struct step_buf *b, int p)
{
    int64_t V = n_vocab(r);
    const float *z = policy_logits(r);
    double worst = 0.0;
    for (int g = 0; g < b->G; g++) {
        const struct sample *s = &b->s[p * b->G + g];
        int32_t np = b->n_prompt[p];
        for (int32_t k = 0; k < s->n; k++) {
            const float *row = z + ((int64_t)g * b->T + np - 1 + k) * V;
            double lse = pd_tr_logsumexp(row, V);
            worst = fmax(worst, fabs(row[s->tok[k]] - lse - s->lp[k]));
        }
    }
    return worst;
}

struct pass_acc {
    struct pd_grpo_loss_stats ls;
    double lp_err;
    double ent_sum;
    int64_t ent_n;
    double kl_sum;
    int64_t kl_n;
};

/* One pass (iteration it of mu) over every group: gradient into b->gacc. */
static int
pass(struct pd_grpo_run *r, struct pd_threadpool *tp, struct step_buf *b, int it,
     int64_t n_tokens, int32_t eos, struct pass_acc *acc, char *err)
{
    int64_t GT = (int64_t)b->G * b->T, V = n_vocab(r);
    float temp = r->opts.temp;
    int64_t n_train = n_trained(r);
    const float *grads = trained_grads(r);
    memset(b->gacc, 0, (size_t)n_train * sizeof *b->gacc);
    for (int p = 0; p < b->P; p++) {
        fill_rows(b, p, eos);
        float *old = b->old ? b->old + p * GT : NULL, *ref = b->ref ? b->ref + p * GT : NULL;
        int rc;
        if (it == 0 && ref && (rc = forward_logp(r, true, tp, b, temp, ref, err)) != 0)
            return rc;
        if ((rc = forward_logp(r, false, tp, b, temp, b->logp, err)) != 0)
            return rc;
        if (it == 0) {
            entropy_add(b, V, &acc->ent_sum, &acc->ent_n);
            acc->lp_err = fmax(acc->lp_err, sampler_gap(r, b, p));
            if (old)
                memcpy(old, b->logp, (size_t)GT * sizeof *old);
        }
        struct pd_grpo_batch gb = {
            .B = b->G, .T = b->T, .logp = b->logp, .old_logp = it > 0 ? old : NULL,
            .ref_logp = ref, .mask = b->mask, .adv = b->adv + p * b->G,
            .truncated = b->truncated + p * b->G, .n_seqs = (int64_t)b->P * b->G,
            .n_tokens = n_tokens,
        };
        struct pd_grpo_loss_stats ls = { 0 };
        if ((rc = pd_grpo_loss(NULL, b->dlogp, &ls, &gb, &r->opts.grpo, err)) != 0)
            return rc;
        acc->ls.loss += ls.loss, acc->ls.n_tokens += ls.n_tokens;
        acc->ls.n_clip_low += ls.n_clip_low, acc->ls.n_clip_high += ls.n_clip_high;
        if (it == 0 && ref)
            acc->kl_sum += ls.kl_sum, acc->kl_n += ls.n_tokens;
        memset(b->dz, 0, (size_t)(GT * V) * sizeof *b->dz);
        pd_tr_logprob_backward(tp, b->dz, b->dlogp, b->zs, b->lse, b->targets, GT, V);
        for (int64_t i = 0; i < GT * V; i++)
            b->dz[i] /= temp;
        rc = r->dense ? pd_dense_backward_logits(r->dense, tp, b->dz, err)
                      : pd_tmodel_backward_logits(r->model, tp, b->dz, err);
        if (rc != 0)
            return rc;
        for (int64_t i = 0; i < n_train; i++)
            b->gacc[i] += grads[i];
    }
    return 0;
}

/* ---- the step ------------------------------------------------------------------------------- */

static void
reward_stats(struct pd_grpo_step_stats *st, const struct step_buf *b, int n_fn)
{
    int n = b->P * b->G, known = 0, right = 0;
    for (int j = 0; j < n_fn; j++) {
        double s = 0, s2 = 0;
        int k = 0;
        for (int i = 0; i < n; i++) {
            double v = b->per_fn[(int64_t)i * n_fn + j];
            if (!isnan(v))
                s += v, s2 += v * v, k++;
        }
        st->fn_mean[j] = k ? s / k : NAN;
        st->fn_std[j] = k > 1 ? sqrt(fmax(0.0, (s2 - s * s / k) / (k - 1))) : 0.0;
    }
    int trunc = 0;
    double len = 0, think = 0;
    st->len_min = INT32_MAX, st->len_max = 0;
    for (int i = 0; i < n; i++) {
        if (b->correct[i] >= 0)
            known++, right += b->correct[i] == 1;
        trunc += b->s[i].truncated;
        len += b->s[i].n, think += b->s[i].think;
        st->len_min = PD_MIN(st->len_min, b->s[i].n);
        st->len_max = PD_MAX(st->len_max, b->s[i].n);
    }
    st->accuracy = known ? (double)right / known : NAN;
    st->truncated_frac = (double)trunc / n;
    st->len_mean = len / n;
    st->think_len = think / n;
}

static int
do_step(struct pd_grpo_run *r, struct pd_threadpool *tp, const struct pd_grpo_source *src,
        struct step_buf *b, struct pd_grpo_step_stats *st, char *err)
{
    const struct pd_grpo_run_opts *o = &r->opts;
    struct pd_bpe_ids ids;
    pd_bpe_get_ids(r->tok, &ids);
    double t0 = pd_time_now();
    int rc = prepare(r, src, b, err);
    int64_t n_gen = 0;
    if (rc == 0)
        rc = sample_all(r, b, ids.eos, &n_gen, err);
    if (rc != 0)
        return rc;
    st->gen_s = pd_time_now() - t0;
    st->gen_tok_s = st->gen_s > 0 ? (double)n_gen / st->gen_s : 0;
    int n = b->P * b->G;
    const char **texts = malloc((size_t)n * sizeof *texts);
    int32_t *ntok = malloc((size_t)n * sizeof *ntok);
    if (texts == NULL || ntok == NULL) {
        free(texts), free(ntok);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        texts[i] = b->s[i].text, ntok[i] = b->s[i].n;
        b->truncated[i] = b->s[i].truncated;
        b->correct[i] = -1;
        for (int j = 0; j < src->n_fn; j++)
            b->per_fn[(int64_t)i * src->n_fn + j] = NAN;
    }
    rc = src->score(src->ud, b->index, b->P, b->G, texts, ntok, b->rewards, b->none, b->correct,
                    b->per_fn, err);
    free(texts), free(ntok);
    if (rc != 0)
        return rc;
    struct pd_grpo_adv_stats as;
    if ((rc = pd_grpo_advantages(b->adv, &as, b->rewards, b->none, b->P, b->G, &o->grpo,
                                 err)) != 0)
        return rc;
    reward_stats(st, b, src->n_fn);
    /* nothing scored (every reward None): no mean to report, not a mean of 0 */
    st->reward_mean = as.n_scored ? as.mean : NAN, st->reward_std = as.n_scored ? as.std : NAN;
    st->zero_std_frac = (double)as.n_zero_std / as.n_groups;
    st->none_frac = (double)as.n_none / n;
    if ((rc = size_rows(r, b, err)) != 0)
        return rc;
    int64_t n_active = 0;
    for (int p = 0; p < b->P; p++) {
        fill_rows(b, p, ids.eos);
        n_active += pd_grpo_active_tokens(b->mask, b->truncated + p * b->G, b->G, b->T, &o->grpo);
    }
    struct pass_acc acc = { 0 };
    double tt = pd_time_now();
    int64_t n_clip = 0, n_seen = 0;
    for (int it = 0; it < o->mu; it++) {
        acc.ls = (struct pd_grpo_loss_stats){ 0 };
        if ((rc = pass(r, tp, b, it, n_active, ids.eos, &acc, err)) != 0)
            return rc;
        n_clip += acc.ls.n_clip_low + acc.ls.n_clip_high;
        n_seen += acc.ls.n_tokens;
        st->clip_low += (double)acc.ls.n_clip_low;
        st->clip_high += (double)acc.ls.n_clip_high;
        float *g = trained_grads(r);
        int64_t np = n_trained(r);
        memcpy(g, b->gacc, (size_t)np * sizeof *g);
        st->grad_norm = o->clip > 0 ? pd_optim_grad_clip(&g, &np, 1, o->clip)
                                    : pd_optim_grad_norm(&g, &np, 1);
        st->loss = acc.ls.loss;
        if (!isfinite(st->grad_norm))
            continue;   /* an overflow: no update, as pretrain does */
        struct pd_adamw h = { o->beta1, o->beta2, o->eps, o->weight_decay };
        if (r->lora)
            pd_optim_adamw_step(r->lora->params, r->m1, r->m2, g, np, &h, o->lr, ++r->adam_t);
        else
            pd_tmodel_adamw(r->model, r->m1, r->m2, &h, o->lr, ++r->adam_t);
    }
    double train_s = pd_time_now() - tt;
    st->train_tok_s = train_s > 0 ? (double)o->mu * b->P * b->G * b->T / train_s : 0;
    st->clip_frac = n_seen ? (double)n_clip / n_seen : 0;
    st->clip_low = n_seen ? st->clip_low / n_seen : 0;
    st->clip_high = n_seen ? st->clip_high / n_seen : 0;
    st->kl = acc.kl_n ? acc.kl_sum / acc.kl_n : NAN;
    st->entropy = acc.ent_n ? acc.ent_sum / acc.ent_n : NAN;
    st->sample_logp_err = acc.lp_err;
    st->step_s = pd_time_now() - t0;
    return 0;
}

int
pd_grpo_run_step(struct pd_grpo_run *r, struct pd_threadpool *tp,
                 const struct pd_grpo_source *src, struct pd_grpo_step_stats *st, char *err)
{
    if (src->n_fn < 0 || src->n_fn > PD_GRPO_MAX_FN)
        return pd_errorf(err, PD_EINVAL, "%d reward functions: at most %d", src->n_fn,
                         PD_GRPO_MAX_FN);
    struct step_buf b = { 0 };
    memset(st, 0, sizeof *st);
    int rc = do_step(r, tp, src, &b, st, err);
    step_buf_free(&b);
    if (rc == 0)
        st->step = ++r->step;
    return rc;
}
