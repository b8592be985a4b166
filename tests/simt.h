/*
 * simt.h: CUDA's device-side vocabulary in plain C++, so that the kernels' own source
 * (kernels/cuda/device.cuh and the headers built on it) runs on the host, thread for thread.
 *
 * Every CUDA thread of a block is a fiber with a stack of its own; the block's fibers take turns
 * on one host thread, each running until it waits at a barrier or returns, and the blocks of a
 * grid run one after another. __syncthreads is a barrier over the block, a warp shuffle a barrier
 * over the warp's 32 threads with a slot each to exchange through, and __shared__ variables are
 * statics (blocks never overlap, so each block has them to itself). A thread that returns leaves
 * every barrier, as on the device. What the device leaves undefined and this runner can see is
 * counted in pd_simt_faults: a full-mask shuffle in a warp some of whose threads have returned,
 * a barrier some threads never reach (tests/simt-runtime.h reports them as a launch failure).
 *
 * This checks what a kernel computes (which thread reads which bytes, the reductions, the
 * dispatch of shapes), not its speed or its memory alignment; tests/test-cuda on a GPU does that.
 * Include it before any kernel header.
 */
#ifndef PD_TESTS_SIMT_H
#define PD_TESTS_SIMT_H

#define PD_SIMT 1

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <type_traits>
#include <vector>

#include <math.h>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__ __restrict

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) uint4 { uint32_t x, y, z, w; };
struct alignas(8) uint2 { uint32_t x, y; };

/* ---- half precision ---- */

struct __half { uint16_t bits; };

inline __half
__ushort_as_half(unsigned short b)
{
    return __half{ b };
}

/* IEEE binary16 to float, exactly (subnormals, infinities and NaNs included). */
inline float
__half2float(__half h)
{
    uint32_t sign = (uint32_t)(h.bits >> 15) << 31, exp = h.bits >> 10 & 0x1F, man = h.bits & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | man << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man == 0) {
        bits = sign;
    } else {   /* subnormal: man * 2^-24 */
        float f = (float)man * 5.9604644775390625e-8f;
        memcpy(&bits, &f, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float to binary16, rounding to nearest even (overflow to infinity, subnormals kept). */
inline __half
__float2half_rn(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = x >> 16 & 0x8000, exp = x >> 23 & 0xFF, man = x & 0x7FFFFF;
    if (exp == 0xFF)
        return __half{ (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0)) };
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return __half{ (uint16_t)(sign | 0x7C00) };
    uint32_t mant = man | 0x800000, shift = e > 0 ? 13 : (uint32_t)(14 - e);
    if (shift > 24)
        return __half{ (uint16_t)sign };
    uint32_t q = mant >> shift, rest = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (q & 1)))
        q++;
    /* a normal: q holds the implicit bit at 10, which the exponent field absorbs by adding */
    uint32_t h = e > 0 ? ((uint32_t)e << 10) + (q - 0x400) : q;
    return __half{ (uint16_t)(sign | h) };
}

struct __nv_bfloat16 { uint16_t bits; };

inline __nv_bfloat16
__float2bfloat16_rn(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7FFFFFFF) > 0x7F800000)
        return __nv_bfloat16{ (uint16_t)(x >> 16 | 0x40) };
    return __nv_bfloat16{ (uint16_t)((x + 0x7FFF + (x >> 16 & 1)) >> 16) };
}

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

/* The explicitly rounded operations: the host's float arithmetic rounds so already. */
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }

/* ---- integer min and max, as CUDA overloads them ---- */

template <class A, class B>
inline typename std::common_type<A, B>::type
min(A a, B b)
{
    return a < b ? a : b;
}

template <class A, class B>
inline typename std::common_type<A, B>::type
max(A a, B b)
{
    return a < b ? b : a;
}

/* ---- fibers: a saved context and the switch between two ---- */

