#!/usr/bin/env bash
# The shipping build: what `make release`, `make release-webhook`, `make release-audit` and the
# image's Dockerfile run, so the image carries exactly the binaries built here.
#
#   scripts/build-release.sh [--out DIR] verifier|webhook|audit|emulator...
#
# Profile `release` (fat LTO, one codegen unit, size-optimised), each package in its own cargo
# invocation: built together, cargo unifies the features their dependencies are built with, so
# kube-rs' would reach the verifier. The verifier must fit its budget of 8 MB (8,000,000 bytes,
# as bench/ counts): checked here, on the binary built here. --out DIR copies the binaries
# there (the Dockerfile's stage output). Tests, the demo and the benchmarks' peers run the
# `release-test` profile instead (Cargo.toml), which skips the link-time optimisation.
set -euo pipefail
cd "$(dirname "$0")/.."

VERIFIER_BUDGET_BYTES=8000000
out=
if [[ ${1:-} == --out ]]; then
  out=${2:?--out needs a folder}
  shift 2
fi
[[ $# -gt 0 ]] || { echo "build-release.sh: name what to build: verifier, webhook, audit, emulator" >&2; exit 2; }

target=${CARGO_TARGET_DIR:-target}/release
for part in "$@"; do
  case $part in
    verifier) package=gke-aws-verifier binaries=(gke-aws-verifier) ;;
    webhook) package=gke-aws-webhook binaries=(gke-aws-webhook) ;;
    audit) package=gke-aws-audit binaries=(gke-aws-audit) ;;
    emulator) package=gke-metadata-emulator binaries=(gke-metadata-emulator gke-cluster-issuer aws-sts-gate) ;;
    *) echo "build-release.sh: unknown part '$part' (verifier, webhook, audit, emulator)" >&2; exit 2 ;;
  esac
  echo "==> cargo build --release --locked -p $package"
  cargo build --release --locked -p "$package" --bins
  if [[ $part == verifier ]]; then
    size=$(stat -c %s "$target/gke-aws-verifier")
    if ((size > VERIFIER_BUDGET_BYTES)); then
      echo "build-release.sh: the verifier is $size bytes, over its budget of $VERIFIER_BUDGET_BYTES (8 MB): see what grew with 'cargo bloat' or 'cargo tree -p gke-aws-verifier -e normal'" >&2
      exit 1
    fi
    echo "    gke-aws-verifier: $size bytes, within its budget of $VERIFIER_BUDGET_BYTES"
  fi
  if [[ -n $out ]]; then
    for binary in "${binaries[@]}"; do install -D -m 0755 "$target/$binary" "$out/$binary"; done
  fi
done
