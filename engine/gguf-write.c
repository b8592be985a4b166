/*
 * gguf-write.c: the GGUF writer.
 *
 * A writer collects key-value pairs (deep copies, so the caller's strings and arrays may go away)
 * and tensors (by reference: name, shape, type and a pointer to the caller's data), then writes
 * one GGUF version 3 file in a single pass:
 *
 *   header | key-value pairs in insertion order | tensor infos | zero padding | tensor data
 *
 * Every tensor starts at a multiple of the alignment (general.alignment when set, else 32), and
 * the bytes between tensors, and after the last one, are zeros, as llama.cpp and the Python gguf
 * package write them. The file is written to "<path>.tmp" and renamed over path only when
 * complete, so a crash never leaves a half-written model under the real name.
 *
 * A tensor may instead come with a fill callback (pd_gguf_writer_add_tensor_fill): its bytes are
 * asked for a few MiB at a time while the file is written, so a file may be far larger than
 * memory (ponder model synth writes DeepSeek-V3-sized files this way).
 */
#include "config.h"

#include "engine/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/cpu/quant.h"

#define WRITER_MAX_NESTING 8   /* as deep as the reader accepts */

struct writer_kv {
    char *key;
    struct pd_gguf_value value;   /* owns its strings, raw arrays and items */
};

struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[PD_GGUF_MAX_DIMS];
    const void *data;             /* the caller's */
    pd_gguf_fill_fn fill;         /* or this makes the data during the write */
    void *fill_ud;
    uint64_t nbytes;
    uint64_t offset;              /* set when writing */
};

