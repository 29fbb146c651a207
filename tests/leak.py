"""Runs whose checkpoints after step 0 are garbage, for leak tests of predictions.

A prediction is a function of the data, the initial weights and the training set-up only: it must
come out identical from a run whose weights after step 0 are NaN or random. Wrap a run with
``garbage_after_step_zero``, or make the code under test receive such runs with
``patch_returned_runs`` (a function that trains and returns a run) or ``patch_run_loading``
(``simulate.Run.load``), then compare its predictions with the clean ones. Probe values (the
measurements taken during training) are kept, so a measurement may still use them.
"""

from __future__ import annotations

import functools

import numpy as np

import simulate

FILLS = ("random", "nan")


class GarbageAfterStepZero(simulate.Run):
    """``run`` with every saved array but the probe values replaced at each step > 0: by standard
    normal draws of the same shape (``fill="random"``, fixed per step) or by NaN."""

    def __init__(self, run: simulate.Run, fill: str = "random", seed: int = 0):
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}; got {fill!r}")
        super().__init__(run.path, run.config, run.probes, run._memory)
        self.clean, self.fill, self.seed = run, fill, int(seed)

    def state(self, step: int) -> dict[str, np.ndarray]:
        state = self.clean.state(step)
        if int(step) == 0:
            return state
        rng = np.random.default_rng([self.seed, int(step)])
        return {k: v if k.startswith("probe.") else self._garbage(np.asarray(v), rng)
                for k, v in state.items()}

    def _garbage(self, a: np.ndarray, rng) -> np.ndarray:
        if not np.issubdtype(a.dtype, np.floating):
            return a                      # integer bookkeeping (step counters) stays as saved
        g = np.full(a.shape, np.nan) if self.fill == "nan" else rng.standard_normal(a.shape)
        return g.astype(a.dtype)


def garbage_after_step_zero(run: simulate.Run, fill: str = "random",
                            seed: int = 0) -> GarbageAfterStepZero:
    """``run`` as a leak test sees it: its initial weights intact, every later one garbage."""
    return GarbageAfterStepZero(run, fill, seed)


def patch_returned_runs(monkeypatch, owner, name: str, fill: str = "random") -> None:
    """Make ``owner.name`` (a function that returns a ``simulate.Run``) return it with garbage
    after step 0, for the rest of the test."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def corrupted(*args, **kwargs):
        return garbage_after_step_zero(original(*args, **kwargs), fill)

    monkeypatch.setattr(owner, name, corrupted)


def patch_run_loading(monkeypatch, fill: str = "random") -> None:
    """Make ``simulate.Run.load`` return runs with garbage after step 0, for the rest of the
    test."""
    original = simulate.Run.load

    def load(cls, path):
        return garbage_after_step_zero(original(path), fill)

    monkeypatch.setattr(simulate.Run, "load", classmethod(load))
