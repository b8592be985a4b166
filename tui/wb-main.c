/*
 * wb-main.c: the workbench's terminal: curses set up and torn down, the event loop, and the one
 * place that draws.
 *
 * The loop waits on the terminal, with a timeout at the next frame while a reply streams. Keys
 * change state; at each frame the events the worker queued extend the document, and the frame
 * is drawn when something changed, at most WB_FPS times a second, so a fast model or a 100 KB
 * trace costs the UI thread the same.
 * Only visible rows are drawn. The screen: the view (transcript, with the routing panel beside
 * or below it), a status line, and the input line (or a message, or a question).
 */
#include "config.h"

#include "tui/wb.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

double
wb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
wb_message(struct wb *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    for (char *p = w->msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    w->msg_until = wb_now() + 6.0;
    w->dirty = true;
}

void
wb_ask(struct wb *w, const char *what, const char *initial,
       void (*done)(struct wb *w, const char *text))
{
    w->asking = true;
    snprintf(w->ask_what, sizeof w->ask_what, "%s", what);
    w->ask_done = done;
    /* the question borrows the input line; what was typed waits in saved_input */
    memcpy(w->saved_input, w->input, sizeof w->input);
    w->saved_len = w->in_len;
    w->in_len = w->in_pos = 0;
    if (initial) {
        size_t n = mbstowcs(w->input, initial, PD_ARRAY_SIZE(w->input) - 1);
        if (n != (size_t)-1)
            w->in_len = w->in_pos = (int)n;
    }
    w->dirty = true;
}

/* ---- colours ---- */

/* 256-colour index to the nearest of the 16 basic ones (for 8/16-colour terminals). */
static int
to16(int c)
{
    if (c < 16)
        return c;
    if (c >= 232)
        return c < 244 ? 8 : 7;
    int i = c - 16, r = i / 36, g = i / 6 % 6, b = i % 6;
    int bright = PD_MAX(r, PD_MAX(g, b)) >= 4;
    int base = (r >= 2 ? 1 : 0) | (g >= 2 ? 2 : 0) | (b >= 2 ? 4 : 0);
    if (base == 0)
        return bright ? 8 : 0;
    return base + (bright ? 8 : 0);
}

int
wb_pair(const struct wb *w, int fg, int bg)
{
    if (w->colors == 0)
        return 0;
    if (w->colors < 256) {
        fg = fg < 0 ? -1 : to16(fg) % w->colors;
        bg = bg < 0 ? -1 : to16(bg) % w->colors;
    }
    int p = alloc_pair(fg, bg);
    return p < 0 ? 0 : p;
}

int
wb_attr_dim(const struct wb *w)
{
    return w->colors >= 256 ? (int)COLOR_PAIR(wb_pair(w, 245, -1)) : A_DIM;
}

/* ---- the status and input lines ---- */

static void
draw_status(struct wb *w, int y)
{
    struct chat *c = w->c;
    char s[512];
    const char *seg = "";
    struct wb_turn *t = w->n_turns ? &w->turns[w->n_turns - 1] : NULL;
    if (w->replaying)
        seg = w->replay_paused ? " · replay paused" : " · replaying";
    else if (w->generating && t)
        seg = t->in_think ? " · thinking" : " · answering";
    int used = w->have_model && c->ctx ? pd_context_n_past(c->ctx) : 0;
    int n_ctx = w->have_model && c->ctx ? pd_context_n_ctx(c->ctx) : 0;
    int len = snprintf(s, sizeof s, " %s", w->have_model ? c->m->name : "no model");
    if (w->have_model)
        len += snprintf(s + len, sizeof s - (size_t)len, " · %.1f tok/s · ctx %d/%d%s", w->tok_s,
                        used, n_ctx, seg);
    if (w->session_shown)
        len += snprintf(s + len, sizeof s - (size_t)len, " · session %lld",
                        (long long)w->session_shown);
    if (w->moe && w->n_moe_layers)
        len += snprintf(s + len, sizeof s - (size_t)len, " · layer %d", w->layer + w->moe_layer0);
    static const char *tints[] = { "", " · tint expert", " · tint entropy", " · tint logprob" };
    snprintf(s + len, sizeof s - (size_t)len, "%s · F1 help ", tints[w->tint]);
    attrset(A_REVERSE);
    mvhline(y, 0, ' ', w->cols);
    mvaddnstr(y, 0, s, -1);
    attrset(A_NORMAL);
}

/* The input line with the cursor kept in view; returns the cursor's column. */
static int
draw_input(struct wb *w, int y)
{
    const char *prompt = w->asking ? w->ask_what : (w->focus == WB_FOCUS_INPUT ? "» " : "  ");
    move(y, 0);
    clrtoeol();
    bool msg = !w->asking && w->msg[0] && wb_now() < w->msg_until &&
               (w->focus != WB_FOCUS_INPUT || w->in_len == 0);
    if (msg) {
        attrset(wb_attr_dim(w));
        mvaddnstr(y, 0, w->msg, -1);
        attrset(A_NORMAL);
        return -1;
    }
    attrset(A_BOLD);
    mvaddstr(y, 0, prompt);
    attrset(A_NORMAL);
    int x0 = getcurx(stdscr), room = w->cols - x0 - 1;
    if (room < 1)
        return -1;
    /* first character shown: move right until the cursor fits */
    int first = 0, width = 0;
    for (int i = 0; i < w->in_pos; i++)
        width += PD_MAX(wcwidth(w->input[i]), 1);
    while (width >= room && first < w->in_pos)
        width -= PD_MAX(wcwidth(w->input[first++]), 1);
    int x = x0, cur = x0 + width;
    for (int i = first; i < w->in_len; i++) {
        int cw = PD_MAX(wcwidth(w->input[i]), 1);
        if (x + cw > w->cols - 1)
            break;
        cchar_t cc;
        wchar_t wc[2] = { w->input[i] >= 0x20 ? w->input[i] : L'?', 0 };
        setcchar(&cc, wc, 0, 0, NULL);
        mvadd_wch(y, x, &cc);
        x += cw;
    }
    if (w->in_len == 0 && !w->asking && w->focus == WB_FOCUS_INPUT) {
        attrset(wb_attr_dim(w));
        mvaddnstr(y, x0, w->have_model ? "type a message · Enter sends · Tab to the transcript"
                                       : "no model: F2 browses sessions · Ctrl-Q quits",
                  PD_MAX(room, 0));
        attrset(A_NORMAL);
    }
    return cur;
}

static void
draw(struct wb *w)
{
    getmaxyx(stdscr, w->rows, w->cols);
    erase();
    if (w->rows < 3 || w->cols < 12) {
        mvaddnstr(0, 0, "ponder: the terminal is too small", w->cols);
        refresh();
        return;
    }
    int main_h = w->rows - 2;
    if (w->view == WB_VIEW_SESSIONS) {
        wb_draw_sessions(w, 0, main_h, w->cols);
    } else if (w->view == WB_VIEW_TRAIN) {
        wb_draw_train(w, 0, main_h, w->cols);
    } else {
        int cw = wb_chat_width(w);
        if (w->panel != WB_PANEL_NONE && cw < w->cols) {
            wb_draw_chat(w, 0, main_h, cw);
            attrset(wb_attr_dim(w));
            mvvline(0, cw, ACS_VLINE, main_h);
            attrset(A_NORMAL);
            wb_draw_panel(w, 0, cw + 1, main_h, w->cols - cw - 1);
        } else if (w->panel != WB_PANEL_NONE && main_h >= 12) {
            int ph = main_h / 2;
            wb_draw_chat(w, 0, main_h - ph - 1, w->cols);
            attrset(wb_attr_dim(w));
            mvhline(main_h - ph - 1, 0, ACS_HLINE, w->cols);
            attrset(A_NORMAL);
            wb_draw_panel(w, main_h - ph, 0, ph, w->cols);
        } else {
            wb_draw_chat(w, 0, main_h, w->cols);
        }
    }
    draw_status(w, w->rows - 2);
    int cur = draw_input(w, w->rows - 1);
    if (w->help)
        wb_draw_help(w);
    if (cur >= 0 && !w->help && (w->focus == WB_FOCUS_INPUT || w->asking)) {
        curs_set(1);
        move(w->rows - 1, cur);
    } else {
        curs_set(0);
    }
    refresh();
}

/* ---- the loop ---- */

static void
loop(struct wb *w)
{
    w->dirty = true;
    while (!w->quit) {
        if (wb_gen_drain(w))
            w->dirty = true;
        if (w->replaying && wb_replay_tick(w))
            w->dirty = true;
        if (wb_train_tick(w))   /* runs started here; the training view's curves */
            w->dirty = true;
        if (w->msg[0] && w->msg_until && wb_now() >= w->msg_until) {
            w->msg_until = 0;
            w->msg[0] = '\0';
            w->dirty = true;
        }
        double now = wb_now(), next = w->last_draw + 1.0 / WB_FPS;
        if (w->dirty && now >= next) {
            draw(w);
            w->dirty = false;
            w->last_draw = now;
        }
        /* While a reply streams, the queue is read once a frame, not at every token: the
         * worker's cores are not disturbed more often than the screen changes. */
        int timeout = 1000;
        if (w->dirty || w->generating)
            timeout = (int)PD_MAX(1.0, (next - wb_now()) * 1000.0);
        if (w->replaying && !w->replay_paused)
            timeout = PD_MIN(timeout, 1000 / WB_FPS);
        if (w->msg_until)
            timeout = PD_MIN(timeout, 500);
        struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
        poll(&in, 1, timeout);
        wint_t ch;
        int r;
        int budget = 256;   /* a paste is taken in slices so the screen keeps up */
        while (budget-- > 0 && (r = get_wch(&ch)) != ERR) {
            int flags = r == KEY_CODE_YES && ch == KEY_MOUSE ? wb_mouse(w)
                                                             : wb_key(w, r == KEY_CODE_YES, ch);
            if (r == KEY_CODE_YES && ch == KEY_RESIZE)
                flags |= WB_RELAYOUT;
            if (flags)
                w->dirty = true;
            if (w->quit)
                break;
        }
    }
}

int
wb_state_dir(char *buf, size_t size)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (state && state[0] == '/')
        n = snprintf(buf, size, "%s/ponder", state);
    else if (home && home[0])
        n = snprintf(buf, size, "%s/.local/state/ponder", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= size)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
    mkdir(buf, 0700);
    return 0;
}

