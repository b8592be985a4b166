#!/bin/sh
# test-config.sh: the configuration file ($PONDER_CONFIG, else $XDG_CONFIG_HOME/ponder/config,
# else ~/.config/ponder/config): its settings are the defaults of ponder run and ponder chat, the
# flags override them, a bad line is a warning naming FILE:LINE while the rest still applies, and
# a missing or unreadable file changes nothing.
set -u
ponder=${top_builddir:-.}/ponder
model=${PONDER_TEST_MODEL:-${top_srcdir:-.}/tests/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset PONDER_DB XDG_CONFIG_HOME
n=0
fail=0

ok() { # ok COND-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
expect() { # expect STATUS DESCRIPTION -- CMD...: CMD exits with STATUS; its stderr is in $tmp/err
    want=$1; desc=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ]; ok $? "$desc (exit $got, want $want)"
    [ "$got" = "$want" ] || sed 's/^/# /' "$tmp/err"
}
has() { grep -q -- "$2" "$1"; ok $? "$3"; }
sessions() { # sessions DB: how many sessions DB lists
    "$ponder" sessions list --db "$1" | awk 'NR > 1' | wc -l | tr -d ' '
}

echo "1..24"
# Without a model: the db setting, where the file is looked for, and bad lines.
printf '# where the sessions go\ndb = %s\n' "$tmp/cfg.db" >"$tmp/db.conf"
PONDER_CONFIG=$tmp/db.conf "$ponder" sessions list >/dev/null 2>"$tmp/err"
[ -f "$tmp/cfg.db" ]; ok $? "db in the configuration is the database sessions use"
PONDER_CONFIG=$tmp/db.conf PONDER_DB=$tmp/env.db "$ponder" sessions list >/dev/null 2>&1
[ -f "$tmp/env.db" ]; ok $? "PONDER_DB wins over the configuration's db"
mkdir -p "$tmp/xdg/ponder" "$tmp/home/.config/ponder"
printf 'db = %s\n' "$tmp/xdg.db" >"$tmp/xdg/ponder/config"
printf 'db = ~/home.db\n' >"$tmp/home/.config/ponder/config"
(unset PONDER_CONFIG; XDG_CONFIG_HOME=$tmp/xdg HOME=$tmp/home "$ponder" sessions list >/dev/null 2>&1)
[ -f "$tmp/xdg.db" ]; ok $? "\$XDG_CONFIG_HOME/ponder/config is read"
(unset PONDER_CONFIG; HOME=$tmp/home "$ponder" sessions list >/dev/null 2>&1)
[ -f "$tmp/home/home.db" ]; ok $? "else ~/.config/ponder/config (and ~/ in db is the home folder)"
printf 'db = %s\ntemp = hot\nfrobnicate = 1\njust words\nthink = maybe\n' "$tmp/bad.db" >"$tmp/bad.conf"
expect 0 "a configuration with bad lines does not stop a command" -- \
    env PONDER_CONFIG="$tmp/bad.conf" "$ponder" sessions list
has "$tmp/err" "bad.conf:2: temp: 'hot'" "a bad value: a warning naming file:line and the value"
has "$tmp/err" "bad.conf:3: unknown key 'frobnicate'" "an unknown key: a warning naming file:line"
has "$tmp/err" "bad.conf:4: " "a line that is not key = value: a warning"
[ -f "$tmp/bad.db" ]; ok $? "and the good lines still apply"
expect 0 "a missing configuration is fine" -- env PONDER_CONFIG="$tmp/nope.conf" PONDER_DB="$tmp/s.db" "$ponder" sessions list
expect 0 "an unreadable configuration (a folder) is fine" -- env PONDER_CONFIG="$tmp" PONDER_DB="$tmp/s.db" "$ponder" sessions list
has "$tmp/err" "cannot read the configuration" "and says it could not be read"

if [ ! -f "$model" ]; then
    for i in $(seq 13 24); do skip "no test model (run tests/fetch-model or set PONDER_TEST_MODEL)"; done
    exit $fail
fi

db=$tmp/run.db
printf 'log = off\n' >"$tmp/nolog.conf"
expect 0 "run with log = off" -- env PONDER_CONFIG="$tmp/nolog.conf" "$ponder" run -m "$model" -p "Say hi." --temp 0 -n 4 -q --db "$db"
[ "$(sessions "$db")" = 0 ]; ok $? "log = off: the run is not logged"
expect 0 "run --log with log = off" -- env PONDER_CONFIG="$tmp/nolog.conf" "$ponder" run -m "$model" -p "Say hi." --temp 0 -n 4 -q --log --db "$db"
[ "$(sessions "$db")" = 1 ]; ok $? "--log overrides log = off"
printf 'Say hi.\n' | PONDER_CONFIG=$tmp/nolog.conf "$ponder" chat -m "$model" --temp 0 -n 4 --db "$db" >/dev/null 2>&1
[ "$(sessions "$db")" = 1 ]; ok $? "ponder chat honours log = off too"

# The sampler: the configuration's settings are the defaults, the flags win.
PONDER_CONFIG=/dev/null "$ponder" run -m "$model" -p "Tell me a story." --temp 0 -n 12 -q -t 2 --no-log >"$tmp/greedy" 2>/dev/null
printf 'temp = 0\nthreads = 2\n' >"$tmp/greedy.conf"
PONDER_CONFIG=$tmp/greedy.conf "$ponder" run -m "$model" -p "Tell me a story." -n 12 -q --no-log >"$tmp/a" 2>/dev/null
cmp -s "$tmp/greedy" "$tmp/a"; ok $? "temp = 0 in the configuration: the greedy reply"
printf 'temp = 100\ntop-k = 0\ntop-p = 1\nmin-p = 0\nseed = 3\n' >"$tmp/hot.conf"
PONDER_CONFIG=$tmp/hot.conf "$ponder" run -m "$model" -p "Tell me a story." --temp 0 -n 12 -q -t 2 --no-log >"$tmp/b" 2>/dev/null
cmp -s "$tmp/greedy" "$tmp/b"; ok $? "--temp 0 overrides temp = 100 in the configuration"
PONDER_CONFIG=$tmp/hot.conf "$ponder" run -m "$model" -p "Tell me a story." -n 12 -q -t 2 --no-log >"$tmp/c" 2>/dev/null
! cmp -s "$tmp/greedy" "$tmp/c"; ok $? "while temp = 100 alone gives another reply"

# A bad line warns with file:line, the run works, and the lines after it still apply.
printf 'threads = 2\ntemp = hot\nlog = off\n' >"$tmp/badrun.conf"
expect 0 "run with a bad line in the configuration" -- env PONDER_CONFIG="$tmp/badrun.conf" "$ponder" run -m "$model" -p "Say hi." --temp 0 -n 4 -q --db "$tmp/bad-run.db"
has "$tmp/err" "badrun.conf:2: temp" "the warning names file:line"
[ "$(sessions "$tmp/bad-run.db")" = 0 ]; ok $? "and log = off on the next line still applies"

# Colour: always even piped; never.
"$ponder" run -m "$model" -p "Say hi." --temp 0 -n 4 -q --db "$tmp/c.db" >/dev/null 2>&1
printf 'color = always\n' >"$tmp/color.conf"
PONDER_CONFIG=$tmp/color.conf "$ponder" sessions show 1 --db "$tmp/c.db" >"$tmp/shown" 2>&1
grep -q "$(printf '\033')" "$tmp/shown"; ok $? "color = always: colour even when piped"
exit $fail
