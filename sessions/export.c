/*
 * export.c: sessions out as JSON lines, and the lossless format back in.
 *
 * ponder format (lossless): per session, one object per row, in this order:
 *   {"type":"session","format":1,"title":...,"created":...,...,"model_sha256":...}
 *   {"type":"turn","seq":0,"role":"user","text":...}                       every turn
 *   {"type":"token","turn":SEQ,"pos":0,"id":...,"bytes":"HEX",...}         every token
 *   {"type":"annotation","turn":SEQ,...}  {"type":"aha","turn":SEQ,...}
 * Rows name their turn by its sequence number in the session, never by a database id, so an
 * export imported elsewhere and exported again gives the same bytes. Columns are written by
 * their SQLite type: NULL null, integers as integers, reals with 17 significant digits (exact),
 * text as JSON strings, blobs as hex. The importer binds each member to the parameter of the
 * same name, so a member it does not know is an error, not silently dropped.
 *
 * openai: one line per session, {"messages":[...]}, the assistant's thinking in
 * "reasoning_content" beside "content", as DeepSeek's API returns it.
 * trl: one line per assistant turn, conversational prompt/completion, with "gold" from a gold
 * annotation when there is one.
 */
#include "config.h"

#include "sessions/json.h"
#include "sessions/store-impl.h"

#include <stdlib.h>
#include <string.h>

#define PONDER_FORMAT 1

static const char sql_session[] =
    "SELECT 'session' AS type, 1 AS format, s.title, s.created, s.updated, "
    "s.forked_from_session, s.forked_from_token, m.path AS model_path, m.size AS model_size, "
    "m.sha256 AS model_sha256, m.arch AS model_arch, m.name AS model_name, "
    "m.n_params AS model_n_params FROM sessions s LEFT JOIN models m ON m.id = s.model_id "
    "WHERE s.id = ?1";
static const char sql_turns[] =
    "SELECT 'turn' AS type, seq, role, text, think_text AS think, answer_text AS answer, "
    "sampler, n_think, n_answer, n_tag, ttft, think_s, total_s, stop, created "
    "FROM turns WHERE session_id = ?1 ORDER BY seq";
static const char sql_tokens[] =
    "SELECT 'token' AS type, t.seq AS turn, k.pos, k.token AS id, k.bytes, k.segment, "
    "k.logprob, k.entropy, k.t, k.routing FROM tokens k JOIN turns t ON t.id = k.turn_id "
    "WHERE t.session_id = ?1 ORDER BY t.seq, k.pos";
static const char sql_annotations[] =
    "SELECT 'annotation' AS type, t.seq AS turn, a.kind, a.value, a.span_from, a.span_to, "
    "a.created FROM annotations a JOIN turns t ON t.id = a.turn_id "
    "WHERE t.session_id = ?1 ORDER BY t.seq, a.id";
static const char sql_aha[] =
    "SELECT 'aha' AS type, t.seq AS turn, a.tok_from, a.tok_to, a.score, a.signals, "
    "a.detector, a.detector_version, a.created FROM aha_events a "
    "JOIN turns t ON t.id = a.turn_id WHERE t.session_id = ?1 ORDER BY t.seq, a.id";

/* Write the current row of s as one flat object. */
static void
write_row(FILE *f, sqlite3_stmt *s)
{
    int n = sqlite3_column_count(s);
    fputc('{', f);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(s, i);
        fprintf(f, "%s\"%s\":", i ? "," : "", name);
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_NULL: fputs("null", f); break;
        case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(s, i)); break;
        case SQLITE_FLOAT: {
            /* Always with a '.' or exponent, so the reader knows it is a real. */
            char num[40];
            snprintf(num, sizeof num, "%.17g", sqlite3_column_double(s, i));
            fputs(num, f);
            if (strpbrk(num, ".eEn") == NULL)
                fputs(".0", f);
            break;
        }
        case SQLITE_TEXT:
            js_string(f, (const char *)sqlite3_column_text(s, i),
                      (size_t)sqlite3_column_bytes(s, i));
            break;
        default:
            js_hex(f, sqlite3_column_blob(s, i), (size_t)sqlite3_column_bytes(s, i));
        }
    }
    fputs("}\n", f);
}

/* Every row of one query for one session. */
static int
export_rows(struct pd_store *st, const char *sql, int64_t session, FILE *f, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, sql, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, session);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        write_row(f, s);
    rc = rc == SQLITE_DONE ? PD_OK : st_sqlite_err(st, rc, err, "exporting");
    sqlite3_finalize(s);
    return rc;
}

static int
export_ponder(struct pd_store *st, int64_t session, FILE *f, char *err)
{
    const char *const queries[] = { sql_session, sql_turns, sql_tokens, sql_annotations,
                                    sql_aha };
    for (size_t i = 0; i < PD_ARRAY_SIZE(queries); i++) {
        int rc = export_rows(st, queries[i], session, f, err);
        if (rc)
            return rc;
    }
    return PD_OK;
}

