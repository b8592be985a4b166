/*
 * cmd-sessions.c: `ponder sessions`: list, show, search, export, import, rm and check the
 * sessions kept in the store (sessions/store.h).
 *
 *   ponder sessions list [--limit N] [--model SUBSTR]
 *   ponder sessions show ID [--full]
 *   ponder sessions search QUERY [--limit N]
 *   ponder sessions export ID|--all [--format ponder|openai|trl]
 *   ponder sessions import FILE|-
 *   ponder sessions replay ID [--speed X] [--turn N]
 *   ponder sessions fork ID [--at TOKEN] [--title T]
 *   ponder sessions rm ID
 *   ponder sessions check
 * Every form takes --db PATH; without it, the database the configuration file names (config.h).
 *
 * replay streams the stored tokens of each reply again with the timing they were generated
 * with (each token's t, divided by --speed), the user's turns printed before the replies. The
 * stored text of a turn is what is printed; the tokens say when each part of it appears and in
 * which segment it is, so held-back stop strings and the end-of-turn token stay unprinted, as
 * they were when the reply was generated.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/cli.h"
#include "tui/settings.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char sessions_help[] =
    "usage: ponder sessions list [--limit N] [--model SUBSTR]\n"
    "       ponder sessions show ID [--full]\n"
    "       ponder sessions search QUERY [--limit N]\n"
    "       ponder sessions export ID|--all [--format ponder|openai|trl]\n"
    "       ponder sessions import FILE|-\n"
    "       ponder sessions replay ID [--speed X] [--turn N]\n"
    "       ponder sessions fork ID [--at TOKEN] [--title T]\n"
    "       ponder sessions rm ID\n"
    "       ponder sessions check\n"
    "\n"
    "The sessions ponder has recorded: list them (newest first), show one's transcript (the\n"
    "thinking folded to one line unless --full), search the thoughts and answers, export as\n"
    "JSON lines (ponder: lossless, with every token; openai: chat messages with\n"
    "reasoning_content; trl: prompt/completion rows with gold answers), import a ponder\n"
    "export, replay one's replies token by token with their original timing, fork one into a\n"
    "new session (cut after the first TOKEN tokens of its last reply), delete one, or check\n"
    "the database's integrity.\n"
    "\n"
    "      --db PATH       the database (default: $PONDER_DB, else db in\n"
    "                      the configuration, else\n"
    "                      $XDG_DATA_HOME/ponder/ponder.db)\n"
    "  -n, --limit N       at most N sessions or hits\n"
    "      --model SUBSTR  only sessions whose model name or path contains SUBSTR\n"
    "      --full          show the thinking in full\n"
    "      --all           export every session\n"
    "  -f, --format F      export format: ponder (default), openai, trl\n"
    "      --speed X       replay X times as fast (default 1; 0: no delay)\n"
    "      --turn N        replay only reply N (its turn id, as show prints it)\n"
    "      --at TOKEN      fork: keep the first TOKEN tokens of the last reply\n"
    "      --title T       fork: the new session's title (default: \"TITLE (fork)\")\n"
    "  -h, --help          this help\n";

struct sess_opts {
    const char *db, *model, *format, *title;
    long limit, turn, at;
    double speed;
    bool full, all;
};

enum { OPT_DB = 256, OPT_MODEL, OPT_FULL, OPT_ALL, OPT_SPEED, OPT_TURN, OPT_AT, OPT_TITLE };

static const struct option sessions_longopts[] = {
    { "db", required_argument, NULL, OPT_DB },
    { "limit", required_argument, NULL, 'n' },
    { "model", required_argument, NULL, OPT_MODEL },
    { "full", no_argument, NULL, OPT_FULL },
    { "all", no_argument, NULL, OPT_ALL },
    { "format", required_argument, NULL, 'f' },
    { "speed", required_argument, NULL, OPT_SPEED },
    { "turn", required_argument, NULL, OPT_TURN },
    { "at", required_argument, NULL, OPT_AT },
    { "title", required_argument, NULL, OPT_TITLE },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* EXIT_OK, -1 after --help, or EXIT_USAGE. Positional arguments are left from optind. */
