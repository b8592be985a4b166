/*
 * lora.c: reading a LoRA adapter GGUF against the model it adapts (lora.h). Every check is made
 * before the adapter is used: the file's kind and architecture, each tensor's name, pairing, base
 * weight and shapes. The pairs are copied out as float32, so the file is closed on return and
 * the forward reads plain rows whatever type the adapter was stored in.
 */
#include "config.h"

#include "engine/lora.h"

#include <inttypes.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"

struct pd_lora {
    int n;
    struct pd_lora_pair *pairs;
    int32_t max_r;
};

void
pd_lora_free(struct pd_lora *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n; i++) {
        free(l->pairs[i].a);
        free(l->pairs[i].b);
    }
    free(l->pairs);
    free(l);
}

int
pd_lora_count(const struct pd_lora *l)
{
    return l->n;
}

int32_t
pd_lora_max_rank(const struct pd_lora *l)
{
    return l->max_r;
}

const struct pd_lora_pair *
pd_lora_find(const struct pd_lora *l, const struct pd_weight *w)
{
    /* a few hundred pairs at most, looked up once per product: a scan is cheap beside it */
    for (int i = 0; i < l->n; i++)
        if (l->pairs[i].base == w->data)
            return &l->pairs[i];
    return NULL;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The model's weight whose data is base, when the forward runs it as a plain matrix product. */
static const struct pd_weight *
projection_of(const struct pd_model *m, const void *base)
{
    if (m->output.data == base && !m->tied_output)
        return &m->output;
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const struct pd_layer *l = &m->layers[il];
        const struct pd_weight *ws[] = {
            &l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down,
            &l->ffn_gate_inp, &l->ffn_gate_shexp, &l->ffn_up_shexp, &l->ffn_down_shexp,
            &l->wq_a, &l->wq_b, &l->wkv_a,
        };
        for (size_t i = 0; i < PD_ARRAY_SIZE(ws); i++)
            if (ws[i]->data == base && ws[i]->ne[2] == 1)
                return ws[i];
    }
    return NULL;
}

/* A tensor as floats, row-major as stored (malloc'd), or NULL when its type cannot be read. */
static float *
to_floats(const struct pd_gguf_tensor *t)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t->type);
    if (tr == NULL || !tr->supported || t->ne[0] % tr->block_size != 0)
        return NULL;
    float *out = malloc(sizeof(float) * t->ne[0] * t->ne[1]);
    size_t row = pd_type_row_size((enum pd_type)t->type, (int64_t)t->ne[0]);
    for (uint64_t i = 0; out && i < t->ne[1]; i++)
        pd_dequantize_row((enum pd_type)t->type, (const char *)t->data + i * row,
                          out + i * t->ne[0], (int64_t)t->ne[0]);
    return out;
}

/* Check one pair against its base weight and copy it out into p. */
static int
bind_pair(struct pd_lora_pair *p, const struct pd_model *m, const struct pd_gguf_tensor *a,
          const struct pd_gguf_tensor *b, const char *base_name, float scale, float alpha,
          const char *path, char *err)
{
    if (strcmp(base_name, "token_embd.weight") == 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s: an adapter of token_embd.weight is not "
                         "supported", path);
    const struct pd_gguf_tensor *w = pd_gguf_tensor(m->gguf, base_name);
    if (w == NULL)
        return pd_errorf(err, PD_EINVAL, "%s: tensor %s.lora_a adapts %s, which the model does "
                         "not have (an adapter for another model?)", path, base_name, base_name);
    const struct pd_weight *pw = projection_of(m, w->data);
    if (pw == NULL || w->n_dims != 2)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s: %s is not a 2-D projection ponder applies "
                         "adapters to", path, base_name);
    if (a->n_dims != 2 || b->n_dims != 2)
        return pd_errorf(err, PD_EINVAL, "%s: %s: lora_a and lora_b must be 2-D (they have %u "
                         "and %u dimensions)", path, base_name, a->n_dims, b->n_dims);
    if (a->ne[0] != w->ne[0] || b->ne[1] != w->ne[1] || a->ne[1] != b->ne[0] || a->ne[1] == 0)
        return pd_errorf(err, PD_EINVAL, "%s: %s is {%" PRIu64 ", %" PRIu64 "}: lora_a must be "
                         "{%" PRIu64 ", r} and lora_b {r, %" PRIu64 "}, but they are {%" PRIu64
                         ", %" PRIu64 "} and {%" PRIu64 ", %" PRIu64 "}", path, base_name,
                         w->ne[0], w->ne[1], w->ne[0], w->ne[1], a->ne[0], a->ne[1], b->ne[0],
                         b->ne[1]);
    p->base = w->data;
    p->n_in = (int64_t)w->ne[0];
    p->n_out = (int64_t)w->ne[1];
    p->r = (int32_t)a->ne[1];
    p->s = alpha != 0.0f ? scale * alpha / (float)p->r : scale;
    p->a = to_floats(a);
    p->b = to_floats(b);
    if (p->a == NULL || p->b == NULL)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s: %s: cannot read lora tensors of type %s "
                         "and %s (or out of memory)", path, base_name,
                         pd_type_traits_get(a->type) ? pd_type_traits_get(a->type)->name : "?",
                         pd_type_traits_get(b->type) ? pd_type_traits_get(b->type)->name : "?");
    return 0;
}

