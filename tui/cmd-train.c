/*
 * cmd-train.c: `ponder train pretrain`, `ponder train show` (a training run's metrics from the
 * store: a table and braille sparklines) and the dispatch to `train grpo` (cmd-train-grpo.c).
 * pretrain: supervised training of a small deepseek2-style model on
 * generated task traces (engine/train/pretrain.h), with a progress line, checkpoints, resume,
 * and the trained model written as a GGUF.
 *
 * Options come from --config FILE (key=value lines, '#' comments), then the flags, in order;
 * a resumed run takes its options from the checkpoint (only where output goes, threads and
 * logging can change: anything else would not continue the same run).
 */
#include "config.h"

#include "engine/train/bpe-train.h"
#include "engine/train/pretrain.h"
#include "kernels/cpu/threadpool.h"
#include "sessions/runs.h"
#include "tui/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char train_help[] =
    "usage: ponder train pretrain [OPTIONS] -o MODEL.gguf\n"
    "       ponder train grpo -m MODEL.gguf --task NAME [OPTIONS] -o OUT.gguf  (grpo --help)\n"
    "       ponder train show [RUN]\n"
    "       ponder train resume [RUN]  (continue a GRPO run from its checkpoint)\n"
    "\n"
    "Train a small DeepSeek-style MoE (MLA, a dense first layer, a shared expert and routed\n"
    "experts) on countdown and arithmetic problems with the solver's <think> traces; the\n"
    "prompt is not in the loss. The tokenizer (byte-level BPE) is trained first on generated\n"
    "texts unless --tokenizer gives one.\n"
    "\n"
    "  -o, --output FILE     the trained model (GGUF, deepseek2, F32)\n"
    "      --config FILE     key=value lines (any key below, and the model's); flags override\n"
    "      --set KEY=VALUE   any option or model size by its key (repeatable)\n"
    "  model: --embd N --layers N --heads N --experts N --experts-used N --ff N --ff-exp N\n"
    "         (other sizes by --set: q_lora kv_lora qk_nope qk_rope v_head dense_lead shared\n"
    "         groups groups_used gating=softmax|sigmoid expert_norm expert_scale tied ctx)\n"
    "      --tasks SPEC      countdown, arith, both (default) or countdown=SHARE\n"
    "                        (prompts: --set prompts=chat, what ponder tui sends through the\n"
    "                        r1-zero template (default), or tinyzero, TinyZero's own wording)\n"
    "      --steps N         optimizer steps (1000)\n"
    "      --batch N         sequences a step (8)\n"
    "      --seq N           tokens a sequence (256; longer examples are cut)\n"
    "      --lr R            peak learning rate (3e-3), after --warmup N steps (50)\n"
    "      --min-lr R        the cosine's floor (3e-4)\n"
    "      --wd R            AdamW weight decay on matrices (0.1)\n"
    "      --clip R          gradient norm clip (1.0; 0 = off)\n"
    "      --gamma R         expert balancing speed (1e-3; 0 = off)\n"
    "      --seed S          weights and data (1)\n"
    "      --vocab N         tokenizer size when trained here (512)\n"
    "      --tokenizer FILE  a tokenizer (a GGUF with one, e.g. a model) instead of training\n"
    "      --threads N       (default: all CPUs)\n"
    "      --ckpt FILE       checkpoint path (default: OUTPUT.ckpt)\n"
    "      --ckpt-every N    write a checkpoint every N steps (0: only at the end)\n"
    "      --resume FILE     continue a run from its checkpoint, bit for bit\n"
    "      --log-every N     a progress line every N steps when stderr is not a terminal (10)\n"
    "      --stop-after N    stop once step N is done, with a checkpoint and no model, as an\n"
    "                        interrupt (Ctrl-C) does after the step it is in\n"
    "      --bench           time the steps (the first is not counted) and print tokens/s;\n"
    "                        nothing is written\n"
    "  -h, --help            this help\n";

