# train-tap.sh: what the ponder train end-to-end scripts on the bundled model share, sourced
# after `set -u`: the ponder binary, the bundled model, a scratch folder (removed at exit)
# holding the store and the temporary files, the built plugins on the search path, and the
# TAP checks of tap.sh, with skip_all COUNT WHY to skip a whole plan.
top=$(cd "${top_builddir:-.}" && pwd)
ponder=$top/ponder
model=${top_srcdir:-.}/models/ponder-tiny.gguf
plugins=$top/tests/plugins/.libs
PONDER_PLUGIN_PATH=$top/plugins/.libs
export PONDER_PLUGIN_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PONDER_DB=$tmp/train.db
TMPDIR=$tmp
export PONDER_DB TMPDIR
. "$(cd "${top_srcdir:-.}" && pwd)/tests/tap.sh"

skip_all() {
    i=1
    while [ $i -le "$1" ]; do echo "ok $i # SKIP $2"; i=$((i + 1)); done
    exit 0
}
