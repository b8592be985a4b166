/*
 * split.h: one model over several devices: the backend choice, and the two partitionings.
 *
 * A split runs one pd_context per rank, each rank a device (a GPU: a CUDA context holding only
 * its share of the weights, through NCCL, or through the local communicator when ranks share a
 * GPU; or a CPU "device": a thread of this process with its own thread pool, through the local
 * communicator of engine/comm.h). Rank 0 is the driver: the context the caller holds. Its pd_context_decode
 * broadcasts the tokens to the other ranks, every rank runs its share of the forward pass, and
 * rank 0 ends up with the logits and the routing trace of the whole model, so generation, token
 * events and the session store do not know there is a split.
 *
 *   PD_SPLIT_LAYER   pipeline: rank r holds a contiguous range of layers (an even share) and
 *                    their KV cache. Rank 0 embeds the tokens; the hidden state [T][E] and the
 *                    routing decided so far travel rank to rank; the last rank computes the logits
 *                    and sends them, with the whole routing trace, back to rank 0. The arithmetic
 *                    is the unsplit model's, operation for operation: logits are bit-identical.
 *   PD_SPLIT_EXPERT  expert parallel: every rank runs the dense parts (attention, dense FFNs,
 *                    routers, shared experts) on all tokens, replicated, and holds an even
 *                    contiguous block of every MoE layer's experts (expert e on rank
 *                    e * size / X). In a MoE layer each rank runs only the products of its own
 *                    experts over the tokens routed to them, weights them, and one all-reduce sums
 *                    the ranks' shares, so every rank has the full output. The router runs on the
 *                    same inputs everywhere: the routing trace is the unsplit model's. Only the
 *                    order of the sum over the K chosen experts changes (per rank, then over
 *                    ranks), so logits agree to float rounding.
 *
 * In-process groups (pd_context_params.n_devices > 1, or a split, and no comm): pd_context_new
 * builds every rank, each with n_threads / n_devices threads of its own (at least one), and
 * starts a thread per follower rank; pd_context_free stops them. Multi-process groups
 * (one rank per process, pd_context_params.comm from pd_comm_nccl_from_env): rank 0's process
 * drives, every other process calls pd_split_serve until rank 0 frees its context.
 *
 * A rank whose share of a batch fails (a device error, say) still does its part of the pass's
 * exchanges, then every rank learns of it (one all-gather of statuses a batch) and the decode
 * fails on all of them with that rank's message, none of the batch's positions cached; the group
 * goes on. A collective that fails itself fails the decode on the rank that saw it and the ranks
 * are not resynchronized (the local communicator fails only on a caller's bug; NCCL on a lost
 * peer, after which the group is gone anyway).
 */
#ifndef PD_SPLIT_H
#define PD_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most ranks one split may have. */
#define PD_MAX_DEVICES 64

enum pd_split_mode {
    PD_SPLIT_NONE = 0,
    PD_SPLIT_LAYER,
    PD_SPLIT_EXPERT,
};

enum pd_backend {
    PD_BACKEND_AUTO = 0,   /* CUDA where a device is found and the build can run a model there */
    PD_BACKEND_CPU,
    PD_BACKEND_CUDA,
};

struct pd_comm;
struct pd_context;
struct pd_context_params;
struct pd_layer;
struct pd_model;

/* "layer"/"expert"/"none" to a mode and back; -1 when s names none. */
int pd_split_mode_parse(const char *s);
const char *pd_split_mode_name(int mode);

/* "cpu"/"cuda"/"auto" to a backend; -1 when s names none. */
int pd_backend_parse(const char *s);
const char *pd_backend_name(int backend);

/* The backend a request resolves to on this build and machine: AUTO becomes CUDA when the build
 * has CUDA and a device is found, else CPU. CUDA that cannot run: PD_EUNSUPPORTED, with a message
 * saying why (no CUDA in the build, no device). pd_context_new then checks the model and the split:
 * AUTO falls back to the CPU for a split or a model the CUDA forward does not take. */
int pd_backend_resolve(int want, int *got, char *err);

/* The backend context c runs on (enum pd_backend), and in note (size bytes, may be NULL) why, for
 * --verbose output: "cuda: device 0 (NVIDIA H200, 139.8 GiB, sm_90)", "cpu: <why not CUDA>", or
 * "" when no CUDA device was in question. */
