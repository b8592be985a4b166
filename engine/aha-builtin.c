/*
 * aha-builtin.c: the built-in aha detector (cue, entropy spike, answer change; aha.h says what
 * each means).
 *
 * The text fed is folded (lower case, one space per white-space run, curly apostrophes straight)
 * into a ring of the last RING bytes, each with the token it came from and its segment; a NUL
 * byte marks a segment change, so nothing matches across one. Every byte pushed settles the byte
 * before it: a cue ending there is matched (the new byte says whether the word ends), and the
 * answer scanner sees it. The tokens' entropies go to a second ring, from which a new flag takes
 * its baseline.
 *
 * Cost per byte: the cues ending in that byte (bucketed by last byte; a handful), compared from
 * their end, plus a switch in the answer scanner. Per token: the flags whose entropy window is
 * still open (a few at most). Nothing is allocated but the flag array, which doubles.
 */
#include "config.h"

#include "engine/aha.h"
#include "engine/pd.h"

#include <math.h>
#include <string.h>

/* ---- the built-in detector: state ---- */

enum { RING = 256, HIST = 512, N_CANDS = 8, SEG_NONE = 255 };

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

enum num_state { NUM_IDLE, NUM_DIGITS, NUM_SEP, NUM_AFTER, NUM_AFTER_BSL };

/* The answer scanner: a number being read, and the inside of a \boxed{...}. */
struct scanner {
    enum num_state st;
    char num[PD_AHA_ANSWER_MAX];
    int n_num;
    bool dot, slash;
    char sep;                   /* NUM_SEP: '.' or '/' read, a digit must follow */
    uint64_t start, end;        /* stream positions of its first byte and last digit */
    int32_t tok;                /* token of its last digit */
    int depth;                  /* > 0 inside \boxed{ } */
    uint64_t box_start;         /* position of the '{' */
    char box[PD_AHA_ANSWER_MAX];
    int n_box;
};

struct cand {
    char s[PD_AHA_ANSWER_MAX];
    int32_t tok;                /* the token that ended it */
    uint64_t start, end;        /* stream positions of its first and last byte */
};

/* Where a flag's cue and its answer before lie in the stream: order within a token matters
 * ("= 12. Wait" can be one token). Parallel to the flag array. */
struct flag_pos {
    uint64_t from, to, before_end;
};

struct builtin {
    struct pd_aha_params p;
    struct cue *cues;
    size_t n_cues;
    uint32_t bucket[257];       /* cues ending in byte c: order[bucket[c] .. bucket[c + 1]) */
    uint32_t *order;
    char *cue_text;
    unsigned char ring[RING];
    int32_t ring_tok[RING];
    uint8_t ring_seg[RING];
    uint64_t pos;               /* bytes pushed so far */
    int last_seg;
    unsigned char held[2];      /* the start of a curly apostrophe */
    int n_held, held_seg;
    int32_t held_tok;
    struct hist_ent hist[HIST];
    uint64_t n_hist;
    struct scanner sc;
    struct cand cands[N_CANDS];
    uint64_t n_cands;
    struct pd_aha_flag *flags;
    struct flag_pos *fpos;
    size_t n_flags, cap_flags;
    size_t first_window;        /* flags before it have their entropy window closed */
    size_t first_open;          /* flags before it are final */
    int changed;                /* changes made by the current call */
    bool oom;
};

