/*
 * cmd-train-grpo.c: `ponder train grpo`, full-weight GRPO of an F32 deepseek2 model made by
 * ponder train pretrain (engine/train/grpo-run.h): its options, the loop with its progress
 * lines and checkpoints, and the run's row. Where the prompts come from (--task, --dataset,
 * --from-sessions) and how completions are scored is train-grpo-src.c's; `ponder train resume`
 * (cmd-train-resume.c) runs grpo_main with the command line a run's config records.
 * Every run is a training_runs row with its config, every step's metrics training_metrics rows.
 */
#include "config.h"

#include "tui/train-grpo.h"

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/train/bpe-train.h"
#include "kernels/cpu/threadpool.h"
#include "sessions/runs.h"
#include "tui/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_train_grpo(int argc, char **argv);

static const char grpo_help[] =
    "usage: ponder train grpo -m MODEL.gguf (--task countdown|arith | --dataset FILE |\n"
    "                         --from-sessions QUERY) [OPTIONS] -o OUT.gguf\n"
    "\n"
    "GRPO on the weights, or a LoRA adapter, of an F32 deepseek2 model (as ponder train\n"
    "pretrain writes), or a LoRA adapter over a dense llama, qwen2 or qwen3 model whose\n"
    "weights stay in their own types (F16, Q8_0, Q4_1, K-quants...): G completions per prompt\n"
    "sampled at --temp, rewards, group-normalized advantages, the clipped objective (+ k3 KL\n"
    "with --beta), AdamW. The base model file is never written.\n"
    "\n"
    "  -m, --model FILE        the starting model (also the KL reference)\n"
    "  -o, --output FILE       the trained model (GGUF, deepseek2, F32)\n"
    "      --task NAME         countdown or arith: generated train-split problems, chat prompts\n"
    "      --dataset FILE      JSONL rows {\"prompt\": TEXT, \"solution\": GOLD}; the prompt is\n"
    "                          used as it is (TRL's standard format)\n"
    "      --from-sessions QUERY  the store's replies matching QUERY (as ponder sessions\n"
    "                          search; '' or '*': all) with a gold answer, or rated good (their\n"
    "                          <answer> or \\boxed{} is the gold): the user's message before\n"
    "                          each, through the model's chat template, is the prompt\n"
    "      --reward NAME[:W]   a reward plugin with weight W (repeatable); default: the task's\n"
    "                          own scorer (--task), accuracy (--dataset, --from-sessions)\n"
    "      --reward-timeout S  seconds a plugin may take on one completion, then None (2)\n"
    "  -G, --group N           completions per prompt (8)\n"
    "      --prompts-per-step N  (4)\n"
    "      --steps N           (100)\n"
    "      --lr R              constant AdamW rate (1e-5)\n"
    "      --beta R            KL weight (0)\n"
    "      --epsilon R         lower clip (0.2)\n"
    "      --epsilon-high R    upper clip (= epsilon)\n"
    "      --loss NAME         grpo, dapo (default) or dr_grpo\n"
    "      --scale-rewards S   group (default), batch or none\n"
    "      --mu N              optimizer steps per generation batch (1)\n"
    "      --temp R            sampling temperature, also the log-probs' (1.0)\n"
    "      --max-completion N  tokens a completion may take (256)\n"
    "      --mask-truncated    truncated completions leave the loss\n"
    "      --clip R            gradient norm clip (1.0; 0 = off)\n"
    "      --seed S            sampling and data (1)\n"
    "      --threads N         (default: all CPUs)\n"
    "      --lora-rank R       train a LoRA adapter of rank R over the frozen model; -o is\n"
    "                          then the adapter GGUF (ponder run --lora, llama.cpp --lora)\n"
    "      --lora-alpha A      the adapter's alpha; its scale is A/R (default: R)\n"
    "      --lora-targets L    of attn_q, attn_kv_a, attn_kv (k and v), attn_output, ffn\n"
    "                          (dense), shexp (shared experts), attn (every attn_*), all;\n"
    "                          default attn_output,ffn,shexp on deepseek2 (what llama.cpp\n"
    "                          applies there), all on llama, qwen2 and qwen3\n"
    "      --merge             with --lora-rank, -o is the model with the adapter merged in\n"
    "      --ckpt FILE         checkpoint (default: OUT.ckpt); --ckpt-every N steps (0: end)\n"
    "      --resume FILE       continue from a checkpoint (-m, data and rewards as before)\n"
    "      --stop-after N      stop after step N with a checkpoint, as Ctrl-C does\n"
    "      --db FILE           the session store (default: $PONDER_DB or the user's)\n"
    "      --log-every N       a progress line every N steps off a terminal (1)\n"
    "  -h, --help              this help\n"
    "\n"
    "ponder train show [RUN] [--db FILE] prints a run's metrics (default: the latest run);\n"
    "ponder train resume [RUN] [--db FILE] continues it from its last checkpoint.\n";

