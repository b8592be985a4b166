/*
 * test-tasks.c: the tasks with checkable answers (engine/train/task.h): generators that repeat
 * per seed, a train/test split that never overlaps, solvers whose answers score 1.0 and whose
 * traces state nothing false that they do not take back, and TinyZero's scoring on the cases
 * of grpo.md 3.3 and 3.4.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "engine/train/task.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PINNED_ARITH "arith 23 * 532"

static struct pd_task_solution sol;
static char text[PD_TASK_TEXT_MAX], completion[PD_TASK_TEXT_MAX];

static uint64_t
fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h | 1;   /* 0 marks an empty slot */
}

/* ---- a set of canonical forms (by 64-bit hash), open addressing ---- */

enum { SET_SIZE = 1 << 17 };
static uint64_t set_slots[SET_SIZE];

static void
set_clear(void)
{
    memset(set_slots, 0, sizeof set_slots);
}

static bool
set_has(uint64_t h)
{
    for (size_t i = h & (SET_SIZE - 1); set_slots[i]; i = (i + 1) & (SET_SIZE - 1))
        if (set_slots[i] == h)
            return true;
    return false;
}

static void
set_add(uint64_t h)
{
    size_t i = h & (SET_SIZE - 1);
    while (set_slots[i] && set_slots[i] != h)
        i = (i + 1) & (SET_SIZE - 1);
    set_slots[i] = h;
}

/* Each line of s as a diagnostic. */
static void
diag_lines(const char *s)
{
    while (*s) {
        size_t n = strcspn(s, "\n");
        diag("  %.*s", (int)n, s);
        s += n + (s[n] == '\n');
    }
}

/* ---- determinism ---- */

static void
check_determinism(enum pd_task_kind kind)
{
    struct pd_task_params p;
    pd_task_params_default(&p, kind);
    char err[PD_ERR_MAX];
    bool same = true, differs = false, solved_same = true;
    for (uint64_t i = 0; i < 200; i++) {
        struct pd_task_problem a, b, c;
        pd_task_generate(&p, PD_TASK_TRAIN, 5, i, &a, err);
        pd_task_generate(&p, PD_TASK_TRAIN, 5, i, &b, err);
        pd_task_generate(&p, PD_TASK_TRAIN, 6, i, &c, err);
        same &= memcmp(&a, &b, sizeof a) == 0;
        differs |= memcmp(&a, &c, sizeof a) != 0;
        static struct pd_task_solution s1, s2;
        pd_task_solve(&p, &a, &s1, err);
        pd_task_solve(&p, &b, &s2, err);
        solved_same &= strcmp(s1.think, s2.think) == 0 && strcmp(s1.answer, s2.answer) == 0;
    }
    ok(same, "%s: the same seed and index give the same problem", pd_task_kind_name(kind));
    ok(differs, "%s: another seed gives other problems", pd_task_kind_name(kind));
    ok(solved_same, "%s: the same problem gives the same trace", pd_task_kind_name(kind));
}

/* Pinned problems: the generator must give these on every machine and every build. */
static void
check_pinned(void)
{
    struct pd_task_params p;
    struct pd_task_problem pr;
    char err[PD_ERR_MAX], c[128];
    pd_task_params_default(&p, PD_TASK_COUNTDOWN);
    pd_task_generate(&p, PD_TASK_TRAIN, 1, 0, &pr, err);
    pd_task_canonical(&pr, c, sizeof c);
    is_str(c, "countdown 3 10 32 90 -> 44", "countdown seed 1 index 0 is pinned");
    is_int(pr.nums[0] * 1000000 + pr.nums[1] * 10000 + pr.nums[2] * 100 + pr.nums[3],
           32900310, "countdown seed 1 index 0 keeps its order");
    pd_task_params_default(&p, PD_TASK_ARITH);
    pd_task_generate(&p, PD_TASK_TEST, 1, 3, &pr, err);
    pd_task_canonical(&pr, c, sizeof c);
    diag("arith test seed 1 index 3: %s", c);
    is_str(c, PINNED_ARITH, "arith test seed 1 index 3 is pinned");
}

