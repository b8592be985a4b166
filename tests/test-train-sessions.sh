#!/bin/sh
# test-train-sessions.sh: `ponder train grpo --from-sessions QUERY` on the bundled model over a
# store of annotated sessions (imported, and one rating given with ponder annotate): which
# replies the query matches, which are used (a gold answer; rated good with a marked answer)
# and why the others are not, each said with its count; a query with nothing usable or nothing
# matching is an error saying what to do; the run records the query and the count, and its
# accuracy shows the prompts and the golds are right (the model answers these sums).
set -u
. "${top_srcdir:-.}/tests/train-tap.sh"

echo "1..22"
[ -f "$top/plugins/.libs/accuracy.so" ] || skip_all 22 "the accuracy plugin is not built"

# One session a line group: the user's question, the reply (think, answer), its annotation.
session() { # session TITLE QUESTION THINK ANSWER [KIND VALUE]
    echo "{\"type\":\"session\",\"format\":1,\"title\":\"$1\",\"created\":1,\"updated\":1}"
    seq=0
    if [ -n "$2" ]; then
        echo "{\"type\":\"turn\",\"seq\":0,\"role\":\"user\",\"text\":\"$2\",\"created\":1}"
        seq=1
    fi
    echo "{\"type\":\"turn\",\"seq\":$seq,\"role\":\"assistant\"," \
        "\"text\":\" <think>$3</think>$4\"," \
        "\"think\":\"$3\",\"answer\":\"$4\",\"created\":1}"
    [ $# -lt 6 ] || echo "{\"type\":\"annotation\",\"turn\":$seq,\"kind\":\"$5\"," \
        "\"value\":\"$6\",\"span_from\":null,\"span_to\":null,\"created\":1}"
}
{
    session "good" "What is 12 + 34" "carry none, 46" "<answer>46</answer>" rating good
    session "gold" "What is 20 + 22" "carry none, 41" "<answer>41</answer>" gold 42
    session "bad" "What is 15 + 15" "double with a carry, 31" "<answer>31</answer>" rating bad
    session "unmarked" "What is 11 + 11" "double eleven" "22" rating good
    session "plain" "What is 9 + 9" "double nine" "<answer>18</answer>"
    session "alone" "" "lonely" "<answer>5</answer>" gold 5
    session "cli" "What is 30 + 12" "thirty and twelve" "<answer>42</answer>"
} >"$tmp/sessions.jsonl"
expect 0 "the annotated sessions import" -- "$ponder" sessions import "$tmp/sessions.jsonl"
turn=$("$ponder" sessions search thirty | sed -n 's/^session [0-9]* · turn \([0-9]*\) .*/\1/p')
expect 0 "a rating of 8 given with ponder annotate" -- "$ponder" annotate "$turn" --rating 8
sum_before=$(cksum <"$model")

expect 0 "train grpo --help" -- "$ponder" train grpo --help
has "$tmp/out" "--from-sessions QUERY" "the help names --from-sessions"
expect 2 "--from-sessions with --task" -- "$ponder" train grpo -m "$model" --task arith \
    --from-sessions '' -o "$tmp/x.gguf"

quick="-m $model -G 2 --prompts-per-step 1 --steps 1 --max-completion 8 --threads 1"
expect 0 "every session ('')" -- "$ponder" train grpo $quick --from-sessions '' -o "$tmp/a.gguf"
has "$tmp/err" "'': 7 turns matched, 3 used (1 with a gold answer, 2 rated good)" \
    "7 replies matched, 3 used: 1 gold, 2 rated good (the TUI's good and a rating of 8)"
why="skipped: 1 rated bad, 1 rated good but no <answer> or .boxed{} in the answer, "
why="${why}1 no gold answer and not rated, 1 no user message before the reply"
has "$tmp/err" "$why" "each skipped reply is counted under its reason"
has "$tmp/err" "turn 2: 'What is 12 + 34' gold '46' (its answer, rated good)" \
    "a reply rated good gives its own answer as the gold"
has "$tmp/err" "turn 4: 'What is 20 + 22' gold '42' (annotated)" \
    "a gold annotation wins over the reply's own (wrong) answer"
expect 0 "'*' is every session too" -- "$ponder" train grpo $quick --from-sessions '*' \
    -o "$tmp/a.gguf"
has "$tmp/err" "'\*': 7 turns matched, 3 used" "with the same turns"

expect 0 "a query" -- "$ponder" train grpo $quick --from-sessions carry -o "$tmp/b.gguf"
has "$tmp/err" \
    "'carry': 3 turns matched, 2 used (1 with a gold answer, 1 rated good); skipped: 1 rated bad" \
    "matches what sessions search matches, and says why the bad one is left out"
"$ponder" train show >"$tmp/show" 2>&1
has "$tmp/show" '"source":"sessions:carry","examples":2' \
    "the run's config records the query and the count"

expect 1 "a query whose replies are not annotated" -- "$ponder" train grpo $quick \
    --from-sessions double -o "$tmp/c.gguf"
has "$tmp/err" \
    "none of the 3 replies can be a prompt: give them a gold answer (ponder annotate TURN --gold" \
    "says what to annotate"
expect 1 "a query that matches nothing" -- "$ponder" train grpo $quick --from-sessions zebra \
    -o "$tmp/c.gguf"
has "$tmp/err" "no reply matches 'zebra'" "says so"

# The real thing: 8 completions of each of the two prompts; the model knows these sums, so
# some must match the golds (46 and 42) when the prompts are its chat template's.
expect 0 "a step on the two usable replies" -- "$ponder" train grpo -m "$model" \
    --from-sessions carry -G 8 --prompts-per-step 2 --steps 1 --max-completion 128 --seed 1 \
    --threads 1 -o "$tmp/d.gguf"
acc=$("$ponder" train show | awk '$1 == "1" { print $4 }')
awk -v a="$acc" 'BEGIN { exit !(a > 0) }'
ok $? "the accuracy against the golds is above 0 ($acc)"
[ "$(cksum <"$model")" = "$sum_before" ]; ok $? "the base model file is unchanged"
exit $fail
