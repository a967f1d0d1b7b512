#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time.
#
#   tests/supply-chain/fuzz.sh [SECONDS] [TARGET...]
#   tests/supply-chain/fuzz.sh --build-only      build the targets, run none (make test times both apart)
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

build_only=0
if [[ ${1:-} == --build-only ]]; then build_only=1; shift; fi
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
[[ $build_only == 1 ]] && exit 0
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$(cd fuzz && realpath "${CARGO_TARGET_DIR:-target}")/$host/release

# One target: the fuzzer run as `cargo fuzz run` runs it (the binary it just built, from fuzz/).
# Its outcome goes to fuzz/logs/TARGET.status, read back below in the targets' order.
fuzz_one() {
  local target=$1 log="fuzz/logs/$1.log" dict=() start=$SECONDS rc=0
  [[ -f fuzz/dicts/$target.dict ]] && dict=(-dict="dicts/$target.dict")
  (cd fuzz && "$bin_dir/$target" "corpus/$target" "seeds/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 "${dict[@]}") >"$log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" >"fuzz/logs/$target.status"
}

# As many targets at once as there are cores: each still has a core to itself for its time.
jobs=${FUZZ_JOBS:-$(nproc)}
run_all() {
  local target running=0
  for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target" fuzz/logs
    rm -f "fuzz/logs/$target.status"
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
    echo "==> fuzzing $target for ${seconds} s"
    fuzz_one "$target" &
    running=$((running + 1))
  done
  wait
}
run_all

failed=()
for target in "${targets[@]}"; do
  log="fuzz/logs/$target.log"
  read -r rc took <"fuzz/logs/$target.status" 2>/dev/null || { rc=1 took='?'; }
  if [[ $rc == 0 ]]; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "    ok: $target: $runs inputs in $took s, corpus $(find "fuzz/corpus/$target" -type f | wc -l) files"
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
