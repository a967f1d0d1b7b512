#!/usr/bin/env bash
# Runs an overlay in the cluster (behind `make verify` and `make smoke`).
#
#   scripts/verify-job.sh [verify]   prove the chain once: create the verify Job under a unique
#                                    name, poll its conditions until Complete or Failed (or the
#                                    timeout), print the verifier's report, delete the Job
#   scripts/verify-job.sh smoke      deploy the smoke-test CronJob, which proves it every 15 min
#
# Both first render the overlay, say which namespace mode it is in, and deploy the standing
# resources (APPLY=1, the default):
#   application mode (the default of `make k8s-config`): the namespace and the KSA are the
#     application's. Only the verifier's own objects are applied (ConfigMap, NetworkPolicy
#     selecting its pods); the KSA, which must exist, gets its AWS identity annotations with
#     `kubectl annotate --overwrite`: the role and the GSA or the mode (for the verifier's Job,
#     from its ConfigMap's data), and the audience and named roles (for the application's pods,
#     through the injection webhook: from the ConfigMap's annotation
#     gke-aws-verifier/ksa-annotations, which `make k8s-config` writes). No other field of the
#     KSA changes, no label is added, and nothing here ever creates, applies or deletes it.
#   dedicated mode (the overlay renders a Namespace and a ServiceAccount, from the component
#     dedicated-namespace): this repository owns both, and applies them.
#
# Exit status: 0 access proven (or deployed); the verifier's own exit code when it failed (what
# each means: `gke-aws-verifier --help`, docs/verify.md#exit-codes); 1 when the
# Job failed without a verifier exit code (deadline exceeded, image pull, ...); 124 on timeout;
# 2 on a bad setting here, a placeholder image or a missing application KSA.
#
# Environment:
#   OVERLAY       kustomization to run (default k8s/overlays/example; `make k8s-config` writes them)
#   KUBE_CONTEXT  kubectl context (default: the current one)
#   NAMESPACE     override the overlay's namespace (default: the overlay's)
#   TIMEOUT       seconds to wait for the Job (default 240; the Job's own deadline is 180)
#   POLL          seconds between two reads of the Job's conditions (default 2)
#   APPLY         1 (default): deploy the standing resources first; 0: they are deployed otherwise
#   KEEP_JOB      1: leave the Job and its pod for inspection (its TTL removes it after 30 minutes)
#   OVERWRITE_ANNOTATIONS  1: replace a different value the application's KSA already has
#   KUBECTL       kubectl binary (default kubectl)
set -euo pipefail

ACTION=${1:-verify}
OVERLAY=${OVERLAY:-k8s/overlays/example}
KUBE_CONTEXT=${KUBE_CONTEXT:-}
NAMESPACE=${NAMESPACE:-}
TIMEOUT=${TIMEOUT:-240}
POLL=${POLL:-2}
APPLY=${APPLY:-1}
KEEP_JOB=${KEEP_JOB:-0}
OVERWRITE_ANNOTATIONS=${OVERWRITE_ANNOTATIONS:-0}
KUBECTL=${KUBECTL:-kubectl}

say() { echo "$ACTION: $*" >&2; }
die() { say "$2"; exit "$1"; }