/* ---- the split ---- */

static void
check_split(enum pd_task_kind kind, int n_train, int n_test)
{
    struct pd_task_params p;
    pd_task_params_default(&p, kind);
    char err[PD_ERR_MAX], c[128];
    set_clear();
    bool sides_ok = true;
    int rc_bad = 0;
    for (int i = 0; i < n_test; i++) {
        struct pd_task_problem pr;
        rc_bad += pd_task_generate(&p, PD_TASK_TEST, 100 + i % 7, (uint64_t)i, &pr, err) != 0;
        sides_ok &= pr.split == PD_TASK_TEST && pd_task_split_of(&pr) == PD_TASK_TEST;
        pd_task_canonical(&pr, c, sizeof c);
        set_add(fnv(c));
        /* The same problem with its numbers in another order is on the same side. */
        struct pd_task_problem rev = pr;
        for (int k = 0; k < pr.n; k++)
            rev.nums[k] = pr.nums[pr.n - 1 - k];
        sides_ok &= pd_task_split_of(&rev) == PD_TASK_TEST;
    }
    int overlap = 0;
    for (int i = 0; i < n_train; i++) {
        struct pd_task_problem pr;
        rc_bad += pd_task_generate(&p, PD_TASK_TRAIN, 200 + i % 11, (uint64_t)i, &pr, err) != 0;
        sides_ok &= pr.split == PD_TASK_TRAIN && pd_task_split_of(&pr) == PD_TASK_TRAIN;
        pd_task_canonical(&pr, c, sizeof c);
        overlap += set_has(fnv(c));
    }
    is_int(rc_bad, 0, "%s: %d train and %d test problems generated", pd_task_kind_name(kind),
           n_train, n_test);
    ok(sides_ok, "%s: every problem is on the side asked for, whatever its number order",
       pd_task_kind_name(kind));
    is_int(overlap, 0, "%s: no train problem is a test problem", pd_task_kind_name(kind));
}

/* The share of test problems among all draws is about 1 in PD_TASK_TEST_MOD. */
static void
check_split_rate(void)
{
    int test = 0, n = 0;
    for (int a = 10; a < 100; a++)
        for (int b = a; b < 100; b++, n++) {
            struct pd_task_problem pr = { .kind = PD_TASK_ARITH, .n = 2, .nums = { a, b },
                                          .op = '*', .target = a * b };
            test += pd_task_split_of(&pr) == PD_TASK_TEST;
        }
    double share = (double)test / n, want = 1.0 / PD_TASK_TEST_MOD;
    diag("test share of the %d products of two 2-digit numbers: %.4f", n, share);
    ok(fabs(share - want) < 4 * sqrt(want * (1 - want) / n), "test share is about 1/%d",
       PD_TASK_TEST_MOD);
}

/* ---- traces: every equation true, unless a later "Wait" restates it truly ---- */

struct eq_run {
    const char *s;
    size_t len;
};

static bool
eq_char(char c)
{
    return (c >= '0' && c <= '9') || strchr("+-*/()=", c) != NULL;
}

/* The next run of equation characters holding a '=' at or after *p; false at the end. */
static bool
next_run(const char **p, struct eq_run *r)
{
    const char *s = *p;
    while (*s) {
        while (*s && !eq_char(*s))
            s++;
        const char *start = s;
        while (*s && eq_char(*s))
            s++;
        if (s > start && memchr(start, '=', (size_t)(s - start))) {
            *r = (struct eq_run){ start, (size_t)(s - start) };
            *p = s;
            return true;
        }
    }
    *p = s;
    return false;
}

/* Part k of a run "A=B=C" (k from 0); false when there is none. */
static bool
run_part(const struct eq_run *r, int k, const char **s, size_t *n)
{
    const char *p = r->s, *end = r->s + r->len;
    for (int i = 0; i < k; i++) {
        p = memchr(p, '=', (size_t)(end - p));
        if (!p)
            return false;
        p++;
    }
    const char *q = memchr(p, '=', (size_t)(end - p));
    *s = p;
    *n = (size_t)((q ? q : end) - p);
    return true;
}

