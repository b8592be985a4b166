/*
 * ops.h: the training core's float32 ops, each a forward that saves what its backward needs and
 * a backward that ACCUMULATES (+=) into caller-provided gradient buffers. Accumulating means a
 * tensor used twice (tied embeddings, a residual stream, the shared RoPE key of MLA) gets the sum
 * of its gradients without any bookkeeping: zero the gradients once per step, then run the
 * backwards in reverse order.
 *
 * (RoPE is the one exception: it rotates its buffer in place, both ways.) The prefix pd_tr_ marks
 * them as training ops.
 *
 * Every array is plain row-major float32, owned by the caller. Arguments: outputs, then inputs,
 * then sizes (STYLE rule 9); a thread pool, where an op can use one, comes first and may be NULL
 * (the calling thread does all the work; a pool runs one op at a time). Gradient outputs that are
 * not wanted may be NULL.
 *
 * The ops compute what inference computes (kernels/cpu/ops.c, engine/forward.c, engine/mla.c,
 * engine/moe.c): the same RMSNorm (eps inside the root), the same RoPE tables (pd_rope_cache:
 * both layouts, YaRN), the same SwiGLU, the same routing rules (bias for the choice only, groups,
 * renormalization floor, scale), so a model trained with them runs unchanged in ponder and in
 * llama.cpp.
 *
 * MLA (deepseek2) is a composition, as tests/test-train-ops.c's check_mla writes it out:
 *   q = Wq_b rmsnorm(Wq_a x), RoPE on the trailing Dr of each head (pass q + Dn, hs = Dn + Dr);
 *   Wkv_a's first R rows give the latent (rmsnorm), its last Dr rows the shared key (RoPE), two
 *   linears on row ranges of one weight; k = Wk_b latent, v = Wv_b latent; attention with
 *   Dk = Dn, Dr, krope = the shared key; then Wo. Held as [H*Dn][R] here, Wk_b goes to GGUF's
 *   attn_k_b transposed per head ([H][R][Dn]); Wv_b ([H*Dv][R]) is attn_v_b as it is.
 *
 * Glossary:
 *   N   rows (tokens of the batch, B * T)      E   row width
 *   B   sequences in a batch                   T   tokens per sequence
 *   H   query heads                            Hkv key/value heads (GQA: H % Hkv == 0)
 *   Dk  key/query head size                    Dv  value head size
 *   Dr  MLA's RoPE dims that meet a key shared by all heads
 *   X   experts                                K   experts chosen per token
 *   V   vocabulary
 */
#ifndef PD_TRAIN_OPS_H
#define PD_TRAIN_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/pd.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant.h"

struct pd_threadpool;

/* ---- matrix products ---------------------------------------------------------------------- */

/*
 * C[M][N] += op(A)[M][K] . op(B)[K][N], where op(A) = A or its transpose (A stored [K][M] when
 * trans_a), likewise B. Row strides lda, ldb, ldc. Blocked and packed, AVX2/FMA where the CPU has
 * it (AVX-512 where present); threads split C into tiles, so no two write the same element.
 */
void pd_tr_gemm(struct pd_threadpool *tp, float *C, int64_t ldc, const float *A, int64_t lda,
                bool trans_a, const float *B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                int64_t K);

/* Linear: y[N][n_out] = x[N][n_in] . W^T + b, W stored [n_out][n_in] (a row per output, as GGUF
 * stores it); b[n_out] may be NULL. Saves nothing: the backward needs x and W. */
void pd_tr_linear_forward(struct pd_threadpool *tp, float *y, const float *x, const float *W,
                          const float *b, int64_t N, int64_t n_in, int64_t n_out);

/* dx[N][n_in] += dy . W;  dW[n_out][n_in] += dy^T . x;  db[n_out] += sum over rows of dy.
 * Any of dx, dW, db may be NULL (a frozen weight, an input that needs no gradient). */
void pd_tr_linear_backward(struct pd_threadpool *tp, float *dx, float *dW, float *db,
                           const float *dy, const float *x, const float *W, int64_t N,
                           int64_t n_in, int64_t n_out);

/* ---- products through a frozen weight in its own type (ops-frozen.c) ---------------------- */

/* A weight as its file stores it: n_out rows of n_in values of type (enum pd_type). */
struct pd_tr_frozen {
    const void *data;
    enum pd_type type;
    int64_t n_in, n_out;
};

/* Floats of the dequantization buffer the products take (wbuf). */
#define PD_TR_FROZEN_BUF ((int64_t)1 << 18)

/* y[N][n_out] = x[N][n_in] . W^T (overwritten): W's rows dequantized a chunk at a time into
 * wbuf (PD_TR_FROZEN_BUF floats), F32 used in place. */
void pd_tr_frozen_forward(struct pd_threadpool *tp, float *y, float *wbuf, const float *x,
                          const struct pd_tr_frozen *w, int64_t N);

