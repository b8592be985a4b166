/*
 * test-cuda-model.c: whole models on CUDA against the CPU, on the engine's fixtures (dense
 * architectures, every MoE flavour, DeepSeek's MLA, and SmolLM2 when it has been fetched). Skips
 * (loudly) on a build without CUDA or a machine without a device, so make check passes anywhere.
 *
 * For each model, the same tokens go through a CPU context in precise mode (F32 activations: the
 * arithmetic the CUDA forward does) and a CUDA context, both keeping every token's logits:
 *   - a prompt of 11 tokens in two calls (7, then 4 at n_past 7: prefill on a filled cache);
 *   - 5 greedy decode steps of one token (the CPU's choice fed to both);
 *   - a truncation to position 5, then 3 tokens again (the cache rewound on both sides).
 * After every call: the logits of each token, and for an MoE model its routing. Then, on a second
 * pair of contexts keeping only the last logits, the 11 tokens in one call of three batches of 4.
 *
 * Tolerances, and why:
 *   logits    per token, max |cuda - cpu| <= 2e-3 * max |cpu|, every weight format: both sides
 *             dequantize the weights exactly and keep activations in F32; only the order of float
 *             sums (warp trees and cuBLAS against the CPU's rows), expf/rsqrtf ulps and the
 *             online softmax differ, compounded over the layers
 *   routing   the same expert ids in the same order at every MoE layer; weights within 1e-4
 *             relative (gate probabilities from logits that agree to the above), entropy within
 *             1e-4 absolute
 * The greedy tokens of the decode steps are the same on both sides as a consequence (checked).
 *
 * The same scenarios run again with the CUDA side split over ranks (engine/split.h): on one
 * device, ranks sharing it exchange through the host; with two devices, over NCCL; and with
 * --gpu-layers 1, the first layers on a CPU rank (precise too) and the last on the GPU. Same
 * tolerances: a split changes only where the MoE sum is added up.
 *
 * Built with PD_CUDA_EMULATED (tests/test-cuda-emu, in make check), the same file runs against
 * tests/cuda-emu.c, the device layer on the host: the orchestration of forward-cuda.c and of the
 * split's CUDA ranks is then checked on every machine (not the kernels, nor CUDA graphs, nor
 * NCCL: the layouts over two distinct devices run only where the build has no NCCL, through the
 * host like ranks sharing a device).
 *
 * Built with PD_CUDA_SIMT (tests/test-cuda-model-simt), it runs against the backend's own .cu
 * files compiled for the host (tests/simt-runtime.h): the real kernels, launches and CUDA graphs
 * of the whole forward, on one emulated device, with no GPU.
 */
#include "config.h"

#include "engine/comm.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/split.h"
#include "kernels/backend.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOL 2e-3
#define WEIGHT_TOL 1e-4
#define ENTROPY_TOL 1e-4

static const char *const fixtures[] = {
    "data/arch-qwen2.gguf",        "data/arch-qwen3.gguf",
    "data/arch-llama-linear.gguf", "data/arch-llama-yarn.gguf",
    "data/moe-qwen2moe.gguf",      "data/moe-qwen3moe.gguf",
    "data/moe-qwen3moe-q8_0.gguf", "data/moe-olmoe.gguf",
    "data/moe-mixtral.gguf",       "data/ds-v3.gguf",
    "data/ds-lite-yarn-q8_0.gguf", "data/ds-v3-fused.gguf",
    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
};

/* How the CUDA side is laid out: one device, or a split over ranks on devices. */
struct layout {
    int split;          /* enum pd_split_mode */
    int n;              /* ranks (0: unsplit) */
    int devices[4];
    const char *label;  /* for the test names */
    int gpu_layers;     /* > 0: only the last so many layers on the GPU (--gpu-layers) */
};

