/*
 * test-sampler.c: the sampler chain on hand-built logits.
 *
 * Distributions are built as logits = log(p), so the expected outcome of each truncation can be
 * worked out by hand. Every draw uses a fixed seed, so the statistical checks are deterministic.
 */
#include "config.h"

#include "engine/sampler.h"
#include "tests/tap.h"

#include <math.h>

#define N_DRAWS 20000

static struct pd_sampler_params
params_plain(float temp)
{
    struct pd_sampler_params p;
    pd_sampler_params_default(&p);
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

static void
logits_from_probs(float *logits, const double *probs, int n)
{
    for (int i = 0; i < n; i++)
        logits[i] = probs[i] > 0 ? (float)log(probs[i]) : -INFINITY;
}

/* Draw N_DRAWS tokens and count them in counts[n]. */
static void
count_draws(const struct pd_sampler_params *p, const float *logits, int n, long *counts)
{
    struct pd_sampler *s = pd_sampler_new(p, n);
    for (int i = 0; i < n; i++)
        counts[i] = 0;
    for (int i = 0; i < N_DRAWS; i++)
        counts[pd_sampler_sample(s, logits, NULL, NULL)]++;
    pd_sampler_free(s);
}

/* Bitmask of the tokens drawn at least once. */
static unsigned
seen_mask(const struct pd_sampler_params *p, const float *logits, int n)
{
    long counts[32];
    unsigned mask = 0;
    count_draws(p, logits, n, counts);
    for (int i = 0; i < n; i++)
        if (counts[i])
            mask |= 1u << i;
    return mask;
}

static void
test_greedy(void)
{
    float logits[] = {1.0f, 5.0f, 3.0f, 5.0f, -INFINITY};
    struct pd_sampler_params p = params_plain(0.0f);
    struct pd_sampler *s = pd_sampler_new(&p, 5);
    is_int(pd_sampler_sample(s, logits, NULL, NULL), 1, "greedy: argmax, lowest id on a tie");
    logits[3] = 5.5f;
    is_int(pd_sampler_sample(s, logits, NULL, NULL), 3, "greedy: argmax moves with the logits");
    pd_sampler_free(s);

    float all_inf[] = {-INFINITY, -INFINITY, -INFINITY};
    p = params_plain(1.0f);
    s = pd_sampler_new(&p, 3);
    is_int(pd_sampler_sample(s, all_inf, NULL, NULL), 0, "all -inf: token 0, no crash");
    pd_sampler_free(s);
}

/* n draws from a sampler seeded with seed over a fixed 16-entry distribution. */
static void
draw_sequence(uint64_t seed, int32_t *out, int n)
{
    float logits[16];
    for (int i = 0; i < 16; i++)
        logits[i] = (float)(i % 5) * 0.3f;
    struct pd_sampler_params p = params_plain(1.0f);
    p.seed = seed;
    struct pd_sampler *s = pd_sampler_new(&p, 16);
    for (int i = 0; i < n; i++)
        out[i] = pd_sampler_sample(s, logits, NULL, NULL);
    pd_sampler_free(s);
}

static void
test_seed(void)
{
    int32_t a[200], b[200], c[200];
    draw_sequence(42, a, 200);
    draw_sequence(42, b, 200);
    draw_sequence(43, c, 200);
    ok(memcmp(a, b, sizeof a) == 0, "same seed: same sequence");
    ok(memcmp(a, c, sizeof a) != 0, "different seed: different sequence");
}

static void
test_frequencies(void)
{
    const double probs[] = {0.5, 0.25, 0.15, 0.1};
    float logits[4];
    long counts[4];
    logits_from_probs(logits, probs, 4);
    struct pd_sampler_params p = params_plain(1.0f);
    count_draws(&p, logits, 4, counts);
    double chi2 = 0;
    for (int i = 0; i < 4; i++) {
        double e = probs[i] * N_DRAWS;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    /* 3 degrees of freedom: P(chi2 > 16.27) = 0.001. */
    ok(chi2 < 16.27, "temp 1 frequencies match the distribution (chi2 %.2f)", chi2);

    /* temp 0.5 squares the probabilities: 0.25 : 0.0625 : 0.0225 : 0.01. */
    p.temp = 0.5f;
    count_draws(&p, logits, 4, counts);
    double z = 0.25 + 0.0625 + 0.0225 + 0.01, sharp = 0.25 / z;
    ok(fabs((double)counts[0] / N_DRAWS - sharp) < 0.02, "temp 0.5 sharpens (p0 %.3f, want %.3f)",
       (double)counts[0] / N_DRAWS, sharp);
}

static void
test_top_k(void)
{
    enum { N = 1000 };
    static float logits[N];
    struct pd_sampler_params pk = params_plain(1.0f), pg = params_plain(0.0f);
    pk.top_k = 1;
    struct pd_sampler *sk = pd_sampler_new(&pk, N), *sg = pd_sampler_new(&pg, N);
    uint32_t x = 12345;
    int same = 1;
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < N; i++) {
            x = x * 1664525u + 1013904223u;
            logits[i] = (float)(x >> 8) / (float)(1 << 24) * 10.0f;
        }
        if (trial % 10 == 0)
            logits[trial * 7] = logits[trial * 7 + 1] = 11.0f; /* tie at the top */
        same &= pd_sampler_sample(sk, logits, NULL, NULL) == pd_sampler_sample(sg, logits, NULL, NULL);
    }
    ok(same, "top-k 1 equals greedy, ties included");
    pd_sampler_free(sk);
    pd_sampler_free(sg);

    const double probs[] = {0.1, 0.3, 0.05, 0.25, 0.2, 0.1};
    float l6[6];
    logits_from_probs(l6, probs, 6);
    pk.top_k = 3;
    is_int(seen_mask(&pk, l6, 6), (1 << 1) | (1 << 3) | (1 << 4), "top-k 3 keeps the three best");
}

