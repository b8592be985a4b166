/*
 * weight-plan.h: which bytes of a model's tensor data one rank of a split holds on its device.
 *
 * A CUDA context copies weights to its device as the file holds them (every weight keeps its
 * GGUF format). Unsplit, that is every weight the forward pass reads; one rank of a split needs
 * only its share: a layer split's rank its layers (and the embeddings on the first rank, the head
 * on the last), an expert split's rank every dense weight but only its block of each MoE layer's
 * experts. The plan lists those byte ranges of the data section as spans, sorted, merged where
 * they touch, and places each in one device buffer at an offset keeping the file's alignment
 * (the same address modulo 256), so a weight's device address is found from its host address.
 */
#ifndef PD_WEIGHT_PLAN_H
#define PD_WEIGHT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pd_model;
struct pd_part;
struct pd_weight;

/* Bytes [first, end) of the data section, at dev in the device buffer. */
struct pd_weight_span {
    size_t first, end, dev;
};

struct pd_weight_plan {
    struct pd_weight_span *spans;   /* sorted by first, disjoint, not touching */
    int n;
    size_t held;                    /* bytes of weights held: the sum of the spans */
    size_t bytes;                   /* the device buffer's size (held plus alignment) */
};

/* The plan of the rank whose share is pt (NULL: the whole model). */
int pd_weight_plan_make(struct pd_weight_plan *p, const struct pd_model *m,
                        const struct pd_part *pt, char *err);
void pd_weight_plan_free(struct pd_weight_plan *p);

/* The device offset of byte `at` of the data section, or SIZE_MAX when the rank does not hold it. */
size_t pd_weight_plan_find(const struct pd_weight_plan *p, size_t at);

/* Whether the plan holds all of matrices [first, end) of w (experts, or heads; 0 and 1 for a
 * 2-d weight); an absent weight is held. */
bool pd_weight_plan_holds(const struct pd_weight_plan *p, const struct pd_model *m,
                          const struct pd_weight *w, int64_t first, int64_t end);

/* Calls fn on every weight of layer l (absent ones included; fn skips what it does not want);
 * stops at, and returns, the first non-zero answer. */
struct pd_layer;
int pd_layer_each_weight(const struct pd_layer *l,
                         int (*fn)(const struct pd_weight *w, bool experts, void *ud), void *ud);

#endif
