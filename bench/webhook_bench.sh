#!/usr/bin/env bash
# `make bench-webhook`: the injection webhook's benchmark (bench/webhook_bench.py) with the
# project's Python tools: the shipping binaries (make release release-webhook) against peers from
# target/release-test (make release-test). Writes bench/webhook_results.md.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$repo/${VENV:-.venv}/bin:$PATH"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python bench/webhook_bench.py | tee "$out"
{
  echo "# gke-aws-webhook benchmark: latest run"
  echo
  echo "\`make bench-webhook\` (bench/webhook_bench.sh), $(date -u +%Y-%m-%d), on $(nproc) CPUs shared with other builds."
  cat "$out"
} >bench/webhook_results.md
