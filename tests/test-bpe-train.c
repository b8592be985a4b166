/*
 * test-bpe-train.c: the byte-level BPE trainer (engine/train/bpe-train.h) against ponder's
 * tokenizer (engine/tokenizer.h), on a corpus of a few KB generated here (arithmetic and
 * countdown problems with <think> and <answer> tags, pseudo-word prose, sentences in six
 * languages). The trained tokenizer is written into a GGUF and loaded by pd_tokenizer_load:
 *   - every corpus line, unseen text and random valid UTF-8 decodes back byte for byte; invalid
 *     UTF-8 comes back with each bad byte as U+FFFD, as the tokenizers define it;
 *   - ponder's encoding equals the trainer's own (pd_bpe_encode), for every pre-tokenizer; a
 *     GGUF with its merges reversed must break that equality (the check can fail);
 *   - the metadata has the types llama.cpp reads; the specials are single control tokens;
 *   - tokens per byte fall as the vocabulary grows (diag lines); the same corpus gives the same
 *     merges and file; a saved tokenizer loads back the same; bad input is refused.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/train/bpe-train.h"
#include "engine/unicode.h"
#include "tests/tap.h"


static const char *const specials[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<think>", "</think>", "<answer>", "</answer>",
};
#define N_SPECIALS ((int32_t)(sizeof specials / sizeof specials[0]))

static const char *const sentences[] = {
    "Le caf\xc3\xa9 est tr\xc3\xa8s chaud, d\xc3\xa9j\xc3\xa0 pr\xc3\xaat \xc3\xa0 servir.",
    "El ni\xc3\xb1o comi\xc3\xb3 pi\xc3\xb1" "a en la ma\xc3\xb1" "ana.",
    "Stra\xc3\x9f" "e und Gr\xc3\xb6\xc3\x9f" "e: \xc3\x9c" "bung macht den Meister.",
    "\xe6\x95\xb0\xe5\xad\xa6\xe5\xbe\x88\xe6\x9c\x89\xe8\xb6\xa3\xe3\x80\x82\xe4\xb8\x89\xe5\x8a"
    "\xa0\xe4\xba\x94\xe7\xad\x89\xe4\xba\x8e\xe5\x85\xab\xe3\x80\x82",
    "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac: \xce\xb1\xce\xbb\xcf\x86"
    "\xce\xb1 \xce\xb2\xce\xae\xcf\x84\xce\xb1 \xce\xb3\xce\xac\xce\xbc\xce\xbc\xce\xb1.",
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xe2\x80\x94 \xd1\x81\xd1\x82\xd0\xbe\xd0"
    "\xbb\xd0\xb8\xd1\x86\xd0\xb0.",
    "Na\xc3\xafve r\xc3\xa9sum\xc3\xa9 of the d\xc3\xa9j\xc3\xa0 vu: 3 \xc3\x97 4 = 12.",
};

/* ---- a corpus ---- */

struct corpus {
    char *buf;
    size_t len, cap;
    const char **line;
    size_t *line_len;
    size_t n, max;
};

static uint64_t rng_state;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int
rnd(int lo, int hi)
{
    return lo + (int)(rng() % (uint32_t)(hi - lo + 1));
}

static void
add_line(struct corpus *c, const char *s)
{
    size_t len = strlen(s);

    if (c->n == c->max || c->len + len + 1 > c->cap)
        return;
    memcpy(c->buf + c->len, s, len);
    c->buf[c->len + len] = '\n';
    c->len += len + 1;
    c->n++;
}

static void
line_arith(char *s, size_t n)
{
    int a = rnd(12, 999), b = rnd(11, 99), t = b / 10 * 10, u = b % 10;

    snprintf(s, n,
             "<|begin_of_text|>User: What is %d * %d? Assistant: <think>%d * %d = %d * %d + %d * "
             "%d = %d + %d = %d. Let me check: %d / %d = %d. Correct.</think> <answer>%d</answer>"
             "<|end_of_text|>",
             a, b, a, b, a, t, a, u, a * t, a * u, a * b, a * b, b, a, a * b);
}

