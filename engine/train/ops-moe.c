/*
 * ops-moe.c: the mixture-of-experts pieces of training: the router (probabilities, the choice,
 * the weights, and the gradient back through the chosen weights), grouping tokens by expert,
 * gathering their rows and combining the experts' outputs, and the expert load that DeepSeek-V3's
 * aux-loss-free balancing steers by.
 *
 * The router takes its choice from engine/route.c, the rule inference uses too, so a trained
 * model routes the same way at inference: probabilities by softmax or sigmoid; the choice on
 * probabilities plus the selection bias, within the best groups; the weights the unbiased
 * probabilities of the chosen, renormalized with llama.cpp's floor on the sum and scaled.
 */
#include "config.h"

#include "engine/route.h"
#include "engine/train/ops.h"

#include <math.h>
#include <string.h>

static void
scores(float *p, const float *logit, int X, bool sigmoid)
{
    /* inference's gate (engine/route.c), so training routes as inference does */
    memcpy(p, logit, sizeof(float) * (size_t)X);
    pd_route_gate(p, X, sigmoid);
}

void
pd_tr_router_forward(int32_t *ids, float *weights, float *probs, const float *logits,
                     const float *bias, const struct pd_tr_router *r, int64_t N)
{
    int X = r->X, K = r->K;
    PD_ASSERT(K >= 1 && K <= X && r->n_groups <= PD_ROUTE_MAX_GROUPS);
    const struct pd_route_rule rule = {
        .n_expert = X, .n_used = K, .n_groups = r->n_groups, .n_groups_used = r->n_groups_used,
        .norm = r->norm, .scale = r->scale,
    };
    float sel[X];
    for (int64_t n = 0; n < N; n++) {
        float *p = probs + n * X, *w = weights + n * K;
        int32_t *id = ids + n * K;
        scores(p, logits + n * X, X, r->sigmoid);
        pd_route_choose(id, w, sel, p, bias, &rule);
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
        bool floored = r->norm && !(sum > PD_ROUTE_NORM_FLOOR);
        float S = r->norm ? (floored ? PD_ROUTE_NORM_FLOOR : sum) : 1.0f;
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
