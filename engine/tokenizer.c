/*
 * tokenizer.c: loading a tokenizer from GGUF metadata, special-token partitioning, pieces,
 * end-of-generation ids and streaming UTF-8 (see tokenizer.h).
 *
 * The model-specific work is elsewhere: tokenizer-bpe.c (gpt2 byte-level BPE, after the
 * pre-tokenizers of pretok.c) and tokenizer-spm.c (SentencePiece BPE over scores).
 *
 * Special tokens are found as llama.cpp finds them: each special token, longest text first,
 * splits every stretch of raw text that still contains it. CONTROL and UNKNOWN tokens take part
 * only with PD_TOK_PARSE_SPECIAL; USER_DEFINED tokens always do (as in llama.cpp and Hugging
 * Face, where added non-special tokens are matched before the model sees the text).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer-impl.h"
#include "engine/unicode.h"

/* Texts that end a turn in the chat templates we know. */
static const char *const eog_texts[] = {
    "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|endoftext|>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<|end|>", "<end_of_turn>", "<|return|>", "<|call|>", "<EOT>", "<end_of_utterance>",
};

/* A stretch of the input: raw text or an already-decided special token. */
struct frag {
    int32_t id;       /* -1 for raw text */
    size_t off, len;
};

struct frag_list {
    struct frag *v;
    size_t n, cap;
};

/* ---- small helpers ---- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Contract: see tokenizer-impl.h. Returns 0 or PD_ENOMEM. */
int
tok_out_push(struct tok_out *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *ids = realloc(o->ids, cap * sizeof *ids);
        if (!ids)
            return PD_ENOMEM;
        o->ids = ids;
        o->cap = cap;
    }
    o->ids[o->n++] = id;
    return 0;
}

/* Contract: see tokenizer-impl.h. */
int32_t
tok_lookup(const struct pd_tokenizer *tok, const char *s, size_t len)
{
    size_t i = hash_bytes(s, len) & tok->vocab_mask;

    for (;; i = (i + 1) & tok->vocab_mask) {
        int32_t slot = tok->vocab_slots[i];
        if (slot == 0)
            return -1;
        if (tok->text_len[slot - 1] == len && memcmp(tok->text[slot - 1], s, len) == 0)
            return slot - 1;
    }
}

static int
frag_push(struct frag_list *l, int32_t id, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct frag *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return PD_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct frag){id, off, len};
    return 0;
}

/* ---- loading ---- */

static size_t
pow2_at_least(size_t n)
{
    size_t p = 16;

    while (p < n)
        p <<= 1;
    return p;
}

/* Copy the token texts into one arena and index them. Later duplicates win, as in llama.cpp. */
static int
load_texts(struct pd_tokenizer *tok, const struct pd_gguf_value *arr, char *err)
{
    size_t total = 0, n = arr->v.arr.n;
    char *p;

    for (size_t i = 0; i < n; i++)
        total += arr->v.arr.items[i].v.str.len + 1;
    tok->text_arena = malloc(total ? total : 1);
    tok->vocab_mask = pow2_at_least(2 * n) - 1;
    tok->vocab_slots = calloc(tok->vocab_mask + 1, sizeof *tok->vocab_slots);
    if (!tok->text_arena || !tok->vocab_slots)
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory for %zu token texts", n);
    p = tok->text_arena;
    for (size_t i = 0; i < n; i++) {
        const struct pd_gguf_value *s = &arr->v.arr.items[i];
        size_t len = s->v.str.len, h;
        int32_t old;
        memcpy(p, s->v.str.ptr, len);
        p[len] = '\0';
        tok->text[i] = p;
        tok->text_len[i] = (uint32_t)len;
        p += len + 1;
        old = tok_lookup(tok, tok->text[i], len);
        for (h = hash_bytes(tok->text[i], len) & tok->vocab_mask;; h = (h + 1) & tok->vocab_mask)
            if (tok->vocab_slots[h] == 0 || tok->vocab_slots[h] == old + 1)
                break;
        tok->vocab_slots[h] = (int32_t)i + 1;
    }
    return 0;
}

