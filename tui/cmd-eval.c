/*
 * cmd-eval.c: `ponder eval`: a model's accuracy on the tasks with checkable answers
 * (engine/train/task.h), as the model card quotes it.
 *
 * For each task, the first N problems of a split (test: the held-out one) under the problem
 * seed, each wrapped in the task's R1-Zero prompt (which opens <think>). Each problem gets K
 * completions sampled at the temperature and one greedy completion; each stops after
 * "</answer>" (the answer closes it), at the end of the model's turn, or after n-predict tokens.
 * Sample s of problem i draws from seed pd_eval_seed(--seed, i, s), so a run repeats exactly.
 * The prompt is evaluated once per problem: its KV cache, but for the last token, is kept and
 * the context cut back to it after each completion.
 *
 * The numbers (engine/train/eval.h defines them):
 *   pass@1  mean over problems of the share of their K samples scoring 1.0; 95% interval by the
 *           normal approximation over problems of the per-problem mean (mean +- 1.96 s/sqrt(N))
 *   greedy  share of problems whose greedy completion scores 1.0; 95% Wilson interval
 *   cons@K  share of problems whose majority vote over the K samples is right (countdown votes
 *           by the answer's value, every right expression together; arith by the integer;
 *           no answer abstains; a tie goes to the group that voted first); 95% Wilson interval
 *   think   mean tokens and characters of the think segment, over the sampled completions
 *   wait    share of sampled completions whose thoughts hold "wait" as a word, any case
 *   format  share scoring 0.1 (an answer, wrong or invalid); none: scoring 0 (no answer)
 * Scores are TinyZero's, from the task module's completion scorers.
 *
 * --json FILE writes JSON lines: the settings, one line per problem (every completion with its
 * score, answer, vote and lengths), one summary line per task, and the totals. The
 * configuration file is not read: an evaluation depends on its command line alone.
 */
#include "config.h"

#include "engine/generate.h"
#include "engine/train/eval.h"
#include "sessions/json.h"
#include "tui/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_TASKS 2
#define STOP_TEXT "</answer>"

static const char eval_help[] =
    "usage: ponder eval -m MODEL.gguf [--task countdown,arith] [--n N] [--samples K] [options]\n"
    "\n"
    "A model's accuracy on the tasks with checkable answers. For each task, the first N\n"
    "problems of the split, each in its R1-Zero prompt, K completions sampled at the\n"
    "temperature plus one greedy completion, each scored with TinyZero's rules (1.0 right,\n"
    "0.1 an answer that is wrong or invalid, 0 no answer).\n"
    "\n"
    "  -m, --model FILE      GGUF model to evaluate (required)\n"
    "      --task LIST       tasks, comma-separated: countdown, arith (default: both)\n"
    "      --n N             problems per task (default 500)\n"
    "      --samples K       sampled completions per problem (default 8)\n"
    "      --split S         test (default: held out from training) or train\n"
    "      --start I         index of the first problem (default 0)\n"
    "      --problem-seed S  the problems' seed, as `ponder task sample --seed` (default 1)\n"
    "      --prompts STYLE   chat: the question through the r1-zero chat template, as ponder\n"
    "                        tui sends it and ponder train pretrain trains on (default);\n"
    "                        tinyzero: TinyZero's own prompts, which open <think>\n"
    "      --temp T          sampling temperature (default 0.7)\n"
    "      --top-k K, --top-p P, --min-p P, --repeat-penalty R\n"
    "                        sampler options (default: off; pure temperature sampling)\n"
    "      --seed S          sampling seed (default 1): sample s of problem i draws from a\n"
    "                        seed made of S, i and s, so the same S repeats the run\n"
    "  -n, --n-predict N     tokens per completion at most (default 512); a completion also\n"
    "                        ends after </answer> or at the end of the model's turn\n"
    "  -c, --ctx-size N      context size (default: the model's, at most 4096)\n"
    "  -t, --threads N       CPU threads (default: all online CPUs)\n"
    "      --json FILE       write every number and every completion as JSON lines\n"
    "      --progress        show progress on standard error even when it is not a terminal\n"
    "      --no-progress     never show progress (default: shown on a terminal)\n"
    "  -h, --help            this help\n"
    "\n"
    "The table (one row per task):\n"
    "  pass@1   mean over problems of the share of their K samples that are right; 95%\n"
    "           interval by the normal approximation over problems of the per-problem mean\n"
    "           (mean +- 1.96 s / sqrt(N), s the standard deviation of the N shares)\n"
    "  greedy   share of problems whose greedy completion is right; 95% Wilson interval\n"
    "  cons@K   share of problems whose majority vote over the K samples is right; 95%\n"
    "           Wilson interval. Countdown answers vote by their value (every right\n"
    "           expression in one group), arithmetic answers by the integer; a completion\n"
    "           without an answer abstains; a tie goes to the group that voted first\n"
    "  think    mean tokens and characters of the <think> segment of the samples\n"
    "  wait     share of the samples whose thoughts hold the word \"wait\" (any case)\n"
    "  format   share of the samples scoring 0.1; none: scoring 0\n";

