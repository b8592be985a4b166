/*
 * test-eval.c: the arithmetic of `ponder eval` (engine/train/eval.h) on crafted completions, no
 * model needed: scores and votes as the task's scorer reads the answer, the majority and its
 * ties, "wait" as a word, seeds, Wilson and normal intervals, and the totals of two problems.
 */
#include "config.h"

#include "engine/train/eval.h"
#include "tests/tap.h"

#include <math.h>
#include <string.h>

static const struct pd_task_problem countdown = {
    .kind = PD_TASK_COUNTDOWN, .split = PD_TASK_TEST, .n = 3, .nums = { 44, 19, 35 },
    .target = 28,
};
static const struct pd_task_problem arith = {
    .kind = PD_TASK_ARITH, .split = PD_TASK_TEST, .n = 2, .nums = { 23, 532 }, .op = '*',
    .target = 12236,
};

static bool
near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* text with its line breaks written \n, for a one-line test name */
static const char *
one_line(const char *text)
{
    static char buf[256];
    size_t k = 0;
    for (; *text && k + 3 < sizeof buf; text++) {
        if (*text == '\n')
            buf[k++] = '\\', buf[k++] = 'n';
        else
            buf[k++] = *text;
    }
    buf[k] = '\0';
    return buf;
}

/* The vote, rightness and score of a completion. */
static void
vote_is(const struct pd_task_problem *pr, const char *completion, const char *want_key,
        bool want_right, double want_score)
{
    struct pd_eval_trace t;
    pd_eval_trace_fill(pr, completion, strlen(completion), "", 0, &t);
    is_str(t.key, want_key, "%s: vote of '%s'", pd_task_kind_name(pr->kind),
           one_line(completion));
    ok(t.key_right == want_right && t.score == want_score, "  right %d (want %d), score %.1f "
       "(want %.1f)", t.key_right, want_right, t.score, want_score);
}

static void
test_votes(void)
{
    vote_is(&countdown, "\nok</think>\n<answer>44-(35-19)</answer>", "=28", true, 1.0);
    vote_is(&countdown, "<answer> (44 - 35) + 19 </answer>", "=28", true, 1.0);
    vote_is(&countdown, "<answer>44+35-19</answer>", "~60", false, 0.1);
    vote_is(&countdown, "<answer>30-2</answer>", "~28", false, 0.1);        /* wrong numbers */
    vote_is(&countdown, "<answer>44/(35-19)</answer>", "~2.75", false, 0.1);
    vote_is(&countdown, "<answer>44 - (35 </answer>", "?44-(35", false, 0.1);
    vote_is(&countdown, "<answer>44-35-19</answer>", "~-10", false, 0.1);
    vote_is(&countdown, "I give up", "", false, 0.0);
    /* the scorer reads the last line only: an answer above it is none */
    vote_is(&countdown, "<answer>44-(35-19)</answer>\nthat is all", "", false, 0.0);
    vote_is(&countdown, "<answer>1</answer> <answer>19+(44-35)</answer>", "=28", true, 1.0);

    vote_is(&arith, "\n23*532</think>\n<answer>12236</answer>", "12236", true, 1.0);
    vote_is(&arith, "<answer>012_236</answer>", "12236", true, 1.0);
    vote_is(&arith, "<answer>+12236</answer>\nmore text", "12236", true, 1.0);
    vote_is(&arith, "<answer>-0</answer>", "0", false, 0.1);
    vote_is(&arith, "<answer>-12</answer>", "-12", false, 0.1);
    vote_is(&arith, "<answer>12,236</answer>", "", false, 0.0);
    vote_is(&arith, "<answer>1__2</answer>", "", false, 0.0);
    vote_is(&arith, "<answer>12236", "", false, 0.0);

    const char *ans;
    size_t n;
    const char *c = "<answer>7</answer>\n<answer> 44-(35-19) </answer>";
    ok(pd_eval_answer(&countdown, c, strlen(c), &ans, &n) == 0 && n == 10 &&
       memcmp(ans, "44-(35-19)", n) == 0, "the answer the countdown scorer reads");
    c = "<answer>7</answer>\nso</think>";
    ok(pd_eval_answer(&arith, c, strlen(c), &ans, &n) == 0 && n == 1 && *ans == '7',
       "arith reads the last answer anywhere");
    ok(pd_eval_answer(&countdown, c, strlen(c), &ans, &n) == PD_ENOTFOUND,
       "countdown finds none off the last line");
}

