/*
 * chat-gen.c: one reply of `ponder chat`: the conversation rendered through the model's template,
 * the KV cache reused across turns, the reply streamed to the terminal and recorded in the store.
 *
 * The cache: the context keeps what it evaluated between turns, and chat->cached lists those
 * tokens. Each turn renders the whole conversation and tokenizes it; the longest common prefix
 * with the cache stays, the cache is truncated there, and only the rest is evaluated. When the
 * rendered prompt extends the previous one (chatml: the reply, its end tag, the new user turn),
 * that is just the new suffix; when the template rewrites history (r1 drops earlier thinking),
 * it is everything from the first difference on.
 *
 * The thoughts (think segment) on the terminal, by /think mode:
 *   auto  streamed dimmed; when they end, on a terminal they are erased (the cursor moves up over
 *         the rows they took) and replaced by the fold line "▸ thought 12.4 s · 812 tokens"; when
 *         they took more rows than the screen has, or stdout is not a terminal, the fold line
 *         follows them instead;
 *   on    shown in full, dimmed;
 *   off   not shown (a terminal sees a live "thinking · N tokens" line), then the fold line.
 * The tags themselves are never shown. Colours follow cli_use_color (NO_COLOR, TERM=dumb).
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/chat.h"
#include "tui/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#define DIM "\033[2m"
#define RESET "\033[0m"

/* ---- the conversation ---- */

struct chat_msg *
chat_push(struct chat *c, const char *role, const char *text)
{
    if (c->n_msgs == c->cap_msgs) {
        c->cap_msgs = c->cap_msgs ? 2 * c->cap_msgs : 16;
        c->msgs = chat_xrealloc(c->msgs, c->cap_msgs * sizeof *c->msgs);
    }
    struct chat_msg *m = &c->msgs[c->n_msgs++];
    *m = (struct chat_msg){ .role = chat_xstrdup(role), .text = chat_xstrdup(text),
                            .think = chat_xstrdup(""), .answer = chat_xstrdup(text) };
    return m;
}

void
chat_truncate(struct chat *c, size_t i)
{
    for (size_t k = i; k < c->n_msgs; k++) {
        free(c->msgs[k].role);
        free(c->msgs[k].text);
        free(c->msgs[k].think);
        free(c->msgs[k].answer);
    }
    if (i < c->n_msgs)
        c->n_msgs = i;
}

/* A growable string. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = PD_MAX(2 * b->cap, b->len + n + 64);
        b->p = chat_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

/* What an earlier reply contributes to the context when its thinking is kept: the text as the
 * model wrote it, with the "<think>" the prompt opened for it put back. */
static void
add_full_reply(struct sbuf *b, const struct chat_msg *m)
{
    if (m->think[0] && strstr(m->text, "<think>") == NULL)
        sbuf_str(b, "<think>\n");
    sbuf_str(b, m->text);
}

/* The whole conversation as the prompt text, ending where the reply begins. With keep_thinking
 * each assistant message goes through the template as a placeholder that is then replaced by the
 * reply in full, so a template that drops earlier thinking (r1) cannot. */