#if defined(__x86_64__)
/* On x86-64 a context is a stack pointer, under which the callee-saved registers are pushed; a
 * switch is a dozen instructions (setjmp and longjmp, or swapcontext and its system call, cost
 * ten to a hundred times as much, and decoding a model makes millions of switches). */
struct pd_simt_context {
    void *sp;
};

extern "C" void pd_simt_switch(void **save_sp, void *to_sp);
asm(".text\n"
    ".weak pd_simt_switch\n"
    ".type pd_simt_switch, @function\n"
    "pd_simt_switch:\n"
    "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n    pushq %r13\n    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n    popq %r14\n    popq %r13\n    popq %r12\n    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size pd_simt_switch, .-pd_simt_switch\n");

/* A context that starts entry on the stack [stack, stack + size): six zeroed registers for the
 * switch to pop, then entry as the address it returns to, then a null return address for entry
 * (which never returns), aligned as a call would leave it. */
inline void
pd_simt_context_make(pd_simt_context *c, char *stack, size_t size, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;
    *--sp = (void *)entry;
    for (int i = 0; i < 6; i++)
        *--sp = NULL;
    c->sp = sp;
}

inline void
pd_simt_context_switch(pd_simt_context *save, pd_simt_context *to)
{
    pd_simt_switch(&save->sp, to->sp);
}
#else
struct pd_simt_context {
    ucontext_t uc;
};

inline void
pd_simt_context_make(pd_simt_context *c, char *stack, size_t size, void (*entry)(void))
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, entry, 0);
}

inline void
pd_simt_context_switch(pd_simt_context *save, pd_simt_context *to)
{
    swapcontext(&save->uc, &to->uc);
}
#endif

/* ---- threads, blocks and barriers ---- */

/* A barrier over some of a block's threads; its party shrinks as threads return. */
struct pd_simt_barrier {
    int expected = 0, arrived = 0;
    unsigned long gen = 0;
};

/* A CUDA thread: a fiber with a stack of its own, run by the host thread that runs the block.
 * Fibers are made once and kept: one that returns waits to run the next block's thread. */
struct pd_simt_fiber {
    pd_simt_context ctx;
    char *stack;
    bool fresh;                 /* never run, or abandoned mid-block: start it from the top */
    uint3 idx;
    bool done;
    unsigned shuffles;          /* how many this thread has made: which slots the next uses */
    pd_simt_barrier *waiting;   /* NULL: runnable; else until this barrier's generation moves */
    unsigned long gen;
};

struct pd_simt_block {
    pd_simt_barrier all, warp[32];
    int warp_size[32];
    uint64_t slot[2][32][32];   /* [shuffle parity][warp][lane]: what each lane offers */
    pd_simt_fiber **fibers;
    int n;
    pd_simt_fiber *cur;
    pd_simt_context sched;
    std::function<void()> body;
};

/* One device runs one grid at a time, whichever host thread launched it: the running block's
 * state is plain globals (a fiber may be resumed by another host thread than last time, so
 * nothing here may be thread-local), __shared__ statics are the running block's alone. */
inline std::mutex pd_simt_device_lock;
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline pd_simt_block *pd_simt_cur;
inline void *pd_simt_dynamic;   /* the block's dynamic shared memory */
inline std::atomic<int> pd_simt_faults{ 0 };

#define PD_SIMT_STACK ((size_t)128 << 10)
/* The fibers, kept from launch to launch; freed at exit. */
struct pd_simt_pool {
    std::vector<pd_simt_fiber *> fibers;
    ~pd_simt_pool()
    {
        for (pd_simt_fiber *f : fibers) {
            free(f->stack);
            delete f;
        }
    }
};
inline pd_simt_pool pd_simt_fiber_pool;