enum {
    OPT_CONFIG = 256, OPT_SET, OPT_EMBD, OPT_LAYERS, OPT_HEADS, OPT_EXPERTS, OPT_USED, OPT_FF,
    OPT_FF_EXP, OPT_TASKS, OPT_STEPS, OPT_BATCH, OPT_SEQ, OPT_LR, OPT_WARMUP, OPT_MIN_LR, OPT_WD,
    OPT_CLIP, OPT_GAMMA, OPT_SEED, OPT_VOCAB, OPT_TOKENIZER, OPT_THREADS, OPT_CKPT,
    OPT_CKPT_EVERY, OPT_RESUME, OPT_LOG_EVERY, OPT_BENCH, OPT_STOP_AFTER,
};

static const struct option train_longopts[] = {
    { "output", required_argument, NULL, 'o' },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "set", required_argument, NULL, OPT_SET },
    { "embd", required_argument, NULL, OPT_EMBD },
    { "layers", required_argument, NULL, OPT_LAYERS },
    { "heads", required_argument, NULL, OPT_HEADS },
    { "experts", required_argument, NULL, OPT_EXPERTS },
    { "experts-used", required_argument, NULL, OPT_USED },
    { "ff", required_argument, NULL, OPT_FF },
    { "ff-exp", required_argument, NULL, OPT_FF_EXP },
    { "tasks", required_argument, NULL, OPT_TASKS },
    { "steps", required_argument, NULL, OPT_STEPS },
    { "batch", required_argument, NULL, OPT_BATCH },
    { "seq", required_argument, NULL, OPT_SEQ },
    { "lr", required_argument, NULL, OPT_LR },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "min-lr", required_argument, NULL, OPT_MIN_LR },
    { "wd", required_argument, NULL, OPT_WD },
    { "clip", required_argument, NULL, OPT_CLIP },
    { "gamma", required_argument, NULL, OPT_GAMMA },
    { "seed", required_argument, NULL, OPT_SEED },
    { "vocab", required_argument, NULL, OPT_VOCAB },
    { "tokenizer", required_argument, NULL, OPT_TOKENIZER },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "ckpt", required_argument, NULL, OPT_CKPT },
    { "ckpt-every", required_argument, NULL, OPT_CKPT_EVERY },
    { "resume", required_argument, NULL, OPT_RESUME },
    { "log-every", required_argument, NULL, OPT_LOG_EVERY },
    { "bench", no_argument, NULL, OPT_BENCH },
    { "stop-after", required_argument, NULL, OPT_STOP_AFTER },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* The flags that are an option key under another name. */
static const struct {
    int opt;
    const char *key;
} flag_keys[] = {
    { OPT_EMBD, "embd" }, { OPT_LAYERS, "layers" }, { OPT_HEADS, "heads" },
    { OPT_EXPERTS, "experts" }, { OPT_USED, "experts_used" }, { OPT_FF, "ff" },
    { OPT_FF_EXP, "ff_exp" }, { OPT_STEPS, "steps" }, { OPT_BATCH, "batch" }, { OPT_SEQ, "seq" },
    { OPT_LR, "lr" }, { OPT_WARMUP, "warmup" }, { OPT_MIN_LR, "min_lr" },
    { OPT_WD, "weight_decay" }, { OPT_CLIP, "clip" }, { OPT_GAMMA, "balance_gamma" },
    { OPT_SEED, "seed" }, { OPT_VOCAB, "tok_vocab" },
};

struct run {
    struct pd_pretrain_opts o;
    bool changed;                /* a training option or size given on the command line */
    const char *output, *config, *tokenizer, *ckpt, *resume;
    long threads, ckpt_every, log_every, stop_after;
    bool bench;
};

static bool
set_key(struct run *r, const char *key, const char *value, const char *where)
{
    char err[PD_ERR_MAX];
    if (strcmp(key, "tasks") == 0) {
        if (strcmp(value, "countdown") == 0 || strcmp(value, "arith") == 0 ||
            strcmp(value, "both") == 0) {
            r->o.countdown_share = value[0] == 'c' ? 1.0 : value[0] == 'a' ? 0.0 : 0.5;
            return true;
        }
        if (strncmp(value, "countdown=", 10) == 0)
            return pd_pretrain_opts_set(&r->o, "countdown_share", value + 10, err) == 0 ||
                   (cli_usage_error("train", "%s: tasks: %s", where, err), false);
        cli_usage_error("train", "%s: tasks '%s': countdown, arith, both or countdown=SHARE",
                        where, value);
        return false;
    }
    if (pd_pretrain_opts_set(&r->o, key, value, err) != 0) {
        cli_usage_error("train", "%s: %s", where, err);
        return false;
    }
    return true;
}

