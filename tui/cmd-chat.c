/*
 * cmd-chat.c: `ponder chat`: a line-mode chat with a model, for any terminal and for scripts.
 *
 * Each line typed is a user turn; the reply streams back (chat-gen.c), its thoughts dimmed and
 * folded as /think says. Every turn is recorded in the session store unless --no-log; the store
 * also backs /sessions, /open, /title and /fork. Lines starting with '/' are commands (a line
 * starting with "//" is sent as a message starting with '/'). Ctrl-C stops a reply (what was
 * written stays, in the conversation and the store) or, at the prompt, empties the line; Ctrl-D
 * or /quit ends the chat. The configuration file (config.h) gives the defaults that the flags
 * override.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/chat.h"
#include "tui/cli.h"
#include "tui/settings.h"

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_bool chat_interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    atomic_store(&chat_interrupted, true);
}

void *
chat_xmalloc(size_t n)
{
    return chat_xrealloc(NULL, n);
}

void *
chat_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fputs("ponder chat: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *
chat_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(chat_xmalloc(n), s, n);
}

static const char chat_help[] =
    "usage: ponder chat -m MODEL.gguf [options]\n"
    "\n"
    "Chat with a model, one line per turn. Every turn is recorded in the session store.\n"
    "Type /help in the chat for its commands.\n"
    "\n"
    "  -m, --model FILE        GGUF model to load (required)\n"
    "  -s, --system TEXT       a system message\n"
    "  -n, --n-predict N       at most N tokens per reply (default: until the model ends)\n"
    "  -c, --ctx-size N        context size in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         CPU threads (default: all online CPUs)\n"
    CLI_DEVICE_HELP
    CLI_LORA_HELP
    CLI_SAMPLER_HELP
    "      --template NAME     chat template (as for run; default: recognized from the model)\n"
    "      --precise           float activations in matrix products (slower)\n"
    "      --think MODE        auto: stream the thoughts, then fold them to one line\n"
    "                          (default); on: show them in full; off: only the fold line\n"
    "      --keep-thinking     keep earlier replies' thinking in the context (r1 templates\n"
    "                          drop it, as DeepSeek-R1's own template does)\n"
    "      --db PATH           session database (default: $PONDER_DB, else db in\n"
    "                          the configuration, else\n"
    "                          $XDG_DATA_HOME/ponder/ponder.db)\n"
    "      --no-log            do not record this chat in the session database\n"
    "      --log               record it even where the configuration says log = off\n"
    "  -h, --help              this help\n";

static const char slash_help[] =
    "/new             start a new session (the system message stays)\n"
    "/sessions        the recent sessions\n"
    "/open ID         continue a stored session\n"
    "/title TEXT      rename this session\n"
    "/fork [TOKEN]    continue in a copy of this session (cut at token TOKEN of the last "
    "reply)\n"
    "/regen           generate the last reply again\n"
    "/think on|off|auto  how thoughts are shown\n"
    "/help            this list\n"
    "/quit            leave (so does Ctrl-D)\n"
    "Ctrl-C stops a reply; at the prompt it clears the line. Start a message with // to send a\n"
    "line that begins with /.\n";

enum { OPT_THINK = 256 };

static const struct option chat_longopts[] = {
    CHAT_LONGOPTS,
    { "think", required_argument, NULL, OPT_THINK },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static bool
parse_think(const char *s, enum chat_think *out)
{
    if (strcmp(s, "auto") == 0)
        *out = CHAT_THINK_AUTO;
    else if (strcmp(s, "on") == 0)
        *out = CHAT_THINK_ON;
    else if (strcmp(s, "off") == 0)
        *out = CHAT_THINK_OFF;
    else
        return false;
    return true;
}

/* One option; EXIT_OK to go on, -1 after --help, or EXIT_USAGE. */
static int
parse_opt(struct chat *c, int opt, const char *arg)
{
    int r = chat_opts_parse(c, "chat", opt, arg);
    if (r != 1)
        return r;
    switch (opt) {
    case OPT_THINK:
        if (!parse_think(arg, &c->think))
            return cli_usage_error("chat", "--think: '%s' is not on, off or auto", arg);
        break;
    case 'h': fputs(chat_help, stdout); return -1;
    default: return cli_usage_error("chat", "unknown option (see --help)");
    }
    return EXIT_OK;
}

