/*
 * train-grpo-src.c: where `ponder train grpo` gets its prompts (the task generators, a JSONL
 * dataset, or annotated turns of the session store) and how it scores the completions: the
 * task's own scorer, or reward plugins in a walled worker (plugins/reward-run.h), where a
 * plugin that crashes or hangs costs its scores (None, said on stderr), never the run.
 */
#include "config.h"

#include "tui/train-grpo.h"

#include "engine/gguf.h"
#include "plugins/answer-match.h"
#include "sessions/grpo-set.h"
#include "tui/cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the dataset ----------------------------------------------------------------------------- */

/* The JSON string value of "key" in a flat object line, decoded (malloc'd), or NULL. */
static char *
json_str(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    if (*p++ != '"')
        return NULL;
    char *out = malloc(strlen(p) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        switch (*++p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            if (sscanf(p + 1, "%4x", &cp) != 1) {
                free(out);
                return NULL;
            }
            p += 4;
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xe0 | cp >> 12), *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        case '\0': free(out); return NULL;
        default: *o++ = *p; break;
        }
    }
    if (*p != '"') {
        free(out);
        return NULL;
    }
    *o = '\0';
    return out;
}

bool
grpo_src_read_dataset(struct grpo_src *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_fail("train", "%s: cannot open", path);
        return false;
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    bool good = true;
    while (good && (len = getline(&line, &cap, f)) > 0) {
        n++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        struct grpo_row r = { json_str(line, "prompt"), json_str(line, "solution") };
        if (r.prompt == NULL) {
            cli_fail("train", "%s:%zu: no \"prompt\" string (conversational prompts are not "
                     "read yet)", path, n);
            good = false;
        }
        struct grpo_row *rows = realloc(s->rows, (s->n_rows + 1) * sizeof *rows);
        if (rows == NULL) {
            free(r.prompt), free(r.solution);
            good = false;
            break;
        }
        s->rows = rows;
        s->rows[s->n_rows++] = r;
    }
    free(line);
    fclose(f);
    if (good && s->n_rows == 0) {
        cli_fail("train", "%s: no rows", path);
        good = false;
    }
    return good;
}

/* ---- prompts and rewards --------------------------------------------------------------------- */

static int
problem(struct grpo_src *s, int64_t index, struct pd_task_problem *pr, char *err)
{
    return pd_task_generate(&s->tp, PD_TASK_TRAIN, s->c->o.seed, (uint64_t)index, pr, err);
}

int
grpo_src_prompt(void *ud, int64_t index, char *buf, size_t cap, char *err)
{
    struct grpo_src *s = ud;
    if (s->rows) {
        const char *p = s->rows[(size_t)index % s->n_rows].prompt;
        if (strlen(p) >= cap)
            return pd_errorf(err, PD_ERANGE, "row %lld: prompt too long", (long long)index);
        memcpy(buf, p, strlen(p) + 1);
        return 0;
    }
    struct pd_task_problem pr;
    int rc = problem(s, index, &pr, err);
    if (rc == 0 && pd_task_style_prompt(PD_TASK_STYLE_CHAT, &pr, buf, cap) != 0)
        rc = pd_errorf(err, PD_ERANGE, "problem %lld: prompt too long", (long long)index);
    return rc;
}

/* The task's own scorer, one function. */
static int
score_task(struct grpo_src *s, const int64_t *index, int P, int G, const char *const *texts,
           double *rewards, bool *none, int8_t *correct, double *per_fn, char *err)
{
    for (int p = 0; p < P; p++) {
        struct pd_task_problem pr;
        int rc = problem(s, index[p], &pr, err);
        if (rc != 0)
            return rc;
        for (int g = 0; g < G; g++) {
            int i = p * G + g;
            double r = pd_task_score(&pr, texts[i], strlen(texts[i]), true);
            rewards[i] = per_fn[i] = r;
            none[i] = false;
            correct[i] = r == 1.0;
        }
    }
    return 0;
}

