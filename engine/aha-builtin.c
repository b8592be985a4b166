/*
 * aha-builtin.c: the built-in aha detector (cue, entropy spike, answer change; aha.h says what
 * each means).
 *
 * The text fed is folded (aha-impl.h) into a ring of the last AHA_RING bytes, each with the
 * token it came from and its segment; a NUL byte marks a segment change, so nothing matches
 * across one. Every byte pushed settles the byte before it: a cue ending there is matched (the
 * new byte says whether the word ends), and the answer scanner (aha-answer.c) sees it. The
 * tokens' entropies go to a second ring, from which a new flag takes its baseline.
 *
 * The answer after a cue is the first candidate after it, replaced by a better one while it is
 * not settled: one as strong as the answer before (explicit, conclusion, plain; aha-impl.h),
 * then a value of the same expression ("Wait, 194*21 is not 3974. ... So 194*21 = 4074"). It is
 * settled by the best possible kind, by the next flag, by HORIZON tokens or by the end.
 *
 * Cost per byte: the cues ending in that byte (bucketed by last byte; a handful), compared from
 * their end, plus a switch in the answer scanner. Per token: the flags whose entropy window is
 * still open (a few at most). Nothing is allocated but the flag array, which doubles.
 */
#include "config.h"

#include "engine/aha-impl.h"
#include "engine/aha.h"
#include "engine/pd.h"

#include <math.h>
#include <string.h>

/* ---- state ---- */

enum { HIST = 512, HORIZON = 256, SEG_NONE = 255 };

struct cue {
    const char *s;              /* folded, without a final '*' */
    const char *shown;          /* as in the list */
    int len;
    bool prefix;                /* ended in '*': the last word may run on */
    bool word_first, word_last; /* need a word boundary before / after */
};

struct hist_ent {
    int32_t index;
    float h;
    bool think;
};

/* What the public flag does not show: where its cue and answers lie in the stream (order within
 * a token matters: "= 12. Wait" can be one token). Parallel to the flag array. */
struct flag_pos {
    uint64_t from, to;          /* the cue */
    uint64_t before_end;
    char before_lhs[AHA_LHS_MAX];
    int before_strength;        /* -1: no answer before */
    int after_tier;             /* how well answer_after answers it (add_cand); -1 none */
    bool decided;               /* answer_after will not change */
};

struct builtin {
    struct pd_aha_params p;
    struct cue *cues;
    size_t n_cues;
    uint32_t bucket[257];       /* cues ending in byte c: order[bucket[c] .. bucket[c + 1]) */
    uint32_t *order;
    char *cue_text;
    struct aha_text text;
    int last_seg;
    unsigned char held[2];      /* the start of a curly apostrophe */
    int n_held, held_seg;
    int32_t held_tok;
    struct hist_ent hist[HIST];
    uint64_t n_hist;
    struct aha_scanner sc;
    struct aha_cand last[3];    /* the last candidate of each strength */
    bool have[3];
    struct pd_aha_flag *flags;
    struct flag_pos *fpos;
    size_t n_flags, cap_flags;
    size_t first_window;        /* flags before it have their entropy window closed */
    size_t first_open;          /* flags before it are final */
    int changed;                /* changes made by the current call */
    bool oom;
};

static unsigned char
at(const struct builtin *b, uint64_t q)
{
    return aha_at(&b->text, q);
}

/* ---- flags ---- */

static void
touch(struct builtin *b, struct pd_aha_flag *f)
{
    f->score = 0.0f;
    if (f->evidence & PD_AHA_EV_CUE)
        f->score += 0.3f;
    if (f->evidence & PD_AHA_EV_ENTROPY)
        f->score += 0.3f;
    if (f->evidence & PD_AHA_EV_ANSWER_CHANGED)
        f->score += 0.4f;
    f->revision++;
    b->changed++;
}

static bool
is_spike(const struct builtin *b, const struct pd_aha_flag *f)
{
    return f->base_n >= b->p.min_base && !isnan(f->entropy) &&
           f->entropy > f->base_mean + b->p.k * f->base_std &&
           f->entropy - f->base_mean >= b->p.min_rise;
}

/* Take token (index, h) into f's entropy evidence if it is in the window; true on a change. */
static bool
entropy_take(struct builtin *b, struct pd_aha_flag *f, int32_t index, float h)
{
    if (isnan(h) || index < f->tok_from || index > f->tok_to + b->p.near)
        return false;
    if (!isnan(f->entropy) && h <= f->entropy)
        return false;
    f->entropy = h;
    f->entropy_tok = index;
    if (is_spike(b, f))
        f->evidence |= PD_AHA_EV_ENTROPY;
    return true;
}