static int
parse_opts(int argc, char **argv, struct chat *c)
{
    const struct cli_config *cfg = chat_opts_defaults(c, "chat");
    if (cfg->think)
        parse_think(cfg->think, &c->think);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, CHAT_SHORTOPTS, chat_longopts, NULL)) != -1) {
        int rc = parse_opt(c, opt, optarg);
        if (rc != EXIT_OK)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("chat", "unexpected argument '%s'", argv[optind]);
    if (c->model_path == NULL)
        return cli_usage_error("chat", "no model: give one with -m MODEL.gguf");
    return chat_opts_check(c, "chat");
}

/* ---- the store ---- */

static void
open_store(struct chat *c)
{
    char err[PD_ERR_MAX] = "";
    if (c->no_log)
        return;
    struct pd_store_model sm = { .path = c->model_path, .size = c->m->gguf->size,
                                 .header = c->m->gguf->map,
                                 .header_len = c->m->gguf->data_offset,
                                 .arch = c->m->hp.arch_name, .name = c->m->name,
                                 .n_params = c->m->n_params };
    if (pd_store_open(&c->st, c->db, err) == 0 &&
        pd_store_model_id(c->st, &sm, &c->model_id, err) == 0)
        return;
    fprintf(stderr, "ponder chat: warning: %s; this chat is not logged (--no-log silences "
                    "this)\n", err);
    pd_store_close(c->st);
    c->st = NULL;
}

static bool
need_store(const struct chat *c, const char *cmd)
{
    if (c->st)
        return true;
    fprintf(stderr, "%s needs the session store, which is off%s\n", cmd,
            c->no_log ? " (--no-log)" : "");
    return false;
}

/* ---- slash commands ---- */

