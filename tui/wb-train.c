/*
 * wb-train.c: training runs started from the workbench, as child processes.
 *
 * A run is `ponder train grpo ARGS --db STORE`: this very binary (/proc/self/exe), in its own
 * session (setsid), so neither the terminal's signals nor its hangup reach it, its output
 * appended to $XDG_STATE_HOME/ponder/train-DATE-TIME.log. It writes its training_runs row and
 * a metrics row a step into the workbench's store, which is where the view reads its progress;
 * from the process the workbench only learns its run id (the log's "run N:" line) and how it
 * ended (waitpid). Stopping is SIGINT, which train grpo takes as Ctrl-C: it finishes the step,
 * writes a checkpoint, marks the run stopped and exits.
 *
 * Quitting while a run started here is live asks first; yes leaves it running detached, and the
 * workbench says, after the screen is gone, its pid and log. A later workbench sees its rows
 * grow but cannot stop it (it knows no pid): kill -INT does.
 */
#include "config.h"

#include "sessions/runs.h"
#include "tui/train-view.h"
#include "tui/wb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64

static struct wb_child *
child_of(const struct wb *w, int64_t run)
{
    for (int i = 0; w->train && run > 0 && i < WB_TRAIN_CHILDREN; i++)
        if (w->train->kids[i].pid > 0 && w->train->kids[i].run == run)
            return &w->train->kids[i];
    return NULL;
}

bool
wb_train_is_ours(const struct wb *w, int64_t run)
{
    return child_of(w, run) != NULL;
}

static int
n_live(const struct wb *w)
{
    int n = 0;
    for (int i = 0; w->train && i < WB_TRAIN_CHILDREN; i++)
        n += w->train->kids[i].pid > 0;
    return n;
}

/* The model to train: the loaded one if ponder can train it (deepseek2), else the bundled one. */
static const char *
train_model(const struct wb *w)
{
    const struct chat *c = w->c;
    if (w->have_model && c->m && strcmp(c->m->hp.arch_name, "deepseek2") == 0)
        return c->model_path;
    static const char *const bundled[] = { "models/ponder-tiny.gguf",
                                           PD_DATADIR "/models/ponder-tiny.gguf" };
    for (size_t i = 0; i < PD_ARRAY_SIZE(bundled); i++)
        if (access(bundled[i], R_OK) == 0)
            return bundled[i];
    return c->model_path ? c->model_path : "MODEL.gguf";
}

/* "20260501-120301": names the output and the log of a run started now. */
static void
stamp(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, size, "%Y%m%d-%H%M%S", &tm);
}

/* The output folder: beside the store. */
static void
out_dir(const struct wb *w, char *buf, size_t size)
{
    char err[PD_ERR_MAX];
    if (pd_store_path_resolve(buf, size, w->c->db, err) != 0)
        snprintf(buf, size, ".");
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(buf, size, ".");
}

void
wb_train_args(struct wb *w, char *buf, size_t size)
{
    const char *last = w->train ? w->train->last_args : "";
    if (!last[0]) {
        wb_train_default_args(w, buf, size);
        return;
    }
    /* the last line again, but a made-up output name is made up anew: a second run must not
     * write over the first one's model */
    char dir[4096], when[32], fresh[4200];
    out_dir(w, dir, sizeof dir);
    stamp(when, sizeof when);
    snprintf(fresh, sizeof fresh, "%s/grpo-", dir);
    const char *o = strstr(last, fresh);
    size_t stem = strlen(fresh) + strlen(when);
    if (o == NULL || strlen(o) < stem + 5 || strncmp(o + stem, ".gguf", 5) != 0) {
        snprintf(buf, size, "%s", last);
        return;
    }
    snprintf(buf, size, "%.*s%s%s%s", (int)(o - last), last, fresh, when, o + stem);
}

void
wb_train_default_args(struct wb *w, char *buf, size_t size)
{
    char db[4096], when[32];
    out_dir(w, db, sizeof db);
    stamp(when, sizeof when);
    /* small enough that a CPU shows the curves move within minutes */
    snprintf(buf, size, "-m %s --task countdown --steps 20 -G 4 --prompts-per-step 2 "
             "--max-completion 64 -o %s/grpo-%s.gguf", train_model(w), db, when);
}

/* Split a line into words: blanks separate, quotes group, a backslash escapes (as a shell
 * does, without its expansions). Words point into line, which is rewritten. */
