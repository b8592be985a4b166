/*
 * task-countdown.c: TinyZero's countdown: the generator and the solver that writes its trace.
 *
 * The rules of the search (and so of which targets are reachable) are the classic game's:
 * combine two values with + - * /, the larger first, keeping every intermediate value a
 * non-negative integer (a subtraction never goes below zero, a division must be exact). The
 * scorer is more liberal (real division, any order); every problem made here is solvable under
 * the strict rules, so the solver always finds an answer.
 *
 * The trace, for 44 19 35 -> 28:
 *
 *   Need 28 from 44, 19, 35.
 *   44-19=25, 35-25=10, no.              a dead end: the chain of moves, then the last step
 *   35-19=16, 44-16=28, yes.             whose result lands closest to the target
 *   Check: 44-(35-19)=44-16=28. Yes.     the answer reduced one operation at a time
 *
 * The order is fixed. At each level the moves are ranked by how close their result lands to
 * the target (ties: pair order, then + - * /), a move that leaves the same values as a better
 * one dropped; a leaf (two values left) takes the operation that lands closest. Leaves are
 * visited by increasing sum of their moves' ranks (a limited-discrepancy search): first the
 * best move everywhere, then one second-best move, and so on, which with 4 numbers tries
 * several first moves early instead of exhausting the first one. After cd_max_written dead
 * ends the rest are counted, not written ("... 12 more tries, no.").
 *
 * A slip is a dead end claimed as a success ("25+35=28, yes."), which the check then refutes
 * ("Wait, 25+35=60, not 28.") before the search goes on. When the answer is found before any
 * dead end is written, the slip happens in the check of the true answer instead and is caught
 * against the search's own line ("...=44-16=26. Wait, 44-16=28, not 26. Yes.").
 */
#include "config.h"

#include "engine/train/task-impl.h"

#include <string.h>

enum {
    MAX_VALUES = 2048,   /* final values of 4 numbers, one per leaf: at most 1152 */
    MAX_MOVES = 6 * 4,   /* moves from 4 values: 6 pairs, 4 operators */
    MAX_RANK_SUM = 64,
};

struct cd_node {
    char op;         /* 0 for a number */
    int l, r;        /* children, when op */
    long long v;
};

/* x op y under the strict rules (x >= y); false when not allowed. */
static bool
apply_op(char op, long long x, long long y, long long *out)
{
    switch (op) {
    case '+': *out = x + y; return true;
    case '-': *out = x - y; return true;
    case '*': *out = x * y; return true;
    case '/':
        if (y == 0 || x % y)
            return false;
        *out = x / y;
        return true;
    }
    return false;
}

static const char ops[4] = { '+', '-', '*', '/' };

/* ---- the generator ------------------------------------------------------------------------ */

static void
reach(const long long *v, int k, long long *out, int *n_out)
{
    if (k == 1) {
        if (*n_out < MAX_VALUES)
            out[(*n_out)++] = v[0];
        return;
    }
    long long next[PD_TASK_MAX_NUMS];
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            long long x = PD_MAX(v[i], v[j]), y = PD_MIN(v[i], v[j]), r;
            int m = 0;
            for (int t = 0; t < k; t++)
                if (t != i && t != j)
                    next[m++] = v[t];
            for (int o = 0; o < 4; o++)
                if (apply_op(ops[o], x, y, &r)) {
                    next[m] = r;
                    reach(next, m + 1, out, n_out);
                }
        }
}

static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int
task_countdown_draw(const struct pd_task_params *p, struct task_rng *r,
                    struct pd_task_problem *out)
{
    memset(out, 0, sizeof *out);
    out->kind = PD_TASK_COUNTDOWN;
    out->n = task_rng_range(r, p->cd_min_nums, p->cd_max_nums);
    long long v[PD_TASK_MAX_NUMS], all[MAX_VALUES];
    for (int i = 0; i < out->n; i++)
        v[i] = out->nums[i] = task_rng_range(r, 1, p->cd_max_num);
    int n_all = 0, n_in = 0;
    reach(v, out->n, all, &n_all);
    /* The target is the value of one expression drawn uniformly among all in range, as a
     * random expression gives: targets with many solutions come more often than the rare ones
     * (a target uniform over the reachable values makes 4-number searches three times
     * longer). */
    for (int i = 0; i < n_all; i++)
        if (all[i] >= p->cd_min_target && all[i] <= p->cd_max_target)
            all[n_in++] = all[i];
    if (n_in == 0)
        return PD_ERANGE;
    out->target = all[task_rng_range(r, 0, n_in - 1)];
    return 0;
}

/* ---- expressions ---------------------------------------------------------------------------- */

static int
prec(char op)
{
    return op == '+' || op == '-' ? 1 : op == '*' || op == '/' ? 2 : 3;
}

/* Write node i of t with the parentheses its shape needs (left-associative + - * /). */
static void
expr_write(struct task_buf *b, const struct cd_node *t, int i)
{
    const struct cd_node *n = &t[i];
    if (!n->op) {
        tb_printf(b, "%lld", n->v);
        return;
    }
    bool pl = prec(t[n->l].op) < prec(n->op), pr = prec(t[n->r].op) <= prec(n->op);
    tb_puts(b, pl ? "(" : "");
    expr_write(b, t, n->l);
    tb_printf(b, "%s%c%s", pl ? ")" : "", n->op, pr ? "(" : "");
    expr_write(b, t, n->r);
    tb_puts(b, pr ? ")" : "");
}

