/*
 * aha.h: aha-moment detectors: where a reasoning trace stops, re-checks and maybe changes course.
 *
 * A detector is a table of functions with a name and a version (struct pd_aha_detector), the
 * shape the plugin ABI wraps for detectors in .so files. It is fed one token at a time, as the
 * tokens stream, and keeps the flags it has raised; the caller reads them back whenever a feed
 * says something changed. A flag raised while streaming is OPEN: its evidence may still grow
 * (the answer stated after a "Wait" comes tokens later), so the caller re-reads it; once FINAL
 * it never changes again. pd_aha_finish ends the stream and makes every flag final.
 *
 * While streaming (the UI thread, per token event):
 *
 *     at start:    pd_aha_cues_path(path, ...); pd_aha_cues_write_seed(path, NULL, err);
 *                  pd_aha_cues_load(&cues, path, err) (PD_EFORMAT: warn, the good lines apply);
 *                  pd_aha_new(&a, NULL, &(struct pd_aha_params){ .cues = cues }, err);
 *                  pd_aha_cues_free(cues);
 *     per event:   if (pd_aha_feed_event(a, ev) > 0) re-read pd_aha_flags(a, &n) (new flags, or
 *                  open ones with more evidence: compare revision) and redraw the gutter;
 *     turn ends:   pd_aha_finish(a); pd_store_aha_replace(st, turn, pd_aha_detector_of(a),
 *                  flags, n, err) (sessions/aha.h); pd_aha_reset(a) before the next turn.
 *
 * Feeding is cheap (a few comparisons per byte of text) and allocates nothing once the flag array
 * has grown to the turn's count (it doubles, from 32).
 *
 * The built-in detector (pd_aha_builtin in aha-builtin.c, name "builtin") weighs three kinds of
 * evidence:
 *
 *   cue      a phrase from the cue list (aha-cues.c: seeded with DeepSeek-R1's and oat-zero's,
 *            editable by the user) in the thoughts, matched case-insensitively at word
 *            boundaries across token boundaries; whitespace runs match one space, curly
 *            apostrophes match straight ones; a cue ending in '*' lets its last word run on
 *            ("recheck*" matches "rechecking"). Answer text is never searched for cues.
 *            Cues within merge_gap tokens of an open flag join it ("Wait, wait. Wait." is one).
 *   entropy  a spike: the highest entropy of the cue's tokens and the `near` tokens after them
 *            exceeds mean + k * std of the `window` thought tokens before the cue, and by at
 *            least min_rise nats (so a near-constant baseline does not make noise a spike).
 *            Fewer than min_base baseline tokens (or no entropies at all): no verdict.
 *   answer   the candidate answer stated before the cue against the one stated after it:
 *            changed or the same. A candidate is the content of \boxed{...} (after its last
 *            '=') or <answer>...</answer>, or a number that ends a statement after "=",
 *            "equals", "the answer is", "the total is", "we get" and a few more (not "= 3 * 4":
 *            a number followed by an operator is not a value). Thoughts and answer text both
 *            count. Before: the last candidate of the strongest kind stated (an explicit answer,
 *            then a conclusion, "so 3 * 4 = 12", then a plain equation). After: the first one
 *            after the cue, replaced while the flag is open by one as strong as the answer
 *            before, then by a new value of the same expression ("So 194*21=3974. Wait, ...
 *            So 194*21=4074"): the answer is settled by that, by the next flag, 256 tokens
 *            on, or the end of the stream (aha-builtin.c, aha-answer.c).
 *
 * Score: 0.3 for the cue, +0.3 for an entropy spike, +0.4 for a changed answer (so 0.3 "lexical
 * only", 0.6 "lexical + entropy", 0.7 or 1.0 with a changed answer). A restated, unchanged answer
 * adds nothing: it is the "superficial self-reflection" of oat-zero.
 *
 * A flag's evidence goes to the store as a JSON object (pd_aha_flag_signals), read back with
 * pd_aha_flag_from_signals:
 *
 *   {"evidence":"cue+entropy+answer-changed","state":"final","cue":"wait, wait","hits":2,
 *    "entropy":3.2,"entropy_tok":41,"baseline_mean":0.8,"baseline_std":0.2,"baseline_n":40,
 *    "answer_before":"12","answer_before_tok":30,"answer_after":"15","answer_after_tok":57,
 *    "answer_changed":true}
 *
 * Absent evidence is null. Token indexes are the events' (0 for the first generated token).
 */
