/*
 * bpe-vocab.c: the token table of a trained byte-level BPE tokenizer, cutting text into special
 * tokens and pre-tokenized pieces, and the trainer's own encoder (see bpe-train.h).
 *
 * The encoder is deliberately plain: per piece, find the lowest-ranked adjacent pair, merge
 * every occurrence of it left to right, repeat. That is quadratic in the piece length, which is
 * fine for pieces, and shares no code with engine/tokenizer-bpe.c's heap, so the tests compare
 * two implementations.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/train/bpe-impl.h"
#include "engine/unicode.h"

/* Texts are cut into chunks of about this many bytes before pre-tokenization (see find_cut). */
#define CHUNK_BYTES (1u << 16)

/* ---- hashing ---- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

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

static bool
type_special(uint8_t t)
{
    return t == PD_TOKEN_TYPE_CONTROL || t == PD_TOKEN_TYPE_USER_DEFINED ||
           t == PD_TOKEN_TYPE_UNKNOWN;
}

/* ---- the token table ---- */

/* Contract: see bpe-impl.h. */
struct pd_bpe *
bpe_new(enum pd_pretok p, const char *pre_name)
{
    struct pd_bpe *b = calloc(1, sizeof *b);

    if (!b)
        return NULL;
    b->pre = p;
    snprintf(b->pre_name, sizeof b->pre_name, "%s", pre_name);
    b->ids = (struct pd_bpe_ids){-1, -1, -1, false};
    memset(b->alpha_byte, 0xFF, sizeof b->alpha_byte);
    for (int i = 0; i < 256; i++) {
        uint32_t cp = pd_unicode_byte_to_cp((uint8_t)i);
        char u[4];
        b->alpha_len[i] = (uint8_t)pd_utf8_encode(cp, u);
        memcpy(b->alpha[i], u, b->alpha_len[i]);
        b->alpha_byte[cp] = (int16_t)i;
        b->byte_id[i] = -1;
    }
    return b;
}

/* Contract: see bpe-train.h. Accepts NULL. */
void
pd_bpe_free(struct pd_bpe *b)
{
    if (!b)
        return;
    free(b->off);
    free(b->len);
    free(b->type);
    free(b->bytes);
    free(b->tok_slots);
    free(b->merges);
    free(b->merge_slots);
    free(b->specials);
    free(b);
}

static void
tok_index_put(struct pd_bpe *b, int32_t id)
{
    size_t i = hash_bytes(b->bytes + b->off[id], b->len[id]) & b->tok_mask;

    while (b->tok_slots[i] != 0)
        i = (i + 1) & b->tok_mask;
    b->tok_slots[i] = id + 1;
}

/* Keep the byte index at most half full: rebuild it twice as large when it would not be. */
static int
tok_index_reserve(struct pd_bpe *b, size_t n)
{
    size_t cap = b->tok_mask + 1;
    int32_t *slots;

    if (b->tok_slots && 2 * n <= cap)
        return 0;
    cap = 64;
    while (cap < 2 * n)
        cap <<= 1;
    slots = calloc(cap, sizeof *slots);
    if (!slots)
        return PD_ENOMEM;
    free(b->tok_slots);
    b->tok_slots = slots;
    b->tok_mask = cap - 1;
    for (int32_t id = 0; id < b->n_vocab; id++)
        if (!type_special(b->type[id]))
            tok_index_put(b, id);
    return 0;
}

static int
grow_vocab(struct pd_bpe *b, size_t extra_bytes)
{
    if (b->n_vocab == b->cap_vocab) {
        int32_t cap = b->cap_vocab ? 2 * b->cap_vocab : 512;
        uint32_t *off = realloc(b->off, (size_t)cap * sizeof *off);
        uint32_t *len = off ? realloc(b->len, (size_t)cap * sizeof *len) : NULL;
        uint8_t *type = len ? realloc(b->type, (size_t)cap) : NULL;
        if (off)
            b->off = off;
        if (len)
            b->len = len;
        if (!type)
            return PD_ENOMEM;
        b->type = type;
        b->cap_vocab = cap;
    }
    if (b->n_bytes + extra_bytes > b->cap_bytes) {
        size_t cap = b->cap_bytes ? b->cap_bytes : 4096;
        char *bytes;
        while (cap < b->n_bytes + extra_bytes)
            cap *= 2;
        if (cap > UINT32_MAX || !(bytes = realloc(b->bytes, cap)))
            return PD_ENOMEM;
        b->bytes = bytes;
        b->cap_bytes = cap;
    }
    return 0;
}

