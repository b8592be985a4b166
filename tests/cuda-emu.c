/*
 * cuda-emu.c: the device-pointer layer of kernels/backend.h run on the host, to test the CUDA
 * forward pass's orchestration (engine/forward-cuda.c: what goes to which device, which layers
 * and experts a rank runs, the routing slots, the exchanges of a split, sampling candidates)
 * on machines without a GPU. Linked into a test binary ahead of the libraries, it stands in
 * for every pd_cuda_* symbol the engine uses; the product never links it.
 *
 * "Device memory" is host memory, filled with NaN when allocated (as cudaMalloc's contents are
 * undefined, a read before a write shows in the logits). Each operation runs when it is called
 * with the CPU twins of the kernels (pd_dequantize_row, pd_rmsnorm, pd_rope_*,
 * pd_attention_head_ref, pd_route_*, pd_candidates_from_logits), in float. Two devices are
 * reported. The kernels themselves are checked against the CPU on a GPU (tests/test-cuda); CUDA
 * graphs are not emulated (recording is refused: run with PONDER_CUDA_GRAPHS=0).
 * pd_cuda_emu_fail_matmul makes a later product fail, as a device error would.
 */
#include "config.h"

#include "engine/route.h"
#include "engine/sampler.h"
#include "kernels/backend.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMU_DEVICES 2

/* Products left before the one that fails (0: none fails); shared by the ranks' threads. */
static int fail_countdown;

void pd_cuda_emu_fail_matmul(int n);

/* The n-th pd_cuda_dev_matmul from now, on any device, fails once. */
void
pd_cuda_emu_fail_matmul(int n)
{
    __atomic_store_n(&fail_countdown, n, __ATOMIC_SEQ_CST);
}

struct pd_cuda_exec {
    int dev;
};

int
pd_cuda_compiled(void)
{
    return 1;
}

int
pd_cuda_device_count(void)
{
    return EMU_DEVICES;
}

int
pd_cuda_device_describe(int dev, char *buf, size_t size)
{
    snprintf(buf, size, "host emulation of device %d", dev);
    return 0;
}

int
pd_cuda_alloc(int dev, void **ptr, size_t bytes, const char *what, char *err, size_t err_size)
{
    *ptr = malloc(bytes ? bytes : 1);
    if (*ptr == NULL) {
        snprintf(err, err_size, "device %d: out of memory for %s", dev, what);
        return -1;
    }
    memset(*ptr, 0xFF, bytes);   /* NaN floats, -1 ints: undefined, as on a device */
    return 0;
}

void
pd_cuda_free(void *ptr)
{
    free(ptr);
}

int
pd_cuda_type_supported(int wtype)
{
    switch (wtype) {
    case PD_TYPE_F32: case PD_TYPE_F16: case PD_TYPE_BF16: case PD_TYPE_Q4_0: case PD_TYPE_Q4_1:
    case PD_TYPE_Q8_0: case PD_TYPE_Q4_K: case PD_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

int
pd_cuda_attention_check(const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    (void)a, (void)err, (void)err_size;
    return 0;
}

int
pd_cuda_router_check(const struct pd_cuda_router *r, char *err, size_t err_size)
{
    (void)r, (void)err, (void)err_size;
    return 0;
}

size_t
pd_cuda_candidates_bytes(int k)
{
    return sizeof(struct pd_cuda_candidates) + (size_t)k * (sizeof(int32_t) + sizeof(float));
}

size_t
pd_cuda_candidates_scratch(int64_t n, int k)
{
    (void)n, (void)k;
    return 1;
}

/* ---- execution state ---- */

int
pd_cuda_exec_new(struct pd_cuda_exec **out, int dev, char *err, size_t err_size)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    (*out)->dev = dev;
    return 0;
}

void
pd_cuda_exec_free(struct pd_cuda_exec *x)
{
    free(x);
}

void
pd_cuda_exec_set_half(struct pd_cuda_exec *x, int half)
{
    (void)x, (void)half;
}

int
pd_cuda_exec_bind(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    return 0;
}

int
pd_cuda_exec_record_begin(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x;
    snprintf(err, err_size, "the host emulation records no graphs");
    return -1;
}

int
pd_cuda_exec_record_end(struct pd_cuda_exec *x, int keep, char *err, size_t err_size)
{
    (void)x, (void)keep;
    snprintf(err, err_size, "the host emulation records no graphs");
    return -1;
}

int
pd_cuda_exec_replay(struct pd_cuda_exec *x, char *err, size_t err_size)
{
    (void)x;
    snprintf(err, err_size, "the host emulation records no graphs");
    return -1;
}

int
pd_cuda_exec_sync(struct pd_cuda_exec *x, const char *what, char *err, size_t err_size)
{
    (void)x, (void)what, (void)err, (void)err_size;
    return 0;
}

/* ---- copies ---- */

int
pd_cuda_dev_upload(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                   const char *what, char *err, size_t err_size)
{
    (void)x, (void)what, (void)err, (void)err_size;
    if (n)
        memcpy(dst, src, n);
    return 0;
}

int
pd_cuda_dev_download(struct pd_cuda_exec *x, void *dst, const void *src, size_t n,
                     const char *what, char *err, size_t err_size)
{
    return pd_cuda_dev_upload(x, dst, src, n, what, err, err_size);
}

int
pd_cuda_dev_zero(struct pd_cuda_exec *x, void *dst, size_t n, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    if (n)
        memset(dst, 0, n);
    return 0;
}

int
pd_cuda_dev_copy2d(struct pd_cuda_exec *x, float *dst, int64_t ld_dst, const float *src,
                   int64_t ld_src, int64_t rows, int64_t cols, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t r = 0; r < rows; r++)
        memmove(dst + r * ld_dst, src + r * ld_src, sizeof(float) * (size_t)cols);
    return 0;
}