/* dx[N][n_in] += dy[N][n_out] . W: the gradient through the frozen weight (W gets none). */
void pd_tr_frozen_backward(struct pd_threadpool *tp, float *dx, float *wbuf, const float *dy,
                           const struct pd_tr_frozen *w, int64_t N);

/* ---- embedding, RMSNorm, SwiGLU ----------------------------------------------------------- */

/* out[N][E] = table[ids[n]], table [n_vocab][E]. PD_EINVAL (with err) for an id out of range. */
int pd_tr_embed_forward(float *out, const float *table, const int32_t *ids, int64_t N, int64_t E,
                        int64_t n_vocab, char *err);

/* dtable[ids[n]] += dout[n]: the rows scatter back into the table's gradient. */
void pd_tr_embed_backward(float *dtable, const float *dout, const int32_t *ids, int64_t N,
                          int64_t E);

/* out[N][E] = x / sqrt(mean(x^2) + eps) * w, w[E] (NULL: no weight). Saves rstd[N], the
 * reciprocal root of each row. out may equal x only if the backward will not need x. */
void pd_tr_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t N,
                           int64_t E, float eps);

void pd_tr_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                            const float *w, const float *rstd, int64_t N, int64_t E);

/* out[n] = silu(gate[n]) * up[n]; saves nothing (the backward needs gate and up). */
void pd_tr_swiglu_forward(float *out, const float *gate, const float *up, int64_t n);

void pd_tr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                           const float *up, int64_t n);

/* ---- RoPE ----------------------------------------------------------------------------------- */

/*
 * Rotate, in each of N rows of x (row stride ld) and each of n_head heads (head stride hs, from
 * x), the first r->n_rot dims by position pos[n], in r's layout (NORM: adjacent pairs; NEOX:
 * halves) with r's base and scaling, exactly as pd_rope_cache and pd_rope_apply do at inference.
 * MLA ropes only the trailing Dr dims of a head: pass x + Dn with hs = Dn + Dr. In place: the
 * forward rotates x, the backward rotates the gradient dx back (the transposed rotation), so
 * both leave the buffer holding the result. pd_tr_rope_plain gives the plain parameters.
 */
void pd_tr_rope_forward(float *x, const int32_t *pos, const struct pd_rope *r, int64_t N,
                        int64_t ld, int n_head, int64_t hs);
void pd_tr_rope_backward(float *dx, const int32_t *pos, const struct pd_rope *r, int64_t N,
                         int64_t ld, int n_head, int64_t hs);

/* RoPE parameters with no scaling: n_rot dims, NEOX or NORM layout, frequency base. */
struct pd_rope pd_tr_rope_plain(int n_rot, bool neox, float freq_base);

/* ---- causal attention (GQA, and MLA's shared RoPE key) -------------------------------------- */

struct pd_tr_attn {
    int64_t B, T;   /* B independent sequences of T tokens: rows are [B][T] */
    int H, Hkv;     /* query heads; key/value heads, H % Hkv == 0 (query head h uses h/(H/Hkv)) */
    int Dk;         /* key dims per head (and the query dims that meet them) */
    int Dr;         /* MLA: further query dims per head meeting krope, one key for all heads */
    int Dv;         /* value dims per head */
    float scale;    /* the score scale: 1/sqrt(Dk + Dr), or MLA's YaRN-corrected one */
};

/*
 * out[B*T][H][Dv] = softmax_causal(scale * q.k) . v, per head, where
 *   q     [B*T][H][Dk + Dr]
 *   k     [B*T][Hkv][Dk]
 *   krope [B*T][Dr]   (NULL when Dr == 0): the score of head h at key j adds q_h[Dk:] . krope[j]
 *   v     [B*T][Hkv][Dv]
 * Saves probs [B][H][T][T]: row t holds the softmax over keys 0..t, then zeros to the end of its
 * block of 64 rows (the rest of the row is not written).
 */
void pd_tr_attn_forward(struct pd_threadpool *tp, float *out, float *probs, const float *q,
                        const float *k, const float *krope, const float *v,
                        const struct pd_tr_attn *a);

/* dq, dk, dkrope, dv += the gradients for dout; each may be NULL. Allocates a scratch of
 * 64 x T floats per thread for the call: PD_ENOMEM (with err) when that fails. */
int pd_tr_attn_backward(struct pd_threadpool *tp, float *dq, float *dk, float *dkrope, float *dv,
                        const float *dout, const float *probs, const float *q, const float *k,
                        const float *krope, const float *v, const struct pd_tr_attn *a,
                        char *err);

/* ---- mixture of experts --------------------------------------------------------------------- */

struct pd_tr_router {
    int X, K;               /* experts; experts chosen per token */
    bool sigmoid;           /* scores by sigmoid (DeepSeek-V3), else softmax */
    bool norm;              /* renormalize the chosen weights to sum 1 (sum floored at 6.1e-5) */
    float scale;            /* the chosen weights are multiplied by it (1: none) */
    int n_groups;           /* group-limited choice (DeepSeek-V3): groups, <= 1 for none */
    int n_groups_used;      /* groups whose experts stay eligible */
};

