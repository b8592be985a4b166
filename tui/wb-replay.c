/*
 * wb-replay.c: stored turns back into the document, and replay.
 *
 * A stored token row has its own bytes and segment, not the text it released (a tag or a stop
 * string held back changes that), so each token's range in the turn's stored think and answer
 * texts is found by matching its bytes at the current position of its segment: the longest
 * prefix that matches is what it released. Tokens that released nothing (tags, held-back bytes
 * released later) get an empty range.
 *
 * Replay plays an assistant turn again as it was generated: the turn's tokens are set aside and
 * appended back at the times they were first produced (scaled by the speed), through the same
 * path as live tokens, so the fold, the aha flags and the routing views behave as they did.
 * Stepping back rebuilds the turn up to the wanted token at once.
 */
#include "config.h"

#include "tui/wb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
add_token(struct wb_turn *t, const struct wb_tok *k)
{
    if (t->n_tok == t->cap_tok) {
        t->cap_tok = t->cap_tok ? 2 * t->cap_tok : 256;
        t->tok = chat_xrealloc(t->tok, t->cap_tok * sizeof *t->tok);
    }
    t->tok[t->n_tok++] = *k;
    if (k->seg == PD_SEG_THINK) {
        if (t->think_t0 < 0)
            t->think_t0 = k->t;
        t->think_t1 = k->t;
        t->n_think++;
    }
}

static void
add_route(struct wb_turn *t, struct wb_tok *k, const void *blob, size_t len)
{
    static uint16_t ids[WB_MAX_PAIRS];
    static float wts[WB_MAX_PAIRS], ent[256];
    int layers, kk;
    k->route = -1;
    if (blob == NULL || pd_routing_unpack(blob, len, WB_MAX_PAIRS, &layers, &kk, ids, wts, ent) ||
        layers > 256)
        return;
    for (int l = 0; l < layers; l++)
        if (isnan(ent[l]))
            ent[l] = -1.0f;
    if (t->n_route == 0) {
        t->r_layers = layers;
        t->r_k = kk;
    } else if (t->r_layers != layers || t->r_k != kk) {
        return;
    }
    size_t pairs = (size_t)layers * (size_t)kk;
    if (t->n_route == t->cap_route) {
        t->cap_route = t->cap_route ? 2 * t->cap_route : 64;
        t->r_ids = chat_xrealloc(t->r_ids, t->cap_route * pairs * sizeof *t->r_ids);
        t->r_w = chat_xrealloc(t->r_w, t->cap_route * pairs * sizeof *t->r_w);
        t->r_ent = chat_xrealloc(t->r_ent, t->cap_route * (size_t)layers * sizeof *t->r_ent);
    }
    size_t at = t->n_route++;
    memcpy(t->r_ids + at * pairs, ids, pairs * sizeof *ids);
    memcpy(t->r_w + at * pairs, wts, pairs * sizeof *wts);
    memcpy(t->r_ent + at * (size_t)layers, ent, (size_t)layers * sizeof *ent);
    k->route = (int32_t)at;
}

/* Feed the detector what token k released, as the live event did. */
static void
feed_detector(struct wb_turn *t, const struct wb_tok *k, int index)
{
    if (t->det == NULL)
        return;
    struct pd_token_event ev = { .id = k->id, .index = index, .segment = k->seg,
                                 .logprob = k->logprob, .entropy = k->entropy, .t = k->t };
    for (int s = 0; s < 2; s++)
        if (k->len[s]) {
            ev.spans[ev.n_spans++] = (struct pd_text_span){
                s == WB_THINK ? PD_SEG_THINK : PD_SEG_ANSWER, t->seg[s].p + k->off[s], k->len[s] };
        }
    pd_aha_feed_event(t->det, &ev);
}

void
wb_turn_load_stored(struct wb *w, struct wb_turn *t, const struct pd_token_list *rows)
{
    size_t pos[2] = { 0, 0 };
    /* the texts' leading blank is not in any token's bytes when the template opened <think> */
    t->n_tok = 0;
    t->n_think = 0;
    t->think_t0 = -1;
    t->n_route = 0;
    struct pd_aha_params ap = { .cues = w->cues };
    char err[PD_ERR_MAX];
    pd_aha_free(t->det);
    t->det = NULL;
    pd_aha_new(&t->det, NULL, &ap, err);
    for (size_t i = 0; i < rows->n; i++) {
        const struct pd_token_row *r = &rows->rows[i];
        struct wb_tok k = { .id = r->id, .seg = (uint8_t)r->segment, .logprob = r->logprob,
                            .entropy = r->entropy, .t = r->t, .route = -1,
                            .off = { (uint32_t)pos[0], (uint32_t)pos[1] } };
        int s = r->segment == PD_SEG_THINK ? WB_THINK : r->segment == PD_SEG_ANSWER ? WB_ANSWER
                                                                                    : -1;
        if (s >= 0) {
            const struct wb_buf *b = &t->seg[s];
            /* text no token wrote (that leading blank) is stepped over, not matched */
            while (r->len > 0 && pos[s] < b->len && b->p[pos[s]] != r->bytes[0] &&
                   (b->p[pos[s]] == '\n' || b->p[pos[s]] == ' '))
                pos[s]++;
            k.off[s] = (uint32_t)pos[s];
            size_t n = 0;
            while (n < r->len && pos[s] + n < b->len && b->p[pos[s] + n] == r->bytes[n])
                n++;
            k.len[s] = (uint32_t)n;
            pos[s] += n;
        }
        add_route(t, &k, r->routing, r->routing_len);
        add_token(t, &k);
        feed_detector(t, &t->tok[t->n_tok - 1], (int)i);
    }
    if (t->det)
        pd_aha_finish(t->det);
    wb_turn_aha_update(w, t);
    for (int i = 0; i < 3; i++)
        t->lines[i].n = 0;
}