static void
dim_line(const struct chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
dim_line(const struct chat *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(c->color ? "\033[2m" : "", stdout);
    vprintf(fmt, ap);
    fputs(c->color ? "\033[0m\n" : "\n", stdout);
    va_end(ap);
}

/* Back to a conversation holding only the system message. */
static void
reset_conversation(struct chat *c)
{
    chat_truncate(c, 0);
    if (c->system)
        chat_push(c, "system", c->system);
    c->session = 0;
    free(c->title);
    c->title = NULL;
}

static int
list_session(void *user, const struct pd_session_row *r)
{
    const struct chat *c = user;
    char when[32];
    time_t t = (time_t)(r->updated / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    printf("%s%6lld  %s  %3d turns  %s%s\n", r->id == c->session ? "*" : " ", (long long)r->id,
           when, r->n_turns, r->title, "");
    return 0;
}

/* A stored turn into the conversation. An assistant turn right after another is a /regen of it
 * and replaces it. */
static int
load_turn(void *user, const struct pd_turn_row *t)
{
    struct chat *c = user;
    bool asst = strcmp(t->role, "assistant") == 0;
    if (asst && c->n_msgs && strcmp(c->msgs[c->n_msgs - 1].role, "assistant") == 0)
        chat_truncate(c, c->n_msgs - 1);
    struct chat_msg *m = chat_push(c, t->role, t->text);
    if (asst) {
        free(m->think);
        free(m->answer);
        m->think = chat_xstrdup(t->think);
        m->answer = chat_xstrdup(t->answer);
        m->n_think = t->n_think;
        m->think_s = t->think_s;
    }
    return 0;
}

static int
session_title(void *user, const struct pd_session_row *r)
{
    struct chat *c = user;
    free(c->title);
    c->title = chat_xstrdup(r->title);
    return 0;
}

/* Replace the conversation by session id's turns and print them briefly. */
static bool
load_session(struct chat *c, int64_t id)
{
    char err[PD_ERR_MAX];
    if (pd_store_session_get(c->st, id, session_title, c, err)) {
        fprintf(stderr, "%s\n", err);
        return false;
    }
    chat_truncate(c, 0);
    if (pd_store_turns_each(c->st, id, load_turn, c, err)) {
        fprintf(stderr, "%s\n", err);
        reset_conversation(c);
        return false;
    }
    c->session = id;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const struct chat_msg *m = &c->msgs[i];
        if (strcmp(m->role, "user") == 0) {
            printf("%s» %s%s\n", c->color ? "\033[1m" : "", m->text, c->color ? "\033[0m" : "");
        } else if (strcmp(m->role, "assistant") == 0) {
            if (m->think[0])
                chat_print_fold(c, m->think_s, m->n_think, NULL);
            printf("%s\n", m->answer[0] || m->think[0] ? m->answer : m->text);
        }
    }
    dim_line(c, "session %lld · %s · %zu messages", (long long)id, c->title, c->n_msgs);
    return true;
}

static void
slash_fork(struct chat *c, const char *arg)
{
    char err[PD_ERR_MAX];
    long at = -1;
    if (*arg && !cli_parse_int("chat", "/fork", arg, 0, INT32_MAX, &at))
        return;
    if (!need_store(c, "/fork"))
        return;
    if (c->session == 0) {
        fprintf(stderr, "/fork: nothing to fork yet\n");
        return;
    }
    int64_t id = 0, from = c->session;
    if (pd_store_session_fork(c->st, from, (int)at, &id, err)) {
        fprintf(stderr, "/fork: %s\n", err);
        return;
    }
    if (load_session(c, id))
        dim_line(c, "forked from session %lld%s", (long long)from, at >= 0 ? " (cut)" : "");
}

static void
slash_regen(struct chat *c)
{
    if (c->n_msgs == 0 || strcmp(c->msgs[c->n_msgs - 1].role, "assistant") != 0) {
        fprintf(stderr, "/regen: no reply to generate again\n");
        return;
    }
    chat_truncate(c, c->n_msgs - 1);
    if (chat_reply(c) != 0)
        fprintf(stderr, "/regen: the reply could not be generated\n");
}

/* Run a slash command; false when the chat should end. */
static bool
slash(struct chat *c, const char *line)
{
    char err[PD_ERR_MAX];
    size_t n = strcspn(line, " \t");
    const char *arg = line + n;
    arg += strspn(arg, " \t");
#define IS(name) (n == strlen(name) && strncmp(line, name, n) == 0)
    if (IS("/quit") || IS("/exit") || IS("/q")) {
        return false;
    } else if (IS("/help") || IS("/?")) {
        fputs(slash_help, stdout);
    } else if (IS("/new")) {
        reset_conversation(c);
        dim_line(c, "new session");
    } else if (IS("/sessions")) {
        if (need_store(c, "/sessions") &&
            pd_store_sessions_list(c->st, 20, NULL, list_session, c, err))
            fprintf(stderr, "/sessions: %s\n", err);
    } else if (IS("/open")) {
        long id;
        if (*arg == '\0')
            fprintf(stderr, "/open: which session? (/sessions lists them)\n");
        else if (cli_parse_int("chat", "/open", arg, 1, INT32_MAX, &id) &&
                 need_store(c, "/open"))
            load_session(c, id);
    } else if (IS("/title")) {
        if (*arg == '\0') {
            fprintf(stderr, "/title: give the new title (this one: %s)\n",
                    c->title ? c->title : "none yet");
        } else {
            free(c->title);
            c->title = chat_xstrdup(arg);
            if (c->st && c->session && pd_store_session_set_title(c->st, c->session, arg, err))
                fprintf(stderr, "/title: %s\n", err);
            else
                dim_line(c, "title: %s", arg);
        }
    } else if (IS("/fork")) {
        slash_fork(c, arg);
    } else if (IS("/regen")) {
        slash_regen(c);
    } else if (IS("/think")) {
        static const char *const names[] = { "auto", "on", "off" };
        if (*arg && !parse_think(arg, &c->think))
            fprintf(stderr, "/think: '%s' is not on, off or auto\n", arg);
        else
            dim_line(c, "thinking shown: %s", names[c->think]);
    } else {
        fprintf(stderr, "unknown command '%.*s' (/help lists the commands)\n", (int)n, line);
    }
#undef IS
    return true;
}

/* A user line: a turn, then the reply. */
static void
user_turn(struct chat *c, const char *text)
{
    char err[PD_ERR_MAX];
    chat_one_question(c);
    chat_push(c, "user", text);
    if (chat_session_ensure(c, text) &&
        pd_store_turn_add(c->st, c->session, "user", text, NULL, err))
        fprintf(stderr, "ponder chat: warning: %s; this turn is not logged\n", err);
    if (chat_reply(c) != 0)
        chat_truncate(c, c->n_msgs - 1);
}

static void
chat_loop(struct chat *c)
{
    for (;;) {
        bool cleared;
        char *line = chat_line_read(c, &cleared);
        if (line == NULL) {
            if (cleared)
                continue;
            if (c->tty_in)
                putchar('\n');
            break;
        }
        const char *p = line + strspn(line, " \t");
        bool go_on = true;
        if (*p == '\0') {
            /* nothing */
        } else if (p[0] == '/' && p[1] != '/') {
            chat_line_remember(c, p);
            go_on = slash(c, p);
        } else {
            chat_line_remember(c, p);
            user_turn(c, p[0] == '/' ? p + 1 : p);
        }
        free(line);
        if (!go_on)
            break;
    }
}

static int
cmd_chat_exec(int argc, char **argv)
{
    struct chat c = { 0 };
    int rc = parse_opts(argc, argv, &c);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    setlocale(LC_CTYPE, "");
    c.tty_in = isatty(STDIN_FILENO);
    c.tty_out = isatty(STDOUT_FILENO);
    c.color = cli_config_color(cli_config_load("chat"), STDOUT_FILENO);
    if ((rc = cli_load_model("chat", c.model_path, &c.m)) != EXIT_OK)
        return rc;
    char err[PD_ERR_MAX] = "";
    if (pd_context_new(&c.ctx, c.m, &c.cp, err)) {
        pd_model_free(c.m);
        return cli_fail("chat", "%s", err);
    }
    c.raw = c.template_name && strcmp(c.template_name, "none") == 0;
    c.tmpl = c.template_name && !c.raw
                 ? (enum pd_template)pd_template_from_name(c.template_name)
                 : pd_template_detect(c.m->chat_template, NULL);
    open_store(&c);
    reset_conversation(&c);
    if (c.tty_in)
        dim_line(&c, "ponder chat · %s · template %s · context %d · /help for commands",
                 c.m->name, c.raw ? "none" : pd_template_name(c.tmpl),
                 pd_context_n_ctx(c.ctx));
    struct sigaction sa = { .sa_handler = on_sigint }, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);   /* no SA_RESTART: a read at the prompt returns */
    chat_line_init(&c);
    chat_loop(&c);
    chat_line_done(&c);
    sigaction(SIGINT, &old, NULL);
    chat_truncate(&c, 0);
    free(c.msgs);
    free(c.title);
    free(c.cached);
    pd_store_close(c.st);
    pd_context_free(c.ctx);
    pd_model_free(c.m);
    return EXIT_OK;
}

const struct pd_cmd_entry cmd_chat_entry = {
    .name = "chat",
    .usage = "-m MODEL.gguf [options]",
    .summary = "chat with a model, line by line, every turn recorded",
    .exec = cmd_chat_exec,
};
