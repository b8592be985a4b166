/*
 * gguf-get.c: typed access to GGUF metadata: the getters that convert between integer widths when
 * the value fits, and the element accessors of numeric arrays (decoded from the map on request).
 */
#include "config.h"

#include "engine/gguf.h"
#include "engine/gguf-impl.h"

#include <math.h>
#include <string.h>

static bool
type_is_unsigned(enum pd_gguf_type t)
{
    return t == PD_GGUF_TYPE_UINT8 || t == PD_GGUF_TYPE_UINT16 || t == PD_GGUF_TYPE_UINT32 ||
           t == PD_GGUF_TYPE_UINT64;
}

static bool
type_is_signed(enum pd_gguf_type t)
{
    return t == PD_GGUF_TYPE_INT8 || t == PD_GGUF_TYPE_INT16 || t == PD_GGUF_TYPE_INT32 ||
           t == PD_GGUF_TYPE_INT64;
}

/* Integer value of key as u64 (negative values do not fit). */
int
pd_gguf_get_u64(const struct pd_gguf *g, const char *key, uint64_t *out)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (type_is_unsigned(v->type))
        *out = v->v.u64;
    else if (type_is_signed(v->type) && v->v.i64 >= 0)
        *out = (uint64_t)v->v.i64;
    else
        return PD_EFORMAT;
    return 0;
}

/* Integer value of key as u32, when it fits. */
int
pd_gguf_get_u32(const struct pd_gguf *g, const char *key, uint32_t *out)
{
    uint64_t u;
    int rc = pd_gguf_get_u64(g, key, &u);
    if (rc != 0)
        return rc;
    if (u > UINT32_MAX)
        return PD_EFORMAT;
    *out = (uint32_t)u;
    return 0;
}

/* Integer value of key as i64, when it fits. */
int
pd_gguf_get_i64(const struct pd_gguf *g, const char *key, int64_t *out)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (type_is_signed(v->type))
        *out = v->v.i64;
    else if (type_is_unsigned(v->type) && v->v.u64 <= (uint64_t)INT64_MAX)
        *out = (int64_t)v->v.u64;
    else
        return PD_EFORMAT;
    return 0;
}

/* Float value of key; integers are converted too (some converters store 10000 as an integer). */
int
pd_gguf_get_f32(const struct pd_gguf *g, const char *key, float *out)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (v->type == PD_GGUF_TYPE_FLOAT32 || v->type == PD_GGUF_TYPE_FLOAT64)
        *out = (float)v->v.f64;
    else if (type_is_unsigned(v->type))
        *out = (float)v->v.u64;
    else if (type_is_signed(v->type))
        *out = (float)v->v.i64;
    else
        return PD_EFORMAT;
    return 0;
}

/* Bool value of key; no other type converts. */
int
pd_gguf_get_bool(const struct pd_gguf *g, const char *key, bool *out)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (v->type != PD_GGUF_TYPE_BOOL)
        return PD_EFORMAT;
    *out = v->v.u64 != 0;
    return 0;
}

/* String value of key (owned by g, NUL-terminated). */
int
pd_gguf_get_str(const struct pd_gguf *g, const char *key, const char **out)
{
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return PD_ENOTFOUND;
    if (v->type != PD_GGUF_TYPE_STRING)
        return PD_EFORMAT;
    *out = v->v.str.ptr;
    return 0;
}

/* Element i of a numeric array, decoded; an element that is not numeric or not there gives 0. */
static bool
arr_elem(const struct pd_gguf_value *arr, uint64_t i, struct pd_gguf_value *e)
{
    if (arr == NULL || arr->type != PD_GGUF_TYPE_ARRAY || i >= arr->v.arr.n ||
        arr->v.arr.raw == NULL)
        return false;
    size_t size = pd_gguf_scalar_size(arr->v.arr.elem_type);
    if (size == 0)
        return false;
    e->type = arr->v.arr.elem_type;
    pd_gguf_decode_scalar(e, (const uint8_t *)arr->v.arr.raw + i * size);
    return true;
}

/* Element i of a numeric array as int64 (floats truncated and clamped); 0 if out of range. */
int64_t
pd_gguf_arr_i64(const struct pd_gguf_value *arr, uint64_t i)
{
    struct pd_gguf_value e;
    if (!arr_elem(arr, i, &e))
        return 0;
    if (type_is_signed(e.type))
        return e.v.i64;
    if (type_is_unsigned(e.type) || e.type == PD_GGUF_TYPE_BOOL)
        return e.v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)e.v.u64;
    if (!(e.v.f64 == e.v.f64))
        return 0;
    if (e.v.f64 >= 9223372036854775807.0)
        return INT64_MAX;
    if (e.v.f64 <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)e.v.f64;
}

/* Element i of a numeric array as double; 0 if out of range. */
double
pd_gguf_arr_f64(const struct pd_gguf_value *arr, uint64_t i)
{
    struct pd_gguf_value e;
    if (!arr_elem(arr, i, &e))
        return 0;
    if (type_is_signed(e.type))
        return (double)e.v.i64;
    if (type_is_unsigned(e.type) || e.type == PD_GGUF_TYPE_BOOL)
        return (double)e.v.u64;
    return e.v.f64;
}

/* "uint32", "array", ...; "unknown" for a number outside the enum. */
