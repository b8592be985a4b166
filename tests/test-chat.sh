#!/bin/sh
# test-chat.sh: ponder chat driven by a script (stdin not a terminal) and through tmux (a
# terminal): replies, turns in the store, multi-turn context and the KV cache kept between turns,
# slash commands, the folded thoughts, and the history file.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
sock=$tmp/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
fail=0
plan=32

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
# chat DB INPUT [OPTIONS...]: run a chat with INPUT on stdin; $tmp/out, $tmp/err, $rc.
chat() {
    db=$1; input=$2; shift 2
    printf '%s' "$input" | "$ponder" chat -m "$model" --db "$db" -t 2 --temp 0 -n 10 "$@" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 0 ] || sed 's/^/# /' "$tmp/err"
}

echo "1..$plan"
"$ponder" chat >/dev/null 2>"$tmp/err"
[ $? = 2 ]; ok $? "chat without a model is a usage error"
has "$tmp/err" "no model" "and says a model is missing"
"$ponder" chat -m x.gguf --think maybe >/dev/null 2>&1
[ $? = 2 ]; ok $? "--think takes on, off or auto"
"$ponder" chat --help >"$tmp/out" 2>&1
has "$tmp/out" "keep-thinking" "chat --help describes the options"

if [ ! -f "$model" ]; then
    while [ $n -lt $plan ]; do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit 0
fi

# Two user lines from a script: two replies, both turns in the store, in one session.
db=$tmp/a.db
chat "$db" 'My name is Ada.
What is my name?
/quit
' --precise
ok $rc "two lines from a script and /quit (exit $rc)"
[ "$(grep -c . "$tmp/out")" -ge 2 ]; ok $? "two replies are printed"
! grep -q '»' "$tmp/out"; ok $? "no prompt is printed for a script"
cp "$tmp/out" "$tmp/both"
"$ponder" sessions show 1 --db "$db" >"$tmp/show" 2>&1
[ "$(grep -c '^» user' "$tmp/show")" = 2 ] && [ "$(grep -c '^» assistant' "$tmp/show")" = 2 ]
ok $? "both turns and both replies are in the store"
awk '/My name is Ada/ { a = NR } /What is my name/ { b = NR } END { exit !(a && b && a < b) }' \
    "$tmp/show"
ok $? "in one session, in order"
if grep -q Ada "$(sed -n 2p "$tmp/both" >"$tmp/r2"; echo "$tmp/r2")"; then
    ok 0 "the second reply knows the name (Ada)"
else
    # The small model may not answer; the context must still hold the first turn: the same
    # conversation opened from the store in a fresh process gives the same second reply, and
    # the question alone gives another.
    chat "$tmp/b.db" 'My name is Ada.
' --precise
    chat "$tmp/b.db" '/open 1
What is my name?
' --precise
    tail -n 1 "$tmp/out" >"$tmp/r2open"
    cmp -s "$tmp/r2" "$tmp/r2open"
    ok $? "the second reply is the one the stored conversation gives (context kept across turns)"
fi
chat "$tmp/c.db" 'What is my name?
' --precise
cmp -s "$tmp/r2" "$tmp/out"
[ $? != 0 ]; ok $? "asked alone, the question gets another reply (the first turn was in context)"

# Slash commands.
chat "$db" '/help
/frobnicate
Hello.
/title Ada and the model
' --no-log
ok $rc "/help, an unknown command, a message (exit $rc)"
has "$tmp/out" "/fork" "/help lists the commands"
has "$tmp/err" "unknown command '/frobnicate'" "an unknown command is named"
[ "$(grep -vc -e '^/' -e '^Ctrl-C' -e '^line that' -e 'title' "$tmp/out")" -ge 1 ]
ok $? "and the chat goes on: the next line is answered"
"$ponder" sessions list --db "$db" >"$tmp/list"
[ "$(grep -c . "$tmp/list")" = 2 ]; ok $? "--no-log records nothing"

chat "$db" 'Hello.
/title Ada and the model
/sessions
'
"$ponder" sessions list --db "$db" >"$tmp/list"
has "$tmp/list" "Ada and the model" "/title renames the session (sessions list shows it)"
has "$tmp/out" "Ada and the model" "/sessions lists it too"

