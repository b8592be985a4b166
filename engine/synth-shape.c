/*
 * synth-shape.c: the shapes of synthetic models (see synth.h): the named table, the tiny default
 * of each architecture, key=value overrides, the consistency checks, and the tensor types a file
 * can be written in. Writing the file is synth.c.
 */
#include "config.h"

#include "engine/synth.h"
#include "engine/synth-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- named shapes ------------------------------------------------------------------------- */

struct named_shape {
    const char *name;
    const char *summary;
    struct pd_synth_shape s;
};

static const struct named_shape named[] = {
    { "smollm2-135m", "llama, SmolLM2-135M (dense, tied embeddings)",
      { .arch = "llama", .name = "synth SmolLM2-135M", .n_embd = 576, .n_layer = 30,
        .n_head = 9, .n_head_kv = 3, .n_ff = 1536, .n_vocab = 49152, .n_ctx = 8192,
        .rope_base = 100000, .rms_eps = 1e-5, .tied = true, .rope_scaling = "none" } },
    { "qwen3-30b-a3b", "qwen3moe, Qwen3-30B-A3B (128 experts, 8 used)",
      { .arch = "qwen3moe", .name = "synth Qwen3-30B-A3B", .n_embd = 2048, .n_layer = 48,
        .n_head = 32, .n_head_kv = 4, .head_dim = 128, .n_ff = 6144, .n_vocab = 151936,
        .n_ctx = 40960, .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 768,
        .rope_base = 1e6, .rms_eps = 1e-6, .rope_scaling = "none" } },
    { "olmoe-1b-7b", "olmoe, OLMoE-1B-7B (64 experts, 8 used)",
      { .arch = "olmoe", .name = "synth OLMoE-1B-7B", .n_embd = 2048, .n_layer = 16,
        .n_head = 16, .n_head_kv = 16, .n_ff = 1024, .n_vocab = 50304, .n_ctx = 4096,
        .n_expert = 64, .n_expert_used = 8, .rope_base = 10000, .rms_eps = 1e-5,
        .rope_scaling = "none" } },
    { "deepseek-v3", "deepseek2, DeepSeek-V3/R1 (MLA, 256 experts, 8 used, 1 shared)",
      { .arch = "deepseek2", .name = "synth DeepSeek-V3", .n_embd = 7168, .n_layer = 61,
        .n_dense_lead = 3, .n_ff = 18432, .n_head = 128, .n_head_kv = 128, .q_lora_rank = 1536,
        .kv_lora_rank = 512, .qk_nope = 128, .qk_rope = 64, .v_head = 128, .n_expert = 256,
        .n_expert_used = 8, .n_ff_exp = 2048, .n_expert_shared = 1, .n_group = 8,
        .n_group_used = 4, .gating_func = 2, .expert_norm = true, .expert_scale = 2.5,
        .expert_bias = true, .n_vocab = 129280, .n_ctx = 163840, .rope_base = 10000,
        .rms_eps = 1e-6, .rope_scaling = "yarn", .rope_factor = 40, .rope_orig_ctx = 4096,
        .yarn_log_mul = 0.1 } },
    { "qwen3moe-small", "qwen3moe for benchmarks, ~0.5 GB at q4_0 (64 experts, 8 used)",
      { .arch = "qwen3moe", .name = "synth qwen3moe-small", .n_embd = 1024, .n_layer = 16,
        .n_head = 16, .n_head_kv = 4, .head_dim = 64, .n_ff = 2048, .n_vocab = 32000,
        .n_ctx = 32768, .n_expert = 64, .n_expert_used = 8, .n_ff_exp = 256,
        .rope_base = 1e6, .rms_eps = 1e-6, .rope_scaling = "none" } },
    { "deepseek2-small", "deepseek2 for benchmarks, ~0.5 GB at q4_0 (MLA, 64 experts, 6 used)",
      { .arch = "deepseek2", .name = "synth deepseek2-small", .n_embd = 1024, .n_layer = 14,
        .n_dense_lead = 1, .n_ff = 2816, .n_head = 16, .n_head_kv = 16, .q_lora_rank = 384,
        .kv_lora_rank = 256, .qk_nope = 64, .qk_rope = 32, .v_head = 64, .n_expert = 64,
        .n_expert_used = 6, .n_ff_exp = 256, .n_expert_shared = 2, .n_group = 4,
        .n_group_used = 2, .gating_func = 2, .expert_norm = true, .expert_scale = 2.5,
        .expert_bias = true, .n_vocab = 32000, .n_ctx = 163840, .rope_base = 10000,
        .rms_eps = 1e-6, .rope_scaling = "yarn", .rope_factor = 40, .rope_orig_ctx = 4096,
        .yarn_log_mul = 0.1 } },
};

