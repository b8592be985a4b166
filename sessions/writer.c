/*
 * writer.c: the turn writer. An assistant turn's tokens are written while they stream.
 *
 * Each event is copied into the writer's buffers (growing by doubling, so after the first few
 * tokens nothing is allocated per token); when 100 ms have passed since the last flush, the
 * pending tokens go to the database in one BEGIN IMMEDIATE transaction. The write lock is held
 * for the flush only, never between tokens, so another process writing its own session waits
 * at most a flush. A crash (even SIGKILL) loses the tokens of the last 100 ms and nothing else:
 * the turn row exists from pd_store_turn_begin, and every flushed token is committed.
 */
#include "config.h"

#include "sessions/store-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_INTERVAL_S 0.1

int
pd_store_turn_begin(struct pd_store *st, int64_t session, const char *sampler_json,
                    int64_t *turn_id, char *err)
{
    struct st_writer *w = &st->w;
    if (w->open)
        return pd_errorf(err, PD_EINVAL, "a turn is already being written (turn %lld)",
                         (long long)w->turn);
    sqlite3_stmt *s = NULL;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = st_prepare(st, "INSERT INTO turns (session_id, seq, role, sampler, created) "
                             "VALUES (?1, (SELECT coalesce(max(seq) + 1, 0) FROM turns WHERE "
                             "session_id = ?1), 'assistant', ?2, ?3)", &s, err)) == 0) {
        sqlite3_bind_int64(s, 1, session);
        if (sampler_json)
            sqlite3_bind_text(s, 2, sampler_json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, st_now_ms());
        rc = st_step_done(st, s, err, "starting a turn");
    }
    sqlite3_finalize(s);
    if (rc) {
        st_rollback(st);
        return rc;
    }
    if ((rc = st_commit(st, err)) != 0)
        return rc;
    w->turn = sqlite3_last_insert_rowid(st->db);
    w->session = session;
    w->open = true;
    w->n_pend = 0;
    w->blobs.len = w->text.len = w->think.len = w->answer.len = 0;
    memset(w->n_seg, 0, sizeof w->n_seg);
    w->think_end = -1;
    w->n_flushes = 0;
    w->last_flush = pd_time_now();
    if (turn_id)
        *turn_id = w->turn;
    return PD_OK;
}

