#!/bin/sh
# test-lora-dense-grpo.sh: GRPO with a LoRA adapter over a dense model whose weights stay in
# their own types (tests/data/arch-qwen3.gguf; SmolLM2 Q4_1 for the refusals when present):
# steps run, the base file's bytes stay as they were, the adapter is written for the base's
# architecture, ponder run --lora loads it and it changes the log-probabilities; a run stopped
# after step 1 and resumed ends on the straight run's adapter; full weights over a dense model,
# a MoE model other than deepseek2 and --merge over a dense base are refused (exit 2).
set -u
. "$(cd "${top_srcdir:-.}" && pwd)/tests/train-tap.sh"
src=$(cd "${top_srcdir:-.}" && pwd)
base=$src/tests/data/arch-qwen3.gguf
smol=${PONDER_TEST_MODEL:-$src/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
moe=$src/tests/data/moe-qwen3moe.gguf

echo "1..15"
[ -f "$top/plugins/.libs/length.so" ] ||
    skip_all 15 "the length plugin is not built (make all check)"
sum_before=$(cksum <"$base")
# hot enough that some completions end early, so the length reward varies within a group
common="-m $base --task arith -G 4 --prompts-per-step 2 --max-completion 48 --temp 8 \
    --reward length --lora-rank 4 --lr 1e-2 --threads 2 --steps 3"
expect 0 "three GRPO steps with --lora-rank 4 over a qwen3 F32 model" -- \
    "$ponder" train grpo $common -o "$tmp/ad.gguf"
has "$tmp/err" "adapter parameters" "it trains an adapter"
has "$tmp/err" "^step 3/3" "three steps ran"
[ "$(cksum <"$base")" = "$sum_before" ]; ok $? "the base model's bytes are unchanged"
grep -a -q "qwen3" "$tmp/ad.gguf"; ok $? "the adapter names the base's architecture"

prompt="12 * 34 ="
logprobs() { # logprobs [ARGS...]: the greedy continuation's log-probabilities
    "$ponder" run -m "$base" --template none -p "$prompt" -n 8 --temp 0 --no-log -q --json \
        "$@" | grep -o '"logprob":[-0-9.e]*'
}
expect 0 "ponder run --lora loads the adapter" -- "$ponder" run -m "$base" \
    --lora "$tmp/ad.gguf" --template none -p "$prompt" -n 8 --temp 0 --no-log -q
logprobs >"$tmp/lp-base"
logprobs --lora "$tmp/ad.gguf" >"$tmp/lp-ad"
! cmp -s "$tmp/lp-base" "$tmp/lp-ad"; ok $? "the trained adapter changes the log-probabilities"

"$ponder" train grpo $common --stop-after 1 --ckpt "$tmp/b.ckpt" -o "$tmp/c.gguf" 2>"$tmp/b.err"
has "$tmp/b.err" "stopped after step 1/3" "a run stops after step 1 with a checkpoint"
expect 0 "and resumes from it" -- "$ponder" train grpo -m "$base" --task arith --threads 2 \
    --reward length --resume "$tmp/b.ckpt" -o "$tmp/c.gguf"
cmp -s "$tmp/ad.gguf" "$tmp/c.gguf"; ok $? "the resumed adapter is the straight run's, bytewise"

full=$base
[ -f "$smol" ] && full=$smol
expect 2 "full-weight GRPO over a dense model" -- "$ponder" train grpo -m "$full" \
    --task arith --steps 1 -o "$tmp/x.gguf"
has "$tmp/err" "full-weight GRPO trains only an F32 deepseek2 model" "says what to do instead"
expect 2 "a qwen3moe model" -- "$ponder" train grpo -m "$moe" --task arith --lora-rank 4 \
    --steps 1 -o "$tmp/x.gguf"
has "$tmp/err" "is a qwen3moe model" "names its architecture"
expect 2 "--merge over a dense base" -- "$ponder" train grpo $common --merge -o "$tmp/x.gguf"
exit $fail
