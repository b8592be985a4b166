/*
 * cmd-task.c: `ponder task sample` prints problems of the tasks with checkable answers
 * (engine/train/task.h) with their prompts, the solver's traces and the answers, as text or
 * JSONL for training; `ponder task score` scores completions with TinyZero's rules, one given
 * on the command line or a JSONL stream of them.
 *
 * JSONL rows (one object a line), as sample writes them and score reads them:
 *   {"task":"countdown","split":"train","index":0,"numbers":[44,19,35],"target":28,
 *    "prompt":"...","completion":"...","answer":"44-(35-19)"}
 *   {"task":"arith","split":"test","index":3,"a":347,"op":"*","b":28,"target":9716,...}
 * score needs task (or --task), target, numbers (countdown) and completion; with a prompt it
 * scores prompt + completion as TinyZero does (the text after "Assistant:"), else the
 * completion alone.
 */
#include "config.h"

#include "engine/train/task.h"
#include "sessions/json.h"
#include "tui/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char task_help[] =
    "usage: ponder task sample --task countdown|arith [--split train|test] [--n N] [--seed S]\n"
    "                          [--start I] [--format text|jsonl] [--slip-rate R]\n"
    "                          [--prompts chat|tinyzero] [SHAPE...]\n"
    "       ponder task score --task countdown|arith --gold G [--numbers A,B,C]\n"
    "                          [--completion TEXT | --text TEXT]\n"
    "       ponder task score [--task T] < ROWS.jsonl\n"
    "\n"
    "Tasks with checkable answers: TinyZero's countdown (reach a target from 3 or 4 numbers\n"
    "with + - * /, each used once) and multi-digit sums and products.\n"
    "\n"
    "sample: problems with the R1-Zero prompt, a <think> trace written by a solver (its search,\n"
    "dead ends, checks, and now and then a slip it catches with \"Wait\") and the answer.\n"
    "  --split S          train (default) or test: a problem is always on the same side,\n"
    "                     whatever the seed\n"
    "  --n N              how many (default 10)\n"
    "  --seed S           the seed (default 1): the same seed gives the same problems\n"
    "  --start I          the index of the first problem (default 0)\n"
    "  --format F         text (default) or jsonl: prompt, completion, answer, task, split,\n"
    "                     target and numbers (countdown) or a, op, b (arith)\n"
    "  --slip-rate R      the chance of a caught slip in a trace (default 0.2)\n"
    "  --prompts STYLE    chat: the question through the r1-zero chat template, as the\n"
    "                     workbench sends it (default); tinyzero: TinyZero's own prompts\n"
    "  SHAPE, countdown:  --count MIN[-MAX] numbers (3-4), --max-number N (99),\n"
    "                     --target MIN-MAX (1-100), --max-written N dead ends written (8)\n"
    "  SHAPE, arith:      --op add|mul|both (both), --add-digits MIN-MAX (2-4),\n"
    "                     --mul-digits A1-A2xB1-B2 (2-3x2)\n"
    "\n"
    "score: TinyZero's score: 0 without an answer, 0.1 for a wrong or invalid one, 1.0 when\n"
    "right. Prints one score a line; with JSONL rows on stdin, a summary on stderr.\n"
    "  --gold G           the target (countdown) or the result (arith)\n"
    "  --numbers A,B,C    countdown: the numbers\n"
    "  --completion TEXT  the model's completion alone (default: read from stdin)\n"
    "  --text TEXT        prompt and completion, scored after \"Assistant:\" as TinyZero does\n"
    "  -h, --help         this help\n";

enum {
    OPT_TASK = 256, OPT_SPLIT, OPT_N, OPT_SEED, OPT_START, OPT_FORMAT, OPT_SLIP, OPT_PROMPTS,
    OPT_COUNT,
    OPT_MAX_NUMBER, OPT_TARGET, OPT_MAX_WRITTEN, OPT_OP, OPT_ADD_DIGITS, OPT_MUL_DIGITS,
    OPT_GOLD, OPT_NUMBERS, OPT_COMPLETION, OPT_TEXT,
};

