"""Check the package's layout: no import cycle, no stage importing another stage, and each layer importing only those below it.

    python -m pipeline.tools.imports_check      (run by `make lint`)

Every `import` counts, at module level or inside a function, and `if TYPE_CHECKING:` ones too: a cycle hidden
behind a deferred import is still two modules that cannot be understood one without the other. The layers:
`tasks` at the bottom; `pipeline.ml` (models, training, data, evaluation), `pipeline.core` (the loop's
infrastructure) and `pipeline.components` (judges, labelers, scorers, proposers, rounds, executors, the gate) in
the middle, importing one another but nothing above them except the interface every stage implements
(`pipeline.stages.base`); `pipeline.stages`; then `pipeline.loop` and `pipeline.tools`, which nothing below imports.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "tasks")
#: what each part may import (besides itself and the standard and third-party libraries)
MIDDLE = {"tasks", "pipeline.ml", "pipeline.core", "pipeline.components", "pipeline.stages.base"}
MAY_IMPORT = {
    "tasks": {"tasks"},
    "pipeline.ml": MIDDLE,
    "pipeline.core": MIDDLE,
    "pipeline.components": MIDDLE,
    "pipeline.stages": {"tasks", "pipeline.ml", "pipeline.core", "pipeline.components", "pipeline.stages"},
    "pipeline.loop": {"tasks", "pipeline.ml", "pipeline.core", "pipeline.components", "pipeline.stages", "pipeline.loop"},
    "pipeline.tools": {"tasks", "pipeline.ml", "pipeline.core", "pipeline.components", "pipeline.stages", "pipeline.loop", "pipeline.tools"},
    "pipeline": {"pipeline"},
}
#: modules in pipeline/stages/ that every stage may import: they hold no stage
STAGE_COMMONS = {"pipeline.stages", "pipeline.stages.base"}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (a package by its own name)."""
    found = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The project modules `name` imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        yield from (t for t in targets if t in known and t != name)


def layer(name: str) -> str:
    """The entry of MAY_IMPORT that `name` belongs to: its longest matching prefix."""
    return max((k for k in MAY_IMPORT if name == k or name.startswith(k + ".")), key=len)


def is_stage(name: str) -> bool:
    return name.startswith("pipeline.stages.") and name not in STAGE_COMMONS


def problems(root: Path = ROOT) -> list[str]:
    """Every layout rule the tree breaks, one line each: layer crossings, stage-to-stage imports, cycles."""
    found = modules(root)
    graph = {name: sorted(set(imports(name, path, set(found)))) for name, path in found.items()}
    out = []
    for name, targets in graph.items():
        for t in targets:
            if is_stage(name) and is_stage(t):
                out.append(f"stage imports stage: {name} -> {t} (move what both use into a module of pipeline.ml, core or components)")
            elif not any(t == k or t.startswith(k + ".") for k in MAY_IMPORT[layer(name)]):
                out.append(f"layer crossed: {name} -> {t} ({layer(name)} may import {', '.join(sorted(MAY_IMPORT[layer(name)]))})")
    out += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan's algorithm), as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            comp.append(v)
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in graph:
        if v not in index:
            visit(v)
    return [_path(graph, set(comp), min(comp)) for comp in comps]


def _path(graph: dict[str, list[str]], comp: set[str], start: str) -> list[str]:
    """A closed path through `start` inside one strongly connected component (breadth-first, so a shortest one)."""
    prev, frontier = {start: ""}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in graph[v]:
                if w == start:
                    path = [v]
                    while prev[path[-1]]:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w in comp and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"layout: {len(modules())} modules, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
