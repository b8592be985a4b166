/*
 * unicode.h: the little Unicode the tokenizer needs.
 *
 *   - UTF-8 decoding that never fails: a byte that does not start a well-formed sequence
 *     (stray continuation, truncated or overlong sequence, surrogate, above U+10FFFF) decodes
 *     as U+FFFD and consumes exactly one byte, so every byte is accounted for;
 *   - UTF-8 encoding;
 *   - general categories (Lu, Ll, ..., Cn) from a generated table of runs
 *     (engine/unicode-tables.h, written by tests/tools/gen-unicode-tables.py), and the coarse
 *     classes the pre-tokenizer regexes speak of: \p{L}, \p{N}, \p{P}, \p{S}, \p{M}, \s;
 *   - GPT-2's byte alphabet: the 256 bytes mapped onto printable code points, which is how
 *     byte-level BPE vocabularies spell their tokens.
 */
#ifndef PD_UNICODE_H
#define PD_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_UNICODE_REPLACEMENT 0xFFFDu

/* General categories. PD_UCAT_CN (unassigned) is 0. */
enum pd_ucat {
    PD_UCAT_CN, PD_UCAT_LU, PD_UCAT_LL, PD_UCAT_LT, PD_UCAT_LM, PD_UCAT_LO,
    PD_UCAT_MN, PD_UCAT_MC, PD_UCAT_ME, PD_UCAT_ND, PD_UCAT_NL, PD_UCAT_NO,
    PD_UCAT_PC, PD_UCAT_PD, PD_UCAT_PS, PD_UCAT_PE, PD_UCAT_PI, PD_UCAT_PF, PD_UCAT_PO,
    PD_UCAT_SM, PD_UCAT_SC, PD_UCAT_SK, PD_UCAT_SO,
    PD_UCAT_ZS, PD_UCAT_ZL, PD_UCAT_ZP,
    PD_UCAT_CC, PD_UCAT_CF, PD_UCAT_CS, PD_UCAT_CO,
    PD_UCAT_COUNT
};

/* Coarse classes, as bit flags (pd_unicode_flags). */
enum pd_uflag {
    PD_UF_LETTER = 1 << 0,  /* \p{L} */
    PD_UF_NUMBER = 1 << 1,  /* \p{N} */
    PD_UF_PUNCT = 1 << 2,   /* \p{P} */
    PD_UF_SYMBOL = 1 << 3,  /* \p{S} */
    PD_UF_MARK = 1 << 4,    /* \p{M} */
    PD_UF_SEP = 1 << 5,     /* \p{Z} */
    PD_UF_OTHER = 1 << 6,   /* \p{C}, unassigned included */
    PD_UF_SPACE = 1 << 7,   /* \s: the White_Space property */
};

struct pd_ucat_run {
    uint32_t first;
    uint8_t cat;
};

/* Decode the character at s (n > 0 bytes available). Sets *len to the bytes consumed (1..4);
 * an ill-formed sequence gives PD_UNICODE_REPLACEMENT with *len = 1. */
uint32_t pd_utf8_decode(const char *s, size_t n, size_t *len);

/* Encode cp into out (4 bytes room); returns the byte count. Surrogates and values above
 * U+10FFFF encode as U+FFFD. */
size_t pd_utf8_encode(uint32_t cp, char *out);

/* How many bytes a sequence starting with byte b claims (1 for a stray or invalid byte). */
size_t pd_utf8_seq_len(unsigned char b);

/* Length of the longest prefix of s (n bytes) that is well-formed UTF-8. */
size_t pd_utf8_valid_prefix(const char *s, size_t n);

enum pd_ucat pd_unicode_category(uint32_t cp);
/* Two-letter name of a category ("Lu"). */
const char *pd_unicode_category_name(enum pd_ucat c);
/* PD_UF_* bits of cp. */
unsigned pd_unicode_flags(uint32_t cp);
bool pd_unicode_is_space(uint32_t cp);

/* The Unicode version of the tables ("14.0.0"). */
const char *pd_unicode_version(void);

/* GPT-2 byte alphabet: byte -> code point, and back (-1 when cp is not in the alphabet). */
uint32_t pd_unicode_byte_to_cp(uint8_t b);
int pd_unicode_cp_to_byte(uint32_t cp);

#endif
