/*
 * simt.h: CUDA's device-side vocabulary in plain C++, so that the kernels' own source
 * (kernels/cuda/device.cuh and the headers built on it) runs on the host, thread for thread.
 *
 * Every CUDA thread of a block is a host thread; a block's threads run together, the blocks of a
 * grid one after another. __syncthreads is a barrier over the block, a warp shuffle a barrier over
 * the warp's 32 threads with a slot each to exchange through, and __shared__ variables are
 * statics (blocks never overlap, so each block has them to itself). A thread that returns leaves
 * every barrier, as on the device. What the device leaves undefined and this runner can see is
 * counted in pd_simt_faults: a full-mask shuffle in a warp some of whose threads have returned.
 *
 * This checks what a kernel computes (which thread reads which bytes, the reductions, the
 * dispatch of shapes), not its speed or its memory alignment; tests/test-cuda on a GPU does that.
 * Include it before any kernel header.
 */
#ifndef PD_TESTS_SIMT_H
#define PD_TESTS_SIMT_H

#define PD_SIMT 1

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include <math.h>

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
typedef struct pd_simt_stream *cudaStream_t;

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

/* ---- threads, blocks and barriers ---- */

/* A barrier whose party shrinks as threads return (arrive_and_drop). */
class pd_simt_barrier {
public:
    void reset(int n)
    {
        expected_ = n;
        arrived_ = 0;
    }
    int expected()
    {
        std::lock_guard<std::mutex> l(m_);
        return expected_;
    }
    void wait()
    {
        std::unique_lock<std::mutex> l(m_);
        unsigned long gen = gen_;
        if (++arrived_ == expected_)
            release();
        else
            cv_.wait(l, [&] { return gen_ != gen; });
    }
    void drop()
    {
        std::lock_guard<std::mutex> l(m_);
        if (--expected_ > 0 && arrived_ == expected_)
            release();
    }

private:
    void release()
    {
        arrived_ = 0;
        gen_++;
        cv_.notify_all();
    }
    std::mutex m_;
    std::condition_variable cv_;
    int expected_ = 0, arrived_ = 0;
    unsigned long gen_ = 0;
};

struct pd_simt_block {
    pd_simt_barrier all;
    pd_simt_barrier warp[32];
    int warp_size[32];
    uint64_t slot[32][32];   /* [warp][lane]: what each lane offers a shuffle */
};

inline thread_local uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline thread_local pd_simt_block *pd_simt_cur;
inline std::atomic<int> pd_simt_faults{ 0 };

inline int
pd_simt_tid()
{
    return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

inline void
__syncthreads()
{
    pd_simt_cur->all.wait();
}

/* Lane src's v, for every lane of the warp at once (a full mask: all 32 must be there). */
template <class T>
inline T
pd_simt_shuffle(unsigned mask, T v, int src)
{
    static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffle moves at most 8 bytes");
    pd_simt_block *b = pd_simt_cur;
    int tid = pd_simt_tid(), w = tid / 32, lane = tid % 32;
    if (mask == 0xffffffffu && b->warp[w].expected() != 32)
        pd_simt_faults++;
    memcpy(&b->slot[w][lane], &v, sizeof v);
    b->warp[w].wait();
    T r = v;
    if (src >= 0 && src < b->warp_size[w])
        memcpy(&r, &b->slot[w][src], sizeof r);
    b->warp[w].wait();   /* nobody writes its slot again before every lane has read */
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

/* Run kernel(args) on grid blocks of block threads, block after block. */
template <class... P, class... A>
inline void
pd_simt_run(void (*kernel)(P...), dim3 grid, dim3 block, A... args)
{
    int n = (int)(block.x * block.y * block.z);
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                pd_simt_block *b = new pd_simt_block();
                b->all.reset(n);
                for (int w = 0; w < 32; w++) {
                    b->warp_size[w] = w * 32 < n ? (n - w * 32 < 32 ? n - w * 32 : 32) : 0;
                    b->warp[w].reset(b->warp_size[w]);
                }
                std::vector<std::thread> threads;
                threads.reserve((size_t)n);
                for (int t = 0; t < n; t++)
                    threads.emplace_back([=] {
                        threadIdx = uint3(t % block.x, t / block.x % block.y,
                                          t / (block.x * block.y));
                        blockIdx = uint3(bx, by, bz);
                        pd_simt_cur = b;
                        kernel(args...);
                        b->warp[t / 32].drop();
                        b->all.drop();
                    });
                for (std::thread &th : threads)
                    th.join();
                delete b;
            }
}

/* PD_LAUNCH(kernel, grid, block, stream)(args), as device.cuh spells a launch. */
template <class K>
struct pd_simt_launch {
    K kernel;
    dim3 grid, block;
    template <class... A>
    void operator()(A... args) const
    {
        pd_simt_run(kernel, grid, block, args...);
    }
};

template <class K>
inline pd_simt_launch<K>
pd_simt_launcher(K kernel, dim3 grid, dim3 block)
{
    return pd_simt_launch<K>{ kernel, grid, block };
}

#define PD_LAUNCH(kernel, grid, block, stream) \
    ((void)(stream), pd_simt_launcher(kernel, (grid), (block)))

#endif