static const struct option task_longopts[] = {
    { "task", required_argument, NULL, OPT_TASK },
    { "split", required_argument, NULL, OPT_SPLIT },
    { "n", required_argument, NULL, OPT_N },
    { "seed", required_argument, NULL, OPT_SEED },
    { "start", required_argument, NULL, OPT_START },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "slip-rate", required_argument, NULL, OPT_SLIP },
    { "prompts", required_argument, NULL, OPT_PROMPTS },
    { "count", required_argument, NULL, OPT_COUNT },
    { "max-number", required_argument, NULL, OPT_MAX_NUMBER },
    { "target", required_argument, NULL, OPT_TARGET },
    { "max-written", required_argument, NULL, OPT_MAX_WRITTEN },
    { "op", required_argument, NULL, OPT_OP },
    { "add-digits", required_argument, NULL, OPT_ADD_DIGITS },
    { "mul-digits", required_argument, NULL, OPT_MUL_DIGITS },
    { "gold", required_argument, NULL, OPT_GOLD },
    { "numbers", required_argument, NULL, OPT_NUMBERS },
    { "completion", required_argument, NULL, OPT_COMPLETION },
    { "text", required_argument, NULL, OPT_TEXT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct task_opts {
    bool have_task, jsonl;
    enum pd_task_kind kind;
    enum pd_task_split split;
    long n, start;
    unsigned long long seed;
    struct pd_task_params p;
    const char *gold, *numbers, *completion, *text;
    /* shape options, applied once the task is known */
    const char *count, *max_number, *target, *max_written, *op, *add_digits, *mul_digits;
    const char *slip;
    enum pd_task_style style;       /* the prompts: chat (default) or tinyzero */
};

/* "A" or "A-B" within [lo, hi]. */
static bool
parse_range(const char *opt, const char *s, int lo, int hi, int *a, int *b)
{
    char tail;
    int n = sscanf(s, "%d-%d%c", a, b, &tail);
    if (n == 1 && strchr(s, '-') == NULL)
        *b = *a;
    if ((n != 1 && n != 2) || (n == 1 && strchr(s, '-')) || *a < lo || *b > hi || *a > *b) {
        cli_usage_error("task", "%s: '%s' is not N or MIN-MAX within %d..%d", opt, s, lo, hi);
        return false;
    }
    return true;
}

static bool
apply_shape(struct task_opts *o)
{
    struct pd_task_params *p = &o->p;
    long v;
    double r;
    if (o->count && !parse_range("--count", o->count, 2, PD_TASK_MAX_NUMS, &p->cd_min_nums,
                                 &p->cd_max_nums))
        return false;
    if (o->max_number) {
        if (!cli_parse_int("task", "--max-number", o->max_number, 1, 9999, &v))
            return false;
        p->cd_max_num = (int)v;
    }
    if (o->target && !parse_range("--target", o->target, 0, 1000000, &p->cd_min_target,
                                  &p->cd_max_target))
        return false;
    if (o->max_written) {
        if (!cli_parse_int("task", "--max-written", o->max_written, 0, 1000, &v))
            return false;
        p->cd_max_written = (int)v;
    }
    if (o->op) {
        if (strcmp(o->op, "add") == 0)
            p->mul_percent = 0;
        else if (strcmp(o->op, "mul") == 0)
            p->mul_percent = 100;
        else if (strcmp(o->op, "both") != 0)
            return cli_usage_error("task", "--op: '%s' is not add, mul or both", o->op), false;
    }
    if (o->add_digits && !parse_range("--add-digits", o->add_digits, 1, 8, &p->add_min_digits,
                                      &p->add_max_digits))
        return false;
    if (o->mul_digits) {
        char a[32], b[32];
        const char *x = strchr(o->mul_digits, 'x');
        if (!x || x - o->mul_digits >= (long)sizeof a || strlen(x + 1) >= sizeof b)
            return cli_usage_error("task", "--mul-digits: '%s' is not AxB (e.g. 2-3x2)",
                                   o->mul_digits), false;
        snprintf(a, sizeof a, "%.*s", (int)(x - o->mul_digits), o->mul_digits);
        snprintf(b, sizeof b, "%s", x + 1);
        if (!parse_range("--mul-digits", a, 1, 4, &p->mul_min_digits_a, &p->mul_max_digits_a) ||
            !parse_range("--mul-digits", b, 1, 4, &p->mul_min_digits_b, &p->mul_max_digits_b))
            return false;
    }
    if (o->slip) {
        if (!cli_parse_float("task", "--slip-rate", o->slip, 0.0, 1.0, &r))
            return false;
        p->slip_rate = r;
    }
    char err[PD_ERR_MAX];
    if (pd_task_params_check(p, err))
        return cli_usage_error("task", "%s", err), false;
    return true;
}

/* ---- sample ------------------------------------------------------------------------------- */

static void
print_jsonl(const struct pd_task_problem *pr, long index, const char *prompt,
            const char *completion, const char *answer)
{
    printf("{\"task\":\"%s\",\"split\":\"%s\",\"index\":%ld,", pd_task_kind_name(pr->kind),
           pd_task_split_name(pr->split), index);
    if (pr->kind == PD_TASK_COUNTDOWN) {
        printf("\"numbers\":[");
        for (int i = 0; i < pr->n; i++)
            printf("%s%d", i ? "," : "", pr->nums[i]);
        printf("],");
    } else {
        printf("\"a\":%d,\"op\":\"%c\",\"b\":%d,", pr->nums[0], pr->op, pr->nums[1]);
    }
    printf("\"target\":%lld,\"prompt\":", pr->target);
    js_string(stdout, prompt, strlen(prompt));
    printf(",\"completion\":");
    js_string(stdout, completion, strlen(completion));
    printf(",\"answer\":");
    js_string(stdout, answer, strlen(answer));
    printf("}\n");
}

static int
task_sample(struct task_opts *o)
{
    static struct pd_task_solution sol;
    static char prompt[PD_TASK_PROMPT_MAX], completion[PD_TASK_TEXT_MAX];
    char err[PD_ERR_MAX];
    for (long i = o->start; i < o->start + o->n; i++) {
        struct pd_task_problem pr;
        int rc = pd_task_generate(&o->p, o->split, o->seed, (uint64_t)i, &pr, err);
        if (rc == 0)
            rc = pd_task_solve(&o->p, &pr, &sol, err);
        if (rc == 0)
            rc = pd_task_style_prompt(o->style, &pr, prompt, sizeof prompt);
        if (rc == 0)
            rc = pd_task_style_completion(o->style, &sol, completion, sizeof completion);
        if (rc)
            return cli_fail("task", "problem %ld: %s", i, err);
        if (o->jsonl) {
            print_jsonl(&pr, i, prompt, completion, sol.answer);
            continue;
        }
        char canon[128];
        pd_task_canonical(&pr, canon, sizeof canon);
        printf("=== %s %ld (seed %llu): %s\n%s%s\n=== answer %s, gold %lld%s\n\n",
               pd_task_split_name(pr.split), i, o->seed, canon, prompt, completion, sol.answer,
               pr.target, sol.slips ? ", with a slip" : "");
    }
    return ferror(stdout) ? cli_fail("task", "writing the output failed") : EXIT_OK;
}

/* ---- a small JSON object reader: strings, numbers, arrays of numbers, true/false/null ---- */

struct row {
    char *task, *prompt, *completion;
    long long target;
    bool have_target;
    int nums[PD_TASK_MAX_NUMS + 1], n_nums;
};

static const char *
js_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return s;
}

