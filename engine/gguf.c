/*
 * gguf.c: the GGUF reader.
 *
 * A file is memory-mapped (or a caller's buffer is used as is) and parsed in one forward pass by a
 * cursor that knows how many bytes remain. Nothing read from the file is believed before it has
 * been checked against those bytes: a count is compared with the smallest size its elements could
 * have, a string length with what is left, a tensor's extent with the end of the file. Every
 * check that fails names the record it was reading ("key 'general.name'", "tensor #3"), the file
 * offset where that record starts, and the values involved.
 *
 * Everything the parse allocates (copies of keys and strings, value trees, the key and tensor
 * arrays, the two name indexes) comes from one arena owned by the pd_gguf, so a failure halfway
 * through frees it all at once and pd_gguf_close is a handful of calls. Memory use is bounded by a
 * small multiple of the file size: each array element costs at least 8 bytes of file and at most
 * one struct pd_gguf_value of memory.
 *
 * Numeric arrays are not copied: their value points into the map (arr.raw) and is decoded on
 * request by pd_gguf_arr_i64/pd_gguf_arr_f64. Keys and tensor names are found through open
 * addressing hash tables, which also catch duplicates while the file is read.
 */
#include "config.h"

#include "engine/gguf.h"
#include "engine/gguf-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/cpu/quant.h"

#define GGUF_MAX_NESTING 8     /* arrays of arrays deeper than this are refused */
#define GGUF_MIN_KV_BYTES 13   /* empty key (8) + type (4) + a one-byte value */
#define GGUF_MIN_TENSOR_BYTES 24 /* empty name (8) + n_dims (4) + type (4) + offset (8) */
#define ARENA_CHUNK (64 * 1024)

/* ---- arena ---------------------------------------------------------------------------------- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    size_t pad_;                 /* keeps data 16-byte aligned */
    unsigned char data[];
};

struct arena {
    struct arena_chunk *head;    /* the chunk small requests are carved from */
};

