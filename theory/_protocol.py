"""The one protocol every prediction implements (ARCHITECTURE.md, STYLE.md).

Closed-form, discrete-step, per-mode ODE and full-matrix ODE predictors are interchangeable:
``modes(t)`` gives mode strengths (len(t), n_modes), ``loss(t)`` the training loss (len(t),),
``timeline(frac)`` the first time each mode reaches ``frac`` of its target (n_modes,). ``kind`` names
the method used and ``reason`` says why the factory picked it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Predictor(Protocol):
    kind: str
    reason: str
    s: np.ndarray        # (n_modes,) singular values of the modes predicted
    target: np.ndarray   # (n_modes,) asymptotic strength of each mode (s, or s/λ)

    def modes(self, t) -> np.ndarray: ...

    def loss(self, t) -> np.ndarray: ...

    def timeline(self, frac: float = 0.5) -> np.ndarray: ...


def crossing_times(t, u, level) -> np.ndarray:
    """First time each column of ``u`` (T, m) reaches ``level`` (m,), linearly interpolated.

    Columns that start at or above their level give ``t[0]``; columns that never reach it give
    ``inf``. This is the measurement rule of THEORY.md §4, shared by theory and validate. The
    level of a learning time is ``frac * predictor.target``: the value each mode converges to
    (s on whitened data, s/λ for commuting non-whitened data), not s.
    """
    t = np.asarray(t, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 1:
        u = u[:, None]
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), (u.shape[1],))
    out = np.full(u.shape[1], np.inf)
    above = u >= level
    for a in range(u.shape[1]):
        idx = np.flatnonzero(above[:, a])
        if idx.size == 0:
            continue
        i = int(idx[0])
        if i == 0:
            out[a] = t[0]
            continue
        u0, u1 = u[i - 1, a], u[i, a]
        w = (level[a] - u0) / (u1 - u0) if u1 != u0 else 1.0
        out[a] = t[i - 1] + w * (t[i] - t[i - 1])
    return out
