/*
 * model-load.c: the trainable model from a deepseek2 GGUF with F32 weights, the inverse of
 * model-gguf.c: sizes from the deepseek2.* keys, tensors by name, attn_k_b transposed back from
 * GGUF's per-head {Dn, R, H} to the training layout [H*Dn][R], the selection biases from
 * blk.i.exp_probs_b.bias. Every shape is checked against the table the sizes give.
 */
#include "config.h"

#include "engine/train/model-impl.h"

#include <string.h>

#include "engine/gguf.h"
#include "kernels/cpu/quant.h"

/* deepseek2.KEY as an int32 into *out; absent keys leave *out (a default) unless required. */
static int
get_u32(const struct pd_gguf *g, const char *key, int32_t *out, bool required, char *err)
{
    char k[128];
    snprintf(k, sizeof k, "deepseek2.%s", key);
    uint32_t v;
    int rc = pd_gguf_get_u32(g, k, &v);
    if (rc == PD_ENOTFOUND && !required)
        return 0;
    if (rc != 0 || v > (1u << 30))
        return pd_errorf(err, PD_EFORMAT, "%s: %s", k,
                         rc == PD_ENOTFOUND ? "missing" : "not a fitting integer");
    *out = (int32_t)v;
    return 0;
}

static int
read_config(const struct pd_gguf *g, struct pd_tmodel_config *c, char *err)
{
    const char *arch = NULL;
    pd_gguf_get_str(g, "general.architecture", &arch);
    if (arch == NULL || strcmp(arch, "deepseek2") != 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "architecture '%s': only deepseek2 trains here",
                         arch ? arch : "(none)");
    pd_tmodel_config_default(c);
    c->n_group = c->n_group_used = 0;
    c->q_lora_rank = 0;   /* absent key: a plain attn_q */
    int32_t key_mla = 0, gating = 2, dense_lead = 0;
    int rc;
    if ((rc = get_u32(g, "context_length", &c->n_ctx, true, err)) ||
        (rc = get_u32(g, "embedding_length", &c->n_embd, true, err)) ||
        (rc = get_u32(g, "block_count", &c->n_layer, true, err)) ||
        (rc = get_u32(g, "attention.head_count", &c->n_head, true, err)) ||
        (rc = get_u32(g, "attention.kv_lora_rank", &c->kv_lora_rank, true, err)) ||
        (rc = get_u32(g, "attention.key_length_mla", &key_mla, true, err)) ||
        (rc = get_u32(g, "attention.value_length_mla", &c->v_head, true, err)) ||
        (rc = get_u32(g, "rope.dimension_count", &c->qk_rope, true, err)) ||
        (rc = get_u32(g, "attention.q_lora_rank", &c->q_lora_rank, false, err)) ||
        (rc = get_u32(g, "leading_dense_block_count", &dense_lead, false, err)) ||
        (rc = get_u32(g, "feed_forward_length", &c->n_ff, false, err)) ||
        (rc = get_u32(g, "expert_count", &c->n_expert, false, err)) ||
        (rc = get_u32(g, "expert_used_count", &c->n_expert_used, false, err)) ||
        (rc = get_u32(g, "expert_feed_forward_length", &c->n_ff_exp, false, err)) ||
        (rc = get_u32(g, "expert_shared_count", &c->n_expert_shared, false, err)) ||
        (rc = get_u32(g, "expert_gating_func", &gating, false, err)) ||
        (rc = get_u32(g, "expert_group_count", &c->n_group, false, err)) ||
        (rc = get_u32(g, "expert_group_used_count", &c->n_group_used, false, err)))
        return rc;
    c->qk_nope = key_mla - c->qk_rope;
    if (!pd_gguf_get(g, "deepseek2.expert_count"))
        c->n_expert = c->n_expert_used = c->n_ff_exp = c->n_expert_shared = 0;
    c->n_dense_lead = c->n_expert > 0 ? dense_lead : c->n_layer;
    c->sigmoid = gating == 2;
    pd_gguf_get_f32(g, "deepseek2.attention.layer_norm_rms_epsilon", &c->rms_eps);
    pd_gguf_get_f32(g, "deepseek2.rope.freq_base", &c->rope_base);
    pd_gguf_get_f32(g, "deepseek2.expert_weights_scale", &c->expert_scale);
    pd_gguf_get_bool(g, "deepseek2.expert_weights_norm", &c->expert_norm);
    const struct pd_gguf_tensor *emb = pd_gguf_tensor(g, "token_embd.weight");
    if (emb == NULL || emb->n_dims != 2)
        return pd_errorf(err, PD_EFORMAT, "token_embd.weight: missing or not 2-D");
    c->n_vocab = (int32_t)emb->ne[1];
    c->tied = pd_gguf_tensor(g, "output.weight") == NULL;
    return pd_tmodel_config_check(c, err);
}

