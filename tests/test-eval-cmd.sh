#!/bin/sh
# test-eval-cmd.sh: `ponder eval` on the small test model: the table's shape and settings, the same
# seed giving the same numbers and completions, another seed other samples but the same greedy
# completions, the JSON lines valid and complete, progress lines when asked for, and clear
# usage errors (exit 2) for unknown tasks and bad numbers. SmolLM2 scores about 0 on the tasks:
# what is checked is the evaluator, not the model.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
plan=47

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
# expect STATUS DESCRIPTION -- CMD...: CMD exits with STATUS; its output is in $tmp/out, $tmp/err.
expect() {
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
count() { grep -c -- "$2" "$1"; }
# The JSON lines without what depends on the clock.
untimed() { sed -E 's/,"(seconds|tokens_per_s)":[^,}]*//g' "$1"; }

echo "1..$plan"
expect 0 "eval --help" -- "$ponder" eval --help
has "$tmp/out" "normal approximation over problems" "help says how pass@1's interval is made"
has "$tmp/out" "Wilson" "and greedy's and cons@K's"
"$ponder" --help >"$tmp/out" 2>&1
has "$tmp/out" "eval" "ponder --help lists eval"

expect 2 "no model" -- "$ponder" eval --n 3
has "$tmp/err" "no model" "says the model is missing"
expect 2 "an unknown task" -- "$ponder" eval -m x.gguf --task countdown,chess
has "$tmp/err" "unknown task 'chess'" "names the unknown task"
expect 2 "a task given twice" -- "$ponder" eval -m x.gguf --task arith,arith
expect 2 "--n 0" -- "$ponder" eval -m x.gguf --n 0
has "$tmp/err" "\-\-n: '0' is not a whole number" "names the option and the value"
expect 2 "--n not a number" -- "$ponder" eval -m x.gguf --n ten
expect 2 "--samples 0" -- "$ponder" eval -m x.gguf --samples 0
expect 2 "--temp not a number" -- "$ponder" eval -m x.gguf --temp warm
expect 2 "-n negative" -- "$ponder" eval -m x.gguf -n -5
expect 2 "--seed negative" -- "$ponder" eval -m x.gguf --seed -1
expect 2 "an unknown split" -- "$ponder" eval -m x.gguf --split dev
expect 2 "a stray argument" -- "$ponder" eval -m x.gguf extra
expect 1 "a model that is not there" -- "$ponder" eval -m "$tmp/none.gguf" --n 1

if [ ! -f "$model" ]; then
    while [ $n -lt $plan ]; do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit 0
fi

small="--n 3 --samples 2 -n 24 -t 2"
expect 0 "eval on the test model" -- "$ponder" eval -m "$model" $small --json "$tmp/a.jsonl" --progress
cp "$tmp/out" "$tmp/a.out"
has "$tmp/a.out" "^model  *$model" "the table names the model"
has "$tmp/a.out" "split test, 3 per task" "the split and n"
has "$tmp/a.out" "2 samples at temp 0.7 .*seed 1; and greedy" "samples, temperature and seed"
has "$tmp/a.out" "n-predict 24" "and the limits"
has "$tmp/a.out" "^task  *n  *pass@1 95% CI  *greedy 95% CI  *cons@2 95% CI  *think  *chars  *wait  *format  *none$" \
    "the header names the columns"
row='[0-9.]*% \[[0-9.]*, [0-9.]*\]'
has "$tmp/a.out" "^countdown  *3  *$row  *$row  *$row  *[0-9.]*  *[0-9.]*  *[0-9.]*%  *[0-9.]*%  *[0-9.]*%$" \
    "a countdown row: pass@1, greedy, cons@2 with intervals, think, chars, rates"
has "$tmp/a.out" "^arith  *3  *$row" "an arith row"
[ "$(count "$tmp/a.out" '%  *\[')" = 2 ]; ok $? "one row per task"
has "$tmp/a.out" "tokens generated in .* tok/s" "the speed"
has "$tmp/err" "countdown: problem 3/3" "--progress prints progress off a terminal"

"$ponder" eval -m "$model" $small --json "$tmp/b.jsonl" >"$tmp/b.out" 2>"$tmp/b.err"
ok $? "the same run again"
[ ! -s "$tmp/b.err" ]; ok $? "no progress off a terminal unless asked"
grep -v 'tokens generated' "$tmp/a.out" >"$tmp/a.tab"
grep -v 'tokens generated' "$tmp/b.out" >"$tmp/b.tab"
cmp -s "$tmp/a.tab" "$tmp/b.tab"; ok $? "the same seed prints the same numbers"
untimed "$tmp/a.jsonl" >"$tmp/a.j"
untimed "$tmp/b.jsonl" >"$tmp/b.j"
cmp -s "$tmp/a.j" "$tmp/b.j"; ok $? "and writes the same JSON, completions and all"

j=$tmp/a.jsonl
[ "$(wc -l <"$j")" = 10 ]; ok $? "JSON: settings, 6 problems, 2 task summaries, totals"
[ "$(count "$j" '^{"type":"problem","task":"countdown"')" = 3 ] &&
    [ "$(count "$j" '^{"type":"problem","task":"arith"')" = 3 ]
ok $? "three problems per task"
bad=$(grep '"type":"problem"' "$j" | awk -F'"completion":' 'NF != 4' | wc -l)
[ "$bad" = 0 ]; ok $? "each problem has its greedy completion and 2 samples"
has "$j" '^{"type":"settings","model":.*"split":"test","n":3,.*"samples":2,"temp":0.7,.*"seed":1,' \
    "the settings line"
missing=
for key in pass1 pass1_se pass1_lo pass1_hi greedy greedy_lo greedy_hi cons cons_lo cons_hi \
    right format none wait think_tokens think_chars tokens seconds tokens_per_s; do
    [ "$(count "$j" "^{\"type\":\"task\".*\"$key\":[0-9]")" = 2 ] || missing="$missing $key"
done
[ -z "$missing" ]; ok $? "each task's summary has every number${missing:+ (missing:$missing)}"
has "$j" '^{"type":"total","problems":6,"tokens":[0-9]*,.*"interrupted":false}$' "the totals"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$j" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
probs = [r for r in rows if r["type"] == "problem"]
for r in probs:
    assert len(r["samples"]) == 2 and "completion" in r["greedy"], r
    for t in r["samples"] + [r["greedy"]]:
        assert t["score"] in (0, 0.1, 1), t
        assert t["think_tokens"] <= t["tokens"] <= 24, t
EOF
    ok $? "JSON: every line parses; scores and lengths in range"
else
    skip "no python3 to parse the JSON"
fi

"$ponder" eval -m "$model" --n 2 --samples 2 -n 24 -t 2 --task countdown --seed 7 \
    --json "$tmp/c.jsonl" >"$tmp/c.out" 2>&1
ok $? "another seed"
[ "$(count "$tmp/c.out" '%  *\[')" = 1 ] && grep -q '^countdown ' "$tmp/c.out"
ok $? "--task countdown: one row"
grep '"task":"countdown"' "$tmp/a.j" | grep '"type":"problem"' | head -2 >"$tmp/a.cd"
grep '"type":"problem"' "$tmp/c.jsonl" >"$tmp/c.cd"
! cmp -s "$tmp/a.cd" "$tmp/c.cd"; ok $? "another seed, other samples"
greedy() { sed -E 's/.*"greedy":\{"seed":[0-9]*,(.*),"samples":.*/\1/' "$1"; }
[ "$(greedy "$tmp/a.cd")" = "$(greedy "$tmp/c.cd")" ]; ok $? "but the same greedy completions"

expect 1 "--json into a folder that is not there" -- "$ponder" eval -m "$model" --n 1 --samples 1 \
    -n 2 --json "$tmp/no/such/dir/x.jsonl"
has "$tmp/err" "no/such/dir/x.jsonl" "names the file"
exit $fail
