#!/bin/sh
# test-tui.sh: the workbench (ponder tui) driven through tmux, asserting on the screen and on the
# database afterwards: thoughts stream and fold, the fold line counts them, toggling, the help,
# Ctrl-C and "answer now", the token inspector and routing heatmap on an MoE model, aha flags with
# their evidence, annotations made with keys, replay, the sessions view and search, a 20x6
# terminal, a resize storm while streaming, NO_COLOR, a truncated model and a corrupt database.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
sock=$tmp/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
fail=0
plan=61

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
hasnt() { ! grep -q -- "$2" "$1"; ok $? "$3"; }

echo "1..$plan"
"$ponder" tui </dev/null >"$tmp/out" 2>"$tmp/err"
[ $? = 2 ]; ok $? "tui without a terminal is a usage error"
has "$tmp/err" "needs a terminal" "and says it needs a terminal"
"$ponder" tui --think maybe >/dev/null 2>&1
[ $? = 2 ]; ok $? "--think takes auto, open or folded"
"$ponder" tui --help >"$tmp/out" 2>&1
has "$tmp/out" "F1" "tui --help points to the key list"

if ! command -v tmux >/dev/null 2>&1; then
    while [ $n -lt $plan ]; do skip "tmux is not installed"; done
    exit $fail
fi
if [ ! -f "$model" ]; then
    while [ $n -lt $plan ]; do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit $fail
fi
abs_ponder=$(cd "$(dirname "$ponder")" && pwd)/$(basename "$ponder")
mkdir -p "$tmp/state" "$tmp/config" "$tmp/data"
envs="XDG_STATE_HOME='$tmp/state' XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' TERM=xterm-256color"
db=$tmp/tui.db

. "${top_srcdir:-.}/tests/tui-lib.sh"
export_db() { "$ponder" sessions export --all --db "$1" >"$tmp/export" 2>&1; }

# ---- a model that cannot be loaded, a corrupt database ----
head -c 3000000 "$model" >"$tmp/trunc.gguf"
start trunc 80 24 -m "'$tmp/trunc.gguf'"
wait_for trunc "EXIT=1" 10; ok $? "a truncated model: the workbench does not open, exit status 1"
grep -q "past end of file" "$tmp/trunc.err"; ok $? "and the message says the file is cut short"
head -c 4096 /dev/urandom >"$tmp/corrupt.db"
cp "$tmp/corrupt.db" "$tmp/corrupt.orig"
start corrupt 100 24 -m "'$model'" --db "'$tmp/corrupt.db'"
wait_for corrupt "not logging" 20; ok $? "a corrupt database: the workbench opens and says it is not logging"
keys corrupt C-q
wait_for corrupt "EXIT=0" 10; ok $? "Ctrl-Q quits with status 0"
cmp -s "$tmp/corrupt.db" "$tmp/corrupt.orig"; ok $? "the corrupt database is left as it was"

# ---- thoughts stream, fold, count ----
start chat 100 30 -m "'$model'" --db "'$db'" -t 2 --temp 0 -n 48 --template r1-think
wait_for chat "watch a model think" 20; ok $? "the workbench opens with its welcome"
keys chat F1
wait_for chat "ponder · keys" 5; ok $? "F1 shows the key list"
has "$tmp/pane" "stop thinking now" "which lists the answer-now key"
keys chat x
wait_for chat "watch a model think" 5; ok $? "any key closes the help"
keys chat "What is 7 times 8?" Enter
wait_for chat "▾ thinking" 20; ok $? "the thoughts stream in an open block"
wait_for chat "▸ thought" 30; ok $? "and fold to one line when they end"
export_db "$db"
n_think=$(grep -o '"n_think":[0-9]*' "$tmp/export" | tail -1 | cut -d: -f2)
grep -q "▸ thought [0-9.]* s · $n_think tok" "$tmp/pane"; ok $? "the fold line counts the $n_think thought tokens the store has"
first=$(grep -o '"think":"[^"\\]\{1,12\}' "$tmp/export" | tail -1 | cut -d'"' -f4)
keys chat Tab Enter
wait_for chat "▾ thought" 5; ok $? "Enter on the turn unfolds the thoughts"
grep -qF -- "$first" "$tmp/pane"; ok $? "and shows their text"
keys chat z
wait_for chat "▸ thought" 5; ok $? "z folds all of them again"
keys chat r
wait_for chat "alternatives" 5; ok $? "r opens the token inspector with the alternatives"
has "$tmp/pane" "logprob" "and the token's log-probability"
has "$tmp/pane" "dense model" "and says why a dense model has no routing"

