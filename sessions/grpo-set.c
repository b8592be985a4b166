/*
 * grpo-set.c: annotated turns as GRPO examples (sessions/grpo-set.h): one query over the
 * assistant turns with, per turn, the user turn before it, its latest gold annotation and its
 * latest verdict; the verdict and the extraction decide the rest here.
 */
#include "config.h"

#include "sessions/grpo-set.h"
#include "sessions/store-impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* A verdict is the latest rating, or label good/bad: the TUI rates "good" and "bad", and
 * `ponder annotate --rating N` gives 0..10. */
static const char sql_turns[] =
    "SELECT t.id, t.session_id, coalesce(t.answer_text, ''), "
    "(SELECT u.text FROM turns u WHERE u.session_id = t.session_id AND u.seq < t.seq "
    "  AND u.role = 'user' ORDER BY u.seq DESC LIMIT 1), "
    "(SELECT a.value FROM annotations a WHERE a.turn_id = t.id AND a.kind = 'gold' "
    "  AND trim(a.value, ' ' || char(9, 10, 13)) <> '' ORDER BY a.id DESC LIMIT 1), "
    "(SELECT a.value FROM annotations a WHERE a.turn_id = t.id AND (a.kind = 'rating' "
    "  OR (a.kind = 'label' AND a.value IN ('good', 'bad'))) ORDER BY a.id DESC LIMIT 1) "
    "FROM turns t WHERE t.role = 'assistant' "
    "AND (?1 IS NULL OR t.id IN (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?1)) "
    "ORDER BY t.id";

static const char *const skip_names[PD_GRPO_SKIP_COUNT] = {
    [PD_GRPO_SKIP_BAD] = "rated bad",
    [PD_GRPO_SKIP_NO_ANSWER] = "rated good but no <answer> or \\boxed{} in the answer",
    [PD_GRPO_SKIP_UNANNOTATED] = "no gold answer and not rated",
    [PD_GRPO_SKIP_NO_QUESTION] = "no user message before the reply",
};

const char *
pd_grpo_skip_name(enum pd_grpo_skip why)
{
    return why < PD_GRPO_SKIP_COUNT ? skip_names[why] : "?";
}

/* +1 good, -1 bad, 0 neither (NULL, 5 out of 10, other words). */
static int
verdict_of(const char *v)
{
    if (v == NULL)
        return 0;
    if (strcmp(v, "good") == 0)
        return 1;
    if (strcmp(v, "bad") == 0)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < 0 || n > 10)
        return 0;
    return n >= 6 ? 1 : n <= 4 ? -1 : 0;
}

/* The match expression: every word in the thoughts, or every word in the answer (as
 * pd_store_search finds hits). NULL for "every turn"; *oom on allocation failure. */
static char *
match_expr(const char *query, bool *oom)
{
    *oom = false;
    const char *q = query ? query : "";
    while (isspace((unsigned char)*q))
        q++;
    size_t n = strlen(q);
    while (n > 0 && isspace((unsigned char)q[n - 1]))
        n--;
    if (n == 0 || (n == 1 && q[0] == '*'))
        return NULL;
    char *think = st_fts_query("think", query), *answer = st_fts_query("answer", query);
    char *out = think && answer ? malloc(strlen(think) + strlen(answer) + 8) : NULL;
    if (out)
        sprintf(out, "%s OR %s", think, answer);
    else
        *oom = true;
    free(think), free(answer);
    return out;
}

static char *
dup_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

/* An extracted answer, trimmed, as a string (NULL when blank or out of memory). */
static char *
trimmed(const char *a, size_t len)
{
    while (len > 0 && isspace((unsigned char)*a))
        a++, len--;
    while (len > 0 && isspace((unsigned char)a[len - 1]))
        len--;
    return len ? strndup(a, len) : NULL;
}

static int
add_example(struct pd_grpo_set *set, const struct pd_grpo_example *e, char *err)
{
    struct pd_grpo_example *ex = realloc(set->ex, (set->n + 1) * sizeof *ex);
    if (ex == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the examples");
    set->ex = ex;
    set->ex[set->n++] = *e;
    set->n_from[e->from]++;
    return 0;
}

/* Decide about the current row: an example, or a reason to skip. */
static int
take_row(struct pd_grpo_set *set, sqlite3_stmt *s, pd_answer_extract_fn extract, char *err)
{
    struct pd_grpo_example e = { .turn = sqlite3_column_int64(s, 0),
                                 .session = sqlite3_column_int64(s, 1) };
    const char *answer = st_text(s, 2);
    int verdict = verdict_of((const char *)sqlite3_column_text(s, 5));
    set->n_matched++;
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
        e.gold = dup_text(s, 4);
        e.from = PD_GRPO_GOLD_ANNOTATED;
    } else if (verdict > 0) {
        const char *a;
        size_t len;
        if (extract(answer, strlen(answer), &a, &len) != 0 || (e.gold = trimmed(a, len)) == NULL) {
            set->n_skip[PD_GRPO_SKIP_NO_ANSWER]++;
            return 0;
        }
        e.from = PD_GRPO_GOLD_RATED_GOOD;
    } else {
        set->n_skip[verdict < 0 ? PD_GRPO_SKIP_BAD : PD_GRPO_SKIP_UNANNOTATED]++;
        return 0;
    }
    if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
        free(e.gold);
        set->n_skip[PD_GRPO_SKIP_NO_QUESTION]++;
        return 0;
    }
    e.question = dup_text(s, 3);
    int rc = e.gold && e.question ? add_example(set, &e, err)
                                  : pd_errorf(err, PD_ENOMEM, "out of memory for a turn");
    if (rc != 0)
        free(e.gold), free(e.question);
    return rc;
}

int
pd_grpo_set_load(struct pd_store *st, const char *query, pd_answer_extract_fn extract,
                 struct pd_grpo_set *out, char *err)
{
    memset(out, 0, sizeof *out);
    bool oom;
    char *expr = match_expr(query, &oom);
    if (oom)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the query");
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, sql_turns, &s, err);
    if (rc == 0 && expr)
        sqlite3_bind_text(s, 1, expr, -1, SQLITE_STATIC);
    int r = SQLITE_DONE;
    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW)
        rc = take_row(out, s, extract, err);
    if (rc == 0 && r != SQLITE_DONE)
        rc = st_sqlite_err(st, r, err, "selecting turns");
    sqlite3_finalize(s);
    free(expr);
    if (rc != 0)
        pd_grpo_set_release(out);
    return rc;
}

void
pd_grpo_set_release(struct pd_grpo_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->ex[i].question), free(s->ex[i].gold);
    free(s->ex);
    memset(s, 0, sizeof *s);
}