static void
put_utf8(char **o, unsigned long c)
{
    unsigned char *u = (unsigned char *)*o;
    if (c < 0x80) {
        *u++ = (unsigned char)c;
    } else if (c < 0x800) {
        *u++ = (unsigned char)(0xc0 | c >> 6);
        *u++ = (unsigned char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        *u++ = (unsigned char)(0xe0 | c >> 12);
        *u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (c & 0x3f));
    } else {
        *u++ = (unsigned char)(0xf0 | c >> 18);
        *u++ = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
        *u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (c & 0x3f));
    }
    *o = (char *)u;
}

static const char *
hex4(const char *s, unsigned long *out)
{
    *out = 0;
    for (int i = 0; i < 4; i++, s++) {
        int c = *s, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return NULL;
        *out = *out << 4 | (unsigned long)d;
    }
    return s;
}

/* A string at s (after its opening quote), decoded into a malloc'd copy; NULL when bad. The
 * decoded text is never longer than the escaped one. */
static const char *
js_str(const char *s, char **out)
{
    char *buf = malloc(strlen(s) + 1), *o = buf;
    if (!buf)
        return NULL;
    for (; *s && *s != '"'; s++) {
        if (*s != '\\') {
            *o++ = *s;
            continue;
        }
        unsigned long c, lo;
        switch (*++s) {
        case '"': case '\\': case '/': *o++ = *s; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (!(s = hex4(s + 1, &c)))
                goto bad;
            if (c >= 0xd800 && c < 0xdc00 && s[0] == '\\' && s[1] == 'u' &&
                hex4(s + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            }
            put_utf8(&o, c);
            s--;
            break;
        default: goto bad;
        }
    }
    if (*s != '"')
        goto bad;
    *o = '\0';
    *out = buf;
    return s + 1;
bad:
    free(buf);
    return NULL;
}

static void
row_free(struct row *r)
{
    free(r->task);
    free(r->prompt);
    free(r->completion);
    memset(r, 0, sizeof *r);
}

/* One value for key (known keys are kept, others skipped); NULL when malformed. */
static const char *
js_value(const char *s, const char *key, struct row *r, const char **why)
{
    char *str = NULL;
    if (*s == '"') {
        if (!(s = js_str(s + 1, &str)))
            return *why = "a bad string", NULL;
        char **slot = strcmp(key, "task") == 0 ? &r->task
                      : strcmp(key, "prompt") == 0 ? &r->prompt
                      : strcmp(key, "completion") == 0 ? &r->completion : NULL;
        if (slot) {
            free(*slot);
            *slot = str;
        } else {
            free(str);
        }
        return s;
    }
    if (*s == '[') {
        bool keep = strcmp(key, "numbers") == 0;
        r->n_nums = keep ? 0 : r->n_nums;
        for (s = js_ws(s + 1); *s != ']';) {
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s)
                return *why = "an array holds something other than integers", NULL;
            if (keep && r->n_nums == PD_TASK_MAX_NUMS + 1)
                return *why = "too many numbers", NULL;
            if (keep)
                r->nums[r->n_nums++] = (int)v;
            s = js_ws(end);
            if (*s == ',')
                s = js_ws(s + 1);
            else if (*s != ']')
                return *why = "a bad array", NULL;
        }
        return s + 1;
    }
    char *end;
    long long v = strtoll(s, &end, 10);   /* not strtod: the locale may want a decimal comma */
    if (end != s) {
        if (*end == '.' || *end == 'e' || *end == 'E') {
            if (strcmp(key, "target") == 0)
                return *why = "a target that is not a whole number", NULL;
            end += strspn(end, ".eE+-0123456789");
        }
        if (strcmp(key, "target") == 0)
            r->target = v, r->have_target = true;
        return end;
    }
    for (const char *lit = "true\0false\0null\0"; *lit; lit += strlen(lit) + 1)
        if (strncmp(s, lit, strlen(lit)) == 0)
            return s + strlen(lit);
    return *why = "a value that is not a string, number or array", NULL;
}