static void
test_top_p(void)
{
    /* Sorted: 0.4, 0.3, 0.2 (cum 0.9 crosses 0.85), then 0.06, 0.04. */
    const double probs[] = {0.06, 0.4, 0.2, 0.04, 0.3};
    float logits[5];
    logits_from_probs(logits, probs, 5);
    struct pd_sampler_params p = params_plain(1.0f);
    p.top_p = 0.85f;
    is_int(seen_mask(&p, logits, 5), (1 << 1) | (1 << 4) | (1 << 2), "top-p 0.85: nucleus of 3");
    p.top_p = 0.35f;
    is_int(seen_mask(&p, logits, 5), 1 << 1, "top-p 0.35: the top token alone");

    /* A flat vocabulary of 10000 forces the growing head all the way: cum reaches 0.50005 at the
     * 5001st token (ids 0..5000, ties ordered by id). */
    enum { N = 10000 };
    static float flat[N];
    for (int i = 0; i < N; i++)
        flat[i] = 0.0f;
    p.top_p = 0.50005f;
    struct pd_sampler *s = pd_sampler_new(&p, N);
    int32_t max_id = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        int32_t t = pd_sampler_sample(s, flat, NULL, NULL);
        max_id = t > max_id ? t : max_id;
    }
    ok(max_id <= 5000 && max_id > 4900, "top-p on a flat vocabulary: ids 0..5000 (max %d)",
       (int)max_id);
    pd_sampler_free(s);
}

static void
test_min_p(void)
{
    /* min_p 0.15 of p_max 0.5: keep p >= 0.075. */
    const double probs[] = {0.04, 0.5, 0.06, 0.3, 0.1};
    float logits[5];
    logits_from_probs(logits, probs, 5);
    struct pd_sampler_params p = params_plain(1.0f);
    p.min_p = 0.15f;
    is_int(seen_mask(&p, logits, 5), (1 << 1) | (1 << 3) | (1 << 4), "min-p 0.15 cut");

    /* With top-p too the shorter prefix wins: top-p 0.7 stops at 0.5 + 0.3. */
    p.top_p = 0.7f;
    is_int(seen_mask(&p, logits, 5), (1 << 1) | (1 << 3), "min-p with top-p: shorter prefix");
    p.top_p = 0.99f;
    is_int(seen_mask(&p, logits, 5), (1 << 1) | (1 << 3) | (1 << 4),
           "min-p with a loose top-p: min-p decides");
}