enum {
    O_TASK = 256, O_DATASET, O_REWARD, O_PROMPTS, O_STEPS, O_LR, O_BETA, O_EPS, O_EPS_HIGH,
    O_LOSS, O_SCALE, O_MU, O_TEMP, O_MAXC, O_MASKT, O_CLIP, O_SEED, O_THREADS, O_CKPT,
    O_CKPT_EVERY, O_RESUME, O_STOP_AFTER, O_DB, O_LOG_EVERY, O_LORA_RANK, O_LORA_ALPHA,
    O_LORA_TARGETS, O_MERGE, O_SESSIONS, O_REWARD_TIMEOUT,
};

static const struct option grpo_longopts[] = {
    { "model", required_argument, NULL, 'm' }, { "output", required_argument, NULL, 'o' },
    { "task", required_argument, NULL, O_TASK }, { "dataset", required_argument, NULL, O_DATASET },
    { "reward", required_argument, NULL, O_REWARD }, { "group", required_argument, NULL, 'G' },
    { "prompts-per-step", required_argument, NULL, O_PROMPTS },
    { "steps", required_argument, NULL, O_STEPS }, { "lr", required_argument, NULL, O_LR },
    { "beta", required_argument, NULL, O_BETA }, { "epsilon", required_argument, NULL, O_EPS },
    { "epsilon-high", required_argument, NULL, O_EPS_HIGH },
    { "loss", required_argument, NULL, O_LOSS },
    { "scale-rewards", required_argument, NULL, O_SCALE },
    { "mu", required_argument, NULL, O_MU }, { "temp", required_argument, NULL, O_TEMP },
    { "max-completion", required_argument, NULL, O_MAXC },
    { "mask-truncated", no_argument, NULL, O_MASKT }, { "clip", required_argument, NULL, O_CLIP },
    { "seed", required_argument, NULL, O_SEED }, { "threads", required_argument, NULL, O_THREADS },
    { "ckpt", required_argument, NULL, O_CKPT },
    { "ckpt-every", required_argument, NULL, O_CKPT_EVERY },
    { "resume", required_argument, NULL, O_RESUME },
    { "stop-after", required_argument, NULL, O_STOP_AFTER },
    { "db", required_argument, NULL, O_DB }, { "log-every", required_argument, NULL, O_LOG_EVERY },
    { "lora-rank", required_argument, NULL, O_LORA_RANK },
    { "lora-alpha", required_argument, NULL, O_LORA_ALPHA },
    { "lora-targets", required_argument, NULL, O_LORA_TARGETS },
    { "merge", no_argument, NULL, O_MERGE },
    { "from-sessions", required_argument, NULL, O_SESSIONS },
    { "reward-timeout", required_argument, NULL, O_REWARD_TIMEOUT },
    { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};

/* The flags that are run options under another key (pd_grpo_run_opts_set). */
static const struct {
    int opt;
    const char *key;
} flag_keys[] = {
    { 'G', "group" }, { O_PROMPTS, "prompts" }, { O_STEPS, "steps" }, { O_LR, "lr" },
    { O_BETA, "beta" }, { O_EPS, "epsilon" }, { O_EPS_HIGH, "epsilon_high" }, { O_LOSS, "loss" },
    { O_SCALE, "scale_rewards" }, { O_MU, "mu" }, { O_TEMP, "temp" },
    { O_MAXC, "max_completion" }, { O_CLIP, "clip" }, { O_SEED, "seed" },
    { O_LORA_RANK, "lora_rank" }, { O_LORA_ALPHA, "lora_alpha" },
    { O_LORA_TARGETS, "lora_targets" },
};


/* ---- options ---------------------------------------------------------------------------------- */

static bool
parse_reward(struct grpo_cli *c, const char *arg)
{
    if (c->n_rewards == PD_GRPO_MAX_FN) {
        cli_usage_error("train", "at most %d rewards", PD_GRPO_MAX_FN);
        return false;
    }
    const char *colon = strrchr(arg, ':');
    double w = 1.0;
    if (colon && !cli_parse_float("train", "--reward", colon + 1, -1e6, 1e6, &w))
        return false;
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
    char *name = c->reward_arg[c->n_rewards];
    if (len == 0 || len >= sizeof c->reward_arg[0]) {
        cli_usage_error("train", "--reward '%s': NAME[:WEIGHT]%s", arg,
                        len ? " (the name is too long)" : "");
        return false;
    }
    memcpy(name, arg, len);
    name[len] = '\0';
    c->reward_names[c->n_rewards] = name;
    c->reward_weights[c->n_rewards++] = w;
    return true;
}

static bool
parse_args(struct grpo_cli *c, int argc, char **argv, bool *help)
{
    char err[PD_ERR_MAX];
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "m:o:G:h", grpo_longopts, NULL)) != -1) {
        bool mapped = false;
        for (size_t i = 0; i < PD_ARRAY_SIZE(flag_keys); i++)
            if (flag_keys[i].opt == o) {
                if (pd_grpo_run_opts_set(&c->o, flag_keys[i].key, optarg, err) != 0) {
                    cli_usage_error("train", "%s", err);
                    return false;
                }
                c->changed = mapped = true;
                c->targets_given |= o == O_LORA_TARGETS;
            }
        if (mapped)
            continue;
        switch (o) {
        case 'h': *help = true; return true;
        case 'm': c->model = optarg; break;
        case 'o': c->output = optarg; break;
        case O_TASK:
            if (pd_task_kind_parse(optarg, &c->task) != 0) {
                cli_usage_error("train", "--task '%s': countdown or arith", optarg);
                return false;
            }
            c->have_task = true;
            break;
        case O_DATASET: c->dataset = optarg; break;
        case O_SESSIONS: c->sessions = optarg; break;
        case O_REWARD_TIMEOUT:
            if (!cli_parse_float("train", "--reward-timeout", optarg, 0.01, 3600,
                                 &c->reward_timeout))
                return false;
            break;
        case O_REWARD:
            if (!parse_reward(c, optarg))
                return false;
            break;
        case O_MASKT: c->o.grpo.mask_truncated = true, c->changed = true; break;
        case O_MERGE: c->merge = true; break;
        case O_CKPT: c->ckpt = optarg; break;
        case O_RESUME: c->resume = optarg; break;
        case O_DB: c->db = optarg; break;
        case O_THREADS:
            if (!cli_parse_int("train", "--threads", optarg, 1, 1024, &c->threads))
                return false;
            break;
        case O_CKPT_EVERY:
            if (!cli_parse_int("train", "--ckpt-every", optarg, 0, 1L << 40, &c->ckpt_every))
                return false;
            break;
        case O_STOP_AFTER:
            if (!cli_parse_int("train", "--stop-after", optarg, 1, 1L << 40, &c->stop_after))
                return false;
            break;
        case O_LOG_EVERY:
            if (!cli_parse_int("train", "--log-every", optarg, 1, 1L << 40, &c->log_every))
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

/* Whether two paths name the same existing file. */
static bool
same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The base model as a trainable model and its tokenizer. */
static bool
load_base(const char *path, struct pd_tmodel **m, struct pd_bpe **tok)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    int rc = pd_gguf_open(&g, path, err);
    if (rc == 0)
        rc = pd_tmodel_from_gguf(m, g, err);
    if (rc == 0 && tok)
        rc = pd_bpe_from_gguf(tok, g, err);
    pd_gguf_close(g);
    if (rc != 0) {
        pd_tmodel_free(*m);
        *m = NULL;
        cli_fail("train", "%s: %s", path, err);
    }
    return rc == 0;
}

/* The architecture path's GGUF names (general.architecture), into arch. */
static bool
base_arch(const char *path, char *arch, size_t cap)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    const char *a = NULL;
    int rc = pd_gguf_open(&g, path, err);
    if (rc == 0 && pd_gguf_get_str(g, "general.architecture", &a) != 0)
        rc = pd_errorf(err, PD_EFORMAT, "no general.architecture");
    if (rc == 0)
        snprintf(arch, cap, "%s", a);
    pd_gguf_close(g);
    if (rc != 0)
        cli_fail("train", "%s: %s", path, err);
    return rc == 0;
}