static void
test_wait(void)
{
    static const struct { const char *text; bool want; } cases[] = {
        { "Wait, 3+4 is 7", true }, { "so... wait.", true }, { "WAIT", true },
        { "x=wait(1)", true }, { "\nWait\n", true }, { "it awaited", false },
        { "Waiting for it", false }, { "wait_for", false }, { "waitwait", false },
        { "wai", false }, { "", false }, { "2wait", false }, { "no w-a-i-t", false },
        { "caf\xc3\xa9 wait \xc3\xa9", true },
    };
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        ok(pd_eval_has_wait(cases[i].text, strlen(cases[i].text)) == cases[i].want,
           "wait in '%s': %s", one_line(cases[i].text), cases[i].want ? "yes" : "no");
    is_int(pd_eval_utf8_chars("h\xc3\xa9llo", 6), 5, "characters, not bytes");

    struct pd_eval_trace t;
    const char *think = "\n44+19=63. Wait, 63-35=28.\n";
    char completion[256];
    snprintf(completion, sizeof completion, "%s</think>\n<answer>44+19-35</answer>", think);
    pd_eval_trace_fill(&countdown, completion, strlen(completion), think, strlen(think), &t);
    ok(t.score == 1.0 && t.wait && t.think_chars == (int32_t)strlen(think),
       "a whole trace: right, with a wait, its think length");
}

static void
keys(struct pd_eval_trace *t, const char *const *k, int n)
{
    for (int i = 0; i < n; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(t[i].key, sizeof t[i].key, "%s", k[i]);
        t[i].key_right = k[i][0] == '=';
        t[i].score = k[i][0] == '=' ? 1.0 : k[i][0] ? 0.1 : 0.0;
    }
}

static void
test_majority(void)
{
    struct pd_eval_trace t[8];
    int votes;
    const char *tie[] = { "", "~60", "=28", "=28", "~60" };
    keys(t, tie, 5);
    is_int(pd_eval_majority(t, 5, &votes), 1, "a tie goes to the group that voted first");
    is_int(votes, 2, "  with its 2 votes");
    const char *most[] = { "~1", "=28", "?x", "=28", "", "" };
    keys(t, most, 6);
    is_int(pd_eval_majority(t, 6, &votes), 1, "the largest group wins, abstentions aside");
    const char *none[] = { "", "", "" };
    keys(t, none, 3);
    is_int(pd_eval_majority(t, 3, &votes), -1, "no vote: no winner");
    is_int(votes, 0, "  and no votes");
    const char *wrong[] = { "~3", "~3", "~3", "=28", "=28" };
    keys(t, wrong, 5);
    is_int(pd_eval_majority(t, 5, NULL), 0, "a wrong majority beats right answers");
}

static void
test_seeds_and_intervals(void)
{
    uint64_t a = pd_eval_seed(1, 0, 0);
    ok(a == pd_eval_seed(1, 0, 0), "a seed repeats");
    ok(a != pd_eval_seed(2, 0, 0) && pd_eval_seed(1, 0, 1) != pd_eval_seed(1, 1, 0) &&
       pd_eval_seed(1, 2, 3) != pd_eval_seed(1, 3, 2), "and differs with seed, problem, sample");

    double lo, hi;
    pd_eval_wilson(0, 10, PD_EVAL_Z95, &lo, &hi);
    ok(lo == 0 && fabs(hi - 0.2775327998628892) < 1e-12, "Wilson 0/10: [0, 0.2775]");
    pd_eval_wilson(5, 10, PD_EVAL_Z95, &lo, &hi);
    ok(fabs(lo - 0.236593090512564) < 1e-12 && fabs(hi - 0.7634069094874361) < 1e-12,
       "Wilson 5/10: [0.2366, 0.7634]");
    pd_eval_wilson(3, 3, PD_EVAL_Z95, &lo, &hi);
    ok(fabs(lo - 0.4385029682449546) < 1e-12 && hi == 1, "Wilson 3/3: [0.4385, 1]");
    pd_eval_wilson(0, 0, PD_EVAL_Z95, &lo, &hi);
    ok(near(lo, 0) && near(hi, 1), "Wilson of nothing: [0, 1]");
    pd_eval_normal(0.5, 0.5, 100, PD_EVAL_Z95, &lo, &hi);
    ok(fabs(lo - (0.5 - 0.0979981992)) < 1e-9 && fabs(hi - (0.5 + 0.0979981992)) < 1e-9,
       "normal: 0.5 +- 1.96 * 0.5 / 10");
    pd_eval_normal(0.05, 0.5, 100, PD_EVAL_Z95, &lo, &hi);
    ok(near(lo, 0), "normal: clipped at 0");
    pd_eval_normal(0.5, 0.5, 1, PD_EVAL_Z95, &lo, &hi);
    ok(near(lo, 0) && near(hi, 1), "normal of one problem: [0, 1]");
}

