/*
 * cmd-model-synth.c: `ponder model synth`: write a random-weight GGUF of any supported
 * architecture and size (engine/synth.h), to measure speed at real scale without downloading a
 * model, and `--list` of the named shapes with their sizes.
 *
 * Usage errors (unknown shape, key or type, a shape that does not hold together) exit 2; a write
 * that fails (no space, no permission) exits 1 and leaves no file behind.
 */
#include "config.h"

#include "engine/synth.h"
#include "tui/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_model_synth(int argc, char **argv);

static const char synth_help[] =
    "usage: ponder model synth (--shape NAME | --arch ARCH) [KEY=VALUE...] [--type T]\n"
    "                          [--seed S] [--force] [-q] -o FILE.gguf\n"
    "       ponder model synth --list\n"
    "\n"
    "Write a model of random weights with the shape of a real one (or any other), loadable by\n"
    "ponder and llama.cpp, to measure speed without downloading anything.\n"
    "\n"
    "  --shape NAME     a named shape (see --list)\n"
    "  --arch ARCH      start from the tiny default of llama, qwen2, qwen3, qwen2moe, qwen3moe,\n"
    "                   olmoe or deepseek2 (with --shape: must match its architecture)\n"
    "  KEY=VALUE        change one hyper-parameter, e.g. layers=4 experts=16 (keys below)\n"
    "  --type T         matrix type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 (default q8_0);\n"
    "                   norms and routers stay f32\n"
    "  --seed S         random seed (default 1); the same seed writes the same bytes\n"
    "  -o, --output F   the file to write\n"
    "  -f, --force      replace F if it exists\n"
    "  -q, --quiet      no progress report\n"
    "  --list           the named shapes with their parameters and file sizes per type\n"
    "  -h, --help       this help\n"
    "\n"
    "keys (short aliases E L H Hkv D F V X K Fe Fs):\n";

static void
print_keys(FILE *f)
{
    const char *k = pd_synth_shape_keys();
    int col = 0;
    fputs("  ", f);
    while (*k) {
        size_t n = strcspn(k, " ");
        if (col + (int)n > 90) {
            fputs("\n  ", f);
            col = 0;
        }
        fprintf(f, "%.*s ", (int)n, k);
        col += (int)n + 1;
        k += n;
        k += strspn(k, " ");
    }
    fputc('\n', f);
}

static void
human(char *buf, size_t size, double bytes)
{
    if (bytes >= 1e12)
        snprintf(buf, size, "%.2fT", bytes / 1e12);
    else if (bytes >= 1e9)
        snprintf(buf, size, "%.1fG", bytes / 1e9);
    else
        snprintf(buf, size, "%.0fM", bytes / 1e6);
}

static int
list_shapes(void)
{
    static const char *const tnames[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
                                          "q5_1" };
    printf("%-16s %-10s %8s", "shape", "arch", "params");
    for (size_t t = 0; t < PD_ARRAY_SIZE(tnames); t++)
        printf(" %7s", tnames[t]);
    printf("\n");
    for (size_t i = 0; i < pd_synth_shape_count(); i++) {
        const char *summary;
        const char *name = pd_synth_shape_name(i, &summary);
        struct pd_synth_shape s;
        char err[PD_ERR_MAX];
        if (pd_synth_shape_named(&s, name, err) != 0)
            return cli_fail("model", "synth: %s", err);
        uint64_t n = 0, bytes = 0;
        char buf[32];
        printf("%-16s %-10s", name, s.arch);
        for (size_t t = 0; t < PD_ARRAY_SIZE(tnames); t++) {
            int rc = pd_synth_size(&s, (enum pd_type)pd_synth_type_from_name(tnames[t]), &n,
                                   &bytes, err);
            if (rc != 0)
                return cli_fail("model", "synth: %s: %s", name, err);
            if (t == 0) {
                if (n >= 1000000000)
                    printf(" %7.1fB", n / 1e9);
                else
                    printf(" %7.0fM", n / 1e6);
            }
            human(buf, sizeof buf, (double)bytes + 12.0 * (double)s.n_vocab);
            printf(" %7s", buf);
        }
        printf("\n  %s\n", summary);
    }
    printf("\nsizes in bytes (M = 10^6, G = 10^9); --arch ARCH alone gives a tiny model\n");
    return EXIT_OK;
}

struct progress {
    bool tty;
    int last;          /* last percentage reported */
    double t0;
};