static void
test_penalty(void)
{
    float logits[] = {2.0f, 1.8f, -1.0f, -1.2f, -5.0f, -5.0f, -5.0f};
    struct pd_sampler_params p = params_plain(0.0f);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 2;
    struct pd_sampler *s = pd_sampler_new(&p, 7);
    pd_sampler_accept(s, 0);
    is_int(pd_sampler_sample(s, logits, NULL, NULL), 1, "penalty: positive logit divided");
    pd_sampler_accept(s, 1);
    logits[0] = logits[1] = -10.0f;
    /* -1.0 * 1.5 = -1.5 now loses to -1.2 */
    pd_sampler_accept(s, 2);
    is_int(pd_sampler_sample(s, logits, NULL, NULL), 3, "penalty: negative logit multiplied");
    pd_sampler_accept(s, 5);
    pd_sampler_accept(s, 6);
    is_int(pd_sampler_sample(s, logits, NULL, NULL), 2, "penalty: only the last repeat_last_n");
    pd_sampler_free(s);

    /* Three repeats of token 0 at 1.1: once gives 1.818 > 1.8, three times would give 1.50. */
    float l2[] = {2.0f, 1.8f};
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 64;
    s = pd_sampler_new(&p, 2);
    for (int i = 0; i < 3; i++)
        pd_sampler_accept(s, 0);
    is_int(pd_sampler_sample(s, l2, NULL, NULL), 0, "penalty: each distinct token once");
    p.repeat_penalty = 1.2f;
    pd_sampler_free(s);
    s = pd_sampler_new(&p, 2);
    pd_sampler_accept(s, 0);
    is_int(pd_sampler_sample(s, l2, NULL, NULL), 1, "penalty 1.2 flips the argmax");
    pd_sampler_reset(s);
    is_int(pd_sampler_sample(s, l2, NULL, NULL), 0, "reset forgets the history");
    pd_sampler_free(s);
}

/* Reference statistics in double, the two-pass way. */
static void
stats_ref(const float *logits, int n, double *lse, double *h)
{
    double m = -INFINITY, sum = 0, ent = 0;
    for (int i = 0; i < n; i++)
        m = logits[i] > m ? logits[i] : m;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - m);
    *lse = m + log(sum);
    for (int i = 0; i < n; i++) {
        double lp = (double)logits[i] - *lse;
        if (logits[i] > -INFINITY)
            ent -= exp(lp) * lp;
    }
    *h = ent;
}

static void
check_stats(float *logits, int n, float temp, const char *what)
{
    struct pd_sampler_params p;
    pd_sampler_params_default(&p);
    p.temp = temp;
    struct pd_sampler *s = pd_sampler_new(&p, n);
    float lp = 0, h = 0;
    int32_t t = pd_sampler_sample(s, logits, &lp, &h);
    double lse, href;
    stats_ref(logits, n, &lse, &href);
    double lpref = (double)logits[t] - lse;
    ok(fabs(lp - lpref) < 1e-4 && fabs(h - href) < 1e-4 * (1 + href),
       "%s: logprob %.6f (want %.6f), entropy %.6f (want %.6f)", what, lp, lpref, h, href);
    pd_sampler_free(s);
}

static void
test_stats(void)
{
    enum { N = 4096 };
    static float logits[N];
    uint32_t x = 777;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        logits[i] = (float)(x >> 8) / (float)(1 << 24) * 12.0f - 6.0f;
    }
    check_stats(logits, N, 0.0f, "stats, greedy");
    check_stats(logits, N, 0.7f, "stats, sampled");
    for (int i = 0; i < N; i += 3)
        logits[i] = -INFINITY;
    check_stats(logits, N, 1.0f, "stats with -inf logits");
    for (int i = 0; i < N; i++)
        logits[i] = logits[i] * 1000.0f + 5000.0f; /* huge and peaked: must not overflow */
    check_stats(logits, N, 0.6f, "stats on huge logits");

    float one[] = {-INFINITY, 3.0f, -INFINITY};
    float lse, h;
    pd_logits_stats(one, 3, &lse, &h);
    ok(lse == 3.0f && h == 0.0f, "a single finite logit: lse is it, entropy 0");
    float none[] = {-INFINITY, -INFINITY};
    pd_logits_stats(none, 2, &lse, &h);
    ok(isinf(lse) && lse < 0 && h == 0.0f, "all -inf: lse -inf, entropy 0");
    float uni[] = {1.0f, 1.0f, 1.0f, 1.0f};
    pd_logits_stats(uni, 4, &lse, &h);
    ok(fabsf(h - logf(4.0f)) < 1e-6f, "uniform over 4: entropy log 4");
}

/* ---- sampling from candidates (the head of the row a GPU sends back) ---- */

static uint64_t
lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

/* A logits row: noise, a few hot tokens that the penalty keeps pushing down, ties, -inf. */
static void
random_row(float *l, int n, uint64_t *x)
{
    for (int i = 0; i < n; i++)
        l[i] = (float)(lcg(x) % 4000) / 400.0f - 5.0f;
    for (int i = 0; i < 6; i++)
        l[(int)(lcg(x) % 12)] += 6.0f;
    l[n - 1] = l[n - 2];   /* a tie: the lower id first */
    l[(int)(lcg(x) % (uint64_t)n)] = -INFINITY;
}

