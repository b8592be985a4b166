/*
 * unicode.c: UTF-8, general categories and the GPT-2 byte alphabet (see unicode.h).
 *
 * The category table is a sorted array of runs (about four thousand entries, generated); a
 * lookup is a binary search of a dozen steps, ASCII included. The tokenizer classifies each
 * character once or twice per pass, so no cache is kept.
 */
#include "config.h"

#include "engine/unicode.h"

#include "engine/unicode-tables.h"

static const char *const ucat_names[PD_UCAT_COUNT] = {
    "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
    "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co",
};

static bool
is_cont(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

/* Allowed range of the second byte of a multi-byte sequence led by b (RFC 3629 table). */
static void
second_byte_range(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b == 0xE0)
        *lo = 0xA0;
    else if (b == 0xED)
        *hi = 0x9F;
    else if (b == 0xF0)
        *lo = 0x90;
    else if (b == 0xF4)
        *hi = 0x8F;
}

/* Contract: see unicode.h. */
size_t
pd_utf8_seq_len(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 1;
}

/* Contract: see unicode.h. */
uint32_t
pd_utf8_decode(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t need = pd_utf8_seq_len(u[0]);
    unsigned char lo, hi;
    uint32_t cp;

    *len = 1;
    if (u[0] < 0x80)
        return u[0];
    if (need == 1 || n < need)
        return PD_UNICODE_REPLACEMENT;
    second_byte_range(u[0], &lo, &hi);
    if (u[1] < lo || u[1] > hi)
        return PD_UNICODE_REPLACEMENT;
    for (size_t i = 2; i < need; i++)
        if (!is_cont(u[i]))
            return PD_UNICODE_REPLACEMENT;
    /* The lead byte keeps 7 - need bits; each continuation byte 6. */
    cp = u[0] & (0x7Fu >> need);
    for (size_t i = 1; i < need; i++)
        cp = (cp << 6) | (u[i] & 0x3F);
    *len = need;
    return cp;
}

/* Contract: see unicode.h. */
size_t
pd_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;

    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        cp = PD_UNICODE_REPLACEMENT;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Contract: see unicode.h. */
size_t
pd_utf8_valid_prefix(const char *s, size_t n)
{
    size_t i = 0, len;

    while (i < n) {
        if (pd_utf8_decode(s + i, n - i, &len) == PD_UNICODE_REPLACEMENT && len == 1 &&
            (unsigned char)s[i] >= 0x80)
            break;
        i += len;
    }
    return i;
}

/* Contract: see unicode.h. */
enum pd_ucat
pd_unicode_category(uint32_t cp)
{
    size_t lo = 0, hi = sizeof pd_ucat_runs / sizeof pd_ucat_runs[0];

    if (cp > 0x10FFFF)
        return PD_UCAT_CN;
    /* Invariant: runs[lo].first <= cp < runs[hi].first (hi = end counts as infinity). */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (pd_ucat_runs[mid].first <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (enum pd_ucat)pd_ucat_runs[lo].cat;
}

/* Contract: see unicode.h. */
const char *
pd_unicode_category_name(enum pd_ucat c)
{
    return (unsigned)c < PD_UCAT_COUNT ? ucat_names[c] : "??";
}

/* Contract: see unicode.h. White_Space from PropList.txt, which is what \s means in the regex
 * engines tokenizers use (Python's str.isspace adds U+001C..U+001F; the regexes do not). */
bool
pd_unicode_is_space(uint32_t cp)
{
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static unsigned
cat_flags(enum pd_ucat c)
{
    if (c >= PD_UCAT_LU && c <= PD_UCAT_LO)
        return PD_UF_LETTER;
    if (c >= PD_UCAT_MN && c <= PD_UCAT_ME)
        return PD_UF_MARK;
    if (c >= PD_UCAT_ND && c <= PD_UCAT_NO)
        return PD_UF_NUMBER;
    if (c >= PD_UCAT_PC && c <= PD_UCAT_PO)
        return PD_UF_PUNCT;
    if (c >= PD_UCAT_SM && c <= PD_UCAT_SO)
        return PD_UF_SYMBOL;
    if (c >= PD_UCAT_ZS && c <= PD_UCAT_ZP)
        return PD_UF_SEP;
    return PD_UF_OTHER;
}

/* Contract: see unicode.h. */
unsigned
pd_unicode_flags(uint32_t cp)
{
    unsigned f = cat_flags(pd_unicode_category(cp));

    if (pd_unicode_is_space(cp))
        f |= PD_UF_SPACE;
    return f;
}

/* Contract: see unicode.h. */
const char *
pd_unicode_version(void)
{
    return PD_UNICODE_VERSION;
}

/* Bytes GPT-2 keeps as themselves: printable Latin-1 minus the soft hyphen. */
static bool
byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* Contract: see unicode.h. The other 68 bytes take U+0100, U+0101, ... in byte order. */
uint32_t
pd_unicode_byte_to_cp(uint8_t b)
{
    unsigned n = 0;

    if (byte_is_printable(b))
        return b;
    for (unsigned i = 0; i < b; i++)
        n += !byte_is_printable(i);
    return 0x100 + n;
}

/* Contract: see unicode.h. */
int
pd_unicode_cp_to_byte(uint32_t cp)
{
    unsigned n;

    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    n = cp - 0x100;
    for (unsigned i = 0; i < 256; i++)
        if (!byte_is_printable(i) && n-- == 0)
            return (int)i;
    return -1;
}
