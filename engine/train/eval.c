/*
 * eval.c: a completion's score and vote, the majority, and the totals of an evaluation
 * (eval.h). Scores come from the task module's scorers, so evaluation, `ponder task score` and
 * GRPO's rewards can never disagree; the vote reads the same answer the scorer reads.
 */
#include "config.h"

#include "engine/train/eval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- one completion ----------------------------------------------------------------------- */

static bool
ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

int
pd_eval_answer(const struct pd_task_problem *pr, const char *completion, size_t len,
               const char **ans, size_t *ans_len)
{
    const char *from = completion;
    if (pr->kind == PD_TASK_COUNTDOWN) {
        /* TinyZero's countdown scorer keeps only the last line (split('\n')[-1]). */
        for (size_t i = len; i > 0; i--)
            if (completion[i - 1] == '\n') {
                from = completion + i;
                break;
            }
    }
    return pd_task_answer_find(from, len - (size_t)(from - completion), ans, ans_len);
}

/* Python's int() of an answer as a canonical decimal: "-12", "407", "0". False when int()
 * would refuse it or it is too long to be any answer here. */
static bool
int_key(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, k = 0;
    bool neg = false, any = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (cap < 3)
        return false;
    out[k++] = '-';
    for (; i < n; i++) {
        if (s[i] == '_') {   /* single underscores between digits only */
            if (!any || i + 1 == n || s[i + 1] == '_')
                return false;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return false;
        any = true;
        if (k == 1 && s[i] == '0')
            continue;   /* leading zero */
        if (k + 1 >= cap)
            return false;
        out[k++] = s[i];
    }
    if (!any)
        return false;
    if (k == 1) {
        out[k++] = '0';
        neg = false;   /* -0 is 0 */
    }
    out[k] = '\0';
    if (!neg)
        memmove(out, out + 1, k);
    return true;
}

void
pd_eval_vote(const struct pd_task_problem *pr, const char *completion, size_t len, char *key,
             size_t cap, bool *right)
{
    const char *ans;
    size_t n;
    *right = false;
    key[0] = '\0';
    if (cap < 2 || pd_eval_answer(pr, completion, len, &ans, &n))
        return;
    if (pr->kind == PD_TASK_ARITH) {
        char gold[32];
        if (!int_key(ans, n, key, cap)) {
            key[0] = '\0';   /* the scorer's 0: no answer, no vote */
            return;
        }
        snprintf(gold, sizeof gold, "%lld", pr->target);
        *right = strcmp(key, gold) == 0;
        return;
    }
    double v;
    if (pd_task_score_countdown_completion(completion, len, pr->nums, pr->n, pr->target) ==
        1.0) {
        snprintf(key, cap, "=%lld", pr->target);
        *right = true;
    } else if (pd_task_expr_eval(ans, n, &v) == 0) {
        snprintf(key, cap, "~%.9g", v == 0 ? 0.0 : v);   /* -0 and 0 vote together */
    } else {
        size_t k = 0;
        key[k++] = '?';
        for (size_t i = 0; i < n && k + 1 < cap; i++)
            if (!ascii_space((unsigned char)ans[i]))
                key[k++] = ans[i];
        key[k] = '\0';
    }
}

static bool
word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

bool
pd_eval_has_wait(const char *text, size_t len)
{
    static const char w[] = "wait";
    for (size_t i = 0; i + 4 <= len; i++) {
        size_t j = 0;
        while (j < 4 && (text[i + j] | 0x20) == w[j])
            j++;
        if (j < 4)
            continue;
        if ((i == 0 || !word_char((unsigned char)text[i - 1])) &&
            (i + 4 == len || !word_char((unsigned char)text[i + 4])))
            return true;
    }
    return false;
}

size_t
pd_eval_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

void
pd_eval_trace_fill(const struct pd_task_problem *pr, const char *completion, size_t len,
                   const char *think, size_t think_len, struct pd_eval_trace *t)
{
    t->score = pd_task_score(pr, completion, len, true);
    pd_eval_vote(pr, completion, len, t->key, sizeof t->key, &t->key_right);
    t->wait = pd_eval_has_wait(think, think_len);
    t->think_chars = (int32_t)PD_MIN(pd_eval_utf8_chars(think, think_len), (size_t)INT32_MAX);
}

/* ---- a problem's samples ------------------------------------------------------------------ */

int
pd_eval_majority(const struct pd_eval_trace *t, int n, int *votes)
{
    int best = -1, best_votes = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].key[0] == '\0')
            continue;
        bool seen = false;   /* counted already with an earlier member of its group */
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(t[j].key, t[i].key) == 0;
        if (seen)
            continue;
        int c = 0;
        for (int j = i; j < n; j++)
            c += strcmp(t[j].key, t[i].key) == 0;
        if (c > best_votes) {   /* strictly more: a tie keeps the group that voted first */
            best = i;
            best_votes = c;
        }
    }
    if (votes)
        *votes = best_votes;
    return best;
}

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t
pd_eval_seed(uint64_t seed, uint64_t problem, uint64_t sample)
{
    return splitmix64(splitmix64(splitmix64(seed) ^ problem) ^ sample);
}

