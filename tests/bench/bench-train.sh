#!/bin/sh
# bench-train.sh: training speed on 2 threads, ponder against PyTorch (CPU), same config, same
# machine, one after the other: the default model of `ponder train pretrain` (embd 128, 4
# layers, 4 heads, MLA q_lora 64 kv_lora 64, experts 8 used 2 of width 96 + 1 shared, dense
# first layer of 384, vocab 512; 1.53 M parameters), batch 8 x seq 256, a step being forward,
# backward, clip and AdamW. The first step of each is not timed.
#   usage: tests/bench/bench-train.sh [PONDER] [STEPS]
set -eu
ponder=${1:-./ponder}
steps=${2:-6}
here=$(dirname "$0")
"$ponder" train pretrain --bench --steps "$steps" --batch 8 --seq 256 --threads 2 \
    --vocab 512 --set tok_docs=500 2>/dev/null
python3 "$here/../tools/bench-train-torch.py" --threads 2 --steps "$steps" --batch 8 --seq 256