/* One chat message object. */
static void
write_message(FILE *f, const struct pd_turn_row *t, bool reasoning)
{
    fputs("{\"role\":", f);
    js_string(f, t->role, strlen(t->role));
    bool split = strcmp(t->role, "assistant") == 0 && (*t->think || *t->answer);
    const char *content = split ? t->answer : t->text;
    fputs(",\"content\":", f);
    js_string(f, content, strlen(content));
    if (reasoning && split && *t->think) {
        fputs(",\"reasoning_content\":", f);
        js_string(f, t->think, strlen(t->think));
    }
    fputc('}', f);
}

struct chat_export {
    FILE *f;
    struct pd_store *st;
    bool trl;
    struct pd_turn_row *turns;   /* copies (texts owned) */
    int n, cap;
};

static char *
dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");
    PD_ASSERT(d != NULL);
    return d;
}

static int
collect_turn(void *user, const struct pd_turn_row *r)
{
    struct chat_export *x = user;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 8;
        x->turns = realloc(x->turns, (size_t)x->cap * sizeof *x->turns);
        PD_ASSERT(x->turns != NULL);
    }
    struct pd_turn_row *t = &x->turns[x->n++];
    *t = *r;
    t->role = dup_or_empty(r->role);
    t->text = dup_or_empty(r->text);
    t->think = dup_or_empty(r->think);
    t->answer = dup_or_empty(r->answer);
    t->sampler = t->stop = NULL;
    return 0;
}

/* The latest gold annotation of a turn, or NULL (caller frees). */
static char *
gold_of(struct pd_store *st, int64_t turn)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (st_prepare(st, "SELECT value FROM annotations WHERE turn_id = ? AND kind = 'gold' "
                       "ORDER BY id DESC LIMIT 1", &s, NULL))
        return NULL;
    sqlite3_bind_int64(s, 1, turn);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = dup_or_empty(st_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

static void
write_chat(struct chat_export *x)
{
    if (!x->trl) {
        fputs("{\"messages\":[", x->f);
        for (int i = 0; i < x->n; i++) {
            if (i)
                fputc(',', x->f);
            write_message(x->f, &x->turns[i], true);
        }
        fputs("]}\n", x->f);
        return;
    }
    for (int i = 0; i < x->n; i++) {
        if (strcmp(x->turns[i].role, "assistant") != 0)
            continue;
        fputs("{\"prompt\":[", x->f);
        for (int j = 0; j < i; j++) {
            if (j)
                fputc(',', x->f);
            write_message(x->f, &x->turns[j], false);
        }
        fputs("],\"completion\":[{\"role\":\"assistant\",\"content\":", x->f);
        js_string(x->f, x->turns[i].text, strlen(x->turns[i].text));
        fputs("}]", x->f);
        char *gold = gold_of(x->st, x->turns[i].id);
        if (gold) {
            fputs(",\"gold\":", x->f);
            js_string(x->f, gold, strlen(gold));
            free(gold);
        }
        fputs("}\n", x->f);
    }
}

static int
export_chat(struct pd_store *st, int64_t session, bool trl, FILE *f, char *err)
{
    struct chat_export x = { .f = f, .st = st, .trl = trl };
    int rc = pd_store_turns_each(st, session, collect_turn, &x, err);
    if (rc == 0)
        write_chat(&x);
    for (int i = 0; i < x.n; i++) {
        free((char *)x.turns[i].role);
        free((char *)x.turns[i].text);
        free((char *)x.turns[i].think);
        free((char *)x.turns[i].answer);
    }
    free(x.turns);
    return rc;
}

static int
export_one(struct pd_store *st, int64_t session, enum pd_export_format fmt, FILE *f, char *err)
{
    if (fmt == PD_EXPORT_PONDER)
        return export_ponder(st, session, f, err);
    return export_chat(st, session, fmt == PD_EXPORT_TRL, f, err);
}

int
pd_store_export(struct pd_store *st, int64_t session, enum pd_export_format fmt, FILE *f,
                char *err)
{
    /* One read transaction: a consistent snapshot even while another process writes. */
    int rc = st_exec(st, "BEGIN", err);
    if (rc)
        return rc;
    if (session > 0) {
        sqlite3_stmt *s = NULL;
        if ((rc = st_prepare(st, "SELECT 1 FROM sessions WHERE id = ?", &s, err)) == 0) {
            sqlite3_bind_int64(s, 1, session);
            if (sqlite3_step(s) != SQLITE_ROW)
                rc = pd_errorf(err, PD_ENOTFOUND, "no session %lld", (long long)session);
            sqlite3_finalize(s);
        }
        if (rc == 0)
            rc = export_one(st, session, fmt, f, err);
    } else {
        sqlite3_stmt *s = NULL;
        if ((rc = st_prepare(st, "SELECT id FROM sessions ORDER BY id", &s, err)) == 0) {
            while (rc == 0 && sqlite3_step(s) == SQLITE_ROW)
                rc = export_one(st, sqlite3_column_int64(s, 0), fmt, f, err);
            sqlite3_finalize(s);
        }
    }
    st_rollback(st);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = pd_errorf(err, PD_EIO, "writing the export failed");
    return rc;
}
