#!/usr/bin/env bash
# `make bench`: starts moto and the metadata emulator on free loopback ports, seeds moto,
# runs bench/bench.py against them, and stops everything on exit.
# The benchmark reports; it does not assert: it exits 0 whatever the figures.
# Env: BENCH_RUNS (runs per case, default 20), VENV (default .venv).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
export PATH="$repo/${VENV:-.venv}/bin:$PATH"

verifier="${CARGO_TARGET_DIR:-$repo/target}/release/gke-aws-verifier"
# The peer is not what is measured: the release-test build serves.
emulator="${CARGO_TARGET_DIR:-$repo/target}/release-test/gke-metadata-emulator"
for bin in "$verifier" "$emulator"; do
  [[ -x "$bin" ]] || { echo "bench: $bin is missing; run make release release-test" >&2; exit 1; }
done
command -v moto_server >/dev/null || { echo "bench: moto_server is not on PATH; run make venv" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/gke-aws-bench.XXXXXX")"
cleanup() {
  peers_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting moto and the metadata emulator" >&2
peer_start "$work/moto.log" moto_server -H 127.0.0.1 -p 0
moto_port="$(peer_port "$work/moto.log" moto "Running on http://")"
peer_start "$work/emulator.log" "$emulator" --listen 127.0.0.1:0
metadata_port="$(peer_port "$work/emulator.log" 'the metadata emulator' "listening on ")"

export BENCH_MOTO="http://127.0.0.1:$moto_port"
export BENCH_METADATA_HOST="127.0.0.1:$metadata_port"
export BENCH_BUCKET=bench-bucket
export BENCH_WORK="$work"
export BENCH_VERIFIER="$verifier"
echo "==> seeding moto at $BENCH_MOTO (bucket $BENCH_BUCKET, role bench-reader)" >&2
BENCH_ROLE_ARN="$(python bench/seed_moto.py "$BENCH_MOTO" "$BENCH_BUCKET" bench-reader)"
export BENCH_ROLE_ARN

python bench/bench.py
