/*
 * replay.c: reading back the tokens of one turn, in order, for `ponder sessions replay`: each
 * token's bytes, segment, probabilities and the time it arrived (seconds since the turn began).
 *
 * The tokens are read into memory at once, so a slow replay holds no read transaction open
 * while it sleeps between tokens.
 */
#include "config.h"

#include "sessions/store-impl.h"

#include <stdlib.h>
#include <string.h>

void
pd_token_list_free(struct pd_token_list *l)
{
    if (l == NULL)
        return;
    free(l->rows);
    free(l->blob);
    *l = (struct pd_token_list){ 0 };
}

int
pd_store_turn_tokens(struct pd_store *st, int64_t turn, struct pd_token_list *out, char *err)
{
    struct pd_token_list l = { 0 };
    struct st_buf blob = { 0 };
    size_t cap = 0;
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "SELECT pos, token, bytes, segment, logprob, entropy, t, routing FROM tokens "
                            "WHERE turn_id = ? ORDER BY pos", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, turn);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (l.n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct pd_token_row *r = realloc(l.rows, ncap * sizeof *r);
            if (r == NULL) {
                rc = pd_errorf(err, PD_ENOMEM, "out of memory");
                break;
            }
            l.rows = r;
            cap = ncap;
        }
        const void *b = sqlite3_column_blob(s, 2);
        size_t n = (size_t)sqlite3_column_bytes(s, 2);
        struct pd_token_row *r = &l.rows[l.n++];
        *r = (struct pd_token_row){
            .pos = sqlite3_column_int(s, 0), .id = sqlite3_column_int(s, 1),
            .segment = sqlite3_column_int(s, 3), .len = n,
            .logprob = (float)sqlite3_column_double(s, 4),
            .entropy = (float)sqlite3_column_double(s, 5), .t = sqlite3_column_double(s, 6),
        };
        /* The offset for now; made a pointer once the buffer has stopped moving. */
        r->bytes = (const char *)(uintptr_t)blob.len;
        if (n && st_buf_add(&blob, b, n)) {
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
            break;
        }
        const void *rb = sqlite3_column_blob(s, 7);
        r->routing_len = (size_t)sqlite3_column_bytes(s, 7);
        r->routing = (const void *)(uintptr_t)blob.len;
        if (rb && r->routing_len && st_buf_add(&blob, rb, r->routing_len)) {
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
            break;
        }
        if (rb == NULL)
            r->routing_len = 0;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sqlite_err(st, step, err, "reading tokens");
    sqlite3_finalize(s);
    l.blob = blob.p;
    if (rc) {
        pd_token_list_free(&l);
        return rc;
    }
    for (size_t i = 0; i < l.n; i++) {
        l.rows[i].bytes = l.blob ? l.blob + (uintptr_t)l.rows[i].bytes : "";
        l.rows[i].routing = l.rows[i].routing_len ? l.blob + (uintptr_t)l.rows[i].routing : NULL;
    }
    *out = l;
    return PD_OK;
}
