/*
 * task-arith.c: multi-digit sums and products: the generator and the solver's column work.
 *
 * The trace for 347 * 28:
 *
 *   347*8: 7*8=56, 6. 4*8+5=37, 76. 3*8+3=27, 2776.          one line per partial product:
 *   347*2: 7*2=14, 4. 4*2+1=9, 94. 3*2+0=6, 694. So 347*20=6940.   digit by digit, the
 *   2776+6940: 6+0=6, 6. 7+4=11, 16. 7+9+1=17, 716. 2+6+1=9, 9716.   digits so far after
 *   So 347*28=9716.                                                each step, the carry the
 *   Nines: 3+4+7=14, 1+4=5; 2+8=10, 1+0=1; 5*1=5; 9+7+1+6=23, 2+3=5. Same.   tens of it
 *
 * A sum is one column line ("4738+596: 8+6=14, 4. 3+9+1=13, 34. ...") and the same check.
 * Casting out nines is the check by another method: every slip the solver makes (one step's
 * result off by one) moves the result by a power of ten, which nines always sees. Then the
 * solver says so ("Wait, 347*28 is not 9816. Again:") and does the whole work again.
 */
#include "config.h"

#include "engine/train/task-impl.h"

#include <string.h>

int
task_arith_draw(const struct pd_task_params *p, struct task_rng *r, struct pd_task_problem *out)
{
    memset(out, 0, sizeof *out);
    out->kind = PD_TASK_ARITH;
    out->n = 2;
    if (task_rng_range(r, 1, 100) <= p->mul_percent) {
        out->op = '*';
        out->nums[0] = task_rng_digits(r, task_rng_range(r, p->mul_min_digits_a,
                                                         p->mul_max_digits_a));
        out->nums[1] = task_rng_digits(r, task_rng_range(r, p->mul_min_digits_b,
                                                         p->mul_max_digits_b));
        out->target = (long long)out->nums[0] * out->nums[1];
    } else {
        out->op = '+';
        for (int i = 0; i < 2; i++)
            out->nums[i] = task_rng_digits(r, task_rng_range(r, p->add_min_digits,
                                                             p->add_max_digits));
        out->target = (long long)out->nums[0] + out->nums[1];
    }
    return 0;
}

/* ---- the work ------------------------------------------------------------------------------ */

struct ar_work {
    struct task_buf *b;
    int step;        /* digit steps done so far */
    int slip_at;     /* the step that slips, or -1 */
    int slip_delta;  /* +1 or -1 */
};

/* The step's true value v, or v slipped when this is the step. */
static long long
step_value(struct ar_work *w, long long v)
{
    long long out = v;
    if (w->step == w->slip_at)
        out = v == 0 ? 1 : v + w->slip_delta;
    w->step++;
    return out;
}

/* Prepend the text of v to the digits so far (in digits[0..*len)). */
static void
prepend(char *digits, size_t *len, long long v, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    if (*len + (size_t)n + 1 > cap)
        return;   /* cannot happen for operands of up to 8 digits */
    memmove(digits + n, digits, *len + 1);
    memcpy(digits, tmp, (size_t)n);
    *len += (size_t)n;
}

static int
n_digits(long long v)
{
    int n = 1;
    while (v >= 10)
        v /= 10, n++;
    return n;
}

static int
digit_at(long long v, int i)
{
    while (i-- > 0)
        v /= 10;
    return (int)(v % 10);
}

/* "x+y: 8+6=14, 4. 3+9+1=13, 34. ..." Returns the sum as computed (slips included). */
static long long
add_columns(struct ar_work *w, long long x, long long y)
{
    char digits[48] = "";
    size_t len = 0;
    int cols = PD_MAX(n_digits(x), n_digits(y));
    long long carry = 0;
    tb_printf(w->b, "%lld+%lld:", x, y);
    for (int i = 0; i < cols; i++) {
        int dx = digit_at(x, i), dy = digit_at(y, i);
        long long v = step_value(w, dx + dy + carry);
        tb_printf(w->b, " %d+%d", dx, dy);
        if (carry)
            tb_printf(w->b, "+%lld", carry);
        prepend(digits, &len, i + 1 == cols ? v : v % 10, sizeof digits);
        tb_printf(w->b, "=%lld, %s.", v, digits);
        carry = v / 10;
    }
    tb_puts(w->b, "\n");
    return strtoll(digits, NULL, 10);
}

/* "x*d: 7*8=56, 6. 4*8+5=37, 76. ..." for one digit d of the multiplier at position pos, and
 * "So x*d0=P." when pos > 0. Returns the partial product, shifted, as computed. */
static long long
partial(struct ar_work *w, long long x, int d, int pos)
{
    long long shift = 1;
    for (int i = 0; i < pos; i++)
        shift *= 10;
    if (d == 0) {
        tb_printf(w->b, "%lld*0=0.\n", x);
        return 0;
    }
    char digits[48] = "";
    size_t len = 0;
    int n = n_digits(x);
    long long carry = 0;
    tb_printf(w->b, "%lld*%d:", x, d);
    for (int i = 0; i < n; i++) {
        int e = digit_at(x, i);
        long long v = step_value(w, (long long)e * d + carry);
        tb_printf(w->b, " %d*%d", e, d);
        if (carry)
            tb_printf(w->b, "+%lld", carry);
        prepend(digits, &len, i + 1 == n ? v : v % 10, sizeof digits);
        tb_printf(w->b, "=%lld, %s.", v, digits);
        carry = v / 10;
    }
    long long p = strtoll(digits, NULL, 10);
    if (pos > 0)
        tb_printf(w->b, " So %lld*%lld=%lld.", x, d * shift, p * shift);
    tb_puts(w->b, "\n");
    return p * shift;
}

