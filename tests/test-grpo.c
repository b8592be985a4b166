/*
 * test-grpo: the GRPO objective (engine/train/grpo.h).
 *
 *   - advantages: TRL's worked example (G=4, [1,0,1,0] -> +-0.8659), None left out of its
 *     group, zero-variance groups counted, the three scale_rewards modes;
 *   - the gradient with respect to the logits (dlogp from pd_grpo_loss, then (onehot - p) / T)
 *     against grpo.md 1.5's closed form written out here, and against a float64 central finite
 *     difference of a float64 loss written out here, for the three aggregations, with and without
 *     the KL term, with the old log-probs moved so that every clip branch runs (each branch's
 *     token count is checked to be non-zero), truncated completions masked;
 *   - one GRPO step of a tiny deepseek2 model against PyTorch (tests/data/grpo-step.bin from
 *     tests/tools/make-grpo-fixture.py): the loss, and every parameter after one AdamW step.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/grpo.h"
#include "engine/train/model.h"
#include "engine/train/ops.h"
#include "engine/train/optim.h"
#include "tests/tap.h"

/* ---- advantages ----------------------------------------------------------------------------- */

static void
check_advantages(void)
{
    struct pd_grpo_params p;
    pd_grpo_params_default(&p);
    char err[PD_ERR_MAX];
    double r[12] = { 1, 0, 1, 0,   1, 1, 1, 1,   1, 0.5, 0, 7 };
    bool none[12] = { 0 };
    none[11] = true;                       /* the 7 is None: out of its group */
    double adv[12];
    struct pd_grpo_adv_stats st;
    int rc = pd_grpo_advantages(adv, &st, r, none, 3, 4, &p, err);
    ok(rc == 0, "advantages (%s)", rc ? err : "ok");
    ok(fabs(adv[0] - 0.8659) < 1e-4 && fabs(adv[1] + 0.8659) < 1e-4,
       "TRL's example: [1,0,1,0] -> %.4f %.4f", adv[0], adv[1]);
    ok(adv[4] == 0 && adv[7] == 0 && st.n_zero_std == 1, "a flat group: 0, counted (%d)",
       st.n_zero_std);
    /* group 3: [1, 0.5, 0] mean 0.5, std 0.5 */
    ok(fabs(adv[8] - 0.5 / (0.5 + 1e-4)) < 1e-12 && adv[9] == 0 && adv[11] == 0,
       "None left out of the mean and std: %.6f %.6f, None gets %.1f", adv[8], adv[9], adv[11]);
    ok(st.n_none == 1 && st.n_scored == 11, "counts: %d scored, %d None", st.n_scored,
       st.n_none);
    p.scale = PD_GRPO_SCALE_NONE;
    pd_grpo_advantages(adv, &st, r, none, 3, 4, &p, err);
    ok(adv[0] == 0.5 && adv[10] == -0.5, "scale none: r - mean (%.2f %.2f)", adv[0], adv[10]);
    p.scale = PD_GRPO_SCALE_BATCH;
    pd_grpo_advantages(adv, &st, r, none, 3, 4, &p, err);
    ok(fabs(adv[0] - 0.5 / (st.std + 1e-4)) < 1e-12 && fabs(adv[8] - 0.5 / (st.std + 1e-4)) <
       1e-12, "scale batch: group mean, batch std (%.4f)", st.std);
    bool one[4] = { false, true, true, true };
    pd_grpo_advantages(adv, &st, r, one, 1, 4, &p, err);
    ok(adv[0] == 0 && st.n_zero_std == 1, "one scored completion: no baseline, counted");
    ok(pd_grpo_advantages(adv, &st, r, NULL, 4, 1, &p, err) == PD_EINVAL, "G = 1 refused");
}

/* ---- the gradient --------------------------------------------------------------------------- */

enum { GB = 6, GT = 7, GV = 11 };
static const double temp = 0.7;

