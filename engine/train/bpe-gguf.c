/*
 * bpe-gguf.c: a trained byte-level BPE tokenizer as GGUF tokenizer metadata, written into a
 * model being written or into a file of its own, and read back (see bpe-train.h).
 *
 * What llama.cpp's llama-vocab.cpp requires of a "gpt2" vocabulary, and how it is met here:
 * tokenizer.ggml.tokens an array of strings, none empty, none twice (it throws on a duplicate);
 * tokenizer.ggml.merges an array of strings, each "left right" split at the first space after
 * the first byte (token texts never hold a space: the byte alphabet spells it U+0120);
 * tokenizer.ggml.token_type an array of int32 exactly; special ids as uint32; a known
 * tokenizer.ggml.pre; every byte's alphabet letter a token (byte_to_token looks them up).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/train/bpe-impl.h"
#include "engine/unicode.h"

/* ---- writing ---- */

/* NUL-terminated texts of every token (specials as they are, others in the byte alphabet) and
 * of every merge, in one arena. */
struct texts {
    const char **tok, **merge;
    int32_t *type;
    char *arena;
};

static void
texts_release(struct texts *x)
{
    free(x->tok);
    free(x->merge);
    free(x->type);
    free(x->arena);
}

static int
texts_make(const struct pd_bpe *b, struct texts *x)
{
    size_t total = 0, o = 0;

    for (int32_t id = 0; id < b->n_vocab; id++)
        total += 2 * (size_t)b->len[id] + 1;
    for (size_t r = 0; r < b->n_merges; r++)
        total += 2 * ((size_t)b->len[b->merges[r].left] + b->len[b->merges[r].right]) + 2;
    x->tok = malloc(((size_t)b->n_vocab + 1) * sizeof *x->tok);
    x->merge = malloc((b->n_merges + 1) * sizeof *x->merge);
    x->type = malloc(((size_t)b->n_vocab + 1) * sizeof *x->type);
    x->arena = malloc(total + 1);
    if (!x->tok || !x->merge || !x->type || !x->arena)
        return PD_ENOMEM;
    for (int32_t id = 0; id < b->n_vocab; id++) {
        const char *s = b->bytes + b->off[id];
        x->tok[id] = x->arena + o;
        x->type[id] = b->type[id];
        if (pd_bpe_is_special(b, id)) {
            memcpy(x->arena + o, s, b->len[id]);
            o += b->len[id];
        } else {
            o += bpe_alphabet(b, s, b->len[id], x->arena + o);
        }
        x->arena[o++] = '\0';
    }
    for (size_t r = 0; r < b->n_merges; r++) {
        int32_t l = b->merges[r].left, rt = b->merges[r].right;
        x->merge[r] = x->arena + o;
        o += bpe_alphabet(b, b->bytes + b->off[l], b->len[l], x->arena + o);
        x->arena[o++] = ' ';
        o += bpe_alphabet(b, b->bytes + b->off[rt], b->len[rt], x->arena + o);
        x->arena[o++] = '\0';
    }
    return 0;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_write_gguf(const struct pd_bpe *b, struct pd_gguf_writer *w, char *err)
{
    struct texts x = {0};
    int32_t eos = b->ids.eos, bos = b->ids.bos >= 0 ? b->ids.bos : eos;
    int rc;

    if (eos < 0)
        return pd_errorf(err, PD_EINVAL,
                         "bpe: no eos token chosen (llama.cpp would take token 11 for it)");
    if ((rc = texts_make(b, &x)) != 0) {
        texts_release(&x);
        return pd_errorf(err, rc, "bpe: no memory for %d token texts", b->n_vocab);
    }
    if ((rc = pd_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (rc = pd_gguf_writer_set_str(w, "tokenizer.ggml.pre", b->pre_name)) ||
        (rc = pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", x.tok,
                                         (uint64_t)b->n_vocab)) ||
        (rc = pd_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PD_GGUF_TYPE_INT32, x.type,
                                     (uint64_t)b->n_vocab)) ||
        (rc = pd_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", x.merge, b->n_merges)) ||
        (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos)) ||
        (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos)) ||
        (b->ids.pad >= 0 && (rc = pd_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id",
                                                         (uint32_t)b->ids.pad))) ||
        (rc = pd_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", b->ids.add_bos)))
        rc = pd_errorf(err, rc, "bpe: tokenizer metadata: %s", pd_strerror(rc));
    texts_release(&x);
    return rc;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_save(const struct pd_bpe *b, const char *path, char *err)
{
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc;

    if (!w)
        return pd_errorf(err, PD_ENOMEM, "bpe: no memory for a gguf writer");
    rc = pd_gguf_writer_set_u32(w, "ponder.bpe.version", PD_BPE_FORMAT_VERSION);
    if (rc != 0)
        rc = pd_errorf(err, rc, "bpe: %s", pd_strerror(rc));
    if (rc == 0)
        rc = pd_bpe_write_gguf(b, w, err);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    return rc;
}

/* ---- reading ---- */

/* Bytes of an alphabet text, into out (len bytes room); the count, or -1 when a character is
 * not in the alphabet. */
static int64_t
unalphabet(const struct pd_bpe *b, const char *s, size_t len, char *out)
{
    size_t n = 0, cl;

    for (size_t i = 0; i < len; i += cl) {
        uint32_t cp = pd_utf8_decode(s + i, len - i, &cl);
        if (cp >= 512 || b->alpha_byte[cp] < 0)
            return -1;
        out[n++] = (char)b->alpha_byte[cp];
    }
    return (int64_t)n;
}

static int
read_types(const struct pd_gguf *g, uint64_t n, const struct pd_gguf_value **tt, char *err)
{
    *tt = pd_gguf_get(g, "tokenizer.ggml.token_type");
    if (*tt && ((*tt)->type != PD_GGUF_TYPE_ARRAY || (*tt)->v.arr.items || (*tt)->v.arr.n != n))
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.token_type: want %llu integers",
                         (unsigned long long)n);
    return 0;
}

