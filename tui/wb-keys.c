/*
 * wb-keys.c: every key of the workbench, in one table that both the key handling and the help
 * overlay read (the input line's own editing is in wb-input.c); the mouse; yanking (OSC 52).
 *
 * Focus decides what a letter does: on the input line it is typed; in the transcript (Tab or
 * Esc moves there) it is a command. Function and control keys act everywhere.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/wb.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#undef CTRL
#define CTRL(c) ((c) & 0x1f)

static int
chat_height(const struct wb *w)
{
    int h = w->rows - 2;
    if (w->panel != WB_PANEL_NONE && wb_chat_width(w) >= w->cols && h >= 12)
        h -= h / 2 + 1;
    return PD_MAX(1, h);
}

static struct wb_turn *
cur_turn(struct wb *w)
{
    if (w->cur_turn < 0 || (size_t)w->cur_turn >= w->n_turns)
        return NULL;
    return &w->turns[w->cur_turn];
}

/* After the cursor moved: keep it in view. */
static int
cursor_moved(struct wb *w)
{
    wb_chat_scroll_to_cursor(w, chat_height(w), wb_chat_width(w));
    return WB_REDRAW;
}

/* ---- focus, folding, scrolling ---- */

static int
k_focus(struct wb *w)
{
    w->focus = w->focus == WB_FOCUS_INPUT ? WB_FOCUS_TRANSCRIPT : WB_FOCUS_INPUT;
    if (w->focus == WB_FOCUS_TRANSCRIPT && cur_turn(w) == NULL) {
        w->cur_turn = -1;
        wb_chat_cursor_lines(w, -1, wb_chat_width(w));
        if (cur_turn(w))
            cursor_moved(w);
    }
    return WB_REDRAW;
}

static int
k_to_input(struct wb *w)
{
    w->focus = WB_FOCUS_INPUT;
    return WB_REDRAW;
}

static int
k_fold(struct wb *w)
{
    struct wb_turn *t = cur_turn(w);
    if (t == NULL)
        return 0;
    t->folded = !t->folded;
    t->fold_by_user = true;
    return cursor_moved(w);
}

static int
k_fold_all(struct wb *w)
{
    bool any_open = false;
    for (size_t i = 0; i < w->n_turns; i++)
        any_open |= w->turns[i].role[0] == 'a' && !w->turns[i].folded;
    for (size_t i = 0; i < w->n_turns; i++) {
        w->turns[i].folded = any_open;
        w->turns[i].fold_by_user = true;
    }
    wb_message(w, "all thoughts %s", any_open ? "folded" : "open");
    return WB_REDRAW;
}

static int
k_fold_mode(struct wb *w)
{
    static const char *names[] = { "auto (open while streaming, folded after)", "open",
                                   "folded" };
    w->fold_mode = (w->fold_mode + 1) % 3;
    for (size_t i = 0; i < w->n_turns; i++) {
        struct wb_turn *t = &w->turns[i];
        t->fold_by_user = false;
        t->folded = w->fold_mode == WB_FOLD_FOLDED ||
                    (w->fold_mode == WB_FOLD_AUTO && !(t->streaming && t->in_think));
    }
    wb_message(w, "thoughts: %s", names[w->fold_mode]);
    return WB_REDRAW;
}

static int
k_left(struct wb *w)
{
    struct wb_turn *t = cur_turn(w);
    if (t && w->cur_tok > 0) {
        w->cur_tok--;
        return cursor_moved(w);
    }
    wb_chat_cursor_lines(w, -1, wb_chat_width(w));
    return cursor_moved(w);
}

static int
k_right(struct wb *w)
{
    struct wb_turn *t = cur_turn(w);
    if (t && (size_t)w->cur_tok + 1 < t->n_tok) {
        w->cur_tok++;
        return cursor_moved(w);
    }
    wb_chat_cursor_lines(w, 1, wb_chat_width(w));
    return cursor_moved(w);
}

static int
k_up(struct wb *w)
{
    wb_chat_cursor_lines(w, -1, wb_chat_width(w));
    return cursor_moved(w);
}

static int
k_down(struct wb *w)
{
    wb_chat_cursor_lines(w, 1, wb_chat_width(w));
    return cursor_moved(w);
}