struct case_data {
    double z[GB][GT][GV];           /* raw logits */
    int32_t tgt[GB][GT];
    uint8_t mask[GB][GT];
    double old[GB][GT], ref[GB][GT];
    double adv[GB];
    bool trunc[GB];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double
urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* log softmax(z / T)[a] and p = softmax(z / T), in double. */
static double
ref_logp(const double *z, int a, double *p)
{
    double mx = -INFINITY, s = 0.0;
    for (int k = 0; k < GV; k++)
        mx = fmax(mx, z[k] / temp);
    for (int k = 0; k < GV; k++)
        s += exp(z[k] / temp - mx);
    if (p)
        for (int k = 0; k < GV; k++)
            p[k] = exp(z[k] / temp - mx) / s;
    return z[a] / temp - mx - log(s);
}

/* The aggregated loss, written out from grpo.md 1.3 in double (the finite difference's f). */
static double
ref_loss(const struct case_data *c, const struct pd_grpo_params *p)
{
    double lo = 1 - p->epsilon, hi = 1 + (p->epsilon_high < 0 ? p->epsilon : p->epsilon_high);
    double ntok = 0, total = 0;
    for (int i = 0; i < GB; i++)
        for (int t = 0; t < GT; t++)
            ntok += c->mask[i][t] && !(p->mask_truncated && c->trunc[i]);
    for (int i = 0; i < GB; i++) {
        if (p->mask_truncated && c->trunc[i])
            continue;
        double seq = 0, n = 0;
        for (int t = 0; t < GT; t++) {
            if (!c->mask[i][t])
                continue;
            double l = ref_logp(c->z[i][t], c->tgt[i][t], NULL);
            double rho = exp(l - c->old[i][t]), A = c->adv[i];
            double s = fmin(rho * A, fmin(fmax(rho, lo), hi) * A);
            double k3 = exp(c->ref[i][t] - l) - (c->ref[i][t] - l) - 1;
            seq += -s + p->beta * k3;
            n++;
        }
        if (n == 0)
            continue;
        total += p->loss == PD_GRPO_LOSS_GRPO ? seq / n / GB
               : p->loss == PD_GRPO_LOSS_DAPO ? seq / ntok : seq / (GB * (double)p->max_completion);
    }
    return total;
}

static void
make_case(struct case_data *c, const struct pd_grpo_params *p)
{
    double lo = 1 - p->epsilon, hi = 1 + (p->epsilon_high < 0 ? p->epsilon : p->epsilon_high);
    for (int i = 0; i < GB; i++) {
        c->adv[i] = (i % 3 == 0 ? 1.3 : i % 3 == 1 ? -0.9 : 0.4) * (i < 3 ? 1 : -1);
        c->trunc[i] = i == 4;
        int len = 3 + i % 4;               /* completion lengths vary; the rest is padding */
        for (int t = 0; t < GT; t++) {
            for (int k = 0; k < GV; k++)
                c->z[i][t][k] = 3 * (urand() - 0.5);
            c->tgt[i][t] = (int32_t)(urand() * GV);
            c->mask[i][t] = t >= 1 && t < 1 + len;    /* position 0 predicts a prompt token */
            double l = ref_logp(c->z[i][t], c->tgt[i][t], NULL);
            /* rho = exp(l - old) spread over [0.5, 1.6], kept 1e-3 away from the clip edges
             * so the finite difference never straddles a kink */
            double rho;
            do
                rho = 0.5 + 1.1 * urand();
            while (fabs(rho - lo) < 1e-3 || fabs(rho - hi) < 1e-3);
            c->old[i][t] = l - log(rho);
            c->ref[i][t] = l + (urand() - 0.5);
        }
    }
}

/* Run the objective on c: dz[GB][GT][GV] through pd_grpo_loss and pd_tr_logprob_backward as the
 * trainer runs them (float32), the loss into *loss. */
static int
grpo_dz(const struct case_data *c, const struct pd_grpo_params *p, float *dz, double *loss,
        struct pd_grpo_loss_stats *st, char *err)
{
    static float zs[GB * GT * GV], logp[GB * GT], lse[GB * GT], old[GB * GT], ref[GB * GT];
    static float dlogp[GB * GT];
    static int32_t tgt[GB * GT];
    static uint8_t mask[GB * GT];
    for (int i = 0; i < GB * GT; i++) {
        for (int k = 0; k < GV; k++)
            zs[i * GV + k] = (float)(c->z[i / GT][i % GT][k] / temp);
        tgt[i] = c->mask[i / GT][i % GT] ? c->tgt[i / GT][i % GT] : -1;
        mask[i] = c->mask[i / GT][i % GT];
        old[i] = (float)c->old[i / GT][i % GT];
        ref[i] = (float)c->ref[i / GT][i % GT];
    }
    int rc = pd_tr_logprob_forward(NULL, logp, lse, zs, tgt, GB * GT, GV, err);
    if (rc)
        return rc;
    struct pd_grpo_batch b = {
        .B = GB, .T = GT, .logp = logp, .old_logp = old, .ref_logp = ref, .mask = mask,
        .adv = c->adv, .truncated = c->trunc,
    };
    if ((rc = pd_grpo_loss(loss, dlogp, st, &b, p, err)) != 0)
        return rc;
    memset(dz, 0, sizeof(float) * GB * GT * GV);
    pd_tr_logprob_backward(NULL, dz, dlogp, zs, lse, tgt, GB * GT, GV);
    for (int i = 0; i < GB * GT * GV; i++)
        dz[i] = (float)(dz[i] / temp);
    return 0;
}

/* grpo.md 1.5 written out: W g (onehot - p) / T. */
static double
formula_dz(const struct case_data *c, const struct pd_grpo_params *p, int i, int t, int k)
{
    if (!c->mask[i][t] || (p->mask_truncated && c->trunc[i]))
        return 0;
    double lo = 1 - p->epsilon, hi = 1 + (p->epsilon_high < 0 ? p->epsilon : p->epsilon_high);
    double pr[GV];
    double l = ref_logp(c->z[i][t], c->tgt[i][t], pr);
    double rho = exp(l - c->old[i][t]), A = c->adv[i];
    int cc = (A > 0 && rho > hi) || (A < 0 && rho < lo) ? 0 : 1;
    double g = -cc * A * rho + p->beta * (1 - exp(c->ref[i][t] - l));
    double n_i = 0, ntok = 0;
    for (int j = 0; j < GB; j++)
        for (int u = 0; u < GT; u++)
            if (c->mask[j][u] && !(p->mask_truncated && c->trunc[j])) {
                ntok++;
                n_i += j == i;
            }
    double W = p->loss == PD_GRPO_LOSS_GRPO ? 1 / (GB * n_i)
             : p->loss == PD_GRPO_LOSS_DAPO ? 1 / ntok : 1 / (GB * (double)p->max_completion);
    return W * g * ((k == c->tgt[i][t]) - pr[k]) / temp;
}

static void
check_gradient(enum pd_grpo_loss_type type, float beta, bool mask_trunc)
{
    struct pd_grpo_params p;
    pd_grpo_params_default(&p);
    p.loss = type;
    p.beta = beta;
    p.epsilon_high = 0.28f;
    p.max_completion = 9;
    p.mask_truncated = mask_trunc;
    static struct case_data c;
    make_case(&c, &p);
    static float dz[GB * GT * GV];
    char err[PD_ERR_MAX];
    double loss;
    struct pd_grpo_loss_stats st = { 0 };
    int rc = grpo_dz(&c, &p, dz, &loss, &st, err);
    char what[96];
    snprintf(what, sizeof what, "%s beta=%g%s", pd_grpo_loss_name(type), beta,
             mask_trunc ? " mask_truncated" : "");
    ok(rc == 0, "%s: loss and gradient (%s)", what, rc ? err : "ok");
    double want = ref_loss(&c, &p);
    ok(fabs(loss - want) <= 1e-6 * fmax(1.0, fabs(want)), "%s: loss %.9f, float64 %.9f", what,
       loss, want);
    /* every branch: A>0 and A<0, each inside, above and below the clip range */
    double lo = 0.8, hi = 1.28;
    int br[2][3] = { { 0 } };
    for (int i = 0; i < GB; i++)
        for (int t = 0; t < GT; t++)
            if (c.mask[i][t] && !(mask_trunc && c.trunc[i])) {
                double rho = exp(ref_logp(c.z[i][t], c.tgt[i][t], NULL) - c.old[i][t]);
                br[c.adv[i] > 0][rho < lo ? 0 : rho > hi ? 2 : 1]++;
            }
    ok(br[0][0] && br[0][1] && br[0][2] && br[1][0] && br[1][1] && br[1][2],
       "%s: tokens in every branch (A<0: %d %d %d, A>0: %d %d %d)", what, br[0][0], br[0][1],
       br[0][2], br[1][0], br[1][1], br[1][2]);
    ok(st.n_clip_low == br[0][0] && st.n_clip_high == br[1][2],
       "%s: clip counts %lld low, %lld high", what, (long long)st.n_clip_low,
       (long long)st.n_clip_high);
    double max_f = 0, max_fd = 0, scale = 0, max_sum = 0, max_masked = 0;
    for (int i = 0; i < GB; i++)
        for (int t = 0; t < GT; t++) {
            double sum = 0;
            for (int k = 0; k < GV; k++) {
                double got = dz[(i * GT + t) * GV + k];
                double f = formula_dz(&c, &p, i, t, k);
                double z0 = c.z[i][t][k], h = 1e-5;
                c.z[i][t][k] = z0 + h;
                double up = ref_loss(&c, &p);
                c.z[i][t][k] = z0 - h;
                double dn = ref_loss(&c, &p);
                c.z[i][t][k] = z0;
                double fd = (up - dn) / (2 * h);
                max_f = fmax(max_f, fabs(got - f));
                max_fd = fmax(max_fd, fabs(f - fd));
                scale = fmax(scale, fabs(f));
                sum += got;
                if (!c.mask[i][t] || (mask_trunc && c.trunc[i]))
                    max_masked = fmax(max_masked, fabs(got));
            }
            max_sum = fmax(max_sum, fabs(sum));
        }
    ok(max_f <= 1e-5 * scale, "%s: dL/dz against grpo.md 1.5: max error %.2e (max |dz| %.2e)",
       what, max_f, scale);
    ok(max_fd <= 1e-6 * scale, "%s: grpo.md 1.5 against a float64 central difference: %.2e",
       what, max_fd);
    ok(max_sum <= 1e-7 && max_masked == 0, "%s: sum over the vocabulary %.1e; masked %.1e", what,
       max_sum, max_masked);
}

/* mu = 1, beta = 0 (TRL's default): rho = 1, the gradient is REINFORCE with a baseline and a
 * flat group contributes nothing. */
static void
check_on_policy(void)
{
    struct pd_grpo_params p;
    pd_grpo_params_default(&p);
    float logp[8] = { -1, -2, -0.5f, -3, -1, -1, -1, -1 };
    uint8_t mask[8] = { 1, 1, 1, 1, 1, 1, 0, 0 };
    double adv[2] = { 0.5, 0.0 };
    float d[8];
    double loss;
    char err[PD_ERR_MAX];
    struct pd_grpo_batch b = { .B = 2, .T = 4, .logp = logp, .mask = mask, .adv = adv };
    pd_grpo_loss(&loss, d, NULL, &b, &p, err);
    ok(fabs(loss + 0.5 * 4 / 6) < 1e-12 && fabs(d[0] + 0.5 / 6) < 1e-7 && d[4] == 0 && d[6] == 0,
       "on-policy dapo: loss %.6f, dlogp %.6f = -A / N_tok; a zero advantage gives 0", loss,
       d[0]);
}


/* ---- one step against PyTorch --------------------------------------------------------------- */

static bool
rd(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

static float *
rd_floats(FILE *f, int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p);
    PD_ASSERT(p && rd(f, p, (size_t)n * sizeof *p));
    return p;
}

struct torch_fx {
    struct pd_tmodel_config cfg;
    int G, T, lmax;
    float temp, beta, eps_lo, eps_hi, lr, wd, b1, b2, adam_eps, clip;
    int32_t *tokens, *targets;
    double rewards[16], adv[16], start[3], losses[2];
    float *old, *ref, *params, *bias, *grads, *final;
    int64_t n_params;
};

static bool
load_torch(struct torch_fx *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    char magic[4];
    int32_t v, ints[21];
    float fl[3];
    PD_ASSERT(rd(f, magic, 4) && memcmp(magic, "PDGF", 4) == 0 && rd(f, &v, 4) && v == 1);
    PD_ASSERT(rd(f, ints, sizeof ints) && rd(f, fl, sizeof fl));
    struct pd_tmodel_config *c = &fx->cfg;
    int32_t *dst[] = { &c->n_vocab, &c->n_ctx, &c->n_embd, &c->n_layer, &c->n_head,
                       &c->q_lora_rank, &c->kv_lora_rank, &c->qk_nope, &c->qk_rope, &c->v_head,
                       &c->n_ff, &c->n_dense_lead, &c->n_expert, &c->n_expert_used,
                       &c->n_ff_exp, &c->n_expert_shared, &c->n_group, &c->n_group_used };
    for (size_t i = 0; i < PD_ARRAY_SIZE(dst); i++)
        *dst[i] = ints[i];
    c->sigmoid = ints[18], c->expert_norm = ints[19], c->tied = ints[20];
    c->expert_scale = fl[0], c->rms_eps = fl[1], c->rope_base = fl[2];
    int32_t gt[3];
    float hp[10];
    PD_ASSERT(rd(f, gt, sizeof gt) && rd(f, hp, sizeof hp));
    fx->G = gt[0], fx->T = gt[1], fx->lmax = gt[2];
    PD_ASSERT(fx->G <= 16);
    fx->temp = hp[0], fx->beta = hp[1], fx->eps_lo = hp[2], fx->eps_hi = hp[3], fx->lr = hp[4];
    fx->wd = hp[5], fx->b1 = hp[6], fx->b2 = hp[7], fx->adam_eps = hp[8], fx->clip = hp[9];
    int64_t N = (int64_t)fx->G * fx->T;
    fx->tokens = malloc((size_t)N * 4);
    fx->targets = malloc((size_t)N * 4);
    PD_ASSERT(rd(f, fx->tokens, (size_t)N * 4) && rd(f, fx->targets, (size_t)N * 4));
    PD_ASSERT(rd(f, fx->rewards, (size_t)fx->G * 8));
    fx->old = rd_floats(f, N);
    fx->ref = rd_floats(f, N);
    PD_ASSERT(rd(f, &fx->n_params, 8));
    fx->params = rd_floats(f, fx->n_params);
    int n_moe = c->n_layer - c->n_dense_lead;
    fx->bias = rd_floats(f, (int64_t)n_moe * c->n_expert);
    PD_ASSERT(rd(f, fx->adv, (size_t)fx->G * 8) && rd(f, fx->start, 24) &&
              rd(f, fx->losses, 16));
    fx->grads = rd_floats(f, fx->n_params);
    fx->final = rd_floats(f, fx->n_params);
    fclose(f);
    return true;
}

/* Forward, the log-probs at the temperature, the loss of type; with dlogp, the gradient into
 * m->grads. */
static double
torch_loss(struct pd_tmodel *m, const struct torch_fx *fx, const double *adv,
           enum pd_grpo_loss_type type, bool backward)
{
    char err[PD_ERR_MAX];
    int64_t N = (int64_t)fx->G * fx->T, V = fx->cfg.n_vocab;
    float *zs = malloc((size_t)(N * V) * 4), *dz = calloc((size_t)(N * V), 4);
    float *logp = malloc((size_t)N * 4), *lse = malloc((size_t)N * 4), *dl = malloc((size_t)N * 4);
    uint8_t *mask = malloc((size_t)N);
    PD_ASSERT(pd_tmodel_forward(m, NULL, fx->tokens, NULL, fx->G, fx->T, NULL, NULL, err) == 0);
    const float *z = pd_tmodel_logits(m);
    for (int64_t i = 0; i < N * V; i++)
        zs[i] = z[i] / fx->temp;
    for (int64_t i = 0; i < N; i++)
        mask[i] = fx->targets[i] >= 0;
    PD_ASSERT(pd_tr_logprob_forward(NULL, logp, lse, zs, fx->targets, N, V, err) == 0);
    struct pd_grpo_params p;
    pd_grpo_params_default(&p);
    p.loss = type, p.beta = fx->beta, p.epsilon = fx->eps_lo, p.epsilon_high = fx->eps_hi;
    p.max_completion = fx->lmax;
    struct pd_grpo_batch b = { .B = fx->G, .T = fx->T, .logp = logp, .old_logp = fx->old,
                               .ref_logp = fx->ref, .mask = mask, .adv = adv };
    double loss;
    PD_ASSERT(pd_grpo_loss(&loss, dl, NULL, &b, &p, err) == 0);
    if (backward) {
        pd_tr_logprob_backward(NULL, dz, dl, zs, lse, fx->targets, N, V);
        for (int64_t i = 0; i < N * V; i++)
            dz[i] /= fx->temp;
        PD_ASSERT(pd_tmodel_backward_logits(m, NULL, dz, err) == 0);
    }
    free(zs), free(dz), free(logp), free(lse), free(dl), free(mask);
    return loss;
}

/* The worst over tensors of |got - want| / |want| (L2 norms), its tensor in *worst. */
static double
tensor_err(const struct pd_tmodel *m, const float *got, const float *want, const float *base,
           const char **worst)
{
    double max = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *t = &m->tensors[i];
        double d = 0, w = 0;
        for (int64_t k = t->offset; k < t->offset + t->n; k++) {
            double a = got[k] - (base ? base[k] : 0), b = want[k] - (base ? base[k] : 0);
            d += (a - b) * (a - b), w += b * b;
        }
        double e = w > 0 ? sqrt(d / w) : sqrt(d);
        if (e > max)
            max = e, *worst = t->name;
    }
    return max;
}

