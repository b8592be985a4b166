/*
 * cli.c: helpers shared by the sub-commands.
 */
#include "config.h"

#include "tui/cli.h"

#include "engine/sampler.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
vmessage(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "ponder%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "try 'ponder %s --help'\n", cmd ? cmd : "");
    return EXIT_USAGE;
}

int
cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    return EXIT_RUNTIME;
}

bool
cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        cli_usage_error(cmd, "%s: '%s' is not a whole number in [%ld, %ld]", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool
cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        cli_usage_error(cmd, "%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

int
cli_parse_sampler_opt(const char *cmd, int opt, const char *arg, struct pd_sampler_params *sp)
{
    double d;
    long l;
    switch (opt) {
    case CLI_OPT_TEMP:
        if (!cli_parse_float(cmd, "--temp", arg, 0, 100, &d))
            return -1;
        sp->temp = (float)d;
        return 0;
    case CLI_OPT_TOP_K:
        if (!cli_parse_int(cmd, "--top-k", arg, 0, INT32_MAX, &l))
            return -1;
        sp->top_k = (int32_t)l;
        return 0;
    case CLI_OPT_TOP_P:
        if (!cli_parse_float(cmd, "--top-p", arg, 0, 1, &d))
            return -1;
        sp->top_p = (float)d;
        return 0;
    case CLI_OPT_MIN_P:
        if (!cli_parse_float(cmd, "--min-p", arg, 0, 1, &d))
            return -1;
        sp->min_p = (float)d;
        return 0;
    case CLI_OPT_REPEAT:
        if (!cli_parse_float(cmd, "--repeat-penalty", arg, 0.01, 100, &d))
            return -1;
        sp->repeat_penalty = (float)d;
        return 0;
    case CLI_OPT_SEED: {
        char *end;
        unsigned long long v = strtoull(arg, &end, 0);
        if (*arg == '\0' || *end != '\0' || *arg == '-') {
            cli_usage_error(cmd, "--seed: '%s' is not a whole number", arg);
            return -1;
        }
        sp->seed = v;
        return 0;
    }
    }
    return 1;
}

/* --gpus 0,1,3: distinct device ids, at most PD_MAX_DEVICES. */
static int
parse_gpus(const char *cmd, const char *arg, struct pd_context_params *cp)
{
    char buf[512];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        long id;
        if (n == PD_MAX_DEVICES) {
            cli_usage_error(cmd, "--gpus: at most %d devices", PD_MAX_DEVICES);
            return -1;
        }
        if (!cli_parse_int(cmd, "--gpus", tok, 0, 1023, &id))
            return -1;
        for (int i = 0; i < n; i++)
            if (cp->devices[i] == id) {
                cli_usage_error(cmd, "--gpus: device %ld given twice", id);
                return -1;
            }
        cp->devices[n++] = (int32_t)id;
    }
    if (n == 0) {
        cli_usage_error(cmd, "--gpus: no devices in '%s'", arg);
        return -1;
    }
    cp->n_devices = n;
    return 0;
}

int
cli_parse_device_opt(const char *cmd, int opt, const char *arg, struct pd_context_params *cp)
{
    int v;
    switch (opt) {
    case CLI_OPT_BACKEND:
        if ((v = pd_backend_parse(arg)) < 0) {
            cli_usage_error(cmd, "--backend: '%s' is not cpu, cuda or auto", arg);
            return -1;
        }
        cp->backend = v;
        return 0;
    case CLI_OPT_GPUS:
        return parse_gpus(cmd, arg, cp);
    case CLI_OPT_SPLIT:
        if ((v = pd_split_mode_parse(arg)) < 0) {
            cli_usage_error(cmd, "--split: '%s' is not layer or expert", arg);
            return -1;
        }
        cp->split = v;
        return 0;
    case CLI_OPT_LORA:
        return cli_parse_lora(cmd, arg, cp);
    case CLI_OPT_GPU_LAYERS: {
        long n;
        if (!cli_parse_int(cmd, "--gpu-layers", arg, 0, 1 << 20, &n))
            return -1;
        cp->n_gpu_layers = (int32_t)n;
        return 0;
    }
    }
    return 1;
}

int
cli_parse_lora(const char *cmd, const char *arg, struct pd_context_params *cp)
{
    if (cp->n_lora == PD_MAX_LORA) {
        cli_usage_error(cmd, "--lora: at most %d adapters", PD_MAX_LORA);
        return -1;
    }
    /* FILE:SCALE when what follows the last colon is a number; a path may hold colons too */
    const char *colon = strrchr(arg, ':');
    char *end = NULL;
    double scale = colon && colon[1] ? strtod(colon + 1, &end) : 1.0;
    static char paths[PD_MAX_LORA][4096];   /* the paths outlive the parse, not the process */
    int i = cp->n_lora;
    if (end && *end == '\0') {
        snprintf(paths[i], sizeof paths[i], "%.*s", (int)(colon - arg), arg);
    } else {
        scale = 1.0;
        snprintf(paths[i], sizeof paths[i], "%s", arg);
    }
    if (paths[i][0] == '\0' || !(scale > -1e6 && scale < 1e6)) {
        cli_usage_error(cmd, "--lora '%s': FILE[:SCALE]", arg);
        return -1;
    }
    cp->lora_path[i] = paths[i];
    cp->lora_scale[i] = (float)scale;
    cp->n_lora = i + 1;
    return 0;
}

int
cli_load_model(const char *cmd, const char *path, struct pd_model **out)
{
    char err[PD_ERR_MAX] = "";
    int rc = pd_model_load(out, path, err);
    if (rc == 0)
        return EXIT_OK;
    /* the file's own errors name it already */
    if (err[0] && strncmp(err, path, strlen(path)) == 0)
        return cli_fail(cmd, "%s", err);
    return cli_fail(cmd, "%s: %s", path, err[0] ? err : pd_strerror(rc));
}

char *
cli_read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n < 2) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (buf == NULL || ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

bool
cli_use_color(int fd)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0])
        return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd);
}

const char *
cli_file_type_name(uint32_t ftype)
{
    static const char *const names[] = {
        [0] = "all F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
        [9] = "Q5_1", [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L",
        [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",
        [25] = "IQ4_NL", [30] = "IQ4_XS", [32] = "BF16",
    };
    if (ftype < PD_ARRAY_SIZE(names) && names[ftype])
        return names[ftype];
    return "?";
}
