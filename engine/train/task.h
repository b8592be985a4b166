/*
 * task.h: tasks with checkable answers, for supervised warm-up and for GRPO's rewards.
 *
 * Two tasks:
 *   countdown  TinyZero's: 3 or 4 numbers (1..99) and a target reachable with + - * /, each
 *              number used exactly once; the answer is an expression ("44-(35-19)").
 *   arith      a + b or a * b with multi-digit operands; the answer is the number.
 *
 * A problem is a pure function of (params, split, seed, index): the same four give the same
 * problem on every machine (xoshiro256** seeded through splitmix64, no floating point). Whether a
 * problem is train or test is decided by a hash of its canonical form (countdown: the sorted
 * numbers and the target; arith: the operator and the sorted operands), never by the seed, so
 * the two splits cannot share a problem whatever seeds produced them. About 1 problem in
 * PD_TASK_TEST_MOD is test.
 *
 * The solver writes the <think> trace of its own work: countdown is a depth-first search in a
 * fixed order (moves sorted by how close their result lands to the target), one line per dead
 * end, a check of the found expression by reducing it step by step; arith is column work
 * (digit by digit with carries; partial products, then their sum) checked by casting out nines.
 * With probability slip_rate the solver makes one plausible slip that its own check catches,
 * writes "Wait, ..." and corrects it. Every equation in a trace is true unless a later "Wait"
 * restates the same left-hand side with its true value.
 *
 * The texts (see pd_task_prompt): the prompt ends with "<think>"; the completion is
 *   "\n" TRACE "</think>\n<answer>" ANSWER "</answer>"
 * with the answer alone on the last line, as TinyZero's countdown scorer requires.
 *
 * Scoring follows TinyZero (grpo.md 3.3, 3.4): 0 when no answer can be extracted, 0.1 when an
 * answer is there but wrong or invalid, 1.0 when right. The *_text scorers take what TinyZero
 * takes, the prompt and the completion together: only the text after the first "Assistant:"
 * counts (countdown also accepts "<|im_start|>assistant"), and without it the score is 0. The
 * *_completion scorers take the completion alone, as if it followed "Assistant:".
 */
#ifndef PD_TASK_H
#define PD_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/pd.h"

enum pd_task_kind {
    PD_TASK_COUNTDOWN,
    PD_TASK_ARITH,
};

enum pd_task_split {
    PD_TASK_TRAIN,
    PD_TASK_TEST,
};

#define PD_TASK_MAX_NUMS 4
#define PD_TASK_TEST_MOD 20       /* a problem is test when hash % PD_TASK_TEST_MOD == 0 */
#define PD_TASK_THINK_MAX 4096    /* a trace, with room to spare (typical: 100-500 bytes) */
#define PD_TASK_ANSWER_MAX 64
#define PD_TASK_PROMPT_MAX 1024
#define PD_TASK_TEXT_MAX (PD_TASK_PROMPT_MAX + PD_TASK_THINK_MAX + PD_TASK_ANSWER_MAX + 64)

/* What to generate. pd_task_params_default fills sensible values; change any, then
 * pd_task_params_check. */
struct pd_task_params {
    enum pd_task_kind kind;
    /* countdown */
    int cd_min_nums, cd_max_nums;     /* how many numbers, within 2..PD_TASK_MAX_NUMS (3, 4) */
    int cd_max_num;                   /* the numbers are 1..cd_max_num (99) */
    int cd_min_target, cd_max_target; /* the target's range (1..100) */
    int cd_max_written;               /* dead ends written before the rest are summed up (8) */
    /* arith: operand sizes in digits, each drawn uniformly in its range */
    int add_min_digits, add_max_digits;        /* both operands of a sum (2..4) */
    int mul_min_digits_a, mul_max_digits_a;    /* the first factor (2..3) */
    int mul_min_digits_b, mul_max_digits_b;    /* the second factor (2..2) */
    int mul_percent;                           /* share of products, 0..100 (50) */
    /* both */
    double slip_rate;                 /* chance of one slip, caught by the check (0.2) */
};

