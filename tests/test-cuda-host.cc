/*
 * test-cuda-host.cc: the CUDA kernels' own source run on the host, with no GPU, against the CPU.
 *
 * First the block decoders (kernels/cuda/quant.cuh), which compile for both: the values the decode
 * and prefill kernels read out of each format's blocks are the CPU dequantizers', for a whole
 * 32-element unit (pd_dev_unit, prefill and the fallback kernel), each thread's eight elements of
 * a unit (pd_dev_part, the decode kernel: its byte tricks, its wide loads), and Q6_K's sixteenths
 * of a super-block (its own decode kernel).
 *
 * Then the decode products themselves (kernels/cuda/matvec.cuh), launched through their own
 * dispatch under tests/simt.h, a host thread per CUDA thread: which thread reads which part of
 * which row, the warp and block sums, the rows past the end of a block, the shapes that take the
 * one-row kernel, and an MoE layer's products with experts held on another rank. What this cannot
 * see (speed, alignment faults, the device's own arithmetic) is tests/test-cuda's, on a GPU. Last,
 * the runner itself: a shuffle with a lane gone and a barrier half a block never reaches are
 * faults it reports rather than answers it makes up or a hang.
 */
#include "config.h"

#include "tests/simt.h"

#include "kernels/cuda/matvec.cuh"

extern "C" {
#include "engine/pd.h"
#include "kernels/cpu/quant.h"
#include "tests/tap.h"
}

#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define N_IN 1024   /* four K-quant super-blocks, 32 units */
#define ROWS 8

static uint32_t rng = 12345;