inline int
pd_simt_tid()
{
    return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

/* Back to the scheduler, until it resumes this fiber. */
inline void
pd_simt_yield(void)
{
    pd_simt_block *b = pd_simt_cur;
    pd_simt_context_switch(&b->cur->ctx, &b->sched);
}

inline void
pd_simt_release(pd_simt_barrier &bar)
{
    bar.arrived = 0;
    bar.gen++;
}

/* The calling thread waits at bar until every thread of its party has arrived. */
inline void
pd_simt_wait(pd_simt_barrier &bar)
{
    if (++bar.arrived == bar.expected) {
        pd_simt_release(bar);
        return;
    }
    pd_simt_fiber *f = pd_simt_cur->cur;
    f->waiting = &bar;
    f->gen = bar.gen;
    pd_simt_yield();
}

/* A returning thread leaves bar's party. */
inline void
pd_simt_drop(pd_simt_barrier &bar)
{
    if (--bar.expected > 0 && bar.arrived == bar.expected)
        pd_simt_release(bar);
}

inline void
__syncthreads()
{
    pd_simt_wait(pd_simt_cur->all);
}

/* Lane src's v, for every lane of the warp at once (a full mask: all 32 must be there).
 * Consecutive shuffles use alternate slots: a lane writing its slot for the next one cannot
 * overwrite what a slower lane has yet to read of this one, which every lane reads before it
 * arrives at the next shuffle's barrier. */
template <class T>
inline T
pd_simt_shuffle(unsigned mask, T v, int src)
{
    static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffle moves at most 8 bytes");
    pd_simt_block *b = pd_simt_cur;
    int tid = pd_simt_tid(), w = tid / 32, lane = tid % 32;
    uint64_t (*slot)[32] = b->slot[b->cur->shuffles++ & 1];
    if (mask == 0xffffffffu && b->warp[w].expected != 32)
        pd_simt_faults++;
    memcpy(&slot[w][lane], &v, sizeof v);
    pd_simt_wait(b->warp[w]);
    T r = v;
    if (src >= 0 && src < b->warp_size[w])
        memcpy(&r, &slot[w][src], sizeof r);
    return r;
}

template <class T>
inline T
__shfl_xor_sync(unsigned mask, T v, int lane_mask)
{
    return pd_simt_shuffle(mask, v, (pd_simt_tid() % 32) ^ lane_mask);
}

template <class T>
inline T
__shfl_down_sync(unsigned mask, T v, unsigned delta)
{
    int lane = pd_simt_tid() % 32;
    return pd_simt_shuffle(mask, v, lane + (int)delta < 32 ? lane + (int)delta : lane);
}

template <class T>
inline T
__shfl_sync(unsigned mask, T v, int src)
{
    return pd_simt_shuffle(mask, v, src % 32);
}

/* What every fiber runs: the thread of whichever block it is given, then out of every barrier
 * and back to the scheduler, which resumes it here for the next block. */
inline void
pd_simt_fiber_main(void)
{
    for (;;) {
        pd_simt_block *b = pd_simt_cur;
        b->body();
        b = pd_simt_cur;
        pd_simt_drop(b->warp[pd_simt_tid() / 32]);
        pd_simt_drop(b->all);
        b->cur->done = true;
        pd_simt_yield();
    }
}

/* Run one block: resume each thread in turn that is not held at a barrier, until all returned.
 * A round where every thread is held is a barrier some threads never reach (a __syncthreads in
 * divergent code): counted as a fault, and the block abandoned. */
inline void
pd_simt_run_block(pd_simt_block *b, dim3 block)
{
    int n = b->n, live = n;
    for (int t = 0; t < n; t++) {
        pd_simt_fiber *f = b->fibers[t];
        f->idx = uint3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
        f->done = false;
        f->shuffles = 0;
        f->waiting = NULL;
        if (f->fresh)
            pd_simt_context_make(&f->ctx, f->stack, PD_SIMT_STACK, pd_simt_fiber_main);
        f->fresh = false;
    }
    while (live > 0) {
        bool progress = false;
        for (int t = 0; t < n; t++) {
            pd_simt_fiber *f = b->fibers[t];
            if (f->done || (f->waiting && f->waiting->gen == f->gen))
                continue;
            f->waiting = NULL;
            progress = true;
            b->cur = f;
            threadIdx = f->idx;
            pd_simt_context_switch(&b->sched, &f->ctx);
            if (f->done)
                live--;
        }
        if (!progress) {
            pd_simt_faults++;
            fprintf(stderr, "simt: block (%u,%u,%u): its %d running threads all wait at barriers "
                    "none of them can pass\n", blockIdx.x, blockIdx.y, blockIdx.z, live);
            for (int t = 0; t < n; t++)
                b->fibers[t]->fresh = b->fibers[t]->fresh || !b->fibers[t]->done;
            return;
        }
    }
}

/* Run kernel(args) on grid blocks of block threads, block after block, each with shared bytes
 * of dynamic shared memory (NaN-filled, as nothing promises what it holds). */
template <class... P, class... A>
inline void
pd_simt_run(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared, A... args)
{
    std::lock_guard<std::mutex> device(pd_simt_device_lock);
    int n = (int)(block.x * block.y * block.z);
    std::vector<pd_simt_fiber *> &pool = pd_simt_fiber_pool.fibers;
    while (pool.size() < (size_t)n) {
        pd_simt_fiber *f = new pd_simt_fiber();
        f->stack = (char *)malloc(PD_SIMT_STACK);
        f->fresh = true;
        pool.push_back(f);
    }
    std::vector<float> dynamic((shared + sizeof(float) - 1) / sizeof(float) + 1);
    pd_simt_block *b = new pd_simt_block();
    b->fibers = pool.data();
    b->n = n;
    b->body = [&] { kernel(args...); };
    blockDim = block;
    gridDim = grid;
    pd_simt_dynamic = dynamic.data();
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                b->all = pd_simt_barrier{ n, 0, 0 };
                for (int w = 0; w < 32; w++) {
                    b->warp_size[w] = w * 32 < n ? (n - w * 32 < 32 ? n - w * 32 : 32) : 0;
                    b->warp[w] = pd_simt_barrier{ b->warp_size[w], 0, 0 };
                }
                std::fill(dynamic.begin(), dynamic.end(), NAN);
                blockIdx = uint3(bx, by, bz);
                pd_simt_cur = b;
                pd_simt_run_block(b, block);
            }
    pd_simt_cur = NULL;
    delete b;
}

