/*
 * store-impl.h: what the files of sessions/ share and nothing outside it sees: the store's
 * struct, the turn writer's buffers, and small SQLite helpers (errors, transactions that retry
 * while another process holds the write lock).
 */
#ifndef PD_STORE_IMPL_H
#define PD_STORE_IMPL_H

#include <sqlite3.h>

#include "engine/pd.h"
#include "sessions/store.h"

/* A growable byte buffer; grows by doubling, never shrinks while a store is open. */
struct st_buf {
    char *p;
    size_t len, cap;
};

int st_buf_add(struct st_buf *b, const void *data, size_t len);
void st_buf_free(struct st_buf *b);

/* A token waiting for the next flush; its bytes and routing live in the writer's blob buffer. */
struct st_pending {
    int32_t id, pos;
    int segment;
    float logprob, entropy;
    double t;
    size_t piece_off, piece_len, routing_off, routing_len;
};

struct st_writer {
    bool open;
    int64_t turn, session;
    struct st_pending *pend;
    size_t n_pend, cap_pend;
    struct st_buf blobs;                 /* pieces and routing of pending tokens */
    struct st_buf text, think, answer;   /* everything streamed so far */
    int n_seg[3];                        /* tokens per segment (think, answer, tag) */
    double last_flush, think_end;
    int n_flushes;
};

struct pd_store {
    sqlite3 *db;
    char path[4096];
    char errmsg[PD_ERR_MAX];
    sqlite3_stmt *ins_token;
    struct st_writer w;
};

/* err <- "what: sqlite's message"; returns a PD_E* fitting the SQLite result code. */
int st_sqlite_err(struct pd_store *st, int rc, char *err, const char *what);

/* Run SQL without results (schema, pragmas). */
int st_exec(struct pd_store *st, const char *sql, char *err);

/* BEGIN IMMEDIATE / COMMIT, retried while the database is busy; ROLLBACK never fails. */
int st_begin(struct pd_store *st, char *err);
int st_commit(struct pd_store *st, char *err);
void st_rollback(struct pd_store *st);

/* Prepare sql; PD_E* with err filled on failure. */
int st_prepare(struct pd_store *st, const char *sql, sqlite3_stmt **out, char *err);

/* Step a statement that returns no rows (SQLITE_DONE expected). */
int st_step_done(struct pd_store *st, sqlite3_stmt *s, char *err, const char *what);

/* Wall-clock time in unix milliseconds. */
int64_t st_now_ms(void);

/* Bring the schema from its user_version to PD_STORE_SCHEMA_VERSION, one step per transaction
 * (schema.c). */
int st_migrate(struct pd_store *st, int from, char *err);

/* The writer's teardown (writer.c). */
void st_writer_release(struct pd_store *st);

/* The user's words as an FTS5 query restricted to one column: {col} : ("w1" "w2" ...), with
 * double quotes inside a word doubled, so no word is read as FTS5 syntax. NULL when there is
 * no word (or no memory); caller frees (query.c). */
char *st_fts_query(const char *col, const char *q);

/* Text of column i, "" for NULL. */
const char *st_text(sqlite3_stmt *s, int i);

#endif