static void
line_add(char *s, size_t n)
{
    int a = rnd(100, 9999), b = rnd(100, 9999);

    snprintf(s, n,
             "<|begin_of_text|>User: Add %d and %d. Assistant: <think>Units first: %d + %d = %d, "
             "write %d and carry %d. Wait, let me recheck the carry. The sum is %d.</think> "
             "<answer>%d</answer><|end_of_text|>",
             a, b, a % 10, b % 10, a % 10 + b % 10, (a + b) % 10, (a % 10 + b % 10) / 10, a + b,
             a + b);
}

static void
line_countdown(char *s, size_t n)
{
    int x = rnd(1, 99), y = rnd(1, 99), z = rnd(1, 20), w = rnd(2, 9);

    snprintf(s, n,
             "<|begin_of_text|>User: Using the numbers [%d, %d, %d, %d], create an equation that "
             "equals %d. Assistant: <think>Try %d + %d = %d. Then %d - %d = %d. Wait, %d is not "
             "the target. Let me try again: (%d + %d) - %d = %d, and %d * %d = %d... that uses "
             "every number once.</think> <answer>(%d + %d) - %d</answer><|end_of_text|>",
             x, y, z, w, x + y - z, x, y, x + y, x + y, z, x + y - z, x + y - z, x, y, z,
             x + y - z, z, w, z * w, x, y, z);
}

/* Pseudo-words: 1 to 4 syllables (some accented) picked by hashing the word's index, so the
 * lexicon is fixed; the i-th word is drawn log-uniformly, which is close to Zipf's law. */
static const char *const syllables[] = {
    "ka", "to", "re", "mi", "sun", "dal", "ve", "lo", "qua", "ter", "an", "is", "ol", "bre",
    "ch\xc3\xa9", "n\xc3\xbc", "\xc3\xb1" "a", "st", "ing", "ed", "pro", "con", "ex", "th",
};

static size_t
pseudo_word(char *out, uint32_t i)
{
    uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
    int n = 1 + (int)(h >> 60) % 4;
    size_t o = 0;

    for (int k = 0; k < n; k++) {
        const char *s = syllables[(h >> (8 * k)) % PD_ARRAY_SIZE(syllables)];
        memcpy(out + o, s, strlen(s));
        o += strlen(s);
    }
    return o;
}

static void
line_prose(char *s, size_t n)
{
    int words = rnd(6, 18);
    size_t o = 0;

    for (int k = 0; k < words && o + 64 < n; k++) {
        uint32_t u = rng() % 10000;
        uint32_t i = (uint32_t)(1 << (u % 13)) + u / 13 % (1u << (u % 13));   /* log-uniform */
        if (k > 0)
            s[o++] = ' ';
        o += pseudo_word(s + o, i % 5000);
        if (k == 0 && s[0] >= 'a' && s[0] <= 'z')
            s[0] = (char)(s[0] - 'a' + 'A');
        if (rng() % 9 == 0)
            s[o++] = ',';
    }
    s[o++] = '.';
    s[o] = '\0';
}

static void
corpus_make(struct corpus *c, uint64_t seed, int n_lines, bool prose_only)
{
    char s[1024];

    c->cap = (size_t)n_lines * 1024 + 4096;
    c->buf = malloc(c->cap);
    c->max = (size_t)n_lines;
    c->line = malloc(c->max * sizeof *c->line);
    c->line_len = malloc(c->max * sizeof *c->line_len);
    c->len = c->n = 0;
    rng_state = seed;
    for (int i = 0; i < n_lines; i++) {
        int k = prose_only ? 7 : rnd(0, 7);
        if (k >= 6)
            line_prose(s, sizeof s);
        else if (k == 0)
            line_arith(s, sizeof s);
        else if (k == 1)
            line_add(s, sizeof s);
        else if (k == 2)
            line_countdown(s, sizeof s);
        else
            snprintf(s, sizeof s, "%s", sentences[rng() % PD_ARRAY_SIZE(sentences)]);
        add_line(c, s);
    }
    /* Lines point into buf only once it no longer moves. */
    for (size_t i = 0, o = 0; i < c->n; i++) {
        const char *nl = memchr(c->buf + o, '\n', c->len - o);
        c->line[i] = c->buf + o;
        c->line_len[i] = (size_t)(nl - (c->buf + o));
        o += c->line_len[i] + 1;
    }
}

