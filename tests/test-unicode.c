/*
 * test-unicode.c: UTF-8 decoding and encoding edge cases, general categories against
 * tests/data/unicode-categories.txt (written from Python's unicodedata by
 * tests/tools/gen-unicode-tables.py), the GPT-2 byte alphabet, and pd_utf8_stream with input
 * split at every position.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "tests/tap.h"

struct dec_case {
    const char *in;
    size_t n;
    uint32_t cp;
    size_t len;
    const char *what;
};

static void
check_decode(void)
{
    static const struct dec_case cases[] = {
        {"A", 1, 'A', 1, "ascii"},
        {"\0", 1, 0, 1, "nul"},
        {"\xc2\x80", 2, 0x80, 2, "first two-byte"},
        {"\xdf\xbf", 2, 0x7FF, 2, "last two-byte"},
        {"\xe0\xa0\x80", 3, 0x800, 3, "first three-byte"},
        {"\xef\xbf\xbf", 3, 0xFFFF, 3, "U+FFFF"},
        {"\xf0\x90\x80\x80", 4, 0x10000, 4, "first four-byte"},
        {"\xf4\x8f\xbf\xbf", 4, 0x10FFFF, 4, "U+10FFFF"},
        {"\xc0\xaf", 2, 0xFFFD, 1, "overlong two-byte"},
        {"\xe0\x80\xaf", 3, 0xFFFD, 1, "overlong three-byte"},
        {"\xed\xa0\x80", 3, 0xFFFD, 1, "surrogate"},
        {"\xf4\x90\x80\x80", 4, 0xFFFD, 1, "above U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, 0xFFFD, 1, "f5 lead"},
        {"\x80", 1, 0xFFFD, 1, "stray continuation"},
        {"\xff", 1, 0xFFFD, 1, "ff"},
        {"\xe4\xb8", 2, 0xFFFD, 1, "truncated at end"},
        {"\xe4\xb8" "a", 3, 0xFFFD, 1, "truncated before ascii"},
    };

    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++) {
        size_t len = 0;
        uint32_t cp = pd_utf8_decode(cases[i].in, cases[i].n, &len);
        ok(cp == cases[i].cp && len == cases[i].len, "decode %s: U+%04X len %zu",
           cases[i].what, (unsigned)cp, len);
    }
}

static void
check_encode(void)
{
    static const uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF};
    int bad = 0;
    char buf[4];
    size_t len;

    for (size_t i = 0; i < PD_ARRAY_SIZE(cps); i++) {
        size_t n = pd_utf8_encode(cps[i], buf);
        bad += pd_utf8_decode(buf, n, &len) != cps[i] || len != n;
    }
    /* Every scalar value round-trips. */
    for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x3000 ? 1 : 7)) {
        size_t n;
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        n = pd_utf8_encode(c, buf);
        bad += pd_utf8_decode(buf, n, &len) != c || len != n;
    }
    is_int(bad, 0, "encode/decode round trip");
    is_int(pd_utf8_encode(0xD800, buf), 3, "surrogate encodes as U+FFFD");
    ok(memcmp(buf, "\xef\xbf\xbd", 3) == 0, "surrogate encodes as EF BF BD");
    is_int(pd_utf8_valid_prefix("ab\xc3\xa9\xff", 5), 4, "valid prefix stops at ff");
}

static void
check_categories(void)
{
    char line[128], name[8];
    unsigned cp;
    int n = 0, bad = 0;
    FILE *f = fopen(test_path("data/unicode-categories.txt"), "r");

    if (!ok(f != NULL, "open unicode-categories.txt"))
        return;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%x %7s", &cp, name) != 2)
            continue;
        n++;
        if (strcmp(pd_unicode_category_name(pd_unicode_category(cp)), name) != 0 && bad++ < 5)
            diag("U+%04X: got %s want %s", cp,
                 pd_unicode_category_name(pd_unicode_category(cp)), name);
    }
    fclose(f);
    ok(n > 5000 && bad == 0, "%d categories match unicodedata (%d differ)", n, bad);
    ok(pd_unicode_flags('a') & PD_UF_LETTER, "a is a letter");
    ok(pd_unicode_flags(0x0301) & PD_UF_MARK, "U+0301 is a mark");
    ok(pd_unicode_flags(0x0663) & PD_UF_NUMBER, "Arabic-Indic three is a number");
    ok(pd_unicode_flags(0x3000) & PD_UF_SPACE, "ideographic space is \\s");
    ok(!(pd_unicode_flags(0x200B) & PD_UF_SPACE), "zero-width space is not \\s");
    ok(pd_unicode_flags('$') & PD_UF_SYMBOL, "$ is a symbol");
}

