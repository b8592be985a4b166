/*
 * cmd-model.c: `ponder model info FILE`: what a GGUF file holds, readable; `ponder model synth`
 * (random-weight models of any shape) lives in cmd-model-synth.c.
 *
 * Works from the GGUF metadata alone, so it also describes files ponder cannot run (an
 * architecture it does not know, a tensor type it does not compute with) and says why.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/split.h"
#include "engine/tokenizer.h"
#include "kernels/cpu/quant.h"
#include "tui/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char model_help[] =
    "usage: ponder model info [--tensors] [--gpus LIST --split S --gpu-layers N -c N] MODEL.gguf\n"
    "       ponder model synth (--shape NAME | --arch ARCH) [KEY=VALUE...] [--type T] -o FILE\n"
    "       ponder model synth --list\n"
    "\n"
    "info: describe a GGUF model: architecture, parameters, tensor types, context, vocabulary,\n"
    "chat template and special tokens.\n"
    "\n"
    "  --tensors    also list every tensor with its type and shape\n"
    "  --gpus LIST, --split S, --gpu-layers N, --backend B, -c N\n"
    "               also plan the devices as `ponder run` with these options would use them:\n"
    "               each one's layers or experts, the bytes of weights it holds and its KV\n"
    "               cache (no GPU needed: for sizing one)\n"
    "  -h, --help   this help\n"
    "\n"
    "synth: write a random-weight model of a real shape (DeepSeek-V3, Qwen3-30B-A3B, OLMoE,\n"
    "SmolLM2, ...) or any other, to measure speed; `ponder model synth --help` tells more.\n";

int cmd_model_synth(int argc, char **argv);

static void
print_kv_str(const struct pd_gguf *g, const char *label, const char *key)
{
    const char *s = NULL;
    if (pd_gguf_get_str(g, key, &s) == 0)
        printf("  %-22s %s\n", label, s);
}

static void
print_kv_num(const struct pd_gguf *g, const char *label, const char *arch, const char *suffix)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const struct pd_gguf_value *v = pd_gguf_get(g, key);
    if (v == NULL)
        return;
    if (v->type == PD_GGUF_TYPE_FLOAT32 || v->type == PD_GGUF_TYPE_FLOAT64)
        printf("  %-22s %g\n", label, v->v.f64);
    else if (v->type == PD_GGUF_TYPE_INT8 || v->type == PD_GGUF_TYPE_INT16 ||
             v->type == PD_GGUF_TYPE_INT32 || v->type == PD_GGUF_TYPE_INT64)
        printf("  %-22s %lld\n", label, (long long)v->v.i64);
    else if (v->type == PD_GGUF_TYPE_STRING)
        printf("  %-22s %s\n", label, v->v.str.ptr);
    else if (v->type == PD_GGUF_TYPE_ARRAY && v->v.arr.items == NULL && v->v.arr.n > 0)
        printf("  %-22s %lld (per layer, %llu values)\n", label,
               (long long)pd_gguf_arr_i64(v, 0), (unsigned long long)v->v.arr.n);
    else
        printf("  %-22s %llu\n", label, (unsigned long long)v->v.u64);
}

/* deepseek2.expert_gating_func, by name. */
static void
print_gating(const struct pd_gguf *g, const char *arch)
{
    static const char *const names[] = { "none", "softmax", "sigmoid", "softmax over the chosen",
                                         "sqrt(softplus)" };
    char key[160];
    snprintf(key, sizeof key, "%s.expert_gating_func", arch);
    uint32_t v;
    if (pd_gguf_get_u32(g, key, &v) == 0)
        printf("  %-22s %s (%u)\n", "expert gating", v < PD_ARRAY_SIZE(names) ? names[v] : "?", v);
}

static void
print_size(const char *label, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        printf("  %-22s %.2f GiB\n", label, bytes / (1024.0 * 1024 * 1024));
    else
        printf("  %-22s %.2f MiB\n", label, bytes / (1024.0 * 1024));
}

static void
print_params(const struct pd_gguf *g)
{
    uint64_t n = 0;
    uint64_t per_type[PD_TYPE_COUNT] = { 0 };
    uint64_t bytes_type[PD_TYPE_COUNT] = { 0 };
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        n += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        per_type[t->type]++;
        bytes_type[t->type] += t->nbytes;
    }
    if (n >= 1000000000)
        printf("  %-22s %.2f B\n", "parameters", n / 1e9);
    else
        printf("  %-22s %.2f M\n", "parameters", n / 1e6);
    printf("  %-22s", "tensor types");
    bool first = true;
    for (int t = 0; t < PD_TYPE_COUNT; t++) {
        if (!per_type[t])
            continue;
        const struct pd_type_traits *tr = pd_type_traits_get((uint32_t)t);
        printf("%s %s x%llu (%.1f MiB%s)", first ? "" : ",", tr->name,
               (unsigned long long)per_type[t], bytes_type[t] / (1024.0 * 1024),
               tr->supported ? "" : ", not supported");
        first = false;
    }
    printf("\n");
}

