/*
 * sampler.c: the token sampler (see sampler.h for the chain and its order).
 *
 * Memory is planned once in pd_sampler_new: one block holds the sampler, a candidate array of
 * n_vocab (logit, prob, id) triples, a byte per vocabulary entry to mark tokens already penalized,
 * and the ring of the last repeat_last_n accepted tokens. pd_sampler_sample allocates nothing.
 *
 * Candidates are ordered by a total order, logit descending then id ascending, so every
 * selection and sort is deterministic and ties never degrade quickselect. NaN logits count as
 * -inf.
 *
 * Truncation follows llama.cpp: top-k, then top-p and min-p on the softmax (temperature 1) of what
 * top-k kept, then the temperature only shapes the final draw. Top-p and min-p both keep a prefix
 * of the sorted candidates and top-p's probabilities are not renormalized after min-p, so the
 * min-p cut can run first as a linear partition: the kept set is the shorter of the two prefixes
 * either way. Top-p then sorts only a growing head found by partial selection (64, 256, ...
 * candidates) until that head holds top_p of the mass, so the vocabulary is sorted whole only
 * when the distribution is that flat.
 */
#include "config.h"

#include "engine/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    float logit;
    float p; /* softmax at temperature 1 over the candidates top-k kept */
    int32_t id;
};

struct pd_sampler {
    struct pd_sampler_params params;
    int32_t n_vocab;
    uint64_t rng[4];      /* xoshiro256** state */
    struct cand *cands;   /* [n_vocab] */
    unsigned char *mark;  /* [n_vocab], all zero between calls */
    int32_t *hist;        /* ring of the last hist_cap accepted tokens */
    int32_t hist_cap;
    int32_t hist_len;
    int32_t hist_pos;     /* next slot to write */
};

/* ---- the generator: xoshiro256** seeded through splitmix64 ---- */

static uint64_t
splitmix64_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(uint64_t s[4])
{
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static void
rng_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64_next(&x);
}

/* ---- construction ---- */

/* The values sampler.h lists; fills every field. */
void
pd_sampler_params_default(struct pd_sampler_params *p)
{
    p->temp = 0.6f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0x5eed;
}

static size_t
align_up(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* One block: the struct, then cands, hist and mark, each 16-byte aligned. Returns NULL on a
 * nonsensical size or allocation failure. Caller frees with pd_sampler_free. */
struct pd_sampler *
pd_sampler_new(const struct pd_sampler_params *p, int32_t n_vocab)
{
    if (!p || n_vocab <= 0)
        return NULL;
    size_t cap = p->repeat_last_n > 0 ? (size_t)p->repeat_last_n : 0;
    size_t off_cands = align_up(sizeof(struct pd_sampler));
    size_t off_hist = off_cands + align_up((size_t)n_vocab * sizeof(struct cand));
    size_t off_mark = off_hist + align_up(cap * sizeof(int32_t));
    size_t total = off_mark + align_up((size_t)n_vocab);

    char *base = calloc(1, total);
    if (!base)
        return NULL;
    struct pd_sampler *s = (struct pd_sampler *)base;
    s->params = *p;
    s->n_vocab = n_vocab;
    s->cands = (struct cand *)(base + off_cands);
    s->hist = (int32_t *)(base + off_hist);
    s->mark = (unsigned char *)(base + off_mark);
    s->hist_cap = (int32_t)cap;
    rng_seed(s->rng, p->seed);
    return s;
}

/* Accepts NULL. */
void
pd_sampler_free(struct pd_sampler *s)
{
    free(s);
}

/* Tokens outside [0, n_vocab) are ignored. With repeat_last_n <= 0 nothing is kept. */
void
pd_sampler_accept(struct pd_sampler *s, int32_t token)
{
    if (s->hist_cap == 0 || token < 0 || token >= s->n_vocab)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap)
        s->hist_len++;
}

