/*
 * view-chat.c: the transcript: user turns, and assistant turns whose think block folds to one
 * line ("▸ thought 21.4 s · 1,832 tok · 3 aha") and otherwise shows beside the answer (a wide
 * terminal) or above it (a narrow one).
 *
 * Each turn is a list of rows built from its wrapped lines (wb_turn_lines caches them per
 * width); only the rows on screen are drawn. The token cursor, the selection, aha cues, the
 * tint by expert or entropy and the entropy sparkline are attributes of the characters a token
 * released, found from the byte offsets the document keeps for every token.
 */
#include "config.h"

#include "tui/wb.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE_MIN_WIDTH 100   /* from this width on, thoughts and answer sit side by side */
#define GUTTER 2

int
wb_chat_width(const struct wb *w)
{
    if (w->panel == WB_PANEL_NONE || w->cols < 100)
        return w->cols;
    int pw = PD_MAX(34, PD_MIN(72, w->cols * 2 / 5));
    return w->cols - pw - 1;
}

static bool
is_assistant(const struct wb_turn *t)
{
    return t->role[0] == 'a';
}

static bool
has_think(const struct wb_turn *t)
{
    return t->n_think > 0 || t->seg[WB_THINK].len > 0 || (t->streaming && t->in_think);
}

/* Side by side: the think block is open and the transcript is wide. */
static bool
side_by_side(const struct wb_turn *t, int width)
{
    return width >= SIDE_MIN_WIDTH && has_think(t) && !t->folded;
}

/* Column widths: think and answer (side by side), or both the full text width. */
static void
part_widths(const struct wb_turn *t, int width, int *wt, int *wa, int *xa)
{
    int text = width - GUTTER;
    if (side_by_side(t, width)) {
        *wt = (text - 3) / 2;
        *wa = text - 3 - *wt;
        *xa = GUTTER + *wt + 3;
    } else {
        *wt = *wa = text;
        *xa = GUTTER;
    }
}

struct rows {
    struct wb_rowinfo *r;
    int n, cap;
};

static void
row_add(struct rows *rs, struct wb_rowinfo ri)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 64;
        rs->r = chat_xrealloc(rs->r, (size_t)rs->cap * sizeof *rs->r);
    }
    rs->r[rs->n++] = ri;
}

/* The rows of turn ti at this width (appended to rs). A text line takes two rows when the
 * sparkline is on (the second: part + 10). */
static void
turn_rows(struct wb *w, int ti, int width, struct rows *rs)
{
    struct wb_turn *t = &w->turns[ti];
    int spark = w->sparkline ? 2 : 1;
    if (!is_assistant(t)) {
        const struct wb_lines *l = wb_turn_lines(t, 0, width - GUTTER - 2);
        size_t n = wb_lines_visible(t, 0, l);
        for (size_t i = 0; i < n; i++)
            row_add(rs, (struct wb_rowinfo){ ti, 0, (int)i, { GUTTER + 2, 0 }, -1 });
        row_add(rs, (struct wb_rowinfo){ -1, 0, 0, { 0, 0 }, -1 });
        return;
    }
    int wt, wa, xa;
    part_widths(t, width, &wt, &wa, &xa);
    const struct wb_lines *la = wb_turn_lines(t, 2, wa);
    size_t na = wb_lines_visible(t, 2, la);
    if (t->seg[WB_ANSWER].len == 0)
        na = 0;
    if (has_think(t)) {
        row_add(rs, (struct wb_rowinfo){ ti, 3, 0, { GUTTER, 0 }, -1 });
        if (!t->folded) {
            const struct wb_lines *lt = wb_turn_lines(t, 1, wt);
            size_t nt = t->seg[WB_THINK].len ? wb_lines_visible(t, 1, lt) : 0;
            if (side_by_side(t, width)) {
                size_t n = PD_MAX(nt, na);
                for (size_t i = 0; i < n; i++)
                    for (int s = 0; s < spark; s++)
                        row_add(rs, (struct wb_rowinfo){ ti, 1 + 10 * s, i < nt ? (int)i : -1,
                                                         { GUTTER, xa },
                                                         i < na ? (int)i : -1 });
                if (t->n_notes || t->gold || t->rating)
                    row_add(rs, (struct wb_rowinfo){ ti, 5, 0, { GUTTER, 0 }, -1 });
                row_add(rs, (struct wb_rowinfo){ -1, 0, 0, { 0, 0 }, -1 });
                return;
            }
            for (size_t i = 0; i < nt; i++)
                for (int s = 0; s < spark; s++)
                    row_add(rs, (struct wb_rowinfo){ ti, 1 + 10 * s, (int)i, { GUTTER, 0 }, -1 });
            if (nt && na)
                row_add(rs, (struct wb_rowinfo){ -1, 0, 0, { 0, 0 }, -1 });
        }
    }
    for (size_t i = 0; i < na; i++)
        for (int s = 0; s < spark; s++)
            row_add(rs, (struct wb_rowinfo){ ti, 2 + 10 * s, (int)i, { GUTTER, 0 }, -1 });
    if (na == 0 && !has_think(t) && t->streaming)
        row_add(rs, (struct wb_rowinfo){ ti, 4, 0, { GUTTER, 0 }, -1 });   /* "…" */
    if (t->n_notes || t->gold || t->rating)
        row_add(rs, (struct wb_rowinfo){ ti, 5, 0, { GUTTER, 0 }, -1 });   /* annotations */
    row_add(rs, (struct wb_rowinfo){ -1, 0, 0, { 0, 0 }, -1 });
}

