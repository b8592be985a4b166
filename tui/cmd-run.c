/*
 * cmd-run.c: `ponder run`: one prompt in, the model's reply streamed out.
 *
 * On a terminal the think segment is dimmed and its tags are shown dim; piped, the text is
 * written plain. --json writes one JSON object per token event and a last object with the
 * totals, for scripts. Timings go to stderr unless --quiet. The turn is logged to the session
 * store (run-log.c) unless --no-log. The configuration file (config.h) gives the defaults that
 * the flags override.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "engine/comm.h"
#include "engine/generate.h"
#include "tui/cli.h"
#include "tui/settings.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_STOP 8

struct run_opts {
    const char *model, *prompt, *system, *template_name;
    struct pd_sampler_params sp;
    struct pd_context_params cp;
    long n_predict;
    bool json, quiet, color, routing;
    const char *stop[MAX_STOP + 1];
    int n_stop;
    const char *db;          /* --db, else PONDER_DB, else the default */
    bool no_log;
};

struct run_out {
    bool json, color, routing;
    enum pd_segment shown;   /* segment whose style is active on the terminal */
    struct run_log *log;     /* NULL: not logged */
};

static atomic_bool interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, true);
}

static const char run_help[] =
    "usage: ponder run -m MODEL.gguf -p PROMPT [options]\n"
    "\n"
    "Generate a reply to one prompt and stream it to standard output.\n"
    "\n"
    "  -m, --model FILE        GGUF model to load (required)\n"
    "  -p, --prompt TEXT       the prompt; '-' reads it from standard input\n"
    "  -s, --system TEXT       a system message\n"
    "  -n, --n-predict N       stop after N tokens (default: until the model ends its turn)\n"
    "  -c, --ctx-size N        context size in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         CPU threads (default: all online CPUs)\n"
    CLI_DEVICE_HELP
    CLI_LORA_HELP
    "      --temp T            temperature; 0 is greedy (default 0.6)\n"
    "      --top-k K           keep the K most likely tokens (default 40; 0 = off)\n"
    "      --top-p P           nucleus sampling (default 0.95; 1 = off)\n"
    "      --min-p P           drop tokens below P x the top probability (default 0.05)\n"
    "      --repeat-penalty R  penalize the last 64 tokens (default 1 = off)\n"
    "      --seed S            random seed (same seed, same output)\n"
    "      --template NAME     chat template: chatml, smollm, qwen, r1, r1-think, llama3,\n"
    "                          r1-zero, none (the prompt as given); default: recognized from\n"
    "                          the model\n"
    "      --stop TEXT         stop when TEXT appears (repeatable)\n"
    "      --precise           float activations in matrix products: slower, reproduces a\n"
    "                          float reference (transformers) to rounding\n"
    "      --json              one JSON object per token on standard output\n"
    "      --routing           one line per token with the experts each MoE layer chose:\n"
    "                          INDEX ID \"TEXT\" LAYER:EXPERT/WEIGHT,... (also in --json)\n"
    "      --db PATH           session database (default: $PONDER_DB, else db in\n"
    "                          the configuration, else\n"
    "                          $XDG_DATA_HOME/ponder/ponder.db)\n"
    "      --no-log            do not record this run in the session database\n"
    "      --log               record it even where the configuration says log = off\n"
    "  -q, --quiet             no timings on standard error\n"
    "  -h, --help              this help\n";

enum { OPT_TEMPLATE = 256, OPT_JSON, OPT_STOP, OPT_PRECISE, OPT_ROUTING };

enum { OPT_DB = 300, OPT_NO_LOG, OPT_LOG };

static const struct option run_longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "prompt", required_argument, NULL, 'p' },
    { "system", required_argument, NULL, 's' },
    { "n-predict", required_argument, NULL, 'n' },
    { "ctx-size", required_argument, NULL, 'c' },
    { "threads", required_argument, NULL, 't' },
    CLI_SAMPLER_LONGOPTS,
    CLI_DEVICE_LONGOPTS,
    CLI_LORA_LONGOPTS,
    { "template", required_argument, NULL, OPT_TEMPLATE },
    { "stop", required_argument, NULL, OPT_STOP },
    { "json", no_argument, NULL, OPT_JSON },
    { "precise", no_argument, NULL, OPT_PRECISE },
    { "routing", no_argument, NULL, OPT_ROUTING },
    { "db", required_argument, NULL, OPT_DB },
    { "no-log", no_argument, NULL, OPT_NO_LOG },
    { "log", no_argument, NULL, OPT_LOG },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* EXIT_OK to run, another exit status to return at once. */
