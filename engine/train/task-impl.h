/*
 * task-impl.h: what the task files share (internal to engine/train/task*.c): the random
 * generator, a bounded text writer, and each task's generator and solver.
 */
#ifndef PD_TASK_IMPL_H
#define PD_TASK_IMPL_H

#include "engine/train/task.h"

#include <stdarg.h>

/* ---- xoshiro256**, seeded through splitmix64: the same numbers on every machine ---- */

struct task_rng {
    uint64_t s[4];
};

uint64_t task_mix64(uint64_t x);
void task_rng_seed(struct task_rng *r, uint64_t seed, uint64_t stream);
uint64_t task_rng_next(struct task_rng *r);
/* Uniform in [lo, hi] (lo <= hi), without modulo bias. */
int task_rng_range(struct task_rng *r, int lo, int hi);
/* True with probability p. */
bool task_rng_chance(struct task_rng *r, double p);

/* A number with exactly d digits (d >= 1, leading digit non-zero). */
int task_rng_digits(struct task_rng *r, int d);

/* ---- a writer into a fixed buffer: writes past the end are dropped and remembered ---- */

struct task_buf {
    char *p;
    size_t len, cap;   /* p[len] is always '\0' while cap > 0 */
    bool overflow;
};

void tb_init(struct task_buf *b, char *p, size_t cap);
void tb_printf(struct task_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tb_puts(struct task_buf *b, const char *s);

/* ---- the tasks ---- */

/* Draw one problem (split not yet decided) from r. 0, or PD_ERANGE when the params allow none. */
int task_countdown_draw(const struct pd_task_params *p, struct task_rng *r,
                        struct pd_task_problem *out);
int task_arith_draw(const struct pd_task_params *p, struct task_rng *r,
                    struct pd_task_problem *out);

int task_countdown_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
                         struct pd_task_solution *out, char *err);
int task_arith_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
                     struct pd_task_solution *out, char *err);

#endif
