/*
 * pretok.c: pre-tokenizer regexes as hand-written matchers (see pretok.h).
 *
 * Each regex becomes a function that, given a position in a piece, returns where the match
 * starting there ends, or the position itself when no alternative matches there. The driver
 * (split_pass) turns that into the usual "find all, keep the gaps" split: text no alternative
 * matches becomes a piece of its own, joined with its unmatched neighbours. Alternatives are
 * tried in the regex's order and each one is as greedy as the regex allows, backtracking
 * included (\s+(?!\S) gives back one space when followed by a non-space).
 *
 * The regexes, as llama.cpp and the models' tokenizer.json files write them:
 *   gpt2:     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama3:   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *             ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2:    the same with \p{N} for \p{N}{1,3}
 *   deepseek-v3: \p{N}{1,3}  then  [一-龥぀-ゟ゠-ヿ]+  then
 *             [!-/:-@[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 *             ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   smollm:   \p{N}  then gpt2  (Hugging Face: Digits(individual_digits) + ByteLevel)
 *   default:  [\p{P}\$\+<=>\^~\|]+  then gpt2  then \p{N}+  then [0-9][0-9][0-9]
 *
 * llama.cpp runs the deepseek-v3 word regex through std::regex over a "collapsed" text (each
 * non-ASCII code point replaced by a byte standing for its class); the matcher here follows the
 * regex itself, which is what Hugging Face does, and agrees with llama.cpp on ordinary text.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "engine/pretok.h"
#include "engine/unicode.h"

#define NO_CP 0xFFFFFFFFu
#define PD_MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

/* One piece being split: code points [b, e) of the text. */
struct seg {
    const uint32_t *cps;
    const uint8_t *fl;
    size_t b, e;
};

typedef size_t (*matcher_fn)(const struct seg *s, size_t pos);

static const char *const pretok_names[PD_PRETOK_COUNT] = {
    "default", "gpt2", "llama-bpe", "qwen2", "deepseek-v3", "smollm",
};

/* tokenizer.ggml.pre names, as llama.cpp groups them. */
static const struct {
    const char *name;
    enum pd_pretok p;
} name_map[] = {
    {"default", PD_PRETOK_DEFAULT},   {"gpt2", PD_PRETOK_GPT2},
    {"gpt-2", PD_PRETOK_GPT2},        {"phi-2", PD_PRETOK_GPT2},
    {"mpt", PD_PRETOK_GPT2},          {"olmo", PD_PRETOK_GPT2},
    {"jais", PD_PRETOK_GPT2},         {"roberta-bpe", PD_PRETOK_GPT2},
    {"llama-bpe", PD_PRETOK_LLAMA3},  {"llama3", PD_PRETOK_LLAMA3},
    {"dbrx", PD_PRETOK_LLAMA3},       {"smaug-bpe", PD_PRETOK_LLAMA3},
    {"qwen2", PD_PRETOK_QWEN2},       {"deepseek-r1-qwen", PD_PRETOK_QWEN2},
    {"stablelm2", PD_PRETOK_QWEN2},   {"deepseek-v3", PD_PRETOK_DEEPSEEK3},
    {"smollm", PD_PRETOK_SMOLLM},     {"starcoder", PD_PRETOK_SMOLLM},
    {"refact", PD_PRETOK_SMOLLM},     {"command-r", PD_PRETOK_SMOLLM},
    {"codeshell", PD_PRETOK_SMOLLM},  {"exaone", PD_PRETOK_SMOLLM},
    {"minerva-7b", PD_PRETOK_SMOLLM},
};

/* Contract: see pretok.h. */
int
pd_pretok_from_name(const char *name)
{
    if (!name || !*name)
        return PD_PRETOK_DEFAULT;
    for (size_t i = 0; i < sizeof name_map / sizeof name_map[0]; i++)
        if (strcmp(name, name_map[i].name) == 0)
            return (int)name_map[i].p;
    return -1;
}

/* Contract: see pretok.h. */
const char *
pd_pretok_name(enum pd_pretok p)
{
    return (unsigned)p < PD_PRETOK_COUNT ? pretok_names[p] : "?";
}

/* ---- helpers: out-of-piece positions read as "no character" ---- */

static uint32_t
cp_at(const struct seg *s, size_t i)
{
    return i < s->e ? s->cps[i] : NO_CP;
}

static unsigned
fl_at(const struct seg *s, size_t i)
{
    return i < s->e ? s->fl[i] : 0;
}

/* First position from i on whose flags miss all of mask. */
static size_t
run_of(const struct seg *s, size_t i, unsigned mask)
{
    while (i < s->e && (s->fl[i] & mask))
        i++;
    return i;
}

