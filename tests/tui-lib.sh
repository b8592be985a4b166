# tui-lib.sh: driving the workbench through tmux, for the TUI tests (sourced). The caller sets
# tmp (its folder), sock (the tmux socket), abs_ponder (the binary) and envs (the environment
# every workbench gets); tui_env adds to it for one start (NO_COLOR=1).

# start NAME COLS ROWS ARGS...: the workbench in a tmux window of that size.
start() {
    name=$1 cols=$2 rows=$3
    shift 3
    if ! tmux -S "$sock" has-session 2>/dev/null; then
        env -u TMUX tmux -S "$sock" new-session -d -x 80 -y 24 -s keep "sleep 900"
    fi
    env -u TMUX tmux -S "$sock" new-window -d -n "$name" \
        "env $envs ${tui_env:-} '$abs_ponder' tui $* 2>'$tmp/$name.err'; echo EXIT=\$?; sleep 60"
    tmux -S "$sock" resize-window -t "$name" -x "$cols" -y "$rows" 2>/dev/null
}
screen() { tmux -S "$sock" capture-pane -p -t "$1" >"$tmp/pane" 2>/dev/null; }
# wait_for NAME PATTERN SECONDS: until the window shows PATTERN.
wait_for() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        screen "$1"
        grep -q -- "$2" "$tmp/pane" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    sed 's/^/# /' "$tmp/pane"
    return 1
}
keys() { name=$1; shift; tmux -S "$sock" send-keys -t "$name" "$@"; sleep 0.3; }
