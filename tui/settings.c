/*
 * settings.c: reading ponder's configuration file once per process.
 *
 * Each line is checked on its own: a line that is not `key = value`, an unknown key or a value
 * out of range is one warning naming the file and line, and is skipped; everything else in the
 * file still applies. The values are checked with the same ranges as the flags they stand for.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "tui/cli.h"
#include "tui/settings.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cli_config cfg;
static bool loaded;
static char cfg_path[4096], cfg_db[4096], cfg_template[64];

struct cfg_reader {
    const char *cmd, *file;
    int line;
};

static void
warn(const struct cfg_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn(const struct cfg_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ponder %s: warning: %s:%d: ", r->cmd, r->file, r->line);
    vfprintf(stderr, fmt, ap);
    fputs(" (ignored)\n", stderr);
    va_end(ap);
}

/* The file to read into buf; false when there is none to look for. */
static bool
config_path(char *buf, size_t size)
{
    const char *env = getenv("PONDER_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"),
               *home = getenv("HOME");
    int n;
    if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, size, "%s/ponder/config", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.config/ponder/config", home);
    else
        return false;
    return n > 0 && (size_t)n < size;
}

static bool
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool
parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* on/off (and their usual spellings); -1 when neither. */
static int
parse_switch(const char *s)
{
    static const char *const on[] = { "on", "yes", "true", "1" };
    static const char *const off[] = { "off", "no", "false", "0" };
    for (size_t i = 0; i < PD_ARRAY_SIZE(on); i++) {
        if (strcmp(s, on[i]) == 0)
            return 1;
        if (strcmp(s, off[i]) == 0)
            return 0;
    }
    return -1;
}

