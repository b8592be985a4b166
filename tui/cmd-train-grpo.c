/*
 * cmd-train-grpo.c: `ponder train grpo`, full-weight GRPO of an F32 deepseek2 model made by
 * ponder train pretrain (engine/train/grpo-run.h). The prompts come from the task generators (--task) or a JSONL file (--dataset,
 * TRL's prompt/solution rows); completions are scored by TinyZero's scorer of the task
 * (pd_task_score) when no --reward is given, else by reward plugins in a walled worker
 * (plugins/reward-run.h): a plugin that crashes or hangs costs its scores (None), never the run.
 * Every run is a training_runs row with its config, every step's metrics training_metrics rows.
 */
#include "config.h"

#include "engine/gguf.h"
#include "engine/train/bpe-train.h"
#include "engine/train/grpo-run.h"
#include "engine/train/task.h"
#include "kernels/cpu/threadpool.h"
#include "plugins/reward-run.h"
#include "sessions/runs.h"
#include "tui/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_train_grpo(int argc, char **argv);

static const char grpo_help[] =
    "usage: ponder train grpo -m MODEL.gguf (--task countdown|arith | --dataset FILE)\n"
    "                         [OPTIONS] -o OUT.gguf\n"
    "\n"
    "GRPO on the weights, or a LoRA adapter, of an F32 deepseek2 model (as ponder train\n"
    "pretrain writes): G completions per prompt sampled at --temp, rewards, group-normalized\n"
    "advantages, the clipped objective (+ k3 KL with --beta), AdamW. The base model file is\n"
    "never written.\n"
    "\n"
    "  -m, --model FILE        the starting model (also the KL reference)\n"
    "  -o, --output FILE       the trained model (GGUF, deepseek2, F32)\n"
    "      --task NAME         countdown or arith: generated train-split problems, chat prompts\n"
    "      --dataset FILE      JSONL rows {\"prompt\": TEXT, \"solution\": GOLD}; the prompt is\n"
    "                          used as it is (TRL's standard format)\n"
    "      --reward NAME[:W]   a reward plugin with weight W (repeatable); default: the task's\n"
    "                          own scorer (--task), accuracy (--dataset)\n"
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
    "      --lora-targets L    of attn_q, attn_kv_a, attn_output, ffn (dense), shexp (shared\n"
    "                          experts), attn (the three attn_*), all; default\n"
    "                          attn_output,ffn,shexp: what llama.cpp's deepseek2 applies\n"
    "      --merge             with --lora-rank, -o is the model with the adapter merged in\n"
    "      --ckpt FILE         checkpoint (default: OUT.ckpt); --ckpt-every N steps (0: end)\n"
    "      --resume FILE       continue from a checkpoint (-m, data and rewards as before)\n"
    "      --stop-after N      stop after step N with a checkpoint, as Ctrl-C does\n"
    "      --db FILE           the session store (default: $PONDER_DB or the user's)\n"
    "      --log-every N       a progress line every N steps off a terminal (1)\n"
    "  -h, --help              this help\n"
    "\n"
    "ponder train show [RUN] [--db FILE] prints a run's metrics (default: the latest run).\n";

enum {
    O_TASK = 256, O_DATASET, O_REWARD, O_PROMPTS, O_STEPS, O_LR, O_BETA, O_EPS, O_EPS_HIGH,
    O_LOSS, O_SCALE, O_MU, O_TEMP, O_MAXC, O_MASKT, O_CLIP, O_SEED, O_THREADS, O_CKPT,
    O_CKPT_EVERY, O_RESUME, O_STOP_AFTER, O_DB, O_LOG_EVERY, O_LORA_RANK, O_LORA_ALPHA,
    O_LORA_TARGETS, O_MERGE,
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

struct row {                 /* a dataset row */
    char *prompt, *solution;
};

struct cli {
    struct pd_grpo_run_opts o;
    bool changed;
    const char *model, *output, *dataset, *ckpt, *resume, *db;
    bool have_task, merge;
    enum pd_task_kind task;
    long threads, ckpt_every, stop_after, log_every;
    const char *reward_names[PD_GRPO_MAX_FN];
    double reward_weights[PD_GRPO_MAX_FN];
    int n_rewards;
};

/* What the source callbacks share. */
struct src {
    struct cli *c;
    struct pd_task_params tp;
    struct row *rows;
    size_t n_rows;
    struct pd_plugin *plugins[PD_GRPO_MAX_FN];
    struct pd_reward_term terms[PD_GRPO_MAX_FN];
    int n_terms, accuracy_term;   /* the term named accuracy, or -1 */
};

/* ---- the dataset ------------------------------------------------------------------------------ */

/* The JSON string value of "key" in a flat object line, decoded (malloc'd), or NULL. */
static char *
json_str(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    if (*p++ != '"')
        return NULL;
    char *out = malloc(strlen(p) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        switch (*++p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            if (sscanf(p + 1, "%4x", &cp) != 1) {
                free(out);
                return NULL;
            }
            p += 4;
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xe0 | cp >> 12), *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        case '\0': free(out); return NULL;
        default: *o++ = *p; break;
        }
    }
    if (*p != '"') {
        free(out);
        return NULL;
    }
    *o = '\0';
    return out;
}