static int
parse_opts(int argc, char **argv, struct sess_opts *o)
{
    int c;
    o->speed = 1;
    o->at = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:f:h", sessions_longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DB: o->db = optarg; break;
        case 'n':
            if (!cli_parse_int("sessions", "--limit", optarg, 1, 1 << 30, &o->limit))
                return EXIT_USAGE;
            break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_FULL: o->full = true; break;
        case OPT_ALL: o->all = true; break;
        case 'f': o->format = optarg; break;
        case OPT_SPEED:
            if (!cli_parse_float("sessions", "--speed", optarg, 0, 1e6, &o->speed))
                return EXIT_USAGE;
            break;
        case OPT_TURN:
            if (!cli_parse_int("sessions", "--turn", optarg, 1, INT32_MAX, &o->turn))
                return EXIT_USAGE;
            break;
        case OPT_AT:
            if (!cli_parse_int("sessions", "--at", optarg, 0, INT32_MAX, &o->at))
                return EXIT_USAGE;
            break;
        case OPT_TITLE: o->title = optarg; break;
        case 'h': fputs(sessions_help, stdout); return -1;
        default: return cli_usage_error("sessions", "unknown option (see --help)");
        }
    }
    return EXIT_OK;
}

static bool
parse_id(const char *s, int64_t *id)
{
    long v;
    if (!cli_parse_int("sessions", "ID", s, 1, INT32_MAX, &v))
        return false;
    *id = v;
    return true;
}

static void
format_time(char *out, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d %H:%M", &tm);
}

/* ---- list ---- */

static int
list_row(void *user, const struct pd_session_row *r)
{
    char when[32];
    (void)user;
    format_time(when, sizeof when, r->updated);
    printf("%6lld  %s  %5d  %7lld  %-20.20s  %s\n", (long long)r->id, when, r->n_turns,
           (long long)r->n_tokens, r->model, r->title);
    return 0;
}

static int
sessions_list(struct pd_store *st, const struct sess_opts *o)
{
    char err[PD_ERR_MAX];
    printf("%6s  %-16s  %5s  %7s  %-20s  %s\n", "ID", "UPDATED", "TURNS", "TOKENS", "MODEL",
           "TITLE");
    if (pd_store_sessions_list(st, (int)o->limit, o->model, list_row, NULL, err))
        return cli_fail("sessions", "%s", err);
    return EXIT_OK;
}

/* ---- show ---- */

struct show_ctx {
    bool full, color;
};

static int
show_header(void *user, const struct pd_session_row *r)
{
    char when[32];
    (void)user;
    format_time(when, sizeof when, r->created);
    printf("session %lld · %s · %s · %s\n", (long long)r->id, when,
           *r->model ? r->model : "no model", r->title);
    return 0;
}

static int
show_turn(void *user, const struct pd_turn_row *t)
{
    const struct show_ctx *sc = user;
    const char *dim = sc->color ? "\033[2m" : "", *off = sc->color ? "\033[0m" : "";
    printf("\n%s» %s (turn %lld)%s\n", dim, t->role, (long long)t->id, off);
    bool assistant = strcmp(t->role, "assistant") == 0;
    if (!assistant || (!*t->think && !*t->answer)) {
        printf("%s\n", t->text);
        return 0;
    }
    if (*t->think && sc->full)
        printf("%s<think>\n%s\n</think>%s\n", dim, t->think, off);
    else if (*t->think)
        printf("%s▸ thought %.1f s · %d tokens%s\n", dim, t->think_s, t->n_think, off);
    printf("%s\n", t->answer);
    printf("%s[%d tokens · first after %.2f s · %.1f s · stop: %s]%s\n", dim, t->n_tokens,
           t->ttft, t->total_s, *t->stop ? t->stop : "interrupted", off);
    return 0;
}

static int
sessions_show(struct pd_store *st, const struct sess_opts *o, int64_t id)
{
    char err[PD_ERR_MAX];
    struct show_ctx sc = { .full = o->full,
                           .color = cli_config_color(cli_config_load("sessions"),
                                                     STDOUT_FILENO) };
    if (pd_store_session_get(st, id, show_header, NULL, err) ||
        pd_store_turns_each(st, id, show_turn, &sc, err))
        return cli_fail("sessions", "%s", err);
    return EXIT_OK;
}