static uint8_t
rbyte(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

static float
rfloat(void)
{
    return (float)rbyte() / 128.0f - 1.0f;
}

/* A row of random blocks: quantized random floats, or for the K-quants (no quantizer here) random
 * bytes with small finite super-block scales, every other bit pattern being valid. */
static void
make_row(int t, uint8_t *row)
{
    if (t == PD_TYPE_Q4_K || t == PD_TYPE_Q6_K) {
        for (size_t i = 0; i < pd_type_row_size((enum pd_type)t, N_IN); i++)
            row[i] = rbyte();
        for (int b = 0; b < N_IN / PD_QK_K; b++) {
            uint16_t d = pd_fp32_to_fp16(0.002f + 0.004f * (rfloat() + 1.0f));
            if (t == PD_TYPE_Q4_K) {
                struct pd_block_q4_K *bk = (struct pd_block_q4_K *)row + b;
                bk->d = d;
                bk->dmin = pd_fp32_to_fp16(0.001f + 0.002f * (rfloat() + 1.0f));
            } else {
                ((struct pd_block_q6_K *)row + b)->d = d;
            }
        }
        return;
    }
    float x[N_IN];
    for (int i = 0; i < N_IN; i++)
        x[i] = rfloat() * 3.0f;
    PD_ASSERT(pd_quantize_row((enum pd_type)t, x, row, N_IN));
}

/* Worst |a - b| relative to |b| (at least 1e-3 absolute scale) over the pairs compared. */
static float
diff(float a, float b)
{
    return fabsf(a - b) / fmaxf(fabsf(b), 1e-3f);
}

template <int TYPE>
static void
check_type(void)
{
    /* 16-byte aligned rows, as matvec_parts_fit asks of Q4_K */
    size_t row_bytes = pd_type_row_size((enum pd_type)TYPE, N_IN);
    uint8_t *rows = (uint8_t *)aligned_alloc(16, (row_bytes * ROWS + 15) / 16 * 16);
    float ref[N_IN], v[32];
    float worst_unit = 0.0f, worst_part = 0.0f;
    for (int r = 0; r < ROWS; r++) {
        uint8_t *row = rows + (size_t)r * row_bytes;
        make_row(TYPE, row);
        pd_dequantize_row((enum pd_type)TYPE, row, ref, N_IN);
        for (int64_t u = 0; u < N_IN / 32; u++) {
            if constexpr (!pd_dev_is_float(TYPE)) {
                pd_dev_unit<TYPE>(v, row, u);
                for (int j = 0; j < 32; j++)
                    worst_unit = fmaxf(worst_unit, diff(v[j], ref[32 * u + j]));
            }
            for (int s = 0; s < 4; s++) {
                pd_dev_part<TYPE>(v, row, u, s);
                for (int k = 0; k < 4; k++) {
                    worst_part = fmaxf(worst_part, diff(v[k], ref[32 * u + 4 * s + k]));
                    worst_part = fmaxf(worst_part, diff(v[k + 4], ref[32 * u + 16 + 4 * s + k]));
                }
            }
        }
    }
    const char *name = pd_type_traits_get((uint32_t)TYPE)->name;
    if (!pd_dev_is_float(TYPE))
        ok(worst_unit <= 1e-6f, "%s: every unit's 32 values are the CPU's (worst %.2g)", name,
           worst_unit);
    ok(worst_part <= 1e-6f, "%s: every thread's part of a unit is the CPU's (worst %.2g)", name,
       worst_part);
    free(rows);
}

/* Q6_K's decode kernel reads sixteenths of a super-block: the sixteen threads' offsets cover the
 * 256 elements once each, and each value is the CPU's. */
static void
check_q6k_sixteenths(void)
{
    size_t row_bytes = pd_type_row_size(PD_TYPE_Q6_K, N_IN);
    uint8_t *row = (uint8_t *)malloc(row_bytes);
    float ref[N_IN], v[16], worst = 0.0f;
    int seen[PD_QK_K] = { 0 }, once = 1;
    for (int t = 0; t < 16; t++)
        for (int j = 0; j < 16; j++)
            seen[pd_dev_q6k_at(t, j)]++;
    for (int i = 0; i < PD_QK_K; i++)
        once = once && seen[i] == 1;
    ok(once, "q6_K: the sixteen threads of a super-block take each element once");
    for (int r = 0; r < ROWS; r++) {
        make_row(PD_TYPE_Q6_K, row);
        pd_dequantize_row(PD_TYPE_Q6_K, row, ref, N_IN);
        for (int64_t sb = 0; sb < N_IN / PD_QK_K; sb++)
            for (int t = 0; t < 16; t++) {
                pd_dev_q6k_sixteenth(v, row, sb, t);
                for (int j = 0; j < 16; j++)
                    worst = fmaxf(worst, diff(v[j], ref[PD_QK_K * sb + pd_dev_q6k_at(t, j)]));
            }
    }
    ok(worst <= 1e-6f, "q6_K: every thread's sixteenth is the CPU's (worst %.2g)", worst);
    free(row);
}

/* ---- the decode products, thread for thread ---- */

/* n bytes aligned to align, ending as close as that allows to a page no access is allowed to: a
 * kernel reading or writing past its operand's end faults here, as it may on the device. */
static void *
guarded_alloc(size_t n, size_t align)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), span = (n + page - 1) / page * page;
    uint8_t *base = (uint8_t *)mmap(NULL, span + page, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    PD_ASSERT(base != MAP_FAILED);
    PD_ASSERT(mprotect(base + span, page, PROT_NONE) == 0);
    return base + (span - n) / align * align;
}

static void
guarded_free(void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), span = (n + page - 1) / page * page;
    munmap((uint8_t *)((uintptr_t)p / page * page), span + page);
}

/* A matrix of n_out random rows of TYPE (16-byte aligned, as the device's allocations are, and
 * guarded), and each row dequantized by the CPU. */
struct matrix {
    uint8_t *w;
    float *deq;
    size_t row_bytes, bytes;
};

static struct matrix
make_matrix(int type, int64_t n_in, int64_t n_out)
{
    struct matrix m;
    m.row_bytes = pd_type_row_size((enum pd_type)type, n_in);
    m.bytes = m.row_bytes * (size_t)n_out;
    m.w = (uint8_t *)guarded_alloc(m.bytes, 16);
    m.deq = (float *)malloc(sizeof(float) * (size_t)(n_in * n_out));
    uint8_t *row = (uint8_t *)malloc(pd_type_row_size((enum pd_type)type, N_IN));
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t *dst = m.w + (size_t)r * m.row_bytes;
        for (int64_t i = 0; i < n_in; i += N_IN) {   /* make_row writes N_IN elements at a time */
            int64_t n = PD_MIN(N_IN, n_in - i);
            make_row(type, row);
            memcpy(dst + pd_type_row_size((enum pd_type)type, i), row,
                   pd_type_row_size((enum pd_type)type, n));
        }
        pd_dequantize_row((enum pd_type)type, dst, m.deq + r * n_in, n_in);
    }
    free(row);
    return m;
}