/* Contract: see bpe-impl.h. */
int32_t
bpe_add_token(struct pd_bpe *b, const char *s, size_t len, uint8_t type)
{
    int32_t id = b->n_vocab;

    if (b->n_vocab >= PD_BPE_MAX_VOCAB || grow_vocab(b, len) != 0 ||
        tok_index_reserve(b, (size_t)b->n_vocab + 1) != 0)
        return PD_ENOMEM;
    memcpy(b->bytes + b->n_bytes, s, len);
    b->off[id] = (uint32_t)b->n_bytes;
    b->len[id] = (uint32_t)len;
    b->type[id] = type;
    b->n_bytes += len;
    b->n_vocab++;
    if (!type_special(type))
        tok_index_put(b, id);
    return id;
}

/* Contract: see bpe-impl.h. */
int
bpe_add_byte_tokens(struct pd_bpe *b)
{
    /* Alphabet order is code point order; the alphabet lies below U+0200. */
    for (uint32_t cp = 0; cp < 512; cp++) {
        int byte = b->alpha_byte[cp];
        char c = (char)byte;
        if (byte < 0)
            continue;
        b->byte_id[byte] = bpe_add_token(b, &c, 1, PD_TOKEN_TYPE_NORMAL);
        if (b->byte_id[byte] < 0)
            return PD_ENOMEM;
    }
    return 0;
}

/* Contract: see bpe-impl.h. */
int32_t
bpe_lookup(const struct pd_bpe *b, const char *s, size_t len)
{
    if (!b->tok_slots)
        return -1;
    for (size_t i = hash_bytes(s, len) & b->tok_mask;; i = (i + 1) & b->tok_mask) {
        int32_t slot = b->tok_slots[i];
        if (slot == 0)
            return -1;
        if (b->len[slot - 1] == len && memcmp(b->bytes + b->off[slot - 1], s, len) == 0)
            return slot - 1;
    }
}

static void
merge_index_put(struct pd_bpe *b, int32_t rank)
{
    const struct bpe_merge *m = &b->merges[rank];
    uint64_t key = pair_key(m->left, m->right);
    size_t i = mix64(key) & b->merge_mask;

    while (b->merge_slots[i].key != 0)
        i = (i + 1) & b->merge_mask;
    b->merge_slots[i] = (struct bpe_merge_slot){key, rank};
}

static int
merge_reserve(struct pd_bpe *b)
{
    size_t cap = b->merge_mask + 1;
    struct bpe_merge_slot *slots;

    if (b->n_merges == b->cap_merges) {
        size_t c = b->cap_merges ? 2 * b->cap_merges : 256;
        struct bpe_merge *m = realloc(b->merges, c * sizeof *m);
        if (!m)
            return PD_ENOMEM;
        b->merges = m;
        b->cap_merges = c;
    }
    if (b->merge_slots && 2 * (b->n_merges + 1) <= cap)
        return 0;
    cap = 512;
    while (cap < 2 * (b->n_merges + 1))
        cap <<= 1;
    if (!(slots = calloc(cap, sizeof *slots)))
        return PD_ENOMEM;
    free(b->merge_slots);
    b->merge_slots = slots;
    b->merge_mask = cap - 1;
    for (size_t r = 0; r < b->n_merges; r++)
        merge_index_put(b, (int32_t)r);
    return 0;
}

/* Contract: see bpe-impl.h. */
int
bpe_add_merge(struct pd_bpe *b, int32_t left, int32_t right, int32_t result)
{
    if (b->n_merges >= PD_BPE_MAX_VOCAB || merge_reserve(b) != 0)
        return PD_ENOMEM;
    b->merges[b->n_merges] = (struct bpe_merge){left, right, result};
    merge_index_put(b, (int32_t)b->n_merges);
    b->n_merges++;
    return 0;
}

/* Contract: see bpe-impl.h. */
int32_t
bpe_rank(const struct pd_bpe *b, int32_t left, int32_t right)
{
    uint64_t key = pair_key(left, right);

    if (!b->merge_slots)
        return -1;
    for (size_t i = mix64(key) & b->merge_mask;; i = (i + 1) & b->merge_mask) {
        if (b->merge_slots[i].key == 0)
            return -1;
        if (b->merge_slots[i].key == key)
            return b->merge_slots[i].rank;
    }
}

