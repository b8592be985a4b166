/*
 * test-aha.c: the aha detector and its flags in the store.
 *
 * Synthetic token streams (text split at awkward places, with entropies): a cue split over
 * tokens, no cue, a cue in the answer, word boundaries, case and curly apostrophes, merged cues;
 * an entropy spike and a flat entropy; the answer 12 -> 15 around "Wait" and an unchanged one;
 * a flag raised while streaming and completed later; the cue file (comments, a bad line, the seed
 * written when missing); the evidence JSON both ways; the store: flags written, listed,
 * confirmed, rejected, replaced by a re-run, deleted with their turn.
 */
#include "config.h"

#include "engine/aha.h"
#include "sessions/aha.h"
#include "sessions/store.h"
#include "tests/tap.h"

#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* ---- token streams ---- */

#define MAX_TOK 512

struct stream {
    struct pd_aha_token tok[MAX_TOK];
    struct pd_text_span span[MAX_TOK];
    char text[16384];
    size_t used;
    int n;
};

/* Append tokens: text split at each '|', all of segment seg and entropy h. */
static void
add(struct stream *s, enum pd_segment seg, float h, const char *text)
{
    while (*text) {
        size_t len = strcspn(text, "|");
        PD_ASSERT(s->n < MAX_TOK && s->used + len < sizeof s->text);
        char *p = memcpy(s->text + s->used, text, len);
        s->used += len;
        s->span[s->n] = (struct pd_text_span){ seg, p, len };
        s->tok[s->n] = (struct pd_aha_token){ .index = s->n, .segment = seg, .entropy = h,
                                              .logprob = -0.1f, .n_spans = 1,
                                              .spans = &s->span[s->n] };
        s->n++;
        text += len + (text[len] == '|');
    }
}

/* The index of the first token whose text is exactly t, or -1. */
static int
tok_of(const struct stream *s, const char *t)
{
    for (int i = 0; i < s->n; i++)
        if (s->span[i].len == strlen(t) && memcmp(s->span[i].text, t, s->span[i].len) == 0)
            return i;
    return -1;
}

/* Run the built-in detector (default settings but cues) over s; the flags stay in *a. */
static const struct pd_aha_flag *
detect(struct pd_aha **a, const struct stream *s, const struct pd_aha_cues *cues, size_t *n)
{
    char err[PD_ERR_MAX];
    struct pd_aha_params p = { .cues = cues };
    if (*a == NULL && pd_aha_new(a, NULL, &p, err)) {
        diag("pd_aha_new: %s", err);
        exit(1);
    }
    int rc = pd_aha_run(*a, s->tok, (size_t)s->n);
    if (rc)
        diag("pd_aha_run: %s", pd_strerror(rc));
    return pd_aha_flags(*a, n);
}

/* ---- the lexical cue ---- */

static void
test_cues(void)
{
    struct pd_aha *a = NULL;
    size_t n;
    struct stream s = { 0 };
    add(&s, PD_SEG_THINK, 1.0f, "Okay, so| the tot|al is 7 ap|ples and we| are done. W|ai|"
                                "t that| seems off to me| somehow");
    const struct pd_aha_flag *f = detect(&a, &s, NULL, &n);
    is_int(n, 1, "a cue split over three tokens raises one flag");
    if (n == 1) {
        is_str(f[0].cue, "wait", "... the cue is 'wait'");
        is_int(f[0].tok_from, tok_of(&s, " are done. W"), "... it starts in the token with 'W'");
        is_int(f[0].tok_to, tok_of(&s, "t that"), "... and ends in the one with 't'");
        ok(f[0].evidence == PD_AHA_EV_CUE && fabsf(f[0].score - 0.3f) < 1e-6f,
           "... lexical only, score 0.3");
        is_int(f[0].state, PD_AHA_FINAL, "... final once the stream is finished");
    }

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "We add| 3 and 4 to| get 7. So the| sum is 7.");
    add(&s, PD_SEG_ANSWER, 1.0f, "The answer| is 7.");
    detect(&a, &s, NULL, &n);
    is_int(n, 0, "no cue, no flag");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "3 + 4 =| 7.");
    add(&s, PD_SEG_ANSWER, 1.0f, "Wait|, I made a| mistake: let me recheck. Hmm.");
    detect(&a, &s, NULL, &n);
    is_int(n, 0, "cues in the answer segment are ignored");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "We await|ed the result; it waits and waited for the "
                                "wait_time, a|wait|ing the a|wait. Shhmm|m.");
    detect(&a, &s, NULL, &n);
    is_int(n, 0, "'awaited', 'waits', 'wait_time', 'awaiting', 'await' are not 'wait', 'shhmmm' not 'hmm*'");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So x is 5.| WAIT|! That\xe2\x80|\x99s not| right at all.");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].cue, "that's not right") == 0 && f[0].n_cues == 2,
       "'WAIT!' and a curly 'That\xe2\x80\x99s not right' (apostrophe split over tokens) make "
       "one flag with the longer cue");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So 3 and 4 is 7.| Wait|, wait|.| Wait|. That's an aha moment. "
                                "Let me| re|check|ing the| numbers.| Fine|,| it| is| right| and| "
                                "nothing| more| to| change|.| Hm|m|.");
    f = detect(&a, &s, NULL, &n);
    is_int(n, 2, "'Wait, wait. Wait. ... Let me rechecking' is one flag, a later 'Hmm' another");
    if (n == 2) {
        is_str(f[0].cue, "wait, wait", "... the first has the longest cue, 'wait, wait'");
        ok(f[0].n_cues >= 4, "... and its hits (%d) include 'recheck*'", f[0].n_cues);
        is_int(f[0].tok_to, tok_of(&s, "check"), "... and it ends at 'check' (prefix cue)");
        is_str(f[1].cue, "hmm*", "... the second is 'hmm*' ('Hm|m')");
    }

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "It is fine\n\n|But\n   |wait\tnow");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].cue, "but wait") == 0, "white space runs match one space");
    pd_aha_free(a);
}

