/*
 * eval.h: scoring and aggregating an evaluation on the tasks with checkable answers
 * (engine/train/task.h), the arithmetic behind `ponder eval`, apart from any model so it can be
 * tested on crafted completions.
 *
 * One completion becomes a pd_eval_trace: its TinyZero score (the task's completion-only
 * scorer: 0 no answer, 0.1 wrong or invalid, 1.0 right), its vote for the majority, whether its
 * thoughts hold the word "wait", and its lengths. A problem's K sampled traces and its greedy
 * trace go into a pd_eval_acc; pd_eval_summarize turns the totals into the reported numbers.
 *
 * The numbers (N problems, K samples each):
 *   pass@1   mean over problems of c_i / K (c_i: samples scoring 1.0), with a 95% interval by
 *            the normal approximation over problems of the per-problem mean: mean +- 1.96 s/sqrt(N),
 *            s the sample standard deviation of the N values c_i / K (the samples of one problem
 *            are not independent, the problems are), clipped to [0, 1]. When every problem has
 *            the same value the interval is that point; with N < 2 it is [0, 1].
 *   greedy   share of problems whose temperature-0 completion scores 1.0; Wilson score interval.
 *   cons@K   share of problems whose majority vote over the K samples is right; Wilson interval.
 *   rates    over the N*K sampled traces: right (score 1.0), format-only (0.1), no answer (0),
 *            "wait" (the thoughts hold it as a word, any case), mean think tokens and characters.
 *
 * The vote (pd_eval_vote): a trace without an answer (score 0) abstains. Countdown answers
 * (the last <answer> of the last line, as the scorer reads it) are grouped by what they are
 * worth: every right answer (numbers used exactly once, value within 1e-5 of the target) in the
 * group "=T"; any other that evaluates in the group of its value "~V" (V to 9 significant
 * digits; an expression using the wrong numbers that happens to reach T is "~T", not right);
 * one that does not evaluate by its text without white space, "?TEXT". Arithmetic answers
 * (the last <answer>, an integer as Python's int() reads it) are grouped by their value
 * ("-12", "407": sign, no leading zeros, no underscores); right when equal to the gold. The
 * largest group wins; a tie goes to the group whose first vote came first (sample order). No
 * vote at all counts as wrong.
 */
#ifndef PD_EVAL_H
#define PD_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"
#include "engine/train/task.h"

#define PD_EVAL_KEY_MAX 80
#define PD_EVAL_Z95 1.959963984540054   /* the two-sided 95% normal quantile */

/* What one completion came to. */
struct pd_eval_trace {
    double score;                /* the task's completion scorer: 0, 0.1 or 1.0 */
    char key[PD_EVAL_KEY_MAX];   /* its vote; "" abstains */
    bool key_right;              /* the vote is for a right answer */
    bool wait;                   /* the think text holds "wait" as a word */
    int32_t n_tokens;            /* tokens generated (the caller's) */
    int32_t think_tokens;        /* of them, in the think segment (the caller's) */
    int32_t think_chars;         /* UTF-8 characters of the think text */
};

/* Score completion[0..len) for pr and fill every field but n_tokens and think_tokens, which
 * only the generator knows. think[0..think_len) is the think segment's text. */
void pd_eval_trace_fill(const struct pd_task_problem *pr, const char *completion, size_t len,
                        const char *think, size_t think_len, struct pd_eval_trace *t);

/* The answer the scorer of pr's task reads in completion (countdown: the last <answer> of the
 * last line; arith: the last <answer>), stripped. 0, or PD_ENOTFOUND. */
int pd_eval_answer(const struct pd_task_problem *pr, const char *completion, size_t len,
                   const char **ans, size_t *ans_len);

/* The vote of completion for pr (the rule above) into key (cap bytes; "" abstains); *right
 * whether it is a vote for a right answer. */
void pd_eval_vote(const struct pd_task_problem *pr, const char *completion, size_t len,
                  char *key, size_t cap, bool *right);

/* The trace whose vote wins among t[0..n): the first trace of the winning group, or -1 when
 * none voted. *votes (may be NULL) the size of that group. */
int pd_eval_majority(const struct pd_eval_trace *t, int n, int *votes);

/* Whether text holds "wait" in any case as a whole word (no ASCII letter, digit or underscore
 * on either side, as re's \b sees ASCII): "Wait," and "wait." count, "awaited" and
 * "Waiting" do not. */
bool pd_eval_has_wait(const char *text, size_t len);

/* Characters of UTF-8 text (bytes that do not continue a character). */
size_t pd_eval_utf8_chars(const char *s, size_t len);

/* The sampling seed of sample number sample of problem number problem under the run's seed:
 * splitmix64 of the three, so neighbouring seeds and indices give unrelated streams. */
uint64_t pd_eval_seed(uint64_t seed, uint64_t problem, uint64_t sample);

/* Wilson score interval of k successes in n trials at quantile z ([0, 1] when n is 0). */
void pd_eval_wilson(long k, long n, double z, double *lo, double *hi);

/* Normal interval mean +- z sd / sqrt(n), clipped to [0, 1] ([0, 1] when n < 2). */
void pd_eval_normal(double mean, double sd, long n, double z, double *lo, double *hi);

/* Running totals of one task. Zero it to start. */
struct pd_eval_acc {
    long n_problems;
    long n_samples;                 /* sampled traces */
    double sum_p, sum_p2;           /* per-problem accuracy c_i / K, and its square */
    long greedy_right, cons_right;
    long right, format, none, wait; /* sampled traces by score; with a "wait" */
    long long think_tokens, think_chars, tokens;   /* over sampled traces */
    long long greedy_tokens;
};

/* Add one problem: its k >= 1 sampled traces and its greedy trace (NULL: none). Returns
 * whether the majority vote of the samples is right. */
bool pd_eval_acc_add(struct pd_eval_acc *a, const struct pd_eval_trace *samples, int k,
                     const struct pd_eval_trace *greedy);

struct pd_eval_summary {
    long n_problems, n_samples;
    double pass1, pass1_se, pass1_lo, pass1_hi;
    double greedy, greedy_lo, greedy_hi;
    double cons, cons_lo, cons_hi;
    double right_rate, format_rate, none_rate, wait_rate;   /* over sampled traces */
    double think_tokens, think_chars;                        /* means over sampled traces */
};

/* The reported numbers of a (all zero when no problem was added). */
void pd_eval_summarize(const struct pd_eval_acc *a, struct pd_eval_summary *s);

#endif