static bool
set_kv(struct run *r, const char *kv, const char *where)
{
    const char *eq = strchr(kv, '=');
    char key[64];
    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof key) {
        cli_usage_error("train", "%s: '%s' is not KEY=VALUE", where, kv);
        return false;
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return set_key(r, key, eq + 1, where);
}

static bool
read_config(struct run *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_fail("train", "%s: cannot open", path);
        return false;
    }
    char line[512], where[600];
    bool good = true;
    for (int n = 1; good && fgets(line, sizeof line, f); n++) {
        char *s = line, *e = line + strlen(line);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        snprintf(where, sizeof where, "%s:%d", path, n);
        good = set_kv(r, s, where);
    }
    fclose(f);
    return good;
}

static const char *
opt_name(int c)
{
    for (const struct option *o = train_longopts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

static bool
parse_args(struct run *r, int argc, char **argv, bool *help)
{
    int c;
    /* first pass: the config file goes under the flags */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", train_longopts, NULL)) != -1)
        if (c == OPT_CONFIG)
            r->config = optarg;
    if (r->config && !read_config(r, r->config))
        return false;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "o:h", train_longopts, NULL)) != -1) {
        bool mapped = false;
        for (size_t i = 0; i < PD_ARRAY_SIZE(flag_keys); i++)
            if (flag_keys[i].opt == c) {
                if (!set_key(r, flag_keys[i].key, optarg, opt_name(c)))
                    return false;
                r->changed = mapped = true;
            }
        if (mapped)
            continue;
        switch (c) {
        case 'h': *help = true; return true;
        case 'o': r->output = optarg; break;
        case OPT_CONFIG: r->changed = true; break;
        case OPT_SET:
            if (!set_kv(r, optarg, "--set"))
                return false;
            r->changed = true;
            break;
        case OPT_TASKS:
            if (!set_key(r, "tasks", optarg, "--tasks"))
                return false;
            r->changed = true;
            break;
        case OPT_TOKENIZER: r->tokenizer = optarg; break;
        case OPT_CKPT: r->ckpt = optarg; break;
        case OPT_RESUME: r->resume = optarg; break;
        case OPT_BENCH: r->bench = true; break;
        case OPT_THREADS:
            if (!cli_parse_int("train", "--threads", optarg, 1, 1024, &r->threads))
                return false;
            break;
        case OPT_CKPT_EVERY:
            if (!cli_parse_int("train", "--ckpt-every", optarg, 0, 1L << 40, &r->ckpt_every))
                return false;
            break;
        case OPT_STOP_AFTER:
            if (!cli_parse_int("train", "--stop-after", optarg, 1, 1L << 40, &r->stop_after))
                return false;
            break;
        case OPT_LOG_EVERY:
            if (!cli_parse_int("train", "--log-every", optarg, 1, 1L << 40, &r->log_every))
                return false;
            break;
        default: return false;
        }
    }
    if (optind < argc) {
        cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
        return false;
    }
    return true;
}

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
fmt_time(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e8)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* The loop: steps until the run's end, progress, checkpoints. */
static int
train_loop(struct run *r, struct pd_pretrain *p, struct pd_threadpool *tp, const char *ckpt)
{
    char err[PD_ERR_MAX], eta[32];
    bool tty = isatty(STDERR_FILENO);
    int64_t total = p->opts.steps, first = p->step;
    double t0 = pd_time_now(), tb = 0.0, tokens = 0.0;
    while (p->step < total) {
        if (interrupted || (r->stop_after > 0 && p->step >= r->stop_after)) {
            if (tty)
                fputc('\n', stderr);
            if (r->bench)
                return EXIT_RUNTIME;
            if (pd_pretrain_save(p, ckpt, err) != 0)
                return cli_fail("train", "%s", err);
            fprintf(stderr, "stopped after step %" PRId64 "/%" PRId64 "; --resume %s continues\n",
                    p->step, total, ckpt);
            return interrupted ? 130 : EXIT_OK;
        }
        struct pd_pretrain_stats st;
        double ts = pd_time_now();
        if (pd_pretrain_step(p, tp, &st, err) != 0) {
            if (tty)
                fputc('\n', stderr);
            return cli_fail("train", "step %" PRId64 ": %s", p->step + 1, err);
        }
        double now = pd_time_now();
        if (p->step > first + 1 || total - first == 1) {   /* the first step warms up */
            tb += now - ts;
            tokens += (double)st.tokens;
        }
        double tps = tb > 0 ? tokens / tb : (double)st.tokens / (now - ts);
        fmt_time(eta, sizeof eta, (double)(total - p->step) * (double)st.tokens / tps);
        if (!r->bench && (tty || p->step % r->log_every == 0 || p->step == total ||
                          p->step == first + 1))
            fprintf(stderr, "%sstep %" PRId64 "/%" PRId64 "  loss %.4f  %.0f tok/s  lr %.2e  "
                    "eta %s  imbalance %.2f%s%s", tty ? "\r" : "", p->step, total, st.loss, tps,
                    st.lr, eta, st.imbalance, st.skipped ? "  (skipped: gradient not finite)" : "",
                    tty ? "\033[K" : "\n");
        if (!r->bench && r->ckpt_every > 0 && p->step % r->ckpt_every == 0 && p->step < total &&
            pd_pretrain_save(p, ckpt, err) != 0)
            return cli_fail("train", "%s", err);
    }
    if (tty && !r->bench)
        fputc('\n', stderr);
    if (r->bench) {
        int64_t steps = total - first - (total - first > 1 ? 1 : 0);
        printf("train bench: %" PRId64 " params, batch %d x seq %d, %d threads: %.0f tokens/s, "
               "%.1f ms/step (%" PRId64 " steps timed)\n", p->model->n_params, p->opts.batch,
               p->opts.seq, pd_threadpool_size(tp), tokens / tb, 1e3 * tb / (double)steps, steps);
    } else {
        char t[32];
        fmt_time(t, sizeof t, pd_time_now() - t0);
        fprintf(stderr, "trained %" PRId64 " steps in %s\n", total - first, t);
    }
    return EXIT_OK;
}

