"""The self-signed overlay (k8s/webhook/overlays/self-signed), rendered with the real
`kubectl kustomize`: the webhook is told which Secret and webhook configuration are its own, and
its RBAC names exactly those (get/update of that Secret, create of Secrets: the one verb RBAC
cannot restrict by name; get/patch of that MutatingWebhookConfiguration) and nothing else; it
writes its certificate files into an in-memory emptyDir, not a Secret volume; cert-manager is
nowhere in the render. The webhook's behaviour against the API is tested in
webhook/tests/it/self_signed.rs."""
from __future__ import annotations

import pytest

from kustomize_render import render

OVERLAY = "k8s/webhook/overlays/self-signed"
NAME = "gke-aws-webhook"


@pytest.fixture(scope="module")
def objs() -> list[dict]:
    return render(OVERLAY)


def one(objs, kind, name=NAME):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


def container(objs):
    (webhook,) = [c for c in one(objs, "Deployment")["spec"]["template"]["spec"]["containers"] if c["name"] == "webhook"]
    return webhook


def flag(objs, name):
    values = [a.split("=", 1)[1] for a in container(objs)["args"] if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name}: {values}"
    return values[0]


def test_the_webhook_is_told_its_secret_and_configuration(objs):
    assert flag(objs, "self-signed-secret") == "gke-aws-webhook-tls"
    configuration = flag(objs, "self-signed-webhook-configuration")
    one(objs, "MutatingWebhookConfiguration", configuration)


def test_the_certificate_files_are_an_in_memory_empty_dir_the_webhook_writes(objs):
    spec = one(objs, "Deployment")["spec"]["template"]["spec"]
    (tls,) = [v for v in spec["volumes"] if v["name"] == "tls"]
    assert tls == {"name": "tls", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    (mount,) = [m for m in container(objs)["volumeMounts"] if m["name"] == "tls"]
    assert mount.get("readOnly") is False
    directory = mount["mountPath"].rstrip("/")
    assert flag(objs, "tls-cert-file").startswith(directory + "/")
    assert flag(objs, "tls-key-file").startswith(directory + "/")


def test_no_cert_manager_and_no_ca_bundle_in_the_render(objs):
    assert not [o for o in objs if o["apiVersion"].startswith("cert-manager.io/")]
    configuration = one(objs, "MutatingWebhookConfiguration")
    assert "cert-manager.io/inject-ca-from" not in configuration["metadata"].get("annotations", {})
    assert all("caBundle" not in w["clientConfig"] for w in configuration["webhooks"]), "the webhook writes it"


def rules_of(objs, kind, binding_kind):
    service_account = one(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    rules = []
    for binding in [o for o in objs if o["kind"] == binding_kind]:
        subjects = [(s["kind"], s["name"], s.get("namespace")) for s in binding["subjects"]]
        if ("ServiceAccount", service_account, "gke-aws-webhook") in subjects:
            assert binding["roleRef"]["kind"] == kind
            rules += one(objs, kind, binding["roleRef"]["name"])["rules"]
    return rules


def test_secrets_get_and_update_only_its_own_and_create(objs):
    secret = flag(objs, "self-signed-secret")
    rules = [r for r in rules_of(objs, "Role", "RoleBinding")]
    assert sorted((tuple(r["verbs"]), tuple(r.get("resourceNames", []))) for r in rules) == [
        (("create",), ()),  # RBAC cannot restrict create by name (see the README)
        (("get", "update"), (secret,)),
    ]
    assert all(r["apiGroups"] == [""] and r["resources"] == ["secrets"] for r in rules)
    for role in [o for o in objs if o["kind"] == "Role"]:
        assert role["metadata"]["namespace"] == "gke-aws-webhook"


def test_its_one_webhook_configuration_get_and_patch(objs):
    configuration = flag(objs, "self-signed-webhook-configuration")
    rules = [r for r in rules_of(objs, "ClusterRole", "ClusterRoleBinding")
             if "admissionregistration.k8s.io" in r["apiGroups"]]
    assert rules == [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"],
                      "resourceNames": [configuration], "verbs": ["get", "patch"]}]
    # Nothing else of the cluster's beyond the base's read of ServiceAccounts.
    others = [r for r in rules_of(objs, "ClusterRole", "ClusterRoleBinding") if r not in rules]
    assert others == [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]}]
