"""The import graph the README draws: no circles among Berth's modules, and the registry and deploy
packages know nothing of Flask, the database or the workflow (they take and return plain values).
Imports inside functions count too: hiding one does not break a circle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "blueprints")
TOP_MODULES = ("app", "models", "extensions", "config", "wsgi")
# What the leaf packages may import from Berth: themselves, and pure helpers with no state.
LEAF_PACKAGES = ("services.registries.clients", "services.deploy.drivers")
PURE_HELPERS = {"services.delivery.versions"}
OUTSIDE_THE_LEAVES = {"flask", "flask_login", "flask_wtf", "flask_sqlalchemy", "flask_migrate", "sqlalchemy",
                      "models", "extensions", "app"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _berth_modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in TOP_MODULES if (ROOT / f"{name}.py").exists()}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module this file imports, at any depth of the file (Berth's own and third-party roots)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            # `from services.platform import metrics` imports the module services.platform.metrics
            out.update(f"{node.module}.{alias.name}" for alias in node.names
                       if f"{node.module}.{alias.name}" in modules)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _berth_modules()
    return {name: {m for m in _imports(path, modules) if m in modules and m != name and
                   not name.startswith(m + ".")}  # a package's own __init__ is not an edge
            for name, path in modules.items()}


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2
    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_registry_and_deploy_packages_are_leaves():
    modules = _berth_modules()
    wrong = {}
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")
    for name, path in modules.items():
        own = next((p for p in LEAF_PACKAGES if inside(name, p)), None)
        if own is None:
            continue
        for imported in _imports(path, modules):
            root = imported.split(".")[0]
            berth = imported in modules or root in PACKAGES or root in TOP_MODULES
            if root in OUTSIDE_THE_LEAVES or (berth and not inside(imported, own) and imported not in PURE_HELPERS
                                              and imported != "services"):
                wrong.setdefault(name, set()).add(imported)
    assert not wrong, f"leaf packages import the app: {wrong}"