/* ---- search ---- */

static int
search_hit(void *user, const struct pd_search_hit *h)
{
    int *n = user;
    (*n)++;
    printf("session %lld · turn %lld · in the %s: %s\n", (long long)h->session,
           (long long)h->turn, h->in_think ? "thoughts" : "answer", h->snippet);
    return 0;
}

static int
sessions_search(struct pd_store *st, const struct sess_opts *o, const char *query)
{
    char err[PD_ERR_MAX];
    int n = 0;
    if (pd_store_search(st, query, (int)o->limit, search_hit, &n, err))
        return cli_fail("sessions", "%s", err);
    if (n == 0)
        fprintf(stderr, "ponder sessions: no match for '%s'\n", query);
    return EXIT_OK;
}

/* ---- export, import, rm, check ---- */

static int
sessions_export(struct pd_store *st, const struct sess_opts *o, const char *arg)
{
    enum pd_export_format fmt = PD_EXPORT_PONDER;
    char err[PD_ERR_MAX];
    int64_t id = 0;
    if (o->format && strcmp(o->format, "openai") == 0)
        fmt = PD_EXPORT_OPENAI;
    else if (o->format && strcmp(o->format, "trl") == 0)
        fmt = PD_EXPORT_TRL;
    else if (o->format && strcmp(o->format, "ponder") != 0)
        return cli_usage_error("sessions", "--format: '%s' is not ponder, openai or trl",
                               o->format);
    if (!o->all && (arg == NULL || !parse_id(arg, &id)))
        return arg ? EXIT_USAGE : cli_usage_error("sessions", "export: give an ID or --all");
    if (pd_store_export(st, o->all ? 0 : id, fmt, stdout, err))
        return cli_fail("sessions", "%s", err);
    return EXIT_OK;
}

static int
sessions_import(struct pd_store *st, const char *file)
{
    char err[PD_ERR_MAX];
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (f == NULL)
        return cli_fail("sessions", "cannot open %s: %s", file, strerror(errno));
    int n = 0;
    int rc = pd_store_import(st, f, &n, err);
    if (f != stdin)
        fclose(f);
    if (rc)
        return cli_fail("sessions", "%s: %s (nothing was imported)", file, err);
    printf("imported %d session%s\n", n, n == 1 ? "" : "s");
    return EXIT_OK;
}

/* ---- replay ---- */

static atomic_bool replay_stop;

static void
replay_on_sigint(int sig)
{
    (void)sig;
    atomic_store(&replay_stop, true);
}

struct replay_turn {
    int64_t id;
    bool assistant;
    char *text;
};

struct replay {
    struct replay_turn *turns;
    size_t n, cap;
    bool color, dimmed;
    double speed;
    struct timespec start;      /* when the reply being replayed began */
};

static int
replay_collect(void *user, const struct pd_turn_row *t)
{
    struct replay *rp = user;
    if (strcmp(t->role, "system") == 0)
        return 0;
    if (rp->n == rp->cap) {
        size_t cap = rp->cap ? rp->cap * 2 : 16;
        struct replay_turn *p = realloc(rp->turns, cap * sizeof *p);
        if (p == NULL)
            return 1;
        rp->turns = p;
        rp->cap = cap;
    }
    char *text = strdup(t->text);
    if (text == NULL)
        return 1;
    rp->turns[rp->n++] = (struct replay_turn){ .id = t->id, .text = text,
                                                .assistant = strcmp(t->role, "assistant") == 0 };
    return 0;
}

/* Sleep until t seconds (scaled by the speed) after the reply began; false when interrupted. */
static bool
replay_wait(const struct replay *rp, double t)
{
    if (rp->speed <= 0 || t <= 0)
        return !atomic_load(&replay_stop);
    double due = (double)rp->start.tv_sec + rp->start.tv_nsec * 1e-9 + t / rp->speed;
    while (!atomic_load(&replay_stop)) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = due - ((double)now.tv_sec + now.tv_nsec * 1e-9);
        if (left <= 0)
            return true;
        if (left > 0.25)
            left = 0.25;    /* wake now and then: a signal may have come between check and sleep */
        struct timespec d = { .tv_sec = (time_t)left,
                              .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };
        nanosleep(&d, NULL);
    }
    return false;
}

