/*
 * test-plugins.c: the plugin loader, the built-in reward plugins on crafted completions
 * (grpo.md 3), and the reward runner against plugins that crash, hang, exit, lie or were built
 * for another ABI.
 *
 * The plugins are found in the build tree: $top_builddir/plugins/.libs (the built-in ones) and
 * $top_builddir/tests/plugins/.libs (the test ones), through PONDER_PLUGIN_PATH.
 */
#include "config.h"

#include "engine/aha.h"
#include "engine/train/task.h"
#include "plugins/loader.h"
#include "plugins/reward-run.h"
#include "tests/tap.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char builtin_dir[PATH_MAX], test_dir[PATH_MAX], search[2 * PATH_MAX + 2];

static struct pd_plugin *
must_open(const char *name)
{
    struct pd_plugin *p;
    char err[PD_ERR_MAX];
    if (pd_plugin_open(&p, name, PD_PLUGIN_WANT_REWARD, err)) {
        printf("Bail out! %s\n", err);
        exit(1);
    }
    return p;
}

/* One score of one completion, in process (the built-ins) or in a worker. */
struct call {
    const char *completion, *gold, *extra, *config;
    int opened, tokens;
    bool worker;
    double timeout;
};

static struct pd_reward_score
score(struct pd_plugin *p, struct call c)
{
    struct pd_reward_term t = { .plugin = p, .weight = 1.0, .config = c.config };
    struct pd_reward_item it = { .completion = c.completion, .gold = c.gold, .extra = c.extra,
                                 .opened_think = c.opened,
                                 .completion_tokens = c.tokens ? c.tokens : -1 };
    struct pd_reward_limits lim = { .in_process = !c.worker, .timeout_s = c.timeout };
    struct pd_reward_score s;
    struct pd_reward_total tot;
    char err[PD_ERR_MAX];
    if (pd_reward_run(&t, 1, &it, 1, &lim, &s, &tot, err)) {
        printf("Bail out! %s\n", err);
        exit(1);
    }
    return s;
}

static void
is_score(struct pd_reward_score s, double want, const char *what)
{
    bool good = s.state == PD_REWARD_SCORED && fabs(s.value - want) < 1e-9;
    ok(good, "%s: %g", what, want);
    if (!good)
        diag("got state %d value %.10g (%s)", s.state, s.value, s.why);
}

static void
is_none(struct pd_reward_score s, enum pd_reward_state state, const char *why_part,
        const char *what)
{
    bool good = s.state == state && strstr(s.why, why_part) != NULL;
    ok(good, "%s: None, '%s'", what, why_part);
    if (!good)
        diag("got state %d value %g why '%s'", s.state, s.value, s.why);
}

/* ---- the built-in rewards ---- */

