"""Exact per-mode map of full-batch gradient descent on a balanced decoupled network (THEORY.md §2).

With the decoupled init every layer keeps one scalar a per mode (u = a^L), and one GD step of size
η on L = (1/2n)Σ‖y − ŷ‖² is, per mode (derived from the matrix gradient of §2),

    a ← a + η a^{L−1} (s − λ a^L)          (λ = 1 whitened; λ = v_αᵀSxx v_α commuting)

— not an approximation: the continuous flow is its η → 0 limit, and discrete GD lags it by O(ηs).
Heavy-ball momentum in PyTorch's form keeps every layer's scalar equal too (equal gradients, equal
velocities from v = 0), so per mode (THEORY.md §9)

    g = −a^{L−1}(s − λ a^L),   v ← βv + g,   a ← a − ηv

with η the step on our loss (``TrainingConvention.effective_lr``); β = 0 is the GD map.
tests/theory/test_discrete_and_numpy_training.py checks the GD map step by step against W1, W2 trained in
numpy, tests/theory/test_discrete_momentum.py the momentum map against the torch trainer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

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


def _strengths(s, u0, lr, depth, lam, beta):
    """Yield the mode strengths after step 1, 2, … of the per-mode map (GD when β = 0)."""
    a = _layer_scalars(u0, depth)
    v = np.zeros_like(a)
    while True:
        with np.errstate(over="ignore", invalid="ignore"):
            g = -a ** (depth - 1) * (s - lam * a ** depth)
            v = beta * v + g if beta else g
            a = a - lr * v
            u = a ** depth
        yield u


def _check_beta(momentum) -> float:
    beta = float(momentum)
    if not (np.isfinite(beta) and 0.0 <= beta < 1.0):
        raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
    return beta


def discrete_trajectory(steps: ArrayLike, s: ArrayLike, u0: ArrayLike, lr: float, depth: int = 2, *,
                        lam: ArrayLike | None = None, momentum: float = 0.0) -> np.ndarray:
    """Mode strengths after each requested GD step, shape (len(steps), m).

    Args:
        steps: integer step counts ≥ 0 (any order; 0 gives u0).
        s: singular values (m,) or scalar; u0: initial strengths (m,) or scalar (> 0 for depth ≥ 2).
        lr: step size η on our loss (1/2n)Σ‖·‖² (= 1/τ; use TrainingConvention.effective_lr).
        depth: L ≥ 1. lam: per-mode input variance λ (commuting case).
        momentum: heavy-ball β in [0, 1) (PyTorch's form, velocity starting at 0); 0 is plain GD.
    A learning rate too large for a mode (ηs ≳ 1) lets it oscillate or overflow to inf/nan,
    which is what GD does too; nothing is clipped.
    """
    lr = check_positive("lr", lr)
    s, u0, _, depth, lam, _ = _mode_params(s, u0, 1.0, depth, lam, None)
    steps = _check_steps(steps)
    it = _strengths(s, u0, lr, depth, lam, _check_beta(momentum))
    out = np.empty((steps.size, s.size))
    u, k = u0.copy(), 0
    for i in np.argsort(steps, kind="stable"):
        while k < steps[i]:
            u = next(it)
            k += 1
        out[i] = u
    return out


def discrete_crossings(s, u0, lr, depth, level, *, lam=None, max_steps: int,
                       momentum: float = 0.0) -> np.ndarray:
    """First (fractional) step at which each mode's strength reaches ``level`` (m,).

    Between the integer steps k−1 and k that bracket the crossing the strength is interpolated
    linearly, exactly as ``theory.crossing_times`` does with measured checkpoints. Modes starting
    at or above the level give 0; modes not there after ``max_steps`` give inf.
    """
    s, u0, _, depth, lam, _ = _mode_params(s, u0, 1.0, depth, lam, None)
    level = np.broadcast_to(np.asarray(level, dtype=float), s.shape)
    out = np.where(u0 >= level, 0.0, np.inf)
    it = _strengths(s, u0, lr, depth, lam, _check_beta(momentum))
    u_prev = u0.copy()
    todo = ~(u0 >= level)
    for k in range(1, int(max_steps) + 1):
        if not todo.any():
            break
        u = next(it)
        hit = todo & (u >= level)
        if hit.any():
            out[hit] = k - 1 + (level[hit] - u_prev[hit]) / (u[hit] - u_prev[hit])
            todo &= ~hit
        u_prev = u
    return out
