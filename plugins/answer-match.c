/*
 * answer-match.c: extract the marked answer, normalize it, compare it with the gold
 * (plugins/answer-match.h).
 */
#include "config.h"

#include "plugins/answer-match.h"
#include "plugins/plugin-util.h"

#include <ctype.h>
#include <string.h>

/* ---- extraction ----------------------------------------------------------------------------- */

/* The braced argument starting at p ('{' expected after spaces): its content, or false. */
static bool
braced(const char *p, const char *e, const char **a, size_t *len)
{
    while (p < e && *p == ' ')
        p++;
    if (p == e || *p != '{')
        return false;
    int depth = 0;
    for (const char *q = p; q < e; q++) {
        if (*q == '{')
            depth++;
        else if (*q == '}' && --depth == 0) {
            *a = p + 1;
            *len = (size_t)(q - p - 1);
            return true;
        }
    }
    return false;
}

/* The last well-formed \boxed{...} or \fbox{...} in t[0..n). */
static bool
boxed_last(const char *t, size_t n, const char **a, size_t *len)
{
    static const char *const names[] = { "\\boxed", "\\fbox" };
    for (size_t i = n; i-- > 0;) {
        if (t[i] != '\\')
            continue;
        for (int k = 0; k < 2; k++) {
            size_t m = strlen(names[k]);
            if (i + m <= n && memcmp(t + i, names[k], m) == 0 &&
                braced(t + i + m, t + n, a, len))
                return true;
        }
    }
    return false;
}

int
pp_answer_extract(const char *text, size_t n, const char **ans, size_t *len)
{
    const char *open = pp_find_last(text, n, "<answer>");
    if (open) {
        const char *body = open + 8, *e = text + n;
        /* An unclosed last <answer> runs to the end: a stop string may have eaten the tag. */
        const char *close = pp_find(body, (size_t)(e - body), "</answer>");
        size_t blen = (size_t)((close ? close : e) - body);
        if (!boxed_last(body, blen, ans, len)) {
            *ans = body;
            *len = blen;
        }
        return 0;
    }
    return boxed_last(text, n, ans, len) ? 0 : -1;
}

/* ---- normalization -------------------------------------------------------------------------- */

static void
drop_all(char *s, const char *tok)
{
    size_t m = strlen(tok);
    for (char *p; (p = strstr(s, tok)) != NULL;)
        memmove(p, p + m, strlen(p + m) + 1);
}

/* Replace every `from` by the shorter `to`. */
static void
shorten_all(char *s, const char *from, const char *to)
{
    size_t m = strlen(from), k = strlen(to);
    for (char *p = s; (p = strstr(p, from)) != NULL; p += k) {
        memcpy(p, to, k);
        memmove(p + k, p + m, strlen(p + m) + 1);
    }
}

/* "\cmd{X}" -> "X" wherever it occurs. */
static void
unwrap_all(char *s, const char *cmd)
{
    size_t m = strlen(cmd);
    for (char *p; (p = strstr(s, cmd)) != NULL;) {
        const char *a;
        size_t len;
        if (!braced(p + m, p + strlen(p), &a, &len)) {
            memmove(p, p + m, strlen(p + m) + 1);   /* a bare command: drop it */
            continue;
        }
        size_t tail = (size_t)(a + len + 1 - p);   /* through the closing brace */
        memmove(p, a, len);
        memmove(p + len, p + tail, strlen(p + tail) + 1);
    }
}

static void
trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Strip one pair of math delimiters around the whole string; true when it did. */
static bool
strip_delims(char *s)
{
    static const char *const pairs[][2] = { { "$$", "$$" }, { "$", "$" }, { "\\(", "\\)" },
                                            { "\\[", "\\]" } };
    size_t n = strlen(s);
    for (size_t k = 0; k < PP_ARRAY_SIZE(pairs); k++) {
        size_t a = strlen(pairs[k][0]), b = strlen(pairs[k][1]);
        if (n >= a + b && memcmp(s, pairs[k][0], a) == 0 &&
            memcmp(s + n - b, pairs[k][1], b) == 0) {
            s[n - b] = '\0';
            memmove(s, s + a, n - b - a + 1);
            trim(s);
            return true;
        }
    }
    return false;
}

void
pp_answer_normalize(const char *s, size_t n, char *out)
{
    static const char *const drops[] = { "\\left", "\\right", "\\!", "\\,", "\\;", "\\:",
                                         "\\ " };
    static const char *const wraps[] = { "\\text", "\\textbf", "\\mathrm", "\\mbox" };
    if (n >= PP_ANSWER_MAX)
        n = PP_ANSWER_MAX - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    trim(out);
    while (strip_delims(out))
        ;
    /* Longest first: "\textbf" before "\text" would leave "bf". */
    for (size_t k = PP_ARRAY_SIZE(wraps); k-- > 0;)
        unwrap_all(out, wraps[k]);
    for (size_t k = 0; k < PP_ARRAY_SIZE(drops); k++)
        drop_all(out, drops[k]);
    shorten_all(out, "\\dfrac", "\\frac");
    shorten_all(out, "\\tfrac", "\\frac");
    char *w = out;   /* all white space out */
    for (char *r = out; *r; r++)
        if (!isspace((unsigned char)*r))
            *w++ = *r;
    *w = '\0';
    size_t len = strlen(out);
    while (len > 0 && out[len - 1] == '.')
        out[--len] = '\0';
    if (isalpha((unsigned char)out[0]) && out[1] == '=' && out[2] != '\0')
        memmove(out, out + 2, len - 1);
}