static void
test_accuracy(void)
{
    struct pd_plugin *p = must_open("accuracy");
    struct {
        const char *completion, *gold;
        int opened;
        double want;
        const char *what;
    } cases[] = {
        { "<think>8+8</think> <answer>16</answer>", "16", 0, 1, "<answer> equal" },
        { "<think>8+8</think> <answer>16.0</answer>", "16", 0, 1, "16.0 = 16" },
        { "<think>8+8</think> <answer>16 </answer>", "16", 0, 1, "'16 ' = 16" },
        { "<think>8+8</think> <answer>16</answer>", "16.0", 0, 1, "16 = gold 16.0" },
        { "<think>8+8</think> <answer>17</answer>", "16", 0, 0, "wrong" },
        { "<think>8+8</think> <answer>160</answer>", "16", 0, 0, "160 != 16" },
        { "8+8 = 16</think>\nSo it is \\boxed{16}.", "16", 1, 1, "\\boxed{} after </think>" },
        { "<think>\\boxed{3}</think> \\boxed{5} then \\boxed{16}", "16", 0, 1, "last \\boxed{}" },
        { "</think> <answer>\\boxed{15} or 16</answer>", "15", 1, 1, "\\boxed{} in <answer>" },
        { "</think> <answer>16</answer> \\boxed{15}", "16", 1, 1, "<answer> before \\boxed{}" },
        { "</think> \\boxed{\\frac{1}{2}}", "0.5", 1, 1, "\\frac{1}{2} = 0.5" },
        { "</think> <answer>\\dfrac{3}{6}</answer>", "1/2", 1, 1, "\\dfrac{3}{6} = 1/2" },
        { "</think> <answer>1,000</answer>", "1000", 1, 1, "thousands separator" },
        { "</think> <answer>1,00</answer>", "100", 1, 0, "1,00 is not a number" },
        { "</think> <answer>$16$</answer>", "\\boxed{16}", 1, 1, "$16$ = gold \\boxed{16}" },
        { "</think> <answer>x = 5</answer>", "5", 1, 1, "x = 5" },
        { "</think> <answer>\\text{B}</answer>", "B", 1, 1, "\\text{B} = B" },
        { "</think> <answer>-0.50</answer>", "-\\frac{1}{2}", 1, 1, "-0.50 = -\\frac{1}{2}" },
        { "</think> <answer>\\sqrt{2}/2</answer>", "1/\\sqrt{2}", 1, 0,
          "no symbolic algebra (stricter than math-verify)" },
        { "</think> The answer is 16.", "16", 1, 0, "an unmarked answer scores 0" },
        { "8+8 = \\boxed{16} and on", "16", 1, 0, "thoughts that never close: 0" },
        { "</think> <answer></answer>", "16", 1, 0, "an empty <answer>" },
        { "</think> <answer>16", "16", 1, 1, "an unclosed last <answer> (stop string)" },
    };
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        is_score(score(p, (struct call){ .completion = cases[i].completion,
                                         .gold = cases[i].gold, .opened = cases[i].opened }),
                 cases[i].want, cases[i].what);
    is_none(score(p, (struct call){ .completion = "<answer>16</answer>", .gold = " " }),
            PD_REWARD_NONE, "no gold answer", "accuracy without a gold");
    pd_plugin_close(p);
}

static void
test_format(void)
{
    struct pd_plugin *p = must_open("format");
    struct {
        const char *completion, *config;
        int opened;
        double want;
        const char *what;
    } cases[] = {
        { "<think>a</think> <answer>b</answer>", NULL, 0, 1, "R1-Zero tags" },
        { " <think>\na\n</think>\n<answer>\nb\n</answer>\n", NULL, 0, 1, "with new lines" },
        { "a</think> <answer>b</answer>", NULL, 1, 1, "template opened <think>" },
        { "a</think> <answer>b</answer>", NULL, 0, 0, "no <think>, none opened" },
        { "<think>a</think> <answer>b</answer>", NULL, 1, 0, "<think> repeated" },
        { "<think>a</think> so <answer>b</answer>", NULL, 0, 0, "text before <answer>" },
        { "<think>a</think> <answer>b</answer> more", NULL, 0, 0, "text after </answer>" },
        { "<think>a</think> <answer>b", NULL, 0, 0, "no </answer>" },
        { "<think>a <answer>b</answer>", NULL, 0, 0, "no </think>" },
        { "<think>a</think></think> <answer>b</answer>", NULL, 0, 0, "two </think>" },
        { "a</think> So \\boxed{5}.", "{\"tags\":\"think\"}", 1, 1, "think-only mode" },
        { "a</think>  ", "{\"tags\":\"think\"}", 1, 0, "think-only, no answer" },
    };
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        is_score(score(p, (struct call){ .completion = cases[i].completion,
                                         .config = cases[i].config,
                                         .opened = cases[i].opened }),
                 cases[i].want, cases[i].what);
    is_none(score(p, (struct call){ .completion = "x", .config = "{\"tags\":\"xml\"}" }),
            PD_REWARD_FAILED, "tags", "format: a bad setting is an error");
    pd_plugin_close(p);
}

