#!/usr/bin/env bash
# Offline checks of terraform/: fmt, init+validate, terraform test (plan + moto apply),
# README tables, the end-to-end moto tests (IAM enforcement; the root with google stand-ins;
# identity-mode switches),
# the google schema check, checkov.
# Called by `make test` from the repo root with the venv's bin on PATH. A missing tool fails.
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
HERE=tests/terraform
TF_DIR=terraform
MIRROR=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

for tool in terraform python moto_server checkov; do
  command -v "$tool" >/dev/null || die "$tool not on PATH (terraform: /usr/local/bin; the rest: .venv/bin via 'make venv')"
done

WORK=$(mktemp -d)
STATIC=
cleanup() {
  peers_stop
  if [[ -n $STATIC ]]; then kill "$STATIC" 2>/dev/null || true; wait "$STATIC" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

terraform_cli_config "$WORK/cli.tfrc"
if [[ -d "$MIRROR" ]]; then echo "providers: filesystem mirror $MIRROR"; else echo "providers: registry (no $MIRROR)"; fi
export TF_CLI_CONFIG_FILE="$WORK/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# One copy of each provider for all the inits below.
export TF_PLUGIN_CACHE_DIR="$WORK/plugin-cache"
mkdir -p "$TF_PLUGIN_CACHE_DIR"

step "1. terraform fmt -check -recursive $TF_DIR"
terraform fmt -check -recursive -diff "$TF_DIR"

step "1b. README inputs/outputs tables match the code (tests/terraform/tfdocs.py)"
python "$HERE/tfdocs.py" --check "$TF_DIR"
python "$HERE/test_tfdocs.py"
echo "-- the AWS provider floors (OIDC provider without thumbprint_list: 5.81; minified_json: 5.49)"
python "$HERE/test_provider_floor.py"
# Steps 5 and 6 read the source and write nothing: they run beside steps 2-4 (terraform and
# moto leave a core idle about a third of the time), their output kept for the end.
SOURCE_DIR=$TF_DIR
static_checks() {
  step "5. google_* blocks against the google provider schema (cdktn-provider-google)"
  python "$HERE/check_google_schema.py" "$SOURCE_DIR"
  python "$HERE/test_check_google_schema.py"

  step "6. checkov, each configuration (offline)"
  # One directory at a time: checkov drops count = 0 resources, so scanning only the root
  # (create_cluster = false) would hide the cluster resources inside the modules.
  while IFS= read -r dir; do
    echo "-- $dir"
    checkov -d "$dir" --framework terraform --skip-download --quiet --compact
  done < <(find "$SOURCE_DIR" -name '*.tf' -not -path '*/.terraform/*' -not -path '*/tests/*' -printf '%h\n' | sort -u)
}
static_checks >"$WORK/static.log" 2>&1 &
STATIC=$!

# The rest runs on a copy: init would leave .terraform/ folders in the source tree, with
# links into this run's plugin cache that dangle once it is gone.
cp -r "$TF_DIR" "$WORK/tf"
find "$WORK/tf" \( -name .terraform -o -name .terraform.lock.hcl \) -prune -exec rm -rf {} +
TF_DIR="$WORK/tf"

step "2. terraform init + validate, every configuration whose providers are all available"
# The mirror holds hashicorp/aws only, so configurations using google are covered by step 5.
mirrored=$(find "$MIRROR" -mindepth 3 -maxdepth 3 -type d -printf '%P\n' 2>/dev/null || true)
validated=0
while IFS= read -r dir; do
  needs=$(cat "$dir"/*.tf | grep -oE 'source *= *"[a-z0-9-]+/[a-z0-9-]+"' | grep -oE '[a-z0-9-]+/[a-z0-9-]+' | sort -u || true)
  # Local module calls pull in the modules' providers too.
  for mod in $(cat "$dir"/*.tf | grep -oE 'source *= *"\.[^"]*"' | grep -oE '"\.[^"]*"' | tr -d '"'); do
    needs+=$'\n'$(cat "$dir/$mod"/*.tf | grep -oE 'source *= *"[a-z0-9-]+/[a-z0-9-]+"' | grep -oE '[a-z0-9-]+/[a-z0-9-]+' || true)
  done
  missing=
  if [[ -d "$MIRROR" ]]; then
    for p in $(echo "$needs" | sort -u); do
      grep -qx "registry.terraform.io/$p" <<<"$mirrored" || missing+=" $p"
    done
  fi
  if [[ -n "$missing" ]]; then
    # Only google may be missing: step 5 checks its blocks. Anything else is a gap.
    [[ "$missing" == " hashicorp/google" ]] || die "$dir needs$missing, which is not in $MIRROR"
    echo "-- $dir: not validated, hashicorp/google is not in the mirror (schema-checked in step 5)"
    continue
  fi
  echo "-- $dir"
  terraform -chdir="$dir" init -backend=false -input=false -no-color >"$WORK/init.log" || { cat "$WORK/init.log"; die "init $dir"; }
  terraform -chdir="$dir" validate -no-color
  validated=$((validated + 1))
done < <(find "$TF_DIR" -name '*.tf' -not -path '*/.terraform/*' -printf '%h\n' | sort -u)
[[ $validated -gt 0 ]] || die "no configuration validated"

step "3. terraform test, every module with tests/ (plan assertions, validations, apply on moto)"
peer_start "$WORK/moto.log" moto_server -H 127.0.0.1 -p 0
MOTO_PORT=$(peer_port "$WORK/moto.log" moto_server "Running on http://")
echo "moto_server on 127.0.0.1:$MOTO_PORT"
tested=0
while IFS= read -r dir; do
  echo "-- $dir"
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" terraform -chdir="$dir" test -no-color
  tested=$((tested + 1))
done < <(find "$TF_DIR/modules" -name '*.tftest.hcl' -printf '%h\n' | xargs -n1 dirname | sort -u)
[[ $tested -ge 5 ]] || die "expected terraform tests in at least 5 modules, found $tested"
peers_stop

step "4. end to end on moto with IAM enforcement: assume the roles, prove S3 allow/deny"
python "$HERE/test_e2e_moto.py"
echo "-- the root configuration, google modules replaced by stand-ins, both identity modes"
python "$HERE/test_root_on_moto.py"
echo "-- a workload switched between the identity modes, one apply each; state from the two role modules moved"
python "$HERE/test_mode_switch_on_moto.py"
echo "-- examples/demo with the cluster-issuer mode on, laid out as scripts/demo.sh does"
python "$HERE/test_demo_example_on_moto.py"

# Steps 5 and 6, started before step 2, end here: their output, then their verdict.
echo
cat "$WORK/static.log"
wait "$STATIC" || die "steps 5-6 (google schema, checkov) failed: see above"
STATIC=

printf '\nterraform checks: all passed\n'