#ifndef PD_AHA_H
#define PD_AHA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/pd.h"

#define PD_AHA_ABI_VERSION 1
#define PD_AHA_CUE_MAX 64        /* bytes of one cue, NUL included */
#define PD_AHA_ANSWER_MAX 40     /* bytes of a candidate answer kept, NUL included */
#define PD_AHA_SIGNALS_MAX 2048  /* room for pd_aha_flag_signals of any flag (< 1300 bytes) */

/* Which evidence a flag has (bits of pd_aha_flag.evidence). */
enum pd_aha_evidence {
    PD_AHA_EV_CUE = 1 << 0,            /* a phrase from the cue list */
    PD_AHA_EV_ENTROPY = 1 << 1,        /* an entropy spike at or just after the cue */
    PD_AHA_EV_ANSWER_CHANGED = 1 << 2, /* the next candidate answer differs from the last */
    PD_AHA_EV_ANSWER_SAME = 1 << 3,    /* ... or is the same */
};

enum pd_aha_state {
    PD_AHA_OPEN = 0,    /* evidence may still arrive: read the flag again after later feeds */
    PD_AHA_FINAL = 1,   /* will not change */
};

struct pd_aha_flag {
    int32_t tok_from, tok_to;   /* token indexes of the cue, both included */
    float score;                /* 0..1 */
    enum pd_aha_state state;
    unsigned evidence;          /* PD_AHA_EV_* */
    uint32_t revision;          /* bumped at every change: cheap "did it change" for the UI */
    /* The built-in detector's evidence (another detector may fill what fits, or leave it). */
    char cue[PD_AHA_CUE_MAX];   /* the longest cue that matched, as in the list ("" none) */
    int n_cues;                 /* cue hits merged into this flag */
    float entropy;              /* highest entropy (nats) near the cue; NaN: none seen */
    int32_t entropy_tok;        /* the token that had it; -1 none */
    float base_mean, base_std;  /* the baseline it is measured against */
    int base_n;                 /* tokens in the baseline; 0: no baseline */
    char answer_before[PD_AHA_ANSWER_MAX];  /* the answer stated before the cue ("" none) */
    char answer_after[PD_AHA_ANSWER_MAX];   /* ... and after it ("" none yet; may be replaced
                                               while the flag is open) */
    int32_t answer_before_tok, answer_after_tok;  /* where they were stated; -1 none */
};

/* One token as a detector sees it: what the event (engine/event.h) or a stored row carries. */
struct pd_aha_token {
    int32_t index;              /* 0 for the first generated token */
    enum pd_segment segment;    /* the token's segment */
    float entropy;              /* nats; NaN when unknown */
    float logprob;
    int n_spans;                /* the text it released, by segment (may split a character) */
    const struct pd_text_span *spans;
};

/* Settings; a zero field takes its default, so `{ .cues = list }` is a complete value. */
struct pd_aha_params {
    const struct pd_aha_cues *cues; /* NULL: the seed list; copied, need not outlive the detector */
    int window;         /* thought tokens before the cue that make the baseline (64) */
    float k;            /* a spike exceeds mean + k * std of the baseline (2.0) */
    float min_rise;     /* ... and the mean by at least this many nats (0.5) */
    int min_base;       /* fewer baseline tokens: no entropy verdict (8) */
    int near;           /* tokens after the cue's last where a spike still counts (4) */
    int merge_gap;      /* a cue starting within this many tokens of an open flag joins it (8) */
};

/* The settings with every default filled in (zero fields of *in replaced; in may be NULL). */
struct pd_aha_params pd_aha_params_resolve(const struct pd_aha_params *in);

/* A detector. Members are all required. One state serves one stream at a time. */
struct pd_aha_detector {
    int abi_version;            /* PD_AHA_ABI_VERSION */
    const char *name;           /* stored in aha_events.detector */
    const char *version;        /* stored in aha_events.detector_version; bump it when the flags
                                   it raises for the same tokens change */
    /* A state for one stream, *state the detector's until destroy. */
    int (*create)(void **state, const struct pd_aha_params *params, char *err);
    void (*destroy)(void *state);
    /* Forget the stream (a new turn); keep settings and memory. */
    void (*reset)(void *state);
    /* One token: > 0 when a flag was raised or changed, 0 when none, or a negative PD_E*. */
    int (*feed)(void *state, const struct pd_aha_token *tok);
    /* The stream ended: settle what waited for more text; every flag becomes final. */
    int (*finish)(void *state);
    /* The flags so far, ordered by tok_from; valid until the next feed, finish or reset. */
    const struct pd_aha_flag *(*flags)(void *state, size_t *n);
};

