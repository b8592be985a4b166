/*
 * plugin-util.h: what the built-in plugins share (compiled into each .so; none of it is
 * exported): reading settings from the small JSON objects of struct ponder_reward_input, finding
 * text, and cutting a completion into its thoughts and its answer.
 *
 * Settings are looked up in the reward's config first, then in the task's extra, so a run can
 * fix a value for every prompt ({"max_len":1000} in config) or a task can carry it per prompt
 * ({"numbers":[3,5,7]} in extra).
 */
#ifndef PD_PLUGIN_UTIL_H
#define PD_PLUGIN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "plugins/ponder-plugin.h"

#define PP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Lookup results. */
enum {
    PP_FOUND = 0,
    PP_ABSENT = 1,
    PP_BAD = -1,   /* malformed JSON, or the value is not of the type asked for */
};

/* The raw text of member key of the top-level JSON object json (not nested ones): *val points
 * at the value's first character, *len spans it. */
int pp_json_get(const char *json, const char *key, const char **val, size_t *len);
int pp_json_number(const char *json, const char *key, double *out);
int pp_json_bool(const char *json, const char *key, bool *out);
/* A string value, unescaped (\uXXXX as UTF-8), into buf of cap bytes (PP_BAD when too long). */
int pp_json_string(const char *json, const char *key, char *buf, size_t cap);
/* An array of integers, at most cap of them. */
int pp_json_ints(const char *json, const char *key, long long *out, int cap, int *n);

/* The same, looked up in in->config, then in in->extra. Where found is reported into *where
 * ("config" / "extra") when where is not NULL. */
int pp_opt_number(const struct ponder_reward_input *in, const char *key, double *out);
int pp_opt_bool(const struct ponder_reward_input *in, const char *key, bool *out);
int pp_opt_string(const struct ponder_reward_input *in, const char *key, char *buf, size_t cap);
int pp_opt_ints(const struct ponder_reward_input *in, const char *key, long long *out, int cap,
                int *n);

/* First / last occurrence of needle in hay[0..n); NULL when none. */
const char *pp_find(const char *hay, size_t n, const char *needle);
const char *pp_find_last(const char *hay, size_t n, const char *needle);
/* How many times needle occurs (not overlapping). */
int pp_count(const char *hay, size_t n, const char *needle);

/*
 * The completion cut into thoughts and answer:
 *   - the thoughts start at 0 when the template opened <think> (in->opened_think), after a
 *     leading "<think>" (white space before it allowed) otherwise;
 *   - they end at the first "</think>"; the answer is what follows it;
 *   - no "</think>": the thoughts run to the end and the answer is empty (closed = false); with
 *     no think block at all the thoughts are empty and the whole completion is the answer.
 */
struct pp_parts {
    const char *think, *answer;
    size_t think_len, answer_len;
    bool opened, closed;   /* a think block was open / was closed */
};
void pp_split(const struct ponder_reward_input *in, struct pp_parts *out);

/* snprintf into a message buffer; returns status, so `return pp_msg(msg, n, PONDER_REWARD_NONE,
 * "no gold answer")` reads well. */
int pp_msg(char *msg, size_t size, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Characters (UTF-8 code points) in s[0..n). */
size_t pp_utf8_len(const char *s, size_t n);

#endif
