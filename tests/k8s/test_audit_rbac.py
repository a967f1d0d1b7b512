"""The audit CronJob's manifests (k8s/components/audit, rendered by k8s/examples/audit with the
real `kubectl kustomize`): least privilege, and the Rust reader asks for nothing else."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

# What the audit reads (the audit's snapshot.rs), by API group: get and list, nothing else.
READS = {
    "": {"pods", "serviceaccounts", "endpoints"},
    "apps": {"replicasets", "deployments", "statefulsets", "daemonsets"},
    "batch": {"jobs", "cronjobs"},
    "admissionregistration.k8s.io": {"mutatingwebhookconfigurations"},
}


def render() -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: it renders the manifests (kubectl kustomize)"
    out = subprocess.run([kubectl, "kustomize", str(REPO / "k8s/examples/audit")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_the_cluster_role_gets_and_lists_exactly_what_the_audit_reads():
    (role,) = [o for o in render() if o["kind"] == "ClusterRole"]
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list"], rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        for group in rule["apiGroups"]:
            granted.setdefault(group, set()).update(rule["resources"])
    assert granted == READS


def test_the_audit_reads_only_what_the_role_grants():
    source = (REPO / "audit/src/snapshot.rs").read_text()
    resources = set(re.findall(r'"(pods|serviceaccounts|endpoints|replicasets|deployments|statefulsets|daemonsets|jobs|cronjobs|mutatingwebhookconfigurations)"', source))
    assert resources == set().union(*READS.values())


def test_only_the_binding_and_the_role_leave_the_namespace_and_nothing_is_written():
    objs = render()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CronJob", "NetworkPolicy", "ServiceAccount"]
    for o in objs:
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == "gke-aws-webhook", o["metadata"]["name"]
    (binding,) = [o for o in objs if o["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gke-aws-audit", "namespace": "gke-aws-webhook"}]
    (cron,) = [o for o in objs if o["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gke-aws-audit"
    assert pod["containers"][0]["command"] == ["/usr/local/bin/gke-aws-audit"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
