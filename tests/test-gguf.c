/*
 * test-gguf.c: the GGUF reader and writer.
 *
 *   1. round trip: every value type, nested and string arrays, tensors of several types, at a
 *      custom and at the default alignment, through the writer and back through the reader;
 *   2. one hand-built bad file per loader check, each expecting a specific error code and a
 *      message that names the culprit;
 *   3. a valid small file cut at every length, and corrupted at every byte, must fail cleanly;
 *   4. the real model (PONDER_TEST_MODEL or tests/models/SmolLM2-135M-Instruct.Q4_1.gguf), when
 *      present: known facts, and a copy through the writer that reads back identical.
 *
 * With PONDER_GGUF_SEED_DIR set, the small files written here are also left in that folder, to
 * seed tests/fuzz/fuzz-gguf.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "kernels/cpu/quant.h"
#include "tests/tap.h"

static char tmpdir[256];

static const char *
tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static uint8_t *
slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (p != NULL && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* Also leave a copy of a small file in $PONDER_GGUF_SEED_DIR, for the fuzzer. */
static void
keep_seed(const char *name, const void *buf, size_t size)
{
    const char *dir = getenv("PONDER_GGUF_SEED_DIR");
    if (dir == NULL || size > 4096)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(buf, 1, size, f);
        fclose(f);
    }
}

/* ---- value comparison ----------------------------------------------------------------------- */

static size_t
elem_size(enum pd_gguf_type t)
{
    static const unsigned char sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return (unsigned)t < PD_GGUF_TYPE_COUNT ? sizes[t] : 0;
}

static int
value_eq(const struct pd_gguf_value *a, const struct pd_gguf_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case PD_GGUF_TYPE_STRING:
        return a->v.str.len == b->v.str.len &&
               memcmp(a->v.str.ptr, b->v.str.ptr, (size_t)a->v.str.len) == 0;
    case PD_GGUF_TYPE_ARRAY:
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n)
            return 0;
        if (elem_size(a->v.arr.elem_type) != 0)
            return a->v.arr.n == 0 || memcmp(a->v.arr.raw, b->v.arr.raw,
                                             (size_t)a->v.arr.n * elem_size(a->v.arr.elem_type)) == 0;
        for (uint64_t i = 0; i < a->v.arr.n; i++)
            if (!value_eq(&a->v.arr.items[i], &b->v.arr.items[i]))
                return 0;
        return 1;
    default:
        return memcmp(&a->v, &b->v, sizeof a->v.u64) == 0;
    }
}

/* ---- 1. round trip -------------------------------------------------------------------------- */

static const float f32_data[24] = { 0, .5f, 1, 1.5f, 2, 2.5f, 3, 3.5f, -1, -2, -3, -4,
                                    1e-3f, 1e3f, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static uint8_t q_data[1024];

static void
set_scalars(struct pd_gguf_writer *w)
{
    struct pd_gguf_value v;
    ok(pd_gguf_writer_set_u32(w, "t.u32", 0xdeadbeefu) == 0 &&
       pd_gguf_writer_set_i32(w, "t.i32", -123456) == 0 &&
       pd_gguf_writer_set_u64(w, "t.u64", (1ull << 40) + 5) == 0 &&
       pd_gguf_writer_set_f32(w, "t.f32", 1.5f) == 0 &&
       pd_gguf_writer_set_bool(w, "t.bool", true) == 0 &&
       pd_gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo") == 0 &&
       pd_gguf_writer_set_u32(w, "t.replaced", 1) == 0 &&
       pd_gguf_writer_set_u32(w, "t.replaced", 2) == 0, "typed setters");
    int rc = 0;
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_UINT8, .v.u64 = 200 };
    rc |= pd_gguf_writer_set_value(w, "t.u8", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_INT8, .v.i64 = -100 };
    rc |= pd_gguf_writer_set_value(w, "t.i8", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_UINT16, .v.u64 = 60000 };
    rc |= pd_gguf_writer_set_value(w, "t.u16", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_INT16, .v.i64 = -30000 };
    rc |= pd_gguf_writer_set_value(w, "t.i16", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_INT64, .v.i64 = -(1ll << 50) };
    rc |= pd_gguf_writer_set_value(w, "t.i64", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_FLOAT64, .v.f64 = 3.141592653589793 };
    rc |= pd_gguf_writer_set_value(w, "t.f64", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_BOOL, .v.u64 = 0 };
    rc |= pd_gguf_writer_set_value(w, "t.false", &v);
    v = (struct pd_gguf_value){ .type = PD_GGUF_TYPE_STRING };
    v.v.str.ptr = "a\0b";
    v.v.str.len = 3;
    rc |= pd_gguf_writer_set_value(w, "t.nul", &v);
    ok(rc == 0, "set_value for the remaining scalar types");
}

static const uint8_t arr_u8[] = { 1, 2, 255 };
static const int8_t arr_i8[] = { -128, 0, 127 };
static const uint16_t arr_u16[] = { 0, 65535 };
static const int16_t arr_i16[] = { -32768, 32767 };
static const uint32_t arr_u32[] = { 0, 1, 4000000000u };
static const int32_t arr_i32[] = { -2000000000, 5 };
static const float arr_f32[] = { 0.25f, -8 };
static const uint8_t arr_bool[] = { 1, 0, 1 };
static const uint64_t arr_u64[] = { 1ull << 63, 7 };
static const int64_t arr_i64[] = { -(1ll << 62), 9 };
static const double arr_f64[] = { 0.1, -1e300 };

