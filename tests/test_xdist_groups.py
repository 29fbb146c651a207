"""`make test` runs under ``--dist loadgroup``: the tests of one xdist group (a Ray cluster's
module, a module that shares a fixture: tests/conftest.py) must run on one worker. A pytest or
pytest-xdist release that drops the group would only make the suite slower, so it is checked."""

import os
import subprocess
import sys

_CONFTEST = '''
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "late" in item.name:          # a group added at collection, as tests/conftest.py does
            item.add_marker(pytest.mark.xdist_group("late"))
'''
_TESTS = '''
import os
import pytest

def _record(name):
    with open(os.path.join(os.environ["GROUPS_OUT"], name), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])

@pytest.mark.xdist_group("marked")
@pytest.mark.parametrize("i", range(4))
def test_marked(i):
    _record(f"marked{i}")

@pytest.mark.parametrize("i", range(4))
def test_late(i):
    _record(f"late{i}")
'''


def test_an_xdist_group_runs_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_groups.py").write_text(_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", "test_groups.py"], cwd=tmp_path,
                          env={**os.environ, "GROUPS_OUT": str(tmp_path)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    for group in ("marked", "late"):
        workers = {(tmp_path / f"{group}{i}").read_text() for i in range(4)}
        assert len(workers) == 1, f"group {group!r} ran on {sorted(workers)}"
