/*
 * model-gguf.c: writing the trainable model as a deepseek2 GGUF with llama.cpp's keys and tensor
 * names (shared/specs/gguf-archs.md section 6; engine/synth.c writes the same keys), F32.
 *
 * Every tensor but one goes out as it is held: a row per output is GGUF's {in, out} layout.
 * attn_k_b is held [H*Dn][R] (it takes the latent to the no-RoPE keys) and GGUF wants {Dn, R, H},
 * per head the transpose ([H][R][Dn]), the form that absorbs a query into latent space; and
 * attn_v_b, held [H*Dv][R], goes out with its bytes as they are but 3-D, {R, Dv, H}.
 */
#include "config.h"

#include "engine/train/model-impl.h"

#include <inttypes.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/train/bpe-train.h"
#include "kernels/cpu/quant.h"

static int
set_hparams(const struct pd_tmodel *m, struct pd_gguf_writer *w, const char *name)
{
    const struct pd_tmodel_config *c = &m->cfg;
    int rc;
#define U32(k, v) pd_gguf_writer_set_u32(w, "deepseek2." k, (uint32_t)(v))
#define F32(k, v) pd_gguf_writer_set_f32(w, "deepseek2." k, (float)(v))
    if ((rc = pd_gguf_writer_set_str(w, "general.architecture", "deepseek2")) ||
        (rc = pd_gguf_writer_set_str(w, "general.name", name)) ||
        (rc = pd_gguf_writer_set_u32(w, "general.file_type", 0)) ||
        (rc = U32("context_length", c->n_ctx)) || (rc = U32("embedding_length", c->n_embd)) ||
        (rc = U32("block_count", c->n_layer)) || (rc = U32("attention.head_count", c->n_head)) ||
        (rc = U32("attention.head_count_kv", 1)) ||
        (rc = U32("attention.key_length", c->kv_lora_rank + c->qk_rope)) ||
        (rc = U32("attention.value_length", c->kv_lora_rank)) ||
        (rc = U32("attention.key_length_mla", c->qk_nope + c->qk_rope)) ||
        (rc = U32("attention.value_length_mla", c->v_head)) ||
        (rc = U32("attention.q_lora_rank", c->q_lora_rank)) ||
        (rc = U32("attention.kv_lora_rank", c->kv_lora_rank)) ||
        (rc = F32("attention.layer_norm_rms_epsilon", c->rms_eps)) ||
        (rc = U32("rope.dimension_count", c->qk_rope)) ||
        (rc = F32("rope.freq_base", c->rope_base)) || (rc = U32("vocab_size", c->n_vocab)) ||
        (rc = U32("leading_dense_block_count", m->n_moe ? c->n_dense_lead : c->n_layer)))
        return rc;
    if (m->n_moe < c->n_layer && (rc = U32("feed_forward_length", c->n_ff)))
        return rc;
    if (m->n_moe == 0)
        return 0;
    if ((rc = U32("expert_count", c->n_expert)) ||
        (rc = U32("expert_used_count", c->n_expert_used)) ||
        (rc = U32("expert_feed_forward_length", c->n_ff_exp)) ||
        (rc = U32("expert_shared_count", c->n_expert_shared)) ||
        (rc = F32("expert_weights_scale", c->expert_scale)) ||
        (rc = pd_gguf_writer_set_bool(w, "deepseek2.expert_weights_norm", c->expert_norm)) ||
        (rc = U32("expert_gating_func", c->sigmoid ? 2 : 1)) ||
        (rc = U32("expert_group_count", c->n_group > 1 ? c->n_group : 0)) ||
        (rc = U32("expert_group_used_count", c->n_group > 1 ? c->n_group_used : 0)))
        return rc;
#undef U32
#undef F32
    return 0;
}

/* A tensor held row-major with shape [d0][d1][d2] goes out as ggml {d2, d1, d0} (innermost
 * first), trailing ones dropped. */
static int
add_tensor(struct pd_gguf_writer *w, const char *name, const struct pd_tparam *p,
           const float *data)
{
    uint64_t ne[3];
    for (int i = 0; i < p->n_dims; i++)
        ne[i] = (uint64_t)p->shape[p->n_dims - 1 - i];
    return pd_gguf_writer_add_tensor(w, name, PD_TYPE_F32, (uint32_t)p->n_dims, ne, data,
                                     (uint64_t)p->n * sizeof(float));
}

