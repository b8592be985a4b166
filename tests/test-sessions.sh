#!/bin/sh
# test-sessions.sh: the session store through the ponder binary: ponder run logs its turn,
# sessions list/show/search/export/import/replay/fork/rm, annotate, refusals that leave a file
# alone, and a crash test: ponder run killed with SIGKILL at random moments, after which the
# database must pass its integrity check and hold a prefix of the tokens a complete greedy run
# produces.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset PONDER_DB
db=$tmp/s.db
n=0
fail=0
kills=50

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
expect() { # expect STATUS DESCRIPTION -- CMD...
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }

echo "1..39"
expect 0 "sessions --help" -- "$ponder" sessions --help
expect 0 "sessions list on a new database" -- "$ponder" sessions list --db "$db"
has "$tmp/out" "TITLE" "the list has its header"
expect 2 "an unknown sub-command" -- "$ponder" sessions frobnicate --db "$db"
echo "my notes" >"$tmp/notes.txt"
cp "$tmp/notes.txt" "$tmp/notes.orig"
# A location nobody may write: a read-only folder, or (root writes through permissions) sysfs.
if [ "$(id -u)" = 0 ] && [ -d /sys/kernel ]; then
    ro=/sys/ponder-test.db
else
    mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
    ro=$tmp/ro/ponder.db
fi
expect 1 "a database in a read-only location" -- "$ponder" sessions list --db "$ro"
has "$tmp/err" "cannot create the database" "says it cannot create it there"
expect 1 "a file that is not a database" -- "$ponder" sessions list --db "$tmp/notes.txt"
has "$tmp/err" "not an SQLite database" "says it is not SQLite"
cmp -s "$tmp/notes.txt" "$tmp/notes.orig"; ok $? "and leaves it as it was"
expect 0 "sessions check" -- "$ponder" sessions check --db "$db"
expect 1 "annotate a turn that does not exist" -- "$ponder" annotate 999 --label good --db "$db"
expect 2 "annotate with no annotation" -- "$ponder" annotate 1 --db "$db"

if [ ! -f "$model" ]; then
    for i in $(seq 11 37); do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit 0
fi

expect 0 "run with an unusable database still runs" -- "$ponder" run -m "$model" -p hi -n 4 -q --db "$tmp/notes.txt/x.db"
has "$tmp/err" "not logged" "and warns that the run is not logged"
expect 0 "run logs its turn" -- "$ponder" run -m "$model" -p "What is the capital of France?" --temp 0 -n 24 -q --precise --db "$db"
cp "$tmp/out" "$tmp/run.out"
expect 0 "run --no-log" -- "$ponder" run -m "$model" -p "Say hi." --temp 0 -n 4 -q --no-log --db "$db"
"$ponder" sessions list --db "$db" >"$tmp/list"
[ "$(grep -c 'capital of France' "$tmp/list")" = 1 ] && [ "$(wc -l <"$tmp/list")" = 2 ]
ok $? "one session listed, the --no-log run is not"
expect 0 "show" -- "$ponder" sessions show 1 --db "$db"
has "$tmp/out" "» assistant" "the transcript has the assistant's turn"
has "$tmp/out" "Paris" "with the answer"
expect 0 "search" -- "$ponder" sessions search Paris --db "$db"
has "$tmp/out" "in the answer" "the hit is marked as in the answer"
turn=$("$ponder" sessions show 1 --db "$db" | sed -n 's/^» assistant (turn \([0-9]*\)).*/\1/p')
expect 0 "annotate --gold" -- "$ponder" annotate "$turn" --gold Paris --span 0:3 --db "$db"
"$ponder" sessions export 1 --db "$db" >"$tmp/e1"
expect 0 "import the ponder export" -- "$ponder" sessions import "$tmp/e1" --db "$tmp/b.db"
"$ponder" sessions export 1 --db "$tmp/b.db" >"$tmp/e2"
cmp -s "$tmp/e1" "$tmp/e2"; ok $? "export -> import -> export: the same bytes"
"$ponder" sessions export --all --format trl --db "$db" >"$tmp/trl"
has "$tmp/trl" '"gold":"Paris"' "trl export carries the gold answer"
"$ponder" sessions export 1 --format openai --db "$db" >"$tmp/oa"
has "$tmp/oa" '^{"messages":\[{"role":"user"' "openai export: chat messages"
expect 0 "replay --speed 0" -- "$ponder" sessions replay 1 --speed 0 --db "$db"
grep -v '^» ' "$tmp/out" | cmp -s - "$tmp/run.out"; ok $? "replay prints the answer text the run printed"
has "$tmp/out" "^» What is the capital of France?" "replay prints the user's turn before the reply"
expect 1 "replay --turn of a turn not in the session" -- "$ponder" sessions replay 1 --turn 999 --speed 0 --db "$db"
expect 0 "fork --at 3" -- "$ponder" sessions fork 1 --at 3 --title "cut short" --db "$db"
fork=$(cat "$tmp/out")
"$ponder" sessions show "$fork" --db "$db" 2>/dev/null | grep '^\[[0-9]* tokens' | tail -n 1 >"$tmp/last"
has "$tmp/last" '^\[3 tokens' "the fork's last turn has 3 tokens"
"$ponder" sessions list --db "$db" | awk -v id="$fork" '$1 == id' >"$tmp/forked"
has "$tmp/forked" "cut short" "the fork has the title --title gave"
expect 0 "rm" -- "$ponder" sessions rm 1 --db "$db"
expect 1 "show after rm" -- "$ponder" sessions show 1 --db "$db"