static int
read_tokens(struct pd_bpe *b, const struct pd_gguf *g, char *buf, char *err)
{
    const struct pd_gguf_value *toks = pd_gguf_get(g, "tokenizer.ggml.tokens"), *tt;
    uint64_t n;
    int rc;

    if (!toks || toks->type != PD_GGUF_TYPE_ARRAY || toks->v.arr.elem_type != PD_GGUF_TYPE_STRING ||
        toks->v.arr.n < 256 || toks->v.arr.n > PD_BPE_MAX_VOCAB)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.tokens: want 256 to %d strings",
                         PD_BPE_MAX_VOCAB);
    n = toks->v.arr.n;
    if ((rc = read_types(g, n, &tt, err)) != 0)
        return rc;
    for (uint64_t i = 0; i < n; i++) {
        const struct pd_gguf_value *s = &toks->v.arr.items[i];
        int64_t t = tt ? pd_gguf_arr_i64(tt, i) : PD_TOKEN_TYPE_NORMAL;
        uint8_t type = (uint8_t)(t >= 0 && t <= PD_TOKEN_TYPE_BYTE ? t : PD_TOKEN_TYPE_NORMAL);
        int64_t len = (int64_t)s->v.str.len;
        const char *p = s->v.str.ptr;
        if (type != PD_TOKEN_TYPE_CONTROL && type != PD_TOKEN_TYPE_USER_DEFINED &&
            type != PD_TOKEN_TYPE_UNKNOWN) {
            if ((len = unalphabet(b, p, (size_t)len, buf)) <= 0)
                return pd_errorf(err, PD_EUNSUPPORTED,
                                 "tokenizer.ggml.tokens[%llu] '%.40s' is not in the byte "
                                 "alphabet", (unsigned long long)i, p);
            if (bpe_lookup(b, buf, (size_t)len) >= 0)
                return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.tokens[%llu] '%.40s' twice",
                                 (unsigned long long)i, p);
            p = buf;
        }
        if (bpe_add_token(b, p, (size_t)len, type) < 0)
            return pd_errorf(err, PD_ENOMEM, "bpe: no memory for %llu tokens",
                             (unsigned long long)n);
    }
    return 0;
}

static int
read_byte_ids(struct pd_bpe *b, char *err)
{
    /* Some published vocabularies (SmolLM2's) lack tokens for a few control bytes: those stay
     * -1 and only text that holds them fails to encode. */
    int n = 0;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        n += (b->byte_id[c] = bpe_lookup(b, &ch, 1)) >= 0;
    }
    if (n < 128)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.tokens: tokens for only %d of the 256 "
                         "bytes: not a byte-level vocabulary", n);
    return 0;
}

/* One "left right" merge; first of duplicates wins, as in the tokenizers. */
static int
read_merge(struct pd_bpe *b, const struct pd_gguf_value *s, uint64_t r, char *buf, char *err)
{
    const char *p = s->v.str.ptr, *sp = s->v.str.len > 1 ? memchr(p + 1, ' ', s->v.str.len - 1)
                                                           : NULL;
    int64_t ll, rl;
    int32_t l, rt, res;

    if (!sp || (ll = unalphabet(b, p, (size_t)(sp - p), buf)) <= 0 ||
        (rl = unalphabet(b, sp + 1, s->v.str.len - (size_t)(sp - p) - 1, buf + ll)) <= 0 ||
        (l = bpe_lookup(b, buf, (size_t)ll)) < 0 ||
        (rt = bpe_lookup(b, buf + ll, (size_t)rl)) < 0 ||
        (res = bpe_lookup(b, buf, (size_t)(ll + rl))) < 0)
        return pd_errorf(err, PD_EFORMAT,
                         "tokenizer.ggml.merges[%llu] '%.60s' does not join two tokens into one",
                         (unsigned long long)r, p);
    if (bpe_rank(b, l, rt) >= 0)
        return 0;
    return bpe_add_merge(b, l, rt, res) ? pd_errorf(err, PD_ENOMEM, "bpe: no memory") : 0;
}