/* ---- entropy ---- */

static void
test_entropy(void)
{
    struct pd_aha *a = NULL;
    size_t n;
    struct stream s = { 0 };
    for (int i = 0; i < 40; i++)
        add(&s, PD_SEG_THINK, 0.4f + 0.02f * (float)(i % 5), " step");
    add(&s, PD_SEG_THINK, 0.5f, " Wait|,");
    add(&s, PD_SEG_THINK, 0.5f, " the");
    add(&s, PD_SEG_THINK, 3.1f, " carry");
    add(&s, PD_SEG_THINK, 0.5f, " is| wrong| here| and| we| go| on| for| a| while| more|.");
    const struct pd_aha_flag *f = detect(&a, &s, NULL, &n);
    is_int(n, 1, "spike: one flag");
    if (n == 1) {
        ok(f[0].evidence & PD_AHA_EV_ENTROPY, "an entropy of 3.1 two tokens after the cue is "
                                              "a spike");
        ok(fabsf(f[0].entropy - 3.1f) < 1e-6f && f[0].entropy_tok == tok_of(&s, " carry"),
           "... at the token that had it");
        is_int(f[0].base_n, 40, "... against a baseline of the 40 tokens before");
        ok(fabsf(f[0].base_mean - 0.44f) < 1e-3f && f[0].base_std > 0.01f &&
           f[0].base_std < 0.03f, "... mean %.3f std %.3f", f[0].base_mean, f[0].base_std);
        ok(fabsf(f[0].score - 0.6f) < 1e-6f, "... score 0.6 (lexical + entropy)");
    }

    s = (struct stream){ 0 };
    for (int i = 0; i < 40; i++)
        add(&s, PD_SEG_THINK, 0.8f, " step");
    add(&s, PD_SEG_THINK, 0.8f, " Wait|, the| carry| is| wrong| here| and| we| go| on|.");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && !(f[0].evidence & PD_AHA_EV_ENTROPY) && f[0].base_n == 40 &&
       f[0].base_std == 0.0f, "a flat entropy is no spike");

    s = (struct stream){ 0 };
    for (int i = 0; i < 40; i++)
        add(&s, PD_SEG_THINK, 0.5f, " step");
    add(&s, PD_SEG_THINK, 0.5f, " Wait|,| the| carry| is| wrong");
    add(&s, PD_SEG_THINK, 3.0f, " here");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && !(f[0].evidence & PD_AHA_EV_ENTROPY) && isnan(f[0].entropy) == false &&
       f[0].entropy < 1.0f, "a spike more than `near` (4) tokens after the cue does not count");

    s = (struct stream){ 0 };
    for (int i = 0; i < 20; i++)
        add(&s, PD_SEG_THINK, NAN, " step");
    add(&s, PD_SEG_THINK, NAN, " Wait|, no| entropies| here|.");
    f = detect(&a, &s, NULL, &n);
    char js[PD_AHA_SIGNALS_MAX];
    if (n == 1)
        pd_aha_flag_signals(&f[0], js, sizeof js);
    ok(n == 1 && isnan(f[0].entropy) && f[0].base_n == 0 && f[0].evidence == PD_AHA_EV_CUE &&
       strstr(js, "\"entropy\":null") && strstr(js, "\"baseline_mean\":null"),
       "unknown entropies (NaN) give no entropy evidence, null in the signals");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 0.5f, "Short.| Wait|,");
    add(&s, PD_SEG_THINK, 4.0f, " no");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && !(f[0].evidence & PD_AHA_EV_ENTROPY) && f[0].base_n < 8,
       "too short a baseline gives no verdict");
    pd_aha_free(a);
}