static void
free_matrix(struct matrix *m)
{
    guarded_free(m->w, m->bytes);
    free(m->deq);
}

/* Worst error of y[r] against row r of deq . x, relative to sum |w| |x| of the row. */
static double
product_error(const float *y, const float *deq, const float *x, int64_t n_in, int64_t n_out)
{
    double worst = 0.0;
    for (int64_t r = 0; r < n_out; r++) {
        double ref = 0.0, scale = 1e-30;
        for (int64_t i = 0; i < n_in; i++) {
            ref += (double)deq[r * n_in + i] * x[i];
            scale += fabs((double)deq[r * n_in + i] * x[i]);
        }
        worst = fmax(worst, fabs(y[r] - ref) / scale);
    }
    return worst;
}

/* y = W x through matvec_cuda, the dispatch the forward uses: the format's fast kernel where the
 * shape fits it, else one block a row. x_offset floats into a 16-byte aligned buffer (1: an x
 * the fast kernels cannot read as float4s). */
template <int TYPE>
static void
check_matvec(int64_t n_in, int64_t n_out, int x_offset)
{
    struct matrix m = make_matrix(TYPE, n_in, n_out);
    size_t x_bytes = sizeof(float) * (size_t)(n_in + x_offset);
    float *xbuf = (float *)guarded_alloc(x_bytes, 16);
    float *x = xbuf + x_offset, *y = (float *)guarded_alloc(sizeof(float) * (size_t)n_out, 4);
    for (int64_t i = 0; i < n_in; i++)
        x[i] = rfloat();
    for (int64_t r = 0; r < n_out; r++)
        y[r] = NAN;
    bool fits = matvec_parts_fit(TYPE, m.w, m.row_bytes, x, n_in);
    int faults = pd_simt_faults;
    bool launched = matvec_cuda(y, m.w, TYPE, x, n_in, n_out, NULL);
    double err = product_error(y, m.deq, x, n_in, n_out);
    ok(launched && err <= 1e-5 && pd_simt_faults == faults,
       "%s matvec, %lld x %lld, %s kernel: every row is the CPU's (worst %.2g)",
       pd_type_traits_get((uint32_t)TYPE)->name, (long long)n_out, (long long)n_in,
       !fits ? "one-row" : TYPE == PD_TYPE_Q6_K ? "sixteenths" : "parts", err);
    guarded_free(xbuf, x_bytes);
    guarded_free(y, sizeof(float) * (size_t)n_out);
    free_matrix(&m);
}

/* An MoE layer's decode on one rank of an expert split: product k takes expert ids[k]'s matrix on
 * input row k; this rank holds experts [1, 4), so the products of experts 0 and 4 are zeros. */
template <int TYPE>
static void
check_matvec_experts(int64_t n_in, int64_t n_out)
{
    enum { N_EXPERT = 6, FIRST = 1, END = 4, K = 4 };
    const int32_t ids[K] = { 3, 0, 1, 4 };
    struct matrix m = make_matrix(TYPE, n_in, n_out * N_EXPERT);
    size_t stride = m.row_bytes * (size_t)n_out;
    size_t x_bytes = sizeof(float) * (size_t)(K * n_in);
    float *x = (float *)guarded_alloc(x_bytes, 16);
    float *y = (float *)guarded_alloc(sizeof(float) * (size_t)(K * n_out), 4);
    for (int64_t i = 0; i < K * n_in; i++)
        x[i] = rfloat();
    for (int64_t i = 0; i < K * n_out; i++)
        y[i] = NAN;
    struct matvec_sel sel = { ids, stride, n_in, n_out, FIRST, END };
    bool launched = matvec_select_cuda(y, m.w + FIRST * stride, TYPE, x, n_in, n_out, K, sel,
                                       NULL);
    double err = 0.0;
    bool zeros = true;
    for (int k = 0; k < K; k++) {
        if (ids[k] >= FIRST && ids[k] < END) {
            err = fmax(err, product_error(y + k * n_out, m.deq + ids[k] * n_out * n_in,
                                          x + k * n_in, n_in, n_out));
        } else {
            for (int64_t r = 0; r < n_out; r++)
                zeros = zeros && y[k * n_out + r] == 0.0f;
        }
    }
    const char *name = pd_type_traits_get((uint32_t)TYPE)->name;
    ok(launched && err <= 1e-5, "%s experts: each held expert's product is the CPU's (worst %.2g)",
       name, err);
    ok(zeros, "%s experts: the products of experts held elsewhere are zeros", name);
    guarded_free(x, x_bytes);
    guarded_free(y, sizeof(float) * (size_t)(K * n_out));
    free_matrix(&m);
}