/* The tokens already seen in f's window (the cue is found a byte late, its tokens are in). */
static void
entropy_scan(struct builtin *b, struct pd_aha_flag *f)
{
    uint64_t lo = b->n_hist > HIST ? b->n_hist - HIST : 0;
    for (uint64_t i = lo; i < b->n_hist; i++)
        entropy_take(b, f, b->hist[i % HIST].index, b->hist[i % HIST].h);
}

/* Mean and standard deviation of the last `window` thought tokens before the cue. */
static void
baseline(struct builtin *b, struct pd_aha_flag *f)
{
    double sum = 0, sq = 0;
    int n = 0;
    uint64_t lo = b->n_hist > HIST ? b->n_hist - HIST : 0;
    for (uint64_t i = b->n_hist; i-- > lo && n < b->p.window;) {
        const struct hist_ent *e = &b->hist[i % HIST];
        if (e->index >= f->tok_from || !e->think || isnan(e->h))
            continue;
        sum += e->h;
        sq += (double)e->h * e->h;
        n++;
    }
    f->base_n = n;
    if (n) {
        double mean = sum / n, var = sq / n - mean * mean;
        f->base_mean = (float)mean;
        f->base_std = (float)sqrt(var > 0 ? var : 0);
    }
}

static struct pd_aha_flag *
flag_new(struct builtin *b)
{
    if (b->n_flags == b->cap_flags) {
        size_t cap = b->cap_flags ? b->cap_flags * 2 : 32;
        struct pd_aha_flag *p = realloc(b->flags, cap * sizeof *p);
        if (p)
            b->flags = p;
        struct flag_pos *q = p ? realloc(b->fpos, cap * sizeof *q) : NULL;
        if (q == NULL) {
            b->oom = true;
            return NULL;
        }
        b->fpos = q;
        b->cap_flags = cap;
    }
    return &b->flags[b->n_flags++];
}

/* An open flag whose window has closed and whose answer is settled is final. */
static void
settle(struct builtin *b, size_t i)
{
    struct pd_aha_flag *f = &b->flags[i];
    if (f->state == PD_AHA_OPEN && i < b->first_window && b->fpos[i].decided) {
        f->state = PD_AHA_FINAL;
        touch(b, f);
    }
    while (b->first_open < b->n_flags && b->flags[b->first_open].state == PD_AHA_FINAL)
        b->first_open++;
}

static void
set_before(struct pd_aha_flag *f, struct flag_pos *fp, const struct aha_cand *c)
{
    memcpy(f->answer_before, c->s, sizeof f->answer_before);
    f->answer_before_tok = c->tok;
    fp->before_end = c->end;
    memcpy(fp->before_lhs, c->lhs, sizeof fp->before_lhs);
    fp->before_strength = (int)c->strength;
}

static void
set_after(struct pd_aha_flag *f, const struct aha_cand *c)
{
    memcpy(f->answer_after, c->s, sizeof f->answer_after);
    f->answer_after_tok = c->tok;
    f->evidence &= ~(unsigned)(PD_AHA_EV_ANSWER_CHANGED | PD_AHA_EV_ANSWER_SAME);
    if (f->answer_before_tok >= 0)
        f->evidence |= strcmp(f->answer_before, f->answer_after) ? PD_AHA_EV_ANSWER_CHANGED
                                                                 : PD_AHA_EV_ANSWER_SAME;
}

/* A cue matched stream positions start..end: a new flag, or more evidence for the open one
 * nearby. */
