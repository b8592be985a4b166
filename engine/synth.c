/*
 * synth.c: writing synthetic models (see synth.h); their shapes are synth-shape.c.
 *
 * One walk over the tensors of a shape (each_tensor) serves three purposes: counting parameters
 * and bytes, the plan of a write, and nothing else, so the sizes --list prints are the sizes
 * written. Each tensor gets its own generator, seeded from the run's seed and the tensor's
 * position, and draws its rows in order; the writer asks for them a few MiB at a time.
 *
 * Values: an approximate normal (the sum of four 16-bit uniforms, centred and scaled to unit
 * variance; cheap, and bounded at +-3.5 sigma) times 1/sqrt(fan-in) for matrices and routers,
 * 0.02 for biases, ones for norms.
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
#include <sys/statvfs.h>

#include "engine/gguf.h"

/* ---- the tensors of a shape ------------------------------------------------------------- */

enum tensor_kind {
    T_NORM,     /* ones, F32 */
    T_VEC,      /* a bias or gate vector: small values, F32 */
    T_ROUTER,   /* 1/sqrt(fan-in), F32 */
    T_MAT,      /* 1/sqrt(fan-in), the file's type */
};

struct synth_tensor {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[PD_GGUF_MAX_DIMS];
    enum tensor_kind kind;
    enum pd_type type;
    uint64_t nbytes;
};

struct plan {
    struct synth_tensor *t;
    size_t n, cap;
    enum pd_type type;
    uint64_t n_params, data_bytes;
    int rc;
};

static void
add(struct plan *p, enum tensor_kind kind, int64_t ne0, int64_t ne1, int64_t ne2,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
add(struct plan *p, enum tensor_kind kind, int64_t ne0, int64_t ne1, int64_t ne2,
    const char *fmt, ...)
{
    if (p->rc != 0)
        return;
    struct synth_tensor t = { .kind = kind };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t.name, sizeof t.name, fmt, ap);
    va_end(ap);
    t.n_dims = ne2 ? 3 : ne1 ? 2 : 1;
    t.ne[0] = (uint64_t)ne0;
    t.ne[1] = ne1 ? (uint64_t)ne1 : 1;
    t.ne[2] = ne2 ? (uint64_t)ne2 : 1;
    t.ne[3] = 1;
    t.type = PD_TYPE_F32;
    if (kind == T_MAT) {
        t.type = p->type;
        const struct pd_type_traits *tr = pd_type_traits_get(p->type);
        if (ne0 % tr->block_size != 0)
            t.type = PD_TYPE_F16;
    }
    uint64_t n = t.ne[0] * t.ne[1] * t.ne[2];
    t.nbytes = pd_type_row_size(t.type, ne0) * t.ne[1] * t.ne[2];
    p->n_params += n;
    p->data_bytes += (t.nbytes + PD_GGUF_DEFAULT_ALIGNMENT - 1) / PD_GGUF_DEFAULT_ALIGNMENT *
                     PD_GGUF_DEFAULT_ALIGNMENT;
    if (p->t == NULL && p->cap == SIZE_MAX)
        return;   /* counting only */
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        struct synth_tensor *nt = realloc(p->t, cap * sizeof *nt);
        if (nt == NULL) {
            p->rc = PD_ENOMEM;
            return;
        }
        p->t = nt;
        p->cap = cap;
    }
    p->t[p->n++] = t;
}

/* Experts' FFN of layer il: router, three merged expert tensors. */
static void
add_experts(struct plan *p, const struct pd_synth_shape *s, int il, int64_t Fe)
{
    int64_t E = s->n_embd, X = s->n_expert;
    add(p, T_ROUTER, E, X, 0, "blk.%d.ffn_gate_inp.weight", il);
    add(p, T_MAT, E, Fe, X, "blk.%d.ffn_gate_exps.weight", il);
    add(p, T_MAT, E, Fe, X, "blk.%d.ffn_up_exps.weight", il);
    add(p, T_MAT, Fe, E, X, "blk.%d.ffn_down_exps.weight", il);
}

static void
add_dense_ffn(struct plan *p, const struct pd_synth_shape *s, int il, int64_t F,
              const char *suffix)
{
    int64_t E = s->n_embd;
    add(p, T_MAT, E, F, 0, "blk.%d.ffn_gate%s.weight", il, suffix);
    add(p, T_MAT, E, F, 0, "blk.%d.ffn_up%s.weight", il, suffix);
    add(p, T_MAT, F, E, 0, "blk.%d.ffn_down%s.weight", il, suffix);
}

