/*
 * braille.c: line charts in braille cells (braille.h).
 *
 * Drawing works in dot space: the plot's cells are first cleared, then every segment between
 * two consecutive points is walked with Bresenham's algorithm, setting one dot bit per step in
 * the cell that holds it. The dash pattern counts dots along a series, so a dashed series stays
 * dashed whatever the slope.
 */
#include "config.h"

#include "tui/braille.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bit of the dot at (column 0-1, row 0-3 from the top) in a braille cell. */
static const uint8_t dot_bit[2][4] = { { 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 } };

const char *
pd_braille_mark(int i)
{
    static const char *const marks[] = { "━━", "╍╍", "┈┈", "··" };
    return marks[i & 3];
}

/* Whether the k-th dot of series i is drawn: solid, dashed, dotted, sparse. */
static bool
dash_on(int i, long k)
{
    switch (i & 3) {
    case 0: return true;
    case 1: return k % 5 < 3;
    case 2: return k % 3 == 0;
    default: return k % 5 == 0;
    }
}

void
pd_braille_label(double v, char *out, size_t size)
{
    snprintf(out, size, "%.3g", v);
    if (strlen(out) > 7)
        snprintf(out, size, "%.1e", v);
}

/* ---- text into cells ---- */

struct grid {
    struct pd_braille_cell *cells;
    int w, h;
};

static void
put(struct grid *g, int x, int y, uint32_t ch, int role)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h)
        return;
    g->cells[y * g->w + x] = (struct pd_braille_cell){ .ch = ch, .role = (int8_t)role };
}

/* The next code point of UTF-8 text (a bad byte reads as '?'); advances *s. */
static uint32_t
next_cp(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    uint32_t c = p[0];
    int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0) {
        *s += 1;
        return '?';
    }
    if (n)
        c &= 0x3fu >> n;
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *s += i;
            return '?';
        }
        c = c << 6 | (p[i] & 0x3f);
    }
    *s += n + 1;
    return c;
}

/* Write text from column x on row y, up to column end (exclusive); returns the next column. */
static int
text(struct grid *g, int x, int y, int end, const char *s, int role)
{
    while (s && *s && x < end) {
        uint32_t c = next_cp(&s);
        put(g, x++, y, c < 0x20 ? '?' : c, role);
    }
    return x;
}

/* ---- the plot ---- */

struct plot {
    struct grid *g;
    int x0, y0, pw, ph;      /* its cells */
    double xlo, xhi, ylo, yhi;
};

static void
set_dot(struct plot *p, int col, int row, int series)
{
    int cx = col / 2, cy = row / 4;
    struct pd_braille_cell *c = &p->g->cells[(p->y0 + cy) * p->g->w + p->x0 + cx];
    uint32_t bits = c->ch >= 0x2800 && c->ch <= 0x28ff ? c->ch - 0x2800 : 0;
    c->ch = 0x2800 + (bits | dot_bit[col % 2][row % 4]);
    c->role = (int8_t)series;
}

/* The dot of point (x, y): column from the left, row from the top. */
static void
to_dot(const struct plot *p, double x, double y, int *col, int *row)
{
    int dw = 2 * p->pw, dh = 4 * p->ph;
    double fx = p->xhi > p->xlo ? (x - p->xlo) / (p->xhi - p->xlo) : 0;
    double fy = (y - p->ylo) / (p->yhi - p->ylo);
    *col = (int)lrint(fmin(fmax(fx, 0), 1) * (dw - 1));
    *row = dh - 1 - (int)lrint(fmin(fmax(fy, 0), 1) * (dh - 1));
}

/* Bresenham from (c0, r0) to (c1, r1); *k counts the series' dots for its dashes. */
static void
segment(struct plot *p, int c0, int r0, int c1, int r1, int series, long *k)
{
    int dc = abs(c1 - c0), dr = -abs(r1 - r0);
    int sc = c0 < c1 ? 1 : -1, sr = r0 < r1 ? 1 : -1, e = dc + dr;
    for (;;) {
        if (dash_on(series, (*k)++))
            set_dot(p, c0, r0, series);
        if (c0 == c1 && r0 == r1)
            break;
        int e2 = 2 * e;
        if (e2 >= dr)
            e += dr, c0 += sc;
        if (e2 <= dc)
            e += dc, r0 += sr;
    }
}

static int
draw_series(struct plot *p, const struct pd_braille_series *s, int i)
{
    int drawn = 0, pc = 0, pr = 0;
    bool have_prev = false;
    long k = 0;
    for (size_t j = 0; j < s->n; j++) {
        if (!isfinite(s->x[j]) || !isfinite(s->y[j])) {
            have_prev = false;
            continue;
        }
        int c, r;
        to_dot(p, s->x[j], s->y[j], &c, &r);
        if (have_prev)
            segment(p, pc, pr, c, r, i, &k);
        else if (dash_on(i, k++) || j + 1 == s->n || !isfinite(s->y[j + 1]))
            set_dot(p, c, r, i);   /* a lone point is always shown */
        pc = c, pr = r, have_prev = true;
        drawn++;
    }
    return drawn;
}