static char *
render(struct chat *c, bool *opened)
{
    *opened = false;
    if (c->raw) {
        struct sbuf b = { 0 };
        sbuf_str(&b, "");
        for (size_t i = 0; i < c->n_msgs; i++) {
            sbuf_str(&b, c->msgs[i].text);
            sbuf_str(&b, "\n");
        }
        return b.p;
    }
    bool strips = c->tmpl == PD_TEMPLATE_R1 || c->tmpl == PD_TEMPLATE_R1_THINK;
    bool placeholders = c->keep_thinking && strips;
    struct pd_chat_msg *msgs = chat_xmalloc((c->n_msgs + 1) * sizeof *msgs);
    char (*ph)[24] = chat_xmalloc((c->n_msgs + 1) * sizeof *ph);
    for (size_t i = 0; i < c->n_msgs; i++) {
        msgs[i] = (struct pd_chat_msg){ c->msgs[i].role, c->msgs[i].text };
        if (placeholders && strcmp(c->msgs[i].role, "assistant") == 0) {
            snprintf(ph[i], sizeof ph[i], "\x1a%zu\x1a", i);
            msgs[i].content = ph[i];
        }
    }
    int32_t bos = pd_tokenizer_bos(c->m->tok);
    size_t bos_len = 0;
    const char *bos_text = bos >= 0 ? pd_tokenizer_piece(c->m->tok, bos, &bos_len) : NULL;
    char *out = pd_template_apply(c->tmpl, msgs, c->n_msgs, true, bos_text, opened);
    if (out == NULL) {
        fprintf(stderr, "ponder chat: out of memory\n");
        abort();
    }
    if (placeholders) {
        struct sbuf b = { 0 };
        sbuf_str(&b, "");
        const char *p = out, *q;
        while ((q = strchr(p, '\x1a')) != NULL) {
            char *end;
            size_t i = strtoul(q + 1, &end, 10);
            if (*end != '\x1a' || i >= c->n_msgs) {
                sbuf_add(&b, p, (size_t)(q - p) + 1);
                p = q + 1;
                continue;
            }
            sbuf_add(&b, p, (size_t)(q - p));
            add_full_reply(&b, &c->msgs[i]);
            p = end + 1;
        }
        sbuf_str(&b, p);
        free(out);
        out = b.p;
    }
    free(ph);
    free(msgs);
    return out;
}

/* ---- the store ---- */

/* A session title: the first line of the text, at most 60 bytes, cut at a character. */
static char *
make_title(const char *text)
{
    size_t n = strcspn(text, "\n");
    if (n > 60) {
        n = 60;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
    }
    char *t = chat_xmalloc(n + 1);
    memcpy(t, text, n);
    t[n] = '\0';
    return t;
}

bool
chat_session_ensure(struct chat *c, const char *first_user_text)
{
    char err[PD_ERR_MAX] = "";
    if (c->st == NULL)
        return false;
    if (c->session)
        return true;
    if (c->title == NULL)
        c->title = make_title(first_user_text);
    int rc = pd_store_session_new(c->st, c->model_id, c->title, &c->session, err);
    for (size_t i = 0; rc == 0 && i < c->n_msgs; i++)
        if (strcmp(c->msgs[i].role, "system") == 0)
            rc = pd_store_turn_add(c->st, c->session, "system", c->msgs[i].text, NULL, err);
    if (rc) {
        fprintf(stderr, "ponder chat: warning: %s; this turn is not logged\n", err);
        c->session = 0;
        return false;
    }
    return true;
}

static void
sampler_json(char *out, size_t size, const struct pd_sampler_params *sp)
{
    snprintf(out, size, "{\"temp\":%g,\"top_k\":%d,\"top_p\":%g,\"min_p\":%g,"
             "\"repeat_penalty\":%g,\"repeat_last_n\":%d,\"seed\":%llu}", sp->temp, sp->top_k,
             sp->top_p, sp->min_p, sp->repeat_penalty, sp->repeat_last_n,
             (unsigned long long)sp->seed);
}

/* ---- the display ---- */

struct show {
    struct chat *c;
    bool dimmed;                /* the terminal's style is dim */
    bool in_think, think_seen;
    bool think_started;         /* a visible thought character was printed */
    bool answer_started;        /* a visible answer character was printed */
    bool at_bol;                /* the cursor is at the start of a line */
    int n_think;
    double t_first, t_think_end;
    int rows, col, width;       /* rows and column the streamed thought has reached */
    struct sbuf text, think, answer;
    int32_t *gen;               /* the generated token ids */
    size_t n_gen, cap_gen;
    bool logging;
};

static void
style(struct show *s, bool dim)
{
    if (s->c->color && dim != s->dimmed)
        fputs(dim ? DIM : RESET, stdout);
    s->dimmed = dim;
}