/* Clears the history only; the generator state carries on. */
void
pd_sampler_reset(struct pd_sampler *s)
{
    s->hist_len = 0;
    s->hist_pos = 0;
}

/* ---- statistics of the raw distribution ---- */

/* One pass with a running maximum m: s = sum e^(l-m), t = sum e^(l-m) (l-m). When the maximum
 * rises to m', both are rescaled by e^(m-m') (t also gains (m-m') s). Then lse = m + log s and the
 * entropy is log s - t/s. -inf (and NaN) logits contribute nothing; if every logit is -inf, lse is
 * -inf and the entropy 0. Kept in double so a log-probability taken against it stays exact even
 * for logits in the thousands. */
static void
logits_stats(const float *logits, int32_t n, double *lse, double *entropy)
{
    double m = -INFINITY, sum = 0.0, t = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double l = logits[i];
        if (!(l > -INFINITY))
            continue;
        if (sum == 0.0) {
            m = l;
            sum = 1.0;
        } else if (l > m) {
            double r = exp(m - l);
            t = r * (t + (m - l) * sum);
            sum = r * sum + 1.0;
            m = l;
        } else {
            double e = exp(l - m);
            sum += e;
            t += e * (l - m);
        }
    }
    if (sum == 0.0) {
        *lse = -INFINITY;
        *entropy = 0.0;
        return;
    }
    double h = log(sum) - t / sum;
    *lse = m + log(sum);
    *entropy = h > 0.0 ? h : 0.0;
}

/* lse and entropy may be NULL. */
void
pd_logits_stats(const float *logits, int32_t n, float *lse, float *entropy)
{
    double l, h;
    logits_stats(logits, n, &l, &h);
    if (lse)
        *lse = (float)l;
    if (entropy)
        *entropy = (float)h;
}

/* ---- candidate ordering and selection ---- */

/* Total order: higher logit first, lower id on equal logits. */
static bool
cand_before(const struct cand *a, const struct cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int
cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

static void
cand_swap(struct cand *a, struct cand *b)
{
    struct cand t = *a;
    *a = *b;
    *b = t;
}

/* Median of c[lo], c[mid], c[hi] moved to c[lo], used as the pivot. */
static void
pivot_to_front(struct cand *c, int32_t lo, int32_t hi)
{
    int32_t mid = lo + (hi - lo) / 2;
    if (cand_before(&c[mid], &c[lo]))
        cand_swap(&c[mid], &c[lo]);
    if (cand_before(&c[hi], &c[lo]))
        cand_swap(&c[hi], &c[lo]);
    if (cand_before(&c[hi], &c[mid]))
        cand_swap(&c[hi], &c[mid]);
    cand_swap(&c[lo], &c[mid]); /* the median now leads */
}

/* Partition c[lo..hi] around the pivot at c[lo]; returns its final index. Keys are distinct. */
static int32_t
partition(struct cand *c, int32_t lo, int32_t hi)
{
    struct cand pv = c[lo];
    int32_t i = lo, j = hi + 1;
    for (;;) {
        while (cand_before(&c[++i], &pv))
            if (i == hi)
                break;
        while (cand_before(&pv, &c[--j]))
            ;
        if (i >= j)
            break;
        cand_swap(&c[i], &c[j]);
    }
    cand_swap(&c[lo], &c[j]);
    return j;
}

/* Quickselect: afterwards c[0..k) are the k first candidates in the total order (unsorted). */
static void
select_top(struct cand *c, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1;
    if (k <= 0 || k >= n)
        return;
    while (lo < hi) {
        pivot_to_front(c, lo, hi);
        int32_t p = partition(c, lo, hi);
        if (p == k - 1 || p == k)
            return;
        if (p > k)
            hi = p - 1;
        else
            lo = p + 1;
    }
}

/* ---- the chain ---- */

/* Copy logits into the candidates (NaN as -inf) and apply the repetition penalty to each distinct
 * token of the history once: positive logits divided by the penalty, negative multiplied. */
static void
load_candidates(struct pd_sampler *s, const float *logits)
{
    struct cand *c = s->cands;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        c[i].logit = isnan(l) ? -INFINITY : l;
        c[i].id = i;
    }
    float pen = s->params.repeat_penalty;
    if (pen == 1.0f || pen <= 0.0f || s->hist_len == 0)
        return;
    for (int32_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (s->mark[t])
            continue;
        s->mark[t] = 1;
        c[t].logit = c[t].logit > 0.0f ? c[t].logit / pen : c[t].logit * pen;
    }
    for (int32_t i = 0; i < s->hist_len; i++)
        s->mark[s->hist[i]] = 0;
}

