/*
 * quant-traits.c: the table of tensor formats, by ggml type number.
 *
 * Sizes are those of ggml's block structs (they are fixed by the files on disk). Types ggml has
 * retired (4, 5, 31-33, 36-38) have no entry; types ponder does not compute with keep their name
 * and size, so a loader can measure the file and still say exactly which type it cannot use.
 */
#include "config.h"

#include "kernels/cpu/quant.h"

#define QK 32
#define QK_K 256

#define T(id, nm, bs, ts, sup, vdt) \
    [id] = { .name = nm, .block_size = bs, .type_size = ts, .supported = sup, .vec_dot_type = vdt }

static const struct pd_type_traits type_traits[PD_TYPE_COUNT] = {
    T(PD_TYPE_F32, "f32", 1, 4, true, PD_TYPE_F32),
    T(PD_TYPE_F16, "f16", 1, 2, true, PD_TYPE_F32),
    T(PD_TYPE_Q4_0, "q4_0", QK, 18, true, PD_TYPE_Q8_0),
    T(PD_TYPE_Q4_1, "q4_1", QK, 20, true, PD_TYPE_Q8_1),
    T(PD_TYPE_Q5_0, "q5_0", QK, 22, true, PD_TYPE_Q8_0),
    T(PD_TYPE_Q5_1, "q5_1", QK, 24, true, PD_TYPE_Q8_1),
    T(PD_TYPE_Q8_0, "q8_0", QK, 34, true, PD_TYPE_Q8_0),
    T(PD_TYPE_Q8_1, "q8_1", QK, 36, false, PD_TYPE_Q8_1),
    T(PD_TYPE_Q2_K, "q2_K", QK_K, 84, true, PD_TYPE_Q8_K),
    T(PD_TYPE_Q3_K, "q3_K", QK_K, 110, true, PD_TYPE_Q8_K),
    T(PD_TYPE_Q4_K, "q4_K", QK_K, 144, true, PD_TYPE_Q8_K),
    T(PD_TYPE_Q5_K, "q5_K", QK_K, 176, true, PD_TYPE_Q8_K),
    T(PD_TYPE_Q6_K, "q6_K", QK_K, 210, true, PD_TYPE_Q8_K),
    T(PD_TYPE_Q8_K, "q8_K", QK_K, 292, false, PD_TYPE_Q8_K),
    T(16, "iq2_xxs", QK_K, 66, false, PD_TYPE_Q8_K),
    T(17, "iq2_xs", QK_K, 74, false, PD_TYPE_Q8_K),
    T(18, "iq3_xxs", QK_K, 98, false, PD_TYPE_Q8_K),
    T(19, "iq1_s", QK_K, 50, false, PD_TYPE_Q8_K),
    T(PD_TYPE_IQ4_NL, "iq4_nl", QK, 18, true, PD_TYPE_Q8_0),
    T(21, "iq3_s", QK_K, 110, false, PD_TYPE_Q8_K),
    T(22, "iq2_s", QK_K, 82, false, PD_TYPE_Q8_K),
    T(PD_TYPE_IQ4_XS, "iq4_xs", QK_K, 136, true, PD_TYPE_Q8_K),
    T(24, "i8", 1, 1, false, PD_TYPE_F32),
    T(25, "i16", 1, 2, false, PD_TYPE_F32),
    T(26, "i32", 1, 4, false, PD_TYPE_F32),
    T(27, "i64", 1, 8, false, PD_TYPE_F32),
    T(28, "f64", 1, 8, false, PD_TYPE_F32),
    T(29, "iq1_m", QK_K, 56, false, PD_TYPE_Q8_K),
    T(PD_TYPE_BF16, "bf16", 1, 2, true, PD_TYPE_F32),
    T(34, "tq1_0", QK_K, 54, false, PD_TYPE_Q8_K),
    T(35, "tq2_0", QK_K, 66, false, PD_TYPE_Q8_K),
    T(39, "mxfp4", QK, 17, false, PD_TYPE_Q8_0),
};

const struct pd_type_traits *
pd_type_traits_get(uint32_t type)
{
    if (type >= PD_TYPE_COUNT || type_traits[type].name == NULL)
        return NULL;
    return &type_traits[type];
}

size_t
pd_type_row_size(enum pd_type t, int64_t n)
{
    const struct pd_type_traits *tr = pd_type_traits_get(t);
    if (tr == NULL)
        return 0;
    return (size_t)(n / tr->block_size) * tr->type_size;
}