void pd_task_params_default(struct pd_task_params *p, enum pd_task_kind kind);

/* 0, or PD_EINVAL naming the first value out of range. */
int pd_task_params_check(const struct pd_task_params *p, char *err);

/* One problem. */
struct pd_task_problem {
    enum pd_task_kind kind;
    enum pd_task_split split;
    int n;                      /* countdown: how many numbers; arith: 2 */
    int nums[PD_TASK_MAX_NUMS]; /* countdown: the numbers in prompt order; arith: a, b */
    char op;                    /* arith: '+' or '*'; countdown: 0 */
    long long target;           /* countdown: the target; arith: the right answer */
    uint64_t seed;              /* drives the solver's slips */
};

/* Problem number index of the given split for seed. PD_EINVAL for bad params, PD_ERANGE when
 * the params leave no problem in that split (after many draws). */
int pd_task_generate(const struct pd_task_params *p, enum pd_task_split split, uint64_t seed,
                     uint64_t index, struct pd_task_problem *out, char *err);

/* The canonical form ("countdown 3 19 35 44 -> 28", "arith 28 * 347"): what the split hashes.
 * Truncated to cap bytes like snprintf; returns the full length. */
int pd_task_canonical(const struct pd_task_problem *pr, char *buf, size_t cap);

/* The split a problem belongs to, from its canonical form alone. */
enum pd_task_split pd_task_split_of(const struct pd_task_problem *pr);

const char *pd_task_kind_name(enum pd_task_kind kind);     /* "countdown", "arith" */
const char *pd_task_split_name(enum pd_task_split split);  /* "train", "test" */
/* 0, or PD_EINVAL when name is not a task / split. */
int pd_task_kind_parse(const char *name, enum pd_task_kind *out);
int pd_task_split_parse(const char *name, enum pd_task_split *out);

/* ---- the solver ---- */

struct pd_task_solution {
    char think[PD_TASK_THINK_MAX];   /* the trace: what follows "<think>", up to "</think>" */
    char answer[PD_TASK_ANSWER_MAX]; /* the expression or the number */
    int slips;                       /* slips made (each caught and followed by a "Wait") */
    int tried;                       /* countdown: leaves of the search visited */
    int written;                     /* countdown: dead ends written out */
};

/* Solve pr, writing the trace. The slip (if any) is drawn from pr->seed and p->slip_rate.
 * PD_EINVAL when pr is not solvable by the search (a countdown problem made by hand), PD_ERANGE
 * when the trace does not fit. */
int pd_task_solve(const struct pd_task_params *p, const struct pd_task_problem *pr,
                  struct pd_task_solution *out, char *err);

/* ---- texts ---- */

/* The prompt: TinyZero's base-model prompt for countdown; for arith the R1-Zero sentence
 * (R1 paper, Table 1) then "User: Give me the answer of the following equation: A * B =
 * Assistant: Ok let me think about it.\n<think>" (TinyZero's multiply). Ends with "<think>".
 * 0, or PD_ERANGE when cap is too small (PD_TASK_PROMPT_MAX always suffices). */
int pd_task_prompt(const struct pd_task_problem *pr, char *buf, size_t cap);

/* The completion: "\n" think "</think>\n<answer>" answer "</answer>". 0 or PD_ERANGE. */
int pd_task_completion(const struct pd_task_solution *s, char *buf, size_t cap);

/*
 * Prompt styles. TinyZero's prompts (above) open <think> themselves and word each task its own
 * way. The chat style is what a user of the workbench sends: the bare question
 * (pd_task_question) rendered by ponder's r1-zero chat template (the R1-Zero paper's
 * instruction, " User: QUESTION. Assistant:"), after which the model opens <think> itself:
 *   prompt      pd_template_apply(r1-zero, [user: question])
 *   completion  " <think>\n" think "</think>\n<answer>" answer "</answer>"
 * A model trained on chat-style texts answers questions typed in `ponder tui`, and ponder eval
 * scores it on exactly those prompts.
 */
