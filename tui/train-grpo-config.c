/*
 * train-grpo-config.c: a GRPO run's config as training_runs.config records it. One JSON
 * object: the run options (pd_grpo_run_opts_json), then
 *   "model"          the base model, an absolute path
 *   "source"         "task:NAME", "dataset:PATH" or "sessions:QUERY"
 *   "examples"       dataset rows or annotated turns used (not for tasks)
 *   "rewards"        [{"name": NAME, "weight": W}, ...] ([] : the task's own scorer)
 *   "threads"        the threads it samples with (a resume must use as many to continue the
 *                    same run), "ckpt" the checkpoint and "ckpt_every"
 * The output path is the row's output_path. Paths are absolute, so that they name the same files
 * whatever the working directory.
 */
#include "config.h"

#include "tui/train-grpo.h"


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
    fprintf(f, "],\"threads\":%ld,\"ckpt\":", c->threads);
    put_str(f, grpo_abs_path(ckpt, abs, sizeof abs));
    fprintf(f, ",\"ckpt_every\":%ld}", c->ckpt_every);
    free(opts);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