static void
print_special(const struct pd_gguf *g)
{
    static const char *const names[] = { "bos", "eos", "eot", "eom", "unknown", "padding" };
    const struct pd_gguf_value *tokens = pd_gguf_get(g, "tokenizer.ggml.tokens");
    printf("  %-22s", "special tokens");
    for (size_t i = 0; i < PD_ARRAY_SIZE(names); i++) {
        char key[96];
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", names[i]);
        uint32_t id;
        if (pd_gguf_get_u32(g, key, &id) != 0)
            continue;
        const char *text = "?";
        if (tokens && tokens->type == PD_GGUF_TYPE_ARRAY && tokens->v.arr.items &&
            id < tokens->v.arr.n)
            text = tokens->v.arr.items[id].v.str.ptr;
        printf(" %s=%u %s", names[i], id, text);
    }
    printf("\n");
}

static void
print_tokenizer(const struct pd_gguf *g)
{
    const struct pd_gguf_value *tokens = pd_gguf_get(g, "tokenizer.ggml.tokens");
    if (tokens && tokens->type == PD_GGUF_TYPE_ARRAY)
        printf("  %-22s %llu tokens\n", "vocabulary", (unsigned long long)tokens->v.arr.n);
    print_kv_str(g, "tokenizer", "tokenizer.ggml.model");
    print_kv_str(g, "pre-tokenizer", "tokenizer.ggml.pre");
    print_special(g);
    const char *tmpl = NULL;
    pd_gguf_get_str(g, "tokenizer.chat_template", &tmpl);
    bool recognized = false;
    enum pd_template t = pd_template_detect(tmpl, &recognized);
    printf("  %-22s %s%s\n", "chat template", pd_template_name(t),
           tmpl == NULL ? " (the file has none)" : recognized ? "" : " (not recognized; default)");
    char err[PD_ERR_MAX] = "";
    struct pd_tokenizer *tok = NULL;
    if (pd_tokenizer_load(&tok, g, err) != 0)
        printf("  %-22s %s\n", "tokenizer problem", err);
    pd_tokenizer_free(tok);
}

static void
print_tensors(const struct pd_gguf *g)
{
    printf("\ntensors:\n");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct pd_gguf_tensor *t = &g->tensors[i];
        printf("  %-36s %-7s {", t->name, pd_type_traits_get(t->type)->name);
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf("%s%llu", d ? ", " : "", (unsigned long long)t->ne[d]);
        printf("}\n");
    }
}