/* ---- intervals ---------------------------------------------------------------------------- */

void
pd_eval_wilson(long k, long n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = (double)k / (double)n, z2 = z * z, nn = (double)n;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    /* at k = 0 and k = n one bound is exactly 0 or 1; rounding would leave 5e-17 */
    *lo = k <= 0 ? 0.0 : PD_MAX(0.0, centre - half);
    *hi = k >= n ? 1.0 : PD_MIN(1.0, centre + half);
}

void
pd_eval_normal(double mean, double sd, long n, double z, double *lo, double *hi)
{
    if (n < 2) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double half = z * sd / sqrt((double)n);
    *lo = PD_MAX(0.0, mean - half);
    *hi = PD_MIN(1.0, mean + half);
}

/* ---- totals ------------------------------------------------------------------------------- */

bool
pd_eval_acc_add(struct pd_eval_acc *a, const struct pd_eval_trace *samples, int k,
                const struct pd_eval_trace *greedy)
{
    int right = 0;
    for (int i = 0; i < k; i++) {
        const struct pd_eval_trace *t = &samples[i];
        right += t->score == 1.0;
        a->format += t->score > 0 && t->score < 1.0;
        a->none += t->score <= 0;
        a->wait += t->wait;
        a->think_tokens += t->think_tokens;
        a->think_chars += t->think_chars;
        a->tokens += t->n_tokens;
    }
    double p = k > 0 ? (double)right / k : 0;
    a->n_problems++;
    a->n_samples += k;
    a->right += right;
    a->sum_p += p;
    a->sum_p2 += p * p;
    if (greedy) {
        a->greedy_right += greedy->score == 1.0;
        a->greedy_tokens += greedy->n_tokens;
    }
    int w = pd_eval_majority(samples, k, NULL);
    bool cons = w >= 0 && samples[w].key_right;
    a->cons_right += cons;
    return cons;
}

void
pd_eval_summarize(const struct pd_eval_acc *a, struct pd_eval_summary *s)
{
    memset(s, 0, sizeof *s);
    s->n_problems = a->n_problems;
    s->n_samples = a->n_samples;
    if (a->n_problems == 0)
        return;
    double n = (double)a->n_problems;
    s->pass1 = a->sum_p / n;
    double sd = 0;
    if (a->n_problems > 1) {
        /* the sample variance of the per-problem accuracies; rounding can leave it just
         * below zero when they are all equal */
        double var = (a->sum_p2 - n * s->pass1 * s->pass1) / (n - 1);
        sd = var > 1e-15 ? sqrt(var) : 0;
    }
    s->pass1_se = a->n_problems > 1 ? sd / sqrt(n) : 0;
    pd_eval_normal(s->pass1, sd, a->n_problems, PD_EVAL_Z95, &s->pass1_lo, &s->pass1_hi);
    s->greedy = a->greedy_right / n;
    pd_eval_wilson(a->greedy_right, a->n_problems, PD_EVAL_Z95, &s->greedy_lo, &s->greedy_hi);
    s->cons = a->cons_right / n;
    pd_eval_wilson(a->cons_right, a->n_problems, PD_EVAL_Z95, &s->cons_lo, &s->cons_hi);
    if (a->n_samples > 0) {
        double m = (double)a->n_samples;
        s->right_rate = a->right / m;
        s->format_rate = a->format / m;
        s->none_rate = a->none / m;
        s->wait_rate = a->wait / m;
        s->think_tokens = (double)a->think_tokens / m;
        s->think_chars = (double)a->think_chars / m;
    }
}
