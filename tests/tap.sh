# tap.sh: what the shell tests of the ponder binary share, sourced after setting $tmp (a
# scratch directory): a TAP counter and three checks.
#   ok STATUS DESCRIPTION           a test that passes when STATUS is 0
#   expect STATUS DESCRIPTION -- CMD...   run CMD (stdout to $tmp/out, stderr to $tmp/err) and
#                                         check its exit status; the stderr is shown on failure
#   has FILE PATTERN DESCRIPTION    a test that passes when FILE matches PATTERN (grep)
# $fail is 1 once any test failed: end the script with `exit $fail`.
n=0
fail=0

ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
expect() {
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
