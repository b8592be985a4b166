/* hang.c: a reward plugin that never returns (tests/test-plugins). */
#include "plugins/ponder-plugin.h"

static int
hang_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    volatile unsigned long spin = 0;
    for (;;)
        spin++;
    return PONDER_REWARD_OK;
}

static const struct ponder_reward hang_reward = { .score = hang_score };
static const struct ponder_plugin hang_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "hang",
    .version = "0",
    .description = "test: loops forever",
    .reward = &hang_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &hang_plugin;
}
