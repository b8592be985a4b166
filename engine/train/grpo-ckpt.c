/*
 * grpo-ckpt.c: a GRPO run's options (as key=value text and as JSON), its making and freeing,
 * and its checkpoints. A checkpoint is the policy as a deepseek2 GGUF (model-gguf.c: any
 * ponder or llama.cpp loads it) plus ponder.grpo.* keys (version, options, step, optimizer
 * steps) and the AdamW moments as tensors adam.m and adam.v; pd_tmodel_from_gguf reads the
 * policy back.
 */
#include "config.h"

#include "engine/train/grpo-run.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/train/bpe-train.h"
#include "engine/train/dense.h"
#include "engine/train/lora-train.h"
#include "kernels/cpu/quant.h"

#define CKPT_VERSION 1

void
pd_grpo_run_opts_default(struct pd_grpo_run_opts *o)
{
    *o = (struct pd_grpo_run_opts){
        .group = 8, .prompts = 4, .steps = 100, .mu = 1, .temp = 1.0f, .lr = 1e-5f,
        .weight_decay = 0.0f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
        .seed = 1, .threads = 0, .lora_targets = PD_TLORA_DEFAULT,
    };
    pd_grpo_params_default(&o->grpo);
}

enum opt_type { O_I32, O_I64, O_U64, O_F32, O_BOOL, O_LOSS, O_SCALE, O_TARGETS };

static const struct {
    const char *key;
    enum opt_type type;
    size_t off;
} opt_keys[] = {
#define K(k, t, f) { k, t, offsetof(struct pd_grpo_run_opts, f) }
    K("group", O_I32, group), K("prompts", O_I32, prompts), K("steps", O_I64, steps),
    K("mu", O_I32, mu), K("temp", O_F32, temp), K("lr", O_F32, lr),
    K("weight_decay", O_F32, weight_decay), K("clip", O_F32, clip), K("beta1", O_F32, beta1),
    K("beta2", O_F32, beta2), K("eps", O_F32, eps), K("seed", O_U64, seed),
    K("loss", O_LOSS, grpo.loss), K("scale_rewards", O_SCALE, grpo.scale),
    K("epsilon", O_F32, grpo.epsilon), K("epsilon_high", O_F32, grpo.epsilon_high),
    K("beta", O_F32, grpo.beta), K("max_completion", O_I32, grpo.max_completion),
    K("mask_truncated", O_BOOL, grpo.mask_truncated), K("lora_rank", O_I32, lora_rank),
    K("lora_alpha", O_F32, lora_alpha), K("lora_targets", O_TARGETS, lora_targets),
#undef K
};

