#!/usr/bin/env bash
# `make bench`: starts moto and the metadata emulator on free loopback ports, seeds moto,
# runs bench/bench.py against them, and stops everything on exit.
# The benchmark reports; it does not assert: it exits 0 whatever the figures.
# Env: BENCH_RUNS (runs per case, default 20), VENV (default .venv).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$repo/${VENV:-.venv}/bin:$PATH"

verifier="$repo/target/release/gke-aws-verifier"
emulator="$repo/target/release/gke-metadata-emulator"
for bin in "$verifier" "$emulator"; do
  [[ -x "$bin" ]] || { echo "bench: $bin is missing; run make release" >&2; exit 1; }
done
command -v moto_server >/dev/null || { echo "bench: moto_server is not on PATH; run make venv" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/gke-aws-bench.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (up to 30 s) for a line matching $2 in file $1 and prints its port.
wait_for_port() {
  local file=$1 pattern=$2 what=$3 port=""
  for _ in $(seq 300); do
    port="$(grep -oE "$pattern" "$file" 2>/dev/null | head -1 | grep -oE '[0-9]+$' || true)"
    [[ -n "$port" ]] && { echo "$port"; return; }
    sleep 0.1
  done
  echo "bench: $what did not start; its log:" >&2
  cat "$file" >&2
  exit 1
}

echo "==> starting moto and the metadata emulator" >&2
moto_server -H 127.0.0.1 -p 0 >"$work/moto.log" 2>&1 &
pids+=($!)
"$emulator" --listen 127.0.0.1:0 >"$work/emulator.out" 2>"$work/emulator.log" &
pids+=($!)
moto_port="$(wait_for_port "$work/moto.log" 'Running on http://127\.0\.0\.1:[0-9]+' moto)"
metadata_port="$(wait_for_port "$work/emulator.out" 'listening on 127\.0\.0\.1:[0-9]+' 'the metadata emulator')"

export BENCH_MOTO="http://127.0.0.1:$moto_port"
export BENCH_METADATA_HOST="127.0.0.1:$metadata_port"
export BENCH_BUCKET=bench-bucket
export BENCH_WORK="$work"
export BENCH_VERIFIER="$verifier"
echo "==> seeding moto at $BENCH_MOTO (bucket $BENCH_BUCKET, role bench-reader)" >&2
BENCH_ROLE_ARN="$(python bench/seed_moto.py "$BENCH_MOTO" "$BENCH_BUCKET" bench-reader)"
export BENCH_ROLE_ARN

python bench/bench.py
