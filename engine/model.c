/*
 * model.c: from a GGUF file to a bound, checked model.
 *
 * Reading order: architecture name -> hyper-parameters under "{arch}." keys -> every tensor by
 * name with the shape the hyper-parameters predict -> tokenizer. Everything is checked here, so
 * the forward pass can trust the shapes it is given.
 */
#include "config.h"

#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    enum pd_arch arch;
} known_archs[] = {
    { "llama", PD_ARCH_LLAMA },
    { "qwen2", PD_ARCH_QWEN2 },
    { "qwen3", PD_ARCH_QWEN3 },
    { "qwen2moe", PD_ARCH_QWEN2MOE },
    { "qwen3moe", PD_ARCH_QWEN3MOE },
    { "olmoe", PD_ARCH_OLMOE },
    { "deepseek2", PD_ARCH_DEEPSEEK2 },
};

/* "{arch}.suffix" into buf. */
static const char *
arch_key(char *buf, size_t size, const struct pd_hparams *hp, const char *suffix)
{
    snprintf(buf, size, "%s.%s", hp->arch_name, suffix);
    return buf;
}

/* A u32 key that may also be a per-layer array (all layers must agree here). */
static int
get_layer_u32(const struct pd_gguf *g, const char *key, int32_t *out, char *err)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (v->type == PD_GGUF_TYPE_ARRAY) {
        if (v->v.arr.n == 0 || v->v.arr.items != NULL)
            return pd_errorf(err, PD_EFORMAT, "key '%s': expected integers", key);
        int64_t first = pd_gguf_arr_i64(v, 0);
        for (uint64_t i = 1; i < v->v.arr.n; i++)
            if (pd_gguf_arr_i64(v, i) != first)
                return pd_errorf(err, PD_EUNSUPPORTED,
                                 "key '%s': per-layer values differ (layer 0: %lld, layer %llu: "
                                 "%lld); not supported", key, (long long)first,
                                 (unsigned long long)i, (long long)pd_gguf_arr_i64(v, i));
        *out = (int32_t)first;
        return 0;
    }
    uint32_t u;
    if (pd_gguf_get_u32(g, key, &u) != 0 || u > INT32_MAX)
        return pd_errorf(err, PD_EFORMAT, "key '%s': expected a 32-bit count", key);
    *out = (int32_t)u;
    return 0;
}

static int
require_u32(const struct pd_gguf *g, const struct pd_hparams *hp, const char *suffix,
            int32_t *out, char *err)
{
    char key[128];
    int rc = get_layer_u32(g, arch_key(key, sizeof key, hp, suffix), out, err);
    if (rc == PD_ENOTFOUND)
        return pd_errorf(err, PD_EFORMAT, "required key '%s' is missing", key);
    if (rc == 0 && *out <= 0)
        return pd_errorf(err, PD_EFORMAT, "key '%s' must be positive (is %d)", key, *out);
    return rc;
}

static int
optional_u32(const struct pd_gguf *g, const struct pd_hparams *hp, const char *suffix,
             int32_t *out, char *err)
{
    char key[128];
    int rc = get_layer_u32(g, arch_key(key, sizeof key, hp, suffix), out, err);
    return rc == PD_ENOTFOUND ? 0 : rc;
}

static void
optional_f32(const struct pd_gguf *g, const struct pd_hparams *hp, const char *suffix, float *out)
{
    char key[128];
    pd_gguf_get_f32(g, arch_key(key, sizeof key, hp, suffix), out);
}

