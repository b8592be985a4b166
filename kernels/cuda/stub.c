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

/* ---- the device-pointer layer: no device, so no execution state can be made ---- */

int
pd_cuda_exec_new(struct pd_cuda_exec **out, int dev, char *err, size_t err_size)
{
    (void)dev;
    *out = NULL;
    return not_compiled(err, err_size);
}

void
pd_cuda_exec_free(struct pd_cuda_exec *x)
{
    (void)x;
}

void
pd_cuda_exec_set_half(struct pd_cuda_exec *x, int half)
{
    (void)x, (void)half;
}

int
pd_cuda_exec_bind(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x;
    return not_compiled(err, err_size);
}

int
pd_cuda_exec_sync(struct pd_cuda_exec *x, const char *what, char *err, size_t err_size)
{
    (void)x, (void)what;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_upload(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                   const char *what, char *err, size_t err_size)
{
    (void)x, (void)dst, (void)src, (void)n, (void)what;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_download(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                     const char *what, char *err, size_t err_size)
{
    (void)x, (void)dst, (void)src, (void)n, (void)what;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_zero(struct pd_cuda_exec *x, void *dst, size_t n, char *err, size_t err_size)
{
    (void)x, (void)dst, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_copy2d(struct pd_cuda_exec *x, float *dst, int64_t ld_dst, const float *src,
                   int64_t ld_src, int64_t rows, int64_t cols, char *err, size_t err_size)
{
    (void)x, (void)dst, (void)ld_dst, (void)src, (void)ld_src, (void)rows, (void)cols;
    return not_compiled(err, err_size);
}

int
pd_cuda_exec_record_begin(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x;
    return not_compiled(err, err_size);
}

int
pd_cuda_exec_record_end(struct pd_cuda_exec *x, int keep, char *err, size_t err_size)
{
    (void)x, (void)keep;
    return not_compiled(err, err_size);
}

int
pd_cuda_exec_replay(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_kv_store(struct pd_cuda_exec *x, float *cache, int64_t rw, const float *src,
                     int64_t ld_src, int64_t cols, const int32_t *pos, int64_t T, char *err,
                     size_t err_size)
{
    (void)x, (void)cache, (void)rw, (void)src, (void)ld_src, (void)cols, (void)pos, (void)T;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_matvec_experts(struct pd_cuda_exec *x, float *y, int64_t ld_out, const void *w,
                           int wtype, size_t expert_stride, const int32_t *ids, int K,
                           int32_t held_first, int32_t held_end, const float *in, int64_t ld_in,
                           int64_t n_in, int64_t n_out, char *err, size_t err_size)
{
    (void)x, (void)y, (void)ld_out, (void)w, (void)wtype, (void)expert_stride, (void)ids,
        (void)K, (void)held_first, (void)held_end, (void)in, (void)ld_in, (void)n_in, (void)n_out;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_matmul(struct pd_cuda_exec *x, float *y, int64_t ldy, const void *w, int wtype,
                   const float *in, int64_t ldx, int64_t n_in, int64_t n_out, int64_t T,
                   char *err, size_t err_size)
{
    (void)x, (void)y, (void)ldy, (void)w, (void)wtype, (void)in, (void)ldx, (void)n_in,
        (void)n_out, (void)T;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_embed(struct pd_cuda_exec *x, float *out, const void *w, int wtype,
                  const int32_t *tokens, int64_t n, int64_t T, char *err, size_t err_size)
{
    (void)x, (void)out, (void)w, (void)wtype, (void)tokens, (void)n, (void)T;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_rmsnorm(struct pd_cuda_exec *x, float *out, int64_t ld_out, const float *in,
                    int64_t ld_in, const float *w, int64_t rows, int64_t n, float eps, char *err,
                    size_t err_size)
{
    (void)x, (void)out, (void)ld_out, (void)in, (void)ld_in, (void)w, (void)rows, (void)n,
        (void)eps;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_add(struct pd_cuda_exec *x, float *y, const float *a, int64_t a_ld, int64_t rows,
                int64_t n, char *err, size_t err_size)
{
    (void)x, (void)y, (void)a, (void)a_ld, (void)rows, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_swiglu(struct pd_cuda_exec *x, float *out, const float *gate, const float *up,
                   int64_t n, char *err, size_t err_size)
{
    (void)x, (void)out, (void)gate, (void)up, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_rope(struct pd_cuda_exec *x, float *xs, int64_t ld, const int32_t *pos,
                 const struct pd_rope *r, const float *freq_factors, int64_t T, int n_heads, int D,
                 char *err, size_t err_size)
{
    (void)x, (void)xs, (void)ld, (void)pos, (void)r, (void)freq_factors, (void)T, (void)n_heads,
        (void)D;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_attention(struct pd_cuda_exec *x, float *out, const float *q, const float *k,
                      const float *v, const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    (void)x, (void)out, (void)q, (void)k, (void)v, (void)a;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_moe_route(struct pd_cuda_exec *x, int32_t *ids, float *weights, float *entropy,
                      const float *logits, const float *bias, int64_t T,
                      const struct pd_cuda_router *r, char *err, size_t err_size)
{
    (void)x, (void)ids, (void)weights, (void)entropy, (void)logits, (void)bias, (void)T, (void)r;
    return not_compiled(err, err_size);
}

size_t
pd_cuda_candidates_bytes(int k)
{
    (void)k;
    return 0;
}

size_t
pd_cuda_candidates_scratch(int64_t n, int k)
{
    (void)n, (void)k;
    return 0;
}

int
pd_cuda_dev_candidates(struct pd_cuda_exec *x, void *out, void *scratch, const float *logits,
                       int64_t n, int k, char *err, size_t err_size)
{
    (void)x, (void)out, (void)scratch, (void)logits, (void)n, (void)k;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_gather(struct pd_cuda_exec *x, float *out, const float *in, const int32_t *rows_src,
                   int64_t n_rows, int64_t n, char *err, size_t err_size)
{
    (void)x, (void)out, (void)in, (void)rows_src, (void)n_rows, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_dev_moe_combine(struct pd_cuda_exec *x, float *xs, const float *rout,
                        const int32_t *token_row, const float *weights, int K, const float *sout,
                        const float *sg_logit, int64_t T, int64_t n, char *err, size_t err_size)
{
    (void)x, (void)xs, (void)rout, (void)token_row, (void)weights, (void)K, (void)sout,
        (void)sg_logit, (void)T, (void)n;
    return not_compiled(err, err_size);
}

int
pd_cuda_attention_check(const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    (void)a;
    return not_compiled(err, err_size);
}

int
pd_cuda_router_check(const struct pd_cuda_router *r, char *err, size_t err_size)
{
    (void)r;
    return not_compiled(err, err_size);
}