/* The same from candidates: only those in the history are penalized. */
static void
load_from_candidates(struct pd_sampler *s, const struct pd_candidates *cand)
{
    struct cand *c = s->cands;
    for (int32_t i = 0; i < cand->n; i++) {
        c[i].logit = cand->logits[i];
        c[i].id = cand->ids[i];
    }
    float pen = s->params.repeat_penalty;
    if (pen == 1.0f || pen <= 0.0f || s->hist_len == 0)
        return;
    for (int32_t i = 0; i < s->hist_len; i++)
        s->mark[s->hist[i]] = 1;
    for (int32_t i = 0; i < cand->n; i++)
        if (s->mark[c[i].id])
            c[i].logit = c[i].logit > 0.0f ? c[i].logit / pen : c[i].logit * pen;
    for (int32_t i = 0; i < s->hist_len; i++)
        s->mark[s->hist[i]] = 0;
}

/* Index of the best candidate in c[0..n). */
static int32_t
best_index(const struct cand *c, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (cand_before(&c[i], &c[b]))
            b = i;
    return b;
}

/* Fill c[i].p with the softmax of c[0..n) at temperature 1. */
static void
softmax(struct cand *c, int32_t n)
{
    float m = c[best_index(c, n)].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        c[i].p = expf(c[i].logit - m);
        sum += c[i].p;
    }
    for (int32_t i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

/* Min-p: move the candidates with p >= min_p * p_max to the front; returns how many. */
static int32_t
cut_min_p(struct cand *c, int32_t n, float min_p)
{
    float pmax = c[best_index(c, n)].p;
    float thr = min_p * pmax;
    int32_t kept = 0;
    for (int32_t i = 0; i < n; i++)
        if (c[i].p >= thr)
            cand_swap(&c[kept++], &c[i]);
    return kept > 0 ? kept : 1;
}

/* Top-p: the shortest sorted prefix whose mass reaches top_p (the token that crosses stays).
 * Partial selection finds a head holding that mass before anything is sorted. */
static int32_t
cut_top_p(struct cand *c, int32_t n, float top_p)
{
    int32_t m = n < 64 ? n : 64;
    for (;;) {
        select_top(c, n, m);
        double mass = 0.0;
        for (int32_t i = 0; i < m; i++)
            mass += c[i].p;
        if (mass >= top_p || m == n)
            break;
        m = m > n / 4 ? n : m * 4;
    }
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
    double cum = 0.0;
    for (int32_t i = 0; i < m; i++) {
        cum += c[i].p;
        if (cum >= top_p)
            return i + 1;
    }
    return m;
}

/* Draw from softmax(logit / temp) over c[0..n). */
static int32_t
draw(struct pd_sampler *s, const struct cand *c, int32_t n)
{
    float temp = s->params.temp;
    float m = c[best_index(c, n)].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)(c[i].logit - m) / temp);
    double u = rng_uniform(s->rng) * sum, acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += exp((double)(c[i].logit - m) / temp);
        if (u < acc)
            return c[i].id;
    }
    return c[best_index(c, n)].id; /* rounding left u at the very top */
}

/* Truncation and draw over the n penalized candidates loaded; the token chosen. What top-k
 * keeps is sorted (a few dozen entries), so the draw walks the same order whether the candidates
 * came from the whole row or from its head (pd_sampler_sample_candidates). */
