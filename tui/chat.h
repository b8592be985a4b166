/*
 * chat.h: what the files of `ponder chat` share: the chat's state (options, the model and its
 * context, the conversation, the session it is recorded in), the generation of one reply
 * (chat-gen.c) and line input with history (chat-line.c). cmd-chat.c holds the command itself:
 * options, the loop, and the slash commands.
 */
#ifndef PD_TUI_CHAT_H
#define PD_TUI_CHAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/chat-template.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/sampler.h"

struct pd_store;

enum chat_think {
    CHAT_THINK_AUTO = 0,   /* stream the thoughts, fold them to one line when they end */
    CHAT_THINK_ON,         /* show the thoughts in full */
    CHAT_THINK_OFF,        /* show only the fold line */
};

/* One message of the conversation. For an assistant, text is what the model wrote, think tags
 * included (as the store keeps it). */
struct chat_msg {
    char *role;
    char *text;
    char *think, *answer;      /* assistant: the two segments apart ("" when none) */
    int n_think;               /* assistant: thought tokens */
    double think_s;
};

struct chat {
    /* options */
    const char *model_path, *db, *system, *template_name;
    struct pd_sampler_params sp;
    struct pd_context_params cp;
    long n_predict;
    enum chat_think think;
    bool keep_thinking, no_log;
    /* the terminal */
    bool tty_in, tty_out, color;
    /* the model */
    struct pd_model *m;
    struct pd_context *ctx;
    bool raw;                  /* --template none: the messages' text, concatenated */
    enum pd_template tmpl;
    int32_t *cached;           /* the tokens the KV cache holds, in order */
    size_t n_cached, cap_cached;
    unsigned n_replies;        /* replies generated: the seed of each is seed + n_replies */
    /* the conversation (the system message, if any, is msgs[0]) */
    struct chat_msg *msgs;
    size_t n_msgs, cap_msgs;
    /* the store: NULL with --no-log or when it cannot be opened */
    struct pd_store *st;
    int64_t model_id;
    int64_t session;           /* 0: not created yet (it is, with the first turn) */
    char *title;               /* the session's title, or the one /title gave before it exists */
};

/* Set from the SIGINT handler: stops a reply; at the prompt, clears the line. */
extern atomic_bool chat_interrupted;

/* Abort-on-OOM helpers for the UI. */
void *chat_xmalloc(size_t n);
void *chat_xrealloc(void *p, size_t n);
char *chat_xstrdup(const char *s);

/* ---- the conversation (chat-gen.c) ---- */

/* ---- the options chat and the workbench share (chat-opts.c) ---- */

enum {
    CHAT_OPT_TEMPLATE = 1200,
    CHAT_OPT_PRECISE,
    CHAT_OPT_KEEP_THINKING,
    CHAT_OPT_DB,
    CHAT_OPT_NO_LOG,
    CHAT_OPT_LOG,
};

#define CHAT_SHORTOPTS "m:s:n:c:t:h"
#define CHAT_LONGOPTS                                                       \
    { "model", required_argument, NULL, 'm' },                              \
    { "system", required_argument, NULL, 's' },                             \
    { "n-predict", required_argument, NULL, 'n' },                          \
    { "ctx-size", required_argument, NULL, 'c' },                           \
    { "threads", required_argument, NULL, 't' },                            \
    CLI_SAMPLER_LONGOPTS,                                                   \
    CLI_DEVICE_LONGOPTS,                                                    \
    CLI_LORA_LONGOPTS,                                                      \
    { "template", required_argument, NULL, CHAT_OPT_TEMPLATE },             \
    { "precise", no_argument, NULL, CHAT_OPT_PRECISE },                     \
    { "keep-thinking", no_argument, NULL, CHAT_OPT_KEEP_THINKING },         \
    { "db", required_argument, NULL, CHAT_OPT_DB },                         \
    { "no-log", no_argument, NULL, CHAT_OPT_NO_LOG },                       \
    { "log", no_argument, NULL, CHAT_OPT_LOG }

struct cli_config;

/* The defaults of c's options, the configuration file's section cmd ("chat", "tui") over the
 * built-in ones; the configuration, for the keys the caller reads itself. */
const struct cli_config *chat_opts_defaults(struct chat *c, const char *cmd);

/* One option of CHAT_LONGOPTS: EXIT_OK when taken, EXIT_USAGE on a bad value (said), 1 when it
 * is not one of them. */
int chat_opts_parse(struct chat *c, const char *cmd, int opt, const char *arg);

/* Once parsed: EXIT_OK, or EXIT_USAGE for an unknown template (said). */
int chat_opts_check(const struct chat *c, const char *cmd);

/* Append a message (copies); think/answer may be NULL. */
struct chat_msg *chat_push(struct chat *c, const char *role, const char *text);
/* Forget messages from i on. */
void chat_truncate(struct chat *c, size_t i);

/* Generate the assistant's reply to the conversation as it stands, streaming it to stdout and
 * recording it in the session; appends it to the conversation (even when interrupted). 0, or
 * -1 after a message on stderr (the conversation is then unchanged). */
int chat_reply(struct chat *c);

/* Before a new question: R1-Zero's template is one question (the paper's, and what ponder's
 * own models are trained on), so with it earlier turns leave the prompt; they stay in the
 * session. Other templates keep the conversation. */
void chat_one_question(struct chat *c);

/* A reply's prompt: the conversation rendered through the template and tokenized, with the
 * KV cache's common prefix kept (ids[0..keep) are already in the context). */
struct chat_prompt {
    int32_t *ids;
    size_t n, keep;
    bool opened;               /* the template opened <think> */
};

/* Render, tokenize and reuse the cache; 0, or a PD_E* with err filled (PD_ERANGE when the
 * conversation no longer fits the context). */
int chat_prompt_prepare(struct chat *c, struct chat_prompt *p, char *err);
/* The reply's sampler (seed + replies so far), fed the kept prompt; json (may be NULL) gets the
 * settings as a JSON object for the store. */
struct pd_sampler *chat_sampler_new(struct chat *c, const struct chat_prompt *p, char *json,
                                    size_t json_size);
/* After the reply: remember what the context holds (prompt, then the generated ids); frees ids. */
void chat_prompt_done(struct chat *c, struct chat_prompt *p, const int32_t *gen, size_t n_gen);

/* The fold line for a thought: "▸ thought 12.4 s · 812 tokens", dimmed when colours are on. */
void chat_print_fold(const struct chat *c, double secs, int tokens, const char *note);

/* The session to record in, created on first use; false (after a warning) when the store is off
 * or the write failed. */
bool chat_session_ensure(struct chat *c, const char *first_user_text);

/* ---- input (chat-line.c) ---- */

/* Set up line editing and history (on a terminal). */
void chat_line_init(struct chat *c);
/* The next line, malloc'd, without its newline; NULL at end of input. *cleared is set when
 * Ctrl-C emptied the line (the caller asks again). */
char *chat_line_read(struct chat *c, bool *cleared);
/* Remember a line in the history (and save the history file). */
void chat_line_remember(struct chat *c, const char *line);
void chat_line_done(struct chat *c);

#endif
