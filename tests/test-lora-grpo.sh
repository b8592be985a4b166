#!/bin/sh
# test-lora-grpo.sh: LoRA end to end on the bundled model: two GRPO steps with --lora-rank 4 run,
# leave the base file's bytes as they were and write an adapter that ponder run --lora loads
# and that changes the model's log-probabilities; --merge writes the model with that adapter
# folded in, whose greedy reply is the adapter's; a run stopped after step 1 and resumed ends on
# the straight run's adapter, byte for byte; bad adapters (not an adapter, another
# architecture, truncated, missing) exit 1 with a message, bad LoRA options exit 2.
set -u
. "$(cd "${top_srcdir:-.}" && pwd)/tests/train-tap.sh"
src=$(cd "${top_srcdir:-.}" && pwd)
base=$model
smol=${PONDER_TEST_MODEL:-$src/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}

echo "1..22"
[ -f "$top/plugins/.libs/length.so" ] ||
    skip_all 22 "the length plugin is not built (make all check)"
sum_before=$(cksum <"$base")
# a temperature high enough that some completions end early, so the length reward varies
common="-m $base --task arith -G 4 --prompts-per-step 2 --max-completion 48 --temp 8 \
    --reward length --lora-rank 4 --lr 1e-2 --threads 2 --steps 2"
expect 0 "two GRPO steps with --lora-rank 4" -- "$ponder" train grpo $common -o "$tmp/ad.gguf"
has "$tmp/err" "adapter parameters" "it trains an adapter"
has "$tmp/err" "^step 2/2" "two steps ran"
[ "$(cksum <"$base")" = "$sum_before" ]; ok $? "the base model's bytes are unchanged"

prompt="User: Give me the answer of the following equation: 12 * 34 = Assistant:"
logprobs() { # logprobs [ARGS...]: the greedy continuation's log-probabilities
    "$ponder" run --template none -p "$prompt" -n 6 --temp 0 --no-log -q --json "$@" |
        grep -o '"logprob":[-0-9.e]*'
}
expect 0 "ponder run --lora loads the adapter" -- "$ponder" run -m "$base" \
    --lora "$tmp/ad.gguf" --template none -p "$prompt" -n 6 --temp 0 --no-log -q
logprobs -m "$base" >"$tmp/lp-base"
logprobs -m "$base" --lora "$tmp/ad.gguf" >"$tmp/lp-ad"
logprobs -m "$base" --lora "$tmp/ad.gguf:0" >"$tmp/lp-zero"
! cmp -s "$tmp/lp-base" "$tmp/lp-ad"; ok $? "the trained adapter changes the log-probabilities"
cmp -s "$tmp/lp-base" "$tmp/lp-zero"; ok $? "at scale 0 it leaves them as they are"

expect 0 "--merge writes the merged model" -- "$ponder" train grpo $common --merge \
    -o "$tmp/merged.gguf"
"$ponder" run -m "$tmp/merged.gguf" --template none -p "$prompt" -n 24 --temp 0 --no-log -q \
    >"$tmp/merged.txt" 2>&1
"$ponder" run -m "$base" --lora "$tmp/ad.gguf" --template none -p "$prompt" -n 24 --temp 0 \
    --no-log -q >"$tmp/lora.txt" 2>&1
cmp -s "$tmp/merged.txt" "$tmp/lora.txt"; ok $? "its greedy reply is the adapter's"
[ "$(cksum <"$base")" = "$sum_before" ]; ok $? "the base model is still unchanged"

"$ponder" train grpo $common --stop-after 1 --ckpt "$tmp/b.ckpt" -o "$tmp/c.gguf" 2>"$tmp/b.err"
has "$tmp/b.err" "stopped after step 1/2" "a LoRA run stops after step 1 with a checkpoint"
expect 0 "and resumes from it" -- "$ponder" train grpo -m "$base" --task arith --threads 2 \
    --reward length --resume "$tmp/b.ckpt" -o "$tmp/c.gguf"
cmp -s "$tmp/ad.gguf" "$tmp/c.gguf"; ok $? "the resumed adapter is the straight run's, bytewise"

# bad adapters and options
expect 1 "a model given as an adapter" -- "$ponder" run -m "$base" --lora "$base" -p hi -n 1 \
    --no-log -q
has "$tmp/err" "not a LoRA adapter" "says it is not an adapter"
if [ -f "$smol" ]; then
    expect 1 "an adapter of another architecture" -- "$ponder" run -m "$smol" \
        --lora "$tmp/ad.gguf" -p hi -n 1 --no-log -q
    has "$tmp/err" "architecture 'deepseek2' and the model is 'llama'" "names both architectures"
else
    n=$((n + 2)); echo "ok $((n - 1)) # SKIP no SmolLM2"; echo "ok $n # SKIP no SmolLM2"
fi
size=$(wc -c <"$tmp/ad.gguf")
head -c $((size - 100)) "$tmp/ad.gguf" >"$tmp/cut.gguf"
expect 1 "a truncated adapter" -- "$ponder" run -m "$base" --lora "$tmp/cut.gguf" -p hi -n 1 \
    --no-log -q
has "$tmp/err" "past end of file" "says the file is cut short"
expect 1 "a missing adapter" -- "$ponder" run -m "$base" --lora "$tmp/none.gguf" -p hi -n 1 \
    --no-log -q
expect 2 "--merge without --lora-rank" -- "$ponder" train grpo -m "$base" --task arith --merge \
    -o "$tmp/x.gguf"
expect 2 "an unknown LoRA target" -- "$ponder" train grpo -m "$base" --task arith \
    --lora-rank 4 --lora-targets attn,nope -o "$tmp/x.gguf"
exit $fail
