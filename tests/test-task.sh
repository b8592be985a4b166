#!/bin/sh
# test-task.sh: `ponder task sample` and `ponder task score`: samples repeat per seed, the JSONL
# rows score 1.0 when fed back to score (with and without their prompts), wrong and missing
# answers score 0.1 and 0, and bad usage exits 2.
set -u
ponder=${top_builddir:-.}/ponder
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
# expect STATUS DESCRIPTION -- CMD...: CMD exits with STATUS; its output is in $tmp/out, $tmp/err.
expect() {
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
same() { [ "$(cat "$1")" = "$2" ]; ok $? "$3"; [ "$(cat "$1")" = "$2" ] || sed 's/^/# /' "$1"; }

echo "1..32"
expect 0 "task --help" -- "$ponder" task --help
has "$tmp/out" "ponder task sample" "help shows the usage"
expect 0 "sample countdown as text" -- "$ponder" task sample --task countdown --n 3 --seed 9
has "$tmp/out" "create an equation that equals [0-9]*. Assistant: <think>" "the text holds the chat prompt"
expect 0 "sample with TinyZero's prompts" -- "$ponder" task sample --task countdown --n 3 --seed 9 --prompts tinyzero
has "$tmp/out" "Assistant: Let me solve this step by step." "the text holds TinyZero's prompt"
has "$tmp/out" "^<answer>.*</answer>$" "the answer is on a line of its own"

"$ponder" task sample --task countdown --n 50 --seed 4 --format jsonl >"$tmp/cd1" 2>&1
"$ponder" task sample --task countdown --n 50 --seed 4 --format jsonl >"$tmp/cd2" 2>&1
cmp -s "$tmp/cd1" "$tmp/cd2"; ok $? "the same seed prints the same rows"
[ "$(wc -l <"$tmp/cd1")" -eq 50 ]; ok $? "--n 50 prints 50 rows"
has "$tmp/cd1" '^{"task":"countdown","split":"train","index":0,"numbers":\[' "rows carry task, split, index, numbers"
"$ponder" task sample --task countdown --n 50 --seed 5 --format jsonl >"$tmp/cd3" 2>&1
! cmp -s "$tmp/cd1" "$tmp/cd3"; ok $? "another seed prints other rows"

expect 0 "score the countdown rows" -- "$ponder" task score <"$tmp/cd1"
[ "$(grep -c '^1.0$' "$tmp/out")" -eq 50 ]; ok $? "all 50 score 1.0"
has "$tmp/err" "scored 50: mean 1.0000, right 50" "the summary counts them"

sed 's/"prompt":"[^"]*\(\\"[^"]*\)*",//' "$tmp/cd1" >"$tmp/noprompt"
! grep -q '"prompt"' "$tmp/noprompt"; ok $? "rows without their prompt"
expect 0 "score completions alone" -- "$ponder" task score <"$tmp/noprompt"
[ "$(grep -c '^1.0$' "$tmp/out")" -eq 50 ]; ok $? "completions alone score 1.0 too"

"$ponder" task sample --task arith --n 40 --split test --format jsonl >"$tmp/ar" 2>&1
has "$tmp/ar" '"split":"test"' "arith test rows"
expect 0 "score the arith rows" -- "$ponder" task score <"$tmp/ar"
[ "$(grep -c '^1.0$' "$tmp/out")" -eq 40 ]; ok $? "all 40 score 1.0"

expect 0 "score one right completion" -- "$ponder" task score --task countdown --numbers 44,19,35 \
    --gold 28 --completion "x</think>
<answer>44-(35-19)</answer>"
same "$tmp/out" "1.0" "right: 1.0"
expect 0 "score a number used twice" -- "$ponder" task score --task countdown \
    --numbers 44,19,35 --gold 28 --completion "<answer>44-19+35-35+3</answer>"
same "$tmp/out" "0.1" "a number used twice: 0.1"
printf 'no answer at all' >"$tmp/in"
expect 0 "score a completion from stdin" -- "$ponder" task score --task arith --gold 9716 <"$tmp/in"
same "$tmp/out" "0.0" "no answer: 0.0"
expect 0 "score a full text" -- "$ponder" task score --task arith --gold 9716 \
    --text "User: 347 * 28 = Assistant: <answer>9716</answer>"
same "$tmp/out" "1.0" "full text after Assistant: 1.0"

printf '{"task":"countdown","numbers":[1,2],"target":3,"completion":"<answer>1+2</answer>"}\nnot json\n' >"$tmp/mixed"
expect 1 "a bad line fails the run" -- "$ponder" task score <"$tmp/mixed"
has "$tmp/err" "line 2: not a JSON object" "the bad line is named"
expect 2 "sample without --task" -- "$ponder" task sample
expect 2 "an unknown split" -- "$ponder" task sample --task arith --split dev
exit $fail
