/*
 * chat-template.c: rendering a conversation in one of the known template families, and
 * recognizing the family from a GGUF's Jinja source.
 *
 * What each family reproduces, from the released Jinja templates:
 *
 *   chatml    every message, system included, as im_start + role + newline + content + im_end +
 *             newline; no BOS. SmolLM2's template inserts its own system message ("You are a
 *             helpful AI assistant named SmolLM, trained by Hugging Face") before the first
 *             message when that one is not a system message; Qwen2.5's does the same with "You
 *             are Qwen, created by Alibaba Cloud. You are a helpful assistant.". Those two are
 *             the smollm and qwen variants.
 *   r1        DeepSeek-R1 and its Qwen/Llama distills: BOS, then the system messages' contents
 *             joined by a blank line with no tag, then each user turn as the User tag + content
 *             and each assistant turn as the Assistant tag + content + end-of-sentence. An
 *             assistant content containing the think close tag keeps only what follows its last
 *             occurrence (the template splits on it and takes the last piece), so earlier
 *             reasoning never re-enters the prompt. Tool calls and tool outputs are not modelled.
 *   r1-think  the same; the newer distill templates end the generation prompt with the Assistant
 *             tag followed by the think open tag and a newline.
 *   llama3    BOS, then per message the role between start_header_id/end_header_id, a blank
 *             line, the content trimmed of surrounding whitespace (Llama 3's template applies
 *             trim) and eot_id. The Llama 3.1 "Cutting Knowledge Date" preamble is not added.
 *   r1-zero   the R1 paper's Table 1 prompt (the text in specs/grpo.md 4.1), BOS first. A system
 *             message replaces the paper's instruction. Turns continue the same plain-text
 *             dialogue: " User: {content}." for a user, " Assistant: {content}" for an assistant
 *             (kept whole, tags included, since the format is the point), and the generation
 *             prompt " Assistant:". One user message thus gives the paper's prompt exactly.
 *   none      the contents as given, concatenated.
 */
#include "config.h"

#include "engine/chat-template.h"

#include <stdlib.h>
#include <string.h>

#define TAG_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"           /* <｜User｜> */
#define TAG_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>" /* <｜Assistant｜> */
#define TAG_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

#define SMOLLM_SYSTEM "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
#define QWEN_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

#define R1_ZERO_INSTRUCTION                                                                      \
    "A conversation between User and Assistant. The user asks a question, and the Assistant "    \
    "solves it. The assistant first thinks about the reasoning process in the mind and then "     \
    "provides the user with the answer. The reasoning process and answer are enclosed within "   \
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "       \
    "process here </think> <answer> answer here </answer>."

static const char *const template_names[PD_TEMPLATE_COUNT] = {
    [PD_TEMPLATE_NONE] = "none",
    [PD_TEMPLATE_CHATML] = "chatml",
    [PD_TEMPLATE_R1] = "r1",
    [PD_TEMPLATE_R1_THINK] = "r1-think",
    [PD_TEMPLATE_LLAMA3] = "llama3",
    [PD_TEMPLATE_R1_ZERO] = "r1-zero",
    [PD_TEMPLATE_CHATML_SMOLLM] = "smollm",
    [PD_TEMPLATE_CHATML_QWEN] = "qwen",
};

/* -1 for NULL or an unknown name. */
int
pd_template_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int t = 0; t < PD_TEMPLATE_COUNT; t++)
        if (strcmp(name, template_names[t]) == 0)
            return t;
    return -1;
}

/* "?" for a value outside the enum. */
const char *
pd_template_name(enum pd_template t)
{
    if ((int)t < 0 || t >= PD_TEMPLATE_COUNT)
        return "?";
    return template_names[t];
}

/* Checked in this order: the R1 tags first, since DeepSeek templates mention nothing else the
 * others look for. */
enum pd_template
pd_template_detect(const char *src, bool *recognized)
{
    enum pd_template t = PD_TEMPLATE_CHATML;
    bool found = true;
    if (!src)
        found = false;
    else if (strstr(src, TAG_ASSISTANT "<think>"))
        t = PD_TEMPLATE_R1_THINK;
    else if (strstr(src, TAG_ASSISTANT))
        t = PD_TEMPLATE_R1;
    else if (strstr(src, "<|im_start|>"))
        t = strstr(src, "SmolLM")                               ? PD_TEMPLATE_CHATML_SMOLLM
            : strstr(src, "You are Qwen, created by Alibaba Cloud") ? PD_TEMPLATE_CHATML_QWEN
                                                                : PD_TEMPLATE_CHATML;
    else if (strstr(src, "<|start_header_id|>"))
        t = PD_TEMPLATE_LLAMA3;
    else if (strstr(src, "A conversation between User and Assistant"))
        t = PD_TEMPLATE_R1_ZERO;
    else
        found = false;
    if (recognized)
        *recognized = found;
    return t;
}

/* ---- a growing output string ---- */

struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->buf, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->buf = p;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
out_str(struct out *o, const char *s)
{
    if (s)
        out_put(o, s, strlen(s));
}

static bool
is_role(const struct pd_chat_msg *m, const char *role)
{
    return m->role && strcmp(m->role, role) == 0;
}

static const char *
content_of(const struct pd_chat_msg *m)
{
    return m->content ? m->content : "";
}

/* ---- families ---- */

static void
render_none(struct out *o, const struct pd_chat_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out_str(o, content_of(&msgs[i]));
}

