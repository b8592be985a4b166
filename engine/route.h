/*
 * route.h: the rule by which a mixture-of-experts router turns its probabilities into a choice,
 * shared by inference (engine/moe.c) and training (engine/train/ops-moe.c) so that a trained
 * model routes at inference exactly as it did in training.
 */
#ifndef PD_ROUTE_H
#define PD_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#define PD_ROUTE_NORM_FLOOR 6.1e-5f /* llama.cpp's floor on the renormalizing sum */
#define PD_ROUTE_MAX_GROUPS 256      /* expert groups a rule may have */

struct pd_route_rule {
    int32_t n_expert, n_used;        /* X experts, K chosen */
    int32_t n_groups, n_groups_used; /* group-limited choice (DeepSeek-V3); n_groups <= 1: none */
    bool norm;                       /* renormalize the chosen weights (sum floored at 6.1e-5) */
    float scale;                     /* the chosen weights are multiplied by it (1: none) */
};

/* The gate probabilities of a router's logits p[X], in place: softmax, or each expert's sigmoid
 * (DeepSeek-V3); returns the entropy (nats) of the distribution they make once normalized. */
float pd_route_gate(float *p, int32_t X, bool sigmoid);

/*
 * The choice for one token from its gate probabilities p[X]: the K best of p plus the selection
 * bias (NULL: none) among the experts of the n_groups_used best groups (a group scores the sum of
 * its two best), ties to the lower id; the weights are the unbiased probabilities of the chosen,
 * renormalized and scaled as the rule says; ids and weights by decreasing weight (ties: lower id
 * first). sel is scratch of X floats.
 */
void pd_route_choose(int32_t *ids, float *weights, float *sel, const float *p, const float *bias,
                     const struct pd_route_rule *r);

#endif
