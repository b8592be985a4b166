/*
 * accuracy.c: the accuracy reward (grpo.md 3.1): 1 when the marked answer (the last
 * <answer>...</answer>, else the last \boxed{}) equals the gold answer after normalization,
 * as a string or as an exact number; 0 otherwise; None when there is no gold answer.
 *
 * How it is stricter than math-verify, and the normalization itself: plugins/answer-match.h.
 * Settings: none.
 */
#include "config.h"

#include "plugins/answer-match.h"
#include "plugins/plugin-util.h"

static int
accuracy_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    bool correct;
    int rc = pp_answer_check(in, &correct, msg, msg_size);
    *score = correct ? 1.0 : 0.0;
    return rc;
}

static const struct ponder_reward accuracy_reward = { .score = accuracy_score };

static const struct ponder_plugin accuracy_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "accuracy",
    .version = "1.0",
    .description = "1 when the <answer> or last \\boxed{} equals the gold (normalized, exact)",
    .reward = &accuracy_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &accuracy_plugin;
}