static bool
dense_arch(const char *arch)
{
    return strcmp(arch, "llama") == 0 || strcmp(arch, "qwen2") == 0 || strcmp(arch, "qwen3") == 0;
}

/* A dense base as the inference engine loads it (weights in their own types) and its
 * tokenizer. */
static bool
load_dense(const char *path, struct pd_model **m, struct pd_bpe **tok)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    int rc = pd_model_load(m, path, err);
    if (rc == 0 && (rc = pd_gguf_open(&g, path, err)) == 0)
        rc = pd_bpe_from_gguf(tok, g, err);
    pd_gguf_close(g);
    if (rc != 0) {
        pd_model_free(*m);
        *m = NULL;
        cli_fail("train", "%s: %s", path, err);
    }
    return rc == 0;
}

/* ---- the loop --------------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

#define MAX_METRICS (24 + 2 * PD_GRPO_MAX_FN)

static int
metrics_of(const struct pd_grpo_step_stats *st, const struct grpo_src *s, const char **names,
           double *v, char (*fn_names)[64])
{
    int n = 0;
#define M(name, val) (names[n] = (name), v[n++] = (val))
    M("reward", st->reward_mean); M("reward_std", st->reward_std);
    M("accuracy", st->accuracy); M("kl", st->kl); M("clip_frac", st->clip_frac);
    M("clip_low", st->clip_low); M("clip_high", st->clip_high);
    M("zero_std_frac", st->zero_std_frac); M("none_frac", st->none_frac);
    M("truncated_frac", st->truncated_frac); M("len_mean", st->len_mean);
    M("len_min", st->len_min); M("len_max", st->len_max); M("think_len", st->think_len);
    M("entropy", st->entropy); M("loss", st->loss); M("grad_norm", st->grad_norm);
    M("gen_tok_s", st->gen_tok_s); M("train_tok_s", st->train_tok_s);
    M("step_s", st->step_s); M("sample_logp_err", st->sample_logp_err);
    for (int j = 0; j < s->n_terms; j++) {
        snprintf(fn_names[2 * j], 64, "reward/%s", pd_plugin_name(s->plugins[j]));
        snprintf(fn_names[2 * j + 1], 64, "reward_std/%s", pd_plugin_name(s->plugins[j]));
        M(fn_names[2 * j], st->fn_mean[j]);
        M(fn_names[2 * j + 1], st->fn_std[j]);
    }
#undef M
    return n;
}

static void
progress(const struct pd_grpo_step_stats *st, int64_t total, bool tty)
{
    char reward[40] = "-", acc[16] = "-", kl[16] = "-";
    if (!isnan(st->reward_mean))
        snprintf(reward, sizeof reward, "%.3f±%.3f", st->reward_mean, st->reward_std);
    if (!isnan(st->accuracy))
        snprintf(acc, sizeof acc, "%.2f", st->accuracy);
    if (!isnan(st->kl))
        snprintf(kl, sizeof kl, "%.4f", st->kl);
    fprintf(stderr, "%sstep %" PRId64 "/%" PRId64 "  reward %s  acc %s  kl %s  "
            "clip %.3f  zero-std %.2f  len %.0f (%d..%d)  think %.0f  H %.3f  %.0f tok/s  "
            "%.1fs%s", tty ? "\r" : "", st->step, total, reward, acc,
            kl, st->clip_frac, st->zero_std_frac, st->len_mean, st->len_min, st->len_max,
            st->think_len, st->entropy, st->gen_tok_s, st->step_s, tty ? "\033[K" : "\n");
}

static int
grpo_loop(struct grpo_cli *c, struct pd_grpo_run *r, struct grpo_src *s, struct pd_store *db,
          struct pd_threadpool *tp, const char *ckpt)
{
    char err[PD_ERR_MAX];
    bool tty = isatty(STDERR_FILENO);
    struct pd_grpo_source src = { .ud = s, .prompt = grpo_src_prompt,
                                  .score = grpo_src_score,
                                  .n_fn = s->n_terms ? s->n_terms : 1 };
    while (r->step < r->opts.steps) {
        if (interrupted || (c->stop_after > 0 && r->step >= c->stop_after)) {
            if (tty)
                fputc('\n', stderr);
            if (pd_grpo_run_save(r, ckpt, err) != 0)
                return cli_fail("train", "%s", err);
            fprintf(stderr, "stopped after step %" PRId64 "/%" PRId64 "; --resume %s continues\n",
                    r->step, r->opts.steps, ckpt);
            return interrupted ? 130 : 3;   /* 3: stopped on request, not finished */
        }
        struct pd_grpo_step_stats st;
        if (pd_grpo_run_step(r, tp, &src, &st, err) != 0) {
            if (tty)
                fputc('\n', stderr);
            return cli_fail("train", "step %" PRId64 ": %s", r->step + 1, err);
        }
        const char *names[MAX_METRICS];
        double v[MAX_METRICS];
        char fn_names[2 * PD_GRPO_MAX_FN][64];
        int n = metrics_of(&st, s, names, v, fn_names);
        if (pd_store_run_metric(db, r->label, st.step, names, v, n, err) != 0)
            return cli_fail("train", "store: %s", err);
        if (tty || st.step % c->log_every == 0 || st.step == r->opts.steps)
            progress(&st, r->opts.steps, tty);
        if (c->ckpt_every > 0 && r->step % c->ckpt_every == 0 && r->step < r->opts.steps &&
            pd_grpo_run_save(r, ckpt, err) != 0)
            return cli_fail("train", "%s", err);
    }
    if (tty)
        fputc('\n', stderr);
    return EXIT_OK;
}

