/*
 * comm-nccl.c: the communicator over NCCL, compiled with the CUDA headers when configure found
 * NCCL (HAVE_NCCL); without it, the constructors say so and nothing else is built.
 *
 * Each rank owns one ncclComm_t, one CUDA device and one stream; every call is enqueued on the
 * stream and waited for, so the calls block as the communicator interface promises. NCCL moves
 * device memory only: a buffer in host memory (the CPU backend's activations) is staged through
 * a device buffer owned by the rank, grown when a larger message comes (so it is allocated once
 * per size, not per call); a device buffer is used in place.
 *
 * Bootstrap is NCCL's own: a process group agrees on an ncclUniqueId, either handed down by the
 * launcher (PONDER_NCCL_ID, hex) or derived by every rank from NCCL_COMM_ID=HOST:PORT, where rank
 * 0 hosts NCCL's bootstrap root. No transport of ponder's own.
 */
#include "config.h"

#include "engine/comm-impl.h"

#include <stdlib.h>
#include <string.h>

#ifdef HAVE_NCCL

#include <cuda_runtime_api.h>
/* nccl.h declares a few functions with () for (void) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop

struct nccl_comm {
    struct pd_comm base;
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    void *stage;        /* device staging buffer for host messages */
    size_t stage_cap;
};

static struct nccl_comm *
nc_of(struct pd_comm *c)
{
    return (struct nccl_comm *)c;
}

static int
cuda_fail(char *err, cudaError_t e, const char *what)
{
    return pd_errorf(err, e == cudaErrorMemoryAllocation ? PD_ENOMEM : PD_EIO, "%s: %s", what,
                     cudaGetErrorString(e));
}

static int
nccl_fail(char *err, ncclResult_t r, const char *what)
{
    return pd_errorf(err, PD_EIO, "%s: %s", what, ncclGetErrorString(r));
}

