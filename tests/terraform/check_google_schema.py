#!/usr/bin/env python3
"""Check every google_* resource and data block against the google provider's schema, offline.

No google provider binary can be downloaded here, so `terraform validate` cannot see these
blocks. The prebuilt CDK bindings (PyPI `cdktn-provider-google`) ship the provider's whole
schema as a jsii assembly: every resource and data source becomes a `...Config` struct
whose properties are the arguments and nested blocks, each linked to its registry anchor
(`...#workload_pool ContainerCluster#workload_pool`), which gives the exact Terraform name.

Checks: the block type exists; every argument and nested block (also inside `dynamic`)
exists; every required argument and block is set. Exit 1 with one line per problem.

Usage: check_google_schema.py [--jsii PATH] [--expect-version-range '>=5.31,<8'] DIR...
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import hcl2  # bc-python-hcl2, the HCL parser checkov itself uses

# Terraform's own arguments, valid on every resource and data block.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
LINK = re.compile(r"hashicorp/google/(?P<version>[0-9.]+)/docs/(?P<kind>resources|data-sources)/\S+ (?P<type>google_\w+)\}")
ANCHOR = re.compile(r"#([A-Za-z0-9_]+)\}\s*$")


@dataclass
class Struct:
    """Arguments (name -> required) and nested blocks (name -> (required, struct fqn)) of one block."""

    arguments: dict[str, bool] = field(default_factory=dict)
    blocks: dict[str, tuple[bool, str]] = field(default_factory=dict)


class Schema:
    def __init__(self, assembly: dict):
        self.types: dict = assembly["types"]
        self.package = f"{assembly['name']}@{assembly['version']}"
        self.roots: dict[tuple[str, str], str] = {}  # ("resource"|"data", type) -> config fqn
        versions = set()
        for t in self.types.values():
            if t.get("kind") != "class" or "initializer" not in t:
                continue
            m = LINK.search(t.get("docs", {}).get("summary", ""))
            if not m or not t["docs"]["summary"].startswith("Represents a"):
                continue
            config = [p for p in t["initializer"].get("parameters", []) if p["name"] == "config"]
            if config:
                kind = "resource" if m["kind"] == "resources" else "data"
                self.roots[(kind, m["type"])] = config[0]["type"]["fqn"]
                versions.add(m["version"])
        if len(versions) != 1:
            raise SystemExit(f"expected one google provider version in {self.package}, found {sorted(versions)}")
        self.provider_version = versions.pop()
        self._structs: dict[str, Struct] = {}

    def struct(self, fqn: str) -> Struct:
        if fqn not in self._structs:
            s = Struct()
            for prop in self.types[fqn].get("properties", []):
                docs = prop.get("docs", {})
                anchor = ANCHOR.search(docs.get("remarks", ""))
                name = anchor.group(1) if anchor else re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()
                required = not prop.get("optional", False)
                block_fqn = _block_fqn(prop["type"], self.types)
                if block_fqn and docs.get("summary", "").endswith(" block."):
                    s.blocks[name] = (required, block_fqn)
                else:
                    s.arguments[name] = required
            self._structs[fqn] = s
        return self._structs[fqn]


def _block_fqn(jtype: dict, types: dict) -> str | None:
    """The struct behind a property, if it is one (directly, in a list, or in a union)."""
    if "fqn" in jtype:
        return jtype["fqn"] if types.get(jtype["fqn"], {}).get("datatype") else None
    if "collection" in jtype:
        return _block_fqn(jtype["collection"]["elementtype"], types)
    for member in jtype.get("union", {}).get("types", []):
        found = _block_fqn(member, types)
        if found:
            return found
    return None


def load_assembly(path: Path | None) -> dict:
    if path is None:
        spec = importlib.util.find_spec("cdktn_provider_google")  # locate only: importing needs node
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("cdktn-provider-google is not installed: .venv/bin/pip install -r requirements-dev.txt")
        found = sorted(Path(list(spec.submodule_search_locations)[0], "_jsii").glob("*.jsii.tgz"))
        if not found:
            raise SystemExit("no *.jsii.tgz inside cdktn_provider_google/_jsii")
        path = found[0]
    if path.name.endswith(".tgz"):
        with tarfile.open(path) as tar:
            return json.load(tar.extractfile("package/.jsii"))
    return json.loads(path.read_text())


def version_in_range(version: str, spec: str) -> bool:
    """Minimal '>=a.b, <c' matcher (the only operators our constraints use)."""
    v = tuple(int(x) for x in version.split("."))
    for clause in spec.split(","):
        op, bound = re.match(r"\s*(>=|<=|<|>|=)?\s*([0-9.]+)\s*$", clause).groups()
        b = tuple(int(x) for x in bound.split("."))
        n = max(len(v), len(b))
        a, b = v + (0,) * (n - len(v)), b + (0,) * (n - len(b))
        if not {">=": a >= b, "<=": a <= b, "<": a < b, ">": a > b, "=": a == b, None: a == b}[op]:
            return False
    return True


def check_body(schema: Schema, fqn: str, body: dict, where: str, top: bool) -> list[str]:
    struct = schema.struct(fqn)
    problems = []
    present = set()
    for key, value in body.items():
        if key.startswith("__"):  # parser line markers
            continue
        if top and key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for dyn in value:
                for name, spec in dyn.items():
                    present.add(name)
                    if name not in struct.blocks:
                        problems.append(f"{where}: dynamic \"{name}\": no such nested block")
                        continue
                    for content in spec.get("content", []):
                        problems += check_body(schema, struct.blocks[name][1], content, f"{where}.{name}", False)
            continue
        present.add(key)
        if key in struct.blocks:
            for i, instance in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(instance, dict):
                    problems += check_body(schema, struct.blocks[key][1], instance, f"{where}.{key}", False)
        elif key not in struct.arguments:
            problems.append(f"{where}: unsupported argument or block \"{key}\"")
    for name, required in struct.arguments.items():
        if required and name not in present:
            problems.append(f"{where}: missing required argument \"{name}\"")
    for name, (required, _) in struct.blocks.items():
        if required and name not in present:
            problems.append(f"{where}: missing required block \"{name}\"")
    return problems


def check_dirs(schema: Schema, dirs: list[Path]) -> tuple[list[str], int]:
    problems, checked = [], 0
    files = sorted(f for d in dirs for f in d.rglob("*.tf") if ".terraform" not in f.parts)
    for tf in files:
        with tf.open() as fh:
            doc = hcl2.load(fh)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    if not rtype.startswith("google_"):
                        continue
                    for name, body in named.items():
                        where = f"{tf}:{body.get('__start_line__', '?')}: {'data.' if kind == 'data' else ''}{rtype}.{name}"
                        checked += 1
                        fqn = schema.roots.get((kind, rtype))
                        if fqn is None:
                            problems.append(f"{where}: no {kind} type {rtype} in google provider {schema.provider_version}")
                            continue
                        problems += check_body(schema, fqn, body, where, True)
    return problems, checked


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsii", type=Path, help="jsii assembly (.jsii or .jsii.tgz); default: the installed cdktn-provider-google")
    parser.add_argument("--expect-version-range", default=">=5.31,<8", help="google provider versions the configuration allows")
    parser.add_argument("dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)

    schema = Schema(load_assembly(args.jsii))
    print(f"schema: google provider {schema.provider_version} (from {schema.package}), {len(schema.roots)} resource and data types")
    if not version_in_range(schema.provider_version, args.expect_version_range):
        print(f"FAIL: google provider {schema.provider_version} is outside {args.expect_version_range}; pin a cdktn-provider-google that binds a version inside it")
        return 1
    problems, checked = check_dirs(schema, args.dirs)
    for p in problems:
        print(f"FAIL: {p}")
    print(f"checked {checked} google_* blocks in {', '.join(map(str, args.dirs))}: {len(problems)} problem(s)")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