static int
cmd_train_pretrain(int argc, char **argv)
{
    struct run r = { .log_every = 10 };
    pd_pretrain_opts_default(&r.o);
    bool help = false;
    if (!parse_args(&r, argc, argv, &help))
        return EXIT_USAGE;
    if (help) {
        fputs(train_help, stdout);
        return EXIT_OK;
    }
    if (r.output == NULL && !r.bench && !(r.stop_after > 0 && r.ckpt))
        return cli_usage_error("train", "where to? -o MODEL.gguf");
    if (r.resume && (r.changed || r.tokenizer))
        return cli_usage_error("train", "--resume continues a run as it was: no options, sizes "
                               "or tokenizer with it");
    char err[PD_ERR_MAX], ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s", r.ckpt ? r.ckpt : "");
    if (!r.ckpt && r.output)
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", r.output);
    struct pd_pretrain *p = NULL;
    if (r.resume) {
        if (pd_pretrain_load(&p, r.resume, err) != 0)
            return cli_fail("train", "%s", err);
        fprintf(stderr, "resuming %s at step %" PRId64 "/%" PRId64 "\n", r.resume, p->step,
                p->opts.steps);
    } else {
        if (pd_pretrain_opts_check(&r.o, err) != 0)
            return cli_usage_error("train", "%s", err);
        struct pd_bpe *tok = NULL;
        double t0 = pd_time_now();
        int rc = r.tokenizer ? pd_bpe_load(&tok, r.tokenizer, err)
                             : pd_pretrain_tokenizer(&tok, &r.o, err);
        if (rc != 0)
            return cli_fail("train", "tokenizer: %s", err);
        fprintf(stderr, "tokenizer: %d tokens (%s, %.1fs)\n", pd_bpe_n_vocab(tok),
                r.tokenizer ? r.tokenizer : "trained", pd_time_now() - t0);
        if (pd_pretrain_new(&p, &r.o, tok, err) != 0)
            return cli_usage_error("train", "%s", err);
    }
    struct pd_threadpool *tp = pd_threadpool_new((int)(r.threads > 0 ? r.threads
                                                       : sysconf(_SC_NPROCESSORS_ONLN)));
    if (tp == NULL) {
        pd_pretrain_free(p);
        return cli_fail("train", "cannot start the threads");
    }
    const struct pd_tmodel_config *c = &p->opts.model;
    fprintf(stderr, "model: %" PRId64 " parameters (embd %d, layers %d, heads %d, experts %d "
            "used %d, vocab %d); %" PRId64 " steps of %d x %d tokens, %d threads\n",
            p->model->n_params, c->n_embd, c->n_layer, c->n_head, c->n_expert, c->n_expert_used,
            c->n_vocab, p->opts.steps, p->opts.batch, p->opts.seq, pd_threadpool_size(tp));
    struct sigaction sa = { .sa_handler = on_interrupt }, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int rc = train_loop(&r, p, tp, ckpt);
    sigaction(SIGINT, &old, NULL);
    if (rc == EXIT_OK && !r.bench && p->step == p->opts.steps) {
        if (pd_pretrain_save(p, ckpt, err) != 0)
            rc = cli_fail("train", "%s", err);
        else if (pd_tmodel_write_gguf(p->model, p->tok, "ponder-pretrain", r.output, err) != 0)
            rc = cli_fail("train", "%s", err);
        else
            fprintf(stderr, "wrote %s (checkpoint %s)\n", r.output, ckpt);
    }
    pd_threadpool_free(tp);
    pd_pretrain_free(p);
    return rc;
}