static const char *const archs[] = {
    "llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "olmoe", "deepseek2",
};

size_t
pd_synth_shape_count(void)
{
    return PD_ARRAY_SIZE(named);
}

const char *
pd_synth_shape_name(size_t i, const char **summary)
{
    if (i >= PD_ARRAY_SIZE(named))
        return NULL;
    if (summary != NULL)
        *summary = named[i].summary;
    return named[i].name;
}

int
pd_synth_shape_named(struct pd_synth_shape *out, const char *name, char *err)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(named); i++)
        if (strcmp(named[i].name, name) == 0) {
            *out = named[i].s;
            return 0;
        }
    char list[256] = "";
    for (size_t i = 0; i < PD_ARRAY_SIZE(named); i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 named[i].name);
    return pd_errorf(err, PD_ENOTFOUND, "no shape named '%s' (known: %s)", name, list);
}

/* Whether the shape is of architecture a. */
bool
pd_synth_is_arch(const struct pd_synth_shape *s, const char *a)
{
    return strcmp(s->arch, a) == 0;
}

int
pd_synth_shape_arch(struct pd_synth_shape *out, const char *arch, char *err)
{
    size_t i;
    for (i = 0; i < PD_ARRAY_SIZE(archs); i++)
        if (strcmp(archs[i], arch) == 0)
            break;
    if (i == PD_ARRAY_SIZE(archs))
        return pd_errorf(err, PD_EUNSUPPORTED, "architecture '%s' cannot be synthesized (known: "
                         "llama, qwen2, qwen3, qwen2moe, qwen3moe, olmoe, deepseek2)", arch);
    struct pd_synth_shape s = {
        .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_vocab = 512,
        .n_ctx = 2048, .rope_base = 10000, .rms_eps = 1e-5, .rope_scaling = "none",
    };
    snprintf(s.arch, sizeof s.arch, "%s", arch);
    snprintf(s.name, sizeof s.name, "synth %s", arch);
    if (strncmp(arch, "qwen", 4) == 0) {
        s.rope_base = 1e6;
        s.rms_eps = 1e-6;
    }
    if (strcmp(arch, "qwen2") == 0 || strcmp(arch, "qwen2moe") == 0)
        s.qkv_bias = true;
    if (strcmp(arch, "qwen2moe") == 0 || strcmp(arch, "qwen3moe") == 0 ||
        strcmp(arch, "deepseek2") == 0) {
        s.n_expert = 8;
        s.n_expert_used = 2;
        s.n_ff_exp = 64;
    }
    if (strcmp(arch, "qwen2moe") == 0)
        s.n_ff_shexp = 128;
    if (strcmp(arch, "olmoe") == 0) {
        s.n_head_kv = s.n_head;
        s.n_ff = 64;
        s.n_expert = 8;
        s.n_expert_used = 2;
    }
    if (strcmp(arch, "deepseek2") == 0) {
        s.n_head_kv = s.n_head;
        s.n_dense_lead = 1;
        s.q_lora_rank = 32;
        s.kv_lora_rank = 64;
        s.qk_nope = 32;
        s.qk_rope = 16;
        s.v_head = 32;
        s.n_expert_shared = 1;
        s.gating_func = 2;
        s.expert_norm = true;
        s.expert_scale = 2.5;
        s.expert_bias = true;
        s.rms_eps = 1e-6;
    }
    *out = s;
    return 0;
}

/* ---- key=value -------------------------------------------------------------------------- */

enum key_kind { KEY_INT, KEY_FLOAT, KEY_BOOL, KEY_STR };