/* The turn's annotations on one line: labels and comments with their spans, the gold answer,
 * the rating. */
static void
draw_notes(struct wb *w, const struct wb_turn *t, int y, int x, int width)
{
    char s[1024];
    int o = snprintf(s, sizeof s, "✎");
    if (t->rating)
        o += snprintf(s + o, sizeof s - (size_t)o, " %s ·", t->rating > 0 ? "good" : "bad");
    if (t->gold)
        o += snprintf(s + o, sizeof s - (size_t)o, " gold “%s” ·", t->gold);
    for (size_t i = 0; i < t->n_notes && o < (int)sizeof s - 8; i++) {
        const struct wb_note *n = &t->notes[i];
        o += snprintf(s + o, sizeof s - (size_t)o, " %s “%s” [%d–%d] ·",
                      n->kind == PD_ANNOT_COMMENT ? "comment" : "label", n->value, n->from,
                      n->to);
    }
    /* drop the last separator */
    if (o >= 3 && strcmp(s + o - 3, " ·") == 0)
        s[o - 3] = '\0';
    attrset((int)COLOR_PAIR(wb_pair(w, 109, -1)));
    mvaddnstr(y, x, s, width - x);
    attrset(A_NORMAL);
}

static int
turn_height(struct wb *w, int ti, int width)
{
    static struct rows rs;
    rs.n = 0;
    turn_rows(w, ti, width, &rs);
    return rs.n;
}

/* ---- drawing a line of text ---- */

static bool
in_selection(const struct wb *w, int ti, int k)
{
    if (w->sel_from < 0 || ti != w->cur_turn)
        return false;
    int a = PD_MIN(w->sel_from, w->cur_tok), b = PD_MAX(w->sel_from, w->cur_tok);
    return k >= a && k <= b;
}

static bool
in_aha(const struct wb_turn *t, int k)
{
    for (size_t i = 0; i < t->n_aha; i++)
        if (t->aha[i].status >= 0 && k >= t->aha[i].tok_from && k <= t->aha[i].tok_to)
            return true;
    return false;
}

static bool
in_note(const struct wb_turn *t, int k)
{
    for (size_t i = 0; i < t->n_notes; i++)
        if (t->notes[i].from >= 0 && k >= t->notes[i].from && k <= t->notes[i].to)
            return true;
    return false;
}

/* The value the sparkline shows for a token: routing entropy averaged over the MoE layers,
 * else the sampling entropy. */
static float
spark_value(const struct wb_turn *t, const struct wb_tok *k, float *scale)
{
    if (k->route >= 0 && t->r_layers > 0) {
        const float *e = t->r_ent + (size_t)k->route * (size_t)t->r_layers;
        float s = 0;
        int n = 0;
        for (int l = 0; l < t->r_layers; l++)
            if (e[l] >= 0) {
                s += e[l];
                n++;
            }
        if (n) {
            *scale = 3.0f;
            return s / (float)n;
        }
    }
    *scale = 4.0f;
    return k->entropy;
}

