#!/usr/bin/env python3
"""Every ```yaml snippet in the documentation works when pasted.

    python3 tests/docs/snippets.py        (from tests/k8s/run.sh; needs PyYAML and kubernetes-validate)

Reads README.md, docs/*.md and every README.md under k8s/, and checks each ```yaml block by
what it is:
  - Kubernetes objects (`apiVersion` and `kind`): kubernetes-validate --strict, as written;
  - a fragment whose first line is `# kubernetes-validate: PodSpec` (the block is a pod spec) or
    `# kubernetes-validate: Pod` (a Pod without apiVersion, kind or name): wrapped into a Pod,
    then kubernetes-validate --strict;
  - a kustomization fragment (only kustomization fields at the top): its fields are
    kustomization fields and every `../../components/NAME` it names exists;
  - `# kubernetes-validate: skip REASON`: not checked, and the reason is required.
Anything else fails: a snippet nobody checks rots. Each Kubernetes version in K8S_VERSIONS.
Before trusting a pass, it checks that a snippet with an unknown field is refused.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S_VERSIONS = ["1.29.0", "1.33.0"]
MARKER = re.compile(r"#\s*kubernetes-validate:\s*(?P<what>PodSpec|Pod|skip)\b(?P<rest>.*)")
KUSTOMIZATION_FIELDS = {
    "apiVersion", "kind", "resources", "components", "patches", "configMapGenerator", "secretGenerator",
    "generatorOptions", "namespace", "namePrefix", "nameSuffix", "labels", "images", "replacements",
    "replicas", "commonAnnotations", "buildMetadata", "openapi", "crds", "transformers", "generators",
    "validators", "helmCharts", "sortOptions",
}
FENCE = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def documents() -> list[Path]:
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "k8s").rglob("README.md"))]
    return [d for d in docs if d.is_file()]


def snippets(path: Path):
    """(line, text) of each ```yaml block."""
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        yield text.count("\n", 0, m.start()) + 2, m.group(1)


def check_kustomization(doc: dict) -> list[str]:
    errors = [f"{k}: not a kustomization field" for k in doc if k not in KUSTOMIZATION_FIELDS]
    for ref in doc.get("components") or []:
        m = re.fullmatch(r"(\.\./)+components/(?P<name>[-a-z0-9]+)/?", str(ref))
        if not m or not (REPO / "k8s/components" / m["name"] / "kustomization.yaml").is_file():
            errors.append(f"components: {ref!r} is no component under k8s/components/")
    return errors


def classify(where: str, text: str, out_dir: Path, index: int) -> tuple[Path | None, list[str]]:
    """Writes what kubernetes-validate must check to out_dir; returns (file or None, errors)."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    marker = MARKER.fullmatch(first.strip())
    if marker and marker["what"] == "skip":
        return None, [] if marker["rest"].strip() else [f"{where}: `kubernetes-validate: skip` needs a reason"]
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        return None, [f"{where}: not YAML: {e}"]
    if not docs or not all(isinstance(d, dict) for d in docs):
        return None, [f"{where}: not a YAML mapping"]
    if marker:
        if len(docs) != 1:
            return None, [f"{where}: a `{marker['what']}` fragment must be one document"]
        pod = {"spec": docs[0]} if marker["what"] == "PodSpec" else dict(docs[0])
        pod.update(apiVersion="v1", kind="Pod")
        pod.setdefault("metadata", {}).setdefault("name", "snippet")
        docs = [pod]
    elif all("apiVersion" in d and "kind" in d for d in docs):
        pass
    elif len(docs) == 1 and set(docs[0]) <= KUSTOMIZATION_FIELDS:
        return None, [f"{where}: {e}" for e in check_kustomization(docs[0])]
    else:
        return None, [f"{where}: neither Kubernetes objects nor a kustomization; start a fragment with "
                      "`# kubernetes-validate: PodSpec` (or `Pod`), or `# kubernetes-validate: skip REASON`"]
    path = out_dir / f"{index:03d}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path, []


def validate(files: list[Path], version: str) -> tuple[int, str]:
    done = subprocess.run(["kubernetes-validate", "--strict", "--quiet", "-k", version, *map(str, files)],
                          capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def main() -> int:
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # kubernetes-validate must refuse an unknown field, or a pass here proves nothing.
        canary = out / "canary.yaml"
        canary.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n  containerz: []\n")
        if validate([canary], K8S_VERSIONS[0])[0] == 0:
            print("FAIL: kubernetes-validate --strict accepted an unknown field (spec.containerz)", file=sys.stderr)
            return 1
        canary.unlink()
        files: dict[Path, str] = {}
        count = 0
        for doc in documents():
            for line, text in snippets(doc):
                count += 1
                where = f"{doc.relative_to(REPO)}:{line}"
                path, errs = classify(where, text, out, count)
                errors += errs
                if path:
                    files[path] = where
        if count == 0:
            errors.append("no ```yaml snippet found: the documents moved?")
        for version in K8S_VERSIONS:
            for path, where in files.items():
                status, output = validate([path], version)
                if status != 0:
                    errors.append(f"{where}: invalid for Kubernetes {version}:\n{output.strip()}")
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    print(f"snippets: {count} checked ({len(files)} with kubernetes-validate), {len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