static int
load_rope(const struct pd_gguf *g, struct pd_hparams *hp, char *err)
{
    struct pd_rope *r = &hp->rope;
    char key[128];
    r->n_rot = hp->head_dim;
    int rc = optional_u32(g, hp, "rope.dimension_count", &r->n_rot, err);
    if (rc)
        return rc;
    if (r->n_rot <= 0 || r->n_rot > hp->head_dim || r->n_rot % 2)
        return pd_errorf(err, PD_EFORMAT, "rope dimension count %d does not fit head size %d",
                         r->n_rot, hp->head_dim);
    r->neox = hp->arch != PD_ARCH_LLAMA && hp->arch != PD_ARCH_DEEPSEEK2;
    r->freq_base = 10000.0f;
    optional_f32(g, hp, "rope.freq_base", &r->freq_base);
    r->freq_scale = 1.0f;
    r->attn_factor = 1.0f;
    r->beta_fast = 32.0f;
    r->beta_slow = 1.0f;
    r->n_ctx_orig = hp->n_ctx_train;
    hp->rope_scaling = "none";
    const char *type = NULL;
    pd_gguf_get_str(g, arch_key(key, sizeof key, hp, "rope.scaling.type"), &type);
    float factor = 0.0f;
    optional_f32(g, hp, "rope.scaling.factor", &factor);
    if (type == NULL || strcmp(type, "none") == 0) {
        if (factor > 0.0f && factor != 1.0f) {
            hp->rope_scaling = "linear";
            r->freq_scale = 1.0f / factor;
        }
        return 0;
    }
    if (strcmp(type, "linear") == 0 || strcmp(type, "yarn") == 0) {
        hp->rope_scaling = strcmp(type, "yarn") == 0 ? "yarn" : "linear";
        if (factor > 0.0f)
            r->freq_scale = 1.0f / factor;
        if (hp->rope_scaling[0] == 'y') {
            r->ext_factor = 1.0f;
            int32_t orig = 0;
            rc = optional_u32(g, hp, "rope.scaling.original_context_length", &orig, err);
            if (rc)
                return rc;
            if (orig > 0)
                r->n_ctx_orig = orig;
            optional_f32(g, hp, "rope.scaling.yarn_beta_fast", &r->beta_fast);
            optional_f32(g, hp, "rope.scaling.yarn_beta_slow", &r->beta_slow);
        }
        return 0;
    }
    return pd_errorf(err, PD_EUNSUPPORTED, "rope scaling type '%s' is not supported", type);
}

/* DeepSeek's routing: gating function, groups, normalization, scale and shared experts all come
 * from the file. */
static int
load_deepseek_experts(const struct pd_gguf *g, struct pd_hparams *hp, char *err)
{
    char key[128];
    int rc;
    int32_t n_shared = 0, gating = PD_GATING_SOFTMAX;
    if ((rc = require_u32(g, hp, "expert_feed_forward_length", &hp->n_ff_exp, err)) ||
        (rc = optional_u32(g, hp, "expert_shared_count", &n_shared, err)) ||
        (rc = optional_u32(g, hp, "expert_gating_func", &gating, err)) ||
        (rc = optional_u32(g, hp, "expert_group_count", &hp->n_expert_groups, err)) ||
        (rc = optional_u32(g, hp, "expert_group_used_count", &hp->n_expert_groups_used, err)) ||
        (rc = optional_u32(g, hp, "leading_dense_block_count", &hp->n_dense_lead, err)))
        return rc;
    if (gating == 0)
        gating = PD_GATING_SOFTMAX;
    if (gating != PD_GATING_SOFTMAX && gating != PD_GATING_SIGMOID)
        return pd_errorf(err, PD_EUNSUPPORTED, "expert gating function %d is not supported "
                         "(1 softmax and 2 sigmoid are)", gating);
    hp->gating = (enum pd_gating)gating;
    hp->n_ff_shexp = n_shared * hp->n_ff_exp;
    pd_gguf_get_bool(g, arch_key(key, sizeof key, hp, "expert_weights_norm"), &hp->expert_norm);
    float scale = 0.0f;
    optional_f32(g, hp, "expert_weights_scale", &scale);
    if (scale > 0.0f)
        hp->expert_weights_scale = scale;
    if (hp->n_expert_groups > 1 &&
        (hp->n_expert_groups > PD_MAX_EXPERT_GROUPS ||
         hp->n_expert % hp->n_expert_groups || hp->n_expert_groups_used <= 0 ||
         hp->n_expert_groups_used > hp->n_expert_groups ||
         hp->n_expert_used > hp->n_expert_groups_used * (hp->n_expert / hp->n_expert_groups)))
        return pd_errorf(err, PD_EFORMAT, "%d experts in %d groups with %d used cannot give %d "
                         "experts a token", hp->n_expert, hp->n_expert_groups,
                         hp->n_expert_groups_used, hp->n_expert_used);
    return 0;
}

