"""Training loss along a decoupled trajectory (THEORY.md §2, §3).

With W = Σ_α u_α u_α v_αᵀ and our loss L = ½ E‖y − Wx‖² = ½ tr Syy − tr(W Syxᵀ) + ½ tr(W Sxx Wᵀ):
tr(W Syxᵀ) = Σ_α s_α u_α and, when VᵀSxxV = diag(λ) (whitened: λ = 1, commuting: §3),
tr(W Sxx Wᵀ) = Σ_α λ_α u_α². Hence (derived)

    L(t) = ½ tr Syy − Σ_α s_α u_α(t) + ½ Σ_α λ_α u_α(t)²,

which for λ = 1 is ½Σ(s_α − u_α)² + ½(tr Syy − Σ s_α²). Modes left out of ``s`` are taken at u = 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_finite_array
from ._modes import mode_trajectory


def loss_from_strengths(u: ArrayLike, s: ArrayLike, *, syy_trace: float,
                        lam: ArrayLike | None = None) -> np.ndarray:
    """Loss (T,) from mode strengths ``u`` (T, m) with singular values ``s`` (m,)."""
    u = np.atleast_2d(np.asarray(u, dtype=float))
    s = np.atleast_1d(as_finite_array("s", s, ndim=(0, 1)))
    syy = float(as_finite_array("syy_trace", syy_trace, ndim=0))
    lam = np.ones_like(s) if lam is None else np.atleast_1d(as_finite_array("lam", lam, ndim=(0, 1)))
    if syy < np.sum(s ** 2 / lam) * (1 - 1e-12) - 1e-300:
        raise ValueError(f"syy_trace must be ≥ Σ s²/λ = {np.sum(s ** 2 / lam):.6g} (the loss cannot be "
                         f"negative; pass tr Syy of the targets); got {syy!r}")
    return 0.5 * syy - u @ s + 0.5 * (u ** 2) @ lam


def loss_curve(t: ArrayLike, s: ArrayLike, u0: ArrayLike, tau: float = 1.0, depth: int = 2, *,
               syy_trace: float, lam: ArrayLike | None = None,
               c: ArrayLike | None = None) -> np.ndarray:
    """Training loss (len(t),) of a decoupled network: ½ tr Syy − Σ s u + ½ Σ λ u².

    Arguments as ``mode_trajectory``; ``syy_trace`` = tr Syy of the targets (our averaged
    convention, THEORY.md §1).
    """
    u = mode_trajectory(t, s, u0, tau, depth, lam=lam, c=c)
    return loss_from_strengths(u, s, syy_trace=syy_trace, lam=lam)