chat "$db" 'Tell me about cats.
/regen
'
[ "$(grep -c . "$tmp/out")" = 2 ] && [ "$(sed -n 1p "$tmp/out")" = "$(sed -n 2p "$tmp/out")" ]
ok $? "/regen at temperature 0 gives the same reply again (cache cut back and reused)"
"$ponder" sessions show 3 --db "$db" >"$tmp/show"
[ "$(grep -c '^» assistant' "$tmp/show")" = 2 ]; ok $? "the regenerated reply is a turn of its own"

chat "$db" '/open 1
/fork 3
/sessions
'
has "$tmp/out" "forked from session 1" "/fork starts a new session from the current one"
"$ponder" sessions list --db "$db" >"$tmp/list"
has "$tmp/list" "(fork)" "the fork is in the store"
fid=$(awk '/\(fork\)/ { print $1; exit }' "$tmp/list")
"$ponder" sessions show "${fid:-0}" --db "$db" >"$tmp/show"
has "$tmp/show" "^\[3 tokens" "its last reply is cut at token 3"
chat "$db" '/open 1
/fork 999
/open 999
'
grep -q "cannot cut" "$tmp/err" && grep -q "no session 999" "$tmp/err"
ok $? "/fork past the reply's end and /open of a missing session say why"

# Thoughts: r1-think opens <think> for the model; off shows only the fold line.
chat "$tmp/t.db" 'Why is the sky blue?
' --template r1-think --think off
has "$tmp/out" "▸ thought .* s · 10 tokens" "--think off prints the fold line"
[ "$(grep -c . "$tmp/out")" = 1 ]; ok $? "and not the thoughts"
"$ponder" sessions show 1 --full --db "$tmp/t.db" >"$tmp/show"
[ "$(sed -n '/<think>/,/<\/think>/p' "$tmp/show" | grep -c .)" -ge 3 ]
ok $? "the thoughts are in the store"

# A terminal: tmux.
if ! command -v tmux >/dev/null 2>&1; then
    while [ $n -lt $plan ]; do skip "tmux is not installed"; done
    exit $fail
fi
mkdir -p "$tmp/state"
abs_ponder=$(cd "$(dirname "$ponder")" && pwd)/$(basename "$ponder")
env -u TMUX tmux -S "$sock" new-session -d -x 100 -y 30 -s chat \
    "env XDG_STATE_HOME='$tmp/state' TERM=xterm '$abs_ponder' chat -m '$model' --db '$tmp/tty.db' -t 2 --temp 0 -n 8; echo EXIT=\$?; sleep 60"
# wait_for PATTERN SECONDS: until the pane shows PATTERN.
wait_for() {
    i=0
    while [ $i -lt $(($2 * 5)) ]; do
        tmux -S "$sock" capture-pane -p -t chat >"$tmp/pane" 2>/dev/null
        grep -q -- "$1" "$tmp/pane" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    sed 's/^/# pane: /' "$tmp/pane"
    return 1
}
wait_for '^»' 60; ok $? "on a terminal the prompt appears"
tmux -S "$sock" send-keys -t chat 'Hello there' Enter
# The reply: a line of text after the one typed, then the prompt again.
replied() {
    awk '/^» Hello there/ { f = 1; next } f && /./ && !/^»/ { r = 1 } f && /^»/ && r { found = 1 }
        END { exit !found }' "$tmp/pane"
}
i=0
until replied || [ $i -ge 300 ]; do
    sleep 0.2
    i=$((i + 1))
    tmux -S "$sock" capture-pane -p -t chat >"$tmp/pane"
done
replied || sed 's/^/# pane: /' "$tmp/pane"
replied
ok $? "a reply streams and the prompt comes back"
tmux -S "$sock" send-keys -t chat 'half a line' C-c
sleep 0.5
tmux -S "$sock" send-keys -t chat '/title typed' Enter
wait_for 'title: typed' 10; ok $? "Ctrl-C at the prompt clears the line; the next one works"
tmux -S "$sock" send-keys -t chat C-d
wait_for 'EXIT=0' 20; ok $? "Ctrl-D leaves (exit 0)"
grep -q "Hello.040there" "$tmp/state/ponder/history" 2>/dev/null
ok $? "the history is saved under \$XDG_STATE_HOME/ponder/history"
exit $fail