/* The store's row of a resumed run: there, the one asked for, running again. */
static bool
resume_row(const struct grpo_cli *c, const struct pd_grpo_run *r, struct pd_store *db)
{
    char err[PD_ERR_MAX];
    struct pd_store_run row;
    int rc = pd_store_run_get(db, r->label > 0 ? r->label : -1, &row, err);
    bool there = rc == 0 && row.id == r->label;
    pd_store_run_release(&row);
    if (!there)
        return cli_fail("train", "run %" PRId64 " of the checkpoint is not in this store",
                        r->label), false;
    if (c->resume_run > 0 && r->label != c->resume_run)
        return cli_fail("train", "%s is run %" PRId64 "'s checkpoint, not run %" PRId64 "'s",
                        c->resume, r->label, c->resume_run), false;
    if (pd_store_run_resume(db, r->label, err) != 0)
        return cli_fail("train", "store: %s", err), false;
    return true;
}

/* The run: new (a row in the store) or resumed from c->resume, over a trainable deepseek2
 * model or, with LoRA, a dense llama/qwen2/qwen3 one. EXIT_OK, or the exit status. */
static int
open_run(struct grpo_cli *c, struct grpo_src *s, struct pd_store *db, const char *sample, const char *ckpt,
         struct pd_grpo_run **out)
{
    char err[PD_ERR_MAX], arch[64];
    struct pd_tmodel *m = NULL;
    struct pd_model *pm = NULL;
    struct pd_bpe *tok = NULL;
    struct pd_grpo_run *r = NULL;
    if (!base_arch(c->model, arch, sizeof arch))
        return EXIT_RUNTIME;
    bool dense = dense_arch(arch);
    if (!dense && strcmp(arch, "deepseek2") != 0)
        return cli_usage_error("train", "%s is a %s model: GRPO trains the F32 deepseek2 model "
                               "(its weights or a LoRA adapter) and LoRA adapters over dense "
                               "llama, qwen2 and qwen3 models", c->model, arch);
    if (dense && !c->resume && c->o.lora_rank == 0)
        return cli_usage_error("train", "full-weight GRPO trains only an F32 deepseek2 model "
                               "(ponder train pretrain's); %s is a %s model: train a LoRA "
                               "adapter over it with --lora-rank R", c->model, arch);
    if (dense && c->merge)
        return cli_usage_error("train", "--merge folds an adapter into F32 weights; %s keeps "
                               "its own types: use the adapter (ponder run --lora)", c->model);
    if (dense && !c->targets_given)
        c->o.lora_targets = PD_TLORA_DENSE_DEFAULT;
    if (dense ? !load_dense(c->model, &pm, &tok)
              : !load_base(c->model, &m, c->resume ? NULL : &tok))
        return EXIT_RUNTIME;
    if (c->resume) {
        int lrc = dense ? pd_grpo_run_load_dense(&r, c->resume, pm, c->model, tok, sample, err)
                        : pd_grpo_run_load(&r, c->resume, m, sample, err);
        if (lrc != 0)
            return cli_fail("train", "%s", err);
        *out = r;
        fprintf(stderr, "resuming %s at step %" PRId64 "/%" PRId64 " (run %" PRId64 ")\n",
                c->resume, r->step, r->opts.steps, r->label);
        return resume_row(c, r, db) ? EXIT_OK : EXIT_RUNTIME;
    }
    int nrc = dense ? pd_grpo_run_new_dense(&r, &c->o, pm, c->model, tok, sample, err)
                    : pd_grpo_run_new(&r, &c->o, m, tok, sample, err);
    if (nrc != 0)   /* the run took the model and the tokenizer, even so */
        return cli_usage_error("train", "%s", err);
    *out = r;
    char *cfg = grpo_config_json(c, s, r, ckpt), out_abs[4096];
    int64_t id = 0;
    int src_rc = cfg ? pd_store_run_new(db, "grpo", cfg,
                                        grpo_abs_path(c->output, out_abs, sizeof out_abs), &id,
                                        err)
                     : pd_errorf(err, PD_ENOMEM, "out of memory for the config");
    free(cfg);
    if (src_rc != 0)
        return cli_fail("train", "store: %s", err);
    r->label = id;
    return EXIT_OK;
}

