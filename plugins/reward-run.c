/*
 * reward-run.c: reward plugins in a forked worker with limits; crashes and hangs become None
 * (plugins/reward-run.h).
 */
#include "config.h"

#include "plugins/reward-run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define DEFAULT_TIMEOUT_S 2.0
#define DEFAULT_MEM_MB 1024

/* One score, worker to parent. Smaller than PIPE_BUF, so each write arrives whole. */
struct record {
    uint64_t pair;      /* item * n_terms + term */
    int32_t status;     /* the plugin's return value */
    int32_t pad;
    double value;
    char msg[PONDER_MSG_MAX];
};
_Static_assert(sizeof(struct record) <= PIPE_BUF, "a record must be written atomically");

struct batch {
    const struct pd_reward_term *terms;
    size_t n_terms;
    const struct pd_reward_item *items;
    size_t n_items;
    double timeout_s;
    long mem_mb;
    bool keep_stderr;
};

/* ---- one score, wherever it runs ------------------------------------------------------------ */

static void
score_pair(const struct batch *b, size_t pair, struct record *r)
{
    const struct pd_reward_item *it = &b->items[pair / b->n_terms];
    const struct pd_reward_term *t = &b->terms[pair % b->n_terms];
    const char *completion = it->completion ? it->completion : "";
    const char *prompt = it->prompt ? it->prompt : "";
    struct ponder_reward_input in = {
        .completion = completion,
        .completion_len = it->completion_len ? it->completion_len : strlen(completion),
        .prompt = prompt,
        .prompt_len = strlen(prompt),
        .gold = it->gold ? it->gold : "",
        .extra = it->extra ? it->extra : "{}",
        .config = t->config ? t->config : "{}",
        .opened_think = it->opened_think,
        .completion_tokens = it->completion_tokens,
    };
    memset(r, 0, sizeof *r);
    r->pair = pair;
    r->status = pd_plugin_reward(t->plugin)->score(&in, &r->value, r->msg, sizeof r->msg);
    r->msg[sizeof r->msg - 1] = '\0';
}

/* A record as the caller's score: the plugin's verdict, checked. */
static void
take_record(const struct record *r, struct pd_reward_score *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->why, sizeof s->why, "%s", r->msg);
    if (r->status == PONDER_REWARD_OK && isfinite(r->value)) {
        s->state = PD_REWARD_SCORED;
        s->value = r->value;
    } else if (r->status == PONDER_REWARD_OK) {
        s->state = PD_REWARD_FAILED;
        snprintf(s->why, sizeof s->why, "the score is not finite (%g)", r->value);
    } else if (r->status == PONDER_REWARD_NONE) {
        s->state = PD_REWARD_NONE;
        if (s->why[0] == '\0')
            snprintf(s->why, sizeof s->why, "None");
    } else {
        s->state = PD_REWARD_FAILED;
        snprintf(s->why, sizeof s->why, "error %d: %.200s", (int)r->status,
                 r->msg[0] ? r->msg : "no message");
    }
}

/* ---- the worker ----------------------------------------------------------------------------- */

/* Pages mapped now (Linux); 0 when unknown. */
static unsigned long long
mapped_bytes(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu", &pages) != 1)
        pages = 0;
    fclose(f);
    return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static void
worker_walls(const struct batch *b, size_t n_pairs)
{
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPIPE, SIGTERM,
                                 SIGALRM, SIGXCPU, SIGCHLD, SIGHUP };
    sigset_t none;
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    /* Whatever handlers the parent installed (a sanitizer's, the TUI's) are not the worker's. */
    for (size_t i = 0; i < PD_ARRAY_SIZE(fatal); i++)
        signal(fatal[i], SIG_DFL);
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!b->keep_stderr)
            dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    struct rlimit core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &core);
    unsigned long long base = mapped_bytes();
    if (base > 0) {
        rlim_t cap = (rlim_t)(base + ((unsigned long long)b->mem_mb << 20));
        struct rlimit as = { cap, cap };
        setrlimit(RLIMIT_AS, &as);
    }
    /* The wall-clock limit is the parent's; this one stops a worker the parent cannot. */
    rlim_t cpu = (rlim_t)ceil(b->timeout_s * (double)n_pairs) + 1;
    struct rlimit cpu_lim = { cpu, cpu + 1 };
    setrlimit(RLIMIT_CPU, &cpu_lim);
}

static bool
write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static _Noreturn void
worker_main(const struct batch *b, size_t from, size_t to, int fd)
{
    worker_walls(b, to - from);
    for (size_t k = from; k < to; k++) {
        struct record r;
        score_pair(b, k, &r);
        if (!write_all(fd, &r, sizeof r))
            _exit(3);
    }
    _exit(0);
}

/* ---- the parent ----------------------------------------------------------------------------- */

struct worker {
    pid_t pid;
    int fd;
};

