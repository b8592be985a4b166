/*
 * wb-doc.c: the workbench's document: turns as the views see them.
 *
 * An assistant turn keeps its text split by segment (think, answer) as the events released it,
 * and each token's byte range in those texts, so a view can find the token under any character
 * without parsing tags. Wrapped lines are cached per width and extended as text streams in: a
 * line is final once the next one has begun, so only the last line is wrapped again.
 */
#include "config.h"

#include "tui/wb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

void
wb_buf_add(struct wb_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = PD_MAX(2 * b->cap, b->len + n + 256);
        b->p = chat_xrealloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
wb_buf_free(struct wb_buf *b)
{
    free(b->p);
    *b = (struct wb_buf){ 0 };
}

struct wb_turn *
wb_turn_add(struct wb *w, const char *role, const char *text)
{
    if (w->n_turns == w->cap_turns) {
        w->cap_turns = w->cap_turns ? 2 * w->cap_turns : 16;
        w->turns = chat_xrealloc(w->turns, w->cap_turns * sizeof *w->turns);
    }
    struct wb_turn *t = &w->turns[w->n_turns++];
    *t = (struct wb_turn){ .think_t0 = -1 };
    snprintf(t->role, sizeof t->role, "%s", role);
    wb_buf_add(&t->text, text ? text : "", text ? strlen(text) : 0);
    wb_buf_add(&t->seg[0], "", 0);
    wb_buf_add(&t->seg[1], "", 0);
    t->folded = w->fold_mode == WB_FOLD_FOLDED;
    return t;
}

void
wb_turn_free(struct wb_turn *t)
{
    wb_buf_free(&t->text);
    wb_buf_free(&t->seg[0]);
    wb_buf_free(&t->seg[1]);
    free(t->tok);
    free(t->r_ids);
    free(t->r_w);
    free(t->r_ent);
    free(t->aha);
    pd_aha_free(t->det);
    for (size_t i = 0; i < t->n_notes; i++)
        free(t->notes[i].value);
    free(t->notes);
    free(t->gold);
    for (int i = 0; i < 3; i++)
        free(t->lines[i].start);
    *t = (struct wb_turn){ 0 };
}

void
wb_doc_clear(struct wb *w)
{
    for (size_t i = 0; i < w->n_turns; i++)
        wb_turn_free(&w->turns[i]);
    w->n_turns = 0;
    wb_routing_forget();
    w->cur_turn = -1;
    w->cur_tok = 0;
    w->sel_from = -1;
    w->scroll = 0;
    w->follow = true;
}

static void
push_routing(struct wb_turn *t, struct wb_tok *k, const struct pd_routing *r)
{
    if (r == NULL || r->n_layers <= 0 || r->k <= 0 || r->n_layers * r->k > WB_MAX_PAIRS)
        return;
    if (t->n_route == 0) {
        t->r_layers = r->n_layers;
        t->r_k = r->k;
    } else if (t->r_layers != r->n_layers || t->r_k != r->k) {
        return;
    }
    size_t pairs = (size_t)r->n_layers * (size_t)r->k;
    if (t->n_route == t->cap_route) {
        t->cap_route = t->cap_route ? 2 * t->cap_route : 64;
        t->r_ids = chat_xrealloc(t->r_ids, t->cap_route * pairs * sizeof *t->r_ids);
        t->r_w = chat_xrealloc(t->r_w, t->cap_route * pairs * sizeof *t->r_w);
        t->r_ent = chat_xrealloc(t->r_ent, t->cap_route * (size_t)r->n_layers * sizeof *t->r_ent);
    }
    size_t at = t->n_route++;
    for (size_t i = 0; i < pairs; i++) {
        t->r_ids[at * pairs + i] = (uint16_t)r->ids[i];
        t->r_w[at * pairs + i] = r->weights[i];
    }
    for (int l = 0; l < r->n_layers; l++)
        t->r_ent[at * (size_t)r->n_layers + (size_t)l] = r->entropy ? r->entropy[l] : -1.0f;
    k->route = (int32_t)at;
}

void
wb_turn_push_event(struct wb *w, struct wb_turn *t, const struct pd_token_event *ev)
{
    (void)w;
    if (ev->id >= 0) {
        if (t->n_tok == t->cap_tok) {
            t->cap_tok = t->cap_tok ? 2 * t->cap_tok : 256;
            t->tok = chat_xrealloc(t->tok, t->cap_tok * sizeof *t->tok);
        }
        struct wb_tok *k = &t->tok[t->n_tok++];
        *k = (struct wb_tok){ .id = ev->id, .seg = (uint8_t)ev->segment, .logprob = ev->logprob,
                              .entropy = ev->entropy, .t = ev->t, .route = -1,
                              .off = { (uint32_t)t->seg[0].len, (uint32_t)t->seg[1].len } };
        k->n_top = (int8_t)PD_MIN(ev->n_top, WB_TOP);
        for (int i = 0; i < k->n_top; i++) {
            k->top_ids[i] = ev->top_ids[i];
            k->top_lp[i] = ev->top_logprobs[i];
        }
        push_routing(t, k, ev->routing);
        if (ev->segment == PD_SEG_THINK) {
            if (t->think_t0 < 0)
                t->think_t0 = ev->t;
            t->think_t1 = ev->t;
            t->n_think++;
        }
    }
    /* Text: a token's spans go to its own entry; the closing event (id -1) to the last one. */
    struct wb_tok *k = t->n_tok ? &t->tok[t->n_tok - 1] : NULL;
    for (int i = 0; i < ev->n_spans; i++) {
        const struct pd_text_span *sp = &ev->spans[i];
        wb_buf_add(&t->text, sp->text, sp->len);
        int s = sp->segment == PD_SEG_THINK ? WB_THINK : sp->segment == PD_SEG_ANSWER ? WB_ANSWER
                                                                                      : -1;
        if (s < 0)
            continue;
        if (k && k->len[s] == 0)
            k->off[s] = (uint32_t)t->seg[s].len;
        wb_buf_add(&t->seg[s], sp->text, sp->len);
        if (k)
            k->len[s] = (uint32_t)(t->seg[s].len - k->off[s]);
    }
    if (t->det)
        pd_aha_feed_event(t->det, ev);
    bool was_in_think = t->in_think;
    t->in_think = ev->segment == PD_SEG_THINK;
    for (int i = 0; i < ev->n_spans; i++)
        if (ev->spans[i].segment != PD_SEG_THINK)
            t->in_think = false;
    if (was_in_think && !t->in_think && !t->fold_by_user && w->fold_mode == WB_FOLD_AUTO)
        t->folded = true;
}

/* ---- wrapping ---- */

int
wb_char_width(const char *s, size_t n, size_t *used, wchar_t *wc)
{
    unsigned char b = (unsigned char)s[0];
    size_t len = b < 0x80 ? 1 : b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (len > n)
        len = n;
    uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1f : len == 3 ? b & 0x0f : b & 0x07;
    for (size_t i = 1; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            len = i;
            cp = 0xfffd;
            break;
        }
        cp = cp << 6 | ((unsigned char)s[i] & 0x3f);
    }
    if (len == 1 && b >= 0x80)
        cp = 0xfffd;
    *used = len;
    if (wc)
        *wc = (wchar_t)cp;
    if (cp == '\t')
        return 4;
    if (cp < 0x20 || cp == 0x7f)
        return 0;
    int wd = wcwidth((wchar_t)cp);
    return wd < 0 ? 1 : wd;
}

