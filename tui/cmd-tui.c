/*
 * cmd-tui.c: `ponder tui` (also `ponder` with no sub-command on a terminal): the workbench.
 *
 * The model: -m, else $PONDER_MODEL, else the bundled models/ponder-tiny.gguf when it is there.
 * Without one the workbench still opens, to browse, search, replay and annotate the stored
 * sessions. A model that is given but cannot be loaded is an error before the screen changes.
 */
#include "config.h"

#include "engine/aha.h"
#include "sessions/store.h"
#include "tui/cli.h"
#include "tui/settings.h"
#include "tui/wb.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wb_run(struct wb *w);

static const char tui_help[] =
    "usage: ponder tui [-m MODEL.gguf] [options]\n"
    "       ponder [-m MODEL.gguf]            (the same, on a terminal)\n"
    "\n"
    "The workbench: chat with a model and watch it think. The thoughts stream in a block that\n"
    "folds when they end; a token cursor shows each token's probability, alternatives and, for\n"
    "a Mixture-of-Experts model, its routing as a layer x expert heatmap. Aha moments are\n"
    "flagged with their evidence. Every turn is stored; F2 browses, searches and replays them.\n"
    "F1 in the workbench lists every key.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE        the GGUF model (default: $PONDER_MODEL, else the bundled one)\n"
    "  -s, --system TEXT       a system message\n"
    "  -n, --n-predict N       tokens per reply at most (default: until the context is full)\n"
    "  -c, --ctx-size N        context size (default: the model's, at most 4096)\n"
    "  -t, --threads N         threads (default: the cores)\n"
    CLI_DEVICE_HELP
    CLI_LORA_HELP
    CLI_SAMPLER_HELP
    "      --template NAME     chat template (default: from the model)\n"
    "      --precise           float activations (slower; matches transformers)\n"
    "      --think MODE        thoughts: auto (open while streaming, folded after), open, folded\n"
    "      --keep-thinking     send earlier thoughts back to the model\n"
    "      --session ID        open a stored session\n"
    "      --db PATH           the session database\n"
    "      --no-log            do not store this chat\n"
    "      --log               store it even where the configuration says log = off\n"
    "  -h, --help              this help\n";

enum { OPT_THINK = 256, OPT_SESSION };

static const struct option tui_longopts[] = {
    CHAT_LONGOPTS,
    { "think", required_argument, NULL, OPT_THINK },
    { "session", required_argument, NULL, OPT_SESSION },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static bool
parse_fold(const char *s, enum wb_fold_mode *out)
{
    if (strcmp(s, "auto") == 0)
        *out = WB_FOLD_AUTO;
    else if (strcmp(s, "open") == 0 || strcmp(s, "on") == 0)
        *out = WB_FOLD_OPEN;
    else if (strcmp(s, "folded") == 0 || strcmp(s, "off") == 0)
        *out = WB_FOLD_FOLDED;
    else
        return false;
    return true;
}

struct tui_opts {
    long session;
};

static int
parse_opts(int argc, char **argv, struct wb *w, struct tui_opts *o)
{
    struct chat *c = w->c;
    const struct cli_config *cfg = chat_opts_defaults(c, "tui");
    if (cfg->think)
        parse_fold(cfg->think, &w->fold_mode);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, CHAT_SHORTOPTS, tui_longopts, NULL)) != -1) {
        int r = chat_opts_parse(c, "tui", opt, optarg);
        if (r == EXIT_USAGE)
            return r;
        if (r == EXIT_OK)
            continue;
        switch (opt) {
        case OPT_THINK:
            if (!parse_fold(optarg, &w->fold_mode))
                return cli_usage_error("tui", "--think: '%s' is not auto, open or folded", optarg);
            break;
        case OPT_SESSION:
            if (!cli_parse_int("tui", "--session", optarg, 1, INT64_MAX / 2, &o->session))
                return EXIT_USAGE;
            break;
        case 'h': fputs(tui_help, stdout); return -1;
        default: return cli_usage_error("tui", "unknown option (see --help)");
        }
    }
    if (optind < argc)
        return cli_usage_error("tui", "unexpected argument '%s'", argv[optind]);
    return chat_opts_check(c, "tui");
}

/* The model to open when none was given: $PONDER_MODEL, else the bundled one if present. */
static const char *
default_model(void)
{
    const char *env = getenv("PONDER_MODEL");
    if (env && env[0])
        return env;
    static const char *const bundled[] = { "models/ponder-tiny.gguf",
                                           PD_DATADIR "/models/ponder-tiny.gguf" };
    for (size_t i = 0; i < PD_ARRAY_SIZE(bundled); i++)
        if (access(bundled[i], R_OK) == 0)
            return bundled[i];
    return NULL;
}