/* The bytes a token stands for, written to p; returns the length. */
static size_t
make_piece(const struct pd_tokenizer *tok, int32_t id, char *p)
{
    const char *t = tok->text[id];
    size_t len = tok->text_len[id], o = 0, cl;
    enum pd_token_type ty = (enum pd_token_type)tok->type[id];
    unsigned hi, lo;

    if (ty == PD_TOKEN_TYPE_CONTROL || ty == PD_TOKEN_TYPE_USER_DEFINED ||
        ty == PD_TOKEN_TYPE_UNKNOWN) {
        memcpy(p, t, len);
        return len;
    }
    if (tok->kind == TOK_SPM && ty == PD_TOKEN_TYPE_BYTE && len == 6 &&
        sscanf(t, "<0x%1x%1x>", &hi, &lo) == 2) {
        p[0] = (char)(hi << 4 | lo);
        return 1;
    }
    for (size_t i = 0; i < len; i += cl) {
        uint32_t c = pd_utf8_decode(t + i, len - i, &cl);
        int b = tok->kind == TOK_BPE ? pd_unicode_cp_to_byte(c) : -1;
        if (b >= 0 && !(c == PD_UNICODE_REPLACEMENT && cl == 1))
            p[o++] = (char)b;
        else if (tok->kind == TOK_SPM && c == 0x2581)
            p[o++] = ' ';
        else
            for (size_t k = 0; k < cl; k++)
                p[o++] = t[i + k];
    }
    return o;
}

/* Pieces never exceed their texts (a byte letter is 1-2 bytes for one byte; U+2581 is 3). */
static int
load_pieces(struct pd_tokenizer *tok, char *err)
{
    size_t total = 0;
    char *p;

    for (int32_t i = 0; i < tok->n_vocab; i++)
        total += tok->text_len[i] + 1;
    tok->piece_arena = malloc(total ? total : 1);
    if (!tok->piece_arena)
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory for pieces (%zu bytes)", total);
    p = tok->piece_arena;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        tok->piece[i] = p;
        tok->piece_len[i] = (uint32_t)make_piece(tok, i, p);
        p[tok->piece_len[i]] = '\0';
        p += tok->piece_len[i] + 1;
    }
    return 0;
}

static int
load_types_scores(struct pd_tokenizer *tok, const struct pd_gguf *g, char *err)
{
    const struct pd_gguf_value *tt = pd_gguf_get(g, "tokenizer.ggml.token_type");
    const struct pd_gguf_value *sc = pd_gguf_get(g, "tokenizer.ggml.scores");
    uint64_t n = (uint64_t)tok->n_vocab;

    for (uint64_t i = 0; i < n; i++)
        tok->type[i] = PD_TOKEN_TYPE_NORMAL;
    if (tt && (tt->type != PD_GGUF_TYPE_ARRAY || tt->v.arr.n != n || tt->v.arr.items))
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.token_type: want %llu integers",
                         (unsigned long long)n);
    if (sc && (sc->type != PD_GGUF_TYPE_ARRAY || sc->v.arr.n != n || sc->v.arr.items))
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.scores: want %llu numbers",
                         (unsigned long long)n);
    for (uint64_t i = 0; tt && i < n; i++) {
        int64_t t = pd_gguf_arr_i64(tt, i);
        tok->type[i] = (uint8_t)(t >= 0 && t <= PD_TOKEN_TYPE_BYTE ? t : PD_TOKEN_TYPE_NORMAL);
    }
    for (uint64_t i = 0; sc && i < n; i++)
        tok->score[i] = (float)pd_gguf_arr_f64(sc, i);
    return 0;
}

static int32_t
get_id(const struct pd_gguf *g, const char *key, int32_t n_vocab)
{
    uint32_t v;

    if (pd_gguf_get_u32(g, key, &v) != 0 || v >= (uint32_t)n_vocab)
        return -1;
    return (int32_t)v;
}