/* Multi-head latent attention's widths. Only the absorbed layout (attn_k_b / attn_v_b, written
 * by current converters with key_length_mla) is read; older files carry attn_kv_b instead. */
static int
load_mla(const struct pd_gguf *g, struct pd_hparams *hp, char *err)
{
    char key[128];
    int rc;
    int32_t dk = 0, dv = 0;
    if ((rc = require_u32(g, hp, "attention.kv_lora_rank", &hp->kv_lora_rank, err)) ||
        (rc = optional_u32(g, hp, "attention.q_lora_rank", &hp->q_lora_rank, err)) ||
        (rc = optional_u32(g, hp, "attention.key_length_mla", &dk, err)) ||
        (rc = optional_u32(g, hp, "attention.value_length_mla", &dv, err)))
        return rc;
    if (dk <= 0 || dv <= 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "'%s' lacks attention.key_length_mla: an older "
                         "conversion with attn_kv_b; convert the model again with a current "
                         "llama.cpp", arch_key(key, sizeof key, hp, "attention"));
    hp->head_dim = dk;
    hp->head_dim_v = dv;
    hp->n_head_kv = 1;
    return 0;
}

/* Expert counts and widths, and the routing rules llama.cpp hard-codes per architecture. */
static int
load_experts(const struct pd_gguf *g, struct pd_hparams *hp, char *err)
{
    int rc;
    if ((rc = optional_u32(g, hp, "expert_count", &hp->n_expert, err)) ||
        (rc = optional_u32(g, hp, "expert_used_count", &hp->n_expert_used, err)))
        return rc;
    bool moe_arch = hp->arch == PD_ARCH_QWEN2MOE || hp->arch == PD_ARCH_QWEN3MOE ||
                    hp->arch == PD_ARCH_OLMOE || hp->arch == PD_ARCH_DEEPSEEK2;
    if (hp->n_expert == 0 && !moe_arch)
        return 0;
    if (hp->n_expert <= 0 || hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert ||
        hp->n_expert_used > PD_MAX_EXPERTS_USED)
        return pd_errorf(err, PD_EFORMAT, "'%s' has %d experts with %d used per token; expected "
                         "1 <= used <= %d and used <= experts", hp->arch_name, hp->n_expert,
                         hp->n_expert_used, PD_MAX_EXPERTS_USED);
    hp->n_ff_exp = hp->n_ff;
    hp->gating = PD_GATING_SOFTMAX;
    hp->expert_weights_scale = 1.0f;
    if (hp->arch == PD_ARCH_DEEPSEEK2)
        return load_deepseek_experts(g, hp, err);
    if (hp->arch == PD_ARCH_QWEN2MOE || hp->arch == PD_ARCH_QWEN3MOE) {
        if (hp->n_ff > 0)
            hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
        if ((rc = optional_u32(g, hp, "expert_feed_forward_length", &hp->n_ff_exp, err)))
            return rc;
    }
    if (hp->arch == PD_ARCH_QWEN2MOE) {
        hp->n_ff_shexp = hp->n_ff;
        if ((rc = optional_u32(g, hp, "expert_shared_feed_forward_length", &hp->n_ff_shexp,
                               err)))
            return rc;
    }
    if (hp->n_ff_exp <= 0)
        return pd_errorf(err, PD_EFORMAT, "'%s': the experts' feed-forward width is missing",
                         hp->arch_name);
    /* Mixtral and Qwen3-MoE renormalize the chosen weights; Qwen2-MoE and OLMoE do not. */
    hp->expert_norm = hp->arch == PD_ARCH_LLAMA || hp->arch == PD_ARCH_QWEN3MOE;
    return 0;
}

