/*
 * main.c: ponder's entry point. Finds the sub-command in the table and hands it the arguments.
 */
#include "config.h"

#include "engine/comm.h"
#include "kernels/backend.h"
#include "tui/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct pd_cmd_entry *const cmd_table[] = {
    &cmd_tui_entry,
    &cmd_run_entry,
    &cmd_chat_entry,
    &cmd_model_entry,
    &cmd_bench_entry,
    &cmd_sessions_entry,
    &cmd_annotate_entry,
    &cmd_task_entry,
    &cmd_eval_entry,
    &cmd_train_entry,
    &cmd_plugin_entry,
};

static void
print_usage(FILE *f)
{
    fprintf(f, "usage: ponder COMMAND [OPTIONS]\n\n"
               "A workbench for reasoning language models.\n\ncommands:\n");
    for (size_t i = 0; i < PD_ARRAY_SIZE(cmd_table); i++)
        fprintf(f, "  %-8s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
    fprintf(f, "\n'ponder COMMAND --help' describes a command's options.\n"
               "ponder --version prints the version.\n");
}

int
main(int argc, char **argv)
{
    /* On a terminal, no sub-command (or only options) opens the workbench. */
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--version") != 0 &&
                     strcmp(argv[1], "-V") != 0)) {
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
            return cmd_tui_entry.exec(argc, argv);
        if (argc < 2) {
            print_usage(stderr);
            return EXIT_USAGE;
        }
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        /* what this build can run on; asks no device, starts no runtime */
        printf("%s\nbackends: cpu%s%s\n", PACKAGE_STRING, pd_cuda_compiled() ? " cuda" : "",
               pd_comm_nccl_available() ? " nccl" : "");
        return EXIT_OK;
    }
    for (size_t i = 0; i < PD_ARRAY_SIZE(cmd_table); i++)
        if (strcmp(name, cmd_table[i]->name) == 0)
            return cmd_table[i]->exec(argc - 1, argv + 1);
    fprintf(stderr, "ponder: unknown command '%s'\n", name);
    print_usage(stderr);
    return EXIT_USAGE;
}
