/*
 * think-split.c: telling thinking from answer in a stream of generated text.
 *
 * A byte-level state machine with four states:
 *
 *   start-answer  nothing committed yet, prompt did not open <think>. Leading whitespace is held;
 *                 "<think>" enters think; "</think>" (an empty think block the template opened
 *                 without saying so) enters answer; anything else means there is no think block,
 *                 and it and all that follows are answer.
 *   start-think   nothing committed yet, the prompt opened <think>. As above, except that other
 *                 text is thinking; a repeated "<think>" is swallowed as a tag.
 *   think         until "</think>", which leads to answer.
 *   answer        final. A stray "</think>" here is still reported as a tag (so a display hides
 *                 it) but changes nothing.
 *
 * Leading whitespace in the start states goes with what follows it: with the tag when a tag
 * follows (reported as PD_SEG_TAG with it), otherwise with the first text. At most MAX_WS bytes
 * of it are held; beyond that the oldest is released in the state's default segment.
 *
 * The decision about hindsight: when the prompt opened <think> but the caller passed
 * opened=false, the model's thinking arrives with no opening tag. It cannot be told from an
 * answer until "</think>" shows up, by which time it has been reported as answer; the split does
 * not retract it (only the tag is hidden). pd_template_apply reports opened_think for exactly
 * this reason; pass it on.
 *
 * Only the held bytes (at most 16: MAX_WS whitespace plus a tag) survive between calls. Within a
 * call, runs of the same segment are gathered so emit() is called once per run, not per byte.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "engine/pd.h"

#include <string.h>

enum {
    ST_START_ANSWER = 0,
    ST_START_THINK,
    ST_THINK,
    ST_ANSWER,
};

#define MAX_WS 8

static const char TAG_OPEN[] = "<think>";
static const char TAG_CLOSE[] = "</think>";

/* Gathers consecutive bytes of one segment before calling emit(). */
struct emitter {
    pd_segment_fn fn;
    void *ctx;
    enum pd_segment seg;
    size_t len;
    char buf[256];
};

static void
emitter_flush(struct emitter *e)
{
    if (e->len > 0 && e->fn)
        e->fn(e->ctx, e->seg, e->buf, e->len);
    e->len = 0;
}

static void
emitter_put(struct emitter *e, enum pd_segment seg, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (e->len > 0 && (e->seg != seg || e->len + len > sizeof e->buf))
        emitter_flush(e);
    e->seg = seg;
    if (len > sizeof e->buf) {
        if (e->fn)
            e->fn(e->ctx, seg, text, len);
        return;
    }
    memcpy(e->buf + e->len, text, len);
    e->len += len;
}

static bool
is_start(int state)
{
    return state == ST_START_ANSWER || state == ST_START_THINK;
}

/* The segment plain text takes in a state. */
static enum pd_segment
text_segment(int state)
{
    return state == ST_START_THINK || state == ST_THINK ? PD_SEG_THINK : PD_SEG_ANSWER;
}

static bool
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum match { MATCH_NONE, MATCH_PARTIAL, MATCH_FULL };

/* Does s[0..n) begin (or complete) tag? */
static enum match
match_one(const char *s, size_t n, const char *tag)
{
    size_t tl = strlen(tag);
    if (n > tl || memcmp(s, tag, n) != 0)
        return MATCH_NONE;
    return n == tl ? MATCH_FULL : MATCH_PARTIAL;
}

/* Match s[0..n) against the tags the state listens for; *open tells which tag matched. */
static enum match
match_tags(int state, const char *s, size_t n, bool *open)
{
    enum match m = match_one(s, n, TAG_CLOSE);
    *open = false;
    if (m != MATCH_NONE || !is_start(state))
        return m;
    *open = true;
    return match_one(s, n, TAG_OPEN);
}

static void
held_drop(struct pd_think_split *ts, int n)
{
    memmove(ts->held, ts->held + n, (size_t)(ts->n_held - n));
    ts->n_held -= n;
}

/* Decide as many held bytes as can be decided. */
static void
resolve(struct pd_think_split *ts, struct emitter *e)
{
    while (ts->n_held > 0) {
        int w = 0;
        if (is_start(ts->state))
            while (w < ts->n_held && is_ws(ts->held[w]))
                w++;
        if (w == ts->n_held) {
            if (w <= MAX_WS)
                return;
            emitter_put(e, text_segment(ts->state), ts->held, 1);
            held_drop(ts, 1);
            continue;
        }
        bool open;
        enum match m = match_tags(ts->state, ts->held + w, (size_t)(ts->n_held - w), &open);
        if (m == MATCH_PARTIAL)
            return;
        if (m == MATCH_FULL) {
            emitter_put(e, PD_SEG_TAG, ts->held, (size_t)ts->n_held);
            ts->n_held = 0;
            ts->state = open ? ST_THINK : ST_ANSWER;
            return;
        }
        /* No tag starts at held[w]: it and the whitespace before it are text. */
        emitter_put(e, text_segment(ts->state), ts->held, (size_t)w + 1);
        held_drop(ts, w + 1);
        if (ts->state == ST_START_ANSWER)
            ts->state = ST_ANSWER;
        else if (ts->state == ST_START_THINK)
            ts->state = ST_THINK;
    }
}

/* Start in think when the prompt opened the block, otherwise undecided. */
void
pd_think_split_init(struct pd_think_split *ts, bool opened)
{
    memset(ts, 0, sizeof *ts);
    ts->state = opened ? ST_START_THINK : ST_START_ANSWER;
}

/* Outside the start states and with nothing held, bytes up to the next '<' are emitted as one run
 * without passing through the held buffer. */
enum pd_segment
pd_think_split_feed(struct pd_think_split *ts, const char *text, size_t len, pd_segment_fn emit,
                    void *ctx)
{
    struct emitter e = {.fn = emit, .ctx = ctx};
    size_t i = 0;
    while (i < len) {
        if (ts->n_held == 0 && !is_start(ts->state)) {
            const char *lt = memchr(text + i, '<', len - i);
            size_t run = lt ? (size_t)(lt - (text + i)) : len - i;
            emitter_put(&e, text_segment(ts->state), text + i, run);
            i += run;
            if (i == len)
                break;
        }
        PD_ASSERT(ts->n_held < (int)sizeof ts->held);
        ts->held[ts->n_held++] = text[i++];
        resolve(ts, &e);
    }
    emitter_flush(&e);
    return text_segment(ts->state) == PD_SEG_THINK ? PD_SEG_THINK : PD_SEG_ANSWER;
}

/* Held bytes (whitespace, an unfinished tag) are released as text of the current segment. */
void
pd_think_split_flush(struct pd_think_split *ts, pd_segment_fn emit, void *ctx)
{
    struct emitter e = {.fn = emit, .ctx = ctx};
    emitter_put(&e, text_segment(ts->state), ts->held, (size_t)ts->n_held);
    ts->n_held = 0;
    if (ts->state == ST_START_ANSWER)
        ts->state = ST_ANSWER;
    else if (ts->state == ST_START_THINK)
        ts->state = ST_THINK;
    emitter_flush(&e);
}