/* First position from i on that is not a "none of mask" character. */
static size_t
run_not(const struct seg *s, size_t i, unsigned mask)
{
    while (i < s->e && !(s->fl[i] & mask))
        i++;
    return i;
}

static bool
is_rn(uint32_t c)
{
    return c == '\r' || c == '\n';
}

static uint32_t
ascii_lower(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, ASCII case folded when fold. */
static size_t
m_contraction(const struct seg *s, size_t pos, bool fold)
{
    uint32_t a, b;

    if (cp_at(s, pos) != '\'')
        return pos;
    a = cp_at(s, pos + 1);
    b = cp_at(s, pos + 2);
    if (fold) {
        a = ascii_lower(a);
        b = ascii_lower(b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return pos + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return pos + 3;
    return pos;
}

/* \s*[\r\n]+ : the whitespace run from pos, up to and including its last \r or \n. */
static size_t
m_space_newlines(const struct seg *s, size_t pos)
{
    size_t end = pos;

    for (size_t i = pos; i < s->e && (s->fl[i] & PD_UF_SPACE); i++)
        if (is_rn(s->cps[i]))
            end = i + 1;
    return end;
}

/* \s+(?!\S)|\s+ */
static size_t
m_space_tail(const struct seg *s, size_t pos)
{
    size_t end = run_of(s, pos, PD_UF_SPACE);

    if (end == pos || end == s->e || end - pos == 1)
        return end;
    return end - 1;   /* leave one space to lead the next word */
}

/* ---- the regexes ---- */

static size_t
m_gpt2(const struct seg *s, size_t pos)
{
    const unsigned word = PD_UF_SPACE | PD_UF_LETTER | PD_UF_NUMBER;
    size_t end = m_contraction(s, pos, false);
    size_t p = pos + (cp_at(s, pos) == ' ');

    if (end > pos)
        return end;
    if (fl_at(s, p) & PD_UF_LETTER)
        return run_of(s, p, PD_UF_LETTER);
    if (fl_at(s, p) & PD_UF_NUMBER)
        return run_of(s, p, PD_UF_NUMBER);
    if (p < s->e && !(s->fl[p] & word))
        return run_not(s, p, word);
    return m_space_tail(s, pos);
}

/* llama3 and qwen2, which differ in the longest digit run (3 or 1). */
static size_t
m_llama3_like(const struct seg *s, size_t pos, size_t max_digits)
{
    const unsigned word = PD_UF_SPACE | PD_UF_LETTER | PD_UF_NUMBER;
    uint32_t c = cp_at(s, pos);
    unsigned f = fl_at(s, pos);
    size_t end = m_contraction(s, pos, true), p;

    if (end > pos)
        return end;
    if (f & PD_UF_LETTER)
        return run_of(s, pos, PD_UF_LETTER);
    if (!is_rn(c) && !(f & PD_UF_NUMBER) && (fl_at(s, pos + 1) & PD_UF_LETTER))
        return run_of(s, pos + 1, PD_UF_LETTER);
    if (f & PD_UF_NUMBER)
        return PD_MIN_SZ(run_of(s, pos, PD_UF_NUMBER), pos + max_digits);
    p = pos + (c == ' ');
    if (p < s->e && !(s->fl[p] & word)) {
        end = run_not(s, p, word);
        while (is_rn(cp_at(s, end)))
            end++;
        return end;
    }
    end = m_space_newlines(s, pos);
    return end > pos ? end : m_space_tail(s, pos);
}

static size_t
m_llama3(const struct seg *s, size_t pos)
{
    return m_llama3_like(s, pos, 3);
}

static size_t
m_qwen2(const struct seg *s, size_t pos)
{
    return m_llama3_like(s, pos, 1);
}

/* \p{N} */
static size_t
m_digit1(const struct seg *s, size_t pos)
{
    return (fl_at(s, pos) & PD_UF_NUMBER) ? pos + 1 : pos;
}

/* \p{N}{1,3} */
static size_t
m_digit3(const struct seg *s, size_t pos)
{
    size_t end = run_of(s, pos, PD_UF_NUMBER);

    return PD_MIN_SZ(end, pos + 3);
}

/* \p{N}+ */
static size_t
m_digits(const struct seg *s, size_t pos)
{
    return run_of(s, pos, PD_UF_NUMBER);
}

/* [0-9][0-9][0-9] */
static size_t
m_ascii_digit3(const struct seg *s, size_t pos)
{
    for (size_t i = 0; i < 3; i++) {
        uint32_t c = cp_at(s, pos + i);
        if (c < '0' || c > '9')
            return pos;
    }
    return pos + 3;
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t
m_default_punct(const struct seg *s, size_t pos)
{
    size_t i = pos;

    while (i < s->e && ((s->fl[i] & PD_UF_PUNCT) || (s->cps[i] < 0x80 &&
                                                     strchr("$+<=>^~|", (int)s->cps[i]) &&
                                                     s->cps[i] != 0)))
        i++;
    return i;
}

static bool
is_ds3_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) ||
           (c >= 0x30A0 && c <= 0x30FF);
}

/* [一-龥぀-ゟ゠-ヿ]+ */
static size_t
m_ds3_cjk(const struct seg *s, size_t pos)
{
    while (pos < s->e && is_ds3_cjk(s->cps[pos]))
        pos++;
    return pos;
}

static bool
is_ascii_punct(uint32_t c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static bool
is_ascii_alpha(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The deepseek-v3 word regex (see the file header). */
static size_t
m_ds3_word(const struct seg *s, size_t pos)
{
    const unsigned lm = PD_UF_LETTER | PD_UF_MARK, ps = PD_UF_PUNCT | PD_UF_SYMBOL;
    uint32_t c = cp_at(s, pos);
    unsigned f = fl_at(s, pos);
    size_t end, p;

    if (is_ascii_punct(c) && is_ascii_alpha(cp_at(s, pos + 1))) {
        end = pos + 1;
        while (is_ascii_alpha(cp_at(s, end)))
            end++;
        return end;
    }
    if (pos < s->e && !is_rn(c) && !(f & (PD_UF_LETTER | ps)) && (fl_at(s, pos + 1) & lm))
        return run_of(s, pos + 1, lm);
    if (f & lm)
        return run_of(s, pos, lm);
    p = pos + (c == ' ');
    if (fl_at(s, p) & ps) {
        end = run_of(s, p, ps);
        while (is_rn(cp_at(s, end)))
            end++;
        return end;
    }
    end = m_space_newlines(s, pos);
    return end > pos ? end : m_space_tail(s, pos);
}

/* ---- driver ---- */

/* Split each of the n_in pieces (ends in[]) by m; write the new ends to out; return count. */
static size_t
split_pass(matcher_fn m, const uint32_t *cps, const uint8_t *fl, const size_t *in, size_t n_in,
           size_t *out)
{
    size_t n_out = 0, b = 0;

    for (size_t k = 0; k < n_in; k++) {
        struct seg s = {cps, fl, b, in[k]};
        size_t gap = b, pos = b;

        while (pos < s.e) {
            size_t end = m(&s, pos);
            if (end == pos) {
                pos++;   /* unmatched: joins the gap piece */
                continue;
            }
            if (gap < pos)
                out[n_out++] = pos;
            out[n_out++] = end;
            pos = gap = end;
        }
        if (gap < s.e)
            out[n_out++] = s.e;
        b = s.e;
    }
    return n_out;
}

/* Contract: see pretok.h. */
size_t
pd_pretok_split(enum pd_pretok p, const uint32_t *cps, const uint8_t *flags, size_t n,
                size_t *ends, size_t *tmp)
{
    matcher_fn passes[4];
    size_t n_passes = 0, count;
    size_t *cur = ends, *next = tmp;

    switch (p) {
    case PD_PRETOK_GPT2: passes[n_passes++] = m_gpt2; break;
    case PD_PRETOK_LLAMA3: passes[n_passes++] = m_llama3; break;
    case PD_PRETOK_QWEN2: passes[n_passes++] = m_qwen2; break;
    case PD_PRETOK_DEEPSEEK3:
        passes[n_passes++] = m_digit3;
        passes[n_passes++] = m_ds3_cjk;
        passes[n_passes++] = m_ds3_word;
        break;
    case PD_PRETOK_SMOLLM:
        passes[n_passes++] = m_digit1;
        passes[n_passes++] = m_gpt2;
        break;
    default:
        passes[n_passes++] = m_default_punct;
        passes[n_passes++] = m_gpt2;
        passes[n_passes++] = m_digits;
        passes[n_passes++] = m_ascii_digit3;
        break;
    }
    if (n == 0)
        return 0;
    cur[0] = n;
    count = 1;
    for (size_t i = 0; i < n_passes; i++) {
        size_t *t;
        count = split_pass(passes[i], cps, flags, cur, count, next);
        t = cur;
        cur = next;
        next = t;
    }
    if (cur != ends)
        memcpy(ends, cur, count * sizeof *ends);
    return count;
}