extern const struct pd_aha_detector pd_aha_builtin;

/* ---- a detector and its state together ---- */

struct pd_aha;

/* det NULL: the built-in detector. On success *out is the caller's, to pd_aha_free. */
int pd_aha_new(struct pd_aha **out, const struct pd_aha_detector *det,
               const struct pd_aha_params *params, char *err);
void pd_aha_free(struct pd_aha *a);     /* NULL is fine */
void pd_aha_reset(struct pd_aha *a);
const struct pd_aha_detector *pd_aha_detector_of(const struct pd_aha *a);

/* Feed one token, or one engine event; returns as the detector's feed. */
int pd_aha_feed(struct pd_aha *a, const struct pd_aha_token *tok);
int pd_aha_feed_event(struct pd_aha *a, const struct pd_token_event *ev);
int pd_aha_finish(struct pd_aha *a);
const struct pd_aha_flag *pd_aha_flags(const struct pd_aha *a, size_t *n);

/* A whole stored turn at once: reset, feed toks[0..n), finish. 0 or a negative PD_E*. */
int pd_aha_run(struct pd_aha *a, const struct pd_aha_token *toks, size_t n);

/* ---- evidence as text ---- */

/* "cue", "cue+entropy", "cue+entropy+answer-changed", "cue+answer-same", ... ("none" for 0). */
const char *pd_aha_evidence_label(unsigned evidence);

/* The flag's evidence as one flat JSON object (format above) into buf; returns its length, or
 * PD_ERANGE when size is too small (PD_AHA_SIGNALS_MAX always fits). */
int pd_aha_flag_signals(const struct pd_aha_flag *f, char *buf, size_t size);

/* Fill f's evidence fields and state from a signals object (json NULL: no evidence). tok_from,
 * tok_to and score are left as they are (the store keeps them in columns); evidence absent from
 * json reads as none (entropy NaN, tokens -1, strings ""); unknown keys are skipped. PD_EFORMAT
 * when json is not a flat object. */
int pd_aha_flag_from_signals(struct pd_aha_flag *f, const char *json, char *err);

/* ---- the cue list (aha-cues.c) ---- */

/*
 * The cue file: one cue per line, '#' starts a comment line, blank lines are skipped, spaces
 * around a cue are trimmed. A cue is at most PD_AHA_CUE_MAX - 1 bytes of UTF-8 without control
 * characters, has at least one letter, digit or non-ASCII character, and may end in '*' (its
 * last word runs on). A cue of non-ASCII text (Chinese, say) matches anywhere, without word
 * boundaries.
 * Cues are kept folded (lower case, single spaces, straight apostrophes); duplicates once.
 */
struct pd_aha_cues;

/* The seed list (DeepSeek-R1's and oat-zero's cue phrases). */
int pd_aha_cues_seed(struct pd_aha_cues **out, char *err);

/* Parse a cue file's text; name is used in messages ("aha-cues:7: ..."). 0 for a clean text.
 * PD_EFORMAT when some lines were bad: err names the first (and counts the others) and *out
 * still holds the good cues, so a caller may warn and go on, as with the config file. Other
 * errors leave *out NULL. */
int pd_aha_cues_parse(struct pd_aha_cues **out, const char *text, size_t len, const char *name,
                      char *err);

/* Read and parse a cue file (as pd_aha_cues_parse); PD_ENOTFOUND when it does not exist. */
int pd_aha_cues_load(struct pd_aha_cues **out, const char *path, char *err);

/* Where the user's cue file lives: $XDG_CONFIG_HOME/ponder/aha-cues, else
 * ~/.config/ponder/aha-cues. Writes into buf. */
int pd_aha_cues_path(char *buf, size_t size, char *err);

/* Write the seed list, with its comments, to path if no file is there (its folder made if
 * needed); an existing file is never touched. *written (may be NULL) says whether it wrote. */
int pd_aha_cues_write_seed(const char *path, bool *written, char *err);

size_t pd_aha_cues_count(const struct pd_aha_cues *c);
const char *pd_aha_cues_get(const struct pd_aha_cues *c, size_t i);   /* folded */
void pd_aha_cues_free(struct pd_aha_cues *c);   /* NULL is fine */

#endif
