/*
 * cmd-bench.c: `ponder bench`: prefill and decode speed, measured the way llama-bench measures
 * it and printed in the same table, so the two can run side by side on one GGUF file.
 *
 *   ppN  evaluate N prompt tokens from an empty context, in batches of 512
 *   tgN  generate N tokens one at a time from an empty context
 * Tokens are random ids (seeded), as llama-bench uses. One warm-up run precedes the timed ones;
 * the table gives the mean and standard deviation of tokens per second over the repetitions.
 */
#include "config.h"

#include "kernels/cpu/quant.h"
#include "tui/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 16
#define BENCH_BATCH 512

static const char bench_help[] =
    "usage: ponder bench -m MODEL.gguf [-p N[,N...]] [-n N[,N...]] [-t T[,T...]] [-r REPS]\n"
    "\n"
    "Measure prefill (ppN) and decode (tgN) speed in tokens per second, as llama-bench does.\n"
    "\n"
    "  -m, --model FILE        GGUF model\n"
    "  -p, --n-prompt LIST     prompt lengths (default 512; 0 skips)\n"
    "  -n, --n-gen LIST        generated lengths (default 128; 0 skips)\n"
    "  -t, --threads LIST      thread counts (default: all online CPUs)\n"
    "  -r, --repetitions N     timed runs per test (default 5)\n"
    "      --precise           float activations (the path ponder run --precise takes)\n"
    CLI_DEVICE_HELP
    "  -h, --help              this help\n";

struct bench_opts {
    const char *model;
    long n_prompt[MAX_LIST], n_gen[MAX_LIST], threads[MAX_LIST];
    int n_n_prompt, n_n_gen, n_threads;
    long reps;
    bool precise;
    struct pd_context_params devices;   /* --backend, --gpus, --split */
};

static bool
parse_list(const char *opt, const char *arg, long *out, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST) {
            cli_usage_error("bench", "%s: at most %d values", opt, MAX_LIST);
            return false;
        }
        if (!cli_parse_int("bench", opt, tok, 0, 1 << 20, &out[(*n)++]))
            return false;
    }
    if (*n == 0) {
        cli_usage_error("bench", "%s: empty list", opt);
        return false;
    }
    return true;
}

static int
parse_bench_opts(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' },
        { "n-prompt", required_argument, NULL, 'p' },
        { "n-gen", required_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 't' },
        { "repetitions", required_argument, NULL, 'r' },
        { "precise", no_argument, NULL, 'P' },
        CLI_DEVICE_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    o->n_prompt[0] = 512;
    o->n_gen[0] = 128;
    o->threads[0] = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_n_prompt = o->n_n_gen = o->n_threads = 1;
    o->reps = 5;
    int c;
    optind = 1;
    pd_context_params_default(&o->devices);
    while ((c = getopt_long(argc, argv, "m:p:n:t:r:h", longopts, NULL)) != -1) {
        int r = cli_parse_device_opt("bench", c, optarg, &o->devices);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': if (!parse_list("-p", optarg, o->n_prompt, &o->n_n_prompt)) return EXIT_USAGE;
                  break;
        case 'n': if (!parse_list("-n", optarg, o->n_gen, &o->n_n_gen)) return EXIT_USAGE;
                  break;
        case 't': if (!parse_list("-t", optarg, o->threads, &o->n_threads)) return EXIT_USAGE;
                  break;
        case 'r': if (!cli_parse_int("bench", "-r", optarg, 1, 1000, &o->reps)) return EXIT_USAGE;
                  break;
        case 'P': o->precise = true; break;
        case 'h': fputs(bench_help, stdout); return -1;
        default: return cli_usage_error("bench", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (o->model == NULL)
        return cli_usage_error("bench", "no model: give one with -m MODEL.gguf");
    for (int i = 0; i < o->n_threads; i++)
        if (o->threads[i] < 1)
            return cli_usage_error("bench", "-t: thread counts start at 1");
    return EXIT_OK;
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static int32_t
random_token(int32_t n_vocab)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int32_t)(rng_state % (uint64_t)n_vocab);
}

/* One timed run: seconds, or a negative number after printing the error. */
static double
run_test(struct pd_context *ctx, int32_t n_vocab, long n_prompt, long n_gen)
{
    char err[PD_ERR_MAX];
    int32_t toks[BENCH_BATCH];
    pd_context_truncate(ctx, 0);
    double t0 = pd_time_now();
    for (long done = 0; done < n_prompt;) {
        int32_t n = (int32_t)PD_MIN(n_prompt - done, BENCH_BATCH);
        for (int32_t i = 0; i < n; i++)
            toks[i] = random_token(n_vocab);
        if (pd_context_decode(ctx, toks, n, err) != 0)
            goto fail;
        done += n;
    }
    for (long i = 0; i < n_gen; i++) {
        toks[0] = random_token(n_vocab);
        if (pd_context_decode(ctx, toks, 1, err) != 0)
            goto fail;
    }
    return pd_time_now() - t0;
fail:
    cli_fail("bench", "%s", err);
    return -1.0;
}

static void
print_header(void)
{
    printf("| model                          |       size |     params | backend    | threads "
           "|            test |                  t/s |\n");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: "
           "| --------------: | -------------------: |\n");
}

