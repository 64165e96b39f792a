"""The import graph of ``src/rpiboot``, read with an AST walk (no module is imported).

Every ``import``/``from ... import`` counts, wherever it stands: at module level, under
``if TYPE_CHECKING:``, inside functions.  A ``from package import name`` where ``name`` is a
submodule counts as an import of that submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "rpiboot"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def imports_of(root: Path, path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports (anywhere in the file)."""
    name = module_name(root, path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(name, path.name == "__init__.py", node.level,
                                         node.module)
            # "from pkg import mod" imports pkg.mod; "from pkg import name" imports pkg
            subs = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t for t in subs if t in modules]
            if len(targets) < len(subs):
                targets.append(base)
        else:
            continue
        for target in targets:
            if target in modules:
                found.add(target)
    found.discard(name)
    return found


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every module under ``src/rpiboot``."""
    root = src
    files = sorted((src / PACKAGE).rglob("*.py"))
    modules = {module_name(root, f) for f in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        graph[module_name(root, path)] = imports_of(root, path, modules)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles
