/*
 * run-log.c: how `ponder run` records its turn in the session store: one session with the system
 * and user turns, then the assistant turn written token by token as it streams.
 *
 * Logging never stops a run: a store that cannot be opened, or a write that fails mid-stream, is
 * one warning on stderr, and the run goes on unlogged.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run_log {
    struct pd_store *st;
    bool failed;
};

/* A session title: the first line of the prompt, at most 60 bytes, cut at a character. */
static void
make_title(char *out, size_t size, const char *prompt)
{
    size_t n = strcspn(prompt, "\n");
    if (n > 60) {
        n = 60;
        while (n > 0 && ((unsigned char)prompt[n] & 0xc0) == 0x80)
            n--;
    }
    snprintf(out, size, "%.*s", (int)n, prompt);
}

static void
sampler_json(char *out, size_t size, const struct pd_sampler_params *sp)
{
    snprintf(out, size, "{\"temp\":%g,\"top_k\":%d,\"top_p\":%g,\"min_p\":%g,"
             "\"repeat_penalty\":%g,\"repeat_last_n\":%d,\"seed\":%llu}", sp->temp, sp->top_k,
             sp->top_p, sp->min_p, sp->repeat_penalty, sp->repeat_last_n,
             (unsigned long long)sp->seed);
}

struct run_log *
run_log_open(const char *db, const struct pd_model *m, const char *model_path,
             const char *system, const char *prompt, const struct pd_sampler_params *sp)
{
    char err[PD_ERR_MAX] = "", title[128], sjson[256];
    struct run_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return NULL;
    struct pd_store_model sm = { .path = model_path, .size = m->gguf->size,
                                 .header = m->gguf->map, .header_len = m->gguf->data_offset,
                                 .arch = m->hp.arch_name, .name = m->name,
                                 .n_params = m->n_params };
    int64_t model_id = 0, session = 0;
    make_title(title, sizeof title, prompt);
    sampler_json(sjson, sizeof sjson, sp);
    int rc = pd_store_open(&log->st, db, err);
    if (rc == 0)
        rc = pd_store_model_id(log->st, &sm, &model_id, err);
    if (rc == 0)
        rc = pd_store_session_new(log->st, model_id, title, &session, err);
    if (rc == 0 && system)
        rc = pd_store_turn_add(log->st, session, "system", system, NULL, err);
    if (rc == 0)
        rc = pd_store_turn_add(log->st, session, "user", prompt, NULL, err);
    if (rc == 0)
        rc = pd_store_turn_begin(log->st, session, sjson, NULL, err);
    if (rc) {
        fprintf(stderr, "ponder run: warning: %s; this run is not logged (--no-log "
                        "silences this)\n", err);
        pd_store_close(log->st);
        free(log);
        return NULL;
    }
    return log;
}

void
run_log_token(struct run_log *log, const struct pd_token_event *ev)
{
    if (log == NULL || log->failed)
        return;
    if (pd_store_turn_token(log->st, ev) != 0) {
        fprintf(stderr, "ponder run: warning: %s; the rest of this run is not logged\n",
                pd_store_errmsg(log->st));
        log->failed = true;
    }
}

void
run_log_close(struct run_log *log, const struct pd_gen_result *res)
{
    if (log == NULL)
        return;
    char err[PD_ERR_MAX];
    if (!log->failed && pd_store_turn_end(log->st, res, err) != 0)
        fprintf(stderr, "ponder run: warning: %s; the end of this run is not logged\n", err);
    pd_store_close(log->st);
    free(log);
}