/* ---- the answer ---- */

static void
test_answers(void)
{
    struct pd_aha *a = NULL;
    size_t n;
    struct stream s = { 0 };
    add(&s, PD_SEG_THINK, 1.0f, "Three boxes of four: 3 * 4 = 1|2. W|ait, I mis|read: there "
                                "are five| boxes, so 3| * 5 =| 15|. Good.");
    add(&s, PD_SEG_ANSWER, 1.0f, "\\boxed{15}");
    const struct pd_aha_flag *f = detect(&a, &s, NULL, &n);
    is_int(n, 1, "12 -> 15: one flag");
    if (n == 1) {
        ok(f[0].evidence & PD_AHA_EV_ANSWER_CHANGED, "... the answer changed");
        is_str(f[0].answer_before, "12", "... from 12");
        is_str(f[0].answer_after, "15", "... to 15 ('3 * 5' is no answer, '= 15' is)");
        is_int(f[0].answer_before_tok, tok_of(&s, "2. W"), "... 12 stated in its token");
        is_int(f[0].answer_after_tok, tok_of(&s, " 15"), "... 15 in its");
        ok(fabsf(f[0].score - 0.7f) < 1e-6f, "... score 0.7");
    }

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "3 * 4 = 12. Wait, let me recheck: 3 * 4 is 3 + 3 + 3 + 3, "
                                "which gives 12.0.");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && (f[0].evidence & PD_AHA_EV_ANSWER_SAME) &&
       !(f[0].evidence & PD_AHA_EV_ANSWER_CHANGED) && strcmp(f[0].answer_after, "12") == 0 &&
       fabsf(f[0].score - 0.3f) < 1e-6f, "an unchanged answer (12, then 12.0) is recorded as "
                                         "unchanged, score 0.3");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So the answer is \\boxed{\\frac{3}{4}}. Hmm, no: the answer "
                                "is $x = \\frac{2}{3}$, since x equals -0.50 here, the answer "
                                "is -1,");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].answer_before, "\\frac{3}{4}") == 0 &&
       strcmp(f[0].answer_after, "-1") == 0, "\\boxed{} content before; after it '= \\frac' is "
       "no candidate, 'x equals -0.50' a plain one, 'the answer is -1,' an explicit one: -1");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "x equals 2. Wait, x equals -0.50 now.");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].answer_after, "-0.5") == 0, "'equals -0.50' states -0.5");

    /* The bundled model's arithmetic traces: a check's digits between the two answers. */
    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So 194*21=3974.\nNines: 1+9+4=14, 1+4=5; 5*3=15. 5 is not 6. "
                                "Wait|, 194*21 is not 3974. Again:\n194*1: 4*1=4, 4. So "
                                "194*20=3880.\nSo 194*21=40|74.\nNines: 4+0+7+4=15, 1+5=6. Same.");
    add(&s, PD_SEG_ANSWER, 1.0f, "<answer>4074</answer>");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].answer_before, "3974") == 0 &&
       strcmp(f[0].answer_after, "4074") == 0 && (f[0].evidence & PD_AHA_EV_ANSWER_CHANGED),
       "the conclusion 'So 194*21=3974' against the next value of 194*21, 4074 (not the "
       "check's 5 against 4)");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "Check: 24-(59-49)=24-10=24. Wait, 24-10=14, not 24. Yes.");
    add(&s, PD_SEG_ANSWER, 1.0f, "<answer>24-(59-49)</answer>");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && strcmp(f[0].answer_before, "24") == 0 && strcmp(f[0].answer_after, "14") == 0,
       "a chain '=24-10=24' states 24 for 24-10; the cue restates 24-10 as 14");

    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "Wait, where do we start? 2 + 2 = 4 so the total is 4.");
    f = detect(&a, &s, NULL, &n);
    ok(n == 1 && f[0].answer_before[0] == '\0' && strcmp(f[0].answer_after, "4") == 0 &&
       !(f[0].evidence & (PD_AHA_EV_ANSWER_CHANGED | PD_AHA_EV_ANSWER_SAME)),
       "no answer before the cue: the one after is kept, no verdict");
    pd_aha_free(a);
}

