/*
 * chat-opts.c: the options `ponder chat` and the workbench share (the model, a system message,
 * lengths, threads, the sampler, the device, LoRA, the template, precise arithmetic, thoughts
 * kept, the database, logging), their defaults from the configuration file, and the checks once
 * they are parsed. Each command keeps its own --think (the two mean different things) and help.
 */
#include "config.h"

#include "tui/chat.h"
#include "tui/cli.h"
#include "tui/settings.h"

#include <stdint.h>
#include <string.h>

const struct cli_config *
chat_opts_defaults(struct chat *c, const char *cmd)
{
    pd_sampler_params_default(&c->sp);
    pd_context_params_default(&c->cp);
    const struct cli_config *cfg = cli_config_load(cmd);
    cli_config_apply(cfg, &c->sp, &c->cp);
    c->template_name = cfg->template_name;
    c->db = cli_config_db(cfg);
    c->no_log = cfg->log == 0;
    c->n_predict = -1;
    return cfg;
}

int
chat_opts_parse(struct chat *c, const char *cmd, int opt, const char *arg)
{
    int r = cli_parse_sampler_opt(cmd, opt, arg, &c->sp);
    if (r > 0)
        r = cli_parse_device_opt(cmd, opt, arg, &c->cp);
    if (r <= 0)
        return r < 0 ? EXIT_USAGE : EXIT_OK;
    long l;
    switch (opt) {
    case 'm': c->model_path = arg; break;
    case 's': c->system = arg; break;
    case 'n':
        if (!cli_parse_int(cmd, "-n", arg, -1, INT32_MAX, &c->n_predict))
            return EXIT_USAGE;
        break;
    case 'c':
        if (!cli_parse_int(cmd, "-c", arg, 1, 1 << 24, &l))
            return EXIT_USAGE;
        c->cp.n_ctx = (int32_t)l;
        break;
    case 't':
        if (!cli_parse_int(cmd, "-t", arg, 1, 1024, &l))
            return EXIT_USAGE;
        c->cp.n_threads = (int32_t)l;
        break;
    case CHAT_OPT_TEMPLATE: c->template_name = arg; break;
    case CHAT_OPT_PRECISE: c->cp.precise = true; break;
    case CHAT_OPT_KEEP_THINKING: c->keep_thinking = true; break;
    case CHAT_OPT_DB: c->db = arg; break;
    case CHAT_OPT_NO_LOG: c->no_log = true; break;
    case CHAT_OPT_LOG: c->no_log = false; break;
    default: return 1;
    }
    return EXIT_OK;
}

int
chat_opts_check(const struct chat *c, const char *cmd)
{
    if (c->template_name && strcmp(c->template_name, "none") != 0 &&
        pd_template_from_name(c->template_name) < 0)
        return cli_usage_error(cmd, "--template: unknown template '%s'", c->template_name);
    return EXIT_OK;
}