/* One trainer per checkpoint: a lock beside it (ckpt.lock, holding the pid), which the kernel
 * lets go when the process ends however it ends, so a run killed can be resumed at once and a
 * live one cannot be resumed twice. The lock's descriptor, or -1 after saying why not. */
static int
lock_checkpoint(const char *ckpt, char *lock, size_t size)
{
    snprintf(lock, size, "%s.lock", ckpt);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return cli_fail("train", "%s: cannot open: %s", lock, strerror(errno)), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return cli_fail("train", "the checkpoint %s is in use by a live run (pid %s): stop it "
                        "first (x in the training view, or kill -INT %s)", ckpt,
                        pid[0] ? pid : "?", pid[0] ? pid : "PID"), -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        fprintf(stderr, "ponder train: %s: cannot record the pid\n", lock);
    return fd;
}

static int
run_grpo(struct grpo_cli *c, struct grpo_src *s, struct pd_store *db)
{
    char err[PD_ERR_MAX], ckpt[4096], sample[4096];
    snprintf(ckpt, sizeof ckpt, "%s", c->ckpt ? c->ckpt : "");
    if (!c->ckpt)
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", c->output);
    if (same_file(c->model, c->output) || same_file(c->model, ckpt))
        return cli_usage_error("train", "the base model %s is never written: choose another "
                               "-o or --ckpt", c->model);
    char lock[4096 + 8];
    int lock_fd = lock_checkpoint(ckpt, lock, sizeof lock);
    if (lock_fd < 0)
        return EXIT_RUNTIME;
    const char *tmp = getenv("TMPDIR");
    snprintf(sample, sizeof sample, "%s/ponder-grpo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(sample);
    if (fd < 0) {
        close(lock_fd);
        return cli_fail("train", "%s: cannot make a temporary file", sample);
    }
    close(fd);
    struct pd_grpo_run *r = NULL;
    int rc = open_run(c, s, db, sample, ckpt, &r);
    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_RUNTIME;
    struct pd_threadpool *tp = pd_threadpool_new((int)c->threads);
    if (tp == NULL) {
        cli_fail("train", "cannot start the threads");
        goto out;
    }
    r->opts.threads = pd_threadpool_size(tp);
    fprintf(stderr, "run %" PRId64 ": %" PRId64 " %s; %" PRId64 " steps of %d prompts x "
            "%d completions (<= %d tokens), loss %s, beta %g, mu %d, lr %g\n", r->label,
            r->lora ? r->lora->n_params : r->model->n_params,
            r->lora ? "adapter parameters" : "parameters", r->opts.steps, r->opts.prompts,
            r->opts.group, r->opts.grpo.max_completion, pd_grpo_loss_name(r->opts.grpo.loss),
            r->opts.grpo.beta, r->opts.mu, r->opts.lr);
    struct sigaction sa = { .sa_handler = on_interrupt }, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    rc = grpo_loop(c, r, s, db, tp, ckpt);
    sigaction(SIGINT, &old, NULL);
    pd_threadpool_free(tp);
    const char *status = rc == EXIT_OK ? "done" : rc == 130 || rc == 3 ? "stopped" : "failed";
    if (rc == 3)
        rc = EXIT_OK;
    if (status[0] == 'd') {
        if (pd_grpo_run_save(r, ckpt, err) != 0 ||
            pd_grpo_run_write(r, c->output, c->merge, err) != 0) {
            rc = cli_fail("train", "%s", err);
            status = "failed";
        } else {
            fprintf(stderr, "wrote %s (checkpoint %s); ponder train show %" PRId64 "\n",
                    c->output, ckpt, r->label);
        }
    }
    if (pd_store_run_finish(db, r->label, status, err) != 0)
        fprintf(stderr, "ponder train: store: %s\n", err);
out:
    pd_grpo_run_free(r);
    unlink(sample);
    unlink(lock);
    close(lock_fd);
    return rc;
}

int
grpo_main(struct grpo_cli *c)
{
    char err[PD_ERR_MAX];
    struct grpo_src s = { .c = c };
    pd_task_params_default(&s.tp, c->task);
    if (c->threads <= 0)   /* recorded as a number: a resume samples with as many */
        c->threads = sysconf(_SC_NPROCESSORS_ONLN);
    struct pd_store *db = NULL;
    int rc = EXIT_RUNTIME;
    if ((c->dataset && !grpo_src_read_dataset(&s, c->dataset)) || !grpo_src_open_rewards(&s))
        goto out;
    if (pd_store_open(&db, c->db, err) != 0) {
        cli_fail("train", "store: %s", err);
        goto out;
    }
    if (c->sessions && !grpo_src_read_sessions(&s, db, c->sessions))
        goto out;
    if (c->examples > 0 && s.n_rows != (size_t)c->examples)   /* the store or file changed */
        fprintf(stderr, "note: the source gives %zu prompts now, %ld when the run started: the "
                "steps from here on do not see the ones they would have seen\n", s.n_rows,
                c->examples);
    rc = run_grpo(c, &s, db);
out:
    pd_store_close(db);
    grpo_src_release(&s);
    return rc;
}

int
cmd_train_grpo(int argc, char **argv)
{
    struct grpo_cli c = { .log_every = 1 };
    pd_grpo_run_opts_default(&c.o);
    bool help = false;
    if (!parse_args(&c, argc, argv, &help))
        return EXIT_USAGE;
    if (help) {
        fputs(grpo_help, stdout);
        return EXIT_OK;
    }
    if (c.model == NULL)
        return cli_usage_error("train", "which model? -m MODEL.gguf");
    if (c.output == NULL)
        return cli_usage_error("train", "where to? -o OUT.gguf");
    if ((int)c.have_task + (c.dataset != NULL) + (c.sessions != NULL) != 1)
        return cli_usage_error("train", "prompts from --task NAME, --dataset FILE or "
                               "--from-sessions QUERY (one)");
    if (c.merge && c.o.lora_rank == 0 && !c.resume)
        return cli_usage_error("train", "--merge merges a LoRA adapter: give --lora-rank");
    if (c.resume && c.changed)
        return cli_usage_error("train", "--resume continues a run as it was: no options with it");
    char err[PD_ERR_MAX];
    if (pd_grpo_run_opts_check(&c.o, err) != 0)
        return cli_usage_error("train", "%s", err);
    return grpo_main(&c);
}
