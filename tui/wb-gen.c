/*
 * wb-gen.c: the workbench's generation: a worker thread runs pd_generate and copies each event
 * into a queue; the UI thread drains it once a frame, feeding the document, the store and the
 * aha detector.
 *
 * The worker touches only the model's context and the sampler, which nothing else uses while it
 * runs; the UI thread writes the store, so one connection serves both. "Answer now" cancels the
 * generation at the next token, feeds "</think>" to the context as the template's closing tag,
 * and starts again, continuing the same turn (its events are numbered on from where it was).
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/wb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the worker is asked to evaluate before it samples. */
struct job {
    struct wb *w;
    const int32_t *ids;
    int32_t n;
    bool opened;
};

static struct job job;

/* Copy an event into the queue (worker thread). Pointers are rebuilt by the reader. */
static int
on_event(void *user, const struct pd_token_event *ev)
{
    struct wb *w = user;
    struct wb_queue *q = &w->q;
    pthread_mutex_lock(&q->mu);
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->ev = chat_xrealloc(q->ev, q->cap * sizeof *q->ev);
    }
    struct wb_qev *e = &q->ev[q->n++];
    e->ev = *ev;
    size_t used = 0;
    for (int i = 0; i < ev->n_spans; i++) {
        size_t n = PD_MIN(ev->spans[i].len, sizeof e->text - used);
        if (n)
            memcpy(e->text + used, ev->spans[i].text, n);
        e->ev.spans[i].text = (const char *)(uintptr_t)used;
        e->ev.spans[i].len = n;
        used += n;
    }
    e->ev.piece_len = PD_MIN(ev->piece_len, sizeof e->piece);
    if (ev->piece)
        memcpy(e->piece, ev->piece, e->ev.piece_len);
    const struct pd_routing *r = ev->routing;
    e->ev.routing = NULL;
    if (r && r->n_layers > 0 && r->n_layers <= 256 && r->n_layers * r->k <= WB_MAX_PAIRS) {
        int pairs = r->n_layers * r->k;
        e->routing = (struct pd_routing){ .n_layers = r->n_layers, .k = r->k };
        memcpy(e->layer, r->layer, (size_t)r->n_layers * sizeof *r->layer);
        memcpy(e->ids, r->ids, (size_t)pairs * sizeof *r->ids);
        memcpy(e->weights, r->weights, (size_t)pairs * sizeof *r->weights);
        if (r->entropy)
            memcpy(e->entropy, r->entropy, (size_t)r->n_layers * sizeof *r->entropy);
        else
            for (int l = 0; l < r->n_layers; l++)
                e->entropy[l] = -1.0f;
        e->ev.routing = &e->routing;   /* marker; rebuilt by the reader */
    }
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void *
worker_main(void *arg)
{
    struct wb *w = arg;
    struct chat *c = w->c;
    struct pd_gen_params gp = { .n_predict = (int32_t)c->n_predict, .opened_think = job.opened,
                                .cancel = &w->cancel, .n_top = WB_TOP };
    struct pd_gen_result res;
    char err[PD_ERR_MAX] = "";
    int rc = pd_generate(c->ctx, w->smp, job.ids, job.n, &gp, on_event, w, &res, err);
    pthread_mutex_lock(&w->q.mu);
    w->q.done = true;
    w->q.rc = rc;
    w->q.res = res;
    snprintf(w->q.err, sizeof w->q.err, "%s", err);
    pthread_mutex_unlock(&w->q.mu);
    return NULL;
}

static void
start_worker(struct wb *w, const int32_t *ids, int32_t n, bool opened)
{
    job = (struct job){ .w = w, .ids = ids, .n = n, .opened = opened };
    atomic_store(&w->cancel, false);
    w->q.done = false;
    w->generating = true;
    if (pthread_create(&w->worker, NULL, worker_main, w) != 0) {
        w->generating = false;
        wb_message(w, "cannot start the generation thread");
    }
}

void
wb_gen_init(struct wb *w)
{
    pthread_mutex_init(&w->q.mu, NULL);
}

static struct wb_turn *
live_turn(struct wb *w)
{
    return w->n_turns ? &w->turns[w->n_turns - 1] : NULL;
}

void
wb_send(struct wb *w, const char *text)
{
    struct chat *c = w->c;
    char err[PD_ERR_MAX] = "", sjson[256];
    if (!w->have_model) {
        wb_message(w, "no model loaded: %s", w->model_note);
        return;
    }
    if (w->generating || w->replaying) {
        wb_message(w, "wait for the reply to end (Ctrl-C stops it)");
        return;
    }
    if (w->session_shown != c->session && w->session_shown != 0)
        c->session = w->session_shown;
    chat_one_question(c);   /* r1-zero: earlier turns stay on screen, not in the prompt */
    chat_push(c, "user", text);
    if (chat_session_ensure(c, text) &&
        pd_store_turn_add(c->st, c->session, "user", text, NULL, err))
        wb_message(w, "not logged: %s", err);
    w->session_shown = c->session;
    if (chat_prompt_prepare(c, &w->prompt, err)) {
        chat_truncate(c, c->n_msgs - 1);
        wb_message(w, "%s", err);
        return;
    }
    wb_turn_add(w, "user", text);
    struct wb_turn *t = wb_turn_add(w, "assistant", "");
    t->streaming = true;
    t->folded = w->fold_mode == WB_FOLD_FOLDED;
    t->in_think = w->prompt.opened;
    w->smp = chat_sampler_new(c, &w->prompt, sjson, sizeof sjson);
    w->n_gen = 0;
    w->gen_base = 0;
    w->gen_t_base = 0;
    w->res_sum = (struct pd_gen_result){ 0 };
    w->stop_thinking = false;
    w->logging = false;
    if (c->st && c->session) {
        if (pd_store_turn_begin(c->st, c->session, sjson, &t->id, err) == 0)
            w->logging = true;
        else
            wb_message(w, "not logged: %s", err);
    }
    struct pd_aha_params ap = { .cues = w->cues };
    if (pd_aha_new(&t->det, NULL, &ap, err))
        wb_message(w, "no aha flags: %s", err);
    w->cur_turn = (int)w->n_turns - 1;
    w->cur_tok = 0;
    w->follow = true;
    start_worker(w, w->prompt.ids + w->prompt.keep, (int32_t)(w->prompt.n - w->prompt.keep),
                 w->prompt.opened);
}

static void
remember_gen(struct wb *w, int32_t id)
{
    if (w->n_gen == w->cap_gen) {
        w->cap_gen = w->cap_gen ? 2 * w->cap_gen : 512;
        w->gen = chat_xrealloc(w->gen, w->cap_gen * sizeof *w->gen);
    }
    w->gen[w->n_gen++] = id;
}

/* One event into the store, the document and the detector (UI thread). */
static void
consume(struct wb *w, struct pd_token_event *ev)
{
    struct wb_turn *t = live_turn(w);
    ev->index += w->gen_base;
    ev->t += w->gen_t_base;
    if (w->logging && pd_store_turn_token(w->c->st, ev) != 0) {
        /* the screen's message fades: the log keeps it */
        fprintf(stderr, "ponder: token %d: the rest of this turn is not logged: %s\n", ev->index,
                pd_store_errmsg(w->c->st));
        wb_message(w, "the rest of this turn is not logged: %s", pd_store_errmsg(w->c->st));
        w->logging = false;
    }
    if (ev->id >= 0)
        remember_gen(w, ev->id);
    wb_turn_push_event(w, t, ev);
}

/* "</think>" went into the context: the same turn goes on in the answer. */
static bool
continue_after_think(struct wb *w)
{
    struct chat *c = w->c;
    struct wb_turn *t = live_turn(w);
    char err[PD_ERR_MAX] = "";
    static const char close_tag[] = "\n</think>\n\n";
    int32_t *ids = NULL;
    size_t n = 0;
    if (pd_tokenizer_encode(c->m->tok, close_tag, strlen(close_tag), PD_TOK_PARSE_SPECIAL, &ids,
                            &n, err) || n == 0 ||
        pd_context_n_past(c->ctx) + (int32_t)n + 1 >= pd_context_n_ctx(c->ctx)) {
        free(ids);
        return false;
    }
    /* The tag's tokens are part of the turn, as if the model had written them. */
    double t_now = t->n_tok ? t->tok[t->n_tok - 1].t : 0.0;
    for (size_t i = 0; i < n; i++) {
        struct pd_token_event ev = { .id = ids[i], .index = (int32_t)t->n_tok - w->gen_base,
                                     .segment = PD_SEG_TAG, .t = t_now - w->gen_t_base };
        ev.piece = pd_tokenizer_piece(c->m->tok, ids[i], &ev.piece_len);
        ev.n_spans = 1;
        ev.spans[0] = (struct pd_text_span){ PD_SEG_TAG, ev.piece, ev.piece_len };
        consume(w, &ev);
        pd_sampler_accept(w->smp, ids[i]);
    }
    t->in_think = false;
    if (!t->fold_by_user && w->fold_mode == WB_FOLD_AUTO)
        t->folded = true;
    w->gen_base = (int)t->n_tok;
    w->gen_t_base = t_now;
    static int32_t inject[64];
    n = PD_MIN(n, PD_ARRAY_SIZE(inject));
    memcpy(inject, ids, n * sizeof *ids);
    free(ids);
    w->stop_thinking = false;
    wb_message(w, "thinking stopped: the model answers now");
    start_worker(w, inject, (int32_t)n, false);
    return true;
}

static void
finish(struct wb *w)
{
    struct chat *c = w->c;
    struct wb_turn *t = live_turn(w);
    const struct pd_gen_result *r = &w->res_sum;
    if (w->logging) {
        char err[PD_ERR_MAX];
        if (pd_store_turn_end(c->st, w->q.rc ? NULL : r, err)) {
            fprintf(stderr, "ponder: the end of this turn is not logged: %s\n", err);
            wb_message(w, "the end of this turn is not logged: %s", err);
        }
    }
    chat_prompt_done(c, &w->prompt, w->gen, w->n_gen);
    pd_sampler_free(w->smp);
    w->smp = NULL;
    t->streaming = false;
    if (t->in_think && !t->fold_by_user && w->fold_mode == WB_FOLD_AUTO)
        t->folded = true;
    snprintf(t->stop, sizeof t->stop, "%s", w->q.rc ? "error" : pd_stop_reason_name(r->stop));
    if (r->t_generate > 0)
        w->tok_s = r->n_generated / r->t_generate;
    struct chat_msg *m = chat_push(c, "assistant", t->text.p);
    free(m->think);
    free(m->answer);
    m->think = chat_xstrdup(t->seg[WB_THINK].p);
    m->answer = chat_xstrdup(t->seg[WB_ANSWER].p);
    m->n_think = t->n_think;
    m->think_s = t->think_t0 >= 0 ? t->think_t1 - t->think_t0 : 0;
    if (t->det)
        pd_aha_finish(t->det);
    wb_turn_aha_update(w, t);
    wb_annot_store_aha(w, t);
    if (w->q.rc)
        wb_message(w, "%s", w->q.err);
    else if (r->stop == PD_STOP_CANCELED)
        wb_message(w, "stopped; the partial reply is kept");
    else if (r->stop == PD_STOP_CONTEXT)
        wb_message(w, "the context is full: Ctrl-N starts a new conversation");
}

bool
wb_gen_drain(struct wb *w)
{
    if (!w->generating)
        return false;
    static struct wb_qev *local;
    static size_t local_cap;
    pthread_mutex_lock(&w->q.mu);
    size_t n = w->q.n;
    bool done = w->q.done;
    if (n > local_cap) {
        local_cap = n + 64;
        local = chat_xrealloc(local, local_cap * sizeof *local);
    }
    if (n)
        memcpy(local, w->q.ev, n * sizeof *local);
    w->q.n = 0;
    pthread_mutex_unlock(&w->q.mu);
    for (size_t i = 0; i < n; i++) {
        struct wb_qev *e = &local[i];
        for (int s = 0; s < e->ev.n_spans; s++)
            e->ev.spans[s].text = e->text + (uintptr_t)e->ev.spans[s].text;
        e->ev.piece = e->piece;
        if (e->ev.routing) {
            e->routing.layer = e->layer;
            e->routing.ids = e->ids;
            e->routing.weights = e->weights;
            e->routing.entropy = e->entropy;
            e->ev.routing = &e->routing;
        }
        consume(w, &e->ev);
    }
    struct wb_turn *t = live_turn(w);
    if (n && t)
        wb_turn_aha_update(w, t);
    if (!done) {
        /* live speed: tokens over the time since the first one */
        if (t && t->n_tok > 1 && t->tok[t->n_tok - 1].t > t->tok[0].t)
            w->tok_s = (double)(t->n_tok - 1) / (t->tok[t->n_tok - 1].t - t->tok[0].t);
        return n > 0;
    }
    pthread_join(w->worker, NULL);
    w->generating = false;
    struct pd_gen_result *r = &w->q.res, *sum = &w->res_sum;
    if (sum->n_prompt == 0) {
        sum->n_prompt = r->n_prompt;
        sum->t_prompt = r->t_prompt;
        sum->t_first_token = r->t_first_token;
    }
    sum->n_generated += r->n_generated;
    sum->t_generate += r->t_generate;
    sum->stop = r->stop;
    if (w->q.rc == 0 && w->stop_thinking && r->stop == PD_STOP_CANCELED && t && t->in_think &&
        continue_after_think(w))
        return true;
    finish(w);
    return true;
}

void
wb_gen_cancel(struct wb *w)
{
    /* a stop wins over an answer-now not yet carried out: without this, Ctrl-C pressed while the
     * worker was ending for Ctrl-T was lost when the turn went on in the answer */
    w->stop_thinking = false;
    if (w->generating)
        atomic_store(&w->cancel, true);
}

void
wb_gen_stop_thinking(struct wb *w)
{
    struct wb_turn *t = live_turn(w);
    if (!w->generating || t == NULL || !t->in_think) {
        wb_message(w, "the model is not thinking");
        return;
    }
    w->stop_thinking = true;
    atomic_store(&w->cancel, true);
}

void
wb_gen_shutdown(struct wb *w)
{
    if (w->generating) {
        atomic_store(&w->cancel, true);
        while (w->generating) {
            struct timespec ts = { 0, 5000000 };
            nanosleep(&ts, NULL);
            w->stop_thinking = false;
            wb_gen_drain(w);
        }
    }
    free(w->q.ev);
    free(w->gen);
    pthread_mutex_destroy(&w->q.mu);
}
