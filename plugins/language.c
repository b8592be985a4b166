/*
 * language.c: R1's language-consistency reward (grpo.md 3.5): the share of the thoughts'
 * words written in the target language's script, 0..1, to be summed with accuracy.
 *
 * A word is a run of letters of one alphabetic script (Latin, Cyrillic, Greek, Arabic, Hebrew,
 * Devanagari, Hangul), or a single Han or kana character (Chinese and Japanese put no spaces
 * between words; one character is the closest cheap unit). Digits, punctuation, symbols and
 * LaTeX commands' backslashes are not words; a command's letters are ("\frac" counts as a
 * Latin word), as they would for any tokenizer-free count.
 *
 * Settings (config, then extra):
 *   "language": a code (en, fr, de, es, it, pt, nl, ..., zh, ja, ko, ru, uk, el, ar, fa, he,
 *               hi) or a script (latin, cjk, hangul, cyrillic, greek, arabic, hebrew,
 *               devanagari); default "en".
 *   "where":    "think" (default: the thoughts; the whole completion when it has no think
 *               block) or "all".
 * No words at all scores 0.
 */
#include "config.h"

#include "plugins/plugin-util.h"

#include <string.h>

enum script { S_NONE, S_LATIN, S_CJK, S_HANGUL, S_CYRILLIC, S_GREEK, S_ARABIC, S_HEBREW,
              S_DEVANAGARI, S_OTHER };

static const char *const script_names[] = { "", "latin", "cjk", "hangul", "cyrillic", "greek",
                                             "arabic", "hebrew", "devanagari" };

static const struct {
    const char *code;
    enum script s;
} lang_codes[] = {
    { "en", S_LATIN }, { "fr", S_LATIN }, { "de", S_LATIN }, { "es", S_LATIN },
    { "it", S_LATIN }, { "pt", S_LATIN }, { "nl", S_LATIN }, { "sv", S_LATIN },
    { "da", S_LATIN }, { "no", S_LATIN }, { "fi", S_LATIN }, { "pl", S_LATIN },
    { "cs", S_LATIN }, { "tr", S_LATIN }, { "vi", S_LATIN }, { "id", S_LATIN },
    { "ro", S_LATIN }, { "hu", S_LATIN }, { "zh", S_CJK }, { "ja", S_CJK },
    { "ko", S_HANGUL }, { "ru", S_CYRILLIC }, { "uk", S_CYRILLIC }, { "bg", S_CYRILLIC },
    { "sr", S_CYRILLIC }, { "el", S_GREEK }, { "ar", S_ARABIC }, { "fa", S_ARABIC },
    { "he", S_HEBREW }, { "hi", S_DEVANAGARI }, { "mr", S_DEVANAGARI },
};

static enum script
script_of(unsigned c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return S_LATIN;
    if (c < 0x80)
        return S_NONE;
    if ((c >= 0xc0 && c <= 0x24f && c != 0xd7 && c != 0xf7) || (c >= 0x1e00 && c <= 0x1eff))
        return S_LATIN;
    if (c >= 0x370 && c <= 0x3ff)
        return S_GREEK;
    if (c >= 0x400 && c <= 0x52f)
        return S_CYRILLIC;
    if (c >= 0x590 && c <= 0x5ff)
        return S_HEBREW;
    if (c >= 0x600 && c <= 0x6ff)
        return S_ARABIC;
    if (c >= 0x900 && c <= 0x97f)
        return S_DEVANAGARI;
    if ((c >= 0x1100 && c <= 0x11ff) || (c >= 0xac00 && c <= 0xd7af))
        return S_HANGUL;
    if ((c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) ||
        (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0x20000 && c <= 0x2ffff))
        return S_CJK;
    /* Punctuation and symbols of the common blocks are not letters of any script. */
    if ((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) ||
        (c >= 0xff00 && c <= 0xffef) || c < 0xc0)
        return S_NONE;
    return S_OTHER;
}

/* The next code point of s[*i..n); invalid bytes read as U+FFFD, one byte each. */
static unsigned
next_cp(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t left = n - *i;
    int len = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > left) {
        (*i)++;
        return 0xfffd;
    }
    unsigned c = len == 1 ? u[0] : u[0] & (0x7f >> len);
    for (int k = 1; k < len; k++) {
        if ((u[k] & 0xc0) != 0x80) {
            (*i)++;
            return 0xfffd;
        }
        c = c << 6 | (u[k] & 0x3f);
    }
    *i += (size_t)len;
    return c;
}

static int
target_script(const char *name, enum script *out)
{
    for (size_t k = 1; k < PP_ARRAY_SIZE(script_names); k++)
        if (strcmp(name, script_names[k]) == 0)
            return *out = (enum script)k, 0;
    for (size_t k = 0; k < PP_ARRAY_SIZE(lang_codes); k++)
        if (strcmp(name, lang_codes[k].code) == 0)
            return *out = lang_codes[k].s, 0;
    return -1;
}

static int
language_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    char lang[32] = "en", where[16] = "think";
    enum script want;
    *score = 0.0;
    if (pp_opt_string(in, "language", lang, sizeof lang) == PP_BAD ||
        target_script(lang, &want) != 0)
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "unknown \"language\" '%s'", lang);
    if (pp_opt_string(in, "where", where, sizeof where) == PP_BAD ||
        (strcmp(where, "think") != 0 && strcmp(where, "all") != 0))
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "\"where\" must be think or all");
    const char *s = in->completion;
    size_t n = in->completion_len;
    struct pp_parts p;
    pp_split(in, &p);
    bool thoughts = strcmp(where, "think") == 0 && (p.opened || p.closed);
    if (thoughts) {
        s = p.think;
        n = p.think_len;
    }
    long words = 0, hits = 0;
    enum script run = S_NONE;
    for (size_t i = 0; i < n;) {
        enum script sc = script_of(next_cp(s, n, &i));
        if (sc == S_NONE || (sc == run && sc != S_CJK)) {
            run = sc;
            continue;
        }
        run = sc;   /* a new word: another script, or one more Han/kana character */
        words++;
        hits += sc == want;
    }
    if (words == 0)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no words in the %s",
                      thoughts ? "thoughts" : "completion");
    *score = (double)hits / (double)words;
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "%ld of %ld words in %s (%s)", hits, words,
                  script_names[want], thoughts ? "thoughts" : "whole completion");
}

static const struct ponder_reward language_reward = { .score = language_score };

static const struct ponder_plugin language_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "language",
    .version = "1.0",
    .description = "share of the thoughts' words in the target language's script (R1)",
    .reward = &language_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &language_plugin;
}