/* After "Wait" somewhere after from, a run "LHS=V..." with V the true value of LHS? */
static bool
retracted(const char *from, const char *lhs, size_t lhs_n, double truth)
{
    const char *w = strstr(from, "Wait");
    if (!w)
        return false;
    struct eq_run r;
    const char *p = w;
    while (next_run(&p, &r)) {
        const char *s0, *s1;
        size_t n0, n1;
        double v;
        if (run_part(&r, 0, &s0, &n0) && run_part(&r, 1, &s1, &n1) && n0 == lhs_n &&
            memcmp(s0, lhs, n0) == 0 && pd_task_expr_eval(s1, n1, &v) == 0 && v == truth)
            return true;
    }
    return false;
}

/* Count the false links in a trace, and those not taken back; -1 for an unparsable part. */
static int
audit(const char *think, int *unretracted)
{
    int wrong = 0;
    *unretracted = 0;
    struct eq_run r;
    const char *p = think;
    while (next_run(&p, &r)) {
        const char *s0 = NULL, *s1;
        size_t n0 = 0, n1;
        for (int k = 0; run_part(&r, k + 1, &s1, &n1); k++) {
            double a, b;
            run_part(&r, k, &s0, &n0);
            if (pd_task_expr_eval(s0, n0, &a) || pd_task_expr_eval(s1, n1, &b)) {
                diag("unparsable: %.*s", (int)r.len, r.s);
                return -1;
            }
            if (a != b) {
                wrong++;
                if (!retracted(r.s + r.len, s0, n0, a)) {
                    (*unretracted)++;
                    diag("not taken back: %.*s=%.*s", (int)n0, s0, (int)n1, s1);
                }
            }
        }
    }
    return wrong;
}

