/*
 * chat-template.h: turning a conversation into the prompt text a model was trained on, and
 * splitting what it writes back into its think and answer segments.
 *
 * ponder does not run Jinja. It recognizes the template a GGUF carries
 * (tokenizer.chat_template) as one of the families it knows and renders that family in C:
 *   chatml    <|im_start|>role\n...<|im_end|>\n          (Qwen, SmolLM, many others)
 *   r1        <｜begin▁of▁sentence｜>{system}<｜User｜>...<｜Assistant｜>   (DeepSeek-R1 and
 *             its distills; earlier assistant turns lose their <think>...</think>, as R1's
 *             template does)
 *   r1-think  r1, with the generation prompt opening "<think>\n" for the model (the newer R1
 *             distill templates do this)
 *   llama3    <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
 *   r1-zero   the DeepSeek-R1-Zero paper's prompt: "A conversation between User and Assistant.
 *             ... <think> </think> and <answer> </answer> tags ..." then "User: {prompt}.
 *             Assistant:"
 *   smollm, qwen  chatml, adding the default system message SmolLM2's or Qwen2.5's template
 *             inserts when the conversation does not start with one
 * --template NAME overrides the guess.
 */
#ifndef PD_CHAT_TEMPLATE_H
#define PD_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

enum pd_template {
    PD_TEMPLATE_NONE = 0, /* raw: the prompt as given */
    PD_TEMPLATE_CHATML,
    PD_TEMPLATE_R1,
    PD_TEMPLATE_R1_THINK,
    PD_TEMPLATE_LLAMA3,
    PD_TEMPLATE_R1_ZERO,
    PD_TEMPLATE_CHATML_SMOLLM, /* chatml adding SmolLM2's default system message */
    PD_TEMPLATE_CHATML_QWEN,   /* chatml adding Qwen2.5's default system message */
    PD_TEMPLATE_COUNT
};

struct pd_chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
};

/* "chatml" -> PD_TEMPLATE_CHATML; -1 for an unknown name. */
int pd_template_from_name(const char *name);
const char *pd_template_name(enum pd_template t);

/* Recognize a Jinja template source by its markers; PD_TEMPLATE_CHATML when src is NULL or not
 * recognized (and *recognized, if given, set false). */
enum pd_template pd_template_detect(const char *src, bool *recognized);

/* Render msgs[0..n) into a malloc'd string (caller frees). With add_generation_prompt the text
 * ends where the assistant's reply begins. *opened_think (may be NULL) is set when the rendered
 * prompt itself opened a <think> block the model is expected to continue. bos is the text of the
 * BOS token to prepend where the family does (NULL: none). NULL on allocation failure. */
char *pd_template_apply(enum pd_template t, const struct pd_chat_msg *msgs, size_t n,
                        bool add_generation_prompt, const char *bos, bool *opened_think);

/* ---- think/answer splitting ----
 *
 * Fed the generated text piece by piece, tells which segment each byte belongs to. The tags
 * themselves ("<think>", "</think>") are reported as PD_SEG_TAG so a display can hide them. A tag
 * split across pieces is handled: bytes that might begin a tag are held back until they can be
 * decided (pd_think_split_flush releases them at the end). */
enum pd_segment {
    PD_SEG_THINK = 0,
    PD_SEG_ANSWER = 1,
    PD_SEG_TAG = 2,
};

struct pd_think_split {
    int state;        /* private */
    char held[16];
    int n_held;
};

/* opened: the prompt already opened <think> (so generation starts inside the think segment). */
void pd_think_split_init(struct pd_think_split *ts, bool opened);

/* Called for each run of bytes with its segment, in order. */
typedef void (*pd_segment_fn)(void *ctx, enum pd_segment seg, const char *text, size_t len);

/* Feed len bytes; emit() is called zero or more times. Returns the segment the stream is in after
 * these bytes (think or answer). */
enum pd_segment pd_think_split_feed(struct pd_think_split *ts, const char *text, size_t len,
                                    pd_segment_fn emit, void *ctx);
void pd_think_split_flush(struct pd_think_split *ts, pd_segment_fn emit, void *ctx);

#endif