static void
raise_cue(struct builtin *b, const struct cue *cue, uint64_t start, uint64_t end)
{
    int32_t from = b->text.tok[start % AHA_RING], to = b->text.tok[end % AHA_RING];
    struct pd_aha_flag *f = b->n_flags ? &b->flags[b->n_flags - 1] : NULL;
    if (f && f->state == PD_AHA_OPEN && f->answer_after_tok < 0 &&
        from <= f->tok_to + b->p.merge_gap) {
        struct flag_pos *fp = &b->fpos[b->n_flags - 1];
        fp->from = PD_MIN(fp->from, start);
        fp->to = PD_MAX(fp->to, end);
        f->tok_from = PD_MIN(f->tok_from, from);
        f->tok_to = PD_MAX(f->tok_to, to);
        f->n_cues++;
        if (strlen(cue->shown) > strlen(f->cue))
            snprintf(f->cue, sizeof f->cue, "%s", cue->shown);
        b->first_window = PD_MIN(b->first_window, b->n_flags - 1);  /* its window grew */
        entropy_scan(b, f);
        touch(b, f);
        return;
    }
    /* The model has moved on: earlier answers after a cue are settled. */
    for (size_t i = b->first_open; i < b->n_flags; i++) {
        if (b->flags[i].answer_after_tok >= 0 && !b->fpos[i].decided) {
            b->fpos[i].decided = true;
            settle(b, i);
        }
    }
    if ((f = flag_new(b)) == NULL)
        return;
    *f = (struct pd_aha_flag){ .tok_from = from, .tok_to = to, .state = PD_AHA_OPEN,
                               .evidence = PD_AHA_EV_CUE, .n_cues = 1, .entropy = NAN,
                               .entropy_tok = -1, .answer_before_tok = -1,
                               .answer_after_tok = -1 };
    snprintf(f->cue, sizeof f->cue, "%s", cue->shown);
    struct flag_pos *fp = &b->fpos[b->n_flags - 1];
    *fp = (struct flag_pos){ .from = start, .to = end, .before_strength = -1, .after_tier = -1 };
    /* The answer before: the strongest kind stated so far, its last statement. */
    for (int k = AHA_EXPLICIT; k >= AHA_PLAIN; k--) {
        if (b->have[k] && b->last[k].end < start) {
            set_before(f, fp, &b->last[k]);
            break;
        }
    }
    baseline(b, f);
    entropy_scan(b, f);
    touch(b, f);
}

/* How well c answers what the answer before f's cue answered: 2 the same expression's value,
 * 1 as strong a statement (or there was no answer before), 0 any other candidate. */
static int
after_tier(const struct flag_pos *fp, const struct aha_cand *c)
{
    if (fp->before_lhs[0] && strcmp(c->lhs, fp->before_lhs) == 0)
        return 2;
    return (int)c->strength >= fp->before_strength ? 1 : 0;
}

/* A candidate answer was stated: it may be the answer before or after an open flag's cue. The
 * answer after is the best tier seen, the first of it; the best possible settles it. */
static void
add_cand(struct builtin *b, const struct aha_cand *c)
{
    b->last[c->strength] = *c;
    b->have[c->strength] = true;
    for (size_t i = b->first_open; i < b->n_flags; i++) {
        struct pd_aha_flag *f = &b->flags[i];
        struct flag_pos *fp = &b->fpos[i];
        if (f->state != PD_AHA_OPEN || fp->decided)
            continue;
        if (c->end < fp->from) {
            /* Stated before the cue, known only now ("= 12" waits for the next byte). */
            if ((int)c->strength >= fp->before_strength) {
                set_before(f, fp, c);
                touch(b, f);
            }
            continue;
        }
        if (c->start <= fp->to)
            continue;
        if (f->answer_after_tok >= 0 && c->tok > f->tok_to + HORIZON) {
            fp->decided = true;
            settle(b, i);
            continue;
        }
        int tier = after_tier(fp, c);
        if (tier <= fp->after_tier)
            continue;
        set_after(f, c);
        fp->after_tier = tier;
        fp->decided = tier == 2 || (tier == 1 && fp->before_lhs[0] == '\0');
        touch(b, f);
        settle(b, i);
    }
}

/* ---- cues ---- */

/* Cues ending at stream position e, now that the byte after it (nx) is known. */
static void
check_cues(struct builtin *b, uint64_t e, unsigned char nx)
{
    unsigned char last = at(b, e);
    if (last == 0 || b->text.seg[e % AHA_RING] != PD_SEG_THINK)
        return;
    const struct cue *best = NULL;
    uint64_t best_start = 0, lo = aha_low(&b->text);
    for (uint32_t k = b->bucket[last]; k < b->bucket[last + 1]; k++) {
        const struct cue *c = &b->cues[b->order[k]];
        if ((best && c->len <= best->len) || (uint64_t)c->len > e + 1 - lo)
            continue;
        uint64_t s = e + 1 - (uint64_t)c->len;
        int i = c->len - 1;
        while (i >= 0) {
            unsigned char r = at(b, s + (uint64_t)i);
            if ((r == '\n' ? ' ' : r) != (unsigned char)c->s[i])
                break;
            i--;
        }
        if (i >= 0)
            continue;
        if (!c->prefix && c->word_last && aha_is_word(nx))
            continue;
        if (c->word_first && s > lo && aha_is_word(at(b, s - 1)))
            continue;
        best = c;
        best_start = s;
    }
    if (best)
        raise_cue(b, best, best_start, e);
}

