/*
 * dense.h: the training forward and backward of a dense llama, qwen2 or qwen3 model whose
 * weights stay frozen in their file's own types (a loaded pd_model: F32, F16, Q8_0, Q4_1,
 * K-quants...), for LoRA adapters trained over it (lora-train.h).
 *
 * It computes what engine/forward.c computes for these architectures: token embedding; per
 * layer h += Wo Attn(RoPE(Wq n1 + bq), RoPE(Wk n1 + bk), Wv n1 + bv) (+ bo) with n1 =
 * rmsnorm(h) attn_norm, qwen3's per-head Q/K RMSNorm before RoPE, RoPE in the file's layout,
 * base, scaling and frequency factors (hp.rope), causal GQA attention at hp.kq_scale; then
 * h += Wd (silu(Wg n2) * Wu n2) with n2 = rmsnorm(h) ffn_norm; output_norm; the output head
 * (tied or not). With an adapter attached (d->lora) every adapted product adds s B A x.
 *
 * The weights get no gradient: the backward carries dx = W^T dy through them and fills only
 * the adapter's gradients. Memory: the forward keeps each layer's input ([L][N][E]), the final
 * hidden state and the logits ([N][V]); the backward recomputes one layer at a time from its
 * saved input (one more forward's work for a fraction of the memory), so a 135M model over a
 * few hundred tokens needs tens of MB beside the logits.
 *
 * Glossary as ops.h: B sequences of T tokens, N = B*T rows; E, H, Hkv, D (head size), F, V.
 */
#ifndef PD_TRAIN_DENSE_H
#define PD_TRAIN_DENSE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"

struct pd_model;
struct pd_tlora;
struct pd_threadpool;

struct pd_dense;

/* A trainer over m (which stays the caller's and must outlive it). PD_EUNSUPPORTED naming the
 * architecture when m is not a dense llama, qwen2 or qwen3 model; PD_ENOMEM. */
int pd_dense_new(struct pd_dense **out, const struct pd_model *m, char *err);
void pd_dense_free(struct pd_dense *d);

/* The model it runs over. */
const struct pd_model *pd_dense_model(const struct pd_dense *d);

/* Attach an adapter (or NULL: the base alone). The adapter is the caller's; its pairs name
 * blk.i.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight of m. */
void pd_dense_set_lora(struct pd_dense *d, struct pd_tlora *l);

/* An adapter of rank r over d's model: the 2-D projections the targets select. */
int pd_dense_lora_new(struct pd_tlora **out, const struct pd_dense *d, int32_t rank, float alpha,
                      uint32_t targets, uint64_t seed, char *err);

/* Forward over B sequences of T tokens (tokens[B*T], each from position 0), saving what the
 * backward needs. PD_EINVAL for a token out of range or T beyond the model's context;
 * PD_ENOMEM. */
int pd_dense_forward(struct pd_dense *d, struct pd_threadpool *tp, const int32_t *tokens, int B,
                     int T, char *err);

/* The logits [B*T][V] of the last forward. */
const float *pd_dense_logits(const struct pd_dense *d);

/* From dlogits[B*T][V], the gradient of the last forward's logits: the attached adapter's
 * gradients (l->grads, overwritten) of sum(dlogits * logits). PD_EINVAL without a forward or
 * an adapter. */
int pd_dense_backward_logits(struct pd_dense *d, struct pd_threadpool *tp, const float *dlogits,
                             char *err);

#endif
