/* aha.c: an aha-detector plugin that flags nothing (tests/test-plugins: a plugin of the other
 * kind, handed to the engine through engine/aha.h's table). */
#include "plugins/ponder-plugin.h"

#include <stdlib.h>

struct state {
    int tokens;
};

static int
none_create(void **state, const struct ponder_aha_params *params, char *err)
{
    *state = calloc(1, sizeof(struct state));
    return *state ? 0 : -2;
}

static void none_destroy(void *state) { free(state); }
static void none_reset(void *state) { ((struct state *)state)->tokens = 0; }

static int
none_feed(void *state, const struct ponder_aha_token *tok)
{
    ((struct state *)state)->tokens++;
    return 0;
}

static int none_finish(void *state) { return 0; }

static const struct ponder_aha_flag *
none_flags(void *state, size_t *n)
{
    *n = 0;
    return NULL;
}

static const struct ponder_aha_detector none_detector = {
    .abi_version = 1,
    .name = "none",
    .version = "0",
    .create = none_create,
    .destroy = none_destroy,
    .reset = none_reset,
    .feed = none_feed,
    .finish = none_finish,
    .flags = none_flags,
};

static const struct ponder_plugin aha_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_AHA,
    .name = "none",
    .version = "0",
    .description = "test: an aha detector that flags nothing",
    .aha = &none_detector,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &aha_plugin;
}
