"""The import graph the README draws: no circles among Berth's modules, and the registry and deploy
packages know nothing of Flask, the database or the workflow (they take and return plain values).
Imports inside functions count too: hiding one does not break a circle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "blueprints")
TOP_MODULES = ("app", "models", "extensions", "config", "wsgi")
# What the leaf packages may import from Berth: themselves, and pure helpers with no state.
LEAF_PACKAGES = ("services.registries.clients", "services.deploy.drivers", "services.trust.cosign")
PURE_HELPERS = {"services.delivery.versions", "services.errors", "services.registries.clients.errors"}
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


def test_registry_deploy_and_signature_packages_are_leaves():
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


def _domain(module: str) -> str | None:
    """services.<domain>.… -> services.<domain>; blueprints.… -> blueprints.<page group>."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in PACKAGES and len(parts) > 2 or parts[0] == "blueprints" else None


def test_domains_reach_each_other_only_through_public_names():
    """A module of one domain uses another domain's modules only by their public names: no
    `from services.x.y import _helper`, no `y._helper` on a module imported from another domain."""
    modules = _berth_modules()
    wrong: dict[str, set[str]] = {}
    for name, path in modules.items():
        own = _domain(name)
        tree = ast.parse(path.read_text())
        foreign_aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if node.module.split(".")[0] not in PACKAGES or _domain(node.module) == own:
                continue
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target in modules:
                    if _domain(target) != own:
                        foreign_aliases[alias.asname or alias.name] = target
                elif alias.name.startswith("_"):
                    wrong.setdefault(name, set()).add(target)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in foreign_aliases and node.attr.startswith("_")):
                wrong.setdefault(name, set()).add(f"{foreign_aliases[node.value.id]}.{node.attr}")
    assert not wrong, f"private names used across domains: {wrong}"


def test_views_do_not_query_the_database():
    """Blueprints call services; only the fetch helpers of blueprints.scope load rows themselves."""
    modules = _berth_modules()
    wrong = {}
    for name, path in modules.items():
        if not name.startswith("blueprints") or name == "blueprints.scope":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("models", "sqlalchemy", "sqlalchemy.orm"):
                names = {a.name for a in node.names}
                if node.module != "models" or "db" in names:
                    wrong.setdefault(name, set()).update(f"{node.module}.{n}" for n in names)
    assert not wrong, f"views reaching the database: {wrong}"


def test_the_audit_trail_is_written_by_services_only():
    """Views read the audit trail (its page) but never write it: the service that makes a change
    records it, so every way in (pages, CLI, the leader, an API) leaves the same entries."""
    modules = _berth_modules()
    wrong = []
    for name, path in modules.items():
        if not name.startswith("blueprints"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "record" and isinstance(node.value, ast.Name)
                    and node.value.id == "audit"):
                wrong.append(f"{name}:{node.lineno}")
    assert not wrong, f"views writing the audit trail: {wrong}"


def test_every_error_a_person_reads_derives_from_one_root():
    """Every exception class Berth defines in services derives from services.errors.BerthError."""
    import importlib

    from services.errors import BerthError
    outside = []
    for name in _berth_modules():
        if not name.startswith("services"):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name
                    and not issubclass(value, BerthError)):
                outside.append(f"{name}.{value.__name__}")
    assert not outside, f"errors outside the one root: {outside}"
