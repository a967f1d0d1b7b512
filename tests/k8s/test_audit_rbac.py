"""The audit CronJob's manifests (k8s/components/audit, rendered by k8s/examples/audit with the
real `kubectl kustomize`): least privilege, and the Rust reader asks for nothing else. The
audit lists (paginated) what it reads everywhere, gets the cluster's OIDC discovery document
(a non-resource URL), and lists the webhook Service's EndpointSlices in the webhook's namespace
(by label), and gets the guard's ValidatingAdmissionPolicy and binding by name. So the
ClusterRole grants `list` on exactly those resources, `get` on that one URL and `get` on the
guard's two objects by resourceNames, and a Role in the webhook's namespace grants `list` on EndpointSlices,
nothing cluster-wide."""
from __future__ import annotations

import re


import kustomize_render
from kustomize_render import REPO

SNAPSHOT = REPO / "audit/src/snapshot.rs"
READ = REPO / "audit/src/read.rs"
CLI = REPO / "audit/src/cli.rs"

# What the audit lists (audit/src/snapshot.rs), by API group: list, nothing else.
LISTS = {
    "": {"pods", "serviceaccounts", "namespaces"},
    "apps": {"replicasets", "deployments", "statefulsets", "daemonsets"},
    "batch": {"jobs", "cronjobs"},
    "admissionregistration.k8s.io": {"mutatingwebhookconfigurations"},
}
# What it lists in the webhook's namespace only: the webhook Service's EndpointSlices.
NAMESPACED_LISTS = {"discovery.k8s.io": {"endpointslices"}}
# The one non-resource URL it gets.
DISCOVERY = "/.well-known/openid-configuration"
# What it gets by name: the guard's policy and binding (k8s/webhook/base).
GUARD = "gke-aws-verifier-inject-guard"
GETS = {"apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
        "resourceNames": [GUARD], "verbs": ["get"]}


def render(path: str = "k8s/examples/audit") -> list[dict]:
    return kustomize_render.render(path)


def only(objs: list[dict], kind: str) -> dict:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} in the render"
    return found[0]


def granted(role: dict) -> dict[str, set[str]]:
    by_group: dict[str, set[str]] = {}
    for rule in role["rules"]:
        if "nonResourceURLs" in rule:
            continue
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        for group in rule["apiGroups"]:
            by_group.setdefault(group, set()).update(rule["resources"])
    return by_group


def cli_default(flag: str) -> str:
    """The default_value of a `--flag` of the audit's CLI (audit/src/cli.rs)."""
    field = flag.removeprefix("--").replace("-", "_")
    m = re.search(rf'#\[arg\(long, default_value = "([^"]+)"\)\]\s*pub {field}: String', CLI.read_text())
    assert m, f"{flag}: no default_value found in {CLI}"
    return m[1]