static bool
is_device_ptr(const void *p)
{
    struct cudaPointerAttributes a;
    if (p == NULL || cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError();   /* older runtimes fail on plain host pointers: clear it */
        return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* A device buffer of at least bytes for staging host messages. */
static int
stage_reserve(struct nccl_comm *nc, size_t bytes, char *err)
{
    if (bytes <= nc->stage_cap)
        return 0;
    cudaFree(nc->stage);
    nc->stage = NULL;
    nc->stage_cap = 0;
    cudaError_t e = cudaMalloc(&nc->stage, bytes);
    if (e != cudaSuccess)
        return pd_errorf(err, PD_ENOMEM, "device %d: out of memory for a %zu MiB staging buffer "
                         "of the NCCL communicator (%s)", nc->device, bytes >> 20,
                         cudaGetErrorString(e));
    nc->stage_cap = bytes;
    return 0;
}

/* The device pointer to run an op on: buf itself, or the staging buffer (filled from buf when
 * fill is set). */
static int
to_device(struct nccl_comm *nc, void **dev, const void *buf, size_t bytes, bool fill, char *err)
{
    if (is_device_ptr(buf)) {
        *dev = (void *)buf;
        return 0;
    }
    int rc = stage_reserve(nc, bytes, err);
    if (rc)
        return rc;
    *dev = nc->stage;
    cudaError_t e = fill ? cudaMemcpyAsync(nc->stage, buf, bytes, cudaMemcpyHostToDevice,
                                           nc->stream) : cudaSuccess;
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "staging a message");
}

/* Wait for the op, then copy the staged result back to host buf when it was staged. */
static int
finish(struct nccl_comm *nc, void *buf, const void *dev, size_t bytes, char *err)
{
    cudaError_t e = cudaSuccess;
    if (dev != buf && bytes)
        e = cudaMemcpyAsync(buf, dev, bytes, cudaMemcpyDeviceToHost, nc->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(nc->stream);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "waiting for NCCL");
}

static int
nccl_send(struct pd_comm *c, const void *buf, size_t bytes, int peer, char *err)
{
    struct nccl_comm *nc = nc_of(c);
    void *dev;
    cudaSetDevice(nc->device);
    int rc = to_device(nc, &dev, buf, bytes, true, err);
    if (rc)
        return rc;
    ncclResult_t r = ncclSend(dev, bytes, ncclChar, peer, nc->comm, nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "ncclSend");
    return finish(nc, (void *)dev, dev, 0, err);
}

static int
nccl_recv(struct pd_comm *c, void *buf, size_t bytes, int peer, char *err)
{
    struct nccl_comm *nc = nc_of(c);
    void *dev;
    cudaSetDevice(nc->device);
    int rc = to_device(nc, &dev, buf, bytes, false, err);
    if (rc)
        return rc;
    ncclResult_t r = ncclRecv(dev, bytes, ncclChar, peer, nc->comm, nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "ncclRecv");
    return finish(nc, buf, dev, bytes, err);
}

static int
nccl_broadcast(struct pd_comm *c, void *buf, size_t bytes, int root, char *err)
{
    struct nccl_comm *nc = nc_of(c);
    void *dev;
    cudaSetDevice(nc->device);
    int rc = to_device(nc, &dev, buf, bytes, c->rank == root, err);
    if (rc)
        return rc;
    ncclResult_t r = ncclBroadcast(dev, dev, bytes, ncclChar, root, nc->comm, nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "ncclBroadcast");
    return finish(nc, buf, dev, bytes, err);
}

static int
nccl_all_reduce_sum(struct pd_comm *c, float *buf, size_t n, char *err)
{
    struct nccl_comm *nc = nc_of(c);
    void *dev;
    cudaSetDevice(nc->device);
    int rc = to_device(nc, &dev, buf, n * sizeof(float), true, err);
    if (rc)
        return rc;
    ncclResult_t r = ncclAllReduce(dev, dev, n, ncclFloat32, ncclSum, nc->comm, nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "ncclAllReduce");
    return finish(nc, buf, dev, n * sizeof(float), err);
}

static int
nccl_all_gather(struct pd_comm *c, void *out, const void *in, size_t bytes, char *err)
{
    struct nccl_comm *nc = nc_of(c);
    size_t total = bytes * (size_t)c->size;
    cudaSetDevice(nc->device);
    void *dout;
    int rc = to_device(nc, &dout, out, total, false, err);
    if (rc)
        return rc;
    /* staged: this rank's part goes straight to its place in the staging buffer */
    const void *din = in;
    if (dout != out) {
        din = (char *)dout + (size_t)c->rank * bytes;
        cudaError_t e = cudaMemcpyAsync((void *)din, in, bytes, is_device_ptr(in) ?
                                        cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice,
                                        nc->stream);
        if (e != cudaSuccess)
            return cuda_fail(err, e, "staging a message");
    }
    ncclResult_t r = ncclAllGather(din, dout, bytes, ncclChar, nc->comm, nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "ncclAllGather");
    return finish(nc, out, dout, total, err);
}

static int
nccl_barrier(struct pd_comm *c, char *err)
{
    /* NCCL has no barrier: an all-reduce of one float is one */
    struct nccl_comm *nc = nc_of(c);
    int rc = stage_reserve(nc, sizeof(float), err);
    if (rc)
        return rc;
    cudaSetDevice(nc->device);
    ncclResult_t r = ncclAllReduce(nc->stage, nc->stage, 1, ncclFloat32, ncclSum, nc->comm,
                                   nc->stream);
    if (r != ncclSuccess)
        return nccl_fail(err, r, "barrier");
    return finish(nc, nc->stage, nc->stage, 0, err);
}

static void
nccl_free(struct pd_comm *c)
{
    struct nccl_comm *nc = nc_of(c);
    cudaSetDevice(nc->device);
    if (nc->comm)
        ncclCommDestroy(nc->comm);
    if (nc->stream)
        cudaStreamDestroy(nc->stream);
    cudaFree(nc->stage);
    free(nc);
}

static const struct pd_comm_ops nccl_ops = {
    .name = "nccl",
    .send = nccl_send,
    .recv = nccl_recv,
    .broadcast = nccl_broadcast,
    .all_reduce_sum = nccl_all_reduce_sum,
    .all_gather = nccl_all_gather,
    .barrier = nccl_barrier,
    .free = nccl_free,
};

static struct nccl_comm *
nccl_comm_alloc(int rank, int size, int device)
{
    struct nccl_comm *nc = calloc(1, sizeof *nc);
    if (nc)
        nc->base = (struct pd_comm){ .ops = &nccl_ops, .rank = rank, .size = size,
                                     .device = device };
    if (nc)
        nc->device = device;
    return nc;
}

static int
make_stream(struct nccl_comm *nc, char *err)
{
    cudaError_t e = cudaSetDevice(nc->device);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&nc->stream, cudaStreamNonBlocking);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "device setup");
}

bool
pd_comm_nccl_available(void)
{
    return true;
}