void
chat_print_fold(const struct chat *c, double secs, int tokens, const char *note)
{
    printf("%s▸ thought %.1f s · %d token%s%s%s\n", c->color ? DIM : "", secs, tokens,
           tokens == 1 ? "" : "s", note ? note : "", c->color ? RESET : "");
}

/* Display width of one character (UTF-8 at s, n bytes). */
static int
char_width(const char *s, size_t n, size_t *used)
{
    unsigned char b = (unsigned char)s[0];
    size_t len = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (len > n)
        len = n;
    *used = len;
    uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1f : len == 3 ? b & 0x0f : b & 0x07;
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | ((unsigned char)s[i] & 0x3f);
    if (cp < 0x20)
        return 0;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

/* Print thought text, counting the rows it takes. Leading newlines of the thought are dropped. */
static void
print_thought(struct show *s, const char *t, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (!s->think_started && (t[i] == '\n' || t[i] == ' ')) {
            i++;
            continue;
        }
        s->think_started = true;
        size_t used = 1;
        if (t[i] == '\n') {
            s->rows++;
            s->col = 0;
        } else if (t[i] == '\t') {
            s->col = (s->col / 8 + 1) * 8;
            if (s->col >= s->width) {
                s->rows++;
                s->col = 0;
            }
        } else {
            int w = char_width(t + i, n - i, &used);
            if (s->col + w > s->width) {
                s->rows++;
                s->col = 0;
            }
            s->col += w;
        }
        fwrite(t + i, 1, used, stdout);
        s->at_bol = t[i] == '\n';
        i += used;
    }
}

/* The thought has ended (or the reply stopped inside it). */
static void
end_thought(struct show *s, const char *note)
{
    struct chat *c = s->c;
    double secs = s->t_think_end - s->t_first;
    s->in_think = false;
    style(s, false);
    if (c->think == CHAT_THINK_ON) {
        if (s->think_started)
            fputs(s->at_bol ? "\n" : "\n\n", stdout);
        s->at_bol = true;
        return;
    }
    if (c->think == CHAT_THINK_OFF) {
        if (c->tty_out)
            fputs("\r\033[K", stdout);
    } else if (s->think_started) {
        int screen = 24;
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
            screen = ws.ws_row;
        if (c->tty_out && s->rows < screen - 1) {
            fputs("\r", stdout);
            if (s->rows > 0)
                printf("\033[%dA", s->rows);
            fputs("\033[J", stdout);
        } else if (!s->at_bol) {
            fputs("\n", stdout);
        }
    }
    chat_print_fold(c, secs, s->n_think, note);
    s->at_bol = true;
}

static void
on_think_token(struct show *s)
{
    if (s->c->think == CHAT_THINK_OFF && s->c->tty_out) {
        printf("\r%s▸ thinking · %d token%s%s\033[K", s->c->color ? DIM : "", s->n_think,
               s->n_think == 1 ? "" : "s", s->c->color ? RESET : "");
        s->at_bol = false;
    }
}

static void
print_answer(struct show *s, const char *t, size_t n)
{
    if (!s->answer_started) {
        while (n > 0 && (*t == '\n' || *t == ' ')) {
            t++;
            n--;
        }
        if (n == 0)
            return;
        s->answer_started = true;
    }
    style(s, false);
    fwrite(t, 1, n, stdout);
    s->at_bol = t[n - 1] == '\n';
}