enum pd_task_style {
    PD_TASK_STYLE_CHAT = 0,
    PD_TASK_STYLE_TINYZERO,
};

/* "chat", "tinyzero"; parse: 0 or PD_EINVAL. */
const char *pd_task_style_name(enum pd_task_style st);
int pd_task_style_parse(const char *name, enum pd_task_style *out);

/* Whether the style's prompt opens <think> (the generation starts inside the thoughts). */
bool pd_task_style_opens_think(enum pd_task_style st);

/* The question alone: "Using the numbers [44, 19, 35], create an equation that equals 28",
 * "What is 390 + 7964" (no final full stop: the chat template adds one). */
int pd_task_question(const struct pd_task_problem *pr, char *buf, size_t cap);

/* Prompt and completion in a style (TINYZERO: pd_task_prompt and pd_task_completion). */
int pd_task_style_prompt(enum pd_task_style st, const struct pd_task_problem *pr, char *buf,
                         size_t cap);
int pd_task_style_completion(enum pd_task_style st, const struct pd_task_solution *s, char *buf,
                             size_t cap);

/* Prompt and completion: the full training text. 0 or PD_ERANGE (PD_TASK_TEXT_MAX suffices). */
int pd_task_text(const struct pd_task_problem *pr, const struct pd_task_solution *s, char *buf,
                 size_t cap);

/* The gold answer as text: countdown's target, arith's result. */
int pd_task_gold(const struct pd_task_problem *pr, char *buf, size_t cap);

/* ---- extraction and scoring (shared with GRPO's rewards) ---- */

/* The content of the last <answer>...</answer> in text[0..len), found as Python's
 * re.finditer(r'<answer>(.*?)</answer>') finds it (no newline inside), stripped of white space
 * at both ends. 0 with *ans and *ans_len set, or PD_ENOTFOUND. */
int pd_task_answer_find(const char *text, size_t len, const char **ans, size_t *ans_len);

/* What TinyZero scores: the text after the first "Assistant:" (and, when allowed, after the
 * first "<|im_start|>assistant" when there is no "Assistant:"). 0, or PD_ENOTFOUND. */
int pd_task_after_assistant(const char *text, size_t len, bool im_start, const char **rest,
                            size_t *rest_len);

/* Evaluate an expression of integers and decimals with + - * / ( ), unary signs, ** and //,
 * as Python's eval does (true division, ** binding tighter than a unary minus on its left,
 * no leading zeros in integers). 0, or PD_EFORMAT (syntax), PD_ERANGE (division by zero, a
 * value that is not finite). Values are doubles: exact for the integers that occur here. */
int pd_task_expr_eval(const char *s, size_t len, double *out);

/* TinyZero's countdown score of a full text (prompt + completion, split after "Assistant:"):
 * keep the last line, take its last <answer>; 0 if none; 0.1 unless the expression has only
 * the characters [0-9+-*()/. and white space], its digit runs are exactly the numbers (as a
 * multiset) and it evaluates within 1e-5 of the target; then 1.0. */
double pd_task_score_countdown_text(const char *text, size_t len, const int *nums, int n,
                                    long long target);
/* The same on a completion alone. */
double pd_task_score_countdown_completion(const char *text, size_t len, const int *nums, int n,
                                          long long target);

/* TinyZero's multiplication score (used for sums too) of a full text: after "Assistant:",
 * the last <answer> anywhere; 0 if none or if it is not an integer as Python's int() reads one
 * (sign, digits, single underscores between digits); 1.0 if equal to gold, else 0.1. gold is
 * an integer written in decimal. */
double pd_task_score_arith_text(const char *text, size_t len, const char *gold);
double pd_task_score_arith_completion(const char *text, size_t len, const char *gold);

/* The score of a text for problem pr, with the scorer of its task. completion_only: text is the
 * completion alone, else the prompt and the completion. */
double pd_task_score(const struct pd_task_problem *pr, const char *text, size_t len,
                     bool completion_only);

#endif