static bool
read_dataset(struct src *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_fail("train", "%s: cannot open", path);
        return false;
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    bool good = true;
    while (good && (len = getline(&line, &cap, f)) > 0) {
        n++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        struct row r = { json_str(line, "prompt"), json_str(line, "solution") };
        if (r.prompt == NULL) {
            cli_fail("train", "%s:%zu: no \"prompt\" string (conversational prompts are not "
                     "read yet)", path, n);
            good = false;
        }
        struct row *rows = realloc(s->rows, (s->n_rows + 1) * sizeof *rows);
        if (rows == NULL) {
            free(r.prompt), free(r.solution);
            good = false;
            break;
        }
        s->rows = rows;
        s->rows[s->n_rows++] = r;
    }
    free(line);
    fclose(f);
    if (good && s->n_rows == 0) {
        cli_fail("train", "%s: no rows", path);
        good = false;
    }
    return good;
}

/* ---- prompts and rewards ---------------------------------------------------------------------- */

static int
problem(struct src *s, int64_t index, struct pd_task_problem *pr, char *err)
{
    return pd_task_generate(&s->tp, PD_TASK_TRAIN, s->c->o.seed, (uint64_t)index, pr, err);
}

static int
src_prompt(void *ud, int64_t index, char *buf, size_t cap, char *err)
{
    struct src *s = ud;
    if (s->rows) {
        const char *p = s->rows[(size_t)index % s->n_rows].prompt;
        if (strlen(p) >= cap)
            return pd_errorf(err, PD_ERANGE, "row %lld: prompt too long", (long long)index);
        memcpy(buf, p, strlen(p) + 1);
        return 0;
    }
    struct pd_task_problem pr;
    int rc = problem(s, index, &pr, err);
    if (rc == 0 && pd_task_style_prompt(PD_TASK_STYLE_CHAT, &pr, buf, cap) != 0)
        rc = pd_errorf(err, PD_ERANGE, "problem %lld: prompt too long", (long long)index);
    return rc;
}

/* The task's own scorer, one function. */
static int
score_task(struct src *s, const int64_t *index, int P, int G, const char *const *texts,
           double *rewards, bool *none, int8_t *correct, double *per_fn, char *err)
{
    for (int p = 0; p < P; p++) {
        struct pd_task_problem pr;
        int rc = problem(s, index[p], &pr, err);
        if (rc != 0)
            return rc;
        for (int g = 0; g < G; g++) {
            int i = p * G + g;
            double r = pd_task_score(&pr, texts[i], strlen(texts[i]), true);
            rewards[i] = per_fn[i] = r;
            none[i] = false;
            correct[i] = r == 1.0;
        }
    }
    return 0;
}

