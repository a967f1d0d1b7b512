#!/usr/bin/env bash
# Supply-chain checks, offline:
#   1. Cargo.lock is committed and current (root workspace and the fuzz/ project);
#   2. cargo deny: licences, banned and duplicate crates, sources (deny.toml).
# The RustSec advisory check is NOT run: this machine and CI cannot reach its database
# (only the package registries are reachable).
# Where the network allows it, run `cargo deny check advisories` by hand.
#
# Needs cargo-deny (`cargo install cargo-deny --locked`; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny.sh: cargo-deny is not installed; install it with: cargo install cargo-deny --locked" >&2
  exit 1
fi

passed=0
failed=0
check() {
  local name=$1; shift
  if "$@" >/dev/null; then
    echo "    ok: $name"
    passed=$((passed + 1))
  else
    echo "    FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

echo "==> lock files committed and up to date"
# Neither lock may be git-ignored (an application commits its lock). In CI's fresh clone,
# --locked below also fails on a lock that was never committed: cargo would have to create it.
# git check-ignore exits 1 for "not ignored"; 0 is "ignored", 128 or 127 mean git failed.
not_ignored() {
  local rc=0
  git check-ignore -q -- "$1" || rc=$?
  [[ "$rc" == 1 ]] || { echo "    git check-ignore $1 exited $rc (0: ignored; 127/128: git failed)" >&2; return 1; }
}
for lock in Cargo.lock fuzz/Cargo.lock; do
  check "$lock is not git-ignored" not_ignored "$lock"
done
# --locked fails if a manifest asks for something its Cargo.lock does not pin (a stale lock).
check "Cargo.lock matches the workspace manifests" \
  cargo metadata --locked --format-version 1
check "fuzz/Cargo.lock matches fuzz/Cargo.toml" \
  cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml

echo "==> cargo deny check licenses bans sources (advisories skipped: offline)"
check "cargo deny (deny.toml)" \
  cargo deny --locked --log-level warn --config deny.toml check licenses bans sources

echo "==> dependencies of the verifier (normal, Linux): $(cargo tree --locked -p gke-aws-verifier -e normal --prefix none \
  | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | wc -l) crates"

echo "supply-chain: ${passed} passed, ${failed} failed"
((failed == 0))