/* ---- streaming ---- */

static void
test_streaming(void)
{
    char err[PD_ERR_MAX];
    struct pd_aha *a = NULL;
    struct stream s = { 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So 3 * 4 = 12.| Wait|,| no|:| 3 * 4| =| 15|.| Done| now| and|"
                                " then| some| more| words| follow|.");
    int rc = pd_aha_new(&a, NULL, NULL, err);
    is_int(rc, 0, "a detector with default settings");
    int raised_at = -1, answered_at = -1;
    uint32_t rev = 0;
    size_t n = 0;
    const struct pd_aha_flag *f = NULL;
    for (int i = 0; i < s.n; i++) {
        int ch = pd_aha_feed(a, &s.tok[i]);
        f = pd_aha_flags(a, &n);
        if (ch > 0 && n == 1 && raised_at < 0)
            raised_at = i;
        if (raised_at == i)
            ok(f[0].state == PD_AHA_OPEN && f[0].answer_after_tok < 0,
               "raised at token %d while streaming, open, no answer after yet", i);
        if (ch > 0 && n == 1 && answered_at < 0 && f[0].answer_after_tok >= 0) {
            answered_at = i;
            ok(f[0].revision > rev && strcmp(f[0].answer_after, "15") == 0,
               "updated at token %d: revision %u -> %u, 3 * 4 is now 15", i, rev, f[0].revision);
        }
        if (ch == 0 && n == 1 && f[0].revision != rev)
            ok(0, "a changed revision was reported by the feed");
        if (n == 1)
            rev = f[0].revision;
    }
    is_int(raised_at, tok_of(&s, ","), "the flag appears when the byte after 'Wait' arrives");
    is_int(answered_at, tok_of(&s, " Done"), "the answer arrives with the byte after '15.' (it "
                                             "might have been 15.5)");
    ok(n == 1 && f[0].state == PD_AHA_FINAL, "the flag is final before the stream ends (window "
                                             "passed, the same expression's new value in)");
    int ch = pd_aha_finish(a);
    is_int(ch, 0, "finish changes nothing more");

    /* Another expression's value may be overtaken by the same one's: open till the end. */
    s = (struct stream){ 0 };
    add(&s, PD_SEG_THINK, 1.0f, "So 3 * 4 = 12.| Wait|,| no|:| 3 * 5| =| 15|.| Done| now| and|"
                                " then| some| more| words| follow|.");
    pd_aha_reset(a);
    for (int i = 0; i < s.n; i++)
        pd_aha_feed(a, &s.tok[i]);
    f = pd_aha_flags(a, &n);
    ok(n == 1 && f[0].state == PD_AHA_OPEN && strcmp(f[0].answer_after, "15") == 0,
       "'3 * 5 = 15' after 'So 3 * 4 = 12': the answer for now, the flag still open");
    ch = pd_aha_finish(a);
    f = pd_aha_flags(a, &n);
    ok(ch > 0 && f[0].state == PD_AHA_FINAL && (f[0].evidence & PD_AHA_EV_ANSWER_CHANGED),
       "... final at the end, 12 -> 15");

    /* An engine event whose text spans think, tag and answer. */
    pd_aha_reset(a);
    struct pd_token_event ev = { .index = 0, .segment = PD_SEG_THINK, .entropy = 1.0f,
                                 .n_spans = 3 };
    ev.spans[0] = (struct pd_text_span){ PD_SEG_THINK, "ok. Alternatively", 17 };
    ev.spans[1] = (struct pd_text_span){ PD_SEG_TAG, "</think>", 8 };
    ev.spans[2] = (struct pd_text_span){ PD_SEG_ANSWER, "alternatively", 13 };
    pd_aha_feed_event(a, &ev);
    pd_aha_finish(a);
    f = pd_aha_flags(a, &n);
    ok(n == 1 && strcmp(f[0].cue, "alternatively") == 0,
       "an event's think span is searched up to the tag; its answer span is not");

    struct pd_aha_detector bad = pd_aha_builtin;
    bad.abi_version = 99;
    struct pd_aha *b = NULL;
    rc = pd_aha_new(&b, &bad, NULL, err);
    ok(rc == PD_EUNSUPPORTED && b == NULL && strstr(err, "99"), "a detector of another ABI "
                                                                "version is refused: %s", err);
    pd_aha_free(a);
}

