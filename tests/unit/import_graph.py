#!/usr/bin/env python3
"""Import graph among devbox modules, counting function-level imports.

Usage: import_graph.py [REPO] [--json]

Walks every devbox/**/*.py with ast (every Import/ImportFrom node anywhere in the
module, including inside functions and TYPE_CHECKING blocks), resolves absolute and
relative imports to devbox module names, and records for every edge the names used
and whether the import is at top level or inside a function. Prints the edges, the
strongly connected components (import cycles) and, for each cycle, the edges inside it.

Meant to become tests/unit/test_layering.py's helper: `graph(repo)` and `cycles(graph)`.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Edge:
    src: str
    dst: str
    names: set[str] = field(default_factory=set)
    lines: set[int] = field(default_factory=set)
    function_level: bool = False  # at least one import of this edge sits inside a def
    top_level: bool = False


def module_name(repo: Path, path: Path) -> str:
    rel = path.relative_to(repo).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(repo: Path, package: str = "devbox") -> dict[str, Path]:
    return {module_name(repo, p): p for p in sorted((repo / package).rglob("*.py"))}


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """Longest prefix of `name` that is a devbox module."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in mods:
            return cand
        parts.pop()
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, mod: str, is_pkg: bool, mods: dict[str, Path]) -> None:
        self.mod, self.is_pkg, self.mods = mod, is_pkg, mods
        self.depth = 0
        self.found: list[tuple[str, str, int, bool]] = []  # (dst, name, line, in_function)

    def _fn(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _fn

    def _add(self, dst: str | None, name: str, line: int) -> None:
        if dst and dst != self.mod:
            self.found.append((dst, name, line, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name == "devbox" or a.name.startswith("devbox."):
                dst = _resolve(a.name, self.mods)
                self._add(dst, a.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.mod.split(".")
            if not self.is_pkg:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            full = ".".join(base + ([node.module] if node.module else []))
        else:
            full = node.module or ""
        if not (full == "devbox" or full.startswith("devbox.")):
            return
        for a in node.names:
            sub = f"{full}.{a.name}"
            if sub in self.mods:  # from devbox import x  -> module devbox.x
                self._add(sub, a.name, node.lineno)
            else:  # from devbox.x import y -> module devbox.x, name y
                dst = _resolve(full, self.mods)
                self._add(dst, a.name, node.lineno)


def graph(repo: Path, package: str = "devbox") -> dict[tuple[str, str], Edge]:
    mods = modules(repo, package)
    edges: dict[tuple[str, str], Edge] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        v = _Visitor(mod, path.name == "__init__.py", mods)
        v.visit(tree)
        for dst, name, line, in_fn in v.found:
            e = edges.setdefault((mod, dst), Edge(mod, dst))
            e.names.add(name)
            e.lines.add(line)
            e.function_level |= in_fn
            e.top_level |= not in_fn
    # Attribute uses: `from devbox.services import daemon` then `daemon.running_pid(...)`:
    # record which attributes of an imported module are used, so an edge says what it needs.
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        alias: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                v = _Visitor(mod, path.name == "__init__.py", mods)
                v.visit_ImportFrom(node)
                for (dst, name, _l, _f), a in zip(v.found, list(node.names), strict=False):
                    if dst.endswith("." + name) or dst == name:
                        alias[a.asname or a.name] = dst
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("devbox.") and a.asname:
                        alias[a.asname] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in alias
            ):
                dst = alias[node.value.id]
                e = edges.get((mod, dst))
                if e is not None:
                    e.names.discard(node.value.id)
                    e.names.discard(dst.rsplit(".", 1)[-1])
                    e.names.add(f"{node.value.id}.{node.attr}")
    return edges


def sccs(nodes: list[str], edges: dict[tuple[str, str], Edge]) -> list[list[str]]:
    """Tarjan; returns components with more than one module (or a self-loop)."""
    adj: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(adj):
        if n not in index:
            strong(n)
    return sorted(out)


def cycles(repo: Path) -> list[list[str]]:
    edges = graph(repo)
    return sccs(list(modules(repo)), edges)


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    repo = Path(args[0] if args else ".").resolve()
    edges = graph(repo)
    mods = modules(repo)
    comps = sccs(list(mods), edges)
    if "--json" in argv:
        print(
            json.dumps(
                {
                    "edges": [
                        {
                            "src": e.src,
                            "dst": e.dst,
                            "names": sorted(e.names),
                            "function_level": e.function_level,
                            "top_level": e.top_level,
                        }
                        for e in sorted(edges.values(), key=lambda e: (e.src, e.dst))
                    ],
                    "cycles": comps,
                },
                indent=1,
            )
        )
        return 0
    print(
        f"# devbox import graph: {len(mods)} modules, {len(edges)} edges "
        f"(F = only inside functions, T = top level, TF = both)"
    )
    print(f"\n## Import cycles (strongly connected components): {len(comps)}")
    for i, comp in enumerate(comps, 1):
        print(f"\n### cycle {i}: {len(comp)} modules")
        for m in comp:
            print(f"  - {m}")
        print("  edges inside the cycle:")
        cs = set(comp)
        for e in sorted(edges.values(), key=lambda e: (e.src, e.dst)):
            if e.src in cs and e.dst in cs:
                kind = ("T" if e.top_level else "") + ("F" if e.function_level else "")
                print(f"    {e.src} -> {e.dst} [{kind}] uses {', '.join(sorted(e.names))}")
    print("\n## All edges")
    for e in sorted(edges.values(), key=lambda e: (e.src, e.dst)):
        kind = ("T" if e.top_level else "") + ("F" if e.function_level else "")
        print(f"{e.src} -> {e.dst} [{kind}] {', '.join(sorted(e.names))}")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