static int
k_page_up(struct wb *w)
{
    w->follow = false;
    w->scroll = PD_MAX(0, w->scroll - chat_height(w) + 1);
    return WB_REDRAW;
}

static int
k_page_down(struct wb *w)
{
    w->scroll += chat_height(w) - 1;
    return WB_REDRAW;
}

static int
k_top(struct wb *w)
{
    w->follow = false;
    w->scroll = 0;
    w->cur_turn = -1;
    wb_chat_cursor_lines(w, 1, wb_chat_width(w));
    w->scroll = 0;
    return WB_REDRAW;
}

static int
k_bottom(struct wb *w)
{
    w->follow = true;
    for (int i = (int)w->n_turns - 1; i >= 0; i--)
        if (w->turns[i].n_tok) {
            w->cur_turn = i;
            w->cur_tok = (int)w->turns[i].n_tok - 1;
            break;
        }
    return WB_REDRAW;
}

/* ---- views and panels ---- */

static int
k_panel(struct wb *w)
{
    w->panel = (w->panel + 1) % WB_PANEL_N;
    return WB_REDRAW | WB_RELAYOUT;
}

static int
k_tint(struct wb *w)
{
    static const char *names[] = { "plain", "first expert at the chosen layer",
                                   "entropy (bright: uncertain)", "log-probability (bright: "
                                                                  "unlikely)" };
    w->tint = (w->tint + 1) % WB_TINT_N;
    if (w->tint == WB_TINT_EXPERT && !w->moe)
        w->tint++;
    wb_message(w, "tokens: %s", names[w->tint]);
    return WB_REDRAW;
}

static int
k_spark(struct wb *w)
{
    w->sparkline = !w->sparkline;
    wb_message(w, "sparkline: %s", !w->sparkline ? "off"
                                   : w->moe    ? "routing entropy per token (mean over layers)"
                                               : "sampling entropy per token (dense model)");
    return WB_REDRAW | WB_RELAYOUT;
}

static int
k_layer(struct wb *w, int d)
{
    if (!w->moe || w->n_moe_layers <= 0) {
        wb_message(w, "a dense model has no expert layers");
        return WB_REDRAW;
    }
    w->layer = (w->layer + d + w->n_moe_layers) % w->n_moe_layers;
    return WB_REDRAW;
}

static int
k_layer_next(struct wb *w)
{
    return k_layer(w, 1);
}

static int
k_layer_prev(struct wb *w)
{
    return k_layer(w, -1);
}

static int
k_help(struct wb *w)
{
    w->help = !w->help;
    return WB_REDRAW;
}

static int
k_sessions(struct wb *w)
{
    if (w->c->st == NULL) {
        wb_message(w, "the session store is off (--no-log, or it could not be opened)");
        return WB_REDRAW;
    }
    w->view = w->view == WB_VIEW_SESSIONS ? WB_VIEW_CHAT : WB_VIEW_SESSIONS;
    if (w->view == WB_VIEW_SESSIONS)
        wb_sessions_reload(w);
    return WB_REDRAW;
}

static int
k_quit(struct wb *w)
{
    return wb_train_quit(w);
}

static int
k_redraw(struct wb *w)
{
    clearok(curscr, TRUE);
    return WB_REDRAW;
}

/* ---- generation ---- */

static int
k_interrupt(struct wb *w)
{
    if (w->generating) {
        wb_gen_cancel(w);
        return WB_REDRAW;
    }
    if (w->replaying) {
        wb_replay_stop(w);
        return WB_REDRAW;
    }
    if (w->in_len) {
        w->in_len = w->in_pos = 0;
        return WB_REDRAW;
    }
    wb_message(w, "Ctrl-Q quits");
    return WB_REDRAW;
}

static int
k_answer_now(struct wb *w)
{
    wb_gen_stop_thinking(w);
    return WB_REDRAW;
}

static int
k_new(struct wb *w)
{
    if (w->generating || w->replaying) {
        wb_message(w, "wait for the reply to end (Ctrl-C stops it)");
        return WB_REDRAW;
    }
    struct chat *c = w->c;
    chat_truncate(c, 0);
    if (c->system)
        chat_push(c, "system", c->system);
    c->session = 0;
    free(c->title);
    c->title = NULL;
    w->session_shown = 0;
    wb_doc_clear(w);
    w->focus = WB_FOCUS_INPUT;
    wb_message(w, "a new conversation");
    return WB_REDRAW;
}

