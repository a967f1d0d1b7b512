"""`kubernetes-validate --strict` for custom resources: validates objects against the OpenAPI
schema of their CustomResourceDefinition, as the API server would with strict field validation.

kubernetes-validate knows only Kubernetes' own kinds (it warns and passes on any other, see its
utils.py `SchemaNotFoundError`), so the published CRDs are kept as fixtures (crds/SOURCES.md)
and their `openAPIV3Schema` is turned into a JSON schema the way kubernetes-validate builds its
`-strict` schemas, with the jsonschema library it uses itself:
  - every object with `properties` and no `additionalProperties` or
    `x-kubernetes-preserve-unknown-fields` refuses unknown fields (what the API server prunes,
    and refuses with `kubectl apply --validate=strict`, its default);
  - `nullable: true` admits null; `x-kubernetes-int-or-string` admits both;
  - `metadata` is validated as kubernetes-validate's strict ObjectMeta (a CRD's schema only says
    `type: object` there);
  - `format: duration` must parse as a duration (the formats the API server checks);
  - `apiVersion` must be one the CRD serves and `kind` its kind; a namespaced kind needs a
    namespace and a cluster-scoped one may not have one.
Then each `x-kubernetes-validations` rule on a value present in the object is evaluated with
cel-python, `self` being that value typed as the API server types it (durations as durations,
equality heterogeneous as in cel-go), as it does on CREATE (rules with `oldSelf`, only evaluated
on UPDATE, are skipped)."""
from __future__ import annotations

import copy
import importlib.resources
import json
import re
from dataclasses import dataclass
from pathlib import Path

import celpy
import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"
# ObjectMeta for a recent Kubernetes: the same in every version the renders target.
K8S_SCHEMAS = "kubernetes-json-schema/v1.33.0-local-strict/_definitions.json"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# kube-openapi's strfmt durations (Go's time.ParseDuration, and d and w): 30s, 1h10m, 7d.
DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+")


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    namespaced: bool
    # Served version -> its openAPIV3Schema.
    schemas: dict[str, dict]


def load_crds(directory: Path = CRD_DIR) -> dict[tuple[str, str], Crd]:
    """The CRDs in DIRECTORY by (group, kind)."""
    crds = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served")}
            crds[(spec["group"], spec["names"]["kind"])] = Crd(
                spec["group"], spec["names"]["kind"], spec["scope"] == "Namespaced", schemas)
    return crds


def strict(schema: dict) -> dict:
    """An OpenAPI v3 schema of a CRD as a strict JSON schema (see the module's docstring)."""
    schema = dict(schema)
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {name: strict(s) for name, s in schema[key].items()}
    for key in ("items", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [strict(s) for s in schema[key]]
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = strict(schema["additionalProperties"])
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        schema["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def object_schema(openapi: dict) -> dict:
    """The whole object's JSON schema: the CRD's, with kubernetes-validate's strict ObjectMeta."""
    definitions = json.loads(importlib.resources.files("kubernetes_validate").joinpath(K8S_SCHEMAS).read_text())
    schema = strict(copy.deepcopy(openapi))
    schema.setdefault("properties", {})["metadata"] = {"$ref": f"#/$defs/{OBJECT_META}"}
    schema["$defs"] = definitions["$defs"]
    return schema


def cel_equals(a: object, b: object) -> object:
    """CEL's runtime equality, heterogeneous as cel-go (the API server's CEL) implements it:
    numbers compare by value across int, uint and double, values of other differing types are
    unequal (cel-spec doc/langdef.md, "Equality"). cel-python 0.5 raises instead, which would
    fail GMP's `self != 0` on every named port (an int-or-string)."""
    if isinstance(a, celpy.CELEvalError):
        return a
    if isinstance(b, celpy.CELEvalError):
        return b
    numbers = (celpy.celtypes.IntType, celpy.celtypes.UintType, celpy.celtypes.DoubleType)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return celpy.celtypes.BoolType(float(a) == float(b))
    if type(a) is not type(b):
        return celpy.celtypes.BoolType(False)
    return celpy.evaluation.bool_eq(a, b)


def cel_not_equals(a: object, b: object) -> object:
    equal = cel_equals(a, b)
    return equal if isinstance(equal, celpy.CELEvalError) else celpy.celtypes.BoolType(not equal)


CEL_FUNCTIONS = {"_==_": cel_equals, "_!=_": cel_not_equals}
NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
         "d": 86400 * 10**9, "w": 604800 * 10**9}


def to_cel(schema: dict, value: object) -> object:
    """VALUE as CEL sees it under SCHEMA: a `format: duration` string is a CEL duration, as the
    API server types it (so `self.timeout <= self.interval` compares times, not text)."""
    if isinstance(value, dict):
        fields = schema.get("properties", {})
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else {}
        return celpy.celtypes.MapType({celpy.celtypes.StringType(k): to_cel(fields.get(k, extra), v)
                                       for k, v in value.items()})
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return celpy.celtypes.ListType([to_cel(items, v) for v in value])
    if isinstance(value, str) and schema.get("format") == "duration" and DURATION.fullmatch(value):
        nanos = sum(round(float(n) * NANOS[u]) for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)", value))
        return celpy.celtypes.DurationType(nanos // 10**9, nanos % 10**9)
    return celpy.json_to_cel(value)
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("duration")(lambda value: not isinstance(value, str) or bool(DURATION.fullmatch(value)))


def cel_errors(schema: dict, value: object, path: str) -> list[str]:
    """The x-kubernetes-validations rules that fail on VALUE and on what it holds."""
    errors = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue
        env = celpy.Environment()
        program = env.program(env.compile(rule["rule"]), functions=CEL_FUNCTIONS)
        result = program.evaluate({"self": to_cel(schema, value)})
        if not isinstance(result, celpy.celtypes.BoolType):
            errors.append(f"{path}: rule {rule['rule']!r} did not evaluate to a boolean: {result!r}")
        elif not result:
            errors.append(f"{path}: {rule.get('message') or 'failed rule: ' + rule['rule']}")
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                errors += cel_errors(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += cel_errors(schema["items"], item, f"{path}[{index}]")
    return errors


def validate(obj: dict, crds: dict[tuple[str, str], Crd]) -> list[str]:
    """Every reason the API server would refuse OBJ; empty when it is valid."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    crd = crds.get((group, obj.get("kind")))
    if crd is None:
        return [f"{where}: no CRD fixture for {obj.get('apiVersion')} {obj.get('kind')} in {CRD_DIR}"]
    if version not in crd.schemas:
        return [f"{where}: {crd.group} serves {sorted(crd.schemas)}, not {version}"]
    errors = []
    namespace = obj.get("metadata", {}).get("namespace")
    if crd.namespaced and not namespace:
        errors.append(f"{where}: {crd.kind} is namespaced: metadata.namespace is missing")
    if not crd.namespaced and namespace:
        errors.append(f"{where}: {crd.kind} is cluster-scoped: metadata.namespace must not be set")
    openapi = crd.schemas[version]
    validator = jsonschema.Draft202012Validator(object_schema(openapi), format_checker=FORMATS)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(object)"
        errors.append(f"{where}: {path}: {error.message}")
    if not errors:
        errors += [f"{where}: {e}" for e in cel_errors(openapi, obj, "")]
    return errors
