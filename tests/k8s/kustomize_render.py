"""The manifests as `kubectl kustomize` renders them, for the pytest files beside this one."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# The webhook's base and every kustomization built on it.
WEBHOOK_RENDERS = ["k8s/webhook/base"] + sorted(
    str(p.parent.relative_to(REPO)) for p in (REPO / "k8s/webhook/overlays").glob("*/kustomization.yaml"))


def render(path: str) -> list[dict]:
    """The objects of the kustomization at PATH (relative to the repository)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: it renders the manifests (kubectl kustomize)"
    out = subprocess.run([kubectl, "kustomize", str(REPO / path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]
