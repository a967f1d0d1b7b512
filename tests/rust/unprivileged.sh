#!/usr/bin/env bash
# The file-permission tests again, as a user file permissions apply to. Root ignores them, and
# CI runs as root: there the verifier's unit tests for the cache, secret files and the token
# file run as `nobody` (setpriv, util-linux). As any other user, `make test-rust` already ran
# them unprivileged, and this says so.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $(id -u) -ne 0 ]]; then
  echo "unprivileged: running as $(id -un), so make test-rust already ran the permission tests unprivileged"
  exit 0
fi
command -v setpriv >/dev/null || { echo "unprivileged: setpriv (util-linux) is missing" >&2; exit 1; }

# The unit-test binary of the verifier library, the one `cargo nextest run --workspace` just
# built and ran (a `cargo test -p` of its own would build the dependencies again, with other
# features).
binary=$(cargo nextest list --workspace --locked --list-type binaries-only --message-format json 2>/dev/null |
  python3 -c 'import json,sys
print(json.load(sys.stdin)["rust-binaries"]["gke-aws-verifier"]["binary-path"])')
[[ -x $binary ]] || { echo "unprivileged: no unit-test binary for gke-aws-verifier" >&2; exit 1; }

# nobody must reach the binary wherever the checkout is: run a copy from a fresh folder.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$binary" "$work/unit-tests"
chmod 755 "$work" "$work/unit-tests"
mkdir "$work/home"
chown 65534:65534 "$work/home"
echo "==> permission unit tests as nobody: credentials::cache, secret_file, credentials::token_file, identity::projected"
cd "$work"
setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin HOME="$work/home" TMPDIR="$work/home" \
  ./unit-tests --test-threads 2 credentials::cache:: secret_file:: credentials::token_file:: identity::projected:: 2>&1 | tee "$work/log" ||
  { echo "unprivileged: the permission tests failed as nobody" >&2; exit 1; }
grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$work/log" ||
  { echo "unprivileged: no permission test ran" >&2; exit 1; }