/* cmd-train-grpo.c, cmd-train-resume.c */
int cmd_train_grpo(int argc, char **argv);
int cmd_train_resume(int argc, char **argv);

/* ---- ponder train show ------------------------------------------------------------------------ */

/* The columns shown, by metric name. */
static const struct {
    const char *name, *head, *fmt;
} cols[] = {
    { "reward", "reward", "%7.3f" }, { "reward_std", "r.std", "%6.3f" },
    { "accuracy", "acc", "%5.2f" }, { "kl", "kl", "%7.4f" }, { "clip_frac", "clip", "%5.3f" },
    { "zero_std_frac", "0-std", "%5.2f" }, { "len_mean", "len", "%6.1f" },
    { "len_min", "min", "%4.0f" }, { "len_max", "max", "%4.0f" },
    { "think_len", "think", "%6.1f" }, { "entropy", "H", "%6.3f" },
    { "gen_tok_s", "tok/s", "%6.0f" }, { "step_s", "time", "%6.2f" },
    { "none_frac", "none", "%5.2f" },   /* share left out: every reward None (a plugin failed) */
};
#define N_COLS PD_ARRAY_SIZE(cols)

struct table {
    int64_t *steps;
    double *v;             /* [n][N_COLS], NAN where absent */
    size_t n, cap;
};

static int
table_add(void *ud, int64_t step, const char *name, double value)
{
    struct table *t = ud;
    if (t->n == 0 || t->steps[t->n - 1] != step) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 64;
            int64_t *s = realloc(t->steps, cap * sizeof *s);
            if (s)
                t->steps = s;
            double *v = realloc(t->v, cap * N_COLS * sizeof *v);
            if (v)
                t->v = v;
            if (!s || !v)
                return 1;
            t->cap = cap;
        }
        t->steps[t->n] = step;
        for (size_t j = 0; j < N_COLS; j++)
            t->v[t->n * N_COLS + j] = NAN;
        t->n++;
    }
    for (size_t j = 0; j < N_COLS; j++)
        if (strcmp(cols[j].name, name) == 0)
            t->v[(t->n - 1) * N_COLS + j] = value;
    return 0;
}