static void
corpus_free(struct corpus *c)
{
    free(c->buf);
    free(c->line);
    free(c->line_len);
}

/* ---- helpers ---- */

static struct pd_bpe *
train(const struct corpus *c, int32_t n_vocab, const char *pre, char *err)
{
    struct pd_bpe_opts o = {n_vocab, specials, N_SPECIALS, pre, 2};
    struct pd_bpe *b = NULL;
    const char *doc = c->buf;

    if (pd_bpe_train(&b, &doc, &c->len, 1, &o, err) != 0)
        return NULL;
    return b;
}

static int
set_ids(struct pd_bpe *b)
{
    struct pd_bpe_ids ids = {pd_bpe_find(b, "<|begin_of_text|>"), pd_bpe_find(b, "<|end_of_text|>"),
                             -1, false};
    return pd_bpe_set_ids(b, &ids, NULL);
}

/* Write b into a GGUF at path shaped like a model's metadata; with rev (n strings), those as
 * its merges instead (a broken tokenizer the comparison must notice). */
static int
write_model_gguf(const struct pd_bpe *b, const char *path, const char **rev, size_t n, char *err)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc = pd_gguf_writer_set_str(w, "general.architecture", "deepseek2");

    if (rc == 0)
        rc = pd_bpe_write_gguf(b, w, err);
    if (rc == 0 && rev)
        rc = pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", rev, n);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    return rc;
}

static struct pd_tokenizer *
load_tokenizer(const char *path, char *err)
{
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;

    if (pd_gguf_open(&g, path, err) != 0)
        return NULL;
    pd_tokenizer_load(&tok, g, err);
    pd_gguf_close(g);
    return tok;
}

static bool
ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* Join the pieces of ids into out (cap bytes); the length. */
static size_t
detok(const struct pd_tokenizer *tok, const int32_t *ids, size_t n, char *out, size_t cap)
{
    size_t o = 0, pl;

    for (size_t i = 0; i < n; i++) {
        const char *p = pd_tokenizer_piece(tok, ids[i], &pl);
        if (o + pl > cap)
            return SIZE_MAX;
        memcpy(out + o, p, pl);
        o += pl;
    }
    return o;
}

/* The text as the tokenizers see it: each invalid UTF-8 byte as U+FFFD. */
static size_t
normalize_utf8(const char *s, size_t len, char *out)
{
    size_t o = 0, cl;

    for (size_t i = 0; i < len; i += cl)
        o += pd_utf8_encode(pd_utf8_decode(s + i, len - i, &cl), out + o);
    return o;
}

struct tally {
    int n, roundtrip_bad, match_bad;
};

/* Encode text with both; count a failed round trip (against the normalized text) and a
 * mismatch between the two encodings. */
static void
check_text(const struct pd_tokenizer *tok, const struct pd_bpe *b, const char *text, size_t len,
           struct tally *t, const char *what)
{
    static char back[1 << 16], want[3 << 16];
    int32_t *got = NULL, *mine = NULL;
    size_t n_got = 0, n_mine = 0, bl, wl = normalize_utf8(text, PD_MIN(len, 1u << 16), want);

    pd_tokenizer_encode(tok, text, len, PD_TOK_PARSE_SPECIAL, &got, &n_got, NULL);
    pd_bpe_encode(b, text, len, &mine, &n_mine, NULL);
    bl = detok(tok, got, n_got, back, sizeof back);
    t->n++;
    if ((bl != wl || memcmp(back, want, wl) != 0) && t->roundtrip_bad++ == 0)
        diag("  %s: round trip of '%.60s' (%zu bytes) gave %zu bytes", what, text, len, bl);
    if (!ids_equal(got, n_got, mine, n_mine) && t->match_bad++ == 0)
        diag("  %s: '%.60s': ponder %zu ids, trainer %zu ids", what, text, n_got, n_mine);
    free(got);
    free(mine);
}

static void
check_corpus(const struct pd_tokenizer *tok, const struct pd_bpe *b, const struct corpus *c,
             struct tally *t, const char *what)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < c->n; i++)
        check_text(tok, b, c->line[i], c->line_len[i], t, what);
}