/* Parse one line into r. 0, or -1 with a reason in *why. */
static int
row_parse(const char *line, struct row *r, const char **why)
{
    memset(r, 0, sizeof *r);
    const char *s = js_ws(line);
    if (*s++ != '{')
        return *why = "not a JSON object", -1;
    for (s = js_ws(s); *s != '}';) {
        char *key;
        if (*s != '"' || !(s = js_str(s + 1, &key)))
            return *why = "a bad key", -1;
        s = js_ws(s);
        if (*s++ != ':') {
            free(key);
            return *why = "no ':' after a key", -1;
        }
        s = js_value(js_ws(s), key, r, why);
        free(key);
        if (!s)
            return -1;
        s = js_ws(s);
        if (*s == ',')
            s = js_ws(s + 1);
        else if (*s != '}')
            return *why = "no ',' or '}' after a value", -1;
    }
    return 0;
}

/* ---- score -------------------------------------------------------------------------------- */

static double
score_one(enum pd_task_kind kind, const int *nums, int n, long long target, const char *text,
          bool completion_only)
{
    struct pd_task_problem pr = { .kind = kind, .n = n, .target = target };
    memcpy(pr.nums, nums, (size_t)n * sizeof nums[0]);
    return pd_task_score(&pr, text, strlen(text), completion_only);
}