/*
 * Route N tokens: probs[N][X] = softmax or sigmoid of logits[N][X]; the K experts with the best
 * probs + bias (bias[X] may be NULL; it changes only the choice), within the best groups, give
 * ids[N][K] and weights[N][K] = the unbiased probabilities, renormalized and scaled as r says,
 * ordered by decreasing weight (ties: lower id), as engine/moe.c routes. Saves probs.
 */
void pd_tr_router_forward(int32_t *ids, float *weights, float *probs, const float *logits,
                          const float *bias, const struct pd_tr_router *r, int64_t N);

/* dlogits[N][X] += the gradient through the chosen experts' weights (dweights[N][K]). The choice
 * itself is not differentiable, and nothing flows into the bias. */
void pd_tr_router_backward(float *dlogits, const float *dweights, const int32_t *ids,
                           const float *probs, const struct pd_tr_router *r, int64_t N);

/*
 * Group the N*K (token, choice) pairs by expert: offset[X + 1] (expert e's rows are
 * offset[e] .. offset[e+1]-1), row_token[N*K] (the token of each row), token_row[N*K] (the row of
 * each (token, choice)). Rows of one expert keep token order. PD_EINVAL for an id out of range.
 */
int pd_tr_moe_group(int32_t *offset, int32_t *row_token, int32_t *token_row, const int32_t *ids,
                    int64_t N, int K, int X, char *err);

/* Gather: rx[N*K][E], row r = x[row_token[r]]. Backward: dx[row_token[r]] += drx[r]. */
void pd_tr_moe_gather_forward(float *rx, const float *x, const int32_t *row_token, int64_t rows,
                              int64_t E);
void pd_tr_moe_gather_backward(float *dx, const float *drx, const int32_t *row_token,
                               int64_t rows, int64_t E);

/* Combine: out[t] += sum_k weights[t][k] * y[token_row[t*K + k]], y [N*K][E] the experts'
 * outputs. Backward: dy[row] += w * dout[t]; dweights[t][k] += dout[t] . y[row]. */
void pd_tr_moe_combine_forward(float *out, const float *y, const float *weights,
                               const int32_t *token_row, int64_t N, int K, int64_t E);
void pd_tr_moe_combine_backward(float *dy, float *dweights, const float *dout, const float *y,
                                const float *weights, const int32_t *token_row, int64_t N, int K,
                                int64_t E);

/* The load of each expert: load[X] = the share of the N*K routed (token, choice) slots it took
 * (sums to 1; equal load is 1/X). Returns the imbalance, max load / mean load (1: balanced). */
float pd_tr_expert_load(float *load, const int32_t *ids, int64_t N, int K, int X);

/* ---- row helpers (vectorized exp) ---------------------------------------------------------- */

/* In place: x[n] = softmax(scale * x), max-subtracted. */
void pd_tr_softmax(float *x, int64_t n, float scale);

/* log sum exp(x[n]), max-subtracted. */
float pd_tr_logsumexp(const float *x, int64_t n);

/* y[n] += a * exp(x[n] - shift). */
void pd_tr_exp_axpy(float *y, float a, const float *x, float shift, int64_t n);

/* ---- log-softmax and cross-entropy ---------------------------------------------------------- */

/*
 * logp[n] = log softmax(logits[n])[targets[n]], logits [N][V]; saves lse[N] (log-sum-exp of each
 * row). A target < 0 marks a position to skip (logp 0). PD_EINVAL for a target >= V.
 */
int pd_tr_logprob_forward(struct pd_threadpool *tp, float *logp, float *lse, const float *logits,
                          const int32_t *targets, int64_t N, int64_t V, char *err);

/* dlogits[n] += dlogp[n] * (onehot(targets[n]) - softmax(logits[n])), skipped rows untouched. */
void pd_tr_logprob_backward(struct pd_threadpool *tp, float *dlogits, const float *dlogp,
                            const float *logits, const float *lse, const int32_t *targets,
                            int64_t N, int64_t V);

/*
 * Cross-entropy, the mean of -logp over the positions with targets >= 0 (prompt tokens and
 * padding carry -1): *loss, and *count the positions counted (0: loss 0). logp[N], lse[N] saved.
 */
int pd_tr_xent_forward(struct pd_threadpool *tp, float *loss, int64_t *count, float *logp,
                       float *lse, const float *logits, const int32_t *targets, int64_t N,
                       int64_t V, char *err);

/* dlogits += the gradient of dloss * loss. */
void pd_tr_xent_backward(struct pd_threadpool *tp, float *dlogits, float dloss,
                         const float *logits, const float *lse, const int32_t *targets,
                         int64_t N, int64_t V);

#endif