/* YaRN's magnitude factor for a context stretched by scale, with coefficient m. */
static float
yarn_mscale(float scale, float m)
{
    return scale <= 1.0f ? 1.0f : 0.1f * m * logf(scale) + 1.0f;
}

/*
 * DeepSeek's YaRN, as llama.cpp applies it. The file stores 0.1 * mscale_all_dim as
 * rope.scaling.yarn_log_multiplier. With it (V2, V3), the rotation is left unscaled and the whole
 * attention score is scaled by mscale^2 instead, mscale = 1 + 0.1 * mscale_all_dim * ln(factor).
 * Without it, YaRN's usual factor applies to the rotation and, squared, to the score.
 */
static void
deepseek_yarn_scales(const struct pd_gguf *g, struct pd_hparams *hp)
{
    struct pd_rope *r = &hp->rope;
    if (r->ext_factor == 0.0f || r->freq_scale >= 1.0f)
        return;
    float log_mul = 0.0f;
    optional_f32(g, hp, "rope.scaling.yarn_log_multiplier", &log_mul);
    log_mul /= 0.1f;
    float factor = 1.0f / r->freq_scale;
    /* the rotation's magnitude: llama.cpp takes mscale = mscale_all_dim, so their ratio is 1 */
    float base = log_mul != 0.0f ? 1.0f : yarn_mscale(factor, 1.0f);
    /* pd_rope_cache multiplies by 1 + 0.1 ln(factor) itself, as ggml's rope does */
    r->attn_factor = base / (1.0f + 0.1f * logf(factor));
    float mscale = base * (1.0f + 0.1f * log_mul * logf(factor));
    hp->kq_scale = mscale * mscale / sqrtf((float)hp->head_dim);
}

static int
load_hparams(const struct pd_gguf *g, struct pd_hparams *hp, char *err)
{
    const char *arch = NULL;
    if (pd_gguf_get_str(g, "general.architecture", &arch) != 0)
        return pd_errorf(err, PD_EFORMAT, "required key 'general.architecture' is missing");
    size_t i;
    for (i = 0; i < PD_ARRAY_SIZE(known_archs); i++)
        if (strcmp(arch, known_archs[i].name) == 0)
            break;
    if (i == PD_ARRAY_SIZE(known_archs))
        return pd_errorf(err, PD_EUNSUPPORTED,
                         "architecture '%s' is not supported (supported: llama, qwen2, qwen3, "
                         "qwen2moe, qwen3moe, olmoe, deepseek2)",
                         arch);
    hp->arch = known_archs[i].arch;
    hp->arch_name = known_archs[i].name;

    int rc;
    if ((rc = require_u32(g, hp, "context_length", &hp->n_ctx_train, err)) ||
        (rc = require_u32(g, hp, "embedding_length", &hp->n_embd, err)) ||
        (rc = require_u32(g, hp, "block_count", &hp->n_layer, err)) ||
        (rc = require_u32(g, hp, "attention.head_count", &hp->n_head, err)))
        return rc;
    char key[128];
    bool has_expert_ff = pd_gguf_get(g, arch_key(key, sizeof key, hp,
                                                 "expert_feed_forward_length")) != NULL;
    if ((rc = (has_expert_ff ? optional_u32 : require_u32)(g, hp, "feed_forward_length",
                                                             &hp->n_ff, err)))
        return rc;
    hp->qk_norm_full = hp->arch == PD_ARCH_OLMOE;
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->arch == PD_ARCH_DEEPSEEK2) {
        if ((rc = load_mla(g, hp, err)) != 0)
            return rc;
    } else {
        if ((rc = optional_u32(g, hp, "attention.head_count_kv", &hp->n_head_kv, err)) ||
            (rc = optional_u32(g, hp, "attention.key_length", &hp->head_dim, err)))
            return rc;
        int32_t vlen = hp->head_dim;
        if ((rc = optional_u32(g, hp, "attention.value_length", &vlen, err)))
            return rc;
        if (vlen != hp->head_dim)
            return pd_errorf(err, PD_EUNSUPPORTED, "value head size %d differs from key head "
                             "size %d", vlen, hp->head_dim);
        hp->head_dim_v = hp->head_dim;
    }
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return pd_errorf(err, PD_EFORMAT, "%d query heads do not divide into %d key-value heads",
                         hp->n_head, hp->n_head_kv);
    if (pd_gguf_get_f32(g, arch_key(key, sizeof key, hp, "attention.layer_norm_rms_epsilon"),
                        &hp->rms_eps) != 0)
        return pd_errorf(err, PD_EFORMAT, "required key '%s' is missing", key);
    if ((rc = load_experts(g, hp, err)) != 0)
        return rc;
    if ((rc = load_rope(g, hp, err)) != 0)
        return rc;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (hp->arch == PD_ARCH_DEEPSEEK2)
        deepseek_yarn_scales(g, hp);
    return 0;
}

