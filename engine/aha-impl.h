/*
 * aha-impl.h: what the built-in aha detector's files share (aha-builtin.c, aha-answer.c) and
 * nothing else sees: the folded text ring and the answer scanner.
 *
 * The folded text: the bytes fed, ASCII letters in lower case, each white-space run one byte
 * ('\n' when the run holds a newline, else ' '), curly apostrophes as "'", and a NUL wherever the
 * segment changes; each byte with the token it came from and its segment.
 */
#ifndef PD_AHA_IMPL_H
#define PD_AHA_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/aha.h"

#define AHA_RING 256    /* folded bytes kept: a cue (< 64) and an answer's context */

struct aha_text {
    unsigned char ring[AHA_RING];
    int32_t tok[AHA_RING];
    uint8_t seg[AHA_RING];
    uint64_t pos;       /* bytes pushed so far: the stream position of the next one */
};

static inline unsigned char
aha_at(const struct aha_text *t, uint64_t q)
{
    return t->ring[q % AHA_RING];
}

/* The oldest position still in the ring. */
static inline uint64_t
aha_low(const struct aha_text *t)
{
    return t->pos > AHA_RING ? t->pos - AHA_RING : 0;
}

static inline bool
aha_is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* How sure it is that a candidate is the model's answer, not a step on the way. */
enum aha_strength {
    AHA_PLAIN = 0,          /* "= 12" in the middle of the work */
    AHA_CONCLUSION = 1,     /* "so 3*4 = 12", "the total is 12" */
    AHA_EXPLICIT = 2,       /* "the answer is 12", \boxed{12}, <answer>12</answer> */
};

#define AHA_LHS_MAX 24

/* A candidate answer. */
struct aha_cand {
    char s[PD_AHA_ANSWER_MAX];  /* canonical: "12", "-0.5", "\frac{3}{4}", "44-(35-19)" */
    char lhs[AHA_LHS_MAX];      /* the expression it is the value of, spaces out ("3*4"); "" */
    enum aha_strength strength;
    int32_t tok;                /* the token that ended it */
    uint64_t start, end;        /* stream positions of its first and last byte */
};

/* The scanner's state; zero is the start state. */
struct aha_scanner {
    int st;                     /* where in a number (aha-answer.c) */
    char num[PD_AHA_ANSWER_MAX];
    int n_num;
    bool dot, slash;
    char sep;                   /* '.' or '/' read after digits; a digit must follow */
    uint64_t start, end;        /* the number's first byte and last digit */
    int32_t tok;                /* token of its last digit */
    int box;                    /* 0; 1 inside \boxed{...}; 2 inside <answer>...</answer> */
    int depth;                  /* braces open inside \boxed{ */
    char text[PD_AHA_ANSWER_MAX];
    int n_text;
    uint64_t box_start;
};

/* The byte at position p (the last pushed) of t: the candidates that end with it go to out
 * (two at most: "\boxed{x = 15}" ends a number and a box at once). Returns how many. */
int aha_scan(struct aha_scanner *s, const struct aha_text *t, uint64_t p, struct aha_cand *out);

#endif
