#!/usr/bin/env bash
# `make bench-webhook`: the injection webhook's benchmark (bench/webhook_bench.py) with the
# project's Python tools. Needs the release binaries (make release).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$repo/${VENV:-.venv}/bin:$PATH"
exec python bench/webhook_bench.py