/* How a score failed, in a word, from the runner's reason. */
static const char *
failure_verb(const char *why)
{
    if (strncmp(why, "signal", 6) == 0)
        return "crashed";
    if (strncmp(why, "timed out", 9) == 0)
        return "timed out";
    if (strncmp(why, "cpu time", 8) == 0)
        return "ran out of CPU time";
    return "failed";
}

/* Say which plugins failed, how, and what it cost: the run goes on. */
static void
report_failures(const struct grpo_src *s, const struct pd_reward_score *scores,
                const struct pd_reward_total *totals, int n, int64_t step)
{
    int n_none = 0, any = 0;
    for (int j = 0; j < s->n_terms; j++) {
        int failed = 0;
        const char *why = NULL;
        for (int i = 0; i < n; i++) {
            const struct pd_reward_score *sc = &scores[(size_t)i * s->n_terms + j];
            if (sc->state == PD_REWARD_FAILED && failed++ == 0)
                why = sc->why;
        }
        if (failed) {
            const char *verb = failure_verb(why);
            size_t k = strlen(verb);   /* "timed out after 2 s": the verb once */
            fprintf(stderr, "step %" PRId64 ": reward '%s' %s on %d of %d completions (%s): "
                    "scored None\n", step, pd_plugin_name(s->plugins[j]), verb, failed, n,
                    strncmp(why, verb, k) == 0 && why[k] == ' ' ? why + k + 1 : why);
        }
        any += failed;
    }
    for (int i = 0; i < n; i++)
        n_none += totals[i].none;
    if (any && n_none)
        fprintf(stderr, "step %" PRId64 ": %d of %d completions have no reward (None): left out "
                "of their groups\n", step, n_none, n);
}

/* The prompt, gold and extra of example index for the plugins (buffers of the sizes below). */
static int
item_of(struct grpo_src *s, int64_t index, struct pd_task_problem *pr, char *prompt,
        char *gold, char *extra, size_t extra_cap, const char **p_out, const char **g_out,
        const char **e_out, char *err)
{
    *e_out = "{}";
    if (s->rows) {
        const struct grpo_row *r = &s->rows[(size_t)index % s->n_rows];
        *p_out = r->prompt, *g_out = r->solution ? r->solution : "";
        return 0;
    }
    int rc = problem(s, index, pr, err);
    if (rc != 0)
        return rc;
    pd_task_style_prompt(PD_TASK_STYLE_CHAT, pr, prompt, PD_TASK_PROMPT_MAX);
    pd_task_gold(pr, gold, PD_TASK_ANSWER_MAX);
    int len = snprintf(extra, extra_cap, "{\"numbers\":[");
    for (int k = 0; pr->kind == PD_TASK_COUNTDOWN && k < pr->n; k++)
        len += snprintf(extra + len, extra_cap - (size_t)len, "%s%d", k ? "," : "", pr->nums[k]);
    snprintf(extra + len, extra_cap - (size_t)len, "],\"target\":%lld}", pr->target);
    *p_out = prompt, *g_out = gold, *e_out = extra;
    return 0;
}