def webhook_namespace_and_service() -> tuple[str, str]:
    """Where the audit looks for the webhook's Endpoints: its CLI defaults, unless the CronJob's
    args set them."""
    args = only(render(), "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].get("args", [])
    values = {}
    for flag in ("--webhook-namespace", "--webhook-service"):
        given = [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]
        given += [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]
        values[flag] = given[-1] if given else cli_default(flag)
    return values["--webhook-namespace"], values["--webhook-service"]


def test_the_cluster_role_lists_exactly_what_the_audit_lists():
    role = only(render(), "ClusterRole")
    urls = [r for r in role["rules"] if "nonResourceURLs" in r]
    assert urls == [{"nonResourceURLs": [DISCOVERY], "verbs": ["get"]}], urls
    gets = [r for r in role["rules"] if r.get("verbs") == ["get"] and "nonResourceURLs" not in r]
    assert gets == [GETS], gets
    lists = [r for r in role["rules"] if "nonResourceURLs" not in r and r not in gets]
    for rule in lists:
        assert rule["verbs"] == ["list"], rule
        assert "resourceNames" not in rule, rule
    assert granted({"rules": lists}) == LISTS


def test_the_role_lists_only_the_webhooks_endpoint_slices_in_its_namespace():
    objs = render()
    namespace, _service = webhook_namespace_and_service()
    role = only(objs, "Role")
    assert role["metadata"]["namespace"] == namespace
    (rule,) = role["rules"]
    assert rule["verbs"] == ["list"]
    assert granted(role) == NAMESPACED_LISTS
    binding = only(objs, "RoleBinding")
    assert binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gke-aws-audit", "namespace": "gke-aws-webhook"}]


def test_the_role_names_the_webhooks_own_service():
    # The Service and namespace k8s/webhook/base creates are the ones the audit looks for.
    namespace, service = webhook_namespace_and_service()
    (svc,) = [o for o in render("k8s/webhook/base") if o["kind"] == "Service"]
    assert (svc["metadata"]["namespace"], svc["metadata"]["name"]) == (namespace, service)


def test_the_audit_reads_only_what_the_roles_grant():
    source = SNAPSHOT.read_text()
    # Every API read goes through the Reader, and the Reader has two verbs: a paginated list and
    # a get by name (kube's Request builders, list and get).
    read = READ.read_text()
    assert re.search(r"pub async fn list<.*?Request::new\(path\)\s*\.list\(", read, re.S)
    assert re.search(r"pub async fn get<.*?Request::new\(path\)\s*\.get\(name,", read, re.S)
    for path in (REPO / "audit/src").rglob("*.rs"):
        if path != READ:
            assert "Request::new(" not in path.read_text(), f"{path}: reads the API outside the Reader"
    # list, list_selected (with a label selector: pods by the opt-in label, the webhook's
    # EndpointSlices) and list_kept (keeping what the checks judge) are one verb, list; the
    # first argument is the path.
    calls = [
        (verb, kind, args.split(", ")[0])
        for verb, kind, args in re.findall(
            r"reader\s*\.(list_kept|list_selected|list|get_document|get)::<(\w+)>\(([^)]*)", source
        )
    ]
    gets = re.findall(r"reader\.get::<(\w+)>\(([^)]*)\)", source)
    assert gets == [("IgnoredAny", "GUARD_POLICIES, INJECT_GUARD"), ("IgnoredAny", "GUARD_BINDINGS, INJECT_GUARD")], gets
    assert f'pub const INJECT_GUARD: &str = "{GUARD}";' in source
    assert 'const GUARD_POLICIES: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";' in source
    assert ('const GUARD_BINDINGS: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";'
            in source)
    assert [c[1:] for c in calls if c[0] == "get_document"] == [("Discovery", f'"{DISCOVERY}"')]
    assert [c[1:] for c in calls if c[0] == "list_selected"] == [("Pod", "&pods_path"), ("EndpointSlice", "&slices_path")]
    assert "reader.list_selected::<Pod>(&pods_path, OPT_IN_SELECTOR)" in source
    assert "reader.list_selected::<EndpointSlice>(&slices_path, &service_selector)" in source
    assert re.search(r'"/apis/discovery\.k8s\.io/v1/namespaces/\{\}/endpointslices",\s*scope\.webhook_namespace', source)
    listed_paths = {c[2] for c in calls if c[0].startswith("list") and c[1] != "EndpointSlice"}
    assert listed_paths == {"&pods_path", "&ksa_path", "webhooks_path", "path", '"/api/v1/namespaces"'}, listed_paths
    assert 'let pods_path = ns_path("v1", "pods");' in source
    assert 'let ksa_path = ns_path("v1", "serviceaccounts");' in source
    assert '"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"' in source
    workload_resources = set(re.findall(r'Kind::\w+ => "([a-z]+s)",', source))
    assert workload_resources == LISTS["apps"] | LISTS["batch"]
    listed = {"pods", "serviceaccounts", "namespaces", "mutatingwebhookconfigurations"} | workload_resources
    assert listed == set().union(*LISTS.values())


def test_only_the_cluster_role_and_its_binding_leave_the_namespace_and_nothing_is_written():
    objs = render()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CronJob", "NetworkPolicy", "Role", "RoleBinding",
                     "ServiceAccount"]
    for o in objs:
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == "gke-aws-webhook", o["metadata"]["name"]
    for o in objs:
        for rule in o.get("rules", []):
            assert set(rule["verbs"]) <= {"get", "list"}, (o["kind"], rule)
    (binding,) = [o for o in objs if o["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gke-aws-audit", "namespace": "gke-aws-webhook"}]
    (cron,) = [o for o in objs if o["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gke-aws-audit"
    assert pod["containers"][0]["command"] == ["/usr/local/bin/gke-aws-audit"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
