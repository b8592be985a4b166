/*
 * query.c: reading the store: sessions newest first, a session's turns, and full-text search
 * over the think and answer text with each hit marked by the segment it is in.
 */
#include "config.h"

#include "sessions/store-impl.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_COLUMNS                                                                      \
    "SELECT s.id, s.title, coalesce(m.name, m.path, ''), s.created, s.updated, "             \
    "(SELECT count(*) FROM turns t WHERE t.session_id = s.id), "                             \
    "(SELECT coalesce(sum(coalesce(n_think, 0) + coalesce(n_answer, 0) + coalesce(n_tag, 0)), " \
    "0) FROM turns t WHERE t.session_id = s.id) "                                            \
    "FROM sessions s LEFT JOIN models m ON m.id = s.model_id "

/* Step a session query, calling fn per row. */
static int
each_session(struct pd_store *st, sqlite3_stmt *s, pd_session_fn fn, void *user, int *n,
             char *err)
{
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_session_row r = {
            .id = sqlite3_column_int64(s, 0), .title = st_text(s, 1), .model = st_text(s, 2),
            .created = sqlite3_column_int64(s, 3), .updated = sqlite3_column_int64(s, 4),
            .n_turns = sqlite3_column_int(s, 5), .n_tokens = sqlite3_column_int64(s, 6),
        };
        (*n)++;
        if (fn(user, &r))
            return PD_ECANCELED;
    }
    return rc == SQLITE_DONE ? PD_OK : st_sqlite_err(st, rc, err, "listing sessions");
}

int
pd_store_sessions_list(struct pd_store *st, int limit, const char *model_substr,
                       pd_session_fn fn, void *user, char *err)
{
    sqlite3_stmt *s = NULL;
    int n, rc = st_prepare(st, SESSION_COLUMNS
                           "WHERE ?1 IS NULL OR instr(coalesce(m.name, ''), ?1) > 0 "
                           "OR instr(coalesce(m.path, ''), ?1) > 0 "
                           "ORDER BY s.updated DESC, s.id DESC LIMIT ?2", &s, err);
    if (rc)
        return rc;
    if (model_substr)
        sqlite3_bind_text(s, 1, model_substr, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    rc = each_session(st, s, fn, user, &n, err);
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_session_get(struct pd_store *st, int64_t id, pd_session_fn fn, void *user, char *err)
{
    sqlite3_stmt *s = NULL;
    int n, rc = st_prepare(st, SESSION_COLUMNS "WHERE s.id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = each_session(st, s, fn, user, &n, err);
    sqlite3_finalize(s);
    if (rc == 0 && n == 0)
        return pd_errorf(err, PD_ENOTFOUND, "no session %lld", (long long)id);
    return rc;
}

int
pd_store_turns_each(struct pd_store *st, int64_t session, pd_turn_fn fn, void *user, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT id, session_id, seq, role, text, think_text, answer_text, "
                            "sampler, stop, n_think, n_answer, "
                            "(SELECT count(*) FROM tokens k WHERE k.turn_id = t.id), "
                            "ttft, think_s, total_s FROM turns t WHERE session_id = ? "
                            "ORDER BY seq", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, session);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_turn_row r = {
            .id = sqlite3_column_int64(s, 0), .session = sqlite3_column_int64(s, 1),
            .seq = sqlite3_column_int(s, 2), .role = st_text(s, 3), .text = st_text(s, 4),
            .think = st_text(s, 5), .answer = st_text(s, 6), .sampler = st_text(s, 7),
            .stop = st_text(s, 8), .n_think = sqlite3_column_int(s, 9),
            .n_answer = sqlite3_column_int(s, 10), .n_tokens = sqlite3_column_int(s, 11),
            .ttft = sqlite3_column_double(s, 12), .think_s = sqlite3_column_double(s, 13),
            .total_s = sqlite3_column_double(s, 14),
        };
        if (fn(user, &r)) {
            sqlite3_finalize(s);
            return PD_ECANCELED;
        }
    }
    int status = rc == SQLITE_DONE ? PD_OK : st_sqlite_err(st, rc, err, "reading turns");
    sqlite3_finalize(s);
    return status;
}

char *
st_fts_query(const char *col, const char *q)
{
    size_t n = strlen(q), cap = 4 * n + strlen(col) + 16;
    char *out = malloc(cap), *p = out;
    if (out == NULL)
        return NULL;
    p += sprintf(p, "{%s} : (", col);
    int words = 0;
    for (const char *c = q; *c;) {
        while (*c == ' ' || *c == '\t' || *c == '\n')
            c++;
        if (*c == '\0')
            break;
        if (words++)
            *p++ = ' ';
        *p++ = '"';
        for (; *c && *c != ' ' && *c != '\t' && *c != '\n'; c++) {
            if (*c == '"')
                *p++ = '"';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = ')';
    *p = '\0';
    if (words == 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Search one column. */
static int
search_column(struct pd_store *st, const char *query, bool think, int limit, pd_search_fn fn,
              void *user, int *n, char *err)
{
    char *q = st_fts_query(think ? "think" : "answer", query);
    if (q == NULL)
        return pd_errorf(err, PD_EINVAL, "nothing to search for");
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT t.session_id, f.rowid, s.title, "
                            "snippet(turns_fts, ?2, '[', ']', '…', 10) "
                            "FROM turns_fts f JOIN turns t ON t.id = f.rowid "
                            "JOIN sessions s ON s.id = t.session_id "
                            "WHERE turns_fts MATCH ?1 ORDER BY rank LIMIT ?3", &s, err);
    if (rc == 0) {
        sqlite3_bind_text(s, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, think ? 0 : 1);
        sqlite3_bind_int(s, 3, limit > 0 ? limit : -1);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            struct pd_search_hit h = { .session = sqlite3_column_int64(s, 0),
                                       .turn = sqlite3_column_int64(s, 1), .in_think = think,
                                       .title = st_text(s, 2), .snippet = st_text(s, 3) };
            (*n)++;
            if (fn(user, &h))
                break;
        }
        rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? PD_OK
                                                   : st_sqlite_err(st, rc, err, "searching");
    }
    sqlite3_finalize(s);
    free(q);
    return rc;
}

int
pd_store_search(struct pd_store *st, const char *query, int limit, pd_search_fn fn, void *user,
                char *err)
{
    int n = 0;
    int rc = search_column(st, query, true, limit, fn, user, &n, err);
    if (rc == 0)
        rc = search_column(st, query, false, limit, fn, user, &n, err);
    return rc;
}
