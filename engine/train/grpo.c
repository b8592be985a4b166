/*
 * grpo.c: the GRPO objective (grpo.h): advantages, the clipped surrogate with the k3 KL, the
 * three aggregations and the gradient with respect to the log-probabilities. Sums in double:
 * a batch holds tens of thousands of tokens and their weights are small.
 */
#include "config.h"

#include "engine/train/grpo.h"

#include <math.h>
#include <string.h>

void
pd_grpo_params_default(struct pd_grpo_params *p)
{
    *p = (struct pd_grpo_params){
        .loss = PD_GRPO_LOSS_DAPO, .scale = PD_GRPO_SCALE_GROUP, .epsilon = 0.2f,
        .epsilon_high = -1.0f, .beta = 0.0f, .max_completion = 256, .mask_truncated = false,
        .adv_eps = 1e-4,
    };
}

int
pd_grpo_params_check(const struct pd_grpo_params *p, char *err)
{
    if ((unsigned)p->loss > PD_GRPO_LOSS_DR_GRPO)
        return pd_errorf(err, PD_EINVAL, "loss type %d unknown", (int)p->loss);
    if ((unsigned)p->scale > PD_GRPO_SCALE_NONE)
        return pd_errorf(err, PD_EINVAL, "scale_rewards %d unknown", (int)p->scale);
    if (!(p->epsilon >= 0.0f && p->epsilon < 1.0f))
        return pd_errorf(err, PD_EINVAL, "epsilon %g: must be within [0, 1)", p->epsilon);
    if (!(p->epsilon_high < 0.0f || p->epsilon_high < 100.0f))
        return pd_errorf(err, PD_EINVAL, "epsilon_high %g: too large", p->epsilon_high);
    if (!(p->beta >= 0.0f && p->beta < 1e3f))
        return pd_errorf(err, PD_EINVAL, "beta %g: must be within [0, 1000)", p->beta);
    if (p->max_completion < 1)
        return pd_errorf(err, PD_EINVAL, "max_completion %d: must be positive",
                         p->max_completion);
    if (!(p->adv_eps > 0.0 && p->adv_eps < 1.0))
        return pd_errorf(err, PD_EINVAL, "advantage eps %g: must be within (0, 1)", p->adv_eps);
    return 0;
}

static const char *const loss_names[] = { "grpo", "dapo", "dr_grpo" };
static const char *const scale_names[] = { "group", "batch", "none" };

const char *
pd_grpo_loss_name(enum pd_grpo_loss_type t)
{
    return (unsigned)t < PD_ARRAY_SIZE(loss_names) ? loss_names[t] : "?";
}

int
pd_grpo_loss_parse(const char *s, enum pd_grpo_loss_type *out)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(loss_names); i++)
        if (strcmp(s, loss_names[i]) == 0) {
            *out = (enum pd_grpo_loss_type)i;
            return 0;
        }
    return PD_EINVAL;
}

const char *
pd_grpo_scale_name(enum pd_grpo_scale s)
{
    return (unsigned)s < PD_ARRAY_SIZE(scale_names) ? scale_names[s] : "?";
}

int
pd_grpo_scale_parse(const char *s, enum pd_grpo_scale *out)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(scale_names); i++)
        if (strcmp(s, scale_names[i]) == 0) {
            *out = (enum pd_grpo_scale)i;
            return 0;
        }
    /* TRL's booleans */
    if (strcmp(s, "true") == 0)
        return *out = PD_GRPO_SCALE_GROUP, 0;
    if (strcmp(s, "false") == 0)
        return *out = PD_GRPO_SCALE_NONE, 0;
    return PD_EINVAL;
}

/* ---- advantages ----------------------------------------------------------------------------- */

/* Mean and Bessel-corrected std of the scored values among x[n]; returns how many were scored
 * (std 0 when fewer than 2). */
static int
mean_std(const double *x, const bool *none, int n, double *mean, double *std)
{
    int k = 0;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (!none || !none[i])
            s += x[i], k++;
    *mean = k ? s / k : 0.0;
    double v = 0.0;
    for (int i = 0; i < n; i++)
        if (!none || !none[i])
            v += (x[i] - *mean) * (x[i] - *mean);
    *std = k > 1 ? sqrt(v / (k - 1)) : 0.0;
    return k;
}

int
pd_grpo_advantages(double *adv, struct pd_grpo_adv_stats *st, const double *rewards,
                   const bool *none, int n_groups, int G, const struct pd_grpo_params *p,
                   char *err)
{
    if (G < 2 || n_groups < 1)
        return pd_errorf(err, PD_EINVAL, "%d groups of %d: need at least one group of two",
                         n_groups, G);
    int n = n_groups * G;
    for (int i = 0; i < n; i++)
        if ((!none || !none[i]) && !isfinite(rewards[i]))
            return pd_errorf(err, PD_EINVAL, "reward %d is %g", i, rewards[i]);
    struct pd_grpo_adv_stats s = { .n_groups = n_groups };
    s.n_scored = mean_std(rewards, none, n, &s.mean, &s.std);
    s.n_none = n - s.n_scored;
    for (int g = 0; g < n_groups; g++) {
        const double *r = rewards + (int64_t)g * G;
        const bool *nn = none ? none + (int64_t)g * G : NULL;
        double *a = adv + (int64_t)g * G;
        double mean, std;
        int k = mean_std(r, nn, G, &mean, &std);
        /* no signal: all scored rewards equal (exactly: rule-based rewards repeat their
         * values), or no baseline */
        bool flat = true;
        double first = NAN;
        for (int i = 0; i < G; i++) {
            if (nn && nn[i])
                continue;
            if (isnan(first))
                first = r[i];
            else if (r[i] != first)
                flat = false;
        }
        flat = flat || k < 2;
        if (flat)
            s.n_zero_std++;
        double scale = p->scale == PD_GRPO_SCALE_GROUP ? std + p->adv_eps
                     : p->scale == PD_GRPO_SCALE_BATCH ? s.std + p->adv_eps : 1.0;
        for (int i = 0; i < G; i++)
            a[i] = (flat || (nn && nn[i])) ? 0.0 : (r[i] - mean) / scale;
    }
    if (st)
        *st = s;
    return 0;
}