/* ---- the cue file ---- */

static void
spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void
test_cue_file(void)
{
    char err[PD_ERR_MAX] = "", path[512], path2[600];
    struct pd_aha_cues *c = NULL;
    snprintf(path, sizeof path, "%s/cues", tmpdir);
    spit(path, "# my cues\n\n  Eureka  \nOh   NO\n\x01" "bad\n\tre-think*  \n# a comment\nEUREKA\n"
               "wa*it\n");
    int rc = pd_aha_cues_load(&c, path, err);
    ok(rc == PD_EFORMAT && strstr(err, "/cues:5: control character") &&
       strstr(err, "and 1 more bad line"), "a bad line is named: %s", err);
    ok(pd_aha_cues_count(c) == 3 && strcmp(pd_aha_cues_get(c, 0), "eureka") == 0 &&
       strcmp(pd_aha_cues_get(c, 1), "oh no") == 0 &&
       strcmp(pd_aha_cues_get(c, 2), "re-think*") == 0,
       "... the good cues are kept, folded, duplicates once, comments skipped");

    struct pd_aha *a = NULL;
    size_t n;
    struct stream s = { 0 };
    add(&s, PD_SEG_THINK, 1.0f, "Wait, hmm. Oh| no, let me re-thinking it. Eure|ka!");
    const struct pd_aha_flag *f = detect(&a, &s, c, &n);
    ok(n == 1 && f[0].n_cues == 3 && strcmp(f[0].cue, "re-think*") == 0,
       "the detector uses the loaded list only (not the seed's 'wait')");
    pd_aha_free(a);
    pd_aha_cues_free(c);

    char long_line[200];
    memset(long_line, 'x', 100);
    strcpy(long_line + 100, "\n");
    rc = pd_aha_cues_parse(&c, long_line, strlen(long_line), "mem", err);
    ok(rc == PD_EFORMAT && strstr(err, "mem:1: cue longer than 63 bytes") &&
       pd_aha_cues_count(c) == 0, "a long cue: %s", err);
    pd_aha_cues_free(c);
    rc = pd_aha_cues_parse(&c, "...\n", 4, "mem", err);
    ok(rc == PD_EFORMAT && strstr(err, "mem:1: a cue needs a letter"), "'...': %s", err);
    pd_aha_cues_free(c);

    snprintf(path2, sizeof path2, "%s/none", tmpdir);
    rc = pd_aha_cues_load(&c, path2, err);
    ok(rc == PD_ENOTFOUND && c == NULL, "a missing file is PD_ENOTFOUND");

    /* The seed, where the UI looks for the file. */
    char xdg[400], where[512];
    snprintf(xdg, sizeof xdg, "%s/xdg", tmpdir);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    rc = pd_aha_cues_path(where, sizeof where, err);
    snprintf(path2, sizeof path2, "%s/ponder/aha-cues", xdg);
    ok(rc == 0 && strcmp(where, path2) == 0, "the cue file is at $XDG_CONFIG_HOME/ponder/aha-cues");
    bool written = false;
    rc = pd_aha_cues_write_seed(where, &written, err);
    ok(rc == 0 && written, "the seed is written when the file is missing (folder made)");
    struct pd_aha_cues *seed = NULL;
    pd_aha_cues_seed(&seed, err);
    rc = pd_aha_cues_load(&c, where, err);
    ok(rc == 0 && pd_aha_cues_count(c) == pd_aha_cues_count(seed) &&
       pd_aha_cues_count(c) > 30, "... and loads cleanly as the seed list (%zu cues)",
       pd_aha_cues_count(c));
    bool has_oat = false, has_but = false;
    for (size_t i = 0; i < pd_aha_cues_count(c); i++) {
        has_oat |= strcmp(pd_aha_cues_get(c, i), "go over the steps") == 0;
        has_but |= strcmp(pd_aha_cues_get(c, i), "but") == 0;
    }
    ok(has_oat && !has_but, "... oat-zero's cues are in, the bare 'but' is commented out");
    pd_aha_cues_free(c);
    pd_aha_cues_free(seed);
    spit(where, "mine\n");
    rc = pd_aha_cues_write_seed(where, &written, err);
    rc |= pd_aha_cues_load(&c, where, err);
    ok(rc == 0 && !written && pd_aha_cues_count(c) == 1, "an existing file is left alone");
    pd_aha_cues_free(c);
}

/* ---- the evidence as JSON ---- */

