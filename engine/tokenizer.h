/*
 * tokenizer.h: text to token ids and back, from a GGUF file's tokenizer metadata.
 *
 * Two models, as llama.cpp reads them:
 *   - tokenizer.ggml.model = "gpt2": byte-level BPE (tokens are strings over the GPT-2 byte
 *     alphabet, merges ranked by their order in tokenizer.ggml.merges), preceded by the
 *     pre-tokenizer that tokenizer.ggml.pre names (default/gpt2, llama-bpe, qwen2,
 *     deepseek-r1-qwen, deepseek-v3, smollm, ...);
 *   - tokenizer.ggml.model = "llama": SentencePiece BPE over scores, with byte fallback
 *     (<0xAB> tokens) and the leading-space rule (add_space_prefix).
 *
 * Control tokens are matched in the text before BPE when PD_TOK_PARSE_SPECIAL is given;
 * user-defined tokens always are (as llama.cpp and Hugging Face do). add_bos/add_eos follow
 * tokenizer.ggml.add_bos_token / add_eos_token when PD_TOK_ADD_SPECIAL is given.
 *
 * Detokenization: pd_tokenizer_piece gives the exact bytes a token stands for (a byte-level
 * token's bytes, a SentencePiece token with its U+2581 turned back into a space, a byte-fallback
 * token's single byte). Joining the pieces of an encoding gives back the text byte for byte. A
 * token may end in the middle of a UTF-8 character; struct pd_utf8_stream holds such a tail until
 * the character completes, so a streaming consumer only ever sees whole characters.
 */
#ifndef PD_TOKENIZER_H
#define PD_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

struct pd_tokenizer;

enum pd_tok_flags {
    PD_TOK_ADD_SPECIAL = 1 << 0,   /* add BOS/EOS as the vocabulary's metadata asks */
    PD_TOK_PARSE_SPECIAL = 1 << 1, /* "<|im_start|>" in the text becomes that token */
};

/* ggml's token types (tokenizer.ggml.token_type). */
enum pd_token_type {
    PD_TOKEN_TYPE_UNDEFINED = 0,
    PD_TOKEN_TYPE_NORMAL = 1,
    PD_TOKEN_TYPE_UNKNOWN = 2,
    PD_TOKEN_TYPE_CONTROL = 3,
    PD_TOKEN_TYPE_USER_DEFINED = 4,
    PD_TOKEN_TYPE_UNUSED = 5,
    PD_TOKEN_TYPE_BYTE = 6,
};

/* Build from g's metadata. An unknown tokenizer.ggml.model or pre-tokenizer is PD_EUNSUPPORTED
 * with its name in err. The tokenizer copies what it needs; g may be closed afterwards. */
int pd_tokenizer_load(struct pd_tokenizer **out, const struct pd_gguf *g, char *err);
void pd_tokenizer_free(struct pd_tokenizer *tok);

/* Encode len bytes of text. *out is malloc'd (caller frees) and holds *n_out ids. */
int pd_tokenizer_encode(const struct pd_tokenizer *tok, const char *text, size_t len,
                        unsigned flags, int32_t **out, size_t *n_out, char *err);

/* The bytes token id stands for; *len set. Control tokens give their text ("<|im_end|>").
 * An id out of range gives "" and *len = 0. */
const char *pd_tokenizer_piece(const struct pd_tokenizer *tok, int32_t id, size_t *len);

int32_t pd_tokenizer_n_vocab(const struct pd_tokenizer *tok);
enum pd_token_type pd_tokenizer_type(const struct pd_tokenizer *tok, int32_t id);
int32_t pd_tokenizer_bos(const struct pd_tokenizer *tok); /* -1 when none */
int32_t pd_tokenizer_eos(const struct pd_tokenizer *tok); /* -1 when none */

/* End of generation: eos, eot, eom and the template's end-of-turn tokens (<|im_end|>,
 * <|eot_id|>, <｜end▁of▁sentence｜>, ...). */
bool pd_tokenizer_is_eog(const struct pd_tokenizer *tok, int32_t id);

/* The id of the token whose text is exactly s, or -1. */
int32_t pd_tokenizer_find(const struct pd_tokenizer *tok, const char *s);

/* The model and pre-tokenizer names ("gpt2", "smollm"), for ponder model info. */
const char *pd_tokenizer_model_name(const struct pd_tokenizer *tok);
const char *pd_tokenizer_pre_name(const struct pd_tokenizer *tok);

/* Streaming UTF-8: feed bytes, get back the longest prefix of complete characters. */
struct pd_utf8_stream {
    char pending[8];
    int n_pending;
};

/* Append the bytes of in (n bytes) to the stream; write complete characters to out (which must
 * hold n + 8 bytes) and return how many bytes were written. Invalid sequences pass through as
 * U+FFFD so the output is always valid UTF-8. */
size_t pd_utf8_stream_feed(struct pd_utf8_stream *s, const char *in, size_t n, char *out);
/* Flush what is pending at the end of a stream (incomplete bytes become U+FFFD). */
size_t pd_utf8_stream_flush(struct pd_utf8_stream *s, char *out);

#endif
