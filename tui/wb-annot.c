/*
 * wb-annot.c: annotating in the workbench: labels and comments on a selected span (or the token
 * under the cursor), the turn's gold answer and rating, and the user's verdict on aha flags.
 * Everything goes to the store at once (annotations and aha_events tables) and is read back
 * with the turn, so what the user sees is what is stored. Editing: a label, comment or gold
 * answer given again for the same span replaces the old one; an empty text deletes it.
 */
#include "config.h"

#include "sessions/aha.h"
#include "tui/wb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wb_turn *
annot_turn(struct wb *w)
{
    if (w->cur_turn < 0 || (size_t)w->cur_turn >= w->n_turns)
        return NULL;
    struct wb_turn *t = &w->turns[w->cur_turn];
    return t->role[0] == 'a' ? t : NULL;
}

/* The turn to annotate, stored; NULL after a message. */
static struct wb_turn *
stored_turn(struct wb *w)
{
    struct wb_turn *t = annot_turn(w);
    if (t == NULL) {
        wb_message(w, "put the cursor on a reply first (Tab, then the arrows)");
        return NULL;
    }
    if (w->c->st == NULL || t->id == 0) {
        wb_message(w, "this reply is not in the session store, so it cannot be annotated");
        return NULL;
    }
    if (t->streaming) {
        wb_message(w, "wait for the reply to end");
        return NULL;
    }
    return t;
}

static int
load_note(void *user, const struct pd_annot_row *r)
{
    struct wb_turn *t = user;
    if (r->kind == PD_ANNOT_RATING) {
        t->rating = strcmp(r->value, "good") == 0 ? 1 : strcmp(r->value, "bad") == 0 ? -1 : 0;
        return 0;
    }
    if (r->kind == PD_ANNOT_GOLD) {
        free(t->gold);
        t->gold = chat_xstrdup(r->value);
        return 0;
    }
    if (r->kind == PD_ANNOT_LABEL && strncmp(r->value, "aha:", 4) == 0)
        return 0;   /* verdicts on aha flags: shown with the flags */
    t->notes = chat_xrealloc(t->notes, (t->n_notes + 1) * sizeof *t->notes);
    t->notes[t->n_notes++] = (struct wb_note){ .id = r->id, .kind = (int)r->kind,
                                               .from = r->span_from, .to = r->span_to,
                                               .value = chat_xstrdup(r->value) };
    return 0;
}

static int
load_verdict(void *user, const struct pd_aha_row *r)
{
    struct wb_turn *t = user;
    for (size_t i = 0; i < t->n_aha; i++)
        if (t->aha[i].tok_from == r->flag.tok_from) {
            t->aha[i].store_id = r->id;
            t->aha[i].status = r->verdict == PD_AHA_CONFIRMED  ? 1
                               : r->verdict == PD_AHA_REJECTED ? -1
                                                               : 0;
        }
    return 0;
}

void
wb_annot_load(struct wb *w, struct wb_turn *t)
{
    char err[PD_ERR_MAX];
    for (size_t i = 0; i < t->n_notes; i++)
        free(t->notes[i].value);
    t->n_notes = 0;
    t->rating = 0;
    if (w->c->st == NULL || t->id == 0)
        return;
    if (pd_store_annotations_each(w->c->st, t->id, load_note, t, err) ||
        pd_store_aha_list(w->c->st, t->id, NULL, load_verdict, t, err))
        wb_message(w, "%s", err);
}

void
wb_annot_store_aha(struct wb *w, struct wb_turn *t)
{
    char err[PD_ERR_MAX];
    if (w->c->st == NULL || t->id == 0 || t->det == NULL)
        return;
    size_t n;
    const struct pd_aha_flag *f = pd_aha_flags(t->det, &n);
    if (pd_store_aha_replace(w->c->st, t->id, pd_aha_detector_of(t->det), f, n, err) ||
        pd_store_aha_list(w->c->st, t->id, NULL, load_verdict, t, err))
        wb_message(w, "aha flags not stored: %s", err);
}

/* The span to annotate: the selection, else the token under the cursor. */
static void
span(const struct wb *w, int *from, int *to)
{
    *from = *to = w->cur_tok;
    if (w->sel_from >= 0) {
        *from = PD_MIN(w->sel_from, w->cur_tok);
        *to = PD_MAX(w->sel_from, w->cur_tok);
    }
}

/* Store a span note of kind, replacing one of the same kind on the same span. */
static void
put_note(struct wb *w, enum pd_annot_kind kind, const char *text)
{
    struct wb_turn *t = stored_turn(w);
    char err[PD_ERR_MAX];
    if (t == NULL || text == NULL)
        return;
    int from, to;
    span(w, &from, &to);
    for (size_t i = 0; i < t->n_notes; i++) {
        struct wb_note *n = &t->notes[i];
        if (n->kind != (int)kind || n->from != from || n->to != to)
            continue;
        int rc = text[0] ? pd_store_annotation_set(w->c->st, n->id, text, err)
                         : pd_store_annotation_rm(w->c->st, n->id, err);
        if (rc)
            wb_message(w, "%s", err);
        else
            wb_message(w, "%s %s", pd_annot_kind_name(kind), text[0] ? "changed" : "deleted");
        wb_annot_load(w, t);
        return;
    }
    if (text[0] == '\0')
        return;
    if (pd_store_annotate(w->c->st, t->id, kind, text, from, to, NULL, err)) {
        wb_message(w, "%s", err);
        return;
    }
    wb_message(w, "%s on tokens %d-%d stored", pd_annot_kind_name(kind), from, to);
    w->sel_from = -1;
    wb_annot_load(w, t);
}

