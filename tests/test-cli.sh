#!/bin/sh
# test-cli.sh: the ponder binary as a user meets it: exit codes, messages, and (with the test
# model) run, --json, stdin prompts, context overflow, model info and bench.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
# expect STATUS DESCRIPTION -- CMD...: CMD exits with STATUS; its stderr is in $tmp/err.
expect() {
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }

echo "1..48"
expect 0 "--version" -- "$ponder" --version
has "$tmp/out" "^ponder 0" "--version prints the name and version"
expect 0 "--help" -- "$ponder" --help
has "$tmp/out" "bench" "--help lists the commands"
expect 2 "no command is a usage error" -- "$ponder"
expect 2 "an unknown command is a usage error" -- "$ponder" frobnicate
expect 2 "run without a model" -- "$ponder" run -p hi
has "$tmp/err" "no model" "and it says a model is missing"
expect 2 "a malformed number" -- "$ponder" run -m x.gguf -p hi -n abc
expect 1 "a model that does not exist" -- "$ponder" run -m "$tmp/nope.gguf" -p hi
has "$tmp/err" "nope.gguf" "the message names the file"
moe=${top_srcdir:-.}/tests/data/moe-qwen3moe.gguf
# the device plan of model info: what each GPU would hold, computed without one
ds=${top_srcdir:-.}/tests/data/ds-v3.gguf
expect 0 "model info plans an expert split" -- "$ponder" model info "$ds" --gpus 0,1 --split expert
has "$tmp/out" "^  0  *cuda 0  *layers 0-2, experts 0-3, head " "rank 0: every layer, half the experts, the head"
has "$tmp/out" "^  1  *cuda 1  *layers 0-2, experts 4-7  " "rank 1: the other half"
expect 0 "model info plans --gpu-layers 1" -- "$ponder" model info "$ds" --gpu-layers 1
has "$tmp/out" "^  0  *cpu  *layers 0-1, embeddings .* 1.25 MiB$" "the CPU keeps two layers and their cache"
has "$tmp/out" "^  1  *cuda 0  *layer 2, head .* 0.62 MiB$" "the GPU the last and the head"
expect 1 "--gpu-layers with --split expert" -- "$ponder" model info "$ds" --gpu-layers 1 --split expert --gpus 0,1
has "$tmp/err" "does not go with --split expert" "... is refused, saying why"
expect 2 "--gpu-layers takes a number" -- "$ponder" run -m "$moe" -p hi --gpu-layers all
has "$tmp/err" "gpu-layers" "... and the message names the option"
# on the CPU there is no GPU to keep layers off: the same greedy reply with or without it
"$ponder" run -m "$moe" --template none -p hello -n 6 --temp 0 -q --no-log --backend cpu \
    >"$tmp/plain" 2>&1
expect 0 "--gpu-layers on the CPU backend" -- "$ponder" run -m "$moe" --template none -p hello \
    -n 6 --temp 0 -q --no-log --backend cpu --gpu-layers 1
cmp -s "$tmp/plain" "$tmp/out"; ok $? "... is ignored: the same reply"
expect 0 "--routing on a mixture-of-experts model" -- "$ponder" run -m "$moe" --template none -p hello -n 4 --temp 0 -q --no-log --routing
# every token line: index, id, text, then both MoE layers with two experts each, by weight
[ "$(grep -cE '^[0-9]+	[0-9]+	"[^"]*"	0:[0-7]/[01]\.[0-9]+,[0-7]/[01]\.[0-9]+ 1:[0-7]/[01]\.[0-9]+,[0-7]/[01]\.[0-9]+$' "$tmp/out")" = 4 ]
ok $? "--routing prints one line per token with each layer's experts and weights"
expect 0 "--json on a mixture-of-experts model" -- "$ponder" run -m "$moe" --template none -p hello -n 2 --temp 0 -q --no-log --json
has "$tmp/out" '"routing":{"layers":\[0,1\],"experts":\[\[' "--json carries the routing of each token"
expect 0 "model info on a DeepSeek-style model" -- "$ponder" model info "${top_srcdir:-.}/tests/data/ds-v3.gguf"
grep -q "kv lora rank *32" "$tmp/out" && grep -q "shared experts *1" "$tmp/out" && grep -q "runs in ponder *yes" "$tmp/out"
ok $? "it shows the latent attention and expert settings, and that ponder runs it"
printf 'GGUF\003\000\000\000garbage' >"$tmp/bad.gguf"
expect 1 "a truncated GGUF" -- "$ponder" run -m "$tmp/bad.gguf" -p hi
expect 1 "model info on a truncated GGUF" -- "$ponder" model info "$tmp/bad.gguf"

if [ ! -f "$model" ]; then
    for i in $(seq 20 36); do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit 0
fi

expect 0 "greedy run (precise: the float reference's answer)" -- "$ponder" run -m "$model" -p "What is the capital of France?" --temp 0 -n 24 -q -t 2 --precise
has "$tmp/out" "Paris" "the answer mentions Paris"
"$ponder" run -m "$model" -p "Tell me a story." --temp 0.9 --seed 7 -n 24 -q -t 2 >"$tmp/a" 2>/dev/null
"$ponder" run -m "$model" -p "Tell me a story." --temp 0.9 --seed 7 -n 24 -q -t 1 >"$tmp/b" 2>/dev/null
cmp -s "$tmp/a" "$tmp/b"; ok $? "same seed, same output (also across thread counts)"
expect 0 "--json" -- "$ponder" run -m "$model" -p "Say hi." --temp 0 -n 8 --json -q
[ "$(grep -c '^{"index":' "$tmp/out")" -ge 1 ]; ok $? "one JSON object per token"
has "$tmp/out" '"done":true,"stop":"length"' "a last object with the stop reason"
echo "What is the capital of France?" >"$tmp/prompt"
expect 0 "prompt from stdin" -- sh -c "\"$ponder\" run -m \"$model\" -p - --temp 0 -n 24 -q --precise <\"$tmp/prompt\""
has "$tmp/out" "Paris" "the stdin prompt was used"
expect 1 "a prompt longer than the context" -- "$ponder" run -m "$model" -c 32 -q -p "$(seq 1 200 | tr '\n' ' ')"
has "$tmp/err" "context" "the message talks about the context"
expect 0 "a stop string" -- "$ponder" run -m "$model" -p "What is the capital of France?" --temp 0 -n 24 -q --precise --stop "Paris" --json
has "$tmp/out" '"stop":"stop"' "generation ends at the stop string"
! grep -q "Paris" "$tmp/out"; ok $? "and the stop string itself is not printed"
expect 0 "model info" -- "$ponder" model info "$model"
has "$tmp/out" "49152 tokens" "model info gives the vocabulary"
expect 0 "bench" -- "$ponder" bench -m "$model" -p 16 -n 4 -r 1 -t 1
has "$tmp/out" "tg4" "bench prints the decode test"
exit $fail