# Ctrl-C stops a reply and keeps it; Ctrl-T closes the thoughts and makes the model answer.
keys chat r i
start long 100 30 -m "'$model'" --db "'$db'" -t 2 --temp 0 -n 400 --template r1-think
wait_for long "watch a model think" 20
keys long "Count to fifty." Enter
wait_for long "▾ thinking" 20
keys long C-c
wait_for long "partial reply is kept" 10; ok $? "Ctrl-C stops the reply and says it is kept"
export_db "$db"
grep -q '"stop":"canceled"' "$tmp/export"; ok $? "the stopped turn is stored as canceled"
start answer 100 30 -m "'$model'" --db "'$tmp/answer.db'" -t 2 --temp 0 -n 400 --template r1-think
wait_for answer "watch a model think" 20
keys answer "Count to fifty." Enter
wait_for answer "▾ thinking" 20
keys answer C-t
# greedy, this prompt keeps SmolLM2 thinking past 400 tokens: answering means Ctrl-T closed it
wait_for answer "answering" 20; ok $? "Ctrl-T closes the thoughts"
# "the model answers now" shows for 6 s, which a loaded machine can miss: what lasts is the
# store, where answer tokens (segment 1) follow the closing tag
i=0
until export_db "$tmp/answer.db" && grep -q '"segment":1' "$tmp/export" || [ $i -ge 150 ]; do
    sleep 0.2
    i=$((i + 1))
done
grep -q '"segment":1' "$tmp/export"; ok $? "and the model answers"
keys answer C-c
i=0
# the closing tag is stored as it streams, the stop when the worker ends: wait for both (a
# loaded machine may reach -n before Ctrl-C arrives: then the stop is the length)
until export_db "$tmp/answer.db" && grep -q '</think>' "$tmp/export" &&
    grep -q '"stop":"\(canceled\|length\)"' "$tmp/export" || [ $i -ge 300 ]; do
    sleep 0.2
    i=$((i + 1))
done
grep -q '"stop":"\(canceled\|length\)"' "$tmp/export"
ok $? "the continued turn is stored whole, stopped by Ctrl-C (or by -n)"
grep -q '</think>' "$tmp/export"; ok $? "the stored reply has the closing tag it was given"
if ! grep -q '"stop":"\(canceled\|length\)"' "$tmp/export"; then
    screen answer
    sed 's/^/# screen: /' "$tmp/pane" | grep -v '^# screen: *$'
    grep '"type":"turn"' "$tmp/export" | cut -c1-300 | sed 's/^/# store: /'
    echo "# tokens stored: $(grep -c '"type":"token"' "$tmp/export")"
    sed 's/^/# tui.log: /' "$tmp/state/ponder/tui.log" 2>/dev/null | tail -5
fi

# ---- an MoE model: the heatmap, layers, the expert load ----
"$ponder" model synth --arch deepseek2 layers=5 experts=16 -q -o "$tmp/moe.gguf" 2>/dev/null
start moe 120 34 -m "'$tmp/moe.gguf'" --db "'$db'" -t 2 --temp 0 -n 24
wait_for moe "watch a model think" 20
keys moe "hello" Enter
wait_for moe "tok/s" 20
sleep 1.5
keys moe Tab r l l
wait_for moe "gate weights" 5; ok $? "an MoE model's token shows its gate-weight heatmap"
has "$tmp/pane" "▀" "drawn in half-block cells"
has "$tmp/pane" "router entropy" "with the router's entropy"
keys moe "]"
wait_for moe "layer 2" 5; ok $? "] moves to the next MoE layer"
keys moe r
wait_for moe "expert load" 5; ok $? "the load panel shows the expert load of the turn"
keys moe q
wait_for moe "EXIT=0" 10; ok $? "q in the transcript quits"
# the device options are chat's: the same model split over two in-process devices
start split 120 34 -m "'$tmp/moe.gguf'" --db "'$db'" -t 2 --temp 0 -n 24 --gpus 2 --split expert
wait_for split "watch a model think" 20
keys split "hello" Enter
wait_for split "tok/s" 20
sleep 1.5
keys split Tab r l l
wait_for split "gate weights" 5; ok $? "--gpus 2 --split expert: the split model's tokens show their routing"
keys split q