static int
src_score(void *ud, const int64_t *index, int P, int G, const char *const *texts,
          const int32_t *n_tokens, double *rewards, bool *none, int8_t *correct, double *per_fn,
          char *err)
{
    struct src *s = ud;
    if (s->n_terms == 0)
        return score_task(s, index, P, G, texts, rewards, none, correct, per_fn, err);
    int n = P * G, rc = 0;
    struct pd_reward_item *items = calloc((size_t)n, sizeof *items);
    struct pd_reward_score *scores = calloc((size_t)n * (size_t)s->n_terms, sizeof *scores);
    struct pd_reward_total *totals = calloc((size_t)n, sizeof *totals);
    char (*prompts)[PD_TASK_PROMPT_MAX] = calloc((size_t)P, sizeof *prompts);
    char (*golds)[PD_TASK_ANSWER_MAX] = calloc((size_t)P, sizeof *golds);
    char (*extras)[160] = calloc((size_t)P, sizeof *extras);
    struct pd_task_problem *prs = calloc((size_t)P, sizeof *prs);
    if (!items || !scores || !totals || !prompts || !golds || !extras || !prs)
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for the rewards");
    for (int p = 0; rc == 0 && p < P; p++) {
        const char *prompt = prompts[p], *gold = golds[p], *extra = "{}";
        if (s->rows) {
            const struct row *r = &s->rows[(size_t)index[p] % s->n_rows];
            prompt = r->prompt, gold = r->solution ? r->solution : "";
        } else if ((rc = problem(s, index[p], &prs[p], err)) == 0) {
            pd_task_style_prompt(PD_TASK_STYLE_CHAT, &prs[p], prompts[p], PD_TASK_PROMPT_MAX);
            pd_task_gold(&prs[p], golds[p], PD_TASK_ANSWER_MAX);
            int len = snprintf(extras[p], sizeof extras[p], "{\"numbers\":[");
            for (int k = 0; prs[p].kind == PD_TASK_COUNTDOWN && k < prs[p].n; k++)
                len += snprintf(extras[p] + len, sizeof extras[p] - (size_t)len, "%s%d",
                                k ? "," : "", prs[p].nums[k]);
            snprintf(extras[p] + len, sizeof extras[p] - (size_t)len, "],\"target\":%lld}",
                     prs[p].target);
            extra = extras[p];
        }
        for (int g = 0; g < G; g++)
            items[p * G + g] = (struct pd_reward_item){
                .completion = texts[p * G + g], .prompt = prompt, .gold = gold, .extra = extra,
                .opened_think = false, .completion_tokens = n_tokens[p * G + g],
            };
    }
    struct pd_reward_limits lim = { 0 };
    if (rc == 0)
        rc = pd_reward_run(s->terms, (size_t)s->n_terms, items, (size_t)n, &lim, scores, totals,
                           err);
    int failed[PD_GRPO_MAX_FN] = { 0 };
    const char *why[PD_GRPO_MAX_FN] = { 0 };
    for (int i = 0; rc == 0 && i < n; i++) {
        rewards[i] = totals[i].value;
        none[i] = totals[i].none;
        for (int j = 0; j < s->n_terms; j++) {
            const struct pd_reward_score *sc = &scores[(size_t)i * s->n_terms + j];
            per_fn[(size_t)i * s->n_terms + j] = sc->state == PD_REWARD_SCORED ? sc->value : NAN;
            if (sc->state == PD_REWARD_FAILED && failed[j]++ == 0)
                why[j] = sc->why;
        }
        int p = i / G;
        if (!s->rows)
            correct[i] = pd_task_score(&prs[p], texts[i], strlen(texts[i]), true) == 1.0;
        else if (s->accuracy_term >= 0 &&
                 scores[(size_t)i * s->n_terms + s->accuracy_term].state == PD_REWARD_SCORED)
            correct[i] = scores[(size_t)i * s->n_terms + s->accuracy_term].value >= 1.0;
    }
    for (int j = 0; rc == 0 && j < s->n_terms; j++)
        if (failed[j])   /* the run goes on; say what happened */
            fprintf(stderr, "reward '%s': %d of %d completions failed (%s): scored None\n",
                    pd_plugin_name(s->plugins[j]), failed[j], n, why[j]);
    free(items), free(scores), free(totals), free(prompts), free(golds), free(extras), free(prs);
    return rc;
}

static bool
open_rewards(struct src *s)
{
    char err[PD_ERR_MAX];
    struct cli *c = s->c;
    s->accuracy_term = -1;
    if (c->n_rewards == 0 && c->dataset) {
        c->reward_names[0] = "accuracy";
        c->reward_weights[0] = 1.0;
        c->n_rewards = 1;
    }
    for (int i = 0; i < c->n_rewards; i++) {
        if (pd_plugin_open(&s->plugins[i], c->reward_names[i], PD_PLUGIN_WANT_REWARD, err)) {
            cli_fail("train", "reward '%s': %s", c->reward_names[i], err);
            return false;
        }
        s->terms[i] = (struct pd_reward_term){ .plugin = s->plugins[i],
                                               .weight = c->reward_weights[i] };
        if (strcmp(pd_plugin_name(s->plugins[i]), "accuracy") == 0)
            s->accuracy_term = i;
        s->n_terms++;
    }
    return true;
}

