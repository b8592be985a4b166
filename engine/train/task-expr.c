/*
 * task-expr.c: the expression evaluator TinyZero's countdown scorer needs, in place of Python's
 * eval(). Within the characters the scorer lets through ([0-9+-*()/. and white space]) it
 * accepts what Python accepts and computes what Python computes:
 *
 *   sum     := term (("+" | "-") term)*
 *   term    := unary (("*" | "/" | "//") unary)*
 *   unary   := ("+" | "-") unary | power
 *   power   := primary ["**" unary]          -2**2 is -4; 2**-1 is 0.5; 2**3**2 is 512
 *   primary := NUMBER | "(" sum ")"
 *
 * NUMBER is Python's: 12, 0, 00, 1.5, 1., .5; "012" is a syntax error. White space is blanks,
 * tabs and form feeds. Where Python raises (division by zero, 0 to a negative power, float
 * overflow, a complex result) this returns an error; either way the scorer gives 0.1.
 *
 * Values are doubles. Python's integers are exact at any size: the two differ only for
 * intermediate values beyond 2^53, which three or four numbers below 100 do not reach
 * without "**".
 */
#include "config.h"

#include "engine/train/task.h"

#include <math.h>

struct expr {
    const char *s, *end;
    int depth;
    int err;
};

enum { EXPR_MAX_DEPTH = 200 };   /* Python's parser gives up near 200 nested parentheses */

static void
skip_space(struct expr *e)
{
    while (e->s < e->end && (*e->s == ' ' || *e->s == '\t' || *e->s == '\f'))
        e->s++;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* At the current character, after blanks: the operator text op? Consumes it when it matches
 * (and, for "*" and "/", when the character after is not the same, which makes "**", "//"). */
static bool
accept(struct expr *e, const char *op)
{
    skip_space(e);
    size_t n = op[1] ? 2 : 1;
    if ((size_t)(e->end - e->s) < n || e->s[0] != op[0] || (n == 2 && e->s[1] != op[1]))
        return false;
    if (n == 1 && (op[0] == '*' || op[0] == '/') && e->end - e->s >= 2 && e->s[1] == op[0])
        return false;
    e->s += n;
    return true;
}

static double
fail(struct expr *e, int status)
{
    if (!e->err)
        e->err = status;
    return 0.0;
}

static double
checked(struct expr *e, double v)
{
    return isfinite(v) ? v : fail(e, PD_ERANGE);
}

static double parse_sum(struct expr *e);
static double parse_unary(struct expr *e);

static double
parse_number(struct expr *e)
{
    const char *p = e->s, *start = p;
    size_t int_digits = 0, frac_digits = 0;
    while (p < e->end && is_digit(*p))
        p++, int_digits++;
    bool dot = p < e->end && *p == '.';
    if (dot) {
        p++;
        while (p < e->end && is_digit(*p))
            p++, frac_digits++;
    }
    if (int_digits + frac_digits == 0)
        return fail(e, PD_EFORMAT);
    if (!dot && int_digits > 1 && start[0] == '0') {
        for (const char *q = start; q < p; q++)   /* "00" is zero; "012" is refused */
            if (*q != '0')
                return fail(e, PD_EFORMAT);
    }
    /* All the digits as one integer, then one division: correctly rounded while the digits fit
     * in 53 bits (strtod would follow the locale's decimal point). */
    double v = 0.0, div = 1.0;
    for (const char *q = start; q < p; q++) {
        if (*q == '.')
            continue;
        v = v * 10.0 + (*q - '0');
        if (q > start + int_digits)
            div *= 10.0;
    }
    v = checked(e, v / div);
    e->s = p;
    return v;
}

static double
parse_primary(struct expr *e)
{
    skip_space(e);
    if (e->s >= e->end)
        return fail(e, PD_EFORMAT);
    if (*e->s == '(') {
        if (++e->depth > EXPR_MAX_DEPTH)
            return fail(e, PD_EFORMAT);
        e->s++;
        double v = parse_sum(e);
        if (!accept(e, ")"))
            return fail(e, PD_EFORMAT);
        e->depth--;
        return v;
    }
    if (is_digit(*e->s) || *e->s == '.')
        return parse_number(e);
    return fail(e, PD_EFORMAT);
}

static double
power(struct expr *e, double base, double ex)
{
    if (base == 0.0 && ex < 0.0)
        return fail(e, PD_ERANGE);     /* ZeroDivisionError */
    if (base < 0.0 && ex != floor(ex))
        return fail(e, PD_ERANGE);     /* Python gives a complex number */
    return checked(e, pow(base, ex));
}

static double
parse_power(struct expr *e)
{
    double base = parse_primary(e);
    if (e->err || !accept(e, "**"))
        return base;
    double ex = parse_unary(e);
    return e->err ? 0.0 : power(e, base, ex);
}

static double
parse_unary(struct expr *e)
{
    if (++e->depth > EXPR_MAX_DEPTH)   /* "-----...": bounded like parentheses */
        return fail(e, PD_EFORMAT);
    double v;
    if (accept(e, "-"))
        v = -parse_unary(e);
    else if (accept(e, "+"))
        v = parse_unary(e);
    else
        v = parse_power(e);
    e->depth--;
    return v;
}

static double
parse_term(struct expr *e)
{
    double v = parse_unary(e);
    while (!e->err) {
        if (accept(e, "*")) {
            v = checked(e, v * parse_unary(e));
        } else if (accept(e, "//")) {
            double d = parse_unary(e);
            v = d == 0.0 ? fail(e, PD_ERANGE) : checked(e, floor(v / d));
        } else if (accept(e, "/")) {
            double d = parse_unary(e);
            v = d == 0.0 ? fail(e, PD_ERANGE) : checked(e, v / d);
        } else {
            break;
        }
    }
    return v;
}

static double
parse_sum(struct expr *e)
{
    double v = parse_term(e);
    while (!e->err) {
        if (accept(e, "+"))
            v = checked(e, v + parse_term(e));
        else if (accept(e, "-"))
            v = checked(e, v - parse_term(e));
        else
            break;
    }
    return v;
}

int
pd_task_expr_eval(const char *s, size_t len, double *out)
{
    struct expr e = { .s = s, .end = s + len };
    double v = parse_sum(&e);
    skip_space(&e);
    if (!e.err && e.s != e.end)
        e.err = PD_EFORMAT;   /* something left over: "2 3", "2)" */
    if (e.err)
        return e.err;
    *out = v;
    return 0;
}
