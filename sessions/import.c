/*
 * import.c: reading the ponder export format (export.c) back, every session as a new one.
 *
 * Each line is bound member by member to the named parameters of one INSERT per row type, so
 * the SQL is fixed and a member that matches no column is an error. Rows that name a turn use its
 * sequence number within the session being imported. The whole file is one transaction: a bad
 * line anywhere leaves the database as it was.
 */
#include "config.h"

#include "sessions/json.h"
#include "sessions/store-impl.h"

#include <stdlib.h>
#include <string.h>

enum { IMP_SESSION, IMP_MODEL, IMP_MODEL_ID, IMP_TURN, IMP_TOKEN, IMP_ANNOT, IMP_AHA, IMP_N };

static const char *const imp_sql[IMP_N] = {
    [IMP_SESSION] = "INSERT INTO sessions (title, model_id, created, updated, "
                    "forked_from_session, forked_from_token) VALUES (:title, :model_id_, "
                    ":created, :updated, (SELECT id FROM sessions WHERE id = "
                    ":forked_from_session), :forked_from_token)",
    [IMP_MODEL] = "INSERT OR IGNORE INTO models (path, size, sha256, arch, name, n_params, added) "
                  "VALUES (:model_path, :model_size, :model_sha256, :model_arch, :model_name, "
                  ":model_n_params, :added_)",
    [IMP_MODEL_ID] = "SELECT id FROM models WHERE sha256 = :model_sha256 AND path = :model_path",
    [IMP_TURN] = "INSERT INTO turns (session_id, seq, role, text, think_text, answer_text, "
                 "sampler, n_think, n_answer, n_tag, ttft, think_s, total_s, stop, created) "
                 "VALUES (:session_id_, :seq, :role, :text, :think, :answer, :sampler, "
                 ":n_think, :n_answer, :n_tag, :ttft, :think_s, :total_s, :stop, :created)",
    [IMP_TOKEN] = "INSERT INTO tokens (turn_id, pos, token, bytes, segment, logprob, entropy, t, "
                  "routing) VALUES ((SELECT id FROM turns WHERE session_id = :session_id_ AND "
                  "seq = :turn), :pos, :id, :bytes, :segment, :logprob, :entropy, :t, :routing)",
    [IMP_ANNOT] = "INSERT INTO annotations (turn_id, kind, value, span_from, span_to, created) "
                  "VALUES ((SELECT id FROM turns WHERE session_id = :session_id_ AND "
                  "seq = :turn), :kind, :value, :span_from, :span_to, :created)",
    [IMP_AHA] = "INSERT INTO aha_events (turn_id, tok_from, tok_to, score, signals, detector, "
                "detector_version, created) VALUES ((SELECT id FROM turns WHERE "
                "session_id = :session_id_ AND seq = :turn), :tok_from, :tok_to, :score, "
                ":signals, :detector, :detector_version, :created)",
};

struct importer {
    struct pd_store *st;
    sqlite3_stmt *s[IMP_N];
    int64_t session;      /* the session being imported, 0 before the first */
    int n_sessions;
    long line;
    unsigned char *blob;  /* hex decoding scratch */
    size_t blob_cap;
};

/* Bind one member to the parameter of its name in s; 0 when s has no such parameter. */
static int
bind_member(struct importer *im, sqlite3_stmt *s, const struct js_member *m, char *why)
{
    char name[80];
    size_t klen = strlen(m->key);
    if (klen == 0 || m->key[klen - 1] == '_')   /* parameters ending in '_' are ours */
        return 0;
    snprintf(name, sizeof name, ":%s", m->key);
    int i = sqlite3_bind_parameter_index(s, name);
    if (i == 0)
        return 0;
    bool blob = strcmp(m->key, "bytes") == 0 || strcmp(m->key, "routing") == 0;
    switch (m->kind) {
    case JS_NULL: sqlite3_bind_null(s, i); break;
    case JS_INT: sqlite3_bind_int64(s, i, m->i); break;
    case JS_REAL: sqlite3_bind_double(s, i, m->d); break;
    case JS_STRING:
        if (!blob) {
            sqlite3_bind_text(s, i, m->str, (int)m->len, SQLITE_STATIC);
            break;
        }
        if (m->len / 2 + 1 > im->blob_cap) {
            free(im->blob);
            im->blob_cap = m->len / 2 + 1;
            im->blob = malloc(im->blob_cap);
            if (im->blob == NULL)
                return snprintf(why, 128, "out of memory"), -1;
        }
        if (!js_unhex(m->str, m->len, im->blob))
            return snprintf(why, 128, "\"%s\" is not hex", m->key), -1;
        sqlite3_bind_blob(s, i, im->blob, (int)(m->len / 2),
                          SQLITE_TRANSIENT);
        break;
    }
    return 1;
}

