/*
 * test-braille.c: the braille line chart (tui/braille.h) cell by cell for small known series:
 * a rising line, two series (the second dashed, broken by a missing value) on a fixed range, a
 * flat series, the legend's roles, terminals too small for labels, and the axis labels' format.
 */
#include "config.h"

#include "tests/tap.h"
#include "tui/braille.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Row y of cells as UTF-8 text, and its roles as one character a cell: '.' text, '|' axis, a
 * digit the series. */
static void
row(const struct pd_braille_cell *c, int w, int y, char *text, char *roles)
{
    char *o = text;
    for (int x = 0; x < w; x++) {
        uint32_t ch = c[y * w + x].ch;
        if (ch < 0x80) {
            *o++ = (char)ch;
        } else if (ch < 0x800) {
            *o++ = (char)(0xc0 | ch >> 6), *o++ = (char)(0x80 | (ch & 0x3f));
        } else {
            *o++ = (char)(0xe0 | ch >> 12), *o++ = (char)(0x80 | ((ch >> 6) & 0x3f));
            *o++ = (char)(0x80 | (ch & 0x3f));
        }
        int r = c[y * w + x].role;
        roles[x] = r == PD_BRAILLE_TEXT ? '.' : r == PD_BRAILLE_AXIS ? '|' : (char)('0' + r);
    }
    *o = '\0';
    roles[w] = '\0';
}

/* Render and compare every row's text (and roles, when given) with the expected ones. */
static void
check(const char *what, const struct pd_braille_chart *ch, int w, int h, int want_drawn,
      const char *const *want, const char *const *want_roles)
{
    struct pd_braille_cell *c = calloc((size_t)(w * h), sizeof *c);
    is_int(pd_braille_render(ch, w, h, c), want_drawn, "%s: %d points drawn", what, want_drawn);
    for (int y = 0; y < h; y++) {
        char text[1024], roles[256];
        row(c, w, y, text, roles);
        is_str(text, want[y], "%s: row %d", what, y);
        if (want_roles)
            is_str(roles, want_roles[y], "%s: row %d's roles", what, y);
    }
    free(c);
}

static const double x4[] = { 1, 2, 3, 4 }, up[] = { 0, 1, 2, 3 };

static void
rising(void)
{
    struct pd_braille_series s = { "up", x4, up, 4 };
    struct pd_braille_chart ch = { "t", &s, 1, NAN, NAN };
    static const char *const want[] = {
        "t  ━━ up    ",
        "3┤       ⣀⠔⠊",
        " │   ⣀⠤⠒⠉   ",
        "0┤⡠⠔⠉       ",
        " └1────────4",
    };
    static const char *const roles[] = {
        "...00.......", ".|.......000", ".|...0000...", ".|000.......", ".|.||||||||.",
    };
    check("a rising line in 12x5", &ch, 12, 5, 4, want, roles);
}

static void
two_series(void)
{
    static const double x[] = { 1, 2, 3, 4, 5, 6 }, a[] = { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 },
                        b[] = { 0, 0.2, NAN, 0.6, 0.8, 1 };
    struct pd_braille_series s[] = { { "a", x, a, 6 }, { "b", x, b, 6 } };
    struct pd_braille_chart ch = { "r", s, 2, 0, 1 };
    static const char *const want[] = {
        "r  ━━ a  ╍╍ b   ",
        "1┤           ⡠⠄⠈",
        " │⣀⣀⣀⣀⣀⣀⣀⣀⣄⣊⣁⣀⣀⣀",
        " │              ",
        "0┤⡠ ⠊           ",
        " └1────────────6",
    };
    static const char *const roles[] = {
        "...00....11.....", ".|...........111", ".|00000000111000",
        ".|..............", ".|1.1...........", ".|.||||||||||||.",
    };
    check("a solid and a dashed series, one value missing, range 0..1", &ch, 16, 6, 11, want,
          roles);
}

static void
flat(void)
{
    static const double f[] = { 5, 5, 5 };
    struct pd_braille_series s = { "f", x4, f, 3 };
    struct pd_braille_chart ch = { "flat", &s, 1, NAN, NAN };
    static const char *const want[] = { "flat  ━━ f", "5.5┤⣀⣀⣀⣀⣀⣀", "4.5┤      ", "   └1────3" };
    check("a flat series gets a range around it", &ch, 10, 4, 3, want, NULL);
}

static void
small(void)
{
    struct pd_braille_series s = { "up", x4, up, 4 };
    struct pd_braille_chart ch = { "t", &s, 1, NAN, NAN };
    static const char *const one[] = { "t" };
    check("1x1: the title's first cell", &ch, 1, 1, 0, one, NULL);
    static const char *const tiny[] = { "t  ", "⡠⠔⠉" };
    check("3x2: no room for labels, the plot takes the width", &ch, 3, 2, 4, tiny, NULL);
    static const char *const narrow[] = { "t  ━", "3┤ ⡜", "0┤⡸ ", " └──" };
    check("4x4: no room for the x labels", &ch, 4, 4, 4, narrow, NULL);
    struct pd_braille_series none = { "none", x4, up, 0 };
    struct pd_braille_chart empty = { "empty", &none, 1, NAN, NAN };
    static const char *const blank[] = { "empty  ━━ none", "              " };
    check("no points: the title and legend only", &empty, 14, 2, 0, blank, NULL);
    struct pd_braille_cell c[1];
    is_int(pd_braille_render(&ch, 0, 5, c), 0, "a zero width draws nothing");
}

static void
labels(void)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = { { 0.25, "0.25" }, { 128, "128" }, { 1234, "1.2e+03" }, { 0.000123, "1.2e-04" },
                  { -0.5, "-0.5" }, { 1e-9, "1e-09" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[16];
        pd_braille_label(cases[i].v, buf, sizeof buf);
        is_str(buf, cases[i].want, "label of %g", cases[i].v);
    }
    is_str(pd_braille_mark(0), "━━", "series 0 is solid");
    is_str(pd_braille_mark(1), "╍╍", "series 1 is dashed");
}

int
main(void)
{
    plan(51);
    rising();
    two_series();
    flat();
    small();
    labels();
    return exit_status();
}
