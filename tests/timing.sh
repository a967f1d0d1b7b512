#!/usr/bin/env bash
# Where `make test`'s time goes: each target's compile time apart from its test time.
#
#   tests/timing.sh reset                          forget what was recorded
#   tests/timing.sh run TARGET compile|test CMD... run CMD, record its wall time, keep its exit code
#   tests/timing.sh table                          print the table of what was recorded
#
# Records go to TIMING_DIR (default .cache/timing). `make test` resets first and prints the
# table last, so CI's log ends with it.
set -euo pipefail
dir=${TIMING_DIR:-.cache/timing}

case ${1:-} in
  reset)
    rm -rf "$dir"
    mkdir -p "$dir"
    ;;
  run)
    [[ $# -ge 4 && ($3 == compile || $3 == test) ]] || { echo "timing.sh run TARGET compile|test CMD..." >&2; exit 2; }
    target=$2 phase=$3
    shift 3
    mkdir -p "$dir"
    start=$(date +%s%N)
    rc=0
    "$@" || rc=$?
    printf '%s\t%s\t%s\t%s\n' "$target" "$phase" "$(( ($(date +%s%N) - start) / 1000000 ))" "$rc" >>"$dir/log"
    exit "$rc"
    ;;
  table)
    [[ -s $dir/log ]] || { echo "timing: nothing recorded in $dir" >&2; exit 0; }
    awk -F '\t' '
      function secs(ms) { return sprintf("%d:%02d", int(ms / 60000), int(ms / 1000) % 60) }
      !($1 in seen) { seen[$1] = 1; order[++n] = $1 }
      { t[$1, $2] += $3; total[$2] += $3 }
      END {
        printf "\n==> where the time went (wall time, min:s)\n"
        printf "| %-20s | %8s | %8s | %8s |\n", "target", "compile", "test", "total"
        printf "|%s|%s|%s|%s|\n", "----------------------", "---------:", "---------:", "---------:"
        for (i = 1; i <= n; i++) {
          k = order[i]
          printf "| %-20s | %8s | %8s | %8s |\n", k, secs(t[k, "compile"]), secs(t[k, "test"]), secs(t[k, "compile"] + t[k, "test"])
        }
        printf "| %-20s | %8s | %8s | %8s |\n", "all", secs(total["compile"]), secs(total["test"]), secs(total["compile"] + total["test"])
      }' "$dir/log"
    ;;
  *)
    echo "usage: timing.sh reset | run TARGET compile|test CMD... | table" >&2
    exit 2
    ;;
esac
