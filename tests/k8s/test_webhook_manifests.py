"""The webhook's own manifests (k8s/webhook/base and every overlay of it, rendered with the real
`kubectl kustomize`): how the webhook runs, which the Rust tests cannot see. The container pulls
IfNotPresent, runs at a PriorityClass the render defines, only on Linux nodes, with a liveness
probe over the HTTPS listener the API server calls; it listens on 10250 (the port a private GKE
control plane reaches), the Service and the webhook configuration lead there, and the
NetworkPolicy lets it in; its memory request is its limit, its CPU requested and never throttled."""
from __future__ import annotations

import pytest

from kustomize_render import WEBHOOK_RENDERS, render

NAME = "gke-aws-webhook"
HTTPS_PORT = 10250
RENDERS = WEBHOOK_RENDERS


@pytest.fixture(scope="module", params=RENDERS)
def objs(request) -> list[dict]:
    return render(request.param)


def one(objs: list[dict], kind: str, name: str = NAME) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} in the render"
    return found[0]


def pod_spec(objs: list[dict]) -> dict:
    return one(objs, "Deployment")["spec"]["template"]["spec"]


def webhook_container(objs: list[dict]) -> dict:
    (container,) = [c for c in pod_spec(objs)["containers"] if c["name"] == "webhook"]
    return container


def container_port(container: dict, port: int | str) -> int:
    """A probe's or Service's target port, a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return found


def test_the_overlays_are_found():
    assert "k8s/webhook/overlays/cert-manager" in RENDERS


def test_image_pull_policy_is_if_not_present(objs):
    # Overlays pin a digest; a registry outage must not keep the webhook from restarting.
    assert webhook_container(objs)["imagePullPolicy"] == "IfNotPresent"


def test_priority_class_is_defined_in_the_render(objs):
    name = pod_spec(objs)["priorityClassName"]
    priority = one(objs, "PriorityClass", name)
    assert priority["value"] > 0, "above the workloads' default of 0"
    assert priority["value"] < 1_000_000_000, "below the system classes"
    assert priority.get("globalDefault", False) is False


def test_runs_on_linux_nodes_only(objs):
    assert pod_spec(objs)["nodeSelector"]["kubernetes.io/os"] == "linux"


def test_liveness_probe_goes_through_the_https_listener(objs):
    container = webhook_container(objs)
    probe = container["livenessProbe"]["httpGet"]
    assert probe["scheme"] == "HTTPS"
    assert container_port(container, probe["port"]) == HTTPS_PORT


def test_listens_on_10250_and_the_service_leads_there(objs):
    container = webhook_container(objs)
    assert HTTPS_PORT in [p["containerPort"] for p in container["ports"]]
    service = one(objs, "Service")
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    webhook = one(objs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]
    assert (webhook["name"], webhook["namespace"]) == (NAME, service["metadata"]["namespace"])
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == webhook["port"]]
    assert container_port(container, port["targetPort"]) == HTTPS_PORT


def test_memory_is_reserved_whole_and_cpu_is_requested_but_never_throttled(objs):
    # Memory: the request is the limit (the whole bound reserved, nothing reclaimed under node
    # pressure). CPU: requested, and no limit: throttling would slow every admission, and the
    # HTTPS liveness probe with it, in a burst of pod creations.
    resources = webhook_container(objs)["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert resources["requests"].get("cpu"), resources
    assert "cpu" not in resources["limits"], resources

def test_memory_limit_is_the_one_the_hostile_tests_measure_against(objs):
    # webhook/tests/it/common.rs MEMORY_LIMIT_KIB: peak RSS under hostile input is held below it.
    assert webhook_container(objs)["resources"]["limits"]["memory"] == "128Mi"


def test_network_policy_admits_the_https_port(objs):
    container = webhook_container(objs)
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    policy = one(objs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert "Ingress" in policy["spec"]["policyTypes"]
    admitted = [container_port(container, p["port"]) for rule in policy["spec"]["ingress"]
                for p in rule.get("ports", []) if p.get("protocol", "TCP") == "TCP"]
    assert HTTPS_PORT in admitted