/* ---- folding the text ---- */

static void
push(struct builtin *b, unsigned char c, int seg, int32_t tok)
{
    struct aha_text *t = &b->text;
    uint64_t p = t->pos++;
    t->ring[p % AHA_RING] = c;
    t->tok[p % AHA_RING] = tok;
    t->seg[p % AHA_RING] = (uint8_t)seg;
    if (p > 0)
        check_cues(b, p - 1, c);
    struct aha_cand cand[2];
    int n = aha_scan(&b->sc, t, p, cand);
    for (int i = 0; i < n; i++)
        add_cand(b, &cand[i]);
}

/* A hard break: segment change, tag, end of stream. */
static void
boundary(struct builtin *b, int32_t tok)
{
    if (b->text.pos > 0 && at(b, b->text.pos - 1) != 0)
        push(b, 0, SEG_NONE, tok);
}

static void
emit(struct builtin *b, unsigned char c, int seg, int32_t tok)
{
    if (seg != PD_SEG_THINK && seg != PD_SEG_ANSWER) {
        boundary(b, tok);
        return;
    }
    if (seg != b->last_seg)
        boundary(b, tok);
    b->last_seg = seg;
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
        uint64_t p = b->text.pos - 1;
        unsigned char prev = b->text.pos ? at(b, p) : 0;
        if (prev == 0)
            return;
        if (prev == ' ' || prev == '\n') {
            if (c == '\n')
                b->text.ring[p % AHA_RING] = '\n';  /* the run holds a line break */
            return;
        }
        c = c == '\n' ? '\n' : ' ';
    } else if (c >= 'A' && c <= 'Z') {
        c = (unsigned char)(c - 'A' + 'a');
    }
    push(b, c, seg, tok);
}

static void
flush_held(struct builtin *b)
{
    for (int i = 0; i < b->n_held; i++)
        emit(b, b->held[i], b->held_seg, b->held_tok);
    b->n_held = 0;
}

/* One byte of text: U+2018 and U+2019 (E2 80 98/99) become "'", across tokens too. */
static void
input(struct builtin *b, unsigned char c, int seg, int32_t tok)
{
    if (b->n_held && seg != b->held_seg)
        flush_held(b);
    if (b->n_held == 1 && c == 0x80) {
        b->held[b->n_held++] = c;
        return;
    }
    if (b->n_held == 2 && (c == 0x98 || c == 0x99)) {
        b->n_held = 0;
        emit(b, '\'', seg, b->held_tok);
        return;
    }
    flush_held(b);
    if (c == 0xe2) {
        b->held[0] = c;
        b->n_held = 1;
        b->held_seg = seg;
        b->held_tok = tok;
        return;
    }
    emit(b, c, seg, tok);
}

/* ---- the built-in detector's functions ---- */

static void
bi_reset(void *state)
{
    struct builtin *b = state;
    b->text.pos = 0;
    b->last_seg = SEG_NONE;
    b->n_held = 0;
    b->n_hist = 0;
    b->sc = (struct aha_scanner){ 0 };
    b->have[0] = b->have[1] = b->have[2] = false;
    b->n_flags = b->first_window = b->first_open = 0;
    b->oom = false;
}

static void
bi_destroy(void *state)
{
    struct builtin *b = state;
    if (b == NULL)
        return;
    free(b->cues);
    free(b->order);
    free(b->cue_text);
    free(b->flags);
    free(b->fpos);
    free(b);
}

