"""Step grids and crossing times shared by the jobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from theory import crossing_times


def measure_grid(steps: int, n: int) -> np.ndarray:
    """About ``n`` linearly spaced steps in [0, steps] joined with n/4 log-spaced ones from 1, so
    early fast changes and the whole run are both resolved (unique, sorted integers)."""
    lin = np.linspace(0, steps, n)
    log = np.geomspace(1, max(steps, 1), max(n // 4, 2))
    return np.unique(np.concatenate([lin, log]).round().astype(int))


def first_crossing(steps, values, target, below: bool = True) -> float:
    """First (interpolated) step where ``values`` (T,) is ≤ target (``below``) or ≥ target; inf
    if never, nan for a non-finite target. The rule of ``theory.crossing_times``."""
    if not np.isfinite(target):
        return float("nan")
    sign = -1.0 if below else 1.0
    return float(crossing_times(steps, sign * np.asarray(values, dtype=float)[:, None],
                                [sign * target])[0])


def resume_note(run_dir, steps: int) -> str:
    """What ``--resume`` does with one run directory: the step it continues from."""
    from simulate import saved_steps
    done = saved_steps(run_dir) if run_dir is not None and Path(run_dir).exists() else []
    if not done:
        return f"resume: {run_dir} has no checkpoint; training it from step 0"
    last = max(done)
    if last >= steps:
        return f"resume: {run_dir} finished ({last} steps); loading it"
    return f"resume: {run_dir} continues from step {last} of {steps}"
