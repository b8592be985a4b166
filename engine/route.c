/*
 * route.c: the routing rule of route.h.
 */
#include "config.h"

#include "engine/route.h"

#include <math.h>

/* Softmax of p[X] in place; returns the entropy (nats) of the result. */
static float
softmax_entropy(float *p, int32_t X)
{
    float max = -INFINITY;
    for (int32_t e = 0; e < X; e++)
        max = p[e] > max ? p[e] : max;
    double sum = 0.0;
    for (int32_t e = 0; e < X; e++)
        sum += p[e] = expf(p[e] - max);
    double h = 0.0;
    for (int32_t e = 0; e < X; e++) {
        p[e] = (float)(p[e] / sum);
        if (p[e] > 0.0f)
            h -= p[e] * log(p[e]);
    }
    return (float)h;
}

/* Sigmoid scores in place; returns the entropy of the distribution they make once normalized. */
static float
sigmoid_entropy(float *p, int32_t X)
{
    double sum = 0.0;
    for (int32_t e = 0; e < X; e++)
        sum += p[e] = 1.0f / (1.0f + expf(-p[e]));
    double h = 0.0;
    for (int32_t e = 0; e < X; e++) {
        double q = p[e] / sum;
        if (q > 0.0)
            h -= q * log(q);
    }
    return (float)h;
}

float
pd_route_gate(float *p, int32_t X, bool sigmoid)
{
    return sigmoid ? sigmoid_entropy(p, X) : softmax_entropy(p, X);
}


/* The K largest of p[X], largest first (ties to the lower id): ids and values. */
static void
top_k(int32_t *ids, float *vals, const float *p, int32_t X, int32_t K)
{
    for (int32_t k = 0; k < K; k++) {
        ids[k] = -1;
        vals[k] = -INFINITY;
    }
    for (int32_t e = 0; e < X; e++) {
        if (p[e] <= vals[K - 1])
            continue;
        int32_t k = K - 1;
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
mask_groups(float *sel, int32_t X, int32_t n_groups, int32_t n_used)
{
    int32_t per = X / n_groups;
    float gscore[PD_ROUTE_MAX_GROUPS] = { 0 }, gval[PD_ROUTE_MAX_GROUPS];
    int32_t gid[PD_ROUTE_MAX_GROUPS];
    for (int32_t g = 0; g < n_groups; g++) {
        float best[2];
        int32_t ids[2];
        top_k(ids, best, sel + g * per, per, per >= 2 ? 2 : 1);
        gscore[g] = best[0] + (per >= 2 ? best[1] : 0.0f);
    }
    top_k(gid, gval, gscore, n_groups, n_used);
    for (int32_t g = 0; g < n_groups; g++) {
        bool keep = false;
        for (int32_t i = 0; i < n_used; i++)
            keep |= gid[i] == g;
        if (!keep)
            for (int32_t e = 0; e < per; e++)
                sel[g * per + e] = -INFINITY;
    }
}

/* Order the K chosen by decreasing weight (ties: lower id first). */
static void
sort_by_weight(int32_t *ids, float *w, int32_t K)
{
    for (int32_t i = 1; i < K; i++)
        for (int32_t j = i; j > 0 && (w[j] > w[j - 1] || (w[j] == w[j - 1] &&
                                                          ids[j] < ids[j - 1])); j--) {
            float tw = w[j];
            w[j] = w[j - 1];
            w[j - 1] = tw;
            int32_t ti = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = ti;
        }
}

void
pd_route_choose(int32_t *ids, float *weights, float *sel, const float *p, const float *bias,
                const struct pd_route_rule *r)
{
    int32_t X = r->n_expert, K = r->n_used;
    for (int32_t e = 0; e < X; e++)
        sel[e] = p[e] + (bias ? bias[e] : 0.0f);
    if (r->n_groups > 1)
        mask_groups(sel, X, r->n_groups, r->n_groups_used);
    top_k(ids, weights, sel, X, K);
    for (int32_t k = 0; k < K; k++)
        weights[k] = p[ids[k]];
    if (r->norm) {
        float sum = 0.0f;
        for (int32_t k = 0; k < K; k++)
            sum += weights[k];
        sum = sum > PD_ROUTE_NORM_FLOOR ? sum : PD_ROUTE_NORM_FLOOR;
        for (int32_t k = 0; k < K; k++)
            weights[k] /= sum;
    }
    for (int32_t k = 0; k < K; k++)
        weights[k] *= r->scale;
    sort_by_weight(ids, weights, K);
}