#define ARR(t, a) { t, a, PD_ARRAY_SIZE(a) }
static const struct {
    enum pd_gguf_type type;
    const void *data;
    uint64_t n;
} num_arrays[] = {
    ARR(PD_GGUF_TYPE_UINT8, arr_u8), ARR(PD_GGUF_TYPE_INT8, arr_i8),
    ARR(PD_GGUF_TYPE_UINT16, arr_u16), ARR(PD_GGUF_TYPE_INT16, arr_i16),
    ARR(PD_GGUF_TYPE_UINT32, arr_u32), ARR(PD_GGUF_TYPE_INT32, arr_i32),
    ARR(PD_GGUF_TYPE_FLOAT32, arr_f32), ARR(PD_GGUF_TYPE_BOOL, arr_bool),
    ARR(PD_GGUF_TYPE_UINT64, arr_u64), ARR(PD_GGUF_TYPE_INT64, arr_i64),
    ARR(PD_GGUF_TYPE_FLOAT64, arr_f64),
};

static void
set_arrays(struct pd_gguf_writer *w)
{
    int rc = 0;
    char key[64];
    for (size_t i = 0; i < PD_ARRAY_SIZE(num_arrays); i++) {
        snprintf(key, sizeof key, "a.%s", pd_gguf_type_name(num_arrays[i].type));
        rc |= pd_gguf_writer_set_arr(w, key, num_arrays[i].type, num_arrays[i].data,
                                     num_arrays[i].n);
    }
    static const char *const strs[] = { "alpha", "", "\xe2\x96\x81the" };
    rc |= pd_gguf_writer_set_arr_str(w, "a.strings", strs, 3);
    rc |= pd_gguf_writer_set_arr_str(w, "a.empty", NULL, 0);
    ok(rc == 0, "numeric, string and empty arrays set");

    /* [[1, 2, 3] (u32), [] (i8), [["x", "y"]] ... ] is not allowed (elements share a type), so:
     * outer = array of arrays: [ [u32 1 2 3], [u32] ]; deep = [[["x", "y"], []]] */
    static const uint32_t inner[] = { 1, 2, 3 };
    struct pd_gguf_value in2[2] = { { .type = PD_GGUF_TYPE_ARRAY }, { .type = PD_GGUF_TYPE_ARRAY } };
    in2[0].v.arr.elem_type = PD_GGUF_TYPE_UINT32;
    in2[0].v.arr.n = 3;
    in2[0].v.arr.raw = inner;
    in2[1].v.arr.elem_type = PD_GGUF_TYPE_INT8;
    struct pd_gguf_value outer = { .type = PD_GGUF_TYPE_ARRAY };
    outer.v.arr.elem_type = PD_GGUF_TYPE_ARRAY;
    outer.v.arr.n = 2;
    outer.v.arr.items = in2;
    struct pd_gguf_value xs[2] = { { .type = PD_GGUF_TYPE_STRING }, { .type = PD_GGUF_TYPE_STRING } };
    xs[0].v.str.ptr = "x";
    xs[0].v.str.len = 1;
    xs[1].v.str.ptr = "y";
    xs[1].v.str.len = 1;
    struct pd_gguf_value lvl2[2] = { { .type = PD_GGUF_TYPE_ARRAY }, { .type = PD_GGUF_TYPE_ARRAY } };
    lvl2[0].v.arr.elem_type = PD_GGUF_TYPE_STRING;
    lvl2[0].v.arr.n = 2;
    lvl2[0].v.arr.items = xs;
    lvl2[1].v.arr.elem_type = PD_GGUF_TYPE_STRING;
    struct pd_gguf_value lvl1 = { .type = PD_GGUF_TYPE_ARRAY };
    lvl1.v.arr.elem_type = PD_GGUF_TYPE_ARRAY;
    lvl1.v.arr.n = 2;
    lvl1.v.arr.items = lvl2;
    struct pd_gguf_value deep = { .type = PD_GGUF_TYPE_ARRAY };
    deep.v.arr.elem_type = PD_GGUF_TYPE_ARRAY;
    deep.v.arr.n = 1;
    deep.v.arr.items = &lvl1;
    ok(pd_gguf_writer_set_value(w, "a.nested", &outer) == 0 &&
       pd_gguf_writer_set_value(w, "a.deep", &deep) == 0, "nested arrays set");
}

struct tspec {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t nbytes;
    const void *data;
};

static const struct tspec tspecs[] = {
    { "blk.0.f32", PD_TYPE_F32, 2, { 8, 3 }, 96, f32_data },
    { "blk.0.f16", PD_TYPE_F16, 1, { 16 }, 32, q_data },
    { "blk.0.q8_0", PD_TYPE_Q8_0, 2, { 64, 2 }, 2 * 2 * 34, q_data + 7 },
    { "blk.0.q4_K", PD_TYPE_Q4_K, 3, { 256, 1, 2 }, 2 * 144, q_data + 100 },
    { "blk.0.i32", 26, 1, { 5 }, 20, q_data + 3 },
    { "empty", PD_TYPE_F32, 2, { 4, 0 }, 0, NULL },
};

static void
add_tensors(struct pd_gguf_writer *w)
{
    int rc = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(tspecs); i++) {
        const struct tspec *s = &tspecs[i];
        rc |= pd_gguf_writer_add_tensor(w, s->name, s->type, s->n_dims, s->ne, s->data, s->nbytes);
    }
    ok(rc == 0, "%zu tensors of 5 types added", PD_ARRAY_SIZE(tspecs));
}