static void
draw_line(struct wb *w, int ti, int part, int line, int y, int x, int width, bool spark)
{
    struct wb_turn *t = &w->turns[ti];
    int seg = part - 1;
    const struct wb_buf *b = part == 0 ? &t->text : &t->seg[seg];
    const struct wb_lines *l = &t->lines[part];
    if (line < 0 || (size_t)line >= l->n)
        return;
    size_t a = l->start[line], z = (size_t)line + 1 < l->n ? l->start[line + 1] : b->len;
    int base = part == 0 ? A_BOLD : part == 1 ? wb_attr_dim(w) : A_NORMAL;
    int k = part == 0 ? -1 : wb_turn_token_at(t, seg, a);
    int col = 0;
    static const char *bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
    for (size_t i = a; i < z && col < width;) {
        size_t used;
        wchar_t wc;
        int cw = wb_char_width(b->p + i, z - i, &used, &wc);
        while (k >= 0 && (size_t)k < t->n_tok &&
               (t->tok[k].len[seg] == 0 || i >= t->tok[k].off[seg] + t->tok[k].len[seg]))
            k++;
        int ktok = k >= 0 && (size_t)k < t->n_tok && i >= t->tok[k].off[seg] ? k : -1;
        if (wc == '\n' || cw == 0) {
            i += used;
            continue;
        }
        if (col + cw > width)
            break;
        int attr = base;
        if (ktok >= 0) {
            const struct wb_tok *tk = &t->tok[ktok];
            int tint = wb_token_tint(w, t, tk);
            if (tint >= 0)
                attr = (int)COLOR_PAIR(wb_pair(w, 16, tint));
            if (in_aha(t, ktok))
                attr = A_BOLD | (int)COLOR_PAIR(wb_pair(w, 214, -1));
            if (in_note(t, ktok))
                attr |= A_UNDERLINE;
            if (in_selection(w, ti, ktok))
                attr |= A_UNDERLINE | A_BOLD;
            if (ti == w->cur_turn && ktok == w->cur_tok && w->focus == WB_FOCUS_TRANSCRIPT)
                attr = A_REVERSE;
        }
        if (spark) {
            if (ktok >= 0) {
                float scale;
                float v = spark_value(t, &t->tok[ktok], &scale);
                int lvl = (int)(v / scale * 8.0f);
                lvl = lvl < 0 ? 0 : lvl > 7 ? 7 : lvl;
                attrset(w->colors >= 256 ? (int)COLOR_PAIR(wb_pair(w, 66 + lvl / 2 * 36, -1))
                                         : A_DIM);
                for (int c = 0; c < cw; c++)
                    mvaddstr(y, x + col + c, bars[lvl]);
            }
        } else {
            attrset(attr);
            if (wc == '\t') {
                mvaddstr(y, x + col, "    ");
            } else {
                cchar_t cc;
                wchar_t s[2] = { wc, 0 };
                setcchar(&cc, s, 0, 0, NULL);
                mvadd_wch(y, x + col, &cc);
            }
        }
        col += cw;
        i += used;
    }
    attrset(A_NORMAL);
}

static void
draw_gutter(struct wb *w, int ti, int part, int line, int y)
{
    struct wb_turn *t = &w->turns[ti];
    if (part != 1 && part != 2)
        return;
    int seg = part - 1;
    const struct wb_lines *l = &t->lines[part];
    if (line < 0 || (size_t)line >= l->n)
        return;
    size_t a = l->start[line];
    size_t z = (size_t)line + 1 < l->n ? l->start[line + 1] : t->seg[seg].len;
    for (size_t i = 0; i < t->n_aha; i++) {
        const struct wb_tok *k = &t->tok[t->aha[i].tok_from];
        if (t->aha[i].status < 0 || k->len[seg] == 0)
            continue;
        if (k->off[seg] >= a && k->off[seg] < z) {
            attrset(A_BOLD | (int)COLOR_PAIR(wb_pair(w, t->aha[i].status > 0 ? 40 : 214, -1)));
            mvaddstr(y, 0, t->aha[i].status > 0 ? "✔" : "⚑");
            attrset(A_NORMAL);
            return;
        }
    }
}

