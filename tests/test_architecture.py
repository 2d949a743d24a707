"""The shape of the code: imports point one way (DESIGN §2) and modules form no cycle.

Read from the source with ``ast``, so the test sees what a reader sees: every
``import`` of one of our apps, at the top of a module or inside a function.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ["gov_platform", "accounts", "grids", "outbox", "cases", "metrics", "demo"]
# Which of our apps each app may import (DESIGN §2). gov_platform holds settings, the
# Celery app and a few framework helpers every app may use; it imports no app itself,
# except its URL configuration, which wires them all.
ALLOWED = {
    "gov_platform": set(),
    "grids": {"gov_platform"},
    "accounts": {"gov_platform", "grids"},
    "outbox": {"gov_platform"},
    "cases": {"gov_platform", "grids", "accounts", "outbox"},
    "metrics": {"gov_platform", "cases", "grids", "accounts", "outbox"},
    "demo": set(APPS) - {"demo"},
}
WIRING = {"gov_platform.urls", "gov_platform.api_urls"}


def _modules():
    for app in APPS:
        base = ROOT / app
        if not base.exists():
            continue
        for path in base.rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts
            if "migrations" in parts or "tests" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path, parts[-1] == "__init__"


def _imports(name, path, is_package):
    """(imported module, at top level?) for each import of one of our apps."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_package else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            targets = [module]
            # "from . import x" names submodules.
            if not node.module or node.level:
                targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        for target in targets:
            if target.split(".")[0] in APPS:
                found.append((target, id(node) in top_level))
    return found


def _graph():
    modules = {name: (path, pkg) for name, path, pkg in _modules()}
    edges, all_edges = {}, {}
    for name, (path, pkg) in modules.items():
        for target, top in _imports(name, path, pkg):
            # Resolve "pkg.name" to the module when it is one, else to the package.
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target not in modules or target == name:
                continue
            all_edges.setdefault(name, set()).add(target)
            if top:
                edges.setdefault(name, set()).add(target)
    return modules, edges, all_edges


def test_imports_point_the_way_the_design_says():
    modules, _edges, all_edges = _graph()
    wrong = []
    for source, targets in all_edges.items():
        source_app = source.split(".")[0]
        if source in WIRING:
            continue
        for target in targets:
            target_app = target.split(".")[0]
            if target_app != source_app and target_app not in ALLOWED[source_app]:
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_no_module_import_cycle():
    modules, edges, _all = _graph()
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" → ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("source", ["from . import b", "from .c import d", "import cases.models"])
def test_the_walker_sees_relative_and_absolute_imports(tmp_path, source):
    path = tmp_path / "m.py"
    path.write_text(source + "\n")
    found = _imports("cases.a", path, False)
    assert found and all(target.startswith("cases") and top for target, top in found)
