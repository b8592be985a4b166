#!/bin/sh
# test-group-cli.sh: `ponder run` as one rank of a group started by a launcher (PONDER_WORLD_SIZE,
# PONDER_RANK, NCCL_COMM_ID; docs/architecture.md). Without a GPU no group forms, so what is
# checked is what a user meets before one does: each missing or malformed variable named, --gpus
# and --gpu-layers refused beside them, a build without NCCL saying so, and the variables'
# absence changing nothing.
set -u
ponder=${top_builddir:-.}/ponder
model=${top_srcdir:-.}/tests/data/arch-qwen3.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "${top_srcdir:-.}/tests/tap.sh"

echo "1..13"
"$ponder" --version >"$tmp/version"
grep -q '^backends: cpu' "$tmp/version"
ok $? "--version names the backends of the build: $(sed -n 2p "$tmp/version")"
if grep -q ' nccl' "$tmp/version"; then
    no_rank='PONDER_RANK is not set'
    bad_size='not a whole number'
    no_id='cannot find each other'
else
    no_rank='no NCCL'
    bad_size='no NCCL'
    no_id='no NCCL'
fi
run="$ponder run -m $model -p hi -n 2 -q --no-log"
expect 1 "a rank without PONDER_RANK" -- env PONDER_WORLD_SIZE=2 $run
has "$tmp/err" "$no_rank" "... names what is missing"
expect 1 "PONDER_WORLD_SIZE=two" -- env PONDER_WORLD_SIZE=two PONDER_RANK=0 $run
has "$tmp/err" "$bad_size" "... says it is not a number"
expect 1 "no NCCL_COMM_ID nor PONDER_NCCL_ID" -- \
    env -u NCCL_COMM_ID PONDER_WORLD_SIZE=2 PONDER_RANK=1 $run
has "$tmp/err" "$no_id" "... says the ranks cannot meet"
expect 2 "--gpus with several devices beside PONDER_WORLD_SIZE" -- \
    env PONDER_WORLD_SIZE=2 PONDER_RANK=0 $run --gpus 0,1
has "$tmp/err" "PONDER_LOCAL_RANK" "... refused, saying which device a rank uses"
expect 2 "--gpu-layers beside PONDER_WORLD_SIZE" -- \
    env PONDER_WORLD_SIZE=2 PONDER_RANK=0 $run --gpu-layers 1
has "$tmp/err" "whole share" "... refused, saying a rank runs its whole share on its device"
expect 0 "PONDER_WORLD_SIZE empty: an ordinary run" -- env PONDER_WORLD_SIZE= $run
[ -s "$tmp/out" ]; ok $? "... which prints its reply"
exit $fail
