/*
 * view-sessions.c: the sessions view (F2): the stored sessions newest first, or the hits of a
 * full-text search over thoughts and answers; open one into the chat view, rename, delete (asks
 * first), fork. Opening rebuilds each assistant turn from its stored tokens (wb-replay.c), so
 * the token cursor, routing views, aha flags and annotations work on old turns as on new ones.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/wb.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
items_free(struct wb *w)
{
    for (size_t i = 0; i < w->n_items; i++) {
        free(w->items[i].title);
        free(w->items[i].model);
        free(w->items[i].snippet);
    }
    free(w->items);
    w->items = NULL;
    w->n_items = 0;
}

static struct wb_session_item *
item_new(struct wb *w)
{
    w->items = chat_xrealloc(w->items, (w->n_items + 1) * sizeof *w->items);
    struct wb_session_item *it = &w->items[w->n_items++];
    *it = (struct wb_session_item){ 0 };
    return it;
}

static int
on_session(void *user, const struct pd_session_row *r)
{
    struct wb *w = user;
    struct wb_session_item *it = item_new(w);
    it->id = r->id;
    it->title = chat_xstrdup(r->title ? r->title : "");
    it->model = chat_xstrdup(r->model ? r->model : "");
    it->n_turns = r->n_turns;
    it->n_tokens = r->n_tokens;
    it->updated = r->updated;
    return 0;
}

static int
on_hit(void *user, const struct pd_search_hit *h)
{
    struct wb *w = user;
    struct wb_session_item *it = item_new(w);
    it->id = h->session;
    it->title = chat_xstrdup(h->title ? h->title : "");
    char s[600];
    snprintf(s, sizeof s, "%s: %s", h->in_think ? "thought" : "answer",
             h->snippet ? h->snippet : "");
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    it->snippet = chat_xstrdup(s);
    return 0;
}

void
wb_sessions_reload(struct wb *w)
{
    char err[PD_ERR_MAX];
    items_free(w);
    if (w->c->st == NULL)
        return;
    int rc = w->search[0] ? pd_store_search(w->c->st, w->search, 200, on_hit, w, err)
                          : pd_store_sessions_list(w->c->st, 500, NULL, on_session, w, err);
    if (rc)
        wb_message(w, "%s", err);
    if (w->item_cur >= (int)w->n_items)
        w->item_cur = w->n_items ? (int)w->n_items - 1 : 0;
}

void
wb_draw_sessions(struct wb *w, int top, int height, int width)
{
    attrset(A_BOLD);
    char head[256];
    if (w->search[0])
        snprintf(head, sizeof head, "search “%s” · %zu hits · Esc: all sessions", w->search,
                 w->n_items);
    else
        snprintf(head, sizeof head, "sessions · %zu · Enter open · / search · r rename · "
                 "d delete · f fork · Esc back", w->n_items);
    mvaddnstr(top, 1, head, width - 2);
    attrset(A_NORMAL);
    int rows = height - 1;
    if (rows < 1)
        return;
    if (w->n_items == 0) {
        attrset(wb_attr_dim(w));
        mvaddnstr(top + 1, 1, w->search[0] ? "nothing matches" : "no sessions yet", width - 2);
        attrset(A_NORMAL);
        return;
    }
    if (w->item_cur < w->item_top)
        w->item_top = w->item_cur;
    if (w->item_cur >= w->item_top + rows)
        w->item_top = w->item_cur - rows + 1;
    for (int r = 0; r < rows && w->item_top + r < (int)w->n_items; r++) {
        const struct wb_session_item *it = &w->items[w->item_top + r];
        char line[1024];
        if (it->snippet) {
            snprintf(line, sizeof line, "%5lld  %-28.28s  %s", (long long)it->id, it->title,
                     it->snippet);
        } else {
            char when[32] = "";
            time_t secs = (time_t)(it->updated / 1000);
            struct tm tm;
            if (localtime_r(&secs, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
            snprintf(line, sizeof line, "%5lld  %s  %3d turns %6lld tok  %-40.40s  %s",
                     (long long)it->id, when, it->n_turns, (long long)it->n_tokens, it->title,
                     it->model);
        }
        attrset(w->item_top + r == w->item_cur ? A_REVERSE : A_NORMAL);
        mvhline(top + 1 + r, 0, ' ', width);
        mvaddnstr(top + 1 + r, 1, line, width - 2);
    }
    attrset(A_NORMAL);
}

/* ---- opening a session ---- */