int pd_context_backend(const struct pd_context *c, char *note, size_t size);

/* This context's rank and the number of ranks (0 and 1 for an unsplit context). */
int pd_split_rank(const struct pd_context *c);
int pd_split_size(const struct pd_context *c);

/* "layer split over 2 local ranks (layers 0-14 | 15-29)" into buf, or "" when unsplit. */
void pd_split_describe(const struct pd_context *c, char *buf, size_t size);

/* What one rank of a split holds, planned without making it (pd_split_plan). */
struct pd_rank_share {
    int backend;                        /* enum pd_backend: CPU for --gpu-layers' CPU rank */
    int device;                         /* its CUDA device (-1: the CPU) */
    int32_t layer_first, layer_end;     /* the layers it runs and caches */
    int32_t expert_first, expert_end;   /* the experts whose products it runs */
    bool embed, head;                   /* it embeds the tokens, computes the logits */
    size_t weight_bytes;                /* the weights it reads (a GPU copies them to its memory) */
    size_t kv_bytes;                    /* its KV cache at the context's length */
};

/* The ranks pd_context_new would make of m with p, and what each holds: out[PD_MAX_DEVICES], *n
 * of them (one for an unsplit model). The backend is taken as asked, a CUDA device as present:
 * the plan is for sizing a machine, which need not be this one (`ponder model info --gpus`). */
int pd_split_plan(const struct pd_model *m, const struct pd_context_params *p,
                  struct pd_rank_share *out, int *n, char *err);

/* A follower rank of a multi-process group (rank > 0): run the forward passes rank 0 asks for
 * until it frees its context; 0, or a negative PD_E* when a collective failed. */
int pd_split_serve(struct pd_context *c, char *err);

/* The start of a multi-process group (pd_comm_set_start_pending): pd_context_new ends with every
 * rank learning whether every other made its context (*ctx, or rc and err for this rank's own
 * failure); where another rank failed, *ctx is freed and the error names that rank. A rank that
 * fails before making its context (a model it cannot load, a prompt it cannot read) calls
 * pd_split_abandon with its error (rc, why), so the others stop too. Both do nothing but return
 * rc once the group has agreed. */
int pd_split_agree_start(struct pd_comm *comm, struct pd_context **ctx, int rc, char *err);
int pd_split_abandon(struct pd_comm *comm, int rc, const char *why, char *err);

/* ---- for engine/forward.c and engine/moe.c only ---- */

/* pd_context_new of a split context: the in-process group (returns its driver in *out), its
 * ranks on backend (resolved for the whole group; note says why, for pd_context_backend). */
int pd_split_group_new(struct pd_context **out, struct pd_model *m,
                       const struct pd_context_params *p, int backend, const char *note,
                       char *err);
/* Fill c->part for a rank of p->comm's group (or the whole model when p->comm is NULL); called
 * before the buffers are planned, since the KV cache holds only the rank's layers. */
int pd_split_part_init(struct pd_context *c, const struct pd_context_params *p, char *err);
/* --gpu-layers N below m's layer count: the layer split q that puts the first layers on a CPU
 * rank (devices[0] = -1) and the last N, with the head, on the GPUs of p (else device 0). */
int pd_split_offload_params(const struct pd_model *m, const struct pd_context_params *p,
                            struct pd_context_params *q, char *err);
/* The MoE output buffers of an expert-split rank (after the MoE scratch is planned). */
int pd_split_part_alloc(struct pd_context *c, char *err);
/* The driver's decode and truncate, and what pd_context_free does for a split context. */
int pd_split_decode(struct pd_context *c, const int32_t *tokens, int32_t n, char *err);
void pd_split_truncate(struct pd_context *c, int32_t pos);
void pd_split_release(struct pd_context *c);
/* Inside a forward pass, all threads, after this rank's share of an MoE layer's output is in
 * c->part.moe_out: sum the shares over ranks and add them (and the shared expert) to c->x. */
void pd_split_moe_reduce(struct pd_context *c, const struct pd_layer *l, int ith, int nth,
                         int64_t T);

#endif