# The crash test. The reference: a complete greedy run's token ids.
prompt="Write a long essay about the history of Rome."
"$ponder" run -m "$model" -p "$prompt" --temp 0 -n 120 -t 2 -q --json --no-log |
    sed -n 's/^{"index":[0-9]*,"id":\([0-9]*\).*/\1/p' >"$tmp/ref"
cdb=$tmp/crash.db
good_check=0
good_prefix=0
stored=0
i=0
while [ $i -lt $kills ]; do
    i=$((i + 1))
    delay=$(awk -v s=$i 'BEGIN { srand(s * 7919); printf "%.2f", rand() * 0.5 }')
    "$ponder" run -m "$model" -p "$prompt" --temp 0 -n 120 -t 2 -q --db "$cdb" >"$tmp/stream" 2>&1 &
    pid=$!
    # Kill while it streams: wait for its first output (loading takes longer under the
    # sanitizers), then a random moment within the next half second; every fifth run is killed
    # at once, while it is still loading or opening the store.
    if [ $((i % 5)) != 0 ]; then
        waited=0
        while [ ! -s "$tmp/stream" ] && [ $waited -lt 600 ] && kill -0 $pid 2>/dev/null; do
            sleep 0.05
            waited=$((waited + 1))
        done
        sleep "$delay"
    fi
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    "$ponder" sessions check --db "$cdb" >/dev/null 2>"$tmp/check.err" && good_check=$((good_check + 1))
    last=$("$ponder" sessions list --limit 1 --db "$cdb" | awk 'NR == 2 { print $1 }')
    if [ -z "$last" ]; then
        good_prefix=$((good_prefix + 1))   # killed before the session was created
        continue
    fi
    "$ponder" sessions export "$last" --db "$cdb" |
        sed -n 's/^{"type":"token".*"id":\([0-9]*\),"bytes".*/\1/p' >"$tmp/got"
    k=$(wc -l <"$tmp/got")
    stored=$((stored + k))
    head -n "$k" "$tmp/ref" | cmp -s - "$tmp/got" && good_prefix=$((good_prefix + 1))
done
[ $good_check = $kills ]; ok $? "after $kills kills (SIGKILL) the integrity check is ok every time ($good_check)"
[ $good_prefix = $kills ]; ok $? "and the stored tokens are a prefix of the complete run's every time ($good_prefix; $stored tokens in all)"
[ $stored -gt 0 ]; ok $? "some tokens were stored before the kills ($stored)"
exit $fail