static void
test_countdown(void)
{
    struct pd_plugin *p = must_open("countdown");
    const char *ex = "{\"numbers\":[44,19,35]}";
    struct {
        const char *completion, *gold, *extra;
        double want;
        const char *what;
    } cases[] = {
        { "\nfound it</think>\n<answer>44-(35-19)</answer>", "28", ex, 1.0, "right" },
        { "</think>\n<answer> 44 - (35 - 19) </answer>", "", "{\"numbers\":[44,19,35],"
          "\"target\":28}", 1.0, "target from extra" },
        { "</think>\n<answer>44+35-19</answer>", "28", ex, 0.1, "wrong value" },
        { "</think>\n<answer>44-(35-19)+19-19</answer>", "28", ex, 0.1, "numbers reused" },
        { "</think>\n<answer>44-(35-19)=28</answer>", "28", ex, 0.1, "an '=' is invalid" },
        { "</think>\n<answer>44-(35-19)</answer>\nDone.", "28", ex, 0.0, "not the last line" },
        { "</think>\nno idea", "28", ex, 0.0, "no answer" },
    };
    for (size_t i = 0; i < PD_ARRAY_SIZE(cases); i++)
        is_score(score(p, (struct call){ .completion = cases[i].completion,
                                         .gold = cases[i].gold, .extra = cases[i].extra }),
                 cases[i].want, cases[i].what);
    is_none(score(p, (struct call){ .completion = "<answer>1</answer>", .gold = "28" }),
            PD_REWARD_NONE, "numbers", "countdown without numbers");

    /* The same scores as the engine's scorer on the task generator's own completions. */
    struct pd_task_params tp;
    pd_task_params_default(&tp, PD_TASK_COUNTDOWN);
    int agree = 0, n = 40;
    for (int i = 0; i < n; i++) {
        struct pd_task_problem pr;
        struct pd_task_solution sol;
        char err[PD_ERR_MAX], text[PD_TASK_TEXT_MAX], extra[128], gold[32];
        if (pd_task_generate(&tp, PD_TASK_TRAIN, 7, (uint64_t)i, &pr, err) ||
            pd_task_solve(&tp, &pr, &sol, err))
            break;
        if (i % 3 == 1)   /* some wrong ones */
            snprintf(sol.answer, sizeof sol.answer, "%d+%d", pr.nums[0], pr.nums[1]);
        pd_task_completion(&sol, text, sizeof text);
        snprintf(extra, sizeof extra, "{\"numbers\":[%d,%d,%d%s%.0d]}", pr.nums[0], pr.nums[1],
                 pr.nums[2], pr.n == 4 ? "," : "", pr.n == 4 ? pr.nums[3] : 0);
        pd_task_gold(&pr, gold, sizeof gold);
        struct pd_reward_score s = score(p, (struct call){ .completion = text, .gold = gold,
                                                           .extra = extra });
        agree += s.state == PD_REWARD_SCORED &&
                 s.value == pd_task_score(&pr, text, strlen(text), true);
    }
    is_int(agree, n, "countdown plugin = engine scorer on generated completions");
    pd_plugin_close(p);
}

static void
test_language(void)
{
    struct pd_plugin *p = must_open("language");
    const char *mixed = "<think>Let me 想一想 this</think> <answer>5</answer>";
    is_score(score(p, (struct call){ .completion = "<think>All in English here.</think> 5" }),
             1.0, "English thoughts, target en");
    is_score(score(p, (struct call){ .completion = mixed }), 0.5,
             "Latin 3 of 6 words (one per Han character)");
    is_score(score(p, (struct call){ .completion = mixed, .config = "{\"language\":\"zh\"}" }),
             0.5, "the same for zh");
    is_score(score(p, (struct call){ .completion = "think 思</think> answer",
                                     .extra = "{\"language\":\"cjk\"}", .opened = 1 }),
             0.5, "opened <think>, target from extra");
    is_score(score(p, (struct call){ .completion = "Привет мир</think> hi", .opened = 1,
                                     .config = "{\"language\":\"ru\"}" }),
             1.0, "Cyrillic, only the thoughts count");
    is_score(score(p, (struct call){ .completion = "<think>1 + 2 = 3</think> 3" }), 0.0,
             "no words: 0");
    is_none(score(p, (struct call){ .completion = "x", .config = "{\"language\":\"xx\"}" }),
            PD_REWARD_FAILED, "unknown \"language\"", "an unknown language is an error");
    pd_plugin_close(p);
}