struct open_ctx {
    struct wb *w;
    struct pd_token_list tokens;
};

static int
open_turn(void *user, const struct pd_turn_row *r)
{
    struct open_ctx *o = user;
    struct wb *w = o->w;
    struct chat *c = w->c;
    char err[PD_ERR_MAX];
    bool asst = strcmp(r->role, "assistant") == 0;
    /* an assistant turn right after another is a regeneration that replaced it */
    if (asst && c->n_msgs && strcmp(c->msgs[c->n_msgs - 1].role, "assistant") == 0) {
        chat_truncate(c, c->n_msgs - 1);
        wb_turn_free(&w->turns[--w->n_turns]);
    }
    struct chat_msg *m = chat_push(c, r->role, r->text);
    struct wb_turn *t = wb_turn_add(w, r->role, asst ? "" : r->text);
    t->id = r->id;
    if (!asst)
        return 0;
    free(m->think);
    free(m->answer);
    m->think = chat_xstrdup(r->think ? r->think : "");
    m->answer = chat_xstrdup(r->answer ? r->answer : "");
    m->n_think = r->n_think;
    m->think_s = r->think_s;
    wb_buf_add(&t->text, r->text, strlen(r->text));
    if (r->think)
        wb_buf_add(&t->seg[WB_THINK], r->think, strlen(r->think));
    if (r->answer)
        wb_buf_add(&t->seg[WB_ANSWER], r->answer, strlen(r->answer));
    snprintf(t->stop, sizeof t->stop, "%s", r->stop ? r->stop : "");
    t->folded = w->fold_mode != WB_FOLD_OPEN;
    if (pd_store_turn_tokens(c->st, r->id, &o->tokens, err) == 0) {
        wb_turn_load_stored(w, t, &o->tokens);
        pd_token_list_free(&o->tokens);
    } else {
        wb_message(w, "%s", err);
    }
    if (t->n_tok == 0) {   /* a turn stored without tokens: its counts from the row */
        t->n_think = r->n_think;
        t->think_t0 = 0;
        t->think_t1 = r->think_s;
    }
    wb_annot_load(w, t);
    /* flags this ponder's detector raises that the store does not have yet (a turn imported, or
     * stored before the detector existed) are stored now, so they can be judged */
    bool missing = false;
    for (size_t i = 0; i < t->n_aha; i++)
        missing |= t->aha[i].store_id == 0;
    if (missing)
        wb_annot_store_aha(w, t);
    return 0;
}

int
wb_session_open(struct wb *w, int64_t id)
{
    struct chat *c = w->c;
    char err[PD_ERR_MAX];
    if (w->generating || w->replaying) {
        wb_message(w, "wait for the reply to end (Ctrl-C stops it)");
        return -1;
    }
    chat_truncate(c, 0);
    wb_doc_clear(w);
    struct open_ctx o = { .w = w };
    if (pd_store_turns_each(c->st, id, open_turn, &o, err)) {
        wb_message(w, "%s", err);
        chat_truncate(c, 0);
        wb_doc_clear(w);
        return -1;
    }
    c->session = id;
    w->session_shown = id;
    w->view = WB_VIEW_CHAT;
    w->focus = WB_FOCUS_TRANSCRIPT;
    w->follow = true;
    w->cur_turn = -1;
    for (int i = (int)w->n_turns - 1; i >= 0; i--)
        if (w->turns[i].role[0] == 'a' && w->turns[i].n_tok) {
            w->cur_turn = i;
            w->cur_tok = 0;
            break;
        }
    wb_message(w, "session %lld · %zu turns", (long long)id, w->n_turns);
    return 0;
}