int
pd_cuda_dev_kv_store(struct pd_cuda_exec *x, float *cache, int64_t rw, const float *src,
                     int64_t ld_src, int64_t cols, const int32_t *pos, int64_t T, char *err,
                     size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t t = 0; t < T; t++)
        memcpy(cache + (int64_t)pos[t] * rw, src + t * ld_src, sizeof(float) * (size_t)cols);
    return 0;
}

int
pd_cuda_dev_gather(struct pd_cuda_exec *x, float *out, const float *in, const int32_t *rows_src,
                   int64_t n_rows, int64_t n, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t r = 0; r < n_rows; r++)
        memcpy(out + r * n, in + (int64_t)rows_src[r] * n, sizeof(float) * (size_t)n);
    return 0;
}

/* ---- products ---- */

/* y[t][ldy] = W . x[t][ldx] for t < T, each row of W dequantized once, summed in float. */
static void
product(float *y, int64_t ldy, const void *w, int wtype, const float *x, int64_t ldx,
        int64_t n_in, int64_t n_out, int64_t T)
{
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n_in);
    float *row = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t o = 0; o < n_out; o++) {
        pd_dequantize_row((enum pd_type)wtype, (const uint8_t *)w + (size_t)o * row_bytes, row,
                          n_in);
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * ldx;
            float s = 0.0f;
            for (int64_t i = 0; i < n_in; i++)
                s += row[i] * xt[i];
            y[t * ldy + o] = s;
        }
    }
    free(row);
}

int
pd_cuda_dev_matmul(struct pd_cuda_exec *x, float *y, int64_t ldy, const void *w, int wtype,
                   const float *in, int64_t ldx, int64_t n_in, int64_t n_out, int64_t T,
                   char *err, size_t err_size)
{
    (void)x;
    if (!pd_cuda_type_supported(wtype)) {
        snprintf(err, err_size, "matmul: weights of type %d have no CUDA kernel", wtype);
        return -1;
    }
    if (__atomic_load_n(&fail_countdown, __ATOMIC_SEQ_CST) > 0 &&
        __atomic_sub_fetch(&fail_countdown, 1, __ATOMIC_SEQ_CST) == 0) {
        snprintf(err, err_size, "device %d: an injected failure of a product", x->dev);
        return -1;
    }
    product(y, ldy, w, wtype, in, ldx, n_in, n_out, T);
    return 0;
}

int
pd_cuda_dev_matvec_experts(struct pd_cuda_exec *x, float *y, int64_t ld_out, const void *w,
                           int wtype, size_t expert_stride, const int32_t *ids, int K,
                           int32_t held_first, int32_t held_end, const float *in, int64_t ld_in,
                           int64_t n_in, int64_t n_out, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int k = 0; k < K; k++) {
        float *yk = y + k * ld_out;
        if (ids[k] < held_first || ids[k] >= held_end) {
            memset(yk, 0, sizeof(float) * (size_t)n_out);
            continue;
        }
        product(yk, 0, (const uint8_t *)w + (size_t)(ids[k] - held_first) * expert_stride,
                wtype, in + k * ld_in, 0, n_in, n_out, 1);
    }
    return 0;
}

int
pd_cuda_dev_embed(struct pd_cuda_exec *x, float *out, const void *w, int wtype,
                  const int32_t *tokens, int64_t n, int64_t T, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    size_t row_bytes = pd_type_row_size((enum pd_type)wtype, n);
    for (int64_t t = 0; t < T; t++)
        pd_dequantize_row((enum pd_type)wtype, (const uint8_t *)w + (size_t)tokens[t] * row_bytes,
                          out + t * n, n);
    return 0;
}

/* ---- row-wise ---- */

int
pd_cuda_dev_rmsnorm(struct pd_cuda_exec *x, float *out, int64_t ld_out, const float *in,
                    int64_t ld_in, const float *w, int64_t rows, int64_t n, float eps, char *err,
                    size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t r = 0; r < rows; r++)
        pd_rmsnorm(out + r * ld_out, in + r * ld_in, w, n, eps);
    return 0;
}