static int
count_str(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Countdown lines "..., r, no." must not reach the target; ", yes." lines must, unless a
 * slip (then a Wait follows on the next line). */
static bool
verdicts_hold(const char *think, long long target)
{
    for (const char *line = think; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        bool no = n > 5 && memcmp(line + n - 5, ", no.", 5) == 0 && line[0] != '.';
        bool yes = n > 6 && memcmp(line + n - 6, ", yes.", 6) == 0;
        if (no || yes) {
            const char *eq = line + n - (no ? 5 : 6);
            const char *v = eq;
            while (v > line && v[-1] != '=')
                v--;
            long long got = strtoll(v, NULL, 10);
            bool slip = yes && nl && strncmp(nl + 1, "Check:", 6) == 0 &&
                        strstr(nl + 1, "Wait") != NULL &&
                        strstr(nl + 1, "Wait") < (strchr(nl + 1, '\n') ? strchr(nl + 1, '\n')
                                                                         : nl + strlen(nl));
            if ((no && got == target) || (yes && got != target && !slip))
                return false;
        }
        line += n + (nl ? 1 : 0);
    }
    return true;
}

struct stats {
    int n, slips, waits, bad_score, bad_audit, unretracted, silent_slips, bad_verdict;
    int bad_answer, len_max, lens[4096];
    double len_sum;
};

static int
cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void
stats_diag(const char *what, struct stats *st)
{
    if (!st->n)
        return;
    qsort(st->lens, (size_t)PD_MIN(st->n, 4096), sizeof st->lens[0], cmp_int);
    int m = PD_MIN(st->n, 4096);
    diag("%-16s n=%5d think chars: mean %5.0f median %4d p90 %4d max %4d; "
         "with a Wait %.1f%%", what, st->n, st->len_sum / st->n, st->lens[m / 2],
         st->lens[m * 9 / 10], st->lens[m - 1], 100.0 * st->waits / st->n);
}

/* Generate, solve, score and audit n problems of kind with slip rate rate. */
static void
run_tasks(enum pd_task_kind kind, double rate, int n, struct stats *by_group)
{
    struct pd_task_params p;
    pd_task_params_default(&p, kind);
    p.slip_rate = rate;
    char err[PD_ERR_MAX], prompt[PD_TASK_PROMPT_MAX];
    for (int i = 0; i < n; i++) {
        struct pd_task_problem pr;
        enum pd_task_split split = i % 5 == 0 ? PD_TASK_TEST : PD_TASK_TRAIN;
        int rc = pd_task_generate(&p, split, 77, (uint64_t)i, &pr, err);
        if (rc == 0)
            rc = pd_task_solve(&p, &pr, &sol, err);
        int g = kind == PD_TASK_COUNTDOWN ? pr.n - 1 : pr.op == '*';
        struct stats *st = &by_group[PD_MIN(PD_MAX(g, 0), 3)];
        st->n++;
        if (rc) {
            diag("problem %d: %s", i, err);
            st->bad_score++;
            continue;
        }
        pd_task_prompt(&pr, prompt, sizeof prompt);
        pd_task_text(&pr, &sol, text, sizeof text);
        pd_task_completion(&sol, completion, sizeof completion);
        if (pd_task_score(&pr, text, strlen(text), false) != 1.0 ||
            pd_task_score(&pr, completion, strlen(completion), true) != 1.0) {
            st->bad_score++;
            if (st->bad_score < 3)
                diag_lines(text);
        }
        if (kind == PD_TASK_ARITH) {
            long long want = pr.op == '+' ? (long long)pr.nums[0] + pr.nums[1]
                                          : (long long)pr.nums[0] * pr.nums[1];
            st->bad_answer += strtoll(sol.answer, NULL, 10) != want || pr.target != want;
        }
        int un, wrong = audit(sol.think, &un);
        st->bad_audit += wrong < 0;
        st->unretracted += un;
        st->silent_slips += sol.slips > 0 && wrong <= 0;   /* a slip must show */
        st->slips += sol.slips;
        st->waits += count_str(sol.think, "Wait") > 0;
        st->bad_answer += count_str(sol.think, "Wait") != sol.slips;
        if (kind == PD_TASK_COUNTDOWN)
            st->bad_verdict += !verdicts_hold(sol.think, pr.target);
        int len = (int)strlen(sol.think);
        if (st->n <= 4096)
            st->lens[st->n - 1] = len;
        st->len_sum += len;
    }
}

static void
check_tasks(enum pd_task_kind kind, double rate, int n)
{
    static struct stats g[4];
    memset(g, 0, sizeof g);
    run_tasks(kind, rate, n, g);
    struct stats all = { 0 };
    const char *names[2][4] = { { "", "", "countdown 3", "countdown 4" },
                                { "arith sum", "arith product", "", "" } };
    for (int i = 0; i < 4; i++) {
        all.n += g[i].n;
        all.slips += g[i].slips;
        all.waits += g[i].waits;
        all.bad_score += g[i].bad_score;
        all.bad_audit += g[i].bad_audit;
        all.unretracted += g[i].unretracted;
        all.silent_slips += g[i].silent_slips;
        all.bad_verdict += g[i].bad_verdict;
        all.bad_answer += g[i].bad_answer;
        if (rate > 0 && rate < 1)
            stats_diag(names[kind == PD_TASK_ARITH][i], &g[i]);
    }
    const char *k = pd_task_kind_name(kind);
    is_int(all.bad_score, 0, "%s (slip rate %.2f): all %d answers score 1.0, full text and "
           "completion alone", k, rate, all.n);
    is_int(all.bad_answer, 0, "%s (slip rate %.2f): answers right, one Wait per slip", k, rate);
    is_int(all.bad_audit + all.unretracted, 0,
           "%s (slip rate %.2f): every equation is true or taken back after a Wait", k, rate);
    is_int(all.silent_slips, 0, "%s (slip rate %.2f): every slip is a false equation", k, rate);
    if (kind == PD_TASK_COUNTDOWN)
        is_int(all.bad_verdict, 0, "%s (slip rate %.2f): yes lines reach the target, no "
               "lines do not", k, rate);
    double share = (double)all.waits / all.n;
    double tol = 4 * sqrt(PD_MAX(rate * (1 - rate), 0.0) / all.n) + 1e-9;
    ok(fabs(share - rate) <= tol, "%s: traces with a Wait %.3f, slip rate %.2f", k, share,
       rate);
}

/* The auditor itself: a false equation left standing is found, one taken back is not. */
static void
check_audit(void)
{
    int un;
    int wrong = audit("44-19=25, 25+35=28, yes.\n", &un);
    ok(wrong == 1 && un == 1, "audit: a false equation left standing is found");
    wrong = audit("25+35=28, yes.\nCheck: 25+35=60. Wait, 25+35=60, not 28.\n", &un);
    ok(wrong == 1 && un == 0, "audit: one taken back after a Wait is accepted");
    wrong = audit("Wait, 25+35=60.\n25+35=28, yes.\n", &un);
    ok(wrong == 1 && un == 1, "audit: a Wait before the false equation does not count");
}

/* ---- scoring: grpo.md 3.3 and 3.4 ---- */

static double
cd(const char *completion_text)
{
    static const int nums[3] = { 44, 19, 35 };
    return pd_task_score_countdown_completion(completion_text, strlen(completion_text), nums,
                                              3, 28);
}

static void
check_countdown_scores(void)
{
    ok(cd("no answer here") == 0.0, "no answer: 0");
    ok(cd("<answer>44-(35-19)</answer>") == 1.0, "right answer: 1.0");
    ok(cd("...</think>\n<answer> 44 - (35 - 19) </answer>") == 1.0, "spaces stripped: 1.0");
    ok(cd("<answer>44+19-35</answer>") == 1.0, "another right answer: 1.0");
    ok(cd("<answer>44+19+35</answer>") == 0.1, "wrong value: 0.1");
    ok(cd("<answer>44+19</answer>") == 0.1, "a number missing: 0.1");
    ok(cd("<answer>44+19-35+35-35</answer>") == 0.1, "a number used twice: 0.1");
    ok(cd("<answer>44-(35-19)=28</answer>") == 0.1, "'=' in the expression: 0.1");
    ok(cd("<answer>x = 44-(35-19)</answer>") == 0.1, "letters: 0.1");
    ok(cd("<answer>44-(35-19</answer>") == 0.1, "unbalanced: 0.1");
    ok(cd("<answer></answer>") == 0.1, "empty answer: 0.1");
    ok(cd("<answer>(35-19)/(44)*35</answer>") == 0.1, "right numbers, wrong value: 0.1");
    static const int n2[4] = { 3, 7, 2, 9 };
    const char *real = "<answer>(3/7+2)*9</answer>";   /* 21.857...: not whole, checked */
    ok(pd_task_score_countdown_completion(real, strlen(real), n2, 4, 22) == 0.1,
       "real division, not the target: 0.1");
    static const int n3[3] = { 7, 3, 14 };
    const char *frac = "<answer>14/(7/3)</answer>";   /* 6.000000000000001 */
    ok(pd_task_score_countdown_completion(frac, strlen(frac), n3, 3, 6) == 1.0,
       "real division through a fraction: 1.0");
    static const int n4[3] = { 1, 3, 6 };
    const char *d = "<answer>1/3*6</answer>";
    ok(pd_task_score_countdown_completion(d, strlen(d), n4, 3, 2) == 1.0,
       "real division, equal within 1e-5: 1.0");
    ok(cd("<answer>44-(35-19)</answer>\nsome words after") == 0.0,
       "answer not on the last line: 0");
    ok(cd("<answer>1+1</answer> then <answer>44-(35-19)</answer>") == 1.0,
       "the last answer on the line counts: 1.0");
    ok(cd("<answer>44-(35-19)</answer> then <answer>1+1</answer>") == 0.1,
       "the last answer on the line counts: 0.1");
    ok(cd("<answer>44-(35-\n19)</answer>") == 0.0, "an answer across lines: 0");
    ok(cd("<answer>44-(35-19)</answer>\n") == 0.0, "a newline after the answer: 0");
    ok(cd("<answer>44.0-(35-19)</answer>") == 0.1, "a decimal splits into two numbers: 0.1");
    ok(cd("<answer>44-(35-19)*1**1</answer>") == 0.1, "extra numbers: 0.1");

    const char *full = "User: ... Assistant: Let me solve this step by step.\n<think>x</think>"
                       "\n<answer>44-(35-19)</answer>";
    static const int nums[3] = { 44, 19, 35 };
    ok(pd_task_score_countdown_text(full, strlen(full), nums, 3, 28) == 1.0,
       "full text: after Assistant:, 1.0");
    const char *im = "<|im_start|>assistant\n<answer>44-(35-19)</answer>";
    ok(pd_task_score_countdown_text(im, strlen(im), nums, 3, 28) == 1.0,
       "full text: after <|im_start|>assistant, 1.0");
    const char *bare = "<answer>44-(35-19)</answer>";
    ok(pd_task_score_countdown_text(bare, strlen(bare), nums, 3, 28) == 0.0,
       "full text without Assistant: 0");
    const char *prompt_ans = "i.e. <answer> (1 + 2) / 3 </answer>.\nAssistant: no answer";
    ok(pd_task_score_countdown_text(prompt_ans, strlen(prompt_ans), nums, 3, 28) == 0.0,
       "an answer in the prompt does not count: 0");
}

static double
ar(const char *s, const char *gold)
{
    return pd_task_score_arith_completion(s, strlen(s), gold);
}

static void
check_arith_scores(void)
{
    ok(ar("<answer>9716</answer>", "9716") == 1.0, "arith: right, 1.0");
    ok(ar("<answer> 9716 </answer>", "9716") == 1.0, "arith: stripped, 1.0");
    ok(ar("<answer>09716</answer>", "9716") == 1.0, "arith: int() takes leading zeros, 1.0");
    ok(ar("<answer>+9_716</answer>", "9716") == 1.0, "arith: int() takes + and _, 1.0");
    ok(ar("<answer>9717</answer>", "9716") == 0.1, "arith: wrong, 0.1");
    ok(ar("<answer>-9716</answer>", "9716") == 0.1, "arith: wrong sign, 0.1");
    ok(ar("<answer>9,716</answer>", "9716") == 0.0, "arith: not an int, 0");
    ok(ar("<answer>9716.0</answer>", "9716") == 0.0, "arith: a decimal is not an int, 0");
    ok(ar("<answer>9__716</answer>", "9716") == 0.0, "arith: a double underscore, 0");
    ok(ar("no answer", "9716") == 0.0, "arith: no answer, 0");
    ok(ar("<answer>1</answer>\n<answer>9716</answer>\nmore text", "9716") == 1.0,
       "arith: the last answer anywhere, 1.0");
    ok(ar("<answer>9716</answer> <answer>x</answer>", "9716") == 0.0,
       "arith: the last answer is not an int, 0");
    const char *full = "User: 347 * 28 = Assistant: Ok.\n<think>.</think> <answer>9716</answer>";
    ok(pd_task_score_arith_text(full, strlen(full), "9716") == 1.0, "arith: full text, 1.0");
    ok(pd_task_score_arith_text("<answer>9716</answer>", 21, "9716") == 0.0,
       "arith: full text without Assistant:, 0");
}

/* ---- the evaluator: Python's values ---- */

static void
check_expr(void)
{
    static const struct {
        const char *s;
        double v;   /* NAN: an error */
    } cases[] = {
        { "1+2*3", 7 }, { "(1+2)*3", 9 }, { "7/2", 3.5 }, { "7//2", 3 }, { "-7//2", -4 },
        { "-2**2", -4 }, { "2**-1", 0.5 }, { "2**3**2", 512 }, { "(-2)**2", 4 },
        { "--3", 3 }, { "+-3", -3 }, { "2*-3", -6 }, { " 1 + 2 ", 3 }, { "10-4-3", 3 },
        { "64/4/2", 8 }, { "1.5*2", 3 }, { "1.+.5", 1.5 }, { "00", 0 }, { "0", 0 },
        { "012", NAN }, { "1/0", NAN }, { "1//0", NAN }, { "0**-1", NAN }, { "2(3)", NAN },
        { "()", NAN }, { "", NAN }, { "1 2", NAN }, { "2***3", NAN }, { "2* *3", NAN },
        { "(1+2", NAN }, { "1+2)", NAN }, { "1..2", NAN }, { "(-8)**0.5", NAN },
        { "3 ** 2", 9 }, { "4 // 3 * 3", 3 },
    };
    int bad = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++) {
        double v;
        int rc = pd_task_expr_eval(cases[i].s, strlen(cases[i].s), &v);
        bool good = isnan(cases[i].v) ? rc != 0 : rc == 0 && fabs(v - cases[i].v) < 1e-12;
        if (!good) {
            bad++;
            diag("'%s': rc %d value %g, want %g", cases[i].s, rc, rc ? 0.0 : v, cases[i].v);
        }
    }
    is_int(bad, 0, "expressions evaluate as Python's eval does (%zu cases)",
           PD_ARRAY_SIZE(cases));
}