static void
draw_row(struct wb *w, const struct wb_rowinfo *ri, int y, int width)
{
    if (ri->turn < 0)
        return;
    struct wb_turn *t = &w->turns[ri->turn];
    int part = ri->part % 10;
    bool spark = ri->part >= 10;
    if (part == 3) {
        char fold[160];
        wb_fold_line(t, fold, sizeof fold);
        bool cur = ri->turn == w->cur_turn && w->focus == WB_FOCUS_TRANSCRIPT &&
                   (size_t)w->cur_tok < t->n_tok && t->tok[w->cur_tok].len[WB_THINK] &&
                   t->folded;
        attrset(cur ? A_REVERSE : wb_attr_dim(w));
        mvaddnstr(y, ri->x[0], fold, width - ri->x[0]);
        attrset(A_NORMAL);
        return;
    }
    if (part == 5) {
        draw_notes(w, t, y, ri->x[0], width);
        return;
    }
    if (part == 4) {
        attrset(wb_attr_dim(w));
        mvaddstr(y, ri->x[0], "…");
        attrset(A_NORMAL);
        return;
    }
    if (part == 0) {
        if (ri->line == 0) {
            attrset(A_BOLD);
            mvaddstr(y, GUTTER, t->role[0] == 's' ? "⚙ " : "» ");
            attrset(A_NORMAL);
        }
        draw_line(w, ri->turn, 0, ri->line, y, ri->x[0], width - ri->x[0], false);
        return;
    }
    int wt, wa, xa;
    part_widths(t, width, &wt, &wa, &xa);
    if (ri->line2 >= 0 || ri->x[1]) {           /* side by side */
        if (ri->line >= 0) {
            draw_line(w, ri->turn, 1, ri->line, y, ri->x[0], wt, spark);
            if (!spark)
                draw_gutter(w, ri->turn, 1, ri->line, y);
        }
        attrset(wb_attr_dim(w));
        mvaddstr(y, xa - 2, "│");
        attrset(A_NORMAL);
        if (ri->line2 >= 0)
            draw_line(w, ri->turn, 2, ri->line2, y, xa, wa, spark);
        return;
    }
    draw_line(w, ri->turn, part, ri->line, y, ri->x[0], part == 1 ? wt : wa, spark);
    if (!spark)
        draw_gutter(w, ri->turn, part, ri->line, y);
}

static long
total_rows(struct wb *w, int width)
{
    long n = 0;
    for (size_t i = 0; i < w->n_turns; i++)
        n += turn_height(w, (int)i, width);
    return n;
}

void
wb_draw_chat(struct wb *w, int top, int height, int width)
{
    if (w->n_turns == 0) {
        attrset(wb_attr_dim(w));
        const char *hello[] = {
            "ponder · watch a model think",
            "",
            "Type a message and press Enter. The model's thoughts stream in a block that",
            "folds when they end; Tab moves to the transcript, where the arrows move a",
            "token cursor and r shows the routing of the token under it.",
            "F1 lists every key. F2 browses the stored sessions.",
        };
        for (int i = 0; i < (int)PD_ARRAY_SIZE(hello) && i < height; i++)
            mvaddnstr(top + i, GUTTER, hello[i], width - GUTTER);
        if (!w->have_model && height > 7)
            mvaddnstr(top + 7, GUTTER, w->model_note, width - GUTTER);
        /* a model trained on ponder's tasks answers questions worded as its training was */
        if (w->have_model && w->c->tmpl == PD_TEMPLATE_R1_ZERO && height > 10) {
            mvaddnstr(top + 7, GUTTER, "This model was trained on questions like:", width - GUTTER);
            mvaddnstr(top + 8, GUTTER + 2,
                      "Using the numbers [5, 66, 96], create an equation that equals 25",
                      width - GUTTER - 2);
            mvaddnstr(top + 9, GUTTER + 2, "What is 390 + 7964", width - GUTTER - 2);
        }
        attrset(A_NORMAL);
        w->rowmap_n = 0;
        return;
    }
    long total = total_rows(w, width);
    if (w->follow || w->scroll > total - height)
        w->scroll = PD_MAX(0, total - height);
    if (w->scroll < 0)
        w->scroll = 0;
    if (w->rowmap_n < height || w->rowmap == NULL) {
        w->rowmap = chat_xrealloc(w->rowmap, (size_t)(height + 1) * sizeof *w->rowmap);
    }
    w->rowmap_n = height;
    for (int y = 0; y < height; y++)
        w->rowmap[y] = (struct wb_rowinfo){ .turn = -1 };
    static struct rows rs;
    long row = 0;
    int y = 0;
    for (size_t ti = 0; ti < w->n_turns && y < height; ti++) {
        int h = turn_height(w, (int)ti, width);
        if (row + h <= w->scroll) {
            row += h;
            continue;
        }
        rs.n = 0;
        turn_rows(w, (int)ti, width, &rs);
        for (int r = 0; r < rs.n && y < height; r++, row++) {
            if (row < w->scroll)
                continue;
            draw_row(w, &rs.r[r], top + y, width);
            w->rowmap[y] = rs.r[r];
            y++;
        }
    }
    /* where the transcript goes on: a hint on the last row */
    if (!w->follow && w->scroll + height < total) {
        attrset(A_REVERSE);
        mvaddnstr(top + height - 1, PD_MAX(0, width - 12), " ↓ more ", 8);
        attrset(A_NORMAL);
    }
}

