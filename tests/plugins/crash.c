/* crash.c: a reward plugin that dies of SIGSEGV on every completion (tests/test-plugins). */
#include "plugins/ponder-plugin.h"

#include <signal.h>

static int
crash_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    /* raise() rather than a NULL write: the compiler may not drop it, a sanitizer cannot
     * catch it first. */
    raise(SIGSEGV);
    *score = 1.0;
    return PONDER_REWARD_OK;
}

static const struct ponder_reward crash_reward = { .score = crash_score };
static const struct ponder_plugin crash_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "crash",
    .version = "0",
    .description = "test: segfaults",
    .reward = &crash_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &crash_plugin;
}