static void
test_length(void)
{
    struct pd_plugin *p = must_open("length");
    const char *right = "{\"max_len\":100,\"correct\":true}";
    const char *wrong = "{\"max_len\":100,\"correct\":false}";
    /* L = 0 passed as tokens = 0 would read as unknown; an empty completion has 0 chars. */
    is_score(score(p, (struct call){ .completion = "", .config = right }), 1.0,
             "cosine, correct, L=0");
    is_score(score(p, (struct call){ .completion = "x", .tokens = 50, .config = right }), 0.75,
             "cosine, correct, L=L_max/2");
    is_score(score(p, (struct call){ .completion = "x", .tokens = 100, .config = right }), 0.5,
             "cosine, correct, L=L_max");
    is_score(score(p, (struct call){ .completion = "x", .tokens = 300, .config = right }), 0.5,
             "cosine, correct, past L_max: clamped");
    is_score(score(p, (struct call){ .completion = "", .config = wrong }), -1.0,
             "cosine, wrong, L=0");
    is_score(score(p, (struct call){ .completion = "x", .tokens = 50, .config = wrong }), -0.75,
             "cosine, wrong, L=L_max/2");
    is_score(score(p, (struct call){ .completion = "x", .tokens = 100, .config = wrong }), -0.5,
             "cosine, wrong, L=L_max");
    is_score(score(p, (struct call){ .completion = "</think><answer>7</answer>", .opened = 1,
                                     .tokens = 50, .gold = "7",
                                     .config = "{\"max_len\":100}" }),
             0.75, "cosine, correctness from the gold");
    is_none(score(p, (struct call){ .completion = "x", .tokens = 5 }), PD_REWARD_NONE,
            "no gold", "cosine without gold or correct");
    const char *dapo = "{\"mode\":\"overlong\",\"max_len\":100,\"cache\":20}";
    int Ls[] = { 50, 80, 90, 100, 101, 5000 };
    double want[] = { 0, 0, -0.5, -1, -1, -1 };
    for (size_t i = 0; i < PD_ARRAY_SIZE(Ls); i++) {
        char what[64];
        snprintf(what, sizeof what, "DAPO overlong, L=%d of 100 (cache 20)", Ls[i]);
        is_score(score(p, (struct call){ .completion = "x", .tokens = Ls[i], .config = dapo }),
                 want[i], what);
    }
    char chars[91];
    memset(chars, 'a', 90);
    chars[90] = '\0';
    is_score(score(p, (struct call){ .completion = chars, .config = dapo }), -0.5,
             "DAPO counts characters without tokens");
    is_none(score(p, (struct call){ .completion = "x", .config = "{\"mode\":\"x\"}" }),
            PD_REWARD_FAILED, "unknown \"mode\"", "an unknown mode is an error");
    pd_plugin_close(p);
}

/* ---- the runner against bad plugins ---- */

