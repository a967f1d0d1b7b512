"""Inputs and outputs tables of the Terraform READMEs, generated from variables.tf and
outputs.tf so they cannot drift from the code.

Each README holds the tables between <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->.
  python tests/terraform/tfdocs.py terraform           # rewrite the tables
  python tests/terraform/tfdocs.py --check terraform   # fail (exit 1) on drift, as CI does
Every configuration under the given folders (root, modules, examples; not tests) must have
a README with the markers. Names and descriptions come from python-hcl2; types and defaults
are the source text as written, on one line.
"""

import argparse
import difflib
import re
import sys
from pathlib import Path

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
MAX_README_BYTES = 1_000_000


def blocks(path: Path, kind: str) -> list[tuple[str, dict, str]]:
    """(name, parsed body, source text) of each `kind` block in path, in file order."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for entry in hcl2.loads(text).get(kind, []):
        for name, body in entry.items():
            start, end = body.get("__start_line__"), body.get("__end_line__")
            source = "\n".join(lines[start - 1: end]) if start and end else ""
            found.append((name, body, source))
    return found


def attribute_source(block_source: str, attr: str) -> str | None:
    """The expression of a top-level `attr = …` in a block's source, on one line."""
    match = re.search(rf"^  {attr}\s*=\s*", block_source, re.M)
    if not match:
        return None
    rest, depth, end, quote = block_source[match.end():], 0, None, False
    for i, ch in enumerate(rest):
        if quote:
            if ch == "\\":
                continue
            if ch == '"' and rest[i - 1] != "\\":
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "\n" and depth == 0:
            end = i
            break
    expr = rest[:end] if end is not None else rest
    # One line: fields that stood on their own lines are joined with ", ".
    parts = [re.sub(r" {2,}", " ", p.strip()) for p in expr.strip().splitlines() if p.strip()]
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        if joined.endswith(("{", "(", "[", ",")) or part.startswith(("}", ")", "]")):
            joined += " " + part
        else:
            joined += ", " + part
    return joined.replace("( ", "(").replace(" )", ")")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def description(body: dict) -> str:
    raw = body.get("description", [""])[0]
    return cell(raw.replace('\\"', '"'))


def tables(folder: Path) -> str:
    rows = ["## Inputs", "", "| Name | Description | Type | Default |", "|------|-------------|------|---------|"]
    inputs = blocks(folder / "variables.tf", "variable")
    for name, body, source in inputs:
        type_src = attribute_source(source, "type") or "any"
        default = attribute_source(source, "default")
        rows.append(f"| `{name}` | {description(body)} | `{cell(type_src)}` | {'required' if default is None else '`' + cell(default) + '`'} |")
    if not inputs:
        rows.append("| – | none | | |")
    rows += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    outputs = blocks(folder / "outputs.tf", "output")
    for name, body, _ in outputs:
        rows.append(f"| `{name}` | {description(body)} |")
    if not outputs:
        rows.append("| – | none |")
    return "\n".join(rows)


def configurations(roots: list[Path]) -> list[Path]:
    found = set()
    for root in roots:
        for tf in root.rglob("*.tf"):
            if ".terraform" in tf.parts or "tests" in tf.relative_to(root).parts:
                continue
            found.add(tf.parent)
    return sorted(found)


def render(readme_text: str, generated: str) -> str | None:
    if readme_text.count(BEGIN) != 1 or readme_text.count(END) != 1 or readme_text.index(BEGIN) > readme_text.index(END):
        return None
    head, rest = readme_text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{generated}\n{END}{tail}"


def run(roots: list[Path], check: bool) -> list[str]:
    problems = []
    for folder in configurations(roots):
        readme = folder / "README.md"
        if not readme.is_file() or readme.stat().st_size > MAX_README_BYTES:
            problems.append(f"{readme}: missing (every configuration documents its inputs and outputs)")
            continue
        current = readme.read_text()
        wanted = render(current, tables(folder))
        if wanted is None:
            problems.append(f"{readme}: needs exactly one {BEGIN} … {END} pair")
        elif wanted != current:
            if check:
                diff = "".join(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), str(readme), "generated", n=1))
                problems.append(f"{readme}: tables out of date; run python tests/terraform/tfdocs.py terraform\n{diff}")
            else:
                readme.write_text(wanted)
                print(f"updated {readme}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of rewriting")
    parser.add_argument("roots", nargs="+", type=Path)
    args = parser.parse_args(argv)
    problems = run(args.roots, args.check)
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(f"terraform docs: {len(configurations(args.roots))} READMEs match their code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
