/*
 * aha-answer.c: the built-in aha detector's answer scanner: candidate answers as the folded text
 * streams by, for "did the answer change after the cue".
 *
 * A candidate is
 *   - a number ending a statement after a trigger: "= 12.", "equals 12", "the answer is 12",
 *     "the total is 12", "we get 12" (a number followed by an operator, "= 3 * 4", is a step
 *     of a computation, not a value; "= 15." is only known to be 15 once the byte after the
 *     '.' shows it is not 15.5);
 *   - the content of \boxed{...} (after its last '=') or of <answer>...</answer>.
 * Each has a strength (aha-impl.h): explicit answers, conclusions (a statement opened by "so",
 * "therefore", "thus", "hence", "finally", or "the total/result/sum/product is"), and plain
 * equations. For "=", "equals" and "is equal to" the expression on the left is kept (spaces
 * out): a "Wait" that restates "194*21" is about the answer stated for "194*21".
 */
#include "config.h"

#include "engine/aha-impl.h"
#include "engine/pd.h"

#include <string.h>

enum num_state { NUM_IDLE, NUM_DIGITS, NUM_SEP, NUM_AFTER, NUM_AFTER_BSL };

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

/* ---- what comes before a number ---- */

static const struct trigger {
    const char *w;
    enum aha_strength strength;
    bool lhs;                   /* the expression before it is what the number is the value of */
} triggers[] = {
    { "=", AHA_PLAIN, true },             { "equals", AHA_PLAIN, true },
    { "is equal to", AHA_PLAIN, true },   { "answer is", AHA_EXPLICIT, false },
    { "answer is:", AHA_EXPLICIT, false }, { "answer:", AHA_EXPLICIT, false },
    { "answer would be", AHA_EXPLICIT, false }, { "answer should be", AHA_EXPLICIT, false },
    { "answer must be", AHA_EXPLICIT, false }, { "result is", AHA_CONCLUSION, false },
    { "total is", AHA_CONCLUSION, false }, { "sum is", AHA_CONCLUSION, false },
    { "product is", AHA_CONCLUSION, false }, { "we get", AHA_PLAIN, false },
    { "gives", AHA_PLAIN, false },        { "gives us", AHA_PLAIN, false },
};

/* The trigger ending right before position q (white space and '$' skipped), or NULL; *at gets
 * the position of its first byte. */
static const struct trigger *
find_trigger(const struct aha_text *t, uint64_t q, uint64_t *at)
{
    char back[24];
    int n = 0;
    uint64_t lo = aha_low(t);
    while (q > lo && strchr(" \n$", aha_at(t, q - 1)) && aha_at(t, q - 1) != 0)
        q--;
    uint64_t end = q;
    while (q > lo && n < (int)sizeof back && aha_at(t, q - 1) != 0) {
        q--;
        n++;
    }
    for (int i = 0; i < n; i++)
        back[i] = (char)aha_at(t, q + (uint64_t)i);
    for (size_t k = 0; k < PD_ARRAY_SIZE(triggers); k++) {
        const struct trigger *tr = &triggers[k];
        int tl = (int)strlen(tr->w);
        if (tl > n || memcmp(back + n - tl, tr->w, (size_t)tl) != 0)
            continue;
        uint64_t start = end - (uint64_t)tl;
        unsigned char before = start > lo ? aha_at(t, start - 1) : 0;
        /* "<=", ">=", "!=", "==" compare; a word trigger must start a word. */
        if (tr->w[0] == '=' ? before == 0 || !strchr("<>!=", before) : !aha_is_word(before)) {
            *at = start;
            return tr;
        }
    }
    return NULL;
}

/* The expression left of position q (an '=' or "equals"): digits, operators, brackets, lone
 * letters ("x", "n"), a '.' between digits; spaces out. Cut to its last AHA_LHS_MAX - 1 bytes. */