/* The whole computation, written; returns the result as computed. */
static long long
work(struct ar_work *w, const struct pd_task_problem *pr)
{
    long long a = pr->nums[0], b = pr->nums[1], result;
    if (pr->op == '+') {
        result = add_columns(w, a, b);
    } else {
        long long parts[16];
        int n = 0;
        for (int pos = 0; pos < n_digits(b); pos++) {
            int d = digit_at(b, pos);
            long long p = partial(w, a, d, pos);
            if (d != 0)   /* a zero digit adds nothing: left out of the sums */
                parts[n++] = p;
        }
        result = n ? parts[0] : 0;
        for (int i = 1; i < n; i++)
            result = add_columns(w, result, parts[i]);
    }
    tb_printf(w->b, "So %lld%c%lld=%lld.\n", a, pr->op, b, result);
    return result;
}

/* ---- the check: casting out nines ------------------------------------------------------------ */

/* "4+7+3+8=22, 2+2=4": digit sums down to one digit; returns it (v > 0). */
static int
nines_write(struct task_buf *b, long long v)
{
    if (v < 10) {
        tb_printf(b, "%lld", v);
        return (int)v;
    }
    for (bool first = true; v >= 10; first = false) {
        char t[32];
        snprintf(t, sizeof t, "%lld", v);
        long long sum = 0;
        tb_puts(b, first ? "" : ", ");
        for (int i = 0; t[i]; i++) {
            tb_printf(b, "%s%c", i ? "+" : "", t[i]);
            sum += t[i] - '0';
        }
        tb_printf(b, "=%lld", sum);
        v = sum;
    }
    return (int)v;
}

/* The residue the result must have: "4+2=6" or "7*8=56, 5+6=11, 1+1=2". */
static int
nines_combine(struct task_buf *b, int ra, char op, int rb)
{
    int v = op == '+' ? ra + rb : ra * rb;
    tb_printf(b, "%d%c%d=%d", ra, op, rb, v);
    if (v < 10)
        return v;
    tb_puts(b, ", ");
    return nines_write(b, v);
}

/* ---- the solver ------------------------------------------------------------------------------- */

int
task_arith_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
                 struct pd_task_solution *out, char *err)
{
    if (pr->n != 2 || (pr->op != '+' && pr->op != '*') || pr->nums[0] <= 0 || pr->nums[1] <= 0)
        return pd_errorf(err, PD_EINVAL, "arith: want two positive operands and + or *");
    struct task_rng rng;
    task_rng_seed(&rng, pr->seed, 0x52);
    bool slip = task_rng_chance(&rng, p->slip_rate);

    /* A dry run counts the digit steps, so the slip can fall on any one of them. */
    char scratch[PD_TASK_THINK_MAX];
    struct task_buf b;
    tb_init(&b, scratch, sizeof scratch);
    struct ar_work w = { .b = &b, .slip_at = -1 };
    long long right = work(&w, pr);
    int steps = w.step;

    tb_init(&b, out->think, sizeof out->think);
    w = (struct ar_work){ .b = &b, .slip_at = slip ? task_rng_range(&rng, 0, steps - 1) : -1,
                          .slip_delta = task_rng_chance(&rng, 0.5) ? 1 : -1 };
    long long got = work(&w, pr);
    tb_puts(&b, "Nines: ");
    int ra = nines_write(&b, pr->nums[0]);
    tb_puts(&b, "; ");
    int rb = nines_write(&b, pr->nums[1]);
    tb_puts(&b, "; ");
    int want = nines_combine(&b, ra, pr->op, rb);
    tb_puts(&b, "; ");
    int have = nines_write(&b, got);
    if (have != want) {
        /* Only a slip gets here, and every slip does (it moves the result by 10^k). */
        tb_printf(&b, ". %d is not %d. Wait, %d%c%d is not %lld. Again:\n", have, want,
                  pr->nums[0], pr->op, pr->nums[1], got);
        w = (struct ar_work){ .b = &b, .slip_at = -1 };
        got = work(&w, pr);
        tb_puts(&b, "Nines: ");
        have = nines_write(&b, got);
        out->slips = 1;
    }
    tb_puts(&b, have == want ? ". Same.\n" : ". Not the same.\n");
    snprintf(out->answer, sizeof out->answer, "%lld", got);
    if (got != right || right != pr->target)
        return pd_errorf(err, PD_EINVAL, "arith: %d%c%d worked out as %lld, not %lld",
                         pr->nums[0], pr->op, pr->nums[1], got, pr->target);
    if (b.overflow)
        return pd_errorf(err, PD_ERANGE, "arith: the trace does not fit in %zu bytes",
                         sizeof out->think);
    return 0;
}
