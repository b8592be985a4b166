/*
 * braille.h: line charts drawn with Unicode braille, for the workbench's training view.
 *
 * A chart fills a W x H area of character cells. Each braille character (U+2800..U+28FF) is a
 * 2 x 4 grid of dots, so the plot has twice the columns and four times the rows of dots it has
 * cells. The layout, top to bottom:
 *
 *   reward ━ mean ╍ acc       the title and a legend (one line)
 *     0.75┤⠀⠀⠀⠀⡠⠊⠉⠢⣀⠀           the plot, the y range's max at the top
 *         │⠀⡠⠊⠁⠀⠀⠀⠀⠀⠉
 *     0.25┤⠊⠀⠀⠀⠀⠀⠀⠀⠀⠀           and its min at the bottom
 *         └1──────────40      the x (step) range under it
 *
 * Consecutive points of a series are joined by straight lines; a point whose value is not a
 * number breaks the line. Where series cross, a cell takes the last series drawn there.
 * Series are told apart by colour where the terminal has colours, and by their dash pattern
 * always (solid, dashed, dotted; the legend shows which), so NO_COLOR loses nothing.
 *
 * The renderer is a pure function from data to cells; it draws nothing itself. Every cell
 * holds one code point of display width 1 and a role: text, axis, or the series it belongs to.
 */
#ifndef PD_TUI_BRAILLE_H
#define PD_TUI_BRAILLE_H

#include <stddef.h>
#include <stdint.h>

#define PD_BRAILLE_MAX_SERIES 4

/* What a cell shows, for the caller's attributes: text, the axis, or series 0.. */
enum { PD_BRAILLE_TEXT = -2, PD_BRAILLE_AXIS = -1 };

struct pd_braille_series {
    const char *name;        /* in the legend */
    const double *x, *y;     /* n points; x (the step) ascending */
    size_t n;
};

struct pd_braille_chart {
    const char *title;
    const struct pd_braille_series *series;
    int n_series;            /* at most PD_BRAILLE_MAX_SERIES */
    double y_lo, y_hi;       /* the y range; NAN: from the data */
};

struct pd_braille_cell {
    uint32_t ch;             /* a code point of width 1 (space when empty) */
    int8_t role;             /* PD_BRAILLE_TEXT, PD_BRAILLE_AXIS, or a series index */
};

/* Render chart into cells[height * width] (row-major); any size works, down to 1 x 1 (what
 * does not fit is left out). Returns the number of points drawn. */
int pd_braille_render(const struct pd_braille_chart *chart, int width, int height,
                      struct pd_braille_cell *cells);

/* The legend mark of series i (a UTF-8 string of two cells): "━━", "╍╍", "┈┈", "··". */
const char *pd_braille_mark(int i);

/* Format a value for an axis label in at most 7 characters ("0.25", "1.2e+03", "128"). */
void pd_braille_label(double v, char *out, size_t size);

#endif
