/*
 * cli.h: what the sub-commands share: the command table, exit codes, option parsing helpers,
 * and loading a model with a message a person can act on.
 */
#ifndef PD_CLI_H
#define PD_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/model.h"

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,  /* the command ran and failed (bad model file, out of memory) */
    EXIT_USAGE = 2,    /* the command line was wrong */
};

struct pd_cmd_entry {
    const char *name;
    const char *usage;     /* one line: the arguments after the name */
    const char *summary;   /* one line: what it does */
    int (*exec)(int argc, char **argv);
};

extern const struct pd_cmd_entry cmd_run_entry;
extern const struct pd_cmd_entry cmd_model_entry;
extern const struct pd_cmd_entry cmd_bench_entry;
extern const struct pd_cmd_entry cmd_sessions_entry;
extern const struct pd_cmd_entry cmd_annotate_entry;
extern const struct pd_cmd_entry cmd_chat_entry;
extern const struct pd_cmd_entry cmd_task_entry;
extern const struct pd_cmd_entry cmd_eval_entry;
extern const struct pd_cmd_entry cmd_train_entry;
extern const struct pd_cmd_entry cmd_plugin_entry;
extern const struct pd_cmd_entry cmd_tui_entry;

/* "ponder CMD: message" on stderr; returns EXIT_USAGE (usage_error) or EXIT_RUNTIME (fail). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole number / a float option value; false (after a usage message) when malformed or
 * outside [lo, hi]. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* The sampler options run and chat share: getopt_long ids and entries. */
enum cli_sampler_opt {
    CLI_OPT_TEMP = 1000,
    CLI_OPT_TOP_K,
    CLI_OPT_TOP_P,
    CLI_OPT_MIN_P,
    CLI_OPT_REPEAT,
    CLI_OPT_SEED,
};

#define CLI_SAMPLER_LONGOPTS                                          \
    { "temp", required_argument, NULL, CLI_OPT_TEMP },                \
    { "top-k", required_argument, NULL, CLI_OPT_TOP_K },              \
    { "top-p", required_argument, NULL, CLI_OPT_TOP_P },              \
    { "min-p", required_argument, NULL, CLI_OPT_MIN_P },              \
    { "repeat-penalty", required_argument, NULL, CLI_OPT_REPEAT },    \
    { "seed", required_argument, NULL, CLI_OPT_SEED }

/* The sampler options' lines for a --help text. */
#define CLI_SAMPLER_HELP                                                                    \
    "      --temp T            temperature; 0 is greedy (default 0.6)\n"                   \
    "      --top-k K           keep the K most likely tokens (default 40; 0 = off)\n"      \
    "      --top-p P           nucleus sampling (default 0.95; 1 = off)\n"                 \
    "      --min-p P           drop tokens below P x the top probability (default 0.05)\n" \
    "      --repeat-penalty R  penalize the last 64 tokens (default 1 = off)\n"            \
    "      --seed S            random seed of the first reply (reply i uses S + i)\n"

/* The device options run, chat and bench share: where the model runs and how it is split. */
enum cli_device_opt {
    CLI_OPT_BACKEND = 1100,
    CLI_OPT_GPUS,
    CLI_OPT_SPLIT,
    CLI_OPT_LORA,
    CLI_OPT_GPU_LAYERS,
};

#define CLI_DEVICE_LONGOPTS                                       \
    { "backend", required_argument, NULL, CLI_OPT_BACKEND },      \
    { "gpus", required_argument, NULL, CLI_OPT_GPUS },            \
    { "split", required_argument, NULL, CLI_OPT_SPLIT },          \
    { "gpu-layers", required_argument, NULL, CLI_OPT_GPU_LAYERS }, \
    { "n-gpu-layers", required_argument, NULL, CLI_OPT_GPU_LAYERS }

/* --lora FILE[:SCALE], repeatable (run, chat, tui): cli_parse_device_opt takes it. */
#define CLI_LORA_LONGOPTS { "lora", required_argument, NULL, CLI_OPT_LORA }

#define CLI_LORA_HELP                                                                         \
    "      --lora FILE[:SCALE] apply a LoRA adapter (llama.cpp's GGUF format) scaled by SCALE\n" \
    "                          (default 1); repeatable; on the CPU\n"

/* Add --lora's argument to cp: 0, or -1 after a usage message. */
int cli_parse_lora(const char *cmd, const char *arg, struct pd_context_params *cp);

/* The device options' lines for a --help text. */
#define CLI_DEVICE_HELP                                                                       \
    "      --backend B         cpu, cuda or auto (default: auto: CUDA where a device is found\n" \
    "                          and the model's weights have kernels, else the CPU)\n"          \
    "      --gpus LIST         the devices to run on, e.g. 0,1; with the CPU backend, that\n"   \
    "                          many in-process CPU devices (for testing a split)\n"              \
    "      --split S           layer (pipeline) or expert (expert parallel) over the --gpus;\n" \
    "                          default layer when there are several\n"                         \
    "      --gpu-layers N      with CUDA, only the last N layers (and the head) on the GPU,\n"  \
    "                          the others on the CPU (default: all on the GPU)\n"

struct pd_sampler_params;

/* Apply sampler option opt (a getopt_long id) with its argument to sp: 0 when applied, -1 after
 * a usage message for a bad value, 1 when opt is not a sampler option. */
int cli_parse_sampler_opt(const char *cmd, int opt, const char *arg,
                          struct pd_sampler_params *sp);

/* Apply device option opt (a getopt_long id) with its argument to cp: 0 when applied, -1 after
 * a usage message for a bad value, 1 when opt is not a device option. */
int cli_parse_device_opt(const char *cmd, int opt, const char *arg,
                         struct pd_context_params *cp);

/* cli-group.c. With PONDER_WORLD_SIZE set, this process is one rank of a group split over
 * processes: cli_join_group makes its NCCL communicator from the launcher's variables into
 * cp->comm and *comm (the caller frees it after the context), default split layer; unset, it
 * does nothing. A rank other than 0 then calls cli_serve_group, which loads the model, makes its
 * share and serves rank 0 until rank 0 is done. */
struct pd_comm;
int cli_join_group(const char *cmd, struct pd_context_params *cp, struct pd_comm **comm);
int cli_serve_group(const char *cmd, const char *model_path, struct pd_context_params *cp);
/* Rank 0's end: where it failed before making its context, the others are told (they stop,
 * naming it, instead of waiting for it); then comm is freed. */
void cli_leave_group(struct pd_comm *comm, int rc);

/* Load a model, printing "ponder CMD: MODEL: why" on failure. */
int cli_load_model(const char *cmd, const char *path, struct pd_model **out);

/* Read all of a stream into a malloc'd NUL-terminated string (NULL on failure). */
char *cli_read_all(FILE *f, size_t *len);

/* True when colours may be used on fd (a terminal and NO_COLOR unset). */
bool cli_use_color(int fd);

/* The llama-bench style label of a quantization ("Q4_1") from general.file_type. */
const char *cli_file_type_name(uint32_t ftype);

/* The session log of `ponder run` (run-log.c). run_log_open returns NULL, after a warning on
 * stderr, when the store cannot be used: the run then goes on unlogged. */
struct pd_token_event;
struct pd_gen_result;
struct pd_sampler_params;
struct run_log;
struct run_log *run_log_open(const char *db, const struct pd_model *m, const char *model_path,
                             const char *system, const char *prompt,
                             const struct pd_sampler_params *sp);
void run_log_token(struct run_log *log, const struct pd_token_event *ev);
void run_log_close(struct run_log *log, const struct pd_gen_result *res);

#endif
