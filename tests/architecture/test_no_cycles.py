"""No import cycles inside the package (issue 12): every import, at module level or inside a
function, goes one way. A cycle is found with Tarjan's algorithm over grimp's import graph
(the graph import-linter builds); a planted cycle in a copy of a tiny package shows it firing."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp


def _cycles(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module among `package`'s own modules."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not (w == package or w.startswith(package + ".")):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_package_has_no_import_cycles() -> None:
    assert _cycles("synthspace") == []


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a  # a lazy import still closes the cycle\n")
    (pkg / "c.py").write_text("from cyclepkg import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert _cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b"]]
    finally:
        sys.path.remove(str(tmp_path))
