"""Tests of the manifests themselves (rendered with the real `kubectl kustomize`): the base holds
only the verifier's own objects, its egress policy selects only its pods and opens the metadata
server where each GKE dataplane evaluates it, and the component's README table says the same."""
from __future__ import annotations

import re


from kustomize_render import REPO, render


def allows(policy: dict, cidr: str, protocol: str, port: int) -> bool:
    return any({"ipBlock": {"cidr": cidr}} in rule.get("to", [])
               and {"protocol": protocol, "port": port} in rule.get("ports", [])
               for rule in policy["spec"]["egress"])


def test_base_holds_only_the_verifiers_own_objects():
    objs = render("k8s/base")
    assert sorted(o["kind"] for o in objs) == ["ConfigMap", "CronJob", "Job", "NetworkPolicy"]
    for o in objs:
        assert o["metadata"]["labels"]["app.kubernetes.io/name"] == "gke-aws-verifier", o["metadata"]["name"]


def test_base_policy_selects_only_the_verifiers_pods():
    (policy,) = [o for o in render("k8s/base") if o["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "gke-aws-verifier"}}


def test_metadata_server_rules_per_dataplane():
    (policy,) = [o for o in render("k8s/base") if o["kind"] == "NetworkPolicy"]
    assert allows(policy, "169.254.169.254/32", "TCP", 80)  # Dataplane V2 (and Autopilot)
    assert allows(policy, "169.254.169.252/32", "TCP", 988)  # Calico, GKE 1.21.0-gke.1000 and later
    assert allows(policy, "127.0.0.1/32", "TCP", 988)  # Calico, before 1.21.0-gke.1000
    assert not allows(policy, "169.254.169.254/32", "TCP", 988)
    assert not allows(policy, "169.254.169.252/32", "TCP", 80)


def test_readme_table_matches_the_policy():
    rows = {m["cidr"]: m["row"] for m in re.finditer(
        r"^\| \d \| [^|]*`(?P<cidr>[0-9./]+)`[^|]*\| (?P<row>.*)$",
        (REPO / "k8s/components/egress-allowlist/README.md").read_text(), re.M)}
    assert rows["169.254.169.254/32"].startswith("80 TCP") and "Dataplane V2" in rows["169.254.169.254/32"]
    assert rows["169.254.169.252/32"].startswith("988 TCP") and "Calico" in rows["169.254.169.252/32"]
    assert "1.21.0-gke.1000 and later" in rows["169.254.169.252/32"]


def test_cronjob_name_leaves_room_for_a_30_character_workload():
    (cron,) = [o for o in render("k8s/base") if o["kind"] == "CronJob"]
    assert len(cron["metadata"]["name"]) + len("-") + 30 <= 52


def test_verifier_pods_get_no_mesh_proxy():
    for o in render("k8s/base"):
        template = {"Job": lambda: o["spec"]["template"],
                    "CronJob": lambda: o["spec"]["jobTemplate"]["spec"]["template"]}.get(o["kind"])
        if template:
            assert template()["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false", o["kind"]