static void
load_special_ids(struct pd_tokenizer *tok, const struct pd_gguf *g)
{
    tok->bos = get_id(g, "tokenizer.ggml.bos_token_id", tok->n_vocab);
    tok->eos = get_id(g, "tokenizer.ggml.eos_token_id", tok->n_vocab);
    tok->unk = get_id(g, "tokenizer.ggml.unknown_token_id", tok->n_vocab);
    tok->pad = get_id(g, "tokenizer.ggml.padding_token_id", tok->n_vocab);
    tok->eot = get_id(g, "tokenizer.ggml.eot_token_id", tok->n_vocab);
    tok->eom = get_id(g, "tokenizer.ggml.eom_token_id", tok->n_vocab);
    /* llama.cpp's defaults: SentencePiece adds BOS and a leading space, BPE neither. */
    tok->add_bos = tok->kind == TOK_SPM;
    tok->add_space_prefix = tok->kind == TOK_SPM;
    tok->add_eos = false;
    pd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &tok->add_bos);
    pd_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &tok->add_eos);
    pd_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &tok->add_space_prefix);
    if (tok->add_bos && tok->bos < 0)
        tok->add_bos = false;
    if (tok->add_eos && tok->eos < 0)
        tok->add_eos = false;
    if (tok->unk < 0 && tok->kind == TOK_SPM)
        tok->unk = tok_lookup(tok, "<unk>", 5);
}

static void
mark_eog(struct pd_tokenizer *tok)
{
    int32_t ids[3] = {tok->eos, tok->eot, tok->eom};

    for (size_t i = 0; i < 3; i++)
        if (ids[i] >= 0)
            tok->eog[ids[i]] = true;
    for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++) {
        int32_t id = tok_lookup(tok, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0 && tok->type[id] != PD_TOKEN_TYPE_NORMAL)
            tok->eog[id] = true;
    }
}

/* Ascending uint64 order. */
static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Special tokens, longest text first and by id among equal lengths (deterministic). The sort
 * key packs both so that qsort needs no global state. */
static int
load_specials(struct pd_tokenizer *tok, char *err)
{
    uint64_t *keys = malloc((size_t)tok->n_vocab * sizeof *keys);

    tok->specials = malloc((size_t)tok->n_vocab * sizeof *tok->specials);
    if (!tok->specials || !keys) {
        free(keys);
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory for special tokens");
    }
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        uint8_t t = tok->type[i];
        if ((t == PD_TOKEN_TYPE_CONTROL || t == PD_TOKEN_TYPE_USER_DEFINED ||
             t == PD_TOKEN_TYPE_UNKNOWN) && tok->text_len[i] > 0)
            keys[tok->n_specials++] = (uint64_t)(UINT32_MAX - tok->text_len[i]) << 32 |
                                      (uint32_t)i;
    }
    qsort(keys, tok->n_specials, sizeof *keys, cmp_u64);
    for (size_t k = 0; k < tok->n_specials; k++)
        tok->specials[k] = (int32_t)(keys[k] & 0xFFFFFFFFu);
    free(keys);
    return 0;
}

/* Byte tokens: for BPE the alphabet letter of each byte, for SentencePiece <0xXX>. */
static void
load_byte_tokens(struct pd_tokenizer *tok)
{
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        size_t len;
        if (tok->kind == TOK_BPE)
            len = pd_utf8_encode(pd_unicode_byte_to_cp((uint8_t)b), s);
        else
            len = (size_t)snprintf(s, sizeof s, "<0x%02X>", b);
        tok->byte_tok[b] = tok_lookup(tok, s, len);
    }
}

static int
alloc_arrays(struct pd_tokenizer *tok, size_t n, char *err)
{
    tok->text = calloc(n, sizeof *tok->text);
    tok->text_len = calloc(n, sizeof *tok->text_len);
    tok->piece = calloc(n, sizeof *tok->piece);
    tok->piece_len = calloc(n, sizeof *tok->piece_len);
    tok->score = calloc(n, sizeof *tok->score);
    tok->type = calloc(n, sizeof *tok->type);
    tok->eog = calloc(n, sizeof *tok->eog);
    if (!tok->text || !tok->text_len || !tok->piece || !tok->piece_len || !tok->score ||
        !tok->type || !tok->eog)
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory for %zu tokens", n);
    return 0;
}