/* ---- yanking ---- */

void
wb_yank(struct wb *w, const char *what, const char *text, size_t len)
{
    /* the newlines around a segment are the template's, not the model's words */
    while (len > 0 && (*text == '\n' || *text == ' '))
        text++, len--;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    if (len == 0) {   /* a clipboard emptied by a key press would lose what the user had */
        wb_message(w, "nothing to copy: %s of this turn is empty", what);
        return;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 4 * ((len + 2) / 3);
    char *enc = chat_xmalloc(n + 1), *o = enc;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)text[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)text[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)text[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? b64[v & 63] : '=';
    }
    *o = '\0';
    /* Inside tmux, twice: plain, which tmux takes as a paste buffer and hands on to the outer
     * terminal when set-clipboard is on; and wrapped for passthrough, which reaches the outer
     * terminal when allow-passthrough is on. Either is enough; both set the same text. */
    FILE *tty = fopen("/dev/tty", "w");
    if (tty) {
        fprintf(tty, "\033]52;c;%s\a", enc);
        if (getenv("TMUX"))
            fprintf(tty, "\033Ptmux;\033\033]52;c;%s\a\033\\", enc);
        fclose(tty);
    }
    free(enc);
    wb_message(w, "copied %s (%zu bytes) to the clipboard", what, len);
}

static struct wb_turn *
yank_turn(struct wb *w)
{
    struct wb_turn *t = cur_turn(w);
    if (t && t->role[0] == 'a')
        return t;
    for (int i = (int)w->n_turns - 1; i >= 0; i--)
        if (w->turns[i].role[0] == 'a')
            return &w->turns[i];
    wb_message(w, "nothing to copy yet");
    return NULL;
}

static int
k_yank_answer(struct wb *w)
{
    struct wb_turn *t = yank_turn(w);
    if (t)
        wb_yank(w, "the answer", t->seg[WB_ANSWER].p, t->seg[WB_ANSWER].len);
    return WB_REDRAW;
}

static int
k_yank_think(struct wb *w)
{
    struct wb_turn *t = yank_turn(w);
    if (t)
        wb_yank(w, "the thoughts", t->seg[WB_THINK].p, t->seg[WB_THINK].len);
    return WB_REDRAW;
}

static int
k_yank_both(struct wb *w)
{
    struct wb_turn *t = yank_turn(w);
    if (t)
        wb_yank(w, "thoughts and answer", t->text.p, t->text.len);
    return WB_REDRAW;
}

/* ---- aha flags ---- */

static int
k_aha_jump(struct wb *w, int dir)
{
    /* all flags in document order, from the cursor on */
    int ti = w->cur_turn < 0 ? (dir > 0 ? 0 : (int)w->n_turns - 1) : w->cur_turn;
    int from = w->cur_turn < 0 ? (dir > 0 ? -1 : 1 << 30) : w->cur_tok;
    for (int i = ti; i >= 0 && i < (int)w->n_turns; i += dir, from = dir > 0 ? -1 : 1 << 30) {
        const struct wb_turn *t = &w->turns[i];
        int best = -1;
        for (size_t a = 0; a < t->n_aha; a++) {
            int k = t->aha[a].tok_from;
            if (t->aha[a].status < 0 || (dir > 0 ? k <= from : k >= from))
                continue;
            if (best < 0 || (dir > 0 ? k < t->aha[best].tok_from : k > t->aha[best].tok_from))
                best = (int)a;
        }
        if (best >= 0) {
            w->cur_turn = i;
            w->cur_tok = t->aha[best].tok_from;
            w->focus = WB_FOCUS_TRANSCRIPT;
            if (w->turns[i].folded) {
                w->turns[i].folded = false;
                w->turns[i].fold_by_user = true;
            }
            wb_message(w, "aha: %s", t->aha[best].evidence);
            return cursor_moved(w);
        }
    }
    wb_message(w, "no %s aha flag", dir > 0 ? "next" : "previous");
    return WB_REDRAW;
}

static int
k_aha_next(struct wb *w)
{
    return k_aha_jump(w, 1);
}

static int
k_aha_prev(struct wb *w)
{
    return k_aha_jump(w, -1);
}