# ---- the mouse, and a turn with nothing to copy: the first stored turn (thoughts only) ----
# SGR mouse reports (what ncurses asks an xterm-256color for): press M, release m, 1-based x;y
click() {
    tmux -S "$sock" send-keys -t "$1" -l "$(printf '\033[<0;%d;%dM' "$2" "$3")"
    tmux -S "$sock" send-keys -t "$1" -l "$(printf '\033[<0;%d;%dm' "$2" "$3")"
    sleep 0.3
}
fold_row() { grep -n "$2 thought" "$tmp/pane" | head -1 | cut -d: -f1; }
# y must reach the transcript, not the input line: a session opened with --session starts
# there, and a click may have moved the focus; Tab only where the input line has it ("» ")
to_transcript() { screen "$1"; tail -1 "$tmp/pane" | grep -q '^»' && keys "$1" Tab; }
start mouse 100 30 -m "'$model'" --db "'$db'" -t 2 --session 1
wait_for mouse "▸ thought" 20
click mouse 6 "$(fold_row mouse ▸)"
wait_for mouse "▾ thought" 5; ok $? "a click on the fold line opens the thoughts"
click mouse 6 "$(fold_row mouse ▾)"
wait_for mouse "▸ thought" 5; ok $? "and a second click folds them"
to_transcript mouse
keys mouse y
wait_for mouse "nothing to copy: the answer" 5
ok $? "a turn without an answer: y says so, the clipboard is left alone"
keys mouse q

# ---- a stored trace with an aha moment: flags, annotations, replay, sessions ----
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
pos=0 think="" answer="" toks=""
add() { # SEGMENT ENTROPY TEXT: one token
    toks="$toks{\"type\":\"token\",\"turn\":1,\"pos\":$pos,\"id\":$((100 + pos)),\"bytes\":\"$(hex "$3")\",\"segment\":$1,\"logprob\":-0.5,\"entropy\":$2,\"t\":$((pos / 20)).$((pos % 20 * 5 / 10))$((pos % 20 * 5 % 10)),\"routing\":null}
"
    pos=$((pos + 1))
    case $1 in 0) think="$think$3" ;; 1) answer="$answer$3" ;; esac
}
for w in "Let" " me" " add" " the" " numbers" " step" " by" " step" "." " First" "," \
         " 12" " plus" " 3" " =" " 15" "." " So" " the" " total" " is" " 15" "."; do
    add 0 0.4 "$w"
