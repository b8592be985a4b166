/*
 * pretrain.c: supervised training on generated traces (see pretrain.h): options, the data, the
 * step, checkpoints.
 */
#include "config.h"

#include "engine/train/pretrain.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/train/bpe-train.h"
#include "engine/train/optim.h"
#include "engine/train/task.h"
#include "kernels/cpu/quant.h"

#define EOS_TEXT "<|endoftext|>"
#define CKPT_VERSION 1

/* ---- options ------------------------------------------------------------------------------ */

void
pd_pretrain_opts_default(struct pd_pretrain_opts *o)
{
    memset(o, 0, sizeof *o);
    pd_tmodel_config_default(&o->model);
    o->steps = 1000;
    o->batch = 8;
    o->seq = 256;
    o->lr = 3e-3f;
    o->min_lr = 3e-4f;
    o->warmup = 50;
    o->weight_decay = 0.1f;
    o->clip = 1.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->balance_gamma = 1e-3f;
    o->countdown_share = 0.5;
    o->slip_rate = 0.2;
    o->style = PD_TASK_STYLE_CHAT;
    o->seed = 1;
    o->vocab = 512;
    o->tok_docs = 2000;
}

enum okind { O_I64, O_I32, O_F32, O_F64, O_U64, O_STYLE };

static const struct {
    const char *key;
    enum okind kind;
    size_t off;
    double lo, hi;
} okeys[] = {
#define K(k, t, f, lo, hi) { k, t, offsetof(struct pd_pretrain_opts, f), lo, hi }
    K("steps", O_I64, steps, 1, 1e12),
    K("batch", O_I32, batch, 1, 1 << 16),
    K("seq", O_I32, seq, 2, 1 << 20),
    K("lr", O_F32, lr, 0, 10),
    K("min_lr", O_F32, min_lr, 0, 10),
    K("warmup", O_I64, warmup, 0, 1e12),
    K("weight_decay", O_F32, weight_decay, 0, 10),
    K("clip", O_F32, clip, 0, 1e9),
    K("beta1", O_F32, beta1, 0, 0.999999),
    K("beta2", O_F32, beta2, 0, 0.999999),
    K("eps", O_F32, eps, 0, 1),
    K("balance_gamma", O_F32, balance_gamma, 0, 1),
    K("countdown_share", O_F64, countdown_share, 0, 1),
    K("slip_rate", O_F64, slip_rate, 0, 1),
    K("prompts", O_STYLE, style, 0, 1),
    K("seed", O_U64, seed, 0, 1.8e19),
    K("tok_vocab", O_I32, vocab, 257, PD_BPE_MAX_VOCAB),
    K("tok_docs", O_I32, tok_docs, 1, 1e7),
#undef K
};

int
pd_pretrain_opts_set(struct pd_pretrain_opts *o, const char *key, const char *value, char *err)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(okeys); i++) {
        if (strcmp(okeys[i].key, key) != 0)
            continue;
        char *p = (char *)o + okeys[i].off, *end;
        errno = 0;
        if (okeys[i].kind == O_STYLE) {
            enum pd_task_style st;
            if (pd_task_style_parse(value, &st))
                return pd_errorf(err, PD_EINVAL, "%s: '%s' is not chat or tinyzero", key, value);
            *(int32_t *)p = (int32_t)st;
            return 0;
        }
        if (okeys[i].kind == O_U64) {
            unsigned long long v = strtoull(value, &end, 10);
            if (errno || end == value || *end || value[0] == '-')
                return pd_errorf(err, PD_EINVAL, "%s: '%s' is not a whole number", key, value);
            *(uint64_t *)p = v;
            return 0;
        }
        bool whole = okeys[i].kind == O_I64 || okeys[i].kind == O_I32;
        double v = whole ? (double)strtoll(value, &end, 10) : strtod(value, &end);
        if (errno || end == value || *end || !(v >= okeys[i].lo && v <= okeys[i].hi))
            return pd_errorf(err, PD_EINVAL, "%s: '%s' is not a number in %g..%g", key, value,
                             okeys[i].lo, okeys[i].hi);
        switch (okeys[i].kind) {
        case O_I64: *(int64_t *)p = (int64_t)v; break;
        case O_I32: *(int32_t *)p = (int32_t)v; break;
        case O_F32: *(float *)p = (float)v; break;
        case O_F64: *(double *)p = v; break;
        case O_U64:
        case O_STYLE: break;
        }
        return 0;
    }
    return pd_tmodel_config_set(&o->model, key, value, err);
}