static void
test_totals(void)
{
    struct pd_eval_acc acc = { 0 };
    struct pd_eval_trace p1[4], p2[4], g1, g2;
    const char *k1[] = { "=28", "~3", "=28", "" };    /* 2 right of 4: 0.5; the vote is right */
    const char *k2[] = { "~3", "~3", "", "" };        /* 0 of 4; the vote is wrong */
    keys(p1, k1, 4);
    keys(p2, k2, 4);
    for (int i = 0; i < 4; i++) {
        p1[i].think_tokens = 10 + i, p1[i].think_chars = 40, p1[i].n_tokens = 20;
        p2[i].think_tokens = 0, p2[i].think_chars = 0, p2[i].n_tokens = 5;
        p2[i].wait = i == 0;
    }
    g1 = p1[0], g2 = p2[0];
    ok(pd_eval_acc_add(&acc, p1, 4, &g1), "problem 1: the majority is right");
    ok(!pd_eval_acc_add(&acc, p2, 4, &g2), "problem 2: the majority is wrong");
    struct pd_eval_summary s;
    pd_eval_summarize(&acc, &s);
    ok(s.n_problems == 2 && s.n_samples == 8, "2 problems, 8 samples");
    ok(near(s.pass1, 0.25), "pass@1 is the mean of 0.5 and 0 (%g)", s.pass1);
    ok(near(s.pass1_se, 0.25), "its standard error: sd sqrt(0.125) over sqrt(2) (%g)",
       s.pass1_se);
    ok(near(s.pass1_lo, 0) && fabs(s.pass1_hi - 0.7399909961350135) < 1e-12,
       "its interval: [0, 0.25 + 1.96 * 0.25] (%g, %g)", s.pass1_lo, s.pass1_hi);
    ok(near(s.greedy, 0.5) && near(s.cons, 0.5), "greedy 1 of 2, cons 1 of 2");
    ok(fabs(s.cons_lo - 0.09453120573423074) < 1e-12 && fabs(s.greedy_hi - 0.9054687942657693)
       < 1e-12, "with Wilson intervals");
    ok(near(s.right_rate, 2.0 / 8) && near(s.format_rate, 3.0 / 8) && near(s.none_rate, 3.0 / 8),
       "rates over the 8 traces: right 2, format 3, none 3");
    ok(near(s.wait_rate, 1.0 / 8), "wait 1 of 8");
    ok(near(s.think_tokens, 46.0 / 8) && near(s.think_chars, 160.0 / 8),
       "mean think tokens %g and characters %g", s.think_tokens, s.think_chars);

    struct pd_eval_acc same = { 0 };
    pd_eval_acc_add(&same, p2, 4, NULL);
    pd_eval_acc_add(&same, p2, 4, NULL);
    pd_eval_summarize(&same, &s);
    ok(near(s.pass1, 0) && near(s.pass1_lo, 0) && near(s.pass1_hi, 0) && near(s.greedy, 0),
       "all problems alike: a point interval; no greedy counts 0");
    struct pd_eval_acc empty = { 0 };
    pd_eval_summarize(&empty, &s);
    ok(s.n_problems == 0 && s.pass1 == 0, "nothing added: zeros");
}

int
main(void)
{
    plan(83);
    test_votes();
    test_wait();
    test_majority();
    test_seeds_and_intervals();
    test_totals();
    return exit_status();
}
