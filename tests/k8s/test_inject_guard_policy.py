"""The guard (k8s/webhook/base/validatingadmissionpolicy-inject-guard.yaml, rendered with the real
`kubectl kustomize`): a pod CREATE that carries gke-aws-verifier/inject=true and lacks the
webhook's marker annotation gke-aws-verifier/admitted-by is refused, whatever happened to the
MutatingWebhookConfiguration. Its CEL is evaluated for real with cel-python (celpy), as the API
server does for a ValidatingAdmissionPolicy: the request must match matchConstraints, then every
matchCondition must be true (a false one skips the policy), then every validation must hold
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/). The
object evaluated is the pod as the mutating webhooks left it: the policy runs in the validating
phase, after them (.../admission-controllers/#admission-control-phases). The evaluation itself is
inject_guard.py's, which the webhook's integration tests also run over every pod the real
webhook patched (webhook/tests/it/common.rs, `patched`)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from inject_guard import NAME, decide, policy_from_file
from kustomize_render import REPO, WEBHOOK_RENDERS, render

LABEL = "gke-aws-verifier/inject"
# The annotation the webhook writes on every pod it admits (webhook/src/marker.rs).
MARKER = "gke-aws-verifier/admitted-by"
WEBHOOK = "gke-aws-webhook"


def one(objs: list[dict], kind: str, name: str = NAME) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} in the render"
    return found[0]


@pytest.fixture(scope="module", params=WEBHOOK_RENDERS)
def objs(request) -> list[dict]:
    return render(request.param)


@pytest.fixture(scope="module")
def policy() -> dict:
    return one(render("k8s/webhook/base"), "ValidatingAdmissionPolicy")


def pod(labels: dict | None = None, annotations: dict | None = None, namespace: str = "team-a",
        env: list | None = None) -> dict:
    meta: dict = {"generateName": "reports-7d4b9c-", "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    container = {"name": "app", "image": "app:1"}
    if env:
        container["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"serviceAccountName": "reports", "containers": [container]}}


ASKS = {LABEL: "true", "app": "reports"}
INJECTED_ENV = [{"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/gke-reports-reader"},
                {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/var/run/secrets/gke-aws/token"}]
CASES = {
    # name: (operation, pod, what the API server does)
    # The webhook never saw the pod: its configuration was deleted, or set to failurePolicy
    # Ignore while no replica answered, or its selectors no longer match: the pod arrives as
    # written.
    "configuration deleted: the labelled pod as written": ("CREATE", pod(ASKS), "refused"),
    "failurePolicy Ignore with the webhook down": ("CREATE", pod(ASKS, {"team": "reports"}), "refused"),
    "selectors changed: a namespace the webhook no longer sees": (
        "CREATE", pod(ASKS, namespace="kube-system"), "refused"),
    "another webhook added env, ours did not run": ("CREATE", pod(ASKS, env=INJECTED_ENV), "refused"),
    # The webhook admitted it.
    "admitted and injected": ("CREATE", pod(ASKS, {MARKER: WEBHOOK}, env=INJECTED_ENV), "admitted"),
    "admitted with nothing to give (every container none)": (
        "CREATE", pod({**ASKS}, {MARKER: WEBHOOK, "gke-aws-verifier/profile.app": "none"}), "admitted"),
    # Pods that did not ask.
    "no labels": ("CREATE", pod(), "skipped"),
    "other labels only": ("CREATE", pod({"app": "reports"}), "skipped"),
    "the label set to false": ("CREATE", pod({LABEL: "false"}), "skipped"),
    "the label in another case": ("CREATE", pod({LABEL: "True"}), "skipped"),
    "a key that only looks like the label": ("CREATE", pod({LABEL + "-x": "true"}), "skipped"),
    # Not a creation.
    "UPDATE of a labelled pod without the marker": ("UPDATE", pod(ASKS), "skipped"),
    "DELETE of a labelled pod without the marker": ("DELETE", pod(ASKS), "skipped"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_cel_over_pod_creations(policy, case):
    operation, the_pod, outcome = CASES[case]
    assert decide(policy, operation, the_pod) == outcome


@pytest.mark.parametrize("subresource", ["pods/binding", "pods/eviction", "pods/status", "pods/ephemeralcontainers"])
def test_subresources_are_not_matched(policy, subresource):
    assert decide(policy, "CREATE", pod(ASKS), resource=subresource) == "skipped"


def test_the_policy_and_its_binding_are_in_every_render(objs):
    policy, binding = one(objs, "ValidatingAdmissionPolicy"), one(objs, "ValidatingAdmissionPolicyBinding")
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    # Cluster-scoped: no namespace (kubectl's kustomize would add one; the base takes it off).
    assert "namespace" not in policy["metadata"] and "namespace" not in binding["metadata"]
    assert binding["spec"]["policyName"] == NAME
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"], "every namespace, whatever the webhook's selectors"


def test_the_policy_fails_closed_and_depends_on_nothing_else(policy):
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert "paramKind" not in spec, "no parameter object to delete or change"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["CREATE"] and rule["resources"] == ["pods"]
    # The guard reads the pod only: no parameter, namespace or authorizer lookups.
    expressions = [c["expression"] for c in spec.get("matchConditions", []) + spec["validations"]]
    for expression in expressions:
        for other in ("params", "namespaceObject", "authorizer", "oldObject", "request"):
            assert other not in expression, f"{expression!r} reads {other}"


def test_it_selects_the_label_the_webhook_configuration_selects():
    objs = render("k8s/webhook/base")
    webhook = one(objs, "MutatingWebhookConfiguration", WEBHOOK)["webhooks"][0]
    assert webhook["objectSelector"] == {"matchLabels": {LABEL: "true"}}


def test_the_message_names_the_webhook_and_the_command_to_check_it(policy):
    (validation,) = policy["spec"]["validations"]
    message = validation["message"]
    assert validation["reason"] == "Forbidden"
    for words in [LABEL, MARKER, WEBHOOK, "kubectl get mutatingwebhookconfiguration gke-aws-webhook",
                  "kubectl --namespace gke-aws-webhook get pods"]:
        assert words in message
    # The API server refuses a validation message with a line break.
    assert "\n" not in message


def kustomize(tmp: Path, body: str) -> list[dict]:
    (tmp / "kustomization.yaml").write_text(body)
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: it renders the manifests (kubectl kustomize)"
    out = subprocess.run([kubectl, "kustomize", str(tmp)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.parametrize("change", ["deleted", "Ignore", "selector"])
def test_it_holds_whatever_happens_to_the_webhook_configuration(policy, change):
    # An overlay that breaks the webhook configuration leaves the guard as it is, and the guard
    # still refuses the pod the broken configuration lets through.
    patches = {
        "deleted": "$patch: delete",
        "Ignore": "webhooks: [{name: inject.gke-aws-verifier.dev, failurePolicy: Ignore}]",
        "selector": "webhooks: [{name: inject.gke-aws-verifier.dev, objectSelector: {matchLabels: {other: 'true'}}}]",
    }
    with tempfile.TemporaryDirectory(dir=REPO / "tests/k8s") as tmp:
        base = os.path.relpath(REPO / "k8s/webhook/base", tmp)
        objs = kustomize(Path(tmp), f"""resources: [{base}]
