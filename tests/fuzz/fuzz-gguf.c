/*
 * fuzz-gguf.c: libFuzzer harness for the GGUF reader.
 *
 * Each input is opened with pd_gguf_open_memory. When it opens, every parsed field is read the
 * way a model loader would: each key is looked up again, each value walked (strings to their last
 * byte, numeric arrays element by element through the accessors, nested arrays recursively),
 * each typed getter tried, and each tensor found by name with the first and last byte of its data
 * touched. The invariants that must hold for any file that opens are asserted, so a reader that
 * accepts something inconsistent crashes here instead of in the engine.
 *
 *   clang -fsanitize=fuzzer,address,undefined -I. -I$builddir engine/gguf*.c engine/pd.c \
 *       kernels/cpu/quant-traits.c tests/fuzz/fuzz-gguf.c -o fuzz-gguf
 *   ./fuzz-gguf -max_total_time=600 tests/fuzz/corpus-gguf
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "engine/gguf.h"
#include "kernels/cpu/quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void
touch_value(const struct pd_gguf_value *v)
{
    PD_ASSERT((unsigned)v->type < PD_GGUF_TYPE_COUNT);
    sink += strlen(pd_gguf_type_name(v->type));
    if (v->type == PD_GGUF_TYPE_STRING) {
        PD_ASSERT(v->v.str.ptr[v->v.str.len] == '\0');
        for (uint64_t i = 0; i < v->v.str.len; i++)
            sink += (uint8_t)v->v.str.ptr[i];
        return;
    }
    if (v->type != PD_GGUF_TYPE_ARRAY) {
        sink += v->v.u64;
        return;
    }
    if (v->v.arr.elem_type == PD_GGUF_TYPE_STRING || v->v.arr.elem_type == PD_GGUF_TYPE_ARRAY) {
        PD_ASSERT(v->v.arr.raw == NULL && (v->v.arr.n == 0 || v->v.arr.items != NULL));
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            PD_ASSERT(v->v.arr.items[i].type == v->v.arr.elem_type);
            touch_value(&v->v.arr.items[i]);
        }
        return;
    }
    PD_ASSERT(v->v.arr.items == NULL && v->v.arr.raw != NULL);
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        double d = pd_gguf_arr_f64(v, i);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        sink += (uint64_t)pd_gguf_arr_i64(v, i) + bits;
    }
    sink += (uint64_t)pd_gguf_arr_i64(v, v->v.arr.n);
}

static void
touch_getters(const struct pd_gguf *g, const char *key)
{
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool b;
    const char *s;
    sink += (uint64_t)pd_gguf_get_u32(g, key, &u32) + (uint64_t)pd_gguf_get_u64(g, key, &u64) +
            (uint64_t)pd_gguf_get_i64(g, key, &i64) + (uint64_t)pd_gguf_get_f32(g, key, &f32) +
            (uint64_t)pd_gguf_get_bool(g, key, &b);
    if (pd_gguf_get_str(g, key, &s) == 0)
        sink += strlen(s);
}

static void
touch_tensor(const struct pd_gguf *g, const struct pd_gguf_tensor *t)
{
    PD_ASSERT(pd_gguf_tensor(g, t->name) == t);
    PD_ASSERT(t->n_dims <= PD_GGUF_MAX_DIMS && pd_type_traits_get(t->type) != NULL);
    PD_ASSERT(t->offset % g->alignment == 0);
    PD_ASSERT(g->data_offset + t->offset + t->nbytes <= g->size);
    PD_ASSERT((const uint8_t *)t->data == g->map + g->data_offset + t->offset);
    for (int j = 0; j < PD_GGUF_MAX_DIMS; j++)
        sink += t->ne[j];
    if (t->nbytes > 0) {
        const uint8_t *p = t->data;
        sink += p[0] + p[t->nbytes - 1];
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pd_gguf *g = NULL;
    char err[PD_ERR_MAX];
    int rc = pd_gguf_open_memory(&g, data, size, err);
    if (rc != 0) {
        PD_ASSERT(g == NULL && rc < 0 && strlen(err) < PD_ERR_MAX);
        return 0;
    }
    PD_ASSERT(g->version == 2 || g->version == 3);
    PD_ASSERT(g->alignment != 0 && (g->alignment & (g->alignment - 1)) == 0);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        PD_ASSERT(pd_gguf_get(g, g->kv[i].key) == &g->kv[i].value);
        touch_value(&g->kv[i].value);
        touch_getters(g, g->kv[i].key);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        touch_tensor(g, &g->tensors[i]);
    sink += (uintptr_t)pd_gguf_get(g, "general.architecture") +
            (uintptr_t)pd_gguf_tensor(g, "token_embd.weight");
    pd_gguf_close(g);
    return 0;
}
