/*
 * lora-fwd.c: a context's adapters (loaded when it is made, freed with it) and their share of
 * each matrix product: after y = W x, every adapter with a pair for W adds s B (A x), in float32
 * from the float input x, whatever W's type and the activation format its product used.
 *
 * Two steps per pair, all threads, a barrier after each:
 *   u[T][r]     = x . A^T     split over the T*r (token, rank) cells (r is small)
 *   y[T][ldy]  += s u . B^T   split over the n_out rows of B, so no two threads write one cell
 */
#include "config.h"

#include "engine/forward-impl.h"
#include "engine/lora.h"

int
pd_lora_ctx_init(struct pd_context *c, const struct pd_context_params *p, char *err)
{
    int32_t max_r = 0;
    if (p->n_lora < 0 || p->n_lora > PD_MAX_LORA)
        return pd_errorf(err, PD_EINVAL, "%d adapters: at most %d", p->n_lora, PD_MAX_LORA);
    for (int i = 0; i < p->n_lora; i++) {
        int rc = pd_lora_load(&c->lora[i], c->m, p->lora_path[i], p->lora_scale[i], err);
        if (rc != 0)
            return rc;
        c->n_lora = i + 1;
        max_r = PD_MAX(max_r, pd_lora_max_rank(c->lora[i]));
    }
    if (max_r == 0)
        return 0;
    c->lora_u = malloc(sizeof(float) * (size_t)c->n_batch * (size_t)max_r);
    if (c->lora_u == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory for the adapters' scratch");
    return 0;
}

void
pd_lora_ctx_free(struct pd_context *c)
{
    for (int i = 0; i < c->n_lora; i++)
        pd_lora_free(c->lora[i]);
    c->n_lora = 0;
    free(c->lora_u);
    c->lora_u = NULL;
}

static void
apply_pair(struct pd_context *c, int ith, int nth, float *y, int64_t ldy,
           const struct pd_lora_pair *p, const float *x, int64_t T)
{
    int64_t r = p->r, n_in = p->n_in;
    float *u = c->lora_u;
    for (int64_t i = ith; i < T * r; i += nth) {
        const float *a = p->a + (i % r) * n_in, *xt = x + (i / r) * n_in;
        float d = 0.0f;
        for (int64_t k = 0; k < n_in; k++)
            d += a[k] * xt[k];
        u[i] = d * p->s;
    }
    BARRIER();
    for (int64_t o = ith; o < p->n_out; o += nth) {
        const float *b = p->b + o * r;
        for (int64_t t = 0; t < T; t++) {
            float d = 0.0f;
            for (int64_t j = 0; j < r; j++)
                d += b[j] * u[t * r + j];
            y[t * ldy + o] += d;
        }
    }
    BARRIER();
}

void
pd_lora_apply(struct pd_context *c, int ith, int nth, float *y, int64_t ldy,
              const struct pd_weight *w, const float *x, int64_t T)
{
    for (int i = 0; i < c->n_lora; i++) {
        const struct pd_lora_pair *p = pd_lora_find(c->lora[i], w);
        if (p)
            apply_pair(c, ith, nth, y, ldy, p, x, T);
    }
}