struct pd_gguf_writer {
    struct writer_kv *kv;
    size_t n_kv, cap_kv;
    struct writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

/* ---- owned copies of values ----------------------------------------------------------------- */

static size_t
elem_size(enum pd_gguf_type t)
{
    static const unsigned char sizes[PD_GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return (unsigned)t < PD_GGUF_TYPE_COUNT ? sizes[t] : 0;
}

static void
value_release(struct pd_gguf_value *v)
{
    if (v->type == PD_GGUF_TYPE_STRING) {
        free((void *)v->v.str.ptr);
    } else if (v->type == PD_GGUF_TYPE_ARRAY) {
        if (v->v.arr.items != NULL)
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                value_release(&v->v.arr.items[i]);
        free(v->v.arr.items);
        free((void *)v->v.arr.raw);
    }
    memset(v, 0, sizeof *v);
}

static char *
bytes_dup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        if (n > 0)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int value_copy(struct pd_gguf_value *dst, const struct pd_gguf_value *src, int depth);

/* dst->v.arr gets its own copy of src's elements; dst->v.arr.raw and items start NULL. */
static int
array_copy(struct pd_gguf_value *dst, const struct pd_gguf_value *src, int depth)
{
    uint64_t n = src->v.arr.n;
    size_t es = elem_size(src->v.arr.elem_type);
    if (es != 0) {
        if (n > SIZE_MAX / es || (n > 0 && src->v.arr.raw == NULL))
            return PD_EINVAL;
        dst->v.arr.raw = bytes_dup(src->v.arr.raw, (size_t)n * es);
        return dst->v.arr.raw != NULL ? 0 : PD_ENOMEM;
    }
    if (depth + 1 >= WRITER_MAX_NESTING || n > SIZE_MAX / sizeof(struct pd_gguf_value) ||
        (n > 0 && src->v.arr.items == NULL))
        return PD_EINVAL;
    if (n == 0)
        return 0;
    struct pd_gguf_value *items = calloc((size_t)n, sizeof *items);
    if (items == NULL)
        return PD_ENOMEM;
    dst->v.arr.items = items;
    for (uint64_t i = 0; i < n; i++) {
        if (src->v.arr.items[i].type != src->v.arr.elem_type)
            return PD_EINVAL;
        int rc = value_copy(&items[i], &src->v.arr.items[i], depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A deep copy of src into dst. On failure dst holds what was copied so far: release it. */
static int
value_copy(struct pd_gguf_value *dst, const struct pd_gguf_value *src, int depth)
{
    memset(dst, 0, sizeof *dst);
    if ((unsigned)src->type >= PD_GGUF_TYPE_COUNT)
        return PD_EINVAL;
    dst->type = src->type;
    if (src->type == PD_GGUF_TYPE_STRING) {
        if (src->v.str.ptr == NULL && src->v.str.len > 0)
            return PD_EINVAL;
        if (src->v.str.len >= SIZE_MAX)
            return PD_ENOMEM;
        dst->v.str.len = src->v.str.len;
        dst->v.str.ptr = bytes_dup(src->v.str.ptr, (size_t)src->v.str.len);
        return dst->v.str.ptr != NULL ? 0 : PD_ENOMEM;
    }
    if (src->type != PD_GGUF_TYPE_ARRAY) {
        dst->v = src->v;
        return 0;
    }
    if ((unsigned)src->v.arr.elem_type >= PD_GGUF_TYPE_COUNT)
        return PD_EINVAL;
    dst->v.arr.elem_type = src->v.arr.elem_type;
    dst->v.arr.n = src->v.arr.n;
    return array_copy(dst, src, depth);
}

/* ---- building ------------------------------------------------------------------------------- */

/* An empty writer, or NULL when out of memory. Free with pd_gguf_writer_free. */
struct pd_gguf_writer *
pd_gguf_writer_new(void)
{
    return calloc(1, sizeof(struct pd_gguf_writer));
}

/* Free w and its copies; tensor data belongs to the caller. NULL is accepted. */
void
pd_gguf_writer_free(struct pd_gguf_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        value_release(&w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w);
}

static struct writer_kv *
find_kv(struct pd_gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return &w->kv[i];
    return NULL;
}

/* The slot for key: the existing one (its old value released) or a new one at the end. */
static struct writer_kv *
kv_slot(struct pd_gguf_writer *w, const char *key)
{
    struct writer_kv *kv = find_kv(w, key);
    if (kv != NULL) {
        value_release(&kv->value);
        return kv;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        struct writer_kv *p = realloc(w->kv, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        w->kv = p;
        w->cap_kv = cap;
    }
    kv = &w->kv[w->n_kv];
    kv->key = bytes_dup(key, strlen(key));
    if (kv->key == NULL)
        return NULL;
    memset(&kv->value, 0, sizeof kv->value);
    kv->value.type = PD_GGUF_TYPE_UINT8;
    w->n_kv++;
    return kv;
}

/* Set key to a deep copy of v, replacing an earlier value. PD_EINVAL for a malformed value
 * (unknown type, array element of the wrong type, NULL data); w is unchanged then. */
int
pd_gguf_writer_set_value(struct pd_gguf_writer *w, const char *key, const struct pd_gguf_value *v)
{
    if (w == NULL || key == NULL || v == NULL)
        return PD_EINVAL;
    struct pd_gguf_value copy;
    int rc = value_copy(&copy, v, 0);
    if (rc != 0) {
        value_release(&copy);
        return rc;
    }
    struct writer_kv *kv = kv_slot(w, key);
    if (kv == NULL) {
        value_release(&copy);
        return PD_ENOMEM;
    }
    kv->value = copy;
    return 0;
}

static int
set_unsigned(struct pd_gguf_writer *w, const char *key, enum pd_gguf_type t, uint64_t u)
{
    struct pd_gguf_value v = { .type = t, .v.u64 = u };
    return pd_gguf_writer_set_value(w, key, &v);
}

/* Scalar setters: key = v, replacing an earlier value. */
int
pd_gguf_writer_set_u32(struct pd_gguf_writer *w, const char *key, uint32_t v)
{
    return set_unsigned(w, key, PD_GGUF_TYPE_UINT32, v);
}

int
pd_gguf_writer_set_u64(struct pd_gguf_writer *w, const char *key, uint64_t v)
{
    return set_unsigned(w, key, PD_GGUF_TYPE_UINT64, v);
}

int
pd_gguf_writer_set_bool(struct pd_gguf_writer *w, const char *key, bool v)
{
    return set_unsigned(w, key, PD_GGUF_TYPE_BOOL, v ? 1 : 0);
}

int
pd_gguf_writer_set_i32(struct pd_gguf_writer *w, const char *key, int32_t v)
{
    struct pd_gguf_value val = { .type = PD_GGUF_TYPE_INT32, .v.i64 = v };
    return pd_gguf_writer_set_value(w, key, &val);
}

int
pd_gguf_writer_set_f32(struct pd_gguf_writer *w, const char *key, float v)
{
    struct pd_gguf_value val = { .type = PD_GGUF_TYPE_FLOAT32, .v.f64 = v };
    return pd_gguf_writer_set_value(w, key, &val);
}

/* A NUL-terminated string value (copied). */
int
pd_gguf_writer_set_str(struct pd_gguf_writer *w, const char *key, const char *v)
{
    if (v == NULL)
        return PD_EINVAL;
    struct pd_gguf_value val = { .type = PD_GGUF_TYPE_STRING };
    val.v.str.ptr = v;
    val.v.str.len = strlen(v);
    return pd_gguf_writer_set_value(w, key, &val);
}

/* n numeric elements of elem_type, packed little-endian at data (copied). */
int
pd_gguf_writer_set_arr(struct pd_gguf_writer *w, const char *key, enum pd_gguf_type elem_type,
                       const void *data, uint64_t n)
{
    if (elem_size(elem_type) == 0)
        return PD_EINVAL;
    struct pd_gguf_value val = { .type = PD_GGUF_TYPE_ARRAY };
    val.v.arr.elem_type = elem_type;
    val.v.arr.n = n;
    val.v.arr.raw = data;
    return pd_gguf_writer_set_value(w, key, &val);
}

/* n NUL-terminated strings (copied). */
int
pd_gguf_writer_set_arr_str(struct pd_gguf_writer *w, const char *key, const char *const *v,
                           uint64_t n)
{
    if (n > SIZE_MAX / sizeof(struct pd_gguf_value) || (n > 0 && v == NULL))
        return PD_EINVAL;
    struct pd_gguf_value *items = calloc(n ? (size_t)n : 1, sizeof *items);
    if (items == NULL)
        return PD_ENOMEM;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        items[i].type = PD_GGUF_TYPE_STRING;
        items[i].v.str.ptr = v[i];
        items[i].v.str.len = v[i] ? strlen(v[i]) : 0;
        rc = v[i] ? 0 : PD_EINVAL;
    }
    if (rc == 0) {
        struct pd_gguf_value val = { .type = PD_GGUF_TYPE_ARRAY };
        val.v.arr.elem_type = PD_GGUF_TYPE_STRING;
        val.v.arr.n = n;
        val.v.arr.items = items;
        rc = pd_gguf_writer_set_value(w, key, &val);
    }
    free(items);
    return rc;
}

static int add_tensor(struct pd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                      const uint64_t *ne, const void *data, uint64_t nbytes, pd_gguf_fill_fn fill,
                      void *ud);

/* Add a tensor whose nbytes at data stay valid until pd_gguf_writer_write returns. PD_EINVAL for
 * a duplicate name, an unknown type, n_dims outside 1..4, ne[0] not a multiple of the block size,
 * or nbytes that do not match the shape. */
int
pd_gguf_writer_add_tensor(struct pd_gguf_writer *w, const char *name, uint32_t type,
                          uint32_t n_dims, const uint64_t *ne, const void *data, uint64_t nbytes)
{
    if (data == NULL && nbytes > 0)
        return PD_EINVAL;
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

/* Add a tensor whose bytes fill makes during the write (see gguf.h). PD_EINVAL as
 * pd_gguf_writer_add_tensor, or for a NULL fill. */
int
pd_gguf_writer_add_tensor_fill(struct pd_gguf_writer *w, const char *name, uint32_t type,
                               uint32_t n_dims, const uint64_t *ne, pd_gguf_fill_fn fill, void *ud)
{
    const struct pd_type_traits *tr = pd_type_traits_get(type);
    if (fill == NULL || tr == NULL || ne == NULL || n_dims < 1 || n_dims > PD_GGUF_MAX_DIMS ||
        ne[0] % (uint64_t)tr->block_size != 0)
        return PD_EINVAL;
    uint64_t nbytes = ne[0] / (uint64_t)tr->block_size;
    bool ovf = __builtin_mul_overflow(nbytes, (uint64_t)tr->type_size, &nbytes);
    for (uint32_t j = 1; j < n_dims; j++)
        ovf |= __builtin_mul_overflow(nbytes, ne[j], &nbytes);
    if (ovf)
        return PD_EINVAL;
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, ud);
}

/* The body of both adders: checks, then a new entry holding data or fill. */
static int
add_tensor(struct pd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
           const uint64_t *ne, const void *data, uint64_t nbytes, pd_gguf_fill_fn fill, void *ud)
{
    const struct pd_type_traits *tr = pd_type_traits_get(type);
    if (w == NULL || name == NULL || ne == NULL || tr == NULL || n_dims < 1 ||
        n_dims > PD_GGUF_MAX_DIMS || ne[0] % (uint64_t)tr->block_size != 0)
        return PD_EINVAL;
    uint64_t want = ne[0] / (uint64_t)tr->block_size;
    bool ovf = __builtin_mul_overflow(want, (uint64_t)tr->type_size, &want);
    for (uint32_t j = 1; j < n_dims; j++)
        ovf |= __builtin_mul_overflow(want, ne[j], &want);
    if (ovf || want != nbytes)
        return PD_EINVAL;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return PD_EINVAL;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        struct writer_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (p == NULL)
            return PD_ENOMEM;
        w->tensors = p;
        w->cap_tensors = cap;
    }
    struct writer_tensor *t = &w->tensors[w->n_tensors];
    *t = (struct writer_tensor){ .type = type, .n_dims = n_dims, .data = data, .nbytes = nbytes,
                                 .fill = fill, .fill_ud = ud };
    for (uint32_t j = 0; j < PD_GGUF_MAX_DIMS; j++)
        t->ne[j] = j < n_dims ? ne[j] : 1;
    t->name = bytes_dup(name, strlen(name));
    if (t->name == NULL)
        return PD_ENOMEM;
    w->n_tensors++;
    return 0;
}

/* ---- writing -------------------------------------------------------------------------------- */

struct out {
    FILE *f;                      /* NULL: only count the bytes */
    uint64_t pos;
    bool failed;
    int fill_rc;                  /* a fill callback's failure; err holds its message */
    char *err;
};

static void
put(struct out *o, const void *p, size_t n)
{
    if (n > 0 && !o->failed && o->f != NULL && fwrite(p, 1, n, o->f) != n)
        o->failed = true;
    o->pos += n;
}

#define FILL_CHUNK ((size_t)4 << 20)

/* The bytes of tensor index, asked of its fill callback a chunk of whole rows at a time. */
static void
put_fill(struct out *o, const struct writer_tensor *t, size_t index)
{
    if (o->f == NULL || o->failed) {
        o->pos += t->nbytes;
        return;
    }
    const struct pd_type_traits *tr = pd_type_traits_get(t->type);
    uint64_t row = t->ne[0] / (uint64_t)tr->block_size * (uint64_t)tr->type_size;
    uint64_t rows = row ? t->nbytes / row : 0;
    uint64_t per = row >= FILL_CHUNK ? 1 : FILL_CHUNK / row;
    void *buf = rows ? malloc((size_t)(PD_MIN(per, rows) * row)) : NULL;
    if (rows && buf == NULL) {
        o->failed = true;
        o->fill_rc = pd_errorf(o->err, PD_ENOMEM, "tensor '%s': out of memory for a %" PRIu64
                               "-byte buffer", t->name, PD_MIN(per, rows) * row);
        return;
    }
    for (uint64_t r = 0; r < rows && !o->failed; r += per) {
        uint64_t n = PD_MIN(per, rows - r);
        int rc = t->fill(t->fill_ud, index, r, n, buf, o->err);
        if (rc != 0) {
            o->failed = true;
            o->fill_rc = rc;
            break;
        }
        put(o, buf, (size_t)(n * row));
    }
    free(buf);
}

/* The low `size` bytes of x, little-endian. */
static void
put_le(struct out *o, uint64_t x, size_t size)
{
    uint8_t b[8];
    for (size_t i = 0; i < size; i++)
        b[i] = (uint8_t)(x >> (8 * i));
    put(o, b, size);
}

static void
put_str(struct out *o, const char *s, uint64_t len)
{
    put_le(o, len, 8);
    put(o, s, (size_t)len);
}

static void
put_pad(struct out *o, uint64_t alignment)
{
    static const uint8_t zeros[256];
    uint64_t pad = (alignment - o->pos % alignment) % alignment;
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        put(o, zeros, n);
        pad -= n;
    }
}

static void put_value(struct out *o, const struct pd_gguf_value *v);

static void
put_array(struct out *o, const struct pd_gguf_value *v)
{
    put_le(o, (uint64_t)v->v.arr.elem_type, 4);
    put_le(o, v->v.arr.n, 8);
    size_t es = elem_size(v->v.arr.elem_type);
    if (es != 0) {
        put(o, v->v.arr.raw, (size_t)v->v.arr.n * es);
        return;
    }
    for (uint64_t i = 0; i < v->v.arr.n; i++)
        put_value(o, &v->v.arr.items[i]);
}

/* The payload of v (its type tag is written by the caller, where the format has one). */
static void
put_value(struct out *o, const struct pd_gguf_value *v)
{
    uint32_t u32;
    float f;
    switch (v->type) {
    case PD_GGUF_TYPE_STRING: put_str(o, v->v.str.ptr, v->v.str.len); break;
    case PD_GGUF_TYPE_ARRAY: put_array(o, v); break;
    case PD_GGUF_TYPE_BOOL: put_le(o, v->v.u64 != 0, 1); break;
    case PD_GGUF_TYPE_FLOAT32:
        f = (float)v->v.f64;
        memcpy(&u32, &f, sizeof u32);
        put_le(o, u32, 4);
        break;
    case PD_GGUF_TYPE_FLOAT64: {
        uint64_t u64;
        memcpy(&u64, &v->v.f64, sizeof u64);
        put_le(o, u64, 8);
        break;
    }
    case PD_GGUF_TYPE_INT8: case PD_GGUF_TYPE_INT16:
    case PD_GGUF_TYPE_INT32: case PD_GGUF_TYPE_INT64:
        put_le(o, (uint64_t)v->v.i64, elem_size(v->type));
        break;
    default:
        put_le(o, v->v.u64, elem_size(v->type));
        break;
    }
}

/* general.alignment if set (an integer, nonzero power of two), else the default. */
static int
writer_alignment(struct pd_gguf_writer *w, uint64_t *out, char *err)
{
    *out = PD_GGUF_DEFAULT_ALIGNMENT;
    struct writer_kv *kv = find_kv(w, "general.alignment");
    if (kv == NULL)
        return 0;
    const struct pd_gguf_value *v = &kv->value;
    uint64_t a;
    if (v->type == PD_GGUF_TYPE_UINT8 || v->type == PD_GGUF_TYPE_UINT16 ||
        v->type == PD_GGUF_TYPE_UINT32 || v->type == PD_GGUF_TYPE_UINT64)
        a = v->v.u64;
    else if (v->type == PD_GGUF_TYPE_INT8 || v->type == PD_GGUF_TYPE_INT16 ||
             v->type == PD_GGUF_TYPE_INT32 || v->type == PD_GGUF_TYPE_INT64)
        a = v->v.i64 < 0 ? 0 : (uint64_t)v->v.i64;
    else
        return pd_errorf(err, PD_EINVAL, "general.alignment has type %s, not an integer",
                         pd_gguf_type_name(v->type));
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return pd_errorf(err, PD_EINVAL, "general.alignment %" PRIu64 " is not a power of two "
                         "between 1 and 2^30", a);
    *out = a;
    return 0;
}

/* Everything, in file order, through o. */
static void
write_all(struct pd_gguf_writer *w, struct out *o, uint64_t alignment)
{
    put(o, "GGUF", 4);
    put_le(o, 3, 4);
    put_le(o, w->n_tensors, 8);
    put_le(o, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(o, w->kv[i].key, strlen(w->kv[i].key));
        put_le(o, (uint64_t)w->kv[i].value.type, 4);
        put_value(o, &w->kv[i].value);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        struct writer_tensor *t = &w->tensors[i];
        t->offset = offset;
        offset += (t->nbytes + alignment - 1) / alignment * alignment;
        put_str(o, t->name, strlen(t->name));
        put_le(o, t->n_dims, 4);
        for (uint32_t j = 0; j < t->n_dims; j++)
            put_le(o, t->ne[j], 8);
        put_le(o, t->type, 4);
        put_le(o, t->offset, 8);
    }
    put_pad(o, alignment);
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (w->tensors[i].fill != NULL)
            put_fill(o, &w->tensors[i], i);
        else
            put(o, w->tensors[i].data, (size_t)w->tensors[i].nbytes);
        put_pad(o, alignment);
    }
}

/* Write the file to path (through path.tmp and a rename). On failure path is untouched and err
 * says why: PD_EINVAL for a bad general.alignment, PD_EIO for the file system. */
int
pd_gguf_writer_write(struct pd_gguf_writer *w, const char *path, char *err)
{
    uint64_t alignment;
    int rc = writer_alignment(w, &alignment, err);
    if (rc != 0)
        return rc;
    /* A regular file is written beside and renamed into place, so a reader never sees half
     * of it; a device or a pipe (/dev/null, /dev/stdout) is written as it is, never replaced. */
    struct stat sb;
    bool special = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (tmp == NULL)
        return pd_errorf(err, PD_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, special ? "" : ".tmp", special ? 1 : 5);
    struct out o = { .f = fopen(tmp, "wb"), .err = err };
    if (o.f == NULL) {
        rc = pd_errorf(err, PD_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);
    write_all(w, &o, alignment);
    int e = o.failed ? errno : 0;
    bool ok = !o.failed && fflush(o.f) == 0 && (special || fsync(fileno(o.f)) == 0);
    if (!ok && e == 0)
        e = errno;
    if (fclose(o.f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && !special && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    o.failed = !ok;
    if (o.failed && o.fill_rc != 0) {
        if (!special)
            unlink(tmp);
        rc = o.fill_rc;
    } else if (o.failed) {
        if (!special)
            unlink(tmp);
        rc = pd_errorf(err, PD_EIO, "%s: write failed after %" PRIu64 " bytes: %s", path, o.pos,
                       strerror(e ? e : EIO));
    }
    free(tmp);
    return rc;
}

/* Contract: see gguf.h. Lays the file out as pd_gguf_writer_write would, writing nothing. */
uint64_t
pd_gguf_writer_file_size(struct pd_gguf_writer *w)
{
    uint64_t alignment;
    char err[PD_ERR_MAX];
    if (writer_alignment(w, &alignment, err) != 0)
        return 0;
    struct out o = { .f = NULL, .err = err };
    write_all(w, &o, alignment);
    return o.pos;
}