/* ---- selection, fork, replay ---- */

static int
k_select(struct wb *w)
{
    if (cur_turn(w) == NULL)
        return 0;
    w->sel_from = w->sel_from >= 0 ? -1 : w->cur_tok;
    wb_message(w, w->sel_from >= 0 ? "selecting: move the cursor, then l labels, m comments"
                                   : "selection cleared");
    return WB_REDRAW;
}

static int
k_fork(struct wb *w)
{
    struct wb_turn *t = cur_turn(w);
    char err[PD_ERR_MAX];
    if (t == NULL || t->role[0] != 'a' || w->session_shown == 0 || t->id == 0) {
        wb_message(w, "put the cursor on a token of a stored reply to fork there");
        return WB_REDRAW;
    }
    if (w->generating || w->replaying) {
        wb_message(w, "wait for the reply to end (Ctrl-C stops it)");
        return WB_REDRAW;
    }
    /* The fork keeps the turns up to this one; the reply is cut after the cursor's token. */
    int64_t id;
    if (w->cur_turn != (int)w->n_turns - 1) {
        wb_message(w, "forking works on the session's last reply; open it and fork there");
        return WB_REDRAW;
    }
    if (pd_store_session_fork(w->c->st, w->session_shown, w->cur_tok + 1, &id, err)) {
        wb_message(w, "fork: %s", err);
        return WB_REDRAW;
    }
    wb_session_open(w, id);
    wb_message(w, "forked into session %lld at token %d", (long long)id, w->cur_tok);
    return WB_REDRAW;
}

static int
k_replay(struct wb *w)
{
    if (w->replaying) {
        wb_replay_stop(w);
        return WB_REDRAW;
    }
    struct wb_turn *t = cur_turn(w);
    int ti = w->cur_turn;
    if (t == NULL || t->role[0] != 'a')
        for (ti = (int)w->n_turns - 1; ti >= 0 && w->turns[ti].role[0] != 'a'; ti--)
            ;
    if (ti < 0) {
        wb_message(w, "no reply to replay");
        return WB_REDRAW;
    }
    wb_replay_start(w, ti);
    return WB_REDRAW;
}

static int
k_replay_pause(struct wb *w)
{
    if (!w->replaying)
        return k_fold(w);
    w->replay_paused = !w->replay_paused;
    w->replay_last = wb_now();
    return WB_REDRAW;
}

static int
k_replay_faster(struct wb *w)
{
    w->replay_speed = PD_MIN(w->replay_speed * 2, 64.0);
    wb_message(w, "replay speed ×%g", w->replay_speed);
    return WB_REDRAW;
}

static int
k_replay_slower(struct wb *w)
{
    w->replay_speed = PD_MAX(w->replay_speed / 2, 0.125);
    wb_message(w, "replay speed ×%g", w->replay_speed);
    return WB_REDRAW;
}

static int
k_step_fwd(struct wb *w)
{
    wb_replay_step(w, 1);
    return WB_REDRAW;
}

static int
k_step_back(struct wb *w)
{
    wb_replay_step(w, -1);
    return WB_REDRAW;
}

static int
k_scrub_fwd(struct wb *w)
{
    wb_replay_step(w, 20);
    return WB_REDRAW;
}

static int
k_scrub_back(struct wb *w)
{
    wb_replay_step(w, -20);
    return WB_REDRAW;
}

/* ---- the table ---- */

static int k_enter(struct wb *w);