static void
check_scalars(const struct pd_gguf *g)
{
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    bool b = false;
    const char *s = NULL;
    ok(pd_gguf_get_u32(g, "t.u32", &u32) == 0 && u32 == 0xdeadbeefu, "u32");
    ok(pd_gguf_get_i64(g, "t.i32", &i64) == 0 && i64 == -123456, "i32 as i64");
    ok(pd_gguf_get_u64(g, "t.u64", &u64) == 0 && u64 == (1ull << 40) + 5, "u64");
    ok(pd_gguf_get_f32(g, "t.f32", &f32) == 0 && f32 == 1.5f, "f32");
    ok(pd_gguf_get_bool(g, "t.bool", &b) == 0 && b, "bool true");
    ok(pd_gguf_get_bool(g, "t.false", &b) == 0 && !b, "bool false");
    ok(pd_gguf_get_str(g, "t.str", &s) == 0 && strcmp(s, "h\xc3\xa9llo") == 0, "string");
    ok(pd_gguf_get_u32(g, "t.replaced", &u32) == 0 && u32 == 2, "a replaced key keeps the last value");
    ok(pd_gguf_get_u64(g, "t.u8", &u64) == 0 && u64 == 200, "u8");
    ok(pd_gguf_get_i64(g, "t.i8", &i64) == 0 && i64 == -100, "i8");
    ok(pd_gguf_get_u32(g, "t.u16", &u32) == 0 && u32 == 60000, "u16");
    ok(pd_gguf_get_i64(g, "t.i16", &i64) == 0 && i64 == -30000, "i16");
    ok(pd_gguf_get_i64(g, "t.i64", &i64) == 0 && i64 == -(1ll << 50), "i64");
    const struct pd_gguf_value *v = pd_gguf_get(g, "t.f64");
    ok(v && v->type == PD_GGUF_TYPE_FLOAT64 && v->v.f64 == 3.141592653589793, "f64");
    v = pd_gguf_get(g, "t.nul");
    ok(v && v->v.str.len == 3 && memcmp(v->v.str.ptr, "a\0b", 4) == 0, "string with a NUL byte");

    u32 = 77;
    ok(pd_gguf_get_u32(g, "t.i32", &u32) == PD_EFORMAT && u32 == 77, "negative into u32: EFORMAT");
    ok(pd_gguf_get_u32(g, "t.u64", &u32) == PD_EFORMAT, "2^40 into u32: EFORMAT");
    ok(pd_gguf_get_str(g, "t.u32", &s) == PD_EFORMAT, "u32 as string: EFORMAT");
    ok(pd_gguf_get_bool(g, "t.u8", &b) == PD_EFORMAT, "u8 as bool: EFORMAT");
    ok(pd_gguf_get_u32(g, "no.such.key", &u32) == PD_ENOTFOUND && u32 == 77 &&
       pd_gguf_get(g, "no.such.key") == NULL, "absent key: ENOTFOUND, out untouched");
}

static void
check_arrays(const struct pd_gguf *g)
{
    int good = 1;
    char key[64];
    for (size_t i = 0; i < PD_ARRAY_SIZE(num_arrays); i++) {
        snprintf(key, sizeof key, "a.%s", pd_gguf_type_name(num_arrays[i].type));
        const struct pd_gguf_value *v = pd_gguf_get(g, key);
        good &= v && v->type == PD_GGUF_TYPE_ARRAY && v->v.arr.elem_type == num_arrays[i].type &&
                v->v.arr.n == num_arrays[i].n && v->v.arr.items == NULL &&
                memcmp(v->v.arr.raw, num_arrays[i].data,
                       (size_t)num_arrays[i].n * elem_size(num_arrays[i].type)) == 0;
    }
    ok(good, "11 numeric arrays read back byte for byte");
    const struct pd_gguf_value *v = pd_gguf_get(g, "a.int8");
    ok(pd_gguf_arr_i64(v, 0) == -128 && pd_gguf_arr_f64(v, 2) == 127.0, "pd_gguf_arr_* on int8");
    v = pd_gguf_get(g, "a.uint32");
    ok(pd_gguf_arr_i64(v, 2) == 4000000000ll && pd_gguf_arr_i64(v, 3) == 0, "uint32, out of range");
    v = pd_gguf_get(g, "a.float64");
    ok(pd_gguf_arr_f64(v, 1) == -1e300 && pd_gguf_arr_i64(v, 1) == INT64_MIN, "float64 converted");
    v = pd_gguf_get(g, "a.strings");
    ok(v && v->v.arr.n == 3 && strcmp(v->v.arr.items[0].v.str.ptr, "alpha") == 0 &&
       v->v.arr.items[1].v.str.len == 0 && strcmp(v->v.arr.items[2].v.str.ptr, "\xe2\x96\x81the") == 0,
       "string array");
    v = pd_gguf_get(g, "a.empty");
    ok(v && v->v.arr.elem_type == PD_GGUF_TYPE_STRING && v->v.arr.n == 0, "empty array");
    v = pd_gguf_get(g, "a.nested");
    ok(v && v->v.arr.elem_type == PD_GGUF_TYPE_ARRAY && v->v.arr.n == 2 &&
       pd_gguf_arr_i64(&v->v.arr.items[0], 2) == 3 && v->v.arr.items[1].v.arr.n == 0 &&
       v->v.arr.items[1].v.arr.elem_type == PD_GGUF_TYPE_INT8, "array of arrays");
    v = pd_gguf_get(g, "a.deep");
    const struct pd_gguf_value *l2 = v ? &v->v.arr.items[0].v.arr.items[0] : NULL;
    ok(l2 && l2->v.arr.n == 2 && strcmp(l2->v.arr.items[1].v.str.ptr, "y") == 0,
       "array of arrays of string arrays");
}