static void
test_signals(void)
{
    char err[PD_ERR_MAX], buf[PD_AHA_SIGNALS_MAX];
    struct pd_aha_flag f = { .tok_from = 3, .tok_to = 5, .score = 1.0f, .state = PD_AHA_FINAL,
                             .evidence = PD_AHA_EV_CUE | PD_AHA_EV_ENTROPY |
                                         PD_AHA_EV_ANSWER_CHANGED,
                             .cue = "that's \"not\" right", .n_cues = 2, .entropy = 3.25f,
                             .entropy_tok = 6, .base_mean = 0.5f, .base_std = 0.125f,
                             .base_n = 40, .answer_before = "\\frac{3}{4}",
                             .answer_after = "-1.5", .answer_before_tok = 1,
                             .answer_after_tok = 9 };
    int len = pd_aha_flag_signals(&f, buf, sizeof buf);
    is_str(buf, "{\"evidence\":\"cue+entropy+answer-changed\",\"state\":\"final\","
                "\"cue\":\"that's \\\"not\\\" right\",\"hits\":2,\"entropy\":3.25,"
                "\"entropy_tok\":6,\"baseline_mean\":0.5,\"baseline_std\":0.125,"
                "\"baseline_n\":40,\"answer_before\":\"\\\\frac{3}{4}\",\"answer_before_tok\":1,"
                "\"answer_after\":\"-1.5\",\"answer_after_tok\":9,\"answer_changed\":true}",
           "the signals object");
    is_int(len, strlen(buf), "... its length returned");
    struct pd_aha_flag g;
    memset(&g, 0xff, sizeof g);
    int rc = pd_aha_flag_from_signals(&g, buf, err);
    ok(rc == 0 && g.evidence == f.evidence && g.state == PD_AHA_FINAL &&
       strcmp(g.cue, f.cue) == 0 && g.n_cues == 2 && g.entropy == 3.25f &&
       g.entropy_tok == 6 && g.base_mean == 0.5f && g.base_std == 0.125f && g.base_n == 40 &&
       strcmp(g.answer_before, f.answer_before) == 0 && g.answer_before_tok == 1 &&
       strcmp(g.answer_after, "-1.5") == 0 && g.answer_after_tok == 9,
       "... read back field for field");
    is_int(pd_aha_flag_signals(&f, buf, 40), PD_ERANGE, "too small a buffer: PD_ERANGE");

    struct pd_aha_flag e = { .evidence = PD_AHA_EV_CUE, .cue = "wait", .n_cues = 1,
                             .entropy = NAN, .entropy_tok = -1, .answer_before_tok = -1,
                             .answer_after_tok = -1, .state = PD_AHA_OPEN };
    pd_aha_flag_signals(&e, buf, sizeof buf);
    is_str(buf, "{\"evidence\":\"cue\",\"state\":\"open\",\"cue\":\"wait\",\"hits\":1,"
                "\"entropy\":null,\"entropy_tok\":null,\"baseline_mean\":null,"
                "\"baseline_std\":null,\"baseline_n\":0,\"answer_before\":null,"
                "\"answer_before_tok\":null,\"answer_after\":null,\"answer_after_tok\":null,"
                "\"answer_changed\":null}", "absent evidence is null");
    rc = pd_aha_flag_from_signals(&g, buf, err);
    ok(rc == 0 && g.state == PD_AHA_OPEN && isnan(g.entropy) && g.entropy_tok == -1 &&
       g.answer_after[0] == '\0', "... and reads back as absent");
    rc = pd_aha_flag_from_signals(&g, "{\"cue\":{\"nested\":1}}", err);
    ok(rc == PD_EFORMAT && strstr(err, "aha signals"), "a nested object is refused: %s", err);
    rc = pd_aha_flag_from_signals(&g, " {\"other\":\"x\",\"cue\":\"w\\u0041\"} ", err);
    ok(rc == 0 && strcmp(g.cue, "wA") == 0, "unknown keys skipped, escapes decoded");
    is_str(pd_aha_evidence_label(PD_AHA_EV_CUE | PD_AHA_EV_ANSWER_SAME), "cue+answer-same",
           "evidence label");

    /* The largest object: every string all control characters (and no NUL), numbers wide. */
    struct pd_aha_flag w = { .evidence = 15, .n_cues = INT32_MIN, .entropy = -9.9e11f,
                             .entropy_tok = INT32_MAX, .base_mean = -9.9e11f,
                             .base_std = -9.9e11f, .base_n = INT32_MIN,
                             .answer_before_tok = INT32_MAX, .answer_after_tok = INT32_MAX };
    memset(w.cue, 1, sizeof w.cue);
    memset(w.answer_before, 1, sizeof w.answer_before);
    memset(w.answer_after, 1, sizeof w.answer_after);
    len = pd_aha_flag_signals(&w, buf, sizeof buf);
    ok(len > 1000 && len < PD_AHA_SIGNALS_MAX, "the largest signals object fits (%d bytes)", len);
}