static const char *
existing(struct wb *w, enum pd_annot_kind kind)
{
    struct wb_turn *t = annot_turn(w);
    int from, to;
    span(w, &from, &to);
    for (size_t i = 0; t && i < t->n_notes; i++)
        if (t->notes[i].kind == (int)kind && t->notes[i].from == from && t->notes[i].to == to)
            return t->notes[i].value;
    return NULL;
}

static void
got_label(struct wb *w, const char *text)
{
    put_note(w, PD_ANNOT_LABEL, text);
}

static void
got_comment(struct wb *w, const char *text)
{
    put_note(w, PD_ANNOT_COMMENT, text);
}

int
wb_key_label(struct wb *w)
{
    if (stored_turn(w))
        wb_ask(w, "label: ", existing(w, PD_ANNOT_LABEL), got_label);
    return WB_REDRAW;
}

int
wb_key_comment(struct wb *w)
{
    if (stored_turn(w))
        wb_ask(w, "comment: ", existing(w, PD_ANNOT_COMMENT), got_comment);
    return WB_REDRAW;
}

/* Ids of a turn's whole-turn annotations of one kind (one rating, one gold answer per turn). */
struct same_kind {
    enum pd_annot_kind kind;
    int64_t ids[32];
    int n;
};

static int
collect_kind(void *user, const struct pd_annot_row *r)
{
    struct same_kind *sk = user;
    if (r->kind == sk->kind && r->span_from < 0 && sk->n < (int)PD_ARRAY_SIZE(sk->ids))
        sk->ids[sk->n++] = r->id;
    return 0;
}

/* A whole-turn annotation of kind, replacing the previous ones; "" deletes them. */
static void
put_turn_value(struct wb *w, enum pd_annot_kind kind, const char *value)
{
    struct wb_turn *t = stored_turn(w);
    char err[PD_ERR_MAX];
    if (t == NULL || value == NULL)
        return;
    struct same_kind sk = { .kind = kind };
    int rc = pd_store_annotations_each(w->c->st, t->id, collect_kind, &sk, err);
    for (int i = 0; rc == 0 && i < sk.n; i++)
        rc = pd_store_annotation_rm(w->c->st, sk.ids[i], err);
    if (rc == 0 && value[0])
        rc = pd_store_annotate(w->c->st, t->id, kind, value, -1, -1, NULL, err);
    if (rc)
        wb_message(w, "%s", err);
    else if (value[0])
        wb_message(w, "%s: %s (stored)", pd_annot_kind_name(kind), value);
    else
        wb_message(w, "%s removed", pd_annot_kind_name(kind));
    wb_annot_load(w, t);
}

static void
got_gold(struct wb *w, const char *text)
{
    put_turn_value(w, PD_ANNOT_GOLD, text);
}

int
wb_key_gold(struct wb *w)
{
    struct wb_turn *t = stored_turn(w);
    if (t)
        wb_ask(w, "gold answer: ", t->gold, got_gold);
    return WB_REDRAW;
}

static int
rate(struct wb *w, int r)
{
    struct wb_turn *t = stored_turn(w);
    if (t)
        put_turn_value(w, PD_ANNOT_RATING, t->rating == r ? "" : r > 0 ? "good" : "bad");
    return WB_REDRAW;
}

int
wb_key_rate_good(struct wb *w)
{
    return rate(w, 1);
}

int
wb_key_rate_bad(struct wb *w)
{
    return rate(w, -1);
}

/* The flag at or nearest before the cursor (within the turn); -1 when none. */
static int
flag_at_cursor(struct wb *w, struct wb_turn *t)
{
    int best = -1;
    for (size_t i = 0; i < t->n_aha; i++) {
        if (t->aha[i].tok_from > w->cur_tok + 2)
            continue;
        if (best < 0 || t->aha[i].tok_from > t->aha[best].tok_from)
            best = (int)i;
    }
    return best;
}

static int
judge(struct wb *w, enum pd_aha_verdict v)
{
    struct wb_turn *t = stored_turn(w);
    char err[PD_ERR_MAX];
    if (t == NULL)
        return WB_REDRAW;
    int i = flag_at_cursor(w, t);
    if (i < 0 || t->aha[i].store_id == 0) {
        wb_message(w, "no stored aha flag at the cursor (n jumps to the next one)");
        return WB_REDRAW;
    }
    struct wb_aha *a = &t->aha[i];
    int now = v == PD_AHA_CONFIRMED ? 1 : -1;
    if (a->status == now)   /* the same key again takes the verdict back */
        v = PD_AHA_UNJUDGED;
    if (pd_store_aha_judge(w->c->st, a->store_id, v, NULL, err)) {
        wb_message(w, "%s", err);
        return WB_REDRAW;
    }
    a->status = v == PD_AHA_UNJUDGED ? 0 : now;
    wb_message(w, "aha flag at token %d %s", a->tok_from, pd_aha_verdict_name(v));
    return WB_REDRAW;
}

int
wb_key_aha_confirm(struct wb *w)
{
    return judge(w, PD_AHA_CONFIRMED);
}

int
wb_key_aha_reject(struct wb *w)
{
    return judge(w, PD_AHA_REJECTED);
}