int
pd_grpo_run_opts_check(const struct pd_grpo_run_opts *o, char *err)
{
    if (o->group < 2 || o->group > 4096)
        return pd_errorf(err, PD_EINVAL, "group %d: G must be within 2..4096", o->group);
    if (o->prompts < 1 || o->prompts > 65536)
        return pd_errorf(err, PD_EINVAL, "prompts %d: must be within 1..65536", o->prompts);
    if (o->steps < 1)
        return pd_errorf(err, PD_EINVAL, "steps %" PRId64 ": must be positive", o->steps);
    if (o->mu < 1 || o->mu > 1000)
        return pd_errorf(err, PD_EINVAL, "mu %d: must be within 1..1000", o->mu);
    if (!(o->temp > 0.01f && o->temp <= 100.0f))
        return pd_errorf(err, PD_EINVAL, "temp %g: must be within (0.01, 100]", o->temp);
    if (!(o->lr >= 0.0f && o->lr < 1.0f))
        return pd_errorf(err, PD_EINVAL, "lr %g: must be within [0, 1)", o->lr);
    if (!(o->clip >= 0.0f) || !(o->weight_decay >= 0.0f) || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return pd_errorf(err, PD_EINVAL, "optimizer settings out of range");
    if (o->lora_rank < 0 || o->lora_rank > 4096 || !(o->lora_alpha >= 0.0f) ||
        o->lora_targets == 0 || (o->lora_targets & ~(uint32_t)PD_TLORA_ALL))
        return pd_errorf(err, PD_EINVAL, "LoRA settings out of range (rank 0..4096, alpha >= 0, "
                         "some targets)");
    return pd_grpo_params_check(&o->grpo, err);
}

int
pd_grpo_run_opts_set(struct pd_grpo_run_opts *o, const char *key, const char *value, char *err)
{
    for (size_t i = 0; i < PD_ARRAY_SIZE(opt_keys); i++) {
        if (strcmp(opt_keys[i].key, key) != 0)
            continue;
        void *f = (char *)o + opt_keys[i].off;
        char *end = NULL;
        bool good = true;
        switch (opt_keys[i].type) {
        case O_I32: {
            long v = strtol(value, &end, 10);
            good = v >= INT32_MIN && v <= INT32_MAX;
            *(int32_t *)f = (int32_t)v;
            break;
        }
        case O_I64: *(int64_t *)f = strtoll(value, &end, 10); break;
        case O_U64: *(uint64_t *)f = strtoull(value, &end, 10); break;
        case O_F32: *(float *)f = strtof(value, &end); break;
        case O_BOOL:
            good = strcmp(value, "0") == 0 || strcmp(value, "1") == 0 ||
                   strcmp(value, "true") == 0 || strcmp(value, "false") == 0;
            *(bool *)f = value[0] == '1' || value[0] == 't';
            end = (char *)value + strlen(value);
            break;
        case O_LOSS:
            good = pd_grpo_loss_parse(value, (enum pd_grpo_loss_type *)f) == 0;
            end = (char *)value + strlen(value);
            break;
        case O_SCALE:
            good = pd_grpo_scale_parse(value, (enum pd_grpo_scale *)f) == 0;
            end = (char *)value + strlen(value);
            break;
        case O_TARGETS:
            if (pd_tlora_targets_parse(value, (uint32_t *)f, err) != 0)
                return PD_EINVAL;
            end = (char *)value + strlen(value);
            break;
        }
        if (!good || end == value || *end != '\0')
            return pd_errorf(err, PD_EINVAL, "%s: bad value '%s'", key, value);
        return 0;
    }
    return pd_errorf(err, PD_ENOTFOUND, "unknown option '%s'", key);
}

/* Every option as text, "key=value" separated by sep, or as JSON members when json. */
static int
format_opts(const struct pd_grpo_run_opts *o, char *buf, size_t cap, bool json)
{
    size_t len = 0;
    for (size_t i = 0; i < PD_ARRAY_SIZE(opt_keys); i++) {
        const void *f = (const char *)o + opt_keys[i].off;
        char v[64];
        bool str = false;
        switch (opt_keys[i].type) {
        case O_I32: snprintf(v, sizeof v, "%d", *(const int32_t *)f); break;
        case O_I64: snprintf(v, sizeof v, "%" PRId64, *(const int64_t *)f); break;
        case O_U64: snprintf(v, sizeof v, "%" PRIu64, *(const uint64_t *)f); break;
        case O_F32: snprintf(v, sizeof v, "%.9g", (double)*(const float *)f); break;
        case O_BOOL: snprintf(v, sizeof v, "%s", *(const bool *)f ? "true" : "false"); break;
        case O_LOSS:
            snprintf(v, sizeof v, "%s", pd_grpo_loss_name(*(const enum pd_grpo_loss_type *)f));
            str = true;
            break;
        case O_SCALE:
            snprintf(v, sizeof v, "%s", pd_grpo_scale_name(*(const enum pd_grpo_scale *)f));
            str = true;
            break;
        case O_TARGETS:
            pd_tlora_targets_format(*(const uint32_t *)f, v, sizeof v);
            str = true;
            break;
        }
        char dummy[1];
        char *dst = buf && len < cap ? buf + len : dummy;
        size_t room = buf && len < cap ? cap - len : 0;
        int n = json ? snprintf(dst, room, "%s\"%s\":%s%s%s", i ? "," : "{", opt_keys[i].key,
                                str ? "\"" : "", v, str ? "\"" : "")
                     : snprintf(dst, room, "%s=%s\n", opt_keys[i].key, v);
        len += (size_t)n;
    }
    if (json) {
        char dummy[1];
        len += (size_t)snprintf(buf && len < cap ? buf + len : dummy,
                                buf && len < cap ? cap - len : 0, "}");
    }
    return (int)len;
}

int
pd_grpo_run_opts_json(const struct pd_grpo_run_opts *o, char *buf, size_t cap)
{
    return format_opts(o, buf, cap, true);
}

/* ---- the run -------------------------------------------------------------------------------- */

/* The tokenizer's checks: as many tokens as the model, and an EOS. */
static int
check_tok(const struct pd_bpe *tok, int32_t n_vocab, char *err)
{
    struct pd_bpe_ids ids;
    pd_bpe_get_ids(tok, &ids);
    if (pd_bpe_n_vocab(tok) != n_vocab)
        return pd_errorf(err, PD_EINVAL, "the tokenizer has %d tokens, the model %d",
                         pd_bpe_n_vocab(tok), n_vocab);
    if (ids.eos < 0)
        return pd_errorf(err, PD_EINVAL, "the tokenizer has no EOS to end a completion");
    return 0;
}

int
pd_grpo_run_new(struct pd_grpo_run **out, const struct pd_grpo_run_opts *o,
                struct pd_tmodel *model, struct pd_bpe *tok, const char *sample_path,
                char *err)
{
    *out = NULL;
    struct pd_grpo_run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        pd_tmodel_free(model);
        pd_bpe_free(tok);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    r->model = model;
    r->tok = tok;
    r->opts = *o;
    snprintf(r->sample_path, sizeof r->sample_path, "%s", sample_path);
    int rc = pd_grpo_run_opts_check(o, err);
    if (rc == 0)
        rc = check_tok(tok, model->cfg.n_vocab, err);
    if (rc == 0 && o->lora_rank > 0) {
        float alpha = o->lora_alpha > 0.0f ? o->lora_alpha : (float)o->lora_rank;
        rc = pd_tlora_new(&r->lora, model, o->lora_rank, alpha, o->lora_targets, o->seed, err);
        model->lora = r->lora;
    }
    if (rc == 0) {
        int64_t n = r->lora ? r->lora->n_params : model->n_params;
        r->m1 = calloc((size_t)n, sizeof(float));
        r->m2 = calloc((size_t)n, sizeof(float));
        if (!r->m1 || !r->m2)
            rc = pd_errorf(err, PD_ENOMEM, "out of memory for the optimizer");
    }
    if (rc == 0 && o->grpo.beta > 0.0f) {
        rc = pd_tmodel_new(&r->ref, &model->cfg, 1, err);
        if (rc == 0) {
            memcpy(r->ref->params, model->params, (size_t)model->n_params * sizeof(float));
            int64_t nb = (int64_t)model->n_moe * model->cfg.n_expert;
            memcpy(r->ref->bias, model->bias, (size_t)nb * sizeof(float));
        }
    }
    if (rc != 0) {
        pd_grpo_run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int
pd_grpo_run_new_dense(struct pd_grpo_run **out, const struct pd_grpo_run_opts *o,
                      struct pd_model *base, const char *base_path, struct pd_bpe *tok,
                      const char *sample_path, char *err)
{
    *out = NULL;
    struct pd_grpo_run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        pd_model_free(base);
        pd_bpe_free(tok);
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    }
    r->base = base, r->tok = tok, r->opts = *o;
    snprintf(r->sample_path, sizeof r->sample_path, "%s", sample_path);
    snprintf(r->base_path, sizeof r->base_path, "%s", base_path);
    int rc = pd_grpo_run_opts_check(o, err);
    if (rc == 0 && o->lora_rank == 0)
        rc = pd_errorf(err, PD_EINVAL, "full-weight GRPO trains only an F32 deepseek2 model "
                       "(ponder train pretrain's); over %s give --lora-rank R",
                       base->hp.arch_name);
    if (rc == 0)
        rc = pd_dense_new(&r->dense, base, err);
    if (rc == 0)
        rc = check_tok(tok, base->hp.n_vocab, err);
    if (rc == 0) {
        float alpha = o->lora_alpha > 0.0f ? o->lora_alpha : (float)o->lora_rank;
        rc = pd_dense_lora_new(&r->lora, r->dense, o->lora_rank, alpha, o->lora_targets,
                               o->seed, err);
        pd_dense_set_lora(r->dense, r->lora);
    }
    if (rc == 0) {
        r->m1 = calloc((size_t)r->lora->n_params, sizeof(float));
        r->m2 = calloc((size_t)r->lora->n_params, sizeof(float));
        if (!r->m1 || !r->m2)
            rc = pd_errorf(err, PD_ENOMEM, "out of memory for the optimizer");
    }
    if (rc != 0) {
        pd_grpo_run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void
pd_grpo_run_free(struct pd_grpo_run *r)
{
    if (r == NULL)
        return;
    pd_dense_free(r->dense);
    pd_model_free(r->base);
    pd_tmodel_free(r->model);
    pd_tmodel_free(r->ref);
    pd_tlora_free(r->lora);
    pd_bpe_free(r->tok);
    free(r->m1);
    free(r->m2);
    free(r);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

int
pd_grpo_run_save(const struct pd_grpo_run *r, const char *path, char *err)
{
    const struct pd_tmodel *m = r->model;
    int n = format_opts(&r->opts, NULL, 0, false);
    char *text = malloc((size_t)n + 1);
    struct pd_gguf_writer *w = pd_gguf_writer_new();
    int rc = text && w ? 0 : pd_errorf(err, PD_ENOMEM, "out of memory");
    if (rc == 0) {
        format_opts(&r->opts, text, (size_t)n + 1, false);
        rc = r->lora ? pd_tlora_add_gguf(r->lora, w, "ponder-grpo-checkpoint", err)
                     : pd_tmodel_add_gguf(m, w, "ponder-grpo-checkpoint", err);
    }
    if (rc == 0) {
        uint64_t np = (uint64_t)(r->lora ? r->lora->n_params : m->n_params);
        if ((rc = pd_gguf_writer_set_u32(w, "ponder.grpo.version", CKPT_VERSION)) ||
            (rc = pd_gguf_writer_set_str(w, "ponder.grpo.options", text)) ||
            (rc = pd_gguf_writer_set_u64(w, "ponder.grpo.step", (uint64_t)r->step)) ||
            (rc = pd_gguf_writer_set_u64(w, "ponder.grpo.adam_t", (uint64_t)r->adam_t)) ||
            (rc = pd_gguf_writer_set_u64(w, "ponder.grpo.label", (uint64_t)r->label)) ||
            (rc = pd_gguf_writer_add_tensor(w, "adam.m", PD_TYPE_F32, 1, &np, r->m1, np * 4)) ||
            (rc = pd_gguf_writer_add_tensor(w, "adam.v", PD_TYPE_F32, 1, &np, r->m2, np * 4)))
            rc = pd_errorf(err, rc, "checkpoint: %s", pd_strerror(rc));
    }
    if (rc == 0)
        rc = pd_bpe_write_gguf(r->tok, w, err);
    if (rc == 0)
        rc = pd_gguf_writer_write(w, path, err);
    pd_gguf_writer_free(w);
    free(text);
    return rc;
}

static int
parse_opts(struct pd_grpo_run_opts *o, const char *text, const char *path, char *err)
{
    pd_grpo_run_opts_default(o);
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char key[64], val[128];
        if (eq == NULL || eq > line + len || (size_t)(eq - line) >= sizeof key ||
            len - (size_t)(eq - line) > sizeof val)
            return pd_errorf(err, PD_EFORMAT, "%s: bad options line '%.*s'", path, (int)len,
                             line);
        snprintf(key, sizeof key, "%.*s", (int)(eq - line), line);
        snprintf(val, sizeof val, "%.*s", (int)(len - (size_t)(eq - line) - 1), eq + 1);
        int rc = pd_grpo_run_opts_set(o, key, val, err);
        if (rc != 0)
            return rc;
        line += len + (nl ? 1 : 0);
    }
    return 0;
}

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

/* The checkpoint's options, step and optimizer steps. */
static int
read_header(const struct pd_gguf *g, const char *path, struct pd_grpo_run_opts *o,
            uint64_t *step, uint64_t *adam_t, char *err)
{
    uint32_t version = 0;
    const char *text = NULL;
    if (pd_gguf_get_u32(g, "ponder.grpo.version", &version) != 0 || version != CKPT_VERSION ||
        pd_gguf_get_str(g, "ponder.grpo.options", &text) != 0 ||
        pd_gguf_get_u64(g, "ponder.grpo.step", step) != 0 ||
        pd_gguf_get_u64(g, "ponder.grpo.adam_t", adam_t) != 0)
        return pd_errorf(err, PD_EFORMAT, "%s: not a ponder GRPO checkpoint of version %d", path,
                         CKPT_VERSION);
    return parse_opts(o, text, path, err);
}

/* What a checkpoint adds to a new run: the adapter, the moments, the step and the label. */
static int
read_state(struct pd_grpo_run *r, const struct pd_gguf *g, const char *path, uint64_t step,
           uint64_t adam_t, char *err)
{
    int64_t n_train = r->lora ? r->lora->n_params : r->model->n_params;
    int rc = r->lora ? pd_tlora_read_gguf(r->lora, g, path, err) : 0;
    if (rc == 0 && (rc = read_floats(g, "adam.m", r->m1, n_train, path, err)) == 0)
        rc = read_floats(g, "adam.v", r->m2, n_train, path, err);
    uint64_t label = 0;
    pd_gguf_get_u64(g, "ponder.grpo.label", &label);
    r->step = (int64_t)step, r->adam_t = (int64_t)adam_t, r->label = (int64_t)label;
    return rc;
}

/* The loaded run to the caller when rc is 0, else freed; returns rc. */
static int
hand_over(struct pd_grpo_run **out, struct pd_grpo_run *r, int rc)
{
    if (rc != 0)
        pd_grpo_run_free(r);
    else
        *out = r;
    return rc;
}

int
pd_grpo_run_load(struct pd_grpo_run **out, const char *path, struct pd_tmodel *ref_model,
                 const char *sample_path, char *err)
{
    *out = NULL;
    struct pd_gguf *g = NULL;
    struct pd_tmodel *m = NULL;
    struct pd_bpe *tok = NULL;
    struct pd_grpo_run *r = NULL;
    uint64_t step = 0, adam_t = 0;
    struct pd_grpo_run_opts o;
    int rc = pd_gguf_open(&g, path, err);
    if (rc == 0)
        rc = read_header(g, path, &o, &step, &adam_t, err);
    bool lora = rc == 0 && o.lora_rank > 0;
    if (lora && ref_model == NULL)
        rc = pd_errorf(err, PD_EINVAL, "%s: a LoRA checkpoint needs its base model", path);
    if (lora && rc == 0) {
        m = ref_model;   /* the policy is the base under the checkpoint's adapter */
        ref_model = NULL;
    } else if (rc == 0) {
        rc = pd_tmodel_from_gguf(&m, g, err);
    }
    if (rc == 0)
        rc = pd_bpe_from_gguf(&tok, g, err);
    char ca[1024], cb[1024];
    if (rc == 0 && ref_model &&
        (ref_model->n_params != m->n_params ||
         pd_tmodel_config_format(&ref_model->cfg, ca, sizeof ca) !=
             pd_tmodel_config_format(&m->cfg, cb, sizeof cb) || strcmp(ca, cb) != 0))
        rc = pd_errorf(err, PD_EINVAL, "%s: the base model has other sizes than the checkpoint",
                       path);
    if (rc == 0) {
        rc = pd_grpo_run_new(&r, &o, m, tok, sample_path, err);
        m = NULL, tok = NULL;
    }
    if (rc == 0)
        rc = read_state(r, g, path, step, adam_t, err);
    if (rc == 0 && r->ref && !r->lora) {
        /* the reference is the base, not the checkpoint's policy */
        if (ref_model == NULL) {
            rc = pd_errorf(err, PD_EINVAL, "%s: beta > 0 needs the base model as reference",
                           path);
        } else {
            memcpy(r->ref->params, ref_model->params,
                   (size_t)ref_model->n_params * sizeof(float));
            memcpy(r->ref->bias, ref_model->bias,
                   (size_t)ref_model->n_moe * (size_t)ref_model->cfg.n_expert * sizeof(float));
        }
    }
    pd_gguf_close(g);
    pd_tmodel_free(m);
    pd_bpe_free(tok);
    pd_tmodel_free(ref_model);
    return hand_over(out, r, rc);
}

int
pd_grpo_run_load_dense(struct pd_grpo_run **out, const char *path, struct pd_model *base,
                       const char *base_path, struct pd_bpe *tok, const char *sample_path,
                       char *err)
{
    *out = NULL;
    struct pd_gguf *g = NULL;
    struct pd_grpo_run *r = NULL;
    uint64_t step = 0, adam_t = 0;
    struct pd_grpo_run_opts o;
    int rc = pd_gguf_open(&g, path, err);
    if (rc == 0)
        rc = read_header(g, path, &o, &step, &adam_t, err);
    if (rc == 0) {
        rc = pd_grpo_run_new_dense(&r, &o, base, base_path, tok, sample_path, err);
        base = NULL, tok = NULL;
    }
    if (rc == 0)
        rc = read_state(r, g, path, step, adam_t, err);
    pd_gguf_close(g);
    pd_model_free(base);
    pd_bpe_free(tok);
    return hand_over(out, r, rc);
}

int
pd_grpo_run_write(const struct pd_grpo_run *r, const char *path, bool merge, char *err)
{
    if (r->lora == NULL)
        return pd_tmodel_write_gguf(r->model, r->tok, "ponder-grpo", path, err);
    if (!merge)
        return pd_tlora_write_gguf(r->lora, "ponder-grpo-lora", path, err);
    if (r->dense)
        return pd_errorf(err, PD_EUNSUPPORTED, "--merge folds an adapter into F32 weights; "
                         "this base keeps its own types: use the adapter (ponder run --lora)");
    /* the merge goes into a copy: the base stays as loaded */
    struct pd_tmodel *mm = NULL;
    int rc = pd_tmodel_new(&mm, &r->model->cfg, 1, err);
    if (rc == 0) {
        memcpy(mm->params, r->model->params, (size_t)mm->n_params * sizeof(float));
        memcpy(mm->bias, r->model->bias,
               (size_t)mm->n_moe * (size_t)mm->cfg.n_expert * sizeof(float));
        pd_tlora_merge(r->lora, mm);
        rc = pd_tmodel_write_gguf(mm, r->tok, "ponder-grpo-merged", path, err);
    }
    pd_tmodel_free(mm);
    return rc;
}