static void
add_deepseek2_layer(struct plan *p, const struct pd_synth_shape *s, int il)
{
    int64_t E = s->n_embd, H = s->n_head, R = s->kv_lora_rank, Dr = s->qk_rope;
    int64_t Dn = s->qk_nope, Dv = s->v_head, Dk = Dn + Dr, Rq = s->q_lora_rank;
    add(p, T_NORM, E, 0, 0, "blk.%d.attn_norm.weight", il);
    if (Rq > 0) {
        add(p, T_MAT, E, Rq, 0, "blk.%d.attn_q_a.weight", il);
        add(p, T_NORM, Rq, 0, 0, "blk.%d.attn_q_a_norm.weight", il);
        add(p, T_MAT, Rq, H * Dk, 0, "blk.%d.attn_q_b.weight", il);
    } else {
        add(p, T_MAT, E, H * Dk, 0, "blk.%d.attn_q.weight", il);
    }
    add(p, T_MAT, E, R + Dr, 0, "blk.%d.attn_kv_a_mqa.weight", il);
    add(p, T_NORM, R, 0, 0, "blk.%d.attn_kv_a_norm.weight", il);
    add(p, T_MAT, Dn, R, H, "blk.%d.attn_k_b.weight", il);
    add(p, T_MAT, R, Dv, H, "blk.%d.attn_v_b.weight", il);
    add(p, T_MAT, H * Dv, E, 0, "blk.%d.attn_output.weight", il);
    add(p, T_NORM, E, 0, 0, "blk.%d.ffn_norm.weight", il);
    if (il < s->n_dense_lead) {
        add_dense_ffn(p, s, il, s->n_ff, "");
        return;
    }
    add_experts(p, s, il, s->n_ff_exp);
    if (s->expert_bias)
        add(p, T_VEC, s->n_expert, 0, 0, "blk.%d.exp_probs_b.bias", il);
    if (s->n_expert_shared > 0)
        add_dense_ffn(p, s, il, s->n_expert_shared * s->n_ff_exp, "_shexp");
}

static void
add_layer(struct plan *p, const struct pd_synth_shape *s, int il)
{
    if (pd_synth_is_arch(s, "deepseek2")) {
        add_deepseek2_layer(p, s, il);
        return;
    }
    int64_t E = s->n_embd, D = pd_synth_head_dim(s);
    int64_t HD = s->n_head * D, KD = s->n_head_kv * D;
    add(p, T_NORM, E, 0, 0, "blk.%d.attn_norm.weight", il);
    add(p, T_MAT, E, HD, 0, "blk.%d.attn_q.weight", il);
    add(p, T_MAT, E, KD, 0, "blk.%d.attn_k.weight", il);
    add(p, T_MAT, E, KD, 0, "blk.%d.attn_v.weight", il);
    if (s->qkv_bias) {
        add(p, T_VEC, HD, 0, 0, "blk.%d.attn_q.bias", il);
        add(p, T_VEC, KD, 0, 0, "blk.%d.attn_k.bias", il);
        add(p, T_VEC, KD, 0, 0, "blk.%d.attn_v.bias", il);
    }
    if (pd_synth_is_arch(s, "qwen3") || pd_synth_is_arch(s, "qwen3moe")) {
        add(p, T_NORM, D, 0, 0, "blk.%d.attn_q_norm.weight", il);
        add(p, T_NORM, D, 0, 0, "blk.%d.attn_k_norm.weight", il);
    } else if (pd_synth_is_arch(s, "olmoe")) {
        add(p, T_NORM, HD, 0, 0, "blk.%d.attn_q_norm.weight", il);
        add(p, T_NORM, KD, 0, 0, "blk.%d.attn_k_norm.weight", il);
    }
    add(p, T_MAT, HD, E, 0, "blk.%d.attn_output.weight", il);
    add(p, T_NORM, E, 0, 0, "blk.%d.ffn_norm.weight", il);
    if (s->n_expert == 0) {
        add_dense_ffn(p, s, il, s->n_ff, "");
        return;
    }
    bool ff_experts = pd_synth_is_arch(s, "olmoe") || pd_synth_is_arch(s, "llama");
    add_experts(p, s, il, ff_experts ? s->n_ff : s->n_ff_exp);
    if (pd_synth_is_arch(s, "qwen2moe") && s->n_ff_shexp > 0) {
        add(p, T_VEC, E, 0, 0, "blk.%d.ffn_gate_inp_shexp.weight", il);
        add_dense_ffn(p, s, il, s->n_ff_shexp, "_shexp");
    }
}