/* A braille line over column j: two steps a character, four dot rows of height. */
static void
sparkline(const struct table *t, size_t j, int width)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < t->n; i++) {
        double x = t->v[i * N_COLS + j];
        if (!isnan(x))
            lo = fmin(lo, x), hi = fmax(hi, x);
    }
    if (lo > hi)
        return;
    size_t per = (t->n + 2 * (size_t)width - 1) / (2 * (size_t)width);   /* steps a dot column */
    per = per ? per : 1;
    static const unsigned dots[2][4] = { { 0x40, 0x04, 0x02, 0x01 }, { 0x80, 0x20, 0x10, 0x08 } };
    printf("  %-6s ", cols[j].head);
    for (size_t i = 0; i < t->n; i += 2 * per) {
        unsigned bits = 0;
        for (int c = 0; c < 2; c++) {
            double s = 0;
            int k = 0;
            for (size_t q = i + (size_t)c * per; q < i + (size_t)(c + 1) * per && q < t->n; q++)
                if (!isnan(t->v[q * N_COLS + j]))
                    s += t->v[q * N_COLS + j], k++;
            if (k == 0)
                continue;
            int h = hi > lo ? (int)lrint(3.0 * (s / k - lo) / (hi - lo)) : 0;
            bits |= dots[c][h];
        }
        unsigned cp = 0x2800 + bits;
        printf("%c%c%c", (char)(0xe0 | cp >> 12), (char)(0x80 | ((cp >> 6) & 0x3f)),
               (char)(0x80 | (cp & 0x3f)));
    }
    printf("  %g .. %g\n", lo, hi);
}

static int
cmd_train_show(int argc, char **argv)
{
    const char *db_path = NULL;
    long id = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db_path = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return fputs(train_help, stdout), EXIT_OK;
        else if (id == 0 && cli_parse_int("train", "RUN", argv[i], 1, 1L << 62, &id))
            continue;
        else
            return EXIT_USAGE;
    }
    char err[PD_ERR_MAX];
    struct pd_store *db = NULL;
    struct pd_store_run run;
    struct table t = { 0 };
    int rc = EXIT_OK;
    if (pd_store_open(&db, db_path, err) != 0 || pd_store_run_get(db, id, &run, err) != 0) {
        pd_store_close(db);
        return cli_fail("train", "%s", err);
    }
    if (pd_store_run_metrics(db, run.id, table_add, &t, err) != 0)
        rc = cli_fail("train", "%s", err);
    printf("run %" PRId64 "  %s  %s  output %s\n", run.id, run.kind, run.status,
           run.output_path ? run.output_path : "-");
    if (run.config)
        printf("config %s\n", run.config);
    printf("%5s", "step");
    for (size_t j = 0; j < N_COLS; j++) {
        int w = snprintf(NULL, 0, cols[j].fmt, 0.0);
        printf(" %*s", w, cols[j].head);
    }
    putchar('\n');
    for (size_t i = 0; i < t.n; i++) {
        printf("%5" PRId64, t.steps[i]);
        for (size_t j = 0; j < N_COLS; j++) {
            double x = t.v[i * N_COLS + j];
            int w = snprintf(NULL, 0, cols[j].fmt, 0.0);
            if (isnan(x))
                printf(" %*s", w, "-");
            else
                printf(" "), printf(cols[j].fmt, x);
        }
        putchar('\n');
    }
    if (t.n > 1) {
        static const size_t spark[] = { 0, 2, 6, 9, 10 };   /* reward acc len think H */
        for (size_t k = 0; k < PD_ARRAY_SIZE(spark); k++)
            sparkline(&t, spark[k], 40);
    }
    free(t.steps), free(t.v);
    pd_store_run_release(&run);
    pd_store_close(db);
    return rc;
}

static int
cmd_train_exec(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(train_help, stdout);
        return EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "grpo") == 0)
        return cmd_train_grpo(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return cmd_train_show(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "resume") == 0)
        return cmd_train_resume(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "pretrain") != 0)
        return cli_usage_error("train", "pretrain, grpo, show or resume? (see --help)");
    return cmd_train_pretrain(argc - 1, argv + 1);
}

const struct pd_cmd_entry cmd_train_entry = {
    .name = "train",
    .usage = "pretrain|grpo|show|resume [OPTIONS]",
    .summary = "train a small DeepSeek-style model on task traces, GRPO it, show a run",
    .exec = cmd_train_exec,
};
