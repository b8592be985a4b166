/*
 * tokenizer-bpe.c: byte-level BPE (tokenizer.ggml.model = "gpt2").
 *
 * Text is first cut by the pre-tokenizer (pretok.c); each piece is then encoded on its own.
 * A piece starts as one symbol per byte (the token of that byte's letter in the GPT-2 byte
 * alphabet) and merges adjacent pairs in the order of tokenizer.ggml.merges: lowest rank first,
 * leftmost first among equal ranks. Symbols form a linked list and candidate pairs sit in a
 * binary heap; a candidate whose symbols changed since it was pushed is dropped when popped.
 * That is O(n log n) per piece, where rescanning for the best pair would be O(n^2).
 *
 * Invalid UTF-8 bytes become U+FFFD before pre-tokenization, as llama.cpp does (Hugging Face
 * cannot take such input at all), so their encoding is that of EF BF BD.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer-impl.h"
#include "engine/unicode.h"

struct sym {
    int32_t id;
    int32_t prev, next;   /* -1 at the ends */
    uint32_t start, len;  /* bytes of the word; len 0 once merged into the left neighbour */
};

struct cand {
    int32_t rank;
    int32_t left, right;  /* symbol indexes */
    int32_t lid, rid;     /* their ids when pushed */
};

/* Scratch for one word: symbols and the candidate heap, sized for cap bytes. */
struct bpe_work {
    struct sym *syms;
    struct cand *heap;
    size_t n_heap, cap;
};

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t
pair_key(int32_t l, int32_t r)
{
    return ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
}

