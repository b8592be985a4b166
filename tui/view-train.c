/*
 * view-train.c: the training view (F3): the runs of the store newest first, and for the selected
 * one the curves the R1-Zero paper draws (its figures 2 and 3: accuracy and response length
 * over the steps), with the signals that say whether GRPO is learning at all:
 *
 *   reward      mean reward ━━ and accuracy ╍╍
 *   length      mean completion length ━━ and think length ╍╍, in tokens
 *   KL          k3 KL to the reference (logged when --beta > 0)
 *   zero-var    the fraction of groups whose rewards are all equal (no signal: advantage 0)
 *
 * The data is the store's training_runs and training_metrics rows, read again about once a
 * second while the view is open (wb_train_tick), so a live run's curves grow. t starts a run
 * (wb-train.c), x stops the selected one.
 */
#include "config.h"

#include "sessions/runs.h"
#include "tui/braille.h"
#include "tui/train-view.h"
#include "tui/wb.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const metric_names[WB_TM_N] = {
    [WB_TM_REWARD] = "reward", [WB_TM_ACCURACY] = "accuracy", [WB_TM_LEN] = "len_mean",
    [WB_TM_THINK] = "think_len", [WB_TM_KL] = "kl", [WB_TM_ZERO_STD] = "zero_std_frac",
};

/* The charts: a title, up to two metrics and their legend names, and what an empty one means. */
static const struct {
    const char *title;
    int m[2];
    const char *names[2];
    const char *empty;
} charts[] = {
    { "reward", { WB_TM_REWARD, WB_TM_ACCURACY }, { "mean", "accuracy" }, "no steps yet" },
    { "length (tokens)", { WB_TM_LEN, WB_TM_THINK }, { "completion", "think" }, "no steps yet" },
    { "KL to the reference", { WB_TM_KL, -1 }, { "k3", NULL }, "none logged (--beta 0)" },
    { "zero-variance groups", { WB_TM_ZERO_STD, -1 }, { "fraction", NULL }, "no steps yet" },
};
#define N_CHARTS PD_ARRAY_SIZE(charts)

static const int series_color[2] = { 75, 214 };   /* light blue, orange (256 numbering) */

void
wb_train_view_free(struct wb_train *tr)
{
    free(tr->runs);
    free(tr->steps);
    for (int i = 0; i < WB_TM_N; i++)
        free(tr->m[i]);
}

/* ---- reading the store ---- */

/* The value of "key" in a run's config JSON, as text (a string's content, or a number). */
static bool
config_get(const char *cfg, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = cfg ? strstr(cfg, pat) : NULL;
    if (p == NULL)
        return false;
    p += strlen(pat);
    size_t n = *p == '"' ? strcspn(++p, "\"") : strcspn(p, ",}");
    snprintf(out, size, "%.*s", (int)PD_MIN(n, size - 1), p);
    return true;
}

static int
on_run(void *ud, const struct pd_store_run *r, int64_t last_step)
{
    struct wb_train *tr = ud;
    tr->runs = chat_xrealloc(tr->runs, (tr->n_runs + 1) * sizeof *tr->runs);
    struct wb_run_item *it = &tr->runs[tr->n_runs++];
    *it = (struct wb_run_item){ .id = r->id, .created = r->created, .finished = r->finished,
                                .last_step = last_step };
    snprintf(it->kind, sizeof it->kind, "%s", r->kind);
    snprintf(it->status, sizeof it->status, "%s", r->status);
    char v[1024], model[1024] = "";
    if (config_get(r->config, "steps", v, sizeof v))
        it->steps = atoll(v);
    if (config_get(r->config, "model", model, sizeof model)) {
        char *slash = strrchr(model, '/');
        memmove(model, slash ? slash + 1 : model, strlen(slash ? slash + 1 : model) + 1);
    }
    if (!config_get(r->config, "source", v, sizeof v))
        v[0] = '\0';
    snprintf(it->what, sizeof it->what, "%s%s%s", v, v[0] && model[0] ? " · " : "", model);
    return 0;
}

static int
on_metric(void *ud, int64_t step, const char *name, double value)
{
    struct wb_train *tr = ud;
    int j = -1;
    for (int i = 0; i < WB_TM_N && j < 0; i++)
        if (strcmp(metric_names[i], name) == 0)
            j = i;
    if (j < 0)
        return 0;
    if (tr->n == 0 || tr->steps[tr->n - 1] != (double)step) {
        if (tr->n == tr->cap) {
            tr->cap = tr->cap ? 2 * tr->cap : 64;
            tr->steps = chat_xrealloc(tr->steps, tr->cap * sizeof *tr->steps);
            for (int i = 0; i < WB_TM_N; i++)
                tr->m[i] = chat_xrealloc(tr->m[i], tr->cap * sizeof *tr->m[i]);
        }
        tr->steps[tr->n] = (double)step;
        for (int i = 0; i < WB_TM_N; i++)
            tr->m[i][tr->n] = NAN;
        tr->n++;
    }
    tr->m[j][tr->n - 1] = value;
    return 0;
}

