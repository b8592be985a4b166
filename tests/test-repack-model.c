/*
 * test-repack-model.c: whole models with their Q4_0 matrices repacked (engine/model-repack.c)
 * against the same models reading their rows.
 *
 * Tiny synthetic Q4_0 models (engine/synth.h) of the architectures whose products differ in how
 * they reach pd_matmul: dense llama with a tied head, qwen3moe's experts, qwen2moe's gated
 * shared expert, deepseek2's latent attention (per-head 3-D weights) with a dense leading layer
 * and a vocabulary that does not divide by 8 (an unrepacked head beside repacked layers). For
 * each, one model, three contexts in turn, every position's logits kept:
 *   - PONDER_REPACK=0: the reference; the context reports no repacking;
 *   - PONDER_REPACK unset: the context reports repacking, and its logits agree with the
 *     reference: exactly with the plain-C kernels (PONDER_SIMD=scalar, as
 *     tests/test-repack-scalar.sh runs this program). With SIMD kernels the sums are added in
 *     another order, which moves a position's logits by about 1e-7 (relative L2 norm of the
 *     difference); but where an activation lies within that of a rounding boundary of the 8-bit
 *     quantization, it moves by one step and a tiny random model's logits at that position by
 *     up to about 1% (measured: 0.8% at one position of the llama case). So: every position
 *     within FLIP_TOL and at least half of them within ORDER_TOL. A wrong copy, a wrong expert
 *     or a wrong offset moves every position by far more;
 *   - PONDER_REPACK=0 again, after the file pages of the copied rows were released: exactly
 *     the reference (the rows read back from the file are the rows);
 *   - a second copy of the model split by layers over two in-process CPU ranks, each repacking
 *     its own layers (the head on the last): exactly the unsplit repacked logits.
 * The largest differences are printed as diagnostics.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/split.h"
#include "engine/synth.h"
#include "kernels/cpu/quant.h"
#include "tests/tap.h"

#define ORDER_TOL 1e-5
#define FLIP_TOL 0.05
#define N_POS 12

struct repack_case {
    const char *name;
    const char *arch;
    const char *keys;   /* synth overrides, space-separated */
};

static const struct repack_case cases[] = {
    { "llama tied", "llama", "embd=128 layers=2 heads=4 heads_kv=2 ff=256 vocab=3000 tied=1" },
    { "qwen3moe", "qwen3moe", "embd=128 layers=2 heads=4 heads_kv=2 head_dim=32 experts=8 "
      "experts_used=2 ff_exp=64 vocab=3000" },
    { "qwen2moe", "qwen2moe", "embd=128 layers=2 heads=4 heads_kv=2 experts=8 experts_used=2 "
      "ff_exp=64 ff_shexp=128 vocab=3000" },
    { "deepseek2", "deepseek2", "embd=128 layers=3 dense_layers=1 heads=4 q_lora=64 kv_lora=64 "
      "qk_nope=32 qk_rope=32 v_head=32 experts=16 experts_used=4 shared_experts=1 groups=4 "
      "groups_used=2 ff_exp=64 vocab=3001" },
};

static bool scalar;   /* PONDER_SIMD=scalar: the repacked products must be exact */

/* Writes case c as Q4_0 to path; false (with a failed test) when it cannot. */
static bool
write_case(const struct repack_case *c, const char *path)
{
    struct pd_synth_shape s;
    char err[PD_ERR_MAX] = "", keys[512];
    int rc = pd_synth_shape_arch(&s, c->arch, err);
    snprintf(keys, sizeof keys, "%s", c->keys);
    for (char *kv = strtok(keys, " "); kv != NULL && rc == 0; kv = strtok(NULL, " "))
        rc = pd_synth_shape_set_kv(&s, kv, err);
    if (rc == 0)
        rc = pd_synth_write(&s, PD_TYPE_Q4_0, 11, path, NULL, NULL, err);
    if (rc != 0)
        ok(0, "%s: synthesize the model: %s", c->name, err);
    return rc == 0;
}

/* Logits of every position of a fixed sequence, in a fresh CPU context with PONDER_REPACK as
 * given (NULL: unset), split by layers over two ranks or not; *repacked says whether the
 * context repacked. Caller frees. */