/* The metadata: kind, architecture, alpha. */
static int
check_header(const struct pd_gguf *g, const struct pd_model *m, const char *path, float *alpha,
             char *err)
{
    const char *type = NULL, *arch = NULL, *atype = NULL;
    pd_gguf_get_str(g, "general.type", &type);
    if (type == NULL || strcmp(type, "adapter") != 0)
        return pd_errorf(err, PD_EFORMAT, "%s: not a LoRA adapter (general.type is '%s', an "
                         "adapter has 'adapter')", path, type ? type : "absent");
    pd_gguf_get_str(g, "adapter.type", &atype);
    if (atype == NULL || strcmp(atype, "lora") != 0)
        return pd_errorf(err, PD_EFORMAT, "%s: adapter.type is '%s': only 'lora' adapters are "
                         "read", path, atype ? atype : "absent");
    pd_gguf_get_str(g, "general.architecture", &arch);
    if (arch == NULL || strcmp(arch, m->hp.arch_name) != 0)
        return pd_errorf(err, PD_EINVAL, "%s: the adapter is for architecture '%s' and the model "
                         "is '%s'", path, arch ? arch : "absent", m->hp.arch_name);
    *alpha = 0.0f;
    int rc = pd_gguf_get_f32(g, "adapter.lora.alpha", alpha);
    if (rc != 0 && rc != PD_ENOTFOUND)
        return pd_errorf(err, PD_EFORMAT, "%s: adapter.lora.alpha is not a number", path);
    return 0;
}

/* Pair every lora_a with its lora_b and bind them, in the file's order. */
static int
bind_all(struct pd_lora *l, const struct pd_gguf *g, const struct pd_model *m, float scale,
         float alpha, const char *path, char *err)
{
    char base[256];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        if (ends_with(t->name, "_norm.weight"))
            continue;
        bool is_a = ends_with(t->name, ".lora_a");
        if (!is_a && !ends_with(t->name, ".lora_b"))
            return pd_errorf(err, PD_EFORMAT, "%s: tensor %s: an adapter holds only .lora_a and "
                             ".lora_b tensors", path, t->name);
        size_t len = strlen(t->name) - strlen(".lora_a");
        if (len >= sizeof base)
            return pd_errorf(err, PD_EFORMAT, "%s: tensor name too long: %.64s...", path,
                             t->name);
        snprintf(base, sizeof base, "%.*s", (int)len, t->name);
        char other[sizeof base + 8];
        snprintf(other, sizeof other, "%s.lora_%c", base, is_a ? 'b' : 'a');
        const struct pd_gguf_tensor *o = pd_gguf_tensor(g, other);
        if (o == NULL)
            return pd_errorf(err, PD_EFORMAT, "%s: %s has no %s beside it", path, t->name,
                             other);
        if (!is_a)
            continue;   /* bound with its lora_a */
        int rc = bind_pair(&l->pairs[l->n++], m, t, o, base, scale, alpha, path, err);
        if (rc != 0)
            return rc;
        l->max_r = PD_MAX(l->max_r, l->pairs[l->n - 1].r);
    }
    if (l->n == 0)
        return pd_errorf(err, PD_EFORMAT, "%s: the adapter holds no lora tensors", path);
    return 0;
}

int
pd_lora_load(struct pd_lora **out, const struct pd_model *m, const char *path, float scale,
             char *err)
{
    *out = NULL;
    struct pd_gguf *g = NULL;
    int rc = pd_gguf_open(&g, path, err);
    if (rc != 0)
        return rc;
    float alpha = 0.0f;
    struct pd_lora *l = calloc(1, sizeof *l);
    if (l == NULL || (l->pairs = calloc(g->n_tensors + 1, sizeof *l->pairs)) == NULL)
        rc = pd_errorf(err, PD_ENOMEM, "out of memory for the adapter %s", path);
    if (rc == 0)
        rc = check_header(g, m, path, &alpha, err);
    if (rc == 0)
        rc = bind_all(l, g, m, scale, alpha, path, err);
    pd_gguf_close(g);
    if (rc != 0) {
        pd_lora_free(l);
        return rc;
    }
    *out = l;
    return 0;
}
