/*
 * view-routing.c: what the workbench shows of a token and of the experts.
 *
 *   token panel   the token under the cursor: its log-probability, the entropy it was drawn
 *                 from, the alternatives, and a layer x expert heatmap of its gate weights
 *                 (half-block cells: two layers a row; experts bucketed when they outnumber
 *                 the columns) with a legend;
 *   load panel    the turn's expert load per layer, apart for the thoughts, the answer, and
 *                 the tokens around aha flags (the DeepSeek-V3 report's view, split by segment);
 *   tints         tokens coloured by their first expert at the chosen layer (Mixtral's Fig. 8),
 *                 by entropy, or by log-probability.
 * A dense model has no routing: the panels say so and why.
 */
#include "config.h"

#include "tui/wb.h"

#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AHA_WINDOW 8     /* tokens on each side of a flag that count as "around" it */

/* Dark to bright: 256-colour and 16-colour ramps. */
static const int ramp256[] = { 236, 17, 18, 19, 25, 31, 37, 43, 49, 84, 120, 156, 192, 228, 231 };
static const int ramp16[] = { 0, 4, 12, 6, 14, 2, 10, 3, 11, 15 };
static const char *const shade[] = { " ", "░", "▒", "▓", "█" };

static int
ramp(const struct wb *w, float v)
{
    if (!(v > 0))
        return w->colors >= 256 ? ramp256[0] : ramp16[0];
    v = v > 1 ? 1 : v;
    if (w->colors >= 256) {
        int n = (int)PD_ARRAY_SIZE(ramp256) - 1;
        return ramp256[1 + (int)(v * (float)(n - 1) + 0.5f)];
    }
    int n = (int)PD_ARRAY_SIZE(ramp16) - 1;
    return ramp16[1 + (int)(v * (float)(n - 1) + 0.5f)];
}

int
wb_expert_color(const struct wb *w, int expert)
{
    static const int hues[] = { 196, 46, 21, 226, 201, 51, 208, 93, 118, 33, 214, 161,
                                 35, 99, 178, 39, 205, 70, 141, 166, 27, 220, 129, 48 };
    if (w->colors < 256)
        return 1 + expert % 6 + (expert / 6 % 2) * 8;
    return hues[expert % (int)PD_ARRAY_SIZE(hues)];
}

const uint16_t *
wb_token_route(const struct wb_turn *t, const struct wb_tok *tok, const float **weights,
               const float **entropy)
{
    if (tok->route < 0 || t->r_layers <= 0)
        return NULL;
    size_t pairs = (size_t)t->r_layers * (size_t)t->r_k;
    if (weights)
        *weights = t->r_w + (size_t)tok->route * pairs;
    if (entropy)
        *entropy = t->r_ent + (size_t)tok->route * (size_t)t->r_layers;
    return t->r_ids + (size_t)tok->route * pairs;
}

int
wb_token_tint(const struct wb *w, const struct wb_turn *t, const struct wb_tok *tok)
{
    if (w->colors == 0)
        return -1;
    switch (w->tint) {
    case WB_TINT_EXPERT: {
        const uint16_t *ids = wb_token_route(t, tok, NULL, NULL);
        if (ids == NULL || w->layer >= t->r_layers)
            return -1;
        return wb_expert_color(w, ids[(size_t)w->layer * (size_t)t->r_k]);
    }
    case WB_TINT_ENTROPY:
        return ramp(w, tok->entropy / 4.0f);
    case WB_TINT_LOGPROB:
        return ramp(w, -tok->logprob / 6.0f);
    default:
        return -1;
    }
}