static int
split_args(char *line, char **argv, int max, const char **why)
{
    int n = 0;
    char *r = line, *o = line;
    while (*r) {
        while (*r == ' ' || *r == '\t')
            r++;
        if (!*r)
            break;
        if (n == max) {
            *why = "too many arguments";
            return -1;
        }
        argv[n++] = o;
        char q = 0;
        for (; *r && (q || (*r != ' ' && *r != '\t')); r++) {
            if (q && *r == q)
                q = 0;
            else if (!q && (*r == '\'' || *r == '"'))
                q = *r;
            else if (*r == '\\' && q != '\'' && r[1])
                *o++ = *++r;
            else
                *o++ = *r;
        }
        if (q) {
            *why = "a quote is not closed";
            return -1;
        }
        if (*r)
            r++;
        *o++ = '\0';
    }
    return n;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
exec_child(const char *exe, char *const *argv, int log_fd)
{
    setsid();
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    for (int fd = 3; fd < 1024; fd++)   /* the store, the terminal: the run opens its own */
        close(fd);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigemptyset(&dfl.sa_mask);
    int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGTSTP };
    for (size_t i = 0; i < PD_ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(exe, argv);
    static const char msg[] = "ponder: cannot run the ponder binary for training\n";
    ssize_t unused = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)unused;
    _exit(127);
}

struct wb_train *
wb_train_state(struct wb *w)
{
    if (w->train == NULL) {
        w->train = chat_xmalloc(sizeof *w->train);
        memset(w->train, 0, sizeof *w->train);
    }
    return w->train;
}

int
wb_train_spawn(struct wb *w, const char *args)
{
    struct wb_train *tr = wb_train_state(w);
    struct wb_child *k = NULL;
    for (int i = 0; i < WB_TRAIN_CHILDREN && k == NULL; i++)
        if (tr->kids[i].pid == 0)
            k = &tr->kids[i];
    if (k == NULL) {
        wb_message(w, "%d runs are live already: stop one first", WB_TRAIN_CHILDREN);
        return -1;
    }
    char line[2048], db[4096], err[PD_ERR_MAX], exe[4096], when[32];
    const char *why = NULL;
    char *argv[MAX_ARGS + 6] = { "ponder", "train", "grpo" };
    snprintf(line, sizeof line, "%s", args);
    snprintf(tr->last_args, sizeof tr->last_args, "%s", args);
    int n = split_args(line, argv + 3, MAX_ARGS, &why);
    if (n < 0) {
        wb_message(w, "train: %s", why);
        return -1;
    }
    n += 3;
    if (pd_store_path_resolve(db, sizeof db, w->c->db, err) != 0) {
        wb_message(w, "train: %s", err);
        return -1;
    }
    argv[n++] = "--db";   /* the workbench's store, so the view sees the run */
    argv[n++] = db;
    argv[n] = NULL;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    if (len <= 0)   /* no /proc: the ponder on the PATH */
        snprintf(exe, sizeof exe, "ponder");
    stamp(when, sizeof when);
    if (wb_state_dir(k->log, sizeof k->log - 48) != 0)
        snprintf(k->log, sizeof k->log, "/tmp");
    size_t at = strlen(k->log);
    snprintf(k->log + at, sizeof k->log - at, "/train-%s.log", when);
    int fd = open(k->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        wb_message(w, "train: %s: %s", k->log, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(exe, argv, fd);
    close(fd);
    if (pid < 0) {
        wb_message(w, "train: cannot start a process: %s", strerror(errno));
        return -1;
    }
    k->pid = pid;
    k->run = 0;
    k->stopping = false;
    snprintf(tr->note, sizeof tr->note, "starting a run (pid %d) · log %s", (int)pid, k->log);
    wb_message(w, "starting a training run (pid %d)", (int)pid);
    return 0;
}

/* The run id the log names ("run N: ..."), 0 while it names none. */
static int64_t
log_run_id(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[512];
    long long id = 0;
    while (id == 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "run %lld:", &id) != 1)
            id = 0;
    fclose(f);
    return id;
}

/* The log's last line that says something, for a failure message. */
static void
log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[strspn(line, " \t")])
            snprintf(out, size, "%s", line);
    }
    fclose(f);
}

