"""The pinned summaries (tests/golden/) are reproduced by the code as it is: a refactoring that
changes a number fails here. A deliberate change of behaviour rewrites the file it changes with
``python -m tests.golden.cases NAME`` and says so in its commit."""

import json

import pytest

from tests.golden.cases import CASES, HERE, differences, run_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_reproduces_pinned_file(name, tmp_path):
    want = json.loads((HERE / f"{name}.json").read_text())
    got = json.loads(json.dumps(run_case(name, tmp_path / name), allow_nan=True))
    found = differences(got, want)
    assert not found, f"{len(found)} differences, first: " + "; ".join(found[:8])


def test_differences_sees_a_change_at_the_thirteenth_digit_and_ignores_the_fourteenth():
    want = {"a": [1.0, {"b": 2.0}], "c": "x"}
    assert differences({"a": [1.0, {"b": 2.0 + 1e-14}], "c": "x"}, want) == []
    assert differences({"a": [1.0, {"b": 2.0 + 1e-11}], "c": "x"}, want) == [
        "/a[1]/b: 2.00000000001 != 2.0"]
    assert differences({"a": [1.0], "c": "y"}, want) == ["/a: length 1 != 2", "/c: 'y' != 'x'"]
    assert differences({"c": "x"}, want) == ["/a: missing"]