/* "44,19,35" into nums; false after a usage message. */
static bool
parse_numbers(const char *s, int *nums, int *n)
{
    *n = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || *n == PD_TASK_MAX_NUMS ||
            (*end && *end != ',' && *end != ' '))
            return cli_usage_error("task", "--numbers: '%s' is not up to %d numbers A,B,C", s,
                                   PD_TASK_MAX_NUMS), false;
        nums[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n < 2)
        return cli_usage_error("task", "--numbers: give at least two numbers"), false;
    return true;
}

static int
score_args(struct task_opts *o)
{
    long gold;
    int nums[PD_TASK_MAX_NUMS], n = 0;
    if (!o->have_task)
        return cli_usage_error("task", "score: which --task?");
    if (!cli_parse_int("task", "--gold", o->gold, -2000000000L, 2000000000L, &gold))
        return EXIT_USAGE;
    if (o->kind == PD_TASK_COUNTDOWN && !o->numbers)
        return cli_usage_error("task", "score: countdown needs --numbers");
    if (o->kind == PD_TASK_COUNTDOWN && !parse_numbers(o->numbers, nums, &n))
        return EXIT_USAGE;
    if (o->completion && o->text)
        return cli_usage_error("task", "score: --completion or --text, not both");
    char *stdin_text = NULL;
    const char *t = o->text ? o->text : o->completion;
    if (!t && !(t = stdin_text = cli_read_all(stdin, NULL)))
        return cli_fail("task", "cannot read the completion from stdin");
    printf("%.1f\n", score_one(o->kind, nums, n, gold, t, o->text == NULL));
    free(stdin_text);
    return EXIT_OK;
}

static int
score_rows(struct task_opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, bad = 0, n = 0, right = 0, format = 0;
    double sum = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        struct row r;
        const char *why = NULL;
        enum pd_task_kind kind = o->kind;
        if (row_parse(line, &r, &why) == 0) {
            if (r.task && pd_task_kind_parse(r.task, &kind))
                why = "an unknown task";
            else if (!r.task && !o->have_task)
                why = "no task (give --task)";
            else if (!r.completion)
                why = "no completion";
            else if (!r.have_target)
                why = "no target";
            else if (kind == PD_TASK_COUNTDOWN && (r.n_nums < 2 || r.n_nums > PD_TASK_MAX_NUMS))
                why = "countdown wants 2 to 4 numbers";
        }
        if (why) {
            fprintf(stderr, "ponder task: line %ld: %s\n", lineno, why);
            bad++;
            row_free(&r);
            continue;
        }
        double s;
        if (r.prompt) {
            size_t np = strlen(r.prompt), nc = strlen(r.completion);
            char *full = malloc(np + nc + 1);
            if (!full) {
                row_free(&r);
                free(line);
                return cli_fail("task", "out of memory");
            }
            memcpy(full, r.prompt, np);
            memcpy(full + np, r.completion, nc + 1);
            s = score_one(kind, r.nums, r.n_nums, r.target, full, false);
            free(full);
        } else {
            s = score_one(kind, r.nums, r.n_nums, r.target, r.completion, true);
        }
        printf("%.1f\n", s);
        n++;
        sum += s;
        right += s == 1.0;
        format += s > 0.0 && s < 1.0;
        row_free(&r);
    }
    free(line);
    fprintf(stderr, "scored %ld: mean %.4f, right %ld, answered but wrong %ld, no answer %ld",
            n, n ? sum / n : 0.0, right, format, n - right - format);
    if (bad)
        fprintf(stderr, "; %ld bad lines", bad);
    fputc('\n', stderr);
    return bad || ferror(stdin) ? EXIT_RUNTIME : EXIT_OK;
}

