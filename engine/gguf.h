/*
 * gguf.h: reading and writing GGUF files (versions 2 and 3).
 *
 * The format, little-endian throughout:
 *
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x  { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims | n_dims x u64 ne | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32)
 *   tensor data; each tensor's offset is relative to the start of this section and aligned
 *
 *   string = u64 length + bytes (no NUL); array = u32 element type + u64 count + elements
 *   (arrays of strings and arrays of arrays are allowed).
 *
 * The reader memory-maps the file and checks everything against the bytes that exist before it
 * believes it: counts, string and array lengths, dimensions (and their product, for overflow),
 * tensor types, offsets, alignment, overlap, duplicate keys and names. A failure fills err with a
 * message naming the key or tensor, the file offset and the offending values; the reader never
 * reads past the end and never crashes on a hostile file.
 *
 * Strings handed out (keys, tensor names, string values) are NUL-terminated copies owned by the
 * pd_gguf; tensor data pointers point into the map and live as long as it does.
 */
#ifndef PD_GGUF_H
#define PD_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"

#define PD_GGUF_MAX_DIMS 4
#define PD_GGUF_DEFAULT_ALIGNMENT 32

enum pd_gguf_type {
    PD_GGUF_TYPE_UINT8 = 0,
    PD_GGUF_TYPE_INT8 = 1,
    PD_GGUF_TYPE_UINT16 = 2,
    PD_GGUF_TYPE_INT16 = 3,
    PD_GGUF_TYPE_UINT32 = 4,
    PD_GGUF_TYPE_INT32 = 5,
    PD_GGUF_TYPE_FLOAT32 = 6,
    PD_GGUF_TYPE_BOOL = 7,
    PD_GGUF_TYPE_STRING = 8,
    PD_GGUF_TYPE_ARRAY = 9,
    PD_GGUF_TYPE_UINT64 = 10,
    PD_GGUF_TYPE_INT64 = 11,
    PD_GGUF_TYPE_FLOAT64 = 12,
    PD_GGUF_TYPE_COUNT
};

/* A metadata value. Scalars are widened into u64/i64/f64 (which one follows the type); strings
 * are NUL-terminated copies (len excludes the NUL; the bytes may contain NULs). Arrays: elem_type
 * and n; numeric elements are copied, converted, into nums (double) only on request through the
 * accessors below; string and array elements live in items[]. */
struct pd_gguf_value {
    enum pd_gguf_type type;
    union {
        uint64_t u64;  /* UINT8/16/32/64, BOOL */
        int64_t i64;   /* INT8/16/32/64 */
        double f64;    /* FLOAT32/64 */
        struct {
            const char *ptr;
            uint64_t len;
        } str;
        struct {
            enum pd_gguf_type elem_type;
            uint64_t n;
            const void *raw;               /* numeric elements: little-endian, packed */
            struct pd_gguf_value *items;   /* STRING/ARRAY elements, n of them; else NULL */
        } arr;
    } v;
};

struct pd_gguf_kv {
    const char *key;
    struct pd_gguf_value value;
};

struct pd_gguf_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[PD_GGUF_MAX_DIMS];   /* ne[0] is the innermost (contiguous) dimension; unused = 1 */
    uint32_t type;                   /* enum pd_type (kernels/cpu/quant.h) */
    uint64_t offset;                 /* relative to the data section */
    uint64_t nbytes;
    const void *data;                /* into the map */
};

struct pd_gguf {
    uint32_t version;
    uint64_t n_kv;
    struct pd_gguf_kv *kv;
    uint64_t n_tensors;
    struct pd_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;            /* file offset of the data section */
    const uint8_t *map;              /* the whole file */
    uint64_t size;
    /* private */
    void *priv;
};

/* Open and validate path. On success *out owns the map; release with pd_gguf_close. */
int pd_gguf_open(struct pd_gguf **out, const char *path, char *err);

/* The same over a buffer the caller keeps alive (used by tests and the fuzzer). */
int pd_gguf_open_memory(struct pd_gguf **out, const void *buf, size_t size, char *err);

void pd_gguf_close(struct pd_gguf *g);

/* Bytes [p, p + n) of g's map are not needed for now: the whole pages among them leave this
 * process's memory and are read again from the file when next touched, so their contents never
 * change. Nothing happens for a buffer pd_gguf did not map (pd_gguf_open_memory) or a range
 * outside the map. */
void pd_gguf_release_pages(const struct pd_gguf *g, const void *p, size_t n);

/* Lookups: NULL when absent. */
const struct pd_gguf_value *pd_gguf_get(const struct pd_gguf *g, const char *key);
const struct pd_gguf_tensor *pd_gguf_tensor(const struct pd_gguf *g, const char *name);

