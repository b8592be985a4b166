/*
 * sessions/runs.c: training runs and their metrics (runs.h), schema v3's training_runs and
 * training_metrics.
 */
#include "config.h"

#include "sessions/runs.h"
#include "sessions/store-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
pd_store_run_new(struct pd_store *st, const char *kind, const char *config,
                 const char *output_path, int64_t *id, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    rc = st_prepare(st, "INSERT INTO training_runs (kind, config, output_path, status, created) "
                    "VALUES (?1, ?2, ?3, 'running', ?4)", &s, err);
    if (rc == 0) {
        sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
        if (config)
            sqlite3_bind_text(s, 2, config, -1, SQLITE_STATIC);
        if (output_path)
            sqlite3_bind_text(s, 3, output_path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, st_now_ms());
        rc = st_step_done(st, s, err, "training run");
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    *id = sqlite3_last_insert_rowid(st->db);
    return st_commit(st, err);
}

int
pd_store_run_metric(struct pd_store *st, int64_t run, int64_t step, const char *const *names,
                    const double *values, int n, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    rc = st_prepare(st, "INSERT OR REPLACE INTO training_metrics (run_id, step, name, value) "
                    "VALUES (?1, ?2, ?3, ?4)", &s, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!isfinite(values[i]))
            continue;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_int64(s, 2, step);
        sqlite3_bind_text(s, 3, names[i], -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 4, values[i]);
        rc = st_step_done(st, s, err, "training metric");
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

/* A run's status, with the finish time now (finished) or none. */
static int
set_status(struct pd_store *st, int64_t run, const char *status, bool finished, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "UPDATE training_runs SET status = ?1, finished = ?2 WHERE id = ?3",
                        &s, err);
    if (rc == 0) {
        sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
        if (finished)
            sqlite3_bind_int64(s, 2, st_now_ms());
        sqlite3_bind_int64(s, 3, run);
        rc = st_step_done(st, s, err, "training run");
    }
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = pd_errorf(err, PD_ENOTFOUND, "training run %lld not found", (long long)run);
    return rc;
}

int
pd_store_run_finish(struct pd_store *st, int64_t run, const char *status, char *err)
{
    return set_status(st, run, status, true, err);
}

int
pd_store_run_resume(struct pd_store *st, int64_t run, char *err)
{
    return set_status(st, run, "running", false, err);
}

static char *
dup_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

#define RUN_COLUMNS "id, kind, status, config, output_path, created, finished"

/* The columns of RUN_COLUMNS but the two strings, which the callers keep or borrow. */
static void
run_row(sqlite3_stmt *s, struct pd_store_run *out)
{
    out->id = sqlite3_column_int64(s, 0);
    snprintf(out->kind, sizeof out->kind, "%s", st_text(s, 1));
    snprintf(out->status, sizeof out->status, "%s", st_text(s, 2));
    out->created = sqlite3_column_int64(s, 5);
    out->finished = sqlite3_column_int64(s, 6);
}

int
pd_store_run_get(struct pd_store *st, int64_t id, struct pd_store_run *out, char *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, id > 0 ? "SELECT " RUN_COLUMNS " FROM training_runs WHERE id = ?1"
                                   : "SELECT " RUN_COLUMNS " FROM training_runs "
                                     "ORDER BY id DESC LIMIT 1",
                        &s, err);
    if (rc)
        return rc;
    if (id > 0)
        sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        run_row(s, out);
        out->config = dup_col(s, 3);
        out->output_path = dup_col(s, 4);
    } else if (r == SQLITE_DONE) {
        rc = id > 0 ? pd_errorf(err, PD_ENOTFOUND, "training run %lld not found", (long long)id)
                    : pd_errorf(err, PD_ENOTFOUND, "no training runs yet");
    } else {
        rc = st_sqlite_err(st, r, err, "training run");
    }
    sqlite3_finalize(s);
    return rc;
}

void
pd_store_run_release(struct pd_store_run *r)
{
    if (r == NULL)
        return;
    free(r->config);
    free(r->output_path);
    r->config = r->output_path = NULL;
}

int
pd_store_runs_list(struct pd_store *st, int limit, pd_store_run_fn fn, void *ud, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT " RUN_COLUMNS ", (SELECT MAX(step) FROM training_metrics m "
                        "WHERE m.run_id = r.id) FROM training_runs r ORDER BY id DESC LIMIT ?1",
                        &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int(s, 1, limit > 0 ? limit : -1);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_store_run run = { 0 };
        run_row(s, &run);
        run.config = (char *)sqlite3_column_text(s, 3);
        run.output_path = (char *)sqlite3_column_text(s, 4);
        if (fn(ud, &run, sqlite3_column_int64(s, 7)))
            break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = st_sqlite_err(st, r, err, "training runs");
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_run_metrics(struct pd_store *st, int64_t run, pd_store_metric_fn fn, void *ud,
                     char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT step, name, value FROM training_metrics WHERE run_id = ?1 "
                        "ORDER BY step, name", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, run);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, sqlite3_column_int64(s, 0), st_text(s, 1), sqlite3_column_double(s, 2)))
            break;
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = st_sqlite_err(st, r, err, "training metrics");
    sqlite3_finalize(s);
    return rc;
}
