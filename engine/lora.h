/*
 * lora.h: LoRA adapters at inference, in llama.cpp's adapter GGUF format.
 *
 * An adapter file has general.type = "adapter", general.architecture equal to the base model's,
 * adapter.type = "lora" and adapter.lora.alpha (float; absent reads as 0). For each adapted
 * weight W {n_in, n_out} (GGUF ne order) it holds two tensors named after W:
 *   <W's name>.lora_a   ne {n_in, r}    (row-major [r][n_in]: A)
 *   <W's name>.lora_b   ne {r, n_out}   (row-major [n_out][r]: B)
 * and the projection becomes
 *   y = W x + s B (A x),   s = scale * alpha / r  (s = scale when alpha is 0),
 * scale being the user's (--lora FILE:SCALE, default 1). Tensors ending in _norm.weight are
 * ignored, as llama.cpp does; any other name is an error.
 *
 * ponder applies adapters to the 2-D weights its forward runs as matrix products (every
 * attention and dense or shared-expert FFN projection, the router, the output head), on the CPU,
 * beside the base weight whatever its type (the adapter is held in float32). The 3-D weights
 * (routed experts, MLA's per-head k_b and v_b) and the token embedding take none: an adapter for
 * them is refused, as is one whose base tensor the model lacks or whose shapes disagree.
 */
#ifndef PD_LORA_H
#define PD_LORA_H

#include <stdint.h>

#include "engine/pd.h"

/* The most adapters one context applies. */
#define PD_MAX_LORA 8

struct pd_model;
struct pd_weight;
struct pd_lora;

/* Read the adapter at path for model m, with the user's scale. PD_EFORMAT (the file is not an
 * adapter, or is truncated or malformed), PD_EINVAL (another architecture, a tensor without its
 * base, a shape that disagrees: each named), PD_EUNSUPPORTED (a base weight ponder applies no
 * adapter to), PD_ENOMEM. The adapter keeps no reference to the file. */
int pd_lora_load(struct pd_lora **out, const struct pd_model *m, const char *path, float scale,
                 char *err);
void pd_lora_free(struct pd_lora *l);

/* Adapted weights, and the largest rank among them. */
int pd_lora_count(const struct pd_lora *l);
int32_t pd_lora_max_rank(const struct pd_lora *l);

/* The adapter's pair for base weight w: A [r][n_in], B [n_out][r], its rank and its s; NULL when
 * w has none. */
struct pd_lora_pair {
    const void *base;       /* the base weight's data: the key the forward looks it up by */
    int64_t n_in, n_out;
    int32_t r;
    float s;
    float *a, *b;
};
const struct pd_lora_pair *pd_lora_find(const struct pd_lora *l, const struct pd_weight *w);

#endif