/* ---- streams: work runs at once, or is recorded while the stream is being captured ---- */

struct pd_simt_stream {
    bool capturing = false;
    std::vector<std::function<void()>> recorded;
};
typedef struct pd_simt_stream *cudaStream_t;

/* Run work now, or record it on a stream being captured (a CUDA graph replays it later). */
inline void
pd_simt_enqueue(cudaStream_t stream, std::function<void()> work)
{
    if (stream && stream->capturing)
        stream->recorded.push_back(std::move(work));
    else
        work();
}

/* PD_LAUNCH(kernel, grid, block, shared, stream)(args), as device.cuh spells a launch; the
 * arguments take the kernel's parameter types, as they would on the device (a NULL, say). */
template <class... P>
struct pd_simt_launch {
    void (*kernel)(P...);
    dim3 grid, block;
    size_t shared;
    cudaStream_t stream;
    void operator()(P... args) const
    {
        void (*k)(P...) = kernel;
        dim3 g = grid, b = block;
        size_t sh = shared;
        pd_simt_enqueue(stream, [=] { pd_simt_run(k, g, b, sh, args...); });
    }
};

template <class... P>
inline pd_simt_launch<P...>
pd_simt_launcher(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream)
{
    return pd_simt_launch<P...>{ kernel, grid, block, shared, stream };
}

#define PD_LAUNCH(kernel, grid, block, shared, stream) \
    pd_simt_launcher(kernel, (grid), (block), (shared), (stream))
#define PD_SHARED_DYNAMIC(type, name) type *name = (type *)pd_simt_dynamic

#endif
