/*
 * ops-moe.c: the mixture-of-experts pieces of training: the router (probabilities, the choice,
 * the weights, and the gradient back through the chosen weights), grouping tokens by expert,
 * gathering their rows and combining the experts' outputs, and the expert load that DeepSeek-V3's
 * aux-loss-free balancing steers by.
 *
 * The router repeats engine/moe.c's rules step by step, so that a trained model routes the same
 * way at inference: probabilities by softmax or sigmoid; the choice on probabilities plus the
 * selection bias, within the best groups (a group scores the sum of its two best); the weights
 * are the unbiased probabilities of the chosen, renormalized with llama.cpp's floor on the sum
 * and scaled; ordered by decreasing weight.
 */
#include "config.h"

#include "engine/train/ops.h"

#include <math.h>
#include <string.h>

enum { MAX_GROUPS = 256 };
static const float norm_floor = 6.1e-5f;   /* llama.cpp's floor on the renormalizing sum */

/* The K largest of p[X], largest first (ties to the lower id): ids and values. */
static void
top_k(int32_t *ids, float *vals, const float *p, int X, int K)
{
    for (int k = 0; k < K; k++) {
        ids[k] = -1;
        vals[k] = -INFINITY;
    }
    for (int e = 0; e < X; e++) {
        if (p[e] <= vals[K - 1])
            continue;
        int k = K - 1;
        for (; k > 0 && p[e] > vals[k - 1]; k--) {
            ids[k] = ids[k - 1];
            vals[k] = vals[k - 1];
        }
        ids[k] = e;
        vals[k] = p[e];
    }
}

/* Only the n_used groups with the best sums of their two best scores keep their experts. */
static void
mask_groups(float *sel, int X, int n_groups, int n_used)
{
    int per = X / n_groups;
    float gscore[MAX_GROUPS] = { 0 }, gval[MAX_GROUPS];
    int32_t gid[MAX_GROUPS];
    for (int g = 0; g < n_groups; g++) {
        float best[2];
        int32_t ids[2];
        top_k(ids, best, sel + g * per, per, per >= 2 ? 2 : 1);
        gscore[g] = best[0] + (per >= 2 ? best[1] : 0.0f);
    }
    top_k(gid, gval, gscore, n_groups, n_used);
    for (int g = 0; g < n_groups; g++) {
        bool keep = false;
        for (int i = 0; i < n_used; i++)
            keep |= gid[i] == g;
        if (!keep)
            for (int e = 0; e < per; e++)
                sel[g * per + e] = -INFINITY;
    }
}

static void
sort_by_weight(int32_t *ids, float *w, int K)
{
    for (int i = 1; i < K; i++)
        for (int j = i; j > 0 && (w[j] > w[j - 1] || (w[j] == w[j - 1] && ids[j] < ids[j - 1]));
             j--) {
            float tw = w[j];
            w[j] = w[j - 1];
            w[j - 1] = tw;
            int32_t ti = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = ti;
        }
}

static void
scores(float *p, const float *logit, int X, bool sigmoid)
{
    if (sigmoid) {
        for (int e = 0; e < X; e++)
            p[e] = 1.0f / (1.0f + expf(-logit[e]));
        return;
    }
    float max = -INFINITY;
    for (int e = 0; e < X; e++)
        max = logit[e] > max ? logit[e] : max;
    double sum = 0.0;
    for (int e = 0; e < X; e++)
        sum += p[e] = expf(logit[e] - max);
    for (int e = 0; e < X; e++)
        p[e] = (float)(p[e] / sum);
}

void
pd_tr_router_forward(int32_t *ids, float *weights, float *probs, const float *logits,
                     const float *bias, const struct pd_tr_router *r, int64_t N)
{
    int X = r->X, K = r->K;
    PD_ASSERT(K >= 1 && K <= X && r->n_groups <= MAX_GROUPS);
    float sel[X];
    for (int64_t n = 0; n < N; n++) {
        float *p = probs + n * X, *w = weights + n * K;
        int32_t *id = ids + n * K;
        scores(p, logits + n * X, X, r->sigmoid);
        for (int e = 0; e < X; e++)
            sel[e] = p[e] + (bias ? bias[e] : 0.0f);
        if (r->n_groups > 1)
            mask_groups(sel, X, r->n_groups, r->n_groups_used);
        top_k(id, w, sel, X, K);
        for (int k = 0; k < K; k++)
            w[k] = p[id[k]];
        if (r->norm) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++)
                sum += w[k];
            sum = sum > norm_floor ? sum : norm_floor;
            for (int k = 0; k < K; k++)
                w[k] /= sum;
        }
        for (int k = 0; k < K; k++)
            w[k] *= r->scale;
        sort_by_weight(id, w, K);
    }
}

/*
 * w_k = scale p_k / S with S = max(sum_j p_j, floor) when normalizing (else w_k = scale p_k), so
 * dp_k = scale (dw_k / S - [S above the floor] sum_j dw_j p_j / S^2). Then through the gating:
 * sigmoid dl_e = dp_e p_e (1 - p_e); softmax dl_e = p_e (dp_e - sum_k p_k dp_k), over all X.
 */