/* Bind a float, NULL when it is not finite (SQLite has no infinities in JSON exports). */
static void
bind_real(sqlite3_stmt *s, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* Write the pending tokens inside the caller's transaction. */
static int
write_pending(struct pd_store *st, char *err)
{
    struct st_writer *w = &st->w;
    sqlite3_stmt *s = st->ins_token;
    for (size_t i = 0; i < w->n_pend; i++) {
        const struct st_pending *p = &w->pend[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, w->turn);
        sqlite3_bind_int(s, 2, p->pos);
        sqlite3_bind_int(s, 3, p->id);
        sqlite3_bind_blob(s, 4, p->piece_len ? w->blobs.p + p->piece_off : "", (int)p->piece_len,
                          SQLITE_STATIC);
        sqlite3_bind_int(s, 5, p->segment);
        bind_real(s, 6, p->logprob);
        bind_real(s, 7, p->entropy);
        sqlite3_bind_double(s, 8, p->t);
        if (p->routing_len)
            sqlite3_bind_blob(s, 9, w->blobs.p + p->routing_off, (int)p->routing_len,
                              SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 9);
        int rc = st_step_done(st, s, err, "writing a token");
        if (rc) {
            sqlite3_reset(s);
            return rc;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    w->n_pend = 0;
    w->blobs.len = 0;
    return PD_OK;
}

/* One transaction with the pending tokens. */
static int
flush(struct pd_store *st, char *err)
{
    struct st_writer *w = &st->w;
    w->last_flush = pd_time_now();
    if (w->n_pend == 0)
        return PD_OK;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = write_pending(st, err)) != 0) {
        st_rollback(st);
        return rc;
    }
    w->n_flushes++;
    return st_commit(st, err);
}

/* An event's text into the turn's texts. */
static int
buffer_text(struct st_writer *w, const struct pd_token_event *ev)
{
    for (int i = 0; i < ev->n_spans; i++) {
        const struct pd_text_span *sp = &ev->spans[i];
        struct st_buf *seg = sp->segment == PD_SEG_THINK    ? &w->think
                             : sp->segment == PD_SEG_ANSWER ? &w->answer
                                                            : NULL;
        if (st_buf_add(&w->text, sp->text, sp->len) || (seg && st_buf_add(seg, sp->text,
                                                                            sp->len)))
            return PD_ENOMEM;
    }
    return PD_OK;
}

/* Copy an event into the pending list and the text buffers. The closing event of a generation
 * (id -1: text held back until the end, whose bytes earlier tokens already carry) adds text
 * only: as a row it would take the position of the next token, should the turn go on (an
 * answer-now continues it with the closing tag). */
static int
buffer_event(struct st_writer *w, const struct pd_token_event *ev, const void *routing,
             size_t routing_len)
{
    if (ev->id < 0)
        return buffer_text(w, ev);
    if (w->n_pend == w->cap_pend) {
        size_t cap = w->cap_pend ? 2 * w->cap_pend : 64;
        struct st_pending *p = realloc(w->pend, cap * sizeof *p);
        if (p == NULL)
            return PD_ENOMEM;
        w->pend = p;
        w->cap_pend = cap;
    }
    struct st_pending *p = &w->pend[w->n_pend];
    *p = (struct st_pending){ .id = ev->id, .pos = ev->index, .segment = (int)ev->segment,
                              .logprob = ev->logprob, .entropy = ev->entropy, .t = ev->t,
                              .piece_off = w->blobs.len, .piece_len = ev->piece_len };
    if (st_buf_add(&w->blobs, ev->piece, ev->piece_len))
        return PD_ENOMEM;
    p->routing_off = w->blobs.len;
    p->routing_len = routing_len;
    if (routing_len && st_buf_add(&w->blobs, routing, routing_len))
        return PD_ENOMEM;
    if (buffer_text(w, ev))
        return PD_ENOMEM;
    if ((unsigned)ev->segment < 3)
        w->n_seg[ev->segment]++;
    if (ev->segment == PD_SEG_THINK)
        w->think_end = ev->t;
    w->n_pend++;
    return PD_OK;
}

int
pd_store_turn_token_routed(struct pd_store *st, const struct pd_token_event *ev,
                           const void *routing, size_t routing_len)
{
    struct st_writer *w = &st->w;
    if (!w->open)
        return pd_errorf(st->errmsg, PD_EINVAL, "no turn is being written");
    if (buffer_event(w, ev, routing, routing_len))
        return pd_errorf(st->errmsg, PD_ENOMEM, "out of memory buffering token %d", ev->index);
    if (pd_time_now() - w->last_flush >= FLUSH_INTERVAL_S)
        return flush(st, st->errmsg);
    return PD_OK;
}

int
pd_store_turn_token(struct pd_store *st, const struct pd_token_event *ev)
{
    const struct pd_routing *r = ev->routing;
    if (r == NULL || r->n_layers <= 0 || r->k <= 0)
        return pd_store_turn_token_routed(st, ev, NULL, 0);
    /* Expert ids fit 16 bits (the largest models have 256 experts); weights go in as f16. */
    enum { MAX_PAIRS = 4096 };   /* layers x k: DeepSeek-V3 has 58 x 8 */
    int pairs = r->n_layers * r->k;
    if (pairs > MAX_PAIRS)
        return pd_store_turn_token_routed(st, ev, NULL, 0);
    uint16_t ids[MAX_PAIRS];
    for (int i = 0; i < pairs; i++)
        ids[i] = (uint16_t)r->ids[i];
    unsigned char blob[8 + MAX_PAIRS * 4 + 2 * MAX_PAIRS];
    size_t n = pd_routing_pack(blob, r->n_layers, r->k, ids, r->weights, true);
    if (r->entropy)
        n = pd_routing_pack_entropy(blob, n, r->n_layers, r->entropy);
    return pd_store_turn_token_routed(st, ev, blob, n);
}

/* The turn row's text, counts, timings and stop reason. */
static int
update_turn(struct pd_store *st, const struct pd_gen_result *res, char *err)
{
    struct st_writer *w = &st->w;
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "UPDATE turns SET text = ?, think_text = ?, answer_text = ?, "
                            "n_think = ?, n_answer = ?, n_tag = ?, ttft = ?, think_s = ?, "
                            "total_s = ?, stop = ? WHERE id = ?", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, w->text.p ? w->text.p : "", (int)w->text.len, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, w->think.p ? w->think.p : "", (int)w->think.len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, w->answer.p ? w->answer.p : "", (int)w->answer.len, SQLITE_STATIC);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_int(s, 4 + i, w->n_seg[i]);
    if (res) {
        sqlite3_bind_double(s, 7, res->t_first_token);
        sqlite3_bind_double(s, 9, res->t_prompt + res->t_generate);
        sqlite3_bind_text(s, 10, pd_stop_reason_name(res->stop), -1, SQLITE_STATIC);
    }
    /* Thinking time: from the first token to the last token of the think segment. */
    sqlite3_bind_double(s, 8, w->think_end >= 0 && res ? w->think_end - res->t_first_token : 0.0);
    sqlite3_bind_int64(s, 11, w->turn);
    rc = st_step_done(st, s, err, "finishing the turn");
    sqlite3_finalize(s);
    if (rc)
        return rc;
    s = NULL;
    if ((rc = st_prepare(st, "UPDATE sessions SET updated = ? WHERE id = ?", &s, err)))
        return rc;
    sqlite3_bind_int64(s, 1, st_now_ms());
    sqlite3_bind_int64(s, 2, w->session);
    rc = st_step_done(st, s, err, "touching the session");
    sqlite3_finalize(s);
    return rc;
}

