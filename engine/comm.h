/*
 * comm.h: the communicator the multi-device split talks through.
 *
 * A communicator joins `size` ranks; each rank holds its own pd_comm and calls the same
 * collectives in the same order (as with MPI or NCCL). The split (engine/split.c) needs only
 * these: point-to-point send and receive (the hidden state travelling from one pipeline stage to
 * the next), broadcast (the driver's commands and tokens), all-reduce of floats (the partial MoE
 * outputs of expert parallelism), all-gather, and a barrier. Every call blocks until this rank's
 * part is done, and its buffers may be reused on return.
 *
 * Two implementations:
 *   local   N ranks as threads of one process, exchanging through shared memory. It exists to
 *           test the partitioning on machines with no GPU (make check) and to back the CPU
 *           "devices" of `--backend cpu --gpus 0,1`. Buffers are host memory.
 *   nccl    one NCCL communicator per rank (engine/comm-nccl.c, compiled when configure found
 *           NCCL). Buffers may be device memory, used in place, or host memory, staged through a
 *           device buffer. Ranks of one process (one per GPU) or one per process, on one node or
 *           many, through NCCL's own bootstrap (see pd_comm_nccl_from_env).
 *
 * Reductions sum in rank order where the implementation decides the order (local does), so every
 * rank gets bit-identical results; NCCL gives every rank the same result too, in its own order.
 */
#ifndef PD_COMM_H
#define PD_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/pd.h"

struct pd_comm;

int pd_comm_rank(const struct pd_comm *c);
int pd_comm_size(const struct pd_comm *c);
/* "local" or "nccl". */
const char *pd_comm_name(const struct pd_comm *c);

/* The CUDA device whose memory this rank's collectives take in place (NCCL), or -1: host memory
 * only (local). */
int pd_comm_device(const struct pd_comm *c);

/* A group whose ranks make their contexts apart, one per process (a launcher's), agrees once that
 * every rank has made its context before rank 0's first pass: a rank that failed would otherwise
 * leave the others waiting for it for ever. The ranks set it pending after joining; the next
 * pd_context_new (or pd_split_abandon, for a rank that fails before it) agrees and clears it. */
void pd_comm_set_start_pending(struct pd_comm *c, bool pending);
bool pd_comm_start_pending(const struct pd_comm *c);

/* bytes from buf to rank peer, which must call pd_comm_recv with the same size. */
int pd_comm_send(struct pd_comm *c, const void *buf, size_t bytes, int peer, char *err);
int pd_comm_recv(struct pd_comm *c, void *buf, size_t bytes, int peer, char *err);

/* buf (bytes) of rank root into buf of every rank. */
int pd_comm_broadcast(struct pd_comm *c, void *buf, size_t bytes, int root, char *err);

/* buf[n] = the sum over ranks of their buf[n], on every rank. */
int pd_comm_all_reduce_sum(struct pd_comm *c, float *buf, size_t n, char *err);

/* out[size][bytes] = every rank's in[bytes], in rank order, on every rank. */
int pd_comm_all_gather(struct pd_comm *c, void *out, const void *in, size_t bytes, char *err);

/* Returns when every rank has called it. */
int pd_comm_barrier(struct pd_comm *c, char *err);

/* Release this rank's communicator (NULL is fine). A local group is freed when its last rank is. */
void pd_comm_free(struct pd_comm *c);

/* ---- local: ranks as threads ---- */

/* ranks[size]: one communicator per rank of a new in-process group; rank i's goes to the thread
 * that plays rank i. The caller frees each. */
int pd_comm_local_new(struct pd_comm **ranks, int size, char *err);

/* ---- nccl ---- */

/* Whether this build can make NCCL communicators. */
bool pd_comm_nccl_available(void);

/* ranks[n]: one NCCL communicator per device of devices[n], all in this process (a single-node
 * group; NCCL's ncclCommInitAll). Each rank is then driven by its own thread. */
int pd_comm_nccl_new_group(struct pd_comm **ranks, const int *devices, int n, char *err);

/* One rank of a group spread over processes (and nodes), from the launcher's environment:
 *   PONDER_RANK, PONDER_WORLD_SIZE   this process's rank and the number of ranks
 *   NCCL_COMM_ID=HOST:PORT           NCCL's own variable: rank 0 (on HOST) listens there and
 *                                    the others connect; nothing else to pass around
 *   or PONDER_NCCL_ID                the group's ncclUniqueId in hex (256 digits), for a launcher
 *                                    that made one with ncclGetUniqueId in a process that lives
 *                                    while the ranks join (NCCL's bootstrap either way)
 * device is the local GPU this rank uses (-1: PONDER_LOCAL_RANK, else 0). PD_ENOTFOUND when
 * PONDER_WORLD_SIZE is unset (no launcher), PD_EUNSUPPORTED without NCCL. */
int pd_comm_nccl_from_env(struct pd_comm **out, int device, char *err);

#endif
