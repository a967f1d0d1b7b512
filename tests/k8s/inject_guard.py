"""The guard (k8s/webhook/base/validatingadmissionpolicy-inject-guard.yaml) evaluated as the API
server evaluates a ValidatingAdmissionPolicy: the request must match matchConstraints, then every
matchCondition must be true (a false one skips the policy), then every validation must hold
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/). Its CEL
runs for real with cel-python (celpy).

Used by test_inject_guard_policy.py and, as a command, by the webhook's integration tests, which
feed it every pod the real webhook patched:

    python tests/k8s/inject_guard.py < pods.json    # a JSON list of pods (CREATE) in,
                                                    # a JSON list of decisions out
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import celpy
import yaml

REPO = Path(__file__).resolve().parents[2]
NAME = "gke-aws-verifier-inject-guard"
POLICY_FILE = REPO / "k8s/webhook/base/validatingadmissionpolicy-inject-guard.yaml"


def policy_from_file(path: Path = POLICY_FILE) -> dict:
    """The policy as the base's file holds it (the render is compared with it in the tests)."""
    found = [d for d in yaml.safe_load_all(path.read_text())
             if d and d["kind"] == "ValidatingAdmissionPolicy" and d["metadata"]["name"] == NAME]
    assert len(found) == 1, f"{path}: {len(found)} ValidatingAdmissionPolicy {NAME}"
    return found[0]


def evaluate(expression: str, activation: dict) -> bool:
    env = celpy.Environment()
    result = env.program(env.compile(expression)).evaluate(activation)
    assert isinstance(result, celpy.celtypes.BoolType), f"{expression!r} gave {result!r}"
    return bool(result)


def decide(policy: dict, operation: str, pod: dict, resource: str = "pods") -> str:
    """What the API server does with the policy for this request: "skipped" (not matched),
    "admitted" or "refused"."""
    spec = policy["spec"]
    matched = any(operation in rule["operations"] and resource in rule["resources"]
                  and rule["apiGroups"] == [""] for rule in spec["matchConstraints"]["resourceRules"])
    if not matched:
        return "skipped"
    activation = {"object": celpy.json_to_cel(pod), "oldObject": celpy.json_to_cel(None)}
    if not all(evaluate(c["expression"], activation) for c in spec.get("matchConditions", [])):
        return "skipped"
    return "admitted" if all(evaluate(v["expression"], activation) for v in spec["validations"]) else "refused"


def main() -> int:
    pods = json.load(sys.stdin)
    if not isinstance(pods, list):
        print("inject_guard.py: expected a JSON list of pods on stdin", file=sys.stderr)
        return 2
    policy = policy_from_file()
    json.dump([decide(policy, "CREATE", pod) for pod in pods], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