static void
check_torch_step(void)
{
    char path[4096], err[PD_ERR_MAX];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/data/grpo-step.bin", top ? top : ".");
    struct torch_fx fx = { 0 };
    if (!load_torch(&fx, path)) {
        ok(0, "PyTorch fixture %s missing (tests/tools/make-grpo-fixture.py)", path);
        return;
    }
    struct pd_tmodel *m = NULL;
    int rc = pd_tmodel_new(&m, &fx.cfg, 1, err);
    ok(rc == 0 && m->n_params == fx.n_params, "the fixture's model (%s)", rc ? err : "ok");
    if (rc != 0)
        return;
    memcpy(m->params, fx.params, (size_t)fx.n_params * 4);
    memcpy(m->bias, fx.bias, (size_t)(m->n_moe * fx.cfg.n_expert) * 4);
    double adv[16];
    struct pd_grpo_params p;
    pd_grpo_params_default(&p);
    pd_grpo_advantages(adv, NULL, fx.rewards, NULL, 1, fx.G, &p, err);
    double aerr = 0;
    for (int i = 0; i < fx.G; i++)
        aerr = fmax(aerr, fabs(adv[i] - fx.adv[i]));
    ok(aerr < 1e-12, "torch: advantages, max error %.1e", aerr);
    for (int t = 0; t < 3; t++) {
        double l = torch_loss(m, &fx, adv, (enum pd_grpo_loss_type)t, false);
        double e = fabs(l - fx.start[t]) / fabs(fx.start[t]);
        ok(e < 1e-5, "torch: %s loss %.8f, PyTorch %.8f (rel %.1e)",
           pd_grpo_loss_name((enum pd_grpo_loss_type)t), l, fx.start[t], e);
    }
    float *m1 = calloc((size_t)fx.n_params, 4), *m2 = calloc((size_t)fx.n_params, 4);
    struct pd_adamw h = { fx.b1, fx.b2, fx.adam_eps, fx.wd };
    for (int step = 0; step < 2; step++) {
        double l = torch_loss(m, &fx, adv, PD_GRPO_LOSS_DAPO, true);
        double e = fabs(l - fx.losses[step]) / fabs(fx.losses[step]);
        ok(e < 1e-5, "torch: dapo step %d loss %.8f, PyTorch %.8f (rel %.1e)", step + 1, l,
           fx.losses[step], e);
        if (step == 0) {
            const char *worst = "";
            double ge = tensor_err(m, m->grads, fx.grads, NULL, &worst);
            ok(ge < 1e-4, "torch: the gradient, worst tensor %s rel %.1e", worst, ge);
        }
        float *g = m->grads;
        pd_optim_grad_clip(&g, &m->n_params, 1, fx.clip);
        pd_tmodel_adamw(m, m1, m2, &h, fx.lr, step + 1);
    }
    const char *worst = "";
    double ue = tensor_err(m, m->params, fx.final, fx.params, &worst);
    ok(ue < 1e-3, "torch: the update of two AdamW steps, worst tensor %s rel %.1e", worst, ue);
    free(m1), free(m2);
    pd_tmodel_free(m);
    free(fx.tokens), free(fx.targets), free(fx.old), free(fx.ref), free(fx.params);
    free(fx.bias), free(fx.grads), free(fx.final);
}

int
main(void)
{
    check_advantages();
    check_on_policy();
    for (int type = 0; type < 3; type++) {
        check_gradient((enum pd_grpo_loss_type)type, 0.0f, false);
        check_gradient((enum pd_grpo_loss_type)type, 0.04f, true);
    }
    check_torch_step();
    done_testing();
    return exit_status();
}
