/*
 * cmd-annotate.c: `ponder annotate TURN`: a label, rating, gold answer, comment or correction on
 * a recorded turn, optionally on a span of its tokens: the same annotations the TUI makes.
 */
#include "config.h"

#include "sessions/store.h"
#include "tui/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char annotate_help[] =
    "usage: ponder annotate TURN (--label X | --rating N | --gold TEXT | --comment TEXT |\n"
    "                             --correction TEXT) [--span FROM:TO] [--db PATH]\n"
    "\n"
    "Annotate a recorded turn (the turn ids are in 'ponder sessions show ID').\n"
    "\n"
    "      --label X          a label: good, bad, or any word\n"
    "      --rating N         a rating, 0 to 10\n"
    "      --gold TEXT        the right answer (exported to TRL rows, used as a reward)\n"
    "      --comment TEXT     a comment\n"
    "      --correction TEXT  what the turn should have said\n"
    "      --span FROM:TO     only tokens FROM to TO (positions in the turn)\n"
    "      --db PATH          the database (default: $PONDER_DB, else\n"
    "                         $XDG_DATA_HOME/ponder/ponder.db)\n"
    "  -h, --help             this help\n";

enum { OPT_DB = 256, OPT_SPAN, OPT_KIND };

static const struct option annotate_longopts[] = {
    { "label", required_argument, NULL, OPT_KIND + PD_ANNOT_LABEL },
    { "rating", required_argument, NULL, OPT_KIND + PD_ANNOT_RATING },
    { "gold", required_argument, NULL, OPT_KIND + PD_ANNOT_GOLD },
    { "comment", required_argument, NULL, OPT_KIND + PD_ANNOT_COMMENT },
    { "correction", required_argument, NULL, OPT_KIND + PD_ANNOT_CORRECTION },
    { "span", required_argument, NULL, OPT_SPAN },
    { "db", required_argument, NULL, OPT_DB },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static bool
parse_span(const char *s, int *from, int *to)
{
    char tail;
    if (sscanf(s, "%d:%d%c", from, to, &tail) != 2 || *from < 0 || *to < *from) {
        cli_usage_error("annotate", "--span: '%s' is not FROM:TO with 0 <= FROM <= TO", s);
        return false;
    }
    return true;
}

static int
cmd_annotate_exec(int argc, char **argv)
{
    const char *db = NULL, *value = NULL;
    int kind = -1, from = -1, to = -1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", annotate_longopts, NULL)) != -1) {
        if (c >= OPT_KIND && c <= OPT_KIND + PD_ANNOT_CORRECTION) {
            if (kind >= 0)
                return cli_usage_error("annotate", "one annotation at a time");
            kind = c - OPT_KIND;
            value = optarg;
            continue;
        }
        switch (c) {
        case OPT_DB: db = optarg; break;
        case OPT_SPAN:
            if (!parse_span(optarg, &from, &to))
                return EXIT_USAGE;
            break;
        case 'h': fputs(annotate_help, stdout); return EXIT_OK;
        default: return cli_usage_error("annotate", "unknown option (see --help)");
        }
    }
    long turn, rating;
    if (optind != argc - 1)
        return cli_usage_error("annotate", "give one TURN id (see --help)");
    if (!cli_parse_int("annotate", "TURN", argv[optind], 1, INT32_MAX, &turn))
        return EXIT_USAGE;
    if (kind < 0)
        return cli_usage_error("annotate", "what annotation? --label, --rating, --gold, "
                                           "--comment or --correction");
    if (kind == PD_ANNOT_RATING && !cli_parse_int("annotate", "--rating", value, 0, 10, &rating))
        return EXIT_USAGE;
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    int64_t id = 0;
    if (pd_store_open(&st, db, err))
        return cli_fail("annotate", "%s", err);
    int rc = pd_store_annotate(st, turn, (enum pd_annot_kind)kind, value, from, to, &id, err);
    pd_store_close(st);
    if (rc)
        return cli_fail("annotate", "%s", err);
    printf("annotation %lld: %s on turn %ld\n", (long long)id,
           pd_annot_kind_name((enum pd_annot_kind)kind), turn);
    return EXIT_OK;
}

const struct pd_cmd_entry cmd_annotate_entry = {
    .name = "annotate",
    .usage = "TURN --label X | --rating N | --gold TEXT | --comment TEXT [--span FROM:TO]",
    .summary = "label, rate or correct a recorded turn",
    .exec = cmd_annotate_exec,
};
