/*
 * chat-support.c: what `ponder chat` needs of the store beyond the turn writer: renaming a
 * session, and forking one into a new session that starts as a copy of it.
 *
 * A fork copies the turns in order with their tokens (annotations and aha events stay with the
 * original) and records where it came from in forked_from_session / forked_from_token. Cut at a
 * token, the last assistant turn keeps only its first tokens, and its text, think and answer text
 * and counts are rebuilt from those tokens' bytes. The whole fork is one transaction.
 */
#include "config.h"

#include "sessions/store-impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int
pd_store_session_set_title(struct pd_store *st, int64_t id, const char *title, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, "UPDATE sessions SET title = ?, updated = ? WHERE id = ?", &s,
                         err)) == 0) {
        sqlite3_bind_text(s, 1, title ? title : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, st_now_ms());
        sqlite3_bind_int64(s, 3, id);
        rc = st_step_done(st, s, err, "renaming the session");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = pd_errorf(err, PD_ENOTFOUND, "no session %lld", (long long)id);
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

/* One int64 from a query with int64 parameters; PD_ENOTFOUND when it returns no row. */
static int
query_int(struct pd_store *st, const char *sql, const int64_t *args, int n_args, int64_t *out,
          char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, sql, &s, err);
    if (rc)
        return rc;
    for (int i = 0; i < n_args; i++)
        sqlite3_bind_int64(s, i + 1, args[i]);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (step == SQLITE_DONE)
        rc = PD_ENOTFOUND;
    else
        rc = st_sqlite_err(st, step, err, "reading the session");
    sqlite3_finalize(s);
    return rc;
}