/* The GGUF tensor for p, checked: F32, and the element count and (reversed) shape that p's
 * export writes. kb: attn_k_b's {Dn, R, H}. */
static int
find(const struct pd_gguf_tensor **out, const struct pd_gguf *g, const char *name,
     const uint64_t *ne, int n_dims, char *err)
{
    const struct pd_gguf_tensor *t = pd_gguf_tensor(g, name);
    if (t == NULL)
        return pd_errorf(err, PD_EFORMAT, "tensor '%s' missing", name);
    if (t->type != PD_TYPE_F32)
        return pd_errorf(err, PD_EUNSUPPORTED, "tensor '%s': type %u, training needs F32", name,
                         t->type);
    for (int i = 0; i < PD_GGUF_MAX_DIMS; i++) {
        uint64_t want = i < n_dims ? ne[i] : 1;
        if (t->ne[i] != want)
            return pd_errorf(err, PD_EFORMAT, "tensor '%s': ne[%d] = %llu, want %llu", name, i,
                             (unsigned long long)t->ne[i], (unsigned long long)want);
    }
    *out = t;
    return 0;
}

static int
copy_tensors(struct pd_tmodel *m, const struct pd_gguf *g, char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    int64_t H = c->n_head, Dn = c->qk_nope, R = c->kv_lora_rank, X = c->n_expert;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        float *dst = m->params + p->offset;
        const struct pd_gguf_tensor *t;
        int il, rc;
        char tail[48];
        bool layer = sscanf(p->name, "blk.%d.%47s", &il, tail) == 2;
        if (layer && strcmp(tail, "attn_k_b.weight") == 0) {
            uint64_t ne[3] = { (uint64_t)Dn, (uint64_t)R, (uint64_t)H };
            if ((rc = find(&t, g, p->name, ne, 3, err)) != 0)
                return rc;
            const float *kb = t->data;   /* [H][R][Dn] -> [H][Dn][R] */
            for (int64_t h = 0; h < H; h++)
                for (int64_t d = 0; d < Dn; d++)
                    for (int64_t r = 0; r < R; r++)
                        dst[(h * Dn + d) * R + r] = kb[(h * R + r) * Dn + d];
            continue;
        }
        uint64_t ne[3];
        int nd = p->n_dims;
        if (layer && strcmp(tail, "attn_v_b.weight") == 0) {
            ne[0] = (uint64_t)R, ne[1] = (uint64_t)c->v_head, ne[2] = (uint64_t)H, nd = 3;
        } else {
            for (int d = 0; d < nd; d++)
                ne[d] = (uint64_t)p->shape[nd - 1 - d];
        }
        if ((rc = find(&t, g, p->name, ne, nd, err)) != 0)
            return rc;
        memcpy(dst, t->data, (size_t)p->n * sizeof(float));
        if (layer && strcmp(tail, "ffn_gate_inp.weight") == 0) {
            char bname[64];
            snprintf(bname, sizeof bname, "blk.%d.exp_probs_b.bias", il);
            uint64_t bne[1] = { (uint64_t)X };
            float *bias = m->bias + pv->layers[il].moe * X;
            if (pd_gguf_tensor(g, bname) == NULL) {
                memset(bias, 0, (size_t)X * sizeof *bias);   /* a file without the bias */
                continue;
            }
            if ((rc = find(&t, g, bname, bne, 1, err)) != 0)
                return rc;
            memcpy(bias, t->data, (size_t)X * sizeof *bias);
        }
    }
    return 0;
}

int
pd_tmodel_from_gguf(struct pd_tmodel **out, const struct pd_gguf *g, char *err)
{
    *out = NULL;
    struct pd_tmodel_config c;
    int rc = read_config(g, &c, err);
    if (rc != 0)
        return rc;
    struct pd_tmodel *m = NULL;
    if ((rc = pd_tmodel_new(&m, &c, 1, err)) != 0)
        return rc;
    if ((rc = copy_tensors(m, g, err)) != 0) {
        pd_tmodel_free(m);
        return rc;
    }
    *out = m;
    return 0;
}