/* The first operation, left to right, whose operands are both numbers; -1 when none. */
static int
ready_op(const struct cd_node *t, int i)
{
    const struct cd_node *n = &t[i];
    if (!n->op)
        return -1;
    int r = ready_op(t, n->l);
    if (r < 0)
        r = ready_op(t, n->r);
    if (r < 0 && !t[n->l].op && !t[n->r].op)
        r = i;
    return r;
}

/* One operation on values: what a "Wait" sentence restates. */
struct cd_step {
    long long x, y, v;
    char op;
};

/* "E=E1=...=V": the expression, reduced one operation at a time. When wrong >= 0 the last
 * reduction is written as that value instead (the check's own slip). The last operation
 * reduced is left in *last. */
static void
reduce_write(struct task_buf *b, const struct cd_node *tree, int n_nodes, int root,
             long long wrong, struct cd_step *last)
{
    struct cd_node t[2 * PD_TASK_MAX_NUMS];
    memcpy(t, tree, (size_t)n_nodes * sizeof t[0]);
    expr_write(b, t, root);
    int i;
    while ((i = ready_op(t, root)) >= 0) {
        *last = (struct cd_step){ t[t[i].l].v, t[t[i].r].v, t[i].v, t[i].op };
        t[i].op = 0;
        tb_puts(b, "=");
        if (i == root && wrong >= 0)
            tb_printf(b, "%lld", wrong);
        else
            expr_write(b, t, root);
    }
}

/* ---- the solver ------------------------------------------------------------------------------ */

struct cd_search {
    const struct pd_task_params *p;
    long long target;
    int n;                                   /* the numbers: nodes 0..n-1 */
    struct cd_node t[2 * PD_TASK_MAX_NUMS];  /* move d makes node n+d */
    struct task_buf *b;
    struct task_rng rng;
    bool slip_pending;
    int slips, tried, written, skipped;
    int root;                                /* the answer's node, once found */
};

struct cd_move {
    int l, r;        /* nodes, larger value first */
    char op;
    long long v;
    long long key[PD_TASK_MAX_NUMS];  /* the values after the move, sorted: for duplicates */
    long long score;                  /* the search takes smaller scores first */
};

static long long
dist(long long v, long long target)
{
    return v > target ? v - target : target - v;
}

/* The chain of moves 0..depth-1 and the last step (node n+depth), then the verdict. */
static void
write_chain(struct cd_search *s, int depth, long long shown, const char *verdict)
{
    for (int d = 0; d <= depth; d++) {
        const struct cd_node *m = &s->t[s->n + d];
        tb_printf(s->b, "%lld%c%lld=%lld, ", s->t[m->l].v, m->op, s->t[m->r].v,
                  d == depth ? shown : m->v);
    }
    tb_printf(s->b, "%s.\n", verdict);
}

/* A leaf: two values left. True when one operation reaches the target. */
static bool
leaf(struct cd_search *s, const int *items, int depth)
{
    int a = items[0], c = items[1];
    if (s->t[a].v < s->t[c].v)
        a = items[1], c = items[0];
    int best = -1;
    long long best_v = 0, r;
    for (int o = 0; o < 4; o++)
        if (apply_op(ops[o], s->t[a].v, s->t[c].v, &r) &&
            (best < 0 || dist(r, s->target) < dist(best_v, s->target)))
            best = o, best_v = r;
    int node = s->n + depth;
    s->t[node] = (struct cd_node){ .op = ops[best], .l = a, .r = c, .v = best_v };
    s->tried++;
    if (best_v == s->target) {
        if (s->skipped)
            tb_printf(s->b, "... %d more tries, no.\n", s->skipped);
        write_chain(s, depth, best_v, "yes");
        s->root = node;
        return true;
    }
    if (s->written >= s->p->cd_max_written) {
        s->skipped++;
        return false;
    }
    s->written++;
    if (!s->slip_pending) {
        write_chain(s, depth, best_v, "no");
        return false;
    }
    /* The slip: this dead end taken for a success, then refuted by the check. */
    s->slip_pending = false;
    s->slips++;
    write_chain(s, depth, s->target, "yes");
    struct cd_step last;
    tb_puts(s->b, "Check: ");
    reduce_write(s->b, s->t, node + 1, node, -1, &last);
    tb_printf(s->b, ". Wait, %lld%c%lld=%lld, not %lld.\n", last.x, last.op, last.y, last.v,
              s->target);
    return false;
}