static int
parse_run_opts(int argc, char **argv, struct run_opts *o)
{
    pd_sampler_params_default(&o->sp);
    pd_context_params_default(&o->cp);
    const struct cli_config *cfg = cli_config_load("run");
    cli_config_apply(cfg, &o->sp, &o->cp);
    o->template_name = cfg->template_name;
    o->db = cli_config_db(cfg);
    o->no_log = cfg->log == 0;
    o->n_predict = -1;
    long l;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:s:n:c:t:qh", run_longopts, NULL)) != -1) {
        int r = cli_parse_sampler_opt("run", c, optarg, &o->sp);
        if (r > 0)
            r = cli_parse_device_opt("run", c, optarg, &o->cp);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 's': o->system = optarg; break;
        case 'n':
            if (!cli_parse_int("run", "-n", optarg, -1, INT32_MAX, &o->n_predict))
                return EXIT_USAGE;
            break;
        case 'c':
            if (!cli_parse_int("run", "-c", optarg, 1, 1 << 24, &l))
                return EXIT_USAGE;
            o->cp.n_ctx = (int32_t)l;
            break;
        case 't':
            if (!cli_parse_int("run", "-t", optarg, 1, 1024, &l))
                return EXIT_USAGE;
            o->cp.n_threads = (int32_t)l;
            break;
        case OPT_TEMPLATE: o->template_name = optarg; break;
        case OPT_STOP:
            if (o->n_stop == MAX_STOP)
                return cli_usage_error("run", "at most %d --stop strings", MAX_STOP);
            o->stop[o->n_stop++] = optarg;
            break;
        case OPT_JSON: o->json = true; break;
        case OPT_PRECISE: o->cp.precise = true; break;
        case OPT_ROUTING: o->routing = true; break;
        case OPT_DB: o->db = optarg; break;
        case OPT_NO_LOG: o->no_log = true; break;
        case OPT_LOG: o->no_log = false; break;
        case 'q': o->quiet = true; break;
        case 'h': fputs(run_help, stdout); return -1;
        default: return cli_usage_error("run", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (o->model == NULL)
        return cli_usage_error("run", "no model: give one with -m MODEL.gguf");
    if (o->prompt == NULL && isatty(STDIN_FILENO))
        return cli_usage_error("run", "no prompt: give one with -p TEXT (or -p - for stdin)");
    if (o->template_name && strcmp(o->template_name, "none") != 0 &&
        pd_template_from_name(o->template_name) < 0)
        return cli_usage_error("run", "--template: unknown template '%s'", o->template_name);
    return EXIT_OK;
}

/* ---- output ---- */

static void
json_string_body(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch == '\r')
            fputs("\\r", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
}

static void
json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    json_string_body(f, s, n);
    fputc('"', f);
}

static const char *
segment_name(enum pd_segment s)
{
    return s == PD_SEG_THINK ? "think" : s == PD_SEG_ANSWER ? "answer" : "tag";
}

static void
print_routing_json(const struct pd_routing *r)
{
    printf(",\"routing\":{\"layers\":[");
    for (int32_t l = 0; l < r->n_layers; l++)
        printf("%s%d", l ? "," : "", r->layer[l]);
    printf("],\"experts\":[");
    for (int32_t l = 0; l < r->n_layers; l++) {
        printf("%s[", l ? "," : "");
        for (int32_t k = 0; k < r->k; k++)
            printf("%s%d", k ? "," : "", r->ids[l * r->k + k]);
        printf("]");
    }
    printf("],\"weights\":[");
    for (int32_t l = 0; l < r->n_layers; l++) {
        printf("%s[", l ? "," : "");
        for (int32_t k = 0; k < r->k; k++)
            printf("%s%.4g", k ? "," : "", r->weights[l * r->k + k]);
        printf("]");
    }
    printf("],\"entropy\":[");
    for (int32_t l = 0; l < r->n_layers; l++)
        printf("%s%.4g", l ? "," : "", r->entropy[l]);
    printf("]}");
}

/* The --routing line of one token: INDEX ID "TEXT" LAYER:EXPERT/WEIGHT,... */
static void
print_routing_line(const struct pd_token_event *ev)
{
    printf("%d\t%d\t\"", ev->index, ev->id);
    for (int i = 0; i < ev->n_spans; i++)
        json_string_body(stdout, ev->spans[i].text, ev->spans[i].len);
    printf("\"");
    const struct pd_routing *r = ev->routing;
    for (int32_t l = 0; r && l < r->n_layers; l++) {
        printf("%s%d:", l ? " " : "\t", r->layer[l]);
        for (int32_t k = 0; k < r->k; k++)
            printf("%s%d/%.2f", k ? "," : "", r->ids[l * r->k + k], r->weights[l * r->k + k]);
    }
    printf("\n");
}