int
pd_tmodel_add_gguf(const struct pd_tmodel *m, struct pd_gguf_writer *w, const char *name,
                   char *err)
{
    const struct pd_tmodel_config *c = &m->cfg;
    struct tm_priv *pv = tm_priv(m);
    int64_t H = c->n_head, Dn = c->qk_nope, R = c->kv_lora_rank, X = c->n_expert;
    int rc = set_hparams(m, w, name);
    if (rc != 0)
        return pd_errorf(err, rc, "metadata: %s", pd_strerror(rc));
    free(pv->kb_export);
    pv->kb_export = malloc((size_t)(c->n_layer * H * Dn * R) * sizeof(float));
    if (pv->kb_export == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for attn_k_b");
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const struct pd_tparam *p = &m->tensors[i];
        const float *data = m->params + p->offset;
        int il;
        char tail[48];
        if (sscanf(p->name, "blk.%d.%47s", &il, tail) == 2 &&
            strcmp(tail, "attn_k_b.weight") == 0) {
            /* [H][Dn][R] -> [H][R][Dn]: ggml {Dn, R, H} */
            float *kb = pv->kb_export + (int64_t)il * H * Dn * R;
            for (int64_t h = 0; h < H; h++)
                for (int64_t d = 0; d < Dn; d++)
                    for (int64_t r = 0; r < R; r++)
                        kb[(h * R + r) * Dn + d] = data[(h * Dn + d) * R + r];
            uint64_t ne[3] = { (uint64_t)Dn, (uint64_t)R, (uint64_t)H };
            rc = pd_gguf_writer_add_tensor(w, p->name, PD_TYPE_F32, 3, ne, kb,
                                           (uint64_t)(H * Dn * R) * sizeof(float));
        } else if (sscanf(p->name, "blk.%d.%47s", &il, tail) == 2 &&
                   strcmp(tail, "attn_v_b.weight") == 0) {
            /* held [H*Dv][R], the bytes of GGUF's 3-D {R, Dv, H} */
            uint64_t ne[3] = { (uint64_t)R, (uint64_t)c->v_head, (uint64_t)H };
            rc = pd_gguf_writer_add_tensor(w, p->name, PD_TYPE_F32, 3, ne, data,
                                           (uint64_t)p->n * sizeof(float));
        } else {
            rc = add_tensor(w, p->name, p, data);
        }
        /* the selection bias follows the router's experts, as in DeepSeek-V3 files */
        if (rc == 0 && sscanf(p->name, "blk.%d.%47s", &il, tail) == 2 &&
            strcmp(tail, "ffn_gate_inp.weight") == 0) {
            char bname[64];
            snprintf(bname, sizeof bname, "blk.%d.exp_probs_b.bias", il);
            uint64_t ne[1] = { (uint64_t)X };
            rc = pd_gguf_writer_add_tensor(w, bname, PD_TYPE_F32, 1, ne,
                                           m->bias + pv->layers[il].moe * X,
                                           (uint64_t)X * sizeof(float));
        }
        if (rc != 0)
            return pd_errorf(err, rc, "tensor '%s': %s", p->name, pd_strerror(rc));
    }
    return 0;
}

/* The chat template ponder's models are trained with: the R1-Zero paper's instruction, then
 * " User: QUESTION. Assistant:" (ponder recognizes it as r1-zero; llama.cpp renders the Jinja). */
static const char chat_template[] =
    "{{ bos_token if bos_token is defined and bos_token else '' }}"
    "{% set ns = namespace(sys='A conversation between User and Assistant. The user asks a "
    "question, and the Assistant solves it. The assistant first thinks about the reasoning "
    "process in the mind and then provides the user with the answer. The reasoning process and "
    "answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
    "i.e., <think> reasoning process here </think> <answer> answer here </answer>.') %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}{% set ns.sys = m['content'] %}"
    "{% endif %}{% endfor %}{{ ns.sys }}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ ' User: ' + m['content'] + '.' }}"
    "{% elif m['role'] == 'assistant' %}{{ ' Assistant: ' + m['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ ' Assistant:' }}{% endif %}";

int
pd_tmodel_write_gguf(const struct pd_tmodel *m, const struct pd_bpe *tok, const char *name,
                     const char *path, char *err)
{
    if (pd_bpe_n_vocab(tok) != m->cfg.n_vocab)
        return pd_errorf(err, PD_EINVAL, "the tokenizer has %d tokens, the model %d",
                         pd_bpe_n_vocab(tok), m->cfg.n_vocab);
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    if (w == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = pd_tmodel_add_gguf(m, w, name, err);
    if (rc == 0)
        rc = pd_bpe_write_gguf(tok, w, err);
    if (rc == 0 && (rc = pd_gguf_writer_set_str(w, "tokenizer.chat_template", chat_template)))
        rc = pd_errorf(err, rc, "chat template: %s", pd_strerror(rc));
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    return rc;
}