static void
lines_push(struct wb_lines *l, size_t at)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->start = chat_xrealloc(l->start, l->cap * sizeof *l->start);
    }
    l->start[l->n++] = (uint32_t)at;
}

/* Wrap text[from..len) as the continuation of a line that starts at from. Words move to the next
 * line whole when they fit on one; longer ones are cut. */
static void
wrap_from(struct wb_lines *l, const char *text, size_t from, size_t len)
{
    size_t line = from, space = 0;   /* space: where the line may break (after a space) */
    int col = 0, col_at_space = 0;
    for (size_t i = from; i < len;) {
        if (text[i] == '\n') {
            i++;
            lines_push(l, i);
            line = i;
            space = 0;
            col = 0;
            continue;
        }
        size_t used;
        int cw = wb_char_width(text + i, len - i, &used, NULL);
        if (col + cw > l->width && col > 0) {
            if (space > line) {
                lines_push(l, space);
                line = space;
                col -= col_at_space;
            } else {
                lines_push(l, i);
                line = i;
                col = 0;
            }
            space = 0;
        }
        col += cw;
        i += used;
        if (text[i - used] == ' ') {
            space = i;
            col_at_space = col;
        }
    }
}

const struct wb_lines *
wb_turn_lines(struct wb_turn *t, int part, int width)
{
    struct wb_lines *l = &t->lines[part];
    const struct wb_buf *b = part == 0 ? &t->text : &t->seg[part - 1];
    if (width < 1)
        width = 1;
    if (l->width != width || b->len < l->len) {
        l->n = 0;
        l->len = 0;
        l->width = width;
    }
    if (l->n == 0) {
        size_t skip = 0;   /* leading blank lines and spaces are not shown */
        while (skip < b->len && (b->p[skip] == '\n' || b->p[skip] == ' '))
            skip++;
        lines_push(l, skip);
        l->len = skip;
    }
    if (b->len > l->len) {
        /* the last line may still grow or break: wrap again from its start */
        wrap_from(l, b->p, l->start[l->n - 1], b->len);
        l->len = b->len;
    }
    return l;
}