enum {
    OPT_TASK = 256, OPT_N, OPT_SAMPLES, OPT_SPLIT, OPT_START, OPT_PROBLEM_SEED, OPT_JSON,
    OPT_PROGRESS, OPT_NO_PROGRESS, OPT_PROMPTS,
};

static const struct option eval_longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "task", required_argument, NULL, OPT_TASK },
    { "n", required_argument, NULL, OPT_N },
    { "samples", required_argument, NULL, OPT_SAMPLES },
    { "split", required_argument, NULL, OPT_SPLIT },
    { "start", required_argument, NULL, OPT_START },
    { "problem-seed", required_argument, NULL, OPT_PROBLEM_SEED },
    { "prompts", required_argument, NULL, OPT_PROMPTS },
    CLI_SAMPLER_LONGOPTS,
    { "n-predict", required_argument, NULL, 'n' },
    { "ctx-size", required_argument, NULL, 'c' },
    { "threads", required_argument, NULL, 't' },
    { "json", required_argument, NULL, OPT_JSON },
    { "progress", no_argument, NULL, OPT_PROGRESS },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct eval_opts {
    const char *model, *json;
    enum pd_task_kind tasks[MAX_TASKS];
    int n_tasks;
    enum pd_task_split split;
    long n, samples, start, n_predict;
    unsigned long long problem_seed;
    enum pd_task_style style;       /* the prompts: chat (default) or tinyzero */
    struct pd_sampler_params sp;    /* temp and the rest for the samples; .seed the run's */
    struct pd_context_params cp;
    int progress;                   /* -1: on a terminal */
};

/* The text one completion's events leave. */
struct gen_buf {
    char *text, *think;
    size_t len, cap, think_len, think_cap;
    int32_t think_tokens;
    bool oom;
};

/* One task's run. */
struct task_run {
    struct pd_eval_acc acc;
    long long tokens;
    double seconds;
};

struct eval_state {
    const struct eval_opts *o;
    struct pd_model *m;
    struct pd_context *ctx;
    FILE *json;
    struct gen_buf buf;
    struct pd_eval_trace *traces;   /* [samples + 1]: the samples, then greedy */
    char **texts;                   /* their completions */
    const char **stops;             /* [samples + 1] stop reason names */
    uint64_t *seeds;
    struct task_run runs[MAX_TASKS];
    long long tokens, prompt_tokens;
    double t0;
    long done, total;               /* problems, over all tasks */
    bool progress, progress_tty, interrupted;
};

static atomic_bool interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, true);
}

/* ---- options ------------------------------------------------------------------------------ */

static int
parse_tasks(struct eval_opts *o, const char *list)
{
    char buf[128];
    if (strlen(list) >= sizeof buf || list[0] == '\0')
        return cli_usage_error("eval", "--task: '%s' is not a list of tasks (countdown, arith)",
                               list);
    snprintf(buf, sizeof buf, "%s", list);
    o->n_tasks = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        enum pd_task_kind k;
        if (pd_task_kind_parse(t, &k))
            return cli_usage_error("eval", "--task: unknown task '%s' (countdown, arith)", t);
        for (int i = 0; i < o->n_tasks; i++)
            if (o->tasks[i] == k)
                return cli_usage_error("eval", "--task: '%s' is given twice", t);
        o->tasks[o->n_tasks++] = k;
    }
    if (o->n_tasks == 0)
        return cli_usage_error("eval", "--task: '%s' names no task (countdown, arith)", list);
    return EXIT_OK;
}

