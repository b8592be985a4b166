/*
 * cmd-plugin.c: `ponder plugin list|check|score`: what plugins the search path offers, whether a
 * .so loads (and why not), and scoring one completion with reward plugins, through the same
 * worker that training uses (plugins/reward-run.h), so a crash or a hang shows as None.
 *
 * score prints one line per reward, "NAME<TAB>SCORE<TAB>MESSAGE" with SCORE a number or None,
 * then "total<TAB>VALUE" (or None). Its exit status is 0 whatever the plugins did: a None is a
 * result, not a failure.
 */
#include "config.h"

#include "plugins/loader.h"
#include "plugins/reward-run.h"
#include "tui/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plugin_help[] =
    "usage: ponder plugin list\n"
    "       ponder plugin check PLUGIN...\n"
    "       ponder plugin score -r PLUGIN [-w W] [-c JSON] [--optional] [-r ...]\n"
    "                           [--completion TEXT] [--prompt TEXT] [--gold G] [--extra JSON]\n"
    "                           [--opened-think] [--tokens N] [--timeout S] [--mem-mb N]\n"
    "\n"
    "Plugins are shared objects: reward functions for GRPO and aha-moment detectors. A name\n"
    "(\"accuracy\") is looked for in $PONDER_PLUGIN_PATH (colon-separated absolute folders),\n"
    "then in the install's plugin folder ('ponder plugin list' shows both); never in the\n"
    "current directory: give a path with a slash (./x.so) for that.\n"
    "\n"
    "list: every plugin found, with its kind and version, or why it was refused.\n"
    "check: load each PLUGIN and check its ABI; exit 1 if any is refused.\n"
    "score: score one completion (from --completion, else stdin) in a worker process.\n"
    "  -r, --reward PLUGIN  a reward plugin; the next -w, -c, --optional apply to it\n"
    "  -w, --weight W       its weight (default 1)\n"
    "  -c, --config JSON    its settings, a JSON object (e.g. '{\"mode\":\"overlong\"}')\n"
    "      --optional       its None does not make the total None\n"
    "      --prompt TEXT    the prompt\n"
    "      --gold G         the gold answer\n"
    "      --extra JSON     the task's metadata (e.g. '{\"numbers\":[44,19,35]}')\n"
    "      --opened-think   the template opened <think> before the completion\n"
    "      --tokens N       the completion's length in tokens (default: unknown)\n"
    "      --timeout S      seconds per score before the worker is killed (default 2)\n"
    "      --mem-mb N       memory the worker may add, MiB (default 1024)\n"
    "  -h, --help           this help\n";

#define MAX_TERMS 16

enum { OPT_OPTIONAL = 256, OPT_COMPLETION, OPT_PROMPT, OPT_GOLD, OPT_EXTRA, OPT_OPENED,
       OPT_TOKENS, OPT_TIMEOUT, OPT_MEM };