static void
src_release(struct src *s)
{
    for (int i = 0; i < s->n_terms; i++)
        pd_plugin_close(s->plugins[i]);
    for (size_t i = 0; i < s->n_rows; i++)
        free(s->rows[i].prompt), free(s->rows[i].solution);
    free(s->rows);
}

/* ---- options ---------------------------------------------------------------------------------- */

static bool
parse_reward(struct cli *c, const char *arg)
{
    if (c->n_rewards == PD_GRPO_MAX_FN) {
        cli_usage_error("train", "at most %d rewards", PD_GRPO_MAX_FN);
        return false;
    }
    const char *colon = strrchr(arg, ':');
    double w = 1.0;
    if (colon && !cli_parse_float("train", "--reward", colon + 1, -1e6, 1e6, &w))
        return false;
    char *name = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
    if (name == NULL || !*name) {
        free(name);
        cli_usage_error("train", "--reward '%s': NAME[:WEIGHT]", arg);
        return false;
    }
    c->reward_names[c->n_rewards] = name;   /* lives as long as the process */
    c->reward_weights[c->n_rewards++] = w;
    return true;
}

static bool
parse_args(struct cli *c, int argc, char **argv, bool *help)
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
metrics_of(const struct pd_grpo_step_stats *st, const struct src *s, const char **names,
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
    char acc[16] = "-", kl[16] = "-";
    if (!isnan(st->accuracy))
        snprintf(acc, sizeof acc, "%.2f", st->accuracy);
    if (!isnan(st->kl))
        snprintf(kl, sizeof kl, "%.4f", st->kl);
    fprintf(stderr, "%sstep %" PRId64 "/%" PRId64 "  reward %.3f±%.3f  acc %s  kl %s  "
            "clip %.3f  zero-std %.2f  len %.0f (%d..%d)  think %.0f  H %.3f  %.0f tok/s  "
            "%.1fs%s", tty ? "\r" : "", st->step, total, st->reward_mean, st->reward_std, acc,
            kl, st->clip_frac, st->zero_std_frac, st->len_mean, st->len_min, st->len_max,
            st->think_len, st->entropy, st->gen_tok_s, st->step_s, tty ? "\033[K" : "\n");
}

