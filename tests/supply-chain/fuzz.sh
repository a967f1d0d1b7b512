#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time.
#
#   tests/supply-chain/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60: `make fuzz`; `make test` passes a short smoke, e.g. 10).
# Each target starts from its tracked seeds (fuzz/seeds/TARGET) plus the local working
# corpus (fuzz/corpus/TARGET, git-ignored, grows between runs). A crash, a failed invariant,
# a timeout or an out-of-memory fails the run; the input is saved in fuzz/artifacts/TARGET/,
# the command to reproduce it is printed, and the whole log is in fuzz/logs/TARGET.log.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`; .ci/run installs it). On stable
# Rust, RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the -Z flags it needs (sanitizer coverage).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }

# Every target under fuzz/fuzz_targets/: a new one is smoked without editing this list.
mapfile -t all_targets < <(find fuzz/fuzz_targets -name '*.rs' -printf '%f\n' | sed 's/\.rs$//' | sort)
[[ ${#all_targets[@]} -gt 0 ]] || { echo "fuzz: no targets in fuzz/fuzz_targets" >&2; exit 1; }
targets=("${@:-${all_targets[@]}}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is not installed; install it with: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

export RUSTC_BOOTSTRAP=1
# Address sanitizer by default (cargo-fuzz's own default); FUZZ_SANITIZER=none builds faster.
sanitizer=${FUZZ_SANITIZER:-address}

# The fuzz project has its own lock file: it must be committed and current.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

echo "==> cargo fuzz build (sanitizer: $sanitizer)"
start=$SECONDS
(cd fuzz && cargo fuzz build --sanitizer "$sanitizer")
echo "    built in $((SECONDS - start)) s"

failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target" fuzz/logs
  log="fuzz/logs/$target.log"
  dict=()
  [[ -f fuzz/dicts/$target.dict ]] && dict=(-dict="dicts/$target.dict")
  echo "==> fuzzing $target for ${seconds} s"
  start=$SECONDS
  if (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 "${dict[@]}") >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "    ok: $runs inputs in $((SECONDS - start)) s, corpus $(find "fuzz/corpus/$target" -type f | wc -l) files"
  else
    echo "    FAILED: $target (log: $log)" >&2
    {
      grep -m1 -A1 "panicked at" "$log" || true
      grep -m1 -E "ERROR: libFuzzer|SUMMARY: " "$log" || true
      grep -m1 "Test unit written" "$log" || tail -n 20 "$log"
      echo "    reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>)"
    } | sed 's/^/    | /' >&2
    failed+=("$target")
  fi
done

passed=$(( ${#targets[@]} - ${#failed[@]} ))
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