/* ---- numbers -------------------------------------------------------------------------------- */

typedef __int128 i128;

struct rat {
    i128 p, q;   /* q > 0 */
};

/* [+-]? digits with optional thousands groups, optional .digits; the whole of s[0..n). At most
 * 18 digits, so products of two stay inside 128 bits. */
static bool
parse_decimal(const char *s, size_t n, struct rat *r)
{
    size_t i = 0;
    bool neg = false;
    int digits = 0, since_comma = -1, before = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    r->p = 0;
    r->q = 1;
    for (; i < n && (isdigit((unsigned char)s[i]) || s[i] == ','); i++) {
        if (s[i] == ',') {
            /* "1,000": a group of 1-3 digits, then groups of exactly 3 */
            if ((since_comma < 0 && (before < 1 || before > 3)) || since_comma == 0 ||
                (since_comma > 0 && since_comma != 3))
                return false;
            since_comma = 0;
            continue;
        }
        if (++digits > 18)
            return false;
        r->p = r->p * 10 + (s[i] - '0');
        before++;
        if (since_comma >= 0)
            since_comma++;
    }
    if (since_comma >= 0 && since_comma != 3)
        return false;
    if (i < n && s[i] == '.') {
        for (i++; i < n && isdigit((unsigned char)s[i]); i++) {
            r->p = r->p * 10 + (s[i] - '0');
            r->q *= 10;
            digits++;
            if (digits > 18)
                return false;
        }
    }
    if (i != n || digits == 0 || digits > 18)
        return false;
    if (neg)
        r->p = -r->p;
    return true;
}

/* a/b of two decimals; false on a zero denominator or an overflow. */
static bool
divide(struct rat a, struct rat b, struct rat *r)
{
    if (b.p == 0)
        return false;
    if (__builtin_mul_overflow(a.p, b.q, &r->p) || __builtin_mul_overflow(a.q, b.p, &r->q))
        return false;
    if (r->q < 0) {
        r->p = -r->p;
        r->q = -r->q;
    }
    return true;
}

/* A decimal, a/b, or [+-]\frac{a}{b}, as a whole normalized string. */
static bool
parse_number(const char *s, struct rat *r)
{
    size_t n = strlen(s);
    if (parse_decimal(s, n, r))
        return true;
    const char *slash = strchr(s, '/');
    struct rat a, b;
    if (slash && strchr(slash + 1, '/') == NULL)
        return parse_decimal(s, (size_t)(slash - s), &a) &&
               parse_decimal(slash + 1, strlen(slash + 1), &b) && divide(a, b, r);
    bool neg = s[0] == '-';
    const char *f = s + (s[0] == '-' || s[0] == '+');
    const char *x, *y;
    size_t xl, yl;
    if (strncmp(f, "\\frac", 5) != 0 || !braced(f + 5, s + n, &x, &xl) ||
        !braced(x + xl + 1, s + n, &y, &yl) || y + yl + 1 != s + n)
        return false;
    if (!parse_decimal(x, xl, &a) || !parse_decimal(y, yl, &b) || !divide(a, b, r))
        return false;
    if (neg)
        r->p = -r->p;
    return true;
}

bool
pp_answer_equal(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return a[0] != '\0';
    struct rat x, y;
    i128 l, r;
    if (!parse_number(a, &x) || !parse_number(b, &y))
        return false;
    if (__builtin_mul_overflow(x.p, y.q, &l) || __builtin_mul_overflow(y.p, x.q, &r))
        return false;
    return l == r;
}

/* ---- the check ------------------------------------------------------------------------------ */

int
pp_answer_check(const struct ponder_reward_input *in, bool *correct, char *msg, size_t msg_size)
{
    char gold[PP_ANSWER_MAX], got[PP_ANSWER_MAX];
    const char *g, *a;
    size_t gl, al;
    *correct = false;
    if (pp_answer_extract(in->gold, strlen(in->gold), &g, &gl) != 0) {
        g = in->gold;
        gl = strlen(in->gold);
    }
    pp_answer_normalize(g, gl, gold);
    if (gold[0] == '\0')
        return pp_msg(msg, msg_size, PONDER_REWARD_NONE, "no gold answer");
    struct pp_parts parts;
    pp_split(in, &parts);
    if (parts.opened && !parts.closed)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no answer: the thoughts never closed");
    if (pp_answer_extract(parts.answer, parts.answer_len, &a, &al) != 0)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no <answer> or \\boxed{} in the answer");
    pp_answer_normalize(a, al, got);
    *correct = pp_answer_equal(got, gold);
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "'%.100s' %s gold '%.100s'", got,
                  *correct ? "=" : "!=", gold);
}