/* Tensors: shape, type, aligned offsets, data, zero padding after each. */
static void
check_tensors(const struct pd_gguf *g, uint64_t alignment)
{
    is_int(g->n_tensors, PD_ARRAY_SIZE(tspecs), "tensor count");
    int good = 1, pad_zero = 1;
    for (size_t i = 0; i < PD_ARRAY_SIZE(tspecs) && i < g->n_tensors; i++) {
        const struct tspec *s = &tspecs[i];
        const struct pd_gguf_tensor *t = pd_gguf_tensor(g, s->name);
        good &= t == &g->tensors[i] && t->type == s->type && t->n_dims == s->n_dims &&
                t->nbytes == s->nbytes && t->offset % alignment == 0 &&
                (s->nbytes == 0 || memcmp(t->data, s->data, (size_t)s->nbytes) == 0);
        for (uint32_t j = 0; j < 4; j++)
            good &= t->ne[j] == (j < s->n_dims ? s->ne[j] : 1);
        const uint8_t *end = g->map + g->data_offset + t->offset + t->nbytes;
        for (; (uint64_t)(end - g->map) % alignment != 0; end++)
            pad_zero &= *end == 0;
    }
    ok(good, "tensors: names, types, shapes, aligned offsets and data");
    ok(pad_zero && g->size % alignment == 0, "padding after each tensor is zero");
    ok(pd_gguf_tensor(g, "no.such.tensor") == NULL, "absent tensor: NULL");
}

static void
test_round_trip(uint32_t alignment)
{
    diag("round trip, alignment %u", alignment);
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    if (alignment != PD_GGUF_DEFAULT_ALIGNMENT)
        pd_gguf_writer_set_u32(w, "general.alignment", alignment);
    set_scalars(w);
    set_arrays(w);
    add_tensors(w);
    char err[PD_ERR_MAX] = "";
    const char *path = tmp_path("rt.gguf");
    int rc = pd_gguf_writer_write(w, path, err);
    ok(rc == 0, "write %s %s", path, err);
    pd_gguf_writer_free(w);
    struct pd_gguf *g = NULL;
    rc = pd_gguf_open(&g, path, err);
    ok(rc == 0 && g != NULL, "reopen: %s", rc ? err : "ok");
    if (g == NULL)
        return;
    ok(g->version == 3 && g->alignment == alignment && g->data_offset % alignment == 0,
       "version 3, alignment %u, data section aligned", alignment);
    is_int(g->n_kv, 15 + 15 + (alignment != PD_GGUF_DEFAULT_ALIGNMENT), "key count");
    check_scalars(g);
    check_arrays(g);
    check_tensors(g, alignment);
    if (alignment == 64)
        keep_seed("roundtrip.gguf", g->map, (size_t)g->size);
    pd_gguf_close(g);
}

static void
test_writer_errors(void)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    uint64_t ne[2] = { 32, 2 };
    int e1 = pd_gguf_writer_add_tensor(w, "a", PD_TYPE_Q8_0, 2, ne, q_data, 67);
    int e2 = pd_gguf_writer_add_tensor(w, "a", 4, 2, ne, q_data, 64);
    uint64_t bad_ne[1] = { 33 };
    int e3 = pd_gguf_writer_add_tensor(w, "a", PD_TYPE_Q8_0, 1, bad_ne, q_data, 34);
    int e4 = pd_gguf_writer_add_tensor(w, "a", PD_TYPE_F32, 0, ne, q_data, 4);
    int ok1 = pd_gguf_writer_add_tensor(w, "a", PD_TYPE_Q8_0, 2, ne, q_data, 68);
    int e5 = pd_gguf_writer_add_tensor(w, "a", PD_TYPE_Q8_0, 2, ne, q_data, 68);
    ok(e1 == PD_EINVAL && e2 == PD_EINVAL && e3 == PD_EINVAL && e4 == PD_EINVAL && ok1 == 0 &&
       e5 == PD_EINVAL, "add_tensor refuses wrong nbytes, type 4, ne[0] 33, n_dims 0, a duplicate");
    struct pd_gguf_value bad = { .type = PD_GGUF_TYPE_ARRAY };
    struct pd_gguf_value item = { .type = PD_GGUF_TYPE_UINT8 };
    bad.v.arr.elem_type = PD_GGUF_TYPE_STRING;
    bad.v.arr.n = 1;
    bad.v.arr.items = &item;
    struct pd_gguf_value badtype = { .type = (enum pd_gguf_type)13 };
    ok(pd_gguf_writer_set_value(w, "k", &bad) == PD_EINVAL &&
       pd_gguf_writer_set_value(w, "k", &badtype) == PD_EINVAL &&
       pd_gguf_writer_set_arr(w, "k", PD_GGUF_TYPE_STRING, q_data, 1) == PD_EINVAL,
       "set_value refuses mistyped elements and unknown types");
    char err[PD_ERR_MAX] = "";
    pd_gguf_writer_set_u32(w, "general.alignment", 3);
    const char *path = tmp_path("bad-align.gguf");
    int rc = pd_gguf_writer_write(w, path, err);
    ok(rc == PD_EINVAL && strstr(err, "general.alignment 3") && access(path, F_OK) != 0,
       "alignment 3 refused, nothing written: %s", err);
    pd_gguf_writer_set_u32(w, "general.alignment", 32);
    rc = pd_gguf_writer_write(w, "/nonexistent-dir/x.gguf", err);
    ok(rc == PD_EIO && strstr(err, "/nonexistent-dir/x.gguf"), "unwritable path: EIO: %s", err);
    pd_gguf_writer_free(w);
}

