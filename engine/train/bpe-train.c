/*
 * bpe-train.c: learning byte-level BPE merges from a corpus (see bpe-train.h).
 *
 * Three stages:
 *   1. count: every document is cut into special tokens and pre-tokenized pieces
 *      (bpe_split); identical pieces are kept once, with how often they occur (a hash table
 *      over their bytes);
 *   2. index: each distinct piece becomes a run of byte-token ids; every adjacent pair gets a
 *      count (the sum of the frequencies of the pieces it occurs in, once per occurrence) and
 *      the list of pieces it occurs in; all pairs go on a max-heap;
 *   3. merge: pop the best pair; an entry whose count is no longer the pair's is stale and
 *      dropped. Apply the merge to the pieces on the pair's list only, updating the counts of
 *      the pairs next to each occurrence, and list the piece under each new pair (they all
 *      contain the new token). Pairs whose count changed go back on the heap with the new count.
 * The work of a merge is proportional to the pieces it touches, not to the corpus.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/train/bpe-impl.h"

/* A distinct piece: its symbols are syms[off .. off + len); len shrinks as merges apply. */
struct word {
    uint32_t off, len;
    int64_t freq;
};

struct pair {
    int32_t l, r;
    int64_t count;
    int64_t old;           /* count before the current merge, once stamp says it was touched */
    uint32_t stamp;
    uint32_t last_word;    /* word index + 1 last appended to where (dedupe within a merge) */
    uint32_t *where;       /* words that contained the pair when it was counted */
    uint32_t n_where, cap_where;
    bool banned;           /* its merge would make an existing token's text */
};

struct heap_ent {
    int64_t count;
    uint32_t pair;
};

struct trainer {
    struct pd_bpe *b;
    uint32_t min_count;

    char *wbytes;          /* stage 1: bytes of the distinct pieces */
    size_t n_wbytes, cap_wbytes;
    struct word *words;
    uint32_t n_words, cap_words;
    uint32_t *word_slots;  /* word index + 1, 0 empty */
    size_t word_mask;

    int32_t *syms;         /* stages 2-3: n_wbytes symbols, one per byte at first */

    struct pair *pairs;
    uint32_t n_pairs, cap_pairs;
    uint32_t *pair_slots;  /* pair index + 1, 0 empty */
    size_t pair_mask;

