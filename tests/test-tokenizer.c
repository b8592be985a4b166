/*
 * test-tokenizer.c: the tokenizer against Hugging Face's, on SmolLM2's vocabulary, and on a
 * small SentencePiece vocabulary built here.
 *
 *   - tests/data/tokenizer-smollm.txt: ids from `tokenizers` for a battery of inputs, with and
 *     without special-token parsing (tests/tools/make-tokenizer-fixtures.py). Needs the model
 *     (PONDER_TEST_MODEL, else tests/models/SmolLM2-135M-Instruct.Q4_1.gguf); without it those
 *     checks are reported as skipped.
 *   - tests/data/tokenizer-pretok.txt: pre-tokenizer pieces for llama3, qwen2, deepseek-v3 and
 *     smollm from `tokenizers`' Split with the same regexes.
 *   - a synthetic "llama" vocabulary written with the GGUF writer: hand-checked encodings,
 *     byte fallback, the leading space, BOS.
 *   - the heap-based BPE against a quadratic twin on random words, plus a twin with a
 *     deliberate fault that the comparison must catch.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/pretok.h"
#include "engine/tokenizer-impl.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "tests/tap.h"

#define MAX_LINE (1 << 16)
#define MAX_IDS 4096

/* Hex to bytes ("-" is empty); returns the length. */
static size_t
unhex(const char *h, char *out)
{
    size_t n = 0;

    if (strcmp(h, "-") == 0)
        return 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

static bool
ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void
diag_ids(const char *what, const int32_t *ids, size_t n)
{
    char buf[2048];
    size_t o = 0;

    for (size_t i = 0; i < n && o + 16 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, " %d", ids[i]);
    buf[o] = '\0';
    diag("  %s:%s", what, buf);
}

/* ---- SmolLM2 against Hugging Face ---- */

/* One fixture line: flag, input hex, ids. */
static void
check_smollm_line(const struct pd_tokenizer *tok, char *line, int *n_cases)
{
    static char input[MAX_LINE];
    int32_t want[MAX_IDS], *got = NULL;
    size_t n_want = 0, n_got = 0, len;
    char *flag = strtok(line, " \n"), *hex = strtok(NULL, " \n"), *t;
    unsigned flags;

    if (!flag || !hex)
        return;
    flags = flag[0] == 'p' ? PD_TOK_PARSE_SPECIAL : 0;
    len = unhex(hex, input);
    while ((t = strtok(NULL, " \n")) && n_want < MAX_IDS)
        want[n_want++] = atoi(t);
    pd_tokenizer_encode(tok, input, len, flags, &got, &n_got, NULL);
    if (!ok(ids_equal(got, n_got, want, n_want), "smollm %s %.40s", flag, hex)) {
        diag_ids("got ", got, n_got);
        diag_ids("want", want, n_want);
    }
    if (flag[0] == 'p' && pd_utf8_valid_prefix(input, len) == len) {
        static char back[MAX_LINE];
        size_t o = 0, pl;
        for (size_t i = 0; i < n_got && o < sizeof back - 64; i++) {
            const char *p = pd_tokenizer_piece(tok, got[i], &pl);
            memcpy(back + o, p, pl);
            o += pl;
        }
        ok(o == len && memcmp(back, input, len) == 0, "smollm pieces give back %.40s", hex);
    }
    free(got);
    (*n_cases)++;
}

static void
check_smollm_fixture(const struct pd_tokenizer *tok)
{
    static char line[MAX_LINE];
    FILE *f = fopen(test_path("data/tokenizer-smollm.txt"), "r");
    int n = 0;

    if (!ok(f != NULL, "open tokenizer-smollm.txt"))
        return;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#')
            check_smollm_line(tok, line, &n);
    fclose(f);
    ok(n >= 120, "smollm fixture has %d cases", n);
}

static void
check_smollm_api(const struct pd_tokenizer *tok)
{
    size_t len;
    int32_t *ids = NULL;
    size_t n = 0;

    is_str(pd_tokenizer_model_name(tok), "gpt2", "model name");
    is_str(pd_tokenizer_pre_name(tok), "smollm", "pre-tokenizer name");
    is_int(pd_tokenizer_n_vocab(tok), 49152, "vocabulary size");
    is_int(pd_tokenizer_eos(tok), 2, "eos is <|im_end|>");
    is_int(pd_tokenizer_bos(tok), 1, "bos is <|im_start|>");
    is_int(pd_tokenizer_find(tok, "<|im_start|>"), 1, "find <|im_start|>");
    is_int(pd_tokenizer_find(tok, "no such token"), -1, "find absent");
    ok(pd_tokenizer_is_eog(tok, 2) && pd_tokenizer_is_eog(tok, 0), "eog: <|im_end|>, <|endoftext|>");
    ok(!pd_tokenizer_is_eog(tok, 1) && !pd_tokenizer_is_eog(tok, 100), "not eog: others");
    is_int(pd_tokenizer_type(tok, 1), PD_TOKEN_TYPE_CONTROL, "control type");
    ok(strcmp(pd_tokenizer_piece(tok, 2, &len), "<|im_end|>") == 0 && len == 10, "control piece");
    pd_tokenizer_piece(tok, 49152, &len);
    is_int(len, 0, "piece out of range is empty");
    /* add_bos_token is false for SmolLM2: ADD_SPECIAL adds nothing. */
    pd_tokenizer_encode(tok, "hi", 2, PD_TOK_ADD_SPECIAL, &ids, &n, NULL);
    ok(n == 1 && ids[0] != 1, "no BOS added (add_bos_token false)");
    free(ids);
}

/* 100 KB of mixed text must encode quickly: the merge loop is O(n log n) per word. */
static void
check_speed(const struct pd_tokenizer *tok)
{
    static const char *parts[] = {"The quick brown fox ", "jumps over 1234567 lazy dogs. ",
                                  "日本語のテキスト ", "aaaaaaaaaaaaaaaaaaaaaaaa", "\n\n  ",
                                  "😀😃 "};
    size_t cap = 100 * 1024, n = 0, k = 0, n_ids = 0;
    char *text = malloc(cap + 64);
    int32_t *ids = NULL;
    struct timespec t0, t1;
    double dt;

    while (n < cap) {
        size_t l = strlen(parts[k % 6]);
        memcpy(text + n, parts[k++ % 6], l);
        n += l;
    }
    /* One very long word too. */
    memset(text + n / 2, 'z', 20000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pd_tokenizer_encode(tok, text, n, 0, &ids, &n_ids, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    ok(n_ids > 1000 && dt < 1.0, "100 KB in %.3f s (%zu tokens)", dt, n_ids);
    free(ids);
    free(text);
}

/* ---- differential: heap BPE against a quadratic twin ---- */

/* Merge the lowest-rank adjacent pair (leftmost on ties; rightmost when faulty) until none. */
static size_t
naive_bpe(const struct pd_tokenizer *tok, const char *w, size_t len, int32_t *ids, bool faulty)
{
    size_t n = len;

    for (size_t i = 0; i < len; i++)
        ids[i] = tok->byte_tok[(unsigned char)w[i]];
    for (;;) {
        int32_t best = -1, res = -1, r;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t rr, rank = tok_bpe_rank(tok, ids[i], ids[i + 1], &rr);
            if (rank >= 0 && (best < 0 || rank < best || (faulty && rank == best))) {
                best = rank;
                at = i;
                res = rr;
            }
        }
        if (best < 0)
            break;
        r = res;
        ids[at] = r;
        memmove(ids + at + 1, ids + at + 2, (n - at - 2) * sizeof *ids);
        n--;
    }
    return n;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void
check_differential(const struct pd_tokenizer *tok)
{
    static const char alpha[] = "aaeeiioulnrst";
    int mismatches = 0, caught = 0;

    for (int round = 0; round < 3000; round++) {
        char w[64];
        int32_t a[64], b[64];
        size_t len = 1 + rng() % 40, na, nb;
        struct tok_out o = {0};
        for (size_t i = 0; i < len; i++)
            w[i] = alpha[rng() % (sizeof alpha - 1)];
        tok_bpe_encode_word(tok, w, len, &o);
        na = naive_bpe(tok, w, len, a, false);
        nb = naive_bpe(tok, w, len, b, true);
        mismatches += !ids_equal(o.ids, o.n, a, na);
        caught += !ids_equal(o.ids, o.n, b, nb);
        free(o.ids);
    }
    is_int(mismatches, 0, "heap BPE equals the quadratic twin on 3000 random words");
    ok(caught > 0, "the faulty twin (rightmost ties) is caught %d times", caught);
}

static void
check_model(void)
{
    const char *path = getenv("PONDER_TEST_MODEL");
    char err[PD_ERR_MAX] = "";
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;

    if (!path)
        path = test_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (pd_gguf_open(&g, path, err) != 0) {
        printf("# SKIP SmolLM2 checks: cannot open %s: %s\n", path, err);
        ok(1, "# SKIP no model at %s (set PONDER_TEST_MODEL)", path);
        return;
    }
    if (ok(pd_tokenizer_load(&tok, g, err) == 0, "load SmolLM2 tokenizer")) {
        pd_gguf_close(g);
        check_smollm_api(tok);
        check_smollm_fixture(tok);
        check_differential(tok);
        check_speed(tok);
    } else {
        diag("%s", err);
        pd_gguf_close(g);
    }
    pd_tokenizer_free(tok);
}

/* ---- pre-tokenizer pieces against tokenizers' Split ---- */

static void
check_pretok_line(char *line, int *n_cases)
{
    static char input[MAX_LINE], piece[MAX_LINE], got[MAX_LINE], want[MAX_LINE];
    static uint32_t cps[MAX_LINE];
    static uint8_t fl[MAX_LINE];
    static size_t ends[MAX_LINE], tmp[MAX_LINE];
    char *name = strtok(line, " \n"), *hex = strtok(NULL, " \n"), *t;
    size_t len, n = 0, cl, n_pieces, go = 0, wo = 0, b = 0;
    int p;

    if (!name || !hex)
        return;
    p = pd_pretok_from_name(name);
    len = unhex(hex, input);
    for (size_t i = 0; i < len; i += cl, n++) {
        cps[n] = pd_utf8_decode(input + i, len - i, &cl);
        fl[n] = (uint8_t)pd_unicode_flags(cps[n]);
    }
    n_pieces = pd_pretok_split((enum pd_pretok)p, cps, fl, n, ends, tmp);
    /* Both sides as "|"-separated hex of each piece's UTF-8. */
    for (size_t k = 0; k < n_pieces; k++, b = ends[k - 1]) {
        char u[4];
        for (size_t i = b; i < ends[k]; i++) {
            size_t ul = pd_utf8_encode(cps[i], u);
            for (size_t j = 0; j < ul; j++)
                go += (size_t)snprintf(got + go, 8, "%02x", (unsigned char)u[j]);
        }
        got[go++] = '|';
    }
    got[go] = '\0';
    while ((t = strtok(NULL, " \n"))) {
        size_t pl = unhex(t, piece);
        for (size_t j = 0; j < pl; j++)
            wo += (size_t)snprintf(want + wo, 8, "%02x", (unsigned char)piece[j]);
        want[wo++] = '|';
    }
    want[wo] = '\0';
    if (!ok(p >= 0 && strcmp(got, want) == 0, "pretok %s %.40s", name, hex)) {
        diag("  got  %s", got);
        diag("  want %s", want);
    }
    (*n_cases)++;
}

static void
check_pretok_fixture(void)
{
    static char line[MAX_LINE];
    FILE *f = fopen(test_path("data/tokenizer-pretok.txt"), "r");
    int n = 0;

    if (!ok(f != NULL, "open tokenizer-pretok.txt"))
        return;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#')
            check_pretok_line(line, &n);
    fclose(f);
    ok(n >= 240, "pretok fixture has %d cases", n);
}

/* ---- a synthetic SentencePiece vocabulary ---- */

/* id 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the words below. */
static const struct {
    const char *text;
    float score;
} spm_words[] = {
    {"\xe2\x96\x81", -1.0f},                    /* 259 ▁ */
    {"h", -2}, {"e", -2}, {"l", -2}, {"o", -2}, {"w", -2}, {"r", -2}, {"d", -2}, /* 260-266 */
    {"ll", -1.0f},                              /* 267 */
    {"\xe2\x96\x81h", -1.5f},                   /* 268 ▁h */
    {"\xe2\x96\x81he", -2.0f},                  /* 269 */
    {"llo", -2.5f},                             /* 270 */
    {"\xe2\x96\x81hello", -3.0f},               /* 271 */
    {"\xe2\x96\x81w", -4.0f},                   /* 272 */
    {"or", -4.5f},                              /* 273 */
    {"\xe2\x96\x81wor", -5.0f},                 /* 274 */
    {"ld", -5.5f},                              /* 275 */
    {"\xe2\x96\x81world", -6.0f},               /* 276 */
};

static int
write_spm_gguf(const char *path, char *err)
{
    size_t nw = sizeof spm_words / sizeof spm_words[0], n = 259 + nw;
    const char **texts = calloc(n, sizeof *texts);
    char (*bytes)[8] = calloc(256, sizeof *bytes);
    int32_t *types = calloc(n, sizeof *types);
    float *scores = calloc(n, sizeof *scores);
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc;

    texts[0] = "<unk>";
    texts[1] = "<s>";
    texts[2] = "</s>";
    types[0] = PD_TOKEN_TYPE_UNKNOWN;
    types[1] = types[2] = PD_TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], 8, "<0x%02X>", b);
        texts[3 + b] = bytes[b];
        types[3 + b] = PD_TOKEN_TYPE_BYTE;
    }
    for (size_t i = 0; i < nw; i++) {
        texts[259 + i] = spm_words[i].text;
        types[259 + i] = PD_TOKEN_TYPE_NORMAL;
        scores[259 + i] = spm_words[i].score;
    }
    rc = pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    rc |= pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, n);
    rc |= pd_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PD_GGUF_TYPE_INT32, types, n);
    rc |= pd_gguf_writer_set_arr(w, "tokenizer.ggml.scores", PD_GGUF_TYPE_FLOAT32, scores, n);
    rc |= pd_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    rc |= pd_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    rc |= pd_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    free(texts);
    free(bytes);
    free(types);
    free(scores);
    return rc;
}

