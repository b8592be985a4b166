/*
 * mla.c: multi-head latent attention (DeepSeek-V2/V3/R1, GGUF arch deepseek2), in the absorbed
 * form llama.cpp uses, so the cache holds one compressed row per token and layer.
 *
 * Glossary: H heads, Dk = Dn + Dr the query/key head size (Dn without RoPE, Dr with it), Dv the
 * value head size, R the latent width (kv_lora_rank), Rq the query bottleneck (q_lora_rank, 0 for
 * none). Per token:
 *
 *   q      = Wq x  or  Wq_b rmsnorm(Wq_a x)                  [H][Dk] = [H][Dn | Dr]
 *   c      = Wkv_a x                                         [R | Dr]: latent and shared k_pe
 *   RoPE on every head's q_pe and on the one k_pe; RMSNorm on the latent
 *   cache  <- [latent | k_pe]                                (R + Dr floats: MLA's point)
 *   q_abs  = k_b[h] . q_nope[h]                              the query moved into latent space
 *   score  = kq_scale * [q_abs | q_pe] . [latent | k_pe]     one dot over R + Dr per position
 *   o_lat  = sum_p softmax(score)_p latent_p                 [R] per head
 *   out[h] = v_b[h] . o_lat[h]                               [Dv] per head, then Wo
 *
 * A token of cache costs (R + Dr) floats per layer: 576 for V3's shape, where plain attention
 * over the decompressed keys and values would cost H * (Dk + Dv) = 128 * (192 + 128) = 40,960.
 */
#include "config.h"

#include "engine/forward-impl.h"
#include "kernels/cpu/matmul.h"

#include <string.h>

int
pd_mla_alloc(struct pd_context *c, char *err)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_mla_scratch *s = &c->mla;
    memset(s, 0, sizeof *s);
    if (hp->arch != PD_ARCH_DEEPSEEK2)
        return 0;
    size_t B = (size_t)c->n_batch, H = (size_t)hp->n_head, R = (size_t)hp->kv_lora_rank;
    size_t Dr = (size_t)hp->rope.n_rot, Dn = (size_t)hp->head_dim - Dr;
    size_t Rq = (size_t)PD_MAX(hp->q_lora_rank, 1);
    s->qa = malloc(sizeof(float) * B * Rq);
    s->qn = malloc(sizeof(float) * H * B * Dn);
    s->qabs = malloc(sizeof(float) * B * H * (R + Dr));
    s->olat = malloc(sizeof(float) * H * B * R);
    if (!s->qa || !s->qn || !s->qabs || !s->olat)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the latent attention scratch "
                         "(%zu MiB)", sizeof(float) * (B * Rq + H * B * (Dn + 2 * R + Dr)) >> 20);
    return 0;
}

void
pd_mla_free(struct pd_context *c)
{
    free(c->mla.qa);
    free(c->mla.qn);
    free(c->mla.qabs);
    free(c->mla.olat);
}

/* The query (through its bottleneck when there is one) and the compressed KV row. */
static void
project_q_kv(struct pd_context *c, const struct pd_layer *l, int ith, int nth, int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    int64_t HDk = (int64_t)hp->n_head * hp->head_dim, KR = pd_fwd_kv_row(hp);
    if (hp->q_lora_rank == 0) {
        float *ys[2] = { c->q, c->k };
        const int64_t lds[2] = { HDk, KR };
        const struct pd_weight *ws[2] = { &l->wq, &l->wkv_a };
        pd_fwd_project(c, ith, nth, 2, ys, lds, ws, c->xn, T);
        return;
    }
    int64_t Rq = hp->q_lora_rank;
    float *ys[2] = { c->mla.qa, c->k };
    const int64_t lds[2] = { Rq, KR };
    const struct pd_weight *ws[2] = { &l->wq_a, &l->wkv_a };
    pd_fwd_project(c, ith, nth, 2, ys, lds, ws, c->xn, T);
    for (int64_t t = ith; t < T; t += nth)
        pd_rmsnorm(c->mla.qa + t * Rq, c->mla.qa + t * Rq, l->q_a_norm.data, Rq, hp->rms_eps);
    BARRIER();
    pd_fwd_project1(c, ith, nth, c->q, HDk, &l->wq_b, c->mla.qa, T);
}