/* ---- replay ---- */

/* The turn as it was, set aside while it plays again. */
static struct {
    struct wb_tok *tok;
    size_t n;
    struct wb_buf seg[2], text;
    uint16_t *r_ids;
    float *r_w, *r_ent;
    int r_layers, r_k;
    size_t n_route;
} src;

static void
src_free(void)
{
    free(src.tok);
    wb_buf_free(&src.seg[0]);
    wb_buf_free(&src.seg[1]);
    wb_buf_free(&src.text);
    free(src.r_ids);
    free(src.r_w);
    free(src.r_ent);
    memset(&src, 0, sizeof src);
}

/* Empty the turn, ready to be filled again. */
static void
reset_turn(struct wb *w, struct wb_turn *t)
{
    t->n_tok = 0;
    t->seg[0].len = t->seg[1].len = 0;
    t->seg[0].p[0] = t->seg[1].p[0] = '\0';
    t->n_think = 0;
    t->think_t0 = -1;
    t->n_route = 0;
    t->n_aha = 0;
    for (int i = 1; i < 3; i++)
        t->lines[i].n = 0;
    if (t->det)
        pd_aha_reset(t->det);
    t->streaming = true;
    t->in_think = src.n && src.tok[0].seg == PD_SEG_THINK;
    if (!t->fold_by_user)
        t->folded = w->fold_mode == WB_FOLD_FOLDED;
}

/* Append the next set-aside token to the turn. */
static void
append_next(struct wb *w, struct wb_turn *t)
{
    const struct wb_tok *k = &src.tok[t->n_tok];
    struct wb_tok nk = *k;
    for (int s = 0; s < 2; s++) {
        nk.off[s] = (uint32_t)t->seg[s].len;
        if (k->len[s])
            wb_buf_add(&t->seg[s], src.seg[s].p + k->off[s], k->len[s]);
    }
    nk.route = -1;
    if (k->route >= 0 && src.r_layers > 0) {
        size_t pairs = (size_t)src.r_layers * (size_t)src.r_k;
        if (t->n_route == 0) {
            t->r_layers = src.r_layers;
            t->r_k = src.r_k;
        }
        if (t->n_route == t->cap_route) {
            t->cap_route = t->cap_route ? 2 * t->cap_route : 64;
            t->r_ids = chat_xrealloc(t->r_ids, t->cap_route * pairs * sizeof *t->r_ids);
            t->r_w = chat_xrealloc(t->r_w, t->cap_route * pairs * sizeof *t->r_w);
            t->r_ent = chat_xrealloc(t->r_ent,
                                     t->cap_route * (size_t)src.r_layers * sizeof *t->r_ent);
        }
        size_t at = t->n_route++;
        memcpy(t->r_ids + at * pairs, src.r_ids + (size_t)k->route * pairs,
               pairs * sizeof *t->r_ids);
        memcpy(t->r_w + at * pairs, src.r_w + (size_t)k->route * pairs, pairs * sizeof *t->r_w);
        memcpy(t->r_ent + at * (size_t)src.r_layers,
               src.r_ent + (size_t)k->route * (size_t)src.r_layers,
               (size_t)src.r_layers * sizeof *t->r_ent);
        nk.route = (int32_t)at;
    }
    add_token(t, &nk);
    feed_detector(t, &t->tok[t->n_tok - 1], (int)t->n_tok - 1);
    bool was = t->in_think;
    /* a tag token opens or closes the thoughts */
    t->in_think = nk.seg == PD_SEG_TAG ? !was : nk.seg == PD_SEG_THINK;
    if (was && !t->in_think && !t->fold_by_user && w->fold_mode == WB_FOLD_AUTO)
        t->folded = true;
    w->cur_tok = (int)t->n_tok - 1;
}

