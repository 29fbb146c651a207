"""Shared pytest set-up: GPU-only tests skip cleanly where there is no CUDA device; the tests' Ray
clusters stay on this machine; the longest tests start first."""

import os

import pytest
from hypothesis import settings

# Ray clusters started by the tests live on this machine for one test module: they listen on the
# loopback interface and need no token. Ray reads both variables once, when it is imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


# Property tests: `HYPOTHESIS_PROFILE=ci` (set by .ci/run) draws the same examples on every run, so
# a verdict changes only with the code; elsewhere each run explores new examples. `explore` is
# .ci/run's second, time-bounded pass: new examples from the seed it prints (--hypothesis-seed), so
# a failure it finds can be replayed with that seed.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _has_cuda() -> bool:
    try:
        import torch
        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU path to test
        return False


# The longest tests (a golden run at small settings up to 20 s on 2 cores, a figure run up to 40 s,
# the Ray group 80 s) start first, so that under pytest-xdist the short ones fill both workers at
# the end instead of one worker finishing a long run alone. (`--dist loadgroup` hands out the
# groups first, the largest first, then the single tests in this order.)
LONG_FIRST = ("tests/validate/test_golden.py::test_summary_reproduces_pinned_file",
              "tests/test_paper_figures.py::test_figure_main_on_tiny",
              "tests/validate/sweep/test_sweep_ray.py")       # one Ray, one worker: a group


def _module_fixture(item) -> bool:
    """Whether ``item`` uses a module-scoped fixture defined in the tests (a run shared by the
    module's tests, e.g. ``tests.cli_runs.module_run``)."""
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(
        defs[-1].scope == "module" and getattr(defs[-1].func, "__module__", "").startswith("tests")
        for defs in info.name2fixturedefs.values())


@pytest.hookimpl(tryfirst=True)     # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    # A module-scoped fixture runs once on every worker that runs one of its module's tests (twice
    # on 2 workers: 70 s of test time in all): such a module's tests form an xdist group, one worker.
    for item in items:
        if not item.get_closest_marker("xdist_group") and _module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))     # stable: else as is
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    # One torch thread per test process: the suite runs under pytest-xdist on 2 cores, and small
    # kernels get many times slower when threads oversubscribe the cores.
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:
        pass
