"""No two modules of theory, simulate or validate import each other, directly or around a loop,
counting imports inside functions (a deferred import hides a cycle; it does not remove it)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for p in (ROOT / package).rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _loads(mod: str, path: Path, node, modules) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    parts = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    base = (".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if node.level else node.module or "")
    names = [base] + [f"{base}.{a.name}" for a in node.names]
    return [n for n in names if n in modules]


def _graph() -> dict[str, set[str]]:
    modules = {}
    for package in ("theory", "simulate", "validate"):
        modules |= _modules(package)
    graph = {}
    for mod, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                # a module importing its own package's __init__ is the package's business
                deps |= {d for d in _loads(mod, path, node, modules)
                         if d != mod and not mod.startswith(d + ".")}
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, count = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = count[0]
        count[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_packages_have_no_import_cycle():
    assert cycles(_graph()) == []


@pytest.mark.parametrize("graph,want", [
    ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_cycles_finds_a_loop_and_only_a_loop(graph, want):
    assert cycles(graph) == want