void
wb_replay_start(struct wb *w, int ti)
{
    if (w->generating) {
        wb_message(w, "wait for the reply to end (Ctrl-C stops it)");
        return;
    }
    struct wb_turn *t = &w->turns[ti];
    if (t->n_tok == 0) {
        wb_message(w, "this turn has no stored tokens to replay");
        return;
    }
    src_free();
    src.n = t->n_tok;
    src.tok = chat_xmalloc(src.n * sizeof *src.tok);
    memcpy(src.tok, t->tok, src.n * sizeof *src.tok);
    for (int s = 0; s < 2; s++)
        wb_buf_add(&src.seg[s], t->seg[s].p, t->seg[s].len);
    src.r_layers = t->r_layers;
    src.r_k = t->r_k;
    src.n_route = t->n_route;
    if (t->n_route) {
        size_t pairs = (size_t)t->r_layers * (size_t)t->r_k;
        src.r_ids = chat_xmalloc(t->n_route * pairs * sizeof *src.r_ids);
        src.r_w = chat_xmalloc(t->n_route * pairs * sizeof *src.r_w);
        src.r_ent = chat_xmalloc(t->n_route * (size_t)t->r_layers * sizeof *src.r_ent);
        memcpy(src.r_ids, t->r_ids, t->n_route * pairs * sizeof *src.r_ids);
        memcpy(src.r_w, t->r_w, t->n_route * pairs * sizeof *src.r_w);
        memcpy(src.r_ent, t->r_ent, t->n_route * (size_t)t->r_layers * sizeof *src.r_ent);
    }
    reset_turn(w, t);
    w->replaying = true;
    w->replay_paused = false;
    w->replay_turn = ti;
    if (w->replay_speed <= 0)
        w->replay_speed = 1.0;
    w->replay_clock = src.tok[0].t;
    w->replay_last = wb_now();
    w->cur_turn = ti;
    w->cur_tok = 0;
    w->focus = WB_FOCUS_TRANSCRIPT;
    wb_message(w, "replay: %zu tokens · Space pauses · > < speed · . , step · R stops", src.n);
}

static void
replay_end(struct wb *w, struct wb_turn *t)
{
    /* whatever was not shown yet comes back, so stopping never loses the turn */
    while (t->n_tok < src.n)
        append_next(w, t);
    t->streaming = false;
    if (t->det)
        pd_aha_finish(t->det);
    wb_turn_aha_update(w, t);
    wb_annot_load(w, t);
    if (!t->fold_by_user && w->fold_mode == WB_FOLD_AUTO)
        t->folded = true;
    w->replaying = false;
    src_free();
}

bool
wb_replay_tick(struct wb *w)
{
    if (!w->replaying)
        return false;
    struct wb_turn *t = &w->turns[w->replay_turn];
    double now = wb_now();
    if (!w->replay_paused)
        w->replay_clock += (now - w->replay_last) * w->replay_speed;
    w->replay_last = now;
    if (w->replay_paused)
        return false;
    size_t before = t->n_tok;
    while (t->n_tok < src.n && src.tok[t->n_tok].t <= w->replay_clock)
        append_next(w, t);
    if (t->n_tok != before)
        wb_turn_aha_update(w, t);
    if (t->n_tok == src.n) {
        replay_end(w, t);
        wb_message(w, "replay done");
        return true;
    }
    return t->n_tok != before;
}

void
wb_replay_step(struct wb *w, int n)
{
    long from = -1;   /* stepping outside a replay starts a paused one at the cursor's token */
    if (!w->replaying) {
        if (w->cur_turn < 0 || w->turns[w->cur_turn].n_tok == 0) {
            wb_message(w, "nothing to step through: put the cursor on a reply (Tab)");
            return;
        }
        from = w->cur_tok;
        wb_replay_start(w, w->cur_turn);
        if (!w->replaying)
            return;
    }
    struct wb_turn *t = &w->turns[w->replay_turn];
    w->replay_paused = true;
    long target = (from >= 0 ? from + 1 : (long)t->n_tok) + n;
    target = target < 1 ? 1 : target > (long)src.n ? (long)src.n : target;
    if (target < (long)t->n_tok) {
        bool folded = t->folded, by_user = t->fold_by_user;
        reset_turn(w, t);
        t->folded = folded;
        t->fold_by_user = by_user;
    }
    while ((long)t->n_tok < target)
        append_next(w, t);
    wb_turn_aha_update(w, t);
    w->replay_clock = t->tok[t->n_tok - 1].t;
    if (t->n_tok == src.n) {
        replay_end(w, t);
        wb_message(w, "replay done");
    } else if (from >= 0) {
        wb_message(w, "stepping from token %ld of %zu · . , step · } { scrub · Space plays · "
                   "R stops", from, src.n);
    }
}

void
wb_replay_stop(struct wb *w)
{
    if (!w->replaying)
        return;
    replay_end(w, &w->turns[w->replay_turn]);
    wb_message(w, "replay stopped");
}
