#!/bin/sh
# test-plugin-cmd.sh: `ponder plugin list|check|score`: the built-in plugins listed, bad ones
# refused with the reason, a score run that survives a crash and a hang and says what happened,
# a plugin's stdout kept off ours, the current directory not searched for a name, and usage.
set -u
top=$(cd "${top_builddir:-.}" && pwd)
ponder=$top/ponder
builtin=$top/plugins/.libs
testdir=$top/tests/plugins/.libs
PONDER_PLUGIN_PATH=$builtin:$testdir
export PONDER_PLUGIN_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

if [ ! -f "$builtin/accuracy.so" ] || [ ! -f "$testdir/crash.so" ]; then
    echo "1..0 # SKIP plugins not built (make check builds them)"
    exit 0
fi

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# expect STATUS DESCRIPTION -- CMD...: CMD exits with STATUS; its output is in $tmp/out, $tmp/err.
expect() {
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err" "$tmp/out"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; grep -q -- "$2" "$1" || sed 's/^/# /' "$1"; }

echo "1..27"
expect 0 "plugin --help" -- "$ponder" plugin --help
has "$tmp/out" "ponder plugin score" "help shows the usage"

expect 0 "plugin list" -- "$ponder" plugin list
for p in accuracy format countdown language length; do
    has "$tmp/out" "^$p  *reward  *1.0 .*$builtin/$p.so" "list: $p"
done
has "$tmp/out" "refused.*badabi.so: ABI version 3, this ponder speaks 1" "list: badabi refused"

expect 1 "check a bad ABI" -- "$ponder" plugin check badabi
has "$tmp/out" "badabi.so: ABI version 3, this ponder speaks 1" "the versions are named"
expect 1 "check a .so without the entry" -- "$ponder" plugin check "$testdir/noentry.so"
has "$tmp/out" "no entry symbol ponder_plugin_entry" "the missing symbol is named"

# One completion, every reward; the crash, the hang and the printer cost nothing but their own.
expect 0 "score survives a crash and a hang" -- "$ponder" plugin score --gold 16 \
    --opened-think --timeout 0.5 --completion 'ok</think> <answer>16</answer>' \
    -r accuracy -r format -w 0.5 -r crash --optional -r hang --optional \
    -r misc -c '{"do":"print"}'
has "$tmp/out" "^crash	None	signal 11" "the crash is reported as signal 11"
has "$tmp/out" "^hang	None	timed out after 0.5 s" "the hang is reported as a timeout"
has "$tmp/out" "^total	2$" "total: 1 + 0.5 + 0.5, optional Nones left out"
! grep -q "noise" "$tmp/out" "$tmp/err"; ok $? "a plugin's prints do not reach our output"

expect 0 "a required crash" -- "$ponder" plugin score -r accuracy -r crash --gold 1 \
    --completion '<answer>1</answer>'
has "$tmp/out" "^total	None$" "makes the total None"

printf '<think>x</think>\n<answer>44-(35-19)</answer>' >"$tmp/c"
expect 0 "score from stdin" -- sh -c "\"$ponder\" plugin score -r countdown --gold 28 \
    --extra '{\"numbers\":[44,19,35]}' <\"$tmp/c\""
has "$tmp/out" "^countdown	1	right" "countdown scores 1"

# A name never loads from the current directory; a path with a slash does.
expect 1 "a name is not looked for in the current directory" -- sh -c \
    "cd \"$testdir\" && PONDER_PLUGIN_PATH= \"$ponder\" plugin check crash"
has "$tmp/out" "current directory is not searched" "and the message says so"
expect 0 "./crash.so loads" -- sh -c "cd \"$testdir\" && \"$ponder\" plugin check ./crash.so"

expect 2 "score without a reward" -- "$ponder" plugin score --completion x
expect 1 "score with an aha detector" -- "$ponder" plugin score -r aha --completion x
