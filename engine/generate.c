/*
 * generate.c: the token loop and the text pipeline behind each event.
 *
 * Each sampled token's bytes pass through three stages before they reach the event:
 *   1. UTF-8 completion: bytes of a character split across tokens wait for the rest;
 *   2. stop strings: a tail that could still grow into a stop string waits until it cannot;
 *   3. the think splitter: the text is cut into think / tag / answer spans.
 * What comes out of stage 3 for a token is that token's event text. At the end, whatever is
 * still held is released with the last event (the end-of-generation token's, or a final event
 * with id -1 when generation stopped for another reason).
 */
#include "config.h"

#include "engine/generate.h"

#include <string.h>

#define HOLD_MAX 1024   /* longest stop string we hold back for */
#define TEXT_MAX 4096   /* text one event can release */

struct pipeline {
    const char *const *stop;
    struct pd_utf8_stream utf8;
    struct pd_think_split split;
    char held[HOLD_MAX + TEXT_MAX];
    size_t n_held;
    char text[2 * TEXT_MAX + HOLD_MAX];     /* the current event's span text */
    size_t n_text;
    struct pd_token_event *ev;
    enum pd_segment seg_of_token;
    bool saw_content;
};

/* Room for the sampling candidates of a step (sampler.h). */
struct candidate_store {
    struct pd_candidates c;
    int32_t ids[PD_CANDIDATES_MAX];
    float logits[PD_CANDIDATES_MAX];
};

const char *
pd_stop_reason_name(enum pd_stop_reason r)
{
    switch (r) {
    case PD_STOP_EOG: return "eog";
    case PD_STOP_LENGTH: return "length";
    case PD_STOP_STRING: return "stop";
    case PD_STOP_CANCELED: return "canceled";
    case PD_STOP_CONTEXT: return "context";
    }
    return "?";
}

static void
on_span(void *user, enum pd_segment seg, const char *text, size_t len)
{
    struct pipeline *pl = user;
    struct pd_token_event *ev = pl->ev;
    if (len == 0 || pl->n_text + len > sizeof pl->text)
        return;
    memcpy(pl->text + pl->n_text, text, len);
    struct pd_text_span *last = ev->n_spans ? &ev->spans[ev->n_spans - 1] : NULL;
    if (last && last->segment == seg && last->text + last->len == pl->text + pl->n_text) {
        last->len += len;
    } else if (ev->n_spans < PD_EVENT_MAX_SPANS) {
        ev->spans[ev->n_spans++] = (struct pd_text_span){ seg, pl->text + pl->n_text, len };
    } else {
        last->len += len; /* more segment changes than spans in one token: keep the text */
    }
    pl->n_text += len;
    if (seg != PD_SEG_TAG) {
        pl->seg_of_token = seg;
        pl->saw_content = true;
    }
}