/* ---- the cursor ---- */

/* The segment a token shows in (think or answer; -1 for a tag). */
static int
tok_seg(const struct wb_tok *k)
{
    return k->len[WB_THINK] ? WB_THINK : k->len[WB_ANSWER] ? WB_ANSWER : -1;
}

/* Row of the cursor within its turn (-1 when not shown). */
static int
cursor_row_in_turn(struct wb *w, int width)
{
    struct wb_turn *t = &w->turns[w->cur_turn];
    if ((size_t)w->cur_tok >= t->n_tok)
        return 0;
    const struct wb_tok *k = &t->tok[w->cur_tok];
    int seg = tok_seg(k);
    static struct rows rs;
    rs.n = 0;
    turn_rows(w, w->cur_turn, width, &rs);
    if (seg < 0 || (seg == WB_THINK && t->folded))
        return 0;
    const struct wb_lines *l = &t->lines[seg + 1];
    int line = 0;
    while ((size_t)line + 1 < l->n && l->start[line + 1] <= k->off[seg])
        line++;
    for (int r = 0; r < rs.n; r++) {
        const struct wb_rowinfo *ri = &rs.r[r];
        if (ri->turn < 0 || ri->part >= 10)
            continue;
        if (ri->part == seg + 1 && ri->line == line && ri->line2 < 0 && !ri->x[1])
            return r;
        if (ri->x[1] && seg == WB_THINK && ri->line == line)
            return r;
        if (ri->x[1] && seg == WB_ANSWER && ri->line2 == line)
            return r;
    }
    return 0;
}

void
wb_chat_scroll_to_cursor(struct wb *w, int height, int width)
{
    if (w->cur_turn < 0 || (size_t)w->cur_turn >= w->n_turns)
        return;
    long row = 0;
    for (int i = 0; i < w->cur_turn; i++)
        row += turn_height(w, i, width);
    row += cursor_row_in_turn(w, width);
    if (row < w->scroll) {
        w->scroll = row;
        w->follow = false;
    } else if (row >= w->scroll + height) {
        w->scroll = row - height + 1;
    }
    long total = total_rows(w, width);
    w->follow = w->scroll + height >= total && w->cur_turn == (int)w->n_turns - 1;
}

/* The token at display column col of line `line` of a segment (nearest one after it). */
static int
token_at_col(struct wb_turn *t, int seg, int line, int col)
{
    const struct wb_lines *l = &t->lines[seg + 1];
    const struct wb_buf *b = &t->seg[seg];
    size_t a = l->start[line], z = (size_t)line + 1 < l->n ? l->start[line + 1] : b->len;
    int c = 0;
    size_t i = a;
    while (i < z) {
        size_t used;
        int cw = wb_char_width(b->p + i, z - i, &used, NULL);
        if (c + cw > col)
            break;
        c += cw;
        i += used;
    }
    for (; i <= b->len; i++) {
        int k = wb_turn_token_at(t, seg, i);
        if (k >= 0)
            return k;
        if (i == b->len)
            break;
    }
    return -1;
}