void
pd_tr_router_backward(float *dlogits, const float *dweights, const int32_t *ids,
                      const float *probs, const struct pd_tr_router *r, int64_t N)
{
    int X = r->X, K = r->K;
    float dp[K];
    for (int64_t n = 0; n < N; n++) {
        const float *p = probs + n * X, *dw = dweights + n * K;
        const int32_t *id = ids + n * K;
        float *dl = dlogits + n * X;
        float sum = 0.0f, wdot = 0.0f;
        for (int k = 0; k < K; k++) {
            sum += p[id[k]];
            wdot += dw[k] * p[id[k]];
        }
        bool floored = r->norm && !(sum > norm_floor);
        float S = r->norm ? (floored ? norm_floor : sum) : 1.0f;
        for (int k = 0; k < K; k++)
            dp[k] = r->scale * (dw[k] / S - (r->norm && !floored ? wdot / (S * S) : 0.0f));
        if (r->sigmoid) {
            for (int k = 0; k < K; k++)
                dl[id[k]] += dp[k] * p[id[k]] * (1.0f - p[id[k]]);
            continue;
        }
        float pdp = 0.0f;
        for (int k = 0; k < K; k++)
            pdp += p[id[k]] * dp[k];
        for (int e = 0; e < X; e++)
            dl[e] -= p[e] * pdp;
        for (int k = 0; k < K; k++)
            dl[id[k]] += p[id[k]] * dp[k];
    }
}

int
pd_tr_moe_group(int32_t *offset, int32_t *row_token, int32_t *token_row, const int32_t *ids,
                int64_t N, int K, int X, char *err)
{
    memset(offset, 0, sizeof(int32_t) * (size_t)(X + 1));
    for (int64_t i = 0; i < N * K; i++) {
        if (ids[i] < 0 || ids[i] >= X)
            return pd_errorf(err, PD_EINVAL, "token %lld, choice %lld: expert %d is not one of "
                             "%d", (long long)(i / K), (long long)(i % K), ids[i], X);
        offset[ids[i] + 1]++;
    }
    for (int e = 0; e < X; e++)
        offset[e + 1] += offset[e];
    /* a second pass places the rows; offset[e] walks up to offset[e+1] and is then restored */
    for (int64_t i = 0; i < N * K; i++) {
        int32_t row = offset[ids[i]]++;
        row_token[row] = (int32_t)(i / K);
        token_row[i] = row;
    }
    for (int e = X; e > 0; e--)
        offset[e] = offset[e - 1];
    offset[0] = 0;
    return 0;
}

void
pd_tr_moe_gather_forward(float *rx, const float *x, const int32_t *row_token, int64_t rows,
                         int64_t E)
{
    for (int64_t r = 0; r < rows; r++)
        memcpy(rx + r * E, x + (int64_t)row_token[r] * E, sizeof(float) * E);
}

void
pd_tr_moe_gather_backward(float *dx, const float *drx, const int32_t *row_token, int64_t rows,
                          int64_t E)
{
    for (int64_t r = 0; r < rows; r++) {
        float *d = dx + (int64_t)row_token[r] * E;
        const float *g = drx + r * E;
        for (int64_t i = 0; i < E; i++)
            d[i] += g[i];
    }
}

void
pd_tr_moe_combine_forward(float *out, const float *y, const float *weights,
                          const int32_t *token_row, int64_t N, int K, int64_t E)
{
    for (int64_t t = 0; t < N; t++) {
        float *o = out + t * E;
        for (int k = 0; k < K; k++) {
            const float *yr = y + (int64_t)token_row[t * K + k] * E;
            float w = weights[t * K + k];
            for (int64_t i = 0; i < E; i++)
                o[i] += w * yr[i];
        }
    }
}

void
pd_tr_moe_combine_backward(float *dy, float *dweights, const float *dout, const float *y,
                           const float *weights, const int32_t *token_row, int64_t N, int K,
                           int64_t E)
{
    for (int64_t t = 0; t < N; t++) {
        const float *g = dout + t * E;
        for (int k = 0; k < K; k++) {
            int64_t row = token_row[t * K + k];
            if (dweights) {
                double d = 0.0;
                for (int64_t i = 0; i < E; i++)
                    d += (double)g[i] * y[row * E + i];
                dweights[t * K + k] += (float)d;
            }
            if (dy) {
                float w = weights[t * K + k], *d = dy + row * E;
                for (int64_t i = 0; i < E; i++)
                    d[i] += w * g[i];
            }
        }
    }
}

float
pd_tr_expert_load(float *load, const int32_t *ids, int64_t N, int K, int X)
{
    memset(load, 0, sizeof(float) * (size_t)X);
    if (N * K == 0)
        return 1.0f;
    for (int64_t i = 0; i < N * K; i++)
        if (ids[i] >= 0 && ids[i] < X)
            load[ids[i]] += 1.0f;
    float max = 0.0f;
    for (int e = 0; e < X; e++) {
        load[e] /= (float)(N * K);
        max = load[e] > max ? load[e] : max;
    }
    return max * X;
}
