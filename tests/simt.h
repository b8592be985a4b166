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

extern "C" {
#include "kernels/cpu/quant.h"
}

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { uint32_t x, y, z, w; };
struct alignas(8) uint2 { uint32_t x, y; };

/* ---- half precision: the bits, converted as the CPU's kernels convert them ---- */

struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };

inline __half
__ushort_as_half(unsigned short b)
{
    return __half{ b };
}

inline float
__half2float(__half h)
{
    return pd_fp16_to_fp32(h.bits);
}

inline __half
__float2half_rn(float f)
{
    return __half{ pd_fp32_to_fp16(f) };
}

inline __nv_bfloat16
__float2bfloat16_rn(float f)
{
    return __nv_bfloat16{ pd_fp32_to_bf16(f) };
}

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

/* The explicitly rounded operations: the host's float arithmetic rounds so already. */
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }

/* ---- integer min, as CUDA overloads it ---- */

template <class A, class B>
inline typename std::common_type<A, B>::type
min(A a, B b)
{
    return a < b ? a : b;
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
template <class... P>
inline void
pd_simt_run(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared, P... args)
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
