/*
 * generate.h: the generation loop. Prompt in, one pd_token_event per generated token out.
 *
 * pd_generate evaluates the prompt tokens (in batches), then samples and evaluates one token at a
 * time until an end-of-generation token, a stop string, n_predict tokens, a full context, the
 * callback asking to stop, or a cancel request from another thread. The stop reason and timings
 * are reported in pd_gen_result. Nothing is allocated per token.
 */
#ifndef PD_GENERATE_H
#define PD_GENERATE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "engine/event.h"
#include "engine/model.h"
#include "engine/sampler.h"

enum pd_stop_reason {
    PD_STOP_EOG = 0,      /* the model ended its turn */
    PD_STOP_LENGTH,       /* n_predict reached */
    PD_STOP_STRING,       /* a stop string appeared */
    PD_STOP_CANCELED,     /* cancel flag or callback */
    PD_STOP_CONTEXT,      /* the context is full */
};

const char *pd_stop_reason_name(enum pd_stop_reason r);

struct pd_gen_params {
    int32_t n_predict;          /* < 0: until the context is full */
    const char *const *stop;    /* stop strings (NULL-terminated list) or NULL */
    bool opened_think;          /* the prompt opened <think> (chat-template.h) */
    atomic_bool *cancel;        /* set from any thread to stop at the next token; may be NULL */
    int n_top;                  /* alternatives each event carries (0..PD_EVENT_MAX_TOP) */
};

struct pd_gen_result {
    int32_t n_prompt;
    int32_t n_generated;
    double t_prompt;            /* seconds evaluating the prompt */
    double t_generate;          /* seconds from the end of the prompt to the end */
    double t_first_token;       /* seconds from start to the first event */
    enum pd_stop_reason stop;
};

/* Return non-zero to stop generating. */
typedef int (*pd_event_fn)(void *user, const struct pd_token_event *ev);

/* Generate after prompt[0..n_prompt) (appended to what ctx already holds). The sampler is fed
 * the prompt for its repetition history. Returns 0, or a negative PD_E* with err filled (a prompt
 * that does not fit is PD_ERANGE, and nothing is evaluated). */
int pd_generate(struct pd_context *ctx, struct pd_sampler *smp, const int32_t *prompt,
                int32_t n_prompt, const struct pd_gen_params *p, pd_event_fn fn, void *user,
                struct pd_gen_result *res, char *err);

#endif