static int
load(struct wb *w)
{
    struct chat *c = w->c;
    char err[PD_ERR_MAX] = "";
    if (c->model_path == NULL)
        c->model_path = default_model();
    if (c->model_path == NULL) {
        snprintf(w->model_note, sizeof w->model_note,
                 "no model: start with -m MODEL.gguf (or set PONDER_MODEL)");
        return EXIT_OK;
    }
    int rc = cli_load_model("tui", c->model_path, &c->m);
    if (rc != EXIT_OK)
        return rc;
    if (pd_context_new(&c->ctx, c->m, &c->cp, err)) {
        pd_model_free(c->m);
        c->m = NULL;
        return cli_fail("tui", "%s", err);
    }
    c->raw = c->template_name && strcmp(c->template_name, "none") == 0;
    c->tmpl = c->template_name && !c->raw
                  ? (enum pd_template)pd_template_from_name(c->template_name)
                  : pd_template_detect(c->m->chat_template, NULL);
    w->have_model = true;
    w->moe = c->m->hp.n_expert > 0;
    w->n_experts = (int)c->m->hp.n_expert;
    w->n_moe_layers = 0;
    for (int32_t i = 0; w->moe && i < c->m->hp.n_layer; i++)
        w->n_moe_layers += i >= c->m->hp.n_dense_lead;
    w->moe_layer0 = w->moe ? c->m->hp.n_dense_lead : 0;
    snprintf(w->model_note, sizeof w->model_note, "%s", c->m->name);
    return EXIT_OK;
}

static void
open_store(struct wb *w)
{
    struct chat *c = w->c;
    char err[PD_ERR_MAX] = "";
    if (c->no_log)
        return;
    if (pd_store_open(&c->st, c->db, err) == 0) {
        if (c->m == NULL)
            return;
        struct pd_store_model sm = { .path = c->model_path, .size = c->m->gguf->size,
                                     .header = c->m->gguf->map,
                                     .header_len = c->m->gguf->data_offset,
                                     .arch = c->m->hp.arch_name, .name = c->m->name,
                                     .n_params = c->m->n_params };
        if (pd_store_model_id(c->st, &sm, &c->model_id, err) == 0)
            return;
    }
    wb_message(w, "not logging: %s", err);
    pd_store_close(c->st);
    c->st = NULL;
}

/* The aha cue list: the user's file, written from the seed list the first time. */
static void
load_cues(struct wb *w)
{
    char path[4096], err[PD_ERR_MAX] = "";
    if (pd_aha_cues_path(path, sizeof path, err) == 0 &&
        pd_aha_cues_write_seed(path, NULL, err) == 0) {
        int rc = pd_aha_cues_load(&w->cues, path, err);
        if (rc == 0)
            return;
        if (rc == PD_EFORMAT && w->cues) {
            wb_message(w, "aha cues: %s", err);
            return;
        }
    }
    pd_aha_cues_seed(&w->cues, err);
}

static int
cmd_tui_exec(int argc, char **argv)
{
    struct chat c = { 0 };
    struct wb w = { .c = &c, .cur_turn = -1, .sel_from = -1, .follow = true,
                    .replay_speed = 1.0 };
    struct tui_opts o = { 0 };
    int rc = parse_opts(argc, argv, &w, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return cli_usage_error("tui", "the workbench needs a terminal (ponder run and ponder chat "
                                      "work in pipes)");
    c.tty_in = c.tty_out = true;
    c.color = cli_config_color(cli_config_load("tui"), STDOUT_FILENO);
    if ((rc = load(&w)) != EXIT_OK)
        return rc;
    open_store(&w);
    load_cues(&w);
    if (c.system)
        chat_push(&c, "system", c.system);
    if (o.session) {
        if (c.st == NULL) {
            rc = cli_fail("tui", "--session needs the session store");
            goto out;
        }
        if (wb_session_open(&w, o.session) != 0) {
            rc = cli_fail("tui", "%s", w.msg);
            goto out;
        }
    }
    rc = wb_run(&w) ? EXIT_RUNTIME : EXIT_OK;
out:
    wb_doc_clear(&w);
    free(w.turns);
    free(w.rowmap);
    pd_aha_cues_free(w.cues);
    chat_truncate(&c, 0);
    free(c.msgs);
    free(c.title);
    free(c.cached);
    pd_store_close(c.st);
    pd_context_free(c.ctx);
    pd_model_free(c.m);
    return rc;
}

const struct pd_cmd_entry cmd_tui_entry = {
    .name = "tui",
    .usage = "[-m MODEL.gguf] [options]",
    .summary = "the workbench: watch a model think (the default on a terminal)",
    .exec = cmd_tui_exec,
};
