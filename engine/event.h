/*
 * event.h: the one event that carries a generated token everywhere (DESIGN.md).
 *
 * The engine produces one event per sampled token; the terminal, the session store and the aha
 * detector consume it. The event's text is what the token added to the visible output: always
 * whole UTF-8 characters (bytes of a character split over tokens arrive with the token that
 * completes it), with stop strings held back until they are ruled out, and cut into spans by
 * segment (think / answer / the tags between them), so a consumer never parses tags itself.
 */
#ifndef PD_EVENT_H
#define PD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/chat-template.h"

#define PD_EVENT_MAX_SPANS 6
#define PD_EVENT_MAX_TOP 8      /* alternatives an event can carry (pd_gen_params.n_top) */

struct pd_text_span {
    enum pd_segment segment;
    const char *text;   /* not NUL-terminated */
    size_t len;
};

/* Routing of one token through the mixture-of-experts layers (dense layers are left out). */
struct pd_routing {
    int32_t n_layers;        /* MoE layers */
    int32_t k;               /* experts chosen per token */
    const int32_t *layer;    /* [n_layers] the model layer each entry is */
    const int32_t *ids;      /* [n_layers][k] chosen experts, by decreasing gate weight */
    const float *weights;    /* [n_layers][k] their final gate weights (after normalization and
                                scaling, as they multiply the experts' outputs) */
    const float *entropy;    /* [n_layers] entropy (nats) of the router's distribution over all
                                experts */
};

struct pd_token_event {
    int32_t id;               /* token id */
    int32_t index;            /* 0 for the first generated token */
    enum pd_segment segment;  /* segment the token belongs to (think or answer; tag if it only
                                 opened or closed the think block) */
    float logprob;            /* log p(token) under the model at temperature 1 */
    float entropy;            /* entropy (nats) of that distribution */
    double t;                 /* seconds since the generation began */
    const char *piece;        /* the token's own bytes (may be part of a character) */
    size_t piece_len;
    int n_spans;              /* the text this token released, by segment */
    struct pd_text_span spans[PD_EVENT_MAX_SPANS];
    const struct pd_routing *routing; /* NULL for a dense model */
    int n_top;                /* the most likely tokens at this step, most likely first, with
                                 their log-probabilities at temperature 1 (pd_gen_params.n_top;
                                 0 when not asked for) */
    int32_t top_ids[PD_EVENT_MAX_TOP];
    float top_logprobs[PD_EVENT_MAX_TOP];
};

#endif