/* ---- 2. hand-built bad files ---------------------------------------------------------------- */

struct bb {
    uint8_t p[8192];
    size_t n;
};

static void
bb_put(struct bb *b, const void *src, size_t n)
{
    PD_ASSERT(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void
bb_le(struct bb *b, uint64_t x, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        uint8_t c = (uint8_t)(x >> (8 * i));
        bb_put(b, &c, 1);
    }
}

static void
bb_str(struct bb *b, const char *s)
{
    bb_le(b, strlen(s), 8);
    bb_put(b, s, strlen(s));
}

static void
bb_header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    bb_put(b, "GGUF", 4);
    bb_le(b, version, 4);
    bb_le(b, n_tensors, 8);
    bb_le(b, n_kv, 8);
}

static void
bb_kv_u32(struct bb *b, const char *key, uint32_t v)
{
    bb_str(b, key);
    bb_le(b, PD_GGUF_TYPE_UINT32, 4);
    bb_le(b, v, 4);
}

static void
bb_tensor(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
          uint64_t offset)
{
    bb_str(b, name);
    bb_le(b, n_dims, 4);
    for (uint32_t i = 0; i < n_dims; i++)
        bb_le(b, ne[i], 8);
    bb_le(b, type, 4);
    bb_le(b, offset, 8);
}

/* Zero padding to a multiple of 32, then n zero bytes of data. */
static void
bb_data(struct bb *b, size_t n)
{
    static const uint8_t zeros[4096];
    bb_put(b, zeros, (32 - b->n % 32) % 32);
    bb_put(b, zeros, n);
}

static void
expect_bad(const struct bb *b, int code, const char *sub1, const char *sub2, const char *what)
{
    struct pd_gguf *g = (struct pd_gguf *)1;
    char err[PD_ERR_MAX] = "";
    uint8_t *copy = malloc(b->n ? b->n : 1);   /* exactly n bytes, so a sanitizer sees overreads */
    memcpy(copy, b->p, b->n);
    int rc = pd_gguf_open_memory(&g, copy, b->n, err);
    int good = rc == code && g == NULL && strstr(err, sub1) && (!sub2 || strstr(err, sub2));
    if (!ok(good, "%s", what))
        diag("  rc %d (want %d), message: %s", rc, code, err);
    else
        diag("  %s", err);
    if (rc == 0)
        pd_gguf_close(g);
    free(copy);
}

