/*
 * task-score.c: answer extraction and TinyZero's scoring (grpo.md 3.3 and 3.4), the same code
 * for evaluation, for `ponder task score` and for GRPO's rewards.
 *
 * Python's str.strip() and re's \d and \s know Unicode; here only ASCII counts. The scores agree
 * anyway: an answer with a non-ASCII digit or space fails Python's eval (countdown: 0.1 both
 * ways) and int() of it is rare enough to leave aside (arith: documented difference).
 */
#include "config.h"

#include "engine/train/task.h"

#include <math.h>
#include <string.h>

#define SCORE_NONE 0.0
#define SCORE_FORMAT 0.1
#define SCORE_RIGHT 1.0

/* Python's str.isspace() on ASCII. */
static bool
py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static const char *
find_bytes(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

int
pd_task_answer_find(const char *text, size_t len, const char **ans, size_t *ans_len)
{
    static const char open[] = "<answer>", close[] = "</answer>";
    const size_t no = sizeof open - 1, nc = sizeof close - 1;
    const char *end = text + len, *best = NULL, *best_end = NULL;
    const char *p = text;
    /* re.finditer: at each position try "<answer>" then the nearest "</answer>" before any
     * newline; after a match go on from its end, else from the next character. */
    while ((p = find_bytes(p, (size_t)(end - p), open)) != NULL) {
        const char *body = p + no, *q = body;
        while (q < end && *q != '\n' && !((size_t)(end - q) >= nc && memcmp(q, close, nc) == 0))
            q++;
        if (q < end && *q != '\n') {
            best = body;
            best_end = q;
            p = q + nc;
        } else {
            p++;
        }
    }
    if (best == NULL)
        return PD_ENOTFOUND;
    while (best < best_end && py_space((unsigned char)*best))
        best++;
    while (best_end > best && py_space((unsigned char)best_end[-1]))
        best_end--;
    *ans = best;
    *ans_len = (size_t)(best_end - best);
    return 0;
}

int
pd_task_after_assistant(const char *text, size_t len, bool im_start, const char **rest,
                        size_t *rest_len)
{
    const char *marks[2] = { "Assistant:", "<|im_start|>assistant" };
    for (int i = 0; i < (im_start ? 2 : 1); i++) {
        const char *m = find_bytes(text, len, marks[i]);
        if (m) {
            *rest = m + strlen(marks[i]);
            *rest_len = len - (size_t)(*rest - text);
            return 0;
        }
    }
    return PD_ENOTFOUND;
}

/* ---- countdown ---------------------------------------------------------------------------- */

static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* re.findall(r'\d+') as integers, sorted, equal to the sorted numbers? */
static bool
uses_numbers(const char *s, size_t n, const int *nums, int count)
{
    long long got[PD_TASK_MAX_NUMS + 1], want[PD_TASK_MAX_NUMS];
    int k = 0;
    for (size_t i = 0; i < n;) {
        if (!(s[i] >= '0' && s[i] <= '9')) {
            i++;
            continue;
        }
        long long v = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            v = v < 1000000000000LL ? v * 10 + (s[i] - '0') : v;   /* huge stays huge */
        if (k == count)
            return false;   /* one run too many */
        got[k++] = v;
    }
    if (k != count || count > PD_TASK_MAX_NUMS)
        return false;
    for (int i = 0; i < count; i++)
        want[i] = nums[i];
    qsort(got, (size_t)k, sizeof got[0], cmp_ll);
    qsort(want, (size_t)count, sizeof want[0], cmp_ll);
    return memcmp(got, want, (size_t)count * sizeof got[0]) == 0;
}

/* re.match(r'^[\d+\-*\/().\s]+$') */
static bool
allowed_chars(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || strchr("+-*/().", c) || py_space(c)) || c == '\0')
            return false;
    }
    return true;
}

/* compute_score once the text after "Assistant:" is known. */
static double
score_countdown(const char *text, size_t len, const int *nums, int n, long long target)
{
    const char *nl = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == '\n') {
            nl = text + i - 1;
            break;
        }
    const char *line = nl ? nl + 1 : text;   /* split('\n')[-1] */
    const char *eq;
    size_t eq_len;
    if (pd_task_answer_find(line, len - (size_t)(line - text), &eq, &eq_len))
        return SCORE_NONE;
    if (!uses_numbers(eq, eq_len, nums, n) || !allowed_chars(eq, eq_len))
        return SCORE_FORMAT;
    double v;
    if (pd_task_expr_eval(eq, eq_len, &v))
        return SCORE_FORMAT;
    return fabs(v - (double)target) < 1e-5 ? SCORE_RIGHT : SCORE_FORMAT;
}

double
pd_task_score_countdown_text(const char *text, size_t len, const int *nums, int n,
                             long long target)
{
    const char *rest;
    size_t rest_len;
    if (pd_task_after_assistant(text, len, true, &rest, &rest_len))
        return SCORE_NONE;
    return score_countdown(rest, rest_len, nums, n, target);
}

double
pd_task_score_countdown_completion(const char *text, size_t len, const int *nums, int n,
                                   long long target)
{
    return score_countdown(text, len, nums, n, target);
}

/* ---- arithmetic --------------------------------------------------------------------------- */

/* Python's int() of a stripped string: [+-] digits with single underscores between digits.
 * Writes the sign and the digits without leading zeros ("0" for zero) into out. */
static bool
py_int(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, k = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return false;
    bool any = false;
    for (; i < n; i++) {
        if (s[i] == '_') {
            if (!any || i + 1 == n || s[i + 1] == '_')
                return false;
            continue;
        }
        if (!(s[i] >= '0' && s[i] <= '9'))
            return false;
        any = true;
        if (k == 0 && s[i] == '0')
            continue;
        if (k + 2 >= cap)
            return false;   /* longer than any gold here: wrong either way */
        out[1 + k++] = s[i];
    }
    if (!any)
        return false;
    if (k == 0)
        out[1 + k++] = '0', neg = false;
    out[0] = neg ? '-' : '+';
    out[1 + k] = '\0';
    return true;
}

static double
score_arith(const char *text, size_t len, const char *gold)
{
    const char *ans;
    size_t ans_len;
    char got[96], want[96];
    if (pd_task_answer_find(text, len, &ans, &ans_len) ||
        !py_int(ans, ans_len, got, sizeof got))
        return SCORE_NONE;   /* multiply.py: an answer that int() refuses counts as none */
    if (!py_int(gold, strlen(gold), want, sizeof want))
        return SCORE_FORMAT;
    return strcmp(got, want) == 0 ? SCORE_RIGHT : SCORE_FORMAT;
}

double
pd_task_score_arith_text(const char *text, size_t len, const char *gold)
{
    const char *rest;
    size_t rest_len;
    if (pd_task_after_assistant(text, len, false, &rest, &rest_len))
        return SCORE_NONE;
    return score_arith(rest, rest_len, gold);
}

double
pd_task_score_arith_completion(const char *text, size_t len, const char *gold)
{
    return score_arith(text, len, gold);
}

double
pd_task_score(const struct pd_task_problem *pr, const char *text, size_t len,
              bool completion_only)
{
    if (pr->kind == PD_TASK_COUNTDOWN)
        return completion_only
                   ? pd_task_score_countdown_completion(text, len, pr->nums, pr->n, pr->target)
                   : pd_task_score_countdown_text(text, len, pr->nums, pr->n, pr->target);
    char gold[32];
    pd_task_gold(pr, gold, sizeof gold);
    return completion_only ? pd_task_score_arith_completion(text, len, gold)
                           : pd_task_score_arith_text(text, len, gold);
}