/* Model and pre-tokenizer names; PD_EUNSUPPORTED for ones we do not know. */
static int
load_names(struct pd_tokenizer *tok, const struct pd_gguf *g, char *err)
{
    const char *model = NULL, *pre = NULL;
    int p;

    if (pd_gguf_get_str(g, "tokenizer.ggml.model", &model) != 0)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.model: missing or not a string");
    if (strcmp(model, "gpt2") == 0)
        tok->kind = TOK_BPE;
    else if (strcmp(model, "llama") == 0)
        tok->kind = TOK_SPM;
    else
        return pd_errorf(err, PD_EUNSUPPORTED, "tokenizer model '%s' is not supported", model);
    snprintf(tok->model_name, sizeof tok->model_name, "%s", model);
    pd_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    p = tok->kind == TOK_BPE ? pd_pretok_from_name(pre) : PD_PRETOK_DEFAULT;
    if (p < 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "pre-tokenizer '%s' is not supported", pre);
    tok->pre = (enum pd_pretok)p;
    tok->ignore_merges = p == PD_PRETOK_LLAMA3;
    snprintf(tok->pre_name, sizeof tok->pre_name, "%s", pre ? pre : "default");
    return 0;
}

static int
load_all(struct pd_tokenizer *tok, const struct pd_gguf *g, char *err)
{
    const struct pd_gguf_value *toks = pd_gguf_get(g, "tokenizer.ggml.tokens");
    int rc;

    if ((rc = load_names(tok, g, err)) != 0)
        return rc;
    if (!toks || toks->type != PD_GGUF_TYPE_ARRAY || toks->v.arr.elem_type != PD_GGUF_TYPE_STRING ||
        toks->v.arr.n == 0 || toks->v.arr.n > INT32_MAX / 2)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.tokens: missing or not strings");
    tok->n_vocab = (int32_t)toks->v.arr.n;
    if ((rc = alloc_arrays(tok, toks->v.arr.n, err)) != 0 ||
        (rc = load_texts(tok, toks, err)) != 0 || (rc = load_types_scores(tok, g, err)) != 0 ||
        (rc = load_pieces(tok, err)) != 0 || (rc = load_specials(tok, err)) != 0)
        return rc;
    if (tok->kind == TOK_BPE) {
        const struct pd_gguf_value *m = pd_gguf_get(g, "tokenizer.ggml.merges");
        if ((rc = tok_bpe_load_merges(tok, m, err)) != 0)
            return rc;
    }
    load_byte_tokens(tok);
    load_special_ids(tok, g);
    mark_eog(tok);
    return 0;
}

/* Contract: see tokenizer.h. */
int
pd_tokenizer_load(struct pd_tokenizer **out, const struct pd_gguf *g, char *err)
{
    struct pd_tokenizer *tok = calloc(1, sizeof *tok);
    int rc;

    *out = NULL;
    if (!tok)
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory");
    rc = load_all(tok, g, err);
    if (rc != 0) {
        pd_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return 0;
}

/* Contract: see tokenizer.h. Accepts NULL. */
void
pd_tokenizer_free(struct pd_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->text);
    free(tok->text_len);
    free(tok->piece);
    free(tok->piece_len);
    free(tok->score);
    free(tok->type);
    free(tok->eog);
    free(tok->text_arena);
    free(tok->piece_arena);
    free(tok->vocab_slots);
    free(tok->merges);
    free(tok->specials);
    free(tok);
}

/* ---- encoding ---- */

/* Split the raw stretches of l around every occurrence of special token id. */
static int
split_on_special(const struct pd_tokenizer *tok, int32_t id, const char *text,
                 struct frag_list *l, struct frag_list *tmp)
{
    const char *s = tok->text[id];
    size_t sl = tok->text_len[id];