static int
grpo_loop(struct cli *c, struct pd_grpo_run *r, struct src *s, struct pd_store *db,
          struct pd_threadpool *tp, const char *ckpt)
{
    char err[PD_ERR_MAX];
    bool tty = isatty(STDERR_FILENO);
    struct pd_grpo_source src = { .ud = s, .prompt = src_prompt, .score = src_score,
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

/* s as the inside of a JSON string (quotes, backslashes and controls escaped), cut to fit. */
static const char *
json_esc(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            buf[n++] = '\\', buf[n++] = (char)ch;
        else if (ch < 0x20)
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", ch);
        else
            buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return buf;
}

/* The run's config: the options, and what the command line adds. */
static char *
config_json(const struct cli *c, const struct pd_grpo_run *r, const char *base)
{
    int n = pd_grpo_run_opts_json(&r->opts, NULL, 0);
    char *opts = malloc((size_t)n + 1), *out = malloc((size_t)n + 8192);
    if (opts == NULL || out == NULL) {
        free(opts), free(out);
        return NULL;
    }
    pd_grpo_run_opts_json(&r->opts, opts, (size_t)n + 1);
    opts[n - 1] = '\0';   /* drop the closing brace: more members follow */
    char e1[1024], e2[1024];
    int len = snprintf(out, 8192 + (size_t)n, "%s,\"model\":\"%s\",\"source\":\"%s%s\","
                       "\"rewards\":[", opts, json_esc(e1, sizeof e1, base),
                       c->dataset ? "dataset:" : "task:",
                       json_esc(e2, sizeof e2, c->dataset ? c->dataset
                                                          : pd_task_kind_name(c->task)));
    for (int i = 0; i < c->n_rewards && len < 8192 + n; i++)
        len += snprintf(out + len, 8192 + (size_t)n - (size_t)len, "%s{\"name\":\"%s\","
                        "\"weight\":%g}", i ? "," : "",
                        json_esc(e1, 256, c->reward_names[i]), c->reward_weights[i]);
    snprintf(out + len, 8192 + (size_t)n - (size_t)len, "]}");
    free(opts);
    return out;
}

static int
run_grpo(struct cli *c, struct src *s, struct pd_store *db)
{
    char err[PD_ERR_MAX], ckpt[4096], sample[4096];
    snprintf(ckpt, sizeof ckpt, "%s", c->ckpt ? c->ckpt : "");
    if (!c->ckpt)
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", c->output);
    if (same_file(c->model, c->output) || same_file(c->model, ckpt))
        return cli_usage_error("train", "the base model %s is never written: choose another "
                               "-o or --ckpt", c->model);
    const char *tmp = getenv("TMPDIR");
    snprintf(sample, sizeof sample, "%s/ponder-grpo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(sample);
    if (fd < 0)
        return cli_fail("train", "%s: cannot make a temporary file", sample);
    close(fd);
    struct pd_tmodel *m = NULL;
    struct pd_bpe *tok = NULL;
    struct pd_grpo_run *r = NULL;
    int rc = EXIT_RUNTIME;
    if (!load_base(c->model, &m, c->resume ? NULL : &tok))
        goto out;
    if (c->resume) {
        int lrc = pd_grpo_run_load(&r, c->resume, m, sample, err);
        m = NULL;   /* the run took it */
        if (lrc != 0) {
            cli_fail("train", "%s", err);
            goto out;
        }
        fprintf(stderr, "resuming %s at step %" PRId64 "/%" PRId64 " (run %" PRId64 ")\n",
                c->resume, r->step, r->opts.steps, r->label);
        struct pd_store_run row;
        if (pd_store_run_get(db, r->label > 0 ? r->label : -1, &row, err) != 0 ||
            row.id != r->label) {
            cli_fail("train", "run %" PRId64 " of the checkpoint is not in this store",
                     r->label);
            pd_store_run_release(&row);
            goto out;
        }
        pd_store_run_release(&row);
    } else {
        int nrc = pd_grpo_run_new(&r, &c->o, m, tok, sample, err);
        m = NULL;   /* the run took both */
        if (nrc != 0) {
            cli_usage_error("train", "%s", err);
            goto out;
        }
        char *cfg = config_json(c, r, c->model);
        int64_t id = 0;
        int src_rc = pd_store_run_new(db, "grpo", cfg, c->output, &id, err);
        free(cfg);
        if (src_rc != 0) {
            cli_fail("train", "store: %s", err);
            goto out;
        }
        r->label = id;
    }
    m = NULL;
    struct pd_threadpool *tp = pd_threadpool_new((int)(c->threads > 0 ? c->threads
                                                       : sysconf(_SC_NPROCESSORS_ONLN)));
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
    pd_tmodel_free(m);
    pd_grpo_run_free(r);
    unlink(sample);
    return rc;
}

int
cmd_train_grpo(int argc, char **argv)
{
    struct cli c = { .log_every = 1 };
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
    if (c.have_task == (c.dataset != NULL))
        return cli_usage_error("train", "prompts from --task NAME or --dataset FILE (one)");
    if (c.merge && c.o.lora_rank == 0 && !c.resume)
        return cli_usage_error("train", "--merge merges a LoRA adapter: give --lora-rank");
    if (c.resume && c.changed)
        return cli_usage_error("train", "--resume continues a run as it was: no options with it");
    char err[PD_ERR_MAX];
    if (pd_grpo_run_opts_check(&c.o, err) != 0)
        return cli_usage_error("train", "%s", err);
    struct src s = { .c = &c };
    pd_task_params_default(&s.tp, c.task);
    struct pd_store *db = NULL;
    int rc = EXIT_RUNTIME;
    if ((c.dataset && !read_dataset(&s, c.dataset)) || !open_rewards(&s))
        goto out;
    if (pd_store_open(&db, c.db, err) != 0) {
        cli_fail("train", "store: %s", err);
        goto out;
    }
    rc = run_grpo(&c, &s, db);
out:
    pd_store_close(db);
    src_release(&s);
    return rc;
}