static void
replay_style(struct replay *rp, bool dim)
{
    if (!rp->color || dim == rp->dimmed)
        return;
    fputs(dim ? "\033[2m" : "\033[0m", stdout);
    rp->dimmed = dim;
}

/* Write text[from..to) of a reply; false when stdout fails. */
static bool
replay_write(const char *text, size_t from, size_t to)
{
    if (to > from && fwrite(text + from, 1, to - from, stdout) != to - from)
        return false;
    return fflush(stdout) == 0;
}

/* Stream one reply. Its stored text is what is shown, a token's worth at a time; a reply cut
 * short before its text was written (a crash) shows the tokens' own bytes. */
static int
replay_reply(struct pd_store *st, struct replay *rp, const struct replay_turn *t)
{
    char err[PD_ERR_MAX];
    struct pd_token_list l = { 0 };
    if (pd_store_turn_tokens(st, t->id, &l, err))
        return cli_fail("sessions", "%s", err);
    size_t len = strlen(t->text), at = 0;
    bool ok = true;
    clock_gettime(CLOCK_MONOTONIC, &rp->start);
    for (size_t i = 0; i < l.n && ok; i++) {
        const struct pd_token_row *r = &l.rows[i];
        if (!replay_wait(rp, r->t))
            break;
        replay_style(rp, r->segment != PD_SEG_ANSWER);
        if (len == 0) {
            ok = replay_write(r->bytes, 0, r->len);
            continue;
        }
        size_t to = at + r->len < len ? at + r->len : len;
        ok = replay_write(t->text, at, to);
        at = to;
    }
    if (ok && !atomic_load(&replay_stop) && at < len) {
        replay_style(rp, false);
        ok = replay_write(t->text, at, len);
    }
    replay_style(rp, false);
    pd_token_list_free(&l);
    if (fputs("\n", stdout) == EOF || fflush(stdout) != 0 || !ok)
        return cli_fail("sessions", "cannot write the replay: %s", strerror(errno));
    return EXIT_OK;
}

static void
replay_user(const char *text)
{
    fputs("» ", stdout);
    for (const char *p = text; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1])
            fputs("  ", stdout);
    }
    putchar('\n');
    fflush(stdout);
}

static int
replay_noop(void *user, const struct pd_session_row *r)
{
    (void)user;
    (void)r;
    return 0;
}

static int
sessions_replay(struct pd_store *st, const struct sess_opts *o, int64_t id)
{
    char err[PD_ERR_MAX];
    struct replay rp = { .color = cli_config_color(cli_config_load("sessions"), STDOUT_FILENO),
                         .speed = o->speed };
    int rc = pd_store_session_get(st, id, replay_noop, NULL, err);
    if (rc == 0 && (rc = pd_store_turns_each(st, id, replay_collect, &rp, err)) != 0 &&
        rc == PD_ECANCELED)
        snprintf(err, sizeof err, "out of memory");
    if (rc) {
        rc = cli_fail("sessions", "%s", err);
        goto out;
    }
    size_t from = 0, to = rp.n;
    if (o->turn) {
        size_t i = 0;
        while (i < rp.n && !(rp.turns[i].assistant && rp.turns[i].id == o->turn))
            i++;
        if (i == rp.n) {
            rc = cli_fail("sessions", "session %lld has no reply with turn id %ld (sessions "
                          "show %lld lists them)", (long long)id, o->turn, (long long)id);
            goto out;
        }
        from = i;
        while (from > 0 && !rp.turns[from - 1].assistant)
            from--;
        to = i + 1;
    }
    struct sigaction sa = { .sa_handler = replay_on_sigint }, old;
    sigemptyset(&sa.sa_mask);
    atomic_store(&replay_stop, false);
    sigaction(SIGINT, &sa, &old);
    for (size_t i = from; i < to && rc == EXIT_OK && !atomic_load(&replay_stop); i++) {
        if (rp.turns[i].assistant)
            rc = replay_reply(st, &rp, &rp.turns[i]);
        else
            replay_user(rp.turns[i].text);
    }
    sigaction(SIGINT, &old, NULL);
out:
    for (size_t i = 0; i < rp.n; i++)
        free(rp.turns[i].text);
    free(rp.turns);
    return rc;
}