static int
parse_seed(const char *opt, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    if (errno || *s == '\0' || *s == '-' || *end != '\0')
        return cli_usage_error("eval", "%s: '%s' is not a whole number", opt, s);
    return EXIT_OK;
}

/* EXIT_OK to run, -1 after --help, another exit status to return at once. */
static int
parse_eval_opts(int argc, char **argv, struct eval_opts *o)
{
    pd_sampler_params_default(&o->sp);
    o->sp.temp = 0.7f;
    o->sp.top_k = 0, o->sp.top_p = 1, o->sp.min_p = 0, o->sp.repeat_penalty = 1;
    o->sp.seed = 1;
    pd_context_params_default(&o->cp);
    o->tasks[0] = PD_TASK_COUNTDOWN, o->tasks[1] = PD_TASK_ARITH, o->n_tasks = 2;
    o->split = PD_TASK_TEST;
    o->n = 500, o->samples = 8, o->n_predict = 512, o->problem_seed = 1, o->progress = -1;
    long l;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:n:c:t:h", eval_longopts, NULL)) != -1) {
        int r = cli_parse_sampler_opt("eval", c, optarg, &o->sp);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case OPT_TASK:
            if ((rc = parse_tasks(o, optarg)) != EXIT_OK)
                return rc;
            break;
        case OPT_N:
            if (!cli_parse_int("eval", "--n", optarg, 1, 10000000, &o->n))
                return EXIT_USAGE;
            break;
        case OPT_SAMPLES:
            if (!cli_parse_int("eval", "--samples", optarg, 1, 1024, &o->samples))
                return EXIT_USAGE;
            break;
        case OPT_SPLIT:
            if (pd_task_split_parse(optarg, &o->split))
                return cli_usage_error("eval", "--split: '%s' is not test or train", optarg);
            break;
        case OPT_START:
            if (!cli_parse_int("eval", "--start", optarg, 0, 1000000000, &o->start))
                return EXIT_USAGE;
            break;
        case OPT_PROBLEM_SEED:
            if ((rc = parse_seed("--problem-seed", optarg, &o->problem_seed)) != EXIT_OK)
                return rc;
            break;
        case OPT_PROMPTS:
            if (pd_task_style_parse(optarg, &o->style))
                return cli_usage_error("eval", "--prompts: '%s' is not chat or tinyzero", optarg);
            break;
        case 'n':
            if (!cli_parse_int("eval", "--n-predict", optarg, 1, 1 << 20, &o->n_predict))
                return EXIT_USAGE;
            break;
        case 'c':
            if (!cli_parse_int("eval", "--ctx-size", optarg, 16, 1 << 24, &l))
                return EXIT_USAGE;
            o->cp.n_ctx = (int32_t)l;
            break;
        case 't':
            if (!cli_parse_int("eval", "--threads", optarg, 1, 1024, &l))
                return EXIT_USAGE;
            o->cp.n_threads = (int32_t)l;
            break;
        case OPT_JSON: o->json = optarg; break;
        case OPT_PROGRESS: o->progress = 1; break;
        case OPT_NO_PROGRESS: o->progress = 0; break;
        case 'h': fputs(eval_help, stdout); return -1;
        default: return cli_usage_error("eval", "unknown option (see ponder eval --help)");
        }
    }
    if (optind < argc)
        return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (o->model == NULL)
        return cli_usage_error("eval", "no model: give one with -m MODEL.gguf");
    return EXIT_OK;
}

/* ---- one completion ----------------------------------------------------------------------- */

static void
buf_put(char **p, size_t *len, size_t *cap, bool *oom, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = PD_MAX(*cap * 2, *len + n + 1);
        char *grown = realloc(*p, want);
        if (grown == NULL) {
            *oom = true;
            return;
        }
        *p = grown;
        *cap = want;
    }
    memcpy(*p + *len, s, n);
    *len += n;
    (*p)[*len] = '\0';
}

