/*
 * bpe-train.h: training a byte-level BPE tokenizer, and writing it into a GGUF's tokenizer
 * metadata the way ponder's tokenizer (engine/tokenizer.h) and llama.cpp read it.
 *
 * Training, the standard way:
 *   - each document is cut around the special tokens (longest text first, as the tokenizers
 *     match them), so a special's text never takes part in a merge;
 *   - the rest is pre-tokenized with one of ponder's pre-tokenizers (engine/pretok.h), named
 *     as tokenizer.ggml.pre names it. The default is "qwen2": single digits (numbers are spelt
 *     digit by digit, which is what arithmetic needs), words with at most one leading
 *     non-letter; llama.cpp reads it for any architecture (deepseek2 included), splits text
 *     the same way ponder does, and leaves the spaces of a decoded text alone (clean_spaces
 *     off). "deepseek-v3" groups digits by three and llama.cpp runs it through std::regex over
 *     a collapsed text, which can split differently; "llama-bpe" also groups digits, and
 *     llama.cpp cleans spaces when decoding it, so text does not come back byte for byte;
 *   - identical pieces are counted once, with their frequency;
 *   - symbols start as the 256 bytes; the most frequent adjacent pair (ties: the smaller left
 *     id, then the smaller right id) is merged into a new token, in every piece, leftmost
 *     occurrence first, and the merge is recorded; until the vocabulary is full or no pair is
 *     seen min_count times. Pair counts are updated from the pieces a merge touches only, and
 *     the best pair comes from a max-heap with stale entries dropped when popped.
 *
 * Token ids: 0..255 the bytes, in the order of GPT-2's byte alphabet (the letters '!'..'~'
 * first, as in GPT-2's vocabulary); then the special tokens in the caller's order; then one
 * token per merge, in merge order (token 256 + n_specials + r is made by merge r). A merge whose
 * text already exists as a token is never made (its pair stays unmerged), so texts are unique,
 * as llama.cpp requires.
 *
 * Encoding by rank (what the tokenizers do) gives back the training segmentation of every
 * piece; pd_bpe_encode is the trainer's own, plain version of it (the lowest-ranked pair,
 * leftmost first, until none is left), against which the tests hold engine/tokenizer.c.
 *
 * Invalid UTF-8 becomes U+FFFD before pre-tokenization, as in ponder's tokenizer (llama.cpp
 * too, but it decodes overlong forms and surrogates instead of replacing them).
 */
#ifndef PD_BPE_TRAIN_H
#define PD_BPE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/pd.h"

#define PD_BPE_PRE_DEFAULT "qwen2"
#define PD_BPE_MAX_VOCAB (1 << 22)
#define PD_BPE_MAX_SPECIAL_LEN 256
#define PD_BPE_FORMAT_VERSION 1   /* ponder.bpe.version in files pd_bpe_save writes */

struct pd_bpe;

struct pd_bpe_opts {
    int32_t n_vocab;              /* wanted size: 256 bytes + specials + merges */
    const char *const *specials;  /* control tokens (token_type 3), ids from 256 in this order */
    size_t n_specials;
    const char *pre;              /* tokenizer.ggml.pre; NULL: PD_BPE_PRE_DEFAULT */
    uint32_t min_count;           /* merge only pairs seen this often; 0 means 2 */
};

/* Which tokens the metadata names as BOS, EOS and padding (-1: none). */
struct pd_bpe_ids {
    int32_t bos, eos, pad;
    bool add_bos;                 /* tokenizer.ggml.add_bos_token */
};

struct pd_bpe_stats {
    uint64_t n_bytes;             /* corpus bytes, specials included */
    uint64_t n_pieces;            /* pre-tokenized pieces */
    uint64_t n_unique;            /* distinct pieces */
    uint64_t n_specials_seen;     /* special tokens found in the corpus */
    uint64_t n_skipped;           /* best pairs not merged: their text was a token already */
    double seconds;               /* wall time of pd_bpe_train */
};

/* Learn merges from n_docs documents (docs[i], lens[i] bytes; lens NULL: NUL-terminated).
 * Stops early, with a smaller vocabulary, when no pair is seen min_count times. PD_EINVAL for
 * bad options (err names which). On success *out is the tokenizer (pd_bpe_free it), with no
 * BOS/EOS chosen yet. */
int pd_bpe_train(struct pd_bpe **out, const char *const *docs, const size_t *lens, size_t n_docs,
                 const struct pd_bpe_opts *opts, char *err);
void pd_bpe_free(struct pd_bpe *b);

/* Set the BOS, EOS and padding ids (each -1 or a token id); PD_EINVAL when out of range or
 * add_bos without a BOS. */
int pd_bpe_set_ids(struct pd_bpe *b, const struct pd_bpe_ids *ids, char *err);
void pd_bpe_get_ids(const struct pd_bpe *b, struct pd_bpe_ids *out);

int32_t pd_bpe_n_vocab(const struct pd_bpe *b);
size_t pd_bpe_n_merges(const struct pd_bpe *b);
/* Merge r (0 first): its left and right token ids and the token it makes. PD_ERANGE past the
 * end. */
int pd_bpe_merge(const struct pd_bpe *b, size_t r, int32_t *left, int32_t *right,
                 int32_t *result);
/* The bytes token id stands for (a special's text); "" with *len 0 for a bad id. */
const char *pd_bpe_token(const struct pd_bpe *b, int32_t id, size_t *len);
/* The id of the special token with text s, else of the token standing for the bytes of s; or
 * -1. */
int32_t pd_bpe_find(const struct pd_bpe *b, const char *s);
bool pd_bpe_is_special(const struct pd_bpe *b, int32_t id);
const char *pd_bpe_pre(const struct pd_bpe *b);
void pd_bpe_stats(const struct pd_bpe *b, struct pd_bpe_stats *out);

/* Encode len bytes of text, special tokens matched whole (as pd_tokenizer_encode does with
 * PD_TOK_PARSE_SPECIAL and no BOS). *out is malloc'd (caller frees), *n_out ids. */
int pd_bpe_encode(const struct pd_bpe *b, const char *text, size_t len, int32_t **out,
                  size_t *n_out, char *err);

/* Add the tokenizer to a GGUF being written: tokenizer.ggml.model "gpt2", .pre, .tokens (byte
 * alphabet; specials as they are), .token_type (int32: 1 normal, 3 control), .merges ("left
 * right" in rank order), .bos/.eos/.padding_token_id (u32) and .add_bos_token. An EOS is
 * required (llama.cpp would otherwise take token 11, ',', for it); without a BOS the EOS id is
 * written as BOS too, for the same reason. */
int pd_bpe_write_gguf(const struct pd_bpe *b, struct pd_gguf_writer *w, char *err);

/* A GGUF file holding only the tokenizer (and ponder.bpe.version), to train once and reuse. */
int pd_bpe_save(const struct pd_bpe *b, const char *path, char *err);
/* Read a tokenizer back from any GGUF whose tokenizer is byte-level BPE (a file pd_bpe_save
 * wrote, or a model): ids as in the file; control, user-defined and unknown tokens are the
 * specials; the other texts must be in the byte alphabet and unique, and every merge must join
 * two tokens into a third. Statistics are zero. */
int pd_bpe_load(struct pd_bpe **out, const char *path, char *err);
int pd_bpe_from_gguf(struct pd_bpe **out, const struct pd_gguf *g, char *err);

#endif