static void
lhs_of(const struct aha_text *t, uint64_t q, char *out)
{
    char rev[AHA_LHS_MAX];
    int n = 0;
    uint64_t lo = aha_low(t);
    while (q > lo && aha_at(t, q - 1) == ' ')
        q--;
    for (; q > lo && n < AHA_LHS_MAX - 1; q--) {
        unsigned char c = aha_at(t, q - 1), l = q - 1 > lo ? aha_at(t, q - 2) : 0,
                      r = aha_at(t, q);
        bool ok = is_digit(c) || (c && strchr("+-*/^()[] ", c)) ||
                  (c == '.' && is_digit(l) && is_digit(r)) ||
                  (is_alpha(c) && !is_alpha(l) && !is_alpha(r));
        if (!ok)
            break;
        if (c != ' ')
            rev[n++] = (char)c;
    }
    for (int i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
}

/* Whether the sentence holding position q opens with "so", "therefore", ... */
static bool
concludes(const struct aha_text *t, uint64_t q)
{
    static const char *const words[] = { "so", "therefore", "thus", "hence", "finally" };
    uint64_t lo = aha_low(t);
    for (int steps = 0; q > lo && steps < 160; q--, steps++) {
        unsigned char c = aha_at(t, q - 1);
        bool decimal = c == '.' && q - 1 > lo && is_digit(aha_at(t, q - 2)) &&
                       is_digit(aha_at(t, q));
        if (c == 0 || (strchr(".!?;:\n", c) && !decimal))
            break;
    }
    while (aha_at(t, q) == ' ')
        q++;
    char w[12];
    int n = 0;
    while (n < (int)sizeof w - 1 && is_alpha(aha_at(t, q + (uint64_t)n)))
        w[n] = (char)aha_at(t, q + (uint64_t)n), n++;
    w[n] = '\0';
    for (size_t i = 0; i < PD_ARRAY_SIZE(words); i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

/* ---- numbers ---- */

/* "15.50" -> "15.5", "007" -> "7", "-0" -> "0", "3.0" -> "3". In place. */
static void
number_canon(char *s)
{
    char *d = s[0] == '-' ? s + 1 : s;
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
    if (s[0] == '-' && strcmp(d, "0") == 0)
        memmove(s, s + 1, strlen(s));
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

/* The number read is a value if a trigger comes before it: fill *out. */
static int
accept_number(struct aha_scanner *s, const struct aha_text *t, struct aha_cand *out)
{
    s->st = NUM_IDLE;
    s->num[s->n_num] = '\0';
    uint64_t at = 0;
    const struct trigger *tr = find_trigger(t, s->start, &at);
    if (tr == NULL)
        return 0;
    *out = (struct aha_cand){ .strength = tr->strength, .tok = s->tok, .start = s->start,
                              .end = s->end };
    memcpy(out->s, s->num, sizeof out->s);
    number_canon(out->s);
    if (tr->lhs)
        lhs_of(t, at, out->lhs);
    if (out->strength == AHA_PLAIN && concludes(t, at))
        out->strength = AHA_CONCLUSION;
    return 1;
}

/* The digits ended and c came next: a value, not a value, or look further. */
static int
end_number(struct aha_scanner *s, const struct aha_text *t, unsigned char c,
           struct aha_cand *out)
{
    if (c == ' ') {
        s->st = NUM_AFTER;
    } else if (c == '\\') {
        s->st = NUM_AFTER_BSL;
    } else if (c == 0 || (c < 0x80 && strchr(".,;:!?)]}$%\"'\n", c))) {
        return accept_number(s, t, out);
    } else {
        s->st = NUM_IDLE;       /* a letter ("3x"), an operator, '=', '*' ... */
    }
    return 0;
}

static void
start_number(struct aha_scanner *s, const struct aha_text *t, unsigned char c, uint64_t p)
{
    unsigned char prev = p > aha_low(t) ? aha_at(t, p - 1) : 0;
    if (aha_is_word(prev) || prev == '.')
        return;
    s->n_num = 0;
    s->start = p;
    /* A minus sign counts when it does not follow a word ("3-2" is a difference). */
    if (prev == '-' && (p < 2 || p - 2 < aha_low(t) || !aha_is_word(aha_at(t, p - 2)))) {
        s->num[s->n_num++] = '-';
        s->start = p - 1;
    }
    s->num[s->n_num++] = (char)c;
    s->dot = s->slash = false;
    s->tok = t->tok[p % AHA_RING];
    s->end = p;
    s->st = NUM_DIGITS;
}

static void
num_add(struct aha_scanner *s, char c, const struct aha_text *t, uint64_t p)
{
    if (s->n_num + 1 < (int)sizeof s->num)
        s->num[s->n_num++] = c;
    s->tok = t->tok[p % AHA_RING];
    s->end = p;
}

/* ---- \boxed{...} and <answer>...</answer> ---- */

/* Whether the folded text ending at position p (included) is w, a space before the last byte
 * allowed ("\boxed {"). */
static bool
ends_with(const struct aha_text *t, uint64_t p, const char *w)
{
    size_t n = strlen(w);
    uint64_t q = p;     /* w's last byte is at q */
    if (aha_at(t, q) != (unsigned char)w[n - 1])
        return false;
    if (q > 0 && aha_at(t, q - 1) == ' ')
        q--;
    if (q < n - 1 || q - (n - 1) < aha_low(t))
        return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (aha_at(t, q - (n - 1) + i) != (unsigned char)w[i])
            return false;
    return true;
}

static int
end_box(struct aha_scanner *s, const struct aha_text *t, uint64_t p, struct aha_cand *out)
{
    s->text[s->n_text] = '\0';
    s->box = 0;
    const char *v = s->text;
    if (strrchr(v, '='))
        v = strrchr(v, '=') + 1;
    if (*v == '\0')
        return 0;
    *out = (struct aha_cand){ .strength = AHA_EXPLICIT, .tok = t->tok[p % AHA_RING],
                              .start = s->box_start, .end = p };
    memcpy(out->s, v, strlen(v) + 1);
    if (is_number_text(out->s))
        number_canon(out->s);
    return 1;
}

static int
scan_box(struct aha_scanner *s, const struct aha_text *t, unsigned char c, uint64_t p,
         struct aha_cand *out)
{
    if (s->box) {
        if (c == 0) {
            s->box = 0;         /* a segment ended inside: not an answer */
            return 0;
        }
        if (s->box == 1 && c == '}' && --s->depth == 0)
            return end_box(s, t, p, out);
        if (s->box == 2 && c == '<')
            return end_box(s, t, p, out);
        s->depth += c == '{';
        if (c != ' ' && c != '\n' && s->n_text + 1 < (int)sizeof s->text)
            s->text[s->n_text++] = (char)c;
        return 0;
    }
    if ((c == '{' && ends_with(t, p, "\\boxed{")) || (c == '>' && ends_with(t, p, "<answer>"))) {
        s->box = c == '{' ? 1 : 2;
        s->depth = 1;
        s->n_text = 0;
        s->box_start = p;
    }
    return 0;
}

/* ---- the scanner ---- */

int
aha_scan(struct aha_scanner *s, const struct aha_text *t, uint64_t p, struct aha_cand *out)
{
    unsigned char c = aha_at(t, p);
    int n = scan_box(s, t, c, p, out);
    switch (s->st) {
    case NUM_DIGITS:
        if (is_digit(c)) {
            num_add(s, (char)c, t, p);
            return n;
        }
        if ((c == '.' || c == '/') && !s->dot && !s->slash) {
            s->st = NUM_SEP;
            s->sep = (char)c;
            return n;
        }
        n += end_number(s, t, c, out + n);
        break;
    case NUM_SEP:
        if (is_digit(c)) {
            num_add(s, s->sep, t, p);
            num_add(s, (char)c, t, p);
            s->dot = s->sep == '.';
            s->slash = s->sep == '/';
            s->st = NUM_DIGITS;
            return n;
        }
        if (s->sep == '.')
            n += accept_number(s, t, out + n);  /* "= 12." ends a sentence */
        else
            s->st = NUM_IDLE;                   /* "12/" divides */
        break;
    case NUM_AFTER:
        if (c == '\\')
            s->st = NUM_AFTER_BSL;
        else if (c >= 0x80 || (c != 0 && strchr("+-*/^=<>", c)))
            s->st = NUM_IDLE;   /* "= 3 * 4", "= 3 × 4": not a value yet */
        else
            n += accept_number(s, t, out + n);
        break;
    case NUM_AFTER_BSL:
        if (c == ')' || c == ']')
            n += accept_number(s, t, out + n);  /* "\( x = 12 \)" */
        else
            s->st = NUM_IDLE;                   /* "\times", "\cdot" */
        break;
    default:
        break;
    }
    if (s->st == NUM_IDLE && is_digit(c))
        start_number(s, t, c, p);
    return n;
}