/* The ranges of the data: x over all series, y unless the chart fixes it. */
static bool
ranges(const struct pd_braille_chart *ch, struct plot *p)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < ch->n_series; i++)
        for (size_t j = 0; j < ch->series[i].n; j++) {
            double x = ch->series[i].x[j], y = ch->series[i].y[j];
            if (!isfinite(x) || !isfinite(y))
                continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (xlo > xhi)
        return false;
    if (isfinite(ch->y_lo))
        ylo = ch->y_lo;
    if (isfinite(ch->y_hi))
        yhi = ch->y_hi;
    if (!(yhi > ylo)) {   /* a flat series: a range around it, so it has a place */
        double d = ylo == 0 ? 0 : fabs(ylo) * 0.1;
        yhi = ylo == 0 ? 1 : ylo + d;
        ylo -= d;
    }
    p->xlo = xlo, p->xhi = xhi, p->ylo = ylo, p->yhi = yhi;
    return true;
}

/* The title and legend on row 0. */
static void
legend(struct grid *g, const struct pd_braille_chart *ch)
{
    int x = text(g, 0, 0, g->w, ch->title, PD_BRAILLE_TEXT);
    for (int i = 0; i < ch->n_series; i++) {
        x = text(g, x + 2, 0, g->w, pd_braille_mark(i), i);
        x = text(g, x + 1, 0, g->w, ch->series[i].name, PD_BRAILLE_TEXT);
    }
}

/* The y labels and axis at the left of the plot rows, the x range under them. */
static void
axes(struct grid *g, const struct plot *p, int lw, bool x_axis, const char *ylo, const char *yhi)
{
    for (int r = 0; r < p->ph && lw >= 0; r++) {
        const char *l = r == 0 ? yhi : r == p->ph - 1 ? ylo : NULL;
        if (l)
            text(g, lw - (int)strlen(l), p->y0 + r, lw, l, PD_BRAILLE_TEXT);
        put(g, lw, p->y0 + r, l ? 0x2524 : 0x2502, PD_BRAILLE_AXIS);   /* ┤ │ */
    }
    if (!x_axis)
        return;
    int y = p->y0 + p->ph;
    if (lw >= 0)
        put(g, lw, y, 0x2514, PD_BRAILLE_AXIS);   /* └ */
    for (int x = p->x0; x < p->x0 + p->pw; x++)
        put(g, x, y, 0x2500, PD_BRAILLE_AXIS);    /* ─ */
    char lo[16], hi[16];
    pd_braille_label(p->xlo, lo, sizeof lo);
    pd_braille_label(p->xhi, hi, sizeof hi);
    int nl = (int)strlen(lo), nh = (int)strlen(hi);
    if (nl + nh + 1 > p->pw)
        return;
    text(g, p->x0, y, p->x0 + nl, lo, PD_BRAILLE_TEXT);
    if (p->xhi > p->xlo)
        text(g, p->x0 + p->pw - nh, y, p->x0 + p->pw, hi, PD_BRAILLE_TEXT);
}

int
pd_braille_render(const struct pd_braille_chart *ch, int width, int height,
                  struct pd_braille_cell *cells)
{
    if (width <= 0 || height <= 0)
        return 0;
    struct grid g = { cells, width, height };
    for (int i = 0; i < width * height; i++)
        cells[i] = (struct pd_braille_cell){ .ch = ' ', .role = PD_BRAILLE_TEXT };
    legend(&g, ch);
    bool x_axis = height >= 4;
    struct plot p = { .g = &g, .y0 = 1, .ph = height - 1 - x_axis };
    if (p.ph <= 0 || !ranges(ch, &p))
        return 0;
    char ylo[16], yhi[16];
    pd_braille_label(p.ylo, ylo, sizeof ylo);
    pd_braille_label(p.yhi, yhi, sizeof yhi);
    int lw = (int)(strlen(ylo) > strlen(yhi) ? strlen(ylo) : strlen(yhi));
    if (width - lw - 1 < 2)
        lw = -1;   /* no room for labels: the plot takes the width */
    p.x0 = lw + 1, p.pw = width - p.x0;
    axes(&g, &p, lw, x_axis, ylo, yhi);
    int drawn = 0;
    for (int i = 0; i < ch->n_series && i < PD_BRAILLE_MAX_SERIES; i++)
        drawn += draw_series(&p, &ch->series[i], i);
    return drawn;
}
