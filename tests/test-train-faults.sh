#!/bin/sh
# test-train-faults.sh: reward plugins that fail inside a real `ponder train grpo` run on the
# bundled model, next to the accuracy reward. A plugin that crashes, or hangs past
# --reward-timeout, costs its scores: the run finishes, stderr names the plugin and how it
# failed at every step, the completions it could not score are None and left out of their
# groups, and every step's metrics are stored (ponder train show: the "none" column is 1). A
# plugin of another ABI version, or with no entry symbol, is refused before anything runs.
set -u
. "${top_srcdir:-.}/tests/train-tap.sh"

# The "none" column of each step row of `ponder train show RUN`, one line.
none_column() {
    "$ponder" train show "$1" 2>&1 | awk '$1 ~ /^[0-9]+$/ && NF > 10 { printf "%s:%s ", $1, $NF }'
}

echo "1..22"
for p in "$plugins/crash" "$plugins/hang" "$plugins/badabi" "$plugins/noentry" \
    "$top/plugins/.libs/accuracy"; do
    [ -f "$p.so" ] || skip_all 22 "the test plugins are not built (make check builds them)"
done
tiny="-m $model --task arith --steps 3 -G 2 --prompts-per-step 1 --max-completion 16 --threads 1"
all_none="1:1.00 2:1.00 3:1.00 "

expect 0 "a run with a crashing plugin finishes" -- "$ponder" train grpo $tiny \
    --reward accuracy --reward "$plugins/crash.so" -o "$tmp/c.gguf"
has "$tmp/err" "^step 1: reward 'crash' crashed on 2 of 2 completions (signal 11" \
    "it names the plugin and says it crashed"
[ "$(grep -c "reward 'crash' crashed" "$tmp/err")" = 3 ]; ok $? "at each of the 3 steps"
has "$tmp/err" "^step 3: 2 of 2 completions have no reward (None): left out of their groups" \
    "the completions it could not score are None, left out of their groups"
has "$tmp/err" "^step 3/3  reward -  acc" "the step line has no reward to show"
[ -f "$tmp/c.gguf" ]; ok $? "the model is written"
"$ponder" train show 1 >"$tmp/show" 2>&1
has "$tmp/show" "^run 1  grpo  done" "the run is done"
[ "$(none_column 1)" = "$all_none" ]
ok $? "every step's metrics are stored, all left out ($(none_column 1))"

expect 2 "a --reward-timeout that is not a time" -- "$ponder" train grpo $tiny \
    --reward-timeout soon -o "$tmp/x.gguf"
t0=$(date +%s)
expect 0 "a run with a hanging plugin finishes" -- "$ponder" train grpo $tiny \
    --reward accuracy --reward "$plugins/hang.so" --reward-timeout 0.2 -o "$tmp/h.gguf"
t1=$(date +%s)
has "$tmp/err" "^step 1: reward 'hang' timed out on 2 of 2 completions (after 0.2 s)" \
    "it names the plugin and says it timed out"
[ "$(grep -c "reward 'hang' timed out" "$tmp/err")" = 3 ]; ok $? "at each of the 3 steps"
[ $((t1 - t0)) -lt 10 ]
ok $? "under the limit given: 6 scores took less than 2 s (the default) each ($((t1 - t0)) s)"
"$ponder" train show 2 >"$tmp/show" 2>&1
has "$tmp/show" "^run 2  grpo  done" "the run is done"
has "$tmp/show" '"reward_timeout":0.2' "its config records the time limit"
[ "$(none_column 2)" = "$all_none" ]; ok $? "every step's metrics are stored ($(none_column 2))"

expect 1 "a plugin of another ABI version" -- "$ponder" train grpo $tiny \
    --reward accuracy --reward "$plugins/badabi.so" -o "$tmp/b.gguf"
has "$tmp/err" "reward '$plugins/badabi.so' refused: badabi.so: ABI version 3, this ponder speaks" \
    "is refused, saying why"
[ ! -e "$tmp/b.gguf" ] && ! grep -q "^step" "$tmp/err"; ok $? "before any step"
"$ponder" train show 3 >"$tmp/show" 2>&1
has "$tmp/show" "training run 3 not found" "and before the run is recorded"
expect 1 "a plugin with no entry symbol" -- "$ponder" train grpo $tiny \
    --reward "$plugins/noentry.so" -o "$tmp/e.gguf"
has "$tmp/err" "refused: noentry.so: no entry symbol" "is refused, saying why"
exit $fail