const struct wb_key wb_keys[] = {
    { KEY_F(1), WB_IN_ANY, "F1 ?", "this help (? in the transcript)", k_help },
    { KEY_F(2), WB_IN_ANY, "F2 S", "sessions: browse, search, open, rename, delete", k_sessions },
    { KEY_F(3), WB_IN_ANY, "F3", "training: runs and their reward, length, KL curves",
      wb_key_train },
    { 't', WB_IN_TRAIN, "t x", "training: start a GRPO run / stop the selected one",
      wb_key_train_start },
    { 'x', WB_IN_TRAIN, NULL, NULL, wb_key_train_stop },
    { CTRL('q'), WB_IN_ANY, "Ctrl-Q q", "quit (q in the transcript)", k_quit },
    { CTRL('c'), WB_IN_ANY, "Ctrl-C", "stop the reply (keeps what was written); clear the line",
      k_interrupt },
    { CTRL('t'), WB_IN_ANY, "Ctrl-T T", "stop thinking now: close the thoughts, make it answer",
      k_answer_now },
    { CTRL('n'), WB_IN_ANY, "Ctrl-N", "new conversation", k_new },
    { CTRL('l'), WB_IN_ANY, "Ctrl-L", "redraw the screen", k_redraw },
    { '\t', WB_IN_CHAT | WB_IN_INPUT, "Tab", "switch between the input line and the transcript",
      k_focus },
    { 27, WB_IN_INPUT, "Esc", "from the input line to the transcript", k_focus },
    { 'i', WB_IN_CHAT, "i Esc", "back to the input line", k_to_input },
    { 27, WB_IN_CHAT, NULL, NULL, k_to_input },
    { '?', WB_IN_CHAT, NULL, NULL, k_help },
    { 'S', WB_IN_CHAT, NULL, NULL, k_sessions },
    { 'q', WB_IN_CHAT, NULL, NULL, k_quit },
    { 'T', WB_IN_CHAT, NULL, NULL, k_answer_now },
    { KEY_PPAGE, WB_IN_CHAT | WB_IN_INPUT, "PgUp PgDn", "scroll the transcript", k_page_up },
    { KEY_NPAGE, WB_IN_CHAT | WB_IN_INPUT, NULL, NULL, k_page_down },
    { KEY_LEFT, WB_IN_CHAT, "← → h l", "previous / next token", k_left },
    { KEY_RIGHT, WB_IN_CHAT, NULL, NULL, k_right },
    { 'h', WB_IN_CHAT, NULL, NULL, k_left },
    { 'l', WB_IN_CHAT, NULL, NULL, k_right },
    { KEY_UP, WB_IN_CHAT, "↑ ↓ k j", "line up / down", k_up },
    { KEY_DOWN, WB_IN_CHAT, NULL, NULL, k_down },
    { 'k', WB_IN_CHAT, NULL, NULL, k_up },
    { 'j', WB_IN_CHAT, NULL, NULL, k_down },
    { 'g', WB_IN_CHAT, "g G", "first / last token (G follows the stream)", k_top },
    { 'G', WB_IN_CHAT, NULL, NULL, k_bottom },
    { '\r', WB_IN_CHAT, "Enter Space", "fold / unfold the thoughts under the cursor", k_enter },
    { ' ', WB_IN_CHAT, NULL, NULL, k_replay_pause },
    { 'z', WB_IN_CHAT, "z", "fold / unfold all thoughts", k_fold_all },
    { 'Z', WB_IN_CHAT, "Z", "thoughts setting: auto, open, folded", k_fold_mode },
    { 'r', WB_IN_CHAT, "r", "panel: token and routing heatmap, expert load, none", k_panel },
    { 'c', WB_IN_CHAT, "c", "tint tokens: by expert, entropy, log-probability, none", k_tint },
    { ']', WB_IN_CHAT, "[ ]", "previous / next MoE layer (tint, heatmap, load)", k_layer_next },
    { '[', WB_IN_CHAT, NULL, NULL, k_layer_prev },
    { 's', WB_IN_CHAT, "s", "entropy sparkline under the text", k_spark },
    { 'n', WB_IN_CHAT, "n N", "next / previous aha flag", k_aha_next },
    { 'N', WB_IN_CHAT, NULL, NULL, k_aha_prev },
    { 'a', WB_IN_CHAT, "a A", "confirm / reject the aha flag at the cursor", wb_key_aha_confirm },
    { 'A', WB_IN_CHAT, NULL, NULL, wb_key_aha_reject },
    { 'v', WB_IN_CHAT, "v", "start / clear a selection at the cursor", k_select },
    { 'L', WB_IN_CHAT, "L", "label the selection (or the token)", wb_key_label },
    { 'm', WB_IN_CHAT, "m", "comment on the selection (or the token)", wb_key_comment },
    { '=', WB_IN_CHAT, "=", "set the turn's gold answer", wb_key_gold },
    { '+', WB_IN_CHAT, "+ -", "rate the turn good / bad", wb_key_rate_good },
    { '-', WB_IN_CHAT, NULL, NULL, wb_key_rate_bad },
    { 'y', WB_IN_CHAT, "y Y Ctrl-Y", "copy the answer / the thoughts / both (OSC 52)",
      k_yank_answer },
    { 'Y', WB_IN_CHAT, NULL, NULL, k_yank_think },
    { CTRL('y'), WB_IN_CHAT, NULL, NULL, k_yank_both },
    { 'f', WB_IN_CHAT, "f", "fork the session at the token under the cursor", k_fork },
    { 'R', WB_IN_CHAT, "R", "replay the turn as it was generated (R again stops)", k_replay },
    { '>', WB_IN_CHAT, "Space > <", "replay: pause, faster, slower", k_replay_faster },
    { '<', WB_IN_CHAT, NULL, NULL, k_replay_slower },
    { '.', WB_IN_CHAT, ". , } {", "replay: step a token, scrub 20 (outside one: from the cursor)",
      k_step_fwd },
    { ',', WB_IN_CHAT, NULL, NULL, k_step_back },
    { '}', WB_IN_CHAT, NULL, NULL, k_scrub_fwd },
    { '{', WB_IN_CHAT, NULL, NULL, k_scrub_back },
};
const size_t wb_n_keys = PD_ARRAY_SIZE(wb_keys);

