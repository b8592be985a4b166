/*
 * answer-match.h: the accuracy check shared by the accuracy and length plugins.
 *
 * Extraction (grpo.md 3.1). Only the answer part of the completion is read (after "</think>";
 * the whole completion when it has no think block; nothing when the thoughts never close):
 *   1. the content of the last <answer>...</answer> (lines may break inside; an unclosed last
 *      <answer> runs to the end, since a stop string may have eaten "</answer>"); a \boxed{}
 *      in it is taken further (its last one);
 *   2. else the content of the last \boxed{...} or \fbox{...}, braces matched.
 * The gold answer goes through the same unwrapping (a gold "\boxed{16}" is "16").
 *
 * Normalization, both sides: white space trimmed then removed; $...$, \(...\), \[...\] and
 * \text{}, \textbf{}, \mathrm{}, \mbox{} unwrapped; \left \right \! \, \; \: and "\ " dropped;
 * \dfrac and \tfrac read as \frac; a trailing '.' dropped; a leading "x=" (one letter, then
 * '=') dropped. Then equal if the strings are equal, or if both read as the same number: an
 * integer or decimal with an optional sign and thousands separators ("1,000"), a fraction a/b
 * or \frac{a}{b} of such; compared exactly as rationals (16 = 16.0 = "16 " = 32/2; 0.5 = 1/2).
 *
 * Stricter than math-verify (TRL, open-r1), which parses both sides into SymPy:
 *   - no symbolic algebra: "\sqrt{2}/2" and "1/\sqrt{2}", "2x+2" and "2(x+1)" differ;
 *   - no numeric tolerance: "3.14" is not "\pi", "0.333" is not "1/3";
 *   - no sets, intervals, tuples or equations beyond string equality ("1,2" vs "2,1" differ);
 *   - no units or percent handling ("50\%" vs "50", "10 cm" vs "10" differ);
 *   - the answer must be marked (<answer> or \boxed): "The answer is 16." scores 0, where
 *     math-verify's anchorless extraction might find it;
 *   - no asymmetry: the comparison is the same both ways.
 * A gold answer that is empty after normalization is None (math-verify: a gold that does not
 * parse skips the example).
 */
#ifndef PD_ANSWER_MATCH_H
#define PD_ANSWER_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "plugins/ponder-plugin.h"

#define PP_ANSWER_MAX 512   /* bytes of a normalized answer; longer ones are cut (and differ) */

/* PONDER_REWARD_OK with *correct set (msg: what was compared), or PONDER_REWARD_NONE (no gold
 * answer). */
int pp_answer_check(const struct ponder_reward_input *in, bool *correct, char *msg,
                    size_t msg_size);

/* The answer marked in text[0..n) (steps 1-2 above), unwrapped, not yet normalized: 0 with
 * *ans, *len set, or -1 when nothing is marked. */
int pp_answer_extract(const char *text, size_t n, const char **ans, size_t *len);

/* Normalize s[0..n) into out (PP_ANSWER_MAX bytes). */
void pp_answer_normalize(const char *s, size_t n, char *out);

/* Whether two normalized answers are equal (as strings or as numbers). */
bool pp_answer_equal(const char *a, const char *b);

#endif