static char *
temp_path(char *buf, size_t n, const char *tag)
{
    int fd;

    snprintf(buf, n, "/tmp/ponder-test-bpe-%s-XXXXXX", tag);
    fd = mkstemp(buf);
    if (fd >= 0)
        close(fd);
    return buf;
}

/* ---- the checks ---- */

static void
check_trained(const struct pd_bpe *b, int32_t want_vocab)
{
    struct pd_bpe_stats st;
    bool chain = true;

    pd_bpe_stats(b, &st);
    is_int(pd_bpe_n_vocab(b), want_vocab, "trained to %d tokens", want_vocab);
    is_int(pd_bpe_n_merges(b), want_vocab - 256 - N_SPECIALS, "one merge per new token");
    for (int32_t i = 0; i < N_SPECIALS; i++)
        chain &= pd_bpe_find(b, specials[i]) == 256 + i && pd_bpe_is_special(b, 256 + i);
    ok(chain, "special tokens are ids 256..%d, in the order given", 255 + N_SPECIALS);
    chain = true;
    for (size_t r = 0; r < pd_bpe_n_merges(b); r++) {
        int32_t l, rt, res;
        size_t ll, rl, nl;
        pd_bpe_merge(b, r, &l, &rt, &res);
        pd_bpe_token(b, l, &ll);
        pd_bpe_token(b, rt, &rl);
        pd_bpe_token(b, res, &nl);
        chain &= res == 256 + N_SPECIALS + (int32_t)r && l < res && rt < res && nl == ll + rl &&
                 !pd_bpe_is_special(b, l) && !pd_bpe_is_special(b, rt);
    }
    ok(chain, "merge r makes token %d + r from two earlier normal tokens", 256 + N_SPECIALS);
    diag("corpus: %llu bytes, %llu pieces (%llu distinct), %llu special tokens; %.3f s",
         (unsigned long long)st.n_bytes, (unsigned long long)st.n_pieces,
         (unsigned long long)st.n_unique, (unsigned long long)st.n_specials_seen, st.seconds);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What llama.cpp's loader insists on: these keys with these types, no empty or repeated text. */
static void
check_metadata(const char *path, int32_t n_vocab)
{
    static const struct {
        const char *key;
        enum pd_gguf_type type, elem;
    } want[] = {
        {"tokenizer.ggml.model", PD_GGUF_TYPE_STRING, 0},
        {"tokenizer.ggml.pre", PD_GGUF_TYPE_STRING, 0},
        {"tokenizer.ggml.tokens", PD_GGUF_TYPE_ARRAY, PD_GGUF_TYPE_STRING},
        {"tokenizer.ggml.token_type", PD_GGUF_TYPE_ARRAY, PD_GGUF_TYPE_INT32},
        {"tokenizer.ggml.merges", PD_GGUF_TYPE_ARRAY, PD_GGUF_TYPE_STRING},
        {"tokenizer.ggml.bos_token_id", PD_GGUF_TYPE_UINT32, 0},
        {"tokenizer.ggml.eos_token_id", PD_GGUF_TYPE_UINT32, 0},
        {"tokenizer.ggml.add_bos_token", PD_GGUF_TYPE_BOOL, 0},
    };
    struct pd_gguf *g = NULL;
    const struct pd_gguf_value *v;
    const char **texts = NULL;
    bool types = true, unique = true;
    uint64_t n = 0;

    if (!ok(pd_gguf_open(&g, path, NULL) == 0, "open the written GGUF"))
        return;
    for (size_t i = 0; i < PD_ARRAY_SIZE(want); i++) {
        v = pd_gguf_get(g, want[i].key);
        types &= v && v->type == want[i].type &&
                 (v->type != PD_GGUF_TYPE_ARRAY || v->v.arr.elem_type == want[i].elem);
    }
    ok(types, "tokenizer keys have the types llama.cpp reads");
    if ((v = pd_gguf_get(g, "tokenizer.ggml.tokens")) && v->type == PD_GGUF_TYPE_ARRAY &&
        (texts = calloc(v->v.arr.n + 1, sizeof *texts))) {
        n = v->v.arr.n;
        for (uint64_t i = 0; i < n; i++)
            texts[i] = v->v.arr.items[i].v.str.ptr;
        qsort(texts, n, sizeof *texts, cmp_str);
        for (uint64_t i = 0; i < n; i++)
            unique &= texts[i][0] != '\0' && (i == 0 || strcmp(texts[i - 1], texts[i]) != 0);
    }
    ok(n == (uint64_t)n_vocab && unique, "%llu token texts, none empty, none twice",
       (unsigned long long)n);
    free(texts);
    pd_gguf_close(g);
}

static void
check_loaded(const struct pd_tokenizer *tok, const struct pd_bpe *b)
{
    bool types = true;

    is_str(pd_tokenizer_model_name(tok), "gpt2", "tokenizer.ggml.model");
    is_str(pd_tokenizer_pre_name(tok), PD_BPE_PRE_DEFAULT, "tokenizer.ggml.pre");
    is_int(pd_tokenizer_n_vocab(tok), pd_bpe_n_vocab(b), "vocabulary size");
    is_int(pd_tokenizer_bos(tok), 256, "bos id");
    is_int(pd_tokenizer_eos(tok), 257, "eos id");
    ok(pd_tokenizer_is_eog(tok, 257), "<|end_of_text|> ends generation");
    for (int32_t id = 0; id < pd_tokenizer_n_vocab(tok); id++) {
        size_t l1, l2;
        const char *p1 = pd_tokenizer_piece(tok, id, &l1), *p2 = pd_bpe_token(b, id, &l2);
        enum pd_token_type want = pd_bpe_is_special(b, id) ? PD_TOKEN_TYPE_CONTROL
                                                           : PD_TOKEN_TYPE_NORMAL;
        types &= pd_tokenizer_type(tok, id) == want && l1 == l2 && memcmp(p1, p2, l1) == 0;
    }
    ok(types, "every token's type and bytes as trained");
}

static void
check_specials(const struct pd_tokenizer *tok)
{
    bool single = true, split = true;
    int32_t *ids = NULL;
    size_t n = 0;

    for (int32_t i = 0; i < N_SPECIALS; i++) {
        pd_tokenizer_encode(tok, specials[i], strlen(specials[i]), PD_TOK_PARSE_SPECIAL, &ids, &n,
                            NULL);
        single &= n == 1 && ids[0] == 256 + i;
        free(ids);
        pd_tokenizer_encode(tok, specials[i], strlen(specials[i]), 0, &ids, &n, NULL);
        split &= n > 1;
        for (size_t k = 0; k < n; k++)
            split &= ids[k] < 256 || ids[k] >= 256 + N_SPECIALS;
        free(ids);
    }
    ok(single, "each special token's text is that one token");
    ok(split, "without special parsing the same texts are ordinary tokens");
    pd_tokenizer_encode(tok, "x<think>7</think>", 17, PD_TOK_PARSE_SPECIAL, &ids, &n, NULL);
    ok(n == 4 && ids[1] == 258 && ids[3] == 259, "<think>7</think> inside text");
    free(ids);
}

/* Random valid UTF-8 of n code points from all planes (a quarter ASCII: NUL, controls...). */
static size_t
random_utf8(char *out, int n)
{
    size_t o = 0;

    for (int i = 0; i < n; i++) {
        uint32_t cp, k = rng() % 4;
        if (k == 0)
            cp = rng() % 0x80;
        else if (k == 1)
            cp = 0x80 + rng() % 0x780;
        else if (k == 2)
            do
                cp = 0x800 + rng() % 0xF800;
            while (cp >= 0xD800 && cp < 0xE000);
        else
            cp = 0x10000 + rng() % 0x100000;
        o += pd_utf8_encode(cp, out + o);
    }
    return o;
}

static void
check_unseen(const struct pd_tokenizer *tok, const struct pd_bpe *b)
{
    static const char *const fixed[] = {
        "", " ", "\n\n\n", "  leading and trailing  ", "Tabs\tand\r\nCRLF", "don't won't I'LL",
        "1234567890 + 987654321 = 1111111110", "\xf0\x9f\x98\x80 emoji \xf0\x9f\x8e\x89",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x81\x8b\xe3\x81\xaa",
        "<think>unfinished", "</answer></answer><answer>", "<|end_of_text|><|end_of_text|>",
        "<thin k>", "a<think", "\xef\xbf\xbd replacement",
    };
    struct tally t = {0}, inv = {0};
    char buf[4096];

    for (size_t i = 0; i < PD_ARRAY_SIZE(fixed); i++)
        check_text(tok, b, fixed[i], strlen(fixed[i]), &t, "unseen");
    rng_state = 0x5eed;
    for (int i = 0; i < 300; i++) {
        size_t len = random_utf8(buf, rnd(1, 64));
        check_text(tok, b, buf, len, &t, "random utf-8");
    }
    for (int i = 0; i < 100; i++) {
        int len = rnd(1, 64);
        for (int k = 0; k < len; k++)
            buf[k] = (char)rng();
        check_text(tok, b, buf, (size_t)len, &inv, "random bytes");
    }
    is_int(t.roundtrip_bad, 0, "%d unseen and random valid UTF-8 texts decode back", t.n);
    is_int(t.match_bad, 0, "... and encode the same in ponder and the trainer");
    is_int(inv.roundtrip_bad, 0, "%d random byte strings decode back with U+FFFD for bad bytes",
           inv.n);
    is_int(inv.match_bad, 0, "... and encode the same in ponder and the trainer");
}

/* The merges of the GGUF at good, reversed, must make ponder encode differently. */
static void
check_fault(const struct pd_bpe *b, const struct corpus *c, const char *good)
{
    char path[64], err[PD_ERR_MAX] = "";
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;
    const struct pd_gguf_value *m;
    const char **rev = NULL;
    struct tally t;
    size_t n = 0;

    temp_path(path, sizeof path, "rev");
    if (pd_gguf_open(&g, good, err) == 0 && (m = pd_gguf_get(g, "tokenizer.ggml.merges"))) {
        n = m->v.arr.n;
        rev = calloc(n + 1, sizeof *rev);
        for (size_t r = 0; r < n; r++)
            rev[n - 1 - r] = m->v.arr.items[r].v.str.ptr;
    }
    if (!ok(rev && write_model_gguf(b, path, rev, n, err) == 0,
            "write a GGUF with reversed merges"))
        diag("  %s", err);
    if (ok((tok = load_tokenizer(path, err)) != NULL, "load it")) {
        check_corpus(tok, b, c, &t, "reversed");
        ok(t.match_bad > 0 && t.roundtrip_bad == 0,
           "reversed merges: %d of %d lines encode differently, all still decode", t.match_bad,
           t.n);
    }
    pd_tokenizer_free(tok);
    pd_gguf_close(g);
    free(rev);
    unlink(path);
}

static double
tokens_per_byte(const struct pd_bpe *b, const struct corpus *c)
{
    int32_t *ids = NULL;
    size_t n = 0;

    pd_bpe_encode(b, c->buf, c->len, &ids, &n, NULL);
    free(ids);
    return (double)n / (double)c->len;
}

/* Tokens per byte on the corpus and on held-out text, for growing vocabularies. */
static void
check_compression(const struct corpus *c, const struct corpus *held)
{
    static const int32_t sizes[] = {262, 300, 400, 500, 650};
    double prev = 2, prev_held = 2;
    bool falls = true, falls_held = true;

    for (size_t i = 0; i < PD_ARRAY_SIZE(sizes); i++) {
        char err[PD_ERR_MAX] = "";
        struct pd_bpe *b = train(c, sizes[i], NULL, err);
        double r, rh;
        if (!b) {
            falls = false;
            diag("  vocab %d: %s", sizes[i], err);
            continue;
        }
        r = tokens_per_byte(b, c);
        rh = tokens_per_byte(b, held);
        diag("vocab %5d: %.4f tokens/byte on the corpus (%.2f bytes/token), %.4f held out",
             pd_bpe_n_vocab(b), r, 1 / r, rh);
        falls &= pd_bpe_n_vocab(b) == sizes[i] && r < prev;
        falls_held &= rh < prev_held;
        prev = r;
        prev_held = rh;
        pd_bpe_free(b);
    }
    ok(falls, "tokens per byte fall as the vocabulary grows");
    ok(falls_held, "... on held-out text too");
}

/* Whether two files hold the same bytes (and are not empty). */
static bool
same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    long n = 0;

    for (int x = 0, y; same && x != EOF; n++)
        same = (x = getc(fa)) == (y = getc(fb));
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same && n > 1;
}

