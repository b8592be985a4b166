/*
 * settings.h: ponder's configuration file: defaults for `ponder run` and `ponder chat` that their
 * command-line flags override, and the database `ponder sessions` reads.
 *
 * The file is $PONDER_CONFIG when set, else $XDG_CONFIG_HOME/ponder/config, else
 * ~/.config/ponder/config. It holds `key = value` lines; `#` starts a comment (at the start of a
 * line, or after a blank inside one); blank lines are skipped. Keys: log (on/off), db (a path;
 * ~/ is the home folder), threads, ctx, temp, top-k, top-p, min-p, repeat-penalty, seed,
 * template, think (on/off/auto), color (auto/always/never). A missing file is no configuration;
 * an unreadable one, an unknown key or a bad value is a warning naming FILE:LINE, and the rest
 * of the file still applies: the configuration never stops a command.
 */

#ifndef PD_TUI_SETTINGS_H
#define PD_TUI_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sampler.h"

enum cli_color {
    CLI_COLOR_AUTO = 0,    /* on a terminal, unless NO_COLOR is set or TERM is dumb */
    CLI_COLOR_ALWAYS,      /* even piped and with NO_COLOR (the file is the user's choice) */
    CLI_COLOR_NEVER,
};

/* Which sampler settings the file gave (bits of cli_config.sampler_set). */
enum {
    CLI_CFG_TEMP = 1 << 0,
    CLI_CFG_TOP_K = 1 << 1,
    CLI_CFG_TOP_P = 1 << 2,
    CLI_CFG_MIN_P = 1 << 3,
    CLI_CFG_REPEAT = 1 << 4,
    CLI_CFG_SEED = 1 << 5,
};

struct cli_config {
    const char *path;           /* the file read; NULL when there is none */
    int log;                    /* -1: not given; 0: off; 1: on */
    const char *db;             /* NULL: not given */
    int32_t threads, ctx;       /* 0: not given */
    unsigned sampler_set;       /* CLI_CFG_* */
    struct pd_sampler_params sp;   /* the settings given (the others at their defaults) */
    const char *template_name;  /* NULL: not given */
    const char *think;          /* "on", "off", "auto" or NULL: not given */
    enum cli_color color;
};

/* The configuration, read on the first call (later calls return the same). Warnings go to
 * stderr as "ponder CMD: warning: FILE:LINE: ...". Never NULL. */
const struct cli_config *cli_config_load(const char *cmd);

/* Set the sampler and context settings the file gave; the others are left as they are. */
void cli_config_apply(const struct cli_config *cfg, struct pd_sampler_params *sp,
                      struct pd_context_params *cp);

/* The database the file names, unless $PONDER_DB is set (the environment wins over the file):
 * then NULL, so that the store's own resolution applies. */
const char *cli_config_db(const struct cli_config *cfg);

/* Whether to colour fd: the file's color setting, auto meaning cli_use_color(fd). */
bool cli_config_color(const struct cli_config *cfg, int fd);

#endif