/* Display column of byte off in its line. */
static int
col_of(const struct wb_turn *t, int seg, int line, size_t off)
{
    const struct wb_lines *l = &t->lines[seg + 1];
    const struct wb_buf *b = &t->seg[seg];
    int c = 0;
    for (size_t i = l->start[line]; i < off && i < b->len;) {
        size_t used;
        c += wb_char_width(b->p + i, b->len - i, &used, NULL);
        i += used;
    }
    return c;
}

/* First or last token of an assistant turn, going from turn ti in direction dir. */
static bool
cursor_to_turn(struct wb *w, int ti, int dir)
{
    for (int i = ti + dir; i >= 0 && i < (int)w->n_turns; i += dir) {
        struct wb_turn *t = &w->turns[i];
        if (is_assistant(t) && t->n_tok) {
            w->cur_turn = i;
            w->cur_tok = dir > 0 ? 0 : (int)t->n_tok - 1;
            if (t->folded && dir > 0)
                for (size_t k = 0; k < t->n_tok; k++)
                    if (t->tok[k].len[WB_ANSWER]) {
                        w->cur_tok = (int)k;
                        break;
                    }
            return true;
        }
    }
    return false;
}

void
wb_chat_cursor_lines(struct wb *w, int dy, int width)
{
    if (w->cur_turn < 0 || (size_t)w->cur_turn >= w->n_turns) {
        cursor_to_turn(w, dy > 0 ? -1 : (int)w->n_turns, dy > 0 ? 1 : -1);
        return;
    }
    struct wb_turn *t = &w->turns[w->cur_turn];
    if (t->n_tok == 0 || (size_t)w->cur_tok >= t->n_tok) {
        cursor_to_turn(w, w->cur_turn, dy > 0 ? 1 : -1);
        return;
    }
    int seg = tok_seg(&t->tok[w->cur_tok]);
    if (seg < 0)
        seg = WB_ANSWER;
    int wt, wa, xa;
    part_widths(t, width, &wt, &wa, &xa);
    bool hidden = seg == WB_THINK && t->folded;
    if (!hidden) {
        const struct wb_lines *l = wb_turn_lines(t, seg + 1, seg == WB_THINK ? wt : wa);
        size_t nvis = wb_lines_visible(t, seg + 1, l);
        const struct wb_tok *k = &t->tok[w->cur_tok];
        int line = 0;
        while ((size_t)line + 1 < l->n && l->start[line + 1] <= k->off[seg])
            line++;
        int target = line + dy;
        if (target >= 0 && (size_t)target < nvis) {
            int kk = token_at_col(t, seg, target, col_of(t, seg, line, k->off[seg]));
            if (kk >= 0) {
                w->cur_tok = kk;
                return;
            }
        }
    }
    /* off the segment's edge: the other segment of the turn, or the next turn */
    for (int k = w->cur_tok + dy; k >= 0 && (size_t)k < t->n_tok; k += dy) {
        int s = tok_seg(&t->tok[k]);
        if (s >= 0 && s != seg && !(s == WB_THINK && t->folded)) {
            w->cur_tok = k;
            return;
        }
    }
    cursor_to_turn(w, w->cur_turn, dy > 0 ? 1 : -1);
}

int
wb_chat_hit(struct wb *w, int y, int x, int *turn, bool *fold_line)
{
    *fold_line = false;
    if (y < 0 || y >= w->rowmap_n)
        return -1;
    const struct wb_rowinfo *ri = &w->rowmap[y];
    *turn = ri->turn;
    if (ri->turn < 0)
        return -1;
    struct wb_turn *t = &w->turns[ri->turn];
    int part = ri->part % 10;
    if (part == 3) {
        *fold_line = true;
        return -1;
    }
    if (part != 1 && part != 2)
        return -1;
    int seg = part - 1, line = ri->line, x0 = ri->x[0];
    if (ri->x[1] && x >= ri->x[1]) {
        seg = WB_ANSWER;
        line = ri->line2;
        x0 = ri->x[1];
    }
    if (line < 0 || x < x0)
        return -1;
    return token_at_col(t, seg, line, x - x0);
}
