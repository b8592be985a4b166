/*
 * test-template.c: chat template rendering, detection, and the think/answer splitter.
 *
 * Rendered prompts are compared byte for byte with what the families' Jinja templates produce
 * for the same conversation. The detection sources are cut-down versions of real templates, kept
 * to their distinguishing markers. The splitter is fed the same texts cut at every byte position
 * (and byte by byte) and must report the same segments each time.
 */
#include "config.h"

#include "engine/chat-template.h"
#include "tests/tap.h"

#define BOS_R1 "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define ASST "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static const struct pd_chat_msg convo[] = {
    {"system", "Be brief."},
    {"user", "What is 2+2?"},
    {"assistant", "<think>\nEasy: 4.\n</think>\n\nIt is 4."},
    {"user", "And 3+3?"},
};
#define N_CONVO (sizeof convo / sizeof convo[0])

static void
check_render(enum pd_template t, const struct pd_chat_msg *msgs, size_t n, bool gen,
             const char *bos, const char *want, bool want_opened, const char *what)
{
    bool opened = !want_opened;
    char *got = pd_template_apply(t, msgs, n, gen, bos, &opened);
    is_str(got, want, "%s", what);
    ok(opened == want_opened, "%s: opened_think %d", what, (int)opened);
    free(got);
}

