#!/usr/bin/env bash
# Writes one kustomize overlay per Terraform workload, so nobody copies ARNs by hand.
#
#   scripts/k8s-config.sh [WORKLOADS_JSON]       (behind `make k8s-config`)
#
# Reads the Terraform root's `workloads` output, a map of
#   { "<name>": { "gsa_email", "role_arn", "audience", "namespace", "ksa", "aws_region", "s3_buckets", "s3_prefixes", ... } }
# from WORKLOADS_JSON if given (a file, or - for stdin; either that map or the whole
# `terraform output -json` object), else from `terraform -chdir=$TF_DIR output -json workloads`.
# For each workload it writes $OUT_DIR/<name>/ (default k8s/overlays/<name>/):
#   kustomization.yaml        base + namespace + names suffixed with -<name> + the KSA's exact name
#   config.env                the verifier's settings (merged into the base ConfigMap)
#   serviceaccount_patch.yaml the KSA's iam.gke.io/gcp-service-account and amazonaws.com/role-arn
#   workload.yaml             the KSA name, as a local-config value (not deployed)
# Environment: TF_DIR (default terraform), OUT_DIR (default k8s/overlays), IMAGE (optional,
# REPOSITORY:TAG or REPOSITORY@sha256:DIGEST, e.g. what `make image` printed), COMPONENTS
# (optional, names under k8s/components/ to add to every overlay, e.g. "pushgateway").
# Needs python3 (standard library only). Exits non-zero, naming the field, on any invalid value.
set -euo pipefail

TF_DIR=${TF_DIR:-terraform}
OUT_DIR=${OUT_DIR:-k8s/overlays}
IMAGE=${IMAGE:-}
COMPONENTS=${COMPONENTS:-}
input=${1:-}

components_dir="$(dirname "$0")/../k8s/components"
for c in $COMPONENTS; do
  [[ -f "$components_dir/$c/kustomization.yaml" ]] ||
    { echo "k8s-config: COMPONENTS: no component '$c' in k8s/components/" >&2; exit 2; }
done

if [[ -z "$input" ]]; then
  command -v terraform >/dev/null || { echo "k8s-config: terraform not found; pass the outputs as a JSON file instead" >&2; exit 2; }
  echo "k8s-config: reading terraform -chdir=$TF_DIR output -json workloads" >&2
  json=$(terraform -chdir="$TF_DIR" output -json workloads)
elif [[ "$input" == - ]]; then
  json=$(cat)
else
  [[ -r "$input" ]] || { echo "k8s-config: cannot read $input" >&2; exit 2; }
  echo "k8s-config: reading $input" >&2
  json=$(cat -- "$input")
fi

# The base directory, relative to each generated overlay (OUT_DIR/<name>/).
base_rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], os.path.join(sys.argv[2], "x")))' \
  "$(dirname "$0")/../k8s/base" "$OUT_DIR")

WORKLOADS_JSON="$json" python3 - "$OUT_DIR" "$base_rel" "$IMAGE" "$COMPONENTS" <<'PY'
import json, os, re, sys

out_dir, base_rel, image, components = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()

def fail(msg):
    sys.exit(f"k8s-config: {msg}")

try:
    data = json.loads(os.environ["WORKLOADS_JSON"])
except json.JSONDecodeError as e:
    fail(f"input is not JSON: {e}")
# Accept the whole `terraform output -json` object as well as the bare map.
if isinstance(data, dict) and isinstance(data.get("workloads"), dict) and "value" in data["workloads"]:
    data = data["workloads"]["value"]
