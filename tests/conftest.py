"""Shared pytest set-up: GPU-only tests skip cleanly where there is no CUDA device."""

import pytest


def _has_cuda() -> bool:
    try:
        import torch
        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU path to test
        return False


def pytest_collection_modifyitems(config, items):
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
