/*
 * sessions/runs.h: training runs in the session store: one training_runs row per run (its kind,
 * its configuration as JSON, where it writes, running/done/failed/stopped) and its metrics as
 * training_metrics rows (run, step, name, value), written a step at a time in one transaction.
 *
 * Every function returns 0 or a negative PD_E* code and fills err (PD_ERR_MAX bytes).
 */
#ifndef PD_SESSIONS_RUNS_H
#define PD_SESSIONS_RUNS_H

#include <stdint.h>

#include "sessions/store.h"

/* A new row, status 'running'. kind: "grpo", "sft", ...; config: a JSON object or NULL. */
int pd_store_run_new(struct pd_store *st, const char *kind, const char *config,
                     const char *output_path, int64_t *id, char *err);

/* One step's metrics, n (name, value) pairs, in one transaction; a value that is not finite
 * is left out (the column is NOT NULL). A step written again replaces its values. */
int pd_store_run_metric(struct pd_store *st, int64_t run, int64_t step,
                        const char *const *names, const double *values, int n, char *err);

/* status: "done", "failed", "stopped"; the finish time is now. PD_ENOTFOUND when absent. */
int pd_store_run_finish(struct pd_store *st, int64_t run, const char *status, char *err);

/* A run continued from a checkpoint: 'running' again, no finish time. PD_ENOTFOUND when
 * absent. */
int pd_store_run_resume(struct pd_store *st, int64_t run, char *err);

struct pd_store_run {
    int64_t id;
    char kind[32];
    char status[16];
    char *config;            /* malloc'd (caller frees; NULL when none) */
    char *output_path;       /* likewise */
    int64_t created, finished;   /* unix ms; finished 0 while running */
};

/* Run id, or the latest when id <= 0. PD_ENOTFOUND when absent. */
int pd_store_run_get(struct pd_store *st, int64_t id, struct pd_store_run *out, char *err);
void pd_store_run_release(struct pd_store_run *r);

/* Runs newest first, at most limit (<= 0: all), each with the last step it has metrics for
 * (0: none yet); the row's strings live until fn returns. fn returns non-zero to stop. */
typedef int (*pd_store_run_fn)(void *ud, const struct pd_store_run *r, int64_t last_step);
int pd_store_runs_list(struct pd_store *st, int limit, pd_store_run_fn fn, void *ud, char *err);

/* Every metric of a run, ordered by step then name; fn returns non-zero to stop. */
typedef int (*pd_store_metric_fn)(void *ud, int64_t step, const char *name, double value);
int pd_store_run_metrics(struct pd_store *st, int64_t run, pd_store_metric_fn fn, void *ud,
                         char *err);

#endif