static bool
same_merges(const struct pd_bpe *a, const struct pd_bpe *b)
{
    if (pd_bpe_n_merges(a) != pd_bpe_n_merges(b) || pd_bpe_n_vocab(a) != pd_bpe_n_vocab(b))
        return false;
    for (size_t r = 0; r < pd_bpe_n_merges(a); r++) {
        int32_t x[3], y[3];
        pd_bpe_merge(a, r, &x[0], &x[1], &x[2]);
        pd_bpe_merge(b, r, &y[0], &y[1], &y[2]);
        if (memcmp(x, y, sizeof x) != 0)
            return false;
    }
    return true;
}

static void
check_determinism_and_files(const struct pd_bpe *b, const struct corpus *c)
{
    char p1[64], p2[64], p3[64], err[PD_ERR_MAX] = "";
    struct pd_bpe *again = train(c, pd_bpe_n_vocab(b), NULL, err), *loaded = NULL;
    struct pd_bpe_ids ids;

    temp_path(p1, sizeof p1, "a");
    temp_path(p2, sizeof p2, "b");
    temp_path(p3, sizeof p3, "c");
    ok(again && same_merges(b, again), "the same corpus gives the same merges");
    ok(again && set_ids(again) == 0 && pd_bpe_save(b, p1, err) == 0 &&
       pd_bpe_save(again, p2, err) == 0 && same_file(p1, p2),
       "... and the same file, byte for byte");
    if (!ok(pd_bpe_load(&loaded, p1, err) == 0, "load the saved tokenizer"))
        diag("  %s", err);
    if (loaded) {
        pd_bpe_get_ids(loaded, &ids);
        ok(same_merges(b, loaded) && ids.bos == 256 && ids.eos == 257 && ids.pad == -1 &&
           !ids.add_bos && strcmp(pd_bpe_pre(loaded), PD_BPE_PRE_DEFAULT) == 0,
           "it has the same merges, ids and pre-tokenizer");
        ok(pd_bpe_save(loaded, p3, err) == 0 && same_file(p1, p3), "saved again: the same file");
    }
    pd_bpe_free(again);
    pd_bpe_free(loaded);
    unlink(p1);
    unlink(p2);
    unlink(p3);
}