/* Warnings written to stderr while curses owns the screen go to a log file instead. */
static int
divert_stderr(void)
{
    char path[4096];
    if (wb_state_dir(path, sizeof path - 16) != 0)
        return -1;
    strcat(path, "/tui.log");
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(f), STDERR_FILENO);
    fclose(f);
    return saved;
}

int
wb_run(struct wb *w)
{
    setlocale(LC_ALL, "");
    int saved_err = divert_stderr();
    wb_gen_init(w);
    if (initscr() == NULL) {
        if (saved_err >= 0)
            dup2(saved_err, STDERR_FILENO);
        fprintf(stderr, "ponder: cannot start the terminal interface (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return 1;
    }
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    mousemask(ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION, NULL);
    mouseinterval(0);
    w->colors = 0;
    if (has_colors() && !(getenv("NO_COLOR") && getenv("NO_COLOR")[0]) && w->c->color) {
        start_color();
        use_default_colors();
        w->colors = COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : 8;
    }
    getmaxyx(stdscr, w->rows, w->cols);
#ifdef HAVE_LIBEDIT
    /* the input line shares ponder chat's history file */
    using_history();
    stifle_history(1000);
    char hist[4096];
    if (wb_state_dir(hist, sizeof hist - 16) == 0) {
        strcat(hist, "/history");
        read_history(hist);
    }
#endif
    loop(w);
    wb_gen_shutdown(w);
    endwin();
    if (saved_err >= 0) {
        fflush(stderr);
        dup2(saved_err, STDERR_FILENO);
        close(saved_err);
    }
    wb_train_release(w);
    return 0;
}