static void
check_find(void)
{
    const char *a;
    size_t n;
    const char *t = "<answer>1</answer> x <answer> 2 </answer>";
    ok(pd_task_answer_find(t, strlen(t), &a, &n) == 0 && n == 1 && *a == '2',
       "answer_find: the last one, stripped");
    t = "<answer>a<answer>b</answer>";
    ok(pd_task_answer_find(t, strlen(t), &a, &n) == 0 && n == 10,
       "answer_find: lazy from the first opening, as re.finditer");
    t = "<answer>1\n</answer>";
    ok(pd_task_answer_find(t, strlen(t), &a, &n) == PD_ENOTFOUND,
       "answer_find: no newline inside");
}

/* ---- texts ---- */

static void
check_texts(void)
{
    struct pd_task_params p;
    pd_task_params_default(&p, PD_TASK_COUNTDOWN);
    p.slip_rate = 0;
    struct pd_task_problem pr = { .kind = PD_TASK_COUNTDOWN, .n = 3, .nums = { 44, 19, 35 },
                                  .target = 28 };
    char err[PD_ERR_MAX], prompt[PD_TASK_PROMPT_MAX];
    ok(pd_task_solve(&p, &pr, &sol, err) == 0, "44 19 35 -> 28 is solved");
    pd_task_prompt(&pr, prompt, sizeof prompt);
    pd_task_text(&pr, &sol, text, sizeof text);
    diag("the full text:");
    diag_lines(text);
    ok(strstr(prompt, "User: Using the numbers [44, 19, 35], create an equation that equals "
                      "28. You can use") != NULL, "countdown prompt: TinyZero's wording");
    size_t n = strlen(prompt);
    ok(n > 7 && strcmp(prompt + n - 7, "<think>") == 0, "countdown prompt ends with <think>");
    ok(strncmp(text, prompt, n) == 0, "the text starts with the prompt");
    const char *last = strrchr(text, '\n');
    ok(last && strncmp(last, "\n<answer>", 9) == 0 && strstr(last, "</answer>") &&
           strcmp(strstr(last, "</answer>"), "</answer>") == 0,
       "the answer is alone on the last line");
    is_str(sol.answer, "44-(35-19)", "the answer of 44 19 35 -> 28");

    struct pd_task_problem m = { .kind = PD_TASK_ARITH, .n = 2, .nums = { 347, 28 },
                                 .op = '*', .target = 9716 };
    pd_task_prompt(&m, prompt, sizeof prompt);
    ok(strstr(prompt, "<answer> answer here </answer>. User: Give me the answer of the "
                      "following equation: 347 * 28 = Assistant: Ok let me think about it.\n"
                      "<think>") != NULL, "arith prompt: the R1-Zero sentence, then TinyZero's");
    pd_task_params_default(&p, PD_TASK_ARITH);
    p.slip_rate = 0;
    ok(pd_task_solve(&p, &m, &sol, err) == 0 && strcmp(sol.answer, "9716") == 0,
       "347*28 is 9716");
    diag("347*28:");
    diag_lines(sol.think);

    struct pd_task_problem no = { .kind = PD_TASK_COUNTDOWN, .n = 3, .nums = { 1, 1, 1 },
                                  .target = 100 };
    is_int(pd_task_solve(&p, &no, &sol, err), PD_EINVAL, "1 1 1 -> 100 is refused");
    p.cd_min_nums = 5;
    is_int(pd_task_params_check(&p, err), PD_EINVAL, "5 numbers are refused: %s", err);
}