static void
test_bad_header(void)
{
    static struct bb b;
    bb_header(&b, 3, 0, 0);
    memcpy(b.p, "GGFU", 4);
    expect_bad(&b, PD_EFORMAT, "bad magic", "offset 0", "bad magic");
    keep_seed("empty.gguf", "GGUF\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
    bb_header(&b, 1, 0, 0);
    expect_bad(&b, PD_EUNSUPPORTED, "version 1", NULL, "version 1 refused");
    bb_header(&b, 99, 0, 0);
    expect_bad(&b, PD_EUNSUPPORTED, "version 99", NULL, "version 99 refused");
    bb_header(&b, 0x03000000, 0, 0);
    expect_bad(&b, PD_EUNSUPPORTED, "big-endian", NULL, "big-endian file refused");
    b.n = 3;
    expect_bad(&b, PD_EFORMAT, "3 bytes", NULL, "3-byte file");
    bb_header(&b, 3, 0, 1ull << 60);
    expect_bad(&b, PD_EFORMAT, "n_kv 1152921504606846976", NULL, "huge n_kv");
    bb_header(&b, 3, 1ull << 60, 0);
    expect_bad(&b, PD_EFORMAT, "n_tensors 1152921504606846976", NULL, "huge n_tensors");
    bb_header(&b, 2, 0, 1);
    bb_le(&b, 1000, 8);
    bb_put(&b, "general.name.and.more", 21);
    expect_bad(&b, PD_EFORMAT, "key #0 at offset 24", "length 1000", "key length past end (v2)");
}

/* A file with one key whose value bytes follow; for value-level errors. */
static void
kv_file(struct bb *b, const char *key, uint32_t type)
{
    bb_header(b, 3, 0, 1);
    bb_str(b, key);
    bb_le(b, type, 4);
}

static void
test_bad_values(void)
{
    static struct bb b;
    kv_file(&b, "general.name", PD_GGUF_TYPE_STRING);
    bb_le(&b, 500, 8);
    bb_put(&b, "SmolLM", 6);
    expect_bad(&b, PD_EFORMAT, "key 'general.name' at offset 24", "string length 500",
               "string value past end");
    kv_file(&b, "tokenizer.ggml.tokens", PD_GGUF_TYPE_ARRAY);
    bb_le(&b, PD_GGUF_TYPE_STRING, 4);
    bb_le(&b, 1ull << 40, 8);
    bb_str(&b, "a");
    expect_bad(&b, PD_EFORMAT, "key 'tokenizer.ggml.tokens'", "1099511627776", "string array count past end");
    kv_file(&b, "scores", PD_GGUF_TYPE_ARRAY);
    bb_le(&b, PD_GGUF_TYPE_FLOAT32, 4);
    bb_le(&b, (1ull << 62) + 1, 8);   /* count * 4 wraps to 4 */
    bb_le(&b, 0, 4);
    expect_bad(&b, PD_EFORMAT, "key 'scores'", "4611686018427387905", "float array count*4 wraps");
    kv_file(&b, "bomb", PD_GGUF_TYPE_ARRAY);
    bb_le(&b, PD_GGUF_TYPE_ARRAY, 4);
    bb_le(&b, 1ull << 50, 8);
    for (int i = 0; i < 10; i++) {
        bb_le(&b, PD_GGUF_TYPE_UINT8, 4);
        bb_le(&b, 0, 8);
    }
    expect_bad(&b, PD_EFORMAT, "key 'bomb'", "1125899906842624", "nested array bomb: 2^50 arrays");
    kv_file(&b, "deep", PD_GGUF_TYPE_ARRAY);
    for (int i = 0; i < 200; i++) {
        bb_le(&b, PD_GGUF_TYPE_ARRAY, 4);
        bb_le(&b, 1, 8);
    }
    expect_bad(&b, PD_EFORMAT, "key 'deep'", "nested more than", "nested array bomb: 200 deep");
    kv_file(&b, "weird", 13);
    bb_le(&b, 0, 8);
    expect_bad(&b, PD_EFORMAT, "key 'weird'", "unknown value type 13", "unknown value type");
    kv_file(&b, "weird.arr", PD_GGUF_TYPE_ARRAY);
    bb_le(&b, 42, 4);
    bb_le(&b, 0, 8);
    expect_bad(&b, PD_EFORMAT, "key 'weird.arr'", "element type 42", "unknown array element type");
    kv_file(&b, "tokenizer.ggml.add_bos_token", PD_GGUF_TYPE_BOOL);
    bb_le(&b, 2, 1);
    expect_bad(&b, PD_EFORMAT, "key 'tokenizer.ggml.add_bos_token'", "is 2, not 0 or 1", "bool value 2");
    kv_file(&b, "flags", PD_GGUF_TYPE_ARRAY);
    bb_le(&b, PD_GGUF_TYPE_BOOL, 4);
    bb_le(&b, 3, 8);
    bb_put(&b, "\1\0\7", 3);
    expect_bad(&b, PD_EFORMAT, "key 'flags'", "bool element 2", "bool array element 7");
    kv_file(&b, "a\nb\x1b[2J", PD_GGUF_TYPE_BOOL);
    bb_le(&b, 9, 1);
    expect_bad(&b, PD_EFORMAT, "key 'a\\x0ab\\x1b[2J'", NULL, "control bytes in a key are escaped");
    char long_key[301];
    memset(long_key, 'k', 300);
    long_key[300] = '\0';
    kv_file(&b, long_key, PD_GGUF_TYPE_BOOL);
    bb_le(&b, 9, 1);
    expect_bad(&b, PD_EFORMAT, "kkk...' at offset 24", "is 9", "a 300-byte key is shortened");
}

static void
test_bad_keys(void)
{
    static struct bb b;
    bb_header(&b, 3, 0, 2);
    bb_kv_u32(&b, "llama.block_count", 30);
    bb_kv_u32(&b, "llama.block_count", 31);
    expect_bad(&b, PD_EFORMAT, "key 'llama.block_count' at offset 57", "duplicate key", "duplicate key");
    bb_header(&b, 3, 0, 1);
    bb_le(&b, 3, 8);
    bb_put(&b, "a\0b", 3);
    bb_le(&b, PD_GGUF_TYPE_UINT8, 4);
    bb_le(&b, 0, 1);
    expect_bad(&b, PD_EFORMAT, "key #0", "NUL byte", "key with a NUL byte");
    bb_header(&b, 3, 0, 1);
    bb_kv_u32(&b, "general.alignment", 0);
    expect_bad(&b, PD_EFORMAT, "key 'general.alignment'", "alignment 0", "alignment 0");
    bb_header(&b, 3, 0, 1);
    bb_kv_u32(&b, "general.alignment", 3);
    expect_bad(&b, PD_EFORMAT, "key 'general.alignment'", "alignment 3", "alignment 3");
    kv_file(&b, "general.alignment", PD_GGUF_TYPE_STRING);
    bb_str(&b, "32");
    expect_bad(&b, PD_EFORMAT, "key 'general.alignment'", "type string", "alignment as a string");
}

static void
test_bad_tensors(void)
{
    static struct bb b;
    uint64_t ne[5] = { 32, 2, 1, 1, 1 };
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "blk.0.attn_q.weight", 2, ne, 77, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EUNSUPPORTED, "tensor 'blk.0.attn_q.weight' at offset 24", "type 77",
               "unknown tensor type");
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "t5", 5, ne, PD_TYPE_F32, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 't5'", "n_dims 5", "n_dims 5");
    uint64_t ne33[2] = { 33, 2 };
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "odd", 2, ne33, PD_TYPE_Q8_0, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'odd'", "ne[0] = 33 is not a multiple of the q8_0 block size 32",
               "ne[0] not a multiple of the block size");
    uint64_t big[3] = { 1ull << 40, 1ull << 40, 1 };
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "huge", 3, big, PD_TYPE_F32, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'huge'", "overflows", "dimension product overflow");
    uint64_t bytes_ovf[2] = { 1ull << 62, 1 };
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "wide", 2, bytes_ovf, PD_TYPE_F32, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'wide'", "overflows", "byte size overflow");
    uint64_t neg[1] = { (uint64_t)-5 };
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "neg", 1, neg, PD_TYPE_F32, 0);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'neg'", "ne[0] = -5 is negative", "negative dimension");
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "mis", 2, ne, PD_TYPE_F32, 4);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'mis'", "offset 4 is not a multiple of the alignment 32",
               "misaligned offset");
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "blk.0.attn_q.weight", 2, ne, PD_TYPE_F32, 64);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'blk.0.attn_q.weight' at offset 24",
               "data [160, 416) extends past end of file (352 bytes)", "data past end of file");
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, "far", 2, ne, PD_TYPE_F32, 1ull << 63);
    bb_data(&b, 256);
    expect_bad(&b, PD_EFORMAT, "tensor 'far'", "extends past end", "offset 2^63");
}

