/*
 * pretok.h: the pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre).
 *
 * A pre-tokenizer cuts text into pieces that BPE then encodes one at a time. llama.cpp and
 * Hugging Face express each as a list of regexes applied in turn: every regex splits each piece
 * of the previous step into its matches and the text between them (kept as pieces too). Here
 * each regex is a hand-written matcher with the same leftmost-first semantics as the regex
 * engine, over code points whose Unicode classes were looked up once.
 */
#ifndef PD_PRETOK_H
#define PD_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum pd_pretok {
    PD_PRETOK_DEFAULT,   /* llama.cpp's fallback: punctuation runs, gpt2, numbers, digit triples */
    PD_PRETOK_GPT2,      /* 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PD_PRETOK_LLAMA3,    /* llama-bpe: letters with one leading non-letter, \p{N}{1,3}, ... */
    PD_PRETOK_QWEN2,     /* as llama3 with single digits */
    PD_PRETOK_DEEPSEEK3, /* \p{N}{1,3}, then CJK runs, then the deepseek-v3 word regex */
    PD_PRETOK_SMOLLM,    /* \p{N} (single digits), then gpt2; also starcoder, refact, ... */
    PD_PRETOK_COUNT
};

/* The pre-tokenizer a tokenizer.ggml.pre name selects; -1 when unknown. NULL or "" is default. */
int pd_pretok_from_name(const char *name);
const char *pd_pretok_name(enum pd_pretok p);

/* Split cps[0..n) (flags[i] = pd_unicode_flags(cps[i])) into pieces. Writes the end offset of
 * each piece, in code points and increasing, into ends (room for n entries) and returns the
 * count. tmp is scratch of n entries. */
size_t pd_pretok_split(enum pd_pretok p, const uint32_t *cps, const uint8_t *flags, size_t n,
                       size_t *ends, size_t *tmp);

#endif