/* ---- the store ---- */

struct rows {
    struct pd_aha_row r[8];
    char sig[8][PD_AHA_SIGNALS_MAX];
    int n;
};

static int
collect(void *user, const struct pd_aha_row *row)
{
    struct rows *rs = user;
    if (rs->n < 8) {
        rs->r[rs->n] = *row;
        snprintf(rs->sig[rs->n], sizeof rs->sig[0], "%s", row->signals);
        rs->r[rs->n].signals = rs->sig[rs->n];
        rs->r[rs->n].detector = rs->r[rs->n].version = NULL;   /* not kept past the callback */
    }
    rs->n++;
    return 0;
}

static int
list(struct pd_store *st, int64_t turn, const char *detector, struct rows *rs)
{
    char err[PD_ERR_MAX];
    rs->n = 0;
    int rc = pd_store_aha_list(st, turn, detector, collect, rs, err);
    if (rc)
        diag("list: %s", err);
    return rs->n;
}

static int64_t
count(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int64_t v = -1;
    sqlite3_open(db, &h);
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* A session with one assistant turn of s's tokens, streamed through the writer. */
static int64_t
store_turn(struct pd_store *st, const struct stream *s, int64_t *session)
{
    char err[PD_ERR_MAX];
    int64_t turn = 0;
    if (pd_store_session_new(st, 0, "aha", session, err) ||
        pd_store_turn_add(st, *session, "user", "3 boxes of 4?", NULL, err) ||
        pd_store_turn_begin(st, *session, NULL, &turn, err)) {
        diag("store: %s", err);
        return 0;
    }
    for (int i = 0; i < s->n; i++) {
        struct pd_token_event ev = { .id = 100 + i, .index = i, .segment = s->tok[i].segment,
                                     .entropy = s->tok[i].entropy, .logprob = -0.1f,
                                     .t = 0.01 * i, .piece = s->span[i].text,
                                     .piece_len = s->span[i].len, .n_spans = 1 };
        ev.spans[0] = s->span[i];
        pd_store_turn_token(st, &ev);
    }
    if (pd_store_turn_end(st, NULL, err))
        diag("turn end: %s", err);
    return turn;
}

static void
test_store(void)
{
    char err[PD_ERR_MAX] = "", db[512];
    snprintf(db, sizeof db, "%s/aha.db", tmpdir);
    struct pd_store *st = NULL;
    if (pd_store_open(&st, db, err)) {
        diag("open: %s", err);
        exit(1);
    }
    struct stream s = { 0 };
    for (int i = 0; i < 20; i++)
        add(&s, PD_SEG_THINK, 0.5f, " step");
    add(&s, PD_SEG_THINK, 0.5f, " so 3 * 4 = 12.| Wait|,| I");
    add(&s, PD_SEG_THINK, 3.5f, " misread:");
    add(&s, PD_SEG_THINK, 0.5f, " 3 * 5 = 15. Done| and| more| words| here| and| there|. Hm|m,"
                                "| let me verify|: 3 * 5 is 15.");
    add(&s, PD_SEG_ANSWER, 0.5f, "\\boxed{15}");
    int64_t session = 0, turn = store_turn(st, &s, &session);

    struct pd_aha *a = NULL;
    pd_aha_new(&a, NULL, NULL, err);
    size_t n = 0;
    int rc = pd_store_aha_detect(st, turn, a, &n, err);
    ok(rc == 0 && n == 2, "detect over the stored turn: %zu flags %s", n, rc ? err : "");
    struct rows rs;
    list(st, turn, NULL, &rs);
    is_int(rs.n, 2, "two rows listed");
    if (rs.n != 2)
        goto out;
    const struct pd_aha_flag *f0 = &rs.r[0].flag;
    ok(f0->tok_from == tok_of(&s, " Wait") && f0->tok_to == f0->tok_from &&
       fabsf(f0->score - 1.0f) < 1e-6f, "the first row: tokens %d..%d, score %.2f",
       f0->tok_from, f0->tok_to, f0->score);
    ok(f0->evidence == (PD_AHA_EV_CUE | PD_AHA_EV_ENTROPY | PD_AHA_EV_ANSWER_CHANGED) &&
       strcmp(f0->answer_before, "12") == 0 && strcmp(f0->answer_after, "15") == 0 &&
       fabsf(f0->entropy - 3.5f) < 1e-3f, "... its evidence read back from signals: %s",
       rs.sig[0]);
    ok(rs.r[1].flag.evidence == (PD_AHA_EV_CUE | PD_AHA_EV_ANSWER_SAME) &&
       strcmp(rs.r[1].flag.cue, "let me verify") == 0, "the second: 'hmm' + 'let me verify', "
                                                        "answer unchanged (15)");
    ok(rs.r[0].verdict == PD_AHA_UNJUDGED && rs.r[0].verdict_id == 0, "unjudged at first");
    is_int(count(db, "SELECT count(*) FROM aha_events WHERE detector = 'builtin' AND "
                     "detector_version = '1'"), 2, "detector name and version stored");

    int64_t first = rs.r[0].id, second = rs.r[1].id, ann = 0;
    rc = pd_store_aha_judge(st, first, PD_AHA_CONFIRMED, &ann, err);
    rc |= pd_store_aha_judge(st, second, PD_AHA_CONFIRMED, NULL, err);
    rc |= pd_store_aha_judge(st, second, PD_AHA_REJECTED, NULL, err);
    list(st, turn, "builtin", &rs);
    ok(rc == 0 && rs.r[0].verdict == PD_AHA_CONFIRMED && rs.r[0].verdict_id == ann &&
       rs.r[1].verdict == PD_AHA_REJECTED, "confirmed and (after a change of mind) rejected");
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM annotations WHERE kind = 'label' AND value = "
                          "'aha:confirmed' AND span_from = %d AND span_to = %d", f0->tok_from,
             f0->tok_to);
    is_int(count(db, q), 1, "the verdict is a label annotation over the flag's tokens");
    is_int(count(db, "SELECT count(*) FROM annotations"), 2, "one verdict per span");
    is_int(pd_store_aha_judge(st, 99999, PD_AHA_CONFIRMED, NULL, err), PD_ENOTFOUND,
           "judging a missing flag: %s", err);

    rc = pd_store_aha_detect(st, turn, a, &n, err);
    list(st, turn, NULL, &rs);
    ok(rc == 0 && rs.n == 2 && rs.r[0].verdict == PD_AHA_CONFIRMED &&
       rs.r[1].verdict == PD_AHA_REJECTED, "a re-run replaces the rows; the verdicts stay "
                                           "with the spans");
    struct pd_aha_flag other = { .tok_from = 1, .tok_to = 2, .score = 0.9f, .cue = "x",
                                 .entropy = NAN, .entropy_tok = -1, .answer_before_tok = -1,
                                 .answer_after_tok = -1 };
    struct pd_aha_detector od = { .abi_version = 1, .name = "other", .version = "7" };
    rc = pd_store_aha_replace(st, turn, &od, &other, 1, err);
    list(st, turn, NULL, &rs);
    int n_all = rs.n;
    list(st, turn, "other", &rs);
    ok(rc == 0 && n_all == 3 && rs.n == 1 && rs.r[0].flag.tok_from == 1,
       "another detector's flags sit beside them");
    rc = pd_store_aha_replace(st, turn, &pd_aha_builtin, NULL, 0, err);
    ok(rc == 0 && list(st, turn, "builtin", &rs) == 0 && list(st, turn, NULL, &rs) == 1,
       "replacing with nothing deletes only that detector's flags");
    is_int(pd_store_aha_replace(st, 12345, &pd_aha_builtin, NULL, 0, err), PD_ENOTFOUND,
           "flags for a missing turn: %s", err);
    int deleted = 0;
    rc = pd_store_aha_delete(st, turn, NULL, &deleted, err);
    ok(rc == 0 && deleted == 1 && list(st, turn, NULL, &rs) == 0, "delete all of a turn's");

    pd_store_aha_detect(st, turn, a, &n, err);
    ok(count(db, "SELECT count(*) FROM aha_events") == 2, "detected again");
    rc = pd_store_session_rm(st, session, err);
    ok(rc == 0 && count(db, "SELECT count(*) FROM aha_events") == 0 &&
       count(db, "SELECT count(*) FROM annotations") == 0,
       "deleting the turn (with its session) deletes its flags and verdicts");
out:
    pd_aha_free(a);
    pd_store_close(st);
}

int
main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test-aha-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_cues();
    test_entropy();
    test_answers();
    test_streaming();
    test_cue_file();
    test_signals();
    test_store();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    return exit_status();
}