int
pd_pretrain_opts_format(const struct pd_pretrain_opts *o, char *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(okeys); i++) {
        const char *p = (const char *)o + okeys[i].off;
        char v[64];
        switch (okeys[i].kind) {
        case O_I64: snprintf(v, sizeof v, "%" PRId64, *(const int64_t *)p); break;
        case O_I32: snprintf(v, sizeof v, "%" PRId32, *(const int32_t *)p); break;
        case O_F32: snprintf(v, sizeof v, "%.9g", *(const float *)p); break;
        case O_F64: snprintf(v, sizeof v, "%.17g", *(const double *)p); break;
        case O_U64: snprintf(v, sizeof v, "%" PRIu64, *(const uint64_t *)p); break;
        case O_STYLE:
            snprintf(v, sizeof v, "%s", pd_task_style_name((enum pd_task_style)*(const int32_t *)p));
            break;
        }
        int n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, "%s=%s\n",
                         okeys[i].key, v);
        len += (size_t)n;
    }
    len += (size_t)pd_tmodel_config_format(&o->model, len < cap ? buf + len : NULL,
                                           len < cap ? cap - len : 0);
    return (int)len;
}

int
pd_pretrain_opts_check(const struct pd_pretrain_opts *o, char *err)
{
    if (o->seq > o->model.n_ctx)
        return pd_errorf(err, PD_EINVAL, "seq %d is longer than the model's ctx %d", o->seq,
                         o->model.n_ctx);
    if (o->min_lr > o->lr)
        return pd_errorf(err, PD_EINVAL, "min_lr %g is above lr %g", o->min_lr, o->lr);
    return pd_tmodel_config_check(&o->model, err);
}

/* ---- data --------------------------------------------------------------------------------- */

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

/* Example i's prompt and completion. */
static int
example(const struct pd_pretrain_opts *o, uint64_t seed, uint64_t i, char *prompt,
        char *completion, char *err)
{
    double u = (double)(mix64(seed * 0x9E3779B97F4A7C15ull + i) >> 11) / 9007199254740992.0;
    struct pd_task_params p;
    pd_task_params_default(&p, u < o->countdown_share ? PD_TASK_COUNTDOWN : PD_TASK_ARITH);
    p.slip_rate = o->slip_rate;
    struct pd_task_problem pr;
    struct pd_task_solution sol;
    int rc = pd_task_generate(&p, PD_TASK_TRAIN, seed, i, &pr, err);
    if (rc == 0)
        rc = pd_task_solve(&p, &pr, &sol, err);
    enum pd_task_style st = (enum pd_task_style)o->style;
    if (rc == 0 && (pd_task_style_prompt(st, &pr, prompt, PD_TASK_PROMPT_MAX) != 0 ||
                    pd_task_style_completion(st, &sol, completion, PD_TASK_TEXT_MAX) != 0))
        rc = pd_errorf(err, PD_ERANGE, "example %" PRIu64 ": text too long", i);
    return rc;
}

int
pd_pretrain_tokenizer(struct pd_bpe **out, const struct pd_pretrain_opts *o, char *err)
{
    size_t n = (size_t)o->tok_docs;
    char **docs = calloc(n, sizeof *docs);
    char prompt[PD_TASK_PROMPT_MAX], *completion = malloc(PD_TASK_TEXT_MAX);
    int rc = docs && completion ? 0 : pd_errorf(err, PD_ENOMEM, "out of memory");
    /* texts of another seed than the training data's: the tokenizer sees the same kind */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = example(o, o->seed ^ 0x70CE5EEDull, i, prompt, completion, err);
        if (rc == 0 && (docs[i] = malloc(strlen(prompt) + strlen(completion) + 16)) == NULL)
            rc = pd_errorf(err, PD_ENOMEM, "out of memory");
        if (rc == 0)
            sprintf(docs[i], "%s%s" EOS_TEXT, prompt, completion);
    }
    if (rc == 0) {
        static const char *const specials[] = { EOS_TEXT };
        struct pd_bpe_opts bo = { .n_vocab = o->vocab, .specials = specials, .n_specials = 1 };
        rc = pd_bpe_train(out, (const char *const *)docs, NULL, n, &bo, err);
        if (rc == 0 && (rc = pd_bpe_set_ids(*out, &(struct pd_bpe_ids){ .bos = -1, .eos = 256,
                                                                         .pad = 256 },
                                            err)) != 0) {
            pd_bpe_free(*out);
            *out = NULL;
        }
    }
    for (size_t i = 0; docs && i < n; i++)
        free(docs[i]);
    free(docs);
    free(completion);
    return rc;
}

