/*
 * cli-group.c: one rank of a model split over processes (and nodes), started by a launcher.
 *
 * With PONDER_WORLD_SIZE in the environment a command is one rank of a group (engine/comm.h,
 * pd_comm_nccl_from_env: PONDER_RANK, PONDER_LOCAL_RANK, NCCL_COMM_ID or PONDER_NCCL_ID). Rank 0
 * is the command the user runs: it drives the others through its context as usual. Every other
 * rank loads the same model, makes its share, and serves rank 0's forward passes until rank 0
 * frees its context; it reads no prompt and prints nothing but errors. No pass starts before
 * every rank has made its context: a rank that fails first (a model it cannot load, a prompt rank
 * 0 cannot read, a device out of memory) stops the others, each naming it, rather than leaving
 * them waiting for it.
 */
#include "config.h"

#include "tui/cli.h"

#include "engine/comm.h"
#include "engine/model.h"
#include "engine/split.h"

#include <stdlib.h>

int
cli_join_group(const char *cmd, struct pd_context_params *cp, struct pd_comm **comm)
{
    char err[PD_ERR_MAX];
    *comm = NULL;
    const char *size = getenv("PONDER_WORLD_SIZE");
    if (size == NULL || *size == '\0')
        return EXIT_OK;
    if (cp->n_devices > 1)
        return cli_usage_error(cmd, "--gpus lists the devices of one process's group; a rank "
                               "started with PONDER_WORLD_SIZE uses PONDER_LOCAL_RANK's device");
    if (cp->n_gpu_layers >= 0)
        return cli_usage_error(cmd, "--gpu-layers shares one process's layers between the CPU and "
                               "its GPUs; a rank started with PONDER_WORLD_SIZE runs its whole "
                               "share on PONDER_LOCAL_RANK's device");
    if (pd_comm_nccl_from_env(comm, cp->n_devices == 1 ? cp->devices[0] : -1, err) != 0)
        return cli_fail(cmd, "joining the group of PONDER_WORLD_SIZE=%s: %s", size, err);
    pd_comm_set_start_pending(*comm, true);   /* no pass before every rank has its context */
    cp->comm = *comm;
    cp->n_devices = 0;
    if (cp->split == PD_SPLIT_NONE)
        cp->split = PD_SPLIT_LAYER;
    return EXIT_OK;
}

void
cli_leave_group(struct pd_comm *comm, int rc)
{
    char err[PD_ERR_MAX];
    if (comm && rc != EXIT_OK)
        pd_split_abandon(comm, PD_EIO, "stopped before making its context (its own error says "
                         "why)", err);
    pd_comm_free(comm);
}

int
cli_serve_group(const char *cmd, const char *model_path, struct pd_context_params *cp)
{
    char err[PD_ERR_MAX];
    struct pd_model *m = NULL;
    int rc = cli_load_model(cmd, model_path, &m);
    if (rc != EXIT_OK) {
        pd_split_abandon(cp->comm, PD_EIO, "cannot load the model (its own error says why)", err);
        return rc;
    }
    struct pd_context *ctx = NULL;
    if (pd_context_new(&ctx, m, cp, err) != 0)
        rc = cli_fail(cmd, "rank %d: %s", pd_comm_rank(cp->comm), err);
    else if (pd_split_serve(ctx, err) != 0)
        rc = cli_fail(cmd, "rank %d: %s", pd_comm_rank(cp->comm), err);
    pd_context_free(ctx);
    pd_model_free(m);
    return rc;
}