/* The chat style: the question through ponder's r1-zero template, the model opening <think>;
 * scored the same way. */
static void
check_chat_style(void)
{
    struct pd_task_params p;
    pd_task_params_default(&p, PD_TASK_COUNTDOWN);
    p.slip_rate = 0;
    struct pd_task_problem pr = { .kind = PD_TASK_COUNTDOWN, .n = 3, .nums = { 44, 19, 35 },
                                  .target = 28 };
    char err[PD_ERR_MAX], prompt[PD_TASK_PROMPT_MAX], q[256];
    static char completion[PD_TASK_TEXT_MAX];
    ok(pd_task_question(&pr, q, sizeof q) == 0 &&
           strcmp(q, "Using the numbers [44, 19, 35], create an equation that equals 28") == 0,
       "the countdown question alone: %s", q);
    struct pd_chat_msg msg = { "user", q };
    char *want = pd_template_apply(PD_TEMPLATE_R1_ZERO, &msg, 1, true, NULL, NULL);
    ok(pd_task_style_prompt(PD_TASK_STYLE_CHAT, &pr, prompt, sizeof prompt) == 0 && want &&
           strcmp(prompt, want) == 0, "the chat prompt is what the r1-zero template renders");
    free(want);
    size_t n = strlen(prompt);
    ok(n > 11 && strcmp(prompt + n - 11, " Assistant:") == 0, "it ends with \" Assistant:\"");
    ok(!pd_task_style_opens_think(PD_TASK_STYLE_CHAT) &&
           pd_task_style_opens_think(PD_TASK_STYLE_TINYZERO),
       "only TinyZero's prompts open <think>");
    ok(pd_task_solve(&p, &pr, &sol, err) == 0 &&
           pd_task_style_completion(PD_TASK_STYLE_CHAT, &sol, completion, sizeof completion) == 0 &&
           strncmp(completion, " <think>\n", 9) == 0,
       "the chat completion opens <think> itself");
    ok(pd_task_score(&pr, completion, strlen(completion), true) == 1.0,
       "and scores 1.0 as a completion");
    struct pd_task_problem m = { .kind = PD_TASK_ARITH, .n = 2, .nums = { 347, 28 },
                                 .op = '*', .target = 9716 };
    ok(pd_task_question(&m, q, sizeof q) == 0 && strcmp(q, "What is 347 * 28") == 0,
       "the arithmetic question alone: %s", q);
    enum pd_task_style st;
    ok(pd_task_style_parse("tinyzero", &st) == 0 && st == PD_TASK_STYLE_TINYZERO &&
           pd_task_style_parse("chat", &st) == 0 && st == PD_TASK_STYLE_CHAT &&
           pd_task_style_parse("other", &st) == PD_EINVAL,
       "styles by name");
}

int
main(void)
{
    check_determinism(PD_TASK_COUNTDOWN);
    check_determinism(PD_TASK_ARITH);
    check_pinned();
    check_split(PD_TASK_COUNTDOWN, 20000, 2000);
    check_split(PD_TASK_ARITH, 20000, 2000);
    check_split_rate();
    check_tasks(PD_TASK_COUNTDOWN, 0.2, 4000);
    check_tasks(PD_TASK_COUNTDOWN, 0.0, 500);
    check_tasks(PD_TASK_COUNTDOWN, 1.0, 500);
    check_tasks(PD_TASK_ARITH, 0.2, 4000);
    check_tasks(PD_TASK_ARITH, 1.0, 500);
    check_audit();
    check_countdown_scores();
    check_arith_scores();
    check_expr();
    check_find();
    check_texts();
    check_chat_style();
    return exit_status();
}