static const struct shape_key {
    const char *name;
    const char *alias;
    enum key_kind kind;
    size_t offset;
    double lo, hi;
} keys[] = {
#define K(n, a, kind, field, lo, hi) { n, a, kind, offsetof(struct pd_synth_shape, field), lo, hi }
    K("embd", "E", KEY_INT, n_embd, 1, 1 << 20),
    K("layers", "L", KEY_INT, n_layer, 1, 4096),
    K("heads", "H", KEY_INT, n_head, 1, 4096),
    K("heads_kv", "Hkv", KEY_INT, n_head_kv, 1, 4096),
    K("head_dim", "D", KEY_INT, head_dim, 0, 1 << 16),
    K("ff", "F", KEY_INT, n_ff, 0, 1 << 24),
    K("vocab", "V", KEY_INT, n_vocab, PD_SYNTH_MIN_VOCAB, 1 << 24),
    K("ctx", NULL, KEY_INT, n_ctx, 1, 1 << 30),
    K("experts", "X", KEY_INT, n_expert, 0, 1 << 16),
    K("experts_used", "K", KEY_INT, n_expert_used, 0, 1 << 16),
    K("ff_exp", "Fe", KEY_INT, n_ff_exp, 0, 1 << 24),
    K("ff_shexp", "Fs", KEY_INT, n_ff_shexp, 0, 1 << 24),
    K("shared_experts", NULL, KEY_INT, n_expert_shared, 0, 1 << 10),
    K("dense_layers", NULL, KEY_INT, n_dense_lead, 0, 4096),
    K("q_lora", NULL, KEY_INT, q_lora_rank, 0, 1 << 20),
    K("kv_lora", NULL, KEY_INT, kv_lora_rank, 1, 1 << 20),
    K("qk_nope", NULL, KEY_INT, qk_nope, 1, 1 << 16),
    K("qk_rope", NULL, KEY_INT, qk_rope, 2, 1 << 16),
    K("v_head", NULL, KEY_INT, v_head, 1, 1 << 16),
    K("groups", NULL, KEY_INT, n_group, 0, 1 << 16),
    K("groups_used", NULL, KEY_INT, n_group_used, 0, 1 << 16),
    K("gating", NULL, KEY_INT, gating_func, 1, 2),
    K("norm_topk", NULL, KEY_BOOL, expert_norm, 0, 1),
    K("expert_scale", NULL, KEY_FLOAT, expert_scale, 0, 1e6),
    K("expert_bias", NULL, KEY_BOOL, expert_bias, 0, 1),
    K("qkv_bias", NULL, KEY_BOOL, qkv_bias, 0, 1),
    K("tied", NULL, KEY_BOOL, tied, 0, 1),
    K("rope_base", NULL, KEY_FLOAT, rope_base, 1, 1e12),
    K("rms_eps", NULL, KEY_FLOAT, rms_eps, 1e-12, 1),
    K("rope_scaling", NULL, KEY_STR, rope_scaling, 0, 0),
    K("rope_factor", NULL, KEY_FLOAT, rope_factor, 0, 1e6),
    K("rope_orig_ctx", NULL, KEY_INT, rope_orig_ctx, 0, 1 << 30),
    K("yarn_log_mul", NULL, KEY_FLOAT, yarn_log_mul, 0, 100),
    K("name", NULL, KEY_STR, name, 0, 0),
#undef K
};

const char *
pd_synth_shape_keys(void)
{
    static char buf[1024];
    if (buf[0] == '\0')
        for (size_t i = 0; i < PD_ARRAY_SIZE(keys); i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "",
                     keys[i].name);
    return buf;
}

int
pd_synth_shape_set(struct pd_synth_shape *s, const char *key, const char *value, char *err)
{
    const struct shape_key *k = NULL;
    for (size_t i = 0; i < PD_ARRAY_SIZE(keys) && k == NULL; i++)
        if (strcmp(keys[i].name, key) == 0 || (keys[i].alias && strcmp(keys[i].alias, key) == 0))
            k = &keys[i];
    if (k == NULL)
        return pd_errorf(err, PD_ENOTFOUND, "unknown shape key '%s' (known: %s)", key,
                         pd_synth_shape_keys());
    char *p = (char *)s + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case KEY_INT: {
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno != 0 || v < k->lo || v > k->hi)
            return pd_errorf(err, PD_EINVAL, "%s=%s: expected a whole number from %.0f to %.0f",
                             key, value, k->lo, k->hi);
        *(int64_t *)p = v;
        return 0;
    }
    case KEY_FLOAT: {
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno != 0 || !(v >= k->lo && v <= k->hi))
            return pd_errorf(err, PD_EINVAL, "%s=%s: expected a number from %g to %g", key,
                             value, k->lo, k->hi);
        *(double *)p = v;
        return 0;
    }
    case KEY_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            *(bool *)p = true;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "no") == 0)
            *(bool *)p = false;
        else
            return pd_errorf(err, PD_EINVAL, "%s=%s: expected true or false", key, value);
        return 0;
    case KEY_STR: {
        size_t cap = k->offset == offsetof(struct pd_synth_shape, name) ? sizeof s->name
                                                                        : sizeof s->rope_scaling;
        if (strlen(value) >= cap)
            return pd_errorf(err, PD_EINVAL, "%s=%s: longer than %zu characters", key, value,
                             cap - 1);
        if (cap == sizeof s->rope_scaling && strcmp(value, "none") != 0 &&
            strcmp(value, "linear") != 0 && strcmp(value, "yarn") != 0)
            return pd_errorf(err, PD_EINVAL, "%s=%s: expected none, linear or yarn", key, value);
        memcpy(p, value, strlen(value) + 1);
        return 0;
    }
    }
    return PD_EINVAL;
}