/* Copy the cue list into the detector, bucketed by last byte. */
static int
compile_cues(struct builtin *b, const struct pd_aha_cues *list, char *err)
{
    size_t n = pd_aha_cues_count(list), bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += 2 * (strlen(pd_aha_cues_get(list, i)) + 1);
    b->cues = calloc(n ? n : 1, sizeof *b->cues);
    b->order = calloc(n ? n : 1, sizeof *b->order);
    b->cue_text = malloc(bytes ? bytes : 1);
    if (!b->cues || !b->order || !b->cue_text)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    char *t = b->cue_text;
    uint32_t count[257] = { 0 };
    for (size_t i = 0; i < n; i++) {
        const char *s = pd_aha_cues_get(list, i);
        size_t len = strlen(s);
        struct cue *c = &b->cues[i];
        c->shown = memcpy(t, s, len + 1);
        t += len + 1;
        c->prefix = len > 1 && s[len - 1] == '*';
        c->len = (int)(len - c->prefix);
        c->s = memcpy(t, s, (size_t)c->len);
        t[c->len] = '\0';
        t += c->len + 1;
        c->word_first = aha_is_word((unsigned char)c->s[0]);
        c->word_last = aha_is_word((unsigned char)c->s[c->len - 1]);
        count[(unsigned char)c->s[c->len - 1]]++;
    }
    b->n_cues = n;
    b->bucket[0] = 0;
    for (int c = 0; c < 256; c++)
        b->bucket[c + 1] = b->bucket[c] + count[c];
    uint32_t fill[256];
    memcpy(fill, b->bucket, sizeof fill);
    for (size_t i = 0; i < n; i++)
        b->order[fill[(unsigned char)b->cues[i].s[b->cues[i].len - 1]]++] = (uint32_t)i;
    return PD_OK;
}

static int
bi_create(void **state, const struct pd_aha_params *params, char *err)
{
    *state = NULL;
    struct builtin *b = calloc(1, sizeof *b);
    if (b == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    b->p = pd_aha_params_resolve(params);
    struct pd_aha_cues *seed = NULL;
    const struct pd_aha_cues *list = b->p.cues;
    int rc = PD_OK;
    if (list == NULL && (rc = pd_aha_cues_seed(&seed, err)) == 0)
        list = seed;
    if (rc == 0)
        rc = compile_cues(b, list, err);
    pd_aha_cues_free(seed);
    b->p.cues = NULL;       /* copied; the caller's list may go */
    if (rc) {
        bi_destroy(b);
        return rc;
    }
    bi_reset(b);
    *state = b;
    return PD_OK;
}

static int
bi_feed(void *state, const struct pd_aha_token *tok)
{
    struct builtin *b = state;
    b->changed = 0;
    b->hist[b->n_hist++ % HIST] = (struct hist_ent){ tok->index, tok->entropy,
                                                     tok->segment == PD_SEG_THINK };
    for (int i = 0; i < tok->n_spans; i++) {
        const struct pd_text_span *sp = &tok->spans[i];
        for (size_t j = 0; j < sp->len; j++)
            input(b, (unsigned char)sp->text[j], (int)sp->segment, tok->index);
    }
    /* Entropy windows: close the ones this token is past, give it to the others. */
    while (b->first_window < b->n_flags &&
           b->flags[b->first_window].tok_to + b->p.near < tok->index) {
        b->first_window++;
        settle(b, b->first_window - 1);
    }
    for (size_t i = b->first_window; i < b->n_flags; i++)
        if (entropy_take(b, &b->flags[i], tok->index, tok->entropy))
            touch(b, &b->flags[i]);
    if (b->oom) {
        b->oom = false;
        return PD_ENOMEM;
    }
    return b->changed;
}

static int
bi_finish(void *state)
{
    struct builtin *b = state;
    b->changed = 0;
    int32_t last = b->n_hist ? b->hist[(b->n_hist - 1) % HIST].index : 0;
    flush_held(b);
    boundary(b, last);      /* settles a cue or a number at the very end */
    for (size_t i = b->first_open; i < b->n_flags; i++) {
        if (b->flags[i].state == PD_AHA_OPEN) {
            b->flags[i].state = PD_AHA_FINAL;
            touch(b, &b->flags[i]);
        }
    }
    b->first_window = b->first_open = b->n_flags;
    if (b->oom) {
        b->oom = false;
        return PD_ENOMEM;
    }
    return b->changed;
}

static const struct pd_aha_flag *
bi_flags(void *state, size_t *n)
{
    struct builtin *b = state;
    *n = b->n_flags;
    return b->flags;
}

const struct pd_aha_detector pd_aha_builtin = {
    .abi_version = PD_AHA_ABI_VERSION,
    .name = "builtin",
    .version = "1",
    .create = bi_create,
    .destroy = bi_destroy,
    .reset = bi_reset,
    .feed = bi_feed,
    .finish = bi_finish,
    .flags = bi_flags,
};
