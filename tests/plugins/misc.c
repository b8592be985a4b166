/*
 * misc.c: a reward plugin that misbehaves as its config says (tests/test-plugins):
 *   {"do":"exit"}   calls exit(3)          {"do":"print"}  prints to stdout, then scores 0.5
 *   {"do":"nan"}    scores NaN             {"do":"none"}   says None
 *   {"do":"error"}  returns an error       {"do":"alloc"}  allocates 64 GiB, touching it
 *   {"do":"slow"}   sleeps 0.2 s, scores 1  otherwise     scores the completion's length
 */
#include "plugins/ponder-plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
misc_score(const struct ponder_reward_input *in, double *score, char *msg, size_t msg_size)
{
    const char *c = in->config;
    *score = 0.0;
    if (strstr(c, "\"exit\""))
        exit(3);
    if (strstr(c, "\"print\"")) {
        printf("noise on stdout\n");
        fflush(stdout);
        *score = 0.5;
        return PONDER_REWARD_OK;
    }
    if (strstr(c, "\"nan\"")) {
        *score = NAN;
        return PONDER_REWARD_OK;
    }
    if (strstr(c, "\"none\"")) {
        snprintf(msg, msg_size, "nothing to say");
        return PONDER_REWARD_NONE;
    }
    if (strstr(c, "\"error\"")) {
        snprintf(msg, msg_size, "bad config");
        return PONDER_REWARD_EINVAL;
    }
    if (strstr(c, "\"alloc\"")) {
        size_t n = (size_t)64 << 30;
        char *p = malloc(n);
        if (p == NULL) {
            snprintf(msg, msg_size, "malloc refused");
            return PONDER_REWARD_NONE;
        }
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
        free(p);
    }
    if (strstr(c, "\"slow\"")) {
        struct timespec ts = { 0, 200000000 };
        nanosleep(&ts, NULL);
        *score = 1.0;
        return PONDER_REWARD_OK;
    }
    *score = (double)in->completion_len;
    return PONDER_REWARD_OK;
}

static const struct ponder_reward misc_reward = { .score = misc_score };
static const struct ponder_plugin misc_plugin = {
    .abi_version = PONDER_PLUGIN_ABI_VERSION,
    .kind = PONDER_PLUGIN_REWARD,
    .name = "misc",
    .version = "0",
    .description = "test: misbehaves as told",
    .reward = &misc_reward,
};

PONDER_PLUGIN_EXPORT const struct ponder_plugin *
ponder_plugin_entry(void)
{
    return &misc_plugin;
}
