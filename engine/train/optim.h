/*
 * optim.h: the optimizer side of training: AdamW, global gradient-norm clipping, the learning
 * rate schedule (linear warmup, cosine decay to a floor), and DeepSeek-V3's aux-loss-free load
 * balancing of the experts.
 *
 * AdamW and the clip follow PyTorch's torch.optim.AdamW and clip_grad_norm_ operation for
 * operation, so a run can be checked step by step against a PyTorch one.
 */
#ifndef PD_TRAIN_OPTIM_H
#define PD_TRAIN_OPTIM_H

#include <stdint.h>

struct pd_adamw {
    float beta1, beta2;     /* moment decay rates (0.9, 0.999 are usual; DeepSeek uses 0.95) */
    float eps;              /* added to the root of the second moment */
    float weight_decay;     /* decoupled: w -= lr * weight_decay * w (0 for norms and biases) */
};

/*
 * One AdamW step for n parameters w with gradient g and moments m, v (zero before step 1), at
 * step t >= 1 (1-based, for the bias corrections) and learning rate lr:
 *   w *= 1 - lr wd;  m += (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2;
 *   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
void pd_optim_adamw_step(float *w, float *m, float *v, const float *g, int64_t n,
                         const struct pd_adamw *h, float lr, int64_t t);

/* The L2 norm of count gradient tensors together (g[i] holds n[i] floats). */
double pd_optim_grad_norm(float *const *g, const int64_t *n, int count);

/* Scale all count tensors by max_norm / (norm + 1e-6) when their global norm is larger than
 * max_norm (PyTorch's clip_grad_norm_). Returns the norm before clipping; a norm that is not
 * finite (an overflow, a NaN) is returned with nothing scaled, for the caller to skip the step. */
double pd_optim_grad_clip(float *const *g, const int64_t *n, int count, float max_norm);

struct pd_lr_schedule {
    float peak;             /* the rate at the end of the warmup */
    float floor;            /* the rate the cosine ends at */
    int64_t warmup;         /* steps of linear warmup from peak / warmup up to peak */
    int64_t total;          /* steps in all: the cosine reaches the floor at step total */
};

/* The learning rate of step (0-based): peak * (step + 1) / warmup while step < warmup, then
 * floor + (peak - floor) (1 + cos(pi (step - warmup) / (total - warmup))) / 2, and floor from
 * step total on. */
float pd_optim_lr(const struct pd_lr_schedule *s, int64_t step);

/*
 * DeepSeek-V3's aux-loss-free balancing, after each step: every expert's selection bias moves by
 * gamma toward equal load, bias[e] += gamma * sign(mean load - load[e]), load[X] as
 * pd_tr_expert_load reports it (an overloaded expert gets chosen less, an idle one more).
 */
void pd_optim_balance(float *bias, const float *load, int X, float gamma);

#endif