static void
print_info(const char *path, const struct pd_gguf *g)
{
    const char *arch = "?";
    pd_gguf_get_str(g, "general.architecture", &arch);
    printf("%s\n", path);
    print_kv_str(g, "name", "general.name");
    printf("  %-22s %s\n", "architecture", arch);
    uint32_t ftype;
    if (pd_gguf_get_u32(g, "general.file_type", &ftype) == 0)
        printf("  %-22s %s\n", "file type", cli_file_type_name(ftype));
    printf("  %-22s GGUF v%u, %llu tensors, %llu metadata keys\n", "format", g->version,
           (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv);
    print_size("file size", (double)g->size);
    print_params(g);
    print_kv_num(g, "context (trained)", arch, "context_length");
    print_kv_num(g, "embedding", arch, "embedding_length");
    print_kv_num(g, "layers", arch, "block_count");
    print_kv_num(g, "attention heads", arch, "attention.head_count");
    print_kv_num(g, "key-value heads", arch, "attention.head_count_kv");
    print_kv_num(g, "head size", arch, "attention.key_length");
    print_kv_num(g, "feed-forward", arch, "feed_forward_length");
    print_kv_num(g, "experts", arch, "expert_count");
    print_kv_num(g, "experts per token", arch, "expert_used_count");
    print_kv_num(g, "expert width", arch, "expert_feed_forward_length");
    print_kv_num(g, "shared experts", arch, "expert_shared_count");
    print_kv_num(g, "expert groups", arch, "expert_group_count");
    print_kv_num(g, "groups per token", arch, "expert_group_used_count");
    print_gating(g, arch);
    print_kv_num(g, "expert weight scale", arch, "expert_weights_scale");
    print_kv_num(g, "leading dense layers", arch, "leading_dense_block_count");
    print_kv_num(g, "q/k head size (MLA)", arch, "attention.key_length_mla");
    print_kv_num(g, "v head size (MLA)", arch, "attention.value_length_mla");
    print_kv_num(g, "kv lora rank", arch, "attention.kv_lora_rank");
    print_kv_num(g, "q lora rank", arch, "attention.q_lora_rank");
    print_kv_num(g, "rope base", arch, "rope.freq_base");
    print_kv_num(g, "rope dimensions", arch, "rope.dimension_count");
    print_kv_num(g, "rope scaling", arch, "rope.scaling.type");
    print_kv_num(g, "rms norm epsilon", arch, "attention.layer_norm_rms_epsilon");
    print_tokenizer(g);
    char err[PD_ERR_MAX] = "";
    struct pd_model *m = NULL;
    int rc = pd_model_load(&m, path, err);
    printf("  %-22s %s%s\n", "runs in ponder", rc == 0 ? "yes" : "no: ", rc == 0 ? "" : err);
    pd_model_free(m);
}

static void
print_bytes(double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        printf("%8.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else
        printf("%8.2f MiB", bytes / (1024.0 * 1024));
}

/* The devices `ponder run` would use with cp, and what each would hold. */
static int
print_device_plan(const char *path, const struct pd_context_params *cp)
{
    char err[PD_ERR_MAX] = "";
    struct pd_model *m = NULL;
    if (pd_model_load(&m, path, err) != 0)
        return cli_fail("model", "%s: %s", path, err);
    struct pd_rank_share ranks[PD_MAX_DEVICES];
    int n = 0;
    if (pd_split_plan(m, cp, ranks, &n, err) != 0) {
        pd_model_free(m);
        return cli_fail("model", "%s", err);
    }
    printf("\ndevices (context %d tokens; activations and scratch come on top):\n",
           pd_context_params_n_ctx(m, cp));
    printf("  %-5s %-8s %-38s %12s %12s\n", "rank", "device", "holds", "weights", "KV cache");
    /* the embeddings are named where one rank holds them (a pipeline), not where all do */
    bool all_embed = true;
    for (int r = 0; r < n; r++)
        all_embed = all_embed && ranks[r].embed;
    for (int r = 0; r < n; r++) {
        const struct pd_rank_share *s = &ranks[r];
        char dev[32], holds[96] = "";
        size_t at = 0;
        if (s->backend == PD_BACKEND_CUDA)
            snprintf(dev, sizeof dev, "cuda %d", s->device);
        else
            snprintf(dev, sizeof dev, "cpu");
        if (s->layer_end - s->layer_first == 1)
            at += (size_t)snprintf(holds + at, sizeof holds - at, "layer %d", s->layer_first);
        else if (s->layer_end > s->layer_first)
            at += (size_t)snprintf(holds + at, sizeof holds - at, "layers %d-%d", s->layer_first,
                                   s->layer_end - 1);
        if (m->hp.n_expert > 0 && s->expert_end - s->expert_first < m->hp.n_expert)
            at += (size_t)snprintf(holds + at, sizeof holds - at, "%sexperts %d-%d",
                                   at ? ", " : "", s->expert_first, s->expert_end - 1);
        if (s->embed && !all_embed)
            at += (size_t)snprintf(holds + at, sizeof holds - at, "%sembeddings",
                                   at ? ", " : "");
        if (s->head && n > 1)
            at += (size_t)snprintf(holds + at, sizeof holds - at, "%shead", at ? ", " : "");
        if (at == 0)
            snprintf(holds, sizeof holds, "nothing (passes on)");
        printf("  %-5d %-8s %-38s ", r, dev, holds);
        print_bytes((double)s->weight_bytes);
        printf(" ");
        print_bytes((double)s->kv_bytes);
        printf("\n");
    }
    pd_model_free(m);
    return EXIT_OK;
}

static int
cmd_model_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "tensors", no_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { "ctx-size", required_argument, NULL, 'c' },
        CLI_DEVICE_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    bool tensors = false, plan = false;
    struct pd_context_params cp;
    pd_context_params_default(&cp);
    int c;
    long l;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hc:", longopts, NULL)) != -1) {
        if (c == 'T') {
            tensors = true;
        } else if (c == 'h') {
            fputs(model_help, stdout);
            return EXIT_OK;
        } else if (c == 'c') {
            if (!cli_parse_int("model", "-c", optarg, 1, 1 << 24, &l))
                return EXIT_USAGE;
            cp.n_ctx = (int32_t)l;
        } else {
            int r = cli_parse_device_opt("model", c, optarg, &cp);
            if (r < 0)
                return EXIT_USAGE;
            if (r > 0)
                return cli_usage_error("model", "unknown option");
            plan = true;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("model", "info takes one MODEL.gguf");
    char err[PD_ERR_MAX] = "";
    struct pd_gguf *g = NULL;
    if (pd_gguf_open(&g, argv[optind], err) != 0)
        return cli_fail("model", "%s: %s", argv[optind], err);
    print_info(argv[optind], g);
    if (tensors)
        print_tensors(g);
    pd_gguf_close(g);
    return plan ? print_device_plan(argv[optind], &cp) : EXIT_OK;
}

static int
cmd_model_exec(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(model_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "info") == 0)
        return cmd_model_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "synth") == 0)
        return cmd_model_synth(argc - 1, argv + 1);
    return cli_usage_error("model", "unknown sub-command '%s' (known: info, synth)", argv[1]);
}

const struct pd_cmd_entry cmd_model_entry = {
    .name = "model",
    .usage = "info MODEL.gguf | synth --shape NAME -o FILE",
    .summary = "describe a GGUF model; write a random-weight one",
    .exec = cmd_model_exec,
};