int
grpo_src_score(void *ud, const int64_t *index, int P, int G, const char *const *texts,
               const int32_t *n_tokens, double *rewards, bool *none, int8_t *correct,
               double *per_fn, char *err)
{
    struct grpo_src *s = ud;
    if (s->n_terms == 0)
        return score_task(s, index, P, G, texts, rewards, none, correct, per_fn, err);
    int n = P * G, rc = 0;
    struct pd_reward_item *items = calloc((size_t)n, sizeof *items);
    struct pd_reward_score *scores = calloc((size_t)n * (size_t)s->n_terms, sizeof *scores);
    struct pd_reward_total *totals = calloc((size_t)n, sizeof *totals);
    char (*prompts)[PD_TASK_PROMPT_MAX] = calloc((size_t)P, sizeof *prompts);
    char (*golds)[PD_TASK_ANSWER_MAX] = calloc((size_t)P, sizeof *golds);
    char (*extras)[160] = calloc((size_t)P, sizeof *extras);
    struct pd_task_problem *prs = calloc((size_t)P, sizeof *prs);
    if (!items || !scores || !totals || !prompts || !golds || !extras || !prs)
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for the rewards");
    for (int p = 0; rc == 0 && p < P; p++) {
        const char *prompt, *gold, *extra;
        rc = item_of(s, index[p], &prs[p], prompts[p], golds[p], extras[p], sizeof extras[p],
                     &prompt, &gold, &extra, err);
        for (int g = 0; rc == 0 && g < G; g++)
            items[p * G + g] = (struct pd_reward_item){
                .completion = texts[p * G + g], .prompt = prompt, .gold = gold, .extra = extra,
                .opened_think = s->opened_think, .completion_tokens = n_tokens[p * G + g],
            };
    }
    struct pd_reward_limits lim = { .timeout_s = s->c->reward_timeout };
    if (rc == 0)
        rc = pd_reward_run(s->terms, (size_t)s->n_terms, items, (size_t)n, &lim, scores, totals,
                           err);
    for (int i = 0; rc == 0 && i < n; i++) {
        rewards[i] = totals[i].value;
        none[i] = totals[i].none;
        for (int j = 0; j < s->n_terms; j++) {
            const struct pd_reward_score *sc = &scores[(size_t)i * s->n_terms + j];
            per_fn[(size_t)i * s->n_terms + j] = sc->state == PD_REWARD_SCORED ? sc->value : NAN;
        }
        int p = i / G;
        if (!s->rows)
            correct[i] = pd_task_score(&prs[p], texts[i], strlen(texts[i]), true) == 1.0;
        else if (s->accuracy_term >= 0 &&
                 scores[(size_t)i * s->n_terms + s->accuracy_term].state == PD_REWARD_SCORED)
            correct[i] = scores[(size_t)i * s->n_terms + s->accuracy_term].value >= 1.0;
    }
    if (rc == 0)
        report_failures(s, scores, totals, n, index[0] / P + 1);
    free(items), free(scores), free(totals), free(prompts), free(golds), free(extras), free(prs);
    return rc;
}

bool
grpo_src_open_rewards(struct grpo_src *s)
{
    char err[PD_ERR_MAX];
    struct grpo_cli *c = s->c;
    s->accuracy_term = -1;
    if (c->n_rewards == 0 && (c->dataset || c->sessions)) {
        c->reward_names[0] = "accuracy";
        c->reward_weights[0] = 1.0;
        c->n_rewards = 1;
    }
    for (int i = 0; i < c->n_rewards; i++) {
        int rc = pd_plugin_open(&s->plugins[i], c->reward_names[i], PD_PLUGIN_WANT_REWARD, err);
        if (rc != 0) {
            /* before anything runs: a plugin ponder cannot call is no reward */
            cli_fail("train", "reward '%s' %s: %s", c->reward_names[i],
                     rc == PD_EUNSUPPORTED || rc == PD_EFORMAT ? "refused" : "not loaded", err);
            return false;
        }
        s->terms[i] = (struct pd_reward_term){ .plugin = s->plugins[i],
                                               .weight = c->reward_weights[i] };
        if (strcmp(pd_plugin_name(s->plugins[i]), "accuracy") == 0)
            s->accuracy_term = i;
        s->n_terms++;
    }
    return true;
}

/* ---- annotated turns ------------------------------------------------------------------------- */

/* The chat template the model was trained with: its GGUF's, r1-zero when it names none (what
 * ponder's own trainer writes, and what --task prompts use). */