/* ---- keys ---- */

static void
got_search(struct wb *w, const char *text)
{
    if (text == NULL)
        return;
    snprintf(w->search, sizeof w->search, "%s", text);
    w->item_cur = 0;
    wb_sessions_reload(w);
}

static void
got_title(struct wb *w, const char *text)
{
    char err[PD_ERR_MAX];
    if (text == NULL || w->n_items == 0 || !text[0])
        return;
    int64_t id = w->items[w->item_cur].id;
    if (pd_store_session_set_title(w->c->st, id, text, err))
        wb_message(w, "%s", err);
    else
        wb_message(w, "session %lld renamed", (long long)id);
    wb_sessions_reload(w);
}

static void
got_delete(struct wb *w, const char *text)
{
    char err[PD_ERR_MAX];
    if (text == NULL || w->n_items == 0 || (strcmp(text, "y") != 0 && strcmp(text, "yes") != 0)) {
        wb_message(w, "not deleted");
        return;
    }
    int64_t id = w->items[w->item_cur].id;
    if (pd_store_session_rm(w->c->st, id, err)) {
        wb_message(w, "%s", err);
        return;
    }
    if (w->session_shown == id) {
        w->session_shown = 0;
        w->c->session = 0;
        chat_truncate(w->c, 0);
        wb_doc_clear(w);
    }
    wb_message(w, "session %lld deleted", (long long)id);
    wb_sessions_reload(w);
}

int
wb_sessions_key(struct wb *w, int is_key, unsigned ch)
{
    char err[PD_ERR_MAX];
    int n = (int)w->n_items;
    if (is_key) {
        switch (ch) {
        case KEY_UP: w->item_cur = PD_MAX(0, w->item_cur - 1); return WB_REDRAW;
        case KEY_DOWN: w->item_cur = PD_MAX(0, PD_MIN(n - 1, w->item_cur + 1)); return WB_REDRAW;
        case KEY_PPAGE: w->item_cur = PD_MAX(0, w->item_cur - (w->rows - 4)); return WB_REDRAW;
        case KEY_NPAGE:
            w->item_cur = PD_MAX(0, PD_MIN(n - 1, w->item_cur + (w->rows - 4)));
            return WB_REDRAW;
        case KEY_HOME: w->item_cur = 0; return WB_REDRAW;
        case KEY_END: w->item_cur = PD_MAX(0, n - 1); return WB_REDRAW;
        case KEY_ENTER: break;
        default: return -1;
        }
    }
    switch (ch) {
    case 'k': w->item_cur = PD_MAX(0, w->item_cur - 1); return WB_REDRAW;
    case 'j': w->item_cur = PD_MAX(0, PD_MIN(n - 1, w->item_cur + 1)); return WB_REDRAW;
    case '\r':
    case '\n':
    case KEY_ENTER:
        if (n)
            wb_session_open(w, w->items[w->item_cur].id);
        return WB_REDRAW;
    case '/': wb_ask(w, "search: ", w->search, got_search); return WB_REDRAW;
    case 'r':
        if (n)
            wb_ask(w, "title: ", w->items[w->item_cur].title, got_title);
        return WB_REDRAW;
    case 'd':
        if (n)
            wb_ask(w, "delete this session and everything in it? (y/n) ", NULL, got_delete);
        return WB_REDRAW;
    case 'f':
        if (n) {
            int64_t id;
            if (pd_store_session_fork(w->c->st, w->items[w->item_cur].id, -1, &id, err))
                wb_message(w, "%s", err);
            else
                wb_message(w, "forked into session %lld", (long long)id);
            wb_sessions_reload(w);
        }
        return WB_REDRAW;
    case 27:
    case 'q':
        if (w->search[0]) {
            w->search[0] = '\0';
            wb_sessions_reload(w);
        } else {
            w->view = WB_VIEW_CHAT;
        }
        return WB_REDRAW;
    default: return -1;
    }
}