static void
test_render(void)
{
    check_render(PD_TEMPLATE_CHATML, convo, N_CONVO, true, NULL,
                 "<|im_start|>system\nBe brief.<|im_end|>\n"
                 "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                 "<|im_start|>assistant\n<think>\nEasy: 4.\n</think>\n\nIt is 4.<|im_end|>\n"
                 "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 false, "chatml multi-turn");
    check_render(PD_TEMPLATE_CHATML_SMOLLM, convo + 1, 1, true, NULL,
                 "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                 "Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 false, "smollm adds its default system message");
    check_render(PD_TEMPLATE_CHATML_SMOLLM, convo, 2, false, NULL,
                 "<|im_start|>system\nBe brief.<|im_end|>\n"
                 "<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
                 false, "smollm keeps a given system message, no generation prompt");
    check_render(PD_TEMPLATE_CHATML_QWEN, convo + 1, 1, true, NULL,
                 "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                 "assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                 "<|im_start|>assistant\n",
                 false, "qwen adds its default system message");
    check_render(PD_TEMPLATE_R1, convo, N_CONVO, true, BOS_R1,
                 BOS_R1 "Be brief." USER "What is 2+2?" ASST "\n\nIt is 4." EOS USER "And 3+3?" ASST,
                 false, "r1 multi-turn strips earlier thinking");
    check_render(PD_TEMPLATE_R1_THINK, convo + 1, N_CONVO - 1, true, BOS_R1,
                 BOS_R1 USER "What is 2+2?" ASST "\n\nIt is 4." EOS USER "And 3+3?" ASST
                 "<think>\n",
                 true, "r1-think opens the think block");
    check_render(PD_TEMPLATE_R1_THINK, convo + 1, 1, false, NULL, USER "What is 2+2?", false,
                 "r1-think without generation prompt, no bos");

    static const struct pd_chat_msg two_sys[] = {
        {"system", "A."}, {"system", "B."}, {"user", "x"},
        {"assistant", "a</think>b</think>c"},
    };
    check_render(PD_TEMPLATE_R1, two_sys, 4, false, "", "A.\n\nB." USER "x" ASST "c" EOS, false,
                 "r1: system messages joined, text after the last </think>");

    check_render(PD_TEMPLATE_LLAMA3, convo, N_CONVO, true, "<|begin_of_text|>",
                 "<|begin_of_text|>"
                 "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nEasy: 4.\n</think>"
                 "\n\nIt is 4.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n",
                 false, "llama3 multi-turn (content trimmed)");

    const char *zero =
        "A conversation between User and Assistant. The user asks a question, and the Assistant "
        "solves it. The assistant first thinks about the reasoning process in the mind and then "
        "provides the user with the answer. The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
        "process here </think> <answer> answer here </answer>. User: What is 2+2?. Assistant:";
    check_render(PD_TEMPLATE_R1_ZERO, convo + 1, 1, true, NULL, zero, false,
                 "r1-zero: the paper's prompt");
    static const struct pd_chat_msg zmulti[] = {
        {"system", "Think."}, {"user", "Q1"}, {"assistant", "<think> t </think> <answer> 1 </answer>"},
        {"user", "Q2"},
    };
    check_render(PD_TEMPLATE_R1_ZERO, zmulti, 4, true, "<s>",
                 "<s>Think. User: Q1. Assistant: <think> t </think> <answer> 1 </answer> User: Q2. "
                 "Assistant:",
                 false, "r1-zero multi-turn, system replaces the instruction");
    check_render(PD_TEMPLATE_NONE, convo + 1, 1, true, BOS_R1, "What is 2+2?", false,
                 "none: the prompt as given");
    check_render(PD_TEMPLATE_CHATML, NULL, 0, true, NULL, "<|im_start|>assistant\n", false,
                 "chatml, no messages");
}

static void
test_names(void)
{
    int all = 1;
    for (int t = 0; t < PD_TEMPLATE_COUNT; t++)
        all &= pd_template_from_name(pd_template_name((enum pd_template)t)) == t;
    ok(all, "every template name round-trips");
    is_int(pd_template_from_name("r1-think"), PD_TEMPLATE_R1_THINK, "r1-think by name");
    is_int(pd_template_from_name("jinja"), -1, "unknown name");
}

static void
check_detect(const char *src, enum pd_template want, bool want_rec, const char *what)
{
    bool rec = !want_rec;
    enum pd_template t = pd_template_detect(src, &rec);
    ok(t == want && rec == want_rec, "detect %s: %s (recognized %d)", what, pd_template_name(t),
       (int)rec);
}

static void
test_detect(void)
{
    /* DeepSeek-R1-Distill-Qwen: the newer template ends with the think opening. */
    check_detect("{% if not add_generation_prompt is defined %}{% set add_generation_prompt = "
                 "false %}{% endif %}{{ bos_token }}{{ ns.system_prompt }}{%- for message in "
                 "messages %}{%- if message['role'] == 'user' %}{{'" USER "' + message['content']}}"
                 "{%- endif %}{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'"
                 ASST "<think>\\n'}}{% endif %}",
                 PD_TEMPLATE_R1_THINK, true, "r1 distill, think opened");
    check_detect("{{bos_token}}{{ns.system_prompt}}{%- for message in messages -%}{%- if "
                 "message['role'] == 'user' -%}" USER "{{message['content']}}{%- endif -%}{% set "
                 "content = message['content'] %}{% if '</think>' in content %}{% set content = "
                 "content.split('</think>')[-1] %}{% endif %}" ASST "{{content}}" EOS
                 "{%- endfor -%}{%- if add_generation_prompt %}" ASST "{% endif -%}",
                 PD_TEMPLATE_R1, true, "r1 original");
    check_detect("{% for message in messages %}{% if loop.first and messages[0]['role'] != "
                 "'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                 "trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
                 "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}",
                 PD_TEMPLATE_CHATML_SMOLLM, true, "smollm2");
    check_detect("{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                 "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\n"
                 "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>"
                 "\\n' }}{%- endif %}",
                 PD_TEMPLATE_CHATML_QWEN, true, "qwen2.5");
    check_detect("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}",
                 PD_TEMPLATE_CHATML, true, "plain chatml");
    check_detect("{% set loop_messages = messages %}{% for message in loop_messages %}{% set "
                 "content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ "
                 "message['content'] | trim + '<|eot_id|>' %}{% endfor %}",
                 PD_TEMPLATE_LLAMA3, true, "llama3");
    check_detect("{{ messages[0]['content'] }}[INST]", PD_TEMPLATE_CHATML, false, "unknown");
    check_detect(NULL, PD_TEMPLATE_CHATML, false, "NULL");
}

/* ---- think/answer splitting ---- */

/* The segments as "T:" / "A:" / "<>:" runs, adjacent runs of one segment merged. */
struct segs {
    char text[2048];
    size_t len;
    int last;
};

static void
collect(void *ctx, enum pd_segment seg, const char *text, size_t len)
{
    struct segs *s = ctx;
    static const char *const mark[] = {"|T:", "|A:", "|<>:"};
    if ((int)seg != s->last) {
        size_t ml = strlen(mark[seg]);
        memcpy(s->text + s->len, mark[seg], ml);
        s->len += ml;
        s->last = (int)seg;
    }
    memcpy(s->text + s->len, text, len);
    s->len += len;
    s->text[s->len] = '\0';
}

/* Feed text cut at every position (and byte by byte); all runs must agree with want. Also
 * checks the segment feed reports at the end. */
static void
check_split(const char *text, bool opened, const char *want, enum pd_segment want_end,
            const char *what)
{
    size_t n = strlen(text);
    int agree = 1;
    enum pd_segment end = want_end;
    for (size_t cut = 0; cut <= n + 1; cut++) {
        struct pd_think_split ts;
        struct segs s = {.last = -1};
        pd_think_split_init(&ts, opened);
        if (cut <= n) {
            pd_think_split_feed(&ts, text, cut, collect, &s);
            end = pd_think_split_feed(&ts, text + cut, n - cut, collect, &s);
        } else {
            for (size_t i = 0; i < n; i++)
                end = pd_think_split_feed(&ts, text + i, 1, collect, &s);
        }
        pd_think_split_flush(&ts, collect, &s);
        if (strcmp(s.text, want) != 0 || end != want_end) {
            if (agree)
                diag("cut %zu: got \"%s\" (end %d)", cut, s.text, (int)end);
            agree = 0;
        }
    }
    ok(agree, "split %s", what);
}

static void
test_split(void)
{
    check_split("<think>\nHmm, 2+2 is 4.\n</think>\n\nThe answer is 4.", false,
                "|<>:<think>|T:\nHmm, 2+2 is 4.\n|<>:</think>|A:\n\nThe answer is 4.",
                PD_SEG_ANSWER, "a full think block");
    check_split("Okay, so 2+2.\n</think>\n\n4", true, "|T:Okay, so 2+2.\n|<>:</think>|A:\n\n4",
                PD_SEG_ANSWER, "opened by the prompt");
    check_split("Just the answer: 4 < 5 and <b>.", false, "|A:Just the answer: 4 < 5 and <b>.",
                PD_SEG_ANSWER, "no think block: all answer");
    check_split("\n\n <think>x<y</think>z", false, "|<>:\n\n <think>|T:x<y|<>:</think>|A:z",
                PD_SEG_ANSWER, "<think> after leading whitespace");
    check_split("still thinking <thin", true, "|T:still thinking <thin", PD_SEG_THINK,
                "unfinished: a partial tag is flushed as text");
    check_split("\n</think>\n\nHi", true, "|<>:\n</think>|A:\n\nHi", PD_SEG_ANSWER,
                "empty think opened by the prompt");
    check_split("<think>\nx", true, "|<>:<think>|T:\nx", PD_SEG_THINK,
                "opened, and the model repeats <think>");
    check_split("I think </think> so", false, "|A:I think |<>:</think>|A: so", PD_SEG_ANSWER,
                "stray </think> in an answer is hidden, nothing retracted");
    check_split("            <think>a", false, "|A:    |<>:        <think>|T:a", PD_SEG_THINK,
                "long leading whitespace: only 8 bytes held");
    check_split("  ", false, "|A:  ", PD_SEG_ANSWER, "whitespace only");

    /* Runs longer than the splitter's gathering buffer. */
    char text[1024], want[1024];
    char xs[301];
    memset(xs, 'x', 300);
    xs[300] = '\0';
    snprintf(text, sizeof text, "<think>%s</think>%s", xs, xs);
    snprintf(want, sizeof want, "|<>:<think>|T:%s|<>:</think>|A:%s", xs, xs);
    check_split(text, false, want, PD_SEG_ANSWER, "long runs");
}

int
main(void)
{
    plan(2 * 13 + 3 + 8 + 11);
    test_render();
    test_names();
    test_detect();
    test_split();
    return exit_status();
}