/* The whole model, in the order of the file. */
static int
make_plan(struct plan *p, const struct pd_synth_shape *s, enum pd_type type, bool count_only,
          char *err)
{
    memset(p, 0, sizeof *p);
    int rc = pd_synth_shape_check(s, err);
    if (rc != 0)
        return rc;
    if (!pd_synth_type_ok(type))
        return pd_errorf(err, PD_EINVAL, "type %d cannot be written (known: %s)", (int)type,
                         pd_synth_type_names());
    p->type = type;
    if (count_only)
        p->cap = SIZE_MAX;
    add(p, T_MAT, s->n_embd, s->n_vocab, 0, "token_embd.weight");
    for (int il = 0; il < s->n_layer; il++)
        add_layer(p, s, il);
    add(p, T_NORM, s->n_embd, 0, 0, "output_norm.weight");
    if (!s->tied)
        add(p, T_MAT, s->n_embd, s->n_vocab, 0, "output.weight");
    if (p->rc != 0)
        return pd_errorf(err, p->rc, "out of memory for the tensor list");
    return 0;
}

int
pd_synth_size(const struct pd_synth_shape *s, enum pd_type type, uint64_t *n_params,
              uint64_t *data_bytes, char *err)
{
    struct plan p;
    int rc = make_plan(&p, s, type, true, err);
    if (rc != 0)
        return rc;
    *n_params = p.n_params;
    *data_bytes = p.data_bytes;
    return 0;
}

/* ---- metadata --------------------------------------------------------------------------- */

/* GPT-2's byte-to-unicode alphabet: the UTF-8 text of the token for byte b, in token order. */
static void
byte_tokens(char out[256][4])
{
    int cps[256], n = 0, extra = 0;
    bool printable[256] = { false };
    for (int b = '!'; b <= '~'; b++)
        printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; b++)
        printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; b++)
        printable[b] = true;
    for (int b = 0; b < 256; b++)
        if (printable[b])
            cps[n++] = b;
    for (int b = 0; b < 256; b++)
        if (!printable[b])
            cps[n++] = 256 + extra++;
    for (int i = 0; i < 256; i++) {
        int c = cps[i];
        memset(out[i], 0, 4);
        if (c < 0x80) {
            out[i][0] = (char)c;
        } else {
            out[i][0] = (char)(0xC0 | (c >> 6));
            out[i][1] = (char)(0x80 | (c & 0x3F));
        }
    }
}

static const char *const merges[] = { "\xC4\xA0 t", "h e", "\xC4\xA0t he", "i n" };
static const char *const merged[] = { "\xC4\xA0t", "he", "\xC4\xA0the", "in" };
static const char *const controls[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };

static int
set_tokenizer(struct pd_gguf_writer *w, const struct pd_synth_shape *s, char *err)
{
    size_t V = (size_t)s->n_vocab;
    char bytes[256][4];
    byte_tokens(bytes);
    const char **tok = calloc(V, sizeof *tok);
    char *fill = malloc((V - 256) * 24);
    int32_t *ty = malloc(V * sizeof *ty);
    int rc = PD_ENOMEM;
    if (tok == NULL || fill == NULL || ty == NULL)
        goto out;
    size_t i = 0;
    for (; i < 256; i++) {
        tok[i] = bytes[i];
        ty[i] = 1;
    }
    for (size_t j = 0; j < PD_ARRAY_SIZE(merged); j++, i++) {
        tok[i] = merged[j];
        ty[i] = 1;
    }
    size_t eos = i;
    for (size_t j = 0; j < PD_ARRAY_SIZE(controls); j++, i++) {
        tok[i] = controls[j];
        ty[i] = 3;
    }
    for (; i < V; i++) {
        char *f = fill + (i - 256) * 24;
        snprintf(f, 24, "<|synth_%u|>", (unsigned)i);
        tok[i] = f;
        ty[i] = 1;
    }
    if ((rc = pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (rc = pd_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default")) ||
        (rc = pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, V)) ||
        (rc = pd_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PD_GGUF_TYPE_INT32, ty, V)) ||
        (rc = pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges,
                                         PD_ARRAY_SIZE(merges))) ||
        (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eos)) ||
        (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos)) ||
        (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)eos)) ||
        (rc = pd_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false)))
        goto out;
    rc = 0;
out:
    free(tok);
    free(fill);
    free(ty);
    return rc ? pd_errorf(err, rc, "tokenizer metadata: %s", pd_strerror(rc)) : 0;
}

