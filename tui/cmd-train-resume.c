/*
 * cmd-train-resume.c: `ponder train resume [RUN]`: continue a GRPO run from its checkpoint with
 * the command line its stored config records (train-grpo-config.c), as `ponder train grpo
 * --resume CKPT` with the original flags would: the same model, prompts, rewards and threads,
 * the run options from the checkpoint, the steps written to the same run's rows.
 */
#include "config.h"

#include "tui/train-grpo.h"

#include "sessions/runs.h"
#include "tui/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_train_resume(int argc, char **argv);

static const char resume_help[] =
    "usage: ponder train resume [RUN] [--db FILE] [--stop-after N]\n"
    "\n"
    "Continue a GRPO run (default: the latest) from its last checkpoint with the model, prompts,\n"
    "rewards and threads it started with; its steps go on in the same run's rows (ponder train\n"
    "show RUN). The base model file is never written.\n"
    "\n"
    "      --db FILE       the session store (default: $PONDER_DB or the user's)\n"
    "      --stop-after N  stop again after step N, with a checkpoint\n"
    "  -h, --help          this help\n";

struct resume_args {
    long run, stop_after;
    const char *db;
};

static int
parse_args(struct resume_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return fputs(resume_help, stdout), -1;
        if ((strcmp(s, "--db") == 0 || strcmp(s, "--stop-after") == 0) && i + 1 == argc)
            return cli_usage_error("train", "%s needs a value", s);
        if (strcmp(s, "--db") == 0)
            a->db = argv[++i];
        else if (strcmp(s, "--stop-after") == 0) {
            if (!cli_parse_int("train", "--stop-after", argv[++i], 1, 1L << 40, &a->stop_after))
                return EXIT_USAGE;
        } else if (s[0] == '-' || a->run != 0)
            return cli_usage_error("train", "resume: unexpected argument '%s' (see --help)", s);
        else if (!cli_parse_int("train", "RUN", s, 1, 1L << 62, &a->run))
            return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Whether run can go on: a GRPO run, not done, with its checkpoint; false after a message. */
static bool
resumable(const struct pd_store_run *run, const struct grpo_cli *c)
{
    long long id = (long long)run->id;
    if (strcmp(run->kind, "grpo") != 0)
        return cli_fail("train", "run %lld is a %s run: only GRPO runs resume", id, run->kind),
               false;
    if (strcmp(run->status, "done") == 0)
        return cli_fail("train", "run %lld is already done (its model: %s): nothing to resume",
                        id, run->output_path ? run->output_path : "-"), false;
    if (run->output_path == NULL)
        return cli_fail("train", "run %lld records no output file", id), false;
    if (access(c->ckpt, R_OK) != 0)
        return cli_fail("train", "run %lld cannot resume: its checkpoint %s is missing (it "
                        "stopped before the first one, or the file was moved); start it again",
                        id, c->ckpt), false;
    return true;
}

int
cmd_train_resume(int argc, char **argv)
{
    struct resume_args a = { 0 };
    int rc = parse_args(&a, argc, argv);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    char err[PD_ERR_MAX], db_path[4096];
    struct pd_store *db = NULL;
    struct pd_store_run run = { 0 };
    if (pd_store_open(&db, a.db, err) != 0) {
        pd_store_close(db);
        return cli_fail("train", "store: %s", err);
    }
    snprintf(db_path, sizeof db_path, "%s", pd_store_filename(db));
    if (pd_store_run_get(db, a.run, &run, err) != 0) {
        pd_store_close(db);
        return cli_fail("train", "%s in %s", err, db_path);
    }
    pd_store_close(db);   /* grpo_main opens it again */
    struct grpo_cli c = { .log_every = 1, .db = db_path, .resume_run = run.id,
                          .stop_after = a.stop_after };
    pd_grpo_run_opts_default(&c.o);
    char *storage = NULL;
    rc = EXIT_RUNTIME;
    if (run.config == NULL)
        cli_fail("train", "run %lld has no config to continue from", (long long)run.id);
    else if (grpo_config_read(&c, run.config, &storage, run.id) && resumable(&run, &c)) {
        c.output = run.output_path;
        fprintf(stderr, "run %lld was %s; continuing it from %s\n", (long long)run.id,
                run.status, c.ckpt);
        rc = grpo_main(&c);
    }
    free(storage);
    pd_store_run_release(&run);
    return rc;
}
