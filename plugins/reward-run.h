/*
 * reward-run.h: scoring completions with reward plugins, safely, and combining the scores.
 *
 * A reward plugin is code we did not write, run once per completion. pd_reward_run scores a
 * batch (every completion with every reward function) in a worker process forked for the
 * batch, behind walls:
 *   - a time limit per score (limits.timeout_s): past it the worker is killed (SIGKILL);
 *   - an address-space limit (RLIMIT_AS: what the worker already maps, the parent's model
 *     included, plus limits.mem_mb), a CPU-time limit (RLIMIT_CPU) as a backstop, no core
 *     files, and death with the parent (PR_SET_PDEATHSIG on Linux);
 *   - stdin, stdout and stderr on /dev/null (a plugin that prints cannot scribble on the
 *     terminal or on `ponder plugin score`'s output); SIGINT ignored (Ctrl-C is the parent's).
 * The worker sends one fixed-size record per score over a pipe. When it crashes, hangs or exits
 * early, the score it was computing is None with the reason ("signal 11 (Segmentation fault)",
 * "timed out after 2 s", "worker exited with status 3"), and a fresh worker goes on with the
 * next one: one bad completion costs one score, never the batch or the run.
 *
 * The worker is forked, not exec'd: it shares the parent's loaded plugins and inputs for free.
 * The parent may have threads; the child only calls the plugin, write() and _exit() (glibc makes
 * malloc usable in a forked child). Run one batch at a time per process: a worker forked by
 * another thread's batch would inherit this batch's pipe and hold its end-of-file back.
 *
 * Combining (grpo.md 3): each term is (plugin, weight, config, optional). Per completion:
 *     total = sum over scored terms of weight * score
 * and the total is None when any required (non-optional) term is None or failed, or when every
 * term is; an optional term's None adds nothing (as TRL's nansum). A None total leaves the
 * completion out of its group.
 */
#ifndef PD_REWARD_RUN_H
#define PD_REWARD_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"
#include "plugins/loader.h"

struct pd_reward_term {
    const struct pd_plugin *plugin;   /* a reward plugin (pd_plugin_open, PD_PLUGIN_WANT_REWARD) */
    double weight;
    const char *config;               /* its settings, a JSON object; NULL: "{}" */
    bool optional;                    /* its None does not make the total None */
};

/* One completion and what its task knows. NULL strings read as "" ("{}" for extra). */
struct pd_reward_item {
    const char *completion;
    size_t completion_len;            /* 0: strlen(completion) */
    const char *prompt;
    const char *gold;
    const char *extra;                /* the task's metadata, a JSON object */
    bool opened_think;                /* the template opened <think> before the completion */
    int32_t completion_tokens;        /* -1 unknown (the length reward then counts characters) */
};

/* Zero fields take the defaults. */
struct pd_reward_limits {
    double timeout_s;    /* per score (2 s) */
    long mem_mb;         /* address space the worker may add to what it inherits (1024 MiB) */
    bool in_process;     /* no worker: call the plugins directly (debugging only: no walls) */
    bool keep_stderr;    /* leave the worker's stderr on the parent's (plugin debugging) */
};

enum pd_reward_state {
    PD_REWARD_SCORED = 0,   /* value holds the score */
    PD_REWARD_NONE = 1,     /* the plugin said None (why: its message) */
    PD_REWARD_FAILED = 2,   /* an error, a crash or a hang: None too (why: what happened) */
};

struct pd_reward_score {
    enum pd_reward_state state;
    double value;                   /* 0 unless scored */
    char why[PONDER_MSG_MAX];       /* the plugin's message, or what went wrong ("" none) */
};

struct pd_reward_total {
    bool none;          /* left out of its group */
    double value;       /* the weighted sum (0 when none) */
    int n_none;         /* terms that were None or failed */
};

/*
 * Score n_items completions with n_terms rewards. scores is [n_items][n_terms] (item-major),
 * totals [n_items]; both the caller's. Returns 0 whatever the plugins did (their failures are
 * in scores), or a negative PD_E* when the batch could not run at all (bad arguments, no pipe,
 * no fork): then nothing in scores is meaningful.
 */
int pd_reward_run(const struct pd_reward_term *terms, size_t n_terms,
                  const struct pd_reward_item *items, size_t n_items,
                  const struct pd_reward_limits *limits, struct pd_reward_score *scores,
                  struct pd_reward_total *totals, char *err);

/* The combining rule above, on one item's scores (n_terms of them). */
struct pd_reward_total pd_reward_combine(const struct pd_reward_term *terms, size_t n_terms,
                                         const struct pd_reward_score *scores);

#endif
