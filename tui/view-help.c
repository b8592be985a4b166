/*
 * view-help.c: the help overlay (F1 or ?): every key, read from the same table the key handling
 * uses (wb-keys.c), so the list cannot fall out of step with what the keys do.
 */
#include "config.h"

#include "tui/wb.h"

#include <curses.h>
#include <string.h>

void
wb_draw_help(struct wb *w)
{
    int n = 0;
    for (size_t i = 0; i < wb_n_keys; i++)
        n += wb_keys[i].name != NULL;
    int width = PD_MIN(w->cols - 2, 78), height = PD_MIN(w->rows - 2, n + 4);
    if (width < 10 || height < 3)
        return;
    int top = (w->rows - height) / 2, left = (w->cols - width) / 2;
    attrset(A_NORMAL);
    for (int y = 0; y < height; y++)
        mvhline(top + y, left, ' ', width);
    attrset(A_BOLD);
    mvaddnstr(top, left + 1, "ponder · keys (any key closes this)", width - 2);
    attrset(A_NORMAL);
    int y = top + 2, col_w = 14;
    for (size_t i = 0; i < wb_n_keys && y < top + height - 1; i++) {
        const struct wb_key *k = &wb_keys[i];
        if (k->name == NULL)
            continue;
        attrset(A_BOLD);
        mvaddnstr(y, left + 1, k->name, col_w);
        attrset(A_NORMAL);
        mvaddnstr(y, left + 2 + col_w, k->help, width - col_w - 3);
        y++;
    }
    if (y == top + height - 1 && n + 4 > height) {
        attrset(wb_attr_dim(w));
        mvaddnstr(y, left + 1, "… (a taller terminal shows the rest)", width - 2);
        attrset(A_NORMAL);
    }
    attrset(wb_attr_dim(w));
    mvhline(top + 1, left + 1, ACS_HLINE, width - 2);
    attrset(A_NORMAL);
}