static int
read_merges(struct pd_bpe *b, const struct pd_gguf *g, char *buf, char *err)
{
    const struct pd_gguf_value *m = pd_gguf_get(g, "tokenizer.ggml.merges");
    int rc;

    if (!m || m->type != PD_GGUF_TYPE_ARRAY || m->v.arr.elem_type != PD_GGUF_TYPE_STRING)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.merges: missing or not strings");
    for (uint64_t r = 0; r < m->v.arr.n; r++)
        if ((rc = read_merge(b, &m->v.arr.items[r], r, buf, err)) != 0)
            return rc;
    return 0;
}

static int
read_id(const struct pd_bpe *b, const struct pd_gguf *g, const char *key, int32_t *id, char *err)
{
    uint32_t v;
    int rc = pd_gguf_get_u32(g, key, &v);

    *id = -1;
    if (rc == PD_ENOTFOUND)
        return 0;
    if (rc != 0 || v >= (uint32_t)b->n_vocab)
        return pd_errorf(err, PD_EFORMAT, "%s: not a token id below %d", key, b->n_vocab);
    *id = (int32_t)v;
    return 0;
}

static int
read_ids(struct pd_bpe *b, const struct pd_gguf *g, char *err)
{
    struct pd_bpe_ids ids = {-1, -1, -1, false};
    int rc;

    if ((rc = read_id(b, g, "tokenizer.ggml.bos_token_id", &ids.bos, err)) ||
        (rc = read_id(b, g, "tokenizer.ggml.eos_token_id", &ids.eos, err)) ||
        (rc = read_id(b, g, "tokenizer.ggml.padding_token_id", &ids.pad, err)))
        return rc;
    pd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ids.add_bos);
    ids.add_bos = ids.add_bos && ids.bos >= 0;
    b->ids = ids;
    return 0;
}

/* The model and pre-tokenizer names, and the format version when there is one. */
static int
read_names(const struct pd_gguf *g, int *pre, const char **pre_name, char *err)
{
    const char *model = NULL;
    uint32_t version = PD_BPE_FORMAT_VERSION;

    if (pd_gguf_get_u32(g, "ponder.bpe.version", &version) == PD_EFORMAT ||
        version != PD_BPE_FORMAT_VERSION)
        return pd_errorf(err, PD_EUNSUPPORTED, "ponder.bpe.version %u: this ponder reads %d",
                         version, PD_BPE_FORMAT_VERSION);
    if (pd_gguf_get_str(g, "tokenizer.ggml.model", &model) != 0)
        return pd_errorf(err, PD_EFORMAT, "tokenizer.ggml.model: missing or not a string");
    if (strcmp(model, "gpt2") != 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "tokenizer model '%s' is not byte-level BPE",
                         model);
    *pre_name = NULL;
    pd_gguf_get_str(g, "tokenizer.ggml.pre", pre_name);
    if ((*pre = pd_pretok_from_name(*pre_name)) < 0)
        return pd_errorf(err, PD_EUNSUPPORTED, "pre-tokenizer '%s' is not supported", *pre_name);
    if (!*pre_name)
        *pre_name = "default";
    return 0;
}

/* Longest merge string or token text: scratch for unalphabet. */
static size_t
longest_text(const struct pd_gguf *g)
{
    const char *keys[2] = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"};
    size_t longest = 0;

    for (int k = 0; k < 2; k++) {
        const struct pd_gguf_value *v = pd_gguf_get(g, keys[k]);
        if (!v || v->type != PD_GGUF_TYPE_ARRAY || v->v.arr.elem_type != PD_GGUF_TYPE_STRING)
            continue;
        for (uint64_t i = 0; i < v->v.arr.n; i++)
            longest = PD_MAX(longest, v->v.arr.items[i].v.str.len);
    }
    return longest;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_from_gguf(struct pd_bpe **out, const struct pd_gguf *g, char *err)
{
    const char *pre_name;
    struct pd_bpe *b = NULL;
    char *buf = NULL;
    int pre = 0, rc;

    *out = NULL;
    if ((rc = read_names(g, &pre, &pre_name, err)) != 0)
        return rc;
    b = bpe_new((enum pd_pretok)pre, pre_name);
    buf = malloc(longest_text(g) + 1);
    if (!b || !buf)
        rc = pd_errorf(err, PD_ENOMEM, "bpe: no memory");
    if (rc == 0 && (rc = read_tokens(b, g, buf, err)) == 0 && (rc = read_byte_ids(b, err)) == 0 &&
        (rc = read_merges(b, g, buf, err)) == 0 && (rc = read_ids(b, g, err)) == 0 &&
        bpe_index_specials(b) != 0)
        rc = pd_errorf(err, PD_ENOMEM, "bpe: no memory");
    free(buf);
    if (rc != 0) {
        pd_bpe_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Contract: see bpe-train.h. */
int
pd_bpe_load(struct pd_bpe **out, const char *path, char *err)
{
    struct pd_gguf *g = NULL;
    int rc;

    *out = NULL;
    if ((rc = pd_gguf_open(&g, path, err)) != 0)
        return rc;
    rc = pd_bpe_from_gguf(out, g, err);
    pd_gguf_close(g);
    return rc;
}