    tmp->n = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct frag f = l->v[i];
        while (f.id < 0 && f.len >= sl) {
            const char *m = memmem(text + f.off, f.len, s, sl);
            size_t at;
            if (!m)
                break;
            at = (size_t)(m - text);
            if ((at > f.off && frag_push(tmp, -1, f.off, at - f.off) != 0) ||
                frag_push(tmp, id, at, sl) != 0)
                return PD_ENOMEM;
            f.len -= at + sl - f.off;
            f.off = at + sl;
        }
        if ((f.id >= 0 || f.len > 0) && frag_push(tmp, f.id, f.off, f.len) != 0)
            return PD_ENOMEM;
    }
    return 0;
}

static int
partition(const struct pd_tokenizer *tok, const char *text, size_t len, unsigned flags,
          struct frag_list *l)
{
    struct frag_list tmp = {0};
    int rc = 0;

    if (len > 0 && (rc = frag_push(l, -1, 0, len)) != 0)
        return rc;
    for (size_t k = 0; k < tok->n_specials && rc == 0; k++) {
        int32_t id = tok->specials[k];
        struct frag_list t;
        if (tok->type[id] != PD_TOKEN_TYPE_USER_DEFINED && !(flags & PD_TOK_PARSE_SPECIAL))
            continue;
        rc = split_on_special(tok, id, text, l, &tmp);
        t = *l;
        *l = tmp;
        tmp = t;
    }
    free(tmp.v);
    return rc;
}

static int
encode_frags(const struct pd_tokenizer *tok, const char *text, const struct frag_list *l,
             struct tok_out *o)
{
    bool prev_special = true;   /* SentencePiece: a leading space after BOS/specials */
    int rc = 0;

    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const struct frag *f = &l->v[i];
        if (f->id >= 0)
            rc = tok_out_push(o, f->id);
        else if (tok->kind == TOK_BPE)
            rc = tok_bpe_encode(tok, text + f->off, f->len, o);
        else
            rc = tok_spm_encode(tok, text + f->off, f->len,
                                prev_special && tok->add_space_prefix, o);
        prev_special = f->id >= 0;
    }
    return rc;
}

/* Contract: see tokenizer.h. */
int
pd_tokenizer_encode(const struct pd_tokenizer *tok, const char *text, size_t len,
                    unsigned flags, int32_t **out, size_t *n_out, char *err)
{
    struct frag_list l = {0};
    struct tok_out o = {0};
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = partition(tok, text, len, flags, &l);
    if (rc == 0 && (flags & PD_TOK_ADD_SPECIAL) && tok->add_bos)
        rc = tok_out_push(&o, tok->bos);
    if (rc == 0)
        rc = encode_frags(tok, text, &l, &o);
    if (rc == 0 && (flags & PD_TOK_ADD_SPECIAL) && tok->add_eos)
        rc = tok_out_push(&o, tok->eos);
    if (rc == 0 && !o.ids)
        rc = tok_out_push(&o, 0) == 0 ? (o.n = 0, 0) : PD_ENOMEM;
    free(l.v);
    if (rc != 0) {
        free(o.ids);
        return pd_errorf(err, rc, "tokenizer: encoding %zu bytes: %s", len, pd_strerror(rc));
    }
    *out = o.ids;
    *n_out = o.n;
    return 0;
}

/* ---- accessors ---- */

/* Contract: see tokenizer.h. */
const char *
pd_tokenizer_piece(const struct pd_tokenizer *tok, int32_t id, size_t *len)
{
    if (id < 0 || id >= tok->n_vocab) {
        *len = 0;
        return "";
    }
    *len = tok->piece_len[id];
    return tok->piece[id];
}

/* Contract: see tokenizer.h. */
int32_t
pd_tokenizer_n_vocab(const struct pd_tokenizer *tok)
{
    return tok->n_vocab;
}

/* Contract: see tokenizer.h. */
enum pd_token_type
pd_tokenizer_type(const struct pd_tokenizer *tok, int32_t id)
{
    if (id < 0 || id >= tok->n_vocab)
        return PD_TOKEN_TYPE_UNDEFINED;
    return (enum pd_token_type)tok->type[id];
}

/* Contract: see tokenizer.h. */
int32_t
pd_tokenizer_bos(const struct pd_tokenizer *tok)
{
    return tok->bos;
}

/* Contract: see tokenizer.h. */
int32_t
pd_tokenizer_eos(const struct pd_tokenizer *tok)
{
    return tok->eos;
}