int
pd_cuda_dev_add(struct pd_cuda_exec *x, float *y, const float *a, int64_t a_ld, int64_t rows,
                int64_t n, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t r = 0; r < rows; r++)
        pd_add(y + r * n, a + r * a_ld, n);
    return 0;
}

int
pd_cuda_dev_swiglu(struct pd_cuda_exec *x, float *out, const float *gate, const float *up,
                   int64_t n, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    pd_swiglu(out, gate, up, n);
    return 0;
}

int
pd_cuda_dev_rope(struct pd_cuda_exec *x, float *xs, int64_t ld, const int32_t *pos,
                 const struct pd_rope *r, const float *freq_factors, int64_t T, int n_heads,
                 int D, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    struct pd_rope rr = *r;
    rr.freq_factors = freq_factors;
    float *cs = malloc(sizeof(float) * (size_t)(rr.n_rot + 2));
    for (int64_t t = 0; t < T; t++) {
        pd_rope_cache(cs, &rr, pos[t]);
        pd_rope_apply(xs + t * ld, cs, &rr, n_heads, D);
    }
    free(cs);
    return 0;
}

int
pd_cuda_dev_attention(struct pd_cuda_exec *x, float *out, const float *q, const float *k,
                      const float *v, const struct pd_cuda_attn *a, char *err, size_t err_size)
{
    (void)x;
    if (a->k_stride != a->v_stride) {
        snprintf(err, err_size, "the emulated attention takes equal K and V strides");
        return -1;
    }
    int64_t n_kv = a->pos ? (int64_t)a->pos[a->T - 1] + 1 : a->n_kv;
    float *scores = malloc(sizeof(float) * (size_t)n_kv);
    for (int64_t t = 0; t < a->T; t++)
        for (int h = 0; h < a->H; h++) {
            int g = h / (a->H / a->Hkv);
            pd_attention_head_ref(out + (t * a->H + h) * a->Dv, scores, q + (t * a->H + h) * a->D,
                                  k + (int64_t)g * a->D, v + (int64_t)g * a->Dv,
                                  n_kv - a->T + 1 + t, a->D, a->Dv, a->k_stride, a->scale);
        }
    free(scores);
    return 0;
}

/* ---- MoE and sampling ---- */

int
pd_cuda_dev_moe_route(struct pd_cuda_exec *x, int32_t *ids, float *weights, float *entropy,
                      const float *logits, const float *bias, int64_t T,
                      const struct pd_cuda_router *r, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    int32_t X = r->n_expert, K = r->n_used;
    float *p = malloc(sizeof(float) * 2 * (size_t)X), *sel = p + X;
    const struct pd_route_rule rule = {
        .n_expert = X, .n_used = K, .n_groups = r->n_groups,
        .n_groups_used = r->n_groups_used, .norm = r->norm != 0, .scale = r->scale,
    };
    for (int64_t t = 0; t < T; t++) {
        memcpy(p, logits + t * X, sizeof(float) * (size_t)X);
        entropy[t] = pd_route_gate(p, X, r->sigmoid != 0);
        pd_route_choose(ids + t * K, weights + t * K, sel, p, bias, &rule);
    }
    free(p);
    return 0;
}

int
pd_cuda_dev_moe_combine(struct pd_cuda_exec *x, float *xs, const float *rout,
                        const int32_t *token_row, const float *weights, int K, const float *sout,
                        const float *sg_logit, int64_t T, int64_t n, char *err, size_t err_size)
{
    (void)x, (void)err, (void)err_size;
    for (int64_t t = 0; t < T; t++) {
        float sg = sg_logit ? 1.0f / (1.0f + expf(-sg_logit[t])) : 1.0f;
        for (int64_t j = 0; j < n; j++) {
            float v = xs[t * n + j];
            for (int k = 0; k < K; k++)
                v += weights[t * K + k] * rout[(int64_t)token_row[t * K + k] * n + j];
            if (sout)
                v += sg * sout[t * n + j];
            xs[t * n + j] = v;
        }
    }
    return 0;
}

int
pd_cuda_dev_candidates(struct pd_cuda_exec *x, void *out, void *scratch, const float *logits,
                       int64_t n, int k, char *err, size_t err_size)
{
    (void)x, (void)scratch, (void)err, (void)err_size;
    struct pd_cuda_candidates *h = out;
    int32_t *ids = (int32_t *)(h + 1);
    float *vals = (float *)(ids + k);
    struct pd_candidates c = { .ids = ids, .logits = vals };
    pd_candidates_from_logits(&c, logits, (int32_t)n, k);
    for (int i = c.n; i < k; i++)
        ids[i] = -1;
    h->lse = c.lse;
    h->entropy = c.entropy;
    return 0;
}
