#!/bin/sh
# test-train.sh: `ponder train pretrain` on a tiny model: the run completes in seconds and its
# loss goes down; the GGUF it writes loads in `ponder model info` and generates in `ponder run`;
# a run stopped after 3 of 6 steps and resumed from its checkpoint ends bit for bit where the
# straight run ends; --config lines are read and flags override them; bad usage exits 2.
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

# a config file with the sizes; the flags below change some of them
cat >"$tmp/tiny.conf" <<'EOF'
# a tiny model
embd=32
layers=2
heads=2
experts=4
experts_used=2
ff=64
ff_exp=16
q_lora=16
kv_lora=16
qk_nope=8
qk_rope=8
v_head=8
tok_vocab=512
tok_docs=300
batch=2
seq=320
warmup=2
balance_gamma=0.01
steps=99
EOF
common="--config $tmp/tiny.conf --threads 2 --log-every 1"

echo "1..16"
expect 0 "train --help" -- "$ponder" train --help
has "$tmp/out" "ponder train pretrain" "help shows the usage"
expect 2 "no output file" -- "$ponder" train pretrain --steps 2
expect 2 "a bad config line" -- "$ponder" train pretrain --set embd=x -o "$tmp/x.gguf"
expect 2 "resume with sizes" -- "$ponder" train pretrain --resume "$tmp/none" --embd 8 -o "$tmp/x.gguf"

expect 0 "a tiny run of 12 steps" -- "$ponder" train pretrain $common --steps 12 --lr 1e-2 \
    -o "$tmp/t.gguf"
has "$tmp/err" "^step 12/12 " "it ran 12 steps (flags override the config's steps=99)"
has "$tmp/err" "embd 32, layers 2" "the config's sizes were used"
first=$(sed -n 's/^step 1\/12  loss \([0-9.]*\).*/\1/p' "$tmp/err")
last=$(sed -n 's/^step 12\/12  loss \([0-9.]*\).*/\1/p' "$tmp/err")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }'
ok $? "the loss went down ($first -> $last)"

expect 0 "model info reads the GGUF" -- "$ponder" model info "$tmp/t.gguf"
has "$tmp/out" "deepseek2" "it is a deepseek2 model"
expect 0 "ponder run generates from it" -- "$ponder" run -m "$tmp/t.gguf" --template none \
    -p "User: Give me the answer of the following equation: 12 * 34 = Assistant:" -n 8 \
    --temp 0 --no-log -q

# 6 steps straight, against 3 steps, a stop, and a resume
"$ponder" train pretrain $common --steps 6 -o "$tmp/a.gguf" 2>"$tmp/a.err"
"$ponder" train pretrain $common --steps 6 --stop-after 3 --ckpt "$tmp/b.ckpt" 2>"$tmp/b.err"
has "$tmp/b.err" "stopped after step 3/6" "a run stops after step 3 with a checkpoint"
expect 0 "and resumes from it" -- "$ponder" train pretrain --resume "$tmp/b.ckpt" --threads 2 \
    --log-every 1 -o "$tmp/c.gguf"
tail_a=$(grep "^step 6/6" "$tmp/a.err" | sed 's/  [0-9]* tok\/s.*//')
tail_c=$(grep "^step 6/6" "$tmp/err" | sed 's/  [0-9]* tok\/s.*//')
[ -n "$tail_a" ] && [ "$tail_a" = "$tail_c" ]; ok $? "the resumed run's last step: $tail_c"
cmp -s "$tmp/a.gguf" "$tmp/c.gguf"; ok $? "the resumed run's model is the straight run's, byte for byte"
exit $fail