/* Ascending uint64 order. */
static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Contract: see bpe-impl.h. Longest text first, then by id, as engine/tokenizer.c orders them;
 * the sort key packs both. */
int
bpe_index_specials(struct pd_bpe *b)
{
    uint64_t *keys = malloc(((size_t)b->n_vocab + 1) * sizeof *keys);
    int32_t *sp = malloc(((size_t)b->n_vocab + 1) * sizeof *sp);
    size_t n = 0;

    if (!keys || !sp) {
        free(keys);
        free(sp);
        return PD_ENOMEM;
    }
    for (int32_t id = 0; id < b->n_vocab; id++)
        if (type_special(b->type[id]) && b->len[id] > 0)
            keys[n++] = (uint64_t)(UINT32_MAX - b->len[id]) << 32 | (uint32_t)id;
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t k = 0; k < n; k++)
        sp[k] = (int32_t)(keys[k] & 0xFFFFFFFFu);
    free(keys);
    free(b->specials);
    b->specials = sp;
    b->n_specials = n;
    return 0;
}

/* Contract: see bpe-impl.h. */
size_t
bpe_alphabet(const struct pd_bpe *b, const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        memcpy(out + o, b->alpha[c], b->alpha_len[c]);
        o += b->alpha_len[c];
    }
    return o;
}

/* Contract: see bpe-impl.h. */
bool
bpe_collides_special(const struct pd_bpe *b, const char *s, size_t len)
{
    char buf[2 * PD_BPE_MAX_SPECIAL_LEN];

    if (len > PD_BPE_MAX_SPECIAL_LEN)
        return false;   /* a special's text is at most that long, its alphabet text longer */
    len = bpe_alphabet(b, s, len, buf);
    for (size_t k = 0; k < b->n_specials; k++) {
        int32_t id = b->specials[k];
        if (b->len[id] == len && memcmp(b->bytes + b->off[id], buf, len) == 0)
            return true;
    }
    return false;
}

/* ---- cutting text into pieces ---- */

struct split_ctx {
    const struct pd_bpe *b;
    bpe_piece_fn fn;
    void *ud;
    uint32_t *cps;
    uint8_t *fl;
    size_t *ends, *tmp;
    char *word;
    size_t cap;
};

static int
split_reserve(struct split_ctx *c, size_t n)
{
    if (n <= c->cap)
        return 0;
    free(c->cps);
    free(c->fl);
    free(c->ends);
    free(c->tmp);
    free(c->word);
    c->cps = malloc(n * sizeof *c->cps);
    c->fl = malloc(n);
    c->ends = malloc(n * sizeof *c->ends);
    c->tmp = malloc(n * sizeof *c->tmp);
    c->word = malloc(3 * n + 4);   /* an invalid byte comes back as 3 bytes of U+FFFD */
    c->cap = c->cps && c->fl && c->ends && c->tmp && c->word ? n : 0;
    return c->cap ? 0 : PD_ENOMEM;
}

static void
split_release(struct split_ctx *c)
{
    free(c->cps);
    free(c->fl);
    free(c->ends);
    free(c->tmp);
    free(c->word);
}

/* Pre-tokenize one chunk of raw text and hand its pieces on. */
static int
split_chunk(struct split_ctx *c, const char *text, size_t len)
{
    size_t n = 0, cl, n_pieces, b = 0;
    int rc;

    if ((rc = split_reserve(c, len)) != 0)
        return rc;
    for (size_t i = 0; i < len; i += cl) {
        c->cps[n] = pd_utf8_decode(text + i, len - i, &cl);
        c->fl[n] = (uint8_t)pd_unicode_flags(c->cps[n]);
        n++;
    }
    n_pieces = pd_pretok_split(c->b->pre, c->cps, c->fl, n, c->ends, c->tmp);
    for (size_t k = 0; k < n_pieces; k++) {
        size_t wl = 0;
        for (size_t i = b; i < c->ends[k]; i++)
            wl += pd_utf8_encode(c->cps[i], c->word + wl);
        b = c->ends[k];
        if ((rc = c->fn(c->ud, -1, c->word, wl)) != 0)
            return rc;
    }
    return 0;
}

