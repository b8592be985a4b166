#!/bin/sh
# test-routing-cli.sh: what `ponder run --routing` and `--json` print for one prompt on a tiny
# Qwen3-MoE model, against the routing transformers computed for the same prompt and greedy
# continuation (tests/data/routing-qwen3moe.txt, made by tests/tools/make-routing-fixture.py):
# the experts each layer chose for every generated token, in order, and their weights.
set -u
ponder=${top_builddir:-.}/ponder
data=${top_srcdir:-.}/tests/data
model=$data/moe-qwen3moe.gguf
want=$data/routing-qwen3moe.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(cd "${top_srcdir:-.}" && pwd)/tests/tap.sh"

prompt=$(sed -n 's/^# prompt: //p' "$want")
grep -v '^#' "$want" >"$tmp/want"
count=$(wc -l <"$tmp/want")
# routing [OPTIONS]: the --routing lines without their text column
routing() {
    "$ponder" run -m "$model" -p "$prompt" -n "$count" --temp 0 --template none --no-log \
        --routing "$@" 2>"$tmp/err" | awk -F'\t' '!/^#/ && NF >= 4 { print $1 "\t" $2 "\t" $4 }'
}

echo "1..6"
routing --precise >"$tmp/precise"
[ -s "$tmp/precise" ]; ok $? "--routing prints a line per generated token"
diff "$tmp/want" "$tmp/precise" >"$tmp/diff"; ok $? "--precise: the $count lines are transformers' (tokens, experts in order, weights)"
sed 's/^/# /' "$tmp/diff" | head -10

# the default arithmetic quantizes activations to 8 bits: the same choices, weights within 0.01
routing >"$tmp/default"
cut -f1,2 "$tmp/want" >"$tmp/want-ids"
cut -f1,2 "$tmp/default" | diff "$tmp/want-ids" - >/dev/null; ok $? "default arithmetic: the same greedy tokens"
experts() { sed 's#/[0-9.]*##g' "$1"; }
experts "$tmp/want" >"$tmp/a"
experts "$tmp/default" >"$tmp/b"
diff "$tmp/a" "$tmp/b" >/dev/null; ok $? "default arithmetic: the same experts, in the same order"
paste "$tmp/want" "$tmp/default" | awk -F'\t' '
    { n = split($3, a, /[,: ]/); split($6, b, /[,: ]/)
      for (i = 1; i <= n; i++) if (a[i] ~ /\//) {
          split(a[i], x, "/"); split(b[i], y, "/"); d = x[2] - y[2]
          if (d > 0.0100001 || d < -0.0100001) bad++ } }
    END { exit bad > 0 }'
ok $? "default arithmetic: every weight within 0.01 of transformers'"

# --json carries the same routing: experts by layer, in order
"$ponder" run -m "$model" -p "$prompt" -n "$count" --temp 0 --template none --no-log --json \
    --precise 2>/dev/null |
    sed -n 's/.*"index":\([0-9]*\),"id":\([0-9]*\),.*"experts":\[\(.*\)\],"weights".*/\1 \2 \3/p' |
    awk '{ gsub(/\],\[/, " ", $3); gsub(/[][]/, "", $3); n = split($3, l, " ")
           s = $1 "\t" $2 "\t"; for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") (i - 1) ":" l[i]
           print s }' >"$tmp/json"
diff "$tmp/a" "$tmp/json" >/dev/null; ok $? "--json: the same experts for every token"
exit $fail
