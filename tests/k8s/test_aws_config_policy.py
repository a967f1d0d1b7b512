"""The ValidatingAdmissionPolicy that keeps a running pod's `gke-aws-verifier/aws-config`
annotation (its AWS config file, projected by a downwardAPI volume that the kubelet refreshes)
from being changed, added or removed (k8s/webhook/base, rendered with the real `kubectl
kustomize`). Its CEL is evaluated for real with cel-python (celpy), as the API server does: the
policy's variables first, then each validation, over pairs of old and new pods."""
from __future__ import annotations

import celpy
import pytest

from kustomize_render import WEBHOOK_RENDERS, render

NAME = "gke-aws-verifier-aws-config-immutable"
KEY = "gke-aws-verifier/aws-config"
CONFIG = "[default]\nrole_arn = arn:aws:iam::123456789012:role/gke-app\nweb_identity_token_file = /var/run/secrets/gke-aws/token\n"
RENDERS = WEBHOOK_RENDERS


def one(objs: list[dict], kind: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == NAME]
    assert len(found) == 1, f"{kind}/{NAME}: {len(found)} in the render"
    return found[0]


@pytest.fixture(scope="module", params=RENDERS)
def objs(request) -> list[dict]:
    return render(request.param)


@pytest.fixture(scope="module")
def policy() -> dict:
    return one(render("k8s/webhook/base"), "ValidatingAdmissionPolicy")


def pod(annotations: dict | None) -> dict:
    meta = {"name": "app-7d4b9c", "namespace": "team", "labels": {"gke-aws-verifier/inject": "true"}}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}


def admit(policy: dict, old: dict, new: dict) -> bool:
    """Whether every validation of the policy holds for an UPDATE from old to new."""
    env = celpy.Environment()
    activation = {"object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old)}
    # The results as they are (json_to_cel would turn a BoolType into an IntType).
    variables = celpy.celtypes.MapType()
    for variable in policy["spec"].get("variables", []):
        program = env.program(env.compile(variable["expression"]))
        variables[celpy.celtypes.StringType(variable["name"])] = program.evaluate({**activation, "variables": variables})
    results = []
    for validation in policy["spec"]["validations"]:
        program = env.program(env.compile(validation["expression"]))
        result = program.evaluate({**activation, "variables": variables})
        assert isinstance(result, celpy.celtypes.BoolType), f"{validation['expression']!r} gave {result!r}"
        results.append(bool(result))
    return all(results)


def test_the_policy_and_its_binding_are_in_every_render(objs):
    policy, binding = one(objs, "ValidatingAdmissionPolicy"), one(objs, "ValidatingAdmissionPolicyBinding")
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    # Cluster-scoped: no namespace (kubectl's kustomize would add one; the base takes it off).
    assert "namespace" not in policy["metadata"] and "namespace" not in binding["metadata"]
    assert binding["spec"]["policyName"] == NAME
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"], "every namespace"


def test_the_policy_sees_pod_updates_only_and_fails_closed(policy):
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["UPDATE"], "CREATE is the webhook's to fill in"
    assert rule["apiGroups"] == [""] and rule["apiVersions"] == ["v1"]
    # pods/status keeps the old spec, not the old annotations: it must be matched too.
    assert "pods" in rule["resources"] and ({"pods/status", "pods/*"} & set(rule["resources"]))


def test_the_message_names_the_annotation_and_the_fix(policy):
    (validation,) = policy["spec"]["validations"]
    assert KEY in validation["message"]
    assert "recreate the pod" in validation["message"]
    assert validation["reason"] == "Forbidden"


CASES = {
    # name: (old annotations, new annotations, admitted)
    "unchanged": ({KEY: CONFIG}, {KEY: CONFIG}, True),
    "changed": ({KEY: CONFIG}, {KEY: CONFIG + "credential_process = /bin/sh -c id\n"}, False),
    "emptied": ({KEY: CONFIG}, {KEY: ""}, False),
    "added": ({"team": "a"}, {"team": "a", KEY: CONFIG}, False),
    "added to a pod without annotations": (None, {KEY: CONFIG}, False),
    "removed": ({KEY: CONFIG, "team": "a"}, {"team": "a"}, False),
    "removed with every annotation": ({KEY: CONFIG}, None, False),
    "other annotations changed beside it": ({KEY: CONFIG, "team": "a"}, {KEY: CONFIG, "team": "b", "new": "x"}, True),
    "other annotations removed beside it": ({KEY: CONFIG, "team": "a"}, {KEY: CONFIG}, True),
    "other annotations changed, none of ours": ({"team": "a"}, {"team": "b"}, True),
    "no annotations before or after": (None, None, True),
    "annotations added to a pod without": (None, {"team": "a"}, True),
    "empty annotations before and after": ({}, {}, True),
    "a key that only looks like ours": ({KEY + "-x": "a"}, {KEY + "-x": "b"}, True),
}


@pytest.mark.parametrize("case", CASES)
def test_the_cel_over_old_and_new_pods(policy, case):
    old, new, admitted = CASES[case]
    assert admit(policy, pod(old), pod(new)) is admitted


def test_a_status_update_is_judged_on_the_same_annotations(policy):
    # Through pods/status the whole pod arrives, with whatever annotations the request carried.
    old, new = pod({KEY: CONFIG}), pod({KEY: "[default]\ncredential_process = /bin/sh\n"})
    new["status"] = {"phase": "Running"}
    assert not admit(policy, old, new)
    same = pod({KEY: CONFIG})
    same["status"] = {"phase": "Running"}
    assert admit(policy, old, same)