/* ---- the loss ------------------------------------------------------------------------------- */

double
pd_grpo_token_loss(double logp, double old, double ref, double adv,
                   const struct pd_grpo_params *p, double *g)
{
    double lo = 1.0 - p->epsilon;
    double hi = 1.0 + (p->epsilon_high < 0.0f ? p->epsilon : p->epsilon_high);
    double rho = exp(logp - old);
    double clipped = rho < lo ? lo : rho > hi ? hi : rho;
    double s1 = rho * adv, s2 = clipped * adv;
    double loss = -(s1 < s2 ? s1 : s2);
    /* the gradient flows through rho unless the clipped side is the smaller one */
    int c = (adv > 0.0 && rho > hi) || (adv < 0.0 && rho < lo) ? 0 : 1;
    double grad = -c * adv * rho;
    if (p->beta > 0.0f) {
        double d = ref - logp, e = exp(d);
        loss += p->beta * (e - d - 1.0);
        grad += p->beta * (1.0 - e);
    }
    if (g)
        *g = grad;
    return loss;
}

int64_t
pd_grpo_active_tokens(const uint8_t *mask, const bool *truncated, int B, int T,
                      const struct pd_grpo_params *p)
{
    int64_t n = 0;
    for (int b = 0; b < B; b++) {
        if (p->mask_truncated && truncated && truncated[b])
            continue;
        for (int t = 0; t < T; t++)
            n += mask[(int64_t)b * T + t] != 0;
    }
    return n;
}

int
pd_grpo_loss(double *loss, float *dlogp, struct pd_grpo_loss_stats *st,
             const struct pd_grpo_batch *b, const struct pd_grpo_params *p, char *err)
{
    if (b->B < 1 || b->T < 1)
        return pd_errorf(err, PD_EINVAL, "batch %d x %d", b->B, b->T);
    if (p->beta > 0.0f && b->ref_logp == NULL)
        return pd_errorf(err, PD_EINVAL, "beta %g needs the reference's log-probabilities",
                         p->beta);
    int B = b->B, T = b->T;
    double n_seqs = (double)(b->n_seqs > 0 ? b->n_seqs : B);
    int64_t n_tok = b->n_tokens > 0 ? b->n_tokens
                                    : pd_grpo_active_tokens(b->mask, b->truncated, B, T, p);
    double lo = 1.0 - p->epsilon;
    double hi = 1.0 + (p->epsilon_high < 0.0f ? p->epsilon : p->epsilon_high);
    double total = 0.0;
    struct pd_grpo_loss_stats s = { 0 };
    if (dlogp)
        memset(dlogp, 0, (size_t)B * (size_t)T * sizeof *dlogp);
    for (int i = 0; i < B; i++) {
        if (p->mask_truncated && b->truncated && b->truncated[i])
            continue;
        const uint8_t *m = b->mask + (int64_t)i * T;
        int64_t n_i = 0;
        for (int t = 0; t < T; t++)
            n_i += m[t] != 0;
        if (n_i == 0)
            continue;
        double w = p->loss == PD_GRPO_LOSS_GRPO ? 1.0 / (n_seqs * (double)n_i)
                 : p->loss == PD_GRPO_LOSS_DAPO ? 1.0 / (double)(n_tok > 0 ? n_tok : 1)
                 : 1.0 / (n_seqs * (double)p->max_completion);
        double A = b->adv[i];
        for (int t = 0; t < T; t++) {
            if (!m[t])
                continue;
            int64_t k = (int64_t)i * T + t;
            double l = b->logp[k], old = b->old_logp ? b->old_logp[k] : l;
            double ref = b->ref_logp ? b->ref_logp[k] : l, g;
            total += w * pd_grpo_token_loss(l, old, ref, A, p, &g);
            if (dlogp)
                dlogp[k] = (float)(w * g);
            double rho = exp(l - old);
            s.n_tokens++;
            s.ratio_sum += rho;
            s.n_clip_low += A < 0.0 && rho < lo;
            s.n_clip_high += A > 0.0 && rho > hi;
            if (b->ref_logp)
                s.kl_sum += exp(ref - l) - (ref - l) - 1.0;
        }
    }
    s.loss = total;
    if (st) {
        st->loss += s.loss;
        st->n_tokens += s.n_tokens;
        st->kl_sum += s.kl_sum;
        st->n_clip_low += s.n_clip_low;
        st->n_clip_high += s.n_clip_high;
        st->ratio_sum += s.ratio_sum;
    }
    if (loss)
        *loss = total;
    return 0;
}
