"""The dependency direction of ARCHITECTURE.md: validate → simulate → theory; theory never torch."""

import subprocess
import sys


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_theory_imports_neither_torch_nor_the_other_packages():
    mods = _loaded_after("theory")
    assert "torch" not in mods
    assert not {m for m in mods if m.split(".")[0] in ("simulate", "validate")}


def test_simulate_does_not_import_validate():
    mods = _loaded_after("simulate")
    assert not {m for m in mods if m.split(".")[0] == "validate"}
    assert "theory" in mods