/* Bytes for display: quoted, control characters and broken UTF-8 escaped. */
static void
quote_bytes(const char *p, size_t len, char *out, size_t size)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < size;) {
        unsigned char ch = (unsigned char)p[i];
        size_t used;
        wchar_t wc;
        wb_char_width(p + i, len - i, &used, &wc);
        if (ch == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f || wc == 0xfffd) {
            /* control bytes and bytes that are not whole UTF-8 characters */
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
            used = 1;
        } else {
            memcpy(out + o, p + i, used);
            o += used;
        }
        i += used;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void
quote_piece(const struct wb *w, int32_t id, char *out, size_t size)
{
    size_t len = 0;
    const char *p = pd_tokenizer_piece(w->c->m->tok, id, &len);
    quote_bytes(p, len, out, size);
}

static void
put(int y, int x, int width, int attr, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
put(int y, int x, int width, int attr, const char *fmt, ...)
{
    char s[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    attrset(attr);
    mvaddnstr(y, x, s, width);
    attrset(A_NORMAL);
}

/* One heatmap: value(l, e) in [0, 1] for n_layers x n_experts, drawn from (y, x) in at most
 * height rows and width columns. Returns the rows used. */
static int
heatmap(struct wb *w, int y, int x, int height, int width, int n_layers, int n_experts,
        float (*value)(void *ctx, int l, int e), void *ctx, int mark_layer)
{
    int label = 4;
    int cols = PD_MAX(1, width - label), per = (n_experts + cols - 1) / cols;
    int ncol = (n_experts + per - 1) / per;
    bool half = w->colors > 0;
    int rows = half ? (n_layers + 1) / 2 : n_layers;
    rows = PD_MIN(rows, height);
    for (int r = 0; r < rows; r++) {
        int l0 = half ? 2 * r : r, l1 = l0 + 1;
        bool marked = mark_layer == l0 || (half && mark_layer == l1);
        put(y + r, x, label, marked ? A_BOLD : wb_attr_dim(w), "%3d", l0 + w->moe_layer0);
        for (int c = 0; c < ncol; c++) {
            float v0 = 0, v1 = 0;
            for (int e = c * per; e < PD_MIN(n_experts, (c + 1) * per); e++) {
                v0 = PD_MAX(v0, value(ctx, l0, e));
                if (half && l1 < n_layers)
                    v1 = PD_MAX(v1, value(ctx, l1, e));
            }
            if (half) {
                int bg = l1 < n_layers ? ramp(w, v1) : -1;
                attrset((int)COLOR_PAIR(wb_pair(w, ramp(w, v0), bg)));
                mvaddstr(y + r, x + label + c, "▀");
            } else {
                int lvl = v0 <= 0 ? 0 : 1 + (int)(v0 * 3.99f);
                attrset(A_NORMAL);
                mvaddstr(y + r, x + label + c, shade[PD_MIN(lvl, 4)]);
            }
        }
        attrset(A_NORMAL);
    }
    return rows;
}

static void
legend(struct wb *w, int y, int x, int width, const char *what, int per)
{
    put(y, x, width, wb_attr_dim(w), "%s 0", what);
    int cx = x + (int)strlen(what) + 3;
    for (int i = 0; i <= 10 && cx + i < x + width - 2; i++) {
        if (w->colors) {
            attrset((int)COLOR_PAIR(wb_pair(w, ramp(w, (float)i / 10.0f), -1)));
            mvaddstr(y, cx + i, "█");
        } else {
            mvaddstr(y, cx + i, shade[PD_MIN(4, i * 4 / 10)]);
        }
    }
    attrset(A_NORMAL);
    char tail[64];
    snprintf(tail, sizeof tail, " 1%s", per > 1 ? " · a column is several experts" : "");
    put(y, cx + 11, x + width - cx - 11, wb_attr_dim(w), "%s", tail);
}

/* ---- the token panel ---- */

struct tok_ctx {
    const struct wb_turn *t;
    const uint16_t *ids;
    const float *wts;
};

static float
tok_value(void *p, int l, int e)
{
    struct tok_ctx *c = p;
    for (int i = 0; i < c->t->r_k; i++)
        if (c->ids[l * c->t->r_k + i] == e)
            return c->wts[l * c->t->r_k + i];
    return 0;
}

static const char *
dense_why(const struct wb *w)
{
    return w->have_model && !w->moe
               ? "a dense model: every token goes through the same FFN, so there is no routing "
                 "to show (load an MoE model: qwen2moe, qwen3moe, olmoe, deepseek2, Mixtral)"
               : "this turn has no routing recorded";
}

static void
wrap_put(struct wb *w, int *y, int x, int width, int y_end, const char *s)
{
    while (*s && *y < y_end) {
        int n = (int)strlen(s);
        if (n > width) {
            n = width;
            while (n > 0 && s[n] != ' ')
                n--;
            if (n == 0)
                n = width;
        }
        put((*y)++, x, n, wb_attr_dim(w), "%.*s", n, s);
        s += n;
        while (*s == ' ')
            s++;
    }
}

static void
token_panel(struct wb *w, int top, int left, int height, int width)
{
    int y = top, end = top + height;
    if (w->cur_turn < 0 || (size_t)w->cur_turn >= w->n_turns ||
        (size_t)w->cur_tok >= w->turns[w->cur_turn].n_tok) {
        put(y, left, width, wb_attr_dim(w), "no token under the cursor (Tab, then arrows)");
        return;
    }
    const struct wb_turn *t = &w->turns[w->cur_turn];
    const struct wb_tok *k = &t->tok[w->cur_tok];
    char q[96];
    if (w->have_model) {
        quote_piece(w, k->id, q, sizeof q);
    } else {   /* no vocabulary: the text the token released */
        int s = k->len[WB_THINK] ? WB_THINK : WB_ANSWER;
        quote_bytes(t->seg[s].p + k->off[s], k->len[s], q, sizeof q);
    }
    put(y++, left, width, A_BOLD, "token %d · %s · id %d", w->cur_tok, q, k->id);
    if (y < end)
        put(y++, left, width, A_NORMAL, "logprob %.3f (p %.3f) · entropy %.2f nats · %.2f s",
            k->logprob, exp(k->logprob), k->entropy, k->t);
    if (k->n_top && y < end) {
        put(y++, left, width, wb_attr_dim(w), "alternatives");
        for (int i = 0; i < k->n_top && y < end; i++) {
            if (w->have_model)
                quote_piece(w, k->top_ids[i], q, sizeof q);
            put(y++, left, width, k->top_ids[i] == k->id ? A_BOLD : A_NORMAL, "  %5.3f %s",
                exp(k->top_lp[i]), q);
        }
    } else if (y < end) {
        put(y++, left, width, wb_attr_dim(w), "alternatives: not recorded for stored turns");
    }
    if (y < end)
        y++;
    const float *wts, *ent;
    const uint16_t *ids = wb_token_route(t, k, &wts, &ent);
    if (ids == NULL) {
        /* a reply's last token (end of generation, a stop string, a full context) is never fed
         * back through the model, so only it lacks routing in a turn that has some */
        wrap_put(w, &y, left, width, end,
                 t->n_route > 0 ? "no routing for this token: it ended the reply, so it never "
                                  "went through the model"
                                : dense_why(w));
        return;
    }
    int n_exp = w->n_experts;
    if (n_exp <= 0)
        for (size_t i = 0; i < (size_t)t->r_layers * (size_t)t->r_k; i++)
            n_exp = PD_MAX(n_exp, ids[i] + 1);
    int l = PD_MIN(w->layer, t->r_layers - 1);
    if (y < end) {
        char list[256];
        int o = 0;
        for (int i = 0; i < t->r_k && o < (int)sizeof list - 16; i++)
            o += snprintf(list + o, sizeof list - (size_t)o, " %d:%.2f", ids[l * t->r_k + i],
                          wts[l * t->r_k + i]);
        put(y++, left, width, A_NORMAL, "layer %d experts%s", l + w->moe_layer0, list);
    }
    if (y < end && ent[l] >= 0)
        put(y++, left, width, A_NORMAL, "router entropy %.2f nats (uniform %.2f)", ent[l],
            log((double)n_exp));
    if (y + 2 < end) {
        put(y++, left, width, wb_attr_dim(w), "gate weights · %d layers ↓ × %d experts →",
            t->r_layers, n_exp);
        struct tok_ctx c = { t, ids, wts };
        y += heatmap(w, y, left, end - y - 1, width, t->r_layers, n_exp, tok_value, &c, l);
        int per = (n_exp + PD_MAX(1, width - 4) - 1) / PD_MAX(1, width - 4);
        if (y < end)
            legend(w, y++, left, width, "weight", per);
    }
}

/* ---- the load panel ---- */

struct load_ctx {
    int n_layers, n_exp;
    float *v;            /* [layers][experts] share of the group's tokens */
};

static float
load_value(void *p, int l, int e)
{
    struct load_ctx *c = p;
    /* a share of 1/k per token at most: scale so the heaviest expert is bright */
    return c->v[(size_t)l * (size_t)c->n_exp + (size_t)e];
}

/* Expert load of one group of tokens (0 think, 1 answer, 2 around aha flags). */
static int
compute_load(const struct wb_turn *t, int group, struct load_ctx *c)
{
    memset(c->v, 0, (size_t)c->n_layers * (size_t)c->n_exp * sizeof *c->v);
    int n = 0;
    for (size_t i = 0; i < t->n_tok; i++) {
        const struct wb_tok *k = &t->tok[i];
        bool in = false;
        if (group == 2) {
            for (size_t a = 0; a < t->n_aha && !in; a++)
                in = t->aha[a].status >= 0 && (int)i >= t->aha[a].tok_from - AHA_WINDOW &&
                     (int)i <= t->aha[a].tok_to + AHA_WINDOW;
        } else {
            in = group == 0 ? k->seg == PD_SEG_THINK : k->seg == PD_SEG_ANSWER;
        }
        const uint16_t *ids = in ? wb_token_route(t, k, NULL, NULL) : NULL;
        if (ids == NULL)
            continue;
        n++;
        for (int l = 0; l < t->r_layers; l++)
            for (int j = 0; j < t->r_k; j++) {
                int e = ids[l * t->r_k + j];
                if (e < c->n_exp)
                    c->v[(size_t)l * (size_t)c->n_exp + (size_t)e] += 1.0f;
            }
    }
    /* scale: an expert every token chose is 1 */
    for (size_t i = 0; n && i < (size_t)c->n_layers * (size_t)c->n_exp; i++)
        c->v[i] /= (float)n;
    return n;
}

/* The load panel's numbers, kept between frames: recomputed when the turn changes, and at
 * most twice a second while it streams (a long turn of a wide model is millions of adds). */
static struct {
    const struct wb_turn *t;
    size_t n_tok, n_aha;
    int n_exp, layers;
    double when;
    float *v[3];
    int n[3];
} load_cache;

void
wb_routing_forget(void)
{
    load_cache.t = NULL;
}

static void
load_compute(struct wb *w, const struct wb_turn *t, int n_exp)
{
    double now = wb_now();
    bool same = load_cache.t == t && load_cache.n_exp == n_exp &&
                load_cache.layers == t->r_layers;
    if (same && load_cache.n_tok == t->n_tok && load_cache.n_aha == t->n_aha)
        return;
    if (same && t->streaming && now - load_cache.when < 0.5)
        return;
    (void)w;
    size_t cells = (size_t)t->r_layers * (size_t)n_exp;
    for (int g = 0; g < 3; g++) {
        load_cache.v[g] = chat_xrealloc(load_cache.v[g], cells * sizeof *load_cache.v[g]);
        struct load_ctx c = { t->r_layers, n_exp, load_cache.v[g] };
        load_cache.n[g] = compute_load(t, g, &c);
    }
    load_cache.t = t;
    load_cache.n_tok = t->n_tok;
    load_cache.n_aha = t->n_aha;
    load_cache.n_exp = n_exp;
    load_cache.layers = t->r_layers;
    load_cache.when = now;
}

static void
load_panel(struct wb *w, int top, int left, int height, int width)
{
    int y = top, end = top + height;
    int ti = w->cur_turn;
    if (ti < 0) {
        for (int i = (int)w->n_turns - 1; i >= 0 && ti < 0; i--)
            if (w->turns[i].role[0] == 'a')
                ti = i;
    }
    if (ti < 0) {
        put(y, left, width, wb_attr_dim(w), "no assistant turn yet");
        return;
    }
    const struct wb_turn *t = &w->turns[ti];
    if (t->n_route == 0) {
        wrap_put(w, &y, left, width, end, dense_why(w));
        return;
    }
    int n_exp = w->n_experts;
    if (n_exp <= 0)
        for (size_t i = 0; i < t->n_route * (size_t)t->r_layers * (size_t)t->r_k; i++)
            n_exp = PD_MAX(n_exp, t->r_ids[i] + 1);
    load_compute(w, t, n_exp);
    static const char *names[] = { "thoughts", "answer", "around aha flags (±8 tokens)" };
    int each = PD_MAX(3, (height - 2) / 3);
    put(y++, left, width, A_BOLD, "expert load · turn %d · layer ↓ × expert →", ti);
    for (int g = 0; g < 3 && y + 1 < end; g++) {
        int n = load_cache.n[g];
        struct load_ctx c = { t->r_layers, n_exp, load_cache.v[g] };
        put(y++, left, width, wb_attr_dim(w), "%s · %d tokens", names[g], n);
        if (n == 0)
            continue;
        y += heatmap(w, y, left, PD_MIN(each - 1, end - y - 1), width, t->r_layers, n_exp,
                     load_value, &c, w->layer);
        if (y < end && w->layer < t->r_layers) {
            /* the chosen layer's busiest experts */
            char s[256];
            int o = snprintf(s, sizeof s, "  layer %d busiest:", w->layer + w->moe_layer0);
            const float *row = c.v + (size_t)w->layer * (size_t)n_exp;
            bool used[1024] = { false };
            for (int r = 0; r < 4 && o < (int)sizeof s - 16; r++) {
                int best = -1;
                for (int e = 0; e < n_exp && e < 1024; e++)
                    if (row[e] > 0 && !used[e] && (best < 0 || row[e] > row[best]))
                        best = e;
                if (best < 0)
                    break;
                used[best] = true;
                char one[32];
                int len = snprintf(one, sizeof one, " %d (%.0f%%)", best, 100.0 * row[best]);
                if (o + len > width)   /* whole entries only: a cut "4 (" reads as a glitch */
                    break;
                o += snprintf(s + o, sizeof s - (size_t)o, "%s", one);
            }
            put(y++, left, width, A_NORMAL, "%s", s);
        }
    }
    if (y < end)
        legend(w, y++, left, width, "share", (n_exp + PD_MAX(1, width - 4) - 1) /
                                                  PD_MAX(1, width - 4));
}

void
wb_draw_panel(struct wb *w, int top, int left, int height, int width)
{
    if (width < 8 || height < 1)
        return;
    if (w->panel == WB_PANEL_TOKEN)
        token_panel(w, top, left + 1, height, width - 1);
    else if (w->panel == WB_PANEL_LOAD)
        load_panel(w, top, left + 1, height, width - 1);
}