/* Copy turn old_id into session new_session with its tokens before pos limit. */
static int
copy_turn(struct pd_store *st, int64_t old_id, int64_t new_session, int limit, int64_t *new_id,
          char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "INSERT INTO turns (session_id, seq, role, text, think_text, "
                            "answer_text, sampler, n_think, n_answer, n_tag, ttft, think_s, "
                            "total_s, stop, created) SELECT ?1, seq, role, text, think_text, "
                            "answer_text, sampler, n_think, n_answer, n_tag, ttft, think_s, "
                            "total_s, stop, created FROM turns WHERE id = ?2", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, new_session);
    sqlite3_bind_int64(s, 2, old_id);
    rc = st_step_done(st, s, err, "copying a turn");
    sqlite3_finalize(s);
    if (rc)
        return rc;
    *new_id = sqlite3_last_insert_rowid(st->db);
    if ((rc = st_prepare(st, "INSERT INTO tokens (turn_id, pos, token, bytes, segment, logprob, "
                             "entropy, t, routing) SELECT ?1, pos, token, bytes, segment, "
                             "logprob, entropy, t, routing FROM tokens WHERE turn_id = ?2 AND "
                             "pos < ?3", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, *new_id);
    sqlite3_bind_int64(s, 2, old_id);
    sqlite3_bind_int(s, 3, limit);
    rc = st_step_done(st, s, err, "copying tokens");
    sqlite3_finalize(s);
    return rc;
}

/* Rebuild a cut turn's text, segments, counts and timings from the tokens it kept. */
static int
rebuild_turn(struct pd_store *st, int64_t turn, char *err)
{
    struct st_buf text = { 0 }, think = { 0 }, answer = { 0 };
    int n_seg[3] = { 0, 0, 0 };
    double t_first = -1, t_last = 0, t_think = -1;
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT bytes, segment, t FROM tokens WHERE turn_id = ? ORDER BY pos",
                        &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        int seg = sqlite3_column_int(s, 1);
        double t = sqlite3_column_double(s, 2);
        if (t_first < 0)
            t_first = t;
        t_last = t;
        if ((unsigned)seg < 3)
            n_seg[seg]++;
        if (seg == PD_SEG_THINK)
            t_think = t;
        struct st_buf *sb = seg == PD_SEG_THINK ? &think : seg == PD_SEG_ANSWER ? &answer : NULL;
        if (n && (st_buf_add(&text, b, n) || (sb && st_buf_add(sb, b, n)))) {
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sqlite_err(st, step, err, "reading tokens");
    sqlite3_finalize(s);
    s = NULL;
    if (rc == 0 && (rc = st_prepare(st, "UPDATE turns SET text = ?, think_text = ?, "
                                        "answer_text = ?, n_think = ?, n_answer = ?, n_tag = ?, "
                                        "think_s = ?, total_s = ?, stop = NULL WHERE id = ?",
                                    &s, err)) == 0) {
        sqlite3_bind_text(s, 1, text.p ? text.p : "", (int)text.len, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, think.p ? think.p : "", (int)think.len, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, answer.p ? answer.p : "", (int)answer.len, SQLITE_STATIC);
        for (int i = 0; i < 3; i++)
            sqlite3_bind_int(s, 4 + i, n_seg[i]);
        sqlite3_bind_double(s, 7, t_think >= 0 ? t_think - t_first : 0.0);
        sqlite3_bind_double(s, 8, t_last);
        sqlite3_bind_int64(s, 9, turn);
        rc = st_step_done(st, s, err, "cutting the turn");
    }
    sqlite3_finalize(s);
    st_buf_free(&text);
    st_buf_free(&think);
    st_buf_free(&answer);
    return rc;
}

/* The fork's body, inside the transaction. */
static int
fork_in_tx(struct pd_store *st, int64_t session, int at_token, int64_t *new_id, char *err)
{
    int64_t model_id = 0, last_asst = 0, n_tok = 0, now = st_now_ms();
    int rc = query_int(st, "SELECT coalesce(model_id, 0) FROM sessions WHERE id = ?", &session,
                       1, &model_id, err);
    if (rc == PD_ENOTFOUND)
        return pd_errorf(err, rc, "no session %lld", (long long)session);
    if (rc)
        return rc;
    rc = query_int(st, "SELECT id FROM turns WHERE session_id = ? AND role = 'assistant' "
                       "ORDER BY seq DESC LIMIT 1", &session, 1, &last_asst, err);
    if (rc && rc != PD_ENOTFOUND)
        return rc;
    if (at_token >= 0) {
        if (rc == PD_ENOTFOUND)
            return pd_errorf(err, PD_EINVAL, "session %lld has no reply to cut",
                             (long long)session);
        if ((rc = query_int(st, "SELECT count(*) FROM tokens WHERE turn_id = ?", &last_asst, 1,
                            &n_tok, err)))
            return rc;
        if (at_token > n_tok)
            return pd_errorf(err, PD_EINVAL, "the last reply has %lld tokens; cannot cut at %d",
                             (long long)n_tok, at_token);
    }
    sqlite3_stmt *s = NULL;
    if ((rc = st_prepare(st, "INSERT INTO sessions (title, model_id, created, updated, "
                             "forked_from_session, forked_from_token) SELECT title || ' (fork)', "
                             "?2, ?3, ?3, id, ?4 FROM sessions WHERE id = ?1", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, session);
    if (model_id > 0)
        sqlite3_bind_int64(s, 2, model_id);
    sqlite3_bind_int64(s, 3, now);
    if (at_token >= 0)
        sqlite3_bind_int(s, 4, at_token);
    rc = st_step_done(st, s, err, "creating the fork");
    sqlite3_finalize(s);
    if (rc)
        return rc;
    *new_id = sqlite3_last_insert_rowid(st->db);

    /* The turns, in order; cut at the last assistant turn when at_token is given. */
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    if ((rc = st_prepare(st, "SELECT id FROM turns WHERE session_id = ? ORDER BY seq", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, session);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *p = realloc(ids, cap * sizeof *ids);
            if (p == NULL) {
                rc = pd_errorf(err, PD_ENOMEM, "out of memory");
                break;
            }
            ids = p;
        }
        ids[n++] = sqlite3_column_int64(s, 0);
        if (at_token >= 0 && ids[n - 1] == last_asst)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = st_sqlite_err(st, step, err, "reading turns");
    sqlite3_finalize(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool cut = at_token >= 0 && ids[i] == last_asst;
        int64_t copy = 0;
        rc = copy_turn(st, ids[i], *new_id, cut ? at_token : INT_MAX, &copy, err);
        if (rc == 0 && cut)
            rc = rebuild_turn(st, copy, err);
    }
    free(ids);
    return rc;
}

int
pd_store_session_fork(struct pd_store *st, int64_t session, int at_token, int64_t *new_id,
                      char *err)
{
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = fork_in_tx(st, session, at_token, new_id, err)) != 0) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}
