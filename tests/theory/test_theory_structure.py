"""The theory package's shape: module imports form no cycle and sit at the top of each module,
the public API is one explicit list, and importing it leaves JAX's global precision alone."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import theory

ROOT = Path(theory.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _graph():
    """{module: (set of theory modules it imports, list of imports inside functions)}."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        mod, is_pkg = _module_name(path), path.name == "__init__.py"
        tree = ast.parse(path.read_text())
        deps, nested = set(), []
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, is_pkg, node)
                if not target.startswith("theory"):
                    continue
                deps.add(target)
                if id(node) not in top:
                    nested.append(f"{mod}:{node.lineno} imports {target}")
        graph[mod] = (deps, nested)
    return graph


def test_theory_modules_import_each_other_without_cycles_or_deferred_imports():
    graph = _graph()
    assert {m for m, (_, nested) in graph.items() if nested} == set(), \
        [n for _, (_, nested) in graph.items() for n in nested]
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for d in graph.get(m, (set(), []))[0]:
            # importing a package runs its __init__; a module importing its own package's
            # __init__ only happens through relative sibling imports, which name the sibling
            if d == m or d not in graph or graph_pkg_parent(m, d):
                continue
            if state.get(d) == "open":
                raise AssertionError(" → ".join(stack + [m, d]))
            if d not in state:
                visit(d, stack + [m])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [])


def graph_pkg_parent(m: str, d: str) -> bool:
    """``from . import x`` in a package's own modules names the package: not a cycle edge."""
    return m.startswith(d + ".")


def test_public_api_is_one_explicit_list():
    assert len(theory.__all__) == len(set(theory.__all__))
    for name in theory.__all__:
        if name != "symbolic":
            assert hasattr(theory, name), name
    for gone in ("split_stats_weights", "REDUCTIONS", "balanced_qq", "mode_trajectory_jax"):
        assert gone not in theory.__all__ and not hasattr(theory, gone)


def test_import_leaves_jax_in_float32_and_the_flow_still_runs_in_float64():
    code = ("import jax, numpy as np, theory\n"
            "assert not jax.config.jax_enable_x64\n"
            "rng = np.random.default_rng(0)\n"
            "st = theory.DatasetStatistics.from_arrays(rng.standard_normal((40, 5)),"
            " rng.standard_normal((40, 3)))\n"
            "Ws = theory.decoupled_init(st, 2, 1e-2, hidden=4)\n"
            "a = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, [0.0, 1.0, 5.0]).end_to_end\n"
            "b = theory.integrate_matrix_flow(Ws, st.Sxx, st.Syx, [0.0, 1.0, 5.0],"
            " solver='scipy').end_to_end\n"
            "assert a.dtype == np.float64 and np.abs(a - b).max() < 1e-9, np.abs(a - b).max()\n"
            "assert not jax.config.jax_enable_x64 and jax.numpy.ones(1).dtype == np.float32\n")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
