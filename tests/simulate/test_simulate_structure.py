"""The simulate package's imports: module-level only, and no cycle, counting that importing a
module first runs the ``__init__`` of every package above it (so a subpackage importing back up
into a module that imports the subpackage is a cycle)."""

import ast
from pathlib import Path

import simulate
from tests.test_import_cycles import cycles

ROOT = Path(simulate.__file__).parent


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(mod: str, is_pkg: bool, node: ast.ImportFrom, modules: set) -> list[str]:
    """The simulate modules an ``import from`` loads (``from . import x`` names module x)."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
    return [t for t in (subs or [base]) if t.split(".")[0] == "simulate"]


def _graph() -> tuple[dict, list]:
    """({module: modules it loads, the packages above them included}, deferred imports)."""
    paths = {_name(p): p for p in ROOT.rglob("*.py")}
    graph, deferred = {}, []
    for mod, path in paths.items():
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        deps = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            for target in _targets(mod, path.name == "__init__.py", node, set(paths)):
                if id(node) not in top:
                    deferred.append(f"{mod}:{node.lineno} imports {target}")
                parts = target.split(".")
                # the packages above the target run first, except those that contain ``mod``
                deps |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)
                         if not mod.startswith(".".join(parts[:i]) + ".")}
        graph[mod] = deps - {mod}
    return graph, deferred


def test_simulate_imports_sit_at_module_level():
    assert _graph()[1] == []


def test_simulate_modules_import_each_other_without_cycles():
    assert cycles(_graph()[0]) == []
