/*
 * sessions/aha.h: aha flags in the session store: the aha_events rows of a turn, and the user's
 * verdict on each.
 *
 * A flag is one aha_events row: its turn, tok_from and tok_to (token positions of the cue), its
 * score, its evidence as a JSON object (signals, see engine/aha.h), and the detector's name and
 * version. A turn holds the flags of each detector that ran over it; running a detector again
 * replaces that detector's flags of the turn (pd_store_aha_replace, pd_store_aha_detect), so the
 * rows always come from one run.
 *
 * The user's verdict is an annotation (kind 'label', value 'aha:confirmed' or 'aha:rejected')
 * over the flag's tokens, so it belongs to the span of the trace, not to the row: it survives a
 * re-run that flags the same tokens again, is shared by detectors that flag the same span, and
 * stays (as a labelled span, the data for measuring a detector's precision) when no flag is
 * there any more. A span has at most one verdict: judging again replaces it.
 *
 * When to store: while a turn streams, the flags live in the detector (pd_aha_flags); when the
 * turn ends (or is stopped), pd_aha_finish and pd_store_aha_replace write them in one
 * transaction. A turn whose flags were never stored (a crash, an import, an older ponder) gets
 * them from its stored tokens with pd_store_aha_detect.
 *
 * Every function returns 0 or a negative PD_E* code and fills err (PD_ERR_MAX bytes).
 */
#ifndef PD_SESSIONS_AHA_H
#define PD_SESSIONS_AHA_H

#include <stddef.h>
#include <stdint.h>

#include "engine/aha.h"
#include "sessions/store.h"

enum pd_aha_verdict {
    PD_AHA_UNJUDGED = 0,
    PD_AHA_CONFIRMED,
    PD_AHA_REJECTED,
};

/* "unjudged", "confirmed", "rejected". */
const char *pd_aha_verdict_name(enum pd_aha_verdict v);

struct pd_aha_row {
    int64_t id, turn;
    struct pd_aha_flag flag;    /* tok_from, tok_to, score from the row; the evidence read back
                                   from signals (pd_aha_flag_from_signals; left empty when the
                                   signals are not a flat object) */
    const char *signals;        /* the JSON as stored ("" when NULL) */
    const char *detector, *version;
    int64_t created;            /* unix milliseconds */
    enum pd_aha_verdict verdict;
    int64_t verdict_id;         /* the annotation holding it; 0 when unjudged */
};

/* Called per row; a non-zero return stops the listing and is returned. The row's strings live
 * until the callback returns. */
typedef int (*pd_aha_row_fn)(void *user, const struct pd_aha_row *row);

/* Replace det's flags of turn with flags[0..n) (det's name and version stored with each), in
 * one transaction. n = 0 just deletes them. PD_ENOTFOUND when the turn is absent. */
int pd_store_aha_replace(struct pd_store *st, int64_t turn, const struct pd_aha_detector *det,
                         const struct pd_aha_flag *flags, size_t n, char *err);

/* Run the detector over the turn's stored tokens (pd_aha_run) and store what it flags
 * (pd_store_aha_replace). *n_flags (may be NULL) gets their count. The detector is reset
 * first and holds the flags afterwards, as after a live turn. */
int pd_store_aha_detect(struct pd_store *st, int64_t turn, struct pd_aha *a, size_t *n_flags,
                        char *err);

/* A turn's flags ordered by tok_from, with their verdicts; detector NULL: every detector's. */
int pd_store_aha_list(struct pd_store *st, int64_t turn, const char *detector, pd_aha_row_fn fn,
                      void *user, char *err);

/* Delete a turn's flags (of detector, or all when NULL); *n_deleted may be NULL. Verdicts stay:
 * they label the trace, not the rows. */
int pd_store_aha_delete(struct pd_store *st, int64_t turn, const char *detector, int *n_deleted,
                        char *err);

/* Record the user's verdict on flag aha_id (replacing an earlier one on the same span);
 * PD_AHA_UNJUDGED removes it. *annotation_id (may be NULL) gets the new annotation's id, 0 for
 * UNJUDGED. PD_ENOTFOUND when there is no such flag. */
int pd_store_aha_judge(struct pd_store *st, int64_t aha_id, enum pd_aha_verdict v,
                       int64_t *annotation_id, char *err);

#endif
