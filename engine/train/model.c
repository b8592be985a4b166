/*
 * model.c: the trainable model's config, its table of tensors over one flat buffer, the seeded
 * initialization, and the expert balancing. The forward and backward are model-fwd.c; export to
 * GGUF is model-gguf.c.
 */
#include "config.h"

#include "engine/train/model-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/train/optim.h"
#include "engine/train/ops.h"

/* ---- the config ------------------------------------------------------------------------- */

void
pd_tmodel_config_default(struct pd_tmodel_config *c)
{
    *c = (struct pd_tmodel_config){
        .n_vocab = 512, .n_ctx = 512, .n_embd = 128, .n_layer = 4, .n_head = 4,
        .q_lora_rank = 64, .kv_lora_rank = 64, .qk_nope = 32, .qk_rope = 16, .v_head = 32,
        .n_ff = 384, .n_dense_lead = 1, .n_expert = 8, .n_expert_used = 2, .n_ff_exp = 96,
        .n_expert_shared = 1, .n_group = 0, .n_group_used = 0, .sigmoid = true,
        .expert_norm = true, .expert_scale = 1.0f, .tied = false, .rms_eps = 1e-6f,
        .rope_base = 10000.0f,
    };
}

enum key_type { K_INT, K_BOOL, K_FLOAT, K_GATING };

static const struct {
    const char *key;
    enum key_type type;
    size_t off;
    double lo, hi;
} keys[] = {
#define KEY(k, t, f, lo, hi) { k, t, offsetof(struct pd_tmodel_config, f), lo, hi }
    KEY("vocab", K_INT, n_vocab, 1, 1 << 22),
    KEY("ctx", K_INT, n_ctx, 1, 1 << 20),
    KEY("embd", K_INT, n_embd, 1, 65536),
    KEY("layers", K_INT, n_layer, 1, 1024),
    KEY("heads", K_INT, n_head, 1, 1024),
    KEY("q_lora", K_INT, q_lora_rank, 0, 65536),
    KEY("kv_lora", K_INT, kv_lora_rank, 1, 65536),
    KEY("qk_nope", K_INT, qk_nope, 1, 4096),
    KEY("qk_rope", K_INT, qk_rope, 2, 4096),
    KEY("v_head", K_INT, v_head, 1, 4096),
    KEY("ff", K_INT, n_ff, 1, 1 << 20),
    KEY("dense_lead", K_INT, n_dense_lead, 0, 1024),
    KEY("experts", K_INT, n_expert, 0, 4096),
    KEY("experts_used", K_INT, n_expert_used, 0, 4096),
    KEY("ff_exp", K_INT, n_ff_exp, 0, 1 << 20),
    KEY("shared", K_INT, n_expert_shared, 0, 64),
    KEY("groups", K_INT, n_group, 0, 256),
    KEY("groups_used", K_INT, n_group_used, 0, 256),
    KEY("gating", K_GATING, sigmoid, 0, 0),
    KEY("expert_norm", K_BOOL, expert_norm, 0, 1),
    KEY("expert_scale", K_FLOAT, expert_scale, 1e-3, 1e3),
    KEY("tied", K_BOOL, tied, 0, 1),
    KEY("rms_eps", K_FLOAT, rms_eps, 1e-12, 1e-1),
    KEY("rope_base", K_FLOAT, rope_base, 1.0, 1e9),
#undef KEY
};

const char *
pd_tmodel_config_keys(void)
{
    return "vocab ctx embd layers heads q_lora kv_lora qk_nope qk_rope v_head ff dense_lead "
           "experts experts_used ff_exp shared groups groups_used gating(softmax|sigmoid) "
           "expert_norm expert_scale tied rms_eps rope_base";
}

int
pd_tmodel_config_set(struct pd_tmodel_config *c, const char *key, const char *value, char *err)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(keys); i++) {
        if (strcmp(keys[i].key, key) != 0)
            continue;
        char *p = (char *)c + keys[i].off, *end;
        if (keys[i].type == K_GATING) {
            if (strcmp(value, "sigmoid") != 0 && strcmp(value, "softmax") != 0)
                return pd_errorf(err, PD_EINVAL, "gating: '%s' is not softmax or sigmoid", value);
            *(bool *)p = strcmp(value, "sigmoid") == 0;
            return 0;
        }
        errno = 0;
        double v = keys[i].type == K_FLOAT ? strtod(value, &end) : (double)strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || !(v >= keys[i].lo && v <= keys[i].hi))
            return pd_errorf(err, PD_EINVAL, "%s: '%s' is not a number in %g..%g", key, value,
                             keys[i].lo, keys[i].hi);
        if (keys[i].type == K_INT)
            *(int32_t *)p = (int32_t)v;
        else if (keys[i].type == K_BOOL)
            *(bool *)p = v != 0;
        else
            *(float *)p = (float)v;
        return 0;
    }
    return pd_errorf(err, PD_ENOTFOUND, "unknown model key '%s' (keys: %s)", key,
                     pd_tmodel_config_keys());
}

