/*
 * synth.h: synthetic models: random-weight GGUF files of any supported architecture and size.
 *
 * A shape is an architecture and every hyper-parameter it has. It comes from a named table (the
 * real shapes of SmolLM2-135M, Qwen3-30B-A3B, OLMoE-1B-7B and DeepSeek-V3, and small ones sized
 * for benchmarks on a laptop), or from an architecture's tiny default, and is then changed key by
 * key ("layers=4", "experts=16"). pd_synth_write turns a shape into a GGUF file that ponder and
 * llama.cpp both load: the metadata keys and tensor names and shapes of
 * shared/specs/gguf-archs.md, a byte-level BPE ("gpt2") vocabulary of exactly n_vocab tokens,
 * weights drawn from a seeded generator with a spread of 1/sqrt(fan-in) so activations stay near
 * unit size, norms of ones. Matrices take the requested type; norms, biases and routers stay F32
 * (as llama-quantize leaves them); a matrix whose rows do not divide into the type's blocks falls
 * back to F16.
 *
 * The weights are generated while the file is written (pd_gguf_writer_add_tensor_fill), a few
 * MiB at a time, so a file larger than memory (DeepSeek-V3: hundreds of GiB) only needs the
 * disk space, which is checked first. The same shape, type and seed give the same bytes.
 */
#ifndef PD_SYNTH_H
#define PD_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"
#include "kernels/cpu/quant.h"

/* Every hyper-parameter a synthetic model can have. Which ones an architecture reads is in
 * gguf-archs.md; the others are ignored for it. Sizes are element counts. */
struct pd_synth_shape {
    char arch[16];            /* llama, qwen2, qwen3, qwen2moe, qwen3moe, olmoe, deepseek2 */
    char name[48];            /* general.name */
    int64_t n_embd;           /* E */
    int64_t n_layer;
    int64_t n_head;           /* H */
    int64_t n_head_kv;        /* Hkv (not deepseek2) */
    int64_t head_dim;         /* D; 0 = E/H (not deepseek2) */
    int64_t n_ff;             /* F: dense FFN width (olmoe and Mixtral-style llama: the experts') */
    int64_t n_vocab;          /* V, at least PD_SYNTH_MIN_VOCAB */
    int64_t n_ctx;            /* trained context */
    int64_t n_expert;         /* X; 0 = dense */
    int64_t n_expert_used;    /* K */
    int64_t n_ff_exp;         /* Fe (qwen2moe, qwen3moe, deepseek2) */
    int64_t n_ff_shexp;       /* Fs: qwen2moe's shared expert; 0 = none */
    int64_t n_expert_shared;  /* deepseek2: shared experts, one FFN of width n_expert_shared*Fe */
    int64_t n_dense_lead;     /* deepseek2: leading dense layers */
    int64_t q_lora_rank;      /* deepseek2: 0 = plain attn_q */
    int64_t kv_lora_rank;     /* deepseek2: R */
    int64_t qk_nope;          /* deepseek2: Dn */
    int64_t qk_rope;          /* deepseek2: Dr */
    int64_t v_head;           /* deepseek2: Dv */
    int64_t n_group;          /* deepseek2: expert groups; 0 = no group routing */
    int64_t n_group_used;
    int64_t gating_func;      /* deepseek2: 1 softmax, 2 sigmoid */
    bool expert_norm;         /* deepseek2: renormalize the chosen weights */
    double expert_scale;      /* deepseek2: routed weights scale */
    bool expert_bias;         /* deepseek2: exp_probs_b selection bias */
    bool qkv_bias;            /* attn_{q,k,v}.bias (qwen2, qwen2moe) */
    bool tied;                /* no output.weight: the embedding is the output */
    double rope_base;
    double rms_eps;
    char rope_scaling[8];     /* none, linear, yarn */
    double rope_factor;
    int64_t rope_orig_ctx;    /* yarn: original context */
    double yarn_log_mul;      /* deepseek2 yarn: 0.1 * mscale_all_dim */
};

/* The smallest vocabulary: 256 byte tokens, the merged tokens and the control tokens. */
#define PD_SYNTH_MIN_VOCAB 263

/* Named shapes: count, and name and one-line summary of entry i (NULL past the end). */
size_t pd_synth_shape_count(void);
const char *pd_synth_shape_name(size_t i, const char **summary);

/* Shape name into *out; PD_ENOTFOUND (err lists the names) when there is none. */
int pd_synth_shape_named(struct pd_synth_shape *out, const char *name, char *err);

/* The tiny default of an architecture (a few hundred KB); PD_EUNSUPPORTED for an unknown one. */
int pd_synth_shape_arch(struct pd_synth_shape *out, const char *arch, char *err);

/* Set one hyper-parameter from text: key=value style (key "layers", value "4"). PD_ENOTFOUND
 * for an unknown key, PD_EINVAL for a value that does not parse or is out of range. */
int pd_synth_shape_set(struct pd_synth_shape *s, const char *key, const char *value, char *err);

/* "key=value" in one string, as the command line gives it. */
int pd_synth_shape_set_kv(struct pd_synth_shape *s, const char *kv, char *err);

/* Names of the keys, space-separated, for help texts. */
const char *pd_synth_shape_keys(void);

/* Check that s makes a model both engines can load; PD_EINVAL with the reason otherwise. */
int pd_synth_shape_check(const struct pd_synth_shape *s, char *err);

/* The types a synthetic model can be written in, by name (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0
 * q5_1); -1 for another name. */
int pd_synth_type_from_name(const char *name);
const char *pd_synth_type_names(void);

/* Parameters and data bytes (tensors with their alignment padding; the header comes on top,
 * about 10 bytes a vocabulary token) of s written in type. */
int pd_synth_size(const struct pd_synth_shape *s, enum pd_type type, uint64_t *n_params,
                  uint64_t *data_bytes, char *err);

/* Told after each few MiB written: bytes done of total (the whole file). */
typedef void (*pd_synth_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Write s in type with the given seed to path (through path.tmp, renamed when complete).
 * PD_EINVAL for a bad shape, PD_EIO when the file system lacks the space (checked before
 * writing) or a write fails, PD_ENOMEM. progress may be NULL. */
int pd_synth_write(const struct pd_synth_shape *s, enum pd_type type, uint64_t seed,
                   const char *path, pd_synth_progress_fn progress, void *ud, char *err);

#endif
