"""The package's import graph has no cycle: rollback/ is layered, every module can be read (and changed) from
the bottom up.

Every import counts: at module level, inside a function (lazy imports still run), and under
``if TYPE_CHECKING:`` (a cycle of types is a cycle of meaning). Importing ``a.b.c`` also runs the packages
``a.b`` above it (their ``__init__``), except a module's own packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import ROOT


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (as dotted names)."""
    name = package.name
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, here, modules):
                if target.split(".")[0] != name:
                    continue
                parts = target.split(".")
                for i in range(2, len(parts) + 1):   # the module, and the packages above it that run
                    ran = ".".join(parts[:i])
                    if ran in modules and ran != module and not module.startswith(ran + "."):
                        graph[module].add(ran)
    return graph


def _targets(node: ast.AST, here: str, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_known(a.name, modules) for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        return [_known(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base, modules) for a in node.names]
    return []


def _known(name: str, modules: dict[str, Path]) -> str:
    while name and name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_inside_rollback() -> None:
    graph = import_graph(ROOT / "rollback")
    assert len(graph) > 50 and graph["rollback.cli"], "the graph was read"
    assert cycles(graph) == []


def test_the_check_sees_lazy_typing_and_package_cycles(tmp_path: Path) -> None:
    """The test above can fail: a cycle through a function-level import, through a TYPE_CHECKING import, and
    through a package's ``__init__`` are each found."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.d import Y\n")
    (pkg / "d.py").write_text("from . import c\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.e import E\n")
    (pkg / "sub" / "e.py").write_text("from pkg.f import F\n")
    (pkg / "f.py").write_text("from pkg.sub.g import G\n")          # runs pkg.sub, which imports e
    (pkg / "sub" / "g.py").write_text("")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"], ["pkg.f", "pkg.sub", "pkg.sub.e"]]