static bool
model_template(const char *path, enum pd_template *t)
{
    char err[PD_ERR_MAX];
    struct pd_gguf *g = NULL;
    if (pd_gguf_open(&g, path, err) != 0) {
        cli_fail("train", "%s: %s", path, err);
        return false;
    }
    const char *src = NULL;
    *t = pd_gguf_get_str(g, "tokenizer.chat_template", &src) == 0 ? pd_template_detect(src, NULL)
                                                                   : PD_TEMPLATE_R1_ZERO;
    pd_gguf_close(g);
    return true;
}

static void
say_selection(const struct pd_grpo_set *set, const char *query)
{
    fprintf(stderr, "sessions '%s': %d turns matched, %zu used (%d with a gold answer, %d rated "
            "good)", query, set->n_matched, set->n, set->n_from[PD_GRPO_GOLD_ANNOTATED],
            set->n_from[PD_GRPO_GOLD_RATED_GOOD]);
    const char *sep = "; skipped: ";
    for (int k = 0; k < PD_GRPO_SKIP_COUNT; k++)
        if (set->n_skip[k]) {
            fprintf(stderr, "%s%d %s", sep, set->n_skip[k], pd_grpo_skip_name(k));
            sep = ", ";
        }
    fputc('\n', stderr);
    for (size_t i = 0; i < set->n && i < 8; i++) {
        const struct pd_grpo_example *e = &set->ex[i];
        int len = (int)strcspn(e->question, "\n");
        fprintf(stderr, "  turn %" PRId64 ": '%.*s%s' gold '%.60s' (%s)\n", e->turn,
                len > 60 ? 60 : len, e->question, len > 60 || e->question[len] ? "..." : "",
                e->gold,
                e->from == PD_GRPO_GOLD_ANNOTATED ? "annotated" : "its answer, rated good");
    }
    if (set->n > 8)
        fprintf(stderr, "  and %zu more\n", set->n - 8);
}

/* Each example as a row: the question through the template, the gold as the solution. */
static bool
rows_of(struct grpo_src *s, const struct pd_grpo_set *set, enum pd_template t)
{
    s->rows = calloc(set->n, sizeof *s->rows);
    if (s->rows == NULL)
        return cli_fail("train", "out of memory for %zu prompts", set->n), false;
    for (size_t i = 0; i < set->n; i++, s->n_rows++) {
        struct pd_chat_msg msg = { "user", set->ex[i].question };
        s->rows[i].prompt = pd_template_apply(t, &msg, 1, true, NULL, &s->opened_think);
        s->rows[i].solution = strdup(set->ex[i].gold);
        if (s->rows[i].prompt == NULL || s->rows[i].solution == NULL)
            return cli_fail("train", "out of memory for %zu prompts", set->n), false;
    }
    return true;
}

bool
grpo_src_read_sessions(struct grpo_src *s, struct pd_store *db, const char *query)
{
    char err[PD_ERR_MAX];
    enum pd_template t;
    struct pd_grpo_set set;
    if (!model_template(s->c->model, &t))
        return false;
    if (pd_grpo_set_load(db, query, pp_answer_extract, &set, err) != 0)
        return cli_fail("train", "sessions: %s", err), false;
    say_selection(&set, query);
    bool good = false;
    if (set.n_matched == 0)
        cli_fail("train", "no reply matches '%s' (ponder sessions search lists what does; '' "
                 "takes every session)", query);
    else if (set.n == 0)
        cli_fail("train", "none of the %d replies can be a prompt: give them a gold answer "
                 "(ponder annotate TURN --gold ANSWER, or = in ponder tui) or rate the right "
                 "ones good (ponder annotate TURN --rating 8, or + in ponder tui)",
                 set.n_matched);
    else
        good = rows_of(s, &set, t);
    pd_grpo_set_release(&set);
    return good;
}

void
grpo_src_release(struct grpo_src *s)
{
    for (int i = 0; i < s->n_terms; i++)
        pd_plugin_close(s->plugins[i]);
    for (size_t i = 0; i < s->n_rows; i++)
        free(s->rows[i].prompt), free(s->rows[i].solution);
    free(s->rows);
}
