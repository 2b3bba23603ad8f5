"""The package's import graph, read statically (ast): cycles and imports that run up a floor.

Every ``import`` and ``from … import`` of every module of ``rec/`` counts, the ones inside
functions too (a function-local import is still a dependency, only a hidden one). An edge
goes to the module that is imported (``from rec.coding import avl`` → ``rec.coding.avl``;
``from rec.samplers import make`` → ``rec.samplers``, its ``__init__``). Importing ``a.b.c`` runs
``a.b``'s ``__init__`` first, so it is an edge to ``a.b`` too (the loop rec.reference → rec.codecs
→ rec.codecs.mbt2018 → rec.reference hides there), except from inside ``a.b`` and to the root
package (its ``__init__`` is lazy).

Floors (docs/design.md §2), lowest first; a module may import its own floor and those below::

    base       errors, bitio, random, inverse_normal, threads, stages, portable, signals, coding.limits
    data       distributions, container, image, metrics
    coding     coding/
    samplers   samplers/
    models     models/ (networks, entropy models, the zoo of shipped weights)
    run files  training.config, training.shards, training.checkpoint (what a run writes), training/__init__
    codecs     codecs/, codec (the front door), reference (the mbt2018 engine)
    training   training/ (the loop, the data)
    evaluation evaluation/
    app        cli, batch, fuzzing, rec (the package's lazy front door)

    python scripts/import_graph.py            # summary: modules, edges, cycles, upward imports
    python scripts/import_graph.py --edges    # every edge, with its floors
    python scripts/import_graph.py --dot      # Graphviz
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "rec"

#: (floor, module prefixes), lowest first; the longest matching prefix decides. "pkg." holds the modules
#: inside pkg but not pkg's __init__ (rec.training's __init__ imports only the run files).
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("rec.errors", "rec.bitio", "rec.random", "rec.inverse_normal", "rec.threads", "rec.stages", "rec.portable", "rec.signals", "rec.coding.limits")),
    ("data", ("rec.distributions", "rec.container", "rec.image", "rec.metrics")),
    ("coding", ("rec.coding",)),
    ("samplers", ("rec.samplers",)),
    ("models", ("rec.models",)),
    ("run files", ("rec.training", "rec.training.config", "rec.training.shards", "rec.training.checkpoint")),
    ("codecs", ("rec.codecs", "rec.codec", "rec.reference")),
    ("training", ("rec.training.",)),
    ("evaluation", ("rec.evaluation",)),
    ("app", ("rec.cli", "rec.batch", "rec.fuzzing", "rec")),
]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    local: bool  # inside a function


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name → file of every module of the package."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def floor(module: str) -> int:
    """Index of the module's floor in :data:`FLOORS` (longest matching prefix)."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(FLOORS):
        for p in prefixes:
            if p.endswith("."):  # "pkg.": the modules inside pkg, not its __init__
                inside = module.startswith(p)
            else:  # "rec" is only the package itself
                inside = module == p or (p != PACKAGE and module.startswith(p + "."))
            if inside and len(p) > best_len:
                best, best_len = i, len(p)
    if best is None:
        raise KeyError(f"{module} is on no floor: add it to FLOORS")
    return best


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def edges(known: dict[str, Path] | None = None) -> list[Edge]:
    known = known or modules()
    out = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        local_nodes = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                local_nodes.update(id(n) for n in ast.walk(node) if n is not node)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` names the submodule when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for t in targets:
                if not (t == PACKAGE or t.startswith(PACKAGE + ".")):
                    continue
                target = _resolve(t, known)
                if target is None or target == source:
                    continue
                out.append(Edge(source, target, node.lineno, id(node) in local_nodes))
                # importing a.b.c runs the package a.b's __init__ first: an edge to it too, unless the
                # source lies inside that package (its __init__ ran before) or it is the root (lazy)
                parent = target.rpartition(".")[0]
                while parent.count("."):
                    if parent in known and not (source + ".").startswith(parent + "."):
                        out.append(Edge(source, parent, node.lineno, id(node) in local_nodes))
                    parent = parent.rpartition(".")[0]
    return sorted(set(out), key=lambda e: (e.source, e.target, e.line))


def cycles(graph_edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (each holds at least one cycle), sorted."""
    graph: dict[str, set[str]] = {}
    for e in graph_edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan, iteratively
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def upward(graph_edges: list[Edge]) -> list[Edge]:
    """Edges from a module to one on a higher floor."""
    return [e for e in graph_edges if floor(e.target) > floor(e.source)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="list every edge")
    parser.add_argument("--dot", action="store_true", help="print the graph in Graphviz's language")
    args = parser.parse_args(argv)
    known = modules()
    graph_edges = edges(known)
    if args.dot:
        print("digraph rec {\n  rankdir=BT;")
        for e in sorted({(e.source, e.target) for e in graph_edges}):
            print(f'  "{e[0]}" -> "{e[1]}";')
        print("}")
        return 0
    if args.edges:
        for e in graph_edges:
            tag = " (local)" if e.local else ""
            print(f"{e.source}:{e.line} [{FLOORS[floor(e.source)][0]}] -> {e.target} [{FLOORS[floor(e.target)][0]}]{tag}")
    found, up = cycles(graph_edges), upward(graph_edges)
    local = sum(e.local for e in graph_edges)
    print(f"{len(known)} modules, {len(graph_edges)} imports ({local} function-local), "
          f"{len(found)} cycles, {len(up)} upward imports")
    for component in found:
        print("cycle:", " ⇄ ".join(component))
    for e in up:
        print(f"upward: {e.source}:{e.line} [{FLOORS[floor(e.source)][0]}] -> {e.target} [{FLOORS[floor(e.target)][0]}]")
    return 1 if found or up else 0


if __name__ == "__main__":
    sys.exit(main())