/* Bind tensor name (ne0 x ne1 x ne2 elements; ne1 = 0 for a vector, ne2 = 0 for a matrix) into
 * w. */
static int
bind3(struct pd_weight *w, const struct pd_gguf *g, const char *name, int64_t ne0, int64_t ne1,
      int64_t ne2, bool required, char *err)
{
    const struct pd_gguf_tensor *t = pd_gguf_tensor(g, name);
    if (t == NULL) {
        if (required)
            return pd_errorf(err, PD_EFORMAT, "tensor '%s' is missing", name);
        memset(w, 0, sizeof *w);
        return 0;
    }
    uint64_t want1 = ne1 ? (uint64_t)ne1 : 1, want2 = ne2 ? (uint64_t)ne2 : 1;
    if (t->ne[0] != (uint64_t)ne0 || t->ne[1] != want1 || t->ne[2] != want2 || t->ne[3] != 1)
        return pd_errorf(err, PD_EFORMAT,
                         "tensor '%s' has shape {%llu, %llu, %llu, %llu}, expected {%lld, %lld, "
                         "%lld}", name, (unsigned long long)t->ne[0],
                         (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                         (unsigned long long)t->ne[3], (long long)ne0, (long long)want1,
                         (long long)want2);
    const struct pd_type_traits *tr = pd_type_traits_get(t->type);
    if (tr == NULL || !tr->supported)
        return pd_errorf(err, PD_EUNSUPPORTED, "tensor '%s' has type %s, which is not supported",
                         name, tr ? tr->name : "unknown");
    if (ne1 == 0 && t->type != PD_TYPE_F32)
        return pd_errorf(err, PD_EUNSUPPORTED, "tensor '%s' (a norm or bias) must be f32, is %s",
                         name, tr->name);
    w->data = t->data;
    w->type = (enum pd_type)t->type;
    w->ne[0] = ne0;
    w->ne[1] = (int64_t)want1;
    w->ne[2] = (int64_t)want2;
    w->expert_stride = pd_type_row_size(w->type, ne0) * want1;
    return 0;
}

static int
bind(struct pd_weight *w, const struct pd_gguf *g, const char *name, int64_t ne0, int64_t ne1,
     bool required, char *err)
{
    return bind3(w, g, name, ne0, ne1, 0, required, err);
}

/* A fused {E, 2*Fe, X} gate-and-up expert tensor (each expert's Fe gate rows, then its Fe up
 * rows) seen as the two tensors it holds: same expert stride, the up view Fe rows further on. */
static void
split_gate_up(struct pd_weight *gate, struct pd_weight *up, int64_t Fe)
{
    size_t row = pd_type_row_size(gate->type, gate->ne[0]);
    gate->ne[1] = Fe;
    *up = *gate;
    up->data = (const char *)gate->data + (size_t)Fe * row;
}

/* The layout before llama.cpp merged the experts: one 2-D tensor per expert,
 * blk.N.ffn_KIND.E.weight. The converters wrote them expert after expert, so the X tensors of a
 * kind usually lie at one stride in the file: then they are bound in place with that stride, as
 * a merged tensor would be. Otherwise they are copied together into *copied, which the model
 * owns. */
static int
bind_split_experts(struct pd_weight *w, void **copied, const struct pd_gguf *g, int il,
                   const char *kind, int64_t ne0, int64_t ne1, int64_t X, char *err)
{
    char n[96];
    struct pd_weight one;
    const char *prev = NULL;
    ptrdiff_t stride = 0;
    bool even = true;
    int rc;
    for (int64_t e = 0; e < X; e++) {
        snprintf(n, sizeof n, "blk.%d.ffn_%s.%lld.weight", il, kind, (long long)e);
        if ((rc = bind(&one, g, n, ne0, ne1, true, err)) != 0)
            return rc;
        if (e == 0)
            *w = one;
        else if (one.type != w->type)
            return pd_errorf(err, PD_EUNSUPPORTED, "the experts of blk.%d.ffn_%s differ in type "
                             "(%s and %s)", il, kind, pd_type_traits_get(w->type)->name,
                             pd_type_traits_get(one.type)->name);
        else {
            ptrdiff_t d = (const char *)one.data - prev;
            if (e == 1)
                stride = d;
            even = even && d == stride;
        }
        prev = one.data;
    }
    size_t size = w->expert_stride; /* one expert's matrix */
    w->ne[2] = X;
    if (X == 1 || (even && stride >= (ptrdiff_t)size)) {
        w->expert_stride = X == 1 ? size : (size_t)stride;
        return 0;
    }
    char *buf = malloc(size * (size_t)X);
    if (buf == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory gathering the experts of blk.%d.ffn_%s",
                         il, kind);
    for (int64_t e = 0; e < X; e++) {
        snprintf(n, sizeof n, "blk.%d.ffn_%s.%lld.weight", il, kind, (long long)e);
        memcpy(buf + (size_t)e * size, pd_gguf_tensor(g, n)->data, size);
    }
    *copied = buf;
    w->data = buf;
    return 0;
}

static int
bind_ffn(struct pd_layer *l, const struct pd_gguf *g, const struct pd_hparams *hp, int il,
         char *err)
{
    int64_t E = hp->n_embd, F = hp->n_ff, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp;
    int64_t X = hp->n_expert;
    bool shexp = Fs > 0;
    bool gated_shexp = shexp && hp->arch == PD_ARCH_QWEN2MOE;
    char n[96];
    int rc;
#define B3(field, suffix, ne0, ne1, ne2, req)                              \
    do {                                                                   \
        snprintf(n, sizeof n, "blk.%d." suffix, il);                       \
        if ((rc = bind3(&l->field, g, n, ne0, ne1, ne2, req, err)) != 0)   \
            return rc;                                                     \
    } while (0)
    B3(ffn_norm, "ffn_norm.weight", E, 0, 0, true);
    l->moe = X > 0 && il >= hp->n_dense_lead;
    if (!l->moe) {
        B3(ffn_gate, "ffn_gate.weight", E, F, 0, true);
        B3(ffn_up, "ffn_up.weight", E, F, 0, true);
        B3(ffn_down, "ffn_down.weight", F, E, 0, true);
        return 0;
    }
    B3(ffn_gate_inp, "ffn_gate_inp.weight", E, X, 0, true);
    snprintf(n, sizeof n, "blk.%d.ffn_gate_up_exps.weight", il);
    bool fused = pd_gguf_tensor(g, n) != NULL;
    snprintf(n, sizeof n, "blk.%d.ffn_gate.0.weight", il);
    if (!fused && pd_gguf_tensor(g, n) != NULL) {
        if ((rc = bind_split_experts(&l->ffn_gate_exps, &l->experts_copied[0], g, il, "gate",
                                     E, Fe, X, err)) ||
            (rc = bind_split_experts(&l->ffn_up_exps, &l->experts_copied[1], g, il, "up", E, Fe,
                                     X, err)) ||
            (rc = bind_split_experts(&l->ffn_down_exps, &l->experts_copied[2], g, il, "down", Fe,
                                     E, X, err)))
            return rc;
    } else {
        if (fused) {
            B3(ffn_gate_exps, "ffn_gate_up_exps.weight", E, 2 * Fe, X, true);
            split_gate_up(&l->ffn_gate_exps, &l->ffn_up_exps, Fe);
        } else {
            B3(ffn_gate_exps, "ffn_gate_exps.weight", E, Fe, X, true);
            B3(ffn_up_exps, "ffn_up_exps.weight", E, Fe, X, true);
        }
        B3(ffn_down_exps, "ffn_down_exps.weight", Fe, E, X, true);
    }
    B3(exp_probs_b, "exp_probs_b.bias", X, 0, 0, false);
    B3(ffn_gate_inp_shexp, "ffn_gate_inp_shexp.weight", E, 0, 0, gated_shexp);
    B3(ffn_gate_shexp, "ffn_gate_shexp.weight", E, Fs, 0, shexp);
    B3(ffn_up_shexp, "ffn_up_shexp.weight", E, Fs, 0, shexp);
    B3(ffn_down_shexp, "ffn_down_shexp.weight", Fs, E, 0, shexp);
#undef B3
    return 0;
}

/* Multi-head latent attention's tensors (hparams glossary in model.h). */
static int
bind_mla(struct pd_layer *l, const struct pd_gguf *g, const struct pd_hparams *hp, int il,
         char *err)
{
    int64_t E = hp->n_embd, H = hp->n_head, Dk = hp->head_dim, Dv = hp->head_dim_v;
    int64_t Dr = hp->rope.n_rot, Dn = Dk - Dr, R = hp->kv_lora_rank, Rq = hp->q_lora_rank;
    char n[96];
    int rc;
#define B3(field, suffix, ne0, ne1, ne2, req)                              \
    do {                                                                   \
        snprintf(n, sizeof n, "blk.%d." suffix, il);                       \
        if ((rc = bind3(&l->field, g, n, ne0, ne1, ne2, req, err)) != 0)   \
            return rc;                                                     \
    } while (0)
    B3(attn_norm, "attn_norm.weight", E, 0, 0, true);
    B3(wq, "attn_q.weight", E, H * Dk, 0, Rq == 0);
    B3(wq_a, "attn_q_a.weight", E, Rq, 0, Rq > 0);
    B3(q_a_norm, "attn_q_a_norm.weight", Rq, 0, 0, Rq > 0);
    B3(wq_b, "attn_q_b.weight", Rq, H * Dk, 0, Rq > 0);
    B3(wkv_a, "attn_kv_a_mqa.weight", E, R + Dr, 0, true);
    B3(kv_a_norm, "attn_kv_a_norm.weight", R, 0, 0, true);
    B3(wk_b, "attn_k_b.weight", Dn, R, H, true);
    B3(wv_b, "attn_v_b.weight", R, Dv, H, true);
    B3(wo, "attn_output.weight", H * Dv, E, 0, true);
#undef B3
    return bind_ffn(l, g, hp, il, err);
}

static int
bind_layer(struct pd_layer *l, const struct pd_gguf *g, const struct pd_hparams *hp, int il,
           char *err)
{
    if (hp->arch == PD_ARCH_DEEPSEEK2)
        return bind_mla(l, g, hp, il, err);
    int64_t E = hp->n_embd, D = hp->head_dim;
    int64_t HD = (int64_t)hp->n_head * D, KD = (int64_t)hp->n_head_kv * D;
    bool qk_norm = hp->arch == PD_ARCH_QWEN3 || hp->arch == PD_ARCH_QWEN3MOE ||
                   hp->arch == PD_ARCH_OLMOE;
    bool qkv_bias = hp->arch == PD_ARCH_QWEN2;
    int64_t qn = hp->qk_norm_full ? HD : D, kn = hp->qk_norm_full ? KD : D;
    char n[96];
    int rc;
#define B(field, suffix, ne0, ne1, req)                                    \
    do {                                                                   \
        snprintf(n, sizeof n, "blk.%d." suffix, il);                       \
        if ((rc = bind(&l->field, g, n, ne0, ne1, req, err)) != 0)         \
            return rc;                                                     \
    } while (0)
    B(attn_norm, "attn_norm.weight", E, 0, true);
    B(wq, "attn_q.weight", E, HD, true);
    B(wk, "attn_k.weight", E, KD, true);
    B(wv, "attn_v.weight", E, KD, true);
    B(wo, "attn_output.weight", HD, E, true);
    B(bq, "attn_q.bias", HD, 0, qkv_bias);
    B(bk, "attn_k.bias", KD, 0, qkv_bias);
    B(bv, "attn_v.bias", KD, 0, qkv_bias);
    B(bo, "attn_output.bias", E, 0, false);
    B(q_norm, "attn_q_norm.weight", qn, 0, qk_norm);
    B(k_norm, "attn_k_norm.weight", kn, 0, qk_norm);
#undef B
    return bind_ffn(l, g, hp, il, err);
}

static int
bind_tensors(struct pd_model *m, char *err)
{
    const struct pd_gguf *g = m->gguf;
    const struct pd_hparams *hp = &m->hp;
    int rc;
    if ((rc = bind(&m->tok_embd, g, "token_embd.weight", hp->n_embd, hp->n_vocab, true, err)) ||
        (rc = bind(&m->output_norm, g, "output_norm.weight", hp->n_embd, 0, true, err)) ||
        (rc = bind(&m->output, g, "output.weight", hp->n_embd, hp->n_vocab, false, err)))
        return rc;
    m->tied_output = m->output.data == NULL;
    if (m->tied_output)
        m->output = m->tok_embd;
    struct pd_weight freqs;
    if ((rc = bind(&freqs, g, "rope_freqs.weight", hp->rope.n_rot / 2, 0, false, err)))
        return rc;
    if (freqs.data) {
        m->rope_freqs = malloc(sizeof(float) * (size_t)(hp->rope.n_rot / 2));
        if (m->rope_freqs == NULL)
            return pd_errorf(err, PD_ENOMEM, "out of memory");
        memcpy(m->rope_freqs, freqs.data, sizeof(float) * (size_t)(hp->rope.n_rot / 2));
        m->hp.rope.freq_factors = m->rope_freqs;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (m->layers == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = bind_layer(&m->layers[il], g, hp, il, err)) != 0)
            return rc;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    return 0;
}

int
pd_model_load(struct pd_model **out, const char *path, char *err)
{
    *out = NULL;
    struct pd_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = pd_gguf_open(&m->gguf, path, err);
    if (rc)
        goto fail;
    if ((rc = load_hparams(m->gguf, &m->hp, err)) != 0)
        goto fail;
    if ((rc = pd_tokenizer_load(&m->tok, m->gguf, err)) != 0)
        goto fail;
    m->hp.n_vocab = pd_tokenizer_n_vocab(m->tok);
    if ((rc = bind_tensors(m, err)) != 0)
        goto fail;
    m->name = NULL;
    pd_gguf_get_str(m->gguf, "general.name", &m->name);
    if (m->name == NULL) {
        const char *slash = strrchr(path, '/');
        m->name = m->name_owned = strdup(slash ? slash + 1 : path);
        if (m->name == NULL) {
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
            goto fail;
        }
    }
    m->chat_template = NULL;
    pd_gguf_get_str(m->gguf, "tokenizer.chat_template", &m->chat_template);
    *out = m;
    return 0;
fail:
    pd_model_free(m);
    return rc;
}

void
pd_model_free(struct pd_model *m)
{
    if (m == NULL)
        return;
    pd_model_repack_free(m);
    pd_tokenizer_free(m->tok);
    pd_gguf_close(m->gguf);
    free(m->rope_freqs);
    for (int il = 0; m->layers && il < m->hp.n_layer; il++)
        for (int k = 0; k < 3; k++)
            free(m->layers[il].experts_copied[k]);
    free(m->layers);
    free(m->name_owned);
    free(m);
}