static int
on_event(void *user, const struct pd_token_event *ev)
{
    struct show *s = user;
    struct chat *c = s->c;
    if (s->logging && pd_store_turn_token(c->st, ev) != 0) {
        fprintf(stderr, "\nponder chat: warning: %s; the rest of this turn is not logged\n",
                pd_store_errmsg(c->st));
        s->logging = false;
    }
    if (ev->id >= 0) {
        if (s->n_gen == s->cap_gen) {
            s->cap_gen = s->cap_gen ? 2 * s->cap_gen : 256;
            s->gen = chat_xrealloc(s->gen, s->cap_gen * sizeof *s->gen);
        }
        s->gen[s->n_gen++] = ev->id;
    }
    if (ev->index == 0)
        s->t_first = ev->t;
    if (ev->segment == PD_SEG_THINK) {
        s->n_think++;
        s->t_think_end = ev->t;
    }
    for (int i = 0; i < ev->n_spans; i++) {
        const struct pd_text_span *sp = &ev->spans[i];
        sbuf_add(&s->text, sp->text, sp->len);
        switch (sp->segment) {
        case PD_SEG_THINK:
            sbuf_add(&s->think, sp->text, sp->len);
            s->in_think = s->think_seen = true;
            if (c->think != CHAT_THINK_OFF) {
                style(s, true);
                print_thought(s, sp->text, sp->len);
            }
            break;
        case PD_SEG_TAG:
            if (s->in_think)
                end_thought(s, NULL);
            break;
        case PD_SEG_ANSWER:
            if (s->in_think)
                end_thought(s, NULL);
            sbuf_add(&s->answer, sp->text, sp->len);
            print_answer(s, sp->text, sp->len);
            break;
        }
    }
    if (ev->segment == PD_SEG_THINK && s->in_think)
        on_think_token(s);
    fflush(stdout);
    return atomic_load(&chat_interrupted);
}

/* ---- one reply ---- */

/* Keep cached tokens that prompt starts with, at most n - 1 of them (something must be
 * evaluated for the reply's first logits); truncate the context there. */
static size_t
reuse_cache(struct chat *c, const int32_t *ids, size_t n)
{
    size_t keep = 0;
    while (keep < c->n_cached && keep + 1 < n && c->cached[keep] == ids[keep])
        keep++;
    pd_context_truncate(c->ctx, (int32_t)keep);
    c->n_cached = keep;
    return keep;
}

static void
set_cached(struct chat *c, const int32_t *a, size_t na, const int32_t *b, size_t nb, size_t n)
{
    if (n > c->cap_cached) {
        c->cap_cached = n + 1024;
        c->cached = chat_xrealloc(c->cached, c->cap_cached * sizeof *c->cached);
    }
    size_t from_a = PD_MIN(na, n);
    memmove(c->cached, a, from_a * sizeof *a);
    if (n > from_a)
        memcpy(c->cached + from_a, b, PD_MIN(nb, n - from_a) * sizeof *b);
    c->n_cached = PD_MIN(n, na + nb);
}

void
chat_one_question(struct chat *c)
{
    if (c->tmpl != PD_TEMPLATE_R1_ZERO || c->raw)
        return;
    bool sys = c->n_msgs && strcmp(c->msgs[0].role, "system") == 0;
    chat_truncate(c, sys ? 1 : 0);
}

int
chat_prompt_prepare(struct chat *c, struct chat_prompt *p, char *err)
{
    *p = (struct chat_prompt){ 0 };
    char *prompt = render(c, &p->opened);
    char why[PD_ERR_MAX] = "";
    int rc = pd_tokenizer_encode(c->m->tok, prompt, strlen(prompt),
                                 PD_TOK_ADD_SPECIAL | PD_TOK_PARSE_SPECIAL, &p->ids, &p->n, why);
    free(prompt);
    if (rc)
        return pd_errorf(err, rc, "cannot tokenize the conversation: %s", why);
    int32_t n_ctx = pd_context_n_ctx(c->ctx);
    if (p->n == 0 || (int64_t)p->n + 1 >= n_ctx) {
        rc = pd_errorf(err, PD_ERANGE, "the conversation is %zu tokens and no longer fits the "
                       "context (%d); start a new one, or restart with a larger -c", p->n, n_ctx);
        free(p->ids);
        p->ids = NULL;
        return rc;
    }
    p->keep = reuse_cache(c, p->ids, p->n);
    return 0;
}