static void
test_misbehaving(void)
{
    struct pd_plugin *crash = must_open("crash"), *hang = must_open("hang");
    struct pd_plugin *misc = must_open("misc"), *acc = must_open("accuracy");
    double t0 = pd_time_now();
    is_none(score(crash, (struct call){ .completion = "x", .worker = true }), PD_REWARD_FAILED,
            "signal 11", "a crash");
    is_none(score(hang, (struct call){ .completion = "x", .worker = true, .timeout = 0.5 }),
            PD_REWARD_FAILED, "timed out after 0.5 s", "a hang");
    double dt = pd_time_now() - t0;
    ok(dt < 3.0, "crash and hang cost %.2f s", dt);
    is_none(score(misc, (struct call){ .completion = "x", .worker = true,
                                       .config = "{\"do\":\"exit\"}" }),
            PD_REWARD_FAILED, "exited with status 3", "exit() in a plugin");
    is_none(score(misc, (struct call){ .completion = "x", .worker = true,
                                       .config = "{\"do\":\"nan\"}" }),
            PD_REWARD_FAILED, "not finite", "a NaN score");
    is_none(score(misc, (struct call){ .completion = "x", .worker = true,
                                       .config = "{\"do\":\"none\"}" }),
            PD_REWARD_NONE, "nothing to say", "a plugin's None");
    is_none(score(misc, (struct call){ .completion = "x", .worker = true,
                                       .config = "{\"do\":\"error\"}" }),
            PD_REWARD_FAILED, "error -1: bad config", "a plugin's error");
    struct pd_reward_score s = score(misc, (struct call){ .completion = "x", .worker = true,
                                                          .config = "{\"do\":\"alloc\"}" });
    ok(s.state != PD_REWARD_SCORED, "64 GiB refused by the memory limit (%s)", s.why);
    is_score(score(misc, (struct call){ .completion = "x", .worker = true, .timeout = 0.5,
                                        .config = "{\"do\":\"slow\"}" }),
             1.0, "a slow score inside the limit");

    /* A batch: the crash costs its own scores, the others go on; the rule for totals. */
    struct pd_reward_term terms[2] = { { .plugin = acc, .weight = 2.0 },
                                       { .plugin = crash, .weight = 1.0 } };
    struct pd_reward_item items[3] = {
        { .completion = "</think><answer>4</answer>", .gold = "4", .opened_think = true },
        { .completion = "</think><answer>5</answer>", .gold = "4", .opened_think = true },
        { .completion = "</think><answer>4</answer>", .gold = "", .opened_think = true },
    };
    struct pd_reward_score sc[6];
    struct pd_reward_total tot[3];
    struct pd_reward_limits lim = { .timeout_s = 0.5 };
    char err[PD_ERR_MAX];
    int rc = pd_reward_run(terms, 2, items, 3, &lim, sc, tot, err);
    ok(rc == 0 && sc[0].state == PD_REWARD_SCORED && sc[0].value == 1.0 &&
           sc[2].state == PD_REWARD_SCORED && sc[2].value == 0.0 &&
           sc[4].state == PD_REWARD_NONE,
       "batch: accuracy scored for every item around the crashes");
    ok(sc[1].state == PD_REWARD_FAILED && sc[3].state == PD_REWARD_FAILED &&
           sc[5].state == PD_REWARD_FAILED,
       "batch: each crash costs its own score");
    ok(tot[0].none && tot[1].none && tot[2].none, "a required None makes the total None");
    terms[1].optional = true;
    rc = pd_reward_run(terms, 2, items, 3, &lim, sc, tot, err);
    ok(rc == 0 && !tot[0].none && tot[0].value == 2.0 && !tot[1].none && tot[1].value == 0.0 &&
           tot[0].n_none == 1,
       "an optional None adds nothing (totals 2, 0)");
    ok(tot[2].none, "every term None: the total is None");
    pd_plugin_close(crash);
    pd_plugin_close(hang);
    pd_plugin_close(misc);
    pd_plugin_close(acc);
}

/* ---- the loader ---- */

static void
refused(const char *name, enum pd_plugin_want want, int code, const char *part)
{
    struct pd_plugin *p;
    char err[PD_ERR_MAX] = "";
    int rc = pd_plugin_open(&p, name, want, err);
    ok(rc == code && p == NULL && strstr(err, part), "%s refused: %s", name, part);
    if (rc != code || !strstr(err, part))
        diag("rc %d: %s", rc, err);
    if (rc == 0)
        pd_plugin_close(p);
}