[[ "$ACTION" == verify || "$ACTION" == smoke ]] || die 2 "usage: verify-job.sh [verify|smoke], not '$ACTION'"
[[ $# -le 1 ]] || die 2 "usage: verify-job.sh [verify|smoke]"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die 2 "TIMEOUT must be a whole number of seconds, not '$TIMEOUT'"
[[ "$POLL" =~ ^[0-9]+$ ]] || die 2 "POLL must be a whole number of seconds, not '$POLL'"
[[ -f "$OVERLAY/kustomization.yaml" ]] || die 2 "no kustomization at OVERLAY=$OVERLAY (run make k8s-config, or set OVERLAY)"
command -v "$KUBECTL" >/dev/null || die 2 "$KUBECTL not found on PATH"

# Every call that reaches the cluster is bounded: a hung API server fails this script, not hangs it.
kc=("$KUBECTL" --request-timeout=60s)
[[ -n "$KUBE_CONTEXT" ]] && kc+=(--context "$KUBE_CONTEXT")

# A name nobody else uses: time to the second plus randomness (Job names end up in a 63-character label).
job="gke-aws-verifier-verify-$(date -u +%Y%m%d%H%M%S)-$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 5 || true)"
work=$(mktemp -d)
ns=""
created=0

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local status=$?
  if [[ "$created" == 1 ]]; then
    if [[ "$KEEP_JOB" == 1 ]]; then
      say "kept job/$job in namespace $ns (KEEP_JOB=1)"
    else
      say "deleting job/$job"
      "${kc[@]}" -n "$ns" delete job "$job" --ignore-not-found --wait=false >/dev/null ||
        say "could not delete job/$job; its ttlSecondsAfterFinished removes it"
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Render the overlay with the Job renamed: a throwaway kustomization on top of it.
overlay_rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$OVERLAY" "$work")
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  [[ -n "$NAMESPACE" ]] && echo "namespace: $NAMESPACE"
  echo "resources:"
  echo "  - $overlay_rel"
  echo "patches:"
  echo "  - target:"
  echo "      kind: Job"
  echo "      labelSelector: app.kubernetes.io/component=verify"
  echo "    patch: |-"
  echo "      - op: replace"
  echo "        path: /metadata/name"
  echo "        value: $job"
} >"$work/kustomization.yaml"
say "rendering $OVERLAY"
"${kc[@]}" kustomize "$work" >"$work/rendered.yaml"

# One line per rendered object, fields split by '|'. `annotate --local` reads the file and prints
# without a cluster (no context, no API call): a YAML reader that kubectl already is.
"$KUBECTL" annotate --local -f "$work/rendered.yaml" gke-aws-verifier/render=local -o jsonpath='{.kind}{"|"}{.metadata.name}{"|"}{.metadata.namespace}{"|"}{.spec.template.spec.serviceAccountName}{"|"}{.data.AWS_ROLE_ARN}{"|"}{.data.VERIFY_EXPECTED_GSA}{"|"}{.spec.template.spec.volumes[?(@.name=="gke-aws-token")].name}{"|"}{.spec.template.spec.containers[*].image}{.spec.jobTemplate.spec.template.spec.containers[*].image}{"|"}{.metadata.annotations.gke-aws-verifier/ksa-annotations}{"\n"}' \
  >"$work/objects" || die 2 "could not read the render of $OVERLAY"
ksa="" role_arn="" gsa="" cluster="" dedicated=0 images=() webhook_pairs=""
# The annotations last: an audience may hold a '|', and read gives the last field the rest.
while IFS='|' read -r kind name namespace sa arn expected_gsa token_volume image ksa_annotations; do
  case "$kind" in
    Job) [[ "$name" == "$job" ]] && { ns=$namespace; ksa=$sa; cluster=$token_volume; } ;;
    ConfigMap) [[ -n "$arn" ]] && { role_arn=$arn; gsa=$expected_gsa; webhook_pairs=$ksa_annotations; } ;;
    Namespace | ServiceAccount) dedicated=1 ;;
  esac
  read -ra pod_images <<<"$image"
  images+=("${pod_images[@]}")