/* Two samplers with the same settings and seed, one fed the whole row, one its candidates:
 * steps draws (each accepted into both histories, as generation does) give the same tokens,
 * log-probabilities and entropies. */
static void
check_candidates(const struct pd_sampler_params *p, const char *what)
{
    enum { N = 3000, STEPS = 400 };
    static float logits[N];
    static int32_t ids[PD_CANDIDATES_MAX];
    static float vals[PD_CANDIDATES_MAX];
    struct pd_sampler *a = pd_sampler_new(p, N), *b = pd_sampler_new(p, N);
    uint64_t x = 99;
    int same = 0, needed_ok = 1, distinct = 0;
    int32_t last = -1;
    for (int step = 0; step < STEPS; step++) {
        random_row(logits, N, &x);
        int32_t k = pd_sampler_candidates_needed(b);
        if (k <= 0) {
            needed_ok = 0;
            break;
        }
        struct pd_candidates c = { .ids = ids, .logits = vals };
        pd_candidates_from_logits(&c, logits, N, k);
        float lpa, ha, lpb, hb;
        int32_t ta = pd_sampler_sample(a, logits, &lpa, &ha);
        int32_t tb = pd_sampler_sample_candidates(b, &c, &lpb, &hb);
        same += ta == tb && lpa == lpb && ha == hb;
        distinct += ta != last;
        last = ta;
        pd_sampler_accept(a, ta);
        pd_sampler_accept(b, ta);
    }
    ok(needed_ok && same == STEPS && distinct > 1, "%s: %d of %d draws the same from candidates",
       what, same, STEPS);
    pd_sampler_free(a);
    pd_sampler_free(b);
}

static void
test_candidates(void)
{
    struct pd_sampler_params p = params_plain(0.0f);
    check_candidates(&p, "greedy");
    p.repeat_penalty = 1.3f;
    check_candidates(&p, "greedy with a repetition penalty");
    pd_sampler_params_default(&p);
    check_candidates(&p, "the defaults (temp 0.6, top-k 40, top-p 0.95, min-p 0.05)");
    p.repeat_penalty = 1.5f;
    p.top_k = 5;
    check_candidates(&p, "top-k 5 with a penalty over the last 64");
    p = params_plain(1.5f);
    p.top_k = 100;
    p.top_p = 0.5f;
    check_candidates(&p, "temp 1.5, top-k 100, top-p 0.5");
    p = params_plain(1.0f);
    p.top_k = 30;
    check_candidates(&p, "temp 1, top-k 30 alone (the draw's order is top-k's)");
    p.min_p = 0.02f;
    check_candidates(&p, "temp 1, top-k 30, min-p 0.02");

    struct pd_sampler *s;
    p = params_plain(0.8f);
    s = pd_sampler_new(&p, 1000);
    is_int(pd_sampler_candidates_needed(s), 0, "top-k off above temperature 0: the whole row");
    pd_sampler_free(s);
    p.top_k = 40;
    p.repeat_penalty = 0.8f;
    s = pd_sampler_new(&p, 1000);
    is_int(pd_sampler_candidates_needed(s), 40, "a penalty below 1 and no history: top-k");
    pd_sampler_accept(s, 3);
    is_int(pd_sampler_candidates_needed(s), 0, "with history: the whole row (it raises logits)");
    pd_sampler_free(s);

    float row[] = { 1.0f, 3.0f, NAN, 3.0f, -INFINITY, 2.0f };
    int32_t ci[4];
    float cv[4];
    struct pd_candidates c = { .ids = ci, .logits = cv };
    pd_candidates_from_logits(&c, row, 6, 4);
    ok(c.n == 4 && ci[0] == 1 && ci[1] == 3 && ci[2] == 5 && ci[3] == 0 && cv[2] == 2.0f,
       "candidates: likeliest first, equal logits by id, NaN never taken");
    pd_candidates_from_logits(&c, row + 2, 3, 4);
    ok(c.n == 2 && ci[0] == 1 && ci[1] == 2, "a row with fewer usable logits gives fewer");
}

int
main(void)
{
    plan(40);
    test_greedy();
    test_seed();
    test_frequencies();
    test_top_k();
    test_top_p();
    test_min_p();
    test_penalty();
    test_stats();
    test_candidates();
    return exit_status();
}