static void
spm_case(const struct pd_tokenizer *tok, const char *text, unsigned flags, const int32_t *want,
         size_t n_want, const char *what)
{
    int32_t *got = NULL;
    size_t n = 0;

    pd_tokenizer_encode(tok, text, strlen(text), flags, &got, &n, NULL);
    if (!ok(ids_equal(got, n, want, n_want), "spm: %s", what)) {
        diag_ids("got ", got, n);
        diag_ids("want", want, n_want);
    }
    free(got);
}

static void
check_spm(void)
{
    char path[] = "/tmp/ponder-test-spm-XXXXXX", err[PD_ERR_MAX] = "";
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;
    int fd = mkstemp(path);
    size_t len;

    if (fd >= 0)
        close(fd);
    if (!ok(fd >= 0 && write_spm_gguf(path, err) == 0 && pd_gguf_open(&g, path, err) == 0 &&
            pd_tokenizer_load(&tok, g, err) == 0, "synthetic SentencePiece vocabulary loads")) {
        diag("%s", err);
        pd_gguf_close(g);
        unlink(path);
        return;
    }
    pd_gguf_close(g);
    unlink(path);
    /* Hand-worked: ll, ▁h, ▁he, llo, ▁hello; then ▁w, or, ▁wor, ld, ▁world (by score). */
    spm_case(tok, "hello world", 0, (const int32_t[]){271, 276}, 2, "hello world");
    spm_case(tok, "hello world", PD_TOK_ADD_SPECIAL, (const int32_t[]){1, 271, 276}, 3,
             "BOS added (llama default)");
    spm_case(tok, "hello  world", 0, (const int32_t[]){271, 259, 276}, 3, "double space");
    spm_case(tok, "hi", 0, (const int32_t[]){268, 3 + 'i'}, 2, "byte fallback for i");
    spm_case(tok, "h\xc3\xa9", 0, (const int32_t[]){268, 3 + 0xC3, 3 + 0xA9}, 3,
             "byte fallback for two-byte e-acute");
    spm_case(tok, "<s>hello", PD_TOK_PARSE_SPECIAL, (const int32_t[]){1, 271}, 2,
             "special token then a leading space");
    spm_case(tok, "", PD_TOK_ADD_SPECIAL, (const int32_t[]){1}, 1, "empty with BOS");
    is_str(pd_tokenizer_model_name(tok), "llama", "spm model name");
    ok(strcmp(pd_tokenizer_piece(tok, 271, &len), " hello") == 0 && len == 6,
       "spm piece turns U+2581 into a space");
    ok(pd_tokenizer_piece(tok, 3 + 0xA9, &len)[0] == '\xa9' && len == 1, "byte token piece");
    ok(pd_tokenizer_is_eog(tok, 2), "spm eos is eog");
    pd_tokenizer_free(tok);
}