static void
print_event_json(const struct pd_token_event *ev)
{
    /* JSON has no infinities: a token the model gave no chance at all gets a null log-prob. */
    printf("{\"index\":%d,\"id\":%d,\"segment\":\"%s\",\"logprob\":", ev->index, ev->id,
           segment_name(ev->segment));
    if (isfinite(ev->logprob))
        printf("%.6g", ev->logprob);
    else
        printf("null");
    printf(",\"entropy\":%.6g,\"t\":%.6f,\"text\":", ev->entropy, ev->t);
    fputc('"', stdout);
    for (int i = 0; i < ev->n_spans; i++)
        json_string_body(stdout, ev->spans[i].text, ev->spans[i].len);
    printf("\",\"spans\":[");
    for (int i = 0; i < ev->n_spans; i++) {
        printf("%s{\"segment\":\"%s\",\"text\":", i ? "," : "",
               segment_name(ev->spans[i].segment));
        json_string(stdout, ev->spans[i].text, ev->spans[i].len);
        putchar('}');
    }
    printf("],\"piece_bytes\":[");
    for (size_t i = 0; i < ev->piece_len; i++)
        printf("%s%u", i ? "," : "", (unsigned char)ev->piece[i]);
    printf("]");
    if (ev->routing)
        print_routing_json(ev->routing);
    printf("}\n");
}

static int
on_event(void *user, const struct pd_token_event *ev)
{
    struct run_out *out = user;
    run_log_token(out->log, ev);
    if (out->json || (out->routing && ev->id >= 0)) {
        if (out->json)
            print_event_json(ev);
        else
            print_routing_line(ev);
        fflush(stdout);
        return atomic_load(&interrupted);
    }
    for (int i = 0; i < ev->n_spans; i++) {
        const struct pd_text_span *sp = &ev->spans[i];
        if (out->color && sp->segment != out->shown) {
            fputs(sp->segment == PD_SEG_ANSWER ? "\033[0m" : "\033[2m", stdout);
            out->shown = sp->segment;
        }
        fwrite(sp->text, 1, sp->len, stdout);
    }
    fflush(stdout);
    return atomic_load(&interrupted);
}

/* ---- the command ---- */

static char *
render_prompt(const struct run_opts *o, const struct pd_model *m, const char *user_text,
              bool *opened_think)
{
    *opened_think = false;
    if (o->template_name && strcmp(o->template_name, "none") == 0)
        return strdup(user_text);
    enum pd_template t = o->template_name ? (enum pd_template)pd_template_from_name(
                                                o->template_name)
                                          : pd_template_detect(m->chat_template, NULL);
    struct pd_chat_msg msgs[2];
    size_t n = 0;
    if (o->system)
        msgs[n++] = (struct pd_chat_msg){ "system", o->system };
    msgs[n++] = (struct pd_chat_msg){ "user", user_text };
    int32_t bos = pd_tokenizer_bos(m->tok);
    size_t bos_len = 0;
    const char *bos_text = bos >= 0 ? pd_tokenizer_piece(m->tok, bos, &bos_len) : NULL;
    return pd_template_apply(t, msgs, n, true, bos_text, opened_think);
}

static void
print_stats(const struct pd_gen_result *r)
{
    fprintf(stderr, "\nprompt: %d tokens, %.1f tok/s · generated: %d tokens, %.1f tok/s · "
                    "first token after %.2f s · stop: %s\n",
            r->n_prompt, r->t_prompt > 0 ? r->n_prompt / r->t_prompt : 0.0, r->n_generated,
            r->t_generate > 0 ? r->n_generated / r->t_generate : 0.0, r->t_first_token,
            pd_stop_reason_name(r->stop));
}

