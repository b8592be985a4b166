/*
 * sessions/aha.c: aha flags in the store: replacing a detector's flags of a turn, running a
 * detector over a stored turn, listing flags with the user's verdicts, deleting, judging.
 *
 * A verdict is found by its span: the newest 'aha:confirmed' or 'aha:rejected' label of the turn
 * whose span_from and span_to are the flag's tok_from and tok_to (sessions/aha.h says why).
 */
#include "config.h"

#include "sessions/aha.h"
#include "sessions/store-impl.h"

#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[] = { "unjudged", "confirmed", "rejected" };
static const char *const verdict_values[] = { NULL, "aha:confirmed", "aha:rejected" };

const char *
pd_aha_verdict_name(enum pd_aha_verdict v)
{
    return (unsigned)v < PD_ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

/* PD_ENOTFOUND unless the turn exists. */
static int
turn_exists(struct pd_store *st, int64_t turn, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT 1 FROM turns WHERE id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = pd_errorf(err, PD_ENOTFOUND, "no turn %lld", (long long)turn);
    else if (step != SQLITE_ROW)
        rc = st_sqlite_err(st, step, err, "looking up a turn");
    sqlite3_finalize(s);
    return rc;
}

/* DELETE the turn's flags of detector (all when NULL); inside the caller's transaction. */
static int
delete_flags(struct pd_store *st, int64_t turn, const char *detector, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "DELETE FROM aha_events WHERE turn_id = ?1 AND "
                            "(?2 IS NULL OR detector = ?2)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    if (detector)
        sqlite3_bind_text(s, 2, detector, -1, SQLITE_STATIC);
    rc = st_step_done(st, s, err, "deleting aha flags");
    sqlite3_finalize(s);
    return rc;
}

static int
insert_flags(struct pd_store *st, int64_t turn, const struct pd_aha_detector *det,
             const struct pd_aha_flag *flags, size_t n, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "INSERT INTO aha_events (turn_id, tok_from, tok_to, score, signals, "
                            "detector, detector_version, created) VALUES (?,?,?,?,?,?,?,?)",
                        &s, err);
    if (rc)
        return rc;
    char signals[PD_AHA_SIGNALS_MAX];
    int64_t now = st_now_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct pd_aha_flag *f = &flags[i];
        if (f->tok_from < 0 || f->tok_to < f->tok_from) {
            rc = pd_errorf(err, PD_EINVAL, "aha flag %zu: tokens %d..%d", i, f->tok_from,
                           f->tok_to);
            break;
        }
        int len = pd_aha_flag_signals(f, signals, sizeof signals);
        PD_ASSERT(len >= 0);    /* PD_AHA_SIGNALS_MAX is sized to fit any flag */
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, turn);
        sqlite3_bind_int(s, 2, f->tok_from);
        sqlite3_bind_int(s, 3, f->tok_to);
        sqlite3_bind_double(s, 4, f->score);
        sqlite3_bind_text(s, 5, signals, len, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, det->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, det->version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, now);
        rc = st_step_done(st, s, err, "storing an aha flag");
    }
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_aha_replace(struct pd_store *st, int64_t turn, const struct pd_aha_detector *det,
                     const struct pd_aha_flag *flags, size_t n, char *err)
{
    if (det == NULL || det->name == NULL || det->version == NULL)
        return pd_errorf(err, PD_EINVAL, "aha flags need a detector name and version");
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = turn_exists(st, turn, err)) == 0 &&
        (rc = delete_flags(st, turn, det->name, err)) == 0)
        rc = insert_flags(st, turn, det, flags, n, err);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

int
pd_store_aha_detect(struct pd_store *st, int64_t turn, struct pd_aha *a, size_t *n_flags,
                    char *err)
{
    struct pd_token_list l = { 0 };
    struct pd_aha_token *toks = NULL;
    struct pd_text_span *spans = NULL;
    int rc = turn_exists(st, turn, err);
    if (rc == 0)
        rc = pd_store_turn_tokens(st, turn, &l, err);
    if (rc)
        return rc;
    if (l.n && (!(toks = malloc(l.n * sizeof *toks)) || !(spans = malloc(l.n * sizeof *spans)))) {
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for %zu tokens", l.n);
        goto out;
    }
    /* A stored token's text is its own bytes, in its own segment. */
    for (size_t i = 0; i < l.n; i++) {
        const struct pd_token_row *r = &l.rows[i];
        spans[i] = (struct pd_text_span){ (enum pd_segment)r->segment, r->bytes, r->len };
        toks[i] = (struct pd_aha_token){ .index = r->pos, .segment = (enum pd_segment)r->segment,
                                         .entropy = r->entropy, .logprob = r->logprob,
                                         .n_spans = 1, .spans = &spans[i] };
    }
    if ((rc = pd_aha_run(a, toks, l.n)) != 0) {
        rc = pd_errorf(err, rc, "aha detector '%s' over turn %lld: %s",
                       pd_aha_detector_of(a)->name, (long long)turn, pd_strerror(rc));
        goto out;
    }
    size_t n = 0;
    const struct pd_aha_flag *flags = pd_aha_flags(a, &n);
    if ((rc = pd_store_aha_replace(st, turn, pd_aha_detector_of(a), flags, n, err)) == 0 &&
        n_flags)
        *n_flags = n;
out:
    free(spans);
    free(toks);
    pd_token_list_free(&l);
    return rc;
}

int
pd_store_aha_list(struct pd_store *st, int64_t turn, const char *detector, pd_aha_row_fn fn,
                  void *user, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st,
        "SELECT a.id, a.turn_id, a.tok_from, a.tok_to, a.score, a.signals, a.detector, "
        "  a.detector_version, a.created, v.id, v.value "
        "FROM aha_events a LEFT JOIN annotations v ON v.id = ("
        "  SELECT n.id FROM annotations n WHERE n.turn_id = a.turn_id AND n.kind = 'label' "
        "  AND n.value IN ('aha:confirmed', 'aha:rejected') AND n.span_from = a.tok_from "
        "  AND n.span_to = a.tok_to ORDER BY n.id DESC LIMIT 1) "
        "WHERE a.turn_id = ?1 AND (?2 IS NULL OR a.detector = ?2) ORDER BY a.tok_from, a.id",
        &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    if (detector)
        sqlite3_bind_text(s, 2, detector, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct pd_aha_row r = {
            .id = sqlite3_column_int64(s, 0), .turn = sqlite3_column_int64(s, 1),
            .signals = st_text(s, 5), .detector = st_text(s, 6), .version = st_text(s, 7),
            .created = sqlite3_column_int64(s, 8), .verdict_id = sqlite3_column_int64(s, 9),
        };
        const char *v = st_text(s, 10);
        r.verdict = strcmp(v, "aha:confirmed") == 0 ? PD_AHA_CONFIRMED
                  : strcmp(v, "aha:rejected") == 0 ? PD_AHA_REJECTED : PD_AHA_UNJUDGED;
        /* Another detector's signals may be another shape: the raw text is still there. */
        pd_aha_flag_from_signals(&r.flag, sqlite3_column_type(s, 5) == SQLITE_NULL ? NULL
                                                                                   : r.signals,
                                 NULL);
        r.flag.tok_from = sqlite3_column_int(s, 2);
        r.flag.tok_to = sqlite3_column_int(s, 3);
        r.flag.score = (float)sqlite3_column_double(s, 4);
        if ((rc = fn(user, &r)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sqlite_err(st, step, err, "listing aha flags");
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_aha_delete(struct pd_store *st, int64_t turn, const char *detector, int *n_deleted,
                    char *err)
{
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = delete_flags(st, turn, detector, err)) != 0) {
        st_rollback(st);
        return rc;
    }
    int n = sqlite3_changes(st->db);
    if ((rc = st_commit(st, err)) == 0 && n_deleted)
        *n_deleted = n;
    return rc;
}

/* The flag's turn and span, inside the caller's transaction. */
static int
flag_span(struct pd_store *st, int64_t aha_id, int64_t *turn, int *from, int *to, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT turn_id, tok_from, tok_to FROM aha_events WHERE id = ?", &s,
                        err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, aha_id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *turn = sqlite3_column_int64(s, 0);
        *from = sqlite3_column_int(s, 1);
        *to = sqlite3_column_int(s, 2);
    } else if (step == SQLITE_DONE) {
        rc = pd_errorf(err, PD_ENOTFOUND, "no aha flag %lld", (long long)aha_id);
    } else {
        rc = st_sqlite_err(st, step, err, "looking up an aha flag");
    }
    sqlite3_finalize(s);
    return rc;
}

/* Replace the span's verdict with value (none when NULL); *id gets the new annotation's id. */
static int
set_verdict(struct pd_store *st, int64_t turn, int from, int to, const char *value, int64_t *id,
            char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "DELETE FROM annotations WHERE turn_id = ? AND kind = 'label' AND "
                            "value IN ('aha:confirmed', 'aha:rejected') AND span_from = ? AND "
                            "span_to = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    sqlite3_bind_int(s, 2, from);
    sqlite3_bind_int(s, 3, to);
    rc = st_step_done(st, s, err, "clearing an aha verdict");
    sqlite3_finalize(s);
    *id = 0;
    if (rc || value == NULL)
        return rc;
    if ((rc = st_prepare(st, "INSERT INTO annotations (turn_id, kind, value, span_from, span_to, "
                             "created) VALUES (?, 'label', ?, ?, ?, ?)", &s, err)) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, from);
    sqlite3_bind_int(s, 4, to);
    sqlite3_bind_int64(s, 5, st_now_ms());
    if ((rc = st_step_done(st, s, err, "storing an aha verdict")) == 0)
        *id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_aha_judge(struct pd_store *st, int64_t aha_id, enum pd_aha_verdict v,
                   int64_t *annotation_id, char *err)
{
    if ((unsigned)v >= PD_ARRAY_SIZE(verdict_values))
        return pd_errorf(err, PD_EINVAL, "aha verdict %d", (int)v);
    int64_t turn = 0, id = 0;
    int from = 0, to = 0;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = flag_span(st, aha_id, &turn, &from, &to, err)) == 0)
        rc = set_verdict(st, turn, from, to, verdict_values[v], &id, err);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    if ((rc = st_commit(st, err)) == 0 && annotation_id)
        *annotation_id = id;
    return rc;
}