void
wb_train_reload(struct wb *w, int64_t run)
{
    struct wb_train *tr = w->train;
    char err[PD_ERR_MAX];
    tr->last_load = wb_now();
    if (w->c->st == NULL)
        return;
    int64_t keep = run ? run : tr->n_runs ? tr->runs[tr->cur].id : 0;
    tr->n_runs = 0;
    if (pd_store_runs_list(w->c->st, 500, on_run, tr, err) != 0)
        wb_message(w, "training runs: %s", err);
    tr->cur = 0;
    for (size_t i = 0; i < tr->n_runs; i++)
        if (tr->runs[i].id == keep)
            tr->cur = (int)i;
    if (tr->n_runs == 0) {
        tr->n = 0;
        tr->shown_run = 0;
        return;
    }
    const struct wb_run_item *it = &tr->runs[tr->cur];
    /* the metrics only when the run moved on */
    if (it->id == tr->shown_run && it->last_step == tr->shown_step &&
        strcmp(it->status, tr->shown_status) == 0)
        return;
    tr->n = 0;
    if (pd_store_run_metrics(w->c->st, it->id, on_metric, tr, err) != 0)
        wb_message(w, "run %lld: %s", (long long)it->id, err);
    tr->shown_run = it->id;
    tr->shown_step = it->last_step;
    snprintf(tr->shown_status, sizeof tr->shown_status, "%s", it->status);
}

/* ---- drawing ---- */

static void
draw_cells(struct wb *w, int top, int left, int h, int wd, const struct pd_braille_cell *cells)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < wd; x++) {
            const struct pd_braille_cell *c = &cells[y * wd + x];
            int attr = y == 0 && c->role == PD_BRAILLE_TEXT ? A_BOLD : A_NORMAL;
            if (c->role == PD_BRAILLE_AXIS)
                attr = wb_attr_dim(w);
            else if (c->role >= 0 && w->colors)
                attr = (int)COLOR_PAIR(wb_pair(w, series_color[c->role & 1], -1));
            wchar_t wc[2] = { (wchar_t)c->ch, 0 };
            cchar_t cc;
            setcchar(&cc, wc, (attr_t)attr, 0, NULL);
            mvadd_wch(top + y, left + x, &cc);
        }
}

static void
draw_chart(struct wb *w, int ci, int top, int left, int h, int wd)
{
    struct wb_train *tr = w->train;
    struct pd_braille_series s[2];
    int n = 0;
    for (int k = 0; k < 2 && charts[ci].m[k] >= 0; k++)
        s[n++] = (struct pd_braille_series){ charts[ci].names[k], tr->steps,
                                             tr->m[charts[ci].m[k]], tr->n };
    struct pd_braille_chart ch = { charts[ci].title, s, n, NAN, NAN };
    struct pd_braille_cell *cells = chat_xmalloc((size_t)(h * wd) * sizeof *cells);
    int drawn = pd_braille_render(&ch, wd, h, cells);
    draw_cells(w, top, left, h, wd, cells);
    free(cells);
    if (drawn == 0 && h >= 2) {
        attrset(wb_attr_dim(w));
        mvaddnstr(top + 1, left + 1, charts[ci].empty, wd - 1);
        attrset(A_NORMAL);
    }
}

/* The charts in the rows left: two columns on a wide screen, and as many as fit. */
static void
draw_charts(struct wb *w, int top, int height, int width)
{
    int cols = width >= 90 ? 2 : 1, rows = (int)(N_CHARTS + cols - 1) / cols;
    int h = height / rows, wd = (width - (cols - 1) * 2) / cols;
    if (h < 4)   /* too short for all of them: fewer, each readable */
        h = PD_MIN(height, 4);
    for (int i = 0; i < (int)N_CHARTS; i++) {
        int y = top + (i / cols) * h, x = (i % cols) * (wd + 2);
        if (h < 1 || wd < 1 || y + h > top + height)
            break;
        draw_chart(w, i, y, x, h - (h > 4), wd);   /* a blank line between rows of charts */
    }
}

static const char *
status_of(const struct wb *w, const struct wb_run_item *it)
{
    for (int i = 0; i < WB_TRAIN_CHILDREN; i++)
        if (w->train->kids[i].pid > 0 && w->train->kids[i].run == it->id &&
            w->train->kids[i].stopping && strcmp(it->status, "running") == 0)
            return "stopping";
    return it->status;
}

