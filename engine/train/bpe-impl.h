/*
 * bpe-impl.h: the inside of a byte-level BPE tokenizer being trained or read back, shared by
 * bpe-train.c (learning merges), bpe-vocab.c (the token table, splitting text, encoding) and
 * bpe-gguf.c (the GGUF metadata) only.
 *
 * Tokens keep the bytes they stand for (a special: its text) in one growing arena; normal
 * tokens are indexed by those bytes, merges by their (left, right) pair, in open-addressing
 * tables that double as they fill.
 */
#ifndef PD_BPE_IMPL_H
#define PD_BPE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pretok.h"
#include "engine/train/bpe-train.h"

struct bpe_merge {
    int32_t left, right, result;
};

struct bpe_merge_slot {
    uint64_t key;   /* (left << 32 | right) + 1; 0 marks an empty slot */
    int32_t rank;
};

struct pd_bpe {
    enum pd_pretok pre;
    char pre_name[64];

    int32_t n_vocab, cap_vocab;
    uint32_t *off, *len;     /* [n_vocab] token i is bytes[off[i] .. off[i] + len[i]) */
    uint8_t *type;           /* [n_vocab] enum pd_token_type */
    char *bytes;
    size_t n_bytes, cap_bytes;
    int32_t *tok_slots;      /* normal tokens by their bytes: id + 1, 0 empty */
    size_t tok_mask;

    struct bpe_merge *merges;
    size_t n_merges, cap_merges;
    struct bpe_merge_slot *merge_slots;
    size_t merge_mask;

    int32_t byte_id[256];    /* the token of each byte */
    int32_t *specials;       /* special ids, longest text first, then by id */
    size_t n_specials;

    char alpha[256][2];      /* GPT-2 byte alphabet: UTF-8 letter of each byte ... */
    uint8_t alpha_len[256];  /* ... and its length (1 or 2) */
    int16_t alpha_byte[512]; /* code point -> byte, -1 outside the alphabet */

    struct pd_bpe_ids ids;
    struct pd_bpe_stats stats;
};

/* Called for each piece of a text in order: special >= 0 for a special token (w NULL), else
 * the bytes of one pre-tokenized piece. Returns 0 or a PD_E* code that stops the split. */
typedef int (*bpe_piece_fn)(void *ud, int32_t special, const char *w, size_t len);

/* ---- bpe-vocab.c ---- */

/* An empty tokenizer (no tokens) for pre-tokenizer p; NULL when out of memory. */
struct pd_bpe *bpe_new(enum pd_pretok p, const char *pre_name);
/* Append a token of the given type; its id, or PD_ENOMEM. Normal tokens are indexed. */
int32_t bpe_add_token(struct pd_bpe *b, const char *s, size_t len, uint8_t type);
/* The 256 byte tokens, ids 0..255 in alphabet order. */
int bpe_add_byte_tokens(struct pd_bpe *b);
/* The normal token standing for s[0..len), or -1. */
int32_t bpe_lookup(const struct pd_bpe *b, const char *s, size_t len);
/* Record merge left + right -> result at the next rank; 0 or PD_ENOMEM. */
int bpe_add_merge(struct pd_bpe *b, int32_t left, int32_t right, int32_t result);
/* Rank of the merge of left and right, or -1. */
int32_t bpe_rank(const struct pd_bpe *b, int32_t left, int32_t right);
/* Sort the special tokens for matching; 0 or PD_ENOMEM. */
int bpe_index_specials(struct pd_bpe *b);
/* Write the byte-alphabet text of s[0..len) to out (2 * len bytes room); returns its length. */
size_t bpe_alphabet(const struct pd_bpe *b, const char *s, size_t len, char *out);
/* Whether the byte-alphabet text of s equals the text of a special token. */
bool bpe_collides_special(const struct pd_bpe *b, const char *s, size_t len);
/* Cut text into special tokens and pre-tokenized pieces, calling fn for each in order. */
int bpe_split(const struct pd_bpe *b, const char *text, size_t len, bpe_piece_fn fn, void *ud);

#endif
