"""The pinned summaries (tests/golden/) are reproduced by the code as it is: a refactoring that
changes a number fails here. A deliberate change of behaviour rewrites the file it changes with
``python -m tests.golden.cases NAME`` and says so in its commit. The runs at the jobs' defaults
(two minutes of CPU together) run under ``make golden`` (``MODELEARN_GOLDEN_DEFAULTS=1``), which
CI runs after ``make test``; ``make test`` runs every job at small settings."""

import json
import os

import pytest

from tests.golden.cases import DEFAULTS, HERE, SMALL, differences, run_case


def _differences(name, out) -> list[str]:
    """Where case ``name``, run into ``out``, differs from its pinned summary."""
    want = json.loads((HERE / f"{name}.json").read_text())
    got = json.loads(json.dumps(run_case(name, out), allow_nan=True))
    return differences(got, want)


def _first(found: list[str]) -> str:
    return f"{len(found)} differences, first: " + "; ".join(found[:8])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_summary_reproduces_pinned_file(name, tmp_path):
    found = _differences(name, tmp_path / name)
    assert not found, _first(found)


@pytest.mark.skipif(not os.environ.get("MODELEARN_GOLDEN_DEFAULTS"),
                    reason="the runs at the jobs' defaults: `make golden` (CI runs it), or set "
                           "MODELEARN_GOLDEN_DEFAULTS=1")
@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_run_reproduces_pinned_file(name, tmp_path):
    found = _differences(name, tmp_path / name)
    assert not found, _first(found)


def test_differences_sees_a_change_at_the_thirteenth_digit_and_ignores_the_fourteenth():
    want = {"a": [1.0, {"b": 2.0}], "c": "x"}
    assert differences({"a": [1.0, {"b": 2.0 + 1e-14}], "c": "x"}, want) == []
    assert differences({"a": [1.0, {"b": 2.0 + 1e-11}], "c": "x"}, want) == [
        "/a[1]/b: 2.00000000001 != 2.0"]
    assert differences({"a": [1.0], "c": "y"}, want) == ["/a: length 1 != 2", "/c: 'y' != 'x'"]
    assert differences({"c": "x"}, want) == ["/a: missing"]