done <"$work/objects"
[[ -n "$ns" && -n "$ksa" ]] || die 2 "the render of $OVERLAY has no namespaced Job labelled app.kubernetes.io/component=verify with a serviceAccountName"
[[ -n "$role_arn" ]] || die 2 "the render of $OVERLAY has no ConfigMap with AWS_ROLE_ARN"
for image in "${images[@]}"; do
  [[ "$image" != REGISTRY/* ]] || die 2 "the overlay still uses the placeholder image $image: push the image (make image IMAGE=...) and write the overlay with it: make k8s-config IMAGE=<repository>@sha256:<digest>"
done
# The application pods' annotations (KEY=VALUE, space-separated), checked before any call: only
# these keys, so an edited overlay cannot make this script change another part of the KSA.
webhook_annotations=()
read -ra pairs <<<"$webhook_pairs"
((${#pairs[@]} <= 21)) || die 2 "the render of $OVERLAY: the ConfigMap's annotation gke-aws-verifier/ksa-annotations has ${#pairs[@]} entries, at most 21 (the audience, 10 named roles and their regions); run make k8s-config again"
for pair in "${pairs[@]}"; do
  key=${pair%%=*}
  if [[ "$pair" != *=?* ]] || ! [[ "$key" =~ ^(amazonaws\.com/audience|gke-aws-verifier/(role|region)\.[A-Za-z0-9_-]{1,56})$ ]]; then
    die 2 "the render of $OVERLAY: the ConfigMap's annotation gke-aws-verifier/ksa-annotations has '${pair:0:120}': expected KEY=VALUE with KEY amazonaws.com/audience, gke-aws-verifier/role.NAME or gke-aws-verifier/region.NAME; run make k8s-config again"
  fi
  for seen in "${webhook_annotations[@]}"; do
    [[ "${seen%%=*}" != "$key" ]] || die 2 "the render of $OVERLAY: the ConfigMap's annotation gke-aws-verifier/ksa-annotations names $key twice; run make k8s-config again"
  done
  webhook_annotations+=("$pair")
done

if [[ "$dedicated" == 1 ]]; then
  say "dedicated mode: this overlay owns namespace $ns and KSA $ksa, and applies them"
else
  say "application mode: only the verifier's own objects go to namespace $ns; the application's KSA $ksa gets $((2 + ${#webhook_annotations[@]})) annotations, nothing else"
fi

# The verify Job never goes with the standing resources; the smoke CronJob only with `smoke`.
standing='app.kubernetes.io/component notin (verify,smoke)'
[[ "$ACTION" == smoke ]] && standing='app.kubernetes.io/component!=verify'
if [[ "$APPLY" == 1 ]]; then
  if [[ "$dedicated" == 0 ]]; then
    # The KSA's AWS identity, for the verifier and for the injection webhook: the role, and
    # either the Google service account (gsa mode) or the cluster mode (a projected token);
    # then the audience and the named roles, which the application's pods get through the webhook.
    annotations=("amazonaws.com/role-arn=$role_arn")
    if [[ -n "$cluster" ]]; then
      annotations+=("gke-aws-verifier/identity=cluster")
    elif [[ -n "$gsa" ]]; then
      annotations+=("iam.gke.io/gcp-service-account=$gsa")
    fi
    annotations+=("${webhook_annotations[@]}")
    # A different value already there is the application's choice (another Google service
    # account, another role, audience or named role): replacing it would change the
    # application's identity, so only with OVERWRITE_ANNOTATIONS=1. This read also fails,
    # naming the cause, on a missing KSA.
    for annotation in "${annotations[@]}"; do
      key=${annotation%%=*} want=${annotation#*=}
      have=$("${kc[@]}" -n "$ns" get serviceaccount "$ksa" -o jsonpath="{.metadata.annotations.${key//./\\.}}") ||
        die 2 "could not read serviceaccount/$ksa in namespace $ns: it must exist (it is the application's KSA; create it with the application), and you need get and patch rights on it"
      if [[ -n "$have" && "$have" != "$want" && "$OVERWRITE_ANNOTATIONS" != 1 ]]; then
        die 2 "serviceaccount/$ksa in namespace $ns already has $key=$have, not $want: that is the application's identity; fix Terraform's workload, or set OVERWRITE_ANNOTATIONS=1 to replace it"
      fi
    done
    say "annotating serviceaccount/$ksa in namespace $ns: ${annotations[*]}"
    # annotate sends a merge patch of these keys: it cannot create the KSA, nor change or
    # remove any other field, label or annotation (an apply of a partial KSA could).
    "${kc[@]}" -n "$ns" annotate --overwrite serviceaccount "$ksa" "${annotations[@]}" >&2 ||
      die 2 "could not annotate serviceaccount/$ksa in namespace $ns (you need patch rights on it)"
  fi
  say "applying the standing resources of $OVERLAY to namespace $ns (selector: $standing)"
  "${kc[@]}" apply -f "$work/rendered.yaml" -l "$standing" >&2
fi
if [[ "$ACTION" == smoke ]]; then
  say "the smoke-test CronJob is deployed in namespace $ns"
  exit 0
fi

say "creating job/$job in namespace $ns"
"${kc[@]}" create -f "$work/rendered.yaml" -l app.kubernetes.io/component=verify >&2
created=1

# One poll of the Job's conditions, bounded by TIMEOUT: Complete or Failed, whichever the Job
# reaches (a watch for one condition alone would sit out the timeout on the other).
say "waiting up to ${TIMEOUT}s for job/$job to complete or fail"
outcome="" last_error=""
deadline=$((SECONDS + TIMEOUT))
while :; do
  if conditions=$("${kc[@]}" -n "$ns" get job "$job" --request-timeout=10s \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}' 2>"$work/get.err"); then
    case " $conditions " in
      *" Complete "*) outcome=complete; break ;;
      *" Failed "*) outcome=failed; break ;;
    esac
  else
    # A transient API error is not a verdict: keep polling until the deadline, say why.
    last_error=$(tail -n 1 "$work/get.err")
  fi
  ((SECONDS < deadline)) || { outcome=timeout; break; }
  sleep "$POLL"
done

# The last pod's name and the verifier's exit code ("" while it runs or if it never started).
last=$("${kc[@]}" -n "$ns" get pods -l "job-name=$job" --sort-by=.metadata.creationTimestamp \
  -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.containerStatuses[?(@.name=="verifier")].state.terminated.exitCode}{"\n"}{end}' |
  tail -n 1) || last=""
pod=${last%% *}
code=${last#* }
[[ "$last" == *" "* ]] || code=""

if [[ -n "$pod" ]]; then
  say "report of pod/$pod:"
  "${kc[@]}" -n "$ns" logs "pod/$pod" -c verifier || say "no log from pod/$pod"
else
  say "the Job started no pod"
fi

case "$outcome" in
  complete)
    say "job/$job complete: access proven"
    exit 0
    ;;
  failed)
    reason=$("${kc[@]}" -n "$ns" get job "$job" \
      -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}' || true)
    say "job/$job failed (${reason:-no reason given})"
    if [[ "$code" =~ ^[0-9]+$ && "$code" != 0 ]]; then
      say "verifier exit code $code (see docs/verify.md#exit-codes; the report above has the code and the fix)"
      exit "$code"
    fi
    exit 1
    ;;
  *)
    say "timed out after ${TIMEOUT}s waiting for job/$job${last_error:+ (last error reading it: $last_error)}"
    "${kc[@]}" -n "$ns" get pods -l "job-name=$job" -o wide >&2 || true
    exit 124
    ;;
esac
