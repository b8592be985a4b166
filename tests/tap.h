/*
 * tap.h: a tiny Test Anything Protocol producer for ponder's unit tests.
 *
 *   plan(3);                      or plan_skip_all("no model: set PONDER_TEST_MODEL");
 *   ok(x == 1, "x is one");
 *   is_int(got, want, "count");
 *   is_str(got, want, "name");
 *   return exit_status();         non-zero when any test failed or the plan was not met
 *
 * Header-only: each test program includes it once.
 */
#ifndef PD_TAP_H
#define PD_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

/* No plan up front: done_testing() prints it at the end. */
static inline void
done_testing(void)
{
    if (tap_planned < 0) {
        tap_planned = tap_run;
        printf("1..%d\n", tap_run);
    }
    fflush(stdout); /* a sanitizer that fails the exit must not eat the plan */
}

static inline void
plan_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    fprintf(stderr, "SKIP: %s\n", why);
    exit(0);
}

static inline void
diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline int
ok_(int cond, const char *fmt, va_list ap)
{
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_run);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline int __attribute__((format(printf, 2, 3)))
ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = ok_(cond, fmt, ap);
    va_end(ap);
    return r;
}

#define is_int(got, want, ...)                                                          \
    do {                                                                                \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                \
        if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                                         \
            diag("  got %lld, want %lld", tap_g_, tap_w_);                              \
    } while (0)

#define is_str(got, want, ...)                                                          \
    do {                                                                                \
        const char *tap_g_ = (got), *tap_w_ = (want);                                   \
        int tap_c_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0;                   \
        if (!ok(tap_c_, __VA_ARGS__))                                                   \
            diag("  got \"%s\", want \"%s\"", tap_g_ ? tap_g_ : "(null)",               \
                 tap_w_ ? tap_w_ : "(null)");                                           \
    } while (0)

static inline int
exit_status(void)
{
    done_testing();
    if (tap_run != tap_planned) {
        printf("# planned %d tests but ran %d\n", tap_planned, tap_run);
        return 1;
    }
    return tap_failed ? 1 : 0;
}

/* Path of a file under the source tree's tests/ (fixtures), from $top_srcdir. */
static inline const char *
test_path(const char *rel)
{
    static char buf[4096];
    const char *top = getenv("top_srcdir");
    snprintf(buf, sizeof buf, "%s/tests/%s", top ? top : ".", rel);
    return buf;
}

/* The real test model: $PONDER_TEST_MODEL, else SmolLM2 where tests/fetch-model puts it. */
static inline const char *
test_model_path(void)
{
    const char *env = getenv("PONDER_TEST_MODEL");
    return env && *env ? env : test_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
}

#endif