done
add 0 3.6 " Wait"
for w in "," " I" " misread" ":" " it" " is" " 12" " plus" " 4" " =" " 16" "."; do add 0 0.5 "$w"; done
add 2 0.1 "</think>"
for w in "The" " answer" " is" " 16" "."; do add 1 0.3 "$w"; done
{
    echo '{"type":"session","format":1,"title":"adding twelve","created":1796000000000,"updated":1796000000000,"forked_from_session":null,"forked_from_token":null,"model_path":null,"model_size":null,"model_sha256":null,"model_arch":null,"model_name":null,"model_n_params":null}'
    echo '{"type":"turn","seq":0,"role":"user","text":"What is 12 plus 4?","think":null,"answer":null,"sampler":null,"n_think":null,"n_answer":null,"n_tag":null,"ttft":null,"think_s":null,"total_s":null,"stop":null,"created":1796000000000}'
    # the thoughts open with a blank no token wrote, as when the template opened <think>
    printf '{"type":"turn","seq":1,"role":"assistant","text":"\\n%s</think>%s","think":"\\n%s","answer":"%s","sampler":null,"n_think":36,"n_answer":5,"n_tag":1,"ttft":0.05,"think_s":35.0,"total_s":42.0,"stop":"eog","created":1796000000000}\n' \
        "$think" "$answer" "$think" "$answer"
    printf '%s' "$toks"
} >"$tmp/aha.jsonl"
adb=$tmp/aha.db
"$ponder" sessions import --db "$adb" "$tmp/aha.jsonl" >/dev/null
start aha 110 30 --db "'$adb'" --session 1
wait_for aha "thought [0-9.]* s · 36 tok · 1 aha" 10; ok $? "a stored trace with a re-check shows one aha flag on its fold line"
keys aha Enter
wait_for aha "⚑" 5; ok $? "unfolded, the flag marks its line in the gutter"
keys aha s
wait_for aha "▁▁▁" 5
row=$(grep -n "Let me add" "$tmp/pane" | head -1 | cut -d: -f1)
sed -n "$((${row:-0} + 1))p" "$tmp/pane" | grep -q '^  ▁▁▁'
ok $? "s draws the sparkline under the stored thoughts, token by token"
keys aha s
keys aha n
wait_for aha "cue+entropy+answer-changed" 5; ok $? "n jumps to the flag and shows its evidence"
has "$tmp/pane" "answer 15 → 16" "including the answer that changed"
keys aha a
wait_for aha "confirmed" 5
export_db "$adb"
grep -q '"value":"aha:confirmed"' "$tmp/export"; ok $? "a confirms the flag, stored as an annotation"
keys aha v l l L
keys aha "recheck" Enter
keys aha = 
keys aha "16" Enter
wait_for aha "gold “16”" 5; ok $? "the gold answer shows under the turn"
export_db "$adb"
grep -q '"kind":"label","value":"recheck","span_from":23,"span_to":25' "$tmp/export"; ok $? "a label on a selected span is in the database"
grep -q '"kind":"gold","value":"16"' "$tmp/export"; ok $? "the gold answer is in the database"
keys aha R
wait_for aha "replay: 42 tokens" 5; ok $? "R replays the turn"
wait_for aha "replay done" 15; ok $? "which plays to the end"
keys aha ,
wait_for aha "stepping from token 41 of 42" 5; ok $? ", after the end steps back into the turn"
keys aha R
tmux -S "$sock" set-option -g set-clipboard on
keys aha y
wait_for aha "copied the answer" 5; ok $? "y copies the answer"
[ "$(tmux -S "$sock" show-buffer 2>/dev/null)" = "The answer is 16." ]
ok $? "which reaches tmux's paste buffer through OSC 52, without the template's newlines"
keys aha Y
wait_for aha "copied the thoughts" 5
tmux -S "$sock" show-buffer 2>/dev/null | grep -q "^Let me add the numbers step by step.*16\.$"
ok $? "Y copies the thoughts"
keys aha F2
wait_for aha "adding twelve" 5; ok $? "F2 lists the sessions"
keys aha / 
keys aha "misread" Enter
wait_for aha "thought: " 5; ok $? "/ searches inside the thoughts"
keys aha Enter
wait_for aha "1 aha" 5; ok $? "Enter opens the hit's session"

# ---- small and changing terminals ----
start tiny 20 6 -m "'$model'" --db "'$db'" -t 2 --temp 0 -n 64 --template r1-think
sleep 2
keys tiny "Why is the sky blue?" Enter
sleep 3
screen tiny
! grep -q "EXIT=" "$tmp/pane"; ok $? "a 20x6 terminal streams a reply without dying"
start storm 100 30 -m "'$model'" --db "'$db'" -t 2 --temp 0 -n 120 --template r1-think
wait_for storm "watch a model think" 20
keys storm "Tell me about the moon." Enter
i=0
while [ $i -lt 40 ]; do
    tmux -S "$sock" resize-window -t storm -x $((20 + i * 7 % 90)) -y $((6 + i * 5 % 30)) 2>/dev/null
    sleep 0.05
    i=$((i + 1))
done
tmux -S "$sock" resize-window -t storm -x 100 -y 30
wait_for storm "▸ thought" 30; ok $? "after forty resizes while streaming the reply ends and folds"
keys storm C-q
wait_for storm "EXIT=0" 10; ok $? "and the workbench quits cleanly"
start small 100 30 -m "'$model'" --db "'$db'" -t 2 -c 48
wait_for small "watch a model think" 20
keys small "Please summarize the whole history of the Roman Empire from its founding to its fall, with every emperor, every war, and every important date along the way, in great detail." Enter
wait_for small "no longer fits" 10; ok $? "a prompt longer than the context: a clear message, nothing sent"
start nocolor 100 30 -m "'$model'" --db "'$db'" -t 2
tmux -S "$sock" kill-window -t nocolor
env -u TMUX tmux -S "$sock" new-window -d -n nocolor \
    "env $envs NO_COLOR=1 '$abs_ponder' tui -m '$model' --db '$db' -t 2 --temp 0 -n 8; echo EXIT=\$?; sleep 60"
wait_for nocolor "watch a model think" 20; ok $? "NO_COLOR: the workbench opens without colours"

[ "$n" = "$plan" ] || { echo "# ran $n checks, planned $plan"; fail=1; }
exit $fail
