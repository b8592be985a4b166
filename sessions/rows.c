/*
 * rows.c: the small writes: a model's row (found by its fingerprint), a new session, a whole
 * turn, an annotation, and deleting a session with everything under it.
 */
#include "config.h"

#include "sessions/sha256.h"
#include "sessions/store-impl.h"

#include <string.h>

/* Bind text or NULL. */
static void
bind_text(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

int
pd_store_model_id(struct pd_store *st, const struct pd_store_model *m, int64_t *id, char *err)
{
    char hex[65];
    sqlite3_stmt *s = NULL;
    pd_sha256_hex(m->header, m->header_len, hex);
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, "SELECT id FROM models WHERE sha256 = ? AND path = ?", &s, err)))
        goto out;
    sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
    bind_text(s, 2, m->path);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        goto out;
    }
    sqlite3_finalize(s);
    if ((rc = st_prepare(st, "INSERT INTO models (path, size, sha256, arch, name, n_params, "
                             "added) VALUES (?,?,?,?,?,?,?)", &s, err)))
        goto out;
    bind_text(s, 1, m->path ? m->path : "");
    sqlite3_bind_int64(s, 2, (int64_t)m->size);
    sqlite3_bind_text(s, 3, hex, -1, SQLITE_STATIC);
    bind_text(s, 4, m->arch);
    bind_text(s, 5, m->name);
    sqlite3_bind_int64(s, 6, (int64_t)m->n_params);
    sqlite3_bind_int64(s, 7, st_now_ms());
    if ((rc = st_step_done(st, s, err, "adding the model")) == 0)
        *id = sqlite3_last_insert_rowid(st->db);
out:
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

/* Run one parameterized write in its own transaction; binds are int64 when n_int, then text. */
static int
write_one(struct pd_store *st, const char *sql, const int64_t *ints, int n_int,
          const char *const *texts, int n_text, const char *what, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, sql, &s, err)) == 0) {
        for (int i = 0; i < n_int; i++)
            sqlite3_bind_int64(s, i + 1, ints[i]);
        for (int i = 0; i < n_text; i++)
            bind_text(s, n_int + i + 1, texts[i]);
        rc = st_step_done(st, s, err, what);
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

int
pd_store_session_new(struct pd_store *st, int64_t model_id, const char *title, int64_t *id,
                     char *err)
{
    int64_t now = st_now_ms();
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, "INSERT INTO sessions (title, model_id, created, updated) "
                             "VALUES (?, ?, ?, ?)", &s, err)) == 0) {
        bind_text(s, 1, title ? title : "");
        if (model_id > 0)
            sqlite3_bind_int64(s, 2, model_id);
        sqlite3_bind_int64(s, 3, now);
        sqlite3_bind_int64(s, 4, now);
        if ((rc = st_step_done(st, s, err, "creating a session")) == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

int
pd_store_session_rm(struct pd_store *st, int64_t id, char *err)
{
    int rc = write_one(st, "DELETE FROM sessions WHERE id = ?", &id, 1, NULL, 0,
                       "deleting a session", err);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return pd_errorf(err, PD_ENOTFOUND, "no session %lld", (long long)id);
    return rc;
}

int
pd_store_turn_add(struct pd_store *st, int64_t session, const char *role, const char *text,
                  int64_t *turn_id, char *err)
{
    int64_t ints[3] = { session, session, st_now_ms() };
    const char *texts[2] = { role, text ? text : "" };
    int rc = write_one(st, "INSERT INTO turns (session_id, seq, created, role, text) VALUES "
                           "(?, (SELECT coalesce(max(seq) + 1, 0) FROM turns WHERE "
                           "session_id = ?2), ?, ?, ?)", ints, 3, texts, 2, "adding a turn",
                       err);
    if (rc == 0 && turn_id)
        *turn_id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

static const char *const annot_names[] = { "label", "rating", "gold", "comment", "correction" };

const char *
pd_annot_kind_name(enum pd_annot_kind k)
{
    return (unsigned)k < PD_ARRAY_SIZE(annot_names) ? annot_names[k] : "?";
}

int
pd_store_annotate(struct pd_store *st, int64_t turn, enum pd_annot_kind kind,
                  const char *value, int span_from, int span_to, int64_t *id, char *err)
{
    if (span_from >= 0 && span_to < span_from)
        return pd_errorf(err, PD_EINVAL, "span %d:%d ends before it begins", span_from,
                         span_to);
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, "INSERT INTO annotations (turn_id, kind, value, span_from, "
                             "span_to, created) SELECT id, ?, ?, ?, ?, ? FROM turns WHERE "
                             "id = ?", &s, err)) == 0) {
        sqlite3_bind_text(s, 1, pd_annot_kind_name(kind), -1, SQLITE_STATIC);
        bind_text(s, 2, value ? value : "");
        if (span_from >= 0) {
            sqlite3_bind_int(s, 3, span_from);
            sqlite3_bind_int(s, 4, span_to);
        }
        sqlite3_bind_int64(s, 5, st_now_ms());
        sqlite3_bind_int64(s, 6, turn);
        rc = st_step_done(st, s, err, "annotating");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = pd_errorf(err, PD_ENOTFOUND, "no turn %lld", (long long)turn);
        else if (rc == 0 && id)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

int
pd_store_annotations_each(struct pd_store *st, int64_t turn, pd_annot_fn fn, void *user,
                          char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT id, kind, value, coalesce(span_from, -1), "
                            "coalesce(span_to, -1), created FROM annotations WHERE turn_id = ? "
                            "ORDER BY id", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(s, 1);
        struct pd_annot_row r = { .id = sqlite3_column_int64(s, 0), .turn = turn,
                                  .kind = PD_ANNOT_LABEL,
                                  .value = (const char *)sqlite3_column_text(s, 2),
                                  .span_from = sqlite3_column_int(s, 3),
                                  .span_to = sqlite3_column_int(s, 4),
                                  .created = sqlite3_column_int64(s, 5) };
        for (size_t k = 0; kind && k < PD_ARRAY_SIZE(annot_names); k++)
            if (strcmp(kind, annot_names[k]) == 0)
                r.kind = (enum pd_annot_kind)k;
        if (r.value == NULL)
            r.value = "";
        if ((rc = fn(user, &r)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sqlite_err(st, step, err, "reading annotations");
    sqlite3_finalize(s);
    return rc;
}

/* One statement on one annotation row, in a transaction; PD_ENOTFOUND when it does not exist. */
static int
annotation_change(struct pd_store *st, const char *sql, int64_t id, const char *value,
                  char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, sql, &s, err)) == 0) {
        int i = 1;
        if (value)
            bind_text(s, i++, value);
        sqlite3_bind_int64(s, i, id);
        rc = st_step_done(st, s, err, "changing an annotation");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = pd_errorf(err, PD_ENOTFOUND, "no annotation %lld", (long long)id);
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, err);
}

int
pd_store_annotation_set(struct pd_store *st, int64_t id, const char *value, char *err)
{
    return annotation_change(st, "UPDATE annotations SET value = ? WHERE id = ?", id,
                             value ? value : "", err);
}

int
pd_store_annotation_rm(struct pd_store *st, int64_t id, char *err)
{
    return annotation_change(st, "DELETE FROM annotations WHERE id = ?", id, NULL, err);
}
