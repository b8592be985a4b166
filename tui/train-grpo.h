/*
 * train-grpo.h: what the files of `ponder train grpo` share: its options (cmd-train-grpo.c
 * parses them and runs the loop), where the prompts come from and how the completions are
 * scored (train-grpo-src.c), and the run's config as the store records it and `ponder train
 * resume` reads it back (train-grpo-config.c, cmd-train-resume.c).
 */
#ifndef PD_TUI_TRAIN_GRPO_H
#define PD_TUI_TRAIN_GRPO_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/chat-template.h"
#include "engine/train/grpo-run.h"
#include "engine/train/task.h"
#include "plugins/reward-run.h"
#include "sessions/store.h"

struct grpo_cli {
    struct pd_grpo_run_opts o;
    bool changed;                 /* a run option was given (not allowed with --resume) */
    bool targets_given;           /* --lora-targets (else the architecture's default) */
    const char *model, *output, *dataset, *sessions, *ckpt, *resume, *db;
    bool have_task, merge;       /* merge: write the model with the LoRA adapter merged in */
    enum pd_task_kind task;
    long threads, ckpt_every, stop_after, log_every;
    double reward_timeout;        /* seconds a score may take (0: the runner's default) */
    const char *reward_names[PD_GRPO_MAX_FN];
    char reward_arg[PD_GRPO_MAX_FN][512]; /* the names --reward gave, which reward_names use */
    double reward_weights[PD_GRPO_MAX_FN];
    int n_rewards;
    int64_t resume_run;           /* train resume: the run the checkpoint must belong to */
    long examples;                /* train resume: the rows the run started with (0: unknown) */
};

struct grpo_row {                 /* a dataset row, or an annotated turn */
    char *prompt, *solution;
};

/* What the source callbacks share. */
struct grpo_src {
    struct grpo_cli *c;
    struct pd_task_params tp;
    struct grpo_row *rows;        /* --dataset, --from-sessions; NULL: --task */
    size_t n_rows;
    bool opened_think;            /* the template opened <think> before the completion */
    struct pd_plugin *plugins[PD_GRPO_MAX_FN];
    struct pd_reward_term terms[PD_GRPO_MAX_FN];
    int n_terms, accuracy_term;   /* the term named accuracy, or -1 */
};

/* ---- train-grpo-src.c ---- */

/* Load the reward plugins (accuracy when none is named and rows are the prompts): false after
 * a message, before anything runs. */
bool grpo_src_open_rewards(struct grpo_src *s);
/* --dataset: JSONL rows {"prompt":..., "solution":...}. */
bool grpo_src_read_dataset(struct grpo_src *s, const char *path);
/* --from-sessions: the annotated turns matching the query, as prompts through the model's chat
 * template; prints what matched, what is used and why the rest is not. */
bool grpo_src_read_sessions(struct grpo_src *s, struct pd_store *db, const char *query);
void grpo_src_release(struct grpo_src *s);
/* The pd_grpo_source callbacks. */
int grpo_src_prompt(void *ud, int64_t index, char *buf, size_t cap, char *err);
int grpo_src_score(void *ud, const int64_t *index, int P, int G, const char *const *texts,
                   const int32_t *n_tokens, double *rewards, bool *none, int8_t *correct,
                   double *per_fn, char *err);

/* ---- train-grpo-config.c ---- */

/* The run's config as JSON (malloc'd): the options, and what the command line adds (paths
 * made absolute, so a resume from another directory finds them). */
char *grpo_config_json(const struct grpo_cli *c, const struct grpo_src *s,
                       const struct pd_grpo_run *r, const char *ckpt);
/* The command line back from a recorded config (c's strings point into storage, the caller's
 * to free). false after a message naming what is missing. */
bool grpo_config_read(struct grpo_cli *c, const char *json, char **storage, int64_t run);

/* A path made absolute against the working directory, into buf. */
const char *grpo_abs_path(const char *path, char *buf, size_t cap);

/* ---- cmd-train-grpo.c ---- */

/* Everything after the command line: load the source and rewards, open the store, run. */
int grpo_main(struct grpo_cli *c);

#endif