int
pd_tmodel_config_format(const struct pd_tmodel_config *c, char *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(keys); i++) {
        const char *p = (const char *)c + keys[i].off;
        char val[64];
        switch (keys[i].type) {
        case K_INT: snprintf(val, sizeof val, "%" PRId32, *(const int32_t *)p); break;
        case K_BOOL: snprintf(val, sizeof val, "%d", *(const bool *)p ? 1 : 0); break;
        case K_FLOAT: snprintf(val, sizeof val, "%.9g", *(const float *)p); break;
        case K_GATING: snprintf(val, sizeof val, "%s", *(const bool *)p ? "sigmoid" : "softmax");
        }
        int n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, "%s=%s\n",
                         keys[i].key, val);
        len += (size_t)n;
    }
    return (int)len;
}

int
pd_tmodel_config_check(const struct pd_tmodel_config *c, char *err)
{
    if (c->n_vocab < 1 || c->n_embd < 1 || c->n_layer < 1 || c->n_head < 1 || c->n_ctx < 1)
        return pd_errorf(err, PD_EINVAL, "vocab, embd, layers, heads and ctx must be positive");
    if (c->kv_lora_rank < 1 || c->qk_nope < 1 || c->v_head < 1 || c->q_lora_rank < 0)
        return pd_errorf(err, PD_EINVAL, "kv_lora, qk_nope and v_head must be positive");
    if (c->qk_rope < 2 || c->qk_rope % 2 != 0)
        return pd_errorf(err, PD_EINVAL, "qk_rope %d: must be even and at least 2", c->qk_rope);
    if (c->n_dense_lead < 0 || c->n_dense_lead > c->n_layer)
        return pd_errorf(err, PD_EINVAL, "dense_lead %d: must be within 0..layers (%d)",
                         c->n_dense_lead, c->n_layer);
    bool moe = c->n_expert > 0 && c->n_dense_lead < c->n_layer;
    if (c->n_dense_lead > 0 && c->n_ff < 1)
        return pd_errorf(err, PD_EINVAL, "ff must be positive for the dense layers");
    if (!moe && c->n_ff < 1)
        return pd_errorf(err, PD_EINVAL, "ff must be positive for a dense model");
    if (moe) {
        if (c->n_expert_used < 1 || c->n_expert_used > c->n_expert)
            return pd_errorf(err, PD_EINVAL, "experts_used %d: must be within 1..experts (%d)",
                             c->n_expert_used, c->n_expert);
        if (c->n_ff_exp < 1)
            return pd_errorf(err, PD_EINVAL, "ff_exp must be positive in a MoE model");
        if (c->n_group > 1 && (c->n_expert % c->n_group != 0 || c->n_group_used < 1 ||
                               c->n_group_used > c->n_group ||
                               c->n_expert_used > c->n_group_used * (c->n_expert / c->n_group)))
            return pd_errorf(err, PD_EINVAL, "groups %d (used %d) do not fit %d experts, %d "
                             "used", c->n_group, c->n_group_used, c->n_expert,
                             c->n_expert_used);
    }
    if (!(c->rms_eps > 0) || !(c->rope_base > 0) || !(c->expert_scale > 0))
        return pd_errorf(err, PD_EINVAL, "rms_eps, rope_base and expert_scale must be positive");
    return 0;
}

/* ---- the table of tensors ----------------------------------------------------------------- */

struct table {
    struct pd_tmodel *m;
    int cap;
    int64_t n;
    int rc;
};