static bool
is_graph(char ch)
{
    return ch > ' ' && ch < 0x7F;
}

/* The first i >= from where a chunk may end: after "X\n" and before "Y", X and Y printable
 * ASCII. No pre-tokenizer piece spans such a newline, and none looks past it to decide where
 * a piece ends (not even \s+(?!\S): the newline alone is a piece either way), so cutting there
 * changes nothing. len when there is none. */
static size_t
find_cut(const char *text, size_t len, size_t from)
{
    for (size_t i = PD_MAX(from, 2); i < len; i++)
        if (text[i - 1] == '\n' && is_graph(text[i - 2]) && is_graph(text[i]))
            return i;
    return len;
}

static int
split_raw(struct split_ctx *c, const char *text, size_t len)
{
    size_t pos = 0;
    int rc = 0;

    while (pos < len && rc == 0) {
        size_t end = len - pos > CHUNK_BYTES ? find_cut(text, len, pos + CHUNK_BYTES) : len;
        rc = split_chunk(c, text + pos, end - pos);
        pos = end;
    }
    return rc;
}

/* Cut around special k (and, in the stretches between, the ones after it), as the tokenizers'
 * passes do: every occurrence of the longest special first, leftmost first. */
static int
split_special(struct split_ctx *c, const char *text, size_t len, size_t k)
{
    const struct pd_bpe *b = c->b;
    const char *s, *m;
    size_t sl, pos = 0;
    int32_t id;
    int rc;

    if (k == b->n_specials)
        return split_raw(c, text, len);
    id = b->specials[k];
    s = b->bytes + b->off[id];
    sl = b->len[id];
    while (pos + sl <= len && (m = memmem(text + pos, len - pos, s, sl)) != NULL) {
        size_t at = (size_t)(m - text);
        if ((at > pos && (rc = split_special(c, text + pos, at - pos, k + 1)) != 0) ||
            (rc = c->fn(c->ud, id, NULL, 0)) != 0)
            return rc;
        pos = at + sl;
    }
    return pos < len ? split_special(c, text + pos, len - pos, k + 1) : 0;
}

/* Contract: see bpe-impl.h. */
int
bpe_split(const struct pd_bpe *b, const char *text, size_t len, bpe_piece_fn fn, void *ud)
{
    struct split_ctx c = {.b = b, .fn = fn, .ud = ud};
    int rc = len > 0 ? split_special(&c, text, len, 0) : 0;

    split_release(&c);
    return rc;
}

/* ---- encoding ---- */

struct enc {
    const struct pd_bpe *b;
    int32_t *ids;
    size_t n, cap;
    int32_t *syms;
    size_t cap_syms;
};

static int
enc_reserve(struct enc *e, size_t more)
{
    if (e->n + more > e->cap) {
        size_t cap = e->cap ? e->cap : 256;
        int32_t *ids;
        while (cap < e->n + more)
            cap *= 2;
        if (!(ids = realloc(e->ids, cap * sizeof *ids)))
            return PD_ENOMEM;
        e->ids = ids;
        e->cap = cap;
    }
    if (more > e->cap_syms) {
        free(e->syms);
        e->syms = malloc(more * sizeof *e->syms);
        e->cap_syms = e->syms ? more : 0;
        if (!e->syms)
            return PD_ENOMEM;
    }
    return 0;
}

/* Merge every occurrence of (l, r) in s[0..n), left to right, into res; returns the new n. */
static size_t
merge_all(int32_t *s, size_t n, int32_t l, int32_t r, int32_t res)
{
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == l && s[i + 1] == r) {
            s[j++] = res;
            i++;
        } else {
            s[j++] = s[i];
        }
    }
    return j;
}

/* The lowest-ranked merge among the adjacent pairs of s, or -1. */
static int32_t
best_rank(const struct pd_bpe *b, const int32_t *s, size_t n)
{
    int32_t best = -1;

    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_rank(b, s[i], s[i + 1]);
        if (r >= 0 && (best < 0 || r < best))
            best = r;
    }
    return best;
}