/* Bind every member of o (but "type") to s (and, for a session, its model to the model
 * statements); a member that binds nowhere is an error. */
static int
bind_all(struct importer *im, sqlite3_stmt *s, const struct js_object *o, bool session,
         char *why)
{
    for (int k = 0; k < o->n; k++) {
        const struct js_member *m = &o->m[k];
        if (strcmp(m->key, "type") == 0 || (session && strcmp(m->key, "format") == 0))
            continue;
        int r = bind_member(im, s, m, why);
        if (r < 0)
            return -1;
        if (session && strncmp(m->key, "model_", 6) == 0) {
            if (bind_member(im, im->s[IMP_MODEL], m, why) < 0 ||
                bind_member(im, im->s[IMP_MODEL_ID], m, why) < 0)
                return -1;
            r = 1;
        }
        if (r == 0)
            return snprintf(why, 128, "unknown member \"%s\"", m->key), -1;
    }
    return 0;
}

/* The model of a session line: found or added; 0 when the line names none. */
static int64_t
import_model(struct importer *im, const struct js_object *o)
{
    const struct js_member *sha = js_get(o, "model_sha256");
    if (sha == NULL || sha->kind != JS_STRING)
        return 0;
    sqlite3_bind_int64(im->s[IMP_MODEL], sqlite3_bind_parameter_index(im->s[IMP_MODEL],
                                                                      ":added_"), st_now_ms());
    if (sqlite3_step(im->s[IMP_MODEL]) != SQLITE_DONE)
        return -1;
    if (sqlite3_step(im->s[IMP_MODEL_ID]) != SQLITE_ROW)
        return -1;
    return sqlite3_column_int64(im->s[IMP_MODEL_ID], 0);
}

/* One line; -1 with why filled when it cannot be imported. */
static int
import_line(struct importer *im, const struct js_object *o, char *why)
{
    static const char *const types[] = { "session", NULL, NULL, "turn", "token", "annotation",
                                         "aha" };
    const struct js_member *type = js_get(o, "type");
    int t = -1;
    for (int i = 0; type && type->kind == JS_STRING && i < IMP_N; i++)
        if (types[i] && strcmp(type->str, types[i]) == 0)
            t = i;
    if (t < 0)
        return snprintf(why, 128, "no known \"type\""), -1;
    if (t != IMP_SESSION && im->session == 0)
        return snprintf(why, 128, "a %s before any session", types[t]), -1;
    const struct js_member *fmt = js_get(o, "format");
    if (t == IMP_SESSION && (fmt == NULL || fmt->kind != JS_INT || fmt->i != 1))
        return snprintf(why, 128, "not ponder export format 1"), -1;
    for (int i = 0; i < IMP_N; i++) {
        sqlite3_reset(im->s[i]);
        sqlite3_clear_bindings(im->s[i]);
    }
    sqlite3_stmt *s = im->s[t];
    if (bind_all(im, s, o, t == IMP_SESSION, why))
        return -1;
    if (t == IMP_SESSION) {
        int64_t model = import_model(im, o);
        if (model < 0)
            return snprintf(why, 128, "model: %s", sqlite3_errmsg(im->st->db)), -1;
        if (model > 0)
            sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":model_id_"), model);
    } else {
        sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":session_id_"), im->session);
    }
    if (sqlite3_step(s) != SQLITE_DONE)
        return snprintf(why, 128, "%s: %s", types[t], sqlite3_errmsg(im->st->db)), -1;
    if (t == IMP_SESSION) {
        im->session = sqlite3_last_insert_rowid(im->st->db);
        im->n_sessions++;
    }
    return 0;
}

static int
import_lines(struct importer *im, FILE *f, char *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = PD_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        im->line++;
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        struct js_object o;
        char why[128] = "";
        int bad = js_parse_flat(line, (size_t)n, &o, why) || import_line(im, &o, why);
        js_object_free(&o);
        if (bad) {
            rc = pd_errorf(err, PD_EFORMAT, "line %ld: %s", im->line, why);
            break;
        }
    }
    free(line);
    if (rc == 0 && ferror(f))
        rc = pd_errorf(err, PD_EIO, "reading the import failed after line %ld", im->line);
    return rc;
}

int
pd_store_import(struct pd_store *st, FILE *f, int *n_sessions, char *err)
{
    struct importer im = { .st = st };
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    for (int i = 0; i < IMP_N && rc == 0; i++)
        rc = st_prepare(st, imp_sql[i], &im.s[i], err);
    if (rc == 0)
        rc = import_lines(&im, f, err);
    for (int i = 0; i < IMP_N; i++)
        sqlite3_finalize(im.s[i]);
    free(im.blob);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    if ((rc = st_commit(st, err)) == 0 && n_sessions)
        *n_sessions = im.n_sessions;
    return rc;
}