static bool
is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static unsigned char
at(const struct builtin *b, uint64_t q)
{
    return b->ring[q % RING];
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

/* The last candidate stated before stream position `before`, or NULL. */
static const struct cand *
cand_before(const struct builtin *b, uint64_t before)
{
    uint64_t lo = b->n_cands > N_CANDS ? b->n_cands - N_CANDS : 0;
    for (uint64_t i = b->n_cands; i-- > lo;)
        if (b->cands[i % N_CANDS].end < before)
            return &b->cands[i % N_CANDS];
    return NULL;
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

/* A cue matched stream positions start..end: a new flag, or more evidence for the open one
 * nearby. */
static void
raise_cue(struct builtin *b, const struct cue *cue, uint64_t start, uint64_t end)
{
    int32_t from = b->ring_tok[start % RING], to = b->ring_tok[end % RING];
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
    if ((f = flag_new(b)) == NULL)
        return;
    *f = (struct pd_aha_flag){ .tok_from = from, .tok_to = to, .state = PD_AHA_OPEN,
                               .evidence = PD_AHA_EV_CUE, .n_cues = 1, .entropy = NAN,
                               .entropy_tok = -1, .answer_before_tok = -1,
                               .answer_after_tok = -1 };
    snprintf(f->cue, sizeof f->cue, "%s", cue->shown);
    struct flag_pos *fp = &b->fpos[b->n_flags - 1];
    *fp = (struct flag_pos){ start, end, 0 };
    const struct cand *c = cand_before(b, start);
    if (c) {
        memcpy(f->answer_before, c->s, sizeof f->answer_before);
        f->answer_before_tok = c->tok;
        fp->before_end = c->end;
    }
    baseline(b, f);
    entropy_scan(b, f);
    touch(b, f);
}

/* An open flag whose window has closed and whose answer is in is final. */
static void
settle(struct builtin *b, size_t i)
{
    struct pd_aha_flag *f = &b->flags[i];
    if (f->state == PD_AHA_OPEN && i < b->first_window && f->answer_after_tok >= 0) {
        f->state = PD_AHA_FINAL;
        touch(b, f);
    }
    while (b->first_open < b->n_flags && b->flags[b->first_open].state == PD_AHA_FINAL)
        b->first_open++;
}

/* A candidate answer s was stated at stream positions start..end, ending in token tok. */
static void
add_cand(struct builtin *b, const char *s, int32_t tok, uint64_t start, uint64_t end)
{
    struct cand *c = &b->cands[b->n_cands++ % N_CANDS];
    snprintf(c->s, sizeof c->s, "%s", s);
    c->tok = tok;
    c->start = start;
    c->end = end;
    for (size_t i = b->first_open; i < b->n_flags; i++) {
        struct pd_aha_flag *f = &b->flags[i];
        struct flag_pos *fp = &b->fpos[i];
        if (f->state != PD_AHA_OPEN || f->answer_after_tok >= 0)
            continue;
        if (end < fp->from && (f->answer_before_tok < 0 || end > fp->before_end)) {
            memcpy(f->answer_before, c->s, sizeof f->answer_before);
            f->answer_before_tok = tok;
            fp->before_end = end;
            touch(b, f);
        } else if (start > fp->to) {
            memcpy(f->answer_after, c->s, sizeof f->answer_after);
            f->answer_after_tok = tok;
            if (f->answer_before_tok >= 0)
                f->evidence |= strcmp(f->answer_before, f->answer_after) ? PD_AHA_EV_ANSWER_CHANGED
                                                                        : PD_AHA_EV_ANSWER_SAME;
            touch(b, f);
            settle(b, i);
        }
    }
}

/* ---- cues ---- */

/* Cues ending at ring position e, now that the byte after it (nx) is known. */
static void
check_cues(struct builtin *b, uint64_t e, unsigned char nx)
{
    unsigned char last = at(b, e);
    if (last == 0 || b->ring_seg[e % RING] != PD_SEG_THINK)
        return;
    const struct cue *best = NULL;
    uint64_t best_start = 0;
    for (uint32_t k = b->bucket[last]; k < b->bucket[last + 1]; k++) {
        const struct cue *c = &b->cues[b->order[k]];
        if ((best && c->len <= best->len) || (uint64_t)c->len > e + 1)
            continue;
        uint64_t s = e + 1 - (uint64_t)c->len;
        int i = c->len - 1;
        while (i >= 0 && at(b, s + (uint64_t)i) == (unsigned char)c->s[i])
            i--;
        if (i >= 0)
            continue;
        if (!c->prefix && c->word_last && is_word(nx))
            continue;
        if (c->word_first && s > 0 && is_word(at(b, s - 1)))
            continue;
        best = c;
        best_start = s;
    }
    if (best)
        raise_cue(b, best, best_start, e);
}

/* ---- the answer scanner ---- */

/* What may come before a number that states a result (folded text, spaces collapsed). */
static const char *const triggers[] = {
    "=", "equals", "is equal to", "answer is", "answer is:", "answer:", "answer would be",
    "answer should be", "answer must be", "result is", "total is", "sum is", "product is",
    "we get", "gives", "gives us",
};

/* Whether the text before ring position q ends in a trigger (spaces and '$' skipped). */
static bool
after_trigger(const struct builtin *b, uint64_t q)
{
    char back[24];
    int n = 0;
    uint64_t lo = b->pos > RING ? b->pos - RING : 0;
    while (q > lo && (at(b, q - 1) == ' ' || at(b, q - 1) == '$'))
        q--;
    uint64_t end = q;
    while (q > lo && n < (int)sizeof back && at(b, q - 1) != 0) {
        q--;
        n++;
    }
    for (int i = 0; i < n; i++)
        back[i] = (char)at(b, q + (uint64_t)i);
    for (size_t t = 0; t < PD_ARRAY_SIZE(triggers); t++) {
        int tl = (int)strlen(triggers[t]);
        if (tl > n || memcmp(back + n - tl, triggers[t], (size_t)tl) != 0)
            continue;
        unsigned char before = n > tl ? (unsigned char)back[n - tl - 1]
                                      : (end - (uint64_t)tl > lo ? at(b, end - tl - 1) : 0);
        if (triggers[t][0] == '=' ? strchr("<>!=", before) == NULL || before == 0
                                  : !is_word(before))
            return true;
    }
    return false;
}

/* "15.50" -> "15.5", "007" -> "7", "-0" -> "0", "3.0" -> "3". In place. */
static void
number_canon(char *s)
{
    char *d = s[0] == '-' || s[0] == '+' ? s + 1 : s;
    size_t n = strlen(d);
    if (strchr(d, '.') && !strchr(d, '/')) {
        while (n && d[n - 1] == '0')
            d[--n] = '\0';
        if (n && d[n - 1] == '.')
            d[--n] = '\0';
    }
    size_t z = 0;
    while (z + 1 < n && d[z] == '0' && is_digit((unsigned char)d[z + 1]))
        z++;
    memmove(d, d + z, n - z + 1);
    if (s[0] == '+' || (s[0] == '-' && strcmp(d, "0") == 0) || (s[0] == '-' && *d == '\0'))
        memmove(s, s + 1, strlen(s));
}

static void
accept_number(struct builtin *b)
{
    struct scanner *s = &b->sc;
    s->st = NUM_IDLE;
    s->num[s->n_num] = '\0';
    if (!after_trigger(b, s->start))
        return;
    number_canon(s->num);
    add_cand(b, s->num, s->tok, s->start, s->end);
}

/* The digits ended and c came next: a value, not a value, or look further. */
static void
end_number(struct builtin *b, unsigned char c)
{
    if (c == ' ')
        b->sc.st = NUM_AFTER;
    else if (c == '\\')
        b->sc.st = NUM_AFTER_BSL;
    else if (c == 0 || (c < 0x80 && strchr(".,;:!?)]}$%\"'", c)))
        accept_number(b);
    else
        b->sc.st = NUM_IDLE;    /* a letter ("3x"), an operator, '=', '*' ... */
}

static bool
is_number_text(const char *s)
{
    if (*s == '-')
        s++;
    if (!is_digit((unsigned char)*s))
        return false;
    int sep = 0;
    for (; *s; s++) {
        if ((*s == '.' || *s == '/') && is_digit((unsigned char)s[1]) && sep++ == 0)
            continue;
        if (!is_digit((unsigned char)*s))
            return false;
    }
    return true;
}

/* A \boxed{...} closed at position p of token tok: its content (after its last '=') is a
 * candidate. */
static void
end_box(struct builtin *b, int32_t tok, uint64_t p)
{
    struct scanner *s = &b->sc;
    s->box[s->n_box] = '\0';
    char *v = strrchr(s->box, '=');
    v = v ? v + 1 : s->box;
    if (*v == '\0')
        return;
    char tmp[PD_AHA_ANSWER_MAX];
    snprintf(tmp, sizeof tmp, "%s", v);
    if (is_number_text(tmp))
        number_canon(tmp);
    add_cand(b, tmp, tok, s->box_start, p);
}

static void
scan_box(struct builtin *b, unsigned char c, uint64_t p, int32_t tok)
{
    struct scanner *s = &b->sc;
    if (s->depth > 0) {
        if (c == 0) {
            s->depth = 0;   /* a segment ended inside: not an answer */
        } else if (c == '}' && --s->depth == 0) {
            end_box(b, tok, p);
        } else {
            s->depth += c == '{';
            if (c != ' ' && s->n_box + 1 < (int)sizeof s->box)
                s->box[s->n_box++] = (char)c;
        }
        return;
    }
    static const char open[] = "\\boxed{";
    if (c != '{')
        return;
    uint64_t q = p;
    if (q > 0 && at(b, q - 1) == ' ')
        q--;
    int n = (int)sizeof open - 2;   /* "\boxed" before the brace */
    if (q < (uint64_t)n)
        return;
    for (int i = 0; i < n; i++)
        if (at(b, q - (uint64_t)n + (uint64_t)i) != (unsigned char)open[i])
            return;
    s->depth = 1;
    s->n_box = 0;
    s->box_start = p;
}

static void
start_number(struct builtin *b, unsigned char c, uint64_t p, int32_t tok)
{
    struct scanner *s = &b->sc;
    unsigned char prev = p > 0 ? at(b, p - 1) : 0;
    if (is_word(prev) || prev == '.')
        return;
    s->n_num = 0;
    s->start = p;
    /* A minus sign counts when it does not follow a word ("3-2" is a difference). */
    if (prev == '-' && (p < 2 || !is_word(at(b, p - 2)))) {
        s->num[s->n_num++] = '-';
        s->start = p - 1;
    }
    s->num[s->n_num++] = (char)c;
    s->dot = s->slash = false;
    s->tok = tok;
    s->end = p;
    s->st = NUM_DIGITS;
}

static void
num_add(struct scanner *s, char c)
{
    if (s->n_num + 1 < (int)sizeof s->num)
        s->num[s->n_num++] = c;
}

/* The byte c was pushed at stream position p. */
static void
scan(struct builtin *b, unsigned char c, uint64_t p, int32_t tok)
{
    struct scanner *s = &b->sc;
    scan_box(b, c, p, tok);
    switch (s->st) {
    case NUM_IDLE:
        break;
    case NUM_DIGITS:
        if (is_digit(c)) {
            num_add(s, (char)c);
            s->tok = tok;
            s->end = p;
            return;
        }
        if ((c == '.' || c == '/') && !s->dot && !s->slash) {
            s->st = NUM_SEP;
            s->sep = (char)c;
            return;
        }
        end_number(b, c);
        break;
    case NUM_SEP:
        if (is_digit(c)) {
            num_add(s, s->sep);
            num_add(s, (char)c);
            s->dot = s->sep == '.';
            s->slash = s->sep == '/';
            s->tok = tok;
            s->end = p;
            s->st = NUM_DIGITS;
            return;
        }
        if (s->sep == '.')
            accept_number(b);   /* "= 12." ends a sentence */
        else
            s->st = NUM_IDLE;   /* "12/" divides */
        break;
    case NUM_AFTER:
        if (c == '\\')
            s->st = NUM_AFTER_BSL;
        else if (c < 0x80 && strchr("+-*/^=<>", c) && c != 0)
            s->st = NUM_IDLE;   /* "= 3 * 4": not a value yet */
        else if (c >= 0x80)
            s->st = NUM_IDLE;   /* "×", "−", "÷" ... */
        else
            accept_number(b);
        break;
    case NUM_AFTER_BSL:
        if (c == ')' || c == ']')
            accept_number(b);   /* "\( x = 12 \)" */
        else
            s->st = NUM_IDLE;   /* "\times", "\cdot" */
        break;
    }
    if (s->st == NUM_IDLE && is_digit(c))
        start_number(b, c, p, tok);
}

/* ---- folding the text ---- */

static void
push(struct builtin *b, unsigned char c, int seg, int32_t tok)
{
    uint64_t p = b->pos++;
    b->ring[p % RING] = c;
    b->ring_tok[p % RING] = tok;
    b->ring_seg[p % RING] = (uint8_t)seg;
    if (p > 0)
        check_cues(b, p - 1, c);
    scan(b, c, p, tok);
}

/* A hard break: segment change, tag, end of stream. */
static void
boundary(struct builtin *b, int32_t tok)
{
    if (b->pos > 0 && at(b, b->pos - 1) != 0)
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
        unsigned char prev = b->pos ? at(b, b->pos - 1) : 0;
        if (prev == ' ' || prev == 0)
            return;
        c = ' ';
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
    b->pos = 0;
    b->last_seg = SEG_NONE;
    b->n_held = 0;
    b->n_hist = 0;
    b->sc = (struct scanner){ 0 };
    b->n_cands = 0;
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
        c->word_first = is_word((unsigned char)c->s[0]);
        c->word_last = is_word((unsigned char)c->s[c->len - 1]);
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