/* Every shape class of one format: several strides of the unit loop and a last block with one
 * row, the one-row kernel for an x the fast kernels cannot read, the expert products. */
template <int TYPE>
static void
check_products(void)
{
    check_matvec<TYPE>(2560, 13, 0);
    check_matvec<TYPE>(256, 8, 0);
    check_matvec<TYPE>(512, 5, 1);
    check_matvec_experts<TYPE>(512, 6);
}

/* ---- the runner itself: what the device leaves undefined is caught, not hung on ---- */

/* Lane 5 leaves before its warp sums: a full-mask shuffle with a lane missing. */
__global__ void
early_return_kernel(float *out)
{
    if (threadIdx.x == 5)
        return;
    float s = pd_warp_sum(1.0f);
    if (threadIdx.x == 0)
        *out = s;
}

/* Lane 5 waits at the block's barrier while the rest of its warp waits for it in a shuffle. */
__global__ void
divergent_barrier_kernel(float *out)
{
    if (threadIdx.x == 5)
        __syncthreads();
    else
        *out = pd_warp_sum(1.0f);
}

__global__ void
warp_sum_kernel(float *out)
{
    float s = pd_warp_sum((float)threadIdx.x);
    if (threadIdx.x == 0)
        *out = s;
}

static void
check_runner_faults(void)
{
    float out[64];
    int before = pd_simt_faults;
    PD_LAUNCH(early_return_kernel, 1, 32, 0, NULL)(out);
    ok(pd_simt_faults > before, "a warp sum with a lane that returned is a fault");
    before = pd_simt_faults;
    PD_LAUNCH(divergent_barrier_kernel, 1, 32, 0, NULL)(out);
    ok(pd_simt_faults > before, "a barrier part of a block never reaches is a fault, not a hang");
    pd_simt_faults = 0;
    PD_LAUNCH(warp_sum_kernel, 1, 32, 0, NULL)(out);   /* on the fibers abandoned above */
    ok(pd_simt_faults == 0 && out[0] == 496.0f, "after an abandoned block the next runs right");
    pd_simt_faults = 0;
}

int
main(void)
{
    check_type<PD_TYPE_Q4_0>();
    check_type<PD_TYPE_Q4_1>();
    check_type<PD_TYPE_Q8_0>();
    check_type<PD_TYPE_Q4_K>();
    check_type<PD_TYPE_Q6_K>();
    check_type<PD_TYPE_F32>();
    check_type<PD_TYPE_F16>();
    check_type<PD_TYPE_BF16>();
    check_q6k_sixteenths();

    check_products<PD_TYPE_Q4_0>();
    check_products<PD_TYPE_Q4_1>();
    check_products<PD_TYPE_Q8_0>();
    check_products<PD_TYPE_Q4_K>();
    check_products<PD_TYPE_Q6_K>();
    check_products<PD_TYPE_F32>();
    check_products<PD_TYPE_F16>();
    check_products<PD_TYPE_BF16>();
    check_matvec<PD_TYPE_F32>(100, 7, 0);   /* not a whole number of units */
    ok(pd_simt_faults == 0, "no kernel shuffled within a warp some of whose threads had left");

    check_runner_faults();
    done_testing();
    return exit_status();
}
