#!/usr/bin/env bash
# make test-docs: the command blocks of README.md and docs/*.md run as shown (tests/docs/commands.py)
# against the emulators, started here as `make demo` starts them (scripts/lib/peers.sh):
#   1. the harness's own unit tests (tests/docs/test_doc_blocks.py);
#   2. every command block of the documents: run and compared, or marked illustrative;
#   3. the harness catches drift: a copy of README.md whose shown output names a stage the
#      binary does not print must fail, and so must docs/verify.md without its markers.
# With FILE.md arguments, step 2 checks only those files and step 3 is skipped.
# Needs the release-test build (make release-test) and the venv's moto_server, boto3, pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release-test
WORK=$(mktemp -d)
cleanup() {
  peers_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

for binary in gke-aws-verifier gke-metadata-emulator aws-sts-gate; do
  [[ -x $BIN/$binary ]] || { echo "FAIL: $BIN/$binary is missing: make release-test" >&2; exit 1; }
done
command -v moto_server >/dev/null || { echo "FAIL: moto_server is not on PATH: make venv" >&2; exit 1; }

echo "==> 1. the harness's unit tests"
python3 -m pytest -q tests/docs/test_doc_blocks.py

# Nothing of the caller's AWS or verifier setup may reach the documents' commands.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_IAM "${!VERIFY_@}" \
  HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy
peers_start_aws "$WORK" "$BIN"
# The documents' GSAs: reports-reader (its role trusts it), and the ledger GSA recreated under
# the same e-mail (a new unique id; its role still trusts the old one: docs/explain.md).
peers_start_metadata "$WORK/metadata-reports.log" "$BIN" reports-reader@my-project.iam.gserviceaccount.com \
  112233445566778899001 my-project
export DOCS_METADATA_REPORTS=127.0.0.1:$METADATA_PORT
peers_start_metadata "$WORK/metadata-ledger.log" "$BIN" ledger@acme.iam.gserviceaccount.com \
  100000000000000000002 acme
export DOCS_METADATA_LEDGER=127.0.0.1:$METADATA_PORT
export DOCS_BIN=$BIN

echo "==> 2. the documents' command blocks"
python3 tests/docs/commands.py "$@"
[[ $# -eq 0 ]] || exit 0

echo "==> 3. a shown output that no longer matches the binary fails"
drifted=$WORK/drifted.md
grep -q '^PASS sts ' README.md || { echo "FAIL: README.md has no 'PASS sts' line to alter" >&2; exit 1; }
sed 's/^PASS sts /PASS aws_sts /' README.md >"$drifted"
rc=0
python3 tests/docs/commands.py "$drifted" >"$WORK/drifted.out" 2>&1 || rc=$?
if [[ $rc -ne 1 ]] || ! grep -qF "FAIL $drifted:" "$WORK/drifted.out" || ! grep -qF -- '-PASS aws_sts' "$WORK/drifted.out"; then
  cat "$WORK/drifted.out" >&2
  echo "FAIL: a README.md whose output says 'PASS aws_sts' passed the check (exit $rc)" >&2
  exit 1
fi
echo "ok: the altered README.md fails, with the diff (exit $rc)"
# And an unmarked block that cannot run as shown: docs/verify.md without its markers.
unmarked=$WORK/unmarked.md
sed '/<!-- docs-check: illustrative/d' docs/verify.md >"$unmarked"
rc=0
python3 tests/docs/commands.py "$unmarked" >"$WORK/unmarked.out" 2>&1 || rc=$?
if [[ $rc -ne 1 ]] || ! grep -qF "FAIL $unmarked:" "$WORK/unmarked.out"; then
  cat "$WORK/unmarked.out" >&2
  echo "FAIL: docs/verify.md with its illustrative markers removed passed the check (exit $rc)" >&2
  exit 1
fi
echo "ok: docs/verify.md without its markers fails (exit $rc)"
echo "doc command checks: all passed"
