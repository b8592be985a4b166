#!/bin/sh
# test-train-resume.sh: `ponder train resume` on the bundled model: a run killed (SIGKILL) after
# its first checkpoint (and not while it lives: its checkpoint is locked) is continued from it
# with the config the store recorded: its steps go on
# after the checkpoint's step in the same run's rows, it ends done, with the model a straight
# run writes (byte for byte), and the base model file is never written. Clear refusals: an
# unknown run, a run already done, a checkpoint gone. A run from annotated sessions resumes with
# the same query, and says so when the store now gives it other prompts; a LoRA run with --merge
# resumes as one and writes the merged model.
set -u
. "${top_srcdir:-.}/tests/train-tap.sh"
steps=12

echo "1..27"
sum_before=$(cksum <"$model")
tiny="-m $model --task countdown --steps $steps --group 2 --prompts-per-step 1 \
    --max-completion 16 --threads 1"

expect 1 "resume with no runs" -- "$ponder" train resume
has "$tmp/err" "no training runs yet" "says there is none"

# The straight run, to compare with.
expect 0 "a straight run (run 1)" -- "$ponder" train grpo $tiny -o "$tmp/straight.gguf"

# Run 2, killed once its first checkpoint is there (checkpoints are renamed into place whole).
(cd "$tmp" && exec "$ponder" train grpo $tiny --ckpt-every 1 -o k.gguf) 2>"$tmp/k.err" &
pid=$!
i=0
while [ ! -f "$tmp/k.gguf.ckpt" ] && [ $i -lt 3000 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.01
    i=$((i + 1))
done
# while it lives, its checkpoint is its own
"$ponder" train resume 2 >/dev/null 2>"$tmp/live.err"
live=$?
kill -9 $pid 2>/dev/null
{ wait $pid; } 2>/dev/null
[ $? = 137 ]; ok $? "the run is killed (SIGKILL) after its first checkpoint"
[ $live = 1 ] && grep -q "in use by a live run (pid $pid)" "$tmp/live.err"
ok $? "resuming it while it lived was refused, naming its pid"
sed 's/^/# /' "$tmp/live.err" | head -3
"$ponder" train show 2 >"$tmp/show" 2>&1
has "$tmp/show" "^run 2  grpo  running" "its row says running: nobody finished it"

expect 1 "an unknown run" -- "$ponder" train resume 99
has "$tmp/err" "training run 99 not found" "says it is not there"
expect 1 "a run already done" -- "$ponder" train resume 1
has "$tmp/err" "run 1 is already done" "says it is done"

expect 0 "ponder train resume (the latest run)" -- "$ponder" train resume
at=$(sed -n 's/^resuming .* at step \([0-9]*\)\/.*/\1/p' "$tmp/err")
[ -n "$at" ] && [ "$at" -ge 1 ] && [ "$at" -lt $steps ]
ok $? "it continues from the checkpoint's step (${at:-none} of $steps)"
first=$(sed -n 's/^step \([0-9]*\)\/.*/\1/p' "$tmp/err" | head -n 1)
[ -n "$at" ] && [ "${first:-0}" = $((at + 1)) ]
ok $? "its first step is the next one (${first:-none})"
"$ponder" train show 2 >"$tmp/show" 2>&1
has "$tmp/show" "^run 2  grpo  done" "the run is done"
rows=$(awk '$1 ~ /^[0-9]+$/ && NF > 10 { print $1 }' "$tmp/show" | tr '\n' ' ')
[ "$rows" = "$(seq 1 $steps | tr '\n' ' ')" ]; ok $? "the store has its steps 1..$steps, once each"
cmp -s "$tmp/straight.gguf" "$tmp/k.gguf"
ok $? "the resumed run's model is the straight run's, byte for byte"
[ "$(cksum <"$model")" = "$sum_before" ]; ok $? "the base model file is unchanged"

# A run stopped before its end whose checkpoint is then lost.
"$ponder" train grpo $tiny --stop-after 2 -o "$tmp/gone.gguf" 2>/dev/null
rm -f "$tmp/gone.gguf.ckpt"
expect 1 "a run whose checkpoint is gone" -- "$ponder" train resume 3
has "$tmp/err" "checkpoint $tmp/gone.gguf.ckpt is missing" "says which file is missing"

# Run 4 from the store's annotated replies; another gets a gold answer while it is stopped.
turn() { # turn QUESTION ANSWER: one session of a question and its reply
    echo "{\"type\":\"session\",\"format\":1,\"title\":\"$1\",\"created\":1,\"updated\":1}"
    echo "{\"type\":\"turn\",\"seq\":0,\"role\":\"user\",\"text\":\"$1\",\"created\":1}"
    echo "{\"type\":\"turn\",\"seq\":1,\"role\":\"assistant\",\"text\":\"$2\"," \
        "\"think\":\"\",\"answer\":\"$2\",\"created\":1}"
}
{ turn "What is 12 + 34" "<answer>46</answer>"; turn "What is 20 + 22" "<answer>42</answer>"; } \
    >"$tmp/two.jsonl"
"$ponder" sessions import "$tmp/two.jsonl" >/dev/null
"$ponder" annotate 2 --gold 46 >/dev/null
expect 0 "a --from-sessions run stopped after 1 of 2 steps" -- "$ponder" train grpo -m "$model" \
    --from-sessions '' --steps 2 -G 2 --prompts-per-step 1 --max-completion 8 --threads 1 \
    --stop-after 1 -o "$tmp/s.gguf"
"$ponder" annotate 4 --gold 42 >/dev/null
expect 0 "resumes" -- "$ponder" train resume 4
has "$tmp/err" "'': 2 turns matched, 2 used" "with its query, run again on the store"
has "$tmp/err" "the source gives 2 prompts now, 1 when the run started" \
    "saying the prompts changed"
"$ponder" train show 4 >"$tmp/show" 2>&1
has "$tmp/show" "^run 4  grpo  done" "and ends done"

# Run 5: LoRA, the adapter merged into the model written at the end.
"$ponder" train grpo $tiny --lora-rank 4 --merge --stop-after 1 -o "$tmp/l.gguf" 2>/dev/null
expect 0 "a LoRA --merge run resumes" -- "$ponder" train resume 5
has "$tmp/err" "adapter parameters" "as a LoRA run"
"$ponder" model info "$tmp/l.gguf" >"$tmp/info" 2>&1
has "$tmp/info" "ponder-grpo-merged" "and writes the merged model"
exit $fail
