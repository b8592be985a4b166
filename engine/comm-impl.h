/*
 * comm-impl.h: what an implementation of the communicator fills in. Not for use outside
 * engine/comm*.c.
 */
#ifndef PD_COMM_IMPL_H
#define PD_COMM_IMPL_H

#include "engine/comm.h"

/* Every member is required; engine/comm.c checks the arguments before calling one. */
struct pd_comm_ops {
    const char *name;
    int (*send)(struct pd_comm *c, const void *buf, size_t bytes, int peer, char *err);
    int (*recv)(struct pd_comm *c, void *buf, size_t bytes, int peer, char *err);
    int (*broadcast)(struct pd_comm *c, void *buf, size_t bytes, int root, char *err);
    int (*all_reduce_sum)(struct pd_comm *c, float *buf, size_t n, char *err);
    int (*all_gather)(struct pd_comm *c, void *out, const void *in, size_t bytes, char *err);
    int (*barrier)(struct pd_comm *c, char *err);
    void (*free)(struct pd_comm *c);
};

/* The head of every implementation's communicator. */
struct pd_comm {
    const struct pd_comm_ops *ops;
    int rank, size;
    int device;   /* pd_comm_device */
    bool start_pending;   /* pd_comm_start_pending */
};

#endif