/* Contract: see tokenizer-impl.h. */
int32_t
tok_bpe_rank(const struct pd_tokenizer *tok, int32_t left, int32_t right, int32_t *result)
{
    uint64_t key = pair_key(left, right);

    if (left < 0 || right < 0 || !tok->merges)
        return -1;
    for (size_t i = mix64(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const struct merge_slot *m = &tok->merges[i];
        if (m->key == 0)
            return -1;
        if (m->key == key) {
            *result = m->result;
            return m->rank;
        }
    }
}

/* Add one "left right" merge of the given rank; the first of duplicates wins. */
static void
add_merge(struct pd_tokenizer *tok, const char *s, size_t len, int32_t rank, char *buf)
{
    const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
    size_t ll, rl;
    int32_t l, r, res;

    if (!sp)
        return;
    ll = (size_t)(sp - s);
    rl = len - ll - 1;
    l = tok_lookup(tok, s, ll);
    r = tok_lookup(tok, sp + 1, rl);
    if (l < 0 || r < 0 || tok_bpe_rank(tok, l, r, &res) >= 0)
        return;
    memcpy(buf, s, ll);
    memcpy(buf + ll, sp + 1, rl);
    res = tok_lookup(tok, buf, ll + rl);
    for (size_t i = mix64(pair_key(l, r)) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        if (tok->merges[i].key == 0) {
            tok->merges[i] = (struct merge_slot){pair_key(l, r), rank, res};
            return;
        }
    }
}

/* Contract: see tokenizer-impl.h. Merges naming tokens the vocabulary lacks are ignored. */
int
tok_bpe_load_merges(struct pd_tokenizer *tok, const struct pd_gguf_value *m, char *err)
{
    size_t n, cap = 16, maxlen = 0;
    char *buf;

    if (!m)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.merges: missing (needed by gpt2)");
    if (m->type != PD_GGUF_TYPE_ARRAY || m->v.arr.elem_type != PD_GGUF_TYPE_STRING ||
        m->v.arr.n > INT32_MAX)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.merges: not an array of strings");
    n = m->v.arr.n;
    while (cap < 2 * n)
        cap <<= 1;
    for (size_t i = 0; i < n; i++)
        maxlen = PD_MAX(maxlen, m->v.arr.items[i].v.str.len);
    tok->merges = calloc(cap, sizeof *tok->merges);
    buf = malloc(maxlen + 1);
    if (!tok->merges || !buf) {
        free(buf);
        return pd_errorf(err, PD_ENOMEM, "tokenizer: no memory for %zu merges", n);
    }
    tok->merge_mask = cap - 1;
    for (size_t i = 0; i < n; i++)
        add_merge(tok, m->v.arr.items[i].v.str.ptr, m->v.arr.items[i].v.str.len, (int32_t)i,
                  buf);
    free(buf);
    return 0;
}

/* ---- the candidate heap: lowest rank, then leftmost, on top ---- */

static bool
cand_less(const struct cand *a, const struct cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void
heap_push(struct bpe_work *w, struct cand c)
{
    size_t i = w->n_heap++;

    while (i > 0 && cand_less(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
}

static struct cand
heap_pop(struct bpe_work *w)
{
    struct cand top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && cand_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!cand_less(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

static void
try_pair(const struct pd_tokenizer *tok, struct bpe_work *w, int32_t l, int32_t r)
{
    int32_t res, rank;

    if (l < 0 || r < 0)
        return;
    rank = tok_bpe_rank(tok, w->syms[l].id, w->syms[r].id, &res);
    if (rank >= 0)
        heap_push(w, (struct cand){rank, l, r, w->syms[l].id, w->syms[r].id});
}

static bool
cand_valid(const struct bpe_work *w, const struct cand *c)
{
    const struct sym *l = &w->syms[c->left], *r = &w->syms[c->right];

    return l->len > 0 && r->len > 0 && l->next == c->right && l->id == c->lid &&
           r->id == c->rid;
}

static void
merge_pairs(const struct pd_tokenizer *tok, struct bpe_work *w)
{
    while (w->n_heap > 0) {
        struct cand c = heap_pop(w);
        struct sym *l = &w->syms[c.left], *r = &w->syms[c.right];
        int32_t res = -1;
        if (!cand_valid(w, &c))
            continue;
        tok_bpe_rank(tok, l->id, r->id, &res);
        l->id = res;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->syms[r->next].prev = c.left;
        try_pair(tok, w, l->prev, c.left);
        try_pair(tok, w, c.left, l->next);
    }
}

/* Emit the final symbols; one that is not a token goes out byte by byte. */
static int
emit_syms(const struct pd_tokenizer *tok, const struct bpe_work *w, const char *word,
          struct tok_out *out)
{
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const struct sym *s = &w->syms[i];
        if (s->id >= 0) {
            if (tok_out_push(out, s->id) != 0)
                return PD_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t b = tok->byte_tok[(unsigned char)word[s->start + k]];
            if (b < 0)
                b = tok->unk;
            if (b >= 0 && tok_out_push(out, b) != 0)
                return PD_ENOMEM;
        }
    }
    return 0;
}

static int
encode_word(const struct pd_tokenizer *tok, struct bpe_work *w, const char *word, size_t len,
            struct tok_out *out)
{
    int32_t whole;

    if (len == 0)
        return 0;
    /* The vocabulary's texts are in the byte alphabet: a whole word is looked up as its letters
     * (the raw bytes of "Ġ" are not the space token). */
    if (tok->ignore_merges && len <= 256) {
        char letters[256 * 2];
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
            n += pd_utf8_encode(pd_unicode_byte_to_cp((uint8_t)word[i]), letters + n);
        if ((whole = tok_lookup(tok, letters, n)) >= 0)
            return tok_out_push(out, whole);
    }
    for (size_t i = 0; i < len; i++)
        w->syms[i] = (struct sym){tok->byte_tok[(unsigned char)word[i]], (int32_t)i - 1,
                                  i + 1 < len ? (int32_t)i + 1 : -1, (uint32_t)i, 1};
    w->n_heap = 0;
    for (size_t i = 0; i + 1 < len; i++)
        try_pair(tok, w, (int32_t)i, (int32_t)i + 1);
    merge_pairs(tok, w);
    return emit_syms(tok, w, word, out);
}

static int
work_init(struct bpe_work *w, size_t cap)
{
    /* Each merge pushes at most two candidates after the n - 1 initial ones. */
    w->syms = malloc((cap + 1) * sizeof *w->syms);
    w->heap = malloc((3 * cap + 1) * sizeof *w->heap);
    w->cap = cap;
    w->n_heap = 0;
    return w->syms && w->heap ? 0 : PD_ENOMEM;
}

static void
work_release(struct bpe_work *w)
{
    free(w->syms);
    free(w->heap);
}

/* Contract: see tokenizer-impl.h. */
int
tok_bpe_encode_word(const struct pd_tokenizer *tok, const char *word, size_t len,
                    struct tok_out *out)
{
    struct bpe_work w;
    int rc = work_init(&w, len);

    if (rc == 0)
        rc = encode_word(tok, &w, word, len, out);
    work_release(&w);
    return rc;
}

/* Code points of text and their classes; returns the count. */
static size_t
decode_text(const char *text, size_t len, uint32_t *cps, uint8_t *fl)
{
    size_t n = 0, cl;

    for (size_t i = 0; i < len; i += cl) {
        cps[n] = pd_utf8_decode(text + i, len - i, &cl);
        fl[n] = (uint8_t)pd_unicode_flags(cps[n]);
        n++;
    }
    return n;
}

/* Contract: see tokenizer-impl.h. */
int
tok_bpe_encode(const struct pd_tokenizer *tok, const char *text, size_t len,
               struct tok_out *out)
{
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    uint8_t *fl = malloc(len + 1);
    size_t *ends = malloc((len + 1) * sizeof *ends), *tmp = malloc((len + 1) * sizeof *tmp);
    char *word = malloc(3 * len + 1);   /* an invalid byte re-encodes as 3 bytes of U+FFFD */
    struct bpe_work w = {0};
    size_t n, n_pieces, b = 0;
    int rc = work_init(&w, 3 * len);

    if (!cps || !fl || !ends || !tmp || !word || rc != 0) {
        rc = PD_ENOMEM;
        goto out;
    }
    n = decode_text(text, len, cps, fl);
    n_pieces = pd_pretok_split(tok->pre, cps, fl, n, ends, tmp);
    for (size_t k = 0; k < n_pieces && rc == 0; k++) {
        size_t wl = 0;
        for (size_t i = b; i < ends[k]; i++)
            wl += pd_utf8_encode(cps[i], word + wl);
        rc = encode_word(tok, &w, word, wl, out);
        b = ends[k];
    }
out:
    work_release(&w);
    free(cps);
    free(fl);
    free(ends);
    free(tmp);
    free(word);
    return rc;
}
