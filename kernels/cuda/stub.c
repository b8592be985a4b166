/*
 * stub.c: the CUDA entry points of a build without CUDA. Nothing is compiled: there is no device,
 * no memory to report, and every kernel answers that this build cannot run it.
 */
#include "config.h"

#include "kernels/backend.h"

#include <stdio.h>

/* The one message of every kernel entry point here. */
static int
not_compiled(char *err, size_t err_size)
{
    if (err && err_size)
        snprintf(err, err_size, "this ponder was built without CUDA (configure --with-cuda)");
    return -1;
}

int
pd_cuda_compiled(void)
{
    return 0;
}

int
pd_cuda_device_count(void)
{
    return 0;
}

int
pd_cuda_device_describe(int dev, char *buf, size_t size)
{
    (void)dev;
    if (size)
        buf[0] = '\0';
    return -1;
}

int
pd_cuda_mem_info(int dev, size_t *free_bytes, size_t *total_bytes)
{
    (void)dev;
    *free_bytes = *total_bytes = 0;
    return -1;
}

int
pd_cuda_alloc(int dev, void **ptr, size_t bytes, const char *what, char *err, size_t err_size)
{
    (void)dev, (void)bytes, (void)what;
    *ptr = NULL;
    return not_compiled(err, err_size);
}

void
pd_cuda_free(void *ptr)
{
    (void)ptr;
}

double
pd_cuda_bandwidth(int dev)
{
    (void)dev;
    return 0.0;
}

int
pd_cuda_type_supported(int wtype)
{
    (void)wtype;
    return 0;
}

int
pd_cuda_dequantize(int dev, float *out, const void *w, int wtype, int64_t n_in, int64_t rows,
                   char *err, size_t err_size)
{
    (void)dev, (void)out, (void)w, (void)wtype, (void)n_in, (void)rows;
    return not_compiled(err, err_size);
}

int
pd_cuda_matvec(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
               int64_t n_out, char *err, size_t err_size)
{
    (void)dev, (void)y, (void)w, (void)wtype, (void)x, (void)n_in, (void)n_out;
    return not_compiled(err, err_size);
}

int
pd_cuda_matmul(int dev, float *y, const void *w, int wtype, const float *x, int64_t n_in,
               int64_t n_out, int64_t T, int half, char *err, size_t err_size)
{
    (void)dev, (void)y, (void)w, (void)wtype, (void)x, (void)n_in, (void)n_out, (void)T,
        (void)half;
    return not_compiled(err, err_size);
}

int
pd_cuda_rmsnorm(int dev, float *out, const float *x, const float *w, int64_t rows, int64_t n,
                float eps, char *err, size_t err_size)
{
    (void)dev, (void)out, (void)x, (void)w, (void)rows, (void)n, (void)eps;
    return not_compiled(err, err_size);
}

int
pd_cuda_rope(int dev, float *x, const int32_t *pos, const struct pd_rope *r, int64_t T,
             int n_heads, int D, char *err, size_t err_size)
{
    (void)dev, (void)x, (void)pos, (void)r, (void)T, (void)n_heads, (void)D;
    return not_compiled(err, err_size);
}

int
pd_cuda_softmax(int dev, float *x, int64_t rows, int64_t n, char *err, size_t err_size)
{
    (void)dev, (void)x, (void)rows, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_swiglu(int dev, float *out, const float *gate, const float *up, int64_t n, char *err,
               size_t err_size)
{
    (void)dev, (void)out, (void)gate, (void)up, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_attention(int dev, float *out, const float *q, const float *k, const float *v,
                  const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    (void)dev, (void)out, (void)q, (void)k, (void)v, (void)a;
    return not_compiled(err, err_size);
}

int
pd_cuda_moe_route(int dev, int32_t *ids, float *weights, float *entropy, const float *logits,
                  const float *bias, int64_t T, const struct pd_cuda_router *r, char *err,
                  size_t err_size)
{
    (void)dev, (void)ids, (void)weights, (void)entropy, (void)logits, (void)bias, (void)T,
        (void)r;
    return not_compiled(err, err_size);
}

int
pd_cuda_logits_stats(int dev, float *lse, float *entropy, float *logprobs, const float *logits,
                     int64_t rows, int64_t n, char *err, size_t err_size)
{
    (void)dev, (void)lse, (void)entropy, (void)logprobs, (void)logits, (void)rows, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_top_k(int dev, int32_t *ids, float *vals, const float *logits, int64_t rows, int64_t n,
              int k, char *err, size_t err_size)
{
    (void)dev, (void)ids, (void)vals, (void)logits, (void)rows, (void)n, (void)k;
    return not_compiled(err, err_size);
}

int
pd_cuda_matvec_bench(int dev, int wtype, int64_t n_in, int64_t n_out, int iters,
                     double *seconds, char *err, size_t err_size)
{
    (void)dev, (void)wtype, (void)n_in, (void)n_out, (void)iters;
    *seconds = 0.0;
    return not_compiled(err, err_size);
}