int
pd_store_turn_end(struct pd_store *st, const struct pd_gen_result *res, char *err)
{
    struct st_writer *w = &st->w;
    if (!w->open)
        return pd_errorf(err, PD_EINVAL, "no turn is being written");
    w->open = false;
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    if ((rc = write_pending(st, err)) != 0 || (rc = update_turn(st, res, err)) != 0) {
        st_rollback(st);
        return rc;
    }
    w->n_flushes++;
    return st_commit(st, err);
}

const char *
pd_store_errmsg(const struct pd_store *st)
{
    return st->errmsg;
}

int
pd_store_turn_flushes(const struct pd_store *st)
{
    return st->w.n_flushes;
}

void
st_writer_release(struct pd_store *st)
{
    struct st_writer *w = &st->w;
    if (w->open && st->db) {
        char err[PD_ERR_MAX];
        pd_store_turn_end(st, NULL, err);
    }
    free(w->pend);
    st_buf_free(&w->blobs);
    st_buf_free(&w->text);
    st_buf_free(&w->think);
    st_buf_free(&w->answer);
    *w = (struct st_writer){ 0 };
}

/* ---- routing ---- */

/* IEEE binary16 from a float, rounding to nearest even; no dependency on the kernels. */
static uint16_t
f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (((x >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (uint32_t)exp << 10 | mant >> 13, rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

static float
f16_to_f32(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v = exp == 0    ? ldexpf((float)mant, -24)
              : exp == 31 ? (mant ? NAN : INFINITY)
                          : ldexpf((float)(mant | 0x400), exp - 25);
    return h & 0x8000 ? -v : v;
}

size_t
pd_routing_packed_size(int layers, int k, bool half)
{
    return 4 + (size_t)layers * (size_t)k * (half ? 4 : 6);
}

size_t
pd_routing_pack(void *out, int layers, int k, const uint16_t *ids, const float *weights,
                bool half)
{
    uint8_t *p = out;
    p[0] = (uint8_t)layers;
    p[1] = (uint8_t)(layers >> 8);
    p[2] = (uint8_t)k;
    p[3] = half ? 1 : 0;
    p += 4;
    for (int i = 0; i < layers * k; i++) {
        *p++ = (uint8_t)ids[i];
        *p++ = (uint8_t)(ids[i] >> 8);
        if (half) {
            uint16_t h = f32_to_f16(weights[i]);
            *p++ = (uint8_t)h;
            *p++ = (uint8_t)(h >> 8);
        } else {
            uint32_t u;
            memcpy(&u, &weights[i], 4);
            for (int b = 0; b < 4; b++)
                *p++ = (uint8_t)(u >> (8 * b));
        }
    }
    return (size_t)(p - (uint8_t *)out);
}

size_t
pd_routing_pack_entropy(void *blob, size_t len, int layers, const float *entropy)
{
    uint8_t *p = blob;
    p[3] |= PD_ROUTING_HAS_ENTROPY;
    p += len;
    for (int l = 0; l < layers; l++) {
        uint16_t h = f32_to_f16(entropy[l]);
        *p++ = (uint8_t)h;
        *p++ = (uint8_t)(h >> 8);
    }
    return len + 2 * (size_t)layers;
}

int
pd_routing_unpack(const void *blob, size_t len, int max_pairs, int *layers, int *k,
                  uint16_t *ids, float *weights, float *entropy)
{
    const uint8_t *p = blob;
    if (len < 4)
        return PD_EFORMAT;
    int nl = p[0] | p[1] << 8, nk = p[2], fmt = p[3];
    bool half = (fmt & 0x0f) == 1, has_ent = fmt & PD_ROUTING_HAS_ENTROPY;
    if ((fmt & 0x0f) > 1 || nl * nk > max_pairs)
        return PD_EFORMAT;
    size_t need = pd_routing_packed_size(nl, nk, half) + (has_ent ? 2 * (size_t)nl : 0);
    if (len != need)
        return PD_EFORMAT;
    p += 4;
    for (int i = 0; i < nl * nk; i++) {
        ids[i] = (uint16_t)(p[0] | p[1] << 8);
        p += 2;
        if (half) {
            weights[i] = f16_to_f32((uint16_t)(p[0] | p[1] << 8));
            p += 2;
        } else {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            memcpy(&weights[i], &u, 4);
            p += 4;
        }
    }
    for (int l = 0; entropy && l < nl; l++) {
        entropy[l] = has_ent ? f16_to_f32((uint16_t)(p[0] | p[1] << 8)) : NAN;
        p += 2;
    }
    *layers = nl;
    *k = nk;
    return PD_OK;
}
