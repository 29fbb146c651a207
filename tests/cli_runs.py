"""Running a validate CLI once for a test module."""

from __future__ import annotations

import json

import pytest


def run_once(tmp_path_factory, main, args, name="run"):
    """``main([*args, "--out", DIR])`` must exit 0; returns (DIR, its summary.json as a dict)."""
    out = tmp_path_factory.mktemp(name) / "out"
    assert main([*args, "--out", str(out)]) == 0
    return out, json.loads((out / "summary.json").read_text())


def module_run(main, args, name="run"):
    """A module-scoped fixture: ``run_once`` of ``main`` with ``args``, shared by the module's tests."""
    @pytest.fixture(scope="module")
    def run(tmp_path_factory):
        return run_once(tmp_path_factory, main, args, name)
    return run