if not isinstance(data, dict) or not data:
    fail("expected a non-empty map of workloads: { \"<name>\": { \"gsa_email\": ..., ... } }")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RULES = {  # field: (pattern, what a valid value looks like)
    "gsa_email": (r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9]+\.iam\.gserviceaccount\.com$",
                  "NAME@PROJECT.iam.gserviceaccount.com"),
    "role_arn": (r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$",
                 "arn:aws:iam::123456789012:role/NAME"),
    "audience": (r"^[\x21-\x7e]{1,256}$", "a non-empty string without spaces, e.g. sts.amazonaws.com"),
    "namespace": (DNS_LABEL.pattern, "a DNS label (lower case, digits, '-'), at most 63 characters"),
    "ksa": (r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "a DNS subdomain name, at most 253 characters"),
    "region": (r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", "an AWS region such as eu-west-1"),
    "bucket": (r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name"),
}
OPTIONAL_RULES = {  # checked when present
    "prefix": (r"^[\x21-\x7e]{1,1024}$", "an S3 key prefix without spaces, e.g. daily/"),
}
LIMITS = {"namespace": 63, "ksa": 253}
# The CronJob's name, gke-aws-verifier-smoke-<name>, may have at most 52 characters.
MAX_NAME = 52 - len("gke-aws-verifier-smoke-")

def check(name, w):
    if not DNS_LABEL.match(name) or len(name) > MAX_NAME:
        fail(f"workload name {name!r}: must be a DNS label of at most {MAX_NAME} characters")
    if not isinstance(w, dict):
        fail(f"workloads[{name!r}]: expected an object")
    w = dict(w)
    w.setdefault("audience", "sts.amazonaws.com")
    # Terraform's output names these aws_region, s3_buckets and s3_prefixes; the verifier
    # checks the first bucket, under the first prefix when the role is limited to prefixes.
    if "aws_region" in w:
        w.setdefault("region", w["aws_region"])
    if isinstance(w.get("s3_buckets"), list) and w["s3_buckets"]:
        w.setdefault("bucket", w["s3_buckets"][0])
    if isinstance(w.get("s3_prefixes"), list) and w["s3_prefixes"]:
        w.setdefault("prefix", w["s3_prefixes"][0])
    present = {field: rule for field, rule in OPTIONAL_RULES.items() if field in w}
    for field, (pattern, looks_like) in {**RULES, **present}.items():
        value = w.get(field)
        if not isinstance(value, str) or not value:
            fail(f"workloads[{name!r}].{field}: missing; expected {looks_like}")
        # fullmatch: `$` alone would let a trailing newline into config.env.
        if not re.fullmatch(pattern, value) or len(value) > LIMITS.get(field, 1024):
            fail(f"workloads[{name!r}].{field} = {value!r}: expected {looks_like}")
    return w

def image_entry(image):
    m = re.match(r"^(?P<name>[^@\s]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$", image)
    if not m or not (m["tag"] or m["digest"]):
        fail(f"IMAGE={image!r}: expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST")
    if m["tag"] == "latest":
        fail("IMAGE: pin a tag or a digest, not latest")
    lines = ["images:", "  - name: REGISTRY/gke-aws-verifier", f"    newName: {m['name']}"]
    lines.append(f"    digest: {m['digest']}" if m["digest"] else f"    newTag: \"{m['tag']}\"")
    return "\n".join(lines) + "\n"

def components_entry(components):
    components_rel = os.path.join(os.path.dirname(base_rel), "components")
    return "".join(["components:\n"] + [f"  - {components_rel}/{c}\n" for c in components]) if components else ""

HEADER = "# Generated by scripts/k8s-config.sh from Terraform's `workloads` output: do not edit,\n# run `make k8s-config` again.\n"

def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)

workloads = {name: check(name, w) for name, w in sorted(data.items())}
for name, w in workloads.items():
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "kustomization.yaml"), HEADER + f"""# Workload {name}: KSA {w['namespace']}/{w['ksa']} -> {w['gsa_email']} -> {w['role_arn']}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {w['namespace']}
# Several workloads may share a namespace: their ConfigMaps, Jobs and CronJobs must not collide.
nameSuffix: -{name}
labels:
  - pairs:
      gke-aws-verifier/workload: {name}
    includeTemplates: true
resources:
  - {base_rel}
  - workload.yaml
configMapGenerator:
  - name: gke-aws-verifier
    behavior: merge
    envs:
      - config.env
patches:
  - path: serviceaccount_patch.yaml
    target:
      kind: ServiceAccount
      name: gke-aws-verifier
# The KSA keeps Terraform's exact name (Workload Identity binds NAMESPACE/KSA): replacements run
# after nameSuffix, so they undo the suffix on the KSA and on the pods' serviceAccountName.
replacements:
  - source:
      kind: ConfigMap
      name: workload
      fieldPath: data.ksa
    targets:
      - select:
          kind: ServiceAccount
        fieldPaths:
          - metadata.name
      - select:
          kind: Job
        fieldPaths:
          - spec.template.spec.serviceAccountName
      - select:
          kind: CronJob
        fieldPaths:
          - spec.jobTemplate.spec.template.spec.serviceAccountName
""" + components_entry(components) + (image_entry(image) if image else ""))
    write(os.path.join(d, "config.env"), HEADER + "".join(f"{k}={v}\n" for k, v in [
        ("AWS_ROLE_ARN", w["role_arn"]),
        ("AWS_REGION", w["region"]),
        ("VERIFY_BUCKET", w["bucket"]),
    ] + ([("VERIFY_PREFIX", w["prefix"])] if w.get("prefix") else []) + [
        ("VERIFY_AUDIENCE", w["audience"]),
        ("VERIFY_EXPECTED_GSA", w["gsa_email"]),
    ]))
    write(os.path.join(d, "serviceaccount_patch.yaml"), HEADER + f"""apiVersion: v1
kind: ServiceAccount
metadata:
  name: gke-aws-verifier
  annotations:
    iam.gke.io/gcp-service-account: {w['gsa_email']}
    amazonaws.com/role-arn: {json.dumps(w['role_arn'])}
""")
    write(os.path.join(d, "workload.yaml"), HEADER + f"""# Values for the kustomization's replacements; local-config: kustomize never outputs it.
apiVersion: v1
kind: ConfigMap
metadata:
  name: workload
  namespace: {w['namespace']}
  annotations:
    config.kubernetes.io/local-config: "true"
data:
  ksa: {w['ksa']}
""")
    print(f"k8s-config: wrote {d}/ ({w['namespace']}/{w['ksa']} -> {w['role_arn']})", file=sys.stderr)

# Overlays written earlier for workloads that Terraform no longer outputs: say so, delete nothing.
if os.path.isdir(out_dir):
    for entry in sorted(os.listdir(out_dir)):
        k = os.path.join(out_dir, entry, "kustomization.yaml")
        if entry not in workloads and os.path.isfile(k) and open(k).read().startswith(HEADER):
            print(f"k8s-config: warning: {os.path.join(out_dir, entry)}/ is generated but no workload "
                  f"{entry!r} is in Terraform's output any more; delete it if it is gone", file=sys.stderr)
PY