static void
check_other_pretoks(const struct corpus *c)
{
    static const char *const pres[] = {"deepseek-v3", "llama-bpe", "gpt2", "smollm", "default"};

    for (size_t i = 0; i < PD_ARRAY_SIZE(pres); i++) {
        char path[64], err[PD_ERR_MAX] = "";
        struct pd_bpe *b = train(c, 500, pres[i], err);
        struct pd_tokenizer *tok = NULL;
        struct tally t = {0};
        temp_path(path, sizeof path, "pre");
        if (b && set_ids(b) == 0 && write_model_gguf(b, path, NULL, 0, err) == 0)
            tok = load_tokenizer(path, err);
        if (tok)
            check_corpus(tok, b, c, &t, pres[i]);
        if (!ok(tok && t.n > 0 && t.match_bad == 0 && t.roundtrip_bad == 0,
                "pre-tokenizer %s: %d lines encode the same and decode back", pres[i], t.n))
            diag("  %s", err);
        pd_tokenizer_free(tok);
        pd_bpe_free(b);
        unlink(path);
    }
}

static void
check_errors(const struct corpus *c)
{
    static const char *const dup[] = {"<a>", "<a>"}, *const empty[] = {""}, *const bang[] = {"!"};
    const struct {
        struct pd_bpe_opts o;
        const char *what;
    } bad[] = {
        {{100, NULL, 0, NULL, 0}, "a vocabulary smaller than the bytes"},
        {{300, dup, 2, NULL, 0}, "a special token given twice"},
        {{300, empty, 1, NULL, 0}, "an empty special token"},
        {{300, bang, 1, NULL, 0}, "a special token spelling a byte token"},
        {{300, NULL, 0, "nope", 0}, "an unknown pre-tokenizer"},
    };
    const char *doc = c->buf;
    char err[PD_ERR_MAX], path[64];
    struct pd_bpe *x = NULL;
    struct pd_gguf_writer *w;

    for (size_t i = 0; i < PD_ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        is_int(pd_bpe_train(&x, &doc, &c->len, 1, &bad[i].o, err), PD_EINVAL, "refused: %s",
               bad[i].what);
        ok(x == NULL && err[0] != '\0', "... with a message: %s", err);
    }
    x = train(c, 300, NULL, err);
    w = pd_gguf_writer_new();
    is_int(pd_bpe_write_gguf(x, w, err), PD_EINVAL, "writing without an eos is refused: %s", err);
    pd_gguf_writer_free(w);
    is_int(pd_bpe_set_ids(x, &(struct pd_bpe_ids){-1, 300, -1, false}, err), PD_EINVAL,
           "an eos outside the vocabulary is refused: %s", err);
    is_int(pd_bpe_set_ids(x, &(struct pd_bpe_ids){-1, 257, -1, true}, err), PD_EINVAL,
           "add_bos without a bos is refused: %s", err);
    pd_bpe_free(x);
    x = NULL;
    is_int(pd_bpe_load(&x, "/nonexistent/ponder-bpe.gguf", err), PD_EIO, "a missing file: %s",
           err);
    temp_path(path, sizeof path, "spm");
    w = pd_gguf_writer_new();
    pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    is_int(pd_bpe_load(&x, path, err), PD_EUNSUPPORTED, "a SentencePiece vocabulary: %s", err);
    unlink(path);
}

