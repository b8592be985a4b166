/*
 * comm.c: the communicator's public calls: argument checks, then the implementation's.
 */
#include "config.h"

#include "engine/comm-impl.h"

int
pd_comm_rank(const struct pd_comm *c)
{
    return c->rank;
}

int
pd_comm_size(const struct pd_comm *c)
{
    return c->size;
}

const char *
pd_comm_name(const struct pd_comm *c)
{
    return c->ops->name;
}

int
pd_comm_device(const struct pd_comm *c)
{
    return c->device;
}

void
pd_comm_set_start_pending(struct pd_comm *c, bool pending)
{
    c->start_pending = pending;
}

bool
pd_comm_start_pending(const struct pd_comm *c)
{
    return c->start_pending;
}

static int
check_peer(const struct pd_comm *c, int peer, const char *what, char *err)
{
    if (peer < 0 || peer >= c->size || peer == c->rank)
        return pd_errorf(err, PD_EINVAL, "%s: rank %d of %d cannot use rank %d as its peer", what,
                         c->rank, c->size, peer);
    return 0;
}

int
pd_comm_send(struct pd_comm *c, const void *buf, size_t bytes, int peer, char *err)
{
    int rc = check_peer(c, peer, "send", err);
    return rc ? rc : c->ops->send(c, buf, bytes, peer, err);
}

int
pd_comm_recv(struct pd_comm *c, void *buf, size_t bytes, int peer, char *err)
{
    int rc = check_peer(c, peer, "receive", err);
    return rc ? rc : c->ops->recv(c, buf, bytes, peer, err);
}

int
pd_comm_broadcast(struct pd_comm *c, void *buf, size_t bytes, int root, char *err)
{
    if (root < 0 || root >= c->size)
        return pd_errorf(err, PD_EINVAL, "broadcast: root %d is not a rank of %d", root, c->size);
    if (c->size == 1)
        return 0;
    return c->ops->broadcast(c, buf, bytes, root, err);
}

int
pd_comm_all_reduce_sum(struct pd_comm *c, float *buf, size_t n, char *err)
{
    return c->size == 1 ? 0 : c->ops->all_reduce_sum(c, buf, n, err);
}

int
pd_comm_all_gather(struct pd_comm *c, void *out, const void *in, size_t bytes, char *err)
{
    return c->ops->all_gather(c, out, in, bytes, err);
}

int
pd_comm_barrier(struct pd_comm *c, char *err)
{
    return c->size == 1 ? 0 : c->ops->barrier(c, err);
}

void
pd_comm_free(struct pd_comm *c)
{
    if (c)
        c->ops->free(c);
}