/* A child ended: say how, from the store's row when it has one. */
static void
reaped(struct wb *w, struct wb_child *k, int status)
{
    struct wb_train *tr = w->train;
    char err[PD_ERR_MAX], tail[512];
    if (k->run == 0)
        k->run = log_run_id(k->log);
    struct pd_store_run row = { 0 };
    bool have_row = k->run > 0 && w->c->st && pd_store_run_get(w->c->st, k->run, &row, err) == 0;
    if (have_row && strcmp(row.status, "running") == 0) {
        /* killed before it could say: the row must not stay running forever */
        pd_store_run_finish(w->c->st, k->run, "failed", err);
        snprintf(row.status, sizeof row.status, "failed");
    }
    pd_store_run_release(&row);
    bool ok = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 130);
    if (ok && have_row && strcmp(row.status, "failed") != 0) {
        snprintf(tr->note, sizeof tr->note, "run %lld %s · log %s", (long long)k->run,
                 strcmp(row.status, "done") == 0 ? "finished" : row.status, k->log);
    } else {
        log_tail(k->log, tail, sizeof tail);
        char how[48];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
        if (k->run > 0)
            snprintf(tr->note, sizeof tr->note, "run %lld failed (%s): %s · log %s",
                     (long long)k->run, how, tail, k->log);
        else if (ok)   /* --help, say: it ended well without a run */
            snprintf(tr->note, sizeof tr->note, "train grpo ended without a run: %s · log %s",
                     tail, k->log);
        else
            snprintf(tr->note, sizeof tr->note, "training failed (%s): %s · log %s", how, tail,
                     k->log);
    }
    wb_message(w, "%s", tr->note);
    k->pid = 0;
}

bool
wb_train_tick(struct wb *w)
{
    struct wb_train *tr = w->train;
    if (tr == NULL)
        return false;
    bool changed = false;
    int64_t select = 0;
    for (int i = 0; i < WB_TRAIN_CHILDREN; i++) {
        struct wb_child *k = &tr->kids[i];
        if (k->pid <= 0)
            continue;
        int status;
        pid_t r = waitpid(k->pid, &status, WNOHANG);
        if (r == k->pid || (r < 0 && errno == ECHILD)) {
            reaped(w, k, r == k->pid ? status : 0);
            changed = true;
        } else if (k->run == 0 && (k->run = log_run_id(k->log)) > 0) {
            snprintf(tr->note, sizeof tr->note, "started run %lld (pid %d) · log %s",
                     (long long)k->run, (int)k->pid, k->log);
            wb_message(w, "started run %lld", (long long)k->run);
            select = k->run;
            changed = true;
        }
    }
    double now = wb_now();
    if (w->view == WB_VIEW_TRAIN && (changed || now - tr->last_load >= 1.0)) {
        wb_train_reload(w, select);
        changed = true;
    }
    return changed;
}

bool
wb_train_signal(struct wb *w, int64_t run)
{
    struct wb_child *k = child_of(w, run);
    if (k == NULL)
        return false;
    kill(k->pid, SIGINT);
    k->stopping = true;
    snprintf(w->train->note, sizeof w->train->note, "stopping run %lld: it ends its step, "
             "writes a checkpoint and stops · log %s", (long long)run, k->log);
    return true;
}

static void
got_quit(struct wb *w, const char *text)
{
    if (text && (strcmp(text, "y") == 0 || strcmp(text, "yes") == 0))
        w->quit = true;
}

int
wb_train_quit(struct wb *w)
{
    int n = n_live(w);
    if (n == 0) {
        w->quit = true;
        return 0;
    }
    char q[64];
    int64_t run = 0;
    for (int i = 0; i < WB_TRAIN_CHILDREN && run == 0; i++)
        if (w->train->kids[i].pid > 0)
            run = w->train->kids[i].run;
    if (n == 1 && run > 0)
        snprintf(q, sizeof q, "quit, leaving run %lld training? (y/n) ", (long long)run);
    else
        snprintf(q, sizeof q, "quit, leaving %d run%s training? (y/n) ", n, n > 1 ? "s" : "");
    wb_ask(w, q, NULL, got_quit);
    return WB_REDRAW;
}

void
wb_train_release(struct wb *w)
{
    struct wb_train *tr = w->train;
    if (tr == NULL)
        return;
    for (int i = 0; i < WB_TRAIN_CHILDREN; i++) {
        struct wb_child *k = &tr->kids[i];
        if (k->pid <= 0 || waitpid(k->pid, NULL, WNOHANG) != 0)
            continue;
        fprintf(stderr, "ponder: training run %lld goes on (pid %d; kill -INT %d stops it); "
                "its log: %s\n", (long long)k->run, (int)k->pid, (int)k->pid, k->log);
    }
    wb_train_view_free(tr);
    free(tr);
    w->train = NULL;
}