/* ---- the command ---------------------------------------------------------------------------- */

static bool
parse_opt(struct task_opts *o, int c, const char *arg)
{
    long v;
    unsigned long long u;
    char *end;
    switch (c) {
    case OPT_TASK:
        if (pd_task_kind_parse(arg, &o->kind))
            return cli_usage_error("task", "--task: '%s' is not countdown or arith", arg), false;
        o->have_task = true;
        return true;
    case OPT_SPLIT:
        if (pd_task_split_parse(arg, &o->split))
            return cli_usage_error("task", "--split: '%s' is not train or test", arg), false;
        return true;
    case OPT_N:
        if (!cli_parse_int("task", "--n", arg, 0, 100000000L, &v))
            return false;
        o->n = v;
        return true;
    case OPT_START:
        if (!cli_parse_int("task", "--start", arg, 0, 1000000000000L, &v))
            return false;
        o->start = v;
        return true;
    case OPT_SEED:
        u = strtoull(arg, &end, 10);
        if (end == arg || *end || arg[0] == '-')
            return cli_usage_error("task", "--seed: '%s' is not a whole number", arg), false;
        o->seed = u;
        return true;
    case OPT_FORMAT:
        if (strcmp(arg, "jsonl") != 0 && strcmp(arg, "text") != 0)
            return cli_usage_error("task", "--format: '%s' is not text or jsonl", arg), false;
        o->jsonl = strcmp(arg, "jsonl") == 0;
        return true;
    case OPT_SLIP: o->slip = arg; return true;
    case OPT_PROMPTS:
        if (pd_task_style_parse(arg, &o->style))
            return cli_usage_error("task", "--prompts: '%s' is not chat or tinyzero", arg), false;
        return true;
    case OPT_COUNT: o->count = arg; return true;
    case OPT_MAX_NUMBER: o->max_number = arg; return true;
    case OPT_TARGET: o->target = arg; return true;
    case OPT_MAX_WRITTEN: o->max_written = arg; return true;
    case OPT_OP: o->op = arg; return true;
    case OPT_ADD_DIGITS: o->add_digits = arg; return true;
    case OPT_MUL_DIGITS: o->mul_digits = arg; return true;
    case OPT_GOLD: o->gold = arg; return true;
    case OPT_NUMBERS: o->numbers = arg; return true;
    case OPT_COMPLETION: o->completion = arg; return true;
    case OPT_TEXT: o->text = arg; return true;
    }
    return cli_usage_error("task", "unknown option (see --help)"), false;
}

static int
cmd_task_exec(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(task_help, stdout);
        return EXIT_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "sample") != 0 && strcmp(argv[1], "score") != 0))
        return cli_usage_error("task", "sample or score? (see --help)");
    bool sample = strcmp(argv[1], "sample") == 0;
    struct task_opts o = { .n = 10, .seed = 1 };
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", task_longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(task_help, stdout);
            return EXIT_OK;
        }
        if (!parse_opt(&o, c, optarg))
            return EXIT_USAGE;
    }
    if (optind != argc - 1)
        return cli_usage_error("task", "unexpected argument '%s'", argv[optind + 1]);
    if (sample) {
        if (!o.have_task)
            return cli_usage_error("task", "sample: which --task? countdown or arith");
        pd_task_params_default(&o.p, o.kind);
        return apply_shape(&o) ? task_sample(&o) : EXIT_USAGE;
    }
    if (o.gold)
        return score_args(&o);
    if (o.numbers || o.completion || o.text)
        return cli_usage_error("task", "score: --numbers, --completion and --text go with "
                                       "--gold");
    return score_rows(&o);
}

const struct pd_cmd_entry cmd_task_entry = {
    .name = "task",
    .usage = "sample --task countdown|arith [--n N] [--split S] | score ...",
    .summary = "sample task problems with traces, or score completions",
    .exec = cmd_task_exec,
};