static struct pd_context *
new_context(struct pd_model *m, int backend, bool all, const struct layout *lay, char *err)
{
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    cp.backend = backend;
    if (lay && lay->gpu_layers > 0)
        cp.n_gpu_layers = lay->gpu_layers;
    if (lay && lay->n > 0) {
        cp.split = lay->split;
        cp.n_devices = lay->n;
        for (int r = 0; r < lay->n; r++)
            cp.devices[r] = lay->devices[r];
    }
    cp.n_ctx = 64;
    cp.n_batch = all ? 8 : 4;
    cp.n_threads = 2;
    cp.logits_all = all;
    cp.precise = true;
    struct pd_context *c = NULL;
    return pd_context_new(&c, m, &cp, err) == 0 ? c : NULL;
}

/* max |a - b| over max |b| of one row of logits. */
static double
logit_err(const float *a, const float *b, int32_t n)
{
    double d = 0.0, s = 0.0;
    for (int32_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0.0 ? d / s : d;
}

/* Whether the routing of one token agrees; says where it does not. */
static bool
same_routing(const struct pd_routing *a, const struct pd_routing *b, const char *what)
{
    if (a == NULL || b == NULL || a->n_layers != b->n_layers || a->k != b->k) {
        diag("%s: routing missing or of another shape", what);
        return false;
    }
    for (int32_t l = 0; l < a->n_layers; l++) {
        for (int32_t k = 0; k < a->k; k++) {
            size_t i = (size_t)l * a->k + k;
            if (a->ids[i] != b->ids[i]) {
                diag("%s: layer %d choice %d: expert %d on CUDA, %d on the CPU", what,
                     b->layer[l], k, a->ids[i], b->ids[i]);
                return false;
            }
            double w = fabs((double)a->weights[i] - b->weights[i]);
            if (w > WEIGHT_TOL * fmax(fabs((double)b->weights[i]), 1e-6)) {
                diag("%s: layer %d choice %d: weight %g on CUDA, %g on the CPU", what,
                     b->layer[l], k, a->weights[i], b->weights[i]);
                return false;
            }
        }
        if (fabs((double)a->entropy[l] - b->entropy[l]) > ENTROPY_TOL) {
            diag("%s: layer %d: router entropy %g on CUDA, %g on the CPU", what, b->layer[l],
                 a->entropy[l], b->entropy[l]);
            return false;
        }
    }
    return true;
}

/* Decode the same n tokens on both; compare every token's logits and routing (all: contexts with
 * logits_all; else the last token's only). Raises *worst to the largest logit error seen. */
static bool
step(struct pd_context *gpu, struct pd_context *cpu, const int32_t *toks, int32_t n, bool all,
     const char *what, double *worst)
{
    char err[PD_ERR_MAX];
    if (pd_context_decode(cpu, toks, n, err) != 0) {
        diag("%s: cpu: %s", what, err);
        return false;
    }
    if (pd_context_decode(gpu, toks, n, err) != 0) {
        diag("%s: cuda: %s", what, err);
        return false;
    }
    int32_t V = pd_context_model(cpu)->hp.n_vocab;
    bool moe = pd_context_model(cpu)->hp.n_expert > 0;
    if (pd_context_n_past(gpu) != pd_context_n_past(cpu)) {
        diag("%s: n_past %d on CUDA, %d on the CPU", what, pd_context_n_past(gpu),
             pd_context_n_past(cpu));
        return false;
    }
    /* without logits_all only the last token's logits and routing are kept */
    int32_t first = all ? 0 : n - 1;
    for (int32_t i = first; i < n; i++) {
        const float *lg = first ? pd_context_last_logits(gpu) : pd_context_logits(gpu, i);
        const float *lc = first ? pd_context_last_logits(cpu) : pd_context_logits(cpu, i);
        double e = logit_err(lg, lc, V);
        *worst = fmax(*worst, e);
        if (!(e <= LOGIT_TOL)) {
            diag("%s: token %d: logits differ by %.3g of the largest (tolerance %g)", what, i, e,
                 LOGIT_TOL);
            return false;
        }
        if (moe && !same_routing(pd_context_routing(gpu, first ? -1 : i),
                                 pd_context_routing(cpu, first ? -1 : i), what))
            return false;
    }
    return true;
}

static int32_t
argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* The scenarios of the header on the CUDA layout lay against the CPU's unsplit precise context. */
static void
check_layout(struct pd_model *m, const char *model, const struct layout *lay)
{
    char err[PD_ERR_MAX] = "", rel[200];
    snprintf(rel, sizeof rel, "%s%s%s", model, lay->label[0] ? ", " : "", lay->label);
    struct pd_context *gpu = new_context(m, PD_BACKEND_CUDA, true, lay, err);
    if (gpu == NULL) {
        /* a weight type the CUDA kernels lack is a refusal that says so, not a failure */
        ok(strstr(err, "no CUDA kernel") != NULL, "%s: CUDA context refused only for a weight "
           "type (%s)", rel, err);
        return;
    }
    struct pd_context *cpu = new_context(m, PD_BACKEND_CPU, true, NULL, err);
    if (!ok(cpu != NULL, "%s: CPU context (%s)", rel, cpu ? "ok" : err)) {
        pd_context_free(gpu);
        return;
    }
    ok(pd_context_backend(gpu, NULL, 0) == PD_BACKEND_CUDA, "%s: the CUDA context runs on CUDA",
       rel);
    int32_t V = m->hp.n_vocab, prompt[11];
    for (int i = 0; i < 11; i++)
        prompt[i] = (int32_t)((7 * i + 3) % V);
    double worst = 0.0;
    ok(step(gpu, cpu, prompt, 7, true, "prefill of 7", &worst) &&
       step(gpu, cpu, prompt + 7, 4, true, "prefill of 4 at 7", &worst),
       "%s: prefill: logits and routing agree", rel);
    bool same = true;
    int32_t tok = argmax(pd_context_last_logits(cpu), V);
    for (int s = 0; s < 5 && same; s++) {
        same = step(gpu, cpu, &tok, 1, true, "decode", &worst);
        int32_t next_gpu = argmax(pd_context_last_logits(gpu), V);
        tok = argmax(pd_context_last_logits(cpu), V);
        if (same && next_gpu != tok) {
            diag("decode step %d: greedy token %d on CUDA, %d on the CPU", s, next_gpu, tok);
            same = false;
        }
    }
    ok(same, "%s: 5 decode steps: logits, routing and greedy tokens agree", rel);
    pd_context_truncate(gpu, 5);
    pd_context_truncate(cpu, 5);
    ok(step(gpu, cpu, prompt + 2, 3, true, "after truncation", &worst),
       "%s: after truncating to 5: logits and routing agree", rel);
    pd_context_free(cpu);
    pd_context_free(gpu);
    gpu = new_context(m, PD_BACKEND_CUDA, false, lay, err);
    cpu = gpu ? new_context(m, PD_BACKEND_CPU, false, NULL, err) : NULL;
    ok(gpu && cpu && step(gpu, cpu, prompt, 11, false, "11 tokens in batches of 4", &worst),
       "%s: one call of three batches: the last logits and routing agree%s%s", rel,
       gpu && cpu ? "" : ": ", gpu && cpu ? "" : err);
    diag("%s: largest logit error %.3g of the row's largest logit", rel, worst);
    pd_context_free(cpu);
    pd_context_free(gpu);
}

/* Splits: ranks sharing device 0 (the in-process communicator, exchanges through the host), a
 * pipeline with more ranks than the fixtures' layers (a stage with none), and over devices 0 and
 * 1 through NCCL where there are two. */
static const struct layout layouts[] = {
    { PD_SPLIT_NONE, 0, { 0 }, "", 0 },
    { PD_SPLIT_LAYER, 2, { 0, 0 }, "layer split over 2 ranks on device 0", 0 },
    { PD_SPLIT_EXPERT, 2, { 0, 0 }, "expert split over 2 ranks on device 0", 0 },
    { PD_SPLIT_LAYER, 4, { 0, 0, 0, 0 }, "layer split over 4 ranks on device 0", 0 },
    { PD_SPLIT_EXPERT, 3, { 0, 0, 0 }, "expert split over 3 ranks on device 0", 0 },
    { PD_SPLIT_NONE, 0, { 0 }, "the last layer on device 0, the others on the CPU", 1 },
    { PD_SPLIT_LAYER, 2, { 0, 0 }, "the last layer on two ranks of device 0, the others on the "
      "CPU", 1 },
    { PD_SPLIT_LAYER, 2, { 0, 1 }, "layer split over devices 0,1", 0 },
    { PD_SPLIT_EXPERT, 2, { 0, 1 }, "expert split over devices 0,1", 0 },
};

/* Token ids of a generation, as its events give them. */
struct ids {
    int32_t id[64];
    int n;
};

static int
collect_id(void *user, const struct pd_token_event *ev)
{
    struct ids *s = user;
    if (ev->id >= 0 && s->n < (int)PD_ARRAY_SIZE(s->id))
        s->id[s->n++] = ev->id;
    return 0;
}

/* pd_generate with temperature, top-k and a repetition penalty, 32 tokens from a fixed seed. */
static bool
sample(struct pd_context *c, struct ids *out, char *err)
{
    const struct pd_model *m = pd_context_model(c);
    struct pd_sampler_params sp;
    pd_sampler_params_default(&sp);
    sp.temp = 0.9f;
    sp.top_k = 20;
    sp.repeat_penalty = 1.2f;
    sp.seed = 11;
    struct pd_sampler *smp = pd_sampler_new(&sp, m->hp.n_vocab);
    int32_t prompt[5];
    for (int i = 0; i < 5; i++)
        prompt[i] = (int32_t)((11 * i + 2) % m->hp.n_vocab);
    struct pd_gen_params gp = { .n_predict = 32 };
    struct pd_gen_result res;
    out->n = 0;
    int rc = smp ? pd_generate(c, smp, prompt, 5, &gp, collect_id, out, &res, err) : PD_ENOMEM;
    pd_sampler_free(smp);
    return rc == 0;
}

/* Sampling through pd_generate: on a CUDA context the candidates are chosen where the logits are
 * (the device; the host for a pipeline, whose logits come from its last stage), and the tokens
 * drawn are the CPU's. */
static void
check_sampling(struct pd_model *m, const char *model, const struct layout *lay)
{
    char err[PD_ERR_MAX] = "", rel[200];
    snprintf(rel, sizeof rel, "%s%s%s", model, lay->label[0] ? ", " : "", lay->label);
    struct pd_context *gpu = new_context(m, PD_BACKEND_CUDA, false, lay, err);
    struct pd_context *cpu = gpu ? new_context(m, PD_BACKEND_CPU, false, NULL, err) : NULL;
    struct ids a, b;
    bool ran = gpu && cpu && sample(gpu, &a, err) && sample(cpu, &b, err);
    ok(ran && a.n == b.n && a.n > 0 && memcmp(a.id, b.id, sizeof(int32_t) * (size_t)a.n) == 0,
       "%s: sampling draws the CPU's %d tokens%s%s", rel, ran ? b.n : 0, ran ? "" : ": ",
       ran ? "" : err);
    pd_context_free(cpu);
    pd_context_free(gpu);
}

#ifdef PD_CUDA_EMULATED
void pd_cuda_emu_fail_matmul(int n);

/* A product failing on one rank in the middle of a split's pass: the decode fails on the driver
 * with the rank's message (no rank waits for ever for another), none of its positions stays in a
 * cache, and the same tokens decoded again give the CPU's logits. */
static void
check_fault(struct pd_model *m, const char *model, const struct layout *lay)
{
    char err[PD_ERR_MAX] = "", rel[200];
    snprintf(rel, sizeof rel, "%s, %s", model, lay->label);
    struct pd_context *gpu = new_context(m, PD_BACKEND_CUDA, true, lay, err);
    struct pd_context *cpu = gpu ? new_context(m, PD_BACKEND_CPU, true, NULL, err) : NULL;
    if (ok(gpu && cpu, "%s: contexts for a failure%s%s", rel, gpu && cpu ? "" : ": ", err)) {
        int32_t V = m->hp.n_vocab, toks[6];
        for (int i = 0; i < 6; i++)
            toks[i] = (int32_t)((5 * i + 1) % V);
        double worst = 0.0;
        bool before = step(gpu, cpu, toks, 3, true, "before the failure", &worst);
        pd_cuda_emu_fail_matmul(5);
        int rc = pd_context_decode(gpu, toks + 3, 3, err);
        pd_cuda_emu_fail_matmul(0);
        ok(before && rc != 0 && strstr(err, "injected failure") != NULL,
           "%s: a product failing on one rank fails the decode, saying where: %s", rel, err);
        is_int(pd_context_n_past(gpu), 3, "%s: ... and its positions are in no cache", rel);
        ok(step(gpu, cpu, toks + 3, 3, true, "after the failure", &worst),
           "%s: the same tokens again: logits and routing agree", rel);
    }
    pd_context_free(cpu);
    pd_context_free(gpu);
}
#endif

static void
check_model(const char *rel)
{
    char err[PD_ERR_MAX] = "";
    struct pd_model *m = NULL;
#if defined PD_CUDA_EMULATED || defined PD_CUDA_SIMT
    if (strncmp(rel, "models/", 7) == 0)   /* emulations are slow; the fixtures suffice */
        return;
#endif
    if (pd_model_load(&m, test_path(rel), err) != 0) {
        if (strncmp(rel, "models/", 7) == 0) {
            diag("%s not here (tests/fetch-model gets it): skipped", rel);
            return;
        }
        ok(0, "%s loads: %s", rel, err);
        return;
    }
    /* PONDER_TEST_UNSPLIT=1: the unsplit layout only (device-check's reruns under other
     * settings). On a GPU the splits run on one model of each kind (dense, MoE with a shared
     * expert, MoE, MLA), which keeps device-check within its minutes; the emulation runs them on
     * every fixture. */
    const char *unsplit = getenv("PONDER_TEST_UNSPLIT");
    bool splits = !(unsplit && strcmp(unsplit, "1") == 0);
#ifndef PD_CUDA_EMULATED
    splits = splits && (strstr(rel, "arch-qwen3.") || strstr(rel, "moe-qwen2moe.") ||
                        strstr(rel, "moe-qwen3moe.") || strstr(rel, "ds-v3."));
#endif
    size_t n_layouts = splits ? PD_ARRAY_SIZE(layouts) : 1;
    for (size_t i = 0; i < n_layouts; i++) {
        const struct layout *lay = &layouts[i];
        bool second = false;
        for (int r = 0; r < lay->n; r++)
            second = second || lay->devices[r] > 0;
        if ((second && pd_cuda_device_count() < 2) ||
            (lay->split == PD_SPLIT_EXPERT && m->hp.n_expert < lay->n))
            continue;
#ifdef PD_CUDA_EMULATED
        if (second && pd_comm_nccl_available())   /* NCCL would want real devices */
            continue;
#endif
        check_layout(m, rel, lay);
        check_sampling(m, rel, lay);
#ifdef PD_CUDA_EMULATED
        if (lay->split != PD_SPLIT_NONE || lay->gpu_layers > 0)
            check_fault(m, rel, lay);
#endif
    }
    pd_model_free(m);
}

int
main(void)
{
#ifdef PD_CUDA_EMULATED
    setenv("PONDER_CUDA_GRAPHS", "0", 1);   /* the emulation runs each op as it comes */
#endif
    if (!pd_cuda_compiled())
        plan_skip_all("built without CUDA");
    if (pd_cuda_device_count() == 0)
        plan_skip_all("no CUDA device");
    char desc[256];
    pd_cuda_device_describe(0, desc, sizeof desc);
    diag("device 0: %s", desc);
    for (size_t i = 0; i < PD_ARRAY_SIZE(fixtures); i++)
        check_model(fixtures[i]);
    done_testing();
    return exit_status();
}