static void
test_bad_tensor_pairs(void)
{
    static struct bb b;
    uint64_t ne[2] = { 32, 2 };
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 2, ne, PD_TYPE_F32, 0);
    bb_tensor(&b, "b", 2, ne, PD_TYPE_F32, 256);
    bb_data(&b, 512);
    keep_seed("two-tensors.gguf", b.p, b.n);
    struct pd_gguf *g = NULL;
    char err[PD_ERR_MAX] = "";
    ok(pd_gguf_open_memory(&g, b.p, b.n, err) == 0, "two adjacent tensors are fine: %s", err);
    pd_gguf_close(g);
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 2, ne, PD_TYPE_F32, 0);
    bb_tensor(&b, "b", 2, ne, PD_TYPE_F32, 96);
    bb_data(&b, 512);
    expect_bad(&b, PD_EFORMAT, "tensor 'b' at offset 65", "overlaps tensor 'a'", "overlapping tensors");
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 2, ne, PD_TYPE_F32, 0);
    bb_tensor(&b, "a", 2, ne, PD_TYPE_F32, 256);
    bb_data(&b, 512);
    expect_bad(&b, PD_EFORMAT, "tensor 'a' at offset 65", "duplicate tensor name", "duplicate tensor name");
    bb_header(&b, 3, 1, 1);
    bb_kv_u32(&b, "general.alignment", 64);
    bb_tensor(&b, "a", 2, ne, PD_TYPE_F32, 32);
    bb_data(&b, 512);
    expect_bad(&b, PD_EFORMAT, "tensor 'a'", "alignment 64", "offset 32 misaligned at alignment 64");
}

static void
test_open_errors(void)
{
    struct pd_gguf *g = NULL;
    char err[PD_ERR_MAX] = "";
    int rc = pd_gguf_open(&g, tmp_path("does-not-exist.gguf"), err);
    ok(rc == PD_EIO && g == NULL && strstr(err, "does-not-exist.gguf"), "missing file: EIO: %s", err);
    rc = pd_gguf_open(&g, tmpdir, err);
    ok(rc == PD_EIO && g == NULL, "a directory: EIO: %s", err);
    pd_gguf_close(NULL);
}

/* ---- 3. truncation and corruption ----------------------------------------------------------- */

/* A small valid file with a bit of everything; returns its bytes and the end of its last tensor. */
static uint8_t *
small_file(size_t *size, size_t *data_end)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    static const char *const toks[] = { "<s>", "</s>", "hi" };
    static const int32_t types[] = { 3, 3, 1 };
    pd_gguf_writer_set_str(w, "general.architecture", "llama");
    pd_gguf_writer_set_u32(w, "llama.block_count", 1);
    pd_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    pd_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    pd_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PD_GGUF_TYPE_INT32, types, 3);
    uint64_t ne[2] = { 32, 2 };
    pd_gguf_writer_add_tensor(w, "token_embd.weight", PD_TYPE_Q8_0, 2, ne, q_data, 68);
    pd_gguf_writer_add_tensor(w, "output_norm.weight", PD_TYPE_F32, 1, ne, q_data, 128);
    char err[PD_ERR_MAX];
    const char *path = tmp_path("small.gguf");
    int rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    uint8_t *buf = rc == 0 ? slurp(path, size) : NULL;
    struct pd_gguf *g = NULL;
    if (buf == NULL || pd_gguf_open_memory(&g, buf, *size, err) != 0) {
        free(buf);
        return NULL;
    }
    const struct pd_gguf_tensor *t = &g->tensors[g->n_tensors - 1];
    *data_end = (size_t)(g->data_offset + t->offset + t->nbytes);
    pd_gguf_close(g);
    keep_seed("small.gguf", buf, *size);
    return buf;
}

/* Read every field of g, as a user would. */
static void
walk(const struct pd_gguf *g)
{
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < g->n_kv; i++)
        sink += (uintptr_t)pd_gguf_get(g, g->kv[i].key) + g->kv[i].value.type;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        sink += (uintptr_t)pd_gguf_tensor(g, t->name);
        if (t->nbytes > 0)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
}