/* n bytes, 16-byte aligned, alive until arena_release. NULL when out of memory. */
static void *
arena_alloc(struct arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct arena_chunk) - 16)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    struct arena_chunk *c = a->head;
    if (c != NULL && c->cap - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    c = malloc(sizeof *c + cap);
    if (c == NULL)
        return NULL;
    c->cap = cap;
    c->used = n;
    if (a->head != NULL && n > ARENA_CHUNK) {
        /* A big block goes behind the head so the head's free space stays usable. */
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    return c->data;
}

static void
arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- name index: open addressing over NUL-terminated names --------------------------------- */

struct name_slot {
    const char *name;            /* NULL: empty */
    size_t idx;
};

struct name_index {
    struct name_slot *slots;
    size_t mask;
};

static uint64_t
name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Room for n names at load factor <= 1/2. n has been checked against the file size. */
static int
name_index_init(struct name_index *ix, struct arena *a, uint64_t n)
{
    size_t cap = 16;
    while (cap / 2 < n)
        cap <<= 1;
    ix->slots = arena_alloc(a, cap * sizeof *ix->slots);
    if (ix->slots == NULL)
        return PD_ENOMEM;
    memset(ix->slots, 0, cap * sizeof *ix->slots);
    ix->mask = cap - 1;
    return 0;
}

static struct name_slot *
name_index_find(const struct name_index *ix, const char *name)
{
    size_t i = (size_t)name_hash(name) & ix->mask;
    while (ix->slots[i].name != NULL && strcmp(ix->slots[i].name, name) != 0)
        i = (i + 1) & ix->mask;
    return &ix->slots[i];
}

/* ---- the cursor and its error messages ------------------------------------------------------ */

struct gguf_priv {
    struct arena arena;
    struct name_index keys;
    struct name_index tensors;
    bool owns_map;
};

struct reader {
    const uint8_t *buf;
    uint64_t size;
    uint64_t pos;
    struct arena *arena;
    char *err;
    char what[160];              /* the record being read: "key 'general.name'", "tensor #3" */
    uint64_t what_off;           /* file offset where that record starts */
};

static uint64_t
left(const struct reader *r)
{
    return r->size - r->pos;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct reader *r, int status, const char *fmt, ...)
{
    char msg[PD_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pd_errorf(r->err, status, "%s at offset %" PRIu64 ": %s", r->what, r->what_off, msg);
}

/* name, quoted, with bytes outside printable ASCII escaped and the tail cut to fit cap: names
 * come from the file and the message may reach a terminal. */
static void
quote_name(char *dst, size_t cap, const char *name)
{
    size_t n = 0;
    dst[n++] = '\'';
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
        if (n + 10 >= cap) {   /* room for an escape, "...'" and the NUL */
            memcpy(dst + n, "...", 3);
            n += 3;
            break;
        }
        if (*s >= 0x20 && *s < 0x7f && *s != '\\')
            dst[n++] = (char)*s;
        else
            n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", *s);
    }
    snprintf(dst + n, cap - n, "'");
}

/* Name the record starting at off: kind and the quoted name. */
static void
set_what_name(struct reader *r, const char *kind, const char *name, uint64_t off)
{
    size_t n = (size_t)snprintf(r->what, sizeof r->what, "%s ", kind);
    quote_name(r->what + n, sizeof r->what - n, name);
    r->what_off = off;
}

static void
set_what_index(struct reader *r, const char *kind, uint64_t i, uint64_t off)
{
    snprintf(r->what, sizeof r->what, "%s #%" PRIu64, kind, i);
    r->what_off = off;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int
need(struct reader *r, uint64_t n, const char *field)
{
    if (n <= left(r))
        return 0;
    return fail(r, PD_EFORMAT, "%s at offset %" PRIu64 " needs %" PRIu64 " bytes but only %"
                PRIu64 " remain", field, r->pos, n, left(r));
}

static int
read_u32(struct reader *r, const char *field, uint32_t *out)
{
    int rc = need(r, 4, field);
    if (rc == 0) {
        *out = le32(r->buf + r->pos);
        r->pos += 4;
    }
    return rc;
}

static int
read_u64(struct reader *r, const char *field, uint64_t *out)
{
    int rc = need(r, 8, field);
    if (rc == 0) {
        *out = le64(r->buf + r->pos);
        r->pos += 8;
    }
    return rc;
}

/* A length-prefixed string, copied into the arena with a NUL appended. */
static int
read_string(struct reader *r, const char *field, const char **out, uint64_t *len_out)
{
    uint64_t len;
    int rc = read_u64(r, field, &len);
    if (rc != 0)
        return rc;
    if (len > left(r))
        return fail(r, PD_EFORMAT, "%s length %" PRIu64 " at offset %" PRIu64
                    " exceeds the %" PRIu64 " bytes left", field, len, r->pos - 8, left(r));
    char *s = arena_alloc(r->arena, (size_t)len + 1);
    if (s == NULL)
        return fail(r, PD_ENOMEM, "out of memory copying a %" PRIu64 "-byte %s", len, field);
    memcpy(s, r->buf + r->pos, (size_t)len);
    s[len] = '\0';
    r->pos += len;
    *out = s;
    if (len_out != NULL)
        *len_out = len;
    return 0;
}

/* A key or tensor name: a string that must not hide a NUL, since lookups go by C string. */
static int
read_name(struct reader *r, const char *field, const char **out)
{
    uint64_t len;
    int rc = read_string(r, field, out, &len);
    if (rc == 0 && memchr(*out, '\0', (size_t)len) != NULL)
        return fail(r, PD_EFORMAT, "%s of %" PRIu64 " bytes contains a NUL byte", field, len);
    return rc;
}

/* ---- values --------------------------------------------------------------------------------- */

static const char *const type_names[PD_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

/* Bytes of one element of a fixed-size type; 0 for string and array. */
size_t
pd_gguf_scalar_size(enum pd_gguf_type t)
{
    static const unsigned char sizes[PD_GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return (unsigned)t < PD_GGUF_TYPE_COUNT ? sizes[t] : 0;
}

/* Widen the little-endian scalar at p into v (v->type already set). */
void
pd_gguf_decode_scalar(struct pd_gguf_value *v, const uint8_t *p)
{
    uint32_t u32;
    uint64_t u64;
    float f;
    switch (v->type) {
    case PD_GGUF_TYPE_UINT8: case PD_GGUF_TYPE_BOOL: v->v.u64 = p[0]; break;
    case PD_GGUF_TYPE_INT8: v->v.i64 = (int8_t)p[0]; break;
    case PD_GGUF_TYPE_UINT16: v->v.u64 = (uint16_t)(p[0] | p[1] << 8); break;
    case PD_GGUF_TYPE_INT16: v->v.i64 = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case PD_GGUF_TYPE_UINT32: v->v.u64 = le32(p); break;
    case PD_GGUF_TYPE_INT32: v->v.i64 = (int32_t)le32(p); break;
    case PD_GGUF_TYPE_UINT64: v->v.u64 = le64(p); break;
    case PD_GGUF_TYPE_INT64: v->v.i64 = (int64_t)le64(p); break;
    case PD_GGUF_TYPE_FLOAT32:
        u32 = le32(p);
        memcpy(&f, &u32, sizeof f);
        v->v.f64 = f;
        break;
    case PD_GGUF_TYPE_FLOAT64:
        u64 = le64(p);
        memcpy(&v->v.f64, &u64, sizeof u64);
        break;
    default: break;
    }
}

static int read_array(struct reader *r, struct pd_gguf_value *v, int depth);

/* The payload of a value whose type (v->type) has been read and checked. */
static int
read_value(struct reader *r, struct pd_gguf_value *v, int depth)
{
    if (v->type == PD_GGUF_TYPE_STRING)
        return read_string(r, "string", &v->v.str.ptr, &v->v.str.len);
    if (v->type == PD_GGUF_TYPE_ARRAY)
        return read_array(r, v, depth);
    size_t size = pd_gguf_scalar_size(v->type);
    int rc = need(r, size, pd_gguf_type_name(v->type));
    if (rc != 0)
        return rc;
    const uint8_t *p = r->buf + r->pos;
    if (v->type == PD_GGUF_TYPE_BOOL && p[0] > 1)
        return fail(r, PD_EFORMAT, "bool at offset %" PRIu64 " is %u, not 0 or 1", r->pos, p[0]);
    pd_gguf_decode_scalar(v, p);
    r->pos += size;
    return 0;
}

/* Numeric elements stay in the map; only bools are looked at, one byte each. */
static int
read_array_numeric(struct reader *r, struct pd_gguf_value *v, size_t esize)
{
    uint64_t n = v->v.arr.n;
    if (n > left(r) / esize)
        return fail(r, PD_EFORMAT, "array of %" PRIu64 " %s elements (%zu bytes each) at offset %"
                    PRIu64 " exceeds the %" PRIu64 " bytes left", n,
                    pd_gguf_type_name(v->v.arr.elem_type), esize, r->pos, left(r));
    const uint8_t *p = r->buf + r->pos;
    if (v->v.arr.elem_type == PD_GGUF_TYPE_BOOL) {
        for (uint64_t i = 0; i < n; i++)
            if (p[i] > 1)
                return fail(r, PD_EFORMAT, "bool element %" PRIu64 " at offset %" PRIu64
                            " is %u, not 0 or 1", i, r->pos + i, p[i]);
    }
    v->v.arr.raw = p;
    r->pos += n * esize;
    return 0;
}

/* Strings and arrays: one value each, read in order. */
static int
read_array_items(struct reader *r, struct pd_gguf_value *v, int depth)
{
    uint64_t n = v->v.arr.n;
    uint64_t min = v->v.arr.elem_type == PD_GGUF_TYPE_STRING ? 8 : 12;
    if (n > left(r) / min)
        return fail(r, PD_EFORMAT, "array of %" PRIu64 " %s elements at offset %" PRIu64
                    " cannot fit in the %" PRIu64 " bytes left (each needs at least %" PRIu64 ")",
                    n, pd_gguf_type_name(v->v.arr.elem_type), r->pos, left(r), min);
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(struct pd_gguf_value))
        return fail(r, PD_ENOMEM, "array of %" PRIu64 " elements is too large", n);
    struct pd_gguf_value *items = arena_alloc(r->arena, (size_t)n * sizeof *items);
    if (items == NULL)
        return fail(r, PD_ENOMEM, "out of memory for an array of %" PRIu64 " elements", n);
    memset(items, 0, (size_t)n * sizeof *items);
    v->v.arr.items = items;
    for (uint64_t i = 0; i < n; i++) {
        items[i].type = v->v.arr.elem_type;
        int rc = read_value(r, &items[i], depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
read_array(struct reader *r, struct pd_gguf_value *v, int depth)
{
    if (depth >= GGUF_MAX_NESTING)
        return fail(r, PD_EFORMAT, "arrays nested more than %d deep at offset %" PRIu64,
                    GGUF_MAX_NESTING, r->pos);
    uint32_t et;
    uint64_t n;
    int rc = read_u32(r, "array element type", &et);
    if (rc == 0 && et >= PD_GGUF_TYPE_COUNT)
        return fail(r, PD_EFORMAT, "unknown array element type %" PRIu32 " at offset %" PRIu64,
                    et, r->pos - 4);
    if (rc == 0)
        rc = read_u64(r, "array count", &n);
    if (rc != 0)
        return rc;
    v->v.arr.elem_type = (enum pd_gguf_type)et;
    v->v.arr.n = n;
    v->v.arr.raw = NULL;
    v->v.arr.items = NULL;
    size_t esize = pd_gguf_scalar_size(v->v.arr.elem_type);
    if (esize != 0)
        return read_array_numeric(r, v, esize);
    return read_array_items(r, v, depth);
}

/* ---- header and key-value section ----------------------------------------------------------- */

static int
read_header(struct reader *r, struct pd_gguf *g)
{
    snprintf(r->what, sizeof r->what, "header");
    r->what_off = 0;
    if (r->size < 4)
        return fail(r, PD_EFORMAT, "file of %" PRIu64 " bytes is too small to be GGUF", r->size);
    if (memcmp(r->buf, "GGUF", 4) != 0)
        return fail(r, PD_EFORMAT, "bad magic 0x%08" PRIx32 ", not a GGUF file", le32(r->buf));
    r->pos = 4;
    int rc = read_u32(r, "version", &g->version);
    if (rc != 0)
        return rc;
    if (g->version == 1)
        return fail(r, PD_EUNSUPPORTED, "GGUF version 1 is not supported (it used 32-bit counts); "
                    "convert the model again with a current converter");
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return fail(r, PD_EUNSUPPORTED, "version 0x%08" PRIx32 " is byte-swapped: big-endian GGUF "
                    "files are not supported", g->version);
    if (g->version != 2 && g->version != 3)
        return fail(r, PD_EUNSUPPORTED, "unsupported GGUF version %" PRIu32 " (versions 2 and 3 "
                    "are read)", g->version);
    rc = read_u64(r, "tensor count", &g->n_tensors);
    if (rc == 0)
        rc = read_u64(r, "key-value count", &g->n_kv);
    if (rc != 0)
        return rc;
    if (g->n_kv > left(r) / GGUF_MIN_KV_BYTES)
        return fail(r, PD_EFORMAT, "n_kv %" PRIu64 " cannot fit in the %" PRIu64 " bytes that "
                    "follow (each needs at least %d)", g->n_kv, left(r), GGUF_MIN_KV_BYTES);
    if (g->n_tensors > left(r) / GGUF_MIN_TENSOR_BYTES ||
        g->n_tensors * GGUF_MIN_TENSOR_BYTES > left(r) - g->n_kv * GGUF_MIN_KV_BYTES)
        return fail(r, PD_EFORMAT, "n_tensors %" PRIu64 " with n_kv %" PRIu64 " cannot fit in the %"
                    PRIu64 " bytes that follow", g->n_tensors, g->n_kv, left(r));
    return 0;
}

/* general.alignment: any integer type, a nonzero power of two. */
static int
check_alignment(struct reader *r, const struct pd_gguf_value *v, uint64_t *out)
{
    uint64_t a;
    switch (v->type) {
    case PD_GGUF_TYPE_UINT8: case PD_GGUF_TYPE_UINT16:
    case PD_GGUF_TYPE_UINT32: case PD_GGUF_TYPE_UINT64:
        a = v->v.u64;
        break;
    case PD_GGUF_TYPE_INT8: case PD_GGUF_TYPE_INT16:
    case PD_GGUF_TYPE_INT32: case PD_GGUF_TYPE_INT64:
        if (v->v.i64 < 0)
            return fail(r, PD_EFORMAT, "alignment %" PRId64 " is negative", v->v.i64);
        a = (uint64_t)v->v.i64;
        break;
    default:
        return fail(r, PD_EFORMAT, "alignment has type %s, not an integer", pd_gguf_type_name(v->type));
    }
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, PD_EFORMAT, "alignment %" PRIu64 " is not a nonzero power of two", a);
    *out = a;
    return 0;
}

static int
read_kv(struct reader *r, struct pd_gguf *g, struct gguf_priv *pv, uint64_t i)
{
    uint64_t off = r->pos;
    struct pd_gguf_kv *kv = &g->kv[i];
    set_what_index(r, "key", i, off);
    int rc = read_name(r, "key", &kv->key);
    if (rc != 0)
        return rc;
    set_what_name(r, "key", kv->key, off);
    struct name_slot *slot = name_index_find(&pv->keys, kv->key);
    if (slot->name != NULL)
        return fail(r, PD_EFORMAT, "duplicate key (key #%zu has the same name)", slot->idx);
    slot->name = kv->key;
    slot->idx = (size_t)i;
    uint32_t type;
    rc = read_u32(r, "value type", &type);
    if (rc == 0 && type >= PD_GGUF_TYPE_COUNT)
        return fail(r, PD_EFORMAT, "unknown value type %" PRIu32, type);
    if (rc != 0)
        return rc;
    kv->value.type = (enum pd_gguf_type)type;
    rc = read_value(r, &kv->value, 0);
    if (rc == 0 && strcmp(kv->key, "general.alignment") == 0)
        rc = check_alignment(r, &kv->value, &g->alignment);
    return rc;
}

static int
read_kvs(struct reader *r, struct pd_gguf *g, struct gguf_priv *pv)
{
    g->alignment = PD_GGUF_DEFAULT_ALIGNMENT;
    /* n_kv <= size / 13 here, so these sizes cannot overflow. */
    g->kv = arena_alloc(r->arena, (size_t)g->n_kv * sizeof *g->kv + 1);
    if (g->kv == NULL || name_index_init(&pv->keys, r->arena, g->n_kv) != 0)
        return fail(r, PD_ENOMEM, "out of memory for %" PRIu64 " keys", g->n_kv);
    memset(g->kv, 0, (size_t)g->n_kv * sizeof *g->kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        int rc = read_kv(r, g, pv, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- tensors -------------------------------------------------------------------------------- */

/* The shape, type and offset of tensor i; checked later by check_tensor. */
static int
read_tensor_info(struct reader *r, struct pd_gguf *g, struct gguf_priv *pv, uint64_t i)
{
    uint64_t off = r->pos;
    struct pd_gguf_tensor *t = &g->tensors[i];
    set_what_index(r, "tensor", i, off);
    int rc = read_name(r, "tensor name", &t->name);
    if (rc != 0)
        return rc;
    set_what_name(r, "tensor", t->name, off);
    struct name_slot *slot = name_index_find(&pv->tensors, t->name);
    if (slot->name != NULL)
        return fail(r, PD_EFORMAT, "duplicate tensor name (tensor #%zu has the same name)",
                    slot->idx);
    slot->name = t->name;
    slot->idx = (size_t)i;
    rc = read_u32(r, "n_dims", &t->n_dims);
    if (rc == 0 && t->n_dims > PD_GGUF_MAX_DIMS)
        return fail(r, PD_EFORMAT, "n_dims %" PRIu32 " exceeds the maximum of %d", t->n_dims,
                    PD_GGUF_MAX_DIMS);
    for (uint32_t j = 0; j < PD_GGUF_MAX_DIMS; j++) {
        t->ne[j] = 1;
        if (rc == 0 && j < t->n_dims)
            rc = read_u64(r, "dimension", &t->ne[j]);
        if (rc == 0 && t->ne[j] > (uint64_t)INT64_MAX)
            return fail(r, PD_EFORMAT, "ne[%" PRIu32 "] = %" PRId64 " is negative", j,
                        (int64_t)t->ne[j]);
    }
    if (rc == 0)
        rc = read_u32(r, "tensor type", &t->type);
    if (rc == 0)
        rc = read_u64(r, "tensor offset", &t->offset);
    return rc;
}

/* Bytes of tensor t, with every product checked for overflow. */
static int
tensor_nbytes(struct reader *r, struct pd_gguf_tensor *t, const struct pd_type_traits *tr)
{
    uint64_t nel = 1;
    for (int j = 0; j < PD_GGUF_MAX_DIMS; j++) {
        if (__builtin_mul_overflow(nel, t->ne[j], &nel) || nel > (uint64_t)INT64_MAX)
            return fail(r, PD_EFORMAT, "element count overflows: ne = [%" PRIu64 ", %" PRIu64 ", %"
                        PRIu64 ", %" PRIu64 "]", t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    }
    if (t->ne[0] % (uint64_t)tr->block_size != 0)
        return fail(r, PD_EFORMAT, "ne[0] = %" PRIu64 " is not a multiple of the %s block size %"
                    PRId64, t->ne[0], tr->name, tr->block_size);
    uint64_t blocks = t->ne[0] / (uint64_t)tr->block_size, nbytes;
    if (__builtin_mul_overflow(blocks, (uint64_t)tr->type_size, &nbytes) || nbytes > SIZE_MAX ||
        __builtin_mul_overflow(nbytes, t->ne[1], &nbytes) ||
        __builtin_mul_overflow(nbytes, t->ne[2], &nbytes) ||
        __builtin_mul_overflow(nbytes, t->ne[3], &nbytes))
        return fail(r, PD_EFORMAT, "byte size of %" PRIu64 " %s elements overflows", nel, tr->name);
    PD_ASSERT(blocks == 0 || pd_type_row_size((enum pd_type)t->type, (int64_t)t->ne[0]) ==
              blocks * tr->type_size);
    t->nbytes = nbytes;
    return 0;
}

/* Type, size, alignment and extent of tensor t, whose record starts at info_off. */
static int
check_tensor(struct reader *r, struct pd_gguf *g, struct pd_gguf_tensor *t, uint64_t info_off)
{
    set_what_name(r, "tensor", t->name, info_off);
    const struct pd_type_traits *tr = pd_type_traits_get(t->type);
    if (tr == NULL)
        return fail(r, PD_EUNSUPPORTED, "unknown tensor type %" PRIu32, t->type);
    int rc = tensor_nbytes(r, t, tr);
    if (rc != 0)
        return rc;
    if (t->offset % g->alignment != 0)
        return fail(r, PD_EFORMAT, "data offset %" PRIu64 " is not a multiple of the alignment %"
                    PRIu64, t->offset, g->alignment);
    uint64_t start, end;
    if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
        __builtin_add_overflow(start, t->nbytes, &end) || end > r->size)
        return fail(r, PD_EFORMAT, "data [%" PRIu64 ", %" PRIu64 ") extends past end of file (%"
                    PRIu64 " bytes)", g->data_offset + t->offset,
                    g->data_offset + t->offset + t->nbytes, r->size);
    t->data = r->buf + start;
    return 0;
}

struct extent {
    uint64_t start;
    uint64_t end;
    uint64_t idx;
};

static int
extent_cmp(const void *a, const void *b)
{
    const struct extent *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* No two tensors with data share a byte. Sorting makes this O(n log n). */
static int
check_overlap(struct reader *r, struct pd_gguf *g, const uint64_t *info_off)
{
    struct extent *ex = arena_alloc(r->arena, (size_t)g->n_tensors * sizeof *ex + 1);
    if (ex == NULL)
        return fail(r, PD_ENOMEM, "out of memory checking %" PRIu64 " tensors", g->n_tensors);
    size_t n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        if (t->nbytes > 0)
            ex[n++] = (struct extent){ t->offset, t->offset + t->nbytes, i };
    }
    qsort(ex, n, sizeof *ex, extent_cmp);
    for (size_t k = 1; k < n; k++) {
        if (ex[k].start >= ex[k - 1].end)
            continue;
        const struct pd_gguf_tensor *a = &g->tensors[ex[k - 1].idx], *b = &g->tensors[ex[k].idx];
        char qa[80];
        quote_name(qa, sizeof qa, a->name);
        set_what_name(r, "tensor", b->name, info_off[ex[k].idx]);
        return fail(r, PD_EFORMAT, "data [%" PRIu64 ", %" PRIu64 ") overlaps tensor %s [%"
                    PRIu64 ", %" PRIu64 ")", g->data_offset + ex[k].start,
                    g->data_offset + ex[k].end, qa, g->data_offset + ex[k - 1].start,
                    g->data_offset + ex[k - 1].end);
    }
    return 0;
}

static int
read_tensors(struct reader *r, struct pd_gguf *g, struct gguf_priv *pv)
{
    size_t n = (size_t)g->n_tensors;   /* <= size / 24 */
    g->tensors = arena_alloc(r->arena, n * sizeof *g->tensors + 1);
    uint64_t *info_off = arena_alloc(r->arena, n * sizeof *info_off + 1);
    if (g->tensors == NULL || info_off == NULL ||
        name_index_init(&pv->tensors, r->arena, g->n_tensors) != 0)
        return fail(r, PD_ENOMEM, "out of memory for %" PRIu64 " tensors", g->n_tensors);
    memset(g->tensors, 0, n * sizeof *g->tensors);
    for (size_t i = 0; i < n; i++) {
        info_off[i] = r->pos;
        int rc = read_tensor_info(r, g, pv, i);
        if (rc != 0)
            return rc;
    }
    /* pos <= size < 2^63 and alignment <= 2^63, so this does not wrap. */
    g->data_offset = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n == 0 && g->data_offset > r->size)
        g->data_offset = r->size;   /* no data: a missing final padding is harmless */
    for (size_t i = 0; i < n; i++) {
        int rc = check_tensor(r, g, &g->tensors[i], info_off[i]);
        if (rc != 0)
            return rc;
    }
    return check_overlap(r, g, info_off);
}

/* ---- open and close ------------------------------------------------------------------------- */

static void
gguf_free(struct pd_gguf *g)
{
    struct gguf_priv *pv = g->priv;
    if (pv != NULL) {
        if (pv->owns_map && g->map != NULL)
            munmap((void *)g->map, (size_t)g->size);
        arena_release(&pv->arena);
        free(pv);
    }
    free(g);
}

static int
gguf_parse(struct pd_gguf **out, const uint8_t *buf, uint64_t size, char *err)
{
    struct pd_gguf *g = calloc(1, sizeof *g);
    struct gguf_priv *pv = calloc(1, sizeof *pv);
    if (g == NULL || pv == NULL) {
        free(g);
        free(pv);
        return pd_errorf(err, PD_ENOMEM, "out of memory opening a GGUF file");
    }
    g->priv = pv;
    g->map = buf;
    g->size = size;
    struct reader r = { .buf = buf, .size = size, .arena = &pv->arena, .err = err };
    int rc = read_header(&r, g);
    if (rc == 0)
        rc = read_kvs(&r, g, pv);
    if (rc == 0)
        rc = read_tensors(&r, g, pv);
    if (rc != 0) {
        g->map = NULL;   /* the caller's map or buffer is not ours to release on failure */
        gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Validate the size bytes at buf, which the caller keeps alive and unchanged until
 * pd_gguf_close. On success *out is a new pd_gguf; on failure *out is NULL and err says why. */
int
pd_gguf_open_memory(struct pd_gguf **out, const void *buf, size_t size, char *err)
{
    *out = NULL;
    if (buf == NULL && size > 0)
        return pd_errorf(err, PD_EINVAL, "NULL buffer of %zu bytes", size);
    static const uint8_t empty[1];
    return gguf_parse(out, buf != NULL ? buf : empty, size, err);
}

/* Map path read-only and validate it. Messages are prefixed with the path. */
int
pd_gguf_open(struct pd_gguf **out, const char *path, char *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_errorf(err, PD_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pd_errorf(err, PD_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pd_errorf(err, PD_EIO, "%s: not a regular file", path);
    }
    if (st.st_size < 4 || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return pd_errorf(err, PD_EFORMAT, "%s: file of %lld bytes cannot be GGUF", path,
                         (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return pd_errorf(err, PD_EIO, "%s: cannot map: %s", path, strerror(e));
    char msg[PD_ERR_MAX] = "";
    int rc = gguf_parse(out, map, (uint64_t)st.st_size, msg);
    if (rc != 0) {
        munmap(map, (size_t)st.st_size);
        return pd_errorf(err, rc, "%s: %s", path, msg);
    }
    ((struct gguf_priv *)(*out)->priv)->owns_map = true;
    return 0;
}

/* Release g and, for pd_gguf_open, its map. NULL is accepted. */
void
pd_gguf_close(struct pd_gguf *g)
{
    if (g != NULL)
        gguf_free(g);
}

/* Only a read-only file mapping may lose its pages: on anonymous memory (a caller's buffer)
 * MADV_DONTNEED would zero them. */
void
pd_gguf_release_pages(const struct pd_gguf *g, const void *p, size_t n)
{
    const struct gguf_priv *pv = g->priv;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p, hi = lo + n, map = (uintptr_t)g->map;
    if (!pv->owns_map || lo < map || hi > map + g->size)
        return;
    lo = (lo + page - 1) & ~(page - 1);
    hi &= ~(page - 1);
    if (lo < hi)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- lookups -------------------------------------------------------------------------------- */

/* The value of key, or NULL. O(1). */
const struct pd_gguf_value *
pd_gguf_get(const struct pd_gguf *g, const char *key)
{
    const struct gguf_priv *pv = g->priv;
    if (g->n_kv == 0)
        return NULL;
    const struct name_slot *s = name_index_find(&pv->keys, key);
    return s->name != NULL ? &g->kv[s->idx].value : NULL;
}

/* The tensor called name, or NULL. O(1). */
const struct pd_gguf_tensor *
pd_gguf_tensor(const struct pd_gguf *g, const char *name)
{
    const struct gguf_priv *pv = g->priv;
    if (g->n_tensors == 0)
        return NULL;
    const struct name_slot *s = name_index_find(&pv->tensors, name);
    return s->name != NULL ? &g->tensors[s->idx] : NULL;
}

const char *
pd_gguf_type_name(enum pd_gguf_type t)
{
    return (unsigned)t < PD_GGUF_TYPE_COUNT ? type_names[t] : "unknown";
}