static int
k_enter(struct wb *w)
{
    return k_fold(w);
}

int
wb_key(struct wb *w, int is_key, unsigned ch)
{
    if (is_key && ch == KEY_RESIZE)
        return WB_REDRAW | WB_RELAYOUT;
    if (w->help) {   /* any key closes the help */
        w->help = false;
        return WB_REDRAW;
    }
    if (w->asking)
        return wb_input_key(w, is_key, ch);
    unsigned where = w->view == WB_VIEW_SESSIONS    ? WB_IN_SESSIONS
                     : w->view == WB_VIEW_TRAIN     ? WB_IN_TRAIN
                     : w->focus == WB_FOCUS_INPUT ? WB_IN_INPUT
                                                  : WB_IN_CHAT;
    int r = where == WB_IN_SESSIONS ? wb_sessions_key(w, is_key, ch)
            : where == WB_IN_TRAIN  ? wb_train_key(w, is_key, ch)
                                    : -1;
    if (r >= 0)
        return r;
    if (!is_key && ch == '\n')
        ch = '\r';
    for (size_t i = 0; i < wb_n_keys; i++) {
        const struct wb_key *k = &wb_keys[i];
        bool code = k->key >= KEY_MIN;
        if ((k->where & where) && k->key == (int)ch && code == (bool)is_key)
            return k->fn(w);
    }
    if (where == WB_IN_INPUT)
        return wb_input_key(w, is_key, ch);
    return 0;
}

/* ---- the mouse ---- */

int
wb_mouse(struct wb *w)
{
    MEVENT me;
    if (getmouse(&me) != OK || w->view != WB_VIEW_CHAT)
        return 0;
    if (me.bstate & BUTTON4_PRESSED) {
        w->follow = false;
        w->scroll = PD_MAX(0, w->scroll - 3);
        return WB_REDRAW;
    }
    if (me.bstate & BUTTON5_PRESSED) {
        w->scroll += 3;
        return WB_REDRAW;
    }
    if (!(me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_RELEASED)))
        return 0;
    if (me.x >= wb_chat_width(w))
        return 0;
    int turn;
    bool fold;
    int k = wb_chat_hit(w, me.y, me.x, &turn, &fold);
    if (fold && turn >= 0 && (me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) {
        w->turns[turn].folded = !w->turns[turn].folded;
        w->turns[turn].fold_by_user = true;
        return WB_REDRAW;
    }
    if (k < 0)
        return 0;
    w->focus = WB_FOCUS_TRANSCRIPT;
    if (me.bstate & BUTTON1_PRESSED) {
        w->cur_turn = turn;
        w->cur_tok = k;
        w->sel_from = k;   /* a drag selects; a click leaves a one-token selection */
    } else if (me.bstate & BUTTON1_RELEASED && turn == w->cur_turn) {
        w->cur_tok = k;
        if (w->sel_from == k)
            w->sel_from = -1;
    } else {
        w->cur_turn = turn;
        w->cur_tok = k;
        w->sel_from = -1;
    }
    return WB_REDRAW;
}