static int
on_event(void *user, const struct pd_token_event *ev)
{
    struct gen_buf *b = user;
    if (ev->id >= 0 && ev->segment == PD_SEG_THINK)
        b->think_tokens++;
    for (int i = 0; i < ev->n_spans; i++) {
        const struct pd_text_span *sp = &ev->spans[i];
        buf_put(&b->text, &b->len, &b->cap, &b->oom, sp->text, sp->len);
        if (sp->segment == PD_SEG_THINK)
            buf_put(&b->think, &b->think_len, &b->think_cap, &b->oom, sp->text, sp->len);
    }
    return atomic_load(&interrupted);
}

/* Generate completion number s of the problem whose prompt ids[0..n) sits in the context but
 * for its last token; fill st->traces[s] and st->texts[s]. */
static int
complete(struct eval_state *st, const struct pd_task_problem *pr, const int32_t *ids, int32_t n,
         int s, uint64_t seed, bool greedy)
{
    char err[PD_ERR_MAX] = "";
    struct pd_sampler_params sp = st->o->sp;
    sp.seed = seed;
    if (greedy)
        sp.temp = 0;
    struct pd_sampler *smp = pd_sampler_new(&sp, st->m->hp.n_vocab);
    if (smp == NULL)
        return cli_fail("eval", "out of memory");
    for (int32_t i = 0; i < n - 1; i++)
        pd_sampler_accept(smp, ids[i]);   /* the history pd_generate would have given it */
    pd_context_truncate(st->ctx, n - 1);
    struct gen_buf *b = &st->buf;
    b->len = b->think_len = 0, b->think_tokens = 0, b->oom = false;
    buf_put(&b->text, &b->len, &b->cap, &b->oom, "", 0);
    buf_put(&b->think, &b->think_len, &b->think_cap, &b->oom, "", 0);
    static const char *const stop[] = { STOP_TEXT, NULL };
    struct pd_gen_params gp = { .n_predict = (int32_t)st->o->n_predict, .stop = stop,
                                .opened_think = pd_task_style_opens_think(st->o->style),
                                .cancel = &interrupted };
    struct pd_gen_result res;
    int rc = pd_generate(st->ctx, smp, ids + n - 1, 1, &gp, on_event, b, &res, err);
    pd_sampler_free(smp);
    if (rc)
        return cli_fail("eval", "%s", err);
    if (res.stop == PD_STOP_CANCELED && atomic_load(&interrupted)) {
        st->interrupted = true;
        return EXIT_OK;
    }
    if (res.stop == PD_STOP_STRING)   /* the generator holds the stop string back */
        buf_put(&b->text, &b->len, &b->cap, &b->oom, STOP_TEXT, strlen(STOP_TEXT));
    if (b->oom || (st->texts[s] = strdup(b->text)) == NULL)
        return cli_fail("eval", "out of memory");
    struct pd_eval_trace *t = &st->traces[s];
    pd_eval_trace_fill(pr, b->text, b->len, b->think, b->think_len, t);
    t->n_tokens = res.n_generated;
    t->think_tokens = b->think_tokens;
    st->stops[s] = pd_stop_reason_name(res.stop);
    st->seeds[s] = seed;
    st->tokens += res.n_generated;
    st->prompt_tokens += 1;
    return EXIT_OK;
}

/* ---- progress and JSON -------------------------------------------------------------------- */