/* Where in s[0..n) the earliest stop string starts (n when none); *stop_len its length. */
static size_t
find_stop(const struct pipeline *pl, const char *s, size_t n, size_t *stop_len)
{
    size_t best = n;
    for (const char *const *st = pl->stop; st && *st; st++) {
        size_t l = strlen(*st);
        if (l == 0 || l > n)
            continue;
        const char *hit = memmem(s, n, *st, l);
        if (hit && (size_t)(hit - s) < best) {
            best = (size_t)(hit - s);
            *stop_len = l;
        }
    }
    return best;
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t
stop_prefix_tail(const struct pipeline *pl, const char *s, size_t n)
{
    size_t keep = 0;
    for (const char *const *st = pl->stop; st && *st; st++) {
        size_t l = strlen(*st);
        for (size_t k = PD_MIN(l - 1, n); k > keep; k--)
            if (memcmp(s + n - k, *st, k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

/* Push bytes through the stop-string stage into the splitter. True when a stop string hit. */
static bool
pipeline_push(struct pipeline *pl, const char *bytes, size_t n, bool final)
{
    char buf[TEXT_MAX + 8];
    size_t m = pd_utf8_stream_feed(&pl->utf8, bytes, PD_MIN(n, (size_t)TEXT_MAX), buf);
    if (final)
        m += pd_utf8_stream_flush(&pl->utf8, buf + m);
    PD_ASSERT(pl->n_held + m <= sizeof pl->held);
    memcpy(pl->held + pl->n_held, buf, m);
    pl->n_held += m;

    size_t stop_len = 0;
    size_t at = find_stop(pl, pl->held, pl->n_held, &stop_len);
    if (at < pl->n_held) {
        pd_think_split_feed(&pl->split, pl->held, at, on_span, pl);
        pd_think_split_flush(&pl->split, on_span, pl);
        pl->n_held = 0;
        return true;
    }
    size_t keep = final ? 0 : stop_prefix_tail(pl, pl->held, pl->n_held);
    pd_think_split_feed(&pl->split, pl->held, pl->n_held - keep, on_span, pl);
    memmove(pl->held, pl->held + pl->n_held - keep, keep);
    pl->n_held = keep;
    if (final)
        pd_think_split_flush(&pl->split, on_span, pl);
    return false;
}

static void
event_begin(struct pipeline *pl, struct pd_token_event *ev)
{
    memset(ev, 0, sizeof *ev);
    pl->ev = ev;
    pl->n_text = 0;
    pl->saw_content = false;
}

static void
event_finish(struct pipeline *pl, struct pd_token_event *ev)
{
    ev->segment = pl->saw_content ? pl->seg_of_token : (ev->n_spans ? PD_SEG_TAG
                                                                      : pl->seg_of_token);
}

static int
eval_prompt(struct pd_context *ctx, struct pd_sampler *smp, const int32_t *prompt,
            int32_t n_prompt, char *err)
{
    if (n_prompt <= 0)
        return pd_errorf(err, PD_EINVAL, "the prompt is empty");
    int32_t left = pd_context_n_ctx(ctx) - pd_context_n_past(ctx);
    if (n_prompt >= left)
        return pd_errorf(err, PD_ERANGE,
                         "the prompt is %d tokens but the context has room for %d more (of %d); "
                         "raise -c or shorten the prompt", n_prompt, left - 1,
                         pd_context_n_ctx(ctx));
    for (int32_t i = 0; i < n_prompt; i++)
        pd_sampler_accept(smp, prompt[i]);
    return pd_context_decode(ctx, prompt, n_prompt, err);
}

/* The event's alternatives: the first n candidates, with their log-probabilities. */
static void
top_alternatives(struct pd_token_event *ev, const struct pd_candidates *c, int n)
{
    ev->n_top = PD_MIN(n, c->n);
    for (int i = 0; i < ev->n_top; i++) {
        ev->top_ids[i] = c->ids[i];
        ev->top_logprobs[i] = (float)((double)c->logits[i] - c->lse);
    }
}

/* The next token into ev, from the candidates when the sampler can choose from them (on a GPU
 * only those cross the bus), else from the whole row. */
static int
sample_next(struct pd_context *ctx, struct pd_sampler *smp, struct pd_candidates *cands,
            int n_top, struct pd_token_event *ev, char *err)
{
    int32_t k = pd_sampler_candidates_needed(smp);
    if (k > 0) {
        int rc = pd_context_candidates(ctx, PD_MAX(k, n_top), cands, err);
        if (rc)
            return rc;
        ev->id = pd_sampler_sample_candidates(smp, cands, &ev->logprob, &ev->entropy);
        top_alternatives(ev, cands, n_top);
        return 0;
    }
    int rc = pd_context_fetch_logits(ctx, err);
    if (rc)
        return rc;
    const float *logits = pd_context_last_logits(ctx);
    ev->id = pd_sampler_sample(smp, logits, &ev->logprob, &ev->entropy);
    ev->n_top = 0;
    if (n_top > 0) {
        pd_candidates_from_logits(cands, logits, pd_context_model(ctx)->hp.n_vocab, n_top);
        top_alternatives(ev, cands, n_top);
    }
    return 0;
}

int
pd_generate(struct pd_context *ctx, struct pd_sampler *smp, const int32_t *prompt,
            int32_t n_prompt, const struct pd_gen_params *p, pd_event_fn fn, void *user,
            struct pd_gen_result *res, char *err)
{
    static struct pipeline pipeline_zero;
    struct pipeline *pl = malloc(sizeof *pl);
    struct candidate_store *cs = malloc(sizeof *cs);
    if (pl == NULL || cs == NULL) {
        free(pl);
        free(cs);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    cs->c = (struct pd_candidates){ .ids = cs->ids, .logits = cs->logits };
    *pl = pipeline_zero;
    pl->stop = p->stop;
    pd_think_split_init(&pl->split, p->opened_think);
    pl->seg_of_token = p->opened_think ? PD_SEG_THINK : PD_SEG_ANSWER;
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;

    const struct pd_tokenizer *tok = pd_context_model(ctx)->tok;
    bool moe = pd_context_model(ctx)->hp.n_expert > 0;
    double t0 = pd_time_now();
    int rc = pd_context_defer_logits(ctx, true, err);
    if (rc == 0)
        rc = eval_prompt(ctx, smp, prompt, n_prompt, err);
    if (rc) {
        char ignored[PD_ERR_MAX];   /* the first error is the one to report */
        pd_context_defer_logits(ctx, false, ignored);
        free(pl);
        free(cs);
        return rc;
    }
    double t1 = pd_time_now();
    res->t_prompt = t1 - t0;
    rc = 0;

    struct pd_token_event ev;
    bool ended = false;
    for (int32_t i = 0; !ended; i++) {
        if (p->n_predict >= 0 && i >= p->n_predict) {
            res->stop = PD_STOP_LENGTH;
            break;
        }
        if (p->cancel && atomic_load(p->cancel)) {
            res->stop = PD_STOP_CANCELED;
            break;
        }
        if (pd_context_n_past(ctx) >= pd_context_n_ctx(ctx)) {
            res->stop = PD_STOP_CONTEXT;
            break;
        }
        event_begin(pl, &ev);
        if ((rc = sample_next(ctx, smp, &cs->c, PD_MIN(p->n_top, PD_EVENT_MAX_TOP), &ev,
                              err)) != 0)
            break;
        ev.index = i;
        pd_sampler_accept(smp, ev.id);
        res->n_generated++;
        ev.piece = pd_tokenizer_piece(tok, ev.id, &ev.piece_len);
        if (pd_tokenizer_is_eog(tok, ev.id)) {
            pipeline_push(pl, "", 0, true);
            res->stop = PD_STOP_EOG;
            ended = true;
        } else if (pipeline_push(pl, ev.piece, ev.piece_len, false)) {
            res->stop = PD_STOP_STRING;
            ended = true;
        }
        ev.t = pd_time_now() - t0;
        if (i == 0)
            res->t_first_token = ev.t;
        event_finish(pl, &ev);
        /* A token's routing exists once it has been through the model: an MoE model's event
         * waits for that forward pass; a dense model's goes out first, to be seen sooner. */
        bool decoded = false;
        if (moe && !ended && pd_context_n_past(ctx) < pd_context_n_ctx(ctx)) {
            if ((rc = pd_context_decode(ctx, &ev.id, 1, err)) != 0)
                break;
            ev.routing = pd_context_routing(ctx, -1);
            decoded = true;
        }
        if (fn && fn(user, &ev) && !ended) {
            res->stop = PD_STOP_CANCELED;
            ended = true;
        }
        if (!ended && !decoded && (rc = pd_context_decode(ctx, &ev.id, 1, err)) != 0)
            break;
    }
    if (rc == 0 && res->stop != PD_STOP_EOG && res->stop != PD_STOP_STRING) {
        event_begin(pl, &ev);
        ev.id = -1;
        ev.index = res->n_generated;
        pipeline_push(pl, "", 0, true);
        ev.t = pd_time_now() - t0;
        event_finish(pl, &ev);
        if (ev.n_spans && fn)
            fn(user, &ev);
    }
    res->t_generate = pd_time_now() - t1;
    /* the last row comes to the host, for callers that read it after the reply */
    char fetch_err[PD_ERR_MAX];
    int rc_fetch = pd_context_defer_logits(ctx, false, rc ? fetch_err : err);
    free(pl);
    free(cs);
    return rc ? rc : rc_fetch;
}