static void
on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    if (total < (64u << 20))
        return;
    int pct = (int)(100.0 * (double)done / (double)total);
    if (pct == p->last || (!p->tty && pct / 10 == p->last / 10 && p->last >= 0))
        return;
    p->last = pct;
    double dt = pd_time_now() - p->t0;
    double mib = done / 1048576.0;
    fprintf(stderr, "%ssynth: %3d%%  %.0f / %.0f MiB  %.0f MiB/s%s", p->tty ? "\r" : "", pct, mib,
            total / 1048576.0, dt > 0 ? mib / dt : 0.0, p->tty ? "  " : "\n");
    fflush(stderr);
}

int
cmd_model_synth(int argc, char **argv)
{
    enum { OPT_SHAPE = 256, OPT_ARCH, OPT_TYPE, OPT_SEED, OPT_LIST };
    static const struct option longopts[] = {
        { "shape", required_argument, NULL, OPT_SHAPE },
        { "arch", required_argument, NULL, OPT_ARCH },
        { "type", required_argument, NULL, OPT_TYPE },
        { "seed", required_argument, NULL, OPT_SEED },
        { "list", no_argument, NULL, OPT_LIST },
        { "output", required_argument, NULL, 'o' },
        { "force", no_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *shape = NULL, *arch = NULL, *out = NULL, *type_name = "q8_0";
    long seed = 1;
    bool list = false, force = false, quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:fqh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SHAPE: shape = optarg; break;
        case OPT_ARCH: arch = optarg; break;
        case OPT_TYPE: type_name = optarg; break;
        case OPT_SEED:
            if (!cli_parse_int("model", "--seed", optarg, 0, LONG_MAX, &seed))
                return EXIT_USAGE;
            break;
        case OPT_LIST: list = true; break;
        case 'o': out = optarg; break;
        case 'f': force = true; break;
        case 'q': quiet = true; break;
        case 'h':
            fputs(synth_help, stdout);
            print_keys(stdout);
            return EXIT_OK;
        default: return cli_usage_error("model", "synth: unknown option (see --help)");
        }
    }
    if (list)
        return list_shapes();
    if (shape == NULL && arch == NULL)
        return cli_usage_error("model", "synth: give --shape NAME or --arch ARCH (--list shows "
                               "the shapes)");
    char err[PD_ERR_MAX] = "";
    struct pd_synth_shape s;
    if (shape != NULL) {
        if (pd_synth_shape_named(&s, shape, err) != 0)
            return cli_usage_error("model", "synth: %s", err);
        if (arch != NULL && strcmp(arch, s.arch) != 0)
            return cli_usage_error("model", "synth: shape '%s' is %s, not %s", shape, s.arch,
                                   arch);
    } else if (pd_synth_shape_arch(&s, arch, err) != 0) {
        return cli_usage_error("model", "synth: %s", err);
    }
    for (int i = optind; i < argc; i++)
        if (pd_synth_shape_set_kv(&s, argv[i], err) != 0)
            return cli_usage_error("model", "synth: %s", err);
    int type = pd_synth_type_from_name(type_name);
    if (type < 0)
        return cli_usage_error("model", "synth: --type %s: unknown (known: %s)", type_name,
                               pd_synth_type_names());
    if (pd_synth_shape_check(&s, err) != 0)
        return cli_usage_error("model", "synth: %s", err);
    if (out == NULL)
        return cli_usage_error("model", "synth: no output file: give one with -o FILE.gguf");
    struct stat st;
    if (!force && stat(out, &st) == 0)
        return cli_fail("model", "synth: %s exists (--force replaces it)", out);
    uint64_t n_params = 0, bytes = 0;
    if (pd_synth_size(&s, (enum pd_type)type, &n_params, &bytes, err) != 0)
        return cli_usage_error("model", "synth: %s", err);
    if (!quiet)
        fprintf(stderr, "synth: %s (%s), %.*f %s parameters, %s, %.1f MiB -> %s\n", s.name,
                s.arch, n_params >= 1000000000 ? 2 : 3,
                n_params >= 1000000000 ? n_params / 1e9 : n_params / 1e6,
                n_params >= 1000000000 ? "B" : "M", type_name, bytes / 1048576.0, out);
    struct progress pr = { .tty = isatty(2), .last = -1, .t0 = pd_time_now() };
    int rc = pd_synth_write(&s, (enum pd_type)type, (uint64_t)seed, out,
                            quiet ? NULL : on_progress, &pr, err);
    if (pr.last >= 0 && pr.tty)
        fputc('\n', stderr);
    if (rc != 0)
        return cli_fail("model", "synth: %s", err);
    if (!quiet && pr.last >= 0)
        fprintf(stderr, "synth: wrote %s in %.1f s\n", out, pd_time_now() - pr.t0);
    return EXIT_OK;
}
