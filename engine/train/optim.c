/*
 * optim.c: AdamW, gradient clipping, the learning-rate schedule and expert balancing.
 *
 * Arithmetic follows PyTorch's single-tensor AdamW (the moment update as a lerp, the bias
 * corrections folded into the step size and the denominator) so that ten steps here and there
 * agree to float rounding, not just in spirit.
 */
#include "config.h"

#include "engine/pd.h"
#include "engine/train/optim.h"

#include <math.h>

void
pd_optim_adamw_step(float *w, float *m, float *v, const float *g, int64_t n,
                    const struct pd_adamw *h, float lr, int64_t t)
{
    PD_ASSERT(t >= 1);
    double bc1 = 1.0 - pow(h->beta1, (double)t), bc2 = 1.0 - pow(h->beta2, (double)t);
    float step = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = 1.0f - lr * h->weight_decay;
    float a1 = 1.0f - h->beta1, b2 = h->beta2, a2 = 1.0f - h->beta2;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        w[i] *= decay;
        m[i] += a1 * (gi - m[i]);
        v[i] = v[i] * b2 + a2 * gi * gi;
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + h->eps);
    }
}

double
pd_optim_grad_norm(float *const *g, const int64_t *n, int count)
{
    double ss = 0.0;
    for (int i = 0; i < count; i++)
        for (int64_t j = 0; j < n[i]; j++)
            ss += (double)g[i][j] * g[i][j];
    return sqrt(ss);
}

double
pd_optim_grad_clip(float *const *g, const int64_t *n, int count, float max_norm)
{
    double norm = pd_optim_grad_norm(g, n, count);
    double coef = max_norm / (norm + 1e-6);
    if (isfinite(norm) && coef < 1.0)
        for (int i = 0; i < count; i++)
            for (int64_t j = 0; j < n[i]; j++)
                g[i][j] *= (float)coef;
    return norm;
}

float
pd_optim_lr(const struct pd_lr_schedule *s, int64_t step)
{
    if (step < s->warmup)
        return s->peak * (float)(step + 1) / (float)s->warmup;
    if (step >= s->total)
        return s->floor;
    double ratio = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    return s->floor + (s->peak - s->floor) * (float)(0.5 * (1.0 + cos(M_PI * ratio)));
}

void
pd_optim_balance(float *bias, const float *load, int X, float gamma)
{
    double mean = 0.0;
    for (int e = 0; e < X; e++)
        mean += load[e];
    mean /= X;
    for (int e = 0; e < X; e++)
        bias[e] += load[e] < mean ? gamma : load[e] > mean ? -gamma : 0.0f;
}