    struct heap_ent *heap;
    size_t n_heap, cap_heap;
    uint32_t *touched;
    size_t n_touched, cap_touched;
    uint32_t stamp;
};

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t
hash_pair(int32_t l, int32_t r)
{
    uint64_t x = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Grow *p (elements of size sz, *cap of them) to hold n; 0 or PD_ENOMEM. */
static int
grow(void **p, size_t sz, size_t *cap, size_t n)
{
    size_t c = *cap ? *cap : 64;
    void *q;

    if (n <= *cap)
        return 0;
    while (c < n)
        c *= 2;
    if (!(q = realloc(*p, c * sz)))
        return PD_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* ---- stage 1: distinct pieces ---- */

static void
word_slot_put(struct trainer *t, uint32_t w)
{
    size_t i = hash_bytes(t->wbytes + t->words[w].off, t->words[w].len) & t->word_mask;

    while (t->word_slots[i] != 0)
        i = (i + 1) & t->word_mask;
    t->word_slots[i] = w + 1;
}

static int
word_reserve(struct trainer *t)
{
    size_t cap = t->word_mask + 1, cw = t->cap_words;

    if (grow((void **)&t->words, sizeof *t->words, &cw, (size_t)t->n_words + 1) != 0 ||
        cw > UINT32_MAX - 1)
        return PD_ENOMEM;
    t->cap_words = (uint32_t)cw;
    if (t->word_slots && 2 * ((size_t)t->n_words + 1) <= cap)
        return 0;
    cap = t->word_slots ? 2 * cap : 4096;
    free(t->word_slots);
    if (!(t->word_slots = calloc(cap, sizeof *t->word_slots)))
        return PD_ENOMEM;
    t->word_mask = cap - 1;
    for (uint32_t w = 0; w < t->n_words; w++)
        word_slot_put(t, w);
    return 0;
}

/* Count one piece (or note a special token) of the corpus. */
static int
count_piece(void *ud, int32_t special, const char *s, size_t len)
{
    struct trainer *t = ud;
    size_t i;
    int rc;

    if (special >= 0) {
        t->b->stats.n_specials_seen++;
        return 0;
    }
    t->b->stats.n_pieces++;
    if ((rc = word_reserve(t)) != 0)
        return rc;
    for (i = hash_bytes(s, len) & t->word_mask; t->word_slots[i] != 0;
         i = (i + 1) & t->word_mask) {
        struct word *w = &t->words[t->word_slots[i] - 1];
        if (w->len == len && memcmp(t->wbytes + w->off, s, len) == 0) {
            w->freq++;
            return 0;
        }
    }
    if (t->n_wbytes + len > UINT32_MAX ||
        grow((void **)&t->wbytes, 1, &t->cap_wbytes, t->n_wbytes + len) != 0)
        return PD_ENOMEM;
    memcpy(t->wbytes + t->n_wbytes, s, len);
    t->words[t->n_words] = (struct word){(uint32_t)t->n_wbytes, (uint32_t)len, 1};
    t->n_wbytes += len;
    t->word_slots[i] = ++t->n_words;
    return 0;
}

/* ---- pairs and the heap ---- */

static int
pair_index_reserve(struct trainer *t)
{
    size_t cap = t->pair_mask + 1, cp = t->cap_pairs;

    if (grow((void **)&t->pairs, sizeof *t->pairs, &cp, (size_t)t->n_pairs + 1) != 0 ||
        cp > UINT32_MAX - 1)
        return PD_ENOMEM;
    t->cap_pairs = (uint32_t)cp;
    if (t->pair_slots && 2 * ((size_t)t->n_pairs + 1) <= cap)
        return 0;
    cap = t->pair_slots ? 2 * cap : 4096;
    free(t->pair_slots);
    if (!(t->pair_slots = calloc(cap, sizeof *t->pair_slots)))
        return PD_ENOMEM;
    t->pair_mask = cap - 1;
    for (uint32_t p = 0; p < t->n_pairs; p++) {
        size_t i = hash_pair(t->pairs[p].l, t->pairs[p].r) & t->pair_mask;
        while (t->pair_slots[i] != 0)
            i = (i + 1) & t->pair_mask;
        t->pair_slots[i] = p + 1;
    }
    return 0;
}

/* The index of pair (l, r), added with count 0 when new; negative PD_ENOMEM. */
static int64_t
pair_get(struct trainer *t, int32_t l, int32_t r)
{
    size_t i;

    if (pair_index_reserve(t) != 0)
        return PD_ENOMEM;
    for (i = hash_pair(l, r) & t->pair_mask; t->pair_slots[i] != 0; i = (i + 1) & t->pair_mask) {
        const struct pair *p = &t->pairs[t->pair_slots[i] - 1];
        if (p->l == l && p->r == r)
            return t->pair_slots[i] - 1;
    }
    t->pairs[t->n_pairs] = (struct pair){.l = l, .r = r};
    t->pair_slots[i] = t->n_pairs + 1;
    return t->n_pairs++;
}

/* a goes above b: the higher count, then the smaller left id, then the smaller right id. */
static bool
heap_above(const struct trainer *t, const struct heap_ent *a, const struct heap_ent *b)
{
    const struct pair *pa = &t->pairs[a->pair], *pb = &t->pairs[b->pair];

    if (a->count != b->count)
        return a->count > b->count;
    return pa->l != pb->l ? pa->l < pb->l : pa->r < pb->r;
}

static int
heap_push(struct trainer *t, uint32_t pair)
{
    struct heap_ent e = {t->pairs[pair].count, pair};
    size_t i = t->n_heap;

    if (grow((void **)&t->heap, sizeof *t->heap, &t->cap_heap, t->n_heap + 1) != 0)
        return PD_ENOMEM;
    t->n_heap++;
    while (i > 0 && heap_above(t, &e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static struct heap_ent
heap_pop(struct trainer *t)
{
    struct heap_ent top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_above(t, &t->heap[c + 1], &t->heap[c]))
            c++;
        if (!heap_above(t, &t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n > 0)
        t->heap[i] = last;
    return top;
}

static int
where_add(struct pair *p, uint32_t w)
{
    size_t cap = p->cap_where;

    if (p->last_word == w + 1)
        return 0;
    if (grow((void **)&p->where, sizeof *p->where, &cap, (size_t)p->n_where + 1) != 0 ||
        cap > UINT32_MAX)
        return PD_ENOMEM;
    p->cap_where = (uint32_t)cap;
    p->where[p->n_where++] = w;
    p->last_word = w + 1;
    return 0;
}

/* Add delta to the count of (l, r), remembering the count it had before this merge; list word
 * w under it when it contains the new token (new_id, -1 while indexing: always). */
static int
pair_count(struct trainer *t, int32_t l, int32_t r, int64_t delta, uint32_t w, int32_t new_id)
{
    int64_t i = pair_get(t, l, r);
    struct pair *p;

    if (i < 0)
        return (int)i;
    p = &t->pairs[i];
    if (p->stamp != t->stamp) {
        p->stamp = t->stamp;
        p->old = p->count;
        if (grow((void **)&t->touched, sizeof *t->touched, &t->cap_touched, t->n_touched + 1))
            return PD_ENOMEM;
        t->touched[t->n_touched++] = (uint32_t)i;
    }
    p->count += delta;
    if (delta > 0 && (new_id < 0 || l == new_id || r == new_id))
        return where_add(p, w);
    return 0;
}

/* Count the pairs of word w and list w under each. */
static int
word_pairs(struct trainer *t, uint32_t w)
{
    const struct word *wd = &t->words[w];
    const int32_t *s = t->syms + wd->off;
    int rc;

    for (uint32_t i = 0; i + 1 < wd->len; i++)
        if ((rc = pair_count(t, s[i], s[i + 1], wd->freq, w, -1)) != 0)
            return rc;
    return 0;
}

/* Push every pair whose count changed since the stamp moved. */
static int
push_touched(struct trainer *t)
{
    int rc;

    for (size_t k = 0; k < t->n_touched; k++) {
        const struct pair *p = &t->pairs[t->touched[k]];
        if (p->count != p->old && p->count > 0 && !p->banned &&
            (rc = heap_push(t, t->touched[k])) != 0)
            return rc;
    }
    t->n_touched = 0;
    return 0;
}

/* ---- stage 2: symbols, pairs and the heap ---- */

static int
index_words(struct trainer *t)
{
    int rc;

    if (!(t->syms = malloc((t->n_wbytes + 1) * sizeof *t->syms)))
        return PD_ENOMEM;
    for (size_t i = 0; i < t->n_wbytes; i++)
        t->syms[i] = t->b->byte_id[(unsigned char)t->wbytes[i]];
    free(t->wbytes);
    t->wbytes = NULL;
    free(t->word_slots);
    t->word_slots = NULL;
    t->stamp = 1;
    for (uint32_t w = 0; w < t->n_words; w++)
        if ((rc = word_pairs(t, w)) != 0)
            return rc;
    return push_touched(t);
}

/* ---- stage 3: merging ---- */

/* Merge (l, r) -> c in word w, left to right, and update the counts of the pairs around each
 * occurrence only: (prev, l) becomes (prev, c), (r, next) becomes (c, next). prev is read from
 * the merged part, so "l r l r" correctly turns (c, l) into (c, c), and l == r works too. */
static int
merge_word(struct trainer *t, uint32_t w, int32_t l, int32_t r, int32_t c)
{
    struct word *wd = &t->words[w];
    int32_t *s = t->syms + wd->off;
    int64_t f = wd->freq;
    uint32_t j = 0, n = wd->len;
    int rc = 0;

    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (i + 1 >= n || s[i] != l || s[i + 1] != r) {
            s[j++] = s[i];
            continue;
        }
        rc = pair_count(t, l, r, -f, w, c);
        if (rc == 0 && j > 0 && (rc = pair_count(t, s[j - 1], l, -f, w, c)) == 0)
            rc = pair_count(t, s[j - 1], c, f, w, c);
        if (rc == 0 && i + 2 < n && (rc = pair_count(t, r, s[i + 2], -f, w, c)) == 0)
            rc = pair_count(t, c, s[i + 2], f, w, c);
        s[j++] = c;
        i++;
    }
    wd->len = j;
    return rc;
}

/* Apply merge (l, r) -> c to the words listed under pair pi. */
static int
apply_merge(struct trainer *t, uint32_t pi, int32_t c)
{
    int32_t l = t->pairs[pi].l, r = t->pairs[pi].r;
    uint32_t *where = t->pairs[pi].where, n_where = t->pairs[pi].n_where;
    int rc = 0;

    /* The list is ours now: no pair made below contains (l, r) as a whole. */
    t->pairs[pi].where = NULL;
    t->pairs[pi].n_where = t->pairs[pi].cap_where = 0;
    t->stamp++;
    for (uint32_t k = 0; k < n_where && rc == 0; k++)
        rc = merge_word(t, where[k], l, r, c);
    free(where);
    return rc ? rc : push_touched(t);
}

/* Make the token of pair pi; its id, -1 when its text exists already (the pair is banned), or
 * PD_ENOMEM (as a value below -1). */
static int32_t
new_token(struct trainer *t, uint32_t pi, char *buf)
{
    struct pd_bpe *b = t->b;
    const struct pair *p = &t->pairs[pi];
    size_t ll = b->len[p->l], rl = b->len[p->r];

    memcpy(buf, b->bytes + b->off[p->l], ll);
    memcpy(buf + ll, b->bytes + b->off[p->r], rl);
    if (bpe_lookup(b, buf, ll + rl) >= 0 || bpe_collides_special(b, buf, ll + rl)) {
        t->pairs[pi].banned = true;
        b->stats.n_skipped++;
        return -1;
    }
    return bpe_add_token(b, buf, ll + rl, PD_TOKEN_TYPE_NORMAL);
}

static int
merge_loop(struct trainer *t, int32_t n_vocab)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;

    while (t->b->n_vocab < n_vocab && t->n_heap > 0 && rc == 0) {
        struct heap_ent e = heap_pop(t);
        const struct pair *p = &t->pairs[e.pair];
        int32_t c;
        if (p->banned || e.count != p->count)
            continue;   /* stale */
        if (p->count < t->min_count)
            break;
        if ((rc = grow((void **)&buf, 1, &cap,
                       (size_t)t->b->len[p->l] + t->b->len[p->r])) != 0)
            break;
        c = new_token(t, e.pair, buf);
        if (c == -1)
            continue;
        if (c < 0 || (rc = bpe_add_merge(t->b, p->l, p->r, c)) != 0) {
            rc = PD_ENOMEM;
            break;
        }
        rc = apply_merge(t, e.pair, c);
    }
    free(buf);
    return rc;
}

/* ---- the whole run ---- */

static void
trainer_release(struct trainer *t)
{
    for (uint32_t p = 0; p < t->n_pairs; p++)
        free(t->pairs[p].where);
    free(t->pairs);
    free(t->pair_slots);
    free(t->heap);
    free(t->touched);
    free(t->wbytes);
    free(t->words);
    free(t->word_slots);
    free(t->syms);
}

static int
check_opts(const struct pd_bpe_opts *o, int *pre, char *err)
{
    size_t need = 256 + o->n_specials;

    *pre = pd_pretok_from_name(o->pre ? o->pre : PD_BPE_PRE_DEFAULT);
    if (*pre < 0)
        return pd_errorf(err, PD_EINVAL, "bpe: unknown pre-tokenizer '%s'", o->pre);
    if (o->n_vocab < 0 || (size_t)o->n_vocab < need || o->n_vocab > PD_BPE_MAX_VOCAB)
        return pd_errorf(err, PD_EINVAL, "bpe: vocabulary of %d tokens: want %zu to %d",
                         o->n_vocab, need, PD_BPE_MAX_VOCAB);
    if (o->n_specials > 0 && !o->specials)
        return pd_errorf(err, PD_EINVAL, "bpe: %zu special tokens but no pointer to them",
                         o->n_specials);
    for (size_t i = 0; i < o->n_specials; i++) {
        const char *s = o->specials[i];
        size_t len = s ? strlen(s) : 0;
        if (len == 0 || len > PD_BPE_MAX_SPECIAL_LEN)
            return pd_errorf(err, PD_EINVAL, "bpe: special token %zu: length %zu, want 1 to %d",
                             i, len, PD_BPE_MAX_SPECIAL_LEN);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, o->specials[j]) == 0)
                return pd_errorf(err, PD_EINVAL, "bpe: special token '%s' given twice", s);
    }
    return 0;
}

/* Byte tokens, then the specials (refused when one spells a byte token's alphabet letter). */
static int
add_base_tokens(struct pd_bpe *b, const struct pd_bpe_opts *o, char *err)
{
    if (bpe_add_byte_tokens(b) != 0)
        return pd_errorf(err, PD_ENOMEM, "bpe: no memory for the byte tokens");
    if (o->n_specials > 0 && !o->specials)
        return pd_errorf(err, PD_EINVAL, "bpe: %zu special tokens but no pointer to them",
                         o->n_specials);
    for (size_t i = 0; i < o->n_specials; i++) {
        const char *s = o->specials[i];
        for (int c = 0; c < 256; c++)
            if (strlen(s) == b->alpha_len[c] && memcmp(s, b->alpha[c], b->alpha_len[c]) == 0)
                return pd_errorf(err, PD_EINVAL,
                                 "bpe: special token '%s' is the text of byte 0x%02x's token", s,
                                 c);
        if (bpe_add_token(b, s, strlen(s), PD_TOKEN_TYPE_CONTROL) < 0)
            return pd_errorf(err, PD_ENOMEM, "bpe: no memory for special tokens");
    }
    return bpe_index_specials(b) ? pd_errorf(err, PD_ENOMEM, "bpe: no memory") : 0;
}

static int
train(struct trainer *t, const char *const *docs, const size_t *lens, size_t n_docs,
      int32_t n_vocab, char *err)
{
    int rc = 0;

    for (size_t d = 0; d < n_docs && rc == 0; d++) {
        size_t len = lens ? lens[d] : strlen(docs[d]);
        t->b->stats.n_bytes += len;
        rc = bpe_split(t->b, docs[d], len, count_piece, t);
    }
    t->b->stats.n_unique = t->n_words;
    if (rc == 0)
        rc = index_words(t);
    if (rc == 0)
        rc = merge_loop(t, n_vocab);
    return rc ? pd_errorf(err, rc, "bpe: training: %s", pd_strerror(rc)) : 0;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_train(struct pd_bpe **out, const char *const *docs, const size_t *lens, size_t n_docs,
             const struct pd_bpe_opts *o, char *err)
{
    double t0 = pd_time_now();
    struct trainer t = {.min_count = o->min_count ? o->min_count : 2};
    int pre, rc;

    *out = NULL;
    if ((rc = check_opts(o, &pre, err)) != 0)
        return rc;
    if (n_docs > 0 && !docs)
        return pd_errorf(err, PD_EINVAL, "bpe: %zu documents but no pointer to them", n_docs);
    if (!(t.b = bpe_new((enum pd_pretok)pre, o->pre ? o->pre : PD_BPE_PRE_DEFAULT)))
        return pd_errorf(err, PD_ENOMEM, "bpe: no memory");
    rc = add_base_tokens(t.b, o, err);
    if (rc == 0)
        rc = train(&t, docs, lens, n_docs, o->n_vocab, err);
    trainer_release(&t);
    if (rc != 0) {
        pd_bpe_free(t.b);
        return rc;
    }
    t.b->stats.seconds = pd_time_now() - t0;
    *out = t.b;
    return 0;
}
