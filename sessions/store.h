/*
 * store.h: ponder's session store: every chat session, turn and generated token in SQLite.
 *
 * One database per user ($XDG_DATA_HOME/ponder/ponder.db unless told otherwise), in WAL mode with
 * foreign keys on and a busy timeout; every write runs in a BEGIN IMMEDIATE transaction retried
 * while another process holds the lock, so two processes writing different sessions never see
 * SQLITE_BUSY. The schema carries its version in PRAGMA user_version and is migrated one step at
 * a time (schema.c). A file that is not SQLite, is damaged, or comes from a newer ponder is
 * refused with a message and left exactly as it was.
 *
 * A session holds turns (system, user, assistant); an assistant turn holds its tokens. Tokens
 * are written while they stream: pd_store_turn_token buffers each event and flushes the buffer in
 * one transaction when ~100 ms have passed since the last flush, so a crash loses at most that.
 * pd_store_turn_end writes the rest and the turn's text, think and answer apart, timings and stop
 * reason.
 *
 * Routing is stored packed (pd_routing_pack): a 4-byte header (u16 layers, u8 k, u8 weight
 * format: 0 f32, 1 f16, plus PD_ROUTING_HAS_ENTROPY), then layers x k x (u16 expert id
 * little-endian, weight), then with that bit the router's entropy per layer (f16). NULL for dense
 * models.
 *
 * Every function returns 0 or a negative PD_E* code and fills err (PD_ERR_MAX bytes).
 * A struct pd_store is one connection: use it from one thread at a time.
 */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/event.h"
#include "engine/generate.h"

#define PD_STORE_SCHEMA_VERSION 3

struct pd_store;

/* Where the database lives: path if not NULL, else $PONDER_DB, else
 * $XDG_DATA_HOME/ponder/ponder.db, else ~/.local/share/ponder/ponder.db. Writes into buf. */
int pd_store_path_resolve(char *buf, size_t size, const char *path, char *err);

/* Open (creating the file and its folder if needed) and migrate to the current schema. path as
 * for pd_store_path_resolve. On success *out is the caller's, to pd_store_close. */
int pd_store_open(struct pd_store **out, const char *path, char *err);

/* Flushes a turn still open (as stopped by cancel) and closes. NULL is fine. */
void pd_store_close(struct pd_store *st);

/* The file this store uses. */
const char *pd_store_filename(const struct pd_store *st);

/* The schema version of the open database (after migration: PD_STORE_SCHEMA_VERSION). */
int pd_store_schema_version(struct pd_store *st);

/* PRAGMA integrity_check; 0 when "ok", PD_EFORMAT with the first problem in err otherwise. */
int pd_store_check(struct pd_store *st, char *err);

/* ---- models and sessions ---- */

struct pd_store_model {
    const char *path;
    uint64_t size;              /* file size in bytes */
    const void *header;         /* the GGUF header and tensor table (fingerprinted) */
    size_t header_len;
    const char *arch, *name;
    uint64_t n_params;
};

/* The id of the model row with this fingerprint and path, inserted if new. */
int pd_store_model_id(struct pd_store *st, const struct pd_store_model *m, int64_t *id,
                      char *err);

/* A new session (model_id 0: none). */
int pd_store_session_new(struct pd_store *st, int64_t model_id, const char *title, int64_t *id,
                         char *err);

/* Delete a session with its turns, tokens and annotations. PD_ENOTFOUND when absent. */
int pd_store_session_rm(struct pd_store *st, int64_t id, char *err);

/* A whole turn at once (system and user turns). */
int pd_store_turn_add(struct pd_store *st, int64_t session, const char *role, const char *text,
                      int64_t *turn_id, char *err);

/* ---- the turn writer: one assistant turn streaming ---- */

/* Start an assistant turn in session; sampler_json is the sampler settings as a JSON object
 * (may be NULL). One turn at a time per store. */