static int
worker_start(struct worker *w, const struct batch *b, size_t from, size_t to, char *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return pd_errorf(err, PD_EIO, "reward worker: pipe: %s", strerror(errno));
    fflush(NULL);   /* the child exits with _exit, but be sure nothing buffered is doubled */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return pd_errorf(err, PD_EIO, "reward worker: fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        worker_main(b, from, to, fds[1]);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    w->pid = pid;
    w->fd = fds[0];
    return 0;
}

/* Reap the worker; describe how it ended into why (NULL: don't). */
static void
worker_reap(struct worker *w, char *why, size_t size)
{
    int st = 0;
    pid_t r;
    close(w->fd);
    w->fd = -1;
    while ((r = waitpid(w->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    w->pid = -1;
    if (why == NULL)
        return;
    if (r < 0)
        snprintf(why, size, "the worker ended (its status is lost: %s)", strerror(errno));
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
        snprintf(why, size, "cpu time limit (signal %d)", SIGXCPU);
    else if (WIFSIGNALED(st))
        snprintf(why, size, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st))
        snprintf(why, size, "worker exited with status %d before answering", WEXITSTATUS(st));
    else
        snprintf(why, size, "the worker ended");
}

static void
worker_kill(struct worker *w)
{
    kill(w->pid, SIGKILL);
    worker_reap(w, NULL, 0);
}

/* Wait for the next record until deadline. 1 got one, 0 timed out, -1 the worker is gone. */
static int
read_record(int fd, struct record *r, double deadline)
{
    size_t got = 0;
    while (got < sizeof *r) {
        double left = deadline - pd_time_now();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)ceil(left * 1000.0));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -1;
        if (pr == 0)
            continue;   /* the loop's clock decides */
        ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 1;
}

static void
fail_score(struct pd_reward_score *s, const char *why)
{
    memset(s, 0, sizeof *s);
    s->state = PD_REWARD_FAILED;
    snprintf(s->why, sizeof s->why, "%s", why);
}

static int
run_workers(const struct batch *b, struct pd_reward_score *scores, char *err)
{
    size_t total = b->n_items * b->n_terms, k = 0;
    while (k < total) {
        struct worker w = { -1, -1 };
        int rc = worker_start(&w, b, k, total, err);
        if (rc)
            return rc;
        double deadline = pd_time_now() + b->timeout_s;
        for (;;) {
            struct record r;
            int got = read_record(w.fd, &r, deadline);
            if (got == 1 && r.pair == k) {
                take_record(&r, &scores[k]);
                deadline = pd_time_now() + b->timeout_s;
                if (++k == total) {
                    worker_reap(&w, NULL, 0);
                    break;
                }
                continue;
            }
            char why[PONDER_MSG_MAX];
            if (got == 1) {   /* cannot happen with atomic writes; don't trust it */
                worker_kill(&w);
                snprintf(why, sizeof why, "the worker answered out of order");
            } else if (got == 0) {
                worker_kill(&w);
                snprintf(why, sizeof why, "timed out after %g s", b->timeout_s);
            } else {
                worker_reap(&w, why, sizeof why);
            }
            fail_score(&scores[k++], why);
            break;   /* a fresh worker for what is left */
        }
    }
    return 0;
}

/* ---- combining ------------------------------------------------------------------------------ */

struct pd_reward_total
pd_reward_combine(const struct pd_reward_term *terms, size_t n_terms,
                  const struct pd_reward_score *scores)
{
    struct pd_reward_total t = { .none = false, .value = 0.0, .n_none = 0 };
    bool required_none = false;
    for (size_t j = 0; j < n_terms; j++) {
        if (scores[j].state == PD_REWARD_SCORED) {
            t.value += terms[j].weight * scores[j].value;
            continue;
        }
        t.n_none++;
        required_none |= !terms[j].optional;
    }
    if (required_none || t.n_none == (int)n_terms) {
        t.none = true;
        t.value = 0.0;
    }
    return t;
}

int
pd_reward_run(const struct pd_reward_term *terms, size_t n_terms,
              const struct pd_reward_item *items, size_t n_items,
              const struct pd_reward_limits *limits, struct pd_reward_score *scores,
              struct pd_reward_total *totals, char *err)
{
    if (n_terms == 0)
        return pd_errorf(err, PD_EINVAL, "no reward functions given");
    for (size_t j = 0; j < n_terms; j++)
        if (terms[j].plugin == NULL || pd_plugin_reward(terms[j].plugin) == NULL)
            return pd_errorf(err, PD_EINVAL, "reward term %zu is not a reward plugin", j + 1);
    struct pd_reward_limits lim = limits ? *limits : (struct pd_reward_limits){ 0 };
    struct batch b = {
        .terms = terms,
        .n_terms = n_terms,
        .items = items,
        .n_items = n_items,
        .timeout_s = lim.timeout_s > 0 ? lim.timeout_s : DEFAULT_TIMEOUT_S,
        .mem_mb = lim.mem_mb > 0 ? lim.mem_mb : DEFAULT_MEM_MB,
        .keep_stderr = lim.keep_stderr,
    };
    if (n_items == 0)
        return 0;
    if (lim.in_process) {
        for (size_t k = 0; k < n_items * n_terms; k++) {
            struct record r;
            score_pair(&b, k, &r);
            take_record(&r, &scores[k]);
        }
    } else {
        int rc = run_workers(&b, scores, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n_items; i++)
        totals[i] = pd_reward_combine(terms, n_terms, &scores[i * n_terms]);
    return 0;
}
