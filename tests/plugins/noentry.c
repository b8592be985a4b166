/* noentry.c: a shared object without the entry symbol (tests/test-plugins). */
#include "plugins/ponder-plugin.h"

PONDER_PLUGIN_EXPORT int ponder_plugin_entrance(void);

int
ponder_plugin_entrance(void)
{
    return PONDER_PLUGIN_ABI_VERSION;
}
