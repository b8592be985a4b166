/*
 * ops-rope.c: rotary position embedding for training, on inference's own tables.
 *
 * Each row's (cos, sin) table comes from pd_rope_cache and the rotation from pd_rope_apply, the
 * very functions the forward pass uses, so both layouts, the frequency base, linear and YaRN
 * scaling and its magnitude factor are what inference (and llama.cpp) will apply. A rotation by
 * theta (times YaRN's magnitude m) is the matrix m [c -s; s c]; its transpose, the backward, is
 * the same rotation with sin negated.
 */
#include "config.h"

#include "engine/train/ops.h"

enum { ROPE_MAX_ROT = 1024 };

static void
rope_rows(float *x, const int32_t *pos, const struct pd_rope *r, int64_t N, int64_t ld,
          int n_head, int64_t hs, bool inverse)
{
    PD_ASSERT(r->n_rot > 0 && r->n_rot <= ROPE_MAX_ROT && r->n_rot % 2 == 0);
    float cs[ROPE_MAX_ROT];
    for (int64_t n = 0; n < N; n++) {
        pd_rope_cache(cs, r, pos[n]);
        if (inverse)
            for (int i = 1; i < r->n_rot; i += 2)
                cs[i] = -cs[i];
        pd_rope_apply(x + n * ld, cs, r, n_head, (int)hs);
    }
}

void
pd_tr_rope_forward(float *x, const int32_t *pos, const struct pd_rope *r, int64_t N, int64_t ld,
                   int n_head, int64_t hs)
{
    rope_rows(x, pos, r, N, ld, n_head, hs, false);
}

void
pd_tr_rope_backward(float *dx, const int32_t *pos, const struct pd_rope *r, int64_t N,
                    int64_t ld, int n_head, int64_t hs)
{
    rope_rows(dx, pos, r, N, ld, n_head, hs, true);
}

struct pd_rope
pd_tr_rope_plain(int n_rot, bool neox, float freq_base)
{
    return (struct pd_rope){
        .n_rot = n_rot, .neox = neox, .freq_base = freq_base, .freq_scale = 1.0f,
        .ext_factor = 0.0f, .attn_factor = 1.0f, .beta_fast = 32.0f, .beta_slow = 1.0f,
    };
}