static void
fmt_duration(char *buf, size_t cap, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

static void
show_progress(struct eval_state *st, enum pd_task_kind kind, long i, int s, bool end_of_problem)
{
    if (!st->progress)
        return;
    char el[32], eta[32] = "?";
    double elapsed = pd_time_now() - st->t0;
    long K = st->o->samples + 1;
    double frac = ((double)st->done * K + s) / ((double)st->total * K);
    fmt_duration(el, sizeof el, elapsed);
    if (frac > 0)
        fmt_duration(eta, sizeof eta, elapsed / frac * (1 - frac));
    if (st->progress_tty)
        fprintf(stderr, "\r\033[K%s: problem %ld/%ld, completion %d/%ld, %lld tokens, "
                "elapsed %s, ETA %s", pd_task_kind_name(kind), i + 1, st->o->n, s, K,
                st->tokens, el, eta);
    else if (end_of_problem)
        fprintf(stderr, "%s: problem %ld/%ld, %lld tokens, elapsed %s, ETA %s\n",
                pd_task_kind_name(kind), i + 1, st->o->n, st->tokens, el, eta);
}

static void
json_num(FILE *f, const char *key, double v)
{
    fprintf(f, ",\"%s\":%.6g", key, v);
}

static void
json_trace(FILE *f, const struct pd_task_problem *pr, const struct pd_eval_trace *t,
           const char *text, const char *stop, uint64_t seed)
{
    const char *ans = "";
    size_t ans_len = 0;
    bool has = pd_eval_answer(pr, text, strlen(text), &ans, &ans_len) == 0;
    fprintf(f, "{\"seed\":%llu,\"score\":%.2g,\"answer\":", (unsigned long long)seed, t->score);
    if (has)
        js_string(f, ans, ans_len);
    else
        fputs("null", f);
    fputs(",\"vote\":", f);
    js_string(f, t->key, strlen(t->key));
    fprintf(f, ",\"vote_right\":%s,\"wait\":%s,\"tokens\":%d,\"think_tokens\":%d,"
            "\"think_chars\":%d,\"stop\":\"%s\",\"completion\":", t->key_right ? "true" : "false",
            t->wait ? "true" : "false", t->n_tokens, t->think_tokens, t->think_chars, stop);
    js_string(f, text, strlen(text));
    fputc('}', f);
}

static void
json_problem(struct eval_state *st, const struct pd_task_problem *pr, long index,
             int32_t n_prompt, bool cons)
{
    FILE *f = st->json;
    int K = (int)st->o->samples, votes = 0, right = 0;
    char canon[128];
    pd_task_canonical(pr, canon, sizeof canon);
    fprintf(f, "{\"type\":\"problem\",\"task\":\"%s\",\"index\":%ld,\"canonical\":",
            pd_task_kind_name(pr->kind), index);
    js_string(f, canon, strlen(canon));
    if (pr->kind == PD_TASK_COUNTDOWN) {
        fputs(",\"numbers\":[", f);
        for (int i = 0; i < pr->n; i++)
            fprintf(f, "%s%d", i ? "," : "", pr->nums[i]);
        fputc(']', f);
    } else {
        fprintf(f, ",\"a\":%d,\"op\":\"%c\",\"b\":%d", pr->nums[0], pr->op, pr->nums[1]);
    }
    for (int s = 0; s < K; s++)
        right += st->traces[s].score == 1.0;
    int w = pd_eval_majority(st->traces, K, &votes);
    fprintf(f, ",\"target\":%lld,\"prompt_tokens\":%d,\"right\":%d,\"pass\":%.6g,"
            "\"cons\":{\"vote\":", pr->target, n_prompt, right, (double)right / K);
    if (w >= 0)
        js_string(f, st->traces[w].key, strlen(st->traces[w].key));
    else
        fputs("null", f);
    fprintf(f, ",\"votes\":%d,\"right\":%s},\"greedy\":", votes, cons ? "true" : "false");
    json_trace(f, pr, &st->traces[K], st->texts[K], st->stops[K], st->seeds[K]);
    fputs(",\"samples\":[", f);
    for (int s = 0; s < K; s++) {
        fputs(s ? "," : "", f);
        json_trace(f, pr, &st->traces[s], st->texts[s], st->stops[s], st->seeds[s]);
    }
    fputs("]}\n", f);
}

static void
json_summary(FILE *f, enum pd_task_kind kind, const struct task_run *r)
{
    struct pd_eval_summary s;
    pd_eval_summarize(&r->acc, &s);
    fprintf(f, "{\"type\":\"task\",\"task\":\"%s\",\"n\":%ld,\"samples\":%ld",
            pd_task_kind_name(kind), s.n_problems, s.n_samples);
    json_num(f, "pass1", s.pass1);
    json_num(f, "pass1_se", s.pass1_se);
    json_num(f, "pass1_lo", s.pass1_lo);
    json_num(f, "pass1_hi", s.pass1_hi);
    json_num(f, "greedy", s.greedy);
    json_num(f, "greedy_lo", s.greedy_lo);
    json_num(f, "greedy_hi", s.greedy_hi);
    json_num(f, "cons", s.cons);
    json_num(f, "cons_lo", s.cons_lo);
    json_num(f, "cons_hi", s.cons_hi);
    json_num(f, "right", s.right_rate);
    json_num(f, "format", s.format_rate);
    json_num(f, "none", s.none_rate);
    json_num(f, "wait", s.wait_rate);
    json_num(f, "think_tokens", s.think_tokens);
    json_num(f, "think_chars", s.think_chars);
    fprintf(f, ",\"tokens\":%lld", r->tokens);
    json_num(f, "seconds", r->seconds);
    json_num(f, "tokens_per_s", r->seconds > 0 ? (double)r->tokens / r->seconds : 0);
    fputs("}\n", f);
}

static void
json_settings(FILE *f, const struct eval_opts *o, const struct pd_model *m)
{
    fputs("{\"type\":\"settings\",\"model\":", f);
    js_string(f, o->model, strlen(o->model));
    fputs(",\"model_name\":", f);
    js_string(f, m->name, strlen(m->name));
    fputs(",\"tasks\":[", f);
    for (int i = 0; i < o->n_tasks; i++)
        fprintf(f, "%s\"%s\"", i ? "," : "", pd_task_kind_name(o->tasks[i]));
    fprintf(f, "],\"split\":\"%s\",\"n\":%ld,\"start\":%ld,\"problem_seed\":%llu,"
            "\"prompts\":\"%s\",\"samples\":%ld", pd_task_split_name(o->split), o->n, o->start,
            o->problem_seed, pd_task_style_name(o->style), o->samples);
    json_num(f, "temp", o->sp.temp);
    fprintf(f, ",\"top_k\":%d", o->sp.top_k);
    json_num(f, "top_p", o->sp.top_p);
    json_num(f, "min_p", o->sp.min_p);
    json_num(f, "repeat_penalty", o->sp.repeat_penalty);
    fprintf(f, ",\"seed\":%llu,\"n_predict\":%ld,\"stop\":\"%s\",\"n_ctx\":%d,\"threads\":%d,"
            "\"intervals\":{\"pass1\":\"normal over problems, 95%%\",\"greedy\":\"wilson, 95%%\","
            "\"cons\":\"wilson, 95%%\"}}\n", (unsigned long long)o->sp.seed, o->n_predict,
            "<\\/answer>", o->cp.n_ctx, o->cp.n_threads);
}

/* ---- the run ------------------------------------------------------------------------------ */

static void
free_texts(struct eval_state *st)
{
    for (long s = 0; s <= st->o->samples; s++) {
        free(st->texts[s]);
        st->texts[s] = NULL;
    }
}

/* Problem number index of the task: its prompt once, its samples and its greedy completion. */
static int
eval_problem(struct eval_state *st, int task, long index)
{
    const struct eval_opts *o = st->o;
    char err[PD_ERR_MAX] = "", prompt[PD_TASK_PROMPT_MAX];
    struct pd_task_params p;
    struct pd_task_problem pr;
    pd_task_params_default(&p, o->tasks[task]);
    int rc = pd_task_generate(&p, o->split, o->problem_seed, (uint64_t)index, &pr, err);
    if (rc == 0 && pd_task_style_prompt(o->style, &pr, prompt, sizeof prompt))
        rc = pd_errorf(err, PD_ERANGE, "the prompt does not fit");
    if (rc)
        return cli_fail("eval", "%s problem %ld: %s", pd_task_kind_name(o->tasks[task]), index,
                        err);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = pd_tokenizer_encode(st->m->tok, prompt, strlen(prompt),
                             PD_TOK_ADD_SPECIAL | PD_TOK_PARSE_SPECIAL, &ids, &n_ids, err);
    if (rc)
        return cli_fail("eval", "cannot tokenize the prompt: %s", err);
    int32_t n = (int32_t)n_ids;
    pd_context_truncate(st->ctx, 0);
    if (n > 1 && (rc = pd_context_decode(st->ctx, ids, n - 1, err)) != 0) {
        free(ids);
        return cli_fail("eval", "%s problem %ld: %s", pd_task_kind_name(o->tasks[task]), index,
                        err);
    }
    st->prompt_tokens += n - 1;
    int K = (int)o->samples;
    int status = EXIT_OK;
    for (int s = 0; s <= K && status == EXIT_OK && !st->interrupted; s++) {
        show_progress(st, o->tasks[task], index - o->start, s, false);
        status = complete(st, &pr, ids, n, s, pd_eval_seed(o->sp.seed, (uint64_t)index,
                                                           (uint64_t)s), s == K);
    }
    free(ids);
    if (status == EXIT_OK && !st->interrupted) {
        bool cons = pd_eval_acc_add(&st->runs[task].acc, st->traces, K, &st->traces[K]);
        if (st->json)
            json_problem(st, &pr, index, n, cons);
    }
    free_texts(st);
    return status;
}

static void
print_table(const struct eval_state *st, const char *model_name)
{
    const struct eval_opts *o = st->o;
    double secs = pd_time_now() - st->t0;
    printf("model     %s (%s)\n", o->model, model_name);
    printf("problems  split %s, %ld per task from index %ld, problem seed %llu, %s prompts\n",
           pd_task_split_name(o->split), o->n, o->start, o->problem_seed,
           pd_task_style_name(o->style));
    printf("sampling  %ld samples at temp %g (top-k %d, top-p %g, min-p %g, repeat-penalty %g), "
           "seed %llu; and greedy\n", o->samples, o->sp.temp, o->sp.top_k, o->sp.top_p,
           o->sp.min_p, o->sp.repeat_penalty, (unsigned long long)o->sp.seed);
    printf("limits    n-predict %ld, stop after %s, context %d, threads %d\n\n", o->n_predict,
           STOP_TEXT, pd_context_n_ctx(st->ctx), pd_context_n_threads(st->ctx));
    char cons[16];
    snprintf(cons, sizeof cons, "cons@%ld", o->samples);
    printf("%-10s %5s  %6s %-14s %6s %-14s %6s %-14s %6s %6s %6s %6s %6s\n", "task", "n",
           "pass@1", "95% CI", "greedy", "95% CI", cons, "95% CI", "think", "chars", "wait",
           "format", "none");
    for (int i = 0; i < o->n_tasks; i++) {
        struct pd_eval_summary s;
        char ci[3][32];
        pd_eval_summarize(&st->runs[i].acc, &s);
        if (s.n_problems == 0) {   /* interrupted before this task */
            printf("%-10s %5d  (not reached)\n", pd_task_kind_name(o->tasks[i]), 0);
            continue;
        }
        snprintf(ci[0], sizeof ci[0], "[%.1f, %.1f]", 100 * s.pass1_lo, 100 * s.pass1_hi);
        snprintf(ci[1], sizeof ci[1], "[%.1f, %.1f]", 100 * s.greedy_lo, 100 * s.greedy_hi);
        snprintf(ci[2], sizeof ci[2], "[%.1f, %.1f]", 100 * s.cons_lo, 100 * s.cons_hi);
        printf("%-10s %5ld  %5.1f%% %-14s %5.1f%% %-14s %5.1f%% %-14s %6.1f %6.1f %5.1f%% "
               "%5.1f%% %5.1f%%\n", pd_task_kind_name(o->tasks[i]), s.n_problems,
               100 * s.pass1, ci[0], 100 * s.greedy, ci[1], 100 * s.cons, ci[2],
               s.think_tokens, s.think_chars, 100 * s.wait_rate, 100 * s.format_rate,
               100 * s.none_rate);
    }
    printf("\npass@1: mean of %ld samples, 95%% CI normal over problems; greedy, %s: 95%% "
           "Wilson CI.\nthink (tokens), chars, wait, format (score 0.1), none (score 0): over "
           "the samples.\n", o->samples, cons);
    printf("%lld tokens generated in %.1f s: %.1f tok/s (and %lld prompt tokens)\n", st->tokens,
           secs, secs > 0 ? (double)st->tokens / secs : 0.0, st->prompt_tokens);
}

static int
eval_tasks(struct eval_state *st)
{
    const struct eval_opts *o = st->o;
    int status = EXIT_OK;
    st->t0 = pd_time_now();
    st->total = o->n * o->n_tasks;
    if (st->json)
        json_settings(st->json, o, st->m);
    signal(SIGINT, on_sigint);
    for (int t = 0; t < o->n_tasks && status == EXIT_OK && !st->interrupted; t++) {
        double t0 = pd_time_now();
        long long tok0 = st->tokens;
        for (long i = o->start; i < o->start + o->n && status == EXIT_OK && !st->interrupted;
             i++) {
            status = eval_problem(st, t, i);
            if (status == EXIT_OK && !st->interrupted) {
                st->done++;
                show_progress(st, o->tasks[t], i - o->start, 0, true);
            }
        }
        st->runs[t].seconds = pd_time_now() - t0;
        st->runs[t].tokens = st->tokens - tok0;
        if (st->json && status == EXIT_OK)
            json_summary(st->json, o->tasks[t], &st->runs[t]);
    }
    signal(SIGINT, SIG_DFL);
    if (st->progress_tty)
        fputs("\r\033[K", stderr);
    if (status != EXIT_OK)
        return status;
    if (st->json) {
        double secs = pd_time_now() - st->t0;
        fprintf(st->json, "{\"type\":\"total\",\"problems\":%ld,\"tokens\":%lld,"
                "\"prompt_tokens\":%lld", st->done, st->tokens, st->prompt_tokens);
        json_num(st->json, "seconds", secs);
        json_num(st->json, "tokens_per_s", secs > 0 ? (double)st->tokens / secs : 0);
        fprintf(st->json, ",\"interrupted\":%s}\n", st->interrupted ? "true" : "false");
    }
    print_table(st, st->m->name);
    fflush(stdout);
    if (st->interrupted)
        return cli_fail("eval", "interrupted after %ld of %ld problems: the table counts those",
                        st->done, st->total);
    return ferror(stdout) ? cli_fail("eval", "writing the table failed") : EXIT_OK;
}

static int
cmd_eval_exec(int argc, char **argv)
{
    struct eval_opts o = { 0 };
    int rc = parse_eval_opts(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    struct eval_state st = { .o = &o };
    char err[PD_ERR_MAX] = "";
    int status = EXIT_RUNTIME;
    if (o.json && (st.json = fopen(o.json, "w")) == NULL)
        return cli_fail("eval", "%s: %s", o.json, strerror(errno));
    size_t K1 = (size_t)o.samples + 1;
    st.traces = calloc(K1, sizeof *st.traces);
    st.texts = calloc(K1, sizeof *st.texts);
    st.stops = calloc(K1, sizeof *st.stops);
    st.seeds = calloc(K1, sizeof *st.seeds);
    if (!st.traces || !st.texts || !st.stops || !st.seeds) {
        cli_fail("eval", "out of memory");
        goto out;
    }
    st.progress_tty = isatty(STDERR_FILENO);
    st.progress = o.progress < 0 ? st.progress_tty : o.progress;
    st.progress_tty = st.progress && st.progress_tty;
    if ((status = cli_load_model("eval", o.model, &st.m)) != EXIT_OK)
        goto out;
    status = EXIT_RUNTIME;
    if (pd_context_new(&st.ctx, st.m, &o.cp, err)) {
        cli_fail("eval", "%s", err);
        goto out;
    }
    o.cp.n_ctx = pd_context_n_ctx(st.ctx);
    o.cp.n_threads = pd_context_n_threads(st.ctx);
    status = eval_tasks(&st);
    if (st.json && (ferror(st.json) | fclose(st.json)) && status == EXIT_OK)
        status = cli_fail("eval", "%s: writing failed", o.json);
    st.json = NULL;
out:
    if (st.json)
        fclose(st.json);
    pd_context_free(st.ctx);
    pd_model_free(st.m);
    free(st.buf.text);
    free(st.buf.think);
    free(st.traces);
    free(st.texts);
    free(st.stops);
    free(st.seeds);
    return status;
}

const struct pd_cmd_entry cmd_eval_entry = {
    .name = "eval",
    .usage = "-m MODEL.gguf [--task countdown,arith] [--n N] [--samples K] [options]",
    .summary = "measure a model's accuracy on the reasoning tasks",
    .exec = cmd_eval_exec,
};