static int
enc_piece(void *ud, int32_t special, const char *w, size_t len)
{
    struct enc *e = ud;
    const struct pd_bpe *b = e->b;
    int32_t whole, rank;
    size_t n = len;
    int rc;

    if ((rc = enc_reserve(e, special >= 0 ? 1 : len)) != 0)
        return rc;
    if (special >= 0) {
        e->ids[e->n++] = special;
        return 0;
    }
    /* llama-bpe's ignore_merges: a piece that is a token is that token. */
    if (b->pre == PD_PRETOK_LLAMA3 && (whole = bpe_lookup(b, w, len)) >= 0) {
        e->ids[e->n++] = whole;
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        if ((e->syms[i] = b->byte_id[(unsigned char)w[i]]) < 0)
            return PD_EINVAL;   /* a byte the vocabulary has no token for */
    while ((rank = best_rank(b, e->syms, n)) >= 0) {
        const struct bpe_merge *m = &b->merges[rank];
        n = merge_all(e->syms, n, m->left, m->right, m->result);
    }
    memcpy(e->ids + e->n, e->syms, n * sizeof *e->ids);
    e->n += n;
    return 0;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_encode(const struct pd_bpe *b, const char *text, size_t len, int32_t **out,
              size_t *n_out, char *err)
{
    struct enc e = {.b = b};
    int rc = bpe_split(b, text, len, enc_piece, &e);

    free(e.syms);
    if (rc == 0 && !e.ids && !(e.ids = malloc(sizeof *e.ids)))
        rc = PD_ENOMEM;
    if (rc != 0) {
        free(e.ids);
        *out = NULL;
        *n_out = 0;
        return pd_errorf(err, rc, "bpe: encoding %zu bytes: %s", len, pd_strerror(rc));
    }
    *out = e.ids;
    *n_out = e.n;
    return 0;
}

/* ---- accessors ---- */

/* Contract: see bpe-train.h. */
int
pd_bpe_set_ids(struct pd_bpe *b, const struct pd_bpe_ids *ids, char *err)
{
    const int32_t v[3] = {ids->bos, ids->eos, ids->pad};
    const char *names[3] = {"bos", "eos", "padding"};

    for (int i = 0; i < 3; i++)
        if (v[i] < -1 || v[i] >= b->n_vocab)
            return pd_errorf(err, PD_EINVAL, "bpe: %s id %d outside the vocabulary (%d tokens)",
                             names[i], v[i], b->n_vocab);
    if (ids->add_bos && ids->bos < 0)
        return pd_errorf(err, PD_EINVAL, "bpe: add_bos without a bos token");
    b->ids = *ids;
    return 0;
}

/* Contract: see bpe-train.h. */
void
pd_bpe_get_ids(const struct pd_bpe *b, struct pd_bpe_ids *out)
{
    *out = b->ids;
}

/* Contract: see bpe-train.h. */
int32_t
pd_bpe_n_vocab(const struct pd_bpe *b)
{
    return b->n_vocab;
}

/* Contract: see bpe-train.h. */
size_t
pd_bpe_n_merges(const struct pd_bpe *b)
{
    return b->n_merges;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_merge(const struct pd_bpe *b, size_t r, int32_t *left, int32_t *right, int32_t *result)
{
    if (r >= b->n_merges)
        return PD_ERANGE;
    *left = b->merges[r].left;
    *right = b->merges[r].right;
    *result = b->merges[r].result;
    return 0;
}

/* Contract: see bpe-train.h. */
const char *
pd_bpe_token(const struct pd_bpe *b, int32_t id, size_t *len)
{
    if (id < 0 || id >= b->n_vocab) {
        *len = 0;
        return "";
    }
    *len = b->len[id];
    return b->bytes + b->off[id];
}

/* Contract: see bpe-train.h. */
int32_t
pd_bpe_find(const struct pd_bpe *b, const char *s)
{
    size_t len = strlen(s);

    for (size_t k = 0; k < b->n_specials; k++) {
        int32_t id = b->specials[k];
        if (b->len[id] == len && memcmp(b->bytes + b->off[id], s, len) == 0)
            return id;
    }
    return bpe_lookup(b, s, len);
}

/* Contract: see bpe-train.h. */
bool
pd_bpe_is_special(const struct pd_bpe *b, int32_t id)
{
    return id >= 0 && id < b->n_vocab && type_special(b->type[id]);
}

/* Contract: see bpe-train.h. */
const char *
pd_bpe_pre(const struct pd_bpe *b)
{
    return b->pre_name;
}

/* Contract: see bpe-train.h. */
void
pd_bpe_stats(const struct pd_bpe *b, struct pd_bpe_stats *out)
{
    *out = b->stats;
}