static int
set_hparams(struct pd_gguf_writer *w, const struct pd_synth_shape *s, enum pd_type type)
{
    const char *a = s->arch;
    char k[128];
    int rc = 0;
#define U32(suffix, v) \
    (snprintf(k, sizeof k, "%s." suffix, a), pd_gguf_writer_set_u32(w, k, (uint32_t)(v)))
#define F32(suffix, v) \
    (snprintf(k, sizeof k, "%s." suffix, a), pd_gguf_writer_set_f32(w, k, (float)(v)))
    if ((rc = pd_gguf_writer_set_str(w, "general.architecture", a)) ||
        (rc = pd_gguf_writer_set_str(w, "general.name", s->name)) ||
        (rc = pd_gguf_writer_set_u32(w, "general.file_type", pd_synth_file_type(type))) ||
        (rc = pd_gguf_writer_set_u32(w, "general.quantization_version", 2)) ||
        (rc = U32("context_length", s->n_ctx)) || (rc = U32("embedding_length", s->n_embd)) ||
        (rc = U32("block_count", s->n_layer)) ||
        (rc = U32("attention.head_count", s->n_head)) ||
        (rc = F32("attention.layer_norm_rms_epsilon", s->rms_eps)) ||
        (rc = F32("rope.freq_base", s->rope_base)) || (rc = U32("vocab_size", s->n_vocab)))
        return rc;
    if (s->n_ff > 0 && (rc = U32("feed_forward_length", s->n_ff)))
        return rc;
    if (s->n_expert > 0 && ((rc = U32("expert_count", s->n_expert)) ||
                            (rc = U32("expert_used_count", s->n_expert_used))))
        return rc;
    if (pd_synth_is_arch(s, "deepseek2")) {
        int64_t R = s->kv_lora_rank, Dr = s->qk_rope;
        if ((rc = U32("attention.head_count_kv", 1)) ||
            (rc = U32("attention.key_length", R + Dr)) ||
            (rc = U32("attention.value_length", R)) ||
            (rc = U32("attention.key_length_mla", s->qk_nope + Dr)) ||
            (rc = U32("attention.value_length_mla", s->v_head)) ||
            (rc = U32("attention.q_lora_rank", s->q_lora_rank)) ||
            (rc = U32("attention.kv_lora_rank", R)) || (rc = U32("rope.dimension_count", Dr)) ||
            (rc = U32("leading_dense_block_count", s->n_dense_lead)) ||
            (rc = U32("expert_feed_forward_length", s->n_ff_exp)) ||
            (rc = U32("expert_shared_count", s->n_expert_shared)) ||
            (rc = F32("expert_weights_scale", s->expert_scale > 0 ? s->expert_scale : 1.0)) ||
            (rc = (snprintf(k, sizeof k, "%s.expert_weights_norm", a),
                   pd_gguf_writer_set_bool(w, k, s->expert_norm))) ||
            (rc = U32("expert_gating_func", s->gating_func)) ||
            (rc = U32("expert_group_count", s->n_group)) ||
            (rc = U32("expert_group_used_count", s->n_group_used)))
            return rc;
    } else {
        int64_t D = pd_synth_head_dim(s);
        if ((rc = U32("attention.head_count_kv", s->n_head_kv)) ||
            (rc = U32("attention.key_length", D)) || (rc = U32("attention.value_length", D)) ||
            (rc = U32("rope.dimension_count", D)))
            return rc;
        if (s->n_expert > 0 && (pd_synth_is_arch(s, "qwen2moe") || pd_synth_is_arch(s, "qwen3moe")) &&
            (rc = U32("expert_feed_forward_length", s->n_ff_exp)))
            return rc;
        if (pd_synth_is_arch(s, "qwen2moe") && s->n_ff_shexp > 0 &&
            (rc = U32("expert_shared_feed_forward_length", s->n_ff_shexp)))
            return rc;
    }
    if (strcmp(s->rope_scaling, "none") != 0) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        if ((rc = pd_gguf_writer_set_str(w, k, s->rope_scaling)) ||
            (rc = F32("rope.scaling.factor", s->rope_factor > 0 ? s->rope_factor : 1.0)))
            return rc;
        if (strcmp(s->rope_scaling, "yarn") == 0 && s->rope_orig_ctx > 0 &&
            (rc = U32("rope.scaling.original_context_length", s->rope_orig_ctx)))
            return rc;
        if (strcmp(s->rope_scaling, "yarn") == 0 && s->yarn_log_mul > 0 &&
            (rc = F32("rope.scaling.yarn_log_multiplier", s->yarn_log_mul)))
            return rc;
    }