/* Typed getters. They return PD_ENOTFOUND when the key is absent (and leave *out untouched, so a
 * caller may preset a default), PD_EFORMAT when the value has an incompatible type or does not
 * fit (integer types convert to one another when the value fits). */
int pd_gguf_get_u32(const struct pd_gguf *g, const char *key, uint32_t *out);
int pd_gguf_get_u64(const struct pd_gguf *g, const char *key, uint64_t *out);
int pd_gguf_get_i64(const struct pd_gguf *g, const char *key, int64_t *out);
int pd_gguf_get_f32(const struct pd_gguf *g, const char *key, float *out);
int pd_gguf_get_bool(const struct pd_gguf *g, const char *key, bool *out);
int pd_gguf_get_str(const struct pd_gguf *g, const char *key, const char **out);

/* Element i of a numeric array value, converted. */
int64_t pd_gguf_arr_i64(const struct pd_gguf_value *arr, uint64_t i);
double pd_gguf_arr_f64(const struct pd_gguf_value *arr, uint64_t i);

/* Name of a metadata type ("uint32", "array", ...). */
const char *pd_gguf_type_name(enum pd_gguf_type t);

/* ---- writer ----
 *
 * Collect metadata and tensors, then write them in one go. The writer copies keys, strings and
 * arrays; tensor data is referenced, not copied, until pd_gguf_writer_write returns. Tensor
 * offsets are laid out in insertion order at the writer's alignment. */
struct pd_gguf_writer;

struct pd_gguf_writer *pd_gguf_writer_new(void);
void pd_gguf_writer_free(struct pd_gguf_writer *w);

/* Each setter replaces an earlier value of the same key. Return 0 or PD_ENOMEM/PD_EINVAL. */
int pd_gguf_writer_set_u32(struct pd_gguf_writer *w, const char *key, uint32_t v);
int pd_gguf_writer_set_i32(struct pd_gguf_writer *w, const char *key, int32_t v);
int pd_gguf_writer_set_u64(struct pd_gguf_writer *w, const char *key, uint64_t v);
int pd_gguf_writer_set_f32(struct pd_gguf_writer *w, const char *key, float v);
int pd_gguf_writer_set_bool(struct pd_gguf_writer *w, const char *key, bool v);
int pd_gguf_writer_set_str(struct pd_gguf_writer *w, const char *key, const char *v);
/* A numeric array: elem_type a numeric pd_gguf_type, data packed little-endian. */
int pd_gguf_writer_set_arr(struct pd_gguf_writer *w, const char *key, enum pd_gguf_type elem_type,
                           const void *data, uint64_t n);
int pd_gguf_writer_set_arr_str(struct pd_gguf_writer *w, const char *key, const char *const *v,
                               uint64_t n);
/* Any value, nested arrays included (copied deeply). */
int pd_gguf_writer_set_value(struct pd_gguf_writer *w, const char *key,
                             const struct pd_gguf_value *v);

/* type is an enum pd_type; nbytes must match the type's row size times the rows. */
int pd_gguf_writer_add_tensor(struct pd_gguf_writer *w, const char *name, uint32_t type,
                              uint32_t n_dims, const uint64_t *ne, const void *data,
                              uint64_t nbytes);

int pd_gguf_writer_write(struct pd_gguf_writer *w, const char *path, char *err);

/* ---- streaming tensors ----
 *
 * A tensor whose bytes are made while the file is written, for files larger than memory. The
 * writer calls fill for consecutive runs of whole rows, in order, from row 0 (a row is ne[0]
 * elements; there are ne[1]*ne[2]*ne[3] rows): fill writes n_rows rows into buf (n_rows times the
 * row size in bytes) and returns 0, or a negative PD_E* code after filling err (PD_ERR_MAX), which
 * stops the write: pd_gguf_writer_write then returns that code and message, and path is untouched.
 * index is the tensor's position among all tensors added. Runs are at most a few MiB (one row
 * when a row is larger), so memory stays small whatever the tensor's size. */
typedef int (*pd_gguf_fill_fn)(void *ud, size_t index, uint64_t row0, uint64_t n_rows, void *buf,
                               char *err);

/* As pd_gguf_writer_add_tensor, with fill(ud, ...) producing the data during the write. */
int pd_gguf_writer_add_tensor_fill(struct pd_gguf_writer *w, const char *name, uint32_t type,
                                   uint32_t n_dims, const uint64_t *ne, pd_gguf_fill_fn fill,
                                   void *ud);

/* The size in bytes of the file pd_gguf_writer_write would write now; 0 for a bad
 * general.alignment. */
uint64_t pd_gguf_writer_file_size(struct pd_gguf_writer *w);

#endif