int
pd_pretrain_batch(struct pd_pretrain *p, int64_t step, char *err)
{
    const struct pd_pretrain_opts *o = &p->opts;
    int T = o->seq;
    int32_t eos = pd_bpe_find(p->tok, EOS_TEXT);
    char prompt[PD_TASK_PROMPT_MAX], *completion = malloc(PD_TASK_TEXT_MAX);
    if (completion == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = 0;
    for (int b = 0; rc == 0 && b < o->batch; b++) {
        uint64_t i = (uint64_t)step * (uint64_t)o->batch + (uint64_t)b;
        int32_t *pt = NULL, *ct = NULL;
        size_t np = 0, nc = 0;
        rc = example(o, o->seed, i, prompt, completion, err);
        if (rc == 0)
            rc = pd_bpe_encode(p->tok, prompt, strlen(prompt), &pt, &np, err);
        if (rc == 0)
            rc = pd_bpe_encode(p->tok, completion, strlen(completion), &ct, &nc, err);
        /* the row: prompt, completion, EOS, then EOS padding; the target of position t is
         * token t + 1, counted when that token belongs to the completion or its EOS */
        int32_t *tok = p->tokens + (int64_t)b * T, *tgt = p->targets + (int64_t)b * T;
        for (int t = 0; rc == 0 && t < T; t++) {
            size_t j = (size_t)t, k = j + 1;
            tok[t] = j < np ? pt[j] : j < np + nc ? ct[j - np] : eos;
            tgt[t] = k < np ? -1 : k < np + nc ? ct[k - np] : k == np + nc ? eos : -1;
        }
        free(pt);
        free(ct);
    }
    free(completion);
    return rc;
}

/* ---- the run ------------------------------------------------------------------------------ */

static int
alloc_run(struct pd_pretrain **out, const struct pd_pretrain_opts *o, struct pd_bpe *tok,
          char *err)
{
    struct pd_pretrain *p = calloc(1, sizeof *p);
    if (p == NULL) {
        pd_bpe_free(tok);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    p->opts = *o;
    p->tok = tok;
    p->opts.model.n_vocab = pd_bpe_n_vocab(tok);
    int rc = pd_pretrain_opts_check(&p->opts, err);
    if (rc == 0)
        rc = pd_tmodel_new(&p->model, &p->opts.model, o->seed, err);
    if (rc == 0) {
        int64_t n = p->model->n_params, N = (int64_t)o->batch * o->seq;
        p->m1 = calloc((size_t)n, sizeof(float));
        p->m2 = calloc((size_t)n, sizeof(float));
        p->tokens = calloc((size_t)N, sizeof(int32_t));
        p->targets = calloc((size_t)N, sizeof(int32_t));
        if (!p->m1 || !p->m2 || !p->tokens || !p->targets)
            rc = pd_errorf(err, PD_ENOMEM, "out of memory for the optimizer");
    }
    if (rc != 0) {
        pd_pretrain_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int
pd_pretrain_new(struct pd_pretrain **out, const struct pd_pretrain_opts *o, struct pd_bpe *tok,
                char *err)
{
    *out = NULL;
    return alloc_run(out, o, tok, err);
}

void
pd_pretrain_free(struct pd_pretrain *p)
{
    if (p == NULL)
        return;
    pd_tmodel_free(p->model);
    pd_bpe_free(p->tok);
    free(p->m1);
    free(p->m2);
    free(p->tokens);
    free(p->targets);
    free(p);
}

int
pd_pretrain_step(struct pd_pretrain *p, struct pd_threadpool *tp, struct pd_pretrain_stats *st,
                 char *err)
{
    const struct pd_pretrain_opts *o = &p->opts;
    struct pd_tmodel *m = p->model;
    memset(st, 0, sizeof *st);
    int rc = pd_pretrain_batch(p, p->step, err);
    if (rc == 0)
        rc = pd_tmodel_forward(m, tp, p->tokens, p->targets, o->batch, o->seq, &st->loss,
                               &st->targets, err);
    if (rc == 0)
        rc = pd_tmodel_backward(m, tp, err);
    if (rc != 0)
        return rc;
    st->imbalance = pd_tmodel_imbalance(m);
    st->tokens = (int64_t)o->batch * o->seq;
    float *g = m->grads;
    st->grad_norm = o->clip > 0 ? pd_optim_grad_clip(&g, &m->n_params, 1, o->clip)
                                : pd_optim_grad_norm(&g, &m->n_params, 1);
    const struct pd_lr_schedule s = { .peak = o->lr, .floor = o->min_lr, .warmup = o->warmup,
                                      .total = o->steps };
    st->lr = pd_optim_lr(&s, p->step);
    st->skipped = !isfinite(st->grad_norm);
    if (!st->skipped) {
        const struct pd_adamw h = { .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
                                    .weight_decay = o->weight_decay };
        pd_tmodel_adamw(m, p->m1, p->m2, &h, st->lr, p->step + 1);
        if (o->balance_gamma > 0)
            pd_tmodel_balance(m, o->balance_gamma);
    }
    p->step++;
    return 0;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

int
pd_pretrain_save(const struct pd_pretrain *p, const char *path, char *err)
{
    const struct pd_tmodel *m = p->model;
    int n = pd_pretrain_opts_format(&p->opts, NULL, 0);
    char *text = malloc((size_t)n + 1);
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc = text && w ? 0 : pd_errorf(err, PD_ENOMEM, "out of memory");
    if (rc == 0) {
        pd_pretrain_opts_format(&p->opts, text, (size_t)n + 1);
        uint64_t np = (uint64_t)m->n_params, nb = (uint64_t)(m->n_moe ? m->n_moe : 1) *
                                                  (uint64_t)(m->cfg.n_expert ? m->cfg.n_expert : 1);
        if ((rc = pd_gguf_writer_set_u32(w, "ponder.train.version", CKPT_VERSION)) ||
            (rc = pd_gguf_writer_set_str(w, "ponder.train.options", text)) ||
            (rc = pd_gguf_writer_set_u64(w, "ponder.train.step", (uint64_t)p->step)) ||
            (rc = pd_gguf_writer_add_tensor(w, "params", PD_TYPE_F32, 1, &np, m->params, np * 4)) ||
            (rc = pd_gguf_writer_add_tensor(w, "adam.m", PD_TYPE_F32, 1, &np, p->m1, np * 4)) ||
            (rc = pd_gguf_writer_add_tensor(w, "adam.v", PD_TYPE_F32, 1, &np, p->m2, np * 4)) ||
            (rc = pd_gguf_writer_add_tensor(w, "bias", PD_TYPE_F32, 1, &nb, m->bias, nb * 4)))
            rc = pd_errorf(err, rc, "checkpoint: %s", pd_strerror(rc));
    }
    if (rc == 0)
        rc = pd_bpe_write_gguf(p->tok, w, err);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    free(text);
    return rc;
}

/* Copy tensor name of exactly n floats from g into dst. */
static int
read_floats(const struct pd_gguf *g, const char *name, float *dst, int64_t n, const char *path,
            char *err)
{
    const struct pd_gguf_tensor *t = pd_gguf_tensor(g, name);
    if (t == NULL || t->type != PD_TYPE_F32 || t->nbytes != (uint64_t)n * sizeof(float))
        return pd_errorf(err, PD_EFORMAT, "%s: tensor '%s' missing or not %" PRId64 " floats",
                         path, name, n);
    memcpy(dst, t->data, (size_t)n * sizeof(float));
    return 0;
}

int
pd_pretrain_load(struct pd_pretrain **out, const char *path, char *err)
{
    *out = NULL;
    struct pd_gguf *g;
    int rc = pd_gguf_open(&g, path, err);
    if (rc != 0)
        return rc;
    uint32_t version = 0;
    uint64_t step = 0;
    const char *text = NULL;
    struct pd_pretrain_opts o;
    pd_pretrain_opts_default(&o);
    if (pd_gguf_get_u32(g, "ponder.train.version", &version) != 0 || version != CKPT_VERSION ||
        pd_gguf_get_str(g, "ponder.train.options", &text) != 0 ||
        pd_gguf_get_u64(g, "ponder.train.step", &step) != 0) {
        pd_gguf_close(g);
        return pd_errorf(err, PD_EFORMAT, "%s: not a ponder checkpoint of version %d", path,
                         CKPT_VERSION);
    }
    /* the options, line by line */
    for (const char *line = text; rc == 0 && *line;) {
        const char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char key[64], val[128];
        if (eq == NULL || eq > line + len || (size_t)(eq - line) >= sizeof key ||
            len - (size_t)(eq - line) > sizeof val) {
            rc = pd_errorf(err, PD_EFORMAT, "%s: bad options line '%.*s'", path, (int)len, line);
            break;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - line), line);
        snprintf(val, sizeof val, "%.*s", (int)(len - (size_t)(eq - line) - 1), eq + 1);
        rc = pd_pretrain_opts_set(&o, key, val, err);
        line += len + (nl ? 1 : 0);
    }
    struct pd_bpe *tok = NULL;
    if (rc == 0)
        rc = pd_bpe_from_gguf(&tok, g, err);
    struct pd_pretrain *p = NULL;
    if (rc == 0)
        rc = alloc_run(&p, &o, tok, err);
    if (rc == 0) {
        struct pd_tmodel *m = p->model;
        int64_t nb = (int64_t)(m->n_moe ? m->n_moe : 1) * (m->cfg.n_expert ? m->cfg.n_expert : 1);
        if ((rc = read_floats(g, "params", m->params, m->n_params, path, err)) == 0 &&
            (rc = read_floats(g, "adam.m", p->m1, m->n_params, path, err)) == 0 &&
            (rc = read_floats(g, "adam.v", p->m2, m->n_params, path, err)) == 0)
            rc = read_floats(g, "bias", m->bias, nb, path, err);
        p->step = (int64_t)step;
    }
    pd_gguf_close(g);
    if (rc != 0) {
        pd_pretrain_free(p);
        return rc;
    }
    *out = p;
    return 0;
}