/* ---- fork ---- */

static int
sessions_fork(struct pd_store *st, const struct sess_opts *o, int64_t id)
{
    char err[PD_ERR_MAX];
    int64_t new_id = 0;
    if (pd_store_session_fork(st, id, (int)o->at, &new_id, err))
        return cli_fail("sessions", "%s", err);
    if (o->title && pd_store_session_set_title(st, new_id, o->title, err))
        return cli_fail("sessions", "session %lld was forked, but: %s", (long long)new_id, err);
    printf("%lld\n", (long long)new_id);
    return EXIT_OK;
}

/* Run one sub-command with the store open. */
static int
dispatch(struct pd_store *st, const struct sess_opts *o, const char *verb, const char *arg)
{
    char err[PD_ERR_MAX];
    int64_t id;
    if (strcmp(verb, "list") == 0)
        return sessions_list(st, o);
    if (strcmp(verb, "show") == 0)
        return parse_id(arg, &id) ? sessions_show(st, o, id) : EXIT_USAGE;
    if (strcmp(verb, "search") == 0)
        return sessions_search(st, o, arg);
    if (strcmp(verb, "export") == 0)
        return sessions_export(st, o, arg);
    if (strcmp(verb, "import") == 0)
        return sessions_import(st, arg);
    if (strcmp(verb, "replay") == 0)
        return parse_id(arg, &id) ? sessions_replay(st, o, id) : EXIT_USAGE;
    if (strcmp(verb, "fork") == 0)
        return parse_id(arg, &id) ? sessions_fork(st, o, id) : EXIT_USAGE;
    if (strcmp(verb, "rm") == 0) {
        if (!parse_id(arg, &id))
            return EXIT_USAGE;
        if (pd_store_session_rm(st, id, err))
            return cli_fail("sessions", "%s", err);
        return EXIT_OK;
    }
    if (pd_store_check(st, err))
        return cli_fail("sessions", "%s", err);
    printf("ok\n");
    return EXIT_OK;
}

static int
cmd_sessions_exec(int argc, char **argv)
{
    static const char *const verbs[] = { "list", "show", "search", "export", "import",
                                         "replay", "fork", "rm", "check" };
    static const bool needs_arg[] = { false, true, true, false, true, true, true, true, false };
    struct sess_opts o = { 0 };
    int rc = parse_opts(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (optind >= argc)
        return cli_usage_error("sessions", "which: list, show, search, export, import, "
                                           "replay, fork, rm or check? (see --help)");
    const char *verb = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    size_t v = 0;
    while (v < PD_ARRAY_SIZE(verbs) && strcmp(verb, verbs[v]) != 0)
        v++;
    if (v == PD_ARRAY_SIZE(verbs))
        return cli_usage_error("sessions", "unknown sub-command '%s'", verb);
    if (needs_arg[v] && arg == NULL)
        return cli_usage_error("sessions", "%s: an argument is missing (see --help)", verb);
    if (optind + 2 + (arg == NULL ? -1 : 0) < argc)
        return cli_usage_error("sessions", "unexpected argument '%s'", argv[argc - 1]);
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    if (o.db == NULL)
        o.db = cli_config_db(cli_config_load("sessions"));
    if (pd_store_open(&st, o.db, err))
        return cli_fail("sessions", "%s", err);
    rc = dispatch(st, &o, verb, arg);
    pd_store_close(st);
    return rc;
}

const struct pd_cmd_entry cmd_sessions_entry = {
    .name = "sessions",
    .usage = "list|show|search|export|import|replay|fork|rm|check [ARG] [options]",
    .summary = "list, show, search, replay, fork, export and import recorded sessions",
    .exec = cmd_sessions_exec,
};
