/*
 * ponder-plugin.h: the plugin ABI. A plugin is a shared object that includes this header and
 * nothing else of ponder's, and exports one symbol:
 *
 *     const struct ponder_plugin *ponder_plugin_entry(void);
 *
 * which returns a pointer to a constant table (static storage, valid until the object is
 * unloaded): the ABI version it was built for, its name, version and kind, and the functions of
 * that kind. Two kinds exist:
 *
 *   PONDER_PLUGIN_REWARD   a reward function for GRPO (struct ponder_reward): scores one
 *                          completion of a prompt against the task's gold answer.
 *   PONDER_PLUGIN_AHA      an aha-moment detector (struct ponder_aha_detector): the same table
 *                          as ponder's own detectors (engine/aha.h), fed token by token.
 *
 * Names: everything here is prefixed ponder_ / PONDER_ (the program's own names are pd_), so
 * this header and ponder's engine headers can be included together.
 *
 * Versioning. PONDER_PLUGIN_ABI_VERSION changes whenever a struct below changes layout or a
 * function changes meaning; the loader refuses a plugin built for another version, naming both
 * ("x.so: ABI version 3, this ponder speaks 1"). abi_version is the first member of struct
 * ponder_plugin and stays there in every version, so the check is safe whatever the plugin was
 * built against. The entry function must do no work beyond returning the table: no allocation,
 * no I/O (the loader calls it in the ponder process, to list and check plugins).
 *
 * Rewards: the contract.
 *   - score() may be called many times, from any thread, concurrently: keep no mutable state
 *     between calls (no static buffers); it must be a pure function of its input.
 *   - Memory: every pointer in the input is borrowed for the call only; texts are UTF-8 and
 *     NUL-terminated, with their length given too where they can be long. The plugin writes the
 *     score into *score and may write a NUL-terminated message of at most msg_size bytes
 *     (msg_size >= PONDER_MSG_MAX) into msg; it must free whatever it allocates before
 *     returning. It must not print, exit, install signal handlers or keep threads.
 *   - Return value:
 *       PONDER_REWARD_OK    *score holds the reward (a finite number); msg may explain it.
 *       PONDER_REWARD_NONE  "None": this completion cannot be scored by this function (the gold
 *                           answer does not parse, the data it needs is missing); msg says why.
 *                           A completion with a None from a required reward is left out of its
 *                           group (it takes no part in the group's mean and standard deviation
 *                           and gets no advantage), and the trainer logs the message.
 *       < 0                 an error (PONDER_REWARD_EINVAL: a malformed config or extra);
 *                           treated as None, and the message is reported as an error.
 *   - ponder runs score() in a worker process with a time limit and memory limits: a plugin
 *     that crashes or hangs costs the completion it was scoring (None, "signal 11", "timed out
 *     after 2 s"), never the training run. Plugins should still be fast (microseconds to
 *     milliseconds): they run once per completion, G completions per prompt.
 *
 * Aha detectors: struct ponder_aha_detector and the structs it uses have exactly the layout of
 * engine/aha.h's struct pd_aha_detector, pd_aha_token, pd_aha_flag and pd_aha_params (and
 * engine/event.h's pd_text_span). The two sets must stay in step: change one, change the other
 * and bump both PONDER_PLUGIN_ABI_VERSION and PD_AHA_ABI_VERSION. The loader checks every
 * member's offset and size at compile time (plugins/loader.c). A detector state is used by one
 * thread at a time; different states may be used by different threads at once.
 */
#ifndef PONDER_PLUGIN_H
#define PONDER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PONDER_PLUGIN_ABI_VERSION 1
#define PONDER_PLUGIN_ENTRY "ponder_plugin_entry"   /* the one exported symbol */
#define PONDER_MSG_MAX 256        /* bytes of a score message, NUL included */
#define PONDER_ERR_MAX 512        /* bytes of a detector's err buffer (ponder's PD_ERR_MAX) */

#if defined(__GNUC__)
#define PONDER_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define PONDER_PLUGIN_EXPORT
#endif

enum ponder_plugin_kind {
    PONDER_PLUGIN_REWARD = 1,
    PONDER_PLUGIN_AHA = 2,
};

/* ---- rewards ---- */

enum ponder_reward_status {
    PONDER_REWARD_OK = 0,
    PONDER_REWARD_NONE = 1,
    PONDER_REWARD_EINVAL = -1,
};