struct pd_sampler *
chat_sampler_new(struct chat *c, const struct chat_prompt *p, char *json, size_t json_size)
{
    struct pd_sampler_params sp = c->sp;
    sp.seed += c->n_replies++;
    struct pd_sampler *smp = pd_sampler_new(&sp, c->m->hp.n_vocab);
    if (smp == NULL) {
        fprintf(stderr, "ponder: out of memory\n");
        abort();
    }
    for (size_t i = 0; i < p->keep; i++)
        pd_sampler_accept(smp, p->ids[i]);
    if (json)
        sampler_json(json, json_size, &sp);
    return smp;
}

void
chat_prompt_done(struct chat *c, struct chat_prompt *p, const int32_t *gen, size_t n_gen)
{
    set_cached(c, p->ids, p->n, gen, n_gen, (size_t)pd_context_n_past(c->ctx));
    free(p->ids);
    p->ids = NULL;
}

int
chat_reply(struct chat *c)
{
    char err[PD_ERR_MAX] = "", sjson[256];
    struct chat_prompt pr;
    if (chat_prompt_prepare(c, &pr, err)) {
        fprintf(stderr, "ponder chat: %s\n", err);
        return -1;
    }
    struct pd_sampler *smp = chat_sampler_new(c, &pr, sjson, sizeof sjson);
    int rc;

    struct show s = { .c = c, .at_bol = true, .width = 80 };
    struct winsize ws;
    if (c->tty_out && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        s.width = ws.ws_col;
    sbuf_str(&s.text, "");
    sbuf_str(&s.think, "");
    sbuf_str(&s.answer, "");
    if (c->st && c->session) {
        if (pd_store_turn_begin(c->st, c->session, sjson, NULL, err) == 0)
            s.logging = true;
        else
            fprintf(stderr, "ponder chat: warning: %s; this turn is not logged\n", err);
    }
    struct pd_gen_params gp = { .n_predict = (int32_t)c->n_predict, .opened_think = pr.opened,
                                .cancel = &chat_interrupted };
    struct pd_gen_result res;
    atomic_store(&chat_interrupted, false);
    rc = pd_generate(c->ctx, smp, pr.ids + pr.keep, (int32_t)(pr.n - pr.keep), &gp, on_event, &s,
                     &res, err);
    if (s.in_think)
        end_thought(&s, rc == 0 && res.stop == PD_STOP_CANCELED ? " (stopped)" : " (unfinished)");
    style(&s, false);
    if (!s.at_bol)
        putchar('\n');
    if (rc == 0 && res.stop == PD_STOP_CANCELED)
        printf("%s[stopped]%s\n", c->color ? DIM : "", c->color ? RESET : "");
    else if (rc == 0 && res.stop == PD_STOP_CONTEXT)
        printf("%s[the context is full: /new starts a new conversation]%s\n",
               c->color ? DIM : "", c->color ? RESET : "");
    fflush(stdout);
    if (s.logging) {
        char e2[PD_ERR_MAX];
        if (pd_store_turn_end(c->st, rc ? NULL : &res, e2) != 0)
            fprintf(stderr, "ponder chat: warning: %s; the end of this turn is not logged\n",
                    e2);
    }
    chat_prompt_done(c, &pr, s.gen, s.n_gen);
    pd_sampler_free(smp);
    free(s.gen);
    if (rc) {
        fprintf(stderr, "ponder chat: %s\n", err);
        free(s.text.p);
        free(s.think.p);
        free(s.answer.p);
        return -1;
    }
    struct chat_msg *m = chat_push(c, "assistant", s.text.p);
    free(m->think);
    free(m->answer);
    m->think = s.think.p;
    m->answer = s.answer.p;
    m->n_think = s.n_think;
    m->think_s = s.t_think_end - s.t_first;
    free(s.text.p);
    return 0;
}
