/*
 * task.c: what the tasks share: parameters, the random generator, the train/test split, the
 * prompt templates and the completion text. The tasks themselves are in task-countdown.c and
 * task-arith.c; extraction and scoring in task-score.c; the expression evaluator in
 * task-expr.c.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "engine/train/task-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------- */

void
pd_task_params_default(struct pd_task_params *p, enum pd_task_kind kind)
{
    *p = (struct pd_task_params){
        .kind = kind,
        .cd_min_nums = 3, .cd_max_nums = 4, .cd_max_num = 99,
        .cd_min_target = 1, .cd_max_target = 100, .cd_max_written = 8,
        .add_min_digits = 2, .add_max_digits = 4,
        .mul_min_digits_a = 2, .mul_max_digits_a = 3,
        .mul_min_digits_b = 2, .mul_max_digits_b = 2,
        .mul_percent = 50,
        .slip_rate = 0.2,
    };
}

static int
check_range(char *err, const char *name, int lo, int hi, int min, int max)
{
    if (lo < min || hi > max || lo > hi)
        return pd_errorf(err, PD_EINVAL, "%s: %d..%d is not a range within %d..%d", name, lo,
                         hi, min, max);
    return 0;
}

int
pd_task_params_check(const struct pd_task_params *p, char *err)
{
    int rc;
    if (p->kind != PD_TASK_COUNTDOWN && p->kind != PD_TASK_ARITH)
        return pd_errorf(err, PD_EINVAL, "unknown task kind %d", (int)p->kind);
    if ((rc = check_range(err, "countdown numbers", p->cd_min_nums, p->cd_max_nums, 2,
                          PD_TASK_MAX_NUMS)) ||
        (rc = check_range(err, "countdown largest number", 1, p->cd_max_num, 1, 9999)) ||
        (rc = check_range(err, "countdown target", p->cd_min_target, p->cd_max_target, 0,
                          1000000)) ||
        (rc = check_range(err, "countdown dead ends written", 0, p->cd_max_written, 0, 1000)) ||
        (rc = check_range(err, "sum digits", p->add_min_digits, p->add_max_digits, 1, 8)) ||
        (rc = check_range(err, "first factor digits", p->mul_min_digits_a, p->mul_max_digits_a,
                          1, 4)) ||
        (rc = check_range(err, "second factor digits", p->mul_min_digits_b,
                          p->mul_max_digits_b, 1, 4)) ||
        (rc = check_range(err, "product percent", 0, p->mul_percent, 0, 100)))
        return rc;
    if (!(p->slip_rate >= 0.0 && p->slip_rate <= 1.0))
        return pd_errorf(err, PD_EINVAL, "slip rate %g is not within 0..1", p->slip_rate);
    return 0;
}

/* ---- random numbers ---------------------------------------------------------------------- */

