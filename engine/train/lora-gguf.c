/*
 * lora-gguf.c: a trained adapter as a file (llama.cpp's adapter GGUF, which engine/lora.c and
 * llama.cpp read), read back into an adapter of the same targets, and merged into the weights.
 *
 * Layouts need no change: A held [r][n_in] is ggml {n_in, r}, B held [n_out][r] is {r, n_out},
 * and every target is a 2-D weight held as GGUF holds it.
 */
#include "config.h"

#include "engine/train/lora-train.h"

#include <inttypes.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/train/model.h"
#include "kernels/cpu/quant.h"

/* The names of pair q's tensors. */
static void
pair_names(const struct pd_tlora_pair *q, char *a, char *b, size_t cap)
{
    snprintf(a, cap, "%s.lora_a", q->name);
    snprintf(b, cap, "%s.lora_b", q->name);
}

int
pd_tlora_add_gguf(const struct pd_tlora *l, struct pd_gguf_writer *w, const char *name,
                  char *err)
{
    int rc;
    if ((rc = pd_gguf_writer_set_str(w, "general.architecture", l->arch)) ||
        (rc = pd_gguf_writer_set_str(w, "general.type", "adapter")) ||
        (rc = pd_gguf_writer_set_str(w, "general.name", name)) ||
        (rc = pd_gguf_writer_set_str(w, "adapter.type", "lora")) ||
        (rc = pd_gguf_writer_set_f32(w, "adapter.lora.alpha", l->alpha)))
        return pd_errorf(err, rc, "adapter metadata: %s", pd_strerror(rc));
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        char an[96], bn[96];
        pair_names(q, an, bn, sizeof an);
        uint64_t r = (uint64_t)l->rank, nea[2] = { (uint64_t)q->n_in, r };
        uint64_t neb[2] = { r, (uint64_t)q->n_out };
        if ((rc = pd_gguf_writer_add_tensor(w, an, PD_TYPE_F32, 2, nea, l->params + q->a,
                                            nea[0] * nea[1] * sizeof(float))) ||
            (rc = pd_gguf_writer_add_tensor(w, bn, PD_TYPE_F32, 2, neb, l->params + q->b,
                                            neb[0] * neb[1] * sizeof(float))))
            return pd_errorf(err, rc, "tensor '%s': %s", an, pd_strerror(rc));
    }
    return 0;
}

int
pd_tlora_write_gguf(const struct pd_tlora *l, const char *name, const char *path, char *err)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    if (w == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = pd_tlora_add_gguf(l, w, name, err);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    return rc;
}

/* Tensor name of g into dst[n0][n1] (ggml {n1, n0}), F32. */
static int
read_tensor(float *dst, const struct pd_gguf *g, const char *name, int64_t n0, int64_t n1,
            const char *path, char *err)
{
    const struct pd_gguf_tensor *t = pd_gguf_tensor(g, name);
    if (t == NULL || t->type != PD_TYPE_F32 || t->n_dims != 2 || t->ne[0] != (uint64_t)n1 ||
        t->ne[1] != (uint64_t)n0)
        return pd_errorf(err, PD_EFORMAT, "%s: tensor '%s' missing or not F32 {%" PRId64
                         ", %" PRId64 "}", path, name, n1, n0);
    memcpy(dst, t->data, (size_t)(n0 * n1) * sizeof(float));
    return 0;
}

int
pd_tlora_read_gguf(struct pd_tlora *l, const struct pd_gguf *g, const char *path, char *err)
{
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        char an[96], bn[96];
        pair_names(q, an, bn, sizeof an);
        int rc = read_tensor(l->params + q->a, g, an, l->rank, q->n_in, path, err);
        if (rc == 0)
            rc = read_tensor(l->params + q->b, g, bn, q->n_out, l->rank, path, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void
pd_tlora_merge(const struct pd_tlora *l, struct pd_tmodel *m)
{
    int64_t r = l->rank;
    for (int i = 0; i < l->n_pairs; i++) {
        const struct pd_tlora_pair *q = &l->pairs[i];
        float *w = m->params + m->tensors[q->tensor].offset;
        const float *A = l->params + q->a, *B = l->params + q->b;
        for (int64_t o = 0; o < q->n_out; o++)
            for (int64_t k = 0; k < q->n_in; k++) {
                double d = 0.0;
                for (int64_t j = 0; j < r; j++)
                    d += (double)B[o * r + j] * A[j * q->n_in + k];
                w[o * q->n_in + k] += (float)(l->s * d);
            }
    }
}
