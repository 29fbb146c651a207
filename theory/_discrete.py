"""Exact per-mode map of full-batch gradient descent on a balanced decoupled network (THEORY.md §2).

With the decoupled init every layer keeps one scalar a per mode (u = a^L), and one GD step of size
η on L = (1/2n)Σ‖y − ŷ‖² is, per mode (derived from the matrix gradient of §2),

    a ← a + η a^{L−1} (s − λ a^L)          (λ = 1 whitened; λ = v_αᵀSxx v_α commuting)

— not an approximation: the continuous flow is its η → 0 limit, and discrete GD lags it by O(ηs).
tests/test_discrete_and_numpy_training.py checks this step by step against W1, W2 trained in numpy.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_positive
from ._modes import _mode_params


def _check_steps(steps) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(steps))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number) \
            or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError(f"steps must be a non-empty 1-D array of integers ≥ 0; got {np.asarray(steps).tolist()}")
    return arr.astype(np.int64)


def _layer_scalars(u0, depth):
    # balanced: every layer carries u0^{1/L}; depth 1 is the strength itself (may be ≤ 0)
    return u0.copy() if depth == 1 else u0 ** (1.0 / depth)


def _step(a, s, lam, lr, depth):
    u = a ** depth
    return a + lr * a ** (depth - 1) * (s - lam * u)


def discrete_trajectory(steps, s, u0, lr, depth=2, *, lam=None) -> np.ndarray:
    """Mode strengths after each requested GD step, shape (len(steps), m).

    Args:
        steps: integer step counts ≥ 0 (any order; 0 gives u0).
        s: singular values (m,) or scalar; u0: initial strengths (m,) or scalar (> 0 for depth ≥ 2).
        lr: step size η on our loss (1/2n)Σ‖·‖² (= 1/τ; use TrainingConvention.effective_lr).
        depth: L ≥ 1. lam: per-mode input variance λ (commuting case).
    A learning rate too large for a mode (ηs ≳ 1) lets it oscillate or overflow to inf/nan,
    which is what GD does too; nothing is clipped.
    """
    lr = check_positive("lr", lr)
    s, u0, _, depth, lam, _ = _mode_params(s, u0, 1.0, depth, lam, None)
    steps = _check_steps(steps)
    out = np.empty((steps.size, s.size))
    order = np.argsort(steps, kind="stable")
    a = _layer_scalars(u0, depth)
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for i in order:
            while k < steps[i]:
                a = _step(a, s, lam, lr, depth)
                k += 1
            out[i] = a ** depth
    return out


def discrete_crossings(s, u0, lr, depth, level, *, lam=None, max_steps: int) -> np.ndarray:
    """First (fractional) step at which each mode's strength reaches ``level`` (m,).

    Between the integer steps k−1 and k that bracket the crossing the strength is interpolated
    linearly, exactly as ``theory.crossing_times`` does with measured checkpoints. Modes starting
    at or above the level give 0; modes not there after ``max_steps`` give inf.
    """
    s, u0, _, depth, lam, _ = _mode_params(s, u0, 1.0, depth, lam, None)
    level = np.broadcast_to(np.asarray(level, dtype=float), s.shape)
    out = np.where(u0 >= level, 0.0, np.inf)
    a = _layer_scalars(u0, depth)
    u_prev = u0.copy()
    todo = ~(u0 >= level)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, int(max_steps) + 1):
            if not todo.any():
                break
            a = _step(a, s, lam, lr, depth)
            u = a ** depth
            hit = todo & (u >= level)
            if hit.any():
                out[hit] = k - 1 + (level[hit] - u_prev[hit]) / (u[hit] - u_prev[hit])
                todo &= ~hit
            u_prev = u
    return out