static void
draw_run_row(struct wb *w, const struct wb_run_item *it, int y, int width, bool cur)
{
    char when[32] = "", steps[48], line[512];
    time_t secs = (time_t)(it->created / 1000);
    struct tm tm;
    if (localtime_r(&secs, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    if (it->steps > 0)
        snprintf(steps, sizeof steps, "%lld/%lld", (long long)it->last_step, (long long)it->steps);
    else
        snprintf(steps, sizeof steps, "%lld", (long long)it->last_step);
    snprintf(line, sizeof line, "%5lld  %-5s %-9s %9s  %s  %s", (long long)it->id, it->kind,
             status_of(w, it), steps, when, it->what);
    attrset(cur ? A_REVERSE : A_NORMAL);
    mvhline(y, 0, ' ', width);
    mvaddnstr(y, 1, line, width - 2);
    attrset(A_NORMAL);
}

void
wb_draw_train(struct wb *w, int top, int height, int width)
{
    struct wb_train *tr = w->train;
    attrset(A_BOLD);
    char head[256];
    snprintf(head, sizeof head, "training runs · %zu · t train · x stop · ↑↓ select · Esc back",
             tr->n_runs);
    mvaddnstr(top, 1, head, width - 2);
    attrset(A_NORMAL);
    int y = top + 1, end = top + height;
    if (tr->n_runs == 0) {
        attrset(wb_attr_dim(w));
        mvaddnstr(y++, 1, "no training runs yet · t starts one", width - 2);
        attrset(A_NORMAL);
    }
    /* the list: a quarter of the height, at least one row and at most six */
    int rows = PD_MIN((int)tr->n_runs, PD_MAX(1, PD_MIN(6, height / 4)));
    if (tr->cur < tr->top)
        tr->top = tr->cur;
    if (tr->cur >= tr->top + rows)
        tr->top = tr->cur - rows + 1;
    for (int r = 0; r < rows && y < end; r++, y++)
        draw_run_row(w, &tr->runs[tr->top + r], y, width, tr->top + r == tr->cur);
    if (tr->note[0] && y < end) {
        attrset(wb_attr_dim(w));
        mvaddnstr(y++, 1, tr->note, width - 2);
        attrset(A_NORMAL);
    }
    if (tr->n_runs == 0 || y + 1 >= end)
        return;
    const struct wb_run_item *it = &tr->runs[tr->cur];
    char sum[256];
    snprintf(sum, sizeof sum, "run %lld · %s · %s · step %lld", (long long)it->id, it->kind,
             status_of(w, it), (long long)it->last_step);
    attrset(A_BOLD);
    mvaddnstr(++y, 1, sum, width - 2);
    attrset(A_NORMAL);
    y++;
    draw_charts(w, y, end - y, width);
}

/* ---- keys ---- */

int
wb_key_train(struct wb *w)
{
    if (w->c->st == NULL) {
        wb_message(w, "the session store is off (--no-log, or it could not be opened)");
        return WB_REDRAW;
    }
    if (w->view == WB_VIEW_TRAIN) {
        w->view = WB_VIEW_CHAT;
        return WB_REDRAW;
    }
    wb_train_state(w);
    w->view = WB_VIEW_TRAIN;
    w->train->shown_run = 0;   /* read the curves afresh */
    wb_train_reload(w, 0);
    return WB_REDRAW;
}

static void
got_args(struct wb *w, const char *text)
{
    if (text && text[0] && wb_train_spawn(w, text) == 0)
        wb_train_reload(w, 0);
}

int
wb_key_train_start(struct wb *w)
{
    char args[2048];
    wb_train_args(w, args, sizeof args);
    wb_ask(w, "train grpo ", args, got_args);
    return WB_REDRAW;
}

int
wb_key_train_stop(struct wb *w)
{
    struct wb_train *tr = w->train;
    if (tr->n_runs == 0)
        return 0;
    const struct wb_run_item *it = &tr->runs[tr->cur];
    if (wb_train_signal(w, it->id))
        wb_message(w, "stopping run %lld", (long long)it->id);
    else if (strcmp(it->status, "running") == 0)
        wb_message(w, "run %lld was not started by this workbench: kill -INT its process",
                   (long long)it->id);
    else
        wb_message(w, "run %lld is not running (%s)", (long long)it->id, it->status);
    return WB_REDRAW;
}

int
wb_train_key(struct wb *w, int is_key, unsigned ch)
{
    struct wb_train *tr = w->train;
    int n = (int)tr->n_runs, cur = tr->cur;
    if (is_key) {
        switch (ch) {
        case KEY_UP: cur--; break;
        case KEY_DOWN: cur++; break;
        case KEY_PPAGE: cur -= 5; break;
        case KEY_NPAGE: cur += 5; break;
        case KEY_HOME: cur = 0; break;
        case KEY_END: cur = n - 1; break;
        default: return -1;
        }
    } else {
        switch (ch) {
        case 'k': cur--; break;
        case 'j': cur++; break;
        case 27:
        case 'q': w->view = WB_VIEW_CHAT; return WB_REDRAW;
        default: return -1;
        }
    }
    tr->cur = PD_MAX(0, PD_MIN(n - 1, cur));
    if (n)
        wb_train_reload(w, tr->runs[tr->cur].id);
    return WB_REDRAW;
}