static float *
run(struct pd_model *m, const char *repack, bool split, bool *repacked)
{
    if (repack != NULL)
        setenv("PONDER_REPACK", repack, 1);
    else
        unsetenv("PONDER_REPACK");
    struct pd_context_params p;
    pd_context_params_default(&p);
    p.n_ctx = 64;
    p.n_batch = N_POS;
    p.n_threads = 2;
    p.logits_all = true;
    p.backend = PD_BACKEND_CPU;
    if (split) {
        p.split = PD_SPLIT_LAYER;
        p.n_devices = 2;
    }
    char err[PD_ERR_MAX] = "";
    struct pd_context *ctx = NULL;
    int32_t V = m->hp.n_vocab, tokens[N_POS];
    for (int i = 0; i < N_POS; i++)
        tokens[i] = (int32_t)((i * 7919 + 13) % V);
    float *logits = malloc(sizeof(float) * (size_t)V * N_POS);
    if (pd_context_new(&ctx, m, &p, err) != 0 || pd_context_decode(ctx, tokens, N_POS, err)) {
        diag("context: %s", err);
        pd_context_free(ctx);
        free(logits);
        return NULL;
    }
    for (int i = 0; i < N_POS; i++)
        memcpy(logits + (size_t)i * V, pd_context_logits(ctx, i), sizeof(float) * (size_t)V);
    *repacked = pd_context_repacked(ctx);
    pd_context_free(ctx);
    return logits;
}

/* Relative L2 norm of got - want. */
static double
rel_l2(const float *got, const float *want, size_t n)
{
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        w += (double)want[i] * want[i];
    }
    return w > 0 ? sqrt(d / w) : sqrt(d);
}

/* The repacked logits against the reference, position by position. */
static void
check_logits(const struct repack_case *c, const float *got, const float *want, int32_t V)
{
    double worst = 0;
    int close = 0;
    for (int i = 0; i < N_POS; i++) {
        double e = rel_l2(got + (size_t)i * V, want + (size_t)i * V, (size_t)V);
        worst = fmax(worst, e);
        close += e <= ORDER_TOL;
    }
    if (scalar)
        ok(memcmp(got, want, sizeof(float) * (size_t)V * N_POS) == 0,
           "%s: plain-C kernels, repacked logits equal the rows' (worst %.3g)", c->name, worst);
    else
        ok(worst <= FLIP_TOL && 2 * close >= N_POS, "%s: repacked logits: %d of %d positions "
           "within %g of the rows', worst %.3g", c->name, close, N_POS, ORDER_TOL, worst);
}

static void
check_case(const struct repack_case *c, const char *dir)
{
    char path[512], err[PD_ERR_MAX] = "";
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    if (!write_case(c, path))
        return;
    struct pd_model *m = NULL;
    if (pd_model_load(&m, path, err) != 0) {
        ok(0, "%s: load: %s", c->name, err);
        return;
    }
    size_t n = (size_t)m->hp.n_vocab * N_POS;
    bool r0 = true, r1 = false, r2 = true;
    float *ref = run(m, "0", false, &r0), *packed = run(m, NULL, false, &r1);
    float *again = run(m, "0", false, &r2);
    ok(ref && packed && again && !r0 && r1 && !r2, "%s: PONDER_REPACK=0 reads the rows, unset "
       "repacks", c->name);
    if (ref && packed && again) {
        check_logits(c, packed, ref, m->hp.n_vocab);
        ok(memcmp(ref, again, sizeof(float) * n) == 0, "%s: the rows' logits again after "
           "their pages were released", c->name);
    }
    struct pd_model *m2 = NULL;
    bool r3 = false;
    float *split = pd_model_load(&m2, path, err) == 0 ? run(m2, NULL, true, &r3) : NULL;
    ok(split && packed && r3 && memcmp(split, packed, sizeof(float) * n) == 0,
       "%s: split by layers over two ranks, each repacking its own: the same logits", c->name);
    free(ref);
    free(packed);
    free(again);
    free(split);
    pd_model_free(m);
    pd_model_free(m2);
    unlink(path);
}

int
main(void)
{
    const char *simd = getenv("PONDER_SIMD");
    scalar = simd != NULL && strcmp(simd, "scalar") == 0;
    char dir[] = "/tmp/test-repack-model-XXXXXX";
    if (mkdtemp(dir) == NULL)
        plan_skip_all("cannot make a temporary directory");
    diag("CPU kernels: %s", pd_quant_simd_name());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], dir);
    rmdir(dir);
    done_testing();
    return exit_status();
}
