/*
 * tokenizer-impl.h: the tokenizer's shared inside, for tokenizer.c, tokenizer-bpe.c and
 * tokenizer-spm.c only.
 *
 * Token texts and pieces live in two arenas; lookups go through open-addressing hash tables
 * (text -> id, and for BPE (left id, right id) -> merge rank and result).
 */
#ifndef PD_TOKENIZER_IMPL_H
#define PD_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pretok.h"
#include "engine/tokenizer.h"

enum tok_kind { TOK_BPE, TOK_SPM };

struct merge_slot {
    uint64_t key;     /* (left id << 32 | right id) + 1; 0 marks an empty slot */
    int32_t rank;
    int32_t result;   /* id of the merged text, -1 when it is not a token */
};

struct pd_tokenizer {
    enum tok_kind kind;
    enum pd_pretok pre;
    char model_name[32];
    char pre_name[64];
    int32_t n_vocab;
    const char **text;        /* [n_vocab] token texts as stored, NUL-terminated */
    uint32_t *text_len;
    const char **piece;       /* [n_vocab] the bytes each token stands for */
    uint32_t *piece_len;
    float *score;             /* [n_vocab] SentencePiece scores (0 when absent) */
    uint8_t *type;            /* [n_vocab] enum pd_token_type */
    bool *eog;                /* [n_vocab] */
    char *text_arena, *piece_arena;

    int32_t *vocab_slots;     /* id + 1, 0 empty; vocab_mask + 1 slots */
    size_t vocab_mask;
    struct merge_slot *merges;
    size_t merge_mask;

    int32_t byte_tok[256];    /* BPE: token of a byte's alphabet letter; SPM: <0xXX>; or -1 */
    int32_t *specials;        /* special token ids, longest text first */
    size_t n_specials;

    int32_t bos, eos, unk, pad, eot, eom;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
};

/* A growing id array. */
struct tok_out {
    int32_t *ids;
    size_t n, cap;
};

int tok_out_push(struct tok_out *o, int32_t id);

/* id of the token whose text is s[0..len), or -1. */
int32_t tok_lookup(const struct pd_tokenizer *tok, const char *s, size_t len);

/* BPE (tokenizer-bpe.c): build the merge table; encode a raw text fragment. */
int tok_bpe_load_merges(struct pd_tokenizer *tok, const struct pd_gguf_value *merges, char *err);
int tok_bpe_encode(const struct pd_tokenizer *tok, const char *text, size_t len,
                   struct tok_out *out);
/* Encode one pre-tokenized word (raw bytes) by merge rank; the reference for the tests'
 * quadratic twin. */
int tok_bpe_encode_word(const struct pd_tokenizer *tok, const char *w, size_t len,
                        struct tok_out *out);

/* Rank of merging tokens left and right (and the merged token in *result), or -1. */
int32_t tok_bpe_rank(const struct pd_tokenizer *tok, int32_t left, int32_t right,
                     int32_t *result);

/* SentencePiece (tokenizer-spm.c): encode a raw fragment (spaces not yet escaped). */
int tok_spm_encode(const struct pd_tokenizer *tok, const char *text, size_t len, bool prefix,
                   struct tok_out *out);

#endif