int
pd_synth_shape_set_kv(struct pd_synth_shape *s, const char *kv, char *err)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return pd_errorf(err, PD_EINVAL, "'%s': expected key=value", kv);
    char key[64];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof key)
        return pd_errorf(err, PD_ENOTFOUND, "unknown shape key '%.*s'", (int)n, kv);
    memcpy(key, kv, n);
    key[n] = '\0';
    return pd_synth_shape_set(s, key, eq + 1, err);
}

/* ---- checks ----------------------------------------------------------------------------- */

static bool
is_moe_arch(const struct pd_synth_shape *s)
{
    return pd_synth_is_arch(s, "qwen2moe") || pd_synth_is_arch(s, "qwen3moe") || pd_synth_is_arch(s, "olmoe") ||
           pd_synth_is_arch(s, "deepseek2");
}

/* The attention head size the shape gives (key_length, or E/H). */
int64_t
pd_synth_head_dim(const struct pd_synth_shape *s)
{
    return s->head_dim > 0 ? s->head_dim : s->n_embd / s->n_head;
}

int
pd_synth_shape_check(const struct pd_synth_shape *s, char *err)
{
    struct pd_synth_shape tmp;
    if (pd_synth_shape_arch(&tmp, s->arch, err) != 0)
        return PD_EINVAL;
    if (s->n_embd < 1 || s->n_layer < 1 || s->n_head < 1 || s->n_ctx < 1)
        return pd_errorf(err, PD_EINVAL, "embd, layers, heads and ctx must be positive");
    if (s->n_vocab < PD_SYNTH_MIN_VOCAB || s->n_vocab > (1 << 24))
        return pd_errorf(err, PD_EINVAL, "vocab=%" PRId64 ": at least %d tokens (256 bytes, "
                         "merges and control tokens) and at most 2^24", s->n_vocab,
                         PD_SYNTH_MIN_VOCAB);
    if (strcmp(s->rope_scaling, "none") != 0 && strcmp(s->rope_scaling, "linear") != 0 &&
        strcmp(s->rope_scaling, "yarn") != 0)
        return pd_errorf(err, PD_EINVAL, "rope_scaling=%s: expected none, linear or yarn",
                         s->rope_scaling);
    bool moe = is_moe_arch(s);
    if (!moe && s->n_expert > 0 && !pd_synth_is_arch(s, "llama"))
        return pd_errorf(err, PD_EINVAL, "%s is a dense architecture; experts must be 0 (use "
                         "llama for Mixtral-style experts, or a MoE architecture)", s->arch);
    if (moe && s->n_expert < 1)
        return pd_errorf(err, PD_EINVAL, "%s needs experts >= 1", s->arch);
    if (s->n_expert > 0 && (s->n_expert_used < 1 || s->n_expert_used > s->n_expert))
        return pd_errorf(err, PD_EINVAL, "experts_used=%" PRId64 ": must be from 1 to experts "
                         "(%" PRId64 ")", s->n_expert_used, s->n_expert);
    bool ff_experts = pd_synth_is_arch(s, "olmoe") || pd_synth_is_arch(s, "llama");
    if (ff_experts && s->n_ff_exp != 0)
        return pd_errorf(err, PD_EINVAL, "%s: the experts' width is ff, not ff_exp", s->arch);
    if (s->n_expert > 0 && !ff_experts && s->n_ff_exp < 1)
        return pd_errorf(err, PD_EINVAL, "%s: ff_exp (the experts' width) must be positive",
                         s->arch);
    if (s->n_ff_shexp > 0 && !pd_synth_is_arch(s, "qwen2moe"))
        return pd_errorf(err, PD_EINVAL, "ff_shexp is qwen2moe's; deepseek2 uses shared_experts");
    if (pd_synth_is_arch(s, "deepseek2")) {
        if (s->kv_lora_rank < 1 || s->qk_nope < 1 || s->qk_rope < 2 || s->qk_rope % 2 ||
            s->v_head < 1)
            return pd_errorf(err, PD_EINVAL, "deepseek2 needs kv_lora, qk_nope, v_head >= 1 and "
                             "an even qk_rope >= 2");
        if (s->n_dense_lead > s->n_layer)
            return pd_errorf(err, PD_EINVAL, "dense_layers=%" PRId64 " exceeds layers=%" PRId64,
                             s->n_dense_lead, s->n_layer);
        if (s->n_dense_lead > 0 && s->n_ff < 1)
            return pd_errorf(err, PD_EINVAL, "dense layers need ff >= 1");
        if (s->n_group > 0) {
            if (s->n_expert % s->n_group || s->n_group_used < 1 || s->n_group_used > s->n_group ||
                s->n_expert_used > s->n_group_used * (s->n_expert / s->n_group))
                return pd_errorf(err, PD_EINVAL, "groups=%" PRId64 " groups_used=%" PRId64 ": "
                                 "groups must divide experts (%" PRId64 "), 1 <= groups_used <= "
                                 "groups, and the used groups must hold experts_used experts",
                                 s->n_group, s->n_group_used, s->n_expert);
        }
        if (s->gating_func != 1 && s->gating_func != 2)
            return pd_errorf(err, PD_EINVAL, "gating=%" PRId64 ": 1 (softmax) or 2 (sigmoid)",
                             s->gating_func);
        return 0;
    }
    if (s->n_head_kv < 1 || s->n_head % s->n_head_kv)
        return pd_errorf(err, PD_EINVAL, "heads_kv=%" PRId64 " must divide heads=%" PRId64,
                         s->n_head_kv, s->n_head);
    int64_t D = pd_synth_head_dim(s);
    if (D < 2 || D % 2)
        return pd_errorf(err, PD_EINVAL, "head size %" PRId64 " must be even and at least 2 "
                         "(set head_dim, or embd a multiple of heads)", D);
    if (s->head_dim == 0 && s->n_embd % s->n_head)
        return pd_errorf(err, PD_EINVAL, "embd=%" PRId64 " is not a multiple of heads=%" PRId64
                         "; set head_dim", s->n_embd, s->n_head);
    if (pd_synth_is_arch(s, "olmoe") && (s->n_head_kv != s->n_head || D * s->n_head != s->n_embd))
        return pd_errorf(err, PD_EINVAL, "olmoe needs heads_kv = heads and heads x head size = "
                         "embd (its Q/K norms span the whole projection)");
    if ((s->n_expert == 0 || ff_experts) && s->n_ff < 1)
        return pd_errorf(err, PD_EINVAL, "ff must be positive");
    return 0;
}

/* ---- types ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    enum pd_type type;
    uint32_t file_type;   /* general.file_type */
} types[] = {
    { "f32", PD_TYPE_F32, 0 },   { "f16", PD_TYPE_F16, 1 },   { "bf16", PD_TYPE_BF16, 32 },
    { "q8_0", PD_TYPE_Q8_0, 7 }, { "q4_0", PD_TYPE_Q4_0, 2 }, { "q4_1", PD_TYPE_Q4_1, 3 },
    { "q5_0", PD_TYPE_Q5_0, 8 }, { "q5_1", PD_TYPE_Q5_1, 9 },
};

int
pd_synth_type_from_name(const char *name)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(types); i++)
        if (strcasecmp(types[i].name, name) == 0)
            return (int)types[i].type;
    return -1;
}

const char *
pd_synth_type_names(void)
{
    return "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1";
}

/* general.file_type for a file whose matrices are of type t. */
uint32_t
pd_synth_file_type(enum pd_type t)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(types); i++)
        if (types[i].type == t)
            return types[i].file_type;
    return 0;
}

/* Whether synthetic files can be written in type t. */
bool
pd_synth_type_ok(enum pd_type t)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(types); i++)
        if (types[i].type == t)
            return true;
    return false;
}

