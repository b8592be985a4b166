/*
 * train-grpo-config.c: a GRPO run's config as training_runs.config records it, and read back
 * by `ponder train resume`. One JSON object: the run options (pd_grpo_run_opts_json), then
 *   "model"          the base model, an absolute path
 *   "source"         "task:NAME", "dataset:PATH" or "sessions:QUERY"
 *   "examples"       dataset rows or annotated turns used (not for tasks)
 *   "rewards"        [{"name": NAME, "weight": W}, ...] ([] : the task's own scorer)
 *   "reward_timeout" seconds a score may take (0: the default)
 *   "threads"        the threads it samples with (a resume must use as many to continue the
 *                    same run), "ckpt" the checkpoint and "ckpt_every"
 *   "merge"          a LoRA run writes the model with its adapter merged in
 * The output path is the row's output_path. Paths are absolute so that a resume from another
 * directory finds the same files.
 */
#include "config.h"

#include "tui/train-grpo.h"

#include "plugins/plugin-util.h"
#include "tui/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
grpo_abs_path(const char *path, char *buf, size_t cap)
{
    char cwd[4096];
    int n = -1;
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
        n = snprintf(buf, cap, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
    if (n < 0 || (size_t)n >= cap)   /* too long to make absolute: as given */
        snprintf(buf, cap, "%s", path);
    return buf;
}

/* s as a JSON string, quotes included. */
static void
put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void
put_source(FILE *f, const struct grpo_cli *c, const struct grpo_src *s)
{
    char abs[4096];
    if (c->sessions) {
        char *v = malloc(strlen(c->sessions) + 16);
        if (v)
            sprintf(v, "sessions:%s", c->sessions);
        put_str(f, v ? v : "sessions:");
        free(v);
    } else if (c->dataset) {
        char v[4200];
        snprintf(v, sizeof v, "dataset:%s", grpo_abs_path(c->dataset, abs, sizeof abs));
        put_str(f, v);
    } else {
        fprintf(f, "\"task:%s\"", pd_task_kind_name(c->task));
    }
    if (s->rows)
        fprintf(f, ",\"examples\":%zu", s->n_rows);
}

char *
grpo_config_json(const struct grpo_cli *c, const struct grpo_src *s,
                 const struct pd_grpo_run *r, const char *ckpt)
{
    char *out = NULL, abs[4096];
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int n = pd_grpo_run_opts_json(&r->opts, NULL, 0);
    char *opts = malloc((size_t)n + 1);
    if (f == NULL || opts == NULL) {
        if (f)
            fclose(f);
        free(opts), free(out);
        return NULL;
    }
    pd_grpo_run_opts_json(&r->opts, opts, (size_t)n + 1);
    fprintf(f, "%.*s,\"model\":", n - 1, opts);   /* without its closing brace */
    put_str(f, grpo_abs_path(c->model, abs, sizeof abs));
    fputs(",\"source\":", f);
    put_source(f, c, s);
    fputs(",\"rewards\":[", f);
    for (int i = 0; i < c->n_rewards; i++) {
        const char *name = c->reward_names[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        put_str(f, strchr(name, '/') ? grpo_abs_path(name, abs, sizeof abs) : name);
        fprintf(f, ",\"weight\":%.17g}", c->reward_weights[i]);
    }
    fprintf(f, "],\"reward_timeout\":%.17g,\"threads\":%ld,\"ckpt\":", c->reward_timeout,
            c->threads);
    put_str(f, grpo_abs_path(ckpt, abs, sizeof abs));
    fprintf(f, ",\"ckpt_every\":%ld,\"merge\":%s}", c->ckpt_every, c->merge ? "true" : "false");
    free(opts);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- reading it back ------------------------------------------------------------------------ */

/* The next object of the array text a[0..n) from *pos: its text copied into buf (cap bytes).
 * false at the end or on malformed text. */
static bool
next_object(const char *a, size_t n, size_t *pos, char *buf, size_t cap)
{
    size_t i = *pos;
    while (i < n && a[i] != '{')
        i++;
    size_t from = i;
    int depth = 0;
    bool in_str = false;
    for (; i < n; i++) {
        char ch = a[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{') {
            depth++;
        } else if (ch == '}' && --depth == 0) {
            if (i + 1 - from >= cap)
                return false;
            memcpy(buf, a + from, i + 1 - from);
            buf[i + 1 - from] = '\0';
            *pos = i + 1;
            return true;
        }
    }
    return false;
}

static bool
read_rewards(struct grpo_cli *c, const char *json, char *slots, size_t cap, int64_t run)
{
    const char *a;
    size_t n, pos = 0;
    if (pp_json_get(json, "rewards", &a, &n) != PP_FOUND)
        return cli_fail("train", "run %lld: its config lists no rewards", (long long)run), false;
    char *obj = malloc(cap);
    if (obj == NULL)
        return cli_fail("train", "out of memory"), false;
    bool good = true;
    while (good && next_object(a, n, &pos, obj, cap)) {
        double w = 1.0;
        char *name = slots + (size_t)c->n_rewards * cap;
        good = c->n_rewards < PD_GRPO_MAX_FN &&
               pp_json_string(obj, "name", name, cap) == PP_FOUND &&
               pp_json_number(obj, "weight", &w) != PP_BAD;
        if (good) {
            c->reward_names[c->n_rewards] = name;
            c->reward_weights[c->n_rewards++] = w;
        }
    }
    free(obj);
    if (!good)
        cli_fail("train", "run %lld: a reward in its config is malformed", (long long)run);
    return good;
}

static bool
read_source(struct grpo_cli *c, char *src, int64_t run)
{
    if (strncmp(src, "task:", 5) == 0 && pd_task_kind_parse(src + 5, &c->task) == 0)
        c->have_task = true;
    else if (strncmp(src, "dataset:", 8) == 0)
        c->dataset = src + 8;
    else if (strncmp(src, "sessions:", 9) == 0)
        c->sessions = src + 9;
    else
        return cli_fail("train", "run %lld: unknown prompt source '%s'", (long long)run, src),
               false;
    return true;
}

/* Slots: model, source, ckpt, then the reward names. */
enum { SLOT_MODEL, SLOT_SOURCE, SLOT_CKPT, SLOT_REWARDS, N_SLOTS = SLOT_REWARDS + PD_GRPO_MAX_FN };

bool
grpo_config_read(struct grpo_cli *c, const char *json, char **storage, int64_t run)
{
    size_t cap = strlen(json) + 1;
    char *slots = *storage = calloc(N_SLOTS, cap);
    if (slots == NULL)
        return cli_fail("train", "out of memory"), false;
    double threads = 0, every = 0, timeout = 0, examples = 0;
    if (pp_json_string(json, "model", slots + SLOT_MODEL * cap, cap) != PP_FOUND ||
        pp_json_string(json, "source", slots + SLOT_SOURCE * cap, cap) != PP_FOUND ||
        pp_json_string(json, "ckpt", slots + SLOT_CKPT * cap, cap) != PP_FOUND ||
        pp_json_number(json, "threads", &threads) == PP_BAD ||
        pp_json_number(json, "ckpt_every", &every) == PP_BAD ||
        pp_json_number(json, "reward_timeout", &timeout) == PP_BAD ||
        pp_json_bool(json, "merge", &c->merge) == PP_BAD ||
        pp_json_number(json, "examples", &examples) == PP_BAD)
        return cli_fail("train", "run %lld: its config does not say how to continue it (model, "
                        "source, checkpoint): it was not started by this ponder",
                        (long long)run), false;
    c->model = slots + SLOT_MODEL * cap;
    c->ckpt = c->resume = slots + SLOT_CKPT * cap;
    c->threads = (long)threads, c->ckpt_every = (long)every, c->reward_timeout = timeout;
    c->examples = (long)examples;
    return read_source(c, slots + SLOT_SOURCE * cap, run) &&
           read_rewards(c, json, slots + SLOT_REWARDS * cap, cap, run);
}