static const struct option score_longopts[] = {
    { "reward", required_argument, NULL, 'r' },
    { "weight", required_argument, NULL, 'w' },
    { "config", required_argument, NULL, 'c' },
    { "optional", no_argument, NULL, OPT_OPTIONAL },
    { "completion", required_argument, NULL, OPT_COMPLETION },
    { "prompt", required_argument, NULL, OPT_PROMPT },
    { "gold", required_argument, NULL, OPT_GOLD },
    { "extra", required_argument, NULL, OPT_EXTRA },
    { "opened-think", no_argument, NULL, OPT_OPENED },
    { "tokens", required_argument, NULL, OPT_TOKENS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "mem-mb", required_argument, NULL, OPT_MEM },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
plugin_list(void)
{
    struct pd_plugin_info *list;
    size_t n;
    char err[PD_ERR_MAX], dirs[PD_PLUGIN_PATH_MAX];
    if (pd_plugin_list(&list, &n, err))
        return cli_fail("plugin", "%s", err);
    pd_plugin_dirs(dirs, sizeof dirs);
    printf("# searched: %s\n", dirs);
    for (size_t i = 0; i < n; i++) {
        const struct pd_plugin_info *e = &list[i];
        if (e->ok)
            printf("%-12s %-12s %-6s %s%s  %s\n", e->name, pd_plugin_kind_name(e->kind),
                   e->version, e->path, e->shadowed ? " (shadowed)" : "", e->description);
        else
            printf("%-12s %-12s %-6s %s  %s\n", "-", "refused", "-", e->path, e->why);
    }
    free(list);
    return ferror(stdout) ? cli_fail("plugin", "writing the output failed") : EXIT_OK;
}

static int
plugin_check(int argc, char **argv)
{
    int status = EXIT_OK;
    if (argc < 1)
        return cli_usage_error("plugin", "check: which plugin?");
    for (int i = 0; i < argc; i++) {
        struct pd_plugin *p;
        char err[PD_ERR_MAX];
        if (pd_plugin_open(&p, argv[i], PD_PLUGIN_ANY, err)) {
            printf("%s: refused: %s\n", argv[i], err);
            status = EXIT_RUNTIME;
            continue;
        }
        printf("%s: ok: %s %s, %s, ABI %d, %s\n", argv[i], pd_plugin_name(p),
               pd_plugin_version(p), pd_plugin_kind_name(pd_plugin_kind(p)),
               PONDER_PLUGIN_ABI_VERSION, pd_plugin_path(p));
        pd_plugin_close(p);
    }
    return status;
}

/* All of stdin, NUL-terminated; NULL when out of memory. */
static char *
read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

struct score_opts {
    const char *names[MAX_TERMS];
    struct pd_reward_term terms[MAX_TERMS];
    int n_terms;
    struct pd_reward_item item;
    struct pd_reward_limits lim;
};

/* One option of score; 0 when taken, EXIT_USAGE after a message. */
static int
score_opt(struct score_opts *o, int c, const char *arg)
{
    struct pd_reward_term *last = o->n_terms ? &o->terms[o->n_terms - 1] : NULL;
    long v;
    if ((c == 'w' || c == 'c' || c == OPT_OPTIONAL) && last == NULL)
        return cli_usage_error("plugin", "score: -w, -c and --optional follow a -r PLUGIN");
    switch (c) {
    case 'r':
        if (o->n_terms == MAX_TERMS)
            return cli_usage_error("plugin", "score: at most %d rewards", MAX_TERMS);
        o->names[o->n_terms] = arg;
        o->terms[o->n_terms++] = (struct pd_reward_term){ .weight = 1.0 };
        return 0;
    case 'w':
        return cli_parse_float("plugin", "--weight", arg, -1e6, 1e6, &last->weight) ? 0
                                                                                     : EXIT_USAGE;
    case 'c': last->config = arg; return 0;
    case OPT_OPTIONAL: last->optional = true; return 0;
    case OPT_COMPLETION: o->item.completion = arg; return 0;
    case OPT_PROMPT: o->item.prompt = arg; return 0;
    case OPT_GOLD: o->item.gold = arg; return 0;
    case OPT_EXTRA: o->item.extra = arg; return 0;
    case OPT_OPENED: o->item.opened_think = true; return 0;
    case OPT_TOKENS:
        if (!cli_parse_int("plugin", "--tokens", arg, 0, 100000000, &v))
            return EXIT_USAGE;
        o->item.completion_tokens = (int32_t)v;
        return 0;
    case OPT_TIMEOUT:
        return cli_parse_float("plugin", "--timeout", arg, 0.001, 3600, &o->lim.timeout_s)
                   ? 0 : EXIT_USAGE;
    case OPT_MEM:
        if (!cli_parse_int("plugin", "--mem-mb", arg, 1, 1L << 20, &v))
            return EXIT_USAGE;
        o->lim.mem_mb = v;
        return 0;
    default:
        return cli_usage_error("plugin", "score: unknown option");
    }
}

static void
print_number(double v)
{
    printf("%.6g", v);
}

static int
plugin_score(int argc, char **argv)
{
    struct score_opts o = { .item = { .completion_tokens = -1 } };
    struct pd_plugin *plugins[MAX_TERMS] = { 0 };
    char *input = NULL, err[PD_ERR_MAX];
    int c, status = EXIT_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:w:c:h", score_longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(plugin_help, stdout);
            return EXIT_OK;
        }
        if (c == '?' || (status = score_opt(&o, c, optarg)) != 0)
            return c == '?' ? cli_usage_error("plugin", "score: bad option") : status;
    }
    if (optind != argc)
        return cli_usage_error("plugin", "score: unexpected argument '%s'", argv[optind]);
    if (o.n_terms == 0)
        return cli_usage_error("plugin", "score: give at least one -r PLUGIN");
    for (int i = 0; i < o.n_terms; i++) {
        if (pd_plugin_open(&plugins[i], o.names[i], PD_PLUGIN_WANT_REWARD, err)) {
            status = cli_fail("plugin", "%s", err);
            goto out;
        }
        o.terms[i].plugin = plugins[i];
    }
    if (o.item.completion == NULL) {
        if ((input = read_stdin(&o.item.completion_len)) == NULL) {
            status = cli_fail("plugin", "out of memory reading the completion");
            goto out;
        }
        o.item.completion = input;
    }
    struct pd_reward_score scores[MAX_TERMS];
    struct pd_reward_total total;
    if (pd_reward_run(o.terms, (size_t)o.n_terms, &o.item, 1, &o.lim, scores, &total, err)) {
        status = cli_fail("plugin", "%s", err);
        goto out;
    }
    for (int i = 0; i < o.n_terms; i++) {
        printf("%s\t", pd_plugin_name(plugins[i]));
        if (scores[i].state == PD_REWARD_SCORED)
            print_number(scores[i].value);
        else
            printf("None");
        printf("\t%s\n", scores[i].why);
    }
    printf("total\t");
    if (total.none)
        printf("None");
    else
        print_number(total.value);
    printf("\n");
    if (ferror(stdout))
        status = cli_fail("plugin", "writing the output failed");
out:
    for (int i = 0; i < o.n_terms; i++)
        pd_plugin_close(plugins[i]);
    free(input);
    return status;
}

static int
cmd_plugin_exec(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("plugin", "list, check or score?");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(plugin_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(sub, "list") == 0)
        return argc == 2 ? plugin_list() : cli_usage_error("plugin", "list takes no arguments");
    if (strcmp(sub, "check") == 0)
        return plugin_check(argc - 2, argv + 2);
    if (strcmp(sub, "score") == 0)
        return plugin_score(argc - 1, argv + 1);
    return cli_usage_error("plugin", "unknown sub-command '%s' (list, check or score)", sub);
}

const struct pd_cmd_entry cmd_plugin_entry = {
    .name = "plugin",
    .usage = "list | check PLUGIN... | score -r PLUGIN [OPTIONS]",
    .summary = "list, check and try reward plugins",
    .exec = cmd_plugin_exec,
};