/* Moves from items[0..k), in the search's order, duplicates removed. Returns how many. */
static int
moves_list(const struct cd_search *s, const int *items, int k, struct cd_move *mv)
{
    int n = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            int l = items[i], r = items[j];
            if (s->t[l].v < s->t[r].v)
                l = items[j], r = items[i];
            for (int o = 0; o < 4; o++) {
                struct cd_move m = { .l = l, .r = r, .op = ops[o] };
                if (!apply_op(m.op, s->t[l].v, s->t[r].v, &m.v))
                    continue;
                int q = 0;
                for (int t = 0; t < k; t++)
                    if (t != i && t != j)
                        m.key[q++] = s->t[items[t]].v;
                m.key[q++] = m.v;
                qsort(m.key, (size_t)q, sizeof m.key[0], cmp_ll);
                bool dup = false;
                for (int e = 0; e < n && !dup; e++)
                    dup = memcmp(mv[e].key, m.key, (size_t)q * sizeof m.key[0]) == 0;
                if (!dup) {
                    m.score = dist(m.v, s->target);
                    mv[n++] = m;
                }
            }
        }
    /* Insertion sort by distance to the target: stable, so ties keep the generation order. */
    for (int i = 1; i < n; i++) {
        struct cd_move m = mv[i];
        int j = i;
        for (; j > 0 && mv[j - 1].score > m.score; j--)
            mv[j] = mv[j - 1];
        mv[j] = m;
    }
    return n;
}

/* Visit the leaves under items whose moves' ranks (0 for the most promising move) add up to
 * exactly budget. */
static bool
search(struct cd_search *s, const int *items, int k, int depth, int budget)
{
    if (k == 2)
        return budget == 0 && leaf(s, items, depth);
    struct cd_move mv[MAX_MOVES];
    int n_mv = moves_list(s, items, k, mv);
    for (int i = 0; i < n_mv && i <= budget; i++) {
        int node = s->n + depth, next[PD_TASK_MAX_NUMS], q = 0;
        s->t[node] = (struct cd_node){ .op = mv[i].op, .l = mv[i].l, .r = mv[i].r,
                                       .v = mv[i].v };
        next[q++] = node;   /* the new value first, then the rest in their order */
        for (int t = 0; t < k; t++)
            if (items[t] != mv[i].l && items[t] != mv[i].r)
                next[q++] = items[t];
        if (search(s, next, q, depth + 1, budget - i))
            return true;
    }
    return false;
}

/* The check of the answer; with a pending slip, its last step goes wrong and is redone. */
static void
write_check(struct cd_search *s)
{
    struct cd_step last;
    long long wrong = -1;
    if (s->slip_pending) {
        static const int deltas[] = { 1, -1, 2, -2, 10, -10 };
        do
            wrong = s->target + deltas[task_rng_range(&s->rng, 0, PD_ARRAY_SIZE(deltas) - 1)];
        while (wrong < 0);
        s->slip_pending = false;
        s->slips++;
    }
    tb_puts(s->b, "Check: ");
    reduce_write(s->b, s->t, s->root + 1, s->root, wrong, &last);
    if (wrong >= 0)
        tb_printf(s->b, ". Wait, %lld%c%lld=%lld, not %lld", last.x, last.op, last.y, last.v,
                  wrong);
    tb_puts(s->b, ". Yes.\n");
}

int
task_countdown_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
                     struct pd_task_solution *out, char *err)
{
    if (pr->n < 2 || pr->n > PD_TASK_MAX_NUMS)
        return pd_errorf(err, PD_EINVAL, "countdown: %d numbers (2..%d)", pr->n,
                         PD_TASK_MAX_NUMS);
    struct task_buf b;
    tb_init(&b, out->think, sizeof out->think);
    struct cd_search s = { .p = p, .target = pr->target, .n = pr->n, .b = &b, .root = -1 };
    task_rng_seed(&s.rng, pr->seed, 0x51); /* the slip's stream, apart from the generator's */
    s.slip_pending = task_rng_chance(&s.rng, p->slip_rate);
    int items[PD_TASK_MAX_NUMS];
    tb_printf(&b, "Need %lld from ", pr->target);
    for (int i = 0; i < pr->n; i++) {
        if (pr->nums[i] < 0)
            return pd_errorf(err, PD_EINVAL, "countdown: negative number %d", pr->nums[i]);
        s.t[i] = (struct cd_node){ .v = pr->nums[i] };
        items[i] = i;
        tb_printf(&b, "%s%d", i ? ", " : "", pr->nums[i]);
    }
    tb_puts(&b, ".\n");
    /* Leaves in order of their rank sum: the best move everywhere first, then one second-best
     * move, ... (4 numbers have rank sums up to 23 + 11). Each leaf is visited once. */
    bool found = false;
    for (int d = 0; d <= MAX_RANK_SUM && !found; d++)
        found = search(&s, items, pr->n, 0, d);
    if (!found)
        return pd_errorf(err, PD_EINVAL, "countdown: %lld cannot be made from these numbers "
                         "with whole intermediate values", pr->target);
    write_check(&s);
    struct task_buf a;
    tb_init(&a, out->answer, sizeof out->answer);
    expr_write(&a, s.t, s.root);
    out->slips = s.slips;
    out->tried = s.tried;
    out->written = s.written;
    if (b.overflow || a.overflow)
        return pd_errorf(err, PD_ERANGE, "countdown: the trace does not fit in %zu bytes",
                         sizeof out->think);
    return 0;
}