static void
test_truncation(void)
{
    size_t size = 0, data_end = 0;
    uint8_t *buf = small_file(&size, &data_end);
    ok(buf != NULL, "small valid file written and read (%zu bytes, data ends at %zu)", size, data_end);
    if (buf == NULL)
        return;
    size_t bad = 0, first_bad = 0;
    int first_rc = 0;
    for (size_t n = 0; n < data_end; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        struct pd_gguf *g = NULL;
        char err[PD_ERR_MAX];
        int rc = pd_gguf_open_memory(&g, copy, n, err);
        if (rc != PD_EFORMAT || g != NULL) {
            if (bad++ == 0) {
                first_bad = n;
                first_rc = rc;
            }
            pd_gguf_close(g);
        }
        free(copy);
    }
    ok(bad == 0, "truncated at each of %zu lengths: all EFORMAT", data_end);
    if (bad)
        diag("  %zu failures, first at length %zu (rc %d)", bad, first_bad, first_rc);

    size_t odd = 0, opened = 0;
    static const uint8_t flips[] = { 0x00, 0xff, 0x80, 0x01, 0x7f };
    for (size_t i = 0; i < data_end; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            uint8_t *copy = malloc(size);
            memcpy(copy, buf, size);
            copy[i] = (uint8_t)(k == 3 ? buf[i] ^ 1 : flips[k]);
            struct pd_gguf *g = NULL;
            char err[PD_ERR_MAX];
            int rc = pd_gguf_open_memory(&g, copy, size, err);
            if (rc == 0) {
                walk(g);
                opened++;
            }
            odd += rc != 0 && rc != PD_EFORMAT && rc != PD_EUNSUPPORTED;
            pd_gguf_close(g);
            free(copy);
        }
    }
    ok(odd == 0, "%zu single-byte corruptions: %zu open, the rest fail with EFORMAT/EUNSUPPORTED",
       data_end * sizeof flips, opened);
    free(buf);
}

/* ---- 4. the real model ---------------------------------------------------------------------- */

static void
copy_model(const struct pd_gguf *g)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc = 0;
    for (uint64_t i = 0; i < g->n_kv; i++)
        rc |= pd_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        rc |= pd_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    char err[PD_ERR_MAX] = "";
    const char *path = tmp_path("model-copy.gguf");
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    struct pd_gguf *c = NULL;
    if (rc == 0)
        rc = pd_gguf_open(&c, path, err);
    int same = rc == 0 && c->n_kv == g->n_kv && c->n_tensors == g->n_tensors;
    for (uint64_t i = 0; same && i < g->n_kv; i++)
        same = strcmp(c->kv[i].key, g->kv[i].key) == 0 && value_eq(&c->kv[i].value, &g->kv[i].value);
    for (uint64_t i = 0; same && i < g->n_tensors; i++)
        same = strcmp(c->tensors[i].name, g->tensors[i].name) == 0 &&
               c->tensors[i].nbytes == g->tensors[i].nbytes &&
               memcmp(c->tensors[i].data, g->tensors[i].data, (size_t)g->tensors[i].nbytes) == 0;
    ok(same, "model copied through the writer reads back identical %s", err);
    if (same)
        diag("  copy is %s the original file",
             c->size == g->size && memcmp(c->map, g->map, (size_t)g->size) == 0
                 ? "byte-identical to" : "different in bytes from");
    pd_gguf_close(c);
    unlink(path);
}

static void
test_model(void)
{
    const char *path = getenv("PONDER_TEST_MODEL");
    if (path == NULL)
        path = test_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (access(path, R_OK) != 0) {
        for (int i = 0; i < 6; i++)
            ok(1, "# SKIP no model at %s (set PONDER_TEST_MODEL)", path);
        return;
    }
    struct pd_gguf *g = NULL;
    char err[PD_ERR_MAX] = "";
    double t0 = pd_time_now();
    int rc = pd_gguf_open(&g, path, err);
    ok(rc == 0, "open %s: %s", path, rc ? err : "ok");
    if (rc != 0) {
        for (int i = 0; i < 5; i++)
            ok(0, "model checks need the model to open");
        return;
    }
    diag("  opened in %.1f ms", (pd_time_now() - t0) * 1e3);
    const char *arch = NULL;
    uint32_t blocks = 0;
    is_int(g->n_tensors, 272, "272 tensors");
    ok(pd_gguf_get_str(g, "general.architecture", &arch) == 0 && strcmp(arch, "llama") == 0 &&
       pd_gguf_get_u32(g, "llama.block_count", &blocks) == 0 && blocks == 30,
       "general.architecture llama, llama.block_count 30");
    const struct pd_gguf_value *tok = pd_gguf_get(g, "tokenizer.ggml.tokens");
    ok(tok && tok->type == PD_GGUF_TYPE_ARRAY && tok->v.arr.elem_type == PD_GGUF_TYPE_STRING &&
       tok->v.arr.n == 49152, "tokenizer.ggml.tokens: 49152 strings");
    const struct pd_gguf_tensor *t = pd_gguf_tensor(g, "token_embd.weight");
    ok(t && t->type == PD_TYPE_Q8_0 && t->ne[0] == 576 && t->ne[1] == 49152,
       "token_embd.weight: q8_0, ne {576, 49152}");
    copy_model(g);
    pd_gguf_close(g);
}

int
main(void)
{
    for (size_t i = 0; i < sizeof q_data; i++)
        q_data[i] = (uint8_t)(i * 7 + 3);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test-gguf-XXXXXX", base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! cannot make a temporary folder\n");
        return 1;
    }
    test_round_trip(64);
    test_round_trip(PD_GGUF_DEFAULT_ALIGNMENT);
    test_writer_errors();
    test_bad_header();
    test_bad_values();
    test_bad_keys();
    test_bad_tensors();
    test_bad_tensor_pairs();
    test_open_errors();
    test_truncation();
    test_model();
    unlink(tmp_path("rt.gguf"));
    unlink(tmp_path("small.gguf"));
    rmdir(tmpdir);
    return exit_status();
}