static void
check_errors(void)
{
    char path[] = "/tmp/ponder-test-tok-XXXXXX", err[PD_ERR_MAX] = "";
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;
    const char *toks[] = {"a", "b"};
    int fd = mkstemp(path), rc = -1;

    if (fd >= 0)
        close(fd);
    pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    pd_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
    pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
    if (pd_gguf_writer_write(w, path, err) == 0 && pd_gguf_open(&g, path, err) == 0)
        rc = pd_tokenizer_load(&tok, g, err);
    ok(rc == PD_EUNSUPPORTED && strstr(err, "no-such-pre") && !tok,
       "unknown pre-tokenizer is unsupported: %s", err);
    pd_gguf_close(g);
    pd_gguf_writer_free(w);
    unlink(path);
}

/* llama-bpe vocabularies (Llama 3) look whole words up before merging: the word's bytes are
 * looked up as byte-alphabet letters, so the two raw bytes of the letter "Ġ" are not the space
 * token the letter stands for. */
static void
check_ignore_merges(void)
{
    char path[] = "/tmp/ponder-test-lb-XXXXXX", err[PD_ERR_MAX] = "";
    const char *texts[258];
    char letters[256][4];
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    struct pd_gguf *g = NULL;
    struct pd_tokenizer *tok = NULL;
    int fd = mkstemp(path), rc = -1;

    if (fd >= 0)
        close(fd);
    for (int b = 0; b < 256; b++) {
        size_t n = pd_utf8_encode(pd_unicode_byte_to_cp((uint8_t)b), letters[b]);
        letters[b][n] = '\0';
        texts[b] = letters[b];
    }
    texts[256] = "Hello";            /* a whole word with no merges to build it */
    texts[257] = "\xc4\xa0hi";       /* " hi" in letters */
    pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    pd_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
    pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, 258);
    pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *[]){ "H e" }, 1);
    if (pd_gguf_writer_write(w, path, err) == 0 && pd_gguf_open(&g, path, err) == 0)
        rc = pd_tokenizer_load(&tok, g, err);
    pd_gguf_writer_free(w);
    pd_gguf_close(g);
    unlink(path);
    if (!ok(rc == 0, "a llama-bpe vocabulary loads")) {
        diag("%s", err);
        return;
    }
    spm_case(tok, "Hello", 0, (const int32_t[]){256}, 1, "llama-bpe: a whole word is one token");
    spm_case(tok, " hi", 0, (const int32_t[]){257}, 1, "llama-bpe: a word with its space");
    spm_case(tok, "\xc4\xa0", 0, (const int32_t[]){0xc4, 0xa0}, 2,
             "llama-bpe: the bytes of the letter \"\xc4\xa0\" are two byte tokens, not a space");
    pd_tokenizer_free(tok);
}

int
main(void)
{
    check_pretok_fixture();
    check_spm();
    check_ignore_merges();
    check_errors();
    check_model();
    return exit_status();
}