static void
check_speed(void)
{
    struct corpus big;
    char err[PD_ERR_MAX] = "";
    struct pd_bpe *b;
    struct pd_bpe_stats st;

    corpus_make(&big, 77, 12000, true);
    b = train(&big, 8192, NULL, err);
    if (ok(b != NULL, "train up to 8192 tokens on %zu bytes", big.len)) {
        pd_bpe_stats(b, &st);
        diag("speed: %.2f MB, %llu pieces, %zu merges in %.3f s (%.2f MB/s)", big.len / 1e6,
             (unsigned long long)st.n_pieces, pd_bpe_n_merges(b), st.seconds,
             big.len / 1e6 / st.seconds);
    }
    pd_bpe_free(b);
    corpus_free(&big);
}

int
main(void)
{
    char path[64], err[PD_ERR_MAX] = "";
    struct corpus c, held;
    struct pd_tokenizer *tok = NULL;
    struct pd_bpe *b;
    struct tally t;

    corpus_make(&c, 1, 160, false);
    corpus_make(&held, 2, 80, false);
    b = train(&c, 600, NULL, err);
    if (!ok(b != NULL, "train on the corpus")) {
        diag("  %s", err);
        return exit_status();
    }
    check_trained(b, 600);
    ok(set_ids(b) == 0, "set bos and eos");
    temp_path(path, sizeof path, "model");
    if (!ok(write_model_gguf(b, path, NULL, 0, err) == 0, "write it into a GGUF"))
        diag("  %s", err);
    tok = load_tokenizer(path, err);
    if (!ok(tok != NULL, "ponder's tokenizer loads it"))
        diag("  %s", err);
    check_metadata(path, pd_bpe_n_vocab(b));
    if (tok) {
        check_loaded(tok, b);
        check_corpus(tok, b, &c, &t, "corpus");
        is_int(t.roundtrip_bad, 0, "all %d corpus lines decode back", t.n);
        is_int(t.match_bad, 0, "... and encode the same in ponder and the trainer");
        check_corpus(tok, b, &held, &t, "held out");
        is_int(t.roundtrip_bad + t.match_bad, 0, "%d held-out lines: the same", t.n);
        check_specials(tok);
        check_unseen(tok, b);
    }
    check_fault(b, &c, path);
    check_compression(&c, &held);
    check_determinism_and_files(b, &c);
    check_other_pretoks(&c);
    check_errors(&c);
    check_speed();
    pd_tokenizer_free(tok);
    pd_bpe_free(b);
    unlink(path);
    corpus_free(&c);
    corpus_free(&held);
    return exit_status();
}