int
pd_comm_nccl_new_group(struct pd_comm **ranks, const int *devices, int n, char *err)
{
    if (n < 1)
        return pd_errorf(err, PD_EINVAL, "an NCCL group needs at least one device");
    for (int r = 0; r < n; r++)
        ranks[r] = NULL;
    ncclComm_t *comms = calloc((size_t)n, sizeof *comms);
    if (comms == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = 0;
    ncclResult_t nr = ncclCommInitAll(comms, n, devices);
    if (nr != ncclSuccess) {
        rc = nccl_fail(err, nr, "ncclCommInitAll");
        goto out;
    }
    for (int r = 0; r < n; r++) {
        struct nccl_comm *nc = nccl_comm_alloc(r, n, devices[r]);
        if (nc == NULL) {
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
            break;
        }
        nc->comm = comms[r];
        comms[r] = NULL;
        ranks[r] = &nc->base;
        if ((rc = make_stream(nc, err)) != 0)
            break;
    }
out:
    for (int r = 0; r < n; r++)
        if (comms[r])
            ncclCommDestroy(comms[r]);
    free(comms);
    if (rc)
        for (int r = 0; r < n; r++) {
            pd_comm_free(ranks[r]);
            ranks[r] = NULL;
        }
    return rc;
}

static int
env_int(const char *name, long lo, long hi, long *out, char *err)
{
    const char *s = getenv(name);
    char *end;
    if (s == NULL || *s == '\0')
        return PD_ENOTFOUND;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        return pd_errorf(err, PD_EINVAL, "%s='%s' is not a whole number in [%ld, %ld]", name, s,
                         lo, hi);
    *out = v;
    return 0;
}

/* The group's id: PONDER_NCCL_ID in hex, or NCCL's own derivation from NCCL_COMM_ID. */
static int
unique_id(ncclUniqueId *id, char *err)
{
    const char *hex = getenv("PONDER_NCCL_ID");
    if (hex && *hex) {
        if (strlen(hex) != 2 * sizeof id->internal)
            return pd_errorf(err, PD_EINVAL, "PONDER_NCCL_ID: %zu hex digits, not %zu",
                             strlen(hex), 2 * sizeof id->internal);
        for (size_t i = 0; i < sizeof id->internal; i++) {
            unsigned v;
            if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                return pd_errorf(err, PD_EINVAL, "PONDER_NCCL_ID: not hex at digit %zu", 2 * i);
            id->internal[i] = (char)v;
        }
        return 0;
    }
    if (getenv("NCCL_COMM_ID") == NULL)
        return pd_errorf(err, PD_EINVAL, "neither NCCL_COMM_ID=HOST:PORT nor PONDER_NCCL_ID is "
                         "set: the ranks cannot find each other");
    ncclResult_t r = ncclGetUniqueId(id);
    return r == ncclSuccess ? 0 : nccl_fail(err, r, "ncclGetUniqueId");
}

int
pd_comm_nccl_from_env(struct pd_comm **out, int device, char *err)
{
    *out = NULL;
    long size = 0, rank = 0, local = 0;
    int rc = env_int("PONDER_WORLD_SIZE", 1, 1 << 16, &size, err);
    if (rc == PD_ENOTFOUND)
        return pd_errorf(err, PD_ENOTFOUND, "PONDER_WORLD_SIZE is not set");
    if (rc || (rc = env_int("PONDER_RANK", 0, size - 1, &rank, err)) != 0)
        return rc == PD_ENOTFOUND ? pd_errorf(err, PD_EINVAL, "PONDER_RANK is not set") : rc;
    if (device < 0) {
        rc = env_int("PONDER_LOCAL_RANK", 0, 1 << 10, &local, err);
        if (rc && rc != PD_ENOTFOUND)
            return rc;
        device = (int)local;
    }
    ncclUniqueId id;
    if ((rc = unique_id(&id, err)) != 0)
        return rc;
    struct nccl_comm *nc = nccl_comm_alloc((int)rank, (int)size, device);
    if (nc == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    if ((rc = make_stream(nc, err)) == 0) {
        ncclResult_t r = ncclCommInitRank(&nc->comm, (int)size, id, (int)rank);
        if (r != ncclSuccess)
            rc = nccl_fail(err, r, "ncclCommInitRank");
    }
    if (rc) {
        nc->comm = NULL;
        nccl_free(&nc->base);
        return rc;
    }
    *out = &nc->base;
    return 0;
}

#else /* !HAVE_NCCL */

bool
pd_comm_nccl_available(void)
{
    return false;
}

int
pd_comm_nccl_new_group(struct pd_comm **ranks, const int *devices, int n, char *err)
{
    return pd_errorf(err, PD_EUNSUPPORTED, "this build has no NCCL (configure found none)");
}

int
pd_comm_nccl_from_env(struct pd_comm **out, int device, char *err)
{
    *out = NULL;
    return pd_errorf(err, PD_EUNSUPPORTED, "this build has no NCCL (configure found none)");
}

#endif