static void
chatml_turn(struct out *o, const char *role, const char *content)
{
    out_str(o, "<|im_start|>");
    out_str(o, role);
    out_str(o, "\n");
    out_str(o, content);
    out_str(o, "<|im_end|>\n");
}

/* default_system: added before a first message that is not a system message (NULL: never). */
static void
render_chatml(struct out *o, const struct pd_chat_msg *msgs, size_t n, bool gen,
              const char *default_system)
{
    if (default_system && n > 0 && !is_role(&msgs[0], "system"))
        chatml_turn(o, "system", default_system);
    for (size_t i = 0; i < n; i++)
        chatml_turn(o, msgs[i].role ? msgs[i].role : "user", content_of(&msgs[i]));
    if (gen)
        out_str(o, "<|im_start|>assistant\n");
}

/* What follows the last "</think>", or all of s. */
static const char *
after_last_think(const char *s)
{
    const char *p = s, *q;
    while ((q = strstr(p, "</think>")))
        p = q + strlen("</think>");
    return p;
}

static void
render_r1(struct out *o, const struct pd_chat_msg *msgs, size_t n, bool gen, const char *bos,
          bool think)
{
    bool first_sp = true;
    out_str(o, bos);
    for (size_t i = 0; i < n; i++) {
        if (!is_role(&msgs[i], "system"))
            continue;
        if (!first_sp)
            out_str(o, "\n\n");
        out_str(o, content_of(&msgs[i]));
        first_sp = false;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_role(&msgs[i], "user")) {
            out_str(o, TAG_USER);
            out_str(o, content_of(&msgs[i]));
        } else if (is_role(&msgs[i], "assistant")) {
            out_str(o, TAG_ASSISTANT);
            out_str(o, after_last_think(content_of(&msgs[i])));
            out_str(o, TAG_EOS);
        }
    }
    if (gen)
        out_str(o, think ? TAG_ASSISTANT "<think>\n" : TAG_ASSISTANT);
}

/* Append s without leading and trailing whitespace (Jinja's trim). */
static void
out_trimmed(struct out *o, const char *s)
{
    const char *ws = " \t\n\r\f\v";
    s += strspn(s, ws);
    size_t n = strlen(s);
    while (n > 0 && strchr(ws, s[n - 1]))
        n--;
    out_put(o, s, n);
}

static void
render_llama3(struct out *o, const struct pd_chat_msg *msgs, size_t n, bool gen, const char *bos)
{
    out_str(o, bos);
    for (size_t i = 0; i < n; i++) {
        out_str(o, "<|start_header_id|>");
        out_str(o, msgs[i].role ? msgs[i].role : "user");
        out_str(o, "<|end_header_id|>\n\n");
        out_trimmed(o, content_of(&msgs[i]));
        out_str(o, "<|eot_id|>");
    }
    if (gen)
        out_str(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void
render_r1_zero(struct out *o, const struct pd_chat_msg *msgs, size_t n, bool gen,
               const char *bos)
{
    const char *instruction = R1_ZERO_INSTRUCTION;
    for (size_t i = 0; i < n; i++)
        if (is_role(&msgs[i], "system"))
            instruction = content_of(&msgs[i]);
    out_str(o, bos);
    out_str(o, instruction);
    for (size_t i = 0; i < n; i++) {
        if (is_role(&msgs[i], "user")) {
            out_str(o, " User: ");
            out_str(o, content_of(&msgs[i]));
            out_str(o, ".");
        } else if (is_role(&msgs[i], "assistant")) {
            out_str(o, " Assistant: ");
            out_str(o, content_of(&msgs[i]));
        }
    }
    if (gen)
        out_str(o, " Assistant:");
}

/* See chat-template.h. NULL content renders empty; a NULL role renders as "user" in chatml and
 * llama3, while r1 and r1-zero skip roles other than system, user and assistant. Caller frees
 * the result. */
char *
pd_template_apply(enum pd_template t, const struct pd_chat_msg *msgs, size_t n,
                  bool add_generation_prompt, const char *bos, bool *opened_think)
{
    struct out o = {0};
    bool opened = false;
    out_put(&o, "", 0); /* an empty conversation still yields "" */
    switch (t) {
    case PD_TEMPLATE_CHATML:
        render_chatml(&o, msgs, n, add_generation_prompt, NULL);
        break;
    case PD_TEMPLATE_CHATML_SMOLLM:
        render_chatml(&o, msgs, n, add_generation_prompt, SMOLLM_SYSTEM);
        break;
    case PD_TEMPLATE_CHATML_QWEN:
        render_chatml(&o, msgs, n, add_generation_prompt, QWEN_SYSTEM);
        break;
    case PD_TEMPLATE_R1:
    case PD_TEMPLATE_R1_THINK:
        opened = t == PD_TEMPLATE_R1_THINK && add_generation_prompt;
        render_r1(&o, msgs, n, add_generation_prompt, bos, opened);
        break;
    case PD_TEMPLATE_LLAMA3:
        render_llama3(&o, msgs, n, add_generation_prompt, bos);
        break;
    case PD_TEMPLATE_R1_ZERO:
        render_r1_zero(&o, msgs, n, add_generation_prompt, bos);
        break;
    case PD_TEMPLATE_NONE:
    default:
        render_none(&o, msgs, n);
        break;
    }
    if (opened_think)
        *opened_think = opened;
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
