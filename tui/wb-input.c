/*
 * wb-input.c: the workbench's input line: editing in wide characters (emacs keys), the history
 * shared with `ponder chat` (libedit's, saved after every line), sending a line, and the
 * one-line questions (a label, a comment, a title) that borrow the line.
 */
#include "config.h"

#include "tui/wb.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#undef CTRL
#define CTRL(c) ((c) & 0x1f)

static void
history_add_line(const char *line)
{
#ifdef HAVE_LIBEDIT
    add_history(line);
    char path[4096];
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (state && state[0] == '/')
        snprintf(path, sizeof path, "%s/ponder/history", state);
    else if (home && home[0])
        snprintf(path, sizeof path, "%s/.local/state/ponder/history", home);
    else
        return;
    write_history(path);
#else
    (void)line;
#endif
}

/* The history entry n back (1: the last), or NULL. */
static const char *
history_back(int n)
{
#ifdef HAVE_LIBEDIT
    if (n < 1 || n > history_length)
        return NULL;
    HIST_ENTRY *e = history_get(history_base + history_length - n);
    return e ? e->line : NULL;
#else
    (void)n;
    return NULL;
#endif
}

static void
set_input(struct wb *w, const char *s)
{
    size_t n = mbstowcs(w->input, s, PD_ARRAY_SIZE(w->input) - 1);
    w->in_len = w->in_pos = n == (size_t)-1 ? 0 : (int)n;
}

static char *
input_utf8(const struct wb *w)
{
    wchar_t tmp[PD_ARRAY_SIZE(w->input) + 1];
    memcpy(tmp, w->input, (size_t)w->in_len * sizeof *tmp);
    tmp[w->in_len] = 0;
    size_t n = wcstombs(NULL, tmp, 0);
    if (n == (size_t)-1)
        return chat_xstrdup("");
    char *s = chat_xmalloc(n + 1);
    wcstombs(s, tmp, n + 1);
    return s;
}

static void
finish_ask(struct wb *w, bool ok)
{
    char *text = ok ? input_utf8(w) : NULL;
    w->asking = false;
    memcpy(w->input, w->saved_input, sizeof w->input);
    w->in_len = w->in_pos = w->saved_len;
    void (*done)(struct wb *, const char *) = w->ask_done;
    w->ask_done = NULL;
    if (done)
        done(w, text);
    free(text);
}

int
wb_input_key(struct wb *w, int is_key, unsigned ch)
{
    if (!is_key && (ch == '\r' || ch == '\n')) {
        if (w->asking) {
            finish_ask(w, true);
            return WB_REDRAW;
        }
        char *line = input_utf8(w);
        const char *p = line + strspn(line, " \t");
        if (*p) {
            history_add_line(p);
            w->in_len = w->in_pos = 0;
            w->hist_pos = 0;
            wb_send(w, p);
        }
        free(line);
        return WB_REDRAW;
    }
    if (!is_key && ch == 27 && w->asking) {
        finish_ask(w, false);
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_BACKSPACE) || (!is_key && (ch == 127 || ch == 8))) {
        if (w->in_pos > 0) {
            memmove(w->input + w->in_pos - 1, w->input + w->in_pos,
                    (size_t)(w->in_len - w->in_pos) * sizeof *w->input);
            w->in_pos--;
            w->in_len--;
        }
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_DC) || (!is_key && ch == CTRL('d'))) {
        if (!is_key && ch == CTRL('d') && w->in_len == 0 && !w->asking)
            return wb_train_quit(w);   /* asks first while a training run is live */
        if (w->in_pos < w->in_len) {
            memmove(w->input + w->in_pos, w->input + w->in_pos + 1,
                    (size_t)(w->in_len - w->in_pos - 1) * sizeof *w->input);
            w->in_len--;
        }
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_LEFT) || (!is_key && ch == CTRL('b'))) {
        w->in_pos = PD_MAX(0, w->in_pos - 1);
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_RIGHT) || (!is_key && ch == CTRL('f'))) {
        w->in_pos = PD_MIN(w->in_len, w->in_pos + 1);
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_HOME) || (!is_key && ch == CTRL('a'))) {
        w->in_pos = 0;
        return WB_REDRAW;
    }
    if ((is_key && ch == KEY_END) || (!is_key && ch == CTRL('e'))) {
        w->in_pos = w->in_len;
        return WB_REDRAW;
    }
    if (!is_key && ch == CTRL('k')) {
        w->in_len = w->in_pos;
        return WB_REDRAW;
    }
    if (!is_key && ch == CTRL('u')) {
        memmove(w->input, w->input + w->in_pos, (size_t)(w->in_len - w->in_pos) * sizeof *w->input);
        w->in_len -= w->in_pos;
        w->in_pos = 0;
        return WB_REDRAW;
    }
    if (!is_key && ch == CTRL('w')) {
        int p = w->in_pos;
        while (p > 0 && w->input[p - 1] == ' ')
            p--;
        while (p > 0 && w->input[p - 1] != ' ')
            p--;
        memmove(w->input + p, w->input + w->in_pos, (size_t)(w->in_len - w->in_pos) * sizeof *w->input);
        w->in_len -= w->in_pos - p;
        w->in_pos = p;
        return WB_REDRAW;
    }
    if (is_key && (ch == KEY_UP || ch == KEY_DOWN) && !w->asking) {
        int n = w->hist_pos + (ch == KEY_UP ? 1 : -1);
        if (n == 0) {
            w->hist_pos = 0;
            w->in_len = w->in_pos = 0;
        } else if (history_back(n)) {
            w->hist_pos = n;
            set_input(w, history_back(n));
        }
        return WB_REDRAW;
    }
    if (!is_key && ch >= 0x20 && ch != 0x7f && w->in_len + 1 < (int)PD_ARRAY_SIZE(w->input)) {
        memmove(w->input + w->in_pos + 1, w->input + w->in_pos,
                (size_t)(w->in_len - w->in_pos) * sizeof *w->input);
        w->input[w->in_pos++] = (wchar_t)ch;
        w->in_len++;
        return WB_REDRAW;
    }
    return 0;
}

