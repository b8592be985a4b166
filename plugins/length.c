/*
 * length.c: length-aware rewards (grpo.md 3.6).
 *
 * "mode": "cosine" (default; Demystifying Long CoT, as TRL and open-r1):
 *     R = v_min + (v_max - v_min) / 2 * (1 + cos(pi * min(L / max_len, 1)))
 *   correct: (v_min, v_max) = (min_value_correct, max_value_correct) = (0.5, 1.0): shorter is
 *   better; wrong: (max_value_wrong, min_value_wrong) = (-0.5, -1.0): a short wrong answer is
 *   punished more than a long one. Correctness is "correct" (a boolean in config or extra) when
 *   given, else the accuracy plugin's check against the gold (plugins/answer-match.h; no gold:
 *   None). max_len defaults to 1000 (open-r1's).
 * "mode": "overlong" (DAPO's soft overlong punishment), with max_len (L_max, 20480) and cache
 *   (L_cache, 4096):
 *     0                                 L <= L_max - L_cache
 *     ((L_max - L_cache) - L) / L_cache L_max - L_cache < L <= L_max   (0 down to -1)
 *     -1                                L > L_max
 *
 * L is in->completion_tokens when the caller knows it (TRL counts tokens), else the
 * completion's characters (open-r1 counts characters); the message says which.
 */
#include "config.h"

#include "plugins/answer-match.h"
#include "plugins/plugin-util.h"

#include <math.h>
#include <string.h>

/* A number setting with its default; false (and a message) when malformed. */
static bool
setting(const struct ponder_reward_input *in, const char *key, double def, double *out,
        char *msg, size_t msg_size)
{
    *out = def;
    if (pp_opt_number(in, key, out) == PP_BAD) {
        pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "\"%s\" must be a number", key);
        return false;
    }
    return true;
}

static int
cosine(const struct ponder_reward_input *in, double L, const char *unit, double *score,
       char *msg, size_t msg_size)
{
    double max_len, minc, maxc, minw, maxw;
    if (!setting(in, "max_len", 1000, &max_len, msg, msg_size) ||
        !setting(in, "min_value_correct", 0.5, &minc, msg, msg_size) ||
        !setting(in, "max_value_correct", 1.0, &maxc, msg, msg_size) ||
        !setting(in, "min_value_wrong", -1.0, &minw, msg, msg_size) ||
        !setting(in, "max_value_wrong", -0.5, &maxw, msg, msg_size))
        return PONDER_REWARD_EINVAL;
    if (!(max_len > 0))
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "\"max_len\" must be positive");
    bool correct;
    int rc = pp_opt_bool(in, "correct", &correct);
    if (rc == PP_BAD)
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "\"correct\" must be true or false");
    if (rc == PP_ABSENT) {
        char why[PONDER_MSG_MAX];
        if (pp_answer_check(in, &correct, why, sizeof why) != PONDER_REWARD_OK)
            return pp_msg(msg, msg_size, PONDER_REWARD_NONE, "%s", why);
    }
    double lo = correct ? minc : maxw, hi = correct ? maxc : minw;
    double progress = fmin(L / max_len, 1.0);
    *score = lo + 0.5 * (hi - lo) * (1.0 + cos(M_PI * progress));
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "%s, L=%.0f %s of max_len %g",
                  correct ? "correct" : "wrong", L, unit, max_len);
}

static int
overlong(const struct ponder_reward_input *in, double L, const char *unit, double *score,
         char *msg, size_t msg_size)
{
    double max_len, cache;
    if (!setting(in, "max_len", 20480, &max_len, msg, msg_size) ||
        !setting(in, "cache", 4096, &cache, msg, msg_size))
        return PONDER_REWARD_EINVAL;
    if (!(cache > 0) || !(max_len > cache))
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL,
                      "need 0 < \"cache\" < \"max_len\" (got %g, %g)", cache, max_len);
    double expected = max_len - cache;
    const char *zone;
    if (L <= expected) {
        *score = 0.0;
        zone = "within";
    } else if (L <= max_len) {
        *score = (expected - L) / cache;
        zone = "in the cache window of";
    } else {
        *score = -1.0;
        zone = "past";
    }
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "L=%.0f %s, %s max_len %g (cache %g)", L,
                  unit, zone, max_len, cache);
}

static int
length_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    char mode[16] = "cosine";
    *score = 0.0;
    if (pp_opt_string(in, "mode", mode, sizeof mode) == PP_BAD)
        return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL, "\"mode\" must be a string");
    bool tokens = in->completion_tokens >= 0;
    double L = tokens ? (double)in->completion_tokens
                      : (double)pp_utf8_len(in->completion, in->completion_len);
    const char *unit = tokens ? "tokens" : "chars";
    if (strcmp(mode, "cosine") == 0)
        return cosine(in, L, unit, score, msg, msg_size);
    if (strcmp(mode, "overlong") == 0 || strcmp(mode, "dapo") == 0)
        return overlong(in, L, unit, score, msg, msg_size);
    return pp_msg(msg, msg_size, PONDER_REWARD_EINVAL,
                  "unknown \"mode\" '%s' (cosine or overlong)", mode);
}

static const struct ponder_reward length_reward = { .score = length_score };

static const struct ponder_plugin length_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "length",
    .version = "1.0",
    .description = "cosine length reward by correctness, or DAPO's soft overlong penalty",
    .reward = &length_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &length_plugin;
}