static int64_t
add(struct table *t, bool decay, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A tensor of shape [d0][d1][d2] (trailing zeros: fewer dims); returns its offset. */
static int64_t
add(struct table *t, bool decay, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
{
    struct pd_tmodel *m = t->m;
    if (t->rc != 0)
        return -1;
    if (m->n_tensors == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        struct pd_tparam *nt = realloc(m->tensors, (size_t)cap * sizeof *nt);
        if (nt == NULL) {
            t->rc = PD_ENOMEM;
            return -1;
        }
        m->tensors = nt;
        t->cap = cap;
    }
    struct pd_tparam *p = &m->tensors[m->n_tensors++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->n_dims = d2 ? 3 : d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1 ? d1 : 1;
    p->shape[2] = d2 ? d2 : 1;
    p->n = p->shape[0] * p->shape[1] * p->shape[2];
    p->offset = t->n;
    p->decay = decay;
    t->n += p->n;
    return p->offset;
}

/* The tensors in the order of the file: the embedding, each layer, the output norm and head. */
static int
build_table(struct pd_tmodel *m, struct tm_priv *pv)
{
    const struct pd_tmodel_config *c = &m->cfg;
    int64_t E = c->n_embd, H = c->n_head, Dn = c->qk_nope, Dr = c->qk_rope, Dv = c->v_head;
    int64_t R = c->kv_lora_rank, Rq = c->q_lora_rank, Dq = Dn + Dr, X = c->n_expert;
    int64_t Fe = c->n_ff_exp, Fs = (int64_t)c->n_expert_shared * Fe;
    struct table t = { .m = m };
    pv->tok_embd = add(&t, true, c->n_vocab, E, 0, "token_embd.weight");
    for (int il = 0; il < c->n_layer; il++) {
        struct tm_layer *L = &pv->layers[il];
        memset(L, 0xff, sizeof *L);   /* every offset -1 */
        L->attn_norm = add(&t, false, E, 0, 0, "blk.%d.attn_norm.weight", il);
        if (Rq > 0) {
            L->wq_a = add(&t, true, Rq, E, 0, "blk.%d.attn_q_a.weight", il);
            L->q_a_norm = add(&t, false, Rq, 0, 0, "blk.%d.attn_q_a_norm.weight", il);
            L->wq_b = add(&t, true, H * Dq, Rq, 0, "blk.%d.attn_q_b.weight", il);
        } else {
            L->wq = add(&t, true, H * Dq, E, 0, "blk.%d.attn_q.weight", il);
        }
        L->wkv_a = add(&t, true, R + Dr, E, 0, "blk.%d.attn_kv_a_mqa.weight", il);
        L->kv_a_norm = add(&t, false, R, 0, 0, "blk.%d.attn_kv_a_norm.weight", il);
        L->wk_b = add(&t, true, H * Dn, R, 0, "blk.%d.attn_k_b.weight", il);
        L->wv_b = add(&t, true, H * Dv, R, 0, "blk.%d.attn_v_b.weight", il);
        L->wo = add(&t, true, E, H * Dv, 0, "blk.%d.attn_output.weight", il);
        L->ffn_norm = add(&t, false, E, 0, 0, "blk.%d.ffn_norm.weight", il);
        if (il < c->n_dense_lead || X == 0) {
            L->gate = add(&t, true, c->n_ff, E, 0, "blk.%d.ffn_gate.weight", il);
            L->up = add(&t, true, c->n_ff, E, 0, "blk.%d.ffn_up.weight", il);
            L->down = add(&t, true, E, c->n_ff, 0, "blk.%d.ffn_down.weight", il);
            continue;
        }
        L->moe = m->n_moe++;
        L->router = add(&t, true, X, E, 0, "blk.%d.ffn_gate_inp.weight", il);
        L->gate_exps = add(&t, true, X, Fe, E, "blk.%d.ffn_gate_exps.weight", il);
        L->up_exps = add(&t, true, X, Fe, E, "blk.%d.ffn_up_exps.weight", il);
        L->down_exps = add(&t, true, X, E, Fe, "blk.%d.ffn_down_exps.weight", il);
        if (Fs > 0) {
            L->gate_sh = add(&t, true, Fs, E, 0, "blk.%d.ffn_gate_shexp.weight", il);
            L->up_sh = add(&t, true, Fs, E, 0, "blk.%d.ffn_up_shexp.weight", il);
            L->down_sh = add(&t, true, E, Fs, 0, "blk.%d.ffn_down_shexp.weight", il);
        }
    }
    pv->output_norm = add(&t, false, E, 0, 0, "output_norm.weight");
    pv->output = c->tied ? -1 : add(&t, true, c->n_vocab, E, 0, "output.weight");
    m->n_params = t.n;
    return t.rc;
}

/* ---- initialization ----------------------------------------------------------------------- */

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

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* A uniform in (0, 1): 53 bits, never 0. */
static double
rng_uniform(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

/* Normal values by Box-Muller, each tensor from its own stream so that adding a tensor does not
 * change the others. */
static void
init_tensor(float *w, const struct pd_tparam *p, uint64_t seed, int index, float std)
{
    struct rng r;
    uint64_t x = seed ^ ((uint64_t)(index + 1) * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&x);
    for (int64_t i = 0; i < p->n; i += 2) {
        double u1 = rng_uniform(&r), u2 = rng_uniform(&r), rad = sqrt(-2.0 * log(u1));
        w[i] = (float)(std * rad * cos(2.0 * M_PI * u2));
        if (i + 1 < p->n)
            w[i + 1] = (float)(std * rad * sin(2.0 * M_PI * u2));
    }
}

static bool
is_residual_out(const char *name)
{
    static const char *const outs[] = { "attn_output.weight", "ffn_down.weight",
                                        "ffn_down_shexp.weight", "ffn_down_exps.weight" };
    const char *dot = strchr(name, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    for (size_t i = 0; dot && i < PD_ARRAY_SIZE(outs); i++)
        if (strcmp(dot + 1, outs[i]) == 0)
            return true;
    return false;
}

int
pd_tmodel_new(struct pd_tmodel **out, const struct pd_tmodel_config *cfg, uint64_t seed,
              char *err)
{
    *out = NULL;
    int rc = pd_tmodel_config_check(cfg, err);
    if (rc != 0)
        return rc;
    struct pd_tmodel *m = calloc(1, sizeof *m);
    struct tm_priv *pv = calloc(1, sizeof *pv);
    if (m == NULL || pv == NULL) {
        free(m);
        free(pv);
        return pd_errorf(err, PD_ENOMEM, "out of memory for the model");
    }
    m->cfg = *cfg;
    m->priv = pv;
    pv->layers = calloc((size_t)cfg->n_layer, sizeof *pv->layers);
    if (pv->layers == NULL || build_table(m, pv) != 0)
        goto nomem;
    m->params = malloc((size_t)m->n_params * sizeof(float));
    m->grads = calloc((size_t)m->n_params, sizeof(float));
    size_t nb = (size_t)(m->n_moe ? m->n_moe : 1) * (size_t)(cfg->n_expert ? cfg->n_expert : 1);
    m->bias = calloc(nb, sizeof(float));
    m->load = calloc(nb, sizeof(float));
    if (m->params == NULL || m->grads == NULL || m->bias == NULL || m->load == NULL)
        goto nomem;
    float out_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        float *w = m->params + p->offset;
        if (!p->decay)
            for (int64_t j = 0; j < p->n; j++)
                w[j] = 1.0f;
        else
            init_tensor(w, p, seed, i, is_residual_out(p->name) ? out_std : 0.02f);
    }
    *out = m;
    return 0;
nomem:
    rc = pd_errorf(err, PD_ENOMEM, "out of memory for a model of %" PRId64 " parameters",
                   m->n_params);
    pd_tmodel_free(m);
    return rc;
}

void
pd_tmodel_free(struct pd_tmodel *m)
{
    if (m == NULL)
        return;
    struct tm_priv *pv = tm_priv(m);
    if (pv != NULL) {
        pd_tmodel_free_acts(m);
        free(pv->layers);
        free(pv->kb_export);
        free(pv);
    }
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->bias);
    free(m->load);
    free(m);
}

const struct pd_tparam *
pd_tmodel_find(const struct pd_tmodel *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

/* ---- balancing ------------------------------------------------------------------------------ */

float
pd_tmodel_imbalance(const struct pd_tmodel *m)
{
    int X = m->cfg.n_expert;
    float worst = 1.0f;
    for (int l = 0; l < m->n_moe; l++) {
        float max = 0.0f;
        for (int e = 0; e < X; e++)
            max = PD_MAX(max, m->load[l * X + e]);
        worst = PD_MAX(worst, max * X);
    }
    return worst;
}

float
pd_tmodel_balance(struct pd_tmodel *m, float gamma)
{
    int X = m->cfg.n_expert;
    for (int l = 0; l < m->n_moe; l++)
        pd_optim_balance(m->bias + l * X, m->load + l * X, X, gamma);
    return pd_tmodel_imbalance(m);
}

void
pd_tmodel_adamw(struct pd_tmodel *m, float *m1, float *m2, const struct pd_adamw *h, float lr,
                int64_t t)
{
    struct pd_adamw nd = *h;
    nd.weight_decay = 0.0f;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        pd_optim_adamw_step(m->params + p->offset, m1 + p->offset, m2 + p->offset,
                            m->grads + p->offset, p->n, p->decay ? h : &nd, lr, t);
    }
}