static void
test_loader(void)
{
    refused("badabi", PD_PLUGIN_ANY, PD_EUNSUPPORTED, "badabi.so: ABI version 3, this ponder "
                                                      "speaks 1");
    refused("noentry", PD_PLUGIN_ANY, PD_EFORMAT, "noentry.so: no entry symbol "
                                                  "ponder_plugin_entry");
    refused("aha", PD_PLUGIN_WANT_REWARD, PD_EUNSUPPORTED, "not a reward plugin");
    refused("accuracy", PD_PLUGIN_WANT_AHA, PD_EUNSUPPORTED, "not an aha detector plugin");
    refused("nosuch", PD_PLUGIN_ANY, PD_ENOTFOUND, "no nosuch.so in");

    char path[PATH_MAX + 16], err[PD_ERR_MAX];
    snprintf(path, sizeof path, "%s/libjunk.so", test_dir);
    FILE *f = fopen(path, "w");
    fputs("not an ELF file\n", f);
    fclose(f);
    refused(path, PD_PLUGIN_ANY, PD_EIO, "libjunk.so");   /* dlerror's words */
    unlink(path);

    /* A detector plugin runs through engine/aha.h's table. */
    struct pd_plugin *p;
    struct pd_aha *a = NULL;
    int rc = pd_plugin_open(&p, "aha", PD_PLUGIN_WANT_AHA, err);
    ok(rc == 0 && pd_plugin_aha(p) && pd_plugin_reward(p) == NULL, "an aha detector loads");
    if (rc == 0) {
        size_t n = 9;
        struct pd_aha_token tok = { .index = 0, .segment = PD_SEG_THINK };
        rc = pd_aha_new(&a, pd_plugin_aha(p), NULL, err);
        ok(rc == 0 && pd_aha_feed(a, &tok) == 0 && pd_aha_finish(a) == 0 &&
               (pd_aha_flags(a, &n), n == 0),
           "... and runs as an engine detector");
        pd_aha_free(a);
        pd_plugin_close(p);
    }

    /* The current directory is searched only for a path with a slash. */
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL || chdir(test_dir) != 0)
        printf("Bail out! cannot enter %s\n", test_dir), exit(1);
    setenv("PONDER_PLUGIN_PATH", ":.:crash-dir", 1);   /* empty and relative: skipped */
    refused("crash", PD_PLUGIN_ANY, PD_ENOTFOUND, "current directory is not searched");
    rc = pd_plugin_open(&p, "./crash.so", PD_PLUGIN_WANT_REWARD, err);
    ok(rc == 0, "./crash.so loads from the current directory");
    if (rc == 0)
        pd_plugin_close(p);
    if (chdir(cwd) != 0)
        printf("Bail out! cannot go back to %s\n", cwd), exit(1);

    setenv("PONDER_PLUGIN_PATH", test_dir, 1);
    rc = pd_plugin_open(&p, "misc.so", PD_PLUGIN_WANT_REWARD, err);
    ok(rc == 0 && strstr(pd_plugin_path(p), test_dir) == pd_plugin_path(p),
       "PONDER_PLUGIN_PATH finds misc.so");
    if (rc == 0)
        pd_plugin_close(p);
    refused("accuracy", PD_PLUGIN_ANY, PD_ENOTFOUND, "no accuracy.so");
    setenv("PONDER_PLUGIN_PATH", search, 1);

    struct pd_plugin_info *list;
    size_t n;
    int good = 0, bad = 0;
    rc = pd_plugin_list(&list, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        good += list[i].ok && list[i].kind == PONDER_PLUGIN_REWARD &&
                strcmp(list[i].name, "accuracy") == 0;
        bad += !list[i].ok && strstr(list[i].why, "ABI version 3") != NULL;
    }
    ok(rc == 0 && good == 1 && bad == 1, "list: accuracy listed, badabi refused with why");
    if (rc == 0)
        free(list);
}

int
main(void)
{
    const char *top = getenv("top_builddir");
    char abs_top[PATH_MAX];
    if (realpath(top ? top : ".", abs_top) == NULL)
        plan_skip_all("no build tree");
    snprintf(builtin_dir, sizeof builtin_dir, "%.4000s/plugins/.libs", abs_top);
    snprintf(test_dir, sizeof test_dir, "%.4000s/tests/plugins/.libs", abs_top);
    if (access(builtin_dir, R_OK) != 0 || access(test_dir, R_OK) != 0)
        plan_skip_all("plugins not built (make check builds them)");
    snprintf(search, sizeof search, "%s:%s", builtin_dir, test_dir);
    setenv("PONDER_PLUGIN_PATH", search, 1);

    test_accuracy();
    test_format();
    test_countdown();
    test_language();
    test_length();
    test_misbehaving();
    test_loader();
    done_testing();
    return exit_status();
}