size_t
wb_lines_visible(const struct wb_turn *t, int part, const struct wb_lines *l)
{
    const struct wb_buf *b = part == 0 ? &t->text : &t->seg[part - 1];
    size_t n = l->n;
    while (n > 1) {
        size_t a = l->start[n - 1], z = b->len;
        bool blank = true;
        for (size_t i = a; i < z && blank; i++)
            blank = b->p[i] == '\n' || b->p[i] == ' ';
        if (!blank)
            break;
        n--;
    }
    return n;
}

int
wb_turn_token_at(const struct wb_turn *t, int seg, size_t off)
{
    size_t lo = 0, hi = t->n_tok;
    /* tokens' offsets in a segment never decrease: binary search the last one starting <= off */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->tok[mid].off[seg] <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i-- > 0;) {
        const struct wb_tok *k = &t->tok[i];
        if (k->len[seg] == 0)
            continue;
        return off < k->off[seg] + k->len[seg] ? (int)i : -1;
    }
    return -1;
}

/* 1832 as "1,832". */
static void
thousands(char *out, size_t size, long v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%ld", v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

void
wb_fold_line(const struct wb_turn *t, char *out, size_t size)
{
    char n[32];
    thousands(n, sizeof n, t->n_think);
    double secs = t->think_t0 >= 0 ? t->think_t1 - t->think_t0 : 0.0;
    int flags = 0;
    for (size_t i = 0; i < t->n_aha; i++)
        flags += t->aha[i].status >= 0;
    const char *verb = t->streaming && t->in_think ? "thinking" : "thought";
    int len = snprintf(out, size, "%s %s %.1f s · %s tok", t->folded ? "▸" : "▾", verb, secs, n);
    if (flags && len > 0 && (size_t)len < size)
        len += snprintf(out + len, size - (size_t)len, " · %d aha", flags);
    if (t->stop[0] && strcmp(t->stop, "eog") != 0 && len > 0 && (size_t)len < size)
        snprintf(out + len, size - (size_t)len, " · %s", t->stop);
}

/* ---- aha flags ---- */

static void
describe(const struct pd_aha_flag *f, char *out, size_t size)
{
    int o = snprintf(out, size, "%s", pd_aha_evidence_label(f->evidence));
    if (f->cue[0] && o >= 0 && (size_t)o < size)
        o += snprintf(out + o, size - (size_t)o, " · “%s”", f->cue);
    if ((f->evidence & PD_AHA_EV_ENTROPY) && o >= 0 && (size_t)o < size)
        o += snprintf(out + o, size - (size_t)o, " · entropy %.2f (base %.2f±%.2f)", f->entropy,
                      f->base_mean, f->base_std);
    if ((f->evidence & (PD_AHA_EV_ANSWER_CHANGED | PD_AHA_EV_ANSWER_SAME)) && o >= 0 &&
        (size_t)o < size)
        snprintf(out + o, size - (size_t)o, " · answer %s %s %s", f->answer_before,
                 f->evidence & PD_AHA_EV_ANSWER_CHANGED ? "→" : "=", f->answer_after);
}

void
wb_turn_aha_update(struct wb *w, struct wb_turn *t)
{
    (void)w;
    if (t->det == NULL)
        return;
    size_t n;
    const struct pd_aha_flag *f = pd_aha_flags(t->det, &n);
    struct wb_aha *a = n ? chat_xmalloc(n * sizeof *a) : NULL;
    for (size_t i = 0; i < n; i++) {
        a[i] = (struct wb_aha){ .tok_from = f[i].tok_from, .tok_to = f[i].tok_to,
                                .score = f[i].score };
        /* the user's verdict and the stored row stay with the flag */
        for (size_t j = 0; j < t->n_aha; j++)
            if (t->aha[j].tok_from == a[i].tok_from) {
                a[i].status = t->aha[j].status;
                a[i].store_id = t->aha[j].store_id;
            }
        if (a[i].tok_from < 0 || (size_t)a[i].tok_from >= t->n_tok)
            a[i].tok_from = t->n_tok ? (int)t->n_tok - 1 : 0;
        if (a[i].tok_to < a[i].tok_from || (size_t)a[i].tok_to >= t->n_tok)
            a[i].tok_to = a[i].tok_from;
        describe(&f[i], a[i].evidence, sizeof a[i].evidence);
    }
    free(t->aha);
    t->aha = a;
    t->n_aha = t->n_tok ? n : 0;
}