static void
check_byte_alphabet(void)
{
    int bad = 0;

    for (unsigned b = 0; b < 256; b++)
        bad += pd_unicode_cp_to_byte(pd_unicode_byte_to_cp((uint8_t)b)) != (int)b;
    is_int(bad, 0, "byte alphabet round trip");
    is_int(pd_unicode_byte_to_cp(' '), 0x120, "space is U+0120 (G with dot)");
    is_int(pd_unicode_byte_to_cp('\n'), 0x10A, "newline is U+010A");
    is_int(pd_unicode_cp_to_byte(0x2581), -1, "U+2581 is not in the alphabet");
}

/* Feed s split at position cut (and in single bytes when cut is 0); return the output. */
static size_t
stream_run(const char *s, size_t n, size_t cut, char *out)
{
    struct pd_utf8_stream st = {{0}, 0};
    char buf[256];
    size_t o = 0, w;

    if (cut == 0) {
        for (size_t i = 0; i < n; i++) {
            w = pd_utf8_stream_feed(&st, s + i, 1, buf);
            memcpy(out + o, buf, w);
            o += w;
        }
    } else {
        w = pd_utf8_stream_feed(&st, s, cut, buf);
        memcpy(out + o, buf, w);
        o += w;
        w = pd_utf8_stream_feed(&st, s + cut, n - cut, buf);
        memcpy(out + o, buf, w);
        o += w;
    }
    w = pd_utf8_stream_flush(&st, buf);
    memcpy(out + o, buf, w);
    return o + w;
}

static void
check_stream(void)
{
    static const char text[] = "a\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80z";
    static const char bad[] = "x\xff\xe4\xb8" "a\xc3";
    char out[256], ref[256];
    size_t n = sizeof text - 1, rn;
    int mismatch = 0;

    for (size_t cut = 0; cut <= n; cut++) {
        size_t o = stream_run(text, n, cut, out);
        mismatch += o != n || memcmp(out, text, n) != 0;
    }
    is_int(mismatch, 0, "valid text passes through whole at every split");
    rn = stream_run(bad, sizeof bad - 1, sizeof bad - 1, ref);
    ok(rn == 11 && memcmp(ref, "x\xef\xbf\xbd\xef\xbf\xbd" "a\xef\xbf\xbd", 11) == 0,
       "invalid bytes become U+FFFD (maximal subparts)");
    mismatch = 0;
    for (size_t cut = 0; cut <= sizeof bad - 1; cut++) {
        size_t o = stream_run(bad, sizeof bad - 1, cut, out);
        mismatch += o != rn || memcmp(out, ref, rn) != 0;
        mismatch += pd_utf8_valid_prefix(out, o) != o;
    }
    is_int(mismatch, 0, "invalid input: same valid output at every split");
    {
        struct pd_utf8_stream st = {{0}, 0};
        char many[64], o2[64 + 8];
        size_t w;
        memset(many, '\xff', sizeof many);
        for (size_t i = 1; i < sizeof many; i += 2)
            many[i] = 'a';
        w = pd_utf8_stream_feed(&st, many, sizeof many, o2);
        ok(w <= sizeof many + 8 && pd_utf8_valid_prefix(o2, w) == w,
           "hostile input stays within n + 8 bytes (%zu) and valid", w);
    }
}

int
main(void)
{
    check_decode();
    check_encode();
    check_categories();
    check_byte_alphabet();
    check_stream();
    return exit_status();
}