/* Token t: norms and RoPE, its row into the cache, its query parts laid out for the products. */
static void
prepare_token(struct pd_context *c, const struct pd_layer *l, int il, int64_t t, int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_mla_scratch *s = &c->mla;
    int64_t H = hp->n_head, Dk = hp->head_dim, Dr = hp->rope.n_rot, Dn = Dk - Dr;
    int64_t R = hp->kv_lora_rank, KR = R + Dr;
    float *q = c->q + t * H * Dk, *kv = c->k + t * KR;
    const float *cs = c->rope_cs + t * hp->rope.n_rot;
    pd_rmsnorm(kv, kv, l->kv_a_norm.data, R, hp->rms_eps);
    pd_rope_apply(kv + R, cs, &hp->rope, 1, (int)Dr);
    pd_rope_apply(q + Dn, cs, &hp->rope, (int)H, (int)Dk);
    memcpy(c->k_cache + (pd_fwd_cache_layer(c, il) + (size_t)(c->n_past + t)) * KR, kv,
           sizeof(float) * KR);
    for (int64_t h = 0; h < H; h++) {
        memcpy(s->qn + (h * T + t) * Dn, q + h * Dk, sizeof(float) * Dn);
        memcpy(s->qabs + (t * H + h) * KR + R, q + h * Dk + Dn, sizeof(float) * Dr);
    }
}

/* Per head h: out rows (token t at out + h * head_out + t * ld) = W_h . in rows (head-major). */
static void
per_head_product(struct pd_context *c, int ith, int nth, float *out, int64_t ld, int64_t head_out,
                 const struct pd_weight *w, const float *in, int64_t T)
{
    int64_t H = c->m->hp.n_head, n_in = w->ne[0];
    enum pd_type act = pd_matmul_act_type(w->type, c->precise);
    size_t arow = pd_matmul_act_row_size(act, n_in);
    pd_matmul_quantize(c->xq, in, act, n_in, H * T, ith, nth);
    BARRIER();
    for (int64_t h = 0; h < H; h++)
        pd_matmul(out + h * head_out, ld, (const char *)w->data + (size_t)h * w->expert_stride,
                  pd_fwd_packed(c, w, h), w->type, (const char *)c->xq + (size_t)(h * T) * arow,
                  act, pd_fwd_wbuf(c, ith), n_in, w->ne[1], T, ith, nth);
    BARRIER();
}

void
pd_mla_attention(struct pd_context *c, const struct pd_layer *l, int il, int ith, int nth,
                 int64_t T)
{
    const struct pd_hparams *hp = &c->m->hp;
    struct pd_mla_scratch *s = &c->mla;
    int64_t H = hp->n_head, R = hp->kv_lora_rank, KR = pd_fwd_kv_row(hp), Dv = hp->head_dim_v;

    project_q_kv(c, l, ith, nth, T);
    for (int64_t t = ith; t < T; t += nth)
        prepare_token(c, l, il, t, T);
    BARRIER();
    per_head_product(c, ith, nth, s->qabs, H * KR, KR, &l->wk_b, s->qn, T);

    const float *kc = c->k_cache + pd_fwd_cache_layer(c, il) * KR;
    float *scores = c->scores + (size_t)ith * c->n_ctx;
    for (int64_t i = ith; i < T * H; i += nth) {
        int64_t t = i / H, h = i % H;
        pd_attention_head(s->olat + (h * T + t) * R, scores, s->qabs + (t * H + h) * KR, kc, kc,
                          c->n_past + t + 1, (int)KR, (int)R, KR, hp->kq_scale);
    }
    BARRIER();
    per_head_product(c, ith, nth, c->att, H * Dv, Dv, &l->wv_b, s->olat, T);
}