uint64_t
task_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void
task_rng_seed(struct task_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mixing seed and stream separately keeps (s, i) and (s', i') apart for nearby values. */
    uint64_t x = task_mix64(seed) ^ task_mix64(stream ^ 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) {
        x += 0x9E3779B97F4A7C15ull;
        r->s[i] = task_mix64(x);
    }
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
task_rng_next(struct task_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

int
task_rng_range(struct task_rng *r, int lo, int hi)
{
    PD_ASSERT(lo <= hi);
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;   /* reject the uneven tail */
    uint64_t x;
    do
        x = task_rng_next(r);
    while (x >= limit);
    return (int)(lo + (int64_t)(x % span));
}

bool
task_rng_chance(struct task_rng *r, double p)
{
    /* 53 random bits against p: exact for the rates people write (0.2 and the like). */
    return (double)(task_rng_next(r) >> 11) * (1.0 / 9007199254740992.0) < p;
}

int
task_rng_digits(struct task_rng *r, int d)
{
    int lo = 1;
    for (int i = 1; i < d; i++)
        lo *= 10;
    return task_rng_range(r, d == 1 ? 1 : lo, lo * 10 - 1);
}

/* ---- the bounded writer ------------------------------------------------------------------- */

void
tb_init(struct task_buf *b, char *p, size_t cap)
{
    *b = (struct task_buf){ .p = p, .cap = cap };
    if (cap)
        p[0] = '\0';
}

void
tb_printf(struct task_buf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->overflow = true;
        b->p[b->len] = '\0';   /* never keep half a piece */
        return;
    }
    b->len += (size_t)n;
}

void
tb_puts(struct task_buf *b, const char *s)
{
    tb_printf(b, "%s", s);
}

/* ---- names, canonical form and split ------------------------------------------------------ */

const char *
pd_task_kind_name(enum pd_task_kind kind)
{
    return kind == PD_TASK_COUNTDOWN ? "countdown" : kind == PD_TASK_ARITH ? "arith" : "?";
}

const char *
pd_task_split_name(enum pd_task_split split)
{
    return split == PD_TASK_TEST ? "test" : "train";
}

int
pd_task_kind_parse(const char *name, enum pd_task_kind *out)
{
    if (strcmp(name, "countdown") == 0)
        *out = PD_TASK_COUNTDOWN;
    else if (strcmp(name, "arith") == 0 || strcmp(name, "arithmetic") == 0)
        *out = PD_TASK_ARITH;
    else
        return PD_EINVAL;
    return 0;
}

int
pd_task_split_parse(const char *name, enum pd_task_split *out)
{
    if (strcmp(name, "train") == 0)
        *out = PD_TASK_TRAIN;
    else if (strcmp(name, "test") == 0)
        *out = PD_TASK_TEST;
    else
        return PD_EINVAL;
    return 0;
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int
pd_task_canonical(const struct pd_task_problem *pr, char *buf, size_t cap)
{
    /* Order does not make a new problem: 44 19 35 -> 28 is 19 35 44 -> 28, and 28*347 is
     * 347*28; sorting keeps each such family on one side of the split. */
    int v[PD_TASK_MAX_NUMS], n = PD_MIN(PD_MAX(pr->n, 0), PD_TASK_MAX_NUMS);
    memcpy(v, pr->nums, (size_t)n * sizeof v[0]);
    qsort(v, (size_t)n, sizeof v[0], cmp_int);
    char tmp[128];
    struct task_buf b;
    tb_init(&b, tmp, sizeof tmp);
    if (pr->kind == PD_TASK_COUNTDOWN) {
        tb_puts(&b, "countdown");
        for (int i = 0; i < n; i++)
            tb_printf(&b, " %d", v[i]);
        tb_printf(&b, " -> %lld", pr->target);
    } else {
        tb_printf(&b, "arith %d %c %d", v[0], pr->op, n > 1 ? v[1] : 0);
    }
    return snprintf(buf, cap, "%s", tmp);
}

enum pd_task_split
pd_task_split_of(const struct pd_task_problem *pr)
{
    char c[128];
    pd_task_canonical(pr, c, sizeof c);
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a, then a finalizer to spread it */
    for (const char *s = c; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return task_mix64(h) % PD_TASK_TEST_MOD == 0 ? PD_TASK_TEST : PD_TASK_TRAIN;
}

/* ---- generation ---------------------------------------------------------------------------- */

int
pd_task_generate(const struct pd_task_params *p, enum pd_task_split split, uint64_t seed,
                 uint64_t index, struct pd_task_problem *out, char *err)
{
    int rc = pd_task_params_check(p, err);
    if (rc)
        return rc;
    struct task_rng r;
    task_rng_seed(&r, seed, index);
    /* Draw until the problem falls on the wanted side: about PD_TASK_TEST_MOD draws for test. */
    for (int tries = 0; tries < 200 * PD_TASK_TEST_MOD; tries++) {
        rc = p->kind == PD_TASK_COUNTDOWN ? task_countdown_draw(p, &r, out)
                                          : task_arith_draw(p, &r, out);
        if (rc == PD_ERANGE)
            continue;
        if (rc)
            return pd_errorf(err, rc, "%s: cannot draw a problem", pd_task_kind_name(p->kind));
        out->split = pd_task_split_of(out);
        if (out->split == split) {
            out->seed = task_rng_next(&r);
            return 0;
        }
    }
    return pd_errorf(err, PD_ERANGE, "%s: these settings leave no %s problem",
                     pd_task_kind_name(p->kind), pd_task_split_name(split));
}

int
pd_task_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
              struct pd_task_solution *out, char *err)
{
    int rc = pd_task_params_check(p, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    if (pr->kind == PD_TASK_COUNTDOWN)
        return task_countdown_solve(p, pr, out, err);
    if (pr->kind == PD_TASK_ARITH)
        return task_arith_solve(p, pr, out, err);
    return pd_errorf(err, PD_EINVAL, "unknown task kind %d", (int)pr->kind);
}

/* ---- texts --------------------------------------------------------------------------------- */

/* TinyZero's base-model prompt (examples/data_preprocess/countdown.py), word for word. */
static const char countdown_head[] =
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer.\nUser: Using the numbers ";
static const char countdown_tail[] =
    ". You can use basic arithmetic operations (+, -, *, /) and each number can only be used "
    "once. Show your work in <think> </think> tags. And return the final answer in <answer> "
    "</answer> tags, for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this "
    "step by step.\n<think>";

/* The R1-Zero template of the R1 paper (Table 1); TinyZero's multiply.py writes
 * "RESULT_NUMBER" where the paper has "answer here". */
static const char r1_zero_head[] =
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: ";

int
pd_task_prompt(const struct pd_task_problem *pr, char *buf, size_t cap)
{
    struct task_buf b;
    tb_init(&b, buf, cap);
    if (pr->kind == PD_TASK_COUNTDOWN) {
        tb_puts(&b, countdown_head);
        tb_puts(&b, "[");   /* Python's list formatting: [44, 19, 35] */
        for (int i = 0; i < pr->n; i++)
            tb_printf(&b, "%s%d", i ? ", " : "", pr->nums[i]);
        tb_printf(&b, "], create an equation that equals %lld", pr->target);
        tb_puts(&b, countdown_tail);
    } else {
        tb_puts(&b, r1_zero_head);
        tb_printf(&b, "Give me the answer of the following equation: %d %c %d = Assistant: "
                      "Ok let me think about it.\n<think>", pr->nums[0], pr->op, pr->nums[1]);
    }
    return b.overflow ? PD_ERANGE : 0;
}

int
pd_task_completion(const struct pd_task_solution *s, char *buf, size_t cap)
{
    struct task_buf b;
    tb_init(&b, buf, cap);
    tb_printf(&b, "\n%s</think>\n<answer>%s</answer>", s->think, s->answer);
    return b.overflow ? PD_ERANGE : 0;
}

static const char *const style_names[] = { "chat", "tinyzero" };

const char *
pd_task_style_name(enum pd_task_style st)
{
    return (unsigned)st < PD_ARRAY_SIZE(style_names) ? style_names[st] : "?";
}

int
pd_task_style_parse(const char *name, enum pd_task_style *out)
{
    for (size_t i = 0; name && i < PD_ARRAY_SIZE(style_names); i++)
        if (strcmp(name, style_names[i]) == 0) {
            *out = (enum pd_task_style)i;
            return 0;
        }
    return PD_EINVAL;
}

bool
pd_task_style_opens_think(enum pd_task_style st)
{
    return st == PD_TASK_STYLE_TINYZERO;
}

int
pd_task_question(const struct pd_task_problem *pr, char *buf, size_t cap)
{
    struct task_buf b;
    tb_init(&b, buf, cap);
    if (pr->kind == PD_TASK_COUNTDOWN) {
        tb_puts(&b, "Using the numbers [");
        for (int i = 0; i < pr->n; i++)
            tb_printf(&b, "%s%d", i ? ", " : "", pr->nums[i]);
        tb_printf(&b, "], create an equation that equals %lld", pr->target);
    } else {
        tb_printf(&b, "What is %d %c %d", pr->nums[0], pr->op, pr->nums[1]);
    }
    return b.overflow ? PD_ERANGE : 0;
}

int
pd_task_style_prompt(enum pd_task_style st, const struct pd_task_problem *pr, char *buf,
                     size_t cap)
{
    if (st == PD_TASK_STYLE_TINYZERO)
        return pd_task_prompt(pr, buf, cap);
    char q[256];
    int rc = pd_task_question(pr, q, sizeof q);
    if (rc)
        return rc;
    struct pd_chat_msg msg = { "user", q };
    char *text = pd_template_apply(PD_TEMPLATE_R1_ZERO, &msg, 1, true, NULL, NULL);
    if (text == NULL)
        return PD_ENOMEM;
    size_t n = strlen(text);
    rc = n < cap ? 0 : PD_ERANGE;
    if (rc == 0)
        memcpy(buf, text, n + 1);
    free(text);
    return rc;
}

int
pd_task_style_completion(enum pd_task_style st, const struct pd_task_solution *s, char *buf,
                         size_t cap)
{
    if (st == PD_TASK_STYLE_TINYZERO)
        return pd_task_completion(s, buf, cap);
    struct task_buf b;
    tb_init(&b, buf, cap);
    tb_printf(&b, " <think>\n%s</think>\n<answer>%s</answer>", s->think, s->answer);
    return b.overflow ? PD_ERANGE : 0;
}

int
pd_task_text(const struct pd_task_problem *pr, const struct pd_task_solution *s, char *buf,
             size_t cap)
{
    int rc = pd_task_prompt(pr, buf, cap);
    if (rc)
        return rc;
    size_t n = strlen(buf);
    return pd_task_completion(s, buf + n, cap - n);
}

int
pd_task_gold(const struct pd_task_problem *pr, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%lld", pr->target);
    return n < 0 || (size_t)n >= cap ? PD_ERANGE : 0;
}
