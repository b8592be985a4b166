#!/bin/sh
# test-tui-train.sh: the workbench's training view (F3) driven through tmux: a finished run's
# curves and their labels; a run launched from the view appears, grows and finishes, its
# metrics in the store; a longer run stopped with x is stored as stopped; quitting while a run
# is live asks, and yes leaves it running detached; a 20x6 terminal, resizes and NO_COLOR.
set -u
ponder=${top_builddir:-.}/ponder
model=$(cd "${top_srcdir:-.}" && pwd)/models/ponder-tiny.gguf
tmp=$(mktemp -d)
sock=$tmp/tmux.sock
# Runs started from the view live in their own sessions: a check that fails midway must not
# leave one training. They are the processes whose command line names this test's folder.
reap() {
    for f in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' <"$f" 2>/dev/null | grep -q "train grpo .*$tmp/" || continue
        p=${f#/proc/}
        kill "${p%/cmdline}" 2>/dev/null
    done
}
trap 'tmux -S "$sock" kill-server 2>/dev/null; reap; rm -rf "$tmp"' EXIT
n=0
fail=0
plan=27

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
has() { grep -q -- "$2" "$1"; ok $? "$3"; }

echo "1..$plan"
if ! command -v tmux >/dev/null 2>&1; then
    while [ $n -lt $plan ]; do skip "tmux is not installed"; done
    exit 0
fi
if [ ! -f "$model" ]; then
    while [ $n -lt $plan ]; do skip "no models/ponder-tiny.gguf"; done
    exit 0
fi
abs_ponder=$(cd "$(dirname "$ponder")" && pwd)/$(basename "$ponder")
mkdir -p "$tmp/state" "$tmp/config" "$tmp/data"
envs="XDG_STATE_HOME='$tmp/state' XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' TERM=xterm-256color"
db=$tmp/train.db
tiny="--task countdown --group 2 --prompts-per-step 1 --max-completion 16"

. "${top_srcdir:-.}/tests/tui-lib.sh"
# status RUN: the run's status as the store has it (ponder train show's first line).
status() { "$ponder" train show "$1" --db "$db" 2>/dev/null | head -1 | awk '{print $4}'; }
# launch NAME ARGS: t, the line emptied, ARGS typed, Enter.
launch() {
    keys "$1" t
    wait_for "$1" "train grpo " 5 >/dev/null
    keys "$1" C-u
    keys "$1" -l " $2"   # a blank first: tmux would read a leading -m as its own flag
    keys "$1" Enter
}

# ---- a finished run's curves ----
"$ponder" train grpo -m "$model" $tiny --steps 3 -o "$tmp/first.gguf" --db "$db" \
    >"$tmp/first.log" 2>&1
ok $? "a 3-step run to look at"
start view 120 40 -m "'$model'" --db "'$db'"
wait_for view "watch a model think" 30
keys view F3
wait_for view "training runs · 1 " 10; ok $? "F3 opens the training view with the stored run"
has "$tmp/pane" "1  grpo  done  *3/3" "the run's row: id, kind, status, steps"
has "$tmp/pane" "reward  ━━ mean  ╍╍ accuracy" "the reward chart, with its legend"
has "$tmp/pane" "length (tokens)  ━━ completion  ╍╍ think" "the length chart"
has "$tmp/pane" "zero-variance groups" "the zero-variance chart"
has "$tmp/pane" "none logged (--beta 0)" "the KL chart says why it is empty"
has "$tmp/pane" "└1─*3" "the x axis spans steps 1 to 3"
grep -q "⣀⣀\|⠉⠉" "$tmp/pane"; ok $? "the curves are drawn in braille"
keys view F1
wait_for view "F3 *training: runs" 5; ok $? "the help lists F3 from the key table"
keys view x
keys view Escape
wait_for view "watch a model think" 5; ok $? "Esc leaves the view"
keys view F3

# ---- a run launched from the view ----
launch view "-m '$model' $tiny --steps 3 -o '$tmp/launched.gguf'"
# a loaded machine may finish these 3 steps between two looks at the child: then the view's first
# word of it is that it finished
wait_for view "started run 2\|run 2 finished" 60; ok $? "t launches a run: the view says it started"
wait_for view "run 2 finished" 240; ok $? "and that it finished"
has "$tmp/pane" "2  grpo  done  *3/3" "its row shows it done after 3 steps"
"$ponder" train show 2 --db "$db" >"$tmp/show" 2>&1
[ "$(grep -c '^ *[0-9]  ' "$tmp/show")" = 3 ]; ok $? "its 3 steps of metrics are in the store"
[ -f "$tmp/launched.gguf" ]; ok $? "it wrote the model it was told to"
grep -l "^run 2:" "$tmp"/state/ponder/train-*.log >/dev/null 2>&1
ok $? "its output is in a log under the state folder"

# ---- a longer run stopped with x ----
launch view "-m '$model' $tiny --steps 200 -o '$tmp/long.gguf'"
wait_for view "started run 3" 60
wait_for view "run 3 · grpo · running · step [1-9]" 120; ok $? "a longer run's curves grow"
keys view x
wait_for view "run 3 stopped" 120; ok $? "x stops it and the view says so"
[ "$(status 3)" = stopped ]; ok $? "the store has it stopped"

# ---- quitting while a run is live ----
launch view "-m '$model' $tiny --steps 200 -o '$tmp/detached.gguf'"
wait_for view "started run 4" 60
keys view C-q
wait_for view "quit, leaving run 4 training? (y/n)" 5; ok $? "quitting with a live run asks first"
keys view n Enter
keys view C-q
keys view y Enter
wait_for view "EXIT=0" 10; ok $? "yes quits"
has "$tmp/view.err" "run 4 goes on (pid" "and says the run goes on, and its pid"
pid=$(sed -n 's/.*goes on (pid \([0-9]*\).*/\1/p' "$tmp/view.err" | head -1)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; ok $? "the run outlives the workbench"
[ -n "$pid" ] && kill -INT "$pid"
i=0
while [ "$(status 4)" = running ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(status 4)" = stopped ]; ok $? "kill -INT stops it as x does"

# ---- a small terminal, resizes, NO_COLOR ----
tui_env=NO_COLOR=1 start tiny 20 6 -m "'$model'" --db "'$db'"
sleep 3
keys tiny F3
i=0
while [ $i -lt 40 ]; do
    tmux -S "$sock" resize-window -t tiny -x $((12 + i * 7 % 90)) -y $((3 + i * 5 % 30)) 2>/dev/null
    sleep 0.05
    i=$((i + 1))
done
tmux -S "$sock" resize-window -t tiny -x 100 -y 30
wait_for tiny "━━ mean" 10; ok $? "after 20x6 and forty resizes the view draws its charts (NO_COLOR)"
! grep -q "EXIT=" "$tmp/pane"; ok $? "and the workbench is still there"

[ "$n" = "$plan" ] || { echo "# ran $n checks, planned $plan"; fail=1; }
exit $fail
