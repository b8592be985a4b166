/*
 * sessions/grpo-set.h: annotated turns of the session store as GRPO examples: a question and
 * its gold answer (ponder train grpo --from-sessions).
 *
 * Which assistant turns are looked at: those whose thoughts or answer hold every word of the
 * query, as `ponder sessions search` matches them; an empty query or "*" takes every assistant
 * turn. Each is then
 *   used     when it has a gold annotation (the latest one; that is the gold), or when it is
 *            rated good (the TUI's good, or a rating of 6..10) and its answer marks one
 *            (extract: <answer> or the last \boxed{}, as the accuracy reward reads it);
 *   skipped  when rated bad (or 0..4) without a gold; when rated good but nothing in its
 *            answer is marked; when not annotated with either; when no user turn precedes it.
 * The question is the text of the user turn just before it (the chat template is the
 * caller's). Examples come oldest turn first, so the same store gives the same list.
 *
 * Every function returns 0 or a negative PD_E* code and fills err (PD_ERR_MAX bytes).
 */
#ifndef PD_SESSIONS_GRPO_SET_H
#define PD_SESSIONS_GRPO_SET_H

#include <stddef.h>
#include <stdint.h>

#include "sessions/store.h"

enum pd_grpo_gold_from {
    PD_GRPO_GOLD_ANNOTATED = 0,   /* a gold annotation */
    PD_GRPO_GOLD_RATED_GOOD,      /* the answer of a turn rated good */
};

struct pd_grpo_example {
    int64_t session, turn;
    char *question;               /* the user's message */
    char *gold;
    enum pd_grpo_gold_from from;
};

/* Why a turn was left out. */
enum pd_grpo_skip {
    PD_GRPO_SKIP_BAD = 0,         /* rated bad, no gold */
    PD_GRPO_SKIP_NO_ANSWER,       /* rated good, but no <answer> or \boxed{} in its answer */
    PD_GRPO_SKIP_UNANNOTATED,     /* neither a gold nor a good or bad rating */
    PD_GRPO_SKIP_NO_QUESTION,     /* no user turn before it */
    PD_GRPO_SKIP_COUNT
};

struct pd_grpo_set {
    struct pd_grpo_example *ex;   /* [n] */
    size_t n;
    int n_matched;                /* assistant turns the query selected */
    int n_from[2];                /* used, by enum pd_grpo_gold_from */
    int n_skip[PD_GRPO_SKIP_COUNT];
};

/* The answer marked in text[0..n): 0 with *ans, *len set, or non-zero when none is. */
typedef int (*pd_answer_extract_fn)(const char *text, size_t n, const char **ans, size_t *len);

/* Fill *out (the caller's, to pd_grpo_set_release; zeroed first) from the store. A query with
 * nothing to match and no examples are not errors: the counts tell. */
int pd_grpo_set_load(struct pd_store *st, const char *query, pd_answer_extract_fn extract,
                     struct pd_grpo_set *out, char *err);
void pd_grpo_set_release(struct pd_grpo_set *s);

/* "rated bad", "rated good, nothing marked in its answer", ... */
const char *pd_grpo_skip_name(enum pd_grpo_skip why);

#endif