/* Contract: see tokenizer.h. */
bool
pd_tokenizer_is_eog(const struct pd_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_vocab && tok->eog[id];
}

/* Contract: see tokenizer.h. */
int32_t
pd_tokenizer_find(const struct pd_tokenizer *tok, const char *s)
{
    return tok_lookup(tok, s, strlen(s));
}

/* Contract: see tokenizer.h. */
const char *
pd_tokenizer_model_name(const struct pd_tokenizer *tok)
{
    return tok->model_name;
}

/* Contract: see tokenizer.h. */
const char *
pd_tokenizer_pre_name(const struct pd_tokenizer *tok)
{
    return tok->pre_name;
}

/* ---- streaming UTF-8 ---- */

/* The smallest byte that may follow lead b as the second byte of a sequence. */
static char
first_cont(char b)
{
    unsigned char u = (unsigned char)b;

    return (char)(u == 0xE0 ? 0xA0 : u == 0xF0 ? 0x90 : 0x80);
}

/* Length of the longest prefix of p[0..n) (n >= 1, p[0] a lead byte claiming more than n
 * bytes or not) that can still begin a well-formed sequence: probe by completing it. */
static size_t
utf8_good_prefix(const char *p, size_t n)
{
    size_t need = pd_utf8_seq_len((unsigned char)p[0]), cl;
    char probe[4];

    if (need == 1)
        return 0;
    for (size_t m = PD_MIN(n, need); m > 1; m--) {
        memcpy(probe, p, m);
        for (size_t i = m; i < need; i++)
            probe[i] = i == 1 ? first_cont(p[0]) : (char)0x80;
        pd_utf8_decode(probe, need, &cl);
        if (cl == need)
            return m;
    }
    return 1;
}

/* Write U+FFFD, or '?' when the caller's n + 8 bytes could not hold the rest otherwise. */
static size_t
put_replacement(char *out, size_t o, size_t budget)
{
    if (o + 3 > budget) {
        out[0] = '?';
        return 1;
    }
    return pd_utf8_encode(PD_UNICODE_REPLACEMENT, out);
}

static void
pending_shift(struct pd_utf8_stream *s, size_t k)
{
    memmove(s->pending, s->pending + k, (size_t)s->n_pending - k);
    s->n_pending -= (int)k;
}

/* Move what pending holds that is decided to out[o..]; returns the new o. budget bounds the
 * output that replacement characters may use (see put_replacement). */
static size_t
utf8_drain(struct pd_utf8_stream *s, char *out, size_t o, size_t budget, bool final)
{
    while (s->n_pending > 0) {
        size_t n = (size_t)s->n_pending;
        size_t need = pd_utf8_seq_len((unsigned char)s->pending[0]);
        size_t good = utf8_good_prefix(s->pending, n);
        if ((unsigned char)s->pending[0] < 0x80 || (good == need && n >= need)) {
            memcpy(out + o, s->pending, need);
            o += need;
            pending_shift(s, need);
        } else if (good == n && !final) {
            break;   /* a valid start: wait for the rest */
        } else {
            /* One U+FFFD for the maximal ill-formed subpart, at least one byte. */
            o += put_replacement(out + o, o, budget);
            pending_shift(s, good > 0 ? good : 1);
        }
    }
    return o;
}

/* Contract: see tokenizer.h. Each maximal ill-formed subpart becomes one U+FFFD; should a
 * hostile run of them (3 bytes out per byte in) not fit in n + 8 bytes, '?' stands in. */
size_t
pd_utf8_stream_feed(struct pd_utf8_stream *s, const char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t k = 0; k < n; k++) {
        s->pending[s->n_pending++] = in[k];
        /* Room still owed: the input after this byte, one byte each at worst. */
        o = utf8_drain(s, out, o, n + 8 - (n - k - 1), false);
    }
    return o;
}

/* Contract: see tokenizer.h. */
size_t
pd_utf8_stream_flush(struct pd_utf8_stream *s, char *out)
{
    return utf8_drain(s, out, 0, 8, true);
}