static int32_t
choose(struct pd_sampler *s, int32_t n)
{
    const struct pd_sampler_params *p = &s->params;
    struct cand *c = s->cands;

    if (n == 0)   /* a row of NaN: what the whole row's argmax gives */
        return 0;
    if (p->temp <= 0.0f || c[best_index(c, n)].logit == -INFINITY)
        return c[best_index(c, n)].id;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(c, n, p->top_k);
        n = p->top_k;
    }
    if (p->top_k > 0 && n <= PD_CANDIDATES_MAX)
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
    if (p->top_p < 1.0f || p->min_p > 0.0f)
        softmax(c, n);
    if (p->min_p > 0.0f)
        n = cut_min_p(c, n, p->min_p);
    if (p->top_p < 1.0f)
        n = cut_top_p(c, n, p->top_p);
    if (n == 1)
        return c[0].id;
    return draw(s, c, n);
}

/* The chosen token; logprob and entropy (either may be NULL) describe the raw logits at
 * temperature 1, whatever the settings. logits are read, never written. */
int32_t
pd_sampler_sample(struct pd_sampler *s, const float *logits, float *logprob, float *entropy)
{
    load_candidates(s, logits);
    int32_t tok = choose(s, s->n_vocab);
    if (logprob || entropy) {
        double lse, h;
        logits_stats(logits, s->n_vocab, &lse, &h);
        if (entropy)
            *entropy = (float)h;
        if (logprob) {
            float l = logits[tok];
            *logprob = (isnan(l) || l == -INFINITY) ? -INFINITY : (float)((double)l - lse);
        }
    }
    return tok;
}

/* ---- from candidates ---- */

int32_t
pd_sampler_candidates_needed(const struct pd_sampler *s)
{
    const struct pd_sampler_params *p = &s->params;
    int64_t need = p->temp <= 0.0f ? 1 : p->top_k;
    if (need <= 0 || need >= s->n_vocab)
        return 0;
    float pen = p->repeat_penalty;
    if (pen != 1.0f && pen > 0.0f) {
        if (pen < 1.0f && s->hist_len > 0)
            return 0;   /* a penalty below 1 raises logits: anything may climb into the top */
        need += s->hist_len;
    }
    return need <= PD_CANDIDATES_MAX ? (int32_t)need : 0;
}

int32_t
pd_sampler_sample_candidates(struct pd_sampler *s, const struct pd_candidates *c, float *logprob,
                             float *entropy)
{
    load_from_candidates(s, c);
    int32_t tok = choose(s, c->n);
    if (entropy)
        *entropy = c->entropy;
    if (logprob) {
        *logprob = -INFINITY;
        for (int32_t i = 0; i < c->n; i++)
            if (c->ids[i] == tok && c->logits[i] > -INFINITY)
                *logprob = (float)((double)c->logits[i] - c->lse);
    }
    return tok;
}

/* One pass: a logit enters the sorted head only when it beats the last of k, so past the first
 * few hundred entries almost every logit costs one comparison. */
void
pd_candidates_from_logits(struct pd_candidates *c, const float *logits, int32_t n_vocab,
                          int32_t k)
{
    int32_t have = 0;
    for (int32_t v = 0; v < n_vocab; v++) {
        float x = logits[v];
        if (isnan(x) || (have == k && !(x > c->logits[k - 1])))
            continue;   /* equal to the last: the lower id, already in, stays ahead */
        int32_t j = have < k ? have++ : k - 1;
        while (j > 0 && c->logits[j - 1] < x) {
            c->logits[j] = c->logits[j - 1];
            c->ids[j] = c->ids[j - 1];
            j--;
        }
        c->logits[j] = x;
        c->ids[j] = v;
    }
    c->n = have;
    double h;
    logits_stats(logits, n_vocab, &c->lse, &h);
    c->entropy = (float)h;
}