/* One completion to score. Strings are NUL-terminated; NULL is never passed for a string (an
 * absent one is ""). */
struct ponder_reward_input {
    const char *completion;     /* what the model generated (after the prompt) */
    size_t completion_len;      /* bytes */
    const char *prompt;         /* the prompt as the model saw it (may be "") */
    size_t prompt_len;
    const char *gold;           /* the task's gold answer ("" when the task has none) */
    const char *extra;          /* the task's metadata: a JSON object ("{}" when none), e.g.
                                   {"numbers":[44,19,35],"target":28} */
    const char *config;         /* this reward's settings from the run: a JSON object ("{}"),
                                   e.g. {"mode":"cosine","max_len":1000} */
    int opened_think;           /* 1 when the prompt (the chat template) already opened the
                                   <think> block, so the completion starts inside it and only
                                   "</think>" appears in it */
    int32_t completion_tokens;  /* the completion's length in tokens; -1 when unknown */
};

struct ponder_reward {
    /* Score one completion; see the contract above. Required. */
    int (*score)(const struct ponder_reward_input *in, double *score, char *msg,
                 size_t msg_size);
};

/* ---- aha detectors: in step with engine/aha.h (see above) ---- */

enum ponder_segment {
    PONDER_SEG_THINK = 0,
    PONDER_SEG_ANSWER = 1,
    PONDER_SEG_TAG = 2,
};

#define PONDER_AHA_CUE_MAX 64
#define PONDER_AHA_ANSWER_MAX 40

struct ponder_text_span {
    enum ponder_segment segment;
    const char *text;           /* not NUL-terminated */
    size_t len;
};

struct ponder_aha_flag {
    int32_t tok_from, tok_to;   /* token indexes of the cue, both included */
    float score;                /* 0..1 */
    int state;                  /* 0 open (may still change), 1 final */
    unsigned evidence;          /* bits: 1 cue, 2 entropy, 4 answer changed, 8 answer same */
    uint32_t revision;          /* bumped at every change */
    char cue[PONDER_AHA_CUE_MAX];
    int n_cues;
    float entropy;              /* NaN: none seen */
    int32_t entropy_tok;        /* -1 none */
    float base_mean, base_std;
    int base_n;
    char answer_before[PONDER_AHA_ANSWER_MAX];
    char answer_after[PONDER_AHA_ANSWER_MAX];
    int32_t answer_before_tok, answer_after_tok;
};

struct ponder_aha_token {
    int32_t index;              /* 0 for the first generated token */
    enum ponder_segment segment;
    float entropy;              /* nats; NaN when unknown */
    float logprob;
    int n_spans;
    const struct ponder_text_span *spans;
};

/* Settings as the user gave them; a zero field means "your default". cues is ponder's own cue
 * list, opaque to plugins. */
struct ponder_aha_params {
    const void *cues;
    int window;
    float k;
    float min_rise;
    int min_base;
    int near;
    int merge_gap;
};

struct ponder_aha_detector {
    int abi_version;            /* engine/aha.h's PD_AHA_ABI_VERSION (1) */
    const char *name;
    const char *version;
    /* err: PONDER_ERR_MAX bytes, a lower-case sentence on failure */
    int (*create)(void **state, const struct ponder_aha_params *params, char *err);
    void (*destroy)(void *state);
    void (*reset)(void *state);
    int (*feed)(void *state, const struct ponder_aha_token *tok);
    int (*finish)(void *state);
    const struct ponder_aha_flag *(*flags)(void *state, size_t *n);
};

/* ---- the plugin ---- */

struct ponder_plugin {
    uint32_t abi_version;       /* PONDER_PLUGIN_ABI_VERSION; always the first member */
    uint32_t kind;              /* enum ponder_plugin_kind */
    const char *name;           /* short, [a-z0-9_-]: how runs and logs name it */
    const char *version;        /* the plugin's own version ("1.0") */
    const char *description;    /* one line for `ponder plugin list` */
    const struct ponder_reward *reward;     /* kind REWARD: required; otherwise NULL */
    const struct ponder_aha_detector *aha;  /* kind AHA: required; otherwise NULL */
};

typedef const struct ponder_plugin *(*ponder_plugin_entry_fn)(void);

/* What a plugin defines (once). */
PONDER_PLUGIN_EXPORT const struct ponder_plugin *ponder_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif
