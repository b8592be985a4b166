/*
 * format.c: the format reward (grpo.md 3.2): R1-Zero's tags, 1 or 0.
 *
 * The completion must read "<think> ... </think> <answer> ... </answer>": one <think> (given by
 * the template when in->opened_think, in which case the completion must not repeat it), one
 * </think>, then only white space before the one <answer>, one </answer>, then only white
 * space to the end. White space before <think> is allowed (completions after "Assistant:"
 * often begin with a space). Stricter than open-r1's format_reward, whose MULTILINE '$' lets
 * trailing lines after </answer> pass; and not thrown by a prefilled <think>, which makes a
 * regex anchored on "^<think>" score every completion 0 (grpo.md 7.4).
 *
 * Settings (config, then extra):
 *   "tags": "think+answer" (default) or "think": the latter asks only for the think block and
 *           a non-empty answer after it, for templates that answer in \boxed{} (R1's chat).
 * The message names the first rule broken.
 */
#include "config.h"

#include "plugins/plugin-util.h"

#include <string.h>

static bool
blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            return false;
    return true;
}

static int
format_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    char tags[32] = "think+answer";
    int rc = pp_opt_string(in, "tags", tags, sizeof tags);
    bool need_answer = strcmp(tags, "think+answer") == 0;
    *score = 0.0;
    if (rc == PP_BAD || (!need_answer && strcmp(tags, "think") != 0))
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL,
                      "\"tags\" must be \"think+answer\" or \"think\"");
    const char *c = in->completion;
    size_t n = in->completion_len;
    struct pp_parts p;
    pp_split(in, &p);
    int opens = pp_count(c, n, "<think>") + (in->opened_think ? 1 : 0);
    if (!p.opened)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "does not start with <think>");
    if (opens > 1)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "<think> %s",
                      in->opened_think ? "repeated after the template opened it"
                                       : "more than once");
    if (!p.closed)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no </think>");
    if (pp_count(c, n, "</think>") > 1)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "</think> more than once");
    const char *a = p.answer, *e = c + n;
    if (!need_answer) {
        if (blank(a, p.answer_len))
            return pp_msg(msg, msg_size, PONDER_REWARD_OK, "nothing after </think>");
        *score = 1.0;
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "think block, then an answer");
    }
    const char *ao = pp_find(a, p.answer_len, "<answer>");
    if (ao == NULL)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no <answer> after </think>");
    if (!blank(a, (size_t)(ao - a)))
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "text between </think> and <answer>");
    if (pp_count(c, n, "<answer>") > 1 || pp_count(c, n, "</answer>") > 1)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "more than one <answer> or </answer>");
    const char *ac = pp_find(ao, (size_t)(e - ao), "</answer>");
    if (ac == NULL)
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "no </answer>");
    if (!blank(ac + 9, (size_t)(e - ac - 9)))
        return pp_msg(msg, msg_size, PONDER_REWARD_OK, "text after </answer>");
    *score = 1.0;
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "<think>...</think> <answer>...</answer>");
}

static const struct ponder_reward format_reward = { .score = format_score };

static const struct ponder_plugin format_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "format",
    .version = "1.0",
    .description = "1 for R1-Zero's <think>...</think> <answer>...</answer> (prefilled <think> ok)",
    .reward = &format_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &format_plugin;
}