#undef U32
#undef F32
    return 0;
}

/* ---- values ----------------------------------------------------------------------------- */

struct rng {
    uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static inline uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* n values of mean 0 and standard deviation std (sum of four 16-bit uniforms). */
static void
rng_normal(struct rng *r, float *dst, int64_t n, float std)
{
    const float scale = std * 1.7320508f / 65536.0f;   /* sqrt(3): four U(0,1) have var 1/3 */
    const float mid = 2.0f * 65535.0f;                 /* four means of 65535/2 */
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = rng_next(r);
        uint32_t sum = (uint32_t)(x & 0xFFFF) + (uint32_t)((x >> 16) & 0xFFFF) +
                       (uint32_t)((x >> 32) & 0xFFFF) + (uint32_t)(x >> 48);
        dst[i] = ((float)sum - mid) * scale;
    }
}

struct gen {
    const struct plan *plan;
    uint64_t seed;
    struct rng rng;
    float *row;
    int64_t row_cap;
    uint64_t done, total;
    pd_synth_progress_fn progress;
    void *ud;
};

static int
fill_tensor(void *ud, size_t index, uint64_t row0, uint64_t n_rows, void *buf, char *err)
{
    struct gen *g = ud;
    const struct synth_tensor *t = &g->plan->t[index];
    int64_t ne0 = (int64_t)t->ne[0];
    size_t row_bytes = pd_type_row_size(t->type, ne0);
    if (row0 == 0)
        rng_seed(&g->rng, g->seed, index + 1);
    if (ne0 > g->row_cap) {
        float *r = realloc(g->row, (size_t)ne0 * sizeof *r);
        if (r == NULL)
            return pd_errorf(err, PD_ENOMEM, "out of memory for a row of %" PRId64, ne0);
        g->row = r;
        g->row_cap = ne0;
    }
    float std = t->kind == T_VEC ? 0.02f : 1.0f / sqrtf((float)ne0);
    for (uint64_t r = 0; r < n_rows; r++) {
        if (t->kind == T_NORM)
            for (int64_t i = 0; i < ne0; i++)
                g->row[i] = 1.0f;
        else
            rng_normal(&g->rng, g->row, ne0, std);
        if (!pd_quantize_row(t->type, g->row, (char *)buf + r * row_bytes, ne0))
            return pd_errorf(err, PD_EUNSUPPORTED, "tensor '%s': cannot produce type %s",
                             t->name, pd_type_traits_get(t->type)->name);
    }
    g->done += n_rows * row_bytes;
    if (g->progress != NULL)
        g->progress(g->ud, g->done, g->total);
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Bytes free for an unprivileged writer in the directory of path; -1 when unknown. */
static int64_t
free_bytes(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return -1;
    uint64_t n = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

int
pd_synth_write(const struct pd_synth_shape *s, enum pd_type type, uint64_t seed,
               const char *path, pd_synth_progress_fn progress, void *ud, char *err)
{
    struct plan p;
    int rc = make_plan(&p, s, type, false, err);
    if (rc != 0) {
        free(p.t);
        return rc;
    }
    struct gen g = { .plan = &p, .seed = seed, .progress = progress, .ud = ud };
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    if (w == NULL) {
        rc = pd_errorf(err, PD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = set_hparams(w, s, type)) != 0) {
        rc = pd_errorf(err, rc, "metadata: %s", pd_strerror(rc));
        goto out;
    }
    if ((rc = set_tokenizer(w, s, err)) != 0)
        goto out;
    for (size_t i = 0; i < p.n; i++) {
        const struct synth_tensor *t = &p.t[i];
        rc = pd_gguf_writer_add_tensor_fill(w, t->name, t->type, t->n_dims, t->ne, fill_tensor,
                                            &g);
        if (rc != 0) {
            rc = pd_errorf(err, rc, "tensor '%s': %s", t->name, pd_strerror(rc));
            goto out;
        }
    }
    g.total = pd_gguf_writer_file_size(w);
    int64_t avail = free_bytes(path);
    uint64_t margin = 1u << 20;
    if (avail >= 0 && (uint64_t)avail < g.total + margin) {
        rc = pd_errorf(err, PD_EIO, "%s: not enough disk space: the model needs %.2f GiB, %.2f "
                       "GiB are free there", path, g.total / 1073741824.0,
                       avail / 1073741824.0);
        goto out;
    }
    rc = pd_gguf_writer_write(w, path, err);
out:
    pd_gguf_writer_free(w);
    free(g.row);
    free(p.t);
    return rc;
}
