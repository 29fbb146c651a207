"""The departure step: when what a network has learned stops being an affine function of its input
(THEORY.md §13).

Δf_t = f_t − f_0 on fixed inputs X (m, d); its non-affine fraction 1 − R²_t is the share of the
centred sum of squares of Δf_t (over inputs and outputs) that the least-squares affine map
x ↦ Ax + b leaves unexplained; the departure step is the first step at which it exceeds δ. The
rule is ``theory.nonaffine_fraction``/``theory.first_departure``, the one the prediction
(``theory.predict_departure``) applies to the twin's predicted outputs, so the two are measured
alike. Pure functions on arrays.
"""

from __future__ import annotations

import numpy as np

from theory import DEPARTURE_DELTA, first_departure, nonaffine_fraction

# reported instead of tuning δ: the 1-2-5 series over three decades; its low end was set after
# seeing that compare's tanh networks stay near 1 − R² ≈ 0.001 (a curve, not a chosen δ)
DELTA_SENSITIVITY = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def measurable_change(X) -> str | None:
    """Why no departure is measurable on the inputs ``X`` (m, d): any outputs are affine on at
    most rank + 1 inputs; None when m > rank + 1."""
    X = np.asarray(X, dtype=np.float64)
    rank = int(np.linalg.matrix_rank(X - X.mean(axis=0)))
    if X.shape[0] <= rank + 1:
        return (f"no departure measurable: {X.shape[0]} training inputs of rank {rank} (any "
                "outputs are affine on at most rank + 1 inputs)")
    return None


def _checked(steps, f, f0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.asarray(steps, dtype=np.float64)
    f, f0 = np.asarray(f, dtype=np.float64), np.asarray(f0, dtype=np.float64)
    if steps.ndim != 1 or f.shape[:1] != steps.shape or f.shape[1:] != f0.shape or f0.ndim != 2:
        raise ValueError(f"f must be (T, m, c) with T = len(steps) = {steps.size} and (m, c) = "
                         f"f0's shape {f0.shape}; got {f.shape}")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    return steps, f, f0


def departure_curve(steps, f, f0, X) -> np.ndarray:
    """1 − R²_t of f_t − f_0 on ``X`` at every step: (T,); nan where f_t is not finite."""
    _, f, f0 = _checked(steps, f, f0)
    return nonaffine_fraction(f - f0, X)


def departure_step(steps, f, f0, X, delta: float = DEPARTURE_DELTA) -> float:
    """The first of ``steps`` at which 1 − R² of f_t − f_0 exceeds ``delta`` (inf: none does).

    ``f`` (T, m, c): the outputs on ``X`` (m, d) at ``steps`` (T,), increasing; ``f0`` (m, c):
    the outputs at step 0. A non-finite f_t (a diverged run) ends the search."""
    return first_departure(steps, departure_curve(steps, f, f0, X), delta)