static int
run_generation(const struct run_opts *o, struct pd_model *m, const char *text)
{
    char err[PD_ERR_MAX] = "";
    bool opened = false;
    char *prompt = render_prompt(o, m, text, &opened);
    if (prompt == NULL)
        return cli_fail("run", "out of memory");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = pd_tokenizer_encode(m->tok, prompt, strlen(prompt),
                                 PD_TOK_ADD_SPECIAL | PD_TOK_PARSE_SPECIAL, &ids, &n_ids, err);
    free(prompt);
    if (rc)
        return cli_fail("run", "cannot tokenize the prompt: %s", err);

    struct pd_context *ctx = NULL;
    struct pd_sampler *smp = NULL;
    int status = EXIT_RUNTIME;
    if ((rc = pd_context_new(&ctx, m, &o->cp, err)) != 0) {
        cli_fail("run", "%s", err);
        goto out;
    }
    char note[PD_ERR_MAX];
    pd_context_backend(ctx, note, sizeof note);
    if (!o->quiet && note[0])   /* which backend runs it, when a CUDA device was in question */
        fprintf(stderr, "ponder run: backend %s\n", note);
    smp = pd_sampler_new(&o->sp, m->hp.n_vocab);
    if (smp == NULL) {
        cli_fail("run", "out of memory");
        goto out;
    }
    struct pd_gen_params gp = { .n_predict = (int32_t)o->n_predict,
                                .stop = o->n_stop ? o->stop : NULL,
                                .opened_think = opened, .cancel = &interrupted };
    struct run_out out = { .json = o->json, .routing = o->routing,
                           .color = o->color && !o->json && !o->routing,
                           .shown = PD_SEG_ANSWER };
    if (o->routing && !o->json && m->hp.n_expert == 0)
        fprintf(stderr, "ponder run: %s is a dense model: no experts to show; tokens are listed "
                        "without routing\n", m->name);
    if (o->routing && !o->json)
        printf("# index\tid\ttext\tlayer:expert/weight,... (experts by decreasing weight)\n");
    if (!o->no_log)
        out.log = run_log_open(o->db, m, o->model, o->system, text, &o->sp);
    struct pd_gen_result res;
    signal(SIGINT, on_sigint);
    rc = pd_generate(ctx, smp, ids, (int32_t)n_ids, &gp, on_event, &out, &res, err);
    signal(SIGINT, SIG_DFL);
    run_log_close(out.log, rc ? NULL : &res);
    if (out.color && out.shown != PD_SEG_ANSWER)
        fputs("\033[0m", stdout);
    if (rc) {
        cli_fail("run", "%s", err);
        goto out;
    }
    if (o->json)
        printf("{\"done\":true,\"stop\":\"%s\",\"n_prompt\":%d,\"n_generated\":%d,"
               "\"t_prompt\":%.6f,\"t_generate\":%.6f}\n", pd_stop_reason_name(res.stop),
               res.n_prompt, res.n_generated, res.t_prompt, res.t_generate);
    else
        putchar('\n');
    fflush(stdout);
    if (!o->quiet)
        print_stats(&res);
    status = EXIT_OK;
out:
    pd_sampler_free(smp);
    pd_context_free(ctx);
    free(ids);
    return status;
}

/* The prompt, the model and the generation: all of `run` but for the ranks of a group. */
static int
run_as_driver(struct run_opts *o)
{
    int rc;
    char *stdin_text = NULL;
    const char *text = o->prompt;
    if (text == NULL || strcmp(text, "-") == 0) {
        size_t len = 0;
        stdin_text = cli_read_all(stdin, &len);
        if (stdin_text == NULL)
            return cli_fail("run", "cannot read the prompt from standard input");
        /* The newline that ends the last line (echo, a file) is not part of the prompt. */
        while (len > 0 && (stdin_text[len - 1] == '\n' || stdin_text[len - 1] == '\r'))
            stdin_text[--len] = '\0';
        text = stdin_text;
    }
    struct pd_model *m = NULL;
    rc = cli_load_model("run", o->model, &m);
    if (rc == EXIT_OK)
        rc = run_generation(o, m, text);
    pd_model_free(m);
    free(stdin_text);
    return rc;
}

static int
cmd_run_exec(int argc, char **argv)
{
    struct run_opts o = { 0 };
    int rc = parse_run_opts(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    o.color = cli_config_color(cli_config_load("run"), STDOUT_FILENO);
    /* a rank of a group started by a launcher: rank 0 runs the prompt, the others serve it */
    struct pd_comm *comm = NULL;
    if ((rc = cli_join_group("run", &o.cp, &comm)) != EXIT_OK)
        return rc;
    if (comm && pd_comm_rank(comm) > 0) {
        rc = cli_serve_group("run", o.model, &o.cp);
        pd_comm_free(comm);
        return rc;
    }
    rc = run_as_driver(&o);
    cli_leave_group(comm, rc);
    return rc;
}

const struct pd_cmd_entry cmd_run_entry = {
    .name = "run",
    .usage = "-m MODEL.gguf -p PROMPT [options]",
    .summary = "generate a reply to one prompt",
    .exec = cmd_run_exec,
};
