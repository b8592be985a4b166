/*
 * tokenizer-spm.c: SentencePiece BPE (tokenizer.ggml.model = "llama"), as llama.cpp runs it.
 *
 * Spaces become U+2581 ("▁"), with one added in front when add_space_prefix asks and the text
 * starts the input or follows a special token. The text starts as one symbol per character;
 * the adjacent pair whose concatenation is the best-scoring token merges first (leftmost among
 * equal scores), until no pair forms a token. A final symbol that is not a token (a character
 * the vocabulary lacks) is written as its bytes' <0xXX> tokens, or the unknown token where the
 * vocabulary has no byte tokens.
 *
 * Characters are split by strict UTF-8 decoding; an invalid byte is a symbol of its own and so
 * ends up as a byte token. (llama.cpp splits by the lead byte's claimed length instead, which
 * differs only on invalid input.)
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer-impl.h"
#include "engine/unicode.h"

struct spm_sym {
    int32_t prev, next;
    uint32_t start, len;   /* bytes of the escaped text; len 0 once merged away */
};

struct spm_cand {
    float score;
    int32_t left, right;
    uint32_t size;         /* bytes of the pair when pushed */
};

struct spm_work {
    const char *text;
    struct spm_sym *syms;
    struct spm_cand *heap;
    size_t n_heap;
};

/* Higher score first, then leftmost. */
static bool
spm_less(const struct spm_cand *a, const struct spm_cand *b)
{
    return a->score != b->score ? a->score > b->score : a->left < b->left;
}

static void
spm_push(struct spm_work *w, struct spm_cand c)
{
    size_t i = w->n_heap++;

    while (i > 0 && spm_less(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
}

static struct spm_cand
spm_pop(struct spm_work *w)
{
    struct spm_cand top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && spm_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!spm_less(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

static void
spm_try(const struct pd_tokenizer *tok, struct spm_work *w, int32_t l, int32_t r)
{
    uint32_t size;
    int32_t id;

    if (l < 0 || r < 0)
        return;
    size = w->syms[l].len + w->syms[r].len;
    id = tok_lookup(tok, w->text + w->syms[l].start, size);
    if (id >= 0)
        spm_push(w, (struct spm_cand){tok->score[id], l, r, size});
}

static void
spm_merge(const struct pd_tokenizer *tok, struct spm_work *w)
{
    while (w->n_heap > 0) {
        struct spm_cand c = spm_pop(w);
        struct spm_sym *l = &w->syms[c.left], *r = &w->syms[c.right];
        if (l->len == 0 || r->len == 0 || l->next != c.right || l->len + r->len != c.size)
            continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->syms[r->next].prev = c.left;
        spm_try(tok, w, l->prev, c.left);
        spm_try(tok, w, c.left, l->next);
    }
}

static int
spm_emit(const struct pd_tokenizer *tok, const struct spm_work *w, struct tok_out *out)
{
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const struct spm_sym *s = &w->syms[i];
        int32_t id = tok_lookup(tok, w->text + s->start, s->len);
        if (id >= 0) {
            if (tok_out_push(out, id) != 0)
                return PD_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t b = tok->byte_tok[(unsigned char)w->text[s->start + k]];
            if (b < 0)
                b = tok->unk;
            if (b >= 0 && tok_out_push(out, b) != 0)
                return PD_ENOMEM;
        }
    }
    return 0;
}

/* Copy text with spaces escaped to U+2581 (and a leading one if prefix); returns the length. */
static size_t
spm_escape(const char *text, size_t len, bool prefix, char *out)
{
    static const char sp[3] = {'\xe2', '\x96', '\x81'};
    size_t o = 0;

    if (prefix) {
        memcpy(out, sp, 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + o, sp, 3);
            o += 3;
        } else {
            out[o++] = text[i];
        }
    }
    return o;
}

/* Contract: see tokenizer-impl.h. */
int
tok_spm_encode(const struct pd_tokenizer *tok, const char *text, size_t len, bool prefix,
               struct tok_out *out)
{
    char *esc = malloc(3 * len + 4);
    struct spm_work w = {esc, malloc((3 * len + 4) * sizeof *w.syms),
                         malloc((9 * len + 12) * sizeof *w.heap), 0};
    size_t n = 0, elen, cl;
    int rc = 0;

    if (!esc || !w.syms || !w.heap) {
        rc = PD_ENOMEM;
        goto out;
    }
    elen = spm_escape(text, len, prefix, esc);
    for (size_t i = 0; i < elen; i += cl, n++) {
        pd_utf8_decode(esc + i, elen - i, &cl);
        w.syms[n] = (struct spm_sym){(int32_t)n - 1, i + cl < elen ? (int32_t)n + 1 : -1,
                                     (uint32_t)i, (uint32_t)cl};
    }
    for (size_t i = 0; i + 1 < n; i++)
        spm_try(tok, &w, (int32_t)i, (int32_t)i + 1);
    spm_merge(tok, &w);
    if (n > 0)
        rc = spm_emit(tok, &w, out);
out:
    free(esc);
    free(w.syms);
    free(w.heap);
    return rc;
}
