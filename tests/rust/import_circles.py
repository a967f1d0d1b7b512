#!/usr/bin/env python3
"""Fails when files of one Rust crate import each other in a circle, or its folders do.

The data flows one way through each crate: a file may use what the files it names give it,
never what uses it. A file A points at B when A names `crate::b…` or `super::b…` (outside its
`#[cfg(test)] mod tests`), B being another file's module. The same holds one level up: a folder
is one part (`aws/`, `identity/`), a file at the root its own, and no part may import a part
that imports it back, even through files that form no circle themselves.
Usage: import_circles.py SRC_DIR...
"""
import os
import re
import sys


def modules(src):
    """Module path (a::b) of every file under src, and the file."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, name), src)[:-3].split(os.sep)
                if rel[-1] in ("mod", "lib") or (rel == ["main"] and not os.path.exists(os.path.join(src, "lib.rs"))):
                    rel = rel[:-1]
                found["::".join(rel)] = os.path.join(root, name)
    return found


def balanced(text, open_at):
    """The index just past the brace that closes the one at open_at."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return len(text)


def without_test_modules(text):
    while (match := re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)):
        text = text[: match.start()] + text[balanced(text, match.end() - 1):]
    return text


def paths(tree):
    """Every path a use tree names: `a::{b::{C, d}, e}` gives a::b::C, a::b::d, a::e."""
    tree = tree.strip()
    if "{" not in tree:
        return [tree] if tree else []
    brace = tree.index("{")
    prefix, inner = tree[:brace], tree[brace + 1 : balanced(tree, brace) - 1]
    items, depth, item = [], 0, ""
    for ch in inner:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
        else:
            item += ch
    items.append(item)
    return [prefix + p for it in items for p in paths(it)]


def edges(module, path, mods):
    text = open(path, encoding="utf-8", errors="replace").read()
    text = re.sub(r"//[^\n]*", "", text)
    text = without_test_modules(text)
    # `super` is the module above this one, whether this one is a file or a folder's mod.rs.
    parent = module.split("::")[:-1] if module else []
    targets = set()
    for match in re.finditer(r"\b(crate|super)::", text):
        rest = text[match.end():]
        # `crate::a::b`, `crate::{a, b}` or `crate::a::{b::{C, d}, e}`: the path, then its group.
        head = re.match(r"[\w:]*", rest).group(0)
        group = rest[len(head):]
        tree = head + (group[: balanced(group, 0)] if group.startswith("{") else "")
        base = [] if match.group(1) == "crate" else parent
        for named in paths(tree):
            parts = base + [p for p in named.split("::") if p and p != "self"]
            for k in range(len(parts), 0, -1):
                target = "::".join(parts[:k])
                if target in mods:
                    if target != module:
                        targets.add(target)
                    break
    return targets


def components(graph):
    """Tarjan's strongly connected components: every one with two or more nodes is a circle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def part(module):
    """The part a module belongs to: its top folder, or itself for a file at the root."""
    return module.split("::")[0]


def circles(src):
    """File circles (as file paths), then part circles (as folder or file names)."""
    mods = modules(src)
    graph = {m: edges(m, p, mods) for m, p in mods.items()}
    files = [[mods[m] for m in c] for c in components(graph)]
    parts = {part(m): set() for m in graph if m}
    for module, targets in graph.items():
        if not module:
            continue
        parts.setdefault(part(module), set()).update(part(t) for t in targets if t and part(t) != part(module))
    shown = lambda p: os.path.join(src, p) + ("/" if os.path.isdir(os.path.join(src, p)) else ".rs")
    return files + [[shown(p) for p in c] for c in components(parts)]


def main(dirs):
    bad = [c for src in dirs for c in circles(src)]
    for circle in bad:
        print("import circle: " + " <-> ".join(circle), file=sys.stderr)
    if bad:
        print("the data flows one way: move the type both need to where both can take it from", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
