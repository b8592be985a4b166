/*
 * countdown.c: TinyZero's countdown reward (grpo.md 3.3): 1.0 for a right equation on the
 * completion's last line, 0.1 for an answer that is there but wrong or invalid, 0 for none.
 *
 * The scoring is engine/train/task-score.c itself (compiled into this plugin from the same
 * source, see plugins/local.mk), so evaluation, `ponder task score` and training agree to the
 * last byte. The completion is scored alone, as if it followed "Assistant:" (TinyZero scores
 * the text after the prompt's "Assistant:", which is the completion).
 *
 * Data (config, then extra): "numbers": [44,19,35] (required) and the target: "target": 28, else
 * the gold answer. Missing or malformed: None.
 */
#include "config.h"

#include "engine/train/task.h"
#include "plugins/plugin-util.h"

#include <stdlib.h>

static int
countdown_score(const struct ponder_reward_input *in, double *score, char *msg,
                size_t msg_size)
{
    long long nums[PD_TASK_MAX_NUMS + 1];
    int n = 0;
    double t;
    long long target;
    *score = 0.0;
    int rc = pp_opt_ints(in, "numbers", nums, PD_TASK_MAX_NUMS + 1, &n);
    if (rc == PP_ABSENT)
        return pp_msg(msg, msg_size, PONDER_REWARD_NONE, "no \"numbers\" in the task's extra");
    if (rc == PP_BAD || n < 1 || n > PD_TASK_MAX_NUMS)
        return pp_msg(msg, msg_size, PONDER_REWARD_NONE,
                      "\"numbers\" must be a list of 1 to %d integers", PD_TASK_MAX_NUMS);
    rc = pp_opt_number(in, "target", &t);
    if (rc == PP_FOUND) {
        target = (long long)t;
        if ((double)target != t)
            return pp_msg(msg, msg_size, PONDER_REWARD_NONE, "the target %g is not whole", t);
    } else {
        char *end;
        target = strtoll(in->gold, &end, 10);
        while (*end == ' ' || *end == '\n')
            end++;
        if (end == in->gold || *end != '\0')
            return pp_msg(msg, msg_size, PONDER_REWARD_NONE,
                          "no target: neither \"target\" nor a whole gold answer");
    }
    int ints[PD_TASK_MAX_NUMS];
    for (int i = 0; i < n; i++)
        ints[i] = (int)nums[i];
    *score = pd_task_score_countdown_completion(in->completion, in->completion_len, ints, n,
                                                target);
    return pp_msg(msg, msg_size, PONDER_REWARD_OK, "%s",
                  *score >= 1.0   ? "right"
                  : *score > 0.0 ? "an answer on the last line, but wrong or invalid"
                                 : "no <answer> on the last line");
}

static const struct ponder_reward countdown_reward = { .score = countdown_score };

static const struct ponder_plugin countdown_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "countdown",
    .version = "1.0",
    .description = "TinyZero's countdown score: 1 right, 0.1 wrong or invalid, 0 no answer",
    .reward = &countdown_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &countdown_plugin;
}
