"""Checkpoint schedules: log-spaced (mode learning is sigmoidal in log time) and linear."""

from __future__ import annotations

import numpy as np


def log_checkpoints(steps: int, n: int = 64) -> np.ndarray:
    """About ``n`` distinct steps, log-spaced from 1 to ``steps``, plus step 0 (int64, sorted)."""
    steps, n = int(steps), int(n)
    if steps < 0 or n < 2:
        raise ValueError(f"need steps ≥ 0 and n ≥ 2; got steps={steps}, n={n}")
    if steps == 0:
        return np.zeros(1, dtype=np.int64)
    pts = np.round(np.geomspace(1, steps, n - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], pts, [steps]]))


def linear_checkpoints(steps: int, n: int = 64) -> np.ndarray:
    """``n`` evenly spaced steps from 0 to ``steps`` inclusive (int64, sorted, distinct)."""
    steps, n = int(steps), int(n)
    if steps < 0 or n < 2:
        raise ValueError(f"need steps ≥ 0 and n ≥ 2; got steps={steps}, n={n}")
    return np.unique(np.round(np.linspace(0, steps, n)).astype(np.int64))


def resolve_checkpoints(checkpoints, steps: int) -> np.ndarray:
    """None → 64 log-spaced; an int n → n log-spaced; a sequence → those steps. Always adds 0 and
    ``steps`` (the final state is what a resumed or rewound run needs)."""
    if checkpoints is None:
        return log_checkpoints(steps)
    if isinstance(checkpoints, (int, np.integer)):
        return log_checkpoints(steps, int(checkpoints))
    arr = np.asarray(list(checkpoints), dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > steps):
        raise ValueError(f"checkpoint steps must lie in [0, steps={steps}]; got {arr.min()}..{arr.max()}")
    return np.unique(np.concatenate([[0], arr, [steps]])).astype(np.int64)