int pd_store_turn_begin(struct pd_store *st, int64_t session, const char *sampler_json,
                        int64_t *turn_id, char *err);

/* Record one token event, its routing packed with f16 weights (pd_routing_pack) when it has one.
 * Flushes when 100 ms have passed since the last flush. The error message is kept:
 * pd_store_errmsg. */
int pd_store_turn_token(struct pd_store *st, const struct pd_token_event *ev);

/* The same with a packed routing blob (pd_routing_pack), copied. */
int pd_store_turn_token_routed(struct pd_store *st, const struct pd_token_event *ev,
                               const void *routing, size_t routing_len);

/* Flush the rest and fill the turn's text, think and answer text, token counts, timings and
 * stop reason from what was streamed and res. */
int pd_store_turn_end(struct pd_store *st, const struct pd_gen_result *res, char *err);

/* The last error of pd_store_turn_token (which has no err argument, to stay cheap). */
const char *pd_store_errmsg(const struct pd_store *st);

/* How many token-buffer flushes (transactions) the open or last turn took. */
int pd_store_turn_flushes(const struct pd_store *st);

/* Pack routing: ids[layers*k], weights[layers*k] into out (size from pd_routing_packed_size).
 * half: weights as IEEE f16, else f32. Returns the bytes written. */
size_t pd_routing_packed_size(int layers, int k, bool half);
size_t pd_routing_pack(void *out, int layers, int k, const uint16_t *ids, const float *weights,
                       bool half);

/* Bit of the format byte: the router's entropy per layer follows the pairs, as f16. */
#define PD_ROUTING_HAS_ENTROPY 0x10

/* Append the per-layer router entropy to a packed blob of len bytes (room for 2 x layers more
 * bytes); returns the new length. */
size_t pd_routing_pack_entropy(void *blob, size_t len, int layers, const float *entropy);

/* Read a packed blob back: at most max_pairs (layers x k) into ids and weights; entropy[layers]
 * (may be NULL) gets NaN where the blob has none. PD_EFORMAT when the blob is malformed. */
int pd_routing_unpack(const void *blob, size_t len, int max_pairs, int *layers, int *k,
                      uint16_t *ids, float *weights, float *entropy);

/* ---- reading ---- */

struct pd_session_row {
    int64_t id;
    const char *title, *model;
    int64_t created, updated;   /* unix milliseconds */
    int n_turns;
    int64_t n_tokens;
};

typedef int (*pd_session_fn)(void *user, const struct pd_session_row *row);

/* Sessions newest first; limit <= 0: all; model_substr filters on the model's name or path. */
int pd_store_sessions_list(struct pd_store *st, int limit, const char *model_substr,
                           pd_session_fn fn, void *user, char *err);

/* One session's row; PD_ENOTFOUND when absent. */
int pd_store_session_get(struct pd_store *st, int64_t id, pd_session_fn fn, void *user,
                         char *err);

struct pd_turn_row {
    int64_t id, session;
    int seq;
    const char *role, *text, *think, *answer, *sampler, *stop;
    int n_think, n_answer, n_tokens;
    double ttft, think_s, total_s;
};

typedef int (*pd_turn_fn)(void *user, const struct pd_turn_row *row);

/* A session's turns in order. */
int pd_store_turns_each(struct pd_store *st, int64_t session, pd_turn_fn fn, void *user,
                        char *err);

struct pd_search_hit {
    int64_t session, turn;
    bool in_think;              /* the hit is in the thoughts (else the answer) */
    const char *title, *snippet;
};

typedef int (*pd_search_fn)(void *user, const struct pd_search_hit *hit);

/* Full-text search over think and answer text; each matching segment is one hit. The query's
 * words are matched as words (FTS5 syntax characters lose their meaning). */
int pd_store_search(struct pd_store *st, const char *query, int limit, pd_search_fn fn,
                    void *user, char *err);

