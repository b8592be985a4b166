/* badabi.c: a plugin built for an ABI version ponder does not speak (tests/test-plugins). */
#include "plugins/ponder-plugin.h"

static const struct ponder_plugin badabi_plugin = {
    .abi_version = 3,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "badabi",
    .version = "0",
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &badabi_plugin;
}
