#!/usr/bin/env bash
# How long `make demo` takes a new user: a fresh `git clone` of this repository into a temporary
# folder, its own CARGO_TARGET_DIR and Python venv (nothing reused from this checkout), then
# `time make demo`, with the time of each phase (the plan prints first, then the venv, the
# build and the demo's own "PASS ... in Ns" line).
#
#   bench/demo_time.sh                   # the commit checked out here (HEAD), from this clone
#   DEMO_TIME_REF=main bench/demo_time.sh
#   DEMO_TIME_COLD=1 bench/demo_time.sh  # also an empty CARGO_HOME: the crates are downloaded too
#
# Fair only on a quiet machine: with other cargo builds running, the build phase measures them
# too. By default the cargo registry (~/.cargo/registry, the downloaded crates) is reused, so the
# figure is the compile, not the network; the compile itself is always cold (new target dir).
# The uv cache (~/.cache/uv) is reused unless DEMO_TIME_COLD=1, likewise.
# Prints the figures; bench/README.md keeps the ones measured on the reference machine.
set -euo pipefail
cd "$(dirname "$0")/.."

REF=${DEMO_TIME_REF:-HEAD}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gke-aws-demo-time.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

commit=$(git rev-parse --verify "$REF^{commit}")
echo "==> fresh clone of $(git rev-parse --show-toplevel) at $commit into $WORK/repo"
git clone --quiet --no-local "$PWD" "$WORK/repo"
git -C "$WORK/repo" checkout --quiet "$commit"

export CARGO_TARGET_DIR=$WORK/target
if [[ -n ${DEMO_TIME_COLD:-} ]]; then
  export CARGO_HOME=$WORK/cargo-home UV_CACHE_DIR=$WORK/uv-cache
  mkdir -p "$CARGO_HOME"
fi
# The user's PATH, without this checkout's venv: the clone builds its own.
PATH=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$PWD/.venv/bin" | paste -sd:)
export PATH

echo "==> time make demo (CARGO_TARGET_DIR=$CARGO_TARGET_DIR, $(nproc) cores)"
since() { awk -v now="$EPOCHREALTIME" -v start="$start" 'BEGIN { printf "%.1f", now - start }'; }
start=$EPOCHREALTIME
# Each output line with the seconds since the start, so the phases can be read off.
set +e
make -C "$WORK/repo" demo 2>&1 | while IFS= read -r line; do
  printf '%7s  %s\n' "$(since)" "$line"
done | tee "$WORK/demo.log"
rc=${PIPESTATUS[0]}
set -e
total=$(since)

phase() { grep -m1 -F -- "$1" "$WORK/demo.log" | awk '{print $1}'; }
venv_done=$(phase '==> cargo build --profile release-test')
demo_start=$(phase '==> [1/13]')
echo
minus() { if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a - b }'; else echo '?'; fi; }
echo "make demo: exit $rc, $total s in all"
echo "  plan + Python tools (venv-demo): ${venv_done:-?} s"
echo "  cargo build (release-test):      $(minus "$demo_start" "$venv_done") s"
echo "  the demo (13 steps):             $(minus "$total" "$demo_start") s"
exit "$rc"