/* ---- annotations ---- */

enum pd_annot_kind {
    PD_ANNOT_LABEL = 0,
    PD_ANNOT_RATING,
    PD_ANNOT_GOLD,
    PD_ANNOT_COMMENT,
    PD_ANNOT_CORRECTION,
};

const char *pd_annot_kind_name(enum pd_annot_kind k);

/* Annotate a turn; span_from/span_to: token positions, or -1 for the whole turn. */
int pd_store_annotate(struct pd_store *st, int64_t turn, enum pd_annot_kind kind,
                      const char *value, int span_from, int span_to, int64_t *id, char *err);

struct pd_annot_row {
    int64_t id, turn;
    enum pd_annot_kind kind;
    const char *value;
    int span_from, span_to;     /* -1: the whole turn */
    int64_t created;            /* unix milliseconds */
};

typedef int (*pd_annot_fn)(void *user, const struct pd_annot_row *row);

/* A turn's annotations, oldest first. */
int pd_store_annotations_each(struct pd_store *st, int64_t turn, pd_annot_fn fn, void *user,
                              char *err);
/* Change an annotation's value, or delete it; PD_ENOTFOUND when it does not exist. */
int pd_store_annotation_set(struct pd_store *st, int64_t id, const char *value, char *err);
int pd_store_annotation_rm(struct pd_store *st, int64_t id, char *err);

/* ---- export and import (export.c) ---- */

enum pd_export_format {
    PD_EXPORT_PONDER = 0,   /* lossless: sessions, turns, tokens, annotations */
    PD_EXPORT_OPENAI,       /* chat messages, reasoning_content as DeepSeek's API */
    PD_EXPORT_TRL,          /* prompt/completion rows, gold answers from annotations */
};

/* Write session (0: all sessions, oldest first) as JSON lines to f. */
int pd_store_export(struct pd_store *st, int64_t session, enum pd_export_format fmt, FILE *f,
                    char *err);

/* Read a ponder-format export; each session is added as a new session. *n_sessions counts them.
 * All or nothing: a malformed line rolls the whole import back. */
int pd_store_import(struct pd_store *st, FILE *f, int *n_sessions, char *err);

/* ---- for ponder chat (chat-support.c) ---- */

/* Rename a session (and touch its updated time); PD_ENOTFOUND when absent. */
int pd_store_session_set_title(struct pd_store *st, int64_t id, const char *title, char *err);

/* A new session that starts as a copy of session: its turns with their tokens, titled
 * "TITLE (fork)", forked_from_session and forked_from_token set. at_token >= 0 cuts the last
 * assistant turn to its first at_token tokens (text, think and answer rebuilt from their bytes;
 * turns after it are left out); < 0 copies everything. PD_ENOTFOUND when session is absent,
 * PD_EINVAL when there is no assistant turn to cut or it has fewer tokens. One transaction. */
int pd_store_session_fork(struct pd_store *st, int64_t session, int at_token, int64_t *new_id,
                          char *err);

/* ---- for ponder sessions replay (replay.c) ---- */

struct pd_token_row {
    int32_t pos, id;
    int segment;                /* enum pd_segment: 0 think, 1 answer, 2 tag */
    const char *bytes;          /* the token's own bytes (may be part of a character) */
    size_t len;
    float logprob, entropy;
    double t;                   /* seconds since the turn began */
    const void *routing;        /* pd_routing_pack blob, NULL for a dense model */
    size_t routing_len;
};

struct pd_token_list {
    struct pd_token_row *rows;
    size_t n;
    char *blob;                 /* the rows' bytes */
};

/* A turn's tokens in order, read into *out (caller frees with pd_token_list_free); an empty list
 * for a turn without tokens. */
int pd_store_turn_tokens(struct pd_store *st, int64_t turn, struct pd_token_list *out,
                         char *err);
void pd_token_list_free(struct pd_token_list *l);

#endif