static void
model_label(char *buf, size_t size, const struct pd_model *m)
{
    const char *size_label = NULL;
    pd_gguf_get_str(m->gguf, "general.size_label", &size_label);
    uint32_t ftype = 0;
    pd_gguf_get_u32(m->gguf, "general.file_type", &ftype);
    snprintf(buf, size, "%s %s %s", m->hp.arch_name, size_label ? size_label : "?B",
             cli_file_type_name(ftype));
}

static int
bench_one(const struct bench_opts *o, struct pd_model *m, struct pd_context *ctx, long threads,
          long n_prompt, long n_gen)
{
    int32_t n_vocab = m->hp.n_vocab;
    if (run_test(ctx, n_vocab, n_prompt ? PD_MIN(n_prompt, 32) : 0, n_gen ? 1 : 0) < 0)
        return EXIT_RUNTIME;
    double sum = 0.0, sum2 = 0.0;
    long n_tok = n_prompt + n_gen;
    for (long r = 0; r < o->reps; r++) {
        double s = run_test(ctx, n_vocab, n_prompt, n_gen);
        if (s < 0)
            return EXIT_RUNTIME;
        double tps = n_tok / s;
        sum += tps;
        sum2 += tps * tps;
    }
    double mean = sum / o->reps;
    double var = o->reps > 1 ? (sum2 - sum * sum / o->reps) / (o->reps - 1) : 0.0;
    char label[64], test[32], size[32];
    model_label(label, sizeof label, m);
    snprintf(test, sizeof test, "%s%ld", n_prompt ? "pp" : "tg", n_prompt ? n_prompt : n_gen);
    double mib = m->gguf->size / (1024.0 * 1024.0);
    if (mib >= 1024)
        snprintf(size, sizeof size, "%.2f GiB", mib / 1024);
    else
        snprintf(size, sizeof size, "%.2f MiB", mib);
    printf("| %-30s | %10s | %8.2f M | %-10s | %7ld | %15s | %12.2f ± %5.2f |\n", label, size,
           m->n_params / 1e6,
           pd_context_backend(ctx, NULL, 0) == PD_BACKEND_CUDA ? "CUDA"
           : o->precise                                         ? "CPU f32act"
                                                                : "CPU",
           threads, test, mean,
           sqrt(var > 0 ? var : 0));
    fflush(stdout);
    return EXIT_OK;
}

/* How the last context was split, for the footer ("" when it was not). */
static char split_desc[256];
/* Whether the last context read repacked Q4_0 weights, for the footer. */
static bool repacked;

static int
bench_threads(const struct bench_opts *o, struct pd_model *m, long threads)
{
    long longest = 1;
    for (int i = 0; i < o->n_n_prompt; i++)
        longest = PD_MAX(longest, o->n_prompt[i]);
    for (int i = 0; i < o->n_n_gen; i++)
        longest = PD_MAX(longest, o->n_gen[i]);
    struct pd_context_params cp = o->devices;
    cp.n_ctx = (int32_t)longest;
    cp.n_batch = BENCH_BATCH;
    cp.n_threads = (int32_t)threads;
    cp.precise = o->precise;
    char err[PD_ERR_MAX];
    struct pd_context *ctx = NULL;
    if (pd_context_new(&ctx, m, &cp, err) != 0)
        return cli_fail("bench", "%s", err);
    pd_split_describe(ctx, split_desc, sizeof split_desc);
    repacked = pd_context_repacked(ctx);
    int rc = EXIT_OK;
    for (int i = 0; i < o->n_n_prompt && rc == EXIT_OK; i++)
        if (o->n_prompt[i] > 0)
            rc = bench_one(o, m, ctx, threads, o->n_prompt[i], 0);
    for (int i = 0; i < o->n_n_gen && rc == EXIT_OK; i++)
        if (o->n_gen[i] > 0)
            rc = bench_one(o, m, ctx, threads, 0, o->n_gen[i]);
    pd_context_free(ctx);
    return rc;
}

static int
cmd_bench_exec(int argc, char **argv)
{
    struct bench_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_bench_opts(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    struct pd_model *m = NULL;
    if ((rc = cli_load_model("bench", o.model, &m)) != EXIT_OK)
        return rc;
    print_header();
    for (int i = 0; i < o.n_threads && rc == EXIT_OK; i++)
        rc = bench_threads(&o, m, o.threads[i]);
    printf("\nponder %s, CPU kernels: %s%s%s%s\n", PACKAGE_VERSION, pd_quant_simd_name(),
           repacked ? ", q4_0 repacked x8" : "", split_desc[0] ? "; " : "", split_desc);
    pd_model_free(m);
    return rc;
}

const struct pd_cmd_entry cmd_bench_entry = {
    .name = "bench",
    .usage = "-m MODEL.gguf [-p N] [-n N] [-t T] [-r REPS]",
    .summary = "measure prefill and decode speed (as llama-bench)",
    .exec = cmd_bench_exec,
};