patches:
  - patch: |-
      apiVersion: admissionregistration.k8s.io/v1
      kind: MutatingWebhookConfiguration
      metadata: {{name: gke-aws-webhook}}
      {patches[change]}
""")
    configurations = [o for o in objs if o["kind"] == "MutatingWebhookConfiguration"]
    if change == "deleted":
        assert configurations == []
    else:
        (configuration,) = configurations
        assert configuration["webhooks"][0] != one(render("k8s/webhook/base"), "MutatingWebhookConfiguration",
                                                   WEBHOOK)["webhooks"][0]
    guard = one(objs, "ValidatingAdmissionPolicy")
    assert guard == policy
    assert decide(guard, "CREATE", pod(ASKS)) == "refused"


def test_the_file_the_webhook_tests_read_is_the_policy_rendered(policy):
    # inject_guard.py reads the base's file without kustomize: the same rules as the render
    # (kustomize adds only the common labels).
    assert policy_from_file()["spec"] == policy["spec"]


def test_the_command_decides_each_pod_of_a_list():
    # The form the webhook's integration tests use: one decision per pod, in order.
    pods = [pod(ASKS), pod(ASKS, {MARKER: WEBHOOK}), pod({"app": "x"})]
    out = subprocess.run([sys.executable, str(REPO / "tests/k8s/inject_guard.py")], input=json.dumps(pods),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["refused", "admitted", "skipped"]
    bad = subprocess.run([sys.executable, str(REPO / "tests/k8s/inject_guard.py")], input="{}",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "a JSON list of pods" in bad.stderr
