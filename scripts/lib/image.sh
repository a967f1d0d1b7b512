# shellcheck shell=bash
# The IMAGE check that make audit and make webhook-deploy share: sourced, then
#   image_check PROGRAM "EXAMPLE COMMAND"
# exits 2 naming IMAGE (and the example) before any call to the cluster, or sets
# image_name, image_tag and image_digest from REPOSITORY[:TAG][@sha256:DIGEST], as
# scripts/k8s_config.py reads it; a tag or a digest is required, `latest` is refused.
image_check() {
  local program=$1 example=$2
  local hint="pass the image \`make image\` pushed, e.g. $example IMAGE=europe-docker.pkg.dev/PROJECT/REPOSITORY/gke-aws-verifier@sha256:DIGEST"
  local image=${IMAGE:-}
  local bad="$program: IMAGE=$image: expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST; $hint"
  local re='^([a-z0-9][^@[:space:]:]*(:[0-9]+/[^@[:space:]:]+)?)(:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(sha256:[0-9a-f]{64}))?$'
  [[ -n "$image" ]] || { echo "$program: IMAGE: missing; $hint" >&2; exit 2; }
  [[ "$image" != REGISTRY/* ]] || { echo "$program: IMAGE=$image: REGISTRY is the placeholder, not a registry; $hint" >&2; exit 2; }
  [[ "$image" =~ $re ]] || { echo "$bad" >&2; exit 2; }
  image_name=${BASH_REMATCH[1]} image_tag=${BASH_REMATCH[4]} image_digest=${BASH_REMATCH[6]}
  [[ -n "$image_tag$image_digest" ]] || { echo "$bad" >&2; exit 2; }
  [[ -n "$image_digest" || "$image_tag" != latest ]] || { echo "$program: IMAGE: pin a tag or a digest, not latest" >&2; exit 2; }
}
