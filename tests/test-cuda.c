/*
 * test-cuda.c: each CUDA kernel against its CPU twin on random inputs. Skips (loudly) on a build
 * without CUDA or a machine without a device, so make check passes on CPU-only hosts.
 */
#include "config.h"

#include "kernels/backend.h"
#include "kernels/cpu/ops.h"
#include "tests/tap.h"

#include <math.h>

static float
frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void
check_rmsnorm(int dev, int64_t rows, int64_t n)
{
    uint64_t seed = 7;
    float *x = malloc(sizeof(float) * rows * n), *w = malloc(sizeof(float) * n);
    float *gpu = malloc(sizeof(float) * rows * n), *cpu = malloc(sizeof(float) * rows * n);
    for (int64_t i = 0; i < rows * n; i++)
        x[i] = frand(&seed) * 4;
    for (int64_t i = 0; i < n; i++)
        w[i] = frand(&seed);
    char err[256] = "";
    int rc = pd_cuda_rmsnorm(dev, gpu, x, w, rows, n, 1e-6f, err, sizeof err);
    if (!ok(rc == 0, "rmsnorm %lldx%lld runs on device %d", (long long)rows, (long long)n, dev))
        diag("%s", err);
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        pd_rmsnorm(cpu + r * n, x + r * n, w, n, 1e-6f);
        for (int64_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(gpu[r * n + i] - cpu[r * n + i]) /
                                    (fabs(cpu[r * n + i]) + 1e-3));
    }
    ok(rc == 0 && worst < 1e-4, "rmsnorm matches the CPU twin (max relative error %.2g)", worst);
    free(x);
    free(w);
    free(gpu);
    free(cpu);
}

int
main(void)
{
    if (!pd_cuda_compiled())
        plan_skip_all("built without CUDA");
    int n = pd_cuda_device_count();
    if (n == 0)
        plan_skip_all("no CUDA device");
    plan(4 * n);
    for (int dev = 0; dev < n; dev++) {
        char desc[256];
        pd_cuda_device_describe(dev, desc, sizeof desc);
        diag("device %d: %s", dev, desc);
        check_rmsnorm(dev, 7, 576);
        check_rmsnorm(dev, 3, 7168);
    }
    return exit_status();
}