/* One setting; a warning when the key is unknown or the value bad. */
static void
apply_setting(const struct cfg_reader *r, const char *key, const char *val)
{
    struct pd_sampler_params *sp = &cfg.sp;
    double d;
    long l;
    int sw;
    if (strcmp(key, "log") == 0) {
        if ((sw = parse_switch(val)) < 0)
            warn(r, "log: '%s' is not on or off", val);
        else
            cfg.log = sw;
    } else if (strcmp(key, "db") == 0) {
        const char *home = getenv("HOME");
        int n = strncmp(val, "~/", 2) == 0 && home && *home
                    ? snprintf(cfg_db, sizeof cfg_db, "%s%s", home, val + 1)
                    : snprintf(cfg_db, sizeof cfg_db, "%s", val);
        if (*val == '\0' || n < 0 || (size_t)n >= sizeof cfg_db)
            warn(r, "db: give a path");
        else
            cfg.db = cfg_db;
    } else if (strcmp(key, "threads") == 0) {
        if (!parse_long(val, 1, 1024, &l))
            warn(r, "threads: '%s' is not a whole number from 1 to 1024", val);
        else
            cfg.threads = (int32_t)l;
    } else if (strcmp(key, "ctx") == 0) {
        if (!parse_long(val, 1, 1 << 24, &l))
            warn(r, "ctx: '%s' is not a whole number from 1 to %d", val, 1 << 24);
        else
            cfg.ctx = (int32_t)l;
    } else if (strcmp(key, "temp") == 0) {
        if (!parse_double(val, 0, 100, &d))
            warn(r, "temp: '%s' is not a number from 0 to 100", val);
        else
            sp->temp = (float)d, cfg.sampler_set |= CLI_CFG_TEMP;
    } else if (strcmp(key, "top-k") == 0) {
        if (!parse_long(val, 0, INT32_MAX, &l))
            warn(r, "top-k: '%s' is not a whole number >= 0", val);
        else
            sp->top_k = (int32_t)l, cfg.sampler_set |= CLI_CFG_TOP_K;
    } else if (strcmp(key, "top-p") == 0 || strcmp(key, "min-p") == 0) {
        bool top = key[0] == 't';
        if (!parse_double(val, 0, 1, &d))
            warn(r, "%s: '%s' is not a number from 0 to 1", key, val);
        else if (top)
            sp->top_p = (float)d, cfg.sampler_set |= CLI_CFG_TOP_P;
        else
            sp->min_p = (float)d, cfg.sampler_set |= CLI_CFG_MIN_P;
    } else if (strcmp(key, "repeat-penalty") == 0) {
        if (!parse_double(val, 0.01, 100, &d))
            warn(r, "repeat-penalty: '%s' is not a number from 0.01 to 100", val);
        else
            sp->repeat_penalty = (float)d, cfg.sampler_set |= CLI_CFG_REPEAT;
    } else if (strcmp(key, "seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 0);
        if (*val == '\0' || *val == '-' || *end != '\0' || errno)
            warn(r, "seed: '%s' is not a whole number", val);
        else
            sp->seed = v, cfg.sampler_set |= CLI_CFG_SEED;
    } else if (strcmp(key, "template") == 0) {
        if ((strcmp(val, "none") != 0 && pd_template_from_name(val) < 0) ||
            strlen(val) >= sizeof cfg_template)
            warn(r, "template: unknown template '%s'", val);
        else
            cfg.template_name = strcpy(cfg_template, val);
    } else if (strcmp(key, "think") == 0) {
        if (strcmp(val, "on") == 0 || strcmp(val, "off") == 0 || strcmp(val, "auto") == 0)
            cfg.think = val[1] == 'n' ? "on" : val[1] == 'f' ? "off" : "auto";
        else
            warn(r, "think: '%s' is not on, off or auto", val);
    } else if (strcmp(key, "color") == 0 || strcmp(key, "colour") == 0) {
        if (strcmp(val, "auto") == 0)
            cfg.color = CLI_COLOR_AUTO;
        else if (strcmp(val, "always") == 0)
            cfg.color = CLI_COLOR_ALWAYS;
        else if (strcmp(val, "never") == 0)
            cfg.color = CLI_COLOR_NEVER;
        else
            warn(r, "color: '%s' is not auto, always or never", val);
    } else {
        warn(r, "unknown key '%s'", key);
    }
}

/* Trim blanks at both ends, in place. */
static char *
trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static void
read_line(const struct cfg_reader *r, char *line)
{
    /* A comment: '#' at the start, or after a blank. */
    for (char *p = line; *p; p++) {
        if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    char *s = trim(line);
    if (*s == '\0')
        return;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        warn(r, "'%s' is not 'key = value'", s);
        return;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    if (*key == '\0')
        warn(r, "no key before '='");
    else
        apply_setting(r, key, val);
}

const struct cli_config *
cli_config_load(const char *cmd)
{
    if (loaded)
        return &cfg;
    loaded = true;
    cfg = (struct cli_config){ .log = -1 };
    pd_sampler_params_default(&cfg.sp);
    if (!config_path(cfg_path, sizeof cfg_path))
        return &cfg;
    FILE *f = fopen(cfg_path, "r");
    if (f == NULL) {
        /* No file is no configuration; one named by PONDER_CONFIG is worth a word. */
        const char *env = getenv("PONDER_CONFIG");
        if (errno != ENOENT || (env && *env))
            fprintf(stderr, "ponder %s: warning: cannot read the configuration %s: %s "
                            "(ignored)\n", cmd, cfg_path, strerror(errno));
        return &cfg;
    }
    cfg.path = cfg_path;
    struct cfg_reader r = { .cmd = cmd, .file = cfg_path };
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) != -1) {
        r.line++;
        read_line(&r, line);
    }
    if (ferror(f))
        fprintf(stderr, "ponder %s: warning: cannot read the configuration %s: %s "
                        "(ignored from line %d on)\n", cmd, cfg_path, strerror(errno),
                r.line + 1);
    free(line);
    fclose(f);
    return &cfg;
}

void
cli_config_apply(const struct cli_config *c, struct pd_sampler_params *sp,
                 struct pd_context_params *cp)
{
    if (c->sampler_set & CLI_CFG_TEMP)
        sp->temp = c->sp.temp;
    if (c->sampler_set & CLI_CFG_TOP_K)
        sp->top_k = c->sp.top_k;
    if (c->sampler_set & CLI_CFG_TOP_P)
        sp->top_p = c->sp.top_p;
    if (c->sampler_set & CLI_CFG_MIN_P)
        sp->min_p = c->sp.min_p;
    if (c->sampler_set & CLI_CFG_REPEAT)
        sp->repeat_penalty = c->sp.repeat_penalty;
    if (c->sampler_set & CLI_CFG_SEED)
        sp->seed = c->sp.seed;
    if (c->threads)
        cp->n_threads = c->threads;
    if (c->ctx)
        cp->n_ctx = c->ctx;
}

const char *
cli_config_db(const struct cli_config *c)
{
    const char *env = getenv("PONDER_DB");
    return env && *env ? NULL : c->db;
}

bool
cli_config_color(const struct cli_config *c, int fd)
{
    if (c->color == CLI_COLOR_ALWAYS)
        return true;
    if (c->color == CLI_COLOR_NEVER)
        return false;
    return cli_use_color(fd);
}
